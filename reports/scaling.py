"""Figures built from the scaling table: what each control loop asked for, and what got ready.

Each row of the table is one decision of one control loop (an HPA sync, a cluster-autoscaler
scan, a CloudWatch alarm evaluation, a person's ticket) that changed or held capacity: at
``time_s`` the controller read ``metric`` = ``metric_value``, saw ``current`` instances,
computed ``desired`` and set ``applied`` (after rate limits and bounds), for ``reason``.

The cluster autoscaler counts nodes, not pods. Its rows are kept apart, on a "nodes
desired" line of their own: averaging or stacking node counts with pod counts would make the
desired line meaningless.

Only the lowest replication id of each scenario is drawn (replication 0): control loops
react to the load of their own run, so a mean over replications would draw decisions that
no controller took.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from reports.figures import (
    PALETTE,
    _first_replication,
    _floats,
    _label,
    _no_data,
    _ordered,
    _rep_key,
    _rep_text,
    _same_replication,
    _style,
    as_float,
    require_columns,
    scenario_order,
)
from reports.formatting import humanize_duration, time_unit

__all__ = [
    "NODE_CONTROLLERS",
    "SCALING_COLUMNS",
    "desired_steps",
    "desired_vs_ready_figure",
    "scaling_decisions_figure",
    "zoom_window",
]

#: Column names of the scaling-decision table (may be empty or absent).
SCALING_COLUMNS: tuple[str, ...] = (
    "scenario",
    "replication",
    "time_s",
    "controller",
    "metric",
    "metric_value",
    "current",
    "desired",
    "applied",
    "reason",
)

#: Controllers whose ``current``/``desired``/``applied`` count nodes rather than instances.
NODE_CONTROLLERS: frozenset[str] = frozenset({"cluster-autoscaler"})

# Time-series columns the scaling figures read.
_SERIES_COLUMNS = ("scenario", "replication", "time_s", "ready_instances", "arrival_rate_rps")

_READY_COLOUR = "#1F2430"
_LOAD_LINE = "rgba(120, 126, 140, 0.8)"
_LOAD_FILL = "rgba(120, 126, 140, 0.15)"
# Controllers take the palette after its first colour; ready instances are drawn in ink.
_SYMBOLS = ("circle", "square", "diamond", "triangle-up", "x", "cross", "star", "hexagon")
# Facet geometry in pixels: plot height per scenario and the gap holding axis titles.
_FACET_PX = 240
_GAP_PX = 90
# A window around a single decision (nothing to take a share of) extends this far each way.
_LONE_PAD_S = 60.0


def _is_node_controller(name: str) -> bool:
    return name.strip().lower() in NODE_CONTROLLERS


def _text(series: pd.Series) -> pd.Series:
    """A column of names as strings, a missing value (a blank CSV cell) as ""."""
    return series.map(lambda v: v if isinstance(v, str) else "" if pd.isna(v) else v)


def _decisions(scaling: pd.DataFrame) -> pd.DataFrame:
    """The table with string names and float numbers, each run's rows in time order."""
    require_columns(scaling, SCALING_COLUMNS, "scaling")
    df = pd.DataFrame(
        {
            "scenario": scaling["scenario"].astype(str),
            "replication": scaling["replication"],
            "time_s": as_float(scaling["time_s"]),
            "controller": _text(scaling["controller"]).astype(str),
            "metric": _text(scaling["metric"]).astype(str),
            "metric_value": as_float(scaling["metric_value"]),
            "current": as_float(scaling["current"]),
            "desired": as_float(scaling["desired"]),
            "applied": as_float(scaling["applied"]),
            "reason": _text(scaling["reason"]).astype(str),
        }
    )
    df["nodes"] = df["controller"].map(_is_node_controller).astype(bool)
    # Decisions without a time cannot be placed on any axis.
    df = df[np.isfinite(df["time_s"].to_numpy())]
    return df.sort_values("time_s", kind="stable")


def _controllers(decisions: pd.DataFrame) -> list[str]:
    """Controller names, instance controllers first, each group in order of appearance."""
    names = [str(c) for c in pd.unique(decisions["controller"])]
    return [c for c in names if not _is_node_controller(c)] + [
        c for c in names if _is_node_controller(c)
    ]


