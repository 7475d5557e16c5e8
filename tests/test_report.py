"""Unit tests of the HTML report built from small synthetic result tables."""

from __future__ import annotations

import ast
import html
import io
import math
import pathlib
import re
import subprocess
import sys
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import reports
from reports import (
    PROVISIONING_COLUMNS,
    PULLS_COLUMNS,
    SCALING_COLUMNS,
    SUMMARY_COLUMNS,
    TIMESERIES_COLUMNS,
    bytes_pulled,
    bytes_pulled_figure,
    cache_hit_ratio,
    cache_hit_ratio_figure,
    comparison_text,
    cost_figure,
    cumulative_cost,
    desired_steps,
    desired_vs_ready_figure,
    format_bytes,
    format_duration,
    humanize_duration,
    provisioning_figure,
    pull_timeline_figure,
    render_report,
    scaling_decisions_figure,
    scenario_summary,
    short_digest,
    t_quantile_975,
    time_to_ready,
    time_to_ready_figure,
    write_report,
    zoom_window,
)

HOSTILE = "<script>alert(1)</script>"
HOSTILE_IMG = '"><img src=x onerror=alert(2)>'
REPO = pathlib.Path(__file__).resolve().parents[1]

# The plotly.js bundle starts with a licence banner such as "* plotly.js v4.1.1"; it occurs
# once per embedded copy of the library.
PLOTLY_BANNER = re.compile(r"\*\s*plotly\.js v\d+\.\d+\.\d+")


def make_tables(
    scenarios: list[str],
    replications: int = 1,
    *,
    no_completions: frozenset[str] = frozenset(),
    p99: dict[str, list[float]] | None = None,
    provisioning: bool = True,
    windows: int = 6,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Synthetic summary, time-series and provisioning tables with the fixed schemas.

    Summary rows are written replication-major (r0 of every scenario, then r1, ...) so that
    the report has to regroup them while keeping the order of first appearance.
    """
    summary_rows: list[dict[str, object]] = []
    ts_rows: list[dict[str, object]] = []
    prov_rows: list[dict[str, object]] = []
    for rep in range(replications):
        for k, name in enumerate(scenarios):
            dead = name in no_completions
            lat = math.nan if dead else 0.010 * (k + 1) + 0.001 * rep
            tail = p99[name][rep] if p99 and name in p99 else (math.nan if dead else 0.2 + k)
            arrived = 1000 + 10 * rep
            completed = 0 if dead else 900
            summary_rows.append(
                {
                    "scenario": name,
                    "replication": rep,
                    "seed": 42 + rep,
                    "arrived": arrived,
                    "completed": completed,
                    "dropped": 60 if not dead else 1000,
                    "dropped_queue_full": 40 if not dead else 0,
                    "dropped_no_instance": 20 if not dead else 1000,
                    "timed_out": 40 if not dead else 0,
                    "in_flight": 0,
                    "wait_mean_s": lat,
                    "waited_fraction": 0.5,
                    "latency_mean_s": lat,
                    "latency_p50_s": lat,
                    "latency_p90_s": lat,
                    "latency_p95_s": math.nan if dead else 0.1 + k,
                    "latency_p99_s": tail,
                    "latency_p999_s": tail,
                    "latency_max_s": tail,
                    "throughput_rps": 9.0,
                    "queue_length_mean": 1.5,
                    "utilisation_mean": 0.7,
                    "instances_mean": 2.0,
                    "slo_attainment": math.nan if dead else 0.95,
                    "slo_met": not dead,
                    "cost_usd": 1.25 * (k + 1),
                }
            )
            for w in range(windows):
                gap = dead or w == 2  # window 2 has no completions anywhere
                ts_rows.append(
                    {
                        "scenario": name,
                        "replication": rep,
                        "time_s": 10.0 * (w + 1),
                        "offered_rate_rps": 10.0,
                        "arrival_rate_rps": 9.0 + w % 3,
                        "ready_instances": 1 + w // 2,
                        "provisioning_instances": 1,
                        "queue_length": w % 4,
                        "busy_workers": 1,
                        "utilisation": 0.5,
                        "cost_rate_usd_per_h": 0.2,
                        "completed": 0 if gap else 90,
                        "dropped": 0,
                        "timed_out": 0,
                        "latency_p50_s": math.nan if gap else 0.01,
                        "latency_p95_s": math.nan if gap else 0.05,
                        "latency_p99_s": math.nan if gap else 0.09,
                    }
                )
            if provisioning:
                for inst in range(2):
                    t0 = 5.0 * inst
                    for stage, dur in (("boot", 20.0), ("pull image", 8.0), ("warm-up", 3.0)):
                        prov_rows.append(
                            {
                                "scenario": name,
                                "replication": rep,
                                "instance": inst,
                                "stage": stage,
                                "start_s": t0,
                                "end_s": t0 + dur,
                                "waited_s": 0.5,
                            }
                        )
                        t0 += dur
    summary = pd.DataFrame(summary_rows, columns=list(SUMMARY_COLUMNS))
    timeseries = pd.DataFrame(ts_rows, columns=list(TIMESERIES_COLUMNS))
    prov = pd.DataFrame(prov_rows, columns=list(PROVISIONING_COLUMNS))
    return summary, timeseries, prov


class _PageParser(HTMLParser):
    """Collects tags with attributes, script bodies, the header texts and the summary table."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.scripts: list[str] = []
        self.h1 = ""
        self.question = ""
        self.comparison = ""
        self.meta: list[str] = []
        self.header: list[str] = []
        self.rows: list[list[str]] = []
        self._open: str | None = None  # "h1", "question", "comparison", "meta" or "script"
        self._in_table = False
        self._section: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))
        classes = (dict(attrs).get("class") or "").split()
        if tag == "table" and "summary" in classes:
            self._in_table = True
        elif self._in_table and tag in ("thead", "tbody"):
            self._section = tag
        elif self._in_table and tag == "tr" and self._section == "tbody":
            self.rows.append([])
        elif self._in_table and tag in ("th", "td"):
            self._cell = []
        elif tag == "script":
            self.scripts.append("")
            self._open = "script"
        elif tag == "h1":
            self._open = "h1"
        elif tag == "p" and "question" in classes:
            self._open = "question"
        elif tag == "p" and "comparison" in classes:
            self._open = "comparison"
        elif tag in ("dt", "dd"):
            self.meta.append("")
            self._open = "meta"

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._in_table = False
        elif self._in_table and tag in ("th", "td") and self._cell is not None:
            text = "".join(self._cell)
            if self._section == "thead":
                self.header.append(text)
            elif self.rows:
                self.rows[-1].append(text)
            self._cell = None
        elif tag in ("script", "h1", "p", "dt", "dd"):
            self._open = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._open == "script":
            self.scripts[-1] += data
        elif self._open == "h1":
            self.h1 += data
        elif self._open == "question":
            self.question += data
        elif self._open == "comparison":
            self.comparison += data
        elif self._open == "meta":
            self.meta[-1] += data


def parse(page: str) -> _PageParser:
    parser = _PageParser()
    parser.feed(page)
    parser.close()
    return parser


def render(
    scenarios: list[str],
    replications: int = 1,
    *,
    title: str = "Flash crowd",
    question: str | None = "Which architecture survives a 10x burst?",
    meta: dict[str, str] | None = None,
    with_provisioning: bool = True,
    no_completions: frozenset[str] = frozenset(),
    p99: dict[str, list[float]] | None = None,
) -> str:
    summary, timeseries, prov = make_tables(
        scenarios, replications, no_completions=no_completions, p99=p99
    )
    return render_report(
        title=title,
        question=question,
        summary=summary,
        timeseries=timeseries,
        provisioning=prov if with_provisioning else None,
        meta=meta if meta is not None else {"seed": "42", "replications": str(replications)},
    )


@pytest.fixture(scope="module")
def page() -> str:
    return render(["vm", "paas", "containers"], replications=3)


