"""Cluster lifecycle, traced: ready, drain, retire and fail, with the recorder's counts."""

from __future__ import annotations

from collections.abc import Generator

import numpy as np
import simpy

import simulator
from simulator.balancer import RoundRobin
from simulator.platform import Cluster
from simulator.recorder import Recorder
from simulator.serving import Request, State


def scenario() -> simulator.Scenario:
    exp = simulator.load_experiment(
        {
            "name": "c",
            "horizon": "100s",
            "workload": {
                "arrivals": {"kind": "constant", "rate": "1/s"},
                "service_time": {"kind": "fixed", "value": "10s"},
            },
            "scenarios": [{"name": "s", "platform": {"kind": "fixed", "instances": 1}}],
        }
    )
    return exp.scenarios[0]


def make() -> tuple[simpy.Environment, Cluster, Recorder]:
    env = simpy.Environment()
    rec = Recorder(warmup=0.0, slo_latency=None)
    cluster = Cluster(env, rec, RoundRobin(np.random.default_rng(0)), scenario())
    return env, cluster, rec


def offer_at(
    env: simpy.Environment, cluster: Cluster, rec: Recorder, times: list[float]
) -> Generator[simpy.Event, None, None]:
    for t in times:
        yield env.timeout(t - env.now)
        req = Request(env.now, 10.0, 0)
        rec.arrive(req)
        inst = cluster.balancer.pick()
        assert inst is not None
        if not inst.offer(req):
            rec.drop(req, False)


def test_fail_loses_queued_and_in_service_requests_and_retires_the_instance() -> None:
    env, cluster, rec = make()
    inst = cluster.launch(workers=2, queue_limit=None, price=1.0)
    cluster.mark_ready(inst)
    env.process(offer_at(env, cluster, rec, [0.0, 1.0, 2.0]))  # 2 in service, 1 queued

    def killer() -> Generator[simpy.Event, None, None]:
        yield env.timeout(5.0)
        assert cluster.fail(inst) == 3

    env.process(killer())
    env.run(until=50)
    rec.flush()
    assert (rec.arrived, rec.completed, rec.dropped_failed, rec.dropped) == (3, 0, 3, 3)
    assert inst.state is State.GONE and inst.t_gone == 5.0
    assert len(cluster.balancer) == 0
    assert cluster.cost_rate.area_at(50.0) == 5.0  # billed only while it existed
    # The disarmed completions fired harmlessly at 10 and 11: nothing was served.
    assert inst.served == 0


def test_drain_finishes_in_flight_work_then_retires() -> None:
    env, cluster, rec = make()
    inst = cluster.launch(workers=1, queue_limit=None)
    cluster.mark_ready(inst)
    env.process(offer_at(env, cluster, rec, [0.0, 1.0]))

    def drainer() -> Generator[simpy.Event, None, None]:
        yield env.timeout(5.0)
        cluster.drain(inst)
        assert inst.state is State.DRAINING and len(cluster.balancer) == 0

    env.process(drainer())
    env.run(until=50)
    rec.flush()
    assert (rec.completed, rec.dropped) == (2, 0)
    assert inst.state is State.GONE and inst.t_gone == 20.0


def test_drain_loses_what_is_still_in_flight_after_the_grace_period() -> None:
    env, cluster, rec = make()
    inst = cluster.launch(workers=1, queue_limit=None)
    cluster.mark_ready(inst)
    env.process(offer_at(env, cluster, rec, [0.0, 1.0, 2.0]))  # 10 s each, one worker

    def drainer() -> Generator[simpy.Event, None, None]:
        yield env.timeout(5.0)
        cluster.drain(inst, grace=12.0)  # the first finishes at 10; the rest are cut at 17

    env.process(drainer())
    env.run(until=50)
    rec.flush()
    assert (rec.completed, rec.dropped_failed) == (1, 2)
    assert inst.state is State.GONE and inst.t_gone == 17.0


def test_slo_violation_minutes_and_max_instances_from_a_run() -> None:
    # One worker, 1 s fixed service, arrivals at 0.5/s then 2/s from 300 s: the queue grows
    # without bound after 300 s, so every late window breaks the 2 s p99 target (early
    # windows may break it too, by chance).
    exp = simulator.load_experiment(
        {
            "name": "v",
            "horizon": "600s",
            "sample_interval": "60s",
            "workload": {
                "arrivals": {
                    "kind": "step",
                    "initial": "0.5/s",
                    "steps": [{"at": "300s", "rate": "2/s"}],
                },
                "service_time": {"kind": "fixed", "value": "1s"},
            },
            "slo": {"latency_p99": "2s"},
            "scenarios": [{"name": "s", "platform": {"kind": "fixed", "instances": 1}}],
        }
    )
    res = simulator.run(exp)
    row = res.summary.iloc[0]
    ts = res.timeseries
    broken = ts[ts["latency_p99_s"] > 2.0]
    assert row["slo_violation_minutes"] == len(broken)  # 60 s windows
    late = ts[ts["time_s"] > 360]
    assert (late["latency_p99_s"] > 2.0).all()  # overload: every late window breaks it
    assert row["slo_violation_minutes"] >= len(late)
    assert row["max_instances"] == 1
    assert row["scale_events"] == 0


def test_schedule_repeats_like_cron_and_records_each_action() -> None:
    exp = simulator.load_experiment(
        {
            "name": "cron",
            "horizon": "3000s",
            "workload": {
                "arrivals": {"kind": "constant", "rate": "1/s"},
                "service_time": {"kind": "fixed", "value": "10ms"},
            },
            "scenarios": [
                {
                    "name": "c",
                    "platform": {"kind": "cloud", "initial": 1, "baked_image": True},
                    "autoscaler": {
                        "kind": "schedule",
                        "actions": [{"at": "100s", "instances": 3}, {"at": "500s", "instances": 1}],
                        "repeat": "1000s",
                    },
                }
            ],
        }
    )
    res = simulator.run(exp)
    rows = res.tables["scaling"]
    assert list(zip(rows["time_s"], rows["current"], rows["applied"], strict=True)) == [
        (100.0, 1, 3),
        (500.0, 3, 1),
        (1100.0, 1, 3),
        (1500.0, 3, 1),
        (2100.0, 1, 3),
        (2500.0, 3, 1),
    ]
    assert res.summary.iloc[0]["scale_events"] == 6
