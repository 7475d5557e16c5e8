"""Plotly figures built from deploysim result tables.

Every public function here is pure: it takes pandas DataFrames (the result tables written by
the simulator) and returns a new :class:`plotly.graph_objects.Figure`. Nothing here knows how
the tables were produced, so this module never imports the simulator or the models.

User-supplied strings (scenario names, stage names, instance ids) are HTML-escaped before they
reach plotly: plotly.js renders trace names and tick labels through its own small HTML-like
markup parser, so an unescaped ``<a href=...>`` in a scenario name would become a live link.
Plotly decodes ``&lt;``/``&gt;``/``&amp;`` back to characters when it draws, so the escaped
text is *displayed* exactly as the user wrote it.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

__all__ = [
    "PROVISIONING_COLUMNS",
    "SUMMARY_COLUMNS",
    "TIMESERIES_COLUMNS",
    "arrivals_figure",
    "latency_figure",
    "mean_timeseries",
    "provisioning_figure",
    "queue_figure",
    "require_columns",
    "scenario_order",
]

#: Column names of the per scenario × replication summary table.
SUMMARY_COLUMNS: tuple[str, ...] = (
    "scenario",
    "replication",
    "seed",
    "arrived",
    "completed",
    "dropped",
    "dropped_queue_full",
    "dropped_no_instance",
    "timed_out",
    "in_flight",
    "wait_mean_s",
    "waited_fraction",
    "latency_mean_s",
    "latency_p50_s",
    "latency_p90_s",
    "latency_p95_s",
    "latency_p99_s",
    "latency_p999_s",
    "latency_max_s",
    "throughput_rps",
    "queue_length_mean",
    "utilisation_mean",
    "instances_mean",
    "slo_attainment",
    "slo_met",
    "cost_usd",
)

#: Column names of the sampled time-series table (``time_s`` is the end of the window).
TIMESERIES_COLUMNS: tuple[str, ...] = (
    "scenario",
    "replication",
    "time_s",
    "offered_rate_rps",
    "arrival_rate_rps",
    "ready_instances",
    "provisioning_instances",
    "queue_length",
    "busy_workers",
    "utilisation",
    "cost_rate_usd_per_h",
    "completed",
    "dropped",
    "timed_out",
    "latency_p50_s",
    "latency_p95_s",
    "latency_p99_s",
)

#: Column names of the provisioning-stage table (may be empty).
PROVISIONING_COLUMNS: tuple[str, ...] = (
    "scenario",
    "replication",
    "instance",
    "stage",
    "start_s",
    "end_s",
    "waited_s",
)

# Plotly's default qualitative palette, written out so colours do not depend on the template.
_PALETTE: tuple[str, ...] = (
    "#636EFA",
    "#EF553B",
    "#00CC96",
    "#AB63FA",
    "#FFA15A",
    "#19D3F3",
    "#FF6692",
    "#B6E880",
    "#FF97FF",
    "#FECB52",
)

_TEMPLATE = "plotly_white"
_X_TITLE = "simulated time (s)"


def require_columns(df: pd.DataFrame, columns: Iterable[str], table: str) -> None:
    """Raise ``ValueError`` naming every column of ``columns`` that ``df`` lacks.

    The result tables are produced by another part of the code base; failing loudly with the
    missing names is far easier to debug than a ``KeyError`` deep inside a plotting call.
    """
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{table} table is missing column(s): {', '.join(missing)}")


def scenario_order(*tables: pd.DataFrame | None) -> list[str]:
    """Scenario names in order of first appearance across ``tables`` (first table wins).

    The experiment file lists scenarios in a meaningful order (e.g. baseline first), so the
    report keeps it instead of sorting alphabetically. Scenarios that occur only in later
    tables are appended in their own order of appearance.
    """
    order: list[str] = []
    seen: set[str] = set()
    for table in tables:
        if table is None or "scenario" not in table.columns:
            continue
        for name in pd.unique(table["scenario"].astype(str)):
            key = str(name)
            if key not in seen:
                seen.add(key)
                order.append(key)
    return order


def mean_timeseries(timeseries: pd.DataFrame) -> pd.DataFrame:
    """Average the time-series table over replications, per scenario and ``time_s``.

    Replications share the sampling grid, so the mean per ``time_s`` is the natural
    "typical run" curve. NaN latencies (windows without completions) are skipped by the
    mean; a window stays NaN only when no replication completed anything in it. The result
    has the numeric columns of the input plus ``replications`` (how many rows were averaged),
    sorted by scenario (order of first appearance) and time.
    """
    require_columns(timeseries, ("scenario", "time_s"), "timeseries")
    df = timeseries.assign(scenario=timeseries["scenario"].astype(str))
    value_columns = [
        c
        for c in TIMESERIES_COLUMNS
        if c in df.columns and c not in ("scenario", "replication", "time_s")
    ]
    grouped = df.groupby(["scenario", "time_s"], sort=False)
    counts = grouped.size()
    means = grouped[value_columns].mean() if value_columns else pd.DataFrame(index=counts.index)
    means["replications"] = counts
    out = means.reset_index()
    rank = {name: i for i, name in enumerate(scenario_order(df))}
    out["_rank"] = out["scenario"].map(rank)
    out = out.sort_values(["_rank", "time_s"], kind="stable").drop(columns="_rank")
    return out.reset_index(drop=True)


def _label(value: object) -> str:
    """Escape a user-supplied string for plotly text (quotes are harmless in SVG text)."""
    return html.escape(str(value), quote=False)


def _colour(index: int) -> str:
    return _PALETTE[index % len(_PALETTE)]


def _floats(series: pd.Series) -> np.ndarray[Any, np.dtype[np.float64]]:
    """Column as float64 numpy array (plotly serialises these compactly, NaN becomes a gap)."""
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def _ordered(names: Sequence[str] | None, df: pd.DataFrame) -> list[str]:
    """The caller's scenario order, extended by any scenario only present in ``df``."""
    order = list(names) if names is not None else []
    for name in scenario_order(df):
        if name not in order:
            order.append(name)
    return order