def _steps(part: pd.DataFrame, horizon: float | None) -> tuple[list[float], list[float]]:
    """One controller's desired count as the corners of a step line (see desired_steps)."""
    part = part[np.isfinite(part["desired"].to_numpy())]
    if part.empty:
        return [], []
    times: list[float] = []
    values: list[float] = []
    first_time, first_current = float(part["time_s"].iloc[0]), float(part["current"].iloc[0])
    if first_time > 0 and math.isfinite(first_current):
        times.append(0.0)
        values.append(first_current)
    for t, d in zip(_floats(part["time_s"]), _floats(part["desired"]), strict=True):
        if values and d == values[-1]:
            continue  # a hold draws no step
        times.append(float(t))
        values.append(float(d))
    if horizon is not None and math.isfinite(horizon) and horizon > times[-1]:
        times.append(float(horizon))
        values.append(values[-1])
    return times, values


def desired_steps(scaling: pd.DataFrame, *, horizon: float | None = None) -> pd.DataFrame:
    """Each controller's desired count as a step function, per scenario and replication.

    The corners of the step line drawn by :func:`desired_vs_ready_figure`: the level before
    the first decision is that decision's ``current`` count (the configured capacity nothing
    had changed yet), placed at time 0; then one corner per decision that changed ``desired``
    (a decision that holds the previous count draws no step and is left out); and, when
    ``horizon`` lies after the last decision, the last level once more at ``horizon``. Each
    level holds from its time until the next corner. ``nodes`` is true for the cluster
    autoscaler, whose counts are nodes. Columns: ``scenario``, ``replication``,
    ``controller``, ``nodes``, ``time_s``, ``desired``; rows by scenario (order of first
    appearance), replication, controller (instance controllers first) and time.
    """
    data = _decisions(scaling)
    rows: list[dict[str, object]] = []
    for scenario in scenario_order(data):
        in_scenario = data[data["scenario"] == scenario]
        reps = sorted(pd.unique(in_scenario["replication"]), key=_rep_key)
        for rep in reps:
            run = in_scenario[_same_replication(in_scenario["replication"], rep)]
            for controller in _controllers(run):
                times, values = _steps(run[run["controller"] == controller], horizon)
                nodes = _is_node_controller(controller)
                rows += [
                    {
                        "scenario": scenario,
                        "replication": rep,
                        "controller": controller,
                        "nodes": nodes,
                        "time_s": t,
                        "desired": d,
                    }
                    for t, d in zip(times, values, strict=True)
                ]
    columns = ["scenario", "replication", "controller", "nodes", "time_s", "desired"]
    return pd.DataFrame(rows, columns=columns)


def _run_series(timeseries: pd.DataFrame | None, scenario: str, rep: object) -> pd.DataFrame:
    """One run's ready instances and arrival rate by time (empty without a time series)."""
    if timeseries is None or timeseries.empty:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in _SERIES_COLUMNS[2:]})
    require_columns(timeseries, _SERIES_COLUMNS, "timeseries")
    mine = timeseries[timeseries["scenario"].astype(str) == scenario]
    mine = mine[_same_replication(mine["replication"], rep)]
    out = pd.DataFrame({c: as_float(mine[c]) for c in _SERIES_COLUMNS[2:]})
    out = out[np.isfinite(out["time_s"].to_numpy())]
    return out.sort_values("time_s", kind="stable").reset_index(drop=True)


def _window(decisions: pd.DataFrame, series: pd.DataFrame, margin: float) -> tuple[float, float]:
    """See :func:`zoom_window`; ``decisions`` and ``series`` are one run's rows, by time."""
    times = _floats(decisions["time_s"])
    first, last = float(times.min()), float(times.max())
    end = last
    pods = decisions[~decisions["nodes"] & np.isfinite(decisions["desired"].to_numpy())]
    if not pods.empty and not series.empty:
        peak = float(pods["desired"].max())
        asked = float(pods.loc[pods["desired"] == peak, "time_s"].min())
        ready = _floats(series["ready_instances"])
        t = _floats(series["time_s"])
        hit = np.flatnonzero((t >= asked) & (ready >= peak))
        if hit.size:
            end = float(t[hit[0]])
    span = end - first
    pad = margin * span if span > 0 else _LONE_PAD_S
    return max(0.0, first - pad), end + pad