def test_plotly_js_is_embedded_exactly_once(page: str) -> None:
    assert len(PLOTLY_BANNER.findall(page)) == 1
    # ... and every figure still gets its own plot div and JSON block (drawn lazily).
    assert page.count('class="deploysim-figure"') == 6
    assert page.count('type="application/json"') == 6


def test_no_external_resources(page: str) -> None:
    parsed = parse(page)
    for tag, attrs in parsed.tags:
        for name, value in attrs:
            if name in ("src", "href", "srcset", "action", "data", "poster") and value:
                # Absolute (http:, https:) and protocol-relative (//host) URLs are forbidden.
                assert not re.match(r"\s*(https?:)?//", value, re.I), (tag, name, value)
        assert not (tag == "script" and dict(attrs).get("src")), "external script"
        assert tag != "link" or (dict(attrs).get("href") or "").startswith("data:"), attrs
    # Inline-only policy, so a stray fetch would be blocked by the browser too.
    assert "Content-Security-Policy" in page
    assert "connect-src 'none'" in page
    # MathJax would only arrive as an external <script src> (covered above) - never inline.
    assert len([tag for tag, _ in parsed.tags if tag == "script"]) == 2 + 6


def test_page_structure(page: str) -> None:
    assert page.startswith("<!DOCTYPE html>")
    parsed = parse(page)
    assert parsed.h1 == "Flash crowd"
    assert parsed.question == "Question: Which architecture survives a 10x burst?"
    assert page.count("How to read this:") == 7  # summary table + 6 figures
    assert "Generated by deploysim" in page
    assert parsed.meta == ["seed", "42", "replications", "3"]


def test_summary_has_one_row_per_scenario_in_given_order() -> None:
    # Deliberately not alphabetical; rows arrive replication-major.
    scenarios = ["zeta", "alpha", "mid"]
    parsed = parse(render(scenarios, replications=4))
    assert [row[0] for row in parsed.rows] == scenarios
    header = parsed.header
    assert header[:9] == [
        "scenario",
        "replications",
        "requests",
        "completed",
        "dropped",
        "timed out",
        "p50",
        "p95",
        "p99",
    ]
    assert header[-2:] == ["SLO attainment", "cost (USD)"]
    first = dict(zip(header, parsed.rows[0], strict=True))
    assert first["replications"] == "4"
    assert first["requests"] == "1,015"  # mean of 1000, 1010, 1020, 1030
    assert first["completed"] == "900"
    assert first["p50"] == "11.5 ms"  # mean of 10, 11, 12, 13 ms
    assert first["p95"] == "100 ms"
    assert first["p99"] == "200 ms"
    assert first["SLO attainment"] == "95.0 %"
    assert first["cost (USD)"] == "1.25"
    third = dict(zip(header, parsed.rows[2], strict=True))
    assert third["p99"] == "2.20 s"
    assert third["p95"] == "2.10 s"


def test_confidence_interval_column_with_several_replications() -> None:
    p99 = {"a": [0.1, 0.2, 0.3], "b": [1.0, 1.0, 1.0]}
    parsed = parse(render(["a", "b"], replications=3, p99=p99))
    assert "p99 ± 95 % CI" in parsed.header
    rows = {row[0]: dict(zip(parsed.header, row, strict=True)) for row in parsed.rows}
    # mean 0.2 s, sd 0.1 s, n 3: half-width = t(0.975, 2) * 0.1 / sqrt(3)
    expected = 4.303 * 0.1 / math.sqrt(3)
    assert rows["a"]["p99"] == "200 ms"
    assert rows["a"]["p99 ± 95 % CI"] == f"± {expected * 1000:.0f} ms"
    # Identical replications: zero-width interval, in the unit of the mean.
    assert rows["b"]["p99"] == "1.00 s"
    assert rows["b"]["p99 ± 95 % CI"] == "± 0.00 s"
    table = scenario_summary(make_tables(["a", "b"], 3, p99=p99)[0])
    assert table["latency_p99_ci_s"].iloc[0] == pytest.approx(expected)


def test_single_replication_has_no_ci_column() -> None:
    parsed = parse(render(["only"], replications=1))
    assert not any("CI" in h for h in parsed.header)
    assert len(parsed.header) == 11
    assert [len(row) for row in parsed.rows] == [11]


def test_nan_latencies_and_missing_provisioning() -> None:
    page = render(
        ["ok", "down"],
        replications=2,
        no_completions=frozenset({"down"}),
        with_provisioning=False,
    )
    parsed = parse(page)
    rows = {row[0]: dict(zip(parsed.header, row, strict=True)) for row in parsed.rows}
    down = rows["down"]
    assert (down["completed"], down["p50"], down["p99"], down["SLO attainment"]) == (
        "0",
        "–",
        "–",
        "–",
    )
    assert down["p99 ± 95 % CI"] == "–"
    assert rows["ok"]["p99"] == "200 ms"
    assert "Provisioning timeline" not in page
    assert "Time to ready" not in page
    assert page.count('class="deploysim-figure"') == 4  # arrivals, latency, queue, cost
    assert "NaN" not in "".join("".join(r) for r in parsed.rows)


def test_empty_provisioning_table_omits_timeline() -> None:
    summary, timeseries, prov = make_tables(["a"], provisioning=False)
    assert prov.empty and list(prov.columns) == list(PROVISIONING_COLUMNS)
    page = render_report(
        title="t", question=None, summary=summary, timeseries=timeseries, provisioning=prov
    )
    assert "Provisioning timeline" not in page
    assert "Time to ready" not in page
    assert page.count('class="deploysim-figure"') == 4
    assert len(PLOTLY_BANNER.findall(page)) == 1
    assert 'class="question"' not in page
    assert 'class="meta"' not in page


def test_hostile_strings_are_escaped() -> None:
    meta = {HOSTILE: HOSTILE_IMG, "serving mode": HOSTILE}
    page = render(
        [HOSTILE, HOSTILE_IMG, "plain"],
        replications=2,
        title=HOSTILE,
        question=HOSTILE_IMG,
        meta=meta,
    )
    # Neither payload survives verbatim anywhere: not in the markup, not in the figure JSON.
    assert HOSTILE not in page
    assert HOSTILE_IMG not in page
    assert html.escape(HOSTILE) in page
    parsed = parse(page)
    # No injected elements or event handlers ...
    assert "img" not in {tag for tag, _ in parsed.tags}
    assert not [(t, a) for t, attrs in parsed.tags for a, _ in attrs if a.lower().startswith("on")]
    # ... no script element whose body is the payload ...
    assert not [s for s in parsed.scripts if s.strip() in ("alert(1)", "alert(2)")]
    # ... and the text reads back exactly as the user wrote it (escaped once, not twice).
    assert parsed.h1 == HOSTILE
    assert parsed.question == "Question: " + HOSTILE_IMG
    assert parsed.meta == [HOSTILE, HOSTILE_IMG, "serving mode", HOSTILE]
    assert [row[0] for row in parsed.rows] == [HOSTILE, HOSTILE_IMG, "plain"]
    # Trace names and tick labels reach plotly HTML-escaped: plotly.js interprets a subset of
    # HTML (<a href>, <b>, <br>) in them and decodes &lt; back to "<" when it draws. The
    # figure JSON never holds the raw payload (plotly would write its "<" as \u003c).
    figure_scripts = [js for js in parsed.scripts if js.startswith('{"data"')]
    assert len(figure_scripts) == 6
    for js in figure_scripts:
        for tag in ("script", "img"):
            assert f"<{tag}" not in js and f"\\u003c{tag}" not in js, tag
    summary, timeseries, prov = make_tables([HOSTILE, "<b>bold</b>"])
    escaped = html.escape(HOSTILE, quote=False)
    assert reports.latency_figure(timeseries).data[0].name == escaped + ": p50"
    assert reports.queue_figure(timeseries).data[1].name == "&lt;b&gt;bold&lt;/b&gt;"
    assert reports.arrivals_figure(timeseries).data[0].name == escaped + ": offered rate"
    gantt = reports.provisioning_figure(prov)
    assert gantt.layout.annotations[0].text.startswith(escaped + " · replication 0")
    assert reports.time_to_ready_figure(prov).data[0].name.startswith(escaped + " (")


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=40)
)
def test_arbitrary_titles_and_scenario_names_round_trip(text: str) -> None:
    summary, timeseries, prov = make_tables([text, text + "-2"], provisioning=False, windows=2)
    page = render_report(
        title=text, question=text, summary=summary, timeseries=timeseries, meta={text: text}
    )
    parsed = parse(page)
    assert parsed.h1 == text
    assert [row[0] for row in parsed.rows] == [text, text + "-2"]  # cells are not stripped
    assert parsed.meta == [text, text]


