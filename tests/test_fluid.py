"""Fluid serving mode: step traces computed by hand, formulas against exact theory,
the engine end to end, and the diurnal profile's growth and weekly factors."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import theory
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.engine import run_one
from simulator.fluid import (
    FluidRecorder,
    advance_pool,
    erlang_c,
    power_of_two_wait,
    wait_shape,
)
from simulator.loading import InputError, load_experiment
from simulator.periods import MONTH_S
from simulator.recorder import LogHistogram
from simulator.workload import Diurnal

INF = math.inf


# -- one pool, step by step ---------------------------------------------------------------------
# A pool of 2 workers at 1 request/s each (R = 2/s), steps of 1 s.


def test_overload_grows_the_backlog_by_the_excess_each_step() -> None:
    # 5 arrive, 2 are in service, 2 are served: the backlog grows 0 → 3 → 6.
    s1 = advance_pool(2, 2.0, 2.0, 0.0, 5.0, 5.0, 1.0, INF, INF)
    assert (s1.in_service, s1.backlog, s1.completed) == (2.0, 3.0, 2.0)
    assert s1.backlog_delay == pytest.approx(0.5 * (0 + 3) / 2)  # mean backlog / R
    s2 = advance_pool(2, 2.0, s1.in_service, s1.backlog, 5.0, 5.0, 1.0, INF, INF)
    assert (s2.in_service, s2.backlog, s2.completed) == (2.0, 6.0, 2.0)
    assert s2.from_backlog == 2.0 and s2.fresh == 0.0


def test_backlog_drains_at_capacity_then_empties() -> None:
    # No arrivals: 2 in service + 3 waiting; 2 served per step, the workers refill.
    s1 = advance_pool(2, 2.0, 2.0, 3.0, 0.0, 0.0, 1.0, INF, INF)
    assert (s1.in_service, s1.backlog, s1.completed) == (2.0, 1.0, 2.0)
    s2 = advance_pool(2, 2.0, 2.0, 1.0, 0.0, 0.0, 1.0, INF, INF)
    assert (s2.in_service, s2.backlog, s2.completed) == (1.0, 0.0, 2.0)
    assert s2.from_backlog == 1.0 and s2.fresh == 1.0
    s3 = advance_pool(2, 2.0, 1.0, 0.0, 0.0, 0.0, 1.0, INF, INF)
    assert (s3.in_service, s3.backlog, s3.completed) == (0.0, 0.0, 1.0)


def test_queue_limit_overflow_is_dropped_as_queue_full() -> None:
    s = advance_pool(2, 2.0, 2.0, 3.0, 5.0, 5.0, 1.0, 4.0, INF)
    assert (s.backlog, s.dropped_queue_full, s.timed_out, s.completed) == (4.0, 2.0, 0.0, 2.0)


def test_backlog_older_than_the_timeout_leaves() -> None:
    # R·T = 2/s · 1.5 s = 3: more than 3 waiting means the oldest waited longer than T.
    s = advance_pool(2, 2.0, 2.0, 3.0, 5.0, 5.0, 1.0, INF, 3.0)
    assert (s.backlog, s.timed_out, s.dropped_queue_full) == (3.0, 3.0, 0.0)


def test_underload_serves_everything_with_the_offered_load_in_service() -> None:
    s = advance_pool(2, 2.0, 0.5, 0.0, 0.5, 0.5, 1.0, INF, INF)
    assert (s.in_service, s.backlog, s.completed, s.fresh) == (0.5, 0.0, 0.5, 0.5)


@given(
    u=st.floats(0, 50),
    b=st.floats(0, 500),
    a=st.floats(0, 500),
    servers=st.integers(1, 40),
    qcap=st.floats(0, 1000),
    tcap=st.floats(0, 1000),
)
@settings(max_examples=200, deadline=None)
def test_a_step_conserves_fluid(
    u: float, b: float, a: float, servers: int, qcap: float, tcap: float
) -> None:
    s = advance_pool(servers, servers * 1.0, u, b, a, a, 1.0, qcap, tcap)
    out = s.completed + s.dropped_queue_full + s.timed_out + s.in_service + s.backlog
    assert out == pytest.approx(u + b + a, rel=1e-9, abs=1e-9)
    assert s.completed <= servers * 1.0 + u + 1e-9
    assert min(s.completed, s.backlog, s.in_service, s.dropped_queue_full, s.timed_out) >= 0
    assert s.in_service <= servers + 1e-9


# -- formulas against exact theory -------------------------------------------------------------


@pytest.mark.parametrize(("c", "rho"), [(1, 0.5), (2, 0.8), (8, 0.9), (10, 0.95), (50, 0.99)])
def test_erlang_c_matches_theory(c: int, rho: float) -> None:
    assert erlang_c(c, c * rho) == pytest.approx(theory.erlang_c(c, c * rho), rel=1e-12)


@pytest.mark.parametrize("policy", ["round_robin", "random", "least_connections"])
@pytest.mark.parametrize(("c", "rho"), [(1, 0.5), (4, 0.8), (8, 0.9)])
def test_one_instance_with_exponential_service_is_mmc(policy: str, c: int, rho: float) -> None:
    # n = 1, cs² = 1: P(wait) is Erlang C and P(wait) × mean given wait is Wq.
    p, m = wait_shape(policy, c, 1, rho, 1.0, 1.0)
    assert p == pytest.approx(theory.mmc_p_wait(c, rho), rel=1e-12)
    assert p * m == pytest.approx(theory.mmc_wq(c, rho), rel=1e-12)


def test_least_connections_pools_the_workers_and_round_robin_smooths_arrivals() -> None:
    p_jsq, m_jsq = wait_shape("least_connections", 2, 4, 0.8, 1.0, 1.0)
    assert p_jsq == pytest.approx(theory.erlang_c(8, 8 * 0.8), rel=1e-12)
    assert m_jsq == pytest.approx((1 + 0.8 / (4 * 0.2)) / 2)
    p_rr, m_rr = wait_shape("round_robin", 2, 4, 0.8, 1.0, 1.0)
    p_rand, m_rand = wait_shape("random", 2, 4, 0.8, 1.0, 1.0)
    assert p_rr == p_rand == pytest.approx(theory.erlang_c(2, 1.6))
    assert m_rr == pytest.approx(m_rand * (0.25 + 1) / 2)  # Allen–Cunneen, ca² = 1/n


@pytest.mark.parametrize("rho", [0.5, 0.8, 0.95])
def test_power_of_two_with_one_worker_is_mitzenmachers_closed_form(rho: float) -> None:
    # Mean field, d = 2, one worker: s_k = ρ^(2^k − 1); P(wait) = s_1² = ρ² and the mean
    # time in system is Σ_{k≥1} ρ^(2^k − 2) service times (Mitzenmacher 2001, Theorem 3.6).
    sojourn = sum(rho ** (2**k - 2) for k in range(1, 60))
    p, wq = power_of_two_wait(1, rho)
    assert p == pytest.approx(rho**2, rel=1e-12)
    assert wq == pytest.approx(sojourn - 1.0, rel=1e-9)
    p_pool, m_pool = wait_shape("power_of_two", 1, 50, rho, 2.0, 1.0)  # μ = 2/s
    assert p_pool * m_pool == pytest.approx((sojourn - 1.0) / 2.0, rel=1e-9)


def test_power_of_two_without_traffic_has_no_wait() -> None:
    # A step whose arrivals stopped still completes work: ρ = 0 must not divide by zero.
    assert wait_shape("power_of_two", 4, 10, 0.0, 1.0, 1.0) == (0.0, 0.0)
    p, m = wait_shape("power_of_two", 4, 10, 1e-3, 1.0, 1.0)
    assert 0.0 < p < 1e-9 and m > 0.0


def test_power_of_two_over_two_instances_is_least_connections() -> None:
    # Two distinct draws out of two instances compare the whole pool.
    assert wait_shape("power_of_two", 4, 2, 0.8, 1.0, 0.5) == wait_shape(
        "least_connections", 4, 2, 0.8, 1.0, 0.5
    )


P2C = """
name: fluid-p2c
seed: 1
horizon: 200s
warmup: 20s
workload:
  arrivals: {kind: constant, rate: 640/s}
  service_time: {kind: exponential, mean: 50ms}
