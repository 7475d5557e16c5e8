"""Report pages at scale: file size and load time in headless Chromium.

Builds, from synthetic tables (``tests/report_tables.py``), the pages a user gets at
100 scenarios:

* ``sweep``: a one-factor sweep, 100 scenarios × 8 points, 11 figures (4 key metrics,
  the Pareto front, 6 more metrics that vary), 200 traces in each line figure;
* ``sweep2``: a two-factor sweep, 100 scenarios × 4 × 3 points, 15 figures (the above
  plus 4 heatmaps), 600 traces in each line figure;
* ``run``: the run report (``reports.write_report``) of 100 scenarios × 2 replications,
  11 figures;

then opens each in headless Chromium (Debian ``chromium`` + ``chromedriver``) and reports:

* ``size``: the HTML file (plotly.js itself is ~4.8 MB of it);
* ``DOM ready`` / ``load``: Navigation Timing ``domContentLoadedEventEnd`` /
  ``loadEventEnd`` (ms from the start of navigation);
* ``first screen``: until every figure in the first viewport is drawn (the page is usable;
  with no figure in the first viewport this is when the poll first ran after load);
* ``all drawn``: until *every* figure on the page is drawn — for the lazily drawn sweep
  pages this forces the rest at once (``deploysimDrawAll``), i.e. what drawing everything
  eagerly at load would cost; the run report draws everything at load anyway.

Every measurement is the median of ``--repeat`` fresh page loads. Results go to stdout
and ``benchmarks/results/report.json``.

Usage (from the repository root)::

    python benchmarks/bench_report.py [--scenarios 100] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import sys
import tempfile
import time
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from report_tables import run_tables, sweep_info, sweep_table  # noqa: E402

from reports import write_report  # noqa: E402
from reports.sweep import write_sweep_report  # noqa: E402

# Polls from inside the page: resolves with performance.now() once every figure that
# should be drawn is (all of them, or those intersecting the first viewport).
_WAIT = """
const done = arguments[arguments.length - 1];
const onlyVisible = arguments[0];
function ready() {
  const boxes = [...document.querySelectorAll('div.deploysim-figure, div.js-plotly-plot')];
  const wanted = onlyVisible
    ? boxes.filter(b => b.getBoundingClientRect().top < window.innerHeight)
    : boxes;
  return boxes.length > 0 && wanted.every(b => b.querySelector('.main-svg'));
}
(function poll() {
  if (ready()) { done(performance.now()); } else { setTimeout(poll, 5); }
})();
"""


def _driver() -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--window-size=1280,1000",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def _measure(driver: Any, page: pathlib.Path) -> dict[str, float]:
    driver.set_script_timeout(300)
    driver.get("about:blank")
    driver.get(page.as_uri())
    nav = driver.execute_script(
        "const n = performance.getEntriesByType('navigation')[0];"
        "return [n.domContentLoadedEventEnd, n.loadEventEnd];"
    )
    first = driver.execute_async_script(_WAIT, True)
    t0 = driver.execute_script(
        "window.__t0 = performance.now();"
        "if (window.deploysimDrawAll) { document.querySelectorAll('details')"
        ".forEach(d => d.open = true); window.deploysimDrawAll(); }"
        "return window.__t0;"
    )
    everything = driver.execute_async_script(_WAIT, False)
    figures = driver.execute_script("return document.querySelectorAll('.js-plotly-plot').length")
    lazy = bool(driver.execute_script("return !!window.deploysimDrawAll"))
    return {
        "dom_ready_ms": float(nav[0]),
        "load_ms": float(nav[1]),
        "first_screen_ms": float(first),
        # Lazy page: load, then everything forced at once. Eager page: already drawn at load.
        "all_drawn_ms": float(nav[1] + (everything - t0)) if lazy else float(everything),
        "figures": float(figures),
    }


def _pages(folder: pathlib.Path, scenarios: int) -> dict[str, pathlib.Path]:
    names = [f"scenario-{k:03d}" for k in range(scenarios)]
    n = "scenarios.web.platform.instances"
    one = sweep_table(names, {n: [2, 3, 4, 5, 6, 8, 10, 12]})
    two = sweep_table(names, {n: [2, 4, 6, 8], "registry.bandwidth": ["1Gbps", "5Gbps", "10Gbps"]})
    pages = {
        "sweep": write_sweep_report(folder / "sweep.html", one, sweep_info("big", [n], 8)),
        "sweep2": write_sweep_report(
            folder / "sweep2.html", two, sweep_info("big", [n, "registry.bandwidth"], 12)
        ),
    }
    tables = run_tables(scenarios)
    write_report(
        folder / "run.html",
        title="big",
        question=None,
        summary=tables["summary"],
        timeseries=tables["timeseries"],
        provisioning=tables["provisioning"],
        scaling=tables["scaling"],
        pulls=tables["pulls"],
        meta={"scenarios": str(scenarios)},
    )
    pages["run"] = folder / "run.html"
    return pages


def main() -> None:
    """Build the pages, measure each, print a table and write the JSON results."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenarios", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", choices=("sweep", "sweep2", "run"), action="append")
    args = parser.parse_args()
    results: dict[str, Any] = {"scenarios": args.scenarios, "repeat": args.repeat, "pages": {}}
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        t0 = time.perf_counter()
        pages = _pages(pathlib.Path(tmp), args.scenarios)
        results["build_s"] = round(time.perf_counter() - t0, 2)
        driver = _driver()
        try:
            for name, page in pages.items():
                if args.only and name not in args.only:
                    continue
                runs = [_measure(driver, page) for _ in range(args.repeat)]
                row = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
                row["size_mb"] = page.stat().st_size / 1e6
                results["pages"][name] = row
        finally:
            driver.quit()
    print(f"{args.scenarios} scenarios; pages built in {results['build_s']} s (all three)")
    print(
        f"{'page':8} {'figures':>7} {'size MB':>8} {'DOM ready':>10} {'load':>8} "
        f"{'1st screen':>10} {'all drawn':>10}   (ms, median of {args.repeat})"
    )
    for name, row in results["pages"].items():
        print(
            f"{name:8} {row['figures']:7.0f} {row['size_mb']:8.2f} {row['dom_ready_ms']:10.0f} "
            f"{row['load_ms']:8.0f} {row['first_screen_ms']:10.0f} {row['all_drawn_ms']:10.0f}"
        )
    out = ROOT / "benchmarks" / "results" / "report.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