def test_output_is_deterministic_and_write_report_writes_it(tmp_path: pathlib.Path) -> None:
    summary, timeseries, prov = make_tables(["a", "b"], 2)
    kwargs = {
        "title": "T",
        "question": "Q?",
        "summary": summary,
        "timeseries": timeseries,
        "provisioning": prov,
        "meta": {"seed": "1"},
    }
    first = render_report(**kwargs)  # type: ignore[arg-type]
    assert render_report(**kwargs) == first  # type: ignore[arg-type]
    target = tmp_path / "report.html"
    write_report(target, **kwargs)  # type: ignore[arg-type]
    assert target.read_text(encoding="utf-8") == first


def test_missing_columns_are_reported_by_name() -> None:
    summary, timeseries, _ = make_tables(["a"])
    with pytest.raises(ValueError, match="summary table is missing column.*latency_p99_s"):
        render_report(
            title="t",
            question=None,
            summary=summary.drop(columns=["latency_p99_s"]),
            timeseries=timeseries,
        )
    with pytest.raises(ValueError, match="timeseries table is missing column.*queue_length"):
        render_report(
            title="t",
            question=None,
            summary=summary,
            timeseries=timeseries.drop(columns=["queue_length"]),
        )


def test_figure_traces_follow_scenario_order_and_gaps_stay_gaps() -> None:
    summary, timeseries, prov = make_tables(["b", "a"], 2)
    # The time series lists "a" first; the summary order must win.
    timeseries = timeseries.iloc[::-1].reset_index(drop=True)
    order = reports.scenario_order(summary, timeseries)
    assert order == ["b", "a"]
    fig = reports.latency_figure(timeseries, order)
    names = [trace.name for trace in fig.data]
    assert names[:3] == ["b: p50", "b: p95", "b: p99"]
    p99 = np.asarray(fig.data[2].y, dtype=float)
    assert np.isnan(p99[2]) and np.isfinite(p99[0])  # window 2 had no completions
    assert fig.data[2].connectgaps is False
    mean = reports.mean_timeseries(timeseries)
    assert list(pd.unique(mean["scenario"])) == ["a", "b"]  # its own first appearance
    assert mean["replications"].eq(2).all()
    assert mean.groupby("scenario")["time_s"].is_monotonic_increasing.all()
    arrivals = reports.arrivals_figure(timeseries, order)
    assert {trace.yaxis for trace in arrivals.data} == {"y", "y2"}
    gantt = reports.provisioning_figure(prov, order)
    stages = ["waiting for a resource", "boot", "pull image", "warm-up"]
    assert [trace.name for trace in gantt.data] == stages + stages  # one facet per scenario
    assert [trace.showlegend for trace in gantt.data] == [True] * 4 + [False] * 4
    assert [a.text.split(" · ")[0] for a in gantt.layout.annotations] == ["b", "a"]
    assert list(gantt.layout.yaxis.categoryarray) == ["0", "1"]
    assert list(gantt.layout.yaxis2.categoryarray) == ["0", "1"]


def test_t_quantiles_match_numerical_integration() -> None:
    # Integrate the Student t density numerically: P(T <= q) must be 0.975 for tabled df.
    for df in (1, 2, 3, 5, 10, 20, 30):
        q = t_quantile_975(df)
        x = np.linspace(0.0, q, 200_001)
        log_c = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
        density = np.exp(log_c - (df + 1) / 2 * np.log1p(x * x / df))
        cdf = 0.5 + float(np.sum((density[1:] + density[:-1]) * np.diff(x)) / 2)
        assert cdf == pytest.approx(0.975, abs=2e-4), df
    # Conservative between coarse tabled values; normal beyond.
    assert t_quantile_975(35) == t_quantile_975(30)
    assert t_quantile_975(1000) == 1.96
    with pytest.raises(ValueError):
        t_quantile_975(0)


@pytest.mark.parametrize(
    ("seconds", "reference", "text"),
    [
        (0.0004, None, "0.40 ms"),
        (0.0123, None, "12.3 ms"),
        (0.25, None, "250 ms"),
        (1.5, None, "1.50 s"),
        (250.0, None, "250.0 s"),
        (0.05, 2.0, "0.05 s"),
        (math.nan, None, "–"),
    ],
)
def test_format_duration(seconds: float, reference: float | None, text: str) -> None:
    assert format_duration(seconds, reference=reference) == text


