"""Finite links shared by concurrent transfers with max-min fairness.

A transfer crosses one or more links (say registry egress → node ingress). At
every instant the active transfers get the max-min fair allocation (progressive
filling / water-filling, Bertsekas & Gallager, *Data Networks*, §6.5.2): all
rates grow together; when a link saturates, the transfers crossing it freeze
at their share and the rest keep growing. A transfer crossing two links thus
gets its bottleneck share. The allocation is recomputed whenever a transfer
starts or ends; between those instants rates are constant, so completion
times are exact, not stepped.

One pending SimPy timer (the earliest completion) is kept at a time; a
generation counter discards timers made stale by a recomputation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import count
from typing import Any

import simpy

__all__ = ["Link", "Transfer", "Network", "max_min_fair"]

_EPS_BYTES = 1e-6


@dataclass
class Link:
    """A link with a capacity in bytes per second."""

    name: str
    bandwidth: float
    bytes_carried: float = 0.0

    def __post_init__(self) -> None:
        if not self.bandwidth > 0:
            raise ValueError(f"link {self.name!r}: bandwidth must be > 0")


@dataclass(eq=False)
class Transfer:
    """One flow of ``size`` bytes across ``links``; ``done`` fires when the last byte lands."""

    id: int
    size: float
    links: tuple[Link, ...]
    done: simpy.Event
    started: float
    remaining: float = 0.0
    rate: float = 0.0
    tag: str = ""
    finished: float | None = field(default=None)


def max_min_fair(
    flows: Sequence[tuple[Link, ...]], capacity: dict[str, float] | None = None
) -> list[float]:
    """Max-min fair rates for flows given as tuples of links (progressive filling)."""
    rates = [0.0] * len(flows)
    active = set(range(len(flows)))
    left = {link.name: link.bandwidth for f in flows for link in f}
    if capacity:
        left.update(capacity)
    while active:
        # Per link: how much each active flow crossing it could still gain.
        users: dict[str, int] = {}
        for i in active:
            for link in flows[i]:
                users[link.name] = users.get(link.name, 0) + 1
        if not users:  # flows with no links: unconstrained (should not happen)
            for i in active:
                rates[i] = math.inf
            break
        inc = min(left[name] / n for name, n in users.items())
        saturated = {name for name, n in users.items() if left[name] / n <= inc * (1 + 1e-12)}
        for name, n in users.items():
            left[name] -= inc * n
        frozen = set()
        for i in active:
            rates[i] += inc
            if any(link.name in saturated for link in flows[i]):
                frozen.add(i)
        active -= frozen
    return rates


class Network:
    """The links of one run and the transfers in flight over them."""

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        self.links: dict[str, Link] = {}
        self.active: list[Transfer] = []
        self._ids = count()
        self._generation = 0
        self._last = env.now

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
        t = Transfer(next(self._ids), float(size), links, self.env.event(), now, float(size))
        t.tag = tag
        if size <= 0 or not links:
            t.finished = now
            t.done.succeed(t)
            return t
        self._advance(now)
        self.active.append(t)
        self._reallocate()
        return t

    def _advance(self, now: float) -> None:
        dt = now - self._last
        if dt > 0:
            for t in self.active:
                moved = min(t.remaining, t.rate * dt)
                t.remaining -= moved
                for link in t.links:
                    link.bytes_carried += moved
        self._last = now

    def _reallocate(self) -> None:
        rates = max_min_fair([t.links for t in self.active])
        for t, r in zip(self.active, rates, strict=True):
            t.rate = r
        self._generation += 1
        if self.active:
            delay = min(t.remaining / t.rate for t in self.active)
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
        finished = [t for t in self.active if t.remaining <= _EPS_BYTES * max(1.0, t.size * 1e-9)]
        if not finished:
            # Floating-point residue: finish the nearest one.
            finished = [min(self.active, key=lambda t: t.remaining / t.rate)]
        for t in finished:
            for link in t.links:
                link.bytes_carried += t.remaining
            t.remaining = 0.0
            t.finished = now
            self.active.remove(t)
        self._reallocate()
        for t in finished:
            t.done.succeed(t)

    def cancel(self, transfer: Transfer) -> None:
        """Stop a transfer (its bytes so far stay carried); ``done`` never fires."""
        if transfer not in self.active:
            return
        self._advance(self.env.now)
        self.active.remove(transfer)
        self._reallocate()

    def rate_of(self, transfer: Transfer) -> float:
        """Current rate of an active transfer (bytes per second)."""
        return transfer.rate
