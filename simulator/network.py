"""Finite links shared by concurrent transfers with max-min fairness.

A transfer crosses one or more links (say registry egress → node ingress). At
every instant the active transfers get the max-min fair allocation (progressive
filling / water-filling, Bertsekas & Gallager, *Data Networks*, §6.5.2): all
rates grow together; when a link saturates, the transfers crossing it freeze
at their share and the rest keep growing. A transfer crossing two links thus
gets its bottleneck share. The allocation is recomputed whenever a transfer
starts or ends, or a link's capacity changes (``set_bandwidth``: a fault
slowing a registry); between those instants rates are constant, so completion
times are exact, not stepped.

**Path classes keep the cost per event independent of the number of flows.**
Max-min fairness gives every flow with the same set of links the same rate,
so the water-filling runs over *path classes* (distinct link sets, with a
flow count each), not over flows: one pass per saturated link, each pass
linear in the number of classes. A class also keeps a single "bytes served
per flow" counter and a heap of its flows' finish thresholds, so advancing
the clock, finding the next completion and finishing a flow cost
O(classes + log flows), not O(flows). In the common single-bottleneck case
(1,000 flows from one registry to one node) there is one class and an event
costs O(log n) — 14.6 µs at 1,000 flows, flat from 250 on
(``benchmarks/bench_pulls.py``). When every flow has its own path (one flow per
node link) each flow is its own class and an event is O(n) (≈ 0.9 ms at
1,000 flows); when every flow is its own bottleneck, water-filling is
quadratic, as for any exact max-min allocation.

Starts at one instant are coalesced: ``transfer`` marks the allocation stale
and one zero-delay callback recomputes it once for all flows started at that
instant (200 nodes starting 3 layer downloads each at t = 0 cost one
allocation, not 600). Rates are identical either way, since no time passes.

One pending SimPy timer (the earliest completion) is kept at a time; a
generation counter discards timers made stale by a recomputation.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import count
from typing import Any

import simpy

__all__ = ["Link", "Transfer", "Network", "max_min_fair"]

_EPS_BYTES = 1e-6
_REL_EPS = 1e-12  # relative float tolerance on cumulative byte counters


@dataclass
class Link:
    """A link with a capacity in bytes per second."""

    name: str
    bandwidth: float
    bytes_carried: float = 0.0

    def __post_init__(self) -> None:
        if not self.bandwidth > 0:
            raise ValueError(f"link {self.name!r}: bandwidth must be > 0")


class _PathClass:
    """The active flows crossing one set of links: they all get the same rate."""

    __slots__ = ("key", "links", "rate", "served", "heap", "n")

    def __init__(self, key: tuple[str, ...], links: tuple[Link, ...]) -> None:
        self.key = key
        self.links = links
        self.rate = 0.0  # per flow, bytes/s
        self.served = 0.0  # bytes each flow of the class received since the class formed
        self.heap: list[tuple[float, int, Transfer]] = []  # (finish threshold, id, transfer)
        self.n = 0

    def top(self) -> Transfer | None:
        """The active flow that finishes first (drops cancelled entries lazily)."""
        heap = self.heap
        while heap and heap[0][2]._cls is not self:
            heapq.heappop(heap)
        return heap[0][2] if heap else None


@dataclass(eq=False)
class Transfer:
    """One flow of ``size`` bytes across ``links``; ``done`` fires when the last byte lands.

    ``remaining`` and ``rate`` are exact at the instants the network recomputes
    (a start or an end of any transfer) and after a cancel.
    """

    id: int
    size: float
    links: tuple[Link, ...]
    done: simpy.Event
    started: float
    tag: str = ""
    finished: float | None = field(default=None)
    _cls: _PathClass | None = field(default=None, repr=False)
    _threshold: float = field(default=0.0, repr=False)
    _left: float = field(default=0.0, repr=False)  # remaining bytes once inactive

    @property
    def remaining(self) -> float:
        """Bytes still to move."""
        if self._cls is None:
            return self._left
        return max(0.0, self._threshold - self._cls.served)

    @property
    def rate(self) -> float:
        """Current rate in bytes per second (0 once finished or cancelled)."""
        return self._cls.rate if self._cls is not None else 0.0


def _water_fill(
    paths: Sequence[tuple[tuple[Link, ...], int]], capacity: dict[str, float] | None = None
) -> list[float]:
    """Per-flow max-min fair rates for path classes ``(links, number of flows)``.

    Progressive filling over classes: every pass raises all unfrozen classes by
    the largest common increment some link allows, then freezes the classes
    crossing the links that saturated. At most one pass per distinct link.
    """
    rates = [0.0] * len(paths)
    left = {link.name: link.bandwidth for links, _ in paths for link in links}
    if capacity:
        left.update(capacity)
    active = [i for i, (_, n) in enumerate(paths) if n > 0]
    while active:
        users: dict[str, int] = {}
        for i in active:
            links, n = paths[i]
            for link in links:
                users[link.name] = users.get(link.name, 0) + n
        if not users:  # flows with no links: unconstrained (should not happen)
            for i in active:
                rates[i] = math.inf
            break
        inc = min(left[name] / n for name, n in users.items())
        saturated = {name for name, n in users.items() if left[name] / n <= inc * (1 + 1e-12)}
        for name, n in users.items():
            left[name] -= inc * n
        still = []
        for i in active:
            rates[i] += inc
            if not any(link.name in saturated for link in paths[i][0]):
                still.append(i)
        active = still
    return rates


def max_min_fair(
    flows: Sequence[tuple[Link, ...]], capacity: dict[str, float] | None = None
) -> list[float]:
    """Max-min fair rates for flows given as tuples of links (progressive filling).

    Flows with the same links get the same rate, so they are grouped into path
    classes first: the cost is linear in the number of flows (the grouping)
    plus (passes × classes), one pass for a single bottleneck.
    """
    index: dict[tuple[str, ...], int] = {}
    paths: list[tuple[tuple[Link, ...], int]] = []
    which: list[int] = []
    for f in flows:
        key = tuple(link.name for link in f)
        k = index.get(key)
        if k is None:
            k = index[key] = len(paths)
            paths.append((f, 0))
        links, n = paths[k]
        paths[k] = (links, n + 1)
        which.append(k)
    per_class = _water_fill(paths, capacity)
    return [per_class[k] for k in which]


class Network:
    """The links of one run and the transfers in flight over them."""

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        self.links: dict[str, Link] = {}
        self._classes: dict[tuple[str, ...], _PathClass] = {}
        self._ids = count()
        self._generation = 0
        self._last = env.now
        self._stale = False

    @property
    def active(self) -> list[Transfer]:
        """The transfers in flight, in start order (for inspection; O(flows))."""
        found = [entry[2] for c in self._classes.values() for entry in c.heap]
        return sorted((t for t in found if t._cls is not None), key=lambda t: t.id)

    def add_link(self, name: str, bandwidth: float) -> Link:
        """Declare a link (idempotent for the same bandwidth)."""
        if name in self.links:
            return self.links[name]
        link = Link(name, bandwidth)
        self.links[name] = link
        return link

    def transfer(self, size: float, path: Sequence[str], tag: str = "") -> Transfer:
        """Start moving ``size`` bytes across the named links; wait on ``.done``."""
        try:
            links = tuple(self.links[name] for name in path)
        except KeyError as exc:
            raise KeyError(f"unknown link {exc.args[0]!r} (known: {sorted(self.links)})") from None
        now = self.env.now
        t = Transfer(next(self._ids), float(size), links, self.env.event(), now, tag)
        if size <= 0 or not links:
            t.finished = now
            t.done.succeed(t)
            return t
        self._advance(now)
        key = tuple(link.name for link in links)
        cls = self._classes.get(key)
        if cls is None:
            cls = self._classes[key] = _PathClass(key, links)
        t._cls = cls
        t._threshold = cls.served + t.size
        heapq.heappush(cls.heap, (t._threshold, t.id, t))
        cls.n += 1
        self._mark_stale()
        return t

    def cancel(self, transfer: Transfer) -> None:
        """Stop a transfer (its bytes so far stay carried); ``done`` never fires."""
        cls = transfer._cls
        if cls is None:
            return
        self._advance(self.env.now)
        transfer._left = transfer.remaining
        transfer._cls = None
        cls.n -= 1
        if cls.n == 0:
            del self._classes[cls.key]
        self._mark_stale()

    def set_bandwidth(self, name: str, bandwidth: float) -> None:
        """Change a link's capacity now (a fault slowing a registry, a repair restoring it).

        Bytes moved so far are settled at the old rates first; the flows in
        flight then get the new max-min fair allocation, so their completion
        times move exactly (a halving at mid-transfer doubles the time left).
        """
        link = self.links.get(name)
        if link is None:
            raise KeyError(f"unknown link {name!r} (known: {sorted(self.links)})")
        if not bandwidth > 0:
            raise ValueError(f"link {name!r}: bandwidth must be > 0")
        self._advance(self.env.now)
        link.bandwidth = float(bandwidth)
        self._mark_stale()

    def rate_of(self, transfer: Transfer) -> float:
        """Current rate of an active transfer (bytes per second)."""
        if self._stale:
            self._recompute()
        return transfer.rate

    # -- internals ---------------------------------------------------------------------------

    def _mark_stale(self) -> None:
        """Recompute once, later at this same instant, for everything that changed now."""
        self._generation += 1  # the pending completion timer may be wrong now
        if not self._stale:
            self._stale = True
            ev = self.env.timeout(0)
            assert ev.callbacks is not None
            ev.callbacks.append(self._on_stale)

    def _on_stale(self, _: simpy.Event) -> None:
        if self._stale:
            self._recompute()

    def _recompute(self) -> None:
        self._stale = False
        self._advance(self.env.now)
        self._reallocate()

    def _advance(self, now: float) -> None:
        dt = now - self._last
        if dt > 0:
            for cls in self._classes.values():
                moved = cls.rate * dt
                if moved > 0:
                    cls.served += moved
                    for link in cls.links:
                        link.bytes_carried += moved * cls.n
        self._last = now

    def _reallocate(self) -> None:
        classes = list(self._classes.values())
        rates = _water_fill([(c.links, c.n) for c in classes])
        for c, r in zip(classes, rates, strict=True):
            c.rate = r
        self._generation += 1
        delay = math.inf
        for c in classes:
            t = c.top()
            if t is not None and c.rate > 0:
                delay = min(delay, (t._threshold - c.served) / c.rate)
        if math.isfinite(delay):
            gen = self._generation
            timer = self.env.timeout(max(0.0, delay), value=gen)
            assert timer.callbacks is not None
            timer.callbacks.append(self._on_timer_event)

    def _on_timer_event(self, event: simpy.Event) -> None:
        self._on_timer(event.value)  # the generation the timer was set for

    def _on_timer(self, generation: Any) -> None:
        if generation != self._generation:
            return  # a newer allocation superseded this timer
        now = self.env.now
        self._advance(now)
        finished: list[Transfer] = []
        nearest: tuple[float, Transfer] | None = None
        for c in self._classes.values():
            while (t := c.top()) is not None:
                left = t._threshold - c.served
                if left > max(_EPS_BYTES, _REL_EPS * t._threshold):
                    if c.rate > 0 and (nearest is None or left / c.rate < nearest[0]):
                        nearest = (left / c.rate, t)
                    break
                heapq.heappop(c.heap)
                finished.append(t)
        if not finished and nearest is not None:
            # Floating-point residue: finish the nearest one.
            t = nearest[1]
            assert t._cls is not None
            t._cls.top()
            heapq.heappop(t._cls.heap)
            finished.append(t)
        finished.sort(key=lambda t: t.id)
        for t in finished:
            cls = t._cls
            assert cls is not None
            residue = t._threshold - cls.served  # tiny, either sign: land exactly `size` bytes
            for link in t.links:
                link.bytes_carried += residue
            t._cls = None
            t._left = 0.0
            t.finished = now
            cls.n -= 1
            if cls.n == 0:
                del self._classes[cls.key]
        self._reallocate()
        for t in finished:
            t.done.succeed(t)
