"""The report's "Faults" section: when each injected fault hit, and what it cost.

Each row of the faults table is one fault of one run: ``kind`` and ``target`` (a host,
instance or zone name from the user's configuration), the window ``start_s`` → ``end_s``
(``end_s`` NaN for a fault without an end, such as a crash), ``detected_s`` (when the
health check took the last failed instance out of the balancer; NaN if none had to be),
``recovered_s`` (when the capacity the fault took was ready again; NaN if not by the
horizon) and ``lost_requests`` (requests in flight on, or sent to, the failed instances).

The timeline draws one run per scenario, like the scaling figures: the lowest replication
with a fault (replication 0 whenever it had one). Detection and recovery react to the load
of their own run, so a mean over replications would draw marks that no run had.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from reports.figures import (
    PALETTE,
    _first_replication,
    _floats,
    _label,
    _ordered,
    _rep_text,
    as_float,
    require_columns,
    scenario_order,
)
from reports.formatting import humanize_duration, time_unit
from reports.scaling import _empty, _facets, _load_traces, _run_series

__all__ = [
    "FAULTS_COLUMNS",
    "FAULTS_HOW",
    "fault_summary",
    "fault_table_html",
    "fault_timeline_figure",
]

#: Column names of the faults table the report reads (may be empty or absent).
FAULTS_COLUMNS: tuple[str, ...] = (
    "scenario",
    "replication",
    "kind",
    "target",
    "start_s",
    "end_s",
    "detected_s",
    "recovered_s",
    "lost_requests",
)

_WINDOW_OPACITY = 0.18
# Marks after the start of a fault: when it was detected, when it had recovered.
_MARKS: tuple[tuple[str, str, str], ...] = (
    ("detected_s", "detected", "x"),
    ("recovered_s", "recovered", "circle-open"),
)
_MARK_COLOUR = "#1F2430"
_FACET_PX = 220


def _faults(faults: pd.DataFrame) -> pd.DataFrame:
    """The table with string names and float times, in time order."""
    require_columns(faults, FAULTS_COLUMNS, "faults")
    df = pd.DataFrame(
        {
            "scenario": faults["scenario"].astype(str),
            "replication": faults["replication"],
            "kind": faults["kind"].astype(str),
            "target": faults["target"].map(lambda v: "" if pd.isna(v) else str(v)),
            **{c: as_float(faults[c]) for c in FAULTS_COLUMNS[4:]},
        }
    )
    return df.sort_values("start_s", kind="stable")


def _runs_per_scenario(faults: pd.DataFrame, summary: pd.DataFrame | None) -> dict[str, int]:
    """How many runs each scenario had: from the summary (runs without a fault count too),
    else the distinct replications with a fault."""
    source = summary if summary is not None and not summary.empty else faults
    names = source["scenario"].astype(str)
    return {str(n): int(source.loc[names == n, "replication"].nunique()) for n in pd.unique(names)}


def fault_summary(faults: pd.DataFrame, summary: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per scenario with faults: what they were and what they cost.

    Columns: ``scenario``, ``runs`` (replications: from ``summary`` when given, so a run
    without any fault counts as one with none), ``faults_injected``, ``lost_requests`` and
    ``unrecovered`` (each the mean per run), ``availability`` (the mean of the summary's
    ``availability``, NaN without it), and ``recover_mean_s`` / ``recover_max_s``: the mean
    and largest ``recovered_s - start_s`` over every recovered fault of every run (NaN if
    none recovered). Rows follow the scenario order of ``summary``, then of ``faults``.
    """
    data = _faults(faults)
    runs = _runs_per_scenario(data, summary)
    order = scenario_order(summary, data)
    rows: list[dict[str, object]] = []
    for name in order:
        mine = data[data["scenario"] == name]
        if mine.empty:
            continue
        n = max(runs.get(name, 0), int(mine["replication"].nunique()))
        ttr = (mine["recovered_s"] - mine["start_s"]).to_numpy()
        ttr = ttr[np.isfinite(ttr)]
        availability = math.nan
        if summary is not None and "availability" in summary.columns:
            in_summary = summary[summary["scenario"].astype(str) == name]
            availability = float(as_float(in_summary["availability"]).mean())
        rows.append(
            {
                "scenario": name,
                "runs": n,
                "faults_injected": len(mine) / n,
                "lost_requests": float(np.nansum(mine["lost_requests"].to_numpy())) / n,
                "availability": availability,
                "recover_mean_s": float(ttr.mean()) if ttr.size else math.nan,
                "recover_max_s": float(ttr.max()) if ttr.size else math.nan,
                "unrecovered": float(np.isnan(mine["recovered_s"].to_numpy()).sum()) / n,
            }
        )
    columns = [
        "scenario",
        "runs",
        "faults_injected",
        "lost_requests",
        "availability",
        "recover_mean_s",
        "recover_max_s",
        "unrecovered",
    ]
    return pd.DataFrame(rows, columns=columns)


