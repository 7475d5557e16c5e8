"""Self-contained, offline HTML report for one deploysim experiment.

The page embeds plotly.js exactly once, inline, and makes no network request of any kind: no
CDN, no web fonts, no MathJax. A Content-Security-Policy ``<meta>`` tag backs this up, so even
a future plotly feature that tried to fetch something would be blocked (and logged) instead of
silently phoning home. Every user-supplied string is escaped with :func:`html.escape`.
"""

from __future__ import annotations

import html
import math
import pathlib
from collections.abc import Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from reports.faults import (
    FAULTS_COLUMNS,
    FAULTS_HOW,
    fault_summary,
    fault_table_html,
    fault_timeline_figure,
)
from reports.figures import (
    PROVISIONING_COLUMNS,
    TIMESERIES_COLUMNS,
    arrivals_figure,
    as_float,
    cost_figure,
    latency_figure,
    queue_figure,
    require_columns,
    scenario_order,
)
from reports.formatting import format_duration, humanize_duration
from reports.narrative import comparison_text
from reports.page import CSP as _CSP
from reports.page import CSS as _CSS
from reports.page import figure_block, figure_scripts
from reports.provisioning import provisioning_figure, time_to_ready_figure
from reports.pulls import (
    PULLS_COLUMNS,
    bytes_pulled_figure,
    cache_hit_ratio_figure,
    pull_timeline_figure,
)
from reports.scaling import SCALING_COLUMNS, desired_vs_ready_figure, scaling_decisions_figure

__all__ = [
    "render_report",
    "scenario_summary",
    "t_quantile_975",
    "write_report",
]

# Columns of the summary table the report reads (the table may carry more).
_SUMMARY_USED: tuple[str, ...] = (
    "scenario",
    "replication",
    "arrived",
    "completed",
    "dropped",
    "dropped_queue_full",
    "dropped_no_instance",
    "timed_out",
    "latency_p50_s",
    "latency_p95_s",
    "latency_p99_s",
    "slo_attainment",
    "cost_usd",
)
# Newer columns: averaged when present, NaN when an older table lacks them.
_SUMMARY_OPTIONAL: tuple[str, ...] = (
    "cost_per_million_requests_usd",
    "time_to_first_ready_s",
    "time_to_target_capacity_s",
    # Fault columns: shown only when the summary has ``faults_injected`` (a faults: block).
    "failed_requests",
    "availability",
    "faults_injected",
)

# Two-sided 95 % (i.e. one-sided 97.5 %) Student t quantiles by degrees of freedom. scipy is
# not a dependency, and a table is exact enough for a confidence interval in a report.
_T_975: dict[int, float] = {
    1: 12.706,
    2: 4.303,
    3: 3.182,
    4: 2.776,
    5: 2.571,
    6: 2.447,
    7: 2.365,
    8: 2.306,
    9: 2.262,
    10: 2.228,
    11: 2.201,
    12: 2.179,
    13: 2.160,
    14: 2.145,
    15: 2.131,
    16: 2.120,
    17: 2.110,
    18: 2.101,
    19: 2.093,
    20: 2.086,
    21: 2.080,
    22: 2.074,
    23: 2.069,
    24: 2.064,
    25: 2.060,
    26: 2.056,
    27: 2.052,
    28: 2.048,
    29: 2.045,
    30: 2.042,
    40: 2.021,
    50: 2.009,
    60: 2.000,
    80: 1.990,
    100: 1.984,
    120: 1.980,
}


def t_quantile_975(df: int) -> float:
    """Student t quantile at 0.975 (for a two-sided 95 % interval) with ``df`` degrees of freedom.

    Exact table values for df 1..30; between the coarser tabled values above 30 the value of
    the next smaller tabled df is used, which makes the interval slightly wider, never
    narrower. Beyond 120 the normal quantile 1.96 is used.
    """
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    if df > 120:
        return 1.96
    return _T_975[max(k for k in _T_975 if k <= df)]


def _format_count(value: float) -> str:
    if not math.isfinite(value):
        return "–"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.1f}"


def _format_percent(fraction: float) -> str:
    return "–" if not math.isfinite(fraction) else f"{fraction * 100:.1f} %"


