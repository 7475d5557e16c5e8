"""Load balancers: route each request to a *ready* instance.

Semantics follow real proxies (``../shared/reference/control-loops-and-queueing.md`` §4):

* ``round_robin`` — nginx's default smooth weighted round robin
  (``ngx_http_upstream_round_robin.c``); strict rotation when weights are equal.
* ``least_connections`` — nginx ``least_conn``: the minimum ``active/weight``,
  ties broken by the smooth round robin among the tied instances only.
* ``random`` — uniform (weighted by weight), like Envoy ``RANDOM`` / nginx ``random``.
* ``power_of_two`` — nginx ``random two least_conn``: two *distinct* instances
  drawn by weight, the one with fewer ``active/weight`` wins, a tie goes to the
  second draw.

A balancer only ever holds ready instances: platforms add an instance when it
becomes ready and remove it when it starts draining or fails.
"""

from __future__ import annotations

from heapq import heapify, heappop, heappush, heapreplace
from itertools import count
from typing import Any, Literal

import numpy as np

from simulator.base import Config
from simulator.serving import Instance

__all__ = [
    "Balancer",
    "BalancerConfig",
    "RoundRobin",
    "LeastConnections",
    "RandomChoice",
    "PowerOfTwo",
    "BALANCERS",
    "make_balancer",
]


class Balancer:
    """Base: the set of ready instances plus a ``pick`` strategy.

    Membership changes (``add``/``remove``) are rare next to picks, so they may cost O(n);
    every ``pick`` is O(1) or O(log n) except where noted (weighted round robin, and least
    connections with unequal weights, are nginx's O(n) scans).
    """

    def __init__(self, rng: np.random.Generator) -> None:
        self.instances: list[Instance] = []
        self.rng = rng
        self._uniform: list[float] = []
        self._equal_weights = True
        self._current: dict[int, float] = {}
        self._weights: dict[float, int] = {}  # weight -> instances with it
        self._cum: np.ndarray | None = None  # cumulative weights, rebuilt after a change

    def add(self, inst: Instance) -> None:
        """Start routing to ``inst`` (it became ready)."""
        self.instances.append(inst)
        self._current[inst.id] = 0.0
        self._weights[inst.weight] = self._weights.get(inst.weight, 0) + 1
        self._membership_changed()

    def remove(self, inst: Instance) -> None:
        """Stop routing to ``inst`` (draining, failed or gone)."""
        self.instances.remove(inst)
        self._current.pop(inst.id, None)
        left = self._weights[inst.weight] - 1
        if left:
            self._weights[inst.weight] = left
        else:
            del self._weights[inst.weight]
        self._membership_changed()

    def _membership_changed(self) -> None:
        self._equal_weights = len(self._weights) <= 1
        self._cum = None

    def __len__(self) -> int:
        return len(self.instances)

    def pick(self) -> Instance | None:
        raise NotImplementedError

    def _u(self) -> float:
        """A uniform [0, 1) draw from the routing stream, drawn in blocks."""
        if not self._uniform:
            self._uniform = self.rng.random(4096).tolist()
        return self._uniform.pop()

    def _swrr(self, peers: list[Instance]) -> Instance:
        """nginx smooth weighted round robin over ``peers`` (all healthy)."""
        current = self._current
        total = 0.0
        best: Instance | None = None
        for p in peers:
            c = current[p.id] + p.weight
            current[p.id] = c
            total += p.weight
            if best is None or c > current[best.id]:
                best = p
        assert best is not None
        current[best.id] -= total
        return best

    def _weighted_index(self) -> int:
        insts = self.instances
        if self._equal_weights:
            return int(self._u() * len(insts))
        cum = self._cum
        if cum is None:
            # Cached until the membership changes: a pick is a binary search, O(log n).
            cum = self._cum = np.cumsum(np.fromiter((i.weight for i in insts), float, len(insts)))
        return int(np.searchsorted(cum, self._u() * cum[-1], side="right"))


class RoundRobin(Balancer):
    """Smooth weighted round robin (nginx default); O(1) rotation when weights are equal."""

    def __init__(self, rng: np.random.Generator) -> None:
        super().__init__(rng)
        self._next = 0

    def pick(self) -> Instance | None:
        insts = self.instances
        n = len(insts)
        if n == 0:
            return None
        if self._equal_weights:
            i = self._next % n
            self._next = i + 1
            return insts[i]
        return self._swrr(insts)


def _dyadic(w: float) -> bool:
    """True if multiples of ``w`` up to 2**30 are exact in binary floating point."""
    return 0 < w <= 2.0**20 and (w * 2.0**20).is_integer()


