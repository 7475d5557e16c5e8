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

from typing import Literal

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
    """Base: the set of ready instances plus a ``pick`` strategy."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.instances: list[Instance] = []
        self.rng = rng
        self._uniform: list[float] = []
        self._equal_weights = True
        self._current: dict[int, float] = {}

    def add(self, inst: Instance) -> None:
        self.instances.append(inst)
        self._current[inst.id] = 0.0
        self._equal_weights = len({i.weight for i in self.instances}) <= 1

    def remove(self, inst: Instance) -> None:
        self.instances.remove(inst)
        self._current.pop(inst.id, None)
        self._equal_weights = len({i.weight for i in self.instances}) <= 1

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
        weights = np.fromiter((i.weight for i in insts), float, len(insts))
        cum = np.cumsum(weights)
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


class LeastConnections(Balancer):
    """nginx ``least_conn``: minimum active/weight, round robin among ties."""

    def pick(self) -> Instance | None:
        insts = self.instances
        if not insts:
            return None
        if len(insts) == 1:
            return insts[0]
        # One pass: the least loaded and the instances tied with it.
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
        if not self.instances:
            return None
        return self.instances[self._weighted_index()]


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
        if pa.active * pb.weight < pb.active * pa.weight:
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
