"""Open a generated report in real headless Chromium and check it renders offline.

Needs Debian's ``chromium`` and ``chromedriver``. Without them the test is skipped, unless
``DEPLOYSIM_REQUIRE_BROWSER=1`` (set by CI), in which case it fails: a CI run that silently
skipped the only end-to-end rendering check would be a false green.
"""

from __future__ import annotations

import json
import math
import os
import pathlib
import shutil
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, cast

import pandas as pd
import pytest
from report_tables import plan_info, plan_table, sweep_info, sweep_table

from reports import (
    PROVISIONING_COLUMNS,
    PULLS_COLUMNS,
    SCALING_COLUMNS,
    SUMMARY_COLUMNS,
    TIMESERIES_COLUMNS,
    write_report,
)
from reports.index import write_index
from reports.sweep import write_plan_report, write_sweep_report

if TYPE_CHECKING:
    from selenium.webdriver import Chrome

pytestmark = pytest.mark.browser

# Raw HTML plus the pseudo-HTML plotly.js itself interprets in trace names (<a href>, <b>).
HOSTILE = (
    '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'
    '<a href="javascript:window.__pwned=3">click</a><b>bold</b>'
)
SCENARIOS = ["vm-autoscale", HOSTILE, "containers"]  # not alphabetical on purpose
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:")
# Layer digests as registries write them; the timeline shows their first 12 hex digits.
LAYERS = [f"sha256:{k:04x}" + "0123456789abcdef" * 3 + "0" * 12 for k in range(3)]


