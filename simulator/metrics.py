"""The metrics pipeline controllers read, with the delays real systems have.

A scrape every ``resolution`` seconds (metrics-server's ``--metric-resolution``
defaults to 15 s; CloudWatch's standard resolution is 1 minute) records, for
every instance that exists:

* ``cpu``: busy workers / workers averaged over the scrape window — the CPU
  utilisation a cAdvisor/metrics-server reading or a CloudWatch
  ``CPUUtilization`` average reports (one busy worker = one busy core);
* ``rps``: requests completed per second over the window;
* ``queue``: requests waiting at the scrape instant;

and, cluster-wide, the arrival rate and latency percentiles of the requests
completed in the window. Controllers read the *latest scrape*, so what they
see is up to one resolution old, as in the real systems. The pipeline is
created on first use (``metrics_for``), so scenarios without a controller pay
nothing.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import simpy

from simulator.platform import RunContext
from simulator.serving import Instance, State

__all__ = ["InstanceSample", "ClusterSample", "MetricsPipeline", "metrics_for"]


@dataclass(frozen=True)
class InstanceSample:
    """One instance's metrics from one scrape (values averaged over ``window`` seconds)."""

    timestamp: float
    window: float
    cpu: float
    rps: float
    queue: int


@dataclass(frozen=True)
class ClusterSample:
    """Cluster-wide metrics from one scrape window ending at ``timestamp``."""

    timestamp: float
    window: float
    arrival_rps: float
    completed_rps: float
    latency_p50_s: float
    latency_p95_s: float
    latency_p99_s: float
    ready: int
    cpu: float  # busy workers / workers over ready instances, over the window


class MetricsPipeline:
    """Scrapes instance and cluster metrics every ``resolution`` seconds."""

    def __init__(self, ctx: RunContext, resolution: float = 15.0, history: int = 512) -> None:
        if not resolution > 0:
            raise ValueError("resolution must be > 0")
        self.ctx = ctx
        self.env: simpy.Environment = ctx.env
        self.resolution = resolution
        self.latest: dict[int, InstanceSample] = {}
        self.cluster: deque[ClusterSample] = deque(maxlen=history)
        self._prev: dict[int, tuple[float, float, int]] = {}  # id -> (t, busy_area, served)
        self._arrived = 0
        self._t_last = self.env.now
        self.env.process(self._run())

    def _run(self) -> Generator[simpy.Event, Any, None]:
        while True:
            yield self.env.timeout(self.resolution)
            self.scrape()

    def scrape(self) -> None:
        """Take one scrape now (also callable directly in tests)."""
        now = self.env.now
        window = now - self._t_last
        rec = self.ctx.recorder
        seen: set[int] = set()
        busy_sum = workers_sum = 0.0
        for inst in self.ctx.cluster.instances:
            seen.add(inst.id)
            busy_area, _ = inst.areas(now)
            t0, area0, served0 = self._prev.get(inst.id, (inst.t_created, 0.0, 0))
            dt = now - t0
            if dt > 0:
                cpu = (busy_area - area0) / (dt * inst.workers)
                rps = (inst.served - served0) / dt
                self.latest[inst.id] = InstanceSample(now, dt, cpu, rps, len(inst.queue))
                if inst.state is State.READY:
                    busy_sum += busy_area - area0
                    workers_sum += dt * inst.workers
            self._prev[inst.id] = (now, busy_area, inst.served)
        for gone in set(self._prev) - seen:
            self._prev.pop(gone, None)
            self.latest.pop(gone, None)
        arrived, completed, p50, p95, p99 = rec.take_metrics_window()
        self.cluster.append(
            ClusterSample(
                now,
                window,
                arrived / window if window > 0 else math.nan,
                completed / window if window > 0 else math.nan,
                p50,
                p95,
                p99,
                len(self.ctx.cluster.balancer),
                busy_sum / workers_sum if workers_sum > 0 else math.nan,
            )
        )
        self._t_last = now

    def sample(self, inst: Instance) -> InstanceSample | None:
        """The latest scrape of ``inst`` (None: not scraped yet, a missing metric)."""
        return self.latest.get(inst.id)

    def last(self) -> ClusterSample | None:
        """The latest cluster-wide sample."""
        return self.cluster[-1] if self.cluster else None

    def since(self, t: float) -> list[ClusterSample]:
        """Cluster samples whose window ended after ``t`` (oldest first)."""
        return [s for s in self.cluster if s.timestamp > t]


def metrics_for(ctx: RunContext, resolution: float = 15.0) -> MetricsPipeline:
    """The run's metrics pipeline at ``resolution`` (created on first use, shared)."""
    pipelines: dict[float, MetricsPipeline] = ctx.extras.setdefault("metrics_pipelines", {})
    if resolution not in pipelines:
        if pipelines:
            raise ValueError(
                "one metrics resolution per run: "
                f"{sorted(pipelines)} already in use, asked for {resolution:g}"
            )
        pipelines[resolution] = MetricsPipeline(ctx, resolution)
    return pipelines[resolution]
