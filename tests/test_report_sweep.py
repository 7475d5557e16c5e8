"""Sweep, plan and index pages without a browser: figure builders, rules, escaping, scanning."""

from __future__ import annotations

import json
import math
import os
import pathlib
import re
import urllib.parse

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from report_tables import plan_info, plan_table, run_tables, sweep_info, sweep_table
from typer.testing import CliRunner

from reports import render_report
from reports.index import render_index, scan_runs, write_index
from reports.sweep import (
    best_configurations,
    heatmap_figure,
    line_figure,
    meets_slo,
    pareto_figure,
    pareto_front,
    plan_figure,
    render_plan_report,
    render_sweep_report,
    slo_limits,
    varying_metrics,
    with_derived,
    write_plan_report,
    write_sweep_report,
)

HOSTILE = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'
N = "scenarios.web.platform.instances"
BW = "registry.bandwidth"


def _rows(*rows: dict[str, object]) -> pd.DataFrame:
    """A sweep table from hand-written rows; unspecified metric columns are left out."""
    base = {"status": "ok", "error": "", "replications": 3}
    return pd.DataFrame([{**base, **r} for r in rows])


# -- line plots -----------------------------------------------------------------------------


def test_line_figure_band_is_mean_plus_minus_ci_sorted_by_factor() -> None:
    table = _rows(
        {"point": "b", N: 4, "scenario": "vm", "cost_usd_mean": 4.0, "cost_usd_ci95": 0.5},
        {"point": "a", N: 2, "scenario": "vm", "cost_usd_mean": 2.0, "cost_usd_ci95": 0.25},
        {"point": "a", N: 2, "scenario": "k8s", "cost_usd_mean": 3.0, "cost_usd_ci95": 1.0},
        {"point": "b", N: 4, "scenario": "k8s", "status": "failed", "error": "boom"},
    )
    fig = line_figure(table, [N], "cost_usd")
    assert [t.name for t in fig.data] == ["vm: 95 % CI", "vm", "k8s: 95 % CI", "k8s"]
    band, line = fig.data[0], fig.data[1]
    assert list(line.x) == [2.0, 4.0]  # sorted by the factor, not by row order
    assert list(line.y) == [2.0, 4.0]
    # The polygon runs along the upper edge and back along the lower one.
    assert list(band.x) == [2.0, 4.0, 4.0, 2.0]
    assert list(band.y) == [2.25, 4.5, 3.5, 1.75]
    assert band.fill == "toself" and band.legendgroup == line.legendgroup
    # The failed point is left out: k8s has one point.
    assert list(fig.data[3].x) == [2.0] and list(fig.data[2].y) == [4.0, 2.0]
    assert fig.layout.xaxis.title.text == N


def test_line_figure_latency_in_ms_and_shares_in_percent() -> None:
    table = _rows(
        {"point": "a", N: 1, "scenario": "s", "latency_p99_s_mean": 0.25},
        {"point": "b", N: 2, "scenario": "s", "latency_p99_s_mean": 0.125},
    )
    fig = line_figure(table, [N], "latency_p99_s")
    assert len(fig.data) == 1  # no half-widths, no band
    assert list(fig.data[0].y) == [250.0, 125.0]
    assert fig.layout.yaxis.title.text == "latency p99 (ms)"
    table = _rows(
        {"point": "a", N: 1, "scenario": "s", "slo_attainment_mean": 0.5},
    )
    assert list(line_figure(table, [N], "slo_attainment").data[0].y) == [50.0]


def test_two_factors_give_a_line_per_scenario_and_value_with_escaped_labels() -> None:
    table = sweep_table(["vm", HOSTILE], {N: [2, 4, 6], BW: ["slow", "fast"]})
    fig = line_figure(table, [N, BW], "cost_usd")
    lines = [t for t in fig.data if t.fill is None]
    assert len(lines) == 4 and len(fig.data) == 8
    escaped = HOSTILE.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    assert [t.name for t in lines] == [
        "vm · bandwidth=slow",
        f"{escaped} · bandwidth=slow",
        "vm · bandwidth=fast",
        f"{escaped} · bandwidth=fast",
    ]
    # Colour by scenario, dash by the second factor.
    assert lines[0].line.color == lines[2].line.color != lines[1].line.color
    assert lines[0].line.dash == lines[1].line.dash == "solid"
    assert lines[2].line.dash == "dash"
    assert all("<script>" not in t.name for t in fig.data)


