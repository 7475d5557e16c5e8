"""Replications and confidence: interval coverage on M/M/1, warm-up exclusion, and the
precision stopping rule (first R that meets it; identical to a fixed-R run).

Coverage: 200 independent experiments (root seeds 1000..1199), each R = 5
replications of an M/M/1 queue (λ = 0.5/s, μ = 1/s, 3800 s measured after a 200 s
warm-up; shorter runs make the per-run mean wait skewed enough to pull coverage
towards 90 %). The 95 % Student-t interval of ``summary_ci.csv`` must cover the exact
mean response time 1/(μ − λ) = 2 s, and the exact mean wait ρ/(μ − λ) = 1 s, in
90–99 % of them (binomial(200, 0.95) lies in that range with probability > 0.999).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

import simulator.cli
from simulator.loading import load_experiment
from simulator.results import (
    folder_mode,
    relative_half_widths,
    run,
    run_to_precision,
    write_output,
)

LAM, MU = 0.5, 1.0
MM1: dict[str, Any] = {
    "name": "mm1",
    "seed": 0,
    "horizon": "2000s",
    "warmup": "200s",
    "replications": 5,
    "sample_interval": "1000s",
    "workload": {
        "arrivals": {"kind": "constant", "rate": f"{LAM}/s"},
        "service_time": {"kind": "exponential", "mean": f"{1 / MU}s"},
    },
    "scenarios": [{"name": "q", "platform": {"kind": "fixed", "instances": 1}}],
}


@pytest.mark.slow  # ~10 s alone, more on a busy machine
def test_ci_coverage_on_mm1() -> None:
    exact = {"latency_mean_s": 1.0 / (MU - LAM), "wait_mean_s": (LAM / MU) / (MU - LAM)}
    covered = dict.fromkeys(exact, 0)
    n = 200
    for k in range(n):
        exp = load_experiment(MM1, [f"seed={1000 + k}", "horizon=4000s"])
        ci = run(exp).summary_ci().iloc[0]
        assert ci["replications"] == 5
        for col, value in exact.items():
            if abs(ci[f"{col}_mean"] - value) <= ci[f"{col}_ci95"]:
                covered[col] += 1
    for col, hits in covered.items():
        assert 0.90 * n <= hits <= 0.99 * n, f"{col}: covered {hits}/{n}"


def test_warmup_excludes_counters_and_peaks() -> None:
    # A scheduled fleet: 1 → 6 at 100 s, → 2 at 400 s, → 3 at 800 s. With a 500 s
    # warm-up only the 800 s change counts, and the peak after the warm-up is 3, not 6.
    # The warm-up changes statistics only, never the trajectory (same scaling trace).
    doc = {
        **MM1,
        "horizon": "1200s",
        "replications": 1,
        "sample_interval": "10s",
        "scenarios": [
            {
                "name": "c",
                "platform": {
                    "kind": "cloud",
                    "instance_type": "c5.large",
                    "initial": 1,
                    "baked_image": True,
                },
                "autoscaler": {
                    "kind": "schedule",
                    "actions": [
                        {"at": "100s", "instances": 6},
                        {"at": "400s", "instances": 2},
                        {"at": "800s", "instances": 3},
                    ],
                },
            }
        ],
    }
    whole = run(load_experiment(doc, ["warmup=0s"]))
    after = run(load_experiment(doc, ["warmup=500s"]))
    assert whole.tables["scaling"]["time_s"].tolist() == [100.0, 400.0, 800.0]
    pd.testing.assert_frame_equal(whole.tables["scaling"], after.tables["scaling"])
    assert whole.summary.loc[0, "scale_events"] == 3 and whole.summary.loc[0, "max_instances"] == 6
    assert after.summary.loc[0, "scale_events"] == 1 and after.summary.loc[0, "max_instances"] == 3


def test_staff_hours_after_the_warmup() -> None:
    from simulator.engine import _staff_hours
    from simulator.platform import ProvisioningSpan

    spans = [
        ProvisioningSpan("a", "rack", 0.0, 1000.0, holds="ops_staff:1"),
        ProvisioningSpan("b", "install", 400.0, 3600.0, holds="ops_staff:2,racks:1"),
        ProvisioningSpan("c", "ship", 0.0, 300.0, holds="ops_staff:1"),  # all in the warm-up
        ProvisioningSpan("d", "boot", 600.0, 700.0),  # no staff held
    ]
    # (1000 − 500)·1 + (3600 − 500)·2 = 6700 s; without a warm-up 1000 + 6400 + 300 s.
    assert _staff_hours(spans, 500.0) == pytest.approx(6700 / 3600)
    assert _staff_hours(spans) == pytest.approx(7700 / 3600)


def _precision_doc(relative: str, cap: int) -> dict[str, Any]:
    return {
        **MM1,
        "replications": 1,
        "precision": {"metric": "mean", "relative": relative, "max_replications": cap},
        "scenarios": [
            {"name": "one", "platform": {"kind": "fixed", "instances": 1}},
            {"name": "two", "platform": {"kind": "fixed", "instances": 2}},
        ],
    }


def test_precision_stops_at_the_first_r_and_equals_a_fixed_run() -> None:
    exp = load_experiment(_precision_doc("5%", 40))
    assert exp.precision is not None and exp.precision.metric == "latency_mean_s"
    fixed = run(exp, replications=40).summary
    # The first R (from 3) at which both scenarios' relative half-widths are at most 5 %.
    first = next(
        r
        for r in range(3, 41)
        if all(
            v <= 0.05
            for v in relative_half_widths(
                fixed[fixed["replication"] < r], "latency_mean_s"
            ).values()
        )
    )
    assert 3 < first < 40
    res = run_to_precision(exp, workers=1)
    assert res.precision is not None
    assert res.precision["replications"] == first and res.precision["reached"] is True
    expected = fixed[fixed["replication"] < first].reset_index(drop=True)
    pd.testing.assert_frame_equal(res.summary, expected)
    pd.testing.assert_frame_equal(res.summary, run(exp, replications=first).summary)
    # The recorded precision is the one summary_ci.csv shows.
    ci = res.summary_ci().set_index("scenario")
    for name, achieved in res.precision["achieved"].items():
        rel = ci.loc[name, "latency_mean_s_ci95"] / abs(ci.loc[name, "latency_mean_s_mean"])
        assert achieved == pytest.approx(rel, rel=1e-12)
        assert achieved <= 0.05


def test_precision_is_the_same_whatever_the_batch() -> None:
    exp = load_experiment(_precision_doc("5%", 40))
    one = run_to_precision(exp, workers=1)
    two = run_to_precision(exp, workers=2)
    assert one.precision == two.precision
    pd.testing.assert_frame_equal(one.summary, two.summary)


def test_precision_cap_records_not_reached(tmp_path: Path) -> None:
    exp = load_experiment(_precision_doc("0.1%", 4))
    res = run_to_precision(exp, workers=1)
    assert res.precision is not None
    assert res.precision["reached"] is False and res.precision["replications"] == 4
    assert res.summary["replication"].nunique() == 4
    write_output(res, tmp_path / "out", with_report=False)
    meta = json.loads((tmp_path / "out" / "meta.json").read_text())
    assert meta["replications"] == 4
    assert meta["precision"]["reached"] is False and meta["precision"]["metric"] == "latency_mean_s"
    assert all(v > 0.001 for v in meta["precision"]["achieved"].values())


def _invoke(*args: str) -> Any:
    return CliRunner().invoke(simulator.cli.app, list(args))


def test_cli_precision(tmp_path: Path) -> None:
    path = tmp_path / "mm1.yaml"
    path.write_text(yaml.safe_dump(MM1))
    out = tmp_path / "out"
    res = _invoke(
        "run", str(path), "--precision", "mean:5%", "--max-replications", "40", "--workers", "1",
        "--no-report", "--out", str(out),
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert out.stat().st_mode & 0o777 == folder_mode()  # not mkdtemp's private 0o700
    meta = json.loads((out / "meta.json").read_text())
    reps = meta["precision"]["replications"]
    assert meta["replications"] == reps and meta["precision"]["reached"] is True
    assert f"{reps} replications" in res.output
    summary = pd.read_csv(out / "summary.csv")
    assert summary["replication"].tolist() == list(range(reps))
    fixed = tmp_path / "fixed"
    res = _invoke(
        "run", str(path), "--replications", str(reps), "--workers", "1", "--no-report",
        "--out", str(fixed),
    )  # fmt: skip
    assert res.exit_code == 0
    assert (fixed / "summary.csv").read_bytes() == (out / "summary.csv").read_bytes()
    # The cap reached: a warning, still exit 0, and the outcome recorded.
    res = _invoke(
        "run", str(path), "--precision", "mean:0.01%", "--max-replications", "3", "--workers", "1",
        "--no-report", "--out", str(tmp_path / "capped"),
    )  # fmt: skip
    assert res.exit_code == 0 and "warning:" in res.output and "not reached" in res.output


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--precision", "p99"], "--precision 'p99'"),
        (["--precision", "p99:5 parsecs"], "precision.relative"),
        (["--precision", "nonsense:5%"], "precision.metric"),
        (["--precision", "p99:5%", "--max-replications", "1"], "--max-replications"),
        # A cap without a rule: the flag is named, not a half-built precision block.
        (["--max-replications", "5"], "--max-replications: needs --precision"),
        # A yes/no column has no mean to be precise about (summary_ci.csv leaves it out).
        (["--precision", "slo_met:5%"], "'slo_met' is not a numeric summary column"),
        # Percentiles come from 2 % buckets: a half-width below that could be a false 0.
        (["--precision", "p99:1%"], "recorded in 2 % buckets"),
    ],
)
def test_cli_precision_bad_input(tmp_path: Path, args: list[str], says: str) -> None:
    path = tmp_path / "mm1.yaml"
    path.write_text(yaml.safe_dump(MM1))
    out = tmp_path / "out"
    res = _invoke("run", str(path), "--workers", "1", "--out", str(out), *args)
    assert res.exit_code == 2, res.output
    assert says in res.output and "Traceback" not in res.output
    if "Usage:" not in res.output:  # typer's own usage errors are one line through main()
        assert len(res.output.strip().splitlines()) == 1, res.output
    assert not out.exists()


def test_relative_half_width_edge_cases() -> None:
    frame = pd.DataFrame(
        {"scenario": ["a", "a", "b", "b", "c", "c"], "x": [1.0, 1.0, 0.0, 2.0, 0.0, 0.0]}
    )
    got = relative_half_widths(frame, "x")
    # a: no spread → 0; b: mean 1, sd √2, t(0.975, 1) = 12.706 → 12.706·√2/√2.
    assert got["a"] == 0.0 and got["c"] == 0.0
    assert got["b"] == pytest.approx(12.706, rel=1e-3)
    assert math.isnan(relative_half_widths(frame.iloc[:1], "x")["a"])