def _find(name: str, fallback: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    return fallback if os.access(fallback, os.X_OK) else None


def _tables() -> tuple[pd.DataFrame, ...]:
    """Small synthetic result tables: 3 scenarios × 2 replications, one with no completions.

    Summary, time series, provisioning, scaling decisions (all but the first scenario: an
    HPA with a hostile reason and a cluster autoscaler) and image pulls (the last two
    scenarios: four nodes, three layers, the first layer cached on the second node).
    """
    summary: list[dict[str, object]] = []
    series: list[dict[str, object]] = []
    prov: list[dict[str, object]] = []
    scaling: list[dict[str, object]] = []
    pulls: list[dict[str, object]] = []
    for rep in range(2):
        for k, name in enumerate(SCENARIOS):
            dead = k == 2
            lat = math.nan if dead else 0.02 * (k + 1) + 0.005 * rep
            row: dict[str, object] = dict.fromkeys(SUMMARY_COLUMNS, 0)
            row.update(
                scenario=name,
                replication=rep,
                seed=7 + rep,
                arrived=500,
                completed=0 if dead else 480,
                dropped=500 if dead else 20,
                latency_p50_s=lat,
                latency_p95_s=lat,
                latency_p99_s=lat,
                slo_attainment=math.nan if dead else 0.9,
                slo_met=not dead,
                cost_usd=0.5,
                cost_per_million_requests_usd=math.nan if dead else 1.0 + k,
                time_to_first_ready_s=math.nan if dead else 20.0 + 10 * k,
                time_to_target_capacity_s=math.nan if dead else 33.0 + 10 * k,
            )
            summary.append(row)
            for w in range(30):
                series.append(
                    {
                        "scenario": name,
                        "replication": rep,
                        "time_s": 5.0 * (w + 1),
                        "offered_rate_rps": 10.0 if w < 10 else 40.0,
                        "arrival_rate_rps": 10.0 if w < 10 else 38.0,
                        "ready_instances": 1 + min(w // 5, 4),
                        "provisioning_instances": 0,
                        "queue_length": max(0, w - 10),
                        "busy_workers": 1,
                        "utilisation": 0.8,
                        "cost_rate_usd_per_h": 0.1,
                        "completed": 0 if dead else 50,
                        "dropped": 0,
                        "timed_out": 0,
                        "latency_p50_s": lat,
                        "latency_p95_s": lat,
                        "latency_p99_s": math.nan if dead or w == 12 else 0.1 + 0.01 * w,
                    }
                )
            for inst in range(3):
                t0 = 10.0 * inst
                # A hostile stage name reaches the Gantt legend and hover text.
                for stage, dur in (("request", 2.0), (HOSTILE, 30.0), ("ready", 1.0)):
                    prov.append(
                        {
                            "scenario": name,
                            "replication": rep,
                            "instance": f"i-{inst}",
                            "stage": stage,
                            "start_s": t0,
                            "end_s": t0 + dur,
                            "waited_s": 0.0,
                        }
                    )
                    t0 += dur
            if k == 0:
                continue
            for t, current, desired in ((55.0, 1, 3), (70.0, 3, 5), (85.0, 5, 5)):
                scaling.append(
                    {
                        "scenario": name,
                        "replication": rep,
                        "time_s": t,
                        "controller": "hpa",
                        "metric": "cpu",
                        "metric_value": 0.93,
                        "current": current,
                        "desired": desired,
                        "applied": desired,
                        "reason": HOSTILE,
                    }
                )
            scaling.append(
                {
                    "scenario": name,
                    "replication": rep,
                    "time_s": 60.0,
                    "controller": "cluster-autoscaler",
                    "metric": "pending_pods",
                    "metric_value": 2,
                    "current": 1,
                    "desired": 2,
                    "applied": 2,
                    "reason": "pods unschedulable",
                }
            )
            for node in range(4):
                start = 55.0 + 5 * node
                for j, layer in enumerate(LAYERS):
                    cached = node == 1 and j == 0
                    pulls.append(
                        {
                            "scenario": name,
                            "replication": rep,
                            "node": HOSTILE if node == 0 else f"node-{node}",
                            "image": "shop/web:2",
                            "layer": layer,
                            "bytes": 40e6 / (j + 1),
                            "cache_hit": cached,
                            "download_start_s": math.nan if cached else start,
                            "download_end_s": math.nan if cached else start + 2.0 + j,
                            "extract_start_s": math.nan if cached else start + 3.0 + j,
                            "extract_end_s": math.nan if cached else start + 3.5 + j,
                            "source": "mirror" if node % 2 else "registry",
                        }
                    )
    return (
        pd.DataFrame(summary, columns=list(SUMMARY_COLUMNS)),
        pd.DataFrame(series, columns=list(TIMESERIES_COLUMNS)),
        pd.DataFrame(prov, columns=list(PROVISIONING_COLUMNS)),
        pd.DataFrame(scaling, columns=list(SCALING_COLUMNS)),
        pd.DataFrame(pulls, columns=list(PULLS_COLUMNS)),
    )


def _log(driver: Chrome, kind: str) -> list[dict[str, Any]]:
    """Chromedriver log entries of ``kind`` ("browser" or "performance"); drains the buffer."""
    # selenium's get_log is unannotated; give it a type once instead of at every call.
    get_log = cast(Callable[[str], list[dict[str, Any]]], driver.get_log)
    return get_log(kind)


def _scroll_through(driver: Chrome) -> None:
    """Scroll every figure into view in turn, as a reader would, so the lazy loader draws it.

    Folded sections (``<details>``) are opened first, as a reader would to see them.
    """
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.execute_script("document.querySelectorAll('details').forEach(d => { d.open = true; })")
    for box in driver.find_elements(By.CSS_SELECTOR, "div.deploysim-figure"):
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", box)
        WebDriverWait(driver, 120).until(
            lambda d, box=box: d.execute_script(
                "return !!arguments[0].querySelector('.main-svg')", box
            )
        )
    driver.execute_script("window.scrollTo(0, 0)")


def _figures(driver: Chrome) -> list[dict[str, Any]]:
    """Per figure placeholder: its id, whether plotly drew it, and how many traces it drew."""
    return cast(
        list[dict[str, Any]],
        driver.execute_script(
            "return [...document.querySelectorAll('div.deploysim-figure')].map(b => ({"
            "  id: b.id, plot: b.classList.contains('js-plotly-plot'),"
            "  svg: b.querySelectorAll('.main-svg').length,"
            "  traces: b.querySelectorAll('.main-svg .trace, .main-svg .hm').length}))"
        ),
    )


def _screenshot(driver: Chrome, folder: pathlib.Path, name: str) -> pathlib.Path:
    path = folder / f"{name}.png"
    driver.save_screenshot(str(path))
    print(f"screenshot of the {name} page: {path}")
    return path


def _check_page(
    driver: Chrome, page: pathlib.Path, folder: pathlib.Path, name: str, figures: int
) -> pathlib.Path:
    """Open ``page``, draw every figure and check what every page must satisfy.

    Every figure drawn with at least one data trace; nothing from HOSTILE ran or became an
    element; no console error; nothing fetched from outside the file. Returns the screenshot.
    """
    driver.get(page.as_uri())
    _scroll_through(driver)
    shot = _screenshot(driver, folder, name)
    drawn = _figures(driver)
    assert len(drawn) == figures, f"{name}: {drawn} (screenshot {shot})"
    empty = [f for f in drawn if not (f["plot"] and f["svg"] and f["traces"])]
    assert empty == [], f"{name}: figures not rendered {empty} (screenshot {shot})"
    assert driver.execute_script("return window.__pwned === undefined"), shot
    assert driver.execute_script("return document.querySelectorAll('main img').length") == 0
    assert (
        driver.execute_script(
            "return document.querySelectorAll('.main-svg a, .main-svg tspan[style*=bold]').length"
        )
        == 0
    ), shot
    severe = [e for e in _log(driver, "browser") if e.get("level") == "SEVERE"]
    assert severe == [], f"{name}: console errors {severe} (screenshot {shot})"
    resources = driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
    )
    assert [r for r in resources if not r.startswith(LOCAL_SCHEMES)] == [], shot
    return shot


def _legend(driver: Chrome, figure: str) -> list[str]:
    return cast(
        list[str],
        driver.execute_script(
            f"return [...document.querySelectorAll('#{figure} .legendtext')]"
            ".map(e => e.textContent)"
        ),
    )


@pytest.fixture
def driver(tmp_path: pathlib.Path) -> Iterator[Chrome]:
    chromium = _find("chromium", "/usr/bin/chromium")
    chromedriver = _find("chromedriver", "/usr/bin/chromedriver")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        webdriver = None  # type: ignore[assignment]
    if chromium is None or chromedriver is None or webdriver is None:
        message = (
            "headless browser test needs chromium, chromedriver and selenium "
            f"(found chromium={chromium}, chromedriver={chromedriver}, "
            f"selenium={'yes' if webdriver is not None else 'no'}); install the Debian "
            "packages 'chromium' and 'chromium-driver' and the dev extra"
        )
        if os.environ.get("DEPLOYSIM_REQUIRE_BROWSER") == "1":
            pytest.fail(message + " - required because DEPLOYSIM_REQUIRE_BROWSER=1")
        pytest.skip(message)

    options = webdriver.ChromeOptions()
    # An explicit binary and driver path mean Selenium Manager never tries to download either.
    options.binary_location = chromium
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,1000",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    browser = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    try:
        yield browser
    finally:
        browser.quit()


def test_report_renders_offline_in_chromium(driver: Chrome, tmp_path: pathlib.Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support.ui import WebDriverWait

    summary, timeseries, provisioning, scaling, pulls = _tables()
    report = tmp_path / "report.html"
    write_report(
        report,
        title=HOSTILE,
        question="Does autoscaling keep p99 under 200 ms?",
        summary=summary,
        timeseries=timeseries,
        provisioning=provisioning,
        meta={"seed": "7", "replications": "2", "serving mode": HOSTILE},
        scaling=scaling,
        pulls=pulls,
    )
    driver.get(report.as_uri())

    # Eleven figures (arrivals, latency, queue, cost, provisioning timeline, time to ready,
    # desired vs ready, scaling decisions, bytes pulled, pull timeline, cache hit ratio),
    # each drawn into its SVG layers.
    def rendered(d: WebDriver) -> bool:
        return bool(
            d.execute_script(
                "const plots = document.querySelectorAll('.js-plotly-plot');"
                "return plots.length === 11 && [...plots].every("
                "  p => p.querySelector('.main-svg') && p.querySelector('.legendtext'))"
                "  && document.querySelectorAll('.js-plotly-plot .main-svg').length >= 3;"
            )
        )

    _scroll_through(driver)
    WebDriverWait(driver, 60).until(rendered)
    shot = _screenshot(driver, tmp_path, "run-report")
    assert all(f["traces"] for f in _figures(driver)), shot

    # Summary table: one row per scenario, in the order of the summary table.
    rows = driver.find_elements(By.CSS_SELECTOR, "table.summary tbody tr")
    names = [row.find_element(By.CSS_SELECTOR, "th").text for row in rows]
    assert names == SCENARIOS
    headers = [th.text for th in driver.find_elements(By.CSS_SELECTOR, "table.summary thead th")]
    assert "p99 ± 95 % CI" in headers
    dead = [td.text for td in rows[2].find_elements(By.CSS_SELECTOR, "td")]
    assert dead[headers.index("p99") - 1] == "–"

    # Hostile strings show up as text - in the page and in plotly's legend - and never run.
    assert driver.find_element(By.CSS_SELECTOR, "h1").text == HOSTILE
    assert driver.execute_script("return window.__pwned === undefined")
    legend = driver.execute_script(
        "return [...document.querySelectorAll('.legendtext')].map(e => e.textContent)"
    )
    assert f"{HOSTILE}: p99" in legend
    assert HOSTILE in legend  # the stage of the provisioning timeline
    assert f"{HOSTILE}: cumulative cost" in legend
    assert f"{HOSTILE} (6 instances)" in legend  # time to ready, both replications pooled
    facet_titles = driver.execute_script(
        "return [...document.querySelectorAll('#deploysim-provisioning .annotation-text')]"
        ".map(e => e.textContent)"
    )
    assert f"{HOSTILE} · replication 0: 3 instances" in facet_titles
    for name in (
        "desired (hpa)",
        "nodes desired (cluster-autoscaler)",
        "ready instances",
        "download",
        "extract",
        "registry",
        "mirror",
        f"{HOSTILE} (24 layer requests)",  # cache hit ratio, both replications pooled
    ):
        assert name in legend, name
    scaling_titles = driver.execute_script(
        "return [...document.querySelectorAll('#deploysim-scaling .annotation-text')]"
        ".map(e => e.textContent)"
    )
    assert scaling_titles == [f"{HOSTILE} · replication 0", "containers · replication 0"]
    # The pull timeline labels rows node · image · digest cut to 12 hex digits, top down.
    rows_shown = driver.execute_script(
        "return [...document.querySelectorAll('#deploysim-pull-timeline .ytick text')]"
        ".sort((a, b) => a.getBoundingClientRect().top - b.getBoundingClientRect().top)"
        ".map(e => e.textContent)"
    )
    assert rows_shown[0] == f"{HOSTILE} · shop/web:2 · 000001234567"
    assert len(rows_shown) == 4 * 3 - 1  # the cached layer has nothing to draw
    # Hovering a decision shows its hostile reason as text.
    hover = driver.execute_script(
        "const gd = document.getElementById('deploysim-scaling-decisions');"
        "const i = gd.data.findIndex(t => t.mode === 'markers');"
        "Plotly.Fx.hover(gd, [{curveNumber: i, pointNumber: 0}], 'xy');"
        "return gd.querySelector('.hoverlayer').textContent;"
    )
    assert "cpu=0.93" in hover and "current 1 → desired 3 → applied 3" in hover, hover
    assert HOSTILE in hover, hover
    comparison = driver.find_element(By.CSS_SELECTOR, "p.comparison").text
    assert comparison.startswith("vm-autoscale reached its target capacity first, 33 s after")
    assert f"sooner than {HOSTILE} (43 s)" in comparison
    assert driver.execute_script("return window.__pwned === undefined")
    assert driver.execute_script("return document.querySelectorAll('main img').length") == 0
    # Plotly drew no link or bold run from the name (the modebar's own <a> are outside SVG).
    assert (
        driver.execute_script(
            "return document.querySelectorAll('.main-svg a, .main-svg tspan[style*=bold]').length"
        )
        == 0
    )

    # No console errors (CSP violations, failed loads, script errors are all SEVERE).
    severe = [e for e in _log(driver, "browser") if e.get("level") == "SEVERE"]
    assert severe == []

    # No network: every resource the page loaded is local ...
    resources = driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
    )
    assert [r for r in resources if not r.startswith(LOCAL_SCHEMES)] == []
    # ... and Chrome's own request log agrees (it also sees requests that failed or were
    # blocked). Only requests made on behalf of the report count: the browser's start-up tab
    # (chrome://new-tab-page and friends) logs its internal resources here as well.
    requested = []
    for entry in _log(driver, "performance"):
        message = json.loads(entry["message"])["message"]
        params = message.get("params", {})
        if (
            message.get("method") == "Network.requestWillBeSent"
            and params.get("documentURL") == report.as_uri()
        ):
            requested.append(params["request"]["url"])
    assert report.as_uri() in requested, "performance log missed the page itself"
    assert [url for url in requested if not url.startswith(LOCAL_SCHEMES)] == []


# -- sweep, plan and index pages --------------------------------------------------------------

FACTOR = f"scenarios.{HOSTILE}.platform.instances"
BANDWIDTH = "registry.bandwidth"


def test_sweep_report_one_factor_renders(driver: Chrome, tmp_path: pathlib.Path) -> None:
    from selenium.webdriver.common.by import By

    table = sweep_table(SCENARIOS, {FACTOR: [2, 4, 6, 8]}, failed={(1, "containers"): HOSTILE})
    page = write_sweep_report(tmp_path, table, sweep_info(HOSTILE, [FACTOR], 4))
    # 4 key metrics, the Pareto front, 6 more metrics that vary (folded).
    _check_page(driver, page, tmp_path, "sweep-1-factor", figures=11)
    assert driver.find_element(By.CSS_SELECTOR, "h1").text == f"{HOSTILE}: sweep"
    legend = _legend(driver, "deploysim-line-0")
    assert legend == SCENARIOS  # one line per scenario, names shown as written
    assert _legend(driver, "deploysim-pareto") == ["other points", "Pareto front"]
    best = [
        row.find_element(By.CSS_SELECTOR, "th").text
        for row in driver.find_elements(By.CSS_SELECTOR, "#best tbody tr")
    ]
    assert best == SCENARIOS
    failed = driver.find_element(By.CSS_SELECTOR, "#failed .error").text
    assert failed == HOSTILE


def test_sweep_report_two_factors_renders(driver: Chrome, tmp_path: pathlib.Path) -> None:
    table = sweep_table(SCENARIOS, {FACTOR: [2, 4, 6], BANDWIDTH: ["slow", HOSTILE]})
    info = sweep_info("two factors", [FACTOR, BANDWIDTH], 6)
    page = write_sweep_report(tmp_path / "report.html", table, info)
    # 4 key metrics, 4 heatmaps, the Pareto front, 6 more metrics that vary.
    _check_page(driver, page, tmp_path, "sweep-2-factors", figures=15)
    legend = _legend(driver, "deploysim-line-0")
    assert f"{HOSTILE} · bandwidth={HOSTILE}" in legend and len(legend) == 6
    ticks = driver.execute_script(
        "return [...document.querySelectorAll('#deploysim-heat-0 .ytick text')]"
        ".map(e => e.textContent)"
    )
    assert sorted(ticks) == sorted(["slow", HOSTILE])
    # The menu switches the heatmap to another scenario (and back shows the first).
    shown = driver.execute_script(
        "const gd = document.getElementById('deploysim-heat-0');"
        "return Plotly.restyle(gd, {visible: [false, true, false]})"
        ".then(() => gd._fullData.filter(t => t.visible === true).map(t => t.name));"
    )
    assert shown == [HOSTILE.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")]
    assert driver.execute_script("return window.__pwned === undefined")


def test_plan_report_renders(driver: Chrome, tmp_path: pathlib.Path) -> None:
    from selenium.webdriver.common.by import By

    page = write_plan_report(
        tmp_path / "report.html", plan_table([6, 12, 9, 7, 8]), plan_info(HOSTILE, HOSTILE, 7)
    )
    _check_page(driver, page, tmp_path, "plan", figures=1)
    notes = driver.execute_script(
        "return [...document.querySelectorAll('#deploysim-plan-0 .annotation-text')]"
        ".map(e => e.textContent)"
    )
    assert sorted(notes) == ["SLO p99<300ms", "analytic 6 (Erlang C (M/M/c))", "answer 7"]
    steps = [
        row.find_elements(By.CSS_SELECTOR, "th, td")[1].text
        for row in driver.find_elements(By.CSS_SELECTOR, "#steps tbody tr")
    ]
    assert steps == ["6", "12", "9", "7", "8"]


def test_index_page_links_resolve(driver: Chrome, tmp_path: pathlib.Path) -> None:
    from selenium.webdriver.common.by import By

    runs = tmp_path / "runs"
    summary, timeseries, provisioning, scaling, pulls = _tables()
    run = runs / "hello"
    run.mkdir(parents=True)
    (run / "meta.json").write_text(json.dumps({"seed": 7, "replications": 2}))
    write_report(
        run / "report.html",
        title="hello",
        question=None,
        summary=summary,
        timeseries=timeseries,
        provisioning=provisioning,
    )
    (runs / "cap" / "sweep").mkdir(parents=True)
    info = sweep_info(HOSTILE, [FACTOR], 3)
    (runs / "cap" / "sweep" / "sweep.json").write_text(json.dumps(info))
    table = sweep_table(SCENARIOS, {FACTOR: [1, 2, 3]})
    table.to_csv(runs / "cap" / "sweep" / "sweep.csv", index=False)
    write_sweep_report(runs / "cap" / "sweep", table, info)
    plan = runs / "cap" / "plan-odd name #1"
    plan.mkdir()
    (plan / "plan.json").write_text(json.dumps(plan_info("cap", HOSTILE, 7)))
    plan_table([6, 8, 7]).to_csv(plan / "plan.csv", index=False)
    write_plan_report(plan, plan_table([6, 8, 7]), plan_info("cap", HOSTILE, 7))
    index = write_index(runs)

    _check_page(driver, index, tmp_path, "index", figures=0)
    rows = driver.find_elements(By.CSS_SELECTOR, "table.index tbody tr")
    kinds = sorted(row.find_elements(By.CSS_SELECTOR, "td")[0].text for row in rows)
    assert kinds == ["plan", "run", "sweep"]
    links = driver.execute_script(
        "return [...document.querySelectorAll('table.index a')].map(a => a.href)"
    )
    assert len(links) == 3
    for link in links:
        target = pathlib.Path(urllib.request.url2pathname(urllib.parse.urlparse(link).path))
        assert target.is_file() and target.name == "report.html", link
    # Following each link opens a report that draws its first figure.
    for link in links:
        driver.get(link)
        assert "deploysim" in driver.title, link
        assert driver.execute_script("return document.querySelectorAll('.deploysim-figure').length")
    assert driver.execute_script("return window.__pwned === undefined")


def test_hundred_scenarios_sweep_page_renders(driver: Chrome, tmp_path: pathlib.Path) -> None:
    """100 scenarios × 11 figures (200 traces in each line figure) all render.

    How fast is measured, not asserted: ``benchmarks/bench_report.py`` (README, "Sweep and
    plan reports").
    """
    names = [f"scenario-{k:03d}" for k in range(99)] + [HOSTILE]
    table = sweep_table(names, {"scenarios.web.platform.instances": [2, 4, 6, 8]})
    info = sweep_info("hundred", ["scenarios.web.platform.instances"], 4)
    page = write_sweep_report(tmp_path, table, info)
    _check_page(driver, page, tmp_path, "sweep-100-scenarios", figures=11)
    assert len(_legend(driver, "deploysim-line-0")) == 100


REAL_MMC = """\
name: mmc
seed: 3
horizon: 60s
warmup: 5s
replications: 2
workload:
  arrivals: {kind: constant, rate: 4/s}
  service_time: {kind: exponential, mean: 1s}
slo: {latency_p99: 5s, dropped: 1%}
scenarios:
  - name: pool
    platform: {kind: fixed, instances: 1}
    serving: {workers: 6, queue_limit: 20}
  - name: pair
    platform: {kind: fixed, instances: 2}
    serving: {workers: 3, queue_limit: 10}
"""


def test_reports_the_commands_write_render(driver: Chrome, tmp_path: pathlib.Path) -> None:
    """Not synthetic tables: the pages ``deploysim sweep`` and ``deploysim plan`` write. The
    sweep's zip group (seed with warm-up) is one axis, so workers × it is a two-factor grid."""
    from typer.testing import CliRunner

    from simulator.cli import app

    exp = tmp_path / "mmc.yaml"
    exp.write_text(REAL_MMC)
    out = tmp_path / "runs" / "mmc"
    res = CliRunner().invoke(
        app,
        ["sweep", str(exp), "--grid", "scenarios.*.serving.workers=3,6", "--zip", "seed=1,2",
         "--zip", "warmup=5s,6s", "--workers", "1", "-q", "--out", str(out / "sweep")],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    page = out / "sweep" / "report.html"
    html_text = page.read_text(encoding="utf-8")
    assert "deploysim-heat-0" in html_text
    _check_page(driver, page, tmp_path, "real-sweep", html_text.count('class="deploysim-figure"'))

    res = CliRunner().invoke(
        app,
        ["plan", str(exp), "--scenario", "pair", "--slo", "p90<3s", "--slo", "dropped<5%",
         "--vary", "scenarios.pair.serving.workers=1..8", "--replications", "2",
         "--workers", "1", "-q", "--out", str(out / "plan-pair")],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    # One figure per SLO metric: p90 and the unserved fraction (drawn in %).
    _check_page(driver, out / "plan-pair" / "report.html", tmp_path, "real-plan", figures=2)