def test_zip_design_draws_one_line_per_scenario() -> None:
    table = sweep_table(["vm", "k8s"], {N: [2, 4, 6], BW: [1, 2, 3]}, design="zip")
    fig = line_figure(table, [N, BW], "cost_usd", design="zip")
    assert [t.name for t in fig.data if t.fill is None] == ["vm", "k8s"]


def test_categorical_factor_keeps_order_of_appearance() -> None:
    table = sweep_table(["vm"], {"type": ["m5.large", "c5.xlarge", "a1"]})
    fig = line_figure(table, ["type"], "cost_usd")
    assert list(fig.layout.xaxis.categoryarray) == ["m5.large", "c5.xlarge", "a1"]


def test_values_written_with_units_sit_at_their_resolved_numbers() -> None:
    # As the sweep writes them: the values as written, and in base units (bytes/s).
    table = sweep_table(["vm"], {BW: ["10Gbps", "1Gbps", "5Gbps"]})
    values = {BW: ["10Gbps", "1Gbps", "5Gbps"]}
    resolved = {BW: [1.25e9, 1.25e8, 6.25e8]}
    fig = line_figure(table, [BW], "cost_usd", values=values, resolved=resolved)
    line = fig.data[1]
    assert list(line.x) == [1.25e8, 6.25e8, 1.25e9]
    assert list(fig.layout.xaxis.tickvals) == [1.25e8, 6.25e8, 1.25e9]
    assert list(fig.layout.xaxis.ticktext) == ["1Gbps", "5Gbps", "10Gbps"]
    # Without the resolved numbers they are categories in the order written.
    fig = line_figure(table, [BW], "cost_usd", values=values)
    assert list(fig.layout.xaxis.categoryarray) == ["10Gbps", "1Gbps", "5Gbps"]
    two = sweep_table(["vm"], {N: [2, 4], BW: ["10Gbps", "1Gbps"]})
    heat = heatmap_figure(
        two, [N, BW], "cost_usd", values={BW: ["10Gbps", "1Gbps"]}, resolved={BW: [1.25e9, 1.25e8]}
    )
    assert list(heat.data[0].y) == ["1Gbps", "10Gbps"] and list(heat.data[0].x) == ["2", "4"]


def test_unserved_share_is_derived_with_a_conservative_band() -> None:
    table = _rows(
        {
            "point": "a",
            "scenario": "s",
            "arrived_mean": 1000.0,
            "dropped_mean": 20.0,
            "timed_out_mean": 10.0,
            "dropped_ci95": 4.0,
            "timed_out_ci95": 2.0,
        }
    )
    out = with_derived(table)
    assert out["unserved_share_mean"].iloc[0] == pytest.approx(0.03)
    assert out["unserved_share_ci95"].iloc[0] == pytest.approx(0.006)


def test_varying_metrics_skips_constant_columns() -> None:
    table = sweep_table(["vm", "k8s"], {N: [2, 4, 8]})
    found = varying_metrics(table, exclude=("cost_usd",))
    assert "in_flight" not in found  # always 0
    assert "arrived" not in found  # always 10,000
    assert "cost_usd" not in found
    assert {"latency_p99_s", "completed", "throughput_rps"} <= set(found)


# -- heatmaps -------------------------------------------------------------------------------


def test_heatmap_places_cells_and_switches_scenarios() -> None:
    table = sweep_table(
        ["vm", HOSTILE], {N: [2, 4], BW: ["slow", "fast"]}, failed={(3, "vm"): "boom"}
    )
    fig = heatmap_figure(table, [N, BW], "cost_usd")
    assert len(fig.data) == 2
    assert [t.visible for t in fig.data] == [True, False]
    vm = fig.data[0]
    assert list(vm.x) == ["2", "4"] and list(vm.y) == ["slow", "fast"]
    z = np.array(vm.z, dtype=float)
    # cost = 0.4 n (1 + 0.25 s): vm is s = 0; point 3 = (4, fast) failed.
    assert z[0].tolist() == [0.8, 1.6]
    assert z[1, 0] == 0.8 and math.isnan(z[1, 1])
    buttons = fig.layout.updatemenus[0].buttons
    assert [b.args[0]["visible"] for b in buttons] == [[True, False], [False, True]]
    assert "<" not in buttons[1].label and "&lt;script&gt;" in buttons[1].label


# -- Pareto front ---------------------------------------------------------------------------


