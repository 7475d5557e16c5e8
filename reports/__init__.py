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
    cost_figure,
    cumulative_cost,
    latency_figure,
    mean_timeseries,
    queue_figure,
    scenario_order,
)
from reports.formatting import format_duration, humanize_duration
from reports.html import (
    render_report,
    scenario_summary,
    t_quantile_975,
    write_report,
)
from reports.narrative import comparison_text
from reports.provisioning import provisioning_figure, time_to_ready, time_to_ready_figure

__all__ = [
    "PROVISIONING_COLUMNS",
    "SUMMARY_COLUMNS",
    "TIMESERIES_COLUMNS",
    "arrivals_figure",
    "comparison_text",
    "cost_figure",
    "cumulative_cost",
    "format_duration",
    "humanize_duration",
    "latency_figure",
    "mean_timeseries",
    "provisioning_figure",
    "queue_figure",
    "render_report",
    "scenario_order",
    "scenario_summary",
    "t_quantile_975",
    "time_to_ready",
    "time_to_ready_figure",
    "write_report",
]
