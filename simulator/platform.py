"""What an architecture plugs into: the run context, the cluster, the Platform base.

A platform turns "I want N serving instances" into provisioning work on the
simulation clock, serving capacity and cost. It implements a few hooks
(``start``, and for scalable platforms ``scale_to``) and uses the cluster to
create instances, mark them ready, drain and retire them. The cluster keeps
the balancer's view (ready instances only) and the time-weighted levels the
recorder samples.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import simpy

from simulator.balancer import Balancer
from simulator.recorder import Meter, Recorder
from simulator.registry import cite
from simulator.serving import Instance, Request, State

if TYPE_CHECKING:
    from simulator.config import Experiment, Scenario

__all__ = ["RunContext", "Cluster", "Platform", "ProvisioningSpan", "SpanLog"]


@dataclass(frozen=True)
class ProvisioningSpan:
    """One stage of bringing an instance (or host) up, for ``provisioning.csv``."""

    instance: str
    stage: str
    start_s: float
    end_s: float
    waited_s: float = 0.0
    holds: str = ""  # pool units held while the stage ran, e.g. "ops_staff:1"


class SpanLog(list[ProvisioningSpan]):
    """Finished provisioning spans, plus the stage each instance is in right now.

    ``open`` maps an instance to ``(stage, requested_at, started_at)`` (NaN while
    still waiting for resources), so stages unfinished at the horizon — a server
    on order for six weeks — still appear in ``provisioning.csv``, with no end.
    """

    def __init__(self) -> None:
        super().__init__()
        self.open: dict[str, tuple[str, float, float]] = {}

    def close_open(self, now: float) -> None:
        """Record the unfinished stages as spans with ``end_s`` NaN."""
        for instance, (stage, t_req, start) in sorted(self.open.items()):
            if math.isnan(start):
                self.append(ProvisioningSpan(instance, stage, math.nan, math.nan, now - t_req))
            else:
                self.append(ProvisioningSpan(instance, stage, start, math.nan, start - t_req))
        self.open.clear()


class Cluster:
    """All instances of a scenario, the balancer over the ready ones, and level meters."""

    def __init__(
        self,
        env: simpy.Environment,
        recorder: Recorder,
        balancer: Balancer,
        scenario: Scenario,
        timeout: float | None = None,
    ) -> None:
        self.env = env
        self._timeout = timeout
        self.recorder = recorder
        self.balancer = balancer
        self.scenario = scenario
        self.instances: list[Instance] = []
        self.retired_busy_area = 0.0
        self.retired_queue_area = 0.0
        self.ready = Meter()
        self.provisioning = Meter()
        self.cost_rate = Meter()  # USD per second
        self.capacity = Meter()  # workers on ready instances
        self._ids = 0
        self.spans = SpanLog()
        self.retire_hooks: list[Callable[[Instance], None]] = []
        self.ready_hooks: list[Callable[[Instance], None]] = []
        # Fluid mode (simulator.fluid) swaps in an Instance subclass with pool-level levels.
        self.instance_class: type[Instance] = Instance

    def launch(self, **overrides: Any) -> Instance:
        """Create an instance in the provisioning state with the scenario's serving settings."""
        serving = self.scenario.serving
        kwargs: dict[str, Any] = {
            "workers": serving.workers,
            "speed": serving.speed,
            "queue_limit": serving.queue_limit,
            "timeout": self._timeout,
        }
        kwargs.update(overrides)
        inst = self.instance_class(self.env, self.recorder, self._ids, **kwargs)
        self._ids += 1
        self.instances.append(inst)
        now = self.env.now
        self.provisioning.add(now, 1)
        self.cost_rate.add(now, inst.price)
        return inst

    def mark_ready(self, inst: Instance) -> None:
        """The instance can serve: the balancer starts routing to it."""
        if inst.state is not State.PROVISIONING:
            raise RuntimeError(f"{inst} cannot become ready from {inst.state.value}")
        now = self.env.now
        inst.state = State.READY
        inst.t_ready = now
        self.provisioning.add(now, -1)
        self.ready.add(now, 1)
        self.capacity.add(now, inst.workers)
        self.balancer.add(inst)
        for hook in self.ready_hooks:
            hook(inst)

    def drain(self, inst: Instance, grace: float | None = None) -> None:
        """Stop routing to the instance; it retires once its in-flight requests finish, or
        after ``grace`` seconds (default ``serving.drain_timeout``), losing what is left."""
        if inst.state is not State.READY:
            return
        now = self.env.now
        inst.state = State.DRAINING
        self.balancer.remove(inst)
        self.ready.add(now, -1)
        self.capacity.add(now, -inst.workers)
        if inst.active == 0:
            self.retire(inst)
            return
        inst.on_idle = lambda i: self.retire(i) if not i.queue else None
        grace = self.scenario.serving.drain_timeout if grace is None else grace
        timer = self.env.timeout(grace)
        assert timer.callbacks is not None
        timer.callbacks.append(lambda _ev: self._end_grace(inst))

    def _end_grace(self, inst: Instance) -> None:
        if inst.state is State.DRAINING:
            self.fail(inst)

    def retire(self, inst: Instance) -> None:
        """The instance is gone: no cost, no capacity."""
        now = self.env.now
        if inst.state is State.READY:
            self.balancer.remove(inst)
            self.ready.add(now, -1)
            self.capacity.add(now, -inst.workers)
        elif inst.state is State.PROVISIONING:
            self.provisioning.add(now, -1)
        if inst.state is not State.GONE:
            self.cost_rate.add(now, -inst.price)
            busy, queued = inst.areas(now)
            self.retired_busy_area += busy
            self.retired_queue_area += queued
            inst.state = State.GONE
            inst.t_gone = now
            self.instances.remove(inst)
            for hook in self.retire_hooks:
                hook(inst)

    def fail(self, inst: Instance) -> int:
        """The instance dies (crash, OOM kill): its queued and in-service requests are lost
        (``dropped_failed``) and it is gone. Returns the number of requests lost."""
        now = self.env.now
        inst.areas(now)
        lost = list(inst.queue)
        inst.queue.clear()
        # Requests in service are their own events on SimPy's heap: disarm them.
        complete = inst._complete_cb  # noqa: SLF001
        for item in self.env._queue:  # noqa: SLF001
            ev = item[3]
            if isinstance(ev, Request) and ev.callbacks and ev.callbacks[0] is complete:
                ev.callbacks = []
                lost.append(ev)
        inst.busy = 0
        for req in lost:
            self.recorder.fail(req)
        self.retire(inst)
        return len(lost)

    def charge(self, usd: float) -> None:
        """A one-off cost now (e.g. a billing minimum), on top of the cost rate."""
        self.cost_rate.area += usd

    def record_span(self, span: ProvisioningSpan) -> None:
        self.spans.append(span)

    # -- levels for the recorder ------------------------------------------------------------

    def areas(self, now: float) -> tuple[float, float]:
        """Integrals of busy workers and queue length over all instances, up to ``now``."""
        busy, queued = self.retired_busy_area, self.retired_queue_area
        for inst in self.instances:
            b, q = inst.areas(now)
            busy += b
            queued += q
        return busy, queued