def test_pareto_front_on_a_hand_made_set() -> None:
    cost = [1.0, 2.0, 2.0, 3.0, 1.5, 4.0, math.nan, 4.0, 0.5]
    att = [0.5, 0.9, 0.7, 0.9, 0.4, 0.95, 1.0, 0.95, math.nan]
    # (1, .5) cheapest valid; (2, .9) best at 2; (2, .7) beaten by (2, .9); (3, .9) beaten by
    # (2, .9); (1.5, .4) beaten by (1, .5); the two (4, .95) are equal, both on the front;
    # NaN coordinates are never on it.
    assert pareto_front(cost, att).tolist() == [
        True,
        True,
        False,
        False,
        False,
        True,
        False,
        True,
        False,
    ]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 6), st.integers(0, 6)),
        min_size=1,
        max_size=25,
    )
)
def test_pareto_front_matches_the_definition(points: list[tuple[int, int]]) -> None:
    cost = [float(c) for c, _ in points]
    att = [float(a) for _, a in points]
    expected = [
        not any(
            c2 <= c and a2 >= a and (c2 < c or a2 > a) for c2, a2 in zip(cost, att, strict=True)
        )
        for c, a in zip(cost, att, strict=True)
    ]
    assert pareto_front(cost, att).tolist() == expected


def test_pareto_figure_dims_dominated_points() -> None:
    table = _rows(
        {"point": "a", "scenario": "s", "cost_usd_mean": 1.0, "slo_attainment_mean": 0.5},
        {"point": "b", "scenario": "s", "cost_usd_mean": 2.0, "slo_attainment_mean": 0.9},
        {"point": "c", "scenario": "s", "cost_usd_mean": 3.0, "slo_attainment_mean": 0.8},
    )
    fig = pareto_figure(table, [])
    other, front = fig.data
    assert list(other.x) == [3.0] and other.marker.opacity < 1
    assert list(front.x) == [1.0, 2.0] and list(front.y) == [50.0, 90.0]
    assert front.line.shape == "hv"


# -- SLO and best configuration -------------------------------------------------------------


def test_slo_limits_map_fields_to_mean_columns() -> None:
    assert slo_limits({"latency_p99": 0.3, "dropped": 0.001, "latency_p50": None}) == {
        "latency_p99_s": 0.3,
        "unserved_share": 0.001,
    }
    assert slo_limits(None) == {}


def _best_case() -> pd.DataFrame:
    def row(point: str, scenario: str, p99: float, cost: float, att: float, **kw: object):
        return {
            "point": point,
            N: int(point[1:]),
            "scenario": scenario,
            "latency_p99_s_mean": p99,
            "cost_usd_mean": cost,
            "slo_attainment_mean": att,
            "arrived_mean": 1000.0,
            "dropped_mean": 0.0,
            "timed_out_mean": 0.0,
            **kw,
        }

    return _rows(
        row("p1", "vm", 0.50, 1.0, 0.90),
        row("p2", "vm", 0.28, 2.0, 0.97),  # meets, cost 2
        row("p3", "vm", 0.20, 2.0, 0.99),  # meets, same cost, higher attainment: the best
        row("p4", "vm", 0.10, 1.5, 0.99, dropped_mean=5.0),  # cheaper but drops 0.5 %
        row("p5", "vm", 0.05, 0.5, 1.0, status="failed", error="x"),  # failed: never best
        row("p1", "k8s", 0.45, 1.0, 0.90),  # misses by 50 %
        row("p2", "k8s", 0.36, 3.0, 0.92),  # misses by 20 %: the closest
        row("p3", "k8s", math.nan, 0.1, math.nan),  # nothing completed: fails
        row("p1", "dead", 0.1, 1.0, 1.0, status="failed", error="x"),
    )


def test_best_configuration_is_the_cheapest_point_meeting_the_slo() -> None:
    slo = {"latency_p99": 0.3, "dropped": 0.001}
    table = _best_case()
    assert meets_slo(table, slo).tolist() == [
        False,
        True,
        True,
        False,
        False,
        False,
        False,
        False,
        False,
    ]
    best = best_configurations(table, [N], slo).set_index("scenario")
    assert best.loc["vm", "point"] == "p3" and bool(best.loc["vm", "meets"])
    assert best.loc["vm", N] == 3 and best.loc["vm", "cost_usd"] == 2.0
    assert best.loc["k8s", "point"] == "p2" and not bool(best.loc["k8s", "meets"])
    assert best.loc["k8s", "excess"] == pytest.approx(0.2)
    assert pd.isna(best.loc["dead", "point"])
    # Without an SLO the cheapest ok point wins.
    free = best_configurations(table, [N], None).set_index("scenario")
    assert free.loc["vm", "point"] == "p1" and free.loc["k8s", "point"] == "p3"


