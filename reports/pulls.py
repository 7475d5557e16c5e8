"""Figures built from the image-pull table: bytes moved, a per-node pull timeline, cache hits.

Each row of the table is one layer of one image pull on one node: ``bytes`` (compressed),
whether the node already held it (``cache_hit``), when it was downloaded and extracted, and
where it came from (``source``: registry, mirror or peer). A cache hit has no download
times; it may have no times at all, in which case it is placed when its pull was requested
(the optional ``requested_s`` column) or else at the earliest time of its pull. A pull is
identified by the optional ``pull`` id column when the table has one, else by its scenario,
replication, node and image (two pulls of one image on one node then count as one).

``cache_hit`` is read leniently: booleans, 0/1, or the strings "True"/"False" a CSV round
trip leaves; a missing value counts as a miss (the layer is then counted as downloaded).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from reports.figures import (
    PALETTE,
    _colour,
    _first_replication,
    _floats,
    _label,
    _no_data,
    _ordered,
    _rep_text,
    _style,
    as_float,
    natural_key,
    require_columns,
    scenario_order,
)
from reports.formatting import byte_unit, format_bytes, humanize_duration, time_unit

__all__ = [
    "PULLS_COLUMNS",
    "SOURCES",
    "bytes_pulled",
    "bytes_pulled_figure",
    "cache_hit_ratio",
    "cache_hit_ratio_figure",
    "pull_timeline_figure",
    "short_digest",
]

#: Column names of the image-pull table (may be empty or absent).
PULLS_COLUMNS: tuple[str, ...] = (
    "scenario",
    "replication",
    "node",
    "image",
    "layer",
    "bytes",
    "cache_hit",
    "download_start_s",
    "download_end_s",
    "extract_start_s",
    "extract_end_s",
    "source",
)

#: Where a layer can come from, in the order the bar chart stacks them.
SOURCES: tuple[str, ...] = ("registry", "mirror", "peer")

_TIMES = ("download_start_s", "download_end_s", "extract_start_s", "extract_end_s")
# Optional columns: a pull's id, and when it was requested.
_PULL_ID = "pull"
_REQUESTED = "requested_s"
_UNKNOWN_SOURCE = "unknown"
_SOURCE_COLOURS: dict[str, str] = {"registry": PALETTE[0], "mirror": PALETTE[2], "peer": PALETTE[4]}
# Download light, extract dark: the eye reads the dark bars (CPU-bound, in order) as the
# pull's critical path and the light ones (network, up to three in parallel) as feeding it.
_DOWNLOAD_COLOUR = "#A6C8EE"
_EXTRACT_COLOUR = "#1D4F91"
_ROW_PX = 18

# "sha256:" + 64 hex digits (or any algorithm:hex) → the first 12 hex digits, as docker does.
_DIGEST = re.compile(r"\b[a-z0-9]+:([0-9a-fA-F]{12})[0-9a-fA-F]{20,}\b")
_BARE_HEX = re.compile(r"[0-9a-fA-F]{32,}")


def short_digest(text: str) -> str:
    """Shorten content digests in ``text`` to their first 12 hex digits, as ``docker`` does.

    ``sha256:4f4fb700ef54…`` becomes ``4f4fb700ef54``, also inside a reference such as
    ``nginx@sha256:…``; a bare hex digest is cut the same way. Other text is left alone.
    """
    if _BARE_HEX.fullmatch(text):
        return text[:12]
    return _DIGEST.sub(r"\1", text)


def _text(series: pd.Series) -> pd.Series:
    return series.map(lambda v: v if isinstance(v, str) else "" if pd.isna(v) else str(v))


def _layers(pulls: pd.DataFrame) -> pd.DataFrame:
    """The table with string names, float sizes and times, ``hit`` and ``needed_s``.

    ``needed_s`` is when the layer was asked for: its download start, else its extract start
    (whichever is earlier when both exist), else its pull's ``requested_s`` if the table has
    that column, else the earliest time of its pull; NaN when none of these is known.
    ``pull_key`` names the pull (see the module docstring).
    """
    require_columns(pulls, PULLS_COLUMNS, "pulls")
    df = pd.DataFrame(
        {
            "scenario": pulls["scenario"].astype(str),
            "replication": pulls["replication"],
            "node": _text(pulls["node"]),
            "image": _text(pulls["image"]),
            "layer": _text(pulls["layer"]),
            "bytes": as_float(pulls["bytes"]),
            "hit": (as_float(pulls["cache_hit"]) > 0.5).astype(bool),
            **{c: as_float(pulls[c]) for c in _TIMES},
            "source": _text(pulls["source"]).replace("", _UNKNOWN_SOURCE),
        }
    ).reset_index(drop=True)
    rep = df["replication"].astype(str)
    if _PULL_ID in pulls.columns:
        df["pull_key"] = df["scenario"] + "\0" + rep + "\0" + _text(pulls[_PULL_ID]).to_numpy()
    else:
        df["pull_key"] = df["scenario"] + "\0" + rep + "\0" + df["node"] + "\0" + df["image"]
    own = df[["download_start_s", "extract_start_s"]].min(axis=1)
    if _REQUESTED in pulls.columns:
        own = own.fillna(as_float(pulls[_REQUESTED]).reset_index(drop=True))
    earliest = df[list(_TIMES)].min(axis=1).groupby(df["pull_key"], sort=False).transform("min")
    df["needed_s"] = own.fillna(earliest)
    return df


def _sources(misses: pd.DataFrame) -> list[str]:
    present = [str(s) for s in pd.unique(misses["source"])]
    return [s for s in SOURCES if s in present] + [s for s in present if s not in SOURCES]


def bytes_pulled(pulls: pd.DataFrame) -> pd.DataFrame:
    """Bytes of the layers each scenario had to fetch, per source, as a mean per run.

    Cache hits move nothing and are left out. For each scenario and source the bytes of the
    fetched layers are summed over all its replications and divided by the number of its
    replications in the table, so a run that fetched nothing from a source counts as zero.
    Columns: ``scenario``, ``source``, ``bytes``, ``replications``; one row per scenario
    (order of first appearance) and source that any scenario fetched from (registry, mirror,
    peer, then others as they appear; a missing source reads "unknown").
    """
    data = _layers(pulls)
    misses = data[~data["hit"]]
    sources = _sources(misses)
    rows: list[dict[str, object]] = []
    for scenario in scenario_order(data):
        runs = int(data.loc[data["scenario"] == scenario, "replication"].astype(str).nunique())
        mine = misses[misses["scenario"] == scenario]
        for source in sources:
            total = float(mine.loc[mine["source"] == source, "bytes"].sum())
            row = {"scenario": scenario, "source": source, "bytes": total / runs}
            rows.append({**row, "replications": runs})
    return pd.DataFrame(rows, columns=["scenario", "source", "bytes", "replications"])


def bytes_pulled_figure(pulls: pd.DataFrame, scenarios: Sequence[str] | None = None) -> go.Figure:
    """Stacked bars: bytes each scenario fetched per run, split by source.

    See :func:`bytes_pulled` for the numbers. The axis is in decimal units (kB, MB, GB)
    chosen from the tallest bar; the hover shows each part and the run's total.
    """
    table = bytes_pulled(pulls)
    # Scenarios come from the pulls, not from the bytes table: one whose every layer was
    # cached still gets its (empty) bar.
    present = set(scenario_order(pulls))
    order = [s for s in _ordered(scenarios, pulls) if s in present]
    totals = table.groupby("scenario", sort=False)["bytes"].sum()
    unit, factor = byte_unit(float(totals.max()) if not totals.empty else 0.0)
    fig = go.Figure()
    labels = [_label(s) for s in order]
    for k, source in enumerate(pd.unique(table["source"])):
        part = table[table["source"] == source].set_index("scenario").reindex(order)
        values = _floats(part["bytes"])
        fig.add_trace(
            go.Bar(
                x=labels,
                y=values / factor,
                name=_label(source),
                marker={"color": _SOURCE_COLOURS.get(str(source), _colour(k + 5))},
                customdata=[
                    [format_bytes(v), format_bytes(float(totals.get(s, math.nan)))]
                    for v, s in zip(values, order, strict=True)
                ],
                hovertemplate=(
                    "%{x}: %{customdata[0]} from %{fullData.name}"
                    " (of %{customdata[1]} per run)<extra></extra>"
                ),
            )
        )
    _style(fig, y_title=f"bytes fetched per run ({unit})")
    # Stacked bars reverse the legend by default; in a horizontal legend that reads backwards.
    fig.update_layout(
        barmode="stack", hovermode="closest", showlegend=True, legend={"traceorder": "normal"}
    )
    fig.update_xaxes(title_text="scenario", type="category")
    fig.update_yaxes(rangemode="tozero")
    if not order:
        _no_data(fig, "no image pulls")
    elif not fig.data:
        _no_data(fig, "every layer was already cached: nothing was fetched")
    return fig


def _pull_rows(run: pd.DataFrame, max_nodes: int) -> tuple[pd.DataFrame, list[str], int, int]:
    """The drawn rows of one run, the shown nodes, all its nodes and the untimed cache hits."""
    first = run.groupby("node", sort=False)["needed_s"].min()
    nodes = sorted(
        (str(n) for n in first.index),
        key=lambda n: (
            float(first[n]) if math.isfinite(float(first[n])) else math.inf,
            natural_key(n),
        ),
    )
    shown = nodes[:max_nodes]
    mine = run[run["node"].isin(shown)]
    timed = mine[mine[list(_TIMES)].notna().any(axis=1)]
    untimed_hits = int((mine["hit"] & ~mine.index.isin(timed.index)).sum())
    rank = {n: k for k, n in enumerate(shown)}
    pull_start = timed.groupby("pull_key", sort=False)["needed_s"].transform("min")
    ordered = timed.assign(
        _node=timed["node"].map(rank),
        _pull=pull_start.fillna(math.inf),
        _row=np.arange(len(timed)),
    ).sort_values(["_node", "_pull", "_row"], kind="stable")
    return ordered.drop(columns=["_node", "_pull", "_row"]), shown, len(nodes), untimed_hits


def _bar(
    rows: pd.DataFrame,
    labels: list[str],
    start: str,
    end: str,
    factor: float,
    *,
    name: str,
    colour: str,
    with_source: bool,
) -> go.Bar | None:
    s, e = _floats(rows[start]), _floats(rows[end])
    keep = np.isfinite(s) & np.isfinite(e)
    if not keep.any():
        return None
    picked = rows[keep]
    custom: list[list[str]] = [
        [humanize_duration(b - a), format_bytes(size), _label(source)]
        for a, b, size, source in zip(
            s[keep], e[keep], _floats(picked["bytes"]), picked["source"], strict=True
        )
    ]
    via = " from %{customdata[2]}" if with_source else ""
    return go.Bar(
        y=[labels[i] for i in np.flatnonzero(keep)],
        x=(e[keep] - s[keep]) / factor,
        base=s[keep] / factor,
        orientation="h",
        name=name,
        marker={"color": colour, "line": {"width": 0}},
        customdata=custom,
        hovertemplate=(
            f"%{{y}}<br>{name} of %{{customdata[1]}}{via}: took %{{customdata[0]}}<extra></extra>"
        ),
    )


def pull_timeline_figure(
    pulls: pd.DataFrame,
    scenarios: Sequence[str] | None = None,
    *,
    max_nodes: int = 6,
) -> go.Figure:
    """Download and extract bars of each layer, for the first nodes of one run.

    The run is replication 0 (the lowest id) of the first scenario with pulls, in the order
    of ``scenarios``. Nodes are ordered by when they first needed a layer (ties by name,
    ``node2`` before ``node10``) and the first ``max_nodes`` are drawn; in them one row per
    layer pull, labelled ``node · image · layer`` with digests cut to 12 hex digits, grouped
    by node, then by pull, then in table (layer) order. A light bar spans the download, a
    dark bar the extraction. Cache hits without times have nothing to draw; the title
    counts them. The time axis is in a unit that suits the span drawn.
    """
    if max_nodes < 1:
        raise ValueError(f"max_nodes must be >= 1, got {max_nodes}")
    data = _layers(pulls)
    names = [s for s in _ordered(scenarios, data) if (data["scenario"] == s).any()]
    if not names:
        fig = go.Figure()
        _style(fig, y_title="", height=300)
        _no_data(fig, "no image pulls")
        return fig
    run, rep = _first_replication(data[data["scenario"] == names[0]])
    rows, shown, total, untimed_hits = _pull_rows(run, max_nodes)
    which = (
        f"first {len(shown)} of {total} nodes"
        if total > len(shown)
        else f"{total} node" + ("" if total == 1 else "s")
    )
    title = f"{_label(names[0])} · replication {_rep_text(rep)}: {which}"
    if untimed_hits:
        title += f"; {untimed_hits} cached layer" + ("s" if untimed_hits != 1 else "")
        title += " not drawn (nothing to fetch)"
    labels = [
        f"{_label(n)} · {_label(short_digest(i))} · {_label(short_digest(layer))}"
        for n, i, layer in zip(rows["node"], rows["image"], rows["layer"], strict=True)
    ]
    edges = rows[list(_TIMES)].to_numpy(dtype=np.float64, na_value=np.nan).ravel()
    edges = edges[np.isfinite(edges)]
    unit, factor = time_unit(float(edges.max() - edges.min()) if edges.size else 0.0)
    fig = go.Figure()
    for bar in (
        _bar(
            rows,
            labels,
            "download_start_s",
            "download_end_s",
            factor,
            name="download",
            colour=_DOWNLOAD_COLOUR,
            with_source=True,
        ),
        _bar(
            rows,
            labels,
            "extract_start_s",
            "extract_end_s",
            factor,
            name="extract",
            colour=_EXTRACT_COLOUR,
            with_source=False,
        ),
    ):
        if bar is not None:
            fig.add_trace(bar)
    category = list(dict.fromkeys(labels))
    _style(fig, y_title="", height=max(len(category), 4) * _ROW_PX + 170)
    fig.update_layout(
        barmode="overlay",
        hovermode="closest",
        showlegend=True,
        title={"text": title, "x": 0.01, "xanchor": "left", "font": {"size": 13}},
        margin={"t": 50},
    )
    fig.update_xaxes(title_text=f"simulated time ({unit})")
    fig.update_yaxes(
        title_text=None,
        categoryorder="array",
        categoryarray=category,
        autorange="reversed",
        tickfont={"size": 10},
    )
    if rows.empty:
        _no_data(fig, "no layer was downloaded or extracted")
    return fig


def cache_hit_ratio(pulls: pd.DataFrame) -> pd.DataFrame:
    """Cumulative share of layer requests that hit a node's cache, per scenario over time.

    Every row is one layer request, placed at the time the layer was needed (its download
    start, else its extract start, else when its pull was requested or began). All replications
    are pooled: at each time, the hits so far over the requests so far. Requests with no
    time at all cannot be placed and are left out. Columns: ``scenario``, ``time_s``,
    ``requests`` and ``hits`` (cumulative counts) and ``hit_ratio``; one row per scenario
    (order of first appearance) and distinct time.
    """
    data = _layers(pulls)
    placed = data[np.isfinite(data["needed_s"].to_numpy())]
    frames: list[pd.DataFrame] = []
    for scenario in scenario_order(data):
        mine = placed[placed["scenario"] == scenario]
        if mine.empty:
            continue
        per_time = mine.groupby("needed_s", sort=True)["hit"].agg(["size", "sum"])
        requests = per_time["size"].cumsum().astype(int)
        hits = per_time["sum"].cumsum().astype(int)
        frames.append(
            pd.DataFrame(
                {
                    "scenario": scenario,
                    "time_s": per_time.index.to_numpy(dtype=np.float64),
                    "requests": requests.to_numpy(),
                    "hits": hits.to_numpy(),
                    "hit_ratio": (hits / requests).to_numpy(dtype=np.float64),
                }
            )
        )
    columns = ["scenario", "time_s", "requests", "hits", "hit_ratio"]
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    return pd.concat(frames, ignore_index=True)[columns]


def cache_hit_ratio_figure(
    pulls: pd.DataFrame, scenarios: Sequence[str] | None = None
) -> go.Figure:
    """The cumulative cache hit ratio of :func:`cache_hit_ratio`, one step line per scenario.

    A warm fleet starts high; a cold one starts at 0 % and climbs as layers spread (through
    shared base layers, a mirror's cache or peers). The legend counts each scenario's layer
    requests, and those without a time that could not be placed.
    """
    data = _layers(pulls)
    ratio = cache_hit_ratio(pulls)
    times = _floats(ratio["time_s"]) if not ratio.empty else np.array([])
    unit, factor = time_unit(float(times.max()) if times.size else 0.0)
    fig = go.Figure()
    for i, name in enumerate(_ordered(scenarios, data)):
        mine = data[data["scenario"] == name]
        if mine.empty:
            continue
        part = ratio[ratio["scenario"] == name]
        n = len(mine)
        unplaced = int(mine["needed_s"].isna().sum())
        label = f"{_label(name)} ({n} layer request" + ("s" if n != 1 else "")
        if unplaced:
            label += f", {unplaced} without a time left out"
        extra: dict[str, Any] = {}
        if part.empty:
            # A lone NaN point draws nothing but keeps the scenario in the legend.
            x, y = np.array([math.nan]), np.array([math.nan])
        else:
            x, y = _floats(part["time_s"]) / factor, _floats(part["hit_ratio"])
            extra["customdata"] = [
                [int(h), int(r)] for h, r in zip(part["hits"], part["requests"], strict=True)
            ]
            extra["hovertemplate"] = "%{y:.1%} hit the cache (%{customdata[0]} of %{customdata[1]})"
        fig.add_trace(
            go.Scatter(
                x=x,
                y=y,
                name=label + ")",
                mode="lines+markers" if len(part) == 1 else "lines",
                line={"color": _colour(i), "width": 2, "shape": "hv"},
                **extra,
            )
        )
    _style(fig, y_title="layer cache hit ratio (cumulative)")
    fig.update_layout(showlegend=True)
    fig.update_xaxes(title_text=f"simulated time ({unit})")
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%")
    if data.empty:
        _no_data(fig, "no image pulls")
    elif ratio.empty:
        _no_data(fig, "no layer request has a time")
    return fig
