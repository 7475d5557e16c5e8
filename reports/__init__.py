"""HTML reports and plotly figures for deploysim result tables.

This package only reads pandas DataFrames (the summary, time-series and provisioning result
tables); it deliberately imports neither simpy nor the simulator nor the models, so reports
can be rebuilt from stored tables without the simulation stack.
"""

from reports.figures import (
    PROVISIONING_COLUMNS,
    SUMMARY_COLUMNS,
    TIMESERIES_COLUMNS,
    arrivals_figure,
    latency_figure,
    mean_timeseries,
    provisioning_figure,
    queue_figure,
    scenario_order,
)
from reports.html import (
    format_duration,
    render_report,
    scenario_summary,
    t_quantile_975,
    write_report,
)

__all__ = [
    "PROVISIONING_COLUMNS",
    "SUMMARY_COLUMNS",
    "TIMESERIES_COLUMNS",
    "arrivals_figure",
    "format_duration",
    "latency_figure",
    "mean_timeseries",
    "provisioning_figure",
    "queue_figure",
    "render_report",
    "scenario_order",
    "scenario_summary",
    "t_quantile_975",
    "write_report",
]