class LeastConnections(Balancer):
    """nginx ``least_conn``: minimum active/weight, smooth round robin among the tied only.

    The definition is the linear scan in ``_scan`` (nginx's loop): the instances with
    the least ``active / weight`` are the tied set; one alone wins outright (no state
    changes), otherwise nginx's smooth weighted round robin runs over the tied set in
    ``instances`` order (every tied peer's ``current`` grows by its weight, the largest
    ``current`` wins — the earliest in order on equal ``current`` — and gives back the
    tied set's total weight).

    With equal weights (the usual case: replicas of one deployment) and at least
    ``scan_below`` instances (below that the scan is cheaper) the same choice is made in
    O(log n) per pick: instances sit in buckets keyed by their active count, as
    the bucket of the minimum *is* the tied set. A bucket adds its members' shared
    ``current`` increment lazily (one offset per bucket, since every member of the tied
    set gains the same weight) and keeps a heap of ``(-current, order)`` with lazy
    deletion, so the round-robin winner is the heap's top. Instances report each change
    of their active count (``Instance.watch``), which moves them between buckets in
    O(log n). Currents are kept in units of the common weight; for weights whose
    multiples are exact in floating point (integers, halves, ...) this is bit-for-bit
    nginx's float arithmetic, and other weights use the scan. Unequal weights use the
    scan too (O(n) per pick, as nginx).
    """

    #: Below this many instances the scan is cheaper than keeping buckets up to date.
    SCAN_BELOW = 32

    def __init__(self, rng: np.random.Generator, scan_below: int | None = None) -> None:
        self.scan_below = self.SCAN_BELOW if scan_below is None else scan_below
        super().__init__(rng)
        self._fast = False
        self._unit = 1.0  # the common weight in fast mode
        # id -> [bucket, current (units, relative to the bucket offset), version, order]
        self._slot: dict[int, list[Any]] = {}
        self._heaps: dict[int, list[tuple[float, int, int, Instance]]] = {}
        self._count: dict[int, int] = {}  # valid members per bucket (non-empty buckets only)
        self._off: dict[int, float] = {}  # lazy current increment per bucket
        self._min = 0
        self._versions = count()
        self._order = count()

    # -- membership ---------------------------------------------------------------------

    def add(self, inst: Instance) -> None:
        """Start routing to ``inst``; it reports its load changes from now on."""
        super().add(inst)
        if self._fast and inst.id not in self._slot:
            inst.watch = self
            rec = [0, 0.0, 0, next(self._order)]
            self._slot[inst.id] = rec
            self._enter(rec, inst, inst.busy + len(inst.queue), 0.0)

    def remove(self, inst: Instance) -> None:
        """Stop routing to ``inst`` (its bucket entries become stale)."""
        inst.watch = None
        if self._fast:
            rec = self._slot.pop(inst.id, None)
            if rec is not None:
                self._leave(rec[0])
        super().remove(inst)

    def _membership_changed(self) -> None:
        super()._membership_changed()
        unit = self.instances[0].weight if self.instances else 1.0
        fast = self._equal_weights and _dyadic(unit) and len(self.instances) >= self.scan_below
        if self._fast and not fast:
            # Hand the currents over to the scan's dict (nginx's floats).
            for inst in self.instances:
                inst.watch = None
                rec = self._slot.get(inst.id)
                if rec is not None:
                    self._current[inst.id] = (rec[1] + self._off[rec[0]]) * self._unit
            self._slot.clear()
            self._heaps.clear()
            self._count.clear()
            self._off.clear()
        self._unit = unit
        if fast and not self._fast:
            self._fast = True
            self._rebuild()
        self._fast = fast

    def _rebuild(self) -> None:
        """Bucket every instance afresh (on switching from the scan to buckets)."""
        self._slot.clear()
        self._heaps.clear()
        self._count.clear()
        self._off.clear()
        for order, inst in enumerate(self.instances):
            inst.watch = self
            eff = self._current.get(inst.id, 0.0) / self._unit
            rec = [0, 0.0, 0, order]
            self._slot[inst.id] = rec
            self._enter(rec, inst, inst.busy + len(inst.queue), eff)
        self._order = count(len(self.instances))
        self._min = min(self._count) if self._count else 0

    # -- buckets ------------------------------------------------------------------------

    def _enter(self, rec: list[Any], inst: Instance, key: int, eff: float) -> None:
        """Put ``inst`` into bucket ``key`` with effective current ``eff`` (units)."""
        n = self._count.get(key, 0)
        if n == 0:
            heap: list[tuple[float, int, int, Instance]] = []
            self._heaps[key] = heap
            self._off[key] = 0.0
            if key < self._min or len(self._count) == 0:
                self._min = key
        else:
            heap = self._heaps[key]
        self._count[key] = n + 1
        s = eff - self._off[key]
        v = next(self._versions)
        rec[0], rec[1], rec[2] = key, s, v
        heappush(heap, (-s, rec[3], v, inst))
        if len(heap) > 4 * n + 64:
            self._compact(key)

    def _leave(self, key: int) -> None:
        n = self._count[key] - 1
        if n:
            self._count[key] = n
            return
        del self._count[key], self._heaps[key], self._off[key]
        if key == self._min and self._count:
            self._min = min(self._count)

    def _compact(self, key: int) -> None:
        """Drop stale entries of one bucket (amortised O(1) per move)."""
        slot = self._slot
        heap = [
            e for e in self._heaps[key] if (rec := slot.get(e[3].id)) is not None and rec[2] == e[2]
        ]
        heapify(heap)
        self._heaps[key] = heap

    def moved(self, inst: Instance) -> None:
        """``inst``'s active count changed (called by the instance; buckets mode only).

        ``_enter`` and ``_leave`` inlined: this runs twice per request."""
        rec = self._slot[inst.id]
        key = inst.busy + len(inst.queue)
        old = rec[0]
        if key == old:
            return
        counts, off = self._count, self._off
        eff = rec[1] + off[old]
        n = counts.get(key, 0)
        if n == 0:
            heap: list[tuple[float, int, int, Instance]] = []
            self._heaps[key] = heap
            off[key] = 0.0
            if key < self._min:
                self._min = key
        else:
            heap = self._heaps[key]
        counts[key] = n + 1
        s = eff - off[key]
        v = next(self._versions)
        rec[0] = key
        rec[1] = s
        rec[2] = v
        heappush(heap, (-s, rec[3], v, inst))
        if len(heap) > 4 * n + 64:
            self._compact(key)
        m = counts[old] - 1
        if m:
            counts[old] = m
        else:
            del counts[old], self._heaps[old], off[old]
            if old == self._min:
                self._min = min(counts)

    # -- choice -------------------------------------------------------------------------

    def pick(self) -> Instance | None:
        insts = self.instances
        n = len(insts)
        if n <= 1:
            return insts[0] if n else None
        if not self._fast:
            return self._scan()
        key = self._min
        heap = self._heaps[key]
        slot = self._slot
        top = heap[0]
        rec = slot.get(top[3].id)
        while rec is None or rec[2] != top[2]:
            heappop(heap)
            top = heap[0]
            rec = slot.get(top[3].id)
        tied = self._count[key]
        if tied == 1:
            return top[3]
        # Smooth round robin over the bucket: all gain one unit, the winner gives back
        # the bucket's total.
        self._off[key] += 1.0
        s = rec[1] - tied
        v = next(self._versions)
        rec[1], rec[2] = s, v
        heapreplace(heap, (-s, top[1], v, top[3]))
        return top[3]

    def _scan(self) -> Instance:
        """nginx's loop: the least loaded and the instances tied with it."""
        insts = self.instances
        tied: list[Instance] = []
        best = float("inf")
        if self._equal_weights:
            for i in insts:
                active = i.busy + len(i.queue)
                if active < best:
                    best, tied = active, [i]
                elif active == best:
                    tied.append(i)
        else:
            for i in insts:
                load = (i.busy + len(i.queue)) / i.weight
                if load < best:
                    best, tied = load, [i]
                elif load == best:
                    tied.append(i)
        if len(tied) == 1:
            return tied[0]
        return self._swrr(tied)