def zoom_window(
    scaling: pd.DataFrame,
    timeseries: pd.DataFrame | None,
    scenario: str,
    replication: object | None = None,
    *,
    margin: float = 0.1,
) -> tuple[float, float]:
    """The time window ``(start, end)`` in seconds that :func:`scaling_decisions_figure` shows.

    For one run (``replication`` defaults to the scenario's lowest id): from the first
    decision of any controller to the first time-series sample, at or after the first
    decision that asked for the peak, at which ``ready_instances`` reached the peak
    ``desired`` count of the instance controllers (cluster-autoscaler rows count nodes and
    are left out of the peak). If ready instances never got there (or there is no time
    series), the window ends at the last decision. Both ends are widened by ``margin`` times
    the window's length (60 s for a lone decision), and the start is not before 0.
    """
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    data = _decisions(scaling)
    mine = data[data["scenario"] == str(scenario)]
    if mine.empty:
        raise ValueError(f"scaling table has no decision of scenario {scenario!r}")
    if replication is None:
        mine, replication = _first_replication(mine)
    else:
        mine = mine[_same_replication(mine["replication"], replication)]
        if mine.empty:
            raise ValueError(
                f"scaling table has no decision of scenario {scenario!r}, "
                f"replication {replication!r}"
            )
    return _window(mine, _run_series(timeseries, str(scenario), replication), margin)


@dataclass(frozen=True)
class _Run:
    """One scenario's first replication: its decisions and its time series."""

    scenario: str
    replication: object
    decisions: pd.DataFrame  # by time
    series: pd.DataFrame  # time_s, ready_instances, arrival_rate_rps; by time; may be empty

    @classmethod
    def of(cls, scenario: str, decisions: pd.DataFrame, timeseries: pd.DataFrame | None) -> _Run:
        part, rep = _first_replication(decisions[decisions["scenario"] == scenario])
        return cls(scenario, rep, part, _run_series(timeseries, scenario, rep))

    @property
    def horizon(self) -> float:
        times = np.concatenate([_floats(self.series["time_s"]), _floats(self.decisions["time_s"])])
        return float(times.max())

    def title(self) -> str:
        return f"{_label(self.scenario)} · replication {_rep_text(self.replication)}"


def _runs(
    scaling: pd.DataFrame, timeseries: pd.DataFrame | None, scenarios: Sequence[str] | None
) -> tuple[list[_Run], list[str]]:
    """The runs to draw, in scenario order, and every controller name (for colours)."""
    data = _decisions(scaling)
    runs = [
        _Run.of(name, data, timeseries)
        for name in _ordered(scenarios, data)
        if (data["scenario"] == name).any()
    ]
    return runs, _controllers(data)


def _facets(titles: list[str], height: int) -> go.Figure:
    """One row per run, each with a secondary y axis for the arrival rate."""
    n = len(titles)
    plot_px = n * height + _GAP_PX * (n - 1)
    fig = make_subplots(
        rows=n,
        cols=1,
        subplot_titles=titles,
        specs=[[{"secondary_y": True}] for _ in titles],
        vertical_spacing=_GAP_PX / plot_px if n > 1 else 0.0,
    )
    _style(fig, y_title="", height=plot_px + 150)
    return fig


def _clip(series: pd.DataFrame, start: float, end: float) -> pd.DataFrame:
    """Samples in [start, end] plus one on each side, so lines cross the window's edges."""
    t = _floats(series["time_s"])
    lo = max(int(np.searchsorted(t, start, side="left")) - 1, 0)
    hi = int(np.searchsorted(t, end, side="right")) + 1
    return series.iloc[lo:hi]