def _level_at(series: pd.DataFrame, times: np.ndarray) -> np.ndarray:
    """Ready instances at each time (the step line's value: the last sample at or before
    it; the first sample's before it), 0 without a time series."""
    if series.empty:
        return np.zeros(len(times))
    t = _floats(series["time_s"])
    ready = _floats(series["ready_instances"])
    at = np.clip(np.searchsorted(t, times, side="right") - 1, 0, len(t) - 1)
    return ready[at]


def _hover(row: pd.Series) -> str:
    end = row["end_s"]
    window = f"from {humanize_duration(row['start_s'])}" + (
        f" to {humanize_duration(end)}" if math.isfinite(end) else ""
    )
    return (
        f"{_label(row['kind'])} · {_label(row['target'])}<br>{window}<br>"
        f"detected: {humanize_duration(row['detected_s'])}, "
        f"recovered: {humanize_duration(row['recovered_s'])}<br>"
        f"lost requests: {_count(row['lost_requests'])}"
    )


def fault_timeline_figure(
    faults: pd.DataFrame,
    timeseries: pd.DataFrame | None = None,
    scenarios: Sequence[str] | None = None,
) -> go.Figure:
    """Each fault's window, detection and recovery over the load, one facet per scenario.

    Per scenario with faults, its lowest replication with a fault (replication 0 in
    practice; the facet title names it): arrival rate shaded (secondary axis) and
    ready instances as a step line (primary axis) from ``timeseries``; each fault a shaded
    band from ``start_s`` to ``end_s`` (a vertical line at ``start_s`` when it has no end),
    coloured by kind; a triangle at its start (one legend entry per kind, hover for target,
    window and lost requests) and marks where it was detected (x) and recovered (open
    circle), drawn on the ready-instances line. Times are in the unit that suits the
    longest span drawn. All names are escaped.
    """
    data = _faults(faults)
    # A fault without a start time cannot be placed on any axis.
    data = data[np.isfinite(data["start_s"].to_numpy())]
    names = [n for n in _ordered(scenarios, data) if (data["scenario"] == n).any()]
    if not names:
        return _empty("no faults were injected")
    kinds = [str(k) for k in pd.unique(data["kind"])]
    colour = {k: PALETTE[i % len(PALETTE)] for i, k in enumerate(kinds)}
    runs = []
    for name in names:
        part, rep = _first_replication(data[data["scenario"] == name])
        runs.append((name, rep, part, _run_series(timeseries, name, rep)))
    times = [float(np.nanmax(part[list(FAULTS_COLUMNS[4:8])].to_numpy())) for _, _, part, _ in runs]
    times += [float(s["time_s"].max()) for *_, s in runs if not s.empty]
    unit, factor = time_unit(max(times) if times else 0.0)
    titles = [f"{_label(n)} · replication {_rep_text(rep)}" for n, rep, _, _ in runs]
    fig = _facets(titles, _FACET_PX)
    in_legend: set[str] = set()
    for row, (_name, _rep, part, series) in enumerate(runs, start=1):
        _load_traces(fig, series, factor, row, in_legend)
        for fault in part.to_dict("records"):
            start, end = float(fault["start_s"]), float(fault["end_s"])
            style = {"fillcolor": colour[fault["kind"]], "line_width": 0, "layer": "below"}
            if math.isfinite(end) and end > start:
                fig.add_vrect(
                    x0=start / factor,
                    x1=end / factor,
                    opacity=_WINDOW_OPACITY,
                    row=row,
                    col=1,
                    **style,
                )
            else:
                fig.add_vline(
                    x=start / factor,
                    line={"color": colour[fault["kind"]], "width": 2, "dash": "dot"},
                    row=row,
                    col=1,
                )
        for kind in kinds:
            mine = part[part["kind"] == kind]
            if mine.empty:
                continue
            starts = _floats(mine["start_s"])
            fig.add_trace(
                go.Scatter(
                    x=starts / factor,
                    y=_level_at(series, starts),
                    name=f"{_label(kind)} starts",
                    mode="markers",
                    marker={"color": colour[kind], "size": 11, "symbol": "triangle-down"},
                    text=[_hover(r) for _, r in mine.iterrows()],
                    hovertemplate="%{text}<extra></extra>",
                    legendgroup=f"kind-{kind}",
                    showlegend=f"kind-{kind}" not in in_legend,
                ),
                row=row,
                col=1,
            )
            in_legend.add(f"kind-{kind}")
        for column, mark, symbol in _MARKS:
            at = _floats(part[column])
            at = at[np.isfinite(at)]
            if not at.size:
                continue
            fig.add_trace(
                go.Scatter(
                    x=at / factor,
                    y=_level_at(series, at),
                    name=mark,
                    mode="markers",
                    marker={"color": _MARK_COLOUR, "size": 10, "symbol": symbol},
                    hovertemplate=f"{mark} at %{{x:.4~g}} {unit}<extra></extra>",
                    legendgroup=mark,
                    showlegend=mark not in in_legend,
                ),
                row=row,
                col=1,
            )
            in_legend.add(mark)
    for row in range(1, len(runs) + 1):
        fig.update_xaxes(title_text=f"simulated time ({unit})", row=row, col=1)
        fig.update_yaxes(title_text="ready instances", rangemode="tozero", row=row, col=1)
        fig.update_yaxes(
            title_text="requests / s",
            rangemode="tozero",
            tickmode="auto",
            showgrid=False,
            row=row,
            col=1,
            secondary_y=True,
        )
    fig.update_annotations(x=0, xanchor="left", font={"size": 13})
    fig.update_layout(legend={"groupclick": "togglegroup"}, margin={"t": 40})
    return fig


