"""The bucketed least-connections balancer picks exactly what nginx's linear scan picks.

``LeastConnections`` answers in O(log n) with buckets keyed by active count and lazy
round-robin offsets; the reference below is the textbook loop it replaced (nginx
``least_conn``: the least ``active/weight``, ties broken by smooth weighted round robin
among the tied only). Hypothesis drives both over random sequences of instances joining,
leaving, taking requests (accepted or dropped on a full queue), finishing them and
timing out queued ones, and every pick must name the same instance.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.balancer import LeastConnections, PowerOfTwo, RandomChoice, RoundRobin
from simulator.recorder import Recorder
from simulator.serving import Environment, Instance, Request, State


class NaiveLeastConnections:
    """nginx ``least_conn`` as a plain scan over the ready instances (the reference)."""

    def __init__(self) -> None:
        self.instances: list[Instance] = []
        self.current: dict[int, float] = {}

    def add(self, inst: Instance) -> None:
        self.instances.append(inst)
        self.current[inst.id] = 0.0

    def remove(self, inst: Instance) -> None:
        self.instances.remove(inst)
        del self.current[inst.id]

    def pick(self) -> Instance | None:
        if not self.instances:
            return None
        if len(self.instances) == 1:
            return self.instances[0]
        best = min((i.busy + len(i.queue)) / i.weight for i in self.instances)
        tied = [i for i in self.instances if (i.busy + len(i.queue)) / i.weight == best]
        if len(tied) == 1:
            return tied[0]
        total, winner = 0.0, None
        for p in tied:
            self.current[p.id] += p.weight
            total += p.weight
            if winner is None or self.current[p.id] > self.current[winner.id]:
                winner = p
        assert winner is not None
        self.current[winner.id] -= total
        return winner


class Rig:
    """Instances on one environment, routed by the fast balancer and the reference."""

    def __init__(self, timeout: float | None, scan_below: int = 0) -> None:
        self.env = Environment()
        self.recorder = Recorder(0.0, None)
        self.fast = LeastConnections(np.random.default_rng(0), scan_below=scan_below)
        self.naive = NaiveLeastConnections()
        self.timeout = timeout
        self.members: list[Instance] = []
        self.draining: list[Instance] = []
        self.in_service: dict[int, list[Request]] = {}
        self.ids = 0
        self.picks = 0

    def join(self, workers: int, queue_limit: int | None, weight: float) -> None:
        inst = Instance(
            self.env,
            self.recorder,
            self.ids,
            workers=workers,
            queue_limit=queue_limit,
            weight=weight,
            timeout=self.timeout,
        )
        self.ids += 1
        inst.state = State.READY
        self.in_service[inst.id] = []
        self.members.append(inst)
        self.fast.add(inst)
        self.naive.add(inst)

    def leave(self, k: int) -> None:
        inst = self.members.pop(k % len(self.members))
        self.fast.remove(inst)
        self.naive.remove(inst)
        self.draining.append(inst)  # still finishes its requests, no longer routed to

    def offer(self) -> None:
        got, want = self.fast.pick(), self.naive.pick()
        assert (got and got.id) == (want and want.id), f"pick {self.picks}"
        self.picks += 1
        if got is None:
            return
        req = Request(self.env.now, 1.0, 0)
        busy = got.busy
        if got.offer(req) and got.busy > busy:
            self.in_service[got.id].append(req)

    def complete(self, k: int, advance: float) -> None:
        """The oldest request in service somewhere finishes ``advance`` seconds later."""
        busy = [i for i in self.members + self.draining if self.in_service[i.id]]
        if not busy:
            return
        inst = busy[k % len(busy)]
        self.env._now += advance  # noqa: SLF001 - a trace: the clock moves by hand
        req = self.in_service[inst.id].pop(0)
        queue_before = list(inst.queue)
        inst._complete(req)  # noqa: SLF001
        # A queued request left the queue either into service (it carries the completion
        # callbacks now) or as timed out (never scheduled).
        self.in_service[inst.id] += [r for r in queue_before if r not in inst.queue and r.callbacks]


ops = st.lists(
    st.one_of(
        st.tuples(
            st.just("join"),
            st.integers(1, 3),
            st.sampled_from([None, 0, 1, 4]),
            st.integers(0, 10),
        ),
        st.tuples(st.just("leave"), st.integers(0, 50)),
        st.tuples(st.just("offer")),
        st.tuples(st.just("offer")),
        st.tuples(st.just("offer")),
        st.tuples(st.just("complete"), st.integers(0, 50), st.sampled_from([0.0, 0.5, 3.0])),
    ),
    max_size=120,
)


@settings(max_examples=400, deadline=None)
@given(
    steps=ops,
    weights=st.sampled_from([[1.0], [2.0], [0.5], [0.3], [1.0, 2.0], [1.0, 1.0, 3.0]]),
    timeout=st.sampled_from([None, 1.0]),
    scan_below=st.sampled_from([0, 0, 3]),
)
def test_fast_least_connections_picks_what_the_scan_picks(
    steps: list[tuple[Any, ...]], weights: list[float], timeout: float | None, scan_below: int
) -> None:
    """Buckets from the first instance (scan_below 0), or switching between the scan and
    buckets as the fleet crosses three instances."""
    rig = Rig(timeout, scan_below)
    for step in steps:
        if step[0] == "join":
            _, workers, queue_limit, w = step
            rig.join(workers, queue_limit, weights[w % len(weights)])
        elif step[0] == "leave" and rig.members:
            rig.leave(step[1])
        elif step[0] == "offer":
            rig.offer()
        elif step[0] == "complete":
            rig.complete(step[1], step[2])
    for _ in range(5):
        rig.offer()


def test_buckets_are_used_for_equal_weights_and_the_scan_otherwise() -> None:
    rig = Rig(None)
    for _ in range(3):
        rig.join(1, None, 2.0)
    assert rig.fast._fast  # noqa: SLF001
    rig.join(1, None, 1.0)
    assert not rig.fast._fast  # noqa: SLF001 - unequal weights: nginx's scan
    rig.leave(3)
    assert rig.fast._fast  # noqa: SLF001 - back to buckets, round-robin state carried over
    rig.join(1, None, 0.1)
    rig.leave(3)
    for _ in range(10):
        rig.offer()


def test_small_fleets_use_the_scan_and_large_ones_buckets() -> None:
    rig = Rig(None, scan_below=LeastConnections.SCAN_BELOW)
    for _ in range(LeastConnections.SCAN_BELOW - 1):
        rig.join(1, None, 1.0)
    assert not rig.fast._fast and all(i.watch is None for i in rig.members)  # noqa: SLF001
    rig.join(1, None, 1.0)
    assert rig.fast._fast and all(i.watch is rig.fast for i in rig.members)  # noqa: SLF001
    for _ in range(50):
        rig.offer()
    rig.leave(0)
    assert not rig.fast._fast and all(i.watch is None for i in rig.members)  # noqa: SLF001
    for _ in range(50):
        rig.offer()


def test_tie_break_trace_with_four_idle_instances() -> None:
    """Equal load: nginx's smooth round robin among the tied goes 0, 1, 2, 3 in order;
    then the instance that finished first is the only least loaded one."""
    rig = Rig(None)
    for _ in range(4):
        rig.join(2, None, 1.0)
    order = []
    for _ in range(4):
        inst = rig.fast.pick()
        assert inst is not None
        order.append(inst.id)
        inst.offer(Request(0.0, 1.0, 0))
    assert order == [0, 1, 2, 3]
    rig.members[2]._complete(Request(0.0, 1.0, 0))  # noqa: SLF001
    assert rig.fast.pick() is rig.members[2]


def test_a_pick_over_ten_thousand_instances_does_not_scan() -> None:
    """O(log n): a pick touches the least-loaded bucket only (counted, not timed)."""
    rig = Rig(None)
    for _ in range(10_000):
        rig.join(4, None, 1.0)
    touched = []

    class Spy(list):  # type: ignore[type-arg]
        def __iter__(self) -> Any:
            touched.append(1)
            return super().__iter__()

    rig.fast.instances = Spy(rig.fast.instances)
    for _ in range(1000):
        inst = rig.fast.pick()
        assert inst is not None
        inst.offer(Request(0.0, 1.0, 0))
    assert not touched
    loads = sorted(i.busy for i in rig.members)
    assert loads[0] == 0 and loads[-1] == 1 and sum(loads) == 1000


@pytest.mark.parametrize("cls", [RoundRobin, RandomChoice, PowerOfTwo])
def test_other_balancers_route_only_to_members(cls: type) -> None:
    env = Environment()
    rec = Recorder(0.0, None)
    bal = cls(np.random.default_rng(1))
    insts = [Instance(env, rec, i, workers=1, weight=1.0 + i % 2) for i in range(6)]
    for inst in insts:
        bal.add(inst)
    bal.remove(insts[0])
    bal.remove(insts[3])
    seen = {bal.pick().id for _ in range(300)}
    assert seen == {1, 2, 4, 5}
