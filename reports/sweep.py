"""Reports of a sweep (``sweep.csv`` + ``sweep.json``) and of a capacity plan (``plan.csv`` +
``plan.json``): pure ``DataFrame -> Figure`` builders assembled into one self-contained page.

Sweep table: one row per (point, scenario) with the factor columns (named by their config
path), ``point``, ``scenario``, ``status`` (``ok``/``failed``), ``error``, ``replications`` and
``<metric>_mean``/``_sd``/``_ci95`` for every numeric summary column. Plan table: one row per
evaluated value with ``step``, ``value``, ``replications``, ``meets`` and the same metric
columns. Both are read as tables only; nothing here knows how they were produced.

One derived metric is added to both: ``unserved_share`` = (dropped + timed out) / arrived,
from the means. Its confidence half-width is (dropped half-width + timed-out half-width) /
mean arrivals: the half-width of a sum is at most the sum of the half-widths, and the
arrivals vary far less than the losses, so the band is slightly conservative, never narrower.

User strings (experiment, scenario, factor names and values, SLO text, errors) are escaped
for HTML in the page and for plotly's HTML-like label markup in the figures.
"""

from __future__ import annotations

import html
import math
import numbers
import pathlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from reports.figures import PALETTE, as_float
from reports.formatting import format_usd
from reports.page import esc, figure_block, page_html, section, write_atomic

__all__ = [
    "KEY_METRICS",
    "best_configurations",
    "heatmap_figure",
    "line_figure",
    "meets_slo",
    "metric_title",
    "pareto_figure",
    "pareto_front",
    "plan_figure",
    "render_plan_report",
    "render_sweep_report",
    "slo_limits",
    "varying_metrics",
    "with_derived",
    "write_plan_report",
    "write_sweep_report",
]

#: Metrics every sweep page plots, in this order (``unserved_share`` is derived).
KEY_METRICS: tuple[str, ...] = ("latency_p99_s", "unserved_share", "cost_usd", "slo_attainment")

_TITLES: dict[str, str] = {
    "latency_p99_s": "latency p99",
    "unserved_share": "unserved share (dropped + timed out) / arrived",
    "cost_usd": "cost (USD)",
    "slo_attainment": "SLO attainment",
    "unserved_fraction": "unserved fraction (dropped + timed out) / finished",
}
# Metrics where more is better; everything else is read as "less is better".
_HIGHER_IS_BETTER = frozenset({"slo_attainment", "throughput_rps", "completed", "availability"})
_SHARES = frozenset(
    {"unserved_share", "unserved_fraction", "slo_attainment", "waited_fraction", "availability"}
)
_NOT_METRICS = frozenset({"replication", "seed", "replications", "step", "value", "point"})
_TEMPLATE = "plotly_white"
_DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")


# -- tables -------------------------------------------------------------------------------


def _label(value: object) -> str:
    """Escape for plotly's label markup (it decodes the entities back when drawing)."""
    return html.escape(_text(value), quote=False)


def _text(value: object) -> str:
    """A factor value or number as a short string: 4 significant digits, integers exact."""
    if isinstance(value, bool | np.bool_):
        return str(bool(value)).lower()
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        v = float(value)
        if not math.isfinite(v):
            return "–"
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else f"{v:.4g}"
    if value is None:
        return "–"
    return str(value)


def _num(value: object) -> float:
    """One cell as a float, NaN when missing or not a number ("True"/"False" become 1/0)."""
    if isinstance(value, str):
        value = {"true": 1.0, "false": 0.0}.get(value.strip().lower(), value)
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


def _col(df: pd.DataFrame, name: str) -> np.ndarray[Any, np.dtype[np.float64]]:
    if name not in df.columns:
        return np.full(len(df), np.nan)
    return as_float(df[name]).to_numpy(dtype=np.float64, na_value=np.nan)


def with_derived(table: pd.DataFrame) -> pd.DataFrame:
    """A copy of a sweep or plan table with ``unserved_share_mean``/``_ci95`` added.

    Left out when the table lacks ``arrived_mean``. See the module docstring for the band.
    """
    out = table.copy()
    if "arrived_mean" not in out.columns or "unserved_share_mean" in out.columns:
        return out
    arrived = _col(out, "arrived_mean")
    lost = np.nan_to_num(_col(out, "dropped_mean")) + np.nan_to_num(_col(out, "timed_out_mean"))
    half = _col(out, "dropped_ci95") + np.nan_to_num(_col(out, "timed_out_ci95"))
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(arrived > 0, lost / arrived, np.nan)
        out["unserved_share_mean"] = share
        out["unserved_share_ci95"] = np.where(arrived > 0, half / arrived, np.nan)
    return out


def _ok(table: pd.DataFrame) -> pd.DataFrame:
    if "status" not in table.columns:
        return table
    return table[table["status"].astype(str) == "ok"]


def varying_metrics(table: pd.DataFrame, exclude: Sequence[str] = ()) -> list[str]:
    """Metrics (``<m>_mean`` columns) whose mean differs between the ok rows, in column order.

    Constant metrics (counters a platform never touches, a fixed horizon) would add flat,
    uninformative plots, so a page plots only these besides :data:`KEY_METRICS`.
    """
    ok = _ok(table)
    out: list[str] = []
    for column in table.columns:
        if not column.endswith("_mean"):
            continue
        metric = column[: -len("_mean")]
        if metric in exclude or metric in _NOT_METRICS:
            continue
        values = _col(ok, column)
        values = values[np.isfinite(values)]
        if values.size < 2:
            continue
        spread = float(values.max() - values.min())
        if spread > 1e-9 * max(1.0, float(np.abs(values).max())):
            out.append(metric)
    return out


def metric_title(metric: str) -> str:
    """Readable axis title of a metric column stem."""
    if metric in _TITLES:
        return _TITLES[metric]
    return metric.removesuffix("_s").replace("_", " ")