def test_sweep_page_says_when_no_point_meets_the_slo() -> None:
    table = _best_case()
    info = sweep_info("exp", [N], 5, slo={"latency_p99": 0.3})
    page = render_sweep_report(table, info)
    assert "no point does; closest (worst limit exceeded by 20 %)" in page


# -- pages: escaping, one plotly.js, failed points ------------------------------------------


def _script_blocks(page: str) -> list[str]:
    return re.findall(r"<script[^>]*>", page)


def test_sweep_page_escapes_every_user_string(tmp_path: pathlib.Path) -> None:
    hostile_factor = f"scenarios.{HOSTILE}.platform.instances"
    table = sweep_table(
        ["vm", HOSTILE],
        {hostile_factor: [2, 4], BW: ["slow", HOSTILE]},
        failed={(1, "vm"): f"ValueError: {HOSTILE}"},
    )
    info = sweep_info(HOSTILE, [hostile_factor, BW], 4)
    info["question"] = HOSTILE
    path = write_sweep_report(tmp_path, table, info)
    assert path == tmp_path / "report.html"
    page = path.read_text(encoding="utf-8")
    assert HOSTILE not in page
    assert "window.__pwned=2</script>" not in page
    assert html_escaped(HOSTILE) in page  # shown as text (title, tables, failed error)
    assert page.count("plotly.js v") == 1  # plotly.js embedded exactly once
    # Only our own scripts: plotly.js, the loader, and one JSON block per figure.
    blocks = _script_blocks(page)
    figures = page.count('class="deploysim-figure"')
    assert len(blocks) == 2 + figures
    assert blocks.count('<script type="application/json" id="deploysim-line-0-data">') == 1
    assert f"ValueError: {html_escaped(HOSTILE)}" in page
    assert "Failed points (1)" in page
    assert not list(tmp_path.glob(".*tmp*"))  # the atomic write left nothing behind


def html_escaped(text: str) -> str:
    import html

    return html.escape(text, quote=True)


def test_sweep_page_has_the_figures_of_the_design() -> None:
    one = sweep_table(["vm", "k8s"], {N: [2, 4, 8]})
    page = render_sweep_report(one, sweep_info("e", [N], 3))
    ids = re.findall(r'id="(deploysim-[a-z0-9-]+)" class="deploysim-figure"', page)
    assert ids[:5] == [f"deploysim-line-{k}" for k in range(4)] + ["deploysim-pareto"]
    assert not any(i.startswith("deploysim-heat") for i in ids)
    assert any(i.startswith("deploysim-more-") for i in ids)  # metrics that vary
    two = sweep_table(["vm", "k8s"], {N: [2, 4], BW: [1, 2]})
    page = render_sweep_report(two, sweep_info("e", [N, BW], 4))
    assert [f"deploysim-heat-{k}" for k in range(4)] == [
        i for i in re.findall(r'id="(deploysim-heat-\d)"', page)
    ]


# -- plan -----------------------------------------------------------------------------------


def test_plan_figure_marks_thresholds_answer_and_analytic() -> None:
    table = plan_table([6, 12, 9, 7, 8])
    info = plan_info("exp", "web", 7)
    fig = plan_figure(table, info, "latency_p99_s")
    line = next(t for t in fig.data if t.name == "latency p99")
    assert list(line.x) == [6.0, 7.0, 8.0, 9.0, 12.0]  # parameter order, not evaluation order
    hline = [s for s in fig.layout.shapes if s.y0 == s.y1]
    vlines = sorted((s.x0, s.line.dash) for s in fig.layout.shapes if s.x0 == s.x1)
    assert [s.y0 for s in hline] == [300.0]  # 0.3 s in ms
    assert vlines == [(6.0, "dot"), (7.0, "solid")]
    texts = [a.text for a in fig.layout.annotations]
    assert "SLO p99&lt;300ms" in texts and "answer 7" in texts
    assert "analytic 6 (Erlang C (M/M/c))" in texts
    misses = next(t for t in fig.data if t.name == "misses an SLO")
    assert list(misses.x) == [6.0]  # p99 = 0.05 + 1.5/6 = 0.3: not below 0.3


