"""HTML reports and plotly figures for deploysim result tables.

This package only reads pandas DataFrames (the summary, time-series, provisioning, scaling
and image-pull result tables, and the sweep and plan tables); it deliberately imports
neither simpy nor the simulator nor the models, so reports can be rebuilt from stored
tables without the simulation stack.
"""

from reports.faults import FAULTS_COLUMNS, fault_summary, fault_timeline_figure
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
from reports.formatting import format_bytes, format_duration, humanize_duration
from reports.html import (
    render_report,
    scenario_summary,
    t_quantile_975,
    write_report,
)
from reports.index import write_index
from reports.narrative import comparison_text
from reports.provisioning import provisioning_figure, time_to_ready, time_to_ready_figure
from reports.pulls import (
    PULLS_COLUMNS,
    bytes_pulled,
    bytes_pulled_figure,
    cache_hit_ratio,
    cache_hit_ratio_figure,
    pull_timeline_figure,
    short_digest,
)
from reports.scaling import (
    NODE_CONTROLLERS,
    SCALING_COLUMNS,
    desired_steps,
    desired_vs_ready_figure,
    scaling_decisions_figure,
    zoom_window,
)
from reports.sweep import write_plan_report, write_sweep_report

__all__ = [
    "FAULTS_COLUMNS",
    "NODE_CONTROLLERS",
    "PROVISIONING_COLUMNS",
    "PULLS_COLUMNS",
    "SCALING_COLUMNS",
    "SUMMARY_COLUMNS",
    "TIMESERIES_COLUMNS",
    "arrivals_figure",
    "bytes_pulled",
    "bytes_pulled_figure",
    "cache_hit_ratio",
    "cache_hit_ratio_figure",
    "comparison_text",
    "cost_figure",
    "cumulative_cost",
    "desired_steps",
    "desired_vs_ready_figure",
    "fault_summary",
    "fault_timeline_figure",
    "format_bytes",
    "format_duration",
    "humanize_duration",
    "latency_figure",
    "mean_timeseries",
    "provisioning_figure",
    "pull_timeline_figure",
    "queue_figure",
    "render_report",
    "scaling_decisions_figure",
    "scenario_order",
    "scenario_summary",
    "short_digest",
    "t_quantile_975",
    "time_to_ready",
    "time_to_ready_figure",
    "write_index",
    "write_plan_report",
    "write_report",
    "write_sweep_report",
    "zoom_window",
]