scenarios:
  - name: p2c
    platform: {kind: fixed, instances: 20}
    serving: {workers: 2, mode: MODE}
    balancer: {kind: power_of_two}
"""


@pytest.mark.slow
def test_fluid_power_of_two_agrees_with_exact_mode(tmp_path: Path) -> None:
    """20 instances × 2 workers at ρ = 0.8: the two draws often both find busy workers
    (P(wait) ≈ 0.46, mean field), far more than join-the-shortest-queue's Erlang C over
    40 workers (≈ 0.12) — the regression this pins: fluid power of two modelled as JSQ
    had a 4× too short wait and a 16 % too short mean latency."""
    fluid = run_one(_experiment(tmp_path, P2C.replace("MODE", "fluid")), 0, 0).summary  # type: ignore[arg-type]
    exact_exp = _experiment(tmp_path, P2C.replace("MODE", "exact"))
    exact = [run_one(exact_exp, 0, r).summary for r in range(2)]  # type: ignore[arg-type]
    for col, tol in (("latency_mean_s", 0.05), ("waited_fraction", 0.1), ("wait_mean_s", 0.2)):
        want = float(np.mean([e[col] for e in exact]))
        assert fluid[col] == pytest.approx(want, rel=tol), col


def test_fluid_percentiles_read_fractional_counts() -> None:
    # Fluid histograms hold fractions of requests: 0.3 in bucket 10, 0.2 in bucket 15.
    # The median (0.25 of 0.5) lies 0.25/0.3 of the way through bucket 10 (log scale);
    # the p90 (0.45) lies (0.45 − 0.3)/0.2 = 0.75 through bucket 15.
    rec = FluidRecorder(0.0, None)
    h = rec.hist
    h.counts[10], h.counts[15] = 0.3, 0.2
    lo, r = LogHistogram.LOW, LogHistogram.RATIO
    p50, p90 = h.quantiles([0.5, 0.9])
    assert p50 == pytest.approx(lo * r ** (9 + 0.25 / 0.3), rel=1e-12)
    assert p90 == pytest.approx(lo * r ** (14 + 0.75), rel=1e-12)
    assert math.isnan(rec.window_hist.quantiles([0.5])[0])


MMC = """
name: fluid-mmc
seed: 1
horizon: 3000s
warmup: 200s
workload:
  arrivals: {kind: constant, rate: RATE}
  service_time: {kind: exponential, mean: 1s}