def test_reports_package_does_not_import_the_simulation_stack() -> None:
    # Static: no import statement in reports/ names simpy, simulator or models ...
    forbidden = ("simpy", "simulator", "models")
    for source in (REPO / "reports").glob("*.py"):
        tree = ast.parse(source.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            else:
                continue
            for module in modules:
                assert module.split(".")[0] not in forbidden, (source.name, module)
    # ... and dynamically, importing it in a fresh interpreter loads none of them.
    code = (
        "import sys, reports; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('simpy', 'simulator', "
        "'models')); print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- architecture comparison: provisioning timeline, time to ready, cost, narrative ---------


def span(
    instance: str,
    stage: str,
    start: float,
    end: float,
    waited: float = 0.0,
    *,
    scenario: str = "s",
    rep: int = 0,
) -> dict[str, object]:
    return {
        "scenario": scenario,
        "replication": rep,
        "instance": instance,
        "stage": stage,
        "start_s": start,
        "end_s": end,
        "waited_s": waited,
    }


def spans_table(rows: list[dict[str, object]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(PROVISIONING_COLUMNS))


HAND_SPANS = [
    span("b", "boot", 5.0, 30.0, waited=3.0),  # requested at 2 ...
    span("b", "configure", 30.0, 40.0),  # ... ready at 40: 38 s
    span("a", "boot", 0.0, 10.0),
    span("a", "configure", 10.0, 25.0),  # 25 s
    span("c", "boot", 50.0, math.nan),  # still booting when the run ended
    span("d", "boot (cancelled)", 1.0, 4.0),  # cut short by a scale-in
]


def test_time_to_ready_of_hand_made_spans() -> None:
    ttr = time_to_ready(spans_table(HAND_SPANS))
    assert list(ttr["instance"]) == ["a", "d", "b", "c"]  # by request time: 0, 1, 2, 50
    assert list(ttr["status"]) == ["ready", "cancelled", "ready", "unfinished"]
    rows = ttr.set_index("instance")
    assert rows.loc["a", "time_to_ready_s"] == 25.0
    assert (rows.loc["b", "requested_s"], rows.loc["b", "ready_s"]) == (2.0, 40.0)
    assert rows.loc["b", "time_to_ready_s"] == 38.0
    # Not ready: no time to ready (the last finished stage's end would flatter them).
    assert np.isnan(rows.loc["c", "time_to_ready_s"]) and np.isnan(rows.loc["d", "ready_s"])


def test_time_to_ready_ecdf_values() -> None:
    only_ready = spans_table(HAND_SPANS[:4])
    (trace,) = time_to_ready_figure(only_ready).data
    assert list(trace.x) == [25.0, 25.0, 38.0]  # starts at 0 % at the first time
    assert list(trace.y) == [0.0, 0.5, 1.0]
    assert trace.line.shape == "hv"
    assert trace.name == "s (2 instances)"
    # The unfinished instance counts in the share but never arrives; the cancelled one
    # (no longer wanted) is left out, so the curve levels off at 2 of 3.
    fig = time_to_ready_figure(spans_table(HAND_SPANS))
    (trace,) = fig.data
    assert list(trace.x) == [25.0, 25.0, 38.0]
    assert list(trace.y) == pytest.approx([0.0, 1 / 3, 2 / 3])
    assert trace.name == "s (3 instances, 1 not ready by the end)"
    assert fig.layout.xaxis.type != "log"
    assert fig.layout.xaxis.title.text == "time from request to ready (s)"


def test_time_to_ready_pools_replications_and_uses_a_log_axis_for_wide_ranges() -> None:
    week = 7 * 86400.0
    prov = spans_table(
        [
            span("i1", "boot", 0.0, 30.0, scenario="cloud", rep=0),
            span("i1", "boot", 0.0, 50.0, scenario="cloud", rep=1),
            span("host3", "delivery", 0.0, 6 * week, scenario="physical"),
            span("host4", "delivery", 0.0, math.nan, scenario="physical"),
        ]
    )
    fig = time_to_ready_figure(prov, ["physical", "cloud"])
    physical, cloud = fig.data
    assert physical.name == "physical (2 instances, 1 not ready by the end)"
    assert list(physical.y) == [0.0, 0.5]
    assert list(cloud.x) == [30.0, 30.0, 50.0] and list(cloud.y) == [0.0, 0.5, 1.0]
    assert fig.layout.xaxis.type == "log"
    assert list(fig.layout.xaxis.ticktext) == [
        "1 min",
        "10 min",
        "1 h",
        "6 h",
        "1 d",
        "1 week",
        "4 weeks",
    ]
    # A scenario none of whose instances got ready keeps its legend entry (and says so).
    never = time_to_ready_figure(prov[prov["instance"] == "host4"])
    assert never.data[0].name == "physical (1 instance, 1 not ready by the end)"
    assert "no instance was ready" in never.layout.annotations[0].text


def test_gantt_shows_the_first_instances_of_replication_zero_per_scenario() -> None:
    week = 7 * 86400.0
    rows = []
    for k in range(12, 0, -1):  # requested a minute apart, listed newest first
        rows.append(span(f"i{k}", "order", 60.0 * k, 60.0 * k + 5, scenario="cloud"))
        rows.append(span(f"i{k}", "boot", 60.0 * k + 5, 60.0 * k + 35, scenario="cloud"))
    rows.append(span("i0", "boot", 0.0, 1.0, scenario="cloud", rep=1))  # not drawn
    rows += [
        # Requested together: the tie goes to the natural name order, host3 before host10.
        span("host10", "delivery", 60.0, math.nan, scenario="physical"),
        span("host3", "delivery", 60.0, 6 * week, scenario="physical"),
        span("host3", "rack", 6 * week + 7200, 6 * week + 10800, 7200.0, scenario="physical"),
    ]
    fig = provisioning_figure(spans_table(rows), horizon=8 * week)
    assert [a.text for a in fig.layout.annotations] == [
        "cloud · replication 0: first 8 of 12 instances",
        "physical · replication 0: 2 instances",
    ]
    assert list(fig.layout.yaxis.categoryarray) == [f"i{k}" for k in range(1, 9)]
    assert list(fig.layout.yaxis2.categoryarray) == ["host3", "host10"]
    # Each facet gets its own unit: minutes for the cloud, weeks for hardware.
    assert fig.layout.xaxis.title.text == "simulated time (min)"
    assert fig.layout.xaxis2.title.text == "simulated time (weeks)"
    cloud = {t.name: t for t in fig.data if t.xaxis == "x"}
    assert list(cloud) == ["order", "boot"]
    assert list(cloud["boot"].y) == [f"i{k}" for k in range(1, 9)]
    assert cloud["boot"].base[0] == pytest.approx(65.0 / 60)
    assert cloud["boot"].x[0] == pytest.approx(0.5)
    physical = {t.name: t for t in fig.data if t.xaxis == "x2"}
    assert list(physical) == ["waiting for a resource", "delivery", "rack"]
    wait = physical["waiting for a resource"]
    assert (wait.base[0], wait.x[0]) == pytest.approx((6.0, 7200 / week))
    delivery = physical["delivery"]
    assert list(delivery.y) == ["host3", "host10"]
    # The open delivery runs to the end of the run, hatched.
    assert delivery.x[1] == pytest.approx((8 * week - 60) / week)
    assert list(delivery.marker.pattern.shape) == ["", "/"]
    assert "still running at the end" in delivery.customdata[1][2]
    # One legend entry per stage, not per facet.
    assert [t.showlegend for t in fig.data] == [True] * 5
    with pytest.raises(ValueError, match="max_instances"):
        provisioning_figure(spans_table(rows), max_instances=0)


def test_cumulative_cost_of_a_hand_made_cost_rate_series() -> None:
    timeseries = pd.DataFrame(
        {
            "scenario": ["s"] * 6,
            "replication": [0, 0, 0, 1, 1, 1],
            "time_s": [10.0, 30.0, 60.0] * 2,
            "cost_rate_usd_per_h": [3.6, 7.2, 0.0, 7.2, 3.6, math.nan],
        }
    ).iloc[::-1]  # order must not matter
    # Replication 0: 10 s at $3.6/h = $0.01, then 20 s at $7.2/h = $0.04, then 30 s free.
    # Replication 1: 10 s at $7.2/h = $0.02, then 20 s at $3.6/h = $0.02, then NaN (nothing).
    out = cumulative_cost(timeseries)
    assert list(out["time_s"]) == [10.0, 30.0, 60.0]
    assert out["cost_usd"].tolist() == pytest.approx([0.015, 0.045, 0.045])
    assert out["cost_rate_usd_per_h"].tolist() == pytest.approx([5.4, 5.4, 0.0])
    assert out["replications"].tolist() == [2, 2, 2]
    total, rate = cost_figure(timeseries).data
    assert list(total.x) == [0.0, 10.0, 30.0, 60.0]
    assert list(total.y) == pytest.approx([0.0, 0.015, 0.045, 0.045])
    assert list(rate.y) == pytest.approx([5.4, 5.4, 5.4, 0.0])  # the first window from 0
    assert rate.yaxis == "y2" and rate.line.shape == "vh"
    assert (total.name, rate.name) == ("s: cumulative cost", "s: cost rate")


NAN = math.nan
COMPARISON_SUMMARY = pd.DataFrame(
    {
        "scenario": ["cloud-baked", "cloud", "physical"] * 2,
        "replication": [0, 0, 0, 1, 1, 1],
        "arrived": [1000] * 6,
        "dropped": [0, 5, 120] * 2,
        "timed_out": [0, 0, 10] * 2,
        "latency_p99_s": [0.12, 0.25, 4.0, 0.12, 0.25, 4.4],
        "slo_met": [True, True, False, True, False, False],
        "cost_usd": [0.5, 0.8, 1.1] * 2,
        "cost_per_million_requests_usd": [0.50, 0.80, 1.10, 0.54, 0.80, 1.10],
        "time_to_first_ready_s": [20.0, 60.0, NAN, 22.0, 62.0, NAN],
        "time_to_target_capacity_s": [30.0, 150.0, NAN, 32.0, 152.0, NAN],
    }
)
COMPARISON_TEXT = (
    "cloud-baked reached its target capacity first, 31 s after the scale-out request — "
    "120 s sooner than cloud (151 s). "
    "physical did not scale (no new instance was ready by the end of the run). "
    "cloud-baked cost $0.52 per million requests, the least of all, vs $1.10 for physical. "
    "physical dropped 12 % and timed out 1 % of requests. "
    "cloud-baked met the latency SLO in every replication, cloud in 1 of 2 and physical in "
    "none; p99 latency ranged from 120 ms (cloud-baked) to 4.2 s (physical)."
)


def test_comparison_text_of_a_hand_made_summary() -> None:
    assert comparison_text(COMPARISON_SUMMARY) == COMPARISON_TEXT
    # slo_met as a CSV round trip with a blank leaves it: strings and NaN.
    as_read = COMPARISON_SUMMARY.assign(slo_met=COMPARISON_SUMMARY["slo_met"].astype(str))
    assert comparison_text(as_read) == COMPARISON_TEXT


def test_comparison_text_of_older_tables_and_partial_numbers() -> None:
    # An older summary: none of the new columns, so no capacity clause and total cost.
    summary, _, _ = make_tables(["a", "b"])
    older = summary.drop(
        columns=[
            "cost_per_million_requests_usd",
            "time_to_first_ready_s",
            "time_to_target_capacity_s",
        ]
    )
    assert comparison_text(older) == (
        "a was the cheapest at $1.25 in total, vs $2.50 for b. "
        "a dropped 6 % and timed out 4 % of requests; b dropped 6 % and timed out 4 % of "
        "requests. Every scenario met the latency SLO in every replication; p99 latency "
        "ranged from 200 ms (a) to 1.2 s (b)."
    )
    # Present but all NaN (fixed fleets): nobody scaled.
    assert comparison_text(summary).startswith(
        "No scenario scaled (no new instance was ready by the end of the run). a was"
    )
    # Reached in one replication of two; never reached although an instance got ready.
    partial = pd.DataFrame(
        {
            "scenario": ["x", "y", "x", "y"],
            "time_to_first_ready_s": [10.0, 180.0, NAN, 180.0],
            "time_to_target_capacity_s": [40.0, NAN, NAN, NAN],
        }
    )
    assert comparison_text(partial) == (
        "x reached its target capacity first, 40 s after the scale-out request (in 1 of 2 "
        "replications). y never reached its target capacity (its first new instance was "
        "ready after 3 min)."
    )
    # Only time to first ready (no target column); a tie; p99 without any SLO verdict.
    first_only = pd.DataFrame(
        {
            "scenario": ["p", "q", "r"],
            "time_to_first_ready_s": [3 * 86400.0, 20.0, 20.0],
            "latency_p99_s": [0.5, NAN, 0.5],
            "slo_met": [NAN, NAN, NAN],
        }
    )
    assert comparison_text(first_only) == (
        "q had its first new instance ready first, 20 s after the scale-out request — as "
        "fast as r and 3 d sooner than p (3 d). The p99 latency was 500 ms everywhere."
    )
    assert comparison_text(pd.DataFrame({"scenario": ["a", "b"]})) == ""
    assert comparison_text(pd.DataFrame({"scenario": []})) == ""
    with pytest.raises(ValueError, match="scenario"):
        comparison_text(pd.DataFrame({"arrived": [1]}))


def test_summary_table_gains_capacity_and_cost_per_million_columns() -> None:
    summary, timeseries, prov = make_tables(["fast", "slow", "fixed"], 2)
    summary["time_to_target_capacity_s"] = [31.0, 151.0, NAN] * 2
    summary["time_to_first_ready_s"] = [20.0, 100.0, NAN] * 2
    summary["cost_per_million_requests_usd"] = [0.52, 0.8, 1.1] * 2
    summary["cloud_launches_refused"] = 3  # a platform counter: tolerated, not shown
    page = render_report(
        title="t", question="Q?", summary=summary, timeseries=timeseries, provisioning=prov
    )
    parsed = parse(page)
    assert parsed.header[-4:] == [
        "SLO attainment",
        "time to capacity",
        "cost (USD)",
        "cost / M req",
    ]
    rows = {row[0]: dict(zip(parsed.header, row, strict=True)) for row in parsed.rows}
    assert rows["fast"]["time to capacity"] == "31 s"
    assert rows["slow"]["time to capacity"] == "151 s"
    assert rows["fixed"]["time to capacity"] == "–"
    assert '<td title="did not scale">–</td>' in page
    assert [rows[n]["cost / M req"] for n in ("fast", "slow", "fixed")] == ["0.52", "0.80", "1.10"]
    assert parsed.comparison.startswith("fast reached its target capacity first, 31 s after")
    assert "Time to capacity runs from the scale-out request" in page
    # The question comes first, then the comparison.
    assert page.index('class="question"') < page.index('class="comparison"')


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.25, "250 ms"),
        (4.46, "4.5 s"),
        (31.0, "31 s"),
        (151.0, "151 s"),
        (180.0, "3 min"),
        (144.0 * 60, "2.4 h"),
        (600.0, "10 min"),
        (5 * 3600.0, "5 h"),
        (2 * 86400.0, "2 d"),
        (6 * 7 * 86400.0, "6 weeks"),
        (math.nan, "–"),
    ],
)
def test_humanize_duration(seconds: float, text: str) -> None:
    assert humanize_duration(seconds) == text


