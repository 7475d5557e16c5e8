"""Figures built from the provisioning table: a stage timeline and the time-to-ready spread.

Each row of the table is one stage of one instance's provisioning pipeline: it waited
``waited_s`` for a limited resource (staff, hypervisor slot, API token), then ran from
``start_s`` to ``end_s``. So an instance was requested at ``start_s - waited_s`` of its first
stage and was ready at the ``end_s`` of its last one. Two kinds of row need care:

* a stage still open at the end of the run has no ``end_s`` (and no ``start_s`` while it is
  still waiting; ``waited_s`` then runs to the end): the instance was not ready in time,
  which for a server on order for weeks is the common case, not an oddity;
* a stage named ``"<stage> (cancelled)"`` was cut short by a scale-in: the instance was no
  longer wanted and never became ready.

Architectures differ by orders of magnitude (a cloud instance in half a minute, a server in
weeks), so every duration here is shown in a unit chosen from the data it belongs to.
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
    PROVISIONING_COLUMNS,
    _colour,
    _first_replication,
    _floats,
    _label,
    _no_data,
    _ordered,
    _rep_key,
    _rep_text,
    _style,
    as_float,
    natural_key,
    require_columns,
    scenario_order,
)
from reports.formatting import humanize_duration, time_unit

__all__ = [
    "CANCELLED_SUFFIX",
    "provisioning_figure",
    "time_to_ready",
    "time_to_ready_figure",
]

#: Stage-name suffix of a stage cut short because its instance was no longer wanted.
CANCELLED_SUFFIX = " (cancelled)"

# Stages of different architectures rarely share names, so a page may need many stage
# colours: plotly's palette followed by D3's.
_STAGE_PALETTE: tuple[str, ...] = PALETTE + (
    "#1F77B4",
    "#FF7F0E",
    "#2CA02C",
    "#D62728",
    "#9467BD",
    "#8C564B",
    "#E377C2",
    "#7F7F7F",
    "#BCBD22",
    "#17BECF",
)
_WAIT_COLOUR = "rgba(120, 126, 140, 0.35)"
_WAIT_NAME = "waiting for a resource"

# Humane ticks for a logarithmic time axis: (seconds, label, major). All of them when few
# fall in the range shown, else only the majors, about one per decade.
_LOG_TICKS: tuple[tuple[float, str, bool], ...] = (
    (0.01, "10 ms", True),
    (0.1, "100 ms", True),
    (1.0, "1 s", True),
    (2.0, "2 s", False),
    (5.0, "5 s", False),
    (10.0, "10 s", True),
    (30.0, "30 s", False),
    (60.0, "1 min", True),
    (120.0, "2 min", False),
    (300.0, "5 min", False),
    (600.0, "10 min", True),
    (1800.0, "30 min", False),
    (3600.0, "1 h", True),
    (2 * 3600.0, "2 h", False),
    (6 * 3600.0, "6 h", True),
    (12 * 3600.0, "12 h", False),
    (86400.0, "1 d", True),
    (2 * 86400.0, "2 d", False),
    (7 * 86400.0, "1 week", True),
    (14 * 86400.0, "2 weeks", False),
    (28 * 86400.0, "4 weeks", True),
    (91 * 86400.0, "13 weeks", True),
    (182 * 86400.0, "26 weeks", False),
    (364 * 86400.0, "52 weeks", True),
)
_MAX_TICKS = 9
# Room left and right of the curves, so a vertical step at the extremes stays visible.
_PAD = 1.25

# Gantt geometry in pixels: per instance row, per facet (its title and padding) and between
# facets (the x tick labels and axis title of the facet above plus the next facet's title).
_ROW_PX = 24
_FACET_PX = 24
_GAP_PX = 90


def _spans(provisioning: pd.DataFrame, horizon: float | None = None) -> pd.DataFrame:
    """The table with string names, float times and each span's request time.

    A stage still waiting at the end has no start; its wait runs to the end of the run, so
    its request time is known only when ``horizon`` (the end of the run) is.
    """
    require_columns(provisioning, PROVISIONING_COLUMNS, "provisioning")
    start = as_float(provisioning["start_s"])
    # A missing wait means none was recorded, not an unknown request time.
    waited = as_float(provisioning["waited_s"]).fillna(0.0)
    began = start.fillna(math.nan if horizon is None else float(horizon))
    return pd.DataFrame(
        {
            "scenario": provisioning["scenario"].astype(str),
            "replication": provisioning["replication"],
            "instance": provisioning["instance"].astype(str),
            "stage": provisioning["stage"].astype(str),
            "start_s": start,
            "end_s": as_float(provisioning["end_s"]),
            "waited_s": waited,
            "requested_s": began - waited,
        }
    )


def _instances(spans: pd.DataFrame) -> pd.DataFrame:
    """One row per scenario, replication and instance: requested, ready, status."""
    flags = spans.assign(
        _open=spans["end_s"].isna(),
        _cancelled=spans["stage"].str.endswith(CANCELLED_SUFFIX),
    )
    grouped = flags.groupby(["scenario", "replication", "instance"], sort=False, dropna=False)
    out = pd.DataFrame(
        {
            "requested_s": grouped["requested_s"].min(),
            "ready_s": grouped["end_s"].max(),
            "_open": grouped["_open"].any(),
            "_cancelled": grouped["_cancelled"].any(),
        }
    ).reset_index()
    out["status"] = np.where(
        out["_cancelled"], "cancelled", np.where(out["_open"], "unfinished", "ready")
    )
    out.loc[out["status"] != "ready", "ready_s"] = math.nan
    out["time_to_ready_s"] = out["ready_s"] - out["requested_s"]
    return out.drop(columns=["_open", "_cancelled"])


def _time_key(t: float) -> float:
    return t if math.isfinite(t) else math.inf


def time_to_ready(provisioning: pd.DataFrame) -> pd.DataFrame:
    """Per-instance time from request to ready, for every scenario and replication.

    Time to ready = max(``end_s``) − min(``start_s`` − ``waited_s``) over the instance's
    spans: from the moment the instance was asked for, including any wait for a resource
    before its first stage, to the end of its last stage. ``status`` is ``"ready"``,
    ``"unfinished"`` (a stage was still open at the end of the run: not ready in time) or
    ``"cancelled"`` (a stage was cancelled by a scale-in); ``ready_s`` and
    ``time_to_ready_s`` are NaN unless ready. Columns: ``scenario``, ``replication``,
    ``instance``, ``requested_s``, ``ready_s``, ``status``, ``time_to_ready_s``; rows by
    scenario (order of first appearance), replication, request time and instance name
    (``i2`` before ``i10``).
    """
    data = _instances(_spans(provisioning))
    rank = {name: k for k, name in enumerate(scenario_order(data))}
    keys = [
        (rank[s], _rep_key(r), _time_key(t), natural_key(i))
        for s, r, t, i in zip(
            data["scenario"],
            data["replication"],
            data["requested_s"],
            data["instance"],
            strict=True,
        )
    ]
    order = sorted(range(len(keys)), key=keys.__getitem__)
    return data.iloc[order].reset_index(drop=True)


def _in_unit(seconds: float, factor: float) -> str:
    return f"{seconds / factor:.4g}"


@dataclass(frozen=True)
class _Facet:
    """One scenario's rows of the Gantt chart."""

    scenario: str
    replication: object
    spans: pd.DataFrame  # the shown instances' spans, in row order
    shown: list[str]  # instance names, top to bottom
    total: int  # instances of this scenario and replication

    @classmethod
    def of(cls, scenario: str, spans: pd.DataFrame, max_instances: int) -> _Facet:
        part, rep = _first_replication(spans)
        inst = _instances(part)
        keys = {
            str(i): (_time_key(t), natural_key(str(i)))
            for i, t in zip(inst["instance"], inst["requested_s"], strict=True)
        }
        shown = sorted(keys, key=keys.__getitem__)[:max_instances]
        rank = {name: k for k, name in enumerate(shown)}
        rows = part[part["instance"].isin(shown)]
        rows = rows.assign(_rank=rows["instance"].map(rank)).sort_values(
            ["_rank", "requested_s"], kind="stable"
        )
        return cls(scenario, rep, rows.drop(columns="_rank"), shown, len(keys))

    def title(self) -> str:
        if self.total > len(self.shown):
            which = f"first {len(self.shown)} of {self.total} instances"
        else:
            which = f"{self.total} instance" + ("" if self.total == 1 else "s")
        return f"{_label(self.scenario)} · replication {_rep_text(self.replication)}: {which}"


