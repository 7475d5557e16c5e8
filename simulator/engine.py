"""One run: a scenario × replication on one SimPy environment, to the horizon.

``run_one`` is a pure function of (experiment, scenario index, replication):
every random number comes from streams spawned from the experiment's root
seed, keyed by (replication, stream) — never by scenario, so scenarios of the
same replication see the same arrivals and demands (common random numbers).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from simulator.balancer import make_balancer
from simulator.config import Experiment
from simulator.faults import fault_summary, start_faults
from simulator.fluid import FluidInstance, FluidRecorder, start_fluid
from simulator.limits import RunGuard
from simulator.periods import monthly_rows
from simulator.platform import Cluster, Platform, ProvisioningSpan, RunContext
from simulator.recorder import Recorder
from simulator.registry import AUTOSCALERS, PLATFORMS
from simulator.serving import Environment, Request
from simulator.workload import arrival_times

__all__ = ["STREAMS", "streams_for", "RunResult", "run_one", "ConservationError"]

# Stable stream indices: adding a stream at the end never changes the others.
STREAMS = (
    "arrivals",
    "service",
    "provisioning",
    "failures",
    "routing",
    "classes",
    "people",
    "autoscaling",
)

_BLOCK = 4096


class ConservationError(AssertionError):
    """arrived != completed + dropped + timed_out + in_flight: a simulator bug."""


def streams_for(seed: int, replication: int) -> dict[str, np.random.Generator]:
    """Independent generators for one replication, spawned from the root seed by key."""
    return {
        name: np.random.Generator(
            np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(replication, i)))
        )
        for i, name in enumerate(STREAMS)
    }


@dataclass
class RunResult:
    """What one run produced: a summary row, time-series columns, provisioning spans."""

    scenario: str
    replication: int
    summary: dict[str, Any]
    timeseries: dict[str, list[Any]]
    spans: list[ProvisioningSpan] = field(default_factory=list)
    events: int = 0
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


class _Source:
    """Generates arrivals (thinned NHPP, in blocks) and routes each to the balancer.

    The hot path of exact mode. The source is the environment's arrival stream
    (``Environment.set_source``): its next arrival waits off the heap, ordered with the
    heap's events by SimPy's own key, so an arrival costs one ``Request`` and no heap
    traffic. Arrival times come in numpy blocks from ``arrival_times``, service demands
    (and classes) in blocks of ``_BLOCK`` from the service stream; ``Recorder.arrive``
    and the block bookkeeping are inlined.
    """

    __slots__ = (
        "env",
        "ctx",
        "t_next",
        "eid_next",
        "_times",
        "_demands",
        "_classes",
        "_ti",
        "_di",
        "_nt",
        "_nd",
        "_blocks",
        "_dist",
        "_class_dists",
        "_rng_service",
        "_rng_classes",
        "_class_p",
        "_eid",
        "recorder",
        "balancer",
        "_pick",
        "_warmup",
        "guard",
        "_refills",
    )

    def __init__(self, ctx: RunContext) -> None:
        if not isinstance(ctx.env, Environment):
            raise TypeError("the arrival source needs simulator.serving.Environment")
        self.env: Environment = ctx.env
        self.ctx = ctx
        wl = ctx.experiment.workload
        self._blocks = arrival_times(wl.arrivals, ctx.streams["arrivals"], ctx.experiment.horizon)
        self._dist = wl.service_time
        self._rng_service = ctx.streams["service"]
        self._rng_classes = ctx.streams["classes"]
        self._class_dists = [c.service_time or wl.service_time for c in wl.classes or []]
        weights = np.array([c.weight for c in wl.classes or []], dtype=float)
        self._class_p = weights / weights.sum() if weights.size else weights
        self.t_next = math.inf
        self.eid_next = 0
        self._times: list[float] = []
        self._demands: list[float] = []
        self._classes: list[int] = []
        self._ti = 0
        self._di = 0
        self._nt = 0
        self._nd = 0
        self._eid = self.env._eid.__next__  # noqa: SLF001
        self.recorder = ctx.recorder
        self.balancer = ctx.cluster.balancer
        self._pick = self.balancer.pick
        # None: the recorder overrides ``arrive``, so call it instead of inlining it.
        stock = type(self.recorder).arrive is Recorder.arrive and "arrive" not in vars(
            self.recorder
        )
        self._warmup: float | None = self.recorder.warmup if stock else None
        self.guard: Callable[[], None] | None = None  # the run's budget check, if any
        self._refills = 0

    def start(self) -> None:
        self._schedule_next()
        self.env.set_source(self)

    def _refill_demands(self) -> None:
        n = _BLOCK
        if self._class_dists:
            cls = self._rng_classes.choice(len(self._class_dists), size=n, p=self._class_p)
            demands = np.empty(n)
            for c, dist in enumerate(self._class_dists):
                sel = cls == c
                k = int(sel.sum())
                if k:
                    demands[sel] = dist.sample(self._rng_service, k)
            self._classes = cls.tolist()
        else:
            demands = self._dist.sample(self._rng_service, n)
        self._demands = demands.tolist()
        self._nd = n
        self._di = 0
        # Completions append to the recorder's buffers unchecked; fold them here, once
        # per block of arrivals, so the buffers stay bounded.
        self.recorder.maybe_flush()
        # Between time-series rows too (a coarse sample_interval), every 16 blocks
        # (65,536 arrivals, ≈ 10 MB of requests at most): the run's event/memory budget.
        self._refills += 1
        if self.guard is not None and not self._refills & 15:
            self.guard()

    def _schedule_next(self) -> None:
        while self._ti >= self._nt:
            block = next(self._blocks, None)
            if block is None:
                self.t_next = math.inf
                return
            self._times = block.tolist()
            self._nt = len(self._times)
            self._ti = 0
        self.t_next = self._times[self._ti]
        self._ti += 1
        # The id a pushed event would have taken now: keeps SimPy's order of ties.
        self.eid_next = self._eid()

    def fire(self) -> None:
        """The arrival at ``t_next`` (the clock reads it): route it, schedule the next."""
        di = self._di
        if di >= self._nd:
            self._refill_demands()
            di = 0
        self._di = di + 1
        now = self.t_next
        req = Request(now, self._demands[di], self._classes[di] if self._classes else 0)
        rec = self.recorder
        if self._warmup is not None:
            # Recorder.arrive, inlined.
            rec.w_arrived += 1
            if now >= self._warmup:
                rec.arrived += 1
        else:
            rec.arrive(req)
        inst = self._pick()
        if inst is None:
            rec.drop(req, True)
        elif not inst.offer(req):
            rec.drop(req, False)
        # _schedule_next, inlined for the common case (the block is not used up).
        ti = self._ti
        if ti < self._nt:
            self._ti = ti + 1
            self.t_next = self._times[ti]
            self.eid_next = self._eid()
        else:
            self._schedule_next()


def _latency_target(ctx: RunContext) -> float | None:
    slo = ctx.experiment.slo
    if slo is None:
        return None
    targets = slo.latency_targets()
    return min(targets.values()) if targets else None


def _kind(config: Any) -> str:
    return str(config.kind)


def run_one(
    experiment: Experiment,
    scenario_index: int,
    replication: int,
    tick: Callable[[float], None] | None = None,
) -> RunResult:
    """Simulate one scenario × replication to the horizon; a pure function of its inputs.

    ``tick(now)`` is called at every time-series row (for progress bars only).
    """
    scenario = experiment.scenarios[scenario_index]
    env = Environment()
    streams = streams_for(experiment.seed, replication)
    n_classes = len(experiment.workload.classes or []) or 1
    fluid = scenario.serving.mode == "fluid"
    recorder = (FluidRecorder if fluid else Recorder)(experiment.warmup, None, n_classes)
    balancer = make_balancer(scenario.balancer, streams["routing"])
    cluster = Cluster(env, recorder, balancer, scenario, experiment.workload.timeout)
    if fluid:
        cluster.instance_class = FluidInstance
    ctx = RunContext(env, experiment, scenario, replication, cluster, recorder, streams)
    recorder.slo_latency = _latency_target(ctx)

    platform: Platform = PLATFORMS.get(_kind(scenario.platform)).build(scenario.platform, ctx)
    ctx.extras["platform"] = platform
    platform.start()
    for controller in scenario.autoscalers():
        AUTOSCALERS.get(_kind(controller)).build(controller, platform, ctx)
    start_faults(ctx, platform)

    sampler = _Sampler(ctx, tick)
    env.process(sampler.run())
    if experiment.warmup > 0:
        env.process(sampler.probe_warmup())
    if fluid:  # requests as per-step rates per pool (simulator/fluid.py)
        start_fluid(ctx)
    else:
        source = _Source(ctx)
        source.guard = lambda: sampler.guard.check(env.now, len(sampler.cols["time_s"]))
        source.start()
    env.run(until=experiment.horizon)
    # Clients still queued past their timeout at the horizon have left: count them
    # before the last time-series row so the table and the summary agree.
    for inst in list(ctx.cluster.instances):
        inst.expire_queue(experiment.horizon)
    sampler.finish()
    return _finish(ctx, sampler)


class _Sampler:
    """Samples the time-weighted levels on the experiment's grid (a SimPy process)."""

    def __init__(self, ctx: RunContext, tick: Callable[[float], None] | None = None) -> None:
        self.ctx = ctx
        self.tick = tick
        self.dt = ctx.experiment.interval
        self.cols: dict[str, list[Any]] = {
            k: []
            for k in (
                "time_s",
                "offered_rate_rps",
                "arrival_rate_rps",
                "ready_instances",
                "provisioning_instances",
                "queue_length",
                "busy_workers",
                "utilisation",
                "cost_rate_usd_per_h",
                "completed",
                "dropped",
                "timed_out",
                "latency_p50_s",
                "latency_p95_s",
                "latency_p99_s",
            )
        }
        self._last = self._snapshot(0.0)
        self.at_warmup: dict[str, float] | None = self._last if ctx.experiment.warmup == 0 else None
        self.at_end: dict[str, float] | None = None
        self.counters_at_warmup: dict[str, Any] = {}
        self.guard = RunGuard(ctx)

    def _snapshot(self, now: float) -> dict[str, float]:
        cluster = self.ctx.cluster
        busy, queued = cluster.areas(now)
        return {
            "t": now,
            "busy": busy,
            "queued": queued,
            "ready": cluster.ready.area_at(now),
            "prov": cluster.provisioning.area_at(now),
            "cost": cluster.cost_rate.area_at(now),
            "capacity": cluster.capacity.area_at(now),
        }

    def run(self) -> Any:
        """Write a row at every multiple of the interval before the horizon."""
        env, horizon = self.ctx.env, self.ctx.experiment.horizon
        k = 1
        while k * self.dt < horizon:
            yield env.timeout(k * self.dt - env.now)
            # Stops a run past its event or memory budget (LimitExceeded: nothing written).
            self.guard.check(env.now, k)
            self._row(env.now)
            if self.tick is not None:
                self.tick(env.now)
            k += 1

    def probe_warmup(self) -> Any:
        """Snapshot the integrals when the warm-up ends (statistics start there)."""
        env = self.ctx.env
        yield env.timeout(self.ctx.experiment.warmup)
        self.at_warmup = self._snapshot(env.now)
        # Event counters and the fleet's peak also start at the warm-up's end.
        self.counters_at_warmup = dict(self.ctx.extras.get("counters", {}))
        ready = self.ctx.cluster.ready
        ready.peak = ready.value

    def finish(self) -> None:
        """The last row, at the horizon, after the final events."""
        self._row(self.ctx.experiment.horizon)
        self.at_end = self._last

    def _row(self, now: float) -> None:
        prev = self._last
        cur = self._snapshot(now)
        span = now - prev["t"]
        arrived, completed, dropped, timed_out, q = self.ctx.recorder.take_window()
        c = self.cols
        c["time_s"].append(now)
        c["offered_rate_rps"].append(
            self.ctx.experiment.workload.arrivals.mean_rate(prev["t"], now)
        )
        c["arrival_rate_rps"].append(arrived / span if span > 0 else math.nan)
        avg = (lambda k: (cur[k] - prev[k]) / span) if span > 0 else (lambda k: math.nan)
        busy = avg("busy")
        cap = avg("capacity")
        c["ready_instances"].append(avg("ready"))
        c["provisioning_instances"].append(avg("prov"))
        c["queue_length"].append(avg("queued"))
        c["busy_workers"].append(busy)
        c["utilisation"].append(busy / cap if cap > 0 else math.nan)
        c["cost_rate_usd_per_h"].append(avg("cost") * 3600.0)
        c["completed"].append(completed)
        c["dropped"].append(dropped)
        c["timed_out"].append(timed_out)
        c["latency_p50_s"].append(q[0])
        c["latency_p95_s"].append(q[1])
        c["latency_p99_s"].append(q[2])
        self._last = cur


