"""The per-request hot path: instances with workers and a FIFO queue.

Design (DESIGN §6): SimPy is the clock only. A request is a plain object that
is *itself* the event scheduled on SimPy's heap when it enters service (it has
the two attributes ``Environment.step`` reads: ``callbacks`` and ``_ok``), so a
request costs one object and one heap push per service, no generator process
and no ``simpy.Resource``. Provisioning, autoscaling and faults stay ordinary
SimPy processes on the same environment.

Time-weighted levels (busy workers, queue length) are integrated per instance
on every change, so utilisation and queue-length averages are exact.
"""

from __future__ import annotations

from collections import deque
from enum import StrEnum
from heapq import heappush
from itertools import count
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import simpy

    from simulator.recorder import Recorder

__all__ = ["Request", "Instance", "State"]


class State(StrEnum):
    """Lifecycle of a serving instance."""

    PROVISIONING = "provisioning"
    READY = "ready"
    DRAINING = "draining"
    GONE = "gone"


class Request:
    """One user request; doubles as the SimPy event of its own service completion."""

    __slots__ = ("callbacks", "t_arrival", "t_start", "demand", "cls")
    # Read by simpy.Environment.step: a request event always succeeds.
    _ok = True
    _value = None

    def __init__(self, t_arrival: float, demand: float, cls: int) -> None:
        self.callbacks: list[Any] | None = None
        self.t_arrival = t_arrival
        self.t_start = t_arrival
        self.demand = demand
        self.cls = cls


class Instance:
    """Something that serves requests: ``workers`` in parallel, a FIFO queue, a speed.

    ``speed`` scales service: a request with demand ``d`` seconds at reference
    speed takes ``d / speed``. ``queue_limit`` bounds requests *waiting* (not
    in service); ``None`` is unbounded. A queued request whose wait exceeded
    the client ``timeout`` by the time a worker frees up has already left: it
    is counted as timed out and never served.
    """

    __slots__ = (
        "id",
        "name",
        "env",
        "workers",
        "speed",
        "weight",
        "queue_limit",
        "timeout",
        "price",
        "state",
        "busy",
        "queue",
        "busy_area",
        "queue_area",
        "t_last",
        "served",
        "t_created",
        "t_ready",
        "t_gone",
        "recorder",
        "_heap",
        "_eid",
        "_complete_cb",
        "on_idle",
        "tags",
    )

    def __init__(
        self,
        env: simpy.Environment,
        recorder: Recorder,
        ident: int,
        *,
        workers: int,
        speed: float = 1.0,
        weight: float = 1.0,
        queue_limit: int | None = None,
        timeout: float | None = None,
        price: float = 0.0,
        name: str = "",
    ) -> None:
        self.id = ident
        self.name = name or f"i{ident}"
        self.env = env
        self.recorder = recorder
        self.workers = workers
        self.speed = speed
        self.weight = weight
        self.queue_limit = queue_limit
        self.timeout = timeout
        self.price = price
        self.state = State.PROVISIONING
        self.busy = 0
        self.queue: deque[Request] = deque()
        self.busy_area = 0.0
        self.queue_area = 0.0
        self.t_last = env.now
        self.served = 0
        self.t_created = env.now
        self.t_ready: float | None = None
        self.t_gone: float | None = None
        # Direct access to SimPy's heap and id counter (see module docstring).
        self._heap: list[Any] = env._queue  # noqa: SLF001
        self._eid: count[int] = env._eid  # noqa: SLF001
        self._complete_cb = self._complete
        self.on_idle: Any = None
        self.tags: dict[str, Any] = {}

    @property
    def active(self) -> int:
        """Requests in service plus waiting: the 'connections' a balancer sees."""
        return self.busy + len(self.queue)

    def _integrate(self, now: float) -> None:
        dt = now - self.t_last
        if dt:
            self.busy_area += self.busy * dt
            self.queue_area += len(self.queue) * dt
            self.t_last = now

    def areas(self, now: float) -> tuple[float, float]:
        """Integrals of busy workers and queue length up to ``now``."""
        self._integrate(now)
        return self.busy_area, self.queue_area

    def offer(self, req: Request) -> bool:
        """Accept ``req`` into service or the queue; False if the queue is full (dropped)."""
        now = self.env._now  # noqa: SLF001
        if self.busy < self.workers:
            dt = now - self.t_last
            if dt:
                self.busy_area += self.busy * dt
                self.queue_area += len(self.queue) * dt
                self.t_last = now
            self.busy += 1
            req.callbacks = [self._complete_cb]
            heappush(self._heap, (now + req.demand / self.speed, 1, next(self._eid), req))
            return True
        queue = self.queue
        if self.queue_limit is not None and len(queue) >= self.queue_limit:
            return False
        dt = now - self.t_last
        if dt:
            self.busy_area += self.busy * dt
            self.queue_area += len(queue) * dt
            self.t_last = now
        queue.append(req)
        return True

    def _complete(self, req: Request) -> None:
        now = self.env._now  # noqa: SLF001
        self.served += 1
        self.recorder.complete(req, now)
        dt = now - self.t_last
        if dt:
            self.busy_area += self.busy * dt
            self.queue_area += len(self.queue) * dt
            self.t_last = now
        queue = self.queue
        timeout = self.timeout
        while queue:
            nxt = queue.popleft()
            if timeout is not None and now - nxt.t_arrival > timeout:
                self.recorder.timed_out(nxt)
                continue
            nxt.t_start = now
            nxt.callbacks = [self._complete_cb]
            heappush(self._heap, (now + nxt.demand / self.speed, 1, next(self._eid), nxt))
            return
        self.busy -= 1
        if self.busy == 0 and self.on_idle is not None:
            self.on_idle(self)

    def expire_queue(self, now: float) -> None:
        """Count queued requests whose client has already given up (end of run)."""
        if self.timeout is None:
            return
        self._integrate(now)
        keep: deque[Request] = deque()
        for req in self.queue:
            if now - req.t_arrival > self.timeout:
                self.recorder.timed_out(req)
            else:
                keep.append(req)
        self.queue = keep

    def __repr__(self) -> str:
        return f"<Instance {self.name} {self.state.value} busy={self.busy} q={len(self.queue)}>"