def _scale(metric: str, values: np.ndarray[Any, np.dtype[np.float64]]) -> tuple[float, str]:
    """(factor, unit) for the axis: ms for sub-second durations, % for shares."""
    finite = values[np.isfinite(values)]
    if metric in _SHARES:
        return 100.0, "%"
    if metric.endswith("_s"):
        if finite.size and float(np.abs(finite).max()) < 1.0:
            return 1000.0, "ms"
        return 1.0, "s"
    return 1.0, ""


def _axis_title(metric: str, unit: str) -> str:
    title = metric_title(metric)
    return f"{title} ({unit})" if unit and not title.endswith(f"({unit})") else title


def _short_factor(path: str) -> str:
    """The last component of a config path, for legends (the full path is in the hover)."""
    last = path.replace("]", "").replace("[", ".").split(".")[-1]
    return last or path


def _key(value: object) -> str:
    """A factor value as a lookup key: 4, 4.0 and "4" (a CSV round trip) are one value."""
    if isinstance(value, bool | np.bool_):
        return f"b:{bool(value)}"
    try:
        return f"n:{float(value)!r}"  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return f"s:{value}"


def _number(value: object) -> float | None:
    if value is None or isinstance(value, bool | np.bool_):
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


@dataclass(frozen=True)
class _Axis:
    """Where each value of one factor goes on an axis.

    ``numeric``: positions are numbers (the values themselves, or what they resolve to in
    base units, e.g. "1Gbps" at 1.25e8 bytes/s) and ``ticks`` label them as written; else
    positions are the (escaped) values as categories, in ``order``.
    """

    numeric: bool
    position: dict[str, Any]  # _key(value) -> x
    order: list[Any]  # positions in axis order
    ticks: list[str] | None  # tick text for ``order`` when it differs from the numbers


def _axis(
    column: pd.Series, written: Sequence[Any] | None = None, resolved: Sequence[Any] | None = None
) -> _Axis:
    """The axis of one factor column, from ``sweep.json``'s ``values``/``resolved`` when given.

    Numeric when every value is a number or resolves to one (sorted ascending); otherwise
    categorical in the order the values were written (else of first appearance).
    """
    seen = list(dict.fromkeys(column.tolist()))
    values = list(written) if written is not None else []
    values += [v for v in seen if _key(v) not in {_key(w) for w in values}]
    numbers: list[float | None] = [_number(v) for v in values]
    labels: list[str] | None = None
    if written is not None and resolved is not None and len(resolved) == len(written):
        by_key = {_key(w): _number(r) for w, r in zip(written, resolved, strict=True)}
        from_info = [by_key.get(_key(v)) for v in values]
        if all(n is not None for n in from_info) and any(
            a != b for a, b in zip(from_info, numbers, strict=True)
        ):
            numbers, labels = from_info, [_label(v) for v in values]
    if values and all(n is not None for n in numbers):
        text = labels if labels is not None else [_label(v) for v in values]
        pairs = sorted(
            ((float(n or 0.0), t, v) for n, t, v in zip(numbers, text, values, strict=True)),
            key=lambda p: p[0],
        )
        return _Axis(
            numeric=True,
            position={_key(v): n for n, _, v in pairs},
            order=[n for n, _, _ in pairs],
            ticks=[t for _, t, _ in pairs] if labels is not None else None,
        )
    return _Axis(
        numeric=False,
        position={_key(v): _label(v) for v in values},
        order=[_label(v) for v in values],
        ticks=None,
    )


def _categories(axis: _Axis) -> list[str]:
    """Cell labels of a heatmap axis: the values as written, in axis order."""
    if not axis.numeric:
        return [str(v) for v in axis.order]
    return axis.ticks if axis.ticks is not None else [_text(v) for v in axis.order]


def _style(fig: go.Figure, *, x_title: str, y_title: str, height: int = 440) -> None:
    fig.update_layout(
        template=_TEMPLATE,
        height=height,
        margin={"l": 70, "r": 20, "t": 30, "b": 40},
        hovermode="closest",
        legend={"orientation": "h", "x": 0, "xanchor": "left", "y": -0.2, "yanchor": "top"},
    )
    fig.update_xaxes(title_text=_label(x_title))
    fig.update_yaxes(title_text=_label(y_title))


def _no_data(fig: go.Figure, message: str) -> go.Figure:
    fig.add_annotation(
        text=_label(message),
        xref="paper",
        yref="paper",
        x=0.5,
        y=0.5,
        showarrow=False,
        font={"size": 14, "color": "#666"},
    )
    return fig


def _colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def _rgba(colour: str, alpha: float) -> str:
    r, g, b = (int(colour[k : k + 2], 16) for k in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def _band_trace(
    x: Sequence[Any], upper: np.ndarray[Any, Any], lower: np.ndarray[Any, Any], **kw: Any
) -> go.Scatter:
    """A filled polygon from ``upper`` (left to right) back along ``lower`` (right to left)."""
    return go.Scatter(
        x=[*x, *reversed(list(x))],
        y=np.concatenate([upper, lower[::-1]]),
        mode="lines",
        line={"width": 0},
        fill="toself",
        hoverinfo="skip",
        showlegend=False,
        **kw,
    )


def _line_with_band(
    fig: go.Figure,
    x: list[Any],
    mean: np.ndarray[Any, Any],
    half: np.ndarray[Any, Any],
    *,
    name: str,
    colour: str,
    group: str,
    hover: list[str],
    dash: str = "solid",
) -> None:
    """Band (where the half-width is known) then the mean line with markers."""
    have = np.isfinite(mean) & np.isfinite(half)
    if have.any():
        xs = [v for v, h in zip(x, have, strict=True) if h]
        fig.add_trace(
            _band_trace(
                xs,
                mean[have] + half[have],
                mean[have] - half[have],
                fillcolor=_rgba(colour, 0.18),
                legendgroup=group,
                name=f"{name}: 95 % CI",
            )
        )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=mean,
            mode="lines+markers",
            name=name,
            legendgroup=group,
            line={"color": colour, "width": 2, "dash": dash},
            marker={"size": 6},
            text=hover,
            hovertemplate="%{text}<extra></extra>",
        )
    )


# -- sweep figures ------------------------------------------------------------------------


def _factors(info: Mapping[str, Any], table: pd.DataFrame) -> list[str]:
    return [str(f) for f in info.get("factors") or [] if str(f) in table.columns]