scenarios:
  - name: m-m-c
    platform: {kind: fixed, instances: 1}
    serving: {workers: C, mode: fluid}
"""


def _experiment(tmp_path: Path, text: str, overrides: list[str] | None = None) -> object:
    path = tmp_path / "exp.yaml"
    path.write_text(text)
    return load_experiment(path, overrides)


@pytest.mark.parametrize(("c", "rho"), [(1, 0.7), (8, 0.9)])
def test_fluid_mmc_matches_erlang_c_wait_and_sojourn_percentiles(
    tmp_path: Path, c: int, rho: float
) -> None:
    exp = _experiment(tmp_path, MMC.replace("RATE", f"{c * rho}/s").replace("C", str(c)))
    s = run_one(exp, 0, 0).summary  # type: ignore[arg-type]
    # Deterministic up to the 65,536 service times that shape the latencies (and the 2 %
    # grids of the histogram and of the mean wait): 3 %.
    assert s["wait_mean_s"] == pytest.approx(theory.mmc_wq(c, rho), rel=0.03)
    assert s["waited_fraction"] == pytest.approx(theory.mmc_p_wait(c, rho), rel=0.01)
    assert s["queue_length_mean"] == pytest.approx(theory.mmc_lq(c, rho), rel=0.03)
    assert s["utilisation_mean"] == pytest.approx(rho, rel=1e-6)
    for q, col in ((0.5, "latency_p50_s"), (0.95, "latency_p95_s"), (0.99, "latency_p99_s")):
        assert s[col] == pytest.approx(theory.mmc_sojourn_quantile(c, rho, q), rel=0.03), col


OVERLOAD = """
name: fluid-overload
seed: 1
horizon: 100s
sample_interval: 10s
workload:
  arrivals: {kind: constant, rate: 10/s}
  service_time: {kind: fixed, value: 1s}