def test_hostile_names_in_new_figures_and_comparison() -> None:
    summary, timeseries, _ = make_tables([HOSTILE, HOSTILE_IMG], 2)
    summary["time_to_target_capacity_s"] = [30.0, 90.0] * 2
    summary["time_to_first_ready_s"] = [20.0, 60.0] * 2
    prov = spans_table(
        [
            span(HOSTILE_IMG, HOSTILE, 0.0, 10.0, 2.0, scenario=HOSTILE),
            span("i1", "boot", 0.0, 30.0, scenario=HOSTILE_IMG),
        ]
    )
    text = comparison_text(summary)
    assert text.startswith(f"{HOSTILE} reached its target capacity first, 30 s after")
    page = render_report(
        title="t", question=None, summary=summary, timeseries=timeseries, provisioning=prov
    )
    assert HOSTILE not in page and HOSTILE_IMG not in page
    parsed = parse(page)
    assert parsed.comparison == text  # escaped once, read back as written
    assert "img" not in {tag for tag, _ in parsed.tags}
    figure_scripts = [js for js in parsed.scripts if js.startswith('{"data"')]
    assert len(figure_scripts) == 6
    for js in figure_scripts:
        for tag in ("script", "img"):
            assert f"<{tag}" not in js and f"\\u003c{tag}" not in js, tag
    # The figures hold the names HTML-escaped (plotly decodes them back when drawing).
    escaped, escaped_img = html.escape(HOSTILE, quote=False), html.escape(HOSTILE_IMG, quote=False)
    gantt = provisioning_figure(prov)
    assert gantt.layout.annotations[0].text.startswith(escaped + " · ")
    assert [t.name for t in gantt.data if t.xaxis == "x"] == ["waiting for a resource", escaped]
    assert list(gantt.layout.yaxis.categoryarray) == [escaped_img]
    assert gantt.data[0].customdata[0][0] == escaped  # the waiting bar's hover names the stage
    assert HOSTILE not in gantt.to_json() and HOSTILE_IMG not in gantt.to_json()
    ecdf = time_to_ready_figure(prov)
    assert [t.name for t in ecdf.data] == [f"{escaped} (1 instance)", f"{escaped_img} (1 instance)"]
    assert cost_figure(timeseries).data[0].name == escaped + ": cumulative cost"


# --- scaling decisions and image pulls ------------------------------------------------------

HPA, CA = "hpa", "cluster-autoscaler"


def decision(
    time_s: float,
    controller: str,
    current: float,
    desired: float,
    applied: float | None = None,
    *,
    metric: str = "cpu",
    value: float = 0.9,
    reason: str = "above target",
    scenario: str = "s",
    rep: int = 0,
) -> dict[str, object]:
    return {
        "scenario": scenario,
        "replication": rep,
        "time_s": time_s,
        "controller": controller,
        "metric": metric,
        "metric_value": value,
        "current": current,
        "desired": desired,
        "applied": desired if applied is None else applied,
        "reason": reason,
    }


