"""Plotly figures built from the deploysim time-series table, and helpers shared by all figures.

Every public function here is pure: it takes pandas DataFrames (the result tables written by
the simulator) and returns a new :class:`plotly.graph_objects.Figure` or table. Nothing here
knows how the tables were produced, so this module never imports the simulator or the models.
The figures of the provisioning table live in :mod:`reports.provisioning`.

User-supplied strings (scenario names, stage names, instance ids) are HTML-escaped before they
reach plotly: plotly.js renders trace names and tick labels through its own small HTML-like
markup parser, so an unescaped ``<a href=...>`` in a scenario name would become a live link.
Plotly decodes ``&lt;``/``&gt;``/``&amp;`` back to characters when it draws, so the escaped
text is *displayed* exactly as the user wrote it.
"""

from __future__ import annotations

import html
import math
import numbers
import re
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
    "as_float",
    "cost_figure",
    "cumulative_cost",
    "latency_figure",
    "mean_timeseries",
    "natural_key",
    "queue_figure",
    "require_columns",
    "scenario_order",
]

#: Column names of the per scenario × replication summary table. The last three are newer
#: than the rest: the report shows them when present and copes with older tables that lack
#: them. Platforms may add counters of their own (e.g. ``cloud_launches_refused``).
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
    "cost_per_million_requests_usd",
    "time_to_first_ready_s",
    "time_to_target_capacity_s",
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
PALETTE: tuple[str, ...] = (
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


def as_float(series: pd.Series) -> pd.Series:
    """A column as float64, NaN where a value is missing or not a number.

    Booleans become 0/1, including the strings "True"/"False" that a CSV round trip leaves
    in a column which also holds blanks (``slo_met`` of a run that could not decide).
    """
    if series.dtype == object or pd.api.types.is_string_dtype(series.dtype):
        words = {"true": 1.0, "false": 0.0}
        series = series.map(lambda v: words.get(v.strip().lower(), v) if isinstance(v, str) else v)
    if pd.api.types.is_bool_dtype(series.dtype):
        return series.astype("float64")
    return pd.to_numeric(series, errors="coerce").astype("float64")


def natural_key(name: str) -> tuple[str | int, ...]:
    """Sort key that orders ``i2`` before ``i10`` and ``host3`` before ``host12``."""
    # re.split with a group alternates text (even positions) and digit runs (odd positions),
    # so keys of different names compare str with str and int with int.
    return tuple(
        int(part) if k % 2 else part.casefold() for k, part in enumerate(re.split(r"(\d+)", name))
    )


def _label(value: object) -> str:
    """Escape a user-supplied string for plotly text (quotes are harmless in SVG text)."""
    return html.escape(str(value), quote=False)


def _rep_key(rep: object) -> tuple[int, float, str]:
    # Replication ids are integers in practice; anything else (or a missing id) sorts after
    # them as text, so odd tables still order deterministically instead of raising.
    if isinstance(rep, numbers.Real) and math.isfinite(float(rep)):
        return (0, float(rep), "")
    return (1, 0.0, str(rep))


def _first_replication(part: pd.DataFrame) -> tuple[pd.DataFrame, object]:
    """The rows of the lowest replication id present (replication 0 in practice)."""
    rep = min(pd.unique(part["replication"]), key=_rep_key)
    return part[_same_replication(part["replication"], rep)], rep


def _same_replication(column: pd.Series, rep: object) -> pd.Series:
    """Mask of the rows of ``column`` that hold replication ``rep`` (``0`` matches ``0.0``)."""
    key = _rep_key(rep)
    return column.map(lambda r: _rep_key(r) == key).astype(bool)


def _rep_text(rep: object) -> str:
    if isinstance(rep, numbers.Real) and float(rep).is_integer():
        return str(int(float(rep)))
    return _label(rep)


def _colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


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


def cumulative_cost(timeseries: pd.DataFrame) -> pd.DataFrame:
    """Cumulative cost per scenario over time, the mean over replications.

    ``cost_rate_usd_per_h`` is the average rate over the window that ends at ``time_s``;
    windows are back to back and the first one starts at 0, so a window's cost is its rate
    times the gap to the previous ``time_s`` (to 0 for the first). A NaN rate adds nothing.
    Returns one row per scenario and ``time_s`` with ``cost_usd`` (cumulative, mean over
    replications), ``cost_rate_usd_per_h`` (mean) and ``replications`` (rows averaged),
    ordered like :func:`mean_timeseries`.
    """
    require_columns(
        timeseries, ("scenario", "replication", "time_s", "cost_rate_usd_per_h"), "timeseries"
    )
    df = pd.DataFrame(
        {
            "scenario": timeseries["scenario"].astype(str),
            "replication": timeseries["replication"],
            "time_s": as_float(timeseries["time_s"]),
            "cost_rate_usd_per_h": as_float(timeseries["cost_rate_usd_per_h"]),
        }
    ).sort_values(["scenario", "replication", "time_s"], kind="stable")
    runs = df.groupby(["scenario", "replication"], sort=False, dropna=False)
    window = df["time_s"] - runs["time_s"].shift(1).fillna(0.0)
    df["cost_usd"] = (
        (df["cost_rate_usd_per_h"].fillna(0.0) * window / 3600.0)
        .groupby([df["scenario"], df["replication"]], sort=False, dropna=False)
        .cumsum()
    )
    grouped = df.groupby(["scenario", "time_s"], sort=False)
    out = grouped[["cost_usd", "cost_rate_usd_per_h"]].mean()
    out["replications"] = grouped.size()
    out = out.reset_index()
    rank = {name: i for i, name in enumerate(scenario_order(timeseries))}
    out["_rank"] = out["scenario"].map(rank)
    out = out.sort_values(["_rank", "time_s"], kind="stable").drop(columns="_rank")
    return out.reset_index(drop=True)[
        ["scenario", "time_s", "cost_usd", "cost_rate_usd_per_h", "replications"]
    ]


def cost_figure(timeseries: pd.DataFrame, scenarios: Sequence[str] | None = None) -> go.Figure:
    """Cumulative cost (solid, left axis) and cost rate (dashed steps, right axis) per scenario.

    Both are means over replications (see :func:`cumulative_cost`). The curves start at
    (0, 0): cost accrues at a constant rate within a window, so the cumulative line is exact
    between samples and the rate is drawn as a step over the window it averages.
    """
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    data = cumulative_cost(timeseries)
    for i, name in enumerate(_ordered(scenarios, data)):
        part = data[data["scenario"] == name]
        if part.empty:
            continue
        label, colour = _label(name), _colour(i)
        rate = _floats(part["cost_rate_usd_per_h"])
        t = np.concatenate([[0.0], _floats(part["time_s"])])
        common: dict[str, Any] = {"x": t, "legendgroup": f"s{i}", "mode": "lines"}
        fig.add_trace(
            go.Scatter(
                y=np.concatenate([[0.0], _floats(part["cost_usd"])]),
                name=f"{label}: cumulative cost",
                line={"color": colour, "width": 2},
                hovertemplate="%{y:$,.4~f}",
                **common,
            ),
            secondary_y=False,
        )
        fig.add_trace(
            go.Scatter(
                y=np.concatenate([rate[:1], rate]),
                name=f"{label}: cost rate",
                line={"color": colour, "dash": "dash", "width": 1.5, "shape": "vh"},
                hovertemplate="%{y:$,.4~f}/h",
                **common,
            ),
            secondary_y=True,
        )
    _style(fig, y_title="cumulative cost (USD)")
    fig.update_yaxes(rangemode="tozero", tickprefix="$", secondary_y=False)
    fig.update_yaxes(
        title_text="cost rate (USD / h)",
        secondary_y=True,
        rangemode="tozero",
        tickmode="auto",
        tickprefix="$",
        showgrid=False,
    )
    if data.empty:
        _no_data(fig, "no time-series samples")
    return fig