def _design_axes(info: Mapping[str, Any], factors: Sequence[str]) -> list[str]:
    """The axes of the design: the grid factors, then the zip group as one axis named by
    its first path (``sweep.json``'s ``zip``). Paths zipped together move together, so
    bandwidth × (nodes, max_nodes zipped) is a two-factor grid, drawn as one."""
    zipped = [str(f) for f in info.get("zip") or [] if str(f) in factors]
    if not zipped or str(info.get("design") or "grid") == "zip":
        return list(factors)
    return [f for f in factors if f not in zipped] + zipped[:1]


def _line_keys(factors: Sequence[str], design: str) -> list[str]:
    """Columns that name one line: the scenario, plus the other factors of a grid."""
    extra = list(factors[1:]) if design != "zip" else []
    return ["scenario", *extra]


def line_figure(
    table: pd.DataFrame,
    factors: Sequence[str],
    metric: str,
    *,
    design: str = "grid",
    values: Mapping[str, Sequence[Any]] | None = None,
    resolved: Mapping[str, Sequence[Any]] | None = None,
) -> go.Figure:
    """``metric`` (mean with its 95 % band, mean ± ci95) against the first factor.

    One line per scenario and, on a grid, per combination of the other factors' values
    (with a zip design the factors move together, so one line per scenario). Only rows with
    status ``ok``. ``values``/``resolved`` are ``sweep.json``'s factor values as written
    and in base units: a factor whose values are or resolve to numbers gets a numeric axis
    (labelled as written, so "1Gbps" sits at its bandwidth); otherwise the values are
    categories in the order written. Durations below a second are drawn in ms, shares in %.
    """
    fig = go.Figure()
    table = with_derived(table)
    ok = _ok(table)
    x_factor = factors[0] if factors else None
    mean_col, ci_col = f"{metric}_mean", f"{metric}_ci95"
    if x_factor is None or ok.empty or mean_col not in ok.columns:
        _style(fig, x_title=x_factor or "factor", y_title=metric_title(metric))
        return _no_data(fig, "no completed points" if ok.empty else f"no {metric} column")
    factor, unit = _scale(metric, _col(ok, mean_col))
    axis = _axis(ok[x_factor], (values or {}).get(x_factor), (resolved or {}).get(x_factor))
    keys = _line_keys(factors, design)
    groups = ok.groupby(keys, sort=False, dropna=False)
    # Colour by scenario, dash by the other factors' values: lines of one scenario read as
    # a family, and a factor's effect is the same dash across colours.
    scenario_rank = {name: k for k, name in enumerate(pd.unique(ok["scenario"].astype(str)))}
    others: dict[tuple[Any, ...], int] = {}
    for i, (key, part) in enumerate(groups):
        key_values = key if isinstance(key, tuple) else (key,)
        colour = _colour(scenario_rank[str(key_values[0])])
        dash = _DASHES[others.setdefault(tuple(key_values[1:]), len(others)) % len(_DASHES)]
        label = _label(key_values[0])
        for col, value in zip(keys[1:], key_values[1:], strict=True):
            label += f" · {_label(_short_factor(col))}={_label(value)}"
        x_all = [axis.position[_key(v)] for v in part[x_factor]]
        rank = {pos: k for k, pos in enumerate(axis.order)}
        order = np.argsort([rank[v] for v in x_all], kind="stable")
        part = part.iloc[order]
        x = [x_all[k] for k in order]
        mean = _col(part, mean_col) * factor
        half = _col(part, ci_col) * factor
        hover = [
            f"{label}<br>{_label(x_factor)} = {_label(v)}<br>point {_label(p)}<br>"
            f"{_label(metric_title(metric))}: {_text(m)}"
            + (f" ± {_text(h)}" if math.isfinite(h) else "")
            + (f" {unit}" if unit else "")
            for v, p, m, h in zip(part[x_factor], part["point"], mean, half, strict=True)
        ]
        _line_with_band(
            fig,
            x,
            mean,
            half,
            name=label,
            colour=colour,
            group=f"l{i}",
            hover=hover,
            dash=dash,
        )
    _style(fig, x_title=x_factor, y_title=_axis_title(metric, unit))
    if not axis.numeric:
        fig.update_xaxes(type="category", categoryorder="array", categoryarray=axis.order)
    elif axis.ticks is not None:
        fig.update_xaxes(tickmode="array", tickvals=axis.order, ticktext=axis.ticks)
    return fig


