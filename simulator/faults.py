"""Fault injection: kinds registered by YAML ``kind``, their timing, health checks, the log.

A ``faults:`` block (on the experiment, on a scenario, or both — the events
add up) lists events, each with a ``kind`` registered in ``FAULTS`` and a
time: fixed (``at``) or random (``rate``, a Poisson process on the
``failures`` stream, up to ``until``). A kind's builder
``start(config, ctx, platform)`` schedules SimPy processes; this module's
``schedule`` does the timing and target choice for it, and ``fault_log``
keeps the rows of ``faults.csv`` and the summary columns.

Instance faults go through narrow hooks on the platform (``Platform.crash``,
``Platform.failure_domains``, ``Platform.fail_host``) so each architecture restarts in
its own way. The balancer does not learn of a crash at once: the dead
instance stays in its rotation as a *ghost* until the health check has seen
``threshold`` consecutive probes fail, and every request routed to the ghost
meanwhile is lost (``dropped_failed``, counted in ``failed_requests``).

Adding a kind (e.g. in ``models/``)::

    class RegistryOutage(FaultConfig):          # at/rate/start/until/duration/target/count
        kind: Literal["registry_outage"]

    @FAULTS.register("registry_outage", RegistryOutage, "summary", "source")
    def start_registry_outage(config, ctx, platform) -> None:
        def fire():                             # called at each occurrence time
            rec = fault_log(ctx).open("registry_outage", "registry")
            rec.end_s = ctx.env.now + config.duration
            ...                                 # break something; set rec.recovered_s later
        schedule(config, ctx, fire)             # fire may return a generator: run as a process

``fault_log(ctx).count_failed(req)`` counts a request lost to a fault.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
import simpy
from pydantic import BeforeValidator, Field, PlainSerializer, WithJsonSchema, model_validator

from simulator.base import Config
from simulator.registry import Registry, cite
from simulator.serving import Instance, Request, State
from simulator.units import Duration, parse_duration, parse_rate

if TYPE_CHECKING:
    from simulator.platform import Platform, RunContext

__all__ = [
    "FAULTS",
    "FaultRate",
    "HealthCheck",
    "FaultConfig",
    "FaultRecord",
    "FaultLog",
    "fault_log",
    "fault_times",
    "schedule",
    "crash_instances",
    "start_faults",
    "fault_summary",
    "InstanceCrash",
    "NodeFailure",
    "ZoneOutage",
]

FAULTS: Registry[Callable[..., Any]] = Registry("fault")

_SRC_PROBE = "Kubernetes Probe defaults (periodSeconds, failureThreshold, timeoutSeconds)"
PROBE_INTERVAL_S = cite("faults", "health check interval", 10.0, "10 s", _SRC_PROBE)
PROBE_THRESHOLD = cite("faults", "health check failure threshold", 3, "3", _SRC_PROBE)
PROBE_TIMEOUT_S = cite("faults", "health check timeout", 1.0, "1 s", _SRC_PROBE)
ZONES = cite(
    "faults",
    "zones",
    3,
    "3",
    "AWS: a region has at least three Availability Zones (Regions and Zones docs)",
)

_PER_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*/\s*([0-9].*)$")


def parse_fault_rate(text: Any) -> float:
    """A fault rate in 1/s: ``"1/6h"`` (one per six hours), or any rate (``"4/d"``)."""
    if isinstance(text, str):
        m = _PER_DURATION.match(text)
        if m:
            per = parse_duration(m.group(2))
            if per <= 0:
                raise ValueError(f"expected a positive period after '/', got {text!r}")
            return float(m.group(1)) / per
    return parse_rate(text)


FaultRate = Annotated[
    float,
    BeforeValidator(parse_fault_rate),
    WithJsonSchema(
        {
            "anyOf": [{"type": "string"}, {"type": "number", "minimum": 0}],
            "description": "fault rate (per second)",
            "examples": ["1/6h", "4/d", "0.5/h"],
        }
    ),
    PlainSerializer(float, return_type=float),
]


class HealthCheck(Config):
    """How the balancer learns an instance is dead: probes every ``interval``; after
    ``threshold`` consecutive failures (each known ``timeout`` after it was sent) the
    instance leaves the rotation. Defaults: a Kubernetes readiness probe."""

    interval: Duration = Field(default=PROBE_INTERVAL_S, gt=0, description="between probes")
    threshold: int = Field(
        default=PROBE_THRESHOLD, ge=1, description="consecutive failed probes to mark unhealthy"
    )
    timeout: Duration = Field(default=PROBE_TIMEOUT_S, description="a probe fails after this")

    def detection_time(self, phase: float, t_fail: float) -> float:
        """When an instance probed at ``phase + k·interval`` that died at ``t_fail`` is
        marked unhealthy: the first probe strictly after the failure, ``threshold - 1``
        intervals more, plus the timeout of the last probe."""
        k = math.floor((t_fail - phase) / self.interval + 1e-9) + 1
        first = phase + k * self.interval
        return first + (self.threshold - 1) * self.interval + self.timeout


class FaultConfig(Config):
    """When a fault happens and what it hits; subclasses add ``kind`` and their own fields.

    Either ``at`` (one occurrence) or ``rate`` (a Poisson process on the
    ``failures`` stream from ``start`` to ``until``, default the horizon).
    ``target``: ``random`` (uniform over the candidates), an index into the
    candidates in creation order, or a name; ``count`` distinct targets per occurrence.
    """

    if TYPE_CHECKING:
        kind: str  # every registered subclass narrows it to its Literal

    at: Duration | None = Field(default=None, description="the fault's time")
    rate: FaultRate | None = Field(default=None, description="random faults: e.g. 1/6h")
    start: Duration = Field(default=0.0, description="random faults: none before this")
    until: Duration | None = Field(default=None, description="random faults: none after this")
    duration: Duration | None = Field(default=None, gt=0, description="how long it lasts")
    target: str | int = Field(default="random", description="random, an index or a name")
    count: int = Field(default=1, ge=1, description="targets hit per occurrence")

    @model_validator(mode="after")
    def _one_timing(self) -> FaultConfig:
        if (self.at is None) == (self.rate is None):
            raise ValueError("give either 'at' (a fixed time) or 'rate' (random faults)")
        if self.rate is not None and self.rate <= 0:
            raise ValueError("rate must be positive")
        if self.at is not None and (self.until is not None or self.start):
            raise ValueError("'start' and 'until' go with 'rate', not 'at'")
        if self.until is not None and self.until <= self.start:
            raise ValueError("'until' must be after 'start'")
        if isinstance(self.target, int) and self.target < 0:
            raise ValueError("target index must be >= 0")
        return self


# -- the log: faults.csv and the summary columns ---------------------------------------------


@dataclass
class FaultRecord:
    """One fault as it happened, a row of ``faults.csv``.

    ``detected_s``: when the health check took the last failed instance out of
    the balancer (NaN if none had to be: restarted in place first);
    ``recovered_s``: when as many instances had become ready after the fault as
    it took out of service (ready instances go to the oldest unrecovered fault
    first), NaN if not by the horizon.
    """

    kind: str
    target: str
    start_s: float
    end_s: float = math.nan
    detected_s: float = math.nan
    recovered_s: float = math.nan
    lost_requests: int = 0
    needed: int = 0
    got: int = 0

    @property
    def time_to_recover_s(self) -> float:
        return self.recovered_s - self.start_s


class FaultLog:
    """The faults of one run, the requests they cost, and their recovery."""

    def __init__(self, ctx: RunContext, health: HealthCheck) -> None:
        self.ctx = ctx
        self.health = health
        self.records: list[FaultRecord] = []
        self.failed = 0  # requests (after warm-up) lost to faults
        self._waiting: list[FaultRecord] = []  # recover by replacements
        self._levels: list[FaultRecord] = []  # recover by a level of ready instances
        self.ghosts: dict[str, Instance] = {}  # name → a dead instance still in the balancer
        ctx.cluster.ready_hooks.append(self._on_ready)
        ctx.cluster.retire_hooks.append(self._on_retire)

    def open(self, kind: str, target: str) -> FaultRecord:
        """Start a fault record now (the caller sets ``end_s``/``recovered_s`` as it goes)."""
        rec = FaultRecord(kind, target, self.ctx.env.now)
        self.records.append(rec)
        return rec

    def count_failed(self, req: Request) -> None:
        """A request lost to a fault (counted after the warm-up, like ``dropped_failed``)."""
        if req.t_arrival >= self.ctx.recorder.warmup:
            self.failed += 1

    def await_replacements(self, rec: FaultRecord, lost: int) -> None:
        """``rec`` recovers once ``lost`` instances have become ready after it (ready
        instances go to the oldest such fault first); at once if ``lost`` is 0."""
        rec.needed = lost
        if lost == 0:
            rec.recovered_s = self.ctx.env.now
        else:
            self._waiting.append(rec)

    def await_capacity(self, rec: FaultRecord, level: int) -> None:
        """``rec`` recovers once ``level`` instances (or the platform's target, if lower)
        are ready — now, at a later instance's readiness, or when the target falls to the
        ready count (pending instances cancelled by a scale-in)."""
        rec.needed = level
        if not self._level_reached(rec):
            self._levels.append(rec)

    def _level_reached(self, rec: FaultRecord) -> bool:
        platform = self.ctx.extras.get("platform")
        want = rec.needed if platform is None else min(rec.needed, platform.target)
        if self.ctx.cluster.ready.value >= want:
            rec.recovered_s = self.ctx.env.now
            return True
        return False

    def zone_of(self, hosts: list[str], zones: int) -> dict[str, int]:
        """Hosts' zones: round robin in the order hosts are first seen, then fixed."""
        assigned = self.ctx.extras.setdefault("fault_zones", {})
        for host in hosts:
            if host not in assigned:
                assigned[host] = len(assigned) % zones
        return {h: assigned[h] for h in hosts}

    def _on_ready(self, inst: Instance) -> None:
        # Restarted in place (same name, same endpoint): it answers the balancer again,
        # so the ghost is gone without ever being detected.
        ghost = self.ghosts.pop(inst.name, None)
        if ghost is not None and ghost in self.ctx.cluster.balancer.instances:
            self.ctx.cluster.balancer.remove(ghost)
        if self._levels:
            self._levels = [r for r in self._levels if not self._level_reached(r)]
        if self._waiting:
            rec = self._waiting[0]
            rec.got += 1
            if rec.got >= rec.needed:
                rec.recovered_s = self.ctx.env.now
                self._waiting.pop(0)

    def _on_retire(self, _inst: Instance) -> None:
        # An instance cancelled or retired lowers the platform's target: a level waited
        # for may now be reached without any further instance becoming ready.
        if self._levels:
            self._levels = [r for r in self._levels if not self._level_reached(r)]

    def finish(self) -> dict[str, Any]:
        """Write ``faults.csv`` rows; the summary columns of the faults."""
        for rec in self.records:
            self.ctx.record(
                "faults",
                kind=rec.kind,
                target=rec.target,
                start_s=rec.start_s,
                end_s=rec.end_s,
                detected_s=rec.detected_s,
                recovered_s=rec.recovered_s,
                time_to_recover_s=rec.time_to_recover_s,
                lost_requests=rec.lost_requests,
            )
        recovered = [r.time_to_recover_s for r in self.records if not math.isnan(r.recovered_s)]
        return {
            "failed_requests": self.failed,
            "time_to_recover_s": float(np.mean(recovered)) if recovered else math.nan,
            "faults_injected": len(self.records),
            "faults_unrecovered": len(self.records) - len(recovered),
        }


def fault_log(ctx: RunContext) -> FaultLog:
    """The run's fault log (created on first use with the default health check)."""
    log = ctx.extras.get("faults")
    if log is None:
        log = FaultLog(ctx, HealthCheck())
        ctx.extras["faults"] = log
    assert isinstance(log, FaultLog)
    return log


# -- ghosts: dead instances the balancer has not noticed yet ---------------------------------


class _Ghost(Instance):
    """A crashed instance still in the balancer: every request sent to it is lost."""

    __slots__ = ()

    def offer(self, req: Request) -> bool:
        self.recorder.fail(req)
        log: FaultLog = self.tags["fault_log"]
        log.count_failed(req)
        rec: FaultRecord = self.tags["fault_record"]
        if req.t_arrival >= self.recorder.warmup:
            rec.lost_requests += 1
        return True


def _haunt(log: FaultLog, rec: FaultRecord, inst: Instance, t_fail: float) -> None:
    """Keep the dead ``inst`` in the balancer until the health check detects it."""
    ctx = log.ctx
    balancer = ctx.cluster.balancer
    if type(inst) is not Instance:
        return  # another serving model (fluid mode): it has left the balancer at once
    inst.__class__ = _Ghost
    inst.tags["fault_log"] = log
    inst.tags["fault_record"] = rec
    inst.busy = 0
    inst.queue.clear()
    balancer.add(inst)
    log.ghosts[inst.name] = inst
    phase = inst.t_ready if inst.t_ready is not None else 0.0
    at = log.health.detection_time(phase, t_fail)
    timer = ctx.env.timeout(at - ctx.env.now)
    assert timer.callbacks is not None
    timer.callbacks.append(lambda _ev: _detected(log, rec, inst))


def _detected(log: FaultLog, rec: FaultRecord, ghost: Instance) -> None:
    balancer = log.ctx.cluster.balancer
    if ghost not in balancer.instances:
        return  # restarted in place before the health check noticed
    if log.ghosts.get(ghost.name) is ghost:
        del log.ghosts[ghost.name]
    balancer.remove(ghost)
    now = log.ctx.env.now
    rec.detected_s = now if math.isnan(rec.detected_s) else max(rec.detected_s, now)


def crash_instances(
    ctx: RunContext,
    rec: FaultRecord,
    victims: list[Instance],
    kill: Callable[[], None],
) -> None:
    """The common machinery of instance faults.

    ``kill()`` calls the platform hook that loses the victims (``Cluster.fail``
    inside it loses their in-flight requests) and starts their restart; the
    requests it loses are counted, the victims that were serving become ghosts
    until detected, and ``rec`` recovers when the ready count is back.
    """
    log = fault_log(ctx)
    now = ctx.env.now
    serving = [v for v in victims if v.state is State.READY]
    lost_before = ctx.recorder.dropped_failed
    kill()
    lost = ctx.recorder.dropped_failed - lost_before
    log.failed += lost
    rec.lost_requests += lost
    for inst in serving:
        if inst.state is State.GONE:
            _haunt(log, rec, inst, now)
    log.await_replacements(rec, len(serving))


# -- timing ----------------------------------------------------------------------------------


def fault_times(config: FaultConfig, rng: np.random.Generator, horizon: float) -> list[float]:
    """The occurrence times of one fault event before the horizon (drawn up front)."""
    if config.at is not None:
        return [config.at] if config.at < horizon else []
    assert config.rate is not None
    end = min(config.until if config.until is not None else horizon, horizon)
    times: list[float] = []
    t = config.start
    while True:
        t += float(rng.exponential(1.0 / config.rate))
        if t >= end:
            return times
        times.append(t)


def schedule(
    config: FaultConfig,
    ctx: RunContext,
    fire: Callable[[], Generator[simpy.Event, Any, None] | None],
) -> None:
    """Call ``fire()`` at each occurrence of ``config`` (a returned generator runs as a
    SimPy process). Random times are drawn now, from the ``failures`` stream."""
    times = fault_times(config, ctx.streams["failures"], ctx.experiment.horizon)
    env = ctx.env

    def run() -> Generator[simpy.Event, Any, None]:
        for t in times:
            yield env.timeout(t - env.now)
            out = fire()
            if out is not None:
                env.process(out)

    if times:
        env.process(run())


def pick_targets(
    config: FaultConfig, ctx: RunContext, candidates: dict[str, Any]
) -> list[tuple[str, Any]]:
    """``count`` distinct (name, item) among ``candidates`` (in creation order) per
    ``target``: random (the ``failures`` stream), an index, or a name; [] if none match."""
    names = list(candidates)
    if not names:
        return []
    if config.target == "random":
        k = min(config.count, len(names))
        idx = ctx.streams["failures"].choice(len(names), size=k, replace=False)
        chosen = [names[int(i)] for i in sorted(idx)]
    elif isinstance(config.target, int) or config.target.isdigit():
        i = int(config.target)
        chosen = names[i : i + config.count]
    else:
        chosen = [config.target] if config.target in candidates else []
    return [(n, candidates[n]) for n in chosen]


# -- the generic kinds -----------------------------------------------------------------------


class InstanceCrash(FaultConfig):
    """A serving instance crashes (process killed, kernel panic); the platform restarts it."""

    kind: Literal["instance_crash"]


class NodeFailure(FaultConfig):
    """A host dies with every instance on it: a node, a hypervisor host, a server."""

    kind: Literal["node_failure"]


class ZoneOutage(FaultConfig):
    """Every host of one zone (hosts assigned to zones round robin) down for ``duration``."""

    kind: Literal["zone_outage"]
    # Bounded: the zones are listed when the fault fires (a region has at most 6 or so).
    zones: int = Field(default=ZONES, ge=1, le=100, description="zones the hosts are spread over")

    @model_validator(mode="after")
    def _needs_duration(self) -> ZoneOutage:
        if self.duration is None:
            raise ValueError("a zone outage needs a 'duration'")
        return self


@FAULTS.register(
    "instance_crash",
    InstanceCrash,
    "a serving instance dies; the platform restarts it its own way",
    "Kubernetes restartPolicy/CrashLoopBackOff, VM reboot, repair ticket, ASG, Heroku",
)
def start_instance_crash(config: InstanceCrash, ctx: RunContext, platform: Platform) -> None:
    def fire() -> None:
        ready = {i.name: i for i in ctx.cluster.instances if i.state is State.READY}
        for name, inst in pick_targets(config, ctx, ready):
            rec = fault_log(ctx).open("instance_crash", name)
            crash_instances(ctx, rec, [inst], partial(platform.crash, inst))

    schedule(config, ctx, fire)


@FAULTS.register(
    "node_failure",
    NodeFailure,
    "a host dies with its instances; they are rescheduled or wait for it",
    "Kubernetes node lifecycle (taint-based eviction), vSphere HA",
)
def start_node_failure(config: NodeFailure, ctx: RunContext, platform: Platform) -> None:
    def fire() -> None:
        for name, victims in pick_targets(config, ctx, platform.failure_domains()):
            rec = fault_log(ctx).open("node_failure", name)
            until = ctx.env.now + config.duration if config.duration is not None else None
            rec.end_s = until if until is not None else math.nan
            crash_instances(
                ctx,
                rec,
                list(victims),
                partial(platform.fail_host, name, until),
            )

    schedule(config, ctx, fire)


@FAULTS.register(
    "zone_outage",
    ZoneOutage,
    "every host of a zone down for a duration",
    "AWS Availability Zones; hosts spread round robin",
)
def start_zone_outage(config: ZoneOutage, ctx: RunContext, platform: Platform) -> None:
    def fire() -> None:
        hosts = platform.failure_domains()
        zone_of = fault_log(ctx).zone_of(list(hosts), config.zones)
        zones: dict[str, list[str]] = {f"zone-{z}": [] for z in range(config.zones)}
        for host in hosts:
            zones[f"zone-{zone_of[host]}"].append(host)
        for zone, members in pick_targets(config, ctx, zones):
            rec = fault_log(ctx).open("zone_outage", zone)
            assert config.duration is not None
            until = ctx.env.now + config.duration
            rec.end_s = until
            victims = [inst for h in members for inst in hosts[h]]

            def kill(members: list[str] = members, until: float = until) -> None:
                for h in members:
                    platform.fail_host(h, until)

            crash_instances(ctx, rec, victims, kill)

    schedule(config, ctx, fire)


# -- the engine's entry points ---------------------------------------------------------------


@dataclass
class _Resolved:
    health: HealthCheck
    events: list[Any] = field(default_factory=list)


def _resolve(ctx: RunContext) -> _Resolved:
    """The scenario's faults: the experiment's events then the scenario's; the scenario's
    health check, else the experiment's, else the default."""
    blocks = [b for b in (ctx.experiment.faults, ctx.scenario.faults) if b is not None]
    health = HealthCheck()
    events: list[Any] = []
    for block in blocks:
        if block.health_check is not None:
            health = block.health_check
        events.extend(block.events)
    return _Resolved(health, events)


def start_faults(ctx: RunContext, platform: Platform) -> None:
    """Schedule the scenario's fault events (called once the platform has started)."""
    resolved = _resolve(ctx)
    if not resolved.events:
        return
    ctx.extras["faults"] = FaultLog(ctx, resolved.health)
    for event in resolved.events:
        FAULTS.get(str(event.kind)).build(event, ctx, platform)


def fault_summary(ctx: RunContext) -> dict[str, Any]:
    """The summary columns of faults; ``availability`` = served / finished requests."""
    rec = ctx.recorder
    finished = rec.completed + rec.dropped + rec.timed_out_n
    out: dict[str, Any] = {"availability": rec.completed / finished if finished else math.nan}
    log = ctx.extras.get("faults")
    if isinstance(log, FaultLog):
        out.update(log.finish())
    else:
        out.update(failed_requests=0, time_to_recover_s=math.nan)
    return out


def iter_kinds() -> Iterator[str]:
    """The registered fault kinds (for ``deploysim list``)."""
    return iter(FAULTS.kinds())