@dataclass
class RunContext:
    """Everything a platform or control loop of one run may use."""

    env: simpy.Environment
    experiment: Experiment
    scenario: Scenario
    replication: int
    cluster: Cluster
    recorder: Recorder
    streams: dict[str, np.random.Generator]
    extras: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def record(self, table: str, **row: Any) -> None:
        """Append a row to an extra result table (``scaling``, ``pulls``, ...), written as
        ``<table>.csv`` with ``scenario`` and ``replication`` columns prepended."""
        self.tables.setdefault(table, []).append(row)


class Platform(ABC):
    """Base of every architecture (registered in ``simulator.registry.PLATFORMS``)."""

    def __init__(self, config: Any, ctx: RunContext) -> None:
        self.config = config
        self.ctx = ctx

    @abstractmethod
    def start(self) -> None:
        """Bring up the initial capacity (schedule processes on ``ctx.env``)."""

    @property
    def target(self) -> int:
        """The number of serving instances currently asked for."""
        return len(self.ctx.cluster.instances)

    def scale_to(self, n: int) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Ask for ``n`` serving instances. Fixed-capacity platforms ignore it."""

    # -- fault hooks (simulator.faults): how this architecture fails and comes back ----------

    def failure_domains(self) -> dict[str, list[Instance]]:
        """Failure domains in creation order: host name → the instances on it.

        Default: every serving instance is its own host (a server, a cloud VM, a dyno).
        """
        return {i.name: [i] for i in self.ctx.cluster.instances if i.state is State.READY}

    def crash(self, inst: Instance, until: float | None = None) -> None:
        """``inst`` dies now: lose its requests (``Cluster.fail``) and start bringing it back.

        ``until``: its host is down until then (a zone outage), so a restart in
        place waits for it. Default: a supervisor restarts the process in place
        after ``RESTART_S`` (systemd's ``RestartSec``).
        """
        cluster = self.ctx.cluster
        cluster.fail(inst)
        clone = cluster.launch(
            workers=inst.workers,
            speed=inst.speed,
            weight=inst.weight,
            queue_limit=inst.queue_limit,
            price=inst.price,
            name=inst.name,
        )
        env = self.ctx.env
        back = max(env.now + RESTART_S, until if until is not None else 0.0)
        timer = env.timeout(back - env.now)
        assert timer.callbacks is not None
        timer.callbacks.append(
            lambda _ev: cluster.mark_ready(clone) if clone.state is State.PROVISIONING else None
        )

    def fail_host(self, host: str, until: float | None = None) -> None:
        """Host ``host`` dies now (down until ``until`` if given): by default every
        instance on it crashes."""
        for inst in list(self.failure_domains().get(host, [])):
            self.crash(inst, until)


RESTART_S = cite(
    "faults",
    "process restart delay",
    0.1,
    "100 ms",
    "systemd.service Restart=on-failure with the default RestartSec=100ms",
)