def _format_usd(value: float) -> str:
    return "–" if not math.isfinite(value) else f"{value:,.2f}"


def _mean(series: pd.Series) -> float:
    # pandas' mean skips NaN and returns NaN (without a RuntimeWarning) when nothing is left.
    return float(as_float(series).mean())


def scenario_summary(summary: pd.DataFrame) -> pd.DataFrame:
    """Collapse the scenario × replication summary table to one row per scenario.

    Columns: ``scenario``, ``replications`` and the means over replications of ``arrived``,
    ``completed``, ``dropped``, ``dropped_queue_full``, ``dropped_no_instance``,
    ``timed_out``, ``latency_p50_s``, ``latency_p95_s``, ``latency_p99_s``,
    ``slo_attainment``, ``cost_usd``, ``cost_per_million_requests_usd``,
    ``time_to_first_ready_s``, ``time_to_target_capacity_s``, ``failed_requests``,
    ``availability`` and ``faults_injected`` (the last six NaN when ``summary`` lacks
    them); plus ``latency_p99_ci_s``, the half-width of a 95 % Student t confidence
    interval of the mean p99 (NaN unless at least two replications completed requests). NaN
    values (nothing completed, never scaled) are skipped by the means. Rows
    keep the order in which scenarios first appear in ``summary``.
    """
    require_columns(summary, _SUMMARY_USED, "summary")
    df = summary.assign(scenario=summary["scenario"].astype(str))
    rows: list[dict[str, object]] = []
    for name in scenario_order(df):
        group = df[df["scenario"] == name]
        row: dict[str, object] = {
            "scenario": name,
            "replications": int(group["replication"].nunique()),
        }
        for column in _SUMMARY_USED[2:]:
            row[column] = _mean(group[column])
        for column in _SUMMARY_OPTIONAL:
            row[column] = _mean(group[column]) if column in group.columns else math.nan
        p99 = pd.to_numeric(group["latency_p99_s"], errors="coerce").astype("float64")
        valid = p99[np.isfinite(p99.to_numpy())]
        if len(valid) >= 2:
            sd = float(valid.std(ddof=1))
            row["latency_p99_ci_s"] = t_quantile_975(len(valid) - 1) * sd / math.sqrt(len(valid))
        else:
            row["latency_p99_ci_s"] = math.nan
        rows.append(row)
    columns = [
        "scenario",
        "replications",
        *_SUMMARY_USED[2:],
        *_SUMMARY_OPTIONAL,
        "latency_p99_ci_s",
    ]
    return pd.DataFrame(rows, columns=columns)


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _any_finite(table: pd.DataFrame, column: str) -> bool:
    return bool(np.isfinite(as_float(table[column]).to_numpy()).any())