scenarios:
  - name: one-server
    platform: {kind: fixed, instances: 1}
    serving: {workers: 2, queue_limit: 50, mode: fluid}
"""


def test_overload_run_trace(tmp_path: Path) -> None:
    # 10/s offered, capacity 2/s. Each 1 s step: 2 served; the backlog grows by 8
    # (6, 14, ..., 46, 54 → 50 at step 7, 4 dropped) and then every step drops 8.
    exp = _experiment(tmp_path, OVERLOAD)
    r = run_one(exp, 0, 0)  # type: ignore[arg-type]
    s = r.summary
    assert s["arrived"] == 1000
    assert s["completed"] == 200
    assert s["in_flight"] == 52  # 2 in service + 50 waiting
    assert s["dropped_queue_full"] == 748
    assert s["dropped_no_instance"] == 0
    assert s["busy_workers_mean"] == pytest.approx(2.0)
    # The last window: the queue is full; a request waits 50 / (2/s) = 25 s, then 1 s.
    assert r.timeseries["queue_length"][-1] == pytest.approx(50.0)
    assert r.timeseries["dropped"][-1] == 80
    assert r.timeseries["latency_p50_s"][-1] == pytest.approx(26.0, rel=0.03)


def test_no_ready_instance_drops_everything(tmp_path: Path) -> None:
    text = OVERLOAD.replace("{kind: fixed, instances: 1}", "{kind: physical, initial: 0}")
    s = run_one(_experiment(tmp_path, text), 0, 0).summary  # type: ignore[arg-type]
    assert s["arrived"] == s["dropped_no_instance"] == 1000
    assert s["completed"] == 0 and s["in_flight"] == 0


def test_fluid_counts_are_floored_and_in_flight_keeps_conservation(tmp_path: Path) -> None:
    text = MMC.replace("RATE", "0.37/s").replace("C", "2").replace("3000s", "1000.5s")
    s = run_one(_experiment(tmp_path, text), 0, 0).summary  # type: ignore[arg-type]
    assert s["arrived"] == math.floor(0.37 * (1000.5 - 200))
    assert s["arrived"] == s["completed"] + s["dropped"] + s["timed_out"] + s["in_flight"]
    assert 0 <= s["in_flight"] <= 3


def test_same_inputs_give_identical_fluid_results(tmp_path: Path) -> None:
    exp = _experiment(tmp_path, MMC.replace("RATE", "5/s").replace("C", "8"))
    a, b = run_one(exp, 0, 0), run_one(exp, 0, 0)  # type: ignore[arg-type]
    assert a.summary == b.summary or all(
        (x == y) or (isinstance(x, float) and math.isnan(x) and math.isnan(y))
        for x, y in zip(a.summary.values(), b.summary.values(), strict=True)
    )
    assert a.timeseries == b.timeseries


# -- configuration ---------------------------------------------------------------------------


def test_mode_and_step_are_validated(tmp_path: Path) -> None:
    base = MMC.replace("RATE", "5/s").replace("C", "8")
    exp = _experiment(tmp_path, base, ["scenarios[0].serving.step=5s"])
    assert exp.scenarios[0].serving.mode == "fluid"  # type: ignore[attr-defined]
    assert exp.scenarios[0].serving.step == 5.0  # type: ignore[attr-defined]
    with pytest.raises(InputError) as bad:
        _experiment(tmp_path, base, ["scenarios[0].serving.mode=approximate"])
    assert any("serving.mode" in p for p in bad.value.problems)
    with pytest.raises(InputError) as bad_step:
        _experiment(tmp_path, base, ["scenarios[0].serving.step=0s"])
    assert any("serving.step" in p for p in bad_step.value.problems)


def test_fluid_with_request_classes_fails_validation_clearly(tmp_path: Path) -> None:
    text = (
        MMC.replace("RATE", "5/s")
        .replace("C", "8")
        .replace(
            "service_time: {kind: exponential, mean: 1s}",
            "service_time: {kind: exponential, mean: 1s}\n"
            "  classes: [{name: a, weight: 1}, {name: b, weight: 1}]",
        )
    )
    with pytest.raises(InputError) as bad:
        _experiment(tmp_path, text)
    assert any("scenarios[0].serving.mode" in p and "classes" in p for p in bad.value.problems)


def test_a_mixed_experiment_runs_each_scenario_in_its_own_mode(tmp_path: Path) -> None:
    text = MMC.replace("RATE", "5/s").replace("C", "8").replace("3000s", "400s")
    text += (
        "  - name: exact\n    platform: {kind: fixed, instances: 1}\n    serving: {workers: 8}\n"
    )
    exp = _experiment(tmp_path, text)
    fluid, exact = run_one(exp, 0, 0).summary, run_one(exp, 1, 0).summary  # type: ignore[arg-type]
    assert fluid["latency_mean_s"] == pytest.approx(exact["latency_mean_s"], rel=0.1)


# -- the diurnal profile's growth and weekly factors -------------------------------------------

GROWING = Diurnal(
    kind="diurnal",
    min=20.0,
    max=100.0,
    phase=15 * 3600.0,
    weekly=0.3,
    weekly_phase=2.5 * 86400.0,
    growth=5.0,
    growth_over=365 * 86400.0,
)


def test_growth_and_weekly_factors_multiply_the_daily_cycle() -> None:
    day, week = 86400.0, 7 * 86400.0
    ts = np.array([0.0, 2.5 * day, 6.0 * day, 100 * day + 3 * 3600.0, 365 * day])
    weekly = 1 - 0.3 * (1 - np.cos(2 * math.pi * (ts - 2.5 * day) / week)) / 2
    growth = 5.0 ** (ts / (365 * day))
    expect = GROWING.rate_at_plain(ts) * weekly * growth
    assert GROWING.rate_at(ts) == pytest.approx(expect, rel=1e-12)
    assert weekly[1] == 1.0 and weekly[2] == pytest.approx(0.7)  # Wednesday noon vs Sunday
    assert growth[-1] == pytest.approx(5.0)


@given(t0=st.floats(0, 360 * 86400.0), span=st.floats(1.0, 20 * 86400.0))
@settings(max_examples=60, deadline=None)
def test_mean_rate_is_the_exact_integral_and_bound_holds(t0: float, span: float) -> None:
    t1 = t0 + span
    ts = np.linspace(t0, t1, 40001)
    rates = GROWING.rate_at(ts)
    numeric = float(np.trapezoid(rates, ts) / span)
    assert GROWING.mean_rate(t0, t1) == pytest.approx(numeric, rel=1e-5)
    assert GROWING.bound(t0, t1) >= rates.max() * (1 - 1e-12)
    cum = GROWING.cumulative(np.array([t0, t1]))
    assert (cum[1] - cum[0]) / span == pytest.approx(GROWING.mean_rate(t0, t1), rel=1e-7)


def test_a_plain_diurnal_profile_is_unchanged() -> None:
    plain = Diurnal(kind="diurnal", min=2.0, max=20.0, phase=15 * 3600.0)
    w = 2 * math.pi / 86400
    t0, t1 = 1000.0, 50000.0
    expect = 11 + 9 * (math.sin(w * (t1 - 54000)) - math.sin(w * (t0 - 54000))) / w / (t1 - t0)
    assert plain.mean_rate(t0, t1) == expect


def test_growth_without_its_period_is_rejected(tmp_path: Path) -> None:
    profile = "{kind: diurnal, min: 1/s, max: 2/s, growth: 5}"
    text = MMC.replace("{kind: constant, rate: RATE}", profile)
    with pytest.raises(InputError) as bad:
        _experiment(tmp_path, text.replace("C", "8"))
    assert any("growth_over" in p for p in bad.value.problems)


def test_growth_beyond_floating_point_is_rejected_not_crashed(tmp_path: Path) -> None:
    # 5× per second over 3000 s is e^4828: the rate and its integral would overflow.
    profile = "{kind: diurnal, min: 1/s, max: 2/s, growth: 5, growth_over: 1s}"
    text = MMC.replace("{kind: constant, rate: RATE}", profile).replace("C", "8")
    with pytest.raises(InputError) as bad:
        _experiment(tmp_path, text)
    assert any("workload.arrivals.growth: traffic would reach" in p for p in bad.value.problems)
    # e^700 is where it stops: 5× over 10 s for 3000 s is e^483, allowed.
    _experiment(tmp_path, text.replace("growth_over: 1s", "growth_over: 10s"))


# -- monthly roll-up -----------------------------------------------------------------------------


def test_monthly_table_sums_to_the_summary(tmp_path: Path) -> None:
    text = (
        MMC.replace("RATE", "5/s")
        .replace("C", "8")
        .replace("3000s", "70d")
        .replace("warmup: 200s", "sample_interval: 1h")
        .replace("{kind: fixed, instances: 1}", '{kind: fixed, instances: 1, price: "$0.1/h"}')
        .replace("mode: fluid}", "mode: fluid, step: 5m}")
    )
    r = run_one(_experiment(tmp_path, text), 0, 0)  # type: ignore[arg-type]
    months = r.tables["monthly"]
    assert [m["month"] for m in months] == [1, 2, 3]
    assert months[0]["end_s"] == MONTH_S and months[-1]["end_s"] == 70 * 86400
    assert sum(m["cost_usd"] for m in months) == pytest.approx(r.summary["cost_usd"])
    assert months[0]["cost_usd"] == pytest.approx(0.1 * 730)
    assert sum(m["completed"] for m in months) == pytest.approx(r.summary["completed"], abs=2)


SCALE_IN = """
name: fluid-scale-in
seed: 3
horizon: 600s
sample_interval: 10s
workload:
  arrivals: {kind: constant, rate: 40/s}
  service_time: {kind: exponential, mean: 100ms}
scenarios:
  - name: cloud
    platform: {kind: cloud, instance_type: c5.large, initial: 4, baked_image: true}
    serving: {workers: 4, mode: fluid}
    autoscaler: {kind: schedule, actions: [{at: 300s, instances: 2}]}
"""


def test_scale_in_drains_the_leaving_instances_share(tmp_path: Path) -> None:
    # 40/s at 0.1 s on 4 then 2 instances of 4 workers: busy 4 workers throughout, so the
    # two drained instances finish their share within a step and nothing is lost.
    r = run_one(_experiment(tmp_path, SCALE_IN), 0, 0)  # type: ignore[arg-type]
    s = r.summary
    assert s["dropped"] == 0 and s["timed_out"] == 0
    assert s["arrived"] == 24000
    assert s["arrived"] == s["completed"] + s["in_flight"]
    ready = r.timeseries["ready_instances"]
    assert ready[0] == pytest.approx(4.0) and ready[-1] == pytest.approx(2.0)
    busy = r.timeseries["busy_workers"]
    assert busy[5] == pytest.approx(4.0) and busy[-1] == pytest.approx(4.0)
    util = r.timeseries["utilisation"]
    assert util[5] == pytest.approx(0.25) and util[-1] == pytest.approx(0.5)
