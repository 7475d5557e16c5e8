"""Unit tests of the HTML report built from small synthetic result tables."""

from __future__ import annotations

import ast
import html
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
    SUMMARY_COLUMNS,
    TIMESERIES_COLUMNS,
    format_duration,
    render_report,
    scenario_summary,
    t_quantile_975,
    write_report,
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
    # ... and every figure still gets its own plot div and Plotly.newPlot call.
    assert page.count('class="plotly-graph-div"') == 6
    assert page.count("Plotly.newPlot(") == 6


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
    assert page.count('class="plotly-graph-div"') == 4  # arrivals, latency, queue, cost
    assert "NaN" not in "".join("".join(r) for r in parsed.rows)


def test_empty_provisioning_table_omits_timeline() -> None:
    summary, timeseries, prov = make_tables(["a"], provisioning=False)
    assert prov.empty and list(prov.columns) == list(PROVISIONING_COLUMNS)
    page = render_report(
        title="t", question=None, summary=summary, timeseries=timeseries, provisioning=prov
    )
    assert "Provisioning timeline" not in page
    assert "Time to ready" not in page
    assert page.count('class="plotly-graph-div"') == 4
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
    figure_scripts = [js for js in parsed.scripts if "Plotly.newPlot(" in js]
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
