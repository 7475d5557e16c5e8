"""``deploysim plan``: SLO grammar, the bracketing/bisection search, the confidence rule,
the M/M/c estimate against exact theory, and the command end to end.

The search is traced with a fake evaluator (exact sequence of values tried). The
end-to-end case sizes an M/M/c pool whose exact minimum c is known from the exact
M/M/c formulas, with the SLO set half-way between the neighbouring servers' values
so that the answer is not on a knife-edge.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import theory
import yaml
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

import simulator.cli
from simulator.loading import load_experiment
from simulator.plan import (
    UNSERVED,
    SLOTarget,
    Vary,
    analytic_estimate,
    judge,
    parse_slo,
    parse_vary,
    plan,
    search,
)
from simulator.queueing import erlang_c, mmc_mean_sojourn, mmc_min_servers, mmc_quantile
from simulator.results import folder_mode
from simulator.stats import one_sided_bound, t_ppf

# M/M/c with λ = 4/s, E[S] = 1 s. Exact: c = 5 → p90 3.35 s, mean 1.55 s;
# c = 6 → p90 2.54 s, mean 1.14 s. SLO p90 < 3 s and mean < 1.3 s: the answer is 6.
MMC: dict[str, Any] = {
    "name": "mmc-plan",
    "seed": 5,
    "horizon": "3000s",
    "warmup": "300s",
    "sample_interval": "300s",
    "workload": {
        "arrivals": {"kind": "constant", "rate": "4/s"},
        "service_time": {"kind": "exponential", "mean": "1s"},
    },
    "scenarios": [
        {"name": "pool", "platform": {"kind": "fixed", "instances": 1}, "serving": {"workers": 1}},
        {"name": "other", "platform": {"kind": "fixed", "instances": 9}},
    ],
}
SLOS = [parse_slo("p90<3s"), parse_slo("mean<1.3s")]


# -- SLO and vary grammar -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "metric", "op", "threshold"),
    [
        ("p99<300ms", "latency_p99_s", "<", 0.3),
        ("p50 < 0.2s", "latency_p50_s", "<", 0.2),
        ("p999<2s", "latency_p999_s", "<", 2.0),
        ("mean<=1.5s", "latency_mean_s", "<", 1.5),
        ("p95<1m", "latency_p95_s", "<", 60.0),
        ("dropped<0.1%", UNSERVED, "<", 0.001),
        ("cost<$40", "cost_usd", "<", 40.0),
        ("attainment>99%", "slo_attainment", ">", 0.99),
        ("throughput_rps>=3.5", "throughput_rps", ">", 3.5),
    ],
)
def test_parse_slo(text: str, metric: str, op: str, threshold: float) -> None:
    slo = parse_slo(text)
    assert (slo.metric, slo.op, slo.text) == (metric, op, text)
    assert slo.threshold == pytest.approx(threshold, rel=1e-12)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("p99", "expected METRIC<VALUE"),
        ("p99<<3s", "duration"),
        ("p99<3parsecs", "unit"),
        ("latency<3s", "unknown metric 'latency'"),
        ("dropped<200%", "between 0% and 100%"),
        ("p99<", "expected METRIC<VALUE"),
        ("cost<3 euros", "money"),
        ("throughput_rps>fast", "could not convert"),
    ],
)
def test_parse_slo_rejects(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=None) as info:
        parse_slo(text)
    assert says in str(info.value) and repr(text) in str(info.value)


def test_parse_vary() -> None:
    assert parse_vary("scenarios.web.platform.initial=1..40") == Vary(
        "scenarios.web.platform.initial", 1.0, 40.0, True
    )
    assert parse_vary("scenarios[0].serving.speed=0.5..2") == Vary(
        "scenarios[0].serving.speed", 0.5, 2.0, False
    )
    for bad in ("x=1-4", "x=4..1", "=1..4", "x", "x=a..b", "x=1..inf"):
        with pytest.raises(ValueError):
            parse_vary(bad)


# -- the search, traced --------------------------------------------------------------------------


def test_integer_search_from_low_end() -> None:
    # Steps 1, 2, 4, 8 up from LO until 16 meets, then bisection of (8, 16].
    answer, tried = search(lambda x: x >= 13, 1, 40, integer=True)
    assert (answer, tried) == (13, [1, 2, 4, 8, 16, 12, 14, 13])


def test_integer_search_from_an_estimate_that_is_right() -> None:
    answer, tried = search(lambda x: x >= 13, 1, 40, integer=True, start=13)
    assert (answer, tried) == (13, [13, 12])


def test_integer_search_from_below_and_above() -> None:
    assert search(lambda x: x >= 13, 1, 40, integer=True, start=10) == (13, [10, 11, 13, 12])
    # From above: steps down 1, 2, 4, 8 until 5 fails, then bisection of (5, 13].
    assert search(lambda x: x >= 13, 1, 40, integer=True, start=20) == (
        13,
        [20, 19, 17, 13, 5, 9, 11, 12],
    )


def test_integer_search_ends_of_the_range() -> None:
    assert search(lambda x: x >= 1, 1, 40, integer=True) == (1, [1])
    assert search(lambda x: x >= 40, 1, 40, integer=True, start=50) == (40, [40, 39])
    assert search(lambda x: False, 1, 10, integer=True) == (None, [1, 2, 4, 8, 10])


def test_real_search_to_tolerance() -> None:
    # Steps of (1 − 0)/8 = 0.125: 0 and 0.125 fail, 0.375 meets; halve (0.125, 0.375]
    # until it is at most 0.01 wide; the answer is its upper end, a value that meets.
    answer, tried = search(lambda x: x >= 0.37, 0.0, 1.0, integer=False, tolerance=0.01)
    assert tried == [0.0, 0.125, 0.375, 0.25, 0.3125, 0.34375, 0.359375, 0.3671875]
    assert answer == 0.375 and 0.37 <= answer <= 0.37 + 0.01


def test_real_search_ends_when_the_bracket_cannot_be_halved() -> None:
    # A tolerance of 0 (or below one float step) used to loop for ever once the bracket's
    # ends were adjacent floats: the midpoint is one of them and is already known.
    for tol in (0.0, 1e-300):
        answer, tried = search(lambda x: x >= 0.37, 0.0, 1.0, integer=False, tolerance=tol)
        assert answer == 0.37  # the bracket closed on the threshold itself
        assert len(tried) == len(set(tried)) < 70


@given(
    lo=st.integers(-50, 50),
    width=st.integers(1, 300),
    at=st.floats(0, 1),
    start=st.one_of(st.none(), st.integers(-400, 400)),
)
def test_integer_search_finds_any_threshold(
    lo: int, width: int, at: float, start: int | None
) -> None:
    hi = lo + width
    threshold = lo + round(at * (width + 1))  # hi + 1: nothing in range meets
    answer, tried = search(lambda x: x >= threshold, lo, hi, integer=True, start=start)
    assert answer == (threshold if threshold <= hi else None)
    assert len(tried) == len(set(tried)) and all(lo <= x <= hi for x in tried)
    # Bracketing doubles, bisection halves: about 2·log2(width) evaluations at most.
    assert len(tried) <= 2 * math.ceil(math.log2(width + 1)) + 2


@given(threshold=st.floats(0.0, 10.0), tol=st.floats(1e-3, 1.0))
def test_real_search_brackets_the_threshold(threshold: float, tol: float) -> None:
    answer, tried = search(lambda x: x >= threshold, 0.0, 10.0, integer=False, tolerance=tol)
    assert answer is not None and threshold <= answer <= threshold + tol
    assert len(tried) == len(set(tried))


# -- the confidence rule -------------------------------------------------------------------------


def test_one_sided_bound_by_hand() -> None:
    # Values 1, 2, 3: mean 2, sd 1, t(0.95, 2) = 2.919986 → upper bound 2 + 2.919986/√3.
    assert t_ppf(0.95, 2) == pytest.approx(2.919986, abs=1e-6)
    assert t_ppf(0.975, 10) == pytest.approx(2.228139, abs=1e-6)
    assert one_sided_bound([1, 2, 3], 0.95, upper=True) == pytest.approx(3.685854, abs=1e-6)
    assert one_sided_bound([1, 2, 3], 0.95, upper=False) == pytest.approx(0.314146, abs=1e-6)
    assert one_sided_bound([1.0], 0.95, upper=True) == math.inf


def test_judge_uses_the_one_sided_bound() -> None:
    summary = pd.DataFrame({"latency_p99_s": [1.0, 2.0, 3.0], "slo_attainment": [0.99] * 3})
    assert judge(summary, [SLOTarget("latency_p99_s", "<", 3.7, "p99<3.7s")], 0.95)
    assert not judge(summary, [SLOTarget("latency_p99_s", "<", 3.6, "p99<3.6s")], 0.95)
    # No spread: the bound is the mean itself.
    assert judge(summary, [SLOTarget("slo_attainment", ">", 0.985, "")], 0.95)
    assert not judge(summary, [SLOTarget("slo_attainment", ">", 0.99, "")], 0.95)
    nan = pd.DataFrame({"latency_p99_s": [1.0, math.nan, 1.0]})
    assert not judge(nan, [SLOTarget("latency_p99_s", "<", 9.0, "")], 0.95)


# -- M/M/c theory --------------------------------------------------------------------------------


def test_queueing_library_agrees_with_the_test_oracle() -> None:
    for c, a in ((1, 0.5), (4, 3.2), (8, 7.2), (30, 25.0)):
        assert erlang_c(c, a) == pytest.approx(theory.erlang_c(c, a), rel=1e-12)
        for q in (0.5, 0.9, 0.99):
            assert mmc_quantile(c, a, 1.0, q) == pytest.approx(
                theory.mmc_sojourn_quantile(c, a / c, q), rel=1e-9
            )
    assert mmc_mean_sojourn(1, 0.5, 1.0) == pytest.approx(2.0)
    assert mmc_quantile(1, 0.5, 1.0, 0.99) == pytest.approx(
        theory.mm1_sojourn_quantile(0.5, 1, 0.99)
    )


def test_min_servers_for_the_test_case() -> None:
    assert mmc_quantile(5, 4.0, 1.0, 0.9) > 3.3 and mmc_quantile(6, 4.0, 1.0, 0.9) < 2.6
    assert mmc_mean_sojourn(5, 4.0, 1.0) > 1.5 and mmc_mean_sojourn(6, 4.0, 1.0) < 1.15
    assert mmc_min_servers(4.0, 1.0, {0.9: 3.0}, 1.3) == 6
    # A target below the service time's own p99 (4.6 s) cannot be met by any c.
    assert mmc_min_servers(4.0, 1.0, {0.99: 4.0}) is None


def test_analytic_estimate_converts_servers_to_the_parameter() -> None:
    exp = load_experiment(MMC)
    value, how = analytic_estimate(exp, "pool", "scenarios.pool.serving.workers", SLOS)
    assert value == 6 and how is not None and "c = 6" in how
    two = load_experiment(MMC, ["scenarios.pool.serving.workers=4"])
    # 6 servers at 4 workers per instance: 2 instances.
    assert analytic_estimate(two, "pool", "scenarios.pool.platform.instances", SLOS)[0] == 2
    assert analytic_estimate(exp, "pool", "workload.arrivals.rate", SLOS) == (None, None)
    drops_only = [parse_slo("dropped<1%")]
    assert analytic_estimate(exp, "pool", "scenarios.pool.serving.workers", drops_only) == (
        None,
        None,
    )


def test_analytic_estimates_of_the_capacity_plan_experiment() -> None:
    # Peak 500/s, lognormal service of mean 40 ms·exp(σ²/2) = 50 ms (σ = ln 3 / 1.645):
    # 25 Erlangs; exact M/M/c p99 is 320 ms at c = 26 and 254 ms at c = 27.
    path = Path(__file__).resolve().parent.parent / "experiments" / "capacity-plan.yaml"
    exp = load_experiment(path)
    slos = [parse_slo("p99<300ms"), parse_slo("dropped<0.1%")]
    assert mmc_quantile(26, 500.0, 20.0, 0.99) > 0.3 > mmc_quantile(27, 500.0, 20.0, 0.99)
    cases = {
        "physical-servers": ("platform.initial", 2),  # 16 workers each: ⌈27/16⌉
        "cloud-instances": ("platform.initial", 7),  # 4 workers each: ⌈27/4⌉
        "containers": ("autoscaler.min", 27),  # 1 worker a pod
    }
    for name, (field, expected) in cases.items():
        value, how = analytic_estimate(exp, name, f"scenarios.{name}.{field}", slos)
        assert value == expected and how is not None and "c = 27" in how, name


# -- plan on M/M/c, library and CLI --------------------------------------------------------------


def _loader(sets: list[str] | None = None) -> Any:
    def load(value: str) -> Any:
        return load_experiment(MMC, [*(sets or []), f"scenarios.pool.serving.workers={value}"])

    return load


def test_plan_finds_the_exact_minimum_servers() -> None:
    vary = parse_vary("scenarios.pool.serving.workers=1..40")
    result = plan(_loader(), "pool", vary, SLOS, replications=5)
    info = result.info
    assert info["answer"] == 6 and info["analytic"] == 6
    # Started at the estimate: 6 meets, 5 does not — two values, ten runs.
    assert result.table["value"].tolist() == [6, 5]
    assert result.table["meets"].tolist() == [True, False]
    assert info["runs"] == 10 and info["confidence"] == 0.95
    assert info["slos"][0] == {
        "metric": "latency_p90_s",
        "op": "<",
        "threshold": 3.0,
        "text": "p90<3s",
    }
    # Only the named scenario ran, with R replications per value.
    assert set(result.table["replications"]) == {5}
    assert {"latency_p90_s_mean", "latency_p90_s_ci95", f"{UNSERVED}_mean"} <= set(
        result.table.columns
    )


def test_plan_without_an_estimate_brackets_from_the_low_end() -> None:
    # Varying the speed (a real parameter) of 6 workers at λ = 4/s: no analytic start.
    def load(value: str) -> Any:
        return load_experiment(
            MMC, ["scenarios.pool.serving.workers=6", f"scenarios.pool.serving.speed={value}"]
        )

    result = plan(
        load,
        "pool",
        parse_vary("scenarios.pool.serving.speed=0.5..2.5"),
        [parse_slo("mean<1.3s")],
        replications=3,
        tolerance=0.1,
    )
    assert result.info["analytic"] is None
    values = result.table["value"].tolist()
    assert values[:3] == [0.5, 0.75, 1.25]  # 0.5 is unstable, steps of 0.25 then 0.5
    meets = dict(zip(values, result.table["meets"], strict=True))
    answer = result.info["answer"]
    assert meets[answer] and all(not ok for v, ok in meets.items() if v < answer)
    assert max(v for v, ok in meets.items() if not ok) >= answer - 0.1
    # Exact M/M/6: the mean response time crosses 1.3 s at speed ≈ 0.93 (1.33 s at 0.92,
    # 1.25 s at 0.95). The bound is conservative, so the answer is at or above the
    # crossing, and within the tolerance of the bracket above it.
    assert mmc_mean_sojourn(6, 4.0, 0.92) > 1.3 > mmc_mean_sojourn(6, 4.0, 0.95)
    assert 0.92 <= answer <= 0.95 + 0.1


def _write(tmp_path: Path, doc: dict[str, Any]) -> Path:
    path = tmp_path / "mmc.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _invoke(*args: str) -> Any:
    return CliRunner().invoke(simulator.cli.app, list(args))


def test_cli_plan_end_to_end(tmp_path: Path) -> None:
    doc = {**MMC, "horizon": "1500s", "warmup": "150s"}
    out = tmp_path / "plan"
    res = _invoke(
        "plan",
        str(_write(tmp_path, doc)),
        "--scenario",
        "pool",
        "--slo",
        "p90<3s",
        "--slo",
        "mean<1.3s",
        "--vary",
        "scenarios.pool.serving.workers=1..20",
        "--replications",
        "4",
        "--workers",
        "1",
        "--out",
        str(out),
    )
    assert res.exit_code == 0, res.output
    assert "smallest value meeting every SLO = 6" in res.output
    assert "analytic M/M/c estimate: 6" in res.output
    assert sorted(p.name for p in out.iterdir()) == ["plan.csv", "plan.json", "report.html"]
    info = json.loads((out / "plan.json").read_text())
    assert {k: info[k] for k in ("experiment", "scenario", "parameter", "answer", "analytic")} == {
        "experiment": "mmc-plan",
        "scenario": "pool",
        "parameter": "scenarios.pool.serving.workers",
        "answer": 6,
        "analytic": 6,
    }
    table = pd.read_csv(out / "plan.csv")
    assert list(table.columns[:4]) == ["step", "value", "replications", "meets"]
    assert table["step"].tolist() == list(range(1, len(table) + 1))
    assert info["runs"] == 4 * len(table)
    # Each value's verdict is its one-sided bounds against the thresholds, recorded as
    # <metric>_bound (upper bounds here: both SLOs are "<"), never below the means.
    p90, mean = table["latency_p90_s_bound"], table["latency_mean_s_bound"]
    assert (p90 >= table["latency_p90_s_mean"]).all()
    assert (mean >= table["latency_mean_s_mean"]).all()
    assert (table["meets"] == ((p90 < 3.0) & (mean < 1.3))).all()
    assert not list(tmp_path.glob(".plan.tmp-*"))
    assert out.stat().st_mode & 0o777 == folder_mode()  # not mkdtemp's private 0o700


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (
            ["--slo", "p99<fast", "--vary", "scenarios.pool.serving.workers=1..9"],
            "--slo 'p99<fast'",
        ),
        (["--slo", "p99<1s", "--vary", "scenarios.pool.serving.workers=9..1"], "--vary"),
        (["--slo", "p99<1s", "--vary", "scenarios.pool.serving.wrkers=1..9"], "wrkers"),
        (["--slo", "p99<1s", "--vary", "scenarios.pool.serving.workers=0..9"], "workers"),
        (["--slo", "p99<1s", "--vary", "scenarios.nope.serving.workers=1..9"], "nope"),
        (
            [
                "--slo",
                "p99<1s",
                "--vary",
                "scenarios.pool.serving.workers=1..9",
                "--confidence",
                "40%",
            ],
            "--confidence",
        ),
        (
            [
                "--slo",
                "p99<1s",
                "--vary",
                "scenarios.pool.serving.speed=0.5..2",
                "--tolerance",
                "0",
            ],
            "--tolerance 0: must be greater than 0",
        ),
    ],
)
def test_cli_plan_bad_input(tmp_path: Path, args: list[str], says: str) -> None:
    out = tmp_path / "plan"
    res = _invoke(
        "plan", str(_write(tmp_path, MMC)), "--scenario", "pool", "--out", str(out), *args
    )
    assert res.exit_code == 2, res.output
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and says in lines[0], res.output
    assert "Traceback" not in res.output and not out.exists()


def test_cli_plan_unknown_scenario(tmp_path: Path) -> None:
    res = _invoke(
        "plan",
        str(_write(tmp_path, MMC)),
        "--scenario",
        "missing",
        "--slo",
        "p99<1s",
        "--vary",
        "scenarios.pool.serving.workers=1..9",
        "--out",
        str(tmp_path / "p"),
    )
    assert res.exit_code == 2 and "--scenario 'missing'" in res.output and "pool" in res.output


def test_cli_plan_is_deterministic_across_workers(tmp_path: Path) -> None:
    doc = {**MMC, "horizon": "1000s", "warmup": "100s"}
    path = _write(tmp_path, doc)
    tables = []
    for workers in ("1", "2"):
        out = tmp_path / f"w{workers}"
        res = _invoke(
            "plan", str(path), "--scenario", "pool", "--slo", "p90<3s",
            "--vary", "scenarios.pool.serving.workers=1..20", "--replications", "3",
            "--workers", workers, "--no-report", "--out", str(out), "-q",
        )  # fmt: skip
        assert res.exit_code == 0, res.output
        tables.append((out / "plan.csv").read_bytes())
    assert tables[0] == tables[1]


@pytest.mark.parametrize(
    ("vary", "says"),
    [
        # The plan runs `pool` alone: a path into another scenario changes nothing it runs.
        (
            "scenarios.other.serving.workers=1..9",
            "scenarios.other.serving.workers does not change scenario 'pool'",
        ),
        # Reals on an integer field: the search would set 3.5 after running 1.0 and 2.0.
        ("scenarios.pool.serving.workers=1.0..9", "takes whole numbers: write LO..HI as 1..9"),
    ],
)
def test_cli_plan_rejects_a_vary_it_cannot_search_before_any_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, vary: str, says: str
) -> None:
    import simulator.plan as plan_mod

    def no_run(*_args: Any, **_kw: Any) -> Any:
        raise AssertionError("a run started")

    monkeypatch.setattr(plan_mod, "run", no_run)
    out = tmp_path / "plan"
    res = _invoke(
        "plan", str(_write(tmp_path, MMC)), "--scenario", "pool", "--slo", "p90<3s",
        "--vary", vary, "--out", str(out),
    )  # fmt: skip
    assert res.exit_code == 2, res.output
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and says in lines[0], res.output
    assert not out.exists()


def test_cli_plan_unknown_slo_column_is_bad_input_but_a_key_error_in_a_run_is_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import simulator.plan as plan_mod

    path = _write(tmp_path, {**MMC, "horizon": "200s", "warmup": "20s"})
    args = ["plan", str(path), "--scenario", "pool", "--vary",
            "scenarios.pool.serving.workers=5..7", "--replications", "2", "--workers", "1",
            "--out", str(tmp_path / "p")]  # fmt: skip
    res = _invoke(*args, "--slo", "latency_p42_s<1")
    assert res.exit_code == 2, res.output
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("--slo: 'latency_p42_s' is not a summary column")
    assert "latency_p99_s" in lines[0]  # the columns it could have named
    assert not (tmp_path / "p").exists()

    def broken(*_args: Any, **_kw: Any) -> Any:
        raise KeyError("a defect inside a run")

    monkeypatch.setattr(plan_mod, "evaluate", broken)
    res = _invoke(*args, "--slo", "p90<3s")
    # Not reported as a bad --slo (exit 2): it is an internal error.
    assert res.exit_code != 2 and isinstance(res.exception, KeyError), res.output
    assert "--slo" not in res.output


def test_varies_scenario() -> None:
    from simulator.plan import varies_scenario

    def at(path: str, value: int) -> Any:
        return load_experiment(MMC, [f"{path}={value}"])

    pool = "scenarios.pool.serving.workers"
    assert varies_scenario(at(pool, 1), at(pool, 2), "pool")
    assert not varies_scenario(at(pool, 1), at(pool, 2), "other")
    other = "scenarios.other.platform.instances"
    assert not varies_scenario(at(other, 1), at(other, 2), "pool")
    # A field outside the scenarios (the workload) changes every scenario's run.
    assert varies_scenario(at("seed", 1), at("seed", 2), "pool")


def test_write_plan_replaces_its_files_but_keeps_other_outputs_inside(tmp_path: Path) -> None:
    from simulator.plan import PlanResult, write_plan

    out = tmp_path / "runs" / "mmc-plan"
    (out / "sweep" / "p1").mkdir(parents=True)
    (out / "sweep" / "sweep.csv").write_text("hours of work\n")
    (out / "plan.csv").write_text("an older plan\n")
    table = pd.DataFrame({"step": [1], "value": [3], "replications": [2], "meets": [True]})
    write_plan(PlanResult({"experiment": "mmc-plan", "answer": 3}, table), out, with_report=False)
    assert (out / "sweep" / "sweep.csv").read_text() == "hours of work\n"
    assert (out / "sweep" / "p1").is_dir()
    assert pd.read_csv(out / "plan.csv")["value"].tolist() == [3]
    assert json.loads((out / "plan.json").read_text())["answer"] == 3
    assert [p.name for p in out.parent.iterdir()] == ["mmc-plan"]  # no temp folder left
