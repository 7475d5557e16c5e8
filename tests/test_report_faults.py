"""The report's Faults section: per-scenario table, timeline figure, summary columns, text.

Builders run on small hand-made tables whose expected numbers are computed by hand in the
comments; one test renders the report of ``experiments/failures.yaml`` on a short horizon.
"""

from __future__ import annotations

import html
import math
import re
from pathlib import Path

import pandas as pd
import pytest

from reports import (
    FAULTS_COLUMNS,
    SUMMARY_COLUMNS,
    TIMESERIES_COLUMNS,
    comparison_text,
    fault_summary,
    fault_timeline_figure,
    render_report,
)

REPO = Path(__file__).resolve().parents[1]
HOSTILE = "<script>alert(1)</script>"
HOSTILE_IMG = '"><img src=x onerror=alert(2)>'
NAN = math.nan


def _summary(rows: list[tuple[str, int, float, int]], *, faults: bool = True) -> pd.DataFrame:
    """Summary rows ``(scenario, replication, availability, failed_requests)``; every other
    column a constant. Without ``faults`` the fault-only columns are left out."""
    out = []
    for name, rep, availability, failed in rows:
        row: dict[str, object] = {c: 1.0 for c in SUMMARY_COLUMNS}
        row.update(scenario=name, replication=rep, arrived=1000, completed=900, dropped=100)
        row.update(availability=availability, failed_requests=failed, time_to_recover_s=NAN)
        if faults:
            row.update(faults_injected=1, faults_unrecovered=0)
        out.append(row)
    return pd.DataFrame(out)


def _faults(rows: list[tuple[object, ...]]) -> pd.DataFrame:
    """Rows ``(scenario, replication, kind, target, start, end, detected, recovered, lost)``."""
    return pd.DataFrame(rows, columns=list(FAULTS_COLUMNS))


def _timeseries(series: dict[tuple[str, int], list[float]], step: float = 10.0) -> pd.DataFrame:
    """Ready instances per run, one sample every ``step`` s from ``step``; 50 req/s."""
    rows = []
    for (name, rep), ready in series.items():
        for k, level in enumerate(ready, start=1):
            row: dict[str, object] = {c: 0.0 for c in TIMESERIES_COLUMNS}
            row.update(scenario=name, replication=rep, time_s=k * step)
            row.update(ready_instances=level, arrival_rate_rps=50.0, offered_rate_rps=50.0)
            rows.append(row)
    return pd.DataFrame(rows)


# Scenario a: run 0 one node failure at 10 s (no end), detected 20 s, recovered 40 s, 5 lost;
# run 1 a crash at 10 s recovered at 30 s (3 lost) and a crash at 50 s never recovered (4).
# Scenario b: run 0 no fault; run 1 a registry outage 5-25 s, recovered 35 s, 10 lost.
FAULTS = _faults(
    [
        ("a", 0, "node_failure", "host0", 10.0, NAN, 20.0, 40.0, 5),
        ("a", 1, "instance_crash", "i1", 10.0, NAN, NAN, 30.0, 3),
        ("a", 1, "instance_crash", "i2", 50.0, NAN, 60.0, NAN, 4),
        ("b", 1, "registry_outage", "registry", 5.0, 25.0, NAN, 35.0, 10),
    ]
)
SUMMARY = _summary([("a", 0, 0.9, 5), ("b", 0, 1.0, 0), ("a", 1, 0.8, 7), ("b", 1, 0.95, 10)])


def test_fault_summary_matches_hand_computed_means() -> None:
    table = fault_summary(FAULTS, SUMMARY).set_index("scenario")
    assert list(table.index) == ["a", "b"]
    a, b = table.loc["a"], table.loc["b"]
    # a: 3 faults in 2 runs; 5 + 3 + 4 = 12 lost; recovered after 30 s and 20 s; 1 never.
    assert (a["runs"], a["faults_injected"], a["lost_requests"]) == (2, 1.5, 6.0)
    assert (a["recover_mean_s"], a["recover_max_s"], a["unrecovered"]) == (25.0, 30.0, 0.5)
    assert a["availability"] == pytest.approx(0.85)
    # b: run 0 had no fault, yet it is one of the 2 runs the means are over.
    assert (b["runs"], b["faults_injected"], b["lost_requests"]) == (2, 0.5, 5.0)
    assert (b["recover_mean_s"], b["recover_max_s"], b["unrecovered"]) == (30.0, 30.0, 0.0)
    assert b["availability"] == pytest.approx(0.975)