def _stage_colours(facets: list[_Facet]) -> dict[str, str]:
    """One colour per stage name; a cancelled stage shares its stage's colour."""
    names = pd.unique(pd.concat([f.spans["stage"] for f in facets]))
    base = [str(s).removesuffix(CANCELLED_SUFFIX) for s in names]
    order = list(dict.fromkeys(base))
    return {
        str(s): _STAGE_PALETTE[order.index(b) % len(_STAGE_PALETTE)]
        for s, b in zip(names, base, strict=True)
    }


def provisioning_figure(
    provisioning: pd.DataFrame,
    scenarios: Sequence[str] | None = None,
    *,
    max_instances: int = 8,
    horizon: float | None = None,
) -> go.Figure:
    """Stage Gantt chart of the first instances of each scenario, one facet per scenario.

    Only the lowest replication id of each scenario is drawn (replication 0): the others
    repeat near-identical timelines. In it, instances are ordered by request time (ties by
    name, ``i2`` before ``i10``) and the first ``max_instances`` are drawn, one row each. A
    bar per stage, coloured by stage name (the same colour in every facet), spans
    ``start_s`` to ``end_s``; a grey bar before it shows ``waited_s``, the time the stage
    queued for a limited resource. A stage still open at the end of the run is hatched and
    runs to ``horizon`` (default: the latest time in the table); a cancelled stage is
    cross-hatched. Each facet has its own time axis in a unit that suits its span (s for a
    cloud launch, weeks for a hardware order).
    """
    if max_instances < 1:
        raise ValueError(f"max_instances must be >= 1, got {max_instances}")
    require_columns(provisioning, PROVISIONING_COLUMNS, "provisioning")
    if horizon is None or not math.isfinite(horizon):
        times = np.concatenate([as_float(provisioning[c]).to_numpy() for c in ("start_s", "end_s")])
        times = times[np.isfinite(times)]
        horizon = float(times.max()) if times.size else None
    spans = _spans(provisioning, horizon)
    facets = [
        _Facet.of(name, spans[spans["scenario"] == name], max_instances)
        for name in _ordered(scenarios, spans)
        if (spans["scenario"] == name).any()
    ]
    if not facets:
        fig = go.Figure()
        _style(fig, y_title="", height=300)
        _no_data(fig, "no provisioning events")
        return fig

    colours = _stage_colours(facets)
    legend_rank = {name: k for k, name in enumerate(colours)}
    facet_px = [_FACET_PX + _ROW_PX * len(f.shown) for f in facets]
    plot_px = sum(facet_px) + _GAP_PX * (len(facets) - 1)
    fig = make_subplots(
        rows=len(facets),
        cols=1,
        subplot_titles=[f.title() for f in facets],
        row_heights=facet_px,
        vertical_spacing=_GAP_PX / plot_px if len(facets) > 1 else 0.0,
    )
    # Style first: it titles every x axis in seconds, and each facet sets its own unit.
    _style(fig, y_title="", height=plot_px + 130)
    in_legend: set[str] = set()
    end_of_run = math.nan if horizon is None else horizon
    for row, facet in enumerate(facets, start=1):
        part = facet.spans
        open_end = part["end_s"].isna()
        # Open stages run to the end of the run: draw them that far.
        until = part["end_s"].where(~open_end, end_of_run)
        edges = np.concatenate([_floats(part["requested_s"]), _floats(until)])
        edges = edges[np.isfinite(edges)]
        span = float(edges.max() - edges.min()) if edges.size else 0.0
        unit, factor = time_unit(span)
        labels = {i: _label(i) for i in facet.shown}
        traces: list[tuple[str, go.Bar]] = []
        waiting = part[(part["waited_s"] > 0) & part["requested_s"].notna()]
        if not waiting.empty:
            began = _floats(waiting["requested_s"]) + _floats(waiting["waited_s"])
            wait = _floats(waiting["waited_s"])
            bar = go.Bar(
                y=waiting["instance"].map(labels).to_list(),
                x=wait / factor,
                base=(began - wait) / factor,
                name=_WAIT_NAME,
                marker={"color": _WAIT_COLOUR, "line": {"width": 0}},
                customdata=[
                    [_label(stage), humanize_duration(w)]
                    for stage, w in zip(waiting["stage"], wait, strict=True)
                ],
                hovertemplate="%{y}: %{customdata[0]} waited %{customdata[1]}<extra></extra>",
            )
            traces.append(("wait", bar))
        started = part[part["start_s"].notna()]
        for stage in pd.unique(started["stage"]):
            seg = started[started["stage"] == stage]
            start = _floats(seg["start_s"])
            is_open = seg["end_s"].isna().to_numpy()
            end = np.where(is_open, end_of_run, _floats(seg["end_s"]))
            cancelled = str(stage).endswith(CANCELLED_SUFFIX)
            shapes = ["x" if cancelled else "/" if o else "" for o in is_open]
            took = [
                ("still running at the end, after " if o else "took ") + humanize_duration(e - s)
                for s, e, o in zip(start, end, is_open, strict=True)
            ]
            bar = go.Bar(
                y=seg["instance"].map(labels).to_list(),
                x=(end - start) / factor,
                base=start / factor,
                name=_label(stage),
                marker={
                    "color": colours[str(stage)],
                    "pattern": {"shape": shapes, "fgcolor": "#ffffff", "solidity": 0.4},
                },
                customdata=[
                    [_in_unit(s, factor), _in_unit(e, factor), t, humanize_duration(w)]
                    for s, e, t, w in zip(start, end, took, _floats(seg["waited_s"]), strict=True)
                ],
                hovertemplate=(
                    "%{y}: %{fullData.name}<br>"
                    f"%{{customdata[0]}} → %{{customdata[1]}} {unit}"
                    "<br>%{customdata[2]}, waited %{customdata[3]} before<extra></extra>"
                ),
            )
            # Legend groups are keyed by index: a raw stage name has no business in the JSON.
            traces.append((f"stage{legend_rank[str(stage)]}", bar))
        for group, bar in traces:
            bar.update(orientation="h", legendgroup=group, showlegend=group not in in_legend)
            in_legend.add(group)
            fig.add_trace(bar, row=row, col=1)
        fig.update_xaxes(title_text=f"simulated time ({unit})", row=row, col=1)
        fig.update_yaxes(
            categoryorder="array",
            categoryarray=[labels[i] for i in facet.shown],
            autorange="reversed",
            row=row,
            col=1,
        )
    fig.update_yaxes(title_text=None)
    fig.update_layout(
        barmode="overlay",
        hovermode="closest",
        showlegend=True,
        # Above the first facet's title, with one entry per stage (not per facet).
        legend={"y": 1 + 34 / plot_px, "yanchor": "bottom", "groupclick": "togglegroup"},
        margin={"t": 60, "b": 50},
    )
    # Facet titles hold escaped scenario names; left-aligned they read like headings.
    fig.update_annotations(x=0, xanchor="left", font={"size": 13})
    return fig