def _no_data(fig: go.Figure, message: str) -> None:
    fig.add_annotation(
        text=message,
        xref="paper",
        yref="paper",
        x=0.5,
        y=0.5,
        showarrow=False,
        font={"size": 14, "color": "#666"},
    )


def _style(fig: go.Figure, *, y_title: str, height: int = 460) -> None:
    fig.update_layout(
        template=_TEMPLATE,
        height=height,
        margin={"l": 60, "r": 20, "t": 20, "b": 40},
        hovermode="x unified",
        # A horizontal legend under the plot wraps on narrow screens instead of squeezing the
        # plot area the way a side legend with long scenario names does.
        legend={
            "orientation": "h",
            "x": 0,
            "xanchor": "left",
            "y": -0.18,
            "yanchor": "top",
            "groupclick": "toggleitem",
        },
    )
    fig.update_xaxes(title_text=_X_TITLE)
    fig.update_yaxes(title_text=y_title)


def arrivals_figure(timeseries: pd.DataFrame, scenarios: Sequence[str] | None = None) -> go.Figure:
    """Offered and observed arrival rate (left axis) against ready instances (right axis).

    One colour per scenario: the offered rate is dotted, the observed arrival rate solid and
    the number of ready instances a dashed step line on the secondary y axis. Values are the
    mean over replications (see :func:`mean_timeseries`). Rates are per sampling window, so
    they are drawn as steps ending at ``time_s``.
    """
    require_columns(
        timeseries,
        ("scenario", "time_s", "offered_rate_rps", "arrival_rate_rps", "ready_instances"),
        "timeseries",
    )
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    data = mean_timeseries(timeseries)
    for i, name in enumerate(_ordered(scenarios, data)):
        part = data[data["scenario"] == name]
        if part.empty:
            continue
        label, colour, t = _label(name), _colour(i), _floats(part["time_s"])
        common: dict[str, Any] = {"x": t, "legendgroup": f"s{i}", "mode": "lines"}
        fig.add_trace(
            go.Scatter(
                y=_floats(part["offered_rate_rps"]),
                name=f"{label}: offered rate",
                line={"color": colour, "dash": "dot", "width": 1.5, "shape": "vh"},
                **common,
            ),
            secondary_y=False,
        )
        fig.add_trace(
            go.Scatter(
                y=_floats(part["arrival_rate_rps"]),
                name=f"{label}: arrival rate",
                line={"color": colour, "width": 2, "shape": "vh"},
                **common,
            ),
            secondary_y=False,
        )
        fig.add_trace(
            go.Scatter(
                y=_floats(part["ready_instances"]),
                name=f"{label}: ready instances",
                line={"color": colour, "dash": "dash", "width": 2, "shape": "vh"},
                **common,
            ),
            secondary_y=True,
        )
    _style(fig, y_title="requests / s")
    # plotly.js syncs an overlaying axis to the primary grid by default, which gives
    # fractional instance ticks (0.63, 1.25, ...); let it choose its own ticks instead.
    fig.update_yaxes(
        title_text="ready instances",
        secondary_y=True,
        rangemode="tozero",
        tickmode="auto",
        showgrid=False,
    )
    fig.update_yaxes(rangemode="tozero", secondary_y=False)
    if data.empty:
        _no_data(fig, "no time-series samples")
    return fig