def heatmap_figure(
    table: pd.DataFrame,
    factors: Sequence[str],
    metric: str,
    *,
    values: Mapping[str, Sequence[Any]] | None = None,
    resolved: Mapping[str, Sequence[Any]] | None = None,
) -> go.Figure:
    """``metric`` over a two-factor grid: first factor across, second up; one per scenario.

    All scenarios share one figure: one heatmap per scenario, the first visible and a
    drop-down menu to switch (a hundred scenarios stay a hundred menu entries, not a hundred
    figures). Cells show the mean; the hover adds the 95 % half-width. Missing combinations
    (failed points) stay blank. Each axis lists the factor's values in the order of
    :func:`line_figure` (``values``/``resolved`` as there), one cell per value.
    """
    fig = go.Figure()
    table = with_derived(table)
    ok = _ok(table)
    mean_col = f"{metric}_mean"
    if len(factors) < 2 or ok.empty or mean_col not in ok.columns:
        _style(fig, x_title=factors[0] if factors else "factor", y_title="second factor")
        return _no_data(fig, "needs two factors and completed points")
    fx, fy = factors[0], factors[1]
    factor, unit = _scale(metric, _col(ok, mean_col))
    x_axis = _axis(ok[fx], (values or {}).get(fx), (resolved or {}).get(fx))
    y_axis = _axis(ok[fy], (values or {}).get(fy), (resolved or {}).get(fy))
    x_labels, y_labels = _categories(x_axis), _categories(y_axis)
    x_index = {pos: k for k, pos in enumerate(x_axis.order)}
    y_index = {pos: k for k, pos in enumerate(y_axis.order)}
    names = [str(n) for n in pd.unique(ok["scenario"].astype(str))]
    for k, name in enumerate(names):
        part = ok[ok["scenario"].astype(str) == name]
        z = np.full((len(y_labels), len(x_labels)), np.nan)
        ci = np.full((len(y_labels), len(x_labels)), np.nan)
        for row_x, row_y, m, h in zip(
            part[fx],
            part[fy],
            _col(part, mean_col) * factor,
            _col(part, f"{metric}_ci95") * factor,
            strict=True,
        ):
            i = y_index[y_axis.position[_key(row_y)]]
            j = x_index[x_axis.position[_key(row_x)]]
            z[i, j], ci[i, j] = m, h
        fig.add_trace(
            go.Heatmap(
                x=x_labels,
                y=y_labels,
                z=z,
                customdata=ci,
                name=_label(name),
                visible=k == 0,
                colorscale="Viridis",
                reversescale=metric in _HIGHER_IS_BETTER,
                colorbar={"title": {"text": unit or ""}},
                texttemplate="%{z:.3~g}",
                hovertemplate=(
                    f"{_label(name)}<br>{_label(_short_factor(fx))}=%{{x}}<br>"
                    f"{_label(_short_factor(fy))}=%{{y}}<br>%{{z:.4~g}} ± %{{customdata:.2~g}}"
                    f" {unit}<extra></extra>"
                ),
            )
        )
    _style(fig, x_title=fx, y_title=fy, height=420)
    fig.update_xaxes(type="category", automargin=True)
    fig.update_yaxes(type="category", automargin=True)
    if len(names) > 1:
        buttons = [
            {
                "label": _label(name),
                "method": "update",
                "args": [{"visible": [j == k for j in range(len(names))]}],
            }
            for k, name in enumerate(names)
        ]
        fig.update_layout(
            updatemenus=[
                {"buttons": buttons, "x": 1.0, "xanchor": "right", "y": 1.12, "yanchor": "top"}
            ],
            margin={"t": 60},
        )
    return fig


def pareto_front(
    cost: Sequence[float] | np.ndarray[Any, Any], attainment: Sequence[float] | np.ndarray[Any, Any]
) -> np.ndarray[Any, Any]:
    """Mask of the points on the Pareto front of low cost and high SLO attainment.

    A point is on the front unless another point costs no more and attains at least as much,
    being strictly better in one of the two. Points with a NaN coordinate are never on it.
    Equal points are all on the front (neither dominates the other).
    """
    c = np.asarray(cost, dtype=np.float64)
    a = np.asarray(attainment, dtype=np.float64)
    front = np.zeros(c.size, dtype=bool)
    valid = np.flatnonzero(np.isfinite(c) & np.isfinite(a))
    # Cheapest first; within one cost, the best attainment first.
    order = valid[np.lexsort((-a[valid], c[valid]))]
    best_cheaper = -np.inf  # best attainment among strictly cheaper points
    k = 0
    while k < order.size:
        same = [order[k]]
        while k + len(same) < order.size and c[order[k + len(same)]] == c[order[k]]:
            same.append(order[k + len(same)])
        top = a[same[0]]
        if top > best_cheaper:
            for idx in same:
                if a[idx] == top:
                    front[idx] = True
            best_cheaper = top
        k += len(same)
    return front


def _point_label(row: Mapping[Any, Any], factors: Sequence[str]) -> str:
    bits = [f"{_label(_short_factor(f))}={_label(row[f])}" for f in factors if f in row]
    return f"{_label(row['scenario'])} · point {_label(row['point'])}" + (
        "<br>" + ", ".join(bits) if bits else ""
    )


def pareto_figure(table: pd.DataFrame, factors: Sequence[str]) -> go.Figure:
    """Cost against SLO attainment for every completed (point, scenario); the front stands out.

    Points on the Pareto front (see :func:`pareto_front`) are drawn in colour and joined by a
    step line (for a budget on the x axis, the best attainment any configuration reaches);
    the others are dimmed.
    """
    fig = go.Figure()
    ok = _ok(table)
    cost = _col(ok, "cost_usd_mean")
    att = _col(ok, "slo_attainment_mean") * 100.0
    valid = np.isfinite(cost) & np.isfinite(att)
    if not valid.any():
        _style(fig, x_title="cost (USD)", y_title="SLO attainment (%)")
        return _no_data(fig, "no point has both a cost and an SLO attainment")
    front = pareto_front(cost, att)
    labels = [_point_label(row, factors) for row in ok.to_dict("records")]
    hover = [
        f"{lab}<br>cost {format_usd(c)}, attainment {_text(a)} %"
        for lab, c, a in zip(labels, cost, att, strict=True)
    ]
    off = valid & ~front
    fig.add_trace(
        go.Scatter(
            x=cost[off],
            y=att[off],
            mode="markers",
            name="other points",
            marker={"color": "#9aa0ab", "size": 7, "opacity": 0.35},
            text=[h for h, o in zip(hover, off, strict=True) if o],
            hovertemplate="%{text}<extra></extra>",
        )
    )
    idx = np.flatnonzero(front)
    idx = idx[np.lexsort((att[idx], cost[idx]))]
    fig.add_trace(
        go.Scatter(
            x=cost[idx],
            y=att[idx],
            mode="lines+markers",
            name="Pareto front",
            line={"color": PALETTE[1], "shape": "hv", "width": 2},
            marker={"color": PALETTE[1], "size": 10},
            text=[hover[i] for i in idx],
            hovertemplate="%{text}<extra></extra>",
        )
    )
    _style(fig, x_title="cost (USD)", y_title="SLO attainment (%)")
    return fig


# -- best configuration ---------------------------------------------------------------------


def slo_limits(slo: Mapping[str, Any] | None) -> dict[str, float]:
    """SLO fields → ``{metric: upper limit}`` on the mean columns.

    ``latency_p99: 0.3`` (seconds) limits ``latency_p99_s``; ``dropped: 0.001`` limits
    ``unserved_share`` (dropped + timed out over arrived, as the SLO defines it). Unset
    (null) fields and fields that are not numbers are ignored.
    """
    limits: dict[str, float] = {}
    for key, value in (slo or {}).items():
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            continue
        name = str(key)
        if name == "dropped":
            limits["unserved_share"] = float(value)
        elif name.startswith("latency_"):
            limits[name if name.endswith("_s") else f"{name}_s"] = float(value)
    return limits