def _count_in_flight(ctx: RunContext) -> int:
    """Requests (arrived after warm-up) still queued or in service at the horizon."""
    warmup = ctx.experiment.warmup
    n = getattr(ctx.recorder, "fluid_in_flight", 0)  # fluid mode: the floored remainder
    for inst in ctx.cluster.instances:
        n += sum(1 for r in inst.queue if r.t_arrival >= warmup)
    # Requests in service are their own events on the SimPy heap.
    n += sum(
        1
        for item in ctx.env._queue  # noqa: SLF001
        # A request of a failed instance stays on the heap disarmed (no callbacks): lost.
        if isinstance(item[3], Request) and item[3].callbacks and item[3].t_arrival >= warmup
    )
    return n


def _finish(ctx: RunContext, sampler: _Sampler) -> RunResult:
    exp, rec = ctx.experiment, ctx.recorder
    horizon = exp.horizon
    rec.flush()
    ctx.cluster.spans.close_open(horizon)
    in_flight = _count_in_flight(ctx)
    if rec.arrived != rec.completed + rec.dropped + rec.timed_out_n + in_flight:
        raise ConservationError(
            f"arrived {rec.arrived} != completed {rec.completed} + dropped {rec.dropped}"
            f" + timed_out {rec.timed_out_n} + in_flight {in_flight}"
        )
    w, e = sampler.at_warmup, sampler.at_end
    assert w is not None and e is not None
    measured = horizon - exp.warmup
    p50, p90, p95, p99, p999 = rec.hist.quantiles(list(rec.QUANTILES))
    done = rec.completed
    finished = rec.completed + rec.dropped + rec.timed_out_n
    busy_avg = (e["busy"] - w["busy"]) / measured
    cap_avg = (e["capacity"] - w["capacity"]) / measured
    summary: dict[str, Any] = {
        "scenario": ctx.scenario.name,
        "replication": ctx.replication,
        "seed": exp.seed,
        "arrived": rec.arrived,
        "completed": done,
        "dropped": rec.dropped,
        "dropped_queue_full": rec.dropped_queue_full,
        "dropped_no_instance": rec.dropped_no_instance,
        "dropped_failed": rec.dropped_failed,
        "timed_out": rec.timed_out_n,
        "in_flight": in_flight,
        "wait_mean_s": rec.wait_sum / done if done else math.nan,
        "waited_fraction": rec.waited / done if done else math.nan,
        "latency_mean_s": rec.latency_sum / done if done else math.nan,
        "latency_p50_s": p50,
        "latency_p90_s": p90,
        "latency_p95_s": p95,
        "latency_p99_s": p99,
        "latency_p999_s": p999,
        "latency_max_s": rec.latency_max if done else math.nan,
        "throughput_rps": done / measured,
        "queue_length_mean": (e["queued"] - w["queued"]) / measured,
        "busy_workers_mean": busy_avg,
        "utilisation_mean": busy_avg / cap_avg if cap_avg > 0 else math.nan,
        "instances_mean": (e["ready"] - w["ready"]) / measured,
        "slo_attainment": _attainment(ctx, finished),
        "slo_met": _slo_met(ctx, p50, p95, p99, finished),
        "cost_usd": e["cost"] - w["cost"],
        "cost_per_million_requests_usd": (e["cost"] - w["cost"]) / done * 1e6 if done else math.nan,
        "time_to_first_ready_s": math.nan,
        "time_to_target_capacity_s": math.nan,
    }
    summary["staff_hours"] = _staff_hours(ctx.cluster.spans, exp.warmup)
    summary["max_instances"] = ctx.cluster.ready.peak
    summary["slo_violation_minutes"] = _slo_violation_minutes(ctx, sampler.cols)
    monthly = monthly_rows(exp, sampler.cols)  # horizons beyond a month: monthly.csv
    if monthly:
        ctx.tables["monthly"] = monthly
    summary["scale_events"] = 0
    summary.update(fault_summary(ctx))
    summary.update(ctx.extras.get("metrics", {}))
    before = sampler.counters_at_warmup
    summary.update(
        {
            name: value - before.get(name, 0) if isinstance(value, int | float) else value
            for name, value in ctx.extras.get("counters", {}).items()
        }
    )
    for c, h in enumerate(rec.class_hists):
        name = (exp.workload.classes or [])[c].name
        summary[f"class_{name}_completed"] = h.n
        summary[f"class_{name}_latency_p99_s"] = h.quantiles([0.99])[0]
    return RunResult(
        ctx.scenario.name,
        ctx.replication,
        summary,
        sampler.cols,
        list(ctx.cluster.spans),
        tables=ctx.tables,
    )