def _load_traces(
    fig: go.Figure, series: pd.DataFrame, factor: float, row: int, in_legend: set[str]
) -> None:
    """Arrival rate (secondary axis, shaded) and ready instances (primary axis)."""
    if series.empty:
        return
    t = _floats(series["time_s"]) / factor
    traces: list[tuple[str, go.Scatter, bool]] = [
        (
            "load",
            go.Scatter(
                x=t,
                y=_floats(series["arrival_rate_rps"]),
                name="arrival rate (right axis)",
                mode="lines",
                line={"color": _LOAD_LINE, "width": 1, "shape": "vh"},
                fill="tozeroy",
                fillcolor=_LOAD_FILL,
                hovertemplate="%{y:.4~g} requests / s",
            ),
            True,
        ),
        (
            "ready",
            go.Scatter(
                x=t,
                y=_floats(series["ready_instances"]),
                name="ready instances",
                mode="lines",
                line={"color": _READY_COLOUR, "width": 2.5, "shape": "vh"},
                hovertemplate="%{y:.4~g} ready",
            ),
            False,
        ),
    ]
    for group, trace, secondary in traces:
        trace.update(legendgroup=group, showlegend=group not in in_legend)
        in_legend.add(group)
        fig.add_trace(trace, row=row, col=1, secondary_y=secondary)


def _line_name(controller: str) -> str:
    label = _label(controller) or "unnamed controller"
    return f"nodes desired ({label})" if _is_node_controller(controller) else f"desired ({label})"


def _controller_colour(index: int) -> str:
    return PALETTE[(index + 1) % len(PALETTE)]


def _desired_line(steps: pd.DataFrame, controller: str, k: int, factor: float) -> go.Scatter:
    """A controller's desired count as a step line (node counts dashed)."""
    return go.Scatter(
        x=_floats(steps["time_s"]) / factor,
        y=_floats(steps["desired"]),
        name=_line_name(controller),
        mode="lines",
        line={
            "color": _controller_colour(k),
            "width": 2,
            "shape": "hv",
            "dash": "dash" if _is_node_controller(controller) else "solid",
        },
        legendgroup=f"c{k}",
    )


def _finish(fig: go.Figure, runs: list[_Run], units: list[str]) -> None:
    with_nodes = any(bool(run.decisions["nodes"].any()) for run in runs)
    for row, unit in enumerate(units, start=1):
        fig.update_xaxes(title_text=f"simulated time ({unit})", row=row, col=1)
        fig.update_yaxes(
            title_text="instances / nodes" if with_nodes else "instances",
            rangemode="tozero",
            row=row,
            col=1,
            secondary_y=False,
        )
        # As in the arrivals figure: the overlaying axis picks its own ticks, no grid.
        fig.update_yaxes(
            title_text="requests / s",
            rangemode="tozero",
            tickmode="auto",
            showgrid=False,
            row=row,
            col=1,
            secondary_y=True,
        )
    # Facet titles hold escaped scenario names; left-aligned they read like headings.
    fig.update_annotations(x=0, xanchor="left", font={"size": 13})
    fig.update_layout(legend={"groupclick": "togglegroup"}, margin={"t": 40})


def _empty(message: str) -> go.Figure:
    fig = go.Figure()
    _style(fig, y_title="", height=300)
    _no_data(fig, message)
    return fig


def desired_vs_ready_figure(
    scaling: pd.DataFrame,
    timeseries: pd.DataFrame | None = None,
    scenarios: Sequence[str] | None = None,
) -> go.Figure:
    """Desired against ready instances, with the load behind them, one facet per scenario.

    Per scenario with scaling decisions (replication 0 only): the ready instances of the
    time series (a solid step line, primary axis), each instance controller's desired count
    as a step line (see :func:`desired_steps`; one line per controller, one colour per
    controller in every facet), the cluster autoscaler's desired node count as a dashed
    "nodes desired" line on the same axis, and the arrival rate shaded on the secondary
    axis. The gap between a desired line and the ready line is capacity asked for but not
    yet serving. All facets share one time unit, chosen from the longest run.
    """
    runs, controllers = _runs(scaling, timeseries, scenarios)
    if not runs:
        return _empty("no scaling decisions")
    unit, factor = time_unit(max(run.horizon for run in runs))
    fig = _facets([run.title() for run in runs], _FACET_PX)
    in_legend: set[str] = set()
    for row, run in enumerate(runs, start=1):
        _load_traces(fig, run.series, factor, row, in_legend)
        steps = desired_steps(run.decisions, horizon=run.horizon)
        for controller in _controllers(run.decisions):
            k = controllers.index(controller)
            line = _desired_line(steps[steps["controller"] == controller], controller, k, factor)
            line.update(
                showlegend=f"c{k}" not in in_legend,
                hovertemplate="%{y:.4~g} "
                + ("nodes desired" if _is_node_controller(controller) else "desired"),
            )
            in_legend.add(f"c{k}")
            fig.add_trace(line, row=row, col=1, secondary_y=False)
    _finish(fig, runs, [unit] * len(runs))
    return fig