def test_fault_summary_without_summary_counts_runs_with_faults() -> None:
    table = fault_summary(FAULTS).set_index("scenario")
    assert table.loc["b", "runs"] == 1 and table.loc["b", "faults_injected"] == 1.0
    assert math.isnan(table.loc["a", "availability"])


def test_fault_summary_of_a_scenario_that_never_recovered() -> None:
    one = _faults([("c", 0, "node_failure", "n0", 10.0, NAN, 40.0, NAN, 2)])
    row = fault_summary(one).iloc[0]
    assert math.isnan(row["recover_mean_s"]) and math.isnan(row["recover_max_s"])
    assert row["unrecovered"] == 1.0


def test_timeline_draws_windows_and_marks_at_their_times() -> None:
    # a run 0 is ready 2, 2, 1, 1, 2 at 10..50 s; b run 1 is ready 3, 3, 3, 4 at 10..40 s.
    ts = _timeseries({("a", 0): [2, 2, 1, 1, 2], ("b", 1): [3, 3, 3, 4]})
    fig = fault_timeline_figure(FAULTS, ts, ["a", "b"])
    titles = [a.text for a in fig.layout.annotations]
    assert titles == ["a · replication 0", "b · replication 1"]
    shapes = [(s.type, s.xref, s.x0, s.x1) for s in fig.layout.shapes]
    # a's node failure has no end: a line at 10 s in the first facet; b's outage a band.
    assert shapes == [("line", "x", 10.0, 10.0), ("rect", "x2", 5.0, 25.0)]
    marks: dict[str, list[tuple[float, float, str]]] = {}
    for trace in fig.data:
        if trace.mode == "markers":
            for x, y in zip(trace.x, trace.y, strict=True):
                marks.setdefault(trace.name, []).append((float(x), float(y), trace.xaxis))
    # Marks sit on the ready line: the level of the last sample at or before their time.
    assert marks == {
        "node_failure starts": [(10.0, 2.0, "x")],
        "registry_outage starts": [(5.0, 3.0, "x2")],
        "detected": [(20.0, 2.0, "x")],
        "recovered": [(40.0, 1.0, "x"), (35.0, 3.0, "x2")],
    }
    # Replication 1 of a (two crashes) is not drawn.
    assert all("instance_crash" not in str(t.name) for t in fig.data)
    assert fig.layout.xaxis.title.text == "simulated time (s)"


def test_timeline_hover_names_target_and_losses() -> None:
    fig = fault_timeline_figure(FAULTS, None, ["a", "b"])
    (start,) = [t for t in fig.data if t.name == "node_failure starts"]
    assert start.text == (
        "node_failure · host0<br>from 10 s<br>detected: 20 s, recovered: 40 s<br>lost requests: 5",
    )


def _page(faults: pd.DataFrame | None, summary: pd.DataFrame = SUMMARY) -> str:
    ts = _timeseries({("a", 0): [2, 2], ("b", 0): [3, 3], ("a", 1): [2, 2], ("b", 1): [3, 3]})
    return render_report(title="t", question=None, summary=summary, timeseries=ts, faults=faults)


def _section(page: str, heading: str) -> str:
    match = re.search(rf"<section><h2>{heading}</h2>(.*?)</section>", page, re.S)
    assert match, heading
    return match.group(1)