def _summary_table(table: pd.DataFrame) -> str:
    """HTML for the per-scenario table.

    The CI column only when some scenario has more than one run; "time to capacity" and
    "cost / M req" only when some scenario has a value (older tables lack the columns).
    """
    with_ci = bool((table["replications"] > 1).any()) if not table.empty else False
    with_capacity = _any_finite(table, "time_to_target_capacity_s")
    with_per_million = _any_finite(table, "cost_per_million_requests_usd")
    with_faults = _any_finite(table, "faults_injected")
    headers = [
        ("scenario", "Scenario name"),
        ("replications", "Independent replications averaged in this row"),
        ("requests", "Requests that arrived"),
        ("completed", "Requests served"),
        ("dropped", "Requests rejected (queue full or no instance)"),
        ("timed out", "Requests that gave up waiting"),
        ("p50", "Median latency"),
        ("p95", "95th percentile latency"),
        ("p99", "99th percentile latency"),
    ]
    if with_ci:
        headers.append(("p99 ± 95 % CI", "Half-width of the 95 % confidence interval of p99"))
    headers.append(("SLO attainment", "Share of requests that met the latency objective"))
    if with_faults:
        headers.append(("failed", "Requests lost to injected faults"))
        headers.append(("availability", "Served / finished requests"))
    if with_capacity:
        headers.append(
            ("time to capacity", "From the scale-out request until the target capacity was ready")
        )
    headers.append(("cost (USD)", "Infrastructure cost after the warm-up"))
    if with_per_million:
        headers.append(("cost / M req", "Cost in USD per million completed requests"))
    head = "".join(f'<th scope="col" title="{_esc(tip)}">{_esc(h)}</th>' for h, tip in headers)
    body: list[str] = []
    for rec in table.to_dict("records"):
        p99 = float(rec["latency_p99_s"])
        dropped_tip = (
            f"queue full: {_format_count(float(rec['dropped_queue_full']))}, "
            f"no instance: {_format_count(float(rec['dropped_no_instance']))}"
        )
        cells = [
            f'<th scope="row">{_esc(rec["scenario"])}</th>',
            f"<td>{int(rec['replications'])}</td>",
            f"<td>{_format_count(float(rec['arrived']))}</td>",
            f"<td>{_format_count(float(rec['completed']))}</td>",
            f'<td title="{_esc(dropped_tip)}">{_format_count(float(rec["dropped"]))}</td>',
            f"<td>{_format_count(float(rec['timed_out']))}</td>",
            f"<td>{format_duration(float(rec['latency_p50_s']))}</td>",
            f"<td>{format_duration(float(rec['latency_p95_s']))}</td>",
            f"<td>{format_duration(p99)}</td>",
        ]
        if with_ci:
            half = float(rec["latency_p99_ci_s"])
            text = "–" if not math.isfinite(half) else "± " + format_duration(half, reference=p99)
            cells.append(f"<td>{_esc(text)}</td>")
        cells.append(f"<td>{_format_percent(float(rec['slo_attainment']))}</td>")
        if with_faults:
            cells.append(f"<td>{_format_count(float(rec['failed_requests']))}</td>")
            availability = float(rec["availability"])
            # Two decimals: 99.96 % must not read as 100 %.
            text = "–" if not math.isfinite(availability) else f"{availability * 100:.2f} %"
            cells.append(f"<td>{text}</td>")
        if with_capacity:
            cells.append(
                _capacity_cell(
                    float(rec["time_to_target_capacity_s"]), float(rec["time_to_first_ready_s"])
                )
            )
        cells.append(f"<td>{_format_usd(float(rec['cost_usd']))}</td>")
        if with_per_million:
            per_million = float(rec["cost_per_million_requests_usd"])
            cells.append(f"<td>{_format_usd(per_million)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    if not body:
        body.append(f'<tr><td colspan="{len(headers)}">no scenarios</td></tr>')
    return (
        '<div class="table-wrap"><table class="summary">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
    )


def _summary_how_extra(table: pd.DataFrame) -> str:
    """How to read the optional columns, for those the table shows."""
    text = ""
    if _any_finite(table, "time_to_target_capacity_s"):
        text += (
            " Time to capacity runs from the scale-out request until the target number of "
            "instances was ready (“–”: not reached; hover for why)."
        )
    if _any_finite(table, "cost_per_million_requests_usd"):
        text += " Cost / M req is the cost per million completed requests."
    if _any_finite(table, "faults_injected"):
        text += (
            " Failed counts requests lost to injected faults after the warm-up; "
            "availability is served / finished requests (see Faults)."
        )
    return text


def _capacity_cell(target: float, first_ready: float) -> str:
    """Mean time to target capacity; the tooltip tells "did not scale" from "never reached"."""
    if math.isfinite(target):
        return f"<td>{_esc(humanize_duration(target))}</td>"
    why = (
        f"never reached; first new instance ready after {humanize_duration(first_ready)}"
        if math.isfinite(first_ready)
        else "did not scale"
    )
    return f'<td title="{_esc(why)}">–</td>'


def _section(heading: str, body: str, how: str) -> str:
    return (
        f"<section><h2>{_esc(heading)}</h2>{body}"
        f'<p class="how"><strong>How to read this:</strong> {_esc(how)}</p></section>'
    )


def _present(table: pd.DataFrame | None, columns: tuple[str, ...], name: str) -> bool:
    """Whether an optional table has rows to draw; if so it must have its columns.

    An empty table may lack columns altogether: a run that recorded no row of a table
    yields a frame without any.
    """
    if table is None or table.empty:
        return False
    require_columns(table, columns, name)
    return True


# Beyond a dozen, one panel per scenario is neither readable nor quick: 100 scenarios made
# 21,000-33,000 px tall figures that froze the browser for seconds when drawn.
_MAX_PANELS = 12


def _first_panels(table: pd.DataFrame, order: list[str]) -> tuple[pd.DataFrame, list[str], str]:
    """The rows and order of the first :data:`_MAX_PANELS` scenarios with rows in ``table``,
    and a sentence for the "how to read" note when some were left out ("" otherwise)."""
    present = set(table["scenario"].astype(str))
    with_rows = [name for name in order if name in present]
    if len(with_rows) <= _MAX_PANELS:
        return table, order, ""
    shown = with_rows[:_MAX_PANELS]
    rows = table[table["scenario"].astype(str).isin(shown)]
    note = (
        f" Only the first {_MAX_PANELS} of the {len(with_rows)} scenarios with data are "
        "drawn here, one panel each; the other figures and the table cover all of them."
    )
    return rows, shown, note


def _scaling_figures(
    scaling: pd.DataFrame, timeseries: pd.DataFrame, order: list[str]
) -> list[tuple[str, str, go.Figure, str]]:
    return [
        (
            "scaling",
            "Desired vs ready instances",
            desired_vs_ready_figure(scaling, timeseries, order),
            "One panel per scenario with scaling decisions, first replication only: a "
            "controller reacts to its own run, so an average would show decisions nobody "
            "took. Coloured step lines: the instance count each controller asked for; "
            "dashed: the nodes the cluster autoscaler asked for (nodes, not pods); black: "
            "instances ready to serve; shaded: arrivals per second (right axis). The gap "
            "between a desired line and the black one is capacity asked for but not yet "
            "serving; a desired line below the black one during a scale-in is a "
            "recommendation held back (e.g. by a stabilisation window).",
        ),
        (
            "scaling-decisions",
            "Scaling decisions around the scale-out",
            scaling_decisions_figure(scaling, timeseries, order),
            "The same runs, zoomed on the scale-out: from just before the first decision "
            "until ready instances first matched the largest count asked for (else until "
            "the last decision). One marker per decision of each controller; hover one for "
            "the metric it read, the current, desired and applied counts (applied is what "
            "rate limits and bounds let through) and the reason.",
        ),
    ]


def _pull_figures(pulls: pd.DataFrame, order: list[str]) -> list[tuple[str, str, go.Figure, str]]:
    return [
        (
            "bytes-pulled",
            "Bytes fetched by image pulls",
            bytes_pulled_figure(pulls, order),
            "Per scenario, the compressed bytes of the image layers nodes had to fetch, as "
            "a mean per run, split by where they came from (registry, mirror or peer). "
            "Layers already in a node's cache cost nothing. Fewer bytes from the registry "
            "means less load on it and on the shared link.",
        ),
        (
            "pull-timeline",
            "Image pull timeline",
            pull_timeline_figure(pulls, order),
            "The first scenario with pulls, first replication, first nodes to pull: one "
            "row per layer (node · image · layer digest, cut to 12 characters). Light: the "
            "download; dark: the extraction, which runs layer by layer in order, each after "
            "its own download and the previous layer's extraction. A dark bar that waits "
            "after its light one is waiting for the layer above it.",
        ),
        (
            "cache-hits",
            "Layer cache hit ratio over time",
            cache_hit_ratio_figure(pulls, order),
            "Per scenario, all replications pooled: of the layers requested so far, the "
            "share a node already had, by the time each layer was needed. A warm fleet "
            "starts high; a cold one starts low and climbs as shared base layers land. "
            "Requests whose time is unknown are left out (the legend counts them).",
        ),
    ]


def render_report(
    *,
    title: str,
    question: str | None,
    summary: pd.DataFrame,
    timeseries: pd.DataFrame,
    provisioning: pd.DataFrame | None = None,
    meta: Mapping[str, str] | None = None,
    scaling: pd.DataFrame | None = None,
    pulls: pd.DataFrame | None = None,
    faults: pd.DataFrame | None = None,
) -> str:
    """Return the complete, self-contained HTML page for one experiment.

    ``summary``, ``timeseries`` and ``provisioning`` are the result tables (see
    :mod:`reports.figures` for their columns); ``provisioning`` may be ``None`` or empty, in
    which case the provisioning timeline and the time-to-ready distribution are omitted.
    ``scaling`` (control-loop decisions, :data:`reports.scaling.SCALING_COLUMNS`) adds the
    desired-vs-ready and scaling-decision figures, ``pulls`` (image layer pulls,
    :data:`reports.pulls.PULLS_COLUMNS`) the bytes-fetched, pull-timeline and cache-hit
    figures; either may be ``None`` or empty (then without columns), which omits its figures.
    ``faults`` (injected faults, :data:`reports.faults.FAULTS_COLUMNS`) adds a Faults section
    (a per-scenario table and a timeline); ``None`` or empty omits it.
    Under the question, a few sentences compare the scenarios (see
    :func:`reports.narrative.comparison_text`). ``meta`` is shown as a key/value list (seed,
    replications, horizon, ...). Scenarios appear in the order of first appearance in
    ``summary``. The output is deterministic for equal inputs.
    """
    require_columns(summary, _SUMMARY_USED, "summary")
    require_columns(timeseries, TIMESERIES_COLUMNS, "timeseries")
    if provisioning is not None:
        require_columns(provisioning, PROVISIONING_COLUMNS, "provisioning")
    with_scaling = _present(scaling, SCALING_COLUMNS, "scaling")
    with_pulls = _present(pulls, PULLS_COLUMNS, "pulls")
    with_faults = _present(faults, FAULTS_COLUMNS, "faults")
    order = scenario_order(
        summary,
        timeseries,
        provisioning,
        scaling if with_scaling else None,
        pulls if with_pulls else None,
    )
    table = scenario_summary(summary)
    n_reps = int(timeseries["replication"].nunique()) if not timeseries.empty else 0
    averaged = (
        f"Curves are the mean over {n_reps} replications at each sampling time. "
        if n_reps > 1
        else ""
    )

    figures: list[tuple[str, str, go.Figure, str]] = [
        (
            "arrivals",
            "Arrival rate and ready instances",
            arrivals_figure(timeseries, order),
            averaged + "Dotted: offered load; solid: arrivals the system saw (left axis, "
            "requests per second per sampling window); dashed: instances ready to serve (right "
            "axis). Capacity that trails the load shows how fast each architecture scales.",
        ),
        (
            "latency",
            "Latency percentiles over time",
            latency_figure(timeseries, order),
            averaged + "Per sampling window, dotted p50, dashed p95 and solid p99 of the "
            "requests completed in that window. Gaps are windows in which nothing completed.",
        ),
        (
            "queue",
            "Queue length over time",
            queue_figure(timeseries, order),
            averaged + "Requests waiting for a worker at the end of each window. A queue that "
            "keeps growing means the offered load exceeds capacity.",
        ),
        (
            "cost",
            "Cost over time",
            cost_figure(timeseries, order),
            averaged + "Solid: cost accumulated since time 0 (left axis, USD); dashed: the "
            "cost rate averaged over each sampling window (right axis, USD per hour). A rate "
            "that steps up with the load is pay-per-use; a flat one is capacity paid for "
            "whether used or not. The summary's cost column counts only after the warm-up.",
        ),
    ]
    if provisioning is not None and not provisioning.empty:
        # The last sample is taken at the horizon: open stages are drawn up to it.
        times = as_float(timeseries["time_s"]).to_numpy()
        horizon = float(np.nanmax(times)) if np.isfinite(times).any() else None
        prov_rows, prov_order, prov_note = _first_panels(provisioning, order)
        figures += [
            (
                "provisioning",
                "Provisioning timeline",
                provisioning_figure(prov_rows, prov_order, horizon=horizon),
                "One panel per scenario, each with its own time axis; in it one row per "
                "instance: the first instances requested in the first replication. One "
                "colour per stage, each bar spanning the stage from start to end; a grey bar "
                "before a stage is time spent queueing for a limited resource (staff, "
                "hosts, API calls). Hatched: still running when the run ended; "
                "cross-hatched: cancelled by a scale-in. Long early stages explain a slow "
                "rise in ready instances." + prov_note,
            ),
            (
                "time-to-ready",
                "Time to ready",
                time_to_ready_figure(provisioning, order),
                "For each scenario, the share of instances (all replications pooled) that "
                "were ready within a given time of being requested: from the request, "
                "including any wait before the first stage, to the end of the last stage. "
                "Further left is faster; a steep curve means predictable provisioning. A "
                "curve that levels off below 100 % had instances still provisioning when the "
                "run ended; instances cancelled by a scale-in are left out.",
            ),
        ]
    if scaling is not None and with_scaling:
        rows, shown, note = _first_panels(scaling, order)
        figures += [
            (k, h, f, how + note) for k, h, f, how in _scaling_figures(rows, timeseries, shown)
        ]
    if pulls is not None and with_pulls:
        figures += _pull_figures(pulls, order)
    comparison = comparison_text(summary, order)

    parts: list[str] = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        '<meta name="generator" content="deploysim">',
        # An explicit empty icon stops the browser from requesting /favicon.ico.
        '<link rel="icon" href="data:,">',
        f"<title>{_esc(title)} · deploysim report</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        "<header>",
        f"<h1>{_esc(title)}</h1>",
    ]
    if question:
        parts.append(f'<p class="question"><strong>Question:</strong> {_esc(question)}</p>')
    if comparison:
        parts.append(f'<p class="comparison">{_esc(comparison)}</p>')
    parts += ["</header>", "<main>"]
    if meta:
        items = "".join(f"<dt>{_esc(k)}</dt><dd>{_esc(v)}</dd>" for k, v in meta.items())
        parts.append(f'<section><h2>Run</h2><dl class="meta">{items}</dl></section>')
    parts.append(
        _section(
            "Summary",
            _summary_table(table),
            "One row per scenario; counts, latencies, SLO attainment and cost are means over "
            "the replications. Latency percentiles are over all completed requests of a run; "
            "“–” means nothing completed. With several replications the p99 column is "
            "followed by the half-width of its 95 % confidence interval (Student t)."
            + _summary_how_extra(table),
        )
    )
    if faults is not None and with_faults:
        rows, shown, note = _first_panels(faults, order)
        block = figure_block(fault_timeline_figure(rows, timeseries, shown), "deploysim-faults")
        body = (
            fault_table_html(fault_summary(faults, summary)) + f'<div class="figure">{block}</div>'
        )
        parts.append(_section("Faults", body, FAULTS_HOW + note))
    for key, heading, fig, how in figures:
        # Drawn when scrolled near (reports.page): 100 scenarios kept the page frozen for
        # tens of seconds when every figure was drawn at load.
        block = figure_block(fig, f"deploysim-{key}")
        parts.append(_section(heading, f'<div class="figure">{block}</div>', how))
    parts += [
        "</main>",
        "<footer>Generated by deploysim.</footer>",
        figure_scripts(),
        "</body>",
        "</html>",
    ]
    return "\n".join(parts) + "\n"


def write_report(
    path: pathlib.Path,
    *,
    title: str,
    question: str | None,
    summary: pd.DataFrame,
    timeseries: pd.DataFrame,
    provisioning: pd.DataFrame | None = None,
    meta: Mapping[str, str] | None = None,
    scaling: pd.DataFrame | None = None,
    pulls: pd.DataFrame | None = None,
    faults: pd.DataFrame | None = None,
) -> None:
    """Render the report (see :func:`render_report`) and write it to ``path`` as UTF-8.

    A plain write: the caller is responsible for the directory and for atomicity.
    """
    page = render_report(
        title=title,
        question=question,
        summary=summary,
        timeseries=timeseries,
        provisioning=provisioning,
        meta=meta,
        scaling=scaling,
        pulls=pulls,
        faults=faults,
    )
    path.write_text(page, encoding="utf-8")