def meets_slo(table: pd.DataFrame, slo: Mapping[str, Any] | None) -> pd.Series:
    """Whether each row's means meet every limit of ``slo`` (and the row's status is ok).

    A missing or NaN mean fails its limit (nothing completed cannot meet a latency target).
    With no SLO every ok row meets it.
    """
    table = with_derived(table)
    meets = np.ones(len(table), dtype=bool)
    if "status" in table.columns:
        meets &= (table["status"].astype(str) == "ok").to_numpy()
    for metric, limit in slo_limits(slo).items():
        values = _col(table, f"{metric}_mean")
        meets &= np.isfinite(values) & (values <= limit)
    return pd.Series(meets, index=table.index, name="meets")


def _violation(row: Mapping[Any, Any], limits: Mapping[str, float]) -> float:
    """How far a row misses its worst limit, relative to the limit (0 when it meets all)."""
    worst = 0.0
    for metric, limit in limits.items():
        value = float(row.get(f"{metric}_mean", math.nan))
        if not math.isfinite(value):
            return math.inf
        excess = (value - limit) / limit if limit > 0 else (math.inf if value > limit else 0.0)
        worst = max(worst, excess)
    return worst


def best_configurations(
    table: pd.DataFrame, factors: Sequence[str], slo: Mapping[str, Any] | None
) -> pd.DataFrame:
    """The best configuration per scenario, by this rule:

    among the scenario's ok rows whose *means* meet every SLO limit (:func:`meets_slo`),
    the one with the lowest mean cost; ties go to the higher mean SLO attainment, then to
    the earlier row. If no row meets the SLO, the *closest* row is shown instead: the
    smallest worst relative excess over a limit (value / limit − 1), ties again by cost.
    Columns: ``scenario``, ``point``, the factors, ``cost_usd``, ``slo_attainment``,
    ``latency_p99_s``, ``unserved_share``, ``meets`` and ``excess`` (0 when met).
    Scenarios without any ok row get a row with ``point`` missing (NaN).
    """
    table = with_derived(table)
    limits = slo_limits(slo)
    meets = meets_slo(table, slo)
    rows: list[dict[str, Any]] = []
    for name in pd.unique(table["scenario"].astype(str)):
        mask = (table["scenario"].astype(str) == name).to_numpy()
        part = table[mask]
        ok = _ok(part)
        out: dict[str, Any] = {"scenario": name, "point": None}
        out.update(dict.fromkeys(factors))
        if ok.empty:
            out.update(
                cost_usd=math.nan,
                slo_attainment=math.nan,
                latency_p99_s=math.nan,
                unserved_share=math.nan,
                meets=False,
                excess=math.nan,
            )
            rows.append(out)
            continue
        good = ok[meets[ok.index].to_numpy()]
        candidates = good if not good.empty else ok
        records = candidates.to_dict("records")
        cost = _col(candidates, "cost_usd_mean")
        att = _col(candidates, "slo_attainment_mean")

        keys = [
            (
                0.0 if not good.empty else _violation(rec, limits),
                cost[k] if math.isfinite(cost[k]) else math.inf,
                -att[k] if math.isfinite(att[k]) else math.inf,
                k,
            )
            for k, rec in enumerate(records)
        ]
        best = min(keys)[3]
        rec = records[best]
        out.update({"point": rec["point"], **{f: rec[f] for f in factors}})
        out.update(
            cost_usd=cost[best],
            slo_attainment=att[best],
            latency_p99_s=float(rec.get("latency_p99_s_mean", math.nan)),
            unserved_share=float(rec.get("unserved_share_mean", math.nan)),
            meets=not good.empty,
            excess=0.0 if not good.empty else _violation(rec, limits),
        )
        rows.append(out)
    return pd.DataFrame(
        rows,
        columns=[
            "scenario",
            "point",
            *factors,
            "cost_usd",
            "slo_attainment",
            "latency_p99_s",
            "unserved_share",
            "meets",
            "excess",
        ],
    )


# -- sweep page -----------------------------------------------------------------------------


def _fmt_metric(metric: str, value: float, half: float = math.nan) -> str:
    if not math.isfinite(value):
        return "–"
    if metric in _SHARES:
        text = f"{value * 100:.3g} %"
        return text + (f" ± {half * 100:.2g}" if math.isfinite(half) else "")
    if metric.endswith("_s"):
        ms = abs(value) < 1.0
        f, unit = (1000.0, "ms") if ms else (1.0, "s")
        text = f"{value * f:.3g} {unit}"
        return text + (f" ± {half * f:.2g}" if math.isfinite(half) else "")
    if metric.startswith("cost"):
        return format_usd(value) + (f" ± {format_usd(half)}" if math.isfinite(half) else "")
    return _text(value) + (f" ± {_text(half)}" if math.isfinite(half) else "")


def _slo_text(slo: Mapping[str, Any] | None) -> str:
    limits = slo_limits(slo)
    if not limits:
        return "none"
    return ", ".join(f"{metric_title(m)} ≤ {_fmt_metric(m, v)}" for m, v in limits.items())


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """HTML table; ``rows`` cells are already-escaped HTML, the first cell a row header."""
    head = "".join(f'<th scope="col">{esc(h)}</th>' for h in headers)
    body = [
        f'<tr><th scope="row">{cells[0]}</th>'
        + "".join(f"<td>{c}</td>" for c in cells[1:])
        + "</tr>"
        for cells in rows
    ]
    if not body:
        body.append(f'<tr><td colspan="{len(headers)}">none</td></tr>')
    return (
        '<div class="table-wrap"><table class="summary sweep">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
    )