def _slo_violation_minutes(ctx: RunContext, cols: dict[str, list[Any]]) -> float:
    """Minutes of sampling windows after the warm-up in which the SLO was broken: the
    window's latency percentile above its target, or its unserved share above ``dropped``."""
    slo = ctx.experiment.slo
    if slo is None:
        return math.nan
    checks = [
        (col, target)
        for col, target in (
            ("latency_p99_s", slo.latency_p99),
            ("latency_p95_s", slo.latency_p95),
            ("latency_p50_s", slo.latency_p50),
        )
        if target is not None
    ]
    warmup = ctx.experiment.warmup
    total = 0.0
    t_prev = 0.0
    for i, t in enumerate(cols["time_s"]):
        start, t_prev = t_prev, t
        if t <= warmup:
            continue
        broken = any(cols[col][i] > target for col, target in checks)  # NaN compares False
        if slo.dropped is not None and not broken:
            finished = cols["completed"][i] + cols["dropped"][i] + cols["timed_out"][i]
            lost = cols["dropped"][i] + cols["timed_out"][i]
            broken = finished > 0 and lost / finished > slo.dropped
        if broken:
            total += t - max(start, warmup)
    return total / 60.0


def _staff_hours(spans: list[ProvisioningSpan], warmup: float = 0.0) -> float:
    """People-hours of hands-on work after the warm-up: span length (the part after
    ``warmup``) × units held of pools named '*staff*'."""
    total = 0.0
    for span in spans:
        if not span.holds or math.isnan(span.end_s) or span.end_s <= warmup:
            continue
        for item in span.holds.split(","):
            name, _, units = item.partition(":")
            if "staff" in name:
                total += (span.end_s - max(span.start_s, warmup)) * int(units)
    return total / 3600.0


def _attainment(ctx: RunContext, finished: int) -> float:
    """Share of finished requests served within the latency target (all served if none)."""
    rec = ctx.recorder
    if finished == 0:
        return math.nan
    if rec.slo_latency is None:
        return rec.completed / finished
    return rec.completed_within_slo / finished


def _slo_met(ctx: RunContext, p50: float, p95: float, p99: float, finished: int) -> bool:
    slo = ctx.experiment.slo
    rec = ctx.recorder
    if slo is None or finished == 0:
        return slo is None
    values = {
        "latency_mean_s": rec.latency_sum / rec.completed if rec.completed else math.inf,
        "latency_p50_s": p50,
        "latency_p95_s": p95,
        "latency_p99_s": p99,
    }
    for column, target in slo.latency_targets().items():
        v = values[column]
        if not (v <= target):
            return False
    if slo.dropped is not None:
        lost = (rec.dropped + rec.timed_out_n) / finished
        if lost > slo.dropped:
            return False
    return True