def scaling_table(rows: list[dict[str, object]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(SCALING_COLUMNS))


HAND_DECISIONS = [
    decision(60.0, HPA, 2, 4, value=0.95, reason="cpu above target"),
    decision(65.0, CA, 1, 2, metric="pending_pods", value=2, reason="2 pods unschedulable"),
    decision(75.0, HPA, 4, 8),
    decision(90.0, HPA, 8, 8, reason="within tolerance"),  # a hold: no step
    decision(105.0, HPA, 8, 10),
    decision(400.0, HPA, 10, 5, 10, value=0.2, reason="scale-down stabilisation"),
    decision(50.0, HPA, 2, 6, rep=1),  # another replication: not drawn
]


def run_series(ready: list[float], *, scenario: str = "s", step: float = 30.0) -> pd.DataFrame:
    """A minimal time series of one run: samples every ``step`` seconds from ``step``."""
    n = len(ready)
    return pd.DataFrame(
        {
            "scenario": [scenario] * n,
            "replication": [0] * n,
            "time_s": [step * (k + 1) for k in range(n)],
            "ready_instances": ready,
            "arrival_rate_rps": [10.0 if k < 2 else 100.0 for k in range(n)],
        }
    )


# Ready instances every 30 s up to 600 s: 10 (the peak asked for) first at 180 s.
HAND_READY = [2.0, 2.0, 2.0, 4.0, 8.0, 10.0] + [10.0] * 14


def test_desired_steps_follow_the_hand_made_decisions() -> None:
    steps = desired_steps(scaling_table(HAND_DECISIONS), horizon=600.0)
    runs = {
        (c, r): (list(g["time_s"]), list(g["desired"]))
        for (c, r), g in steps.groupby(["controller", "replication"], sort=False)
    }
    # The level before the first decision is its current count; the hold at 90 s adds no
    # corner; the held scale-down at 400 s still shows what the HPA asked for.
    assert runs[(HPA, 0)] == ([0.0, 60.0, 75.0, 105.0, 400.0, 600.0], [2, 4, 8, 10, 5, 5])
    assert runs[(CA, 0)] == ([0.0, 65.0, 600.0], [1, 2, 2])
    assert runs[(HPA, 1)] == ([0.0, 50.0, 600.0], [2, 6, 6])
    assert steps.loc[steps["controller"] == CA, "nodes"].all()
    assert not steps.loc[steps["controller"] == HPA, "nodes"].any()


def test_desired_vs_ready_figure_keeps_node_counts_apart() -> None:
    fig = desired_vs_ready_figure(scaling_table(HAND_DECISIONS), run_series(HAND_READY))
    traces = {t.name: t for t in fig.data}
    assert list(traces) == [
        "arrival rate (right axis)",
        "ready instances",
        "desired (hpa)",
        "nodes desired (cluster-autoscaler)",
    ]
    assert fig.layout.xaxis.title.text == "simulated time (min)"  # a 10-minute run
    hpa, nodes = traces["desired (hpa)"], traces["nodes desired (cluster-autoscaler)"]
    assert list(np.asarray(hpa.x) * 60) == pytest.approx([0, 60, 75, 105, 400, 600])
    assert list(hpa.y) == [2, 4, 8, 10, 5, 5]  # replication 0 only, no node count in it
    assert list(np.asarray(nodes.x) * 60) == pytest.approx([0, 65, 600])
    assert list(nodes.y) == [1, 2, 2]
    assert (hpa.line.shape, nodes.line.shape) == ("hv", "hv")
    assert (hpa.line.dash, nodes.line.dash) == ("solid", "dash")
    assert hpa.line.color != nodes.line.color
    # Instances and nodes share the left axis; the load goes on the right one.
    assert {hpa.yaxis, nodes.yaxis, traces["ready instances"].yaxis} == {"y"}
    assert traces["arrival rate (right axis)"].yaxis == "y2"
    assert list(traces["ready instances"].y) == HAND_READY
    assert fig.layout.yaxis.title.text == "instances / nodes"
    assert [a.text for a in fig.layout.annotations] == ["s · replication 0"]
    # Without cluster-autoscaler rows the axis counts instances only.
    pods_only = scaling_table([d for d in HAND_DECISIONS if d["controller"] == HPA])
    assert desired_vs_ready_figure(pods_only).layout.yaxis.title.text == "instances"


def test_zoom_window_of_a_hand_made_flash_crowd() -> None:
    scaling = scaling_table(HAND_DECISIONS)
    # First decision at 60 s; the peak asked for (10, at 105 s) is ready at 180 s: 120 s,
    # widened by 10 % each side.
    assert zoom_window(scaling, run_series(HAND_READY), "s") == pytest.approx((48.0, 192.0))
    assert zoom_window(scaling, run_series(HAND_READY), "s", margin=0.0) == (60.0, 180.0)
    # Ready instances at or above the peak before it was asked for do not count.
    early = [10.0, 2.0, 2.0, 4.0, 8.0, 10.0] + [10.0] * 14
    assert zoom_window(scaling, run_series(early), "s") == pytest.approx((48.0, 192.0))
    # The cluster autoscaler's node count (2) is not a peak of instances: never reached,
    # so the window runs to the last decision: 60 to 400 s, widened by 34 s.
    short = [2.0, 2.0, 2.0, 4.0, 8.0, 8.0] + [8.0] * 14
    assert zoom_window(scaling, run_series(short), "s") == pytest.approx((26.0, 434.0))
    assert zoom_window(scaling, None, "s") == pytest.approx((26.0, 434.0))
    # Replication 1 has one decision: a minute either side, never before 0.
    assert zoom_window(scaling, None, "s", 1) == (0.0, 110.0)
    with pytest.raises(ValueError, match="no decision of scenario 'x'"):
        zoom_window(scaling, None, "x")
    with pytest.raises(ValueError, match="margin"):
        zoom_window(scaling, None, "s", margin=-1)


def test_scaling_decisions_figure_marks_each_decision_in_the_window() -> None:
    fig = scaling_decisions_figure(scaling_table(HAND_DECISIONS), run_series(HAND_READY))
    assert list(fig.layout.xaxis.range) == pytest.approx([48.0, 192.0])
    assert fig.layout.xaxis.title.text == "simulated time (s)"
    markers = {t.name: t for t in fig.data if t.mode == "markers"}
    assert list(markers) == ["desired (hpa)", "nodes desired (cluster-autoscaler)"]
    hpa = markers["desired (hpa)"]
    assert list(hpa.x) == [60.0, 75.0, 90.0, 105.0]  # the hold is a decision too; 400 s is out
    assert list(hpa.y) == [4, 8, 8, 10]
    assert list(hpa.customdata[0]) == [
        "60 s",
        "hpa",
        "cpu=0.95",
        "instances: current 2 → desired 4 → applied 4",
        "cpu above target",
    ]
    assert hpa.customdata[2][4] == "within tolerance"
    nodes = markers["nodes desired (cluster-autoscaler)"]
    assert list(nodes.x) == [65.0]
    assert list(nodes.customdata[0][2:4]) == [
        "pending_pods=2",
        "nodes: current 1 → desired 2 → applied 2",
    ]
    # The step lines cross the window (their corners just outside it included), silently.
    lines = [t for t in fig.data if t.mode == "lines" and t.name.startswith(("desired", "nodes"))]
    assert [list(t.x) for t in lines] == [[0.0, 60.0, 75.0, 105.0, 400.0], [0.0, 65.0, 600.0]]
    assert all(t.hoverinfo == "skip" and t.showlegend is False for t in lines)


def test_scaling_figures_facet_per_scenario_in_report_order() -> None:
    rows = [decision(10.0, HPA, 1, 3, scenario=name) for name in ("b", "a")]
    rows.append(decision(20.0, "target-tracking", 1, 2, scenario="c"))
    fig = desired_vs_ready_figure(scaling_table(rows), None, ["a", "c", "b"])
    assert [a.text for a in fig.layout.annotations] == [
        "a · replication 0",
        "c · replication 0",
        "b · replication 0",
    ]
    # One legend entry per controller, one colour per controller in every facet.
    assert [(t.name, t.showlegend) for t in fig.data] == [
        ("desired (hpa)", True),
        ("desired (target-tracking)", True),
        ("desired (hpa)", False),
    ]
    assert fig.data[0].line.color == fig.data[2].line.color != fig.data[1].line.color
    empty = scaling_table([])
    assert "no scaling decisions" in desired_vs_ready_figure(empty).layout.annotations[0].text
    assert "no scaling decisions" in scaling_decisions_figure(empty).layout.annotations[0].text


L1 = "sha256:0123456789ab" + "c" * 52
L2 = "sha256:fedcba987654" + "d" * 52
L3 = "sha256:aaaaaaaaaaaa" + "e" * 52


def layer_pull(
    node: str,
    layer: str,
    size: float,
    hit: bool,
    download: tuple[float, float] = (NAN, NAN),
    extract: tuple[float, float] = (NAN, NAN),
    source: str = "registry",
    *,
    scenario: str = "cold",
    rep: int = 0,
    image: str = "app:1",
) -> dict[str, object]:
    return {
        "scenario": scenario,
        "replication": rep,
        "node": node,
        "image": image,
        "layer": layer,
        "bytes": size,
        "cache_hit": hit,
        "download_start_s": download[0],
        "download_end_s": download[1],
        "extract_start_s": extract[0],
        "extract_end_s": extract[1],
        "source": source,
    }


def pulls_table(rows: list[dict[str, object]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(PULLS_COLUMNS))


HAND_PULLS = [
    layer_pull("n1", L1, 100, False, (10, 14), (14, 16)),
    layer_pull("n1", L2, 50, False, (10, 12), (16, 17)),
    layer_pull("n2", L1, 100, False, (20, 22), (22, 23), "peer"),
    layer_pull("n2", L2, 50, True),  # needed when its pull began: 20 s
    layer_pull("n1", L1, 100, False, (5, 9), (9, 10), "mirror", rep=1),
    layer_pull("n1", L2, 50, True, rep=1),  # 5 s
    # A warm host: every layer cached, nothing timed.
    layer_pull("w1", L1, 100, True, scenario="warm"),
    layer_pull("w1", L2, 50, True, scenario="warm"),
]


def test_bytes_pulled_per_scenario_and_source() -> None:
    table = bytes_pulled(pulls_table(HAND_PULLS))
    assert list(table.itertuples(index=False, name=None)) == [
        # Registry: 150 B in replication 0, none in 1; mirror and peer 100 B in one each.
        ("cold", "registry", 75.0, 2),
        ("cold", "mirror", 50.0, 2),
        ("cold", "peer", 50.0, 2),
        ("warm", "registry", 0.0, 1),
        ("warm", "mirror", 0.0, 1),
        ("warm", "peer", 0.0, 1),
    ]
    fig = bytes_pulled_figure(pulls_table(HAND_PULLS), ["warm", "cold"])
    assert [t.name for t in fig.data] == ["registry", "mirror", "peer"]
    assert list(fig.data[0].x) == ["warm", "cold"]
    assert list(fig.data[0].y) == [0.0, 75.0]
    assert fig.layout.barmode == "stack"
    assert fig.layout.yaxis.title.text == "bytes fetched per run (B)"
    assert list(fig.data[0].customdata[1]) == ["75 B", "175 B"]
    # Big numbers get a decimal unit: 1.2 GB per run.
    big = pulls_table([layer_pull("n", L1, 1.2e9, False, (0, 1), (1, 2))])
    fig = bytes_pulled_figure(big)
    assert fig.layout.yaxis.title.text == "bytes fetched per run (GB)"
    assert list(fig.data[0].y) == pytest.approx([1.2])
    all_cached = bytes_pulled_figure(pulls_table(HAND_PULLS[-2:]))
    assert "already cached" in all_cached.layout.annotations[0].text


def test_cumulative_cache_hit_ratio_of_a_hand_made_sequence() -> None:
    pulls = pulls_table(HAND_PULLS)
    ratio = cache_hit_ratio(pulls)
    # Pooled over replications: at 5 s a miss and a hit; at 10 s two misses; at 20 s a miss
    # and a hit. The warm host's layers have no time and cannot be placed.
    assert list(ratio["scenario"]) == ["cold"] * 3
    assert list(ratio["time_s"]) == [5.0, 10.0, 20.0]
    assert list(ratio["requests"]) == [2, 4, 6]
    assert list(ratio["hits"]) == [1, 1, 2]
    assert list(ratio["hit_ratio"]) == pytest.approx([0.5, 0.25, 1 / 3])
    # A CSV round trip leaves "True"/"False" strings and blanks: same numbers.
    buffer = io.StringIO()
    pulls.to_csv(buffer, index=False)
    buffer.seek(0)
    pd.testing.assert_frame_equal(cache_hit_ratio(pd.read_csv(buffer)), ratio)
    # Extract start counts when there is no download; the earlier of the two otherwise.
    timed = pulls_table(
        [
            layer_pull("n", L1, 1, True, extract=(3.0, 3.0)),
            layer_pull("n", L2, 1, False, (2.0, 4.0), (1.0, 5.0)),
        ]
    )
    assert list(cache_hit_ratio(timed)["time_s"]) == [1.0, 3.0]
    fig = cache_hit_ratio_figure(pulls)
    cold, warm = fig.data
    assert cold.name == "cold (6 layer requests)"
    assert list(cold.y) == pytest.approx([0.5, 0.25, 1 / 3]) and cold.line.shape == "hv"
    assert warm.name == "warm (2 layer requests, 2 without a time left out)"
    assert fig.layout.yaxis.tickformat == ".0%"


def test_pull_timeline_of_the_first_scenario_with_pulls() -> None:
    fig = pull_timeline_figure(pulls_table(HAND_PULLS), ["cold", "warm"])
    assert fig.layout.title.text == (
        "cold · replication 0: 2 nodes; 1 cached layer not drawn (nothing to fetch)"
    )
    download, extract = fig.data
    assert (download.name, extract.name) == ("download", "extract")
    rows = ["n1 · app:1 · 0123456789ab", "n1 · app:1 · fedcba987654", "n2 · app:1 · 0123456789ab"]
    assert list(fig.layout.yaxis.categoryarray) == rows
    assert list(download.y) == rows and list(extract.y) == rows
    assert list(download.base) == [10, 10, 20] and list(download.x) == [4, 2, 2]
    assert list(extract.base) == [14, 16, 22] and list(extract.x) == [2, 1, 1]
    assert download.customdata[2][2] == "peer"
    assert fig.layout.xaxis.title.text == "simulated time (s)"
    # Light downloads, dark extractions.
    assert download.marker.color == "#A6C8EE" and extract.marker.color == "#1D4F91"
    first = pull_timeline_figure(pulls_table(HAND_PULLS), max_nodes=1)
    assert first.layout.title.text == "cold · replication 0: first 1 of 2 nodes"
    assert list(first.layout.yaxis.categoryarray) == rows[:2]
    # The scenario order decides which run is drawn; untimed cache hits leave it empty.
    warm = pull_timeline_figure(pulls_table(HAND_PULLS), ["warm", "cold"])
    assert warm.layout.title.text.startswith("warm · replication 0: 1 node; 2 cached layers")
    assert "no layer was downloaded" in warm.layout.annotations[0].text
    with pytest.raises(ValueError, match="max_nodes"):
        pull_timeline_figure(pulls_table(HAND_PULLS), max_nodes=0)


@pytest.mark.parametrize(
    ("text", "short"),
    [
        (L1, "0123456789ab"),
        ("nginx@" + L2, "nginx@fedcba987654"),
        ("c" * 64, "cccccccccccc"),
        ("nginx:1.23.3", "nginx:1.23.3"),
        ("sha256:abc", "sha256:abc"),
    ],
)
def test_short_digest(text: str, short: str) -> None:
    assert short_digest(text) == short


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 B"),
        (512, "512 B"),
        (999.7, "1 kB"),
        (3.2e6, "3.2 MB"),
        (45.4e6, "45 MB"),
        (999.9e6, "1 GB"),
        (1.2e9, "1.2 GB"),
        (math.nan, "–"),
    ],
)
def test_format_bytes(size: float, text: str) -> None:
    assert format_bytes(size) == text