def test_plan_figure_draws_the_one_sided_bound_the_verdict_used() -> None:
    table = plan_table([6, 8, 7])
    table["latency_p99_s_bound"] = [0.31, 0.26, 0.29]  # in evaluation order
    fig = plan_figure(table, plan_info("exp", "web", 7), "latency_p99_s")
    bound = next(t for t in fig.data if t.name == "one-sided bound judged (95 %)")
    assert list(bound.x) == [6.0, 7.0, 8.0]
    assert [round(float(y), 6) for y in bound.y] == [310.0, 290.0, 260.0]  # ms, parameter order
    # Without the column (an older plan.csv) there is no such trace.
    fig = plan_figure(plan_table([6, 7]), plan_info("exp", "web", 7), "latency_p99_s")
    assert not any(str(t.name).startswith("one-sided") for t in fig.data)


def test_plan_page_lists_values_in_evaluation_order(tmp_path: pathlib.Path) -> None:
    table = plan_table([6, 12, 9, 7, 8]).sample(frac=1.0, random_state=3)  # rows shuffled
    path = write_plan_report(tmp_path / "report.html", table, plan_info(HOSTILE, HOSTILE, 7))
    page = path.read_text(encoding="utf-8")
    assert HOSTILE not in page and page.count("plotly.js v") == 1
    steps = re.search(r"Evaluated values.*?<tbody>(.*?)</tbody>", page, re.S)
    assert steps is not None
    values = re.findall(r'<th scope="row">(\d+)</th><td>(\d+)</td>', steps.group(1))
    assert values == [("0", "6"), ("1", "12"), ("2", "9"), ("3", "7"), ("4", "8")]
    assert "is 7 (35 runs)" in page
    none = render_plan_report(plan_table([2, 3]), plan_info("e", "web", None))
    assert "in the searched range met every SLO" in none


# -- index ----------------------------------------------------------------------------------


def _fake_runs(root: pathlib.Path) -> None:
    run = root / "hello"
    run.mkdir(parents=True)
    (run / "meta.json").write_text(json.dumps({"seed": 7, "replications": 3}))
    (run / "summary_ci.csv").write_text("scenario,replications\nvm,3\nk8s,3\n")
    (run / "report.html").write_text("<html></html>")
    odd = root / "<b>50% #odd"
    odd.mkdir()
    (odd / "meta.json").write_text("{not json")
    sweep = root / "cap" / "sweep"
    (sweep / "p000").mkdir(parents=True)
    (sweep / "p000" / "meta.json").write_text("{}")  # a point: not listed on its own
    (sweep / "sweep.json").write_text(json.dumps(sweep_info(HOSTILE, [N], 2) | {"seed": 11}))
    sweep_table(["vm", HOSTILE], {N: [2, 4]}).to_csv(sweep / "sweep.csv", index=False)
    (sweep / "report.html").write_text("<html></html>")
    plan = root / "cap" / "plan-web"
    plan.mkdir()
    (plan / "plan.json").write_text(json.dumps(plan_info("cap", "web", 7)))
    plan_table([6, 12, 9]).to_csv(plan / "plan.csv", index=False)
    (root / ".hello.tmp-x").mkdir()  # an unfinished atomic write
    (root / ".hello.tmp-x" / "meta.json").write_text("{}")
    (root / "notes").mkdir()  # not an output
    os.utime(run / "meta.json", (1_000_000_000, 1_000_000_000))
    os.utime(run / "report.html", (1_000_000_000, 1_000_000_000))


def test_index_scans_runs_sweeps_and_plans(tmp_path: pathlib.Path) -> None:
    _fake_runs(tmp_path)
    entries = {(e.kind, e.folder.as_posix()): e for e in scan_runs(tmp_path)}
    assert sorted(entries) == [
        ("plan", "cap/plan-web"),
        ("run", "<b>50% #odd"),
        ("run", "hello"),
        ("sweep", "cap/sweep"),
    ]
    run = entries["run", "hello"]
    assert (run.name, run.seed, run.replications, run.scenarios) == ("hello", "7", "3", "vm, k8s")
    assert run.report == pathlib.Path("hello/report.html")
    assert run.modified == 1_000_000_000
    sweep = entries["sweep", "cap/sweep"]
    assert (sweep.name, sweep.points, sweep.seed, sweep.replications) == (HOSTILE, "2", "11", "3")
    plan = entries["plan", "cap/plan-web"]
    assert (plan.points, plan.scenarios, plan.replications) == ("3", "web", "5 (35 runs)")
    assert plan.report is None
    odd = entries["run", "<b>50% #odd"]
    assert odd.problem.startswith("meta.json unreadable") and odd.report is None
    assert scan_runs(tmp_path)[-1].folder == pathlib.Path("hello")  # oldest last