def _best_section(best: pd.DataFrame, factors: Sequence[str], slo: Mapping[str, Any] | None) -> str:
    headers = ["scenario", "point", *[_short_factor(f) for f in factors]]
    headers += ["cost", "SLO attainment", "p99", "unserved", "meets the SLO"]
    rows = []
    for rec in best.to_dict("records"):
        if pd.isna(rec["point"]):
            rows.append(
                [esc(rec["scenario"]), "–", *["–"] * len(factors), *["–"] * 4, "no completed point"]
            )
            continue
        verdict = (
            "yes"
            if rec["meets"]
            else (
                f"no point does; closest (worst limit exceeded by {rec['excess'] * 100:.3g} %)"
                if math.isfinite(rec["excess"])
                else "no point does; closest shown"
            )
        )
        rows.append(
            [
                esc(rec["scenario"]),
                esc(_text(rec["point"])),
                *[esc(_text(rec[f])) for f in factors],
                esc(_fmt_metric("cost_usd", rec["cost_usd"])),
                esc(_fmt_metric("slo_attainment", rec["slo_attainment"])),
                esc(_fmt_metric("latency_p99_s", rec["latency_p99_s"])),
                esc(_fmt_metric("unserved_share", rec["unserved_share"])),
                esc(verdict),
            ]
        )
    if slo_limits(slo):
        how = (
            "Per scenario, the cheapest point (lowest mean cost) whose means meet every SLO "
            f"limit ({_slo_text(slo)}); ties go to the higher SLO attainment. Means, not "
            "confidence bounds: use `deploysim plan` for an answer that holds with stated "
            "confidence. When no point meets the SLO the row shows the closest one: the "
            "smallest excess of its worst metric over its limit, relative to the limit."
        )
    else:
        how = (
            "The experiment sets no SLO, so every completed point qualifies: per scenario, "
            "the cheapest point (lowest mean cost); ties go to the higher SLO attainment."
        )
    return section("Best configuration per scenario", _table(headers, rows), how, anchor="best")


def _failed_section(table: pd.DataFrame, factors: Sequence[str]) -> str:
    if "status" not in table.columns:
        return ""
    failed = table[table["status"].astype(str) != "ok"]
    if failed.empty:
        return ""
    headers = ["point", "scenario", *[_short_factor(f) for f in factors], "error"]
    rows = [
        [
            esc(_text(rec["point"])),
            esc(rec["scenario"]),
            *[esc(_text(rec[f])) for f in factors],
            f'<span class="error">{esc(rec.get("error", "") or "")}</span>',
        ]
        for rec in failed.to_dict("records")
    ]
    return section(
        f"Failed points ({len(failed)})",
        _table(headers, rows),
        "These (point, scenario) pairs did not complete; they are left out of every figure "
        "and of the best-configuration table. Rerunning the sweep retries them.",
        anchor="failed",
    )


def _points_section(table: pd.DataFrame, factors: Sequence[str], meets: pd.Series) -> str:
    headers = ["point", "scenario", *[_short_factor(f) for f in factors], "status"]
    headers += ["replications", "p99", "unserved", "cost", "SLO attainment", "meets"]
    rows = []
    for rec, ok in zip(table.to_dict("records"), meets, strict=True):
        rows.append(
            [
                esc(_text(rec["point"])),
                esc(rec["scenario"]),
                *[esc(_text(rec[f])) for f in factors],
                esc(rec.get("status", "ok")),
                esc(_text(rec.get("replications", math.nan))),
                *[
                    esc(
                        _fmt_metric(
                            m,
                            _num(rec.get(f"{m}_mean")),
                            _num(rec.get(f"{m}_ci95")),
                        )
                    )
                    for m in ("latency_p99_s", "unserved_share", "cost_usd", "slo_attainment")
                ],
                "yes" if ok else "no",
            ]
        )
    body = (
        f"<details><summary>Show all {len(table)} rows</summary>{_table(headers, rows)}</details>"
    )
    return section(
        "All points",
        body,
        "Every (point, scenario) of sweep.csv: mean ± 95 % confidence half-width over the "
        "replications (Student t; no half-width with one replication).",
        anchor="points",
    )


def render_sweep_report(sweep: pd.DataFrame, info: Mapping[str, Any]) -> str:
    """The complete sweep page for a ``sweep.csv`` table and its ``sweep.json`` content."""
    for column in ("point", "scenario"):
        if column not in sweep.columns:
            raise ValueError(f"sweep table is missing column: {column}")
    table = with_derived(sweep.reset_index(drop=True))
    factors = _factors(info, table)
    design = str(info.get("design") or "grid")
    slo = info.get("slo")
    experiment = str(info.get("experiment") or "sweep")
    ok = _ok(table)
    meets = meets_slo(table, slo)
    n_points = info.get("points", table["point"].nunique())
    n_failed = len(table) - len(ok)
    scenarios = [str(s) for s in pd.unique(table["scenario"].astype(str))]
    axes: dict[str, Any] = {"values": info.get("values"), "resolved": info.get("resolved")}

    header = [f"<h1>{esc(experiment)}: sweep</h1>"]
    if info.get("question"):
        header.append(f'<p class="question"><strong>Question:</strong> {esc(info["question"])}</p>')
    meta = {
        "factors": ", ".join(factors) or "none",
        "design": design,
        "points": _text(n_points),
        "scenarios": str(len(scenarios)),
        "rows (point × scenario)": f"{len(table)} ({n_failed} failed)",
        "replications": _replications_text(table),
        "SLO": _slo_text(slo),
    }
    items = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in meta.items())
    body = [f'<section><h2>Sweep</h2><dl class="meta">{items}</dl></section>']
    if n_failed:
        body.append(
            f'<p class="note">{n_failed} of {len(table)} rows failed; see '
            '<a href="#failed">Failed points</a>.</p>'
        )
    body.append(_best_section(best_configurations(table, factors, slo), factors, slo))

    figures: list[tuple[str, str, go.Figure, str]] = []
    extra: list[str] = []
    lines_how = ""
    plot = factors
    if factors:
        extra = varying_metrics(table, exclude=KEY_METRICS)
        # The figures' axes: a zip group (paths moving together) is one axis.
        plot = _design_axes(info, factors)
        two = design != "zip" and len(plot) >= 2
        lines_how = (
            f"Mean over the replications against {plot[0]}, one line per scenario"
            + (f" and value of {', '.join(_short_factor(f) for f in plot[1:])}" if two else "")
            + "; the shaded band is the 95 % confidence interval (mean ± half-width, Student "
            "t). Click a legend entry to hide a line, double-click to show it alone."
        )
        for k, metric in enumerate(KEY_METRICS):
            fig = line_figure(table, plot, metric, design=design, **axes)
            figures.append((f"line-{k}", f"{metric_title(metric)} vs {plot[0]}", fig, lines_how))
        if two and len(plot) == 2:
            for k, metric in enumerate(KEY_METRICS):
                fig = heatmap_figure(table, plot, metric, **axes)
                figures.append(
                    (
                        f"heat-{k}",
                        f"{metric_title(metric)} over {_short_factor(plot[0])} × "
                        f"{_short_factor(plot[1])}",
                        fig,
                        "One cell per combination of the two factors, the mean over the "
                        "replications; hover for the 95 % half-width. The menu at the top "
                        "right picks the scenario. Blank cells: failed or missing points.",
                    )
                )
    figures.append(
        (
            "pareto",
            "Cost vs SLO attainment (Pareto front)",
            pareto_figure(table, factors),
            "Every completed (point, scenario). Coloured and joined: the Pareto front, the "
            "points no other point beats on both cost and SLO attainment at once; the step "
            "line gives the best attainment reachable within a budget. Grey: dominated points.",
        )
    )
    for key, heading, fig, how in figures:
        body.append(section(heading, figure_block(fig, f"deploysim-{key}"), how, anchor=key))
    if factors and extra:
        body.append(_extra_section(table, plot, design, extra, lines_how, axes))
    failed = _failed_section(table, factors)
    if failed:
        body.append(failed)
    body.append(_points_section(table, factors, meets))
    return page_html(
        title=experiment, kind="sweep report", header=header, body=body, with_figures=True
    )


