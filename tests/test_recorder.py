"""Unit tests of the recorder's histogram and a traced single instance on a bare SimPy clock.

The instance tests wire ``simulator.serving.Instance`` to a ``Recorder`` the way the engine
does (``engine._Source._arrive``: ``recorder.arrive``, then ``instance.offer``, and
``recorder.drop`` when the offer is refused) and check the exact completion sequence.
All chosen times and demands are dyadic fractions, so every sum is exact in floating point.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import simpy

from simulator.recorder import LogHistogram, Meter, Recorder
from simulator.serving import Instance, Request, State

# -- LogHistogram -----------------------------------------------------------------------------

HALF_BUCKET = math.sqrt(LogHistogram.RATIO) - 1.0  # ≈ 0.995 %: representative vs any value


@pytest.mark.parametrize("q", [0.01, 0.1, 0.5, 0.9, 0.95, 0.99, 0.999])
def test_quantiles_of_exponential_samples(q: float) -> None:
    rng = np.random.default_rng(12345)
    x = rng.exponential(2.5, 100_000)
    h = LogHistogram()
    h.add(x)
    got = h.quantiles([q])[0]
    # The histogram reports the bucket of the ceil(q·n)-th order statistic: that is numpy's
    # "inverted_cdf" quantile, and the default (linear) one is within the same 1 %.
    exact_order_stat = float(np.quantile(x, q, method="inverted_cdf"))
    assert got == pytest.approx(exact_order_stat, rel=0.01)
    assert got == pytest.approx(float(np.quantile(x, q)), rel=0.01)
    assert abs(got / exact_order_stat - 1.0) <= HALF_BUCKET + 1e-12


def test_reported_quantile_is_the_middle_of_the_bucket_holding_the_order_statistic() -> None:
    rng = np.random.default_rng(7)
    x = rng.lognormal(-3.0, 2.0, 50_001)  # spans many decades
    h = LogHistogram()
    h.add(x)
    xs = np.sort(x)
    for q in (0.5, 0.9, 0.99, 0.999):
        rank = math.ceil(q * x.size)
        k = int(h.index(np.array([xs[rank - 1]]))[0])
        lo = LogHistogram.LOW * LogHistogram.RATIO ** (k - 1)
        assert lo <= xs[rank - 1] * (1 + 1e-12)
        assert xs[rank - 1] < lo * LogHistogram.RATIO * (1 + 1e-12)
        assert h.quantiles([q])[0] == pytest.approx(lo * math.sqrt(LogHistogram.RATIO), rel=1e-12)


def test_quantiles_in_batches_equal_one_shot() -> None:
    rng = np.random.default_rng(3)
    x = rng.exponential(1.0, 30_000)
    one, parts = LogHistogram(), LogHistogram()
    one.add(x)
    for chunk in np.array_split(x, 7):
        parts.add(chunk)
    assert np.array_equal(one.counts, parts.counts)
    assert one.n == parts.n == x.size


def test_zero_and_sub_microsecond_values_go_to_bucket_zero() -> None:
    h = LogHistogram()
    tiny = np.array([0.0, 1e-12, 1e-9, 5e-7, 0.999e-6])
    assert h.index(tiny).tolist() == [0] * tiny.size
    assert int(h.index(np.array([1e-6]))[0]) == 1  # LOW itself opens bucket 1
    assert int(h.index(np.array([1e-6 * 1.01]))[0]) == 1
    assert int(h.index(np.array([1e-6 * 1.03]))[0]) == 2
    h.add(tiny)
    assert h.counts[0] == tiny.size
    assert h.n == tiny.size
    assert h.quantiles([0.5, 0.99, 1.0]) == [0.0, 0.0, 0.0]
    assert h.representative(0) == 0.0


def test_huge_values_are_clipped_into_the_last_bucket() -> None:
    h = LogHistogram()
    h.add(np.array([1e9, 1e12, math.inf]))
    assert h.counts[-1] == 3
    assert h.n == 3


def test_empty_histogram_gives_nan() -> None:
    h = LogHistogram()
    assert h.n == 0
    out = h.quantiles([0.5, 0.95, 0.99])
    assert len(out) == 3
    assert all(math.isnan(v) for v in out)


def test_quantile_rank_rule_on_small_samples() -> None:
    h = LogHistogram()
    h.add(np.array([1.0, 2.0, 3.0, 4.0]))
    # rank = max(1, ceil(q·n)): q = 0.5 → 2nd value, q = 0.51 → 3rd, q = 0 → 1st.
    p0, p50, p51, p100 = h.quantiles([0.0, 0.5, 0.51, 1.0])
    assert p0 == pytest.approx(1.0, rel=0.01)
    assert p50 == pytest.approx(2.0, rel=0.01)
    assert p51 == pytest.approx(3.0, rel=0.01)
    assert p100 == pytest.approx(4.0, rel=0.01)


def test_count_at_most() -> None:
    h = LogHistogram()
    h.add(np.array([0.1, 0.2, 0.5, 1.0, 5.0, 10.0]))
    assert h.count_at_most(0.3) == 2
    assert h.count_at_most(100.0) == 6
    assert h.count_at_most(1e-9) == 0


def test_meter_integrates_a_level() -> None:
    m = Meter()
    m.set(1.0, 2.0)  # 0 on [0, 1)
    m.add(3.0, 1.0)  # 2 on [1, 3), then 3
    assert m.value == 3.0
    assert m.area_at(5.0) == pytest.approx(0 * 1 + 2 * 2 + 3 * 2)


# -- one instance, traced ---------------------------------------------------------------------


class TracingRecorder(Recorder):
    """A Recorder that also logs every completion, drop and timeout with its time."""

    def __init__(self, env: simpy.Environment, warmup: float = 0.0) -> None:
        super().__init__(warmup, None)
        self.env = env
        self.names: dict[int, str] = {}
        self.completions: list[tuple[str, float]] = []
        self.drops: list[tuple[str, float]] = []
        self.timeouts: list[tuple[str, float]] = []
        self.waits: dict[str, float] = {}

    def name(self, req: Request) -> str:
        return self.names[id(req)]

    def complete(self, req: Request, now: float) -> None:
        self.completions.append((self.name(req), now))
        self.waits[self.name(req)] = req.t_start - req.t_arrival
        super().complete(req, now)

    def drop(self, req: Request, no_instance: bool) -> None:
        self.drops.append((self.name(req), self.env.now))
        super().drop(req, no_instance)

    def timed_out(self, req: Request) -> None:
        self.timeouts.append((self.name(req), self.env.now))
        super().timed_out(req)


Arrival = tuple[str, float, float]  # name, arrival time, demand


def simulate(
    arrivals: list[Arrival],
    *,
    until: float,
    warmup: float = 0.0,
    **instance_kwargs: Any,
) -> tuple[TracingRecorder, Instance, list[Request]]:
    """Offer ``arrivals`` to one ready instance on a bare environment, run to ``until``."""
    env = simpy.Environment()
    rec = TracingRecorder(env, warmup)
    inst = Instance(env, rec, 0, **instance_kwargs)
    inst.state = State.READY
    requests: list[Request] = []

    def source() -> Iterator[simpy.Event]:
        for name, t, demand in sorted(arrivals, key=lambda a: a[1]):
            yield env.timeout(t - env.now)
            req = Request(env.now, demand, 0)
            rec.names[id(req)] = name
            requests.append(req)
            rec.arrive(req)
            if not inst.offer(req):
                rec.drop(req, False)

    env.process(source())
    env.run(until=until)
    return rec, inst, requests


def test_fifo_and_worker_concurrency() -> None:
    arrivals = [
        ("A", 0.0, 5.0),  # worker 1: [0, 5]
        ("B", 1.0, 1.0),  # worker 2: [1, 2]
        ("C", 1.5, 2.0),  # queued; worker 2 at 2: [2, 4]
        ("D", 2.25, 1.5),  # queued; worker 2 at 4: [4, 5.5]
        ("E", 2.5, 0.25),  # queued behind D; worker 1 at 5: [5, 5.25]
    ]
    rec, inst, _ = simulate(arrivals, until=10.0, workers=2)
    assert rec.completions == [("B", 2.0), ("C", 4.0), ("A", 5.0), ("E", 5.25), ("D", 5.5)]
    assert rec.waits == {"A": 0.0, "B": 0.0, "C": 0.5, "D": 1.75, "E": 2.5}
    rec.flush()
    assert (rec.arrived, rec.completed, rec.dropped, rec.timed_out_n) == (5, 5, 0, 0)
    assert rec.waited == 3
    assert rec.wait_sum == pytest.approx(4.75)
    assert rec.latency_sum == pytest.approx(1.0 + 2.5 + 5.0 + 2.75 + 3.25)
    assert rec.latency_max == 5.0
    assert inst.served == 5
    assert inst.busy == 0 and not inst.queue
    busy_area, queue_area = inst.areas(10.0)
    assert busy_area == pytest.approx(5.0 + 1.0 + 2.0 + 1.5 + 0.25)  # Σ demands
    assert queue_area == pytest.approx(4.75)  # Σ waits


def test_fifo_single_worker_order_is_arrival_order() -> None:
    # Short jobs behind a long one are served in arrival order, never by size.
    arrivals = [("A", 0.0, 4.0), ("B", 0.5, 2.0), ("C", 1.0, 0.5), ("D", 1.5, 0.25)]
    rec, _, _ = simulate(arrivals, until=20.0, workers=1)
    assert rec.completions == [("A", 4.0), ("B", 6.0), ("C", 6.5), ("D", 6.75)]


def test_speed_scales_service() -> None:
    arrivals = [("A", 0.0, 3.0), ("B", 0.5, 1.0)]
    rec, _, _ = simulate(arrivals, until=20.0, workers=1, speed=2.0)
    assert rec.completions == [("A", 1.5), ("B", 2.0)]


def test_queue_limit_drops_when_the_waiting_room_is_full() -> None:
    arrivals = [
        ("A", 0.0, 2.0),  # served [0, 2]
        ("B", 0.5, 1.0),  # waits (queue 1/1); served [2, 3]
        ("C", 1.0, 1.0),  # queue full → dropped
        ("D", 2.5, 1.0),  # queue empty again (B in service) → waits; served [3, 4]
        ("E", 2.75, 1.0),  # queue full (D) → dropped
    ]
    rec, inst, _ = simulate(arrivals, until=10.0, workers=1, queue_limit=1)
    assert rec.completions == [("A", 2.0), ("B", 3.0), ("D", 4.0)]
    assert rec.drops == [("C", 1.0), ("E", 2.75)]
    rec.flush()
    assert (rec.arrived, rec.completed, rec.dropped_queue_full, rec.dropped_no_instance) == (
        5,
        3,
        2,
        0,
    )
    assert inst.served == 3


def test_queue_limit_zero_is_a_loss_system() -> None:
    arrivals = [("A", 0.0, 2.0), ("B", 0.5, 2.0), ("C", 1.0, 1.0), ("D", 2.25, 1.0)]
    rec, _, _ = simulate(arrivals, until=10.0, workers=2, queue_limit=0)
    assert rec.completions == [("A", 2.0), ("B", 2.5), ("D", 3.25)]
    assert rec.drops == [("C", 1.0)]
    assert set(rec.waits.values()) == {0.0}


def test_timeout_expires_queued_requests_when_a_worker_frees() -> None:
    arrivals = [
        ("A", 0.0, 3.0),  # served [0, 3]
        ("B", 0.5, 1.0),  # at 3 it has waited 2.5 > 1.5: timed out at 3
        ("C", 2.0, 1.0),  # at 3 it has waited 1.0: served [3, 4]
        ("D", 2.25, 0.5),  # at 4 it has waited 1.75 > 1.5: timed out at 4
        ("E", 2.5, 1.0),  # at 4 it has waited exactly 1.5 (not more): served [4, 5]
        ("F", 4.5, 3.0),  # waits 0.5: served [5, 8]
        ("G", 5.5, 1.0),  # still queued at the horizon 7.5, waited 2 > 1.5
    ]
    rec, inst, requests = simulate(arrivals, until=7.5, workers=1, timeout=1.5)
    assert rec.completions == [("A", 3.0), ("C", 4.0), ("E", 5.0)]
    assert rec.timeouts == [("B", 3.0), ("D", 4.0)]
    assert [rec.name(r) for r in inst.queue] == ["G"]
    # End of run: the engine expires the queue at the horizon (G's client has given up);
    # F is still in service, so it is in flight.
    inst.expire_queue(7.5)
    assert rec.timeouts[-1][0] == "G"
    assert not inst.queue
    assert inst.busy == 1
    rec.flush()
    in_flight = 1
    assert rec.arrived == len(requests) == 7
    assert (rec.completed, rec.timed_out_n, rec.dropped) == (3, 3, 0)
    assert rec.arrived == rec.completed + rec.dropped + rec.timed_out_n + in_flight


def test_timed_out_requests_do_not_use_a_worker() -> None:
    # Two workers; both B and C time out while A and X hold the workers, then D is served
    # at once when a worker frees: the skipped requests cost no service time.
    arrivals = [
        ("A", 0.0, 4.0),
        ("X", 0.0, 4.0),
        ("B", 0.5, 10.0),
        ("C", 1.0, 10.0),
        ("D", 3.5, 1.0),
    ]
    rec, inst, _ = simulate(arrivals, until=20.0, workers=2, timeout=2.0)
    assert rec.timeouts == [("B", 4.0), ("C", 4.0)]
    assert rec.completions == [("A", 4.0), ("X", 4.0), ("D", 5.0)]
    assert inst.areas(20.0)[0] == pytest.approx(4.0 + 4.0 + 1.0)


def test_warmup_cohort_counts_only_requests_arriving_after_warmup() -> None:
    arrivals = [("A", 0.0, 3.0), ("B", 1.0, 1.0), ("C", 2.0, 1.0), ("D", 6.0, 0.5)]
    rec, _, _ = simulate(arrivals, until=10.0, workers=1, warmup=1.5)
    # A and B arrived before the warm-up ended: served but not counted (C waited 2 s).
    assert rec.completions == [("A", 3.0), ("B", 4.0), ("C", 5.0), ("D", 6.5)]
    rec.flush()
    assert (rec.arrived, rec.completed) == (2, 2)
    assert rec.wait_sum == pytest.approx(2.0)
    assert rec.latency_sum == pytest.approx(3.0 + 0.5)
    assert rec.hist.n == 2
    # The time-series window counts everything.
    arrived, completed, dropped, timed_out, _ = rec.take_window()
    assert (arrived, completed, dropped, timed_out) == (4, 4, 0, 0)