def _render_with(**tables: pd.DataFrame | None) -> str:
    summary, timeseries, prov = make_tables(["s", "cold"], 2)
    return render_report(
        title="t",
        question=None,
        summary=summary,
        timeseries=timeseries,
        provisioning=prov,
        **tables,
    )


def test_scaling_and_pull_figures_join_the_page() -> None:
    page = _render_with(scaling=scaling_table(HAND_DECISIONS), pulls=pulls_table(HAND_PULLS))
    assert page.count('class="deploysim-figure"') == 11
    assert page.count('type="application/json"') == 11
    assert len(PLOTLY_BANNER.findall(page)) == 1
    assert page.count("How to read this:") == 12
    for key in ("scaling", "scaling-decisions", "bytes-pulled", "pull-timeline", "cache-hits"):
        assert f'id="deploysim-{key}"' in page
    headings = re.findall(r"<h2>([^<]*)</h2>", page)
    assert headings[-5:] == [
        "Desired vs ready instances",
        "Scaling decisions around the scale-out",
        "Bytes fetched by image pulls",
        "Image pull timeline",
        "Layer cache hit ratio over time",
    ]
    only_pulls = _render_with(pulls=pulls_table(HAND_PULLS))
    assert only_pulls.count('class="deploysim-figure"') == 9
    assert "Desired vs ready instances" not in only_pulls