def time_to_ready_figure(
    provisioning: pd.DataFrame, scenarios: Sequence[str] | None = None
) -> go.Figure:
    """Empirical CDF of per-instance time to ready, one step line per scenario.

    All replications are pooled (see :func:`time_to_ready`). A point (x, y) reads "a share
    y of the scenario's instances was ready within x of being requested". Instances still
    provisioning at the end of the run count in the share but never reach it, so the curve
    levels off below 100 %; cancelled instances are left out (nobody waited for them). The
    x axis is logarithmic, with humane ticks, when the times span more than two decades
    (seconds on a cloud next to weeks for hardware); otherwise it is linear in a unit
    chosen from the largest time.
    """
    data = time_to_ready(provisioning)
    data = data[data["status"] != "cancelled"]
    ready = _floats(data["time_to_ready_s"])
    values = ready[np.isfinite(ready)]
    log = values.size > 0 and values.min() > 0 and values.max() / values.min() > 100.0
    unit, factor = ("s", 1.0) if log else time_unit(float(values.max()) if values.size else 0.0)
    fig = go.Figure()
    for i, name in enumerate(_ordered(scenarios, data)):
        part = data[data["scenario"] == name]
        if part.empty:
            continue
        n = len(part)
        times = np.sort(ready[(data["scenario"] == name).to_numpy() & np.isfinite(ready)])
        label = f"{_label(name)} ({n} instance{'s' if n != 1 else ''}"
        if n > times.size:
            label += f", {n - times.size} not ready by the end"
        if times.size:
            x = np.concatenate([times[:1], times])
            y = np.concatenate([[0.0], np.arange(1, times.size + 1) / n])
        else:
            # A lone NaN point draws nothing but keeps the scenario in the legend.
            x, y = np.array([math.nan]), np.array([math.nan])
        fig.add_trace(
            go.Scatter(
                x=x / factor,
                y=y,
                name=label + ")",
                mode="lines",
                line={"color": _colour(i), "width": 2, "shape": "hv"},
                customdata=[humanize_duration(t) for t in x],
                hovertemplate="%{y:.0%} ready within %{customdata}",
            )
        )
    _style(fig, y_title="share of instances ready")
    fig.update_layout(hovermode="closest", showlegend=True)
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%")
    if log:
        lo, hi = float(values.min()) / _PAD, float(values.max()) * _PAD
        ticks = [(v, t, major) for v, t, major in _LOG_TICKS if lo <= v <= hi]
        if len(ticks) > _MAX_TICKS:
            ticks = [tick for tick in ticks if tick[2]]
        fig.update_xaxes(
            type="log",
            range=[math.log10(lo), math.log10(hi)],
            title_text="time from request to ready (log scale)",
            tickvals=[v for v, _, _ in ticks],
            ticktext=[t for _, t, _ in ticks],
        )
    else:
        top = float(values.max()) / factor * 1.05 if values.size and values.max() > 0 else 1.0
        fig.update_xaxes(title_text=f"time from request to ready ({unit})", range=[0, top])
    if data.empty:
        _no_data(fig, "no provisioning events")
    elif not values.size:
        _no_data(fig, "no instance was ready by the end of the run")
    return fig