def _count(value: float) -> str:
    if not math.isfinite(value):
        return "–"
    return f"{int(value)}" if float(value).is_integer() else f"{value:.4g}"


def _hover(part: pd.DataFrame) -> list[list[str]]:
    """Per decision: when, who, metric=value, current → desired → applied, why."""
    out: list[list[str]] = []
    for rec in part.to_dict("records"):
        metric, value = str(rec["metric"]), float(rec["metric_value"])
        shown = f"{value:.4g}" if math.isfinite(value) else "–"
        reading = f"{_label(metric)}={shown}" if metric or math.isfinite(value) else "no metric"
        what = "nodes" if rec["nodes"] else "instances"
        change = (
            f"{what}: current {_count(float(rec['current']))} → desired "
            f"{_count(float(rec['desired']))} → applied {_count(float(rec['applied']))}"
        )
        out.append(
            [
                humanize_duration(float(rec["time_s"])),
                _label(rec["controller"]) or "unnamed controller",
                reading,
                change,
                _label(rec["reason"]) or "no reason given",
            ]
        )
    return out


def scaling_decisions_figure(
    scaling: pd.DataFrame,
    timeseries: pd.DataFrame | None = None,
    scenarios: Sequence[str] | None = None,
    *,
    margin: float = 0.1,
) -> go.Figure:
    """Every controller's decisions around the scale-out, one facet per scenario.

    Each facet (replication 0) shows the window of :func:`zoom_window`: from just before the
    first decision until ready instances first matched the peak desired count. In it, one
    marker per decision of each controller (one colour and symbol per controller, joined by
    its desired step line; node counts dashed), ready instances and the shaded arrival rate
    as in :func:`desired_vs_ready_figure`. Hovering a marker shows the controller, the
    metric it read (``metric=value``), ``current → desired → applied`` and the reason. Each
    facet has its own time unit, chosen from its window.
    """
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    runs, controllers = _runs(scaling, timeseries, scenarios)
    if not runs:
        return _empty("no scaling decisions")
    fig = _facets([run.title() for run in runs], _FACET_PX)
    in_legend: set[str] = set()
    units: list[str] = []
    for row, run in enumerate(runs, start=1):
        start, end = _window(run.decisions, run.series, margin)
        unit, factor = time_unit(end - start)
        units.append(unit)
        _load_traces(fig, _clip(run.series, start, end), factor, row, in_legend)
        steps = desired_steps(run.decisions, horizon=run.horizon)
        for controller in _controllers(run.decisions):
            k = controllers.index(controller)
            # The step line reaches across the window; markers only where decisions were taken.
            line = _desired_line(
                _clip(steps[steps["controller"] == controller], start, end), controller, k, factor
            )
            line.update(showlegend=False, hoverinfo="skip")
            fig.add_trace(line, row=row, col=1, secondary_y=False)
            part = run.decisions[run.decisions["controller"] == controller]
            times = _floats(part["time_s"])
            part = part[(times >= start) & (times <= end)]
            fig.add_trace(
                go.Scatter(
                    x=_floats(part["time_s"]) / factor,
                    y=_floats(part["desired"]),
                    name=_line_name(controller),
                    mode="markers",
                    marker={
                        "symbol": _SYMBOLS[k % len(_SYMBOLS)],
                        "size": 9,
                        "color": _controller_colour(k),
                    },
                    legendgroup=f"c{k}",
                    showlegend=f"c{k}" not in in_legend,
                    customdata=_hover(part),
                    hovertemplate=(
                        "%{customdata[0]} · %{customdata[1]}<br>%{customdata[2]}<br>"
                        "%{customdata[3]}<br>%{customdata[4]}<extra></extra>"
                    ),
                ),
                row=row,
                col=1,
                secondary_y=False,
            )
            in_legend.add(f"c{k}")
        fig.update_xaxes(range=[start / factor, end / factor], row=row, col=1)
    _finish(fig, runs, units)
    fig.update_layout(hovermode="closest")
    return fig
