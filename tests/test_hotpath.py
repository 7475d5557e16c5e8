"""The exact-mode event loop: ``simulator.serving.Environment`` is SimPy, only faster.

Its ``run`` inlines SimPy's ``step`` and merges one off-heap arrival source with the
heap by SimPy's own key (time, priority, event id). These traces pin the order of
events, including exact ties, against plain ``simpy.Environment``.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import simpy

from simulator.serving import Environment


class ListSource:
    """An arrival stream at the given times; each arrival logs itself."""

    def __init__(self, env: Environment, times: list[float], log: list[Any]) -> None:
        self.env, self.times, self.log = env, list(times), log
        self.t_next, self.eid_next = math.inf, 0
        self._schedule()

    def _schedule(self) -> None:
        if self.times:
            self.t_next = self.times.pop(0)
            self.eid_next = next(self.env._eid)  # noqa: SLF001 - as a pushed event would
        else:
            self.t_next = math.inf

    def fire(self) -> None:
        self.log.append(("arrival", self.env.now))
        self._schedule()


def model(env: simpy.Environment, log: list[Any]) -> None:
    """Processes and bare timeouts that tie with each other at t = 1 and t = 2."""

    def proc(name: str, delays: list[float]) -> Any:
        for d in delays:
            yield env.timeout(d)
            log.append((name, env.now))

    env.process(proc("a", [1.0, 1.0]))
    env.process(proc("b", [1.0, 0.5, 0.5]))
    t = env.timeout(2.0)
    assert t.callbacks is not None
    t.callbacks.append(lambda _ev: log.append(("timeout", env.now)))


def test_run_processes_events_in_simpys_order() -> None:
    fast_log: list[Any] = []
    slow_log: list[Any] = []
    fast, slow = Environment(), simpy.Environment()
    model(fast, fast_log)
    model(slow, slow_log)
    fast.run(until=5)
    slow.run(until=5)
    assert fast_log == slow_log
    assert fast.now == slow.now == 5


def test_an_off_heap_arrival_ties_by_the_event_id_it_drew() -> None:
    """An arrival at t = 1 scheduled after the processes' first timeouts (a larger id)
    comes after them; one scheduled before them comes first, as if it were pushed."""
    log: list[Any] = []
    env = Environment()
    early = ListSource(env, [1.0, 2.0], log)  # drew its id first
    env.set_source(early)
    model(env, log)
    env.run(until=3)
    assert log == [
        ("arrival", 1.0),
        ("a", 1.0),
        ("b", 1.0),
        ("b", 1.5),
        # The second arrival drew its id at t = 1, after the t = 2 timeout (scheduled at
        # t = 0) but before a's and b's second timeouts (scheduled at t = 1 and 1.5).
        ("timeout", 2.0),
        ("arrival", 2.0),
        ("a", 2.0),
        ("b", 2.0),
    ]

    # Processes create their timeouts when they start, inside ``run``: after any source.
    # A bare timeout created first draws the smaller id and goes first.
    log2: list[Any] = []
    env2 = Environment()
    t = env2.timeout(1.0)
    assert t.callbacks is not None
    t.callbacks.append(lambda _ev: log2.append(("timeout", env2.now)))
    env2.set_source(ListSource(env2, [1.0], log2))
    env2.run(until=3)
    assert log2 == [("timeout", 1.0), ("arrival", 1.0)]


def test_until_stops_before_arrivals_at_the_horizon_and_run_resumes() -> None:
    log: list[Any] = []
    env = Environment()
    env.set_source(ListSource(env, [1.0, 2.0, 3.0], log))
    env.run(until=2.0)  # the until event is urgent: the arrival at 2 waits
    assert log == [("arrival", 1.0)]
    assert env.peek() == 2.0
    env.run(until=2.5)
    assert log == [("arrival", 1.0), ("arrival", 2.0)]
    env.step()  # SimPy's leftover of the stopped ``until`` event, at 2.5
    assert env.peek() == 3.0
    env.step()
    assert log[-1] == ("arrival", 3.0)
    env.run()
    assert log[-1] == ("arrival", 3.0) and env.peek() == math.inf


def test_an_exhausted_schedule_with_a_pending_until_fails_like_simpy() -> None:
    env = Environment()
    never = env.event()
    with pytest.raises(RuntimeError, match="until"):
        env.run(until=never)


def test_a_failed_event_crashes_the_run_like_simpy() -> None:
    env = Environment()

    def boom() -> Any:
        yield env.timeout(1)
        raise ValueError("boom")

    env.process(boom())
    with pytest.raises(ValueError, match="boom"):
        env.run()
