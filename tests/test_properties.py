"""Properties of whole runs on random small workloads (hypothesis).

* conservation: arrived = completed + dropped + timed_out + in_flight;
* percentiles are monotone, latency >= wait >= 0, utilisation in [0, 1];
* no request is served by an instance that is not ready (checked with a test platform
  whose instances become ready, and drain, at random times, driven by the real engine).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import simulator.engine
from simulator.engine import run_one
from simulator.loading import load_experiment
from simulator.platform import Platform, RunContext
from simulator.serving import Instance, Request, State

BALANCER_KINDS = ["round_robin", "least_connections", "random", "power_of_two"]
PERCENTILES = [
    "latency_p50_s",
    "latency_p90_s",
    "latency_p95_s",
    "latency_p99_s",
    "latency_p999_s",
]
EPS = 1e-9

rates = st.floats(min_value=1.0, max_value=200.0, allow_nan=False)


@st.composite
def arrivals(draw: st.DrawFn, horizon: int) -> dict[str, Any]:
    kind = draw(st.sampled_from(["constant", "step", "spike"]))
    if kind == "constant":
        return {"kind": "constant", "rate": f"{draw(rates)}/s"}
    if kind == "step":
        ats = sorted(draw(st.lists(st.floats(0, horizon), min_size=1, max_size=3)))
        return {
            "kind": "step",
            "initial": f"{draw(rates)}/s",
            "steps": [{"at": f"{a}s", "rate": f"{draw(rates)}/s"} for a in ats],
        }
    return {
        "kind": "spike",
        "base": f"{draw(rates)}/s",
        "peak": f"{draw(rates)}/s",
        "start": f"{draw(st.floats(0, horizon))}s",
        "rise": f"{draw(st.floats(0, 5))}s",
        "hold": f"{draw(st.floats(0, 10))}s",
        "fall": f"{draw(st.floats(0, 5))}s",
    }


@st.composite
def service_times(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["exponential", "lognormal", "uniform"]))
    mean_ms = draw(st.floats(1.0, 500.0))
    if kind == "exponential":
        return {"kind": "exponential", "mean": f"{mean_ms}ms"}
    if kind == "lognormal":
        ratio = draw(st.floats(1.05, 6.0))
        return {"kind": "lognormal", "median": f"{mean_ms}ms", "p95": f"{mean_ms * ratio}ms"}
    low = draw(st.floats(0.0, mean_ms))
    return {"kind": "uniform", "low": f"{low}ms", "high": f"{2 * mean_ms - low}ms"}


@st.composite
def experiments(draw: st.DrawFn, max_horizon: int = 60) -> dict[str, Any]:
    horizon = draw(st.integers(5, max_horizon))
    doc: dict[str, Any] = {
        "name": "prop",
        "seed": draw(st.integers(0, 2**32 - 1)),
        "horizon": f"{horizon}s",
        "workload": {"arrivals": draw(arrivals(horizon)), "service_time": draw(service_times())},
        "scenarios": [
            {
                "name": "s",
                "platform": {"kind": "fixed", "instances": draw(st.integers(1, 5))},
                "serving": {
                    "workers": draw(st.integers(1, 4)),
                    "queue_limit": draw(st.none() | st.integers(0, 10)),
                },
                "balancer": {"kind": draw(st.sampled_from(BALANCER_KINDS))},
            }
        ],
    }
    timeout = draw(st.none() | st.floats(0.01, 5.0))
    if timeout is not None:
        doc["workload"]["timeout"] = f"{timeout}s"
    warmup = draw(st.none() | st.floats(0.0, 0.5))
    if warmup is not None:
        doc["warmup"] = f"{warmup * horizon}s"
    if draw(st.booleans()):
        doc["slo"] = {"latency_p99": f"{draw(st.floats(0.01, 2.0))}s"}
    return doc


def check_summary(s: dict[str, Any]) -> None:
    assert s["arrived"] == s["completed"] + s["dropped"] + s["timed_out"] + s["in_flight"], s
    assert s["dropped"] == s["dropped_queue_full"] + s["dropped_no_instance"]
    for k in ("arrived", "completed", "dropped", "timed_out", "in_flight"):
        assert s[k] >= 0, k
    values = [s[c] for c in PERCENTILES if not math.isnan(s[c])]
    assert values == sorted(values), dict(zip(PERCENTILES, values, strict=False))
    if s["completed"] > 0:
        assert len(values) == len(PERCENTILES)
        assert 0.0 <= s["wait_mean_s"] <= s["latency_mean_s"] + EPS
        assert s["latency_mean_s"] <= s["latency_max_s"] + EPS
        assert 0.0 <= s["waited_fraction"] <= 1.0
        # Percentiles are bucket midpoints (2 % buckets): within 1 % of the true values.
        assert values[-1] <= s["latency_max_s"] * 1.0101 + EPS
    else:
        assert not values
        assert math.isnan(s["latency_mean_s"]) and math.isnan(s["wait_mean_s"])
    u = s["utilisation_mean"]
    assert math.isnan(u) or -EPS <= u <= 1.0 + EPS, u
    att = s["slo_attainment"]
    assert math.isnan(att) or 0.0 <= att <= 1.0


def check_timeseries(ts: dict[str, list[Any]], s: dict[str, Any], warmup: float) -> None:
    util = np.asarray(ts["utilisation"], dtype=float)
    util = util[~np.isnan(util)]
    assert ((util >= -EPS) & (util <= 1.0 + EPS)).all(), util.max()
    times = np.asarray(ts["time_s"], dtype=float)
    assert (np.diff(times) > 0).all()
    for col in ("queue_length", "busy_workers", "ready_instances"):
        assert (np.asarray(ts[col]) >= -EPS).all(), col
    if warmup == 0:
        # Without warm-up the windows add up to the summary counters.
        assert sum(ts["completed"]) == s["completed"]
        assert sum(ts["dropped"]) == s["dropped"]
        assert sum(ts["timed_out"]) <= s["timed_out"]
        spans = np.diff(np.concatenate(([0.0], times)))
        arrived = np.nansum(np.asarray(ts["arrival_rate_rps"]) * spans)
        assert arrived == pytest.approx(s["arrived"], abs=1e-6)


@settings(max_examples=25, deadline=None)
@given(doc=experiments())
def test_random_workloads_conserve_and_stay_consistent(doc: dict[str, Any]) -> None:
    exp = load_experiment(doc)
    result = run_one(exp, 0, 0)  # also asserts conservation internally
    s = result.summary
    check_summary(s)
    check_timeseries(result.timeseries, s, exp.warmup)
    sc = exp.scenarios[0]
    assert s["dropped_no_instance"] == 0, "fixed instances are always ready"
    if sc.serving.queue_limit is None:
        assert s["dropped_queue_full"] == 0
    if exp.workload.timeout is None:
        assert s["timed_out"] == 0
    cap = sc.platform.instances * sc.serving.workers
    assert s["busy_workers_mean"] <= cap + EPS
    assert s["instances_mean"] == pytest.approx(sc.platform.instances)


@settings(max_examples=10, deadline=None)
@given(doc=experiments(max_horizon=20))
def test_runs_are_pure_functions_of_their_inputs(doc: dict[str, Any]) -> None:
    exp = load_experiment(doc)
    a, b = run_one(exp, 0, 1), run_one(exp, 0, 1)
    assert a.summary.keys() == b.summary.keys()
    for k, v in a.summary.items():
        w = b.summary[k]
        assert v == w or (isinstance(v, float) and math.isnan(v) and math.isnan(w)), k


# -- readiness: a test platform driven by the real engine -------------------------------


@dataclass
class Plan:
    """When each instance becomes ready (None: never) and starts draining (None: never)."""

    ready_at: list[float | None]
    drain_at: list[float | None]
    workers: list[int] | None = None
    served: list[tuple[int, float, float, float]] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    drained_t: dict[int, float] = field(default_factory=dict)


class StaggeredPlatform(Platform):
    """Instances launched at t = 0, made ready (and drained) at planned times."""

    def __init__(self, config: Any, ctx: RunContext, plan: Plan) -> None:
        super().__init__(config, ctx)
        self.plan = plan

    def start(self) -> None:
        cluster, env = self.ctx.cluster, self.ctx.env
        insts = []
        self._watch_drops()
        for k, (ready_at, drain_at) in enumerate(
            zip(self.plan.ready_at, self.plan.drain_at, strict=True)
        ):
            inst = cluster.launch(
                **({"workers": self.plan.workers[k]} if self.plan.workers else {})
            )
            self._watch(inst)
            insts.append(inst)
            if ready_at is not None:
                env.process(self._lifecycle(inst, ready_at, drain_at))
        env.process(self._probe(insts))

    def _watch_drops(self) -> None:
        """A request is dropped for lack of an instance exactly when none is ready."""
        recorder, cluster, env = self.ctx.recorder, self.ctx.cluster, self.ctx.env
        original = recorder.drop
        plan = self.plan

        def drop(req: Request, no_instance: bool) -> None:
            if no_instance != (len(cluster.balancer) == 0):
                plan.violations.append(
                    f"t={env.now:.3f}: drop(no_instance={no_instance}) with "
                    f"{len(cluster.balancer)} ready instances"
                )
            original(req, no_instance)

        recorder.drop = drop  # type: ignore[method-assign]

    def _watch(self, inst: Instance) -> None:
        """Log every service completion of ``inst`` (instance, arrival, start, end)."""
        original = inst._complete_cb  # noqa: SLF001
        plan, env = self.plan, self.ctx.env

        def complete(req: Request) -> None:
            plan.served.append((inst.id, req.t_arrival, req.t_start, env.now))
            original(req)

        inst._complete_cb = complete  # noqa: SLF001

    def _lifecycle(self, inst: Instance, ready_at: float, drain_at: float | None) -> Any:
        env, cluster = self.ctx.env, self.ctx.cluster
        yield env.timeout(ready_at)
        if inst.served or inst.active:
            self.plan.violations.append(f"{inst.name} had work before ready at {env.now}")
        cluster.mark_ready(inst)
        if drain_at is not None:
            yield env.timeout(drain_at)
            self.plan.drained_t[inst.id] = env.now
            cluster.drain(inst)

    def _probe(self, insts: list[Instance]) -> Any:
        env = self.ctx.env
        while True:
            for inst in insts:
                if inst.state is State.PROVISIONING and (inst.served or inst.active):
                    self.plan.violations.append(
                        f"t={env.now:.3f}: {inst.name} not ready but served={inst.served} "
                        f"active={inst.active}"
                    )
                if inst.state is State.GONE and inst.active:
                    self.plan.violations.append(f"t={env.now:.3f}: {inst.name} gone but active")
            yield env.timeout(0.05)


def run_with_plan(doc: dict[str, Any], plan: Plan) -> Any:
    exp = load_experiment(doc)

    def build(config: Any, ctx: RunContext) -> StaggeredPlatform:
        return StaggeredPlatform(config, ctx, plan)

    fake_registry = SimpleNamespace(get=lambda kind: SimpleNamespace(build=build))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(simulator.engine, "PLATFORMS", fake_registry)
        return exp, run_one(exp, 0, 0)


@st.composite
def plans(draw: st.DrawFn, horizon: float) -> Plan:
    n = draw(st.integers(1, 5))
    ready = draw(st.lists(st.none() | st.floats(0.0, horizon * 1.2), min_size=n, max_size=n))
    drain = draw(st.lists(st.none() | st.floats(0.0, horizon), min_size=n, max_size=n))
    return Plan(ready, drain)


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_no_request_served_by_a_non_ready_instance(data: st.DataObject) -> None:
    doc = data.draw(experiments(max_horizon=30))
    doc.pop("warmup", None)  # count every request
    horizon = float(doc["horizon"].rstrip("s"))
    plan = data.draw(plans(horizon))
    exp, result = run_with_plan(doc, plan)
    s = result.summary
    assert s["arrived"] == s["completed"] + s["dropped"] + s["timed_out"] + s["in_flight"]
    assert not plan.violations, plan.violations[:5]
    ready = {i: t for i, t in enumerate(plan.ready_at) if t is not None and t < horizon}
    for inst_id, t_arrival, t_start, t_end in plan.served:
        assert inst_id in ready, f"instance {inst_id} never became ready but served"
        assert t_arrival >= ready[inst_id] - EPS, (inst_id, t_arrival, ready[inst_id])
        assert t_arrival <= t_start <= t_end
        if inst_id in plan.drained_t:
            assert t_arrival <= plan.drained_t[inst_id] + EPS, "routed to a draining instance"
    assert len(plan.served) == s["completed"]
    if not ready:
        assert s["completed"] == 0
        assert s["dropped_no_instance"] == s["arrived"]
    assert 0.0 <= s["instances_mean"] <= len(plan.ready_at) + EPS


def test_utilisation_at_most_one_when_capacity_changes_between_samples() -> None:
    """Instance A (1 worker) ready at t = 0.2 s, B (4 workers) at t = 1.5 s; samples every
    1 s; the load keeps every worker busy. Utilisation = busy / capacity must stay <= 1,
    in the summary and in every time-series row, whenever capacity changes."""
    doc = {
        "name": "util",
        "horizon": "10s",
        "sample_interval": "1s",
        "workload": {
            "arrivals": {"kind": "constant", "rate": "200/s"},
            "service_time": {"kind": "fixed", "value": "1s"},
        },
        "scenarios": [{"name": "s", "platform": {"kind": "fixed", "instances": 2}}],
    }
    plan = Plan(ready_at=[0.2, 1.5], drain_at=[None, None], workers=[1, 4])
    _, result = run_with_plan(doc, plan)
    assert not plan.violations
    rows = [
        (t, u)
        for t, u in zip(result.timeseries["time_s"], result.timeseries["utilisation"], strict=True)
        if not math.isnan(u) and u > 1.0 + EPS
    ]
    summary_u = result.summary["utilisation_mean"]
    assert not rows and summary_u <= 1.0 + EPS, (
        f"utilisation > 1: rows (end time, value) {rows}; summary {summary_u:.4f}"
    )