def _latency_unit(values: np.ndarray[Any, np.dtype[np.float64]]) -> tuple[str, float]:
    """Pick ms when every finite latency is below one second, else seconds."""
    finite = values[np.isfinite(values)]
    if finite.size and float(finite.max()) >= 1.0:
        return "s", 1.0
    return "ms", 1000.0


def latency_figure(timeseries: pd.DataFrame, scenarios: Sequence[str] | None = None) -> go.Figure:
    """Latency percentiles p50 (dotted), p95 (dashed) and p99 (solid) over time per scenario.

    Windows without completions have NaN latency and are left as gaps rather than joined,
    so an outage is visible as a hole, not as a straight line.
    """
    columns = ("latency_p50_s", "latency_p95_s", "latency_p99_s")
    require_columns(timeseries, ("scenario", "time_s", *columns), "timeseries")
    fig = go.Figure()
    data = mean_timeseries(timeseries)
    unit, scale = _latency_unit(
        np.concatenate([_floats(data[c]) for c in columns]) if not data.empty else np.array([])
    )
    dashes = {"latency_p50_s": "dot", "latency_p95_s": "dash", "latency_p99_s": "solid"}
    for i, name in enumerate(_ordered(scenarios, data)):
        part = data[data["scenario"] == name]
        if part.empty:
            continue
        label, colour, t = _label(name), _colour(i), _floats(part["time_s"])
        for column in columns:
            quantile = column.removeprefix("latency_").removesuffix("_s")
            fig.add_trace(
                go.Scatter(
                    x=t,
                    y=_floats(part[column]) * scale,
                    name=f"{label}: {quantile}",
                    legendgroup=f"s{i}",
                    mode="lines",
                    connectgaps=False,
                    line={"color": colour, "dash": dashes[column], "width": 2},
                )
            )
    _style(fig, y_title=f"latency ({unit})")
    fig.update_yaxes(rangemode="tozero")
    if data.empty:
        _no_data(fig, "no time-series samples")
    return fig


def queue_figure(timeseries: pd.DataFrame, scenarios: Sequence[str] | None = None) -> go.Figure:
    """Number of queued requests at the end of each sampling window, one line per scenario."""
    require_columns(timeseries, ("scenario", "time_s", "queue_length"), "timeseries")
    fig = go.Figure()
    data = mean_timeseries(timeseries)
    for i, name in enumerate(_ordered(scenarios, data)):
        part = data[data["scenario"] == name]
        if part.empty:
            continue
        fig.add_trace(
            go.Scatter(
                x=_floats(part["time_s"]),
                y=_floats(part["queue_length"]),
                name=_label(name),
                mode="lines",
                line={"color": _colour(i), "width": 2},
            )
        )
    _style(fig, y_title="queued requests")
    fig.update_yaxes(rangemode="tozero")
    if data.empty:
        _no_data(fig, "no time-series samples")
    return fig