class RandomChoice(Balancer):
    """Uniform random (weighted by weight when weights differ)."""

    def pick(self) -> Instance | None:
        insts = self.instances
        if not insts:
            return None
        if self._equal_weights:
            # The common case inlined (per-request hot path): the same draw as _u().
            uniform = self._uniform
            if not uniform:
                uniform = self._uniform = self.rng.random(4096).tolist()
            return insts[int(uniform.pop() * len(insts))]
        return insts[self._weighted_index()]


class PowerOfTwo(Balancer):
    """nginx ``random two least_conn``: the less loaded of two distinct weighted draws."""

    def pick(self) -> Instance | None:
        insts = self.instances
        n = len(insts)
        if n == 0:
            return None
        if n == 1:
            return insts[0]
        a = self._weighted_index()
        # nginx retries up to 20 draws for a distinct second peer, then falls back to RR.
        for _ in range(20):
            b = self._weighted_index()
            if b != a:
                break
        else:
            b = (a + 1) % n
        pa, pb = insts[a], insts[b]
        # Compared as conns*weight products to avoid division, as nginx does; a tie -> b.
        if (pa.busy + len(pa.queue)) * pb.weight < (pb.busy + len(pb.queue)) * pa.weight:
            return pa
        return pb


BALANCERS: dict[str, type[Balancer]] = {
    "round_robin": RoundRobin,
    "least_connections": LeastConnections,
    "random": RandomChoice,
    "power_of_two": PowerOfTwo,
}

BalancerKind = Literal["round_robin", "least_connections", "random", "power_of_two"]


class BalancerConfig(Config):
    """Which routing policy spreads requests over ready instances."""

    kind: BalancerKind = "round_robin"


def make_balancer(config: BalancerConfig, rng: np.random.Generator) -> Balancer:
    """Build the balancer named by ``config.kind``."""
    return BALANCERS[config.kind](rng)