def test_report_has_faults_section_with_the_table() -> None:
    page = _page(FAULTS)
    body = _section(page, "Faults")
    rows = re.findall(r"<tr><th scope=\"row\">(.*?)</th>(.*?)</tr>", body)
    cells = {name: re.findall(r"<td>(.*?)</td>", rest) for name, rest in rows}
    assert cells == {
        "a": ["2", "1.5", "6", "85.00 %", "25 s", "30 s", "0.5"],
        "b": ["2", "0.5", "5", "97.50 %", "30 s", "30 s", "0"],
    }
    assert 'id="deploysim-faults"' in body
    # The summary table gains failed requests and availability.
    summary = _section(page, "Summary")
    assert ">failed</th>" in summary and ">availability</th>" in summary
    # a: failed (5 + 7) / 2 = 6, availability 85.00 %.
    assert re.search(r'<th scope="row">a</th>.*?<td>6</td><td>85.00 %</td>', summary)


@pytest.mark.parametrize("faults", [None, _faults([])], ids=["absent", "empty"])
def test_no_faults_no_section(faults: pd.DataFrame | None) -> None:
    page = _page(faults, _summary([("a", 0, 1.0, 0), ("b", 0, 1.0, 0)], faults=False))
    assert "<h2>Faults</h2>" not in page and "deploysim-faults" not in page
    assert ">availability</th>" not in _section(page, "Summary")


def test_empty_faults_table_without_columns_is_no_section() -> None:
    page = _page(pd.DataFrame(), _summary([("a", 0, 1.0, 0)], faults=False))
    assert "<h2>Faults</h2>" not in page


def test_hostile_names_are_escaped() -> None:
    faults = _faults(
        [
            (HOSTILE, 0, "node_failure", HOSTILE_IMG, 10.0, NAN, 20.0, 40.0, 5),
            ("b", 0, HOSTILE, HOSTILE, 5.0, 25.0, NAN, 35.0, 1),
        ]
    )
    summary = _summary([(HOSTILE, 0, 0.9, 5), ("b", 0, 1.0, 1)])
    ts = _timeseries({(HOSTILE, 0): [2, 2], ("b", 0): [3, 3]})
    page = render_report(title="t", question=None, summary=summary, timeseries=ts, faults=faults)
    assert HOSTILE not in page and HOSTILE_IMG not in page
    assert "<img" not in page.lower()
    body = _section(page, "Faults")
    assert f'<th scope="row">{html.escape(HOSTILE)}</th>' in body


def test_narrative_names_fewest_losses_and_fastest_recovery() -> None:
    summary = _summary([("a", 0, 0.9, 10), ("b", 0, 0.95, 4), ("c", 0, 0.99, 2)])
    summary["faults_injected"] = [1, 1, 1]
    summary["time_to_recover_s"] = [30.0, 90.0, 20.0]
    # c lost fewest but left a fault unrecovered: it does not compete on recovery time.
    summary["faults_unrecovered"] = [0, 0, 1]
    text = comparison_text(summary)
    assert (
        "Injected faults cost c the fewest requests (2 per run; a the most, 10); "
        "a recovered fastest (30 s on average); "
        "c had faults not recovered by the end of a run." in text
    )


def test_narrative_is_silent_without_faults() -> None:
    assert "fault" not in comparison_text(_summary([("a", 0, 1.0, 0)], faults=False)).lower()


def test_failures_experiment_report_has_the_section(tmp_path: Path) -> None:
    from simulator.loading import load_experiment
    from simulator.results import run, write_output

    # Faults and surge moved into a 150 s run: registry down 20-80 s, a host dies at 60 s.
    exp = load_experiment(
        REPO / "experiments" / "failures.yaml",
        [
            "horizon=150s",
            "warmup=0s",
            "replications=1",
            "faults.events.0.at=60s",
            "faults.events.1.at=20s",
            "faults.events.1.duration=60s",
            "workload.arrivals.start=10s",
            "workload.arrivals.rise=10s",
            "workload.arrivals.hold=60s",
            "workload.arrivals.fall=10s",
        ],
    )
    results = run(exp, replications=1, workers=1)
    out = write_output(results, tmp_path / "failures")
    page = (out / "report.html").read_text(encoding="utf-8")
    body = _section(page, "Faults")
    names = re.findall(r'<tr><th scope="row">(.*?)</th>', body)
    assert names == [s.name for s in exp.scenarios]
    assert 'id="deploysim-faults"' in body
    assert ">availability</th>" in _section(page, "Summary")