def provisioning_figure(
    provisioning: pd.DataFrame,
    scenarios: Sequence[str] | None = None,
    *,
    max_rows: int = 80,
) -> go.Figure:
    """Gantt-like timeline of provisioning stages: one row per instance, one colour per stage.

    Only the first replication present for each scenario is drawn (all replications of a
    scenario would repeat near-identical rows). Rows are grouped by scenario and ordered by
    the instance's first stage start; at most ``max_rows`` rows are drawn, noted in the
    figure when rows were left out. Each bar spans ``start_s`` to ``end_s``; hovering shows
    the time the stage spent waiting (``waited_s``).
    """
    require_columns(provisioning, PROVISIONING_COLUMNS, "provisioning")
    fig = go.Figure()
    df = provisioning.assign(
        scenario=provisioning["scenario"].astype(str),
        instance=provisioning["instance"].astype(str),
        stage=provisioning["stage"].astype(str),
    )
    order = _ordered(scenarios, df)
    parts: list[pd.DataFrame] = []
    for name in order:
        part = df[df["scenario"] == name]
        if part.empty:
            continue
        part = part[part["replication"] == part["replication"].min()]
        first_start = part.groupby("instance", sort=False)["start_s"].min()
        instances = first_start.sort_values(kind="stable").index
        rank = {inst: k for k, inst in enumerate(instances)}
        part = part.assign(
            _rank=part["instance"].map(rank),
            _row=_label(name) + " · " + part["instance"].map(_label),
            _scenario_rank=order.index(name),
        )
        parts.append(part)
    rows: list[str] = []
    truncated = 0
    if parts:
        data = pd.concat(parts, ignore_index=True).sort_values(
            ["_scenario_rank", "_rank", "start_s"], kind="stable"
        )
        rows = [str(r) for r in pd.unique(data["_row"])]
        if len(rows) > max_rows:
            truncated = len(rows) - max_rows
            rows = rows[:max_rows]
            data = data[data["_row"].isin(rows)]
        for j, stage in enumerate(pd.unique(data["stage"])):
            seg = data[data["stage"] == stage]
            start, end = _floats(seg["start_s"]), _floats(seg["end_s"])
            fig.add_trace(
                go.Bar(
                    y=seg["_row"].to_list(),
                    x=end - start,
                    base=start,
                    orientation="h",
                    name=_label(stage),
                    marker={"color": _colour(j)},
                    customdata=np.column_stack([start, end, _floats(seg["waited_s"])]),
                    hovertemplate=(
                        "%{y}<br>%{fullData.name}: %{customdata[0]:.2f} s → "
                        "%{customdata[1]:.2f} s<br>waited %{customdata[2]:.2f} s<extra></extra>"
                    ),
                )
            )
    _style(fig, y_title="", height=max(300, 110 + 22 * len(rows)))
    # Few legend entries (one per stage): above the bars, clear of the x axis title even
    # when the figure is short.
    fig.update_layout(
        barmode="overlay", hovermode="closest", legend={"y": 1.02, "yanchor": "bottom"}
    )
    fig.update_yaxes(
        categoryorder="array", categoryarray=rows, autorange="reversed", title_text=None
    )
    if truncated:
        fig.add_annotation(
            text=f"{truncated} more instance row(s) not shown",
            xref="paper",
            yref="paper",
            x=1,
            y=0,
            xanchor="right",
            yanchor="top",
            yshift=-30,
            showarrow=False,
        )
    if not rows:
        _no_data(fig, "no provisioning events")
    return fig