def _count(value: float) -> str:
    if not math.isfinite(value):
        return "–"
    return f"{int(value):,}" if float(value).is_integer() else f"{value:,.1f}"


def fault_table_html(table: pd.DataFrame) -> str:
    """The per-scenario table of :func:`fault_summary` as HTML, every name escaped."""
    headers = [
        ("scenario", "Scenario name"),
        ("runs", "Replications averaged in this row"),
        ("faults injected", "Faults per run"),
        ("requests lost", "Requests lost to the faults per run (mean)"),
        ("availability", "Served / finished requests after the warm-up (mean)"),
        ("time to recover (mean)", "Over every recovered fault of every run"),
        ("time to recover (max)", "The slowest recovery of any run"),
        ("unrecovered", "Faults per run not recovered by the end of the run"),
    ]
    head = "".join(
        f'<th scope="col" title="{html.escape(tip)}">{html.escape(h)}</th>' for h, tip in headers
    )
    body: list[str] = []
    for rec in table.to_dict("records"):
        availability = float(rec["availability"])
        cells = [
            f'<th scope="row">{html.escape(str(rec["scenario"]))}</th>',
            f"<td>{int(rec['runs'])}</td>",
            f"<td>{_count(float(rec['faults_injected']))}</td>",
            f"<td>{_count(float(rec['lost_requests']))}</td>",
            "<td>"
            + ("–" if not math.isfinite(availability) else f"{availability * 100:.2f} %")
            + "</td>",
            f"<td>{html.escape(humanize_duration(float(rec['recover_mean_s'])))}</td>",
            f"<td>{html.escape(humanize_duration(float(rec['recover_max_s'])))}</td>",
            f"<td>{_count(float(rec['unrecovered']))}</td>",
        ]
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (
        '<div class="table-wrap"><table class="summary faults">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
    )


#: The "how to read this" note of the Faults section.
FAULTS_HOW = (
    "The table: per scenario, the faults injected and the requests they lost (in flight on, "
    "or sent to, a failed instance before the health check took it out), each a mean per "
    "run; availability is served / finished requests after the warm-up; time to recover "
    "runs from a fault's start until as much capacity as it took was ready again, over the "
    "faults that recovered before the run ended (the others are counted as unrecovered). "
    "The figure: one panel per scenario, its first replication with a fault; shaded: the "
    "arrival rate (right axis); black: ready instances; a coloured band is a fault's "
    "window (a dotted line: a fault without an end, such as a crash), a triangle its start "
    "(hover for the target and the requests lost), x when the health check detected it and "
    "an open circle when it had recovered."
)