def _extra_section(
    table: pd.DataFrame,
    factors: Sequence[str],
    design: str,
    metrics: Sequence[str],
    how: str,
    axes: Mapping[str, Any],
) -> str:
    """The other metrics that vary between points, folded away: a reader opens it on purpose,
    and its figures are drawn only then."""
    parts = []
    for k, metric in enumerate(metrics):
        fig = line_figure(table, factors, metric, design=design, **axes)
        parts.append(
            f"<h3>{esc(metric_title(metric))}</h3>" + figure_block(fig, f"deploysim-more-{k}")
        )
    body = (
        f"<details><summary>Show {len(metrics)} more figure{'s' if len(metrics) > 1 else ''}: "
        f"{esc(', '.join(metric_title(m) for m in metrics))}</summary>{''.join(parts)}</details>"
    )
    return section("Other metrics that vary", body, how, anchor="more")


def _replications_text(table: pd.DataFrame) -> str:
    reps = _col(_ok(table), "replications")
    reps = reps[np.isfinite(reps)]
    if not reps.size:
        return "–"
    lo, hi = int(reps.min()), int(reps.max())
    return str(lo) if lo == hi else f"{lo}–{hi}"


def write_sweep_report(
    path: pathlib.Path, sweep: pd.DataFrame, info: Mapping[str, Any]
) -> pathlib.Path:
    """Render :func:`render_sweep_report` and write it atomically.

    ``path`` is the ``report.html`` to write, or a folder to write ``report.html`` into.
    Returns the file written.
    """
    path = pathlib.Path(path)
    if path.is_dir():
        path = path / "report.html"
    write_atomic(path, render_sweep_report(sweep, info))
    return path


# -- plan -----------------------------------------------------------------------------------