def test_index_page_links_are_relative_and_escaped(tmp_path: pathlib.Path) -> None:
    _fake_runs(tmp_path)
    path = write_index(tmp_path)
    page = path.read_text(encoding="utf-8")
    assert HOSTILE not in page and "<b>50%" not in page
    hrefs = re.findall(r'href="([^"]+)"', page)
    assert "hello/report.html" in hrefs and "cap/sweep/report.html" in hrefs
    assert "%3Cb%3E50%25%20%23odd/" in hrefs  # percent-encoded folder link
    assert "cap/plan-web/" in hrefs  # no report: the folder
    for href in hrefs:
        if href != "data:,":
            assert (tmp_path / urllib.parse.unquote(href)).exists(), href
    assert "plotly" not in page.lower()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".index")] == []
    assert "1 run" not in page and "2 runs, 1 sweep, 1 plan" in page
    assert render_index(tmp_path / "missing").count("no runs yet") == 1


def test_run_command_updates_the_index(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from simulator.cli import app

    experiment = pathlib.Path(__file__).parents[1] / "experiments" / "hello-world.yaml"
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    args = ["run", str(experiment), "--set", "horizon=30s", "-q", "--workers", "1"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    page = (tmp_path / "runs" / "index.html").read_text(encoding="utf-8")
    assert 'href="hello-world/report.html"' in page

    # A failing index warns and the run still succeeds.
    def broken(runs_dir: pathlib.Path) -> pathlib.Path:
        raise OSError("disk full")

    monkeypatch.setattr("reports.index.write_index", broken)
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "warning: could not update runs/index.html: disk full" in result.output

    # --out elsewhere does not drop an index into a folder that has none.
    result = runner.invoke(app, [*args, "--out", "elsewhere"])
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "index.html").exists()


def test_run_report_draws_at_most_twelve_panels_per_faceted_figure() -> None:
    tables = run_tables(14, replications=1, windows=4)
    page = render_report(title="big", question=None, **tables)
    blocks = dict(
        re.findall(
            r'<script type="application/json" id="(deploysim-[a-z-]+)-data">(.*?)</script>', page
        )
    )
    assert len(blocks) == 11
    for key in ("provisioning", "scaling", "scaling-decisions"):
        figure = json.loads(blocks[f"deploysim-{key}"])
        text = json.dumps(figure["layout"].get("annotations", []))
        assert "scenario-011" in text and "scenario-012" not in text, key
    assert "scenario-013" in blocks["deploysim-latency"]  # the other figures keep all
    assert page.count("Only the first 12 of the 14 scenarios with data are drawn here") == 3
    small = render_report(title="t", question=None, **run_tables(12, replications=1, windows=4))
    assert "Only the first" not in small


def test_a_zip_group_is_one_axis_of_the_heatmap() -> None:
    # Bandwidth × (nodes, max_nodes zipped): four factors, but a two-factor design.
    nodes, cap = "scenarios.*.platform.nodes", "scenarios.*.platform.max_nodes"
    table = sweep_table(["vm", "k8s"], {BW: [1, 2, 4], nodes: [50, 100]})
    table.insert(list(table.columns).index(nodes) + 1, cap, table[nodes])
    info = sweep_info("e", [BW, nodes, cap], 6) | {"zip": [nodes, cap]}
    page = render_sweep_report(table, info)
    assert re.findall(r'id="(deploysim-heat-\d)"', page) == [
        f"deploysim-heat-{k}" for k in range(4)
    ]
    heat = heatmap_figure(table, [BW, nodes], "cost_usd")
    assert list(heat.data[0].x) == ["1", "2", "4"] and list(heat.data[0].y) == ["50", "100"]
    # Without the zip group in sweep.json, three factors: no heatmap (which two?).
    plain = render_sweep_report(table, sweep_info("e", [BW, nodes, cap], 6))
    assert "deploysim-heat-" not in plain
