"""The per-request hot path: instances with workers and a FIFO queue.

Design (DESIGN §6): SimPy is the clock only. A request is a plain object that
is *itself* the event scheduled on SimPy's heap when it enters service (it has
the two attributes ``Environment.step`` reads: ``callbacks`` and ``_ok``), so a
request costs one object and one heap push per service, no generator process
and no ``simpy.Resource``. Provisioning, autoscaling and faults stay ordinary
SimPy processes on the same environment. ``Environment`` (a ``simpy.Environment``)
runs the loop with SimPy's semantics and keeps the arrival stream off the heap.

Time-weighted levels (busy workers, queue length) are integrated per instance
on every change, so utilisation and queue-length averages are exact.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from enum import StrEnum
from heapq import heappop, heappush
from typing import Any, Protocol

import simpy
from simpy.core import StopSimulation
from simpy.events import URGENT, Event, EventPriority

from simulator.recorder import Recorder

__all__ = ["Environment", "Source", "Request", "Instance", "State"]


class Source(Protocol):
    """An arrival stream the environment merges with its event heap (see ``Environment``).

    ``t_next`` is the time of the next arrival (``inf`` when there is none) and
    ``eid_next`` the event id it took from ``Environment._eid`` when it was scheduled;
    ``fire()`` handles that arrival (the clock already reads ``t_next``) and sets both
    for the one after.
    """

    t_next: float
    eid_next: int

    def fire(self) -> None: ...


class Environment(simpy.Environment):
    """``simpy.Environment`` with a faster ``run`` loop and an off-heap arrival stream.

    * ``run`` is one tight loop: SimPy 4.1's ``Environment.step`` inlined, with the same
      order, callback protocol and failure and ``until`` handling, so a model cannot tell
      the difference — minus a method call and a ``try`` block per event.
    * One arrival ``Source`` (``set_source``) is kept off the heap: its next arrival is
      compared with the heap's top by the same key SimPy orders events by, ``(time,
      priority, event id)`` — an arrival has NORMAL priority and the id it drew from the
      shared counter when it was scheduled, exactly as if it were pushed — so events are
      processed in SimPy's order, while an arrival costs no heap push, pop or tuple.

    Together these remove about a third of the cost of a simulated request on the
    exact-mode hot path (DESIGN §6).
    """

    def __init__(self, initial_time: float = 0) -> None:
        super().__init__(initial_time)
        self._source: Source | None = None

    def set_source(self, source: Source) -> None:
        """Merge ``source``'s arrivals with the event heap (one source; before ``run``)."""
        if self._source is not None:
            raise RuntimeError("the environment already has an arrival source")
        self._source = source

    def peek(self) -> float:
        """Time of the next event or arrival (``inf`` if none)."""
        t = self._queue[0][0] if self._queue else math.inf
        return min(t, self._source.t_next) if self._source is not None else t

    def _source_first(self) -> bool:
        src = self._source
        if src is None or src.t_next == math.inf:
            return False
        if not self._queue:
            return True
        return (src.t_next, 1, src.eid_next) < self._queue[0][:3]

    def step(self) -> None:
        """Process the next event or arrival (SimPy's ``step`` plus the source)."""
        if self._source_first():
            assert self._source is not None
            self._now = self._source.t_next
            self._source.fire()
            return
        super().step()

    def run(self, until: float | Event | None = None) -> Any:
        """Process events until ``until`` (a time or an event), or until none are left."""
        if until is not None:
            if not isinstance(until, Event):
                at = until if isinstance(until, int) else float(until)
                if at <= self._now:
                    raise ValueError(
                        f"until ({at}) must be greater than the current simulation time"
                    )
                until = Event(self)
                until._ok = True
                until._value = None
                self.schedule(until, URGENT, at - self._now)
            elif until.callbacks is None:
                return until.value
            assert until.callbacks is not None
            until.callbacks.append(StopSimulation.callback)
        queue = self._queue
        src = self._source
        inf = math.inf
        if src is None:
            src_t, src_eid, fire = inf, 0, None
        else:
            src_t, src_eid, fire = src.t_next, src.eid_next, src.fire
        event: Any = None
        callbacks: list[Any] = []
        callback: Any = None
        try:
            while True:
                if queue:
                    item = queue[0]
                    t = item[0]
                    # The arrival goes first iff (src_t, 1, src_eid) < item[:3].
                    if src_t < t or (
                        src_t == t and (item[1] > 1 or (item[1] == 1 and item[2] > src_eid))
                    ):
                        self._now = src_t
                        fire()  # type: ignore[misc]
                        src_t, src_eid = src.t_next, src.eid_next  # type: ignore[union-attr]
                        continue
                    heappop(queue)
                    self._now = t
                    event = item[3]
                elif src_t != inf:
                    self._now = src_t
                    fire()  # type: ignore[misc]
                    src_t, src_eid = src.t_next, src.eid_next  # type: ignore[union-attr]
                    continue
                else:
                    break
                callbacks, event.callbacks = event.callbacks, None
                for callback in callbacks:
                    callback(event)
                if not event._ok and not hasattr(event, "_defused"):
                    exc = type(event._value)(*event._value.args)
                    exc.__cause__ = event._value
                    raise exc
        except StopSimulation as stop:
            # As Environment.step: keep the callbacks not yet run for a later ``run``.
            event.callbacks = callbacks[callbacks.index(callback) + 1 :]
            self.schedule(event, EventPriority(-1))
            return stop.args[0]
        if until is not None:
            raise RuntimeError(
                f'No scheduled events left but "until" event was not triggered: {until}'
            )
        return None


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
        "_cbs",
        "_tally_arrival",
        "_tally_start",
        "_tally_end",
        "on_idle",
        "watch",
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
        self._eid: Callable[[], int] = env._eid.__next__  # noqa: SLF001
        # One callbacks list shared by every request this instance serves: SimPy's step
        # only reads it (and replaces ``event.callbacks``), so no list per request.
        self._cbs: list[Callable[[Request], None]] = [self._complete]
        # The recorder's tally buffers, appended to directly: Recorder.complete inlined
        # for one class. With classes, or a recorder whose ``complete`` is overridden,
        # completions call ``recorder.complete`` (``_tally_end`` None).
        self._tally_arrival = recorder._arrival_buf.append  # noqa: SLF001
        self._tally_start = recorder._start_buf.append  # noqa: SLF001
        self._tally_end: Callable[[float], None] | None = recorder._end_buf.append  # noqa: SLF001
        if (
            recorder.n_classes > 1
            or "complete" in vars(recorder)
            or type(recorder).complete is not Recorder.complete
        ):
            self._tally_end = None
        self.on_idle: Any = None
        # The balancer that tracks this instance's active count (least connections).
        self.watch: Any = None
        self.tags: dict[str, Any] = {}

    @property
    def _complete_cb(self) -> Callable[[Request], None]:
        """The completion callback every request served here carries (wrappable)."""
        return self._cbs[0]

    @_complete_cb.setter
    def _complete_cb(self, fn: Callable[[Request], None]) -> None:
        self._cbs = [fn]

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
        queue = self.queue
        busy = self.busy
        if busy < self.workers:
            dt = now - self.t_last
            if dt:
                self.busy_area += busy * dt
                self.queue_area += len(queue) * dt
                self.t_last = now
            self.busy = busy + 1
            req.callbacks = self._cbs
            heappush(self._heap, (now + req.demand / self.speed, 1, self._eid(), req))
        else:
            if self.queue_limit is not None and len(queue) >= self.queue_limit:
                return False
            dt = now - self.t_last
            if dt:
                self.busy_area += busy * dt
                self.queue_area += len(queue) * dt
                self.t_last = now
            queue.append(req)
        if self.watch is not None:
            self.watch.moved(self)
        return True

    def _complete(self, req: Request) -> None:
        now = self.env._now  # noqa: SLF001
        self.served += 1
        tally_end = self._tally_end
        if tally_end is not None:
            # Recorder.complete, inlined: three appends, folded into histograms in blocks.
            self._tally_arrival(req.t_arrival)
            self._tally_start(req.t_start)
            tally_end(now)
        else:
            self.recorder.complete(req, now)
        queue = self.queue
        dt = now - self.t_last
        if dt:
            self.busy_area += self.busy * dt
            self.queue_area += len(queue) * dt
            self.t_last = now
        if queue:
            timeout = self.timeout
            nxt: Request | None = queue.popleft()
            if timeout is not None:
                # Clients that waited past their timeout have left: skip them.
                while nxt is not None and now - nxt.t_arrival > timeout:
                    self.recorder.timed_out(nxt)
                    if not queue:
                        nxt = None
                        break
                    nxt = queue.popleft()
            if nxt is not None:
                nxt.t_start = now
                nxt.callbacks = self._cbs
                heappush(self._heap, (now + nxt.demand / self.speed, 1, self._eid(), nxt))
                if self.watch is not None:
                    self.watch.moved(self)
                return
        busy = self.busy - 1
        self.busy = busy
        if self.watch is not None:
            self.watch.moved(self)
        if busy == 0 and self.on_idle is not None:
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
        if self.watch is not None:
            self.watch.moved(self)

    def __repr__(self) -> str:
        return f"<Instance {self.name} {self.state.value} busy={self.busy} q={len(self.queue)}>"