def _plan_metrics(info: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    for slo in info.get("slos") or []:
        metric = str(slo.get("metric", ""))
        if metric and metric not in out:
            out.append(metric)
    return out or ["latency_p99_s"]


def plan_figure(plan: pd.DataFrame, info: Mapping[str, Any], metric: str) -> go.Figure:
    """``metric`` against the planned parameter, with its 95 % band and the SLO thresholds.

    Each evaluated value is a marker, green when every SLO was met there and red otherwise;
    the line joins them in parameter order (not the order evaluated). Dashed horizontal
    lines: the thresholds of the SLOs on this metric. Vertical lines: the answer (solid)
    and the analytic estimate (dotted), when known.
    """
    fig = go.Figure()
    table = with_derived(plan)
    parameter = str(info.get("parameter") or "value")
    mean_col = f"{metric}_mean"
    if table.empty or mean_col not in table.columns or "value" not in table.columns:
        _style(fig, x_title=parameter, y_title=metric_title(metric))
        return _no_data(fig, f"no {metric} values")
    part = table.assign(_x=_col(table, "value")).sort_values("_x", kind="stable")
    factor, unit = _scale(metric, _col(part, mean_col))
    x = part["_x"].to_numpy(dtype=float)
    mean = _col(part, mean_col) * factor
    half = _col(part, f"{metric}_ci95") * factor
    meets = (
        as_float(part["meets"]).to_numpy() > 0.5
        if "meets" in part.columns
        else np.zeros(len(part), dtype=bool)
    )
    hover = [
        f"{_label(parameter)} = {_text(v)}<br>step {_text(s)}, {_text(r)} replications<br>"
        f"{_label(metric_title(metric))}: {_text(m)}"
        + (f" ± {_text(h)}" if math.isfinite(h) else "")
        + (f" {unit}" if unit else "")
        + ("<br>meets every SLO" if ok else "<br>misses an SLO")
        for v, s, r, m, h, ok in zip(
            x,
            part.get("step", part["_x"]),
            part.get("replications", part["_x"]),
            mean,
            half,
            meets,
            strict=True,
        )
    ]
    _line_with_band(
        fig,
        list(x),
        mean,
        half,
        name=_label(metric_title(metric)),
        colour=PALETTE[0],
        group="m",
        hover=hover,
    )
    bound_col = f"{metric}_bound"
    if bound_col in part.columns:
        # The verdict uses a one-sided bound at the plan's confidence, not the 95 % band.
        bound = _col(part, bound_col) * factor
        level = info.get("confidence")
        label = "one-sided bound judged" + (
            f" ({float(level) * 100:g} %)" if isinstance(level, numbers.Real) else ""
        )
        fig.add_trace(
            go.Scatter(
                x=x,
                y=np.where(np.isfinite(bound), bound, np.nan),
                mode="markers",
                name=label,
                marker={"symbol": "line-ew-open", "size": 16, "color": "#1f2430"},
                hovertemplate="bound judged: %{y}<extra></extra>",
            )
        )
    for flag, name, colour in (
        (True, "meets every SLO", "#1a9850"),
        (False, "misses an SLO", "#d73027"),
    ):
        sel = meets == flag
        if sel.any():
            fig.add_trace(
                go.Scatter(
                    x=x[sel],
                    y=mean[sel],
                    mode="markers",
                    name=name,
                    marker={"color": colour, "size": 11, "line": {"color": "white", "width": 1}},
                    text=[h for h, s in zip(hover, sel, strict=True) if s],
                    hovertemplate="%{text}<extra></extra>",
                )
            )
    for slo in info.get("slos") or []:
        if str(slo.get("metric")) != metric:
            continue
        threshold = float(slo.get("threshold", math.nan))
        if math.isfinite(threshold):
            fig.add_hline(
                y=threshold * factor,
                line={"dash": "dash", "color": "#444", "width": 1.5},
                annotation_text=_label(f"SLO {slo.get('text') or ''}".strip()),
                annotation_position="top left",
            )
    for key, dash, label in (("answer", "solid", "answer"), ("analytic", "dot", "analytic")):
        value = info.get(key)
        if isinstance(value, numbers.Real) and math.isfinite(float(value)):
            text = f"{label} {_text(value)}"
            if key == "analytic" and info.get("analytic_method"):
                text += f" ({info['analytic_method']})"
            fig.add_vline(
                x=float(value),
                line={"dash": dash, "color": "#1f2430" if key == "answer" else "#7b3294"},
                annotation_text=_label(text),
                annotation_position="top right" if key == "answer" else "bottom right",
            )
    _style(fig, x_title=parameter, y_title=_axis_title(metric, unit))
    if info.get("integer") and x.size and float(np.nanmax(x) - np.nanmin(x)) <= 20:
        fig.update_xaxes(dtick=1)  # whole servers: no tick at 8.5
    return fig


def render_plan_report(plan: pd.DataFrame, info: Mapping[str, Any]) -> str:
    """The complete plan page for a ``plan.csv`` table and its ``plan.json`` content."""
    table = with_derived(plan.reset_index(drop=True))
    if "step" in table.columns:
        table = table.sort_values("step", kind="stable")
    experiment = str(info.get("experiment") or "plan")
    scenario = str(info.get("scenario") or "")
    parameter = str(info.get("parameter") or "value")
    slos = list(info.get("slos") or [])
    answer, analytic = info.get("answer"), info.get("analytic")
    confidence = info.get("confidence")

    header = [f"<h1>{esc(experiment)}: capacity plan for {esc(scenario)}</h1>"]
    if answer is not None:
        verdict = (
            f"The smallest {parameter} that meets every SLO is {_text(answer)}"
            f" ({_text(info.get('runs'))} runs)."
        )
    else:
        verdict = f"No value of {parameter} in the searched range met every SLO."
    if analytic is not None:
        method = info.get("analytic_method") or "analytic estimate"
        verdict += f" The analytic estimate ({method}) is {_text(analytic)}."
    header.append(f'<p class="question">{esc(verdict)}</p>')
    meta = {
        "scenario": scenario,
        "parameter": parameter,
        "SLOs": "; ".join(str(s.get("text") or s.get("metric")) for s in slos) or "none",
        "confidence": (
            f"{float(confidence) * 100:g} %"
            if isinstance(confidence, numbers.Real)
            else _text(confidence)
        ),
        "answer": _text(answer),
        "analytic": _text(analytic)
        + (f" ({info['analytic_method']})" if info.get("analytic_method") else ""),
        "runs": _text(info.get("runs")),
    }
    items = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in meta.items())
    body = [f'<section><h2>Plan</h2><dl class="meta">{items}</dl></section>']
    metrics = _plan_metrics(info)
    for k, metric in enumerate(metrics):
        body.append(
            section(
                f"{metric_title(metric)} vs {parameter}",
                figure_block(plan_figure(table, info, metric), f"deploysim-plan-{k}"),
                "Mean over the replications at each evaluated value with its 95 % confidence "
                "band; green markers met every SLO, red ones missed at least one. The verdict "
                "uses the one-sided bound at the plan's confidence (short bars), not the band. "
                "Dashed: the SLO threshold; solid vertical: the answer; dotted: the analytic "
                "estimate.",
                anchor=f"plan-{k}",
            )
        )
    headers = ["step", parameter, "replications", "meets", *[metric_title(m) for m in metrics]]
    rows = []
    for rec in table.to_dict("records"):
        cells = [
            esc(_text(rec.get("step"))),
            esc(_text(rec.get("value"))),
            esc(_text(rec.get("replications"))),
            "yes" if _num(rec.get("meets")) > 0.5 else "no",
        ]
        for m in metrics:
            mean = _num(rec.get(f"{m}_mean"))
            half = _num(rec.get(f"{m}_ci95"))
            cells.append(esc(_fmt_metric(m, mean, half)))
        rows.append(cells)
    body.append(
        section(
            "Evaluated values",
            _table(headers, rows),
            "In the order the search evaluated them (bracketing, then bisection): mean ± "
            "95 % confidence half-width over the replications.",
            anchor="steps",
        )
    )
    return page_html(
        title=f"{experiment} · {scenario}",
        kind="plan report",
        header=header,
        body=body,
        with_figures=True,
    )


def write_plan_report(
    path: pathlib.Path, plan: pd.DataFrame, info: Mapping[str, Any]
) -> pathlib.Path:
    """Render :func:`render_plan_report` and write it atomically (``path`` as for sweeps)."""
    path = pathlib.Path(path)
    if path.is_dir():
        path = path / "report.html"
    write_atomic(path, render_plan_report(plan, info))
    return path