@pytest.mark.parametrize(
    "tables",
    [
        {},
        {"scaling": None, "pulls": None},
        # A run that recorded no row yields a frame without columns ...
        {"scaling": pd.DataFrame(), "pulls": pd.DataFrame()},
        # ... or, read back from a CSV header, one with columns and no rows.
        {"scaling": scaling_table([]), "pulls": pulls_table([])},
    ],
)
def test_missing_or_empty_scaling_and_pulls_omit_their_figures(
    tables: dict[str, pd.DataFrame | None],
) -> None:
    page = _render_with(**tables)
    assert page.count('class="deploysim-figure"') == 6
    for heading in ("Desired vs ready", "Scaling decisions", "Bytes fetched", "Image pull"):
        assert heading not in page
    assert page == _render_with()


def test_scaling_and_pulls_tables_missing_columns_are_named() -> None:
    with pytest.raises(ValueError, match="scaling table is missing column.*reason"):
        _render_with(scaling=scaling_table(HAND_DECISIONS).drop(columns=["reason"]))
    with pytest.raises(ValueError, match="pulls table is missing column.*source"):
        _render_with(pulls=pulls_table(HAND_PULLS).drop(columns=["source"]))


def test_hostile_strings_in_scaling_and_pulls_are_escaped() -> None:
    summary, timeseries, _ = make_tables([HOSTILE, "plain"], 2)
    scaling = scaling_table(
        [
            decision(10.0, HOSTILE_IMG, 1, 3, metric=HOSTILE, reason=HOSTILE, scenario=HOSTILE),
            decision(12.0, CA, 1, 2, reason=HOSTILE_IMG, scenario=HOSTILE),
        ]
    )
    pulls = pulls_table(
        [
            layer_pull(HOSTILE_IMG, HOSTILE, 10, False, (1, 2), (2, 3), HOSTILE, scenario=HOSTILE),
            layer_pull("n", L1, 10, True, image=HOSTILE_IMG, scenario=HOSTILE),
        ]
    )
    page = render_report(
        title="t",
        question=None,
        summary=summary,
        timeseries=timeseries,
        scaling=scaling,
        pulls=pulls,
    )
    assert HOSTILE not in page and HOSTILE_IMG not in page
    parsed = parse(page)
    assert "img" not in {tag for tag, _ in parsed.tags}
    figure_scripts = [js for js in parsed.scripts if js.startswith('{"data"')]
    assert len(figure_scripts) == 4 + 2 + 3
    for js in figure_scripts:
        for tag in ("script", "img"):
            assert f"<{tag}" not in js and f"\\u003c{tag}" not in js, tag
    escaped, escaped_img = html.escape(HOSTILE, quote=False), html.escape(HOSTILE_IMG, quote=False)
    zoom = scaling_decisions_figure(scaling, timeseries)
    assert zoom.layout.annotations[0].text == f"{escaped} · replication 0"
    marker = next(t for t in zoom.data if t.mode == "markers")
    assert marker.name == f"desired ({escaped_img})"
    assert list(marker.customdata[0][1:]) == [
        escaped_img,
        f"{escaped}=0.9",
        "instances: current 1 → desired 3 → applied 3",
        escaped,
    ]
    timeline = pull_timeline_figure(pulls)
    assert list(timeline.layout.yaxis.categoryarray) == [f"{escaped_img} · app:1 · {escaped}"]
    assert timeline.data[0].customdata[0][2] == html.escape(HOSTILE, quote=False)
    assert [t.name for t in bytes_pulled_figure(pulls).data] == [escaped]
    assert cache_hit_ratio_figure(pulls).data[0].name.startswith(escaped + " (")
    for fig in (zoom, timeline, desired_vs_ready_figure(scaling, timeseries)):
        assert HOSTILE not in fig.to_json() and HOSTILE_IMG not in fig.to_json()


def test_comparison_text_counts_scale_events_and_bytes_pulled() -> None:
    summary = pd.DataFrame(
        {
            "scenario": ["a", "b", "c"] * 2,
            "replication": [0, 0, 0, 1, 1, 1],
            "scale_events": [4, 6, 0, 4, 7, 0],
            "max_instances": [12, 12, 3, 12, 12, 3],
            "bytes_pulled": [1.2e9, 4e8, 0, 1.2e9, 4e8, NAN],
        }
    )
    assert comparison_text(summary) == (
        "Scale events per run: a 4 (peak 12 instances), b 6.5 (peak 12 instances) and c 0 "
        "(peak 3 instances). Image pulls moved per run: a 1.2 GB, b 400 MB and c 0 B."
    )
    # Nobody scaled, nothing pulled: neither clause.
    idle = summary.assign(scale_events=0, bytes_pulled=0.0)
    assert comparison_text(idle) == ""
    # Only a peak; a scenario without numbers is not named.
    peaks = pd.DataFrame({"scenario": ["a", "b"], "max_instances": [1, NAN]})
    assert comparison_text(peaks) == "Peak instances per run: a 1."
    one = pd.DataFrame({"scenario": ["a"], "scale_events": [1], "max_instances": [1]})
    assert comparison_text(one) == "Scale events per run: a 1 (peak 1 instance)."


def test_cache_hits_are_placed_by_pull_id_and_request_time_when_recorded() -> None:
    # The same image twice on one node: downloaded at 10 s, then started again from cache.
    rows = pulls_table(
        [layer_pull("n", L1, 100, False, (10, 12), (12, 13)), layer_pull("n", L1, 0, True)]
    )

    def as_rows(ratio: pd.DataFrame) -> list[tuple[float, int, int]]:
        return list(ratio[["time_s", "requests", "hits"]].itertuples(index=False, name=None))

    # Without a pull id the two pulls look like one: the hit lands at the first one's start.
    assert as_rows(cache_hit_ratio(rows)) == [(10.0, 2, 1)]
    # With one, the cached pull has no time of its own and is left out ...
    with_ids = rows.assign(pull=[0, 1])
    assert as_rows(cache_hit_ratio(with_ids)) == [(10.0, 1, 0)]
    # ... unless the table says when each pull was requested.
    requested = with_ids.assign(requested_s=[9.5, 30.0])
    assert as_rows(cache_hit_ratio(requested)) == [(10.0, 1, 0), (30.0, 2, 1)]
