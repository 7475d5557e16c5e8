"""``cluster-autoscaler``: scale-up, scale-down and expanders as deterministic traces.

Every expected time below is worked out by hand from the fixed pipelines of the
container platform (``tests/test_model_container.py`` uses the same ones):

* node launch: ``api_call`` 2 s (cloud API bucket 2/s, burst 2), ``pending`` 10 s,
  ``boot`` 15 s, ``node_join`` 10 s — a node asked for at *t* is Ready at *t* + 37;
* pod: image pull 5 s on a node without the image, ``create`` 1 s, ``start`` 2 s,
  ``app_start`` 4 s, readiness probes from the container start every 10 s — a pod
  bound at *b* on a cold node is Ready at *b* + 18;
* the autoscaler scans at 0, 10, 20, ... s (``scan_interval``).

Trace runs are wired by hand without traffic (so drained pods leave at once) and read
the controller's node-event ``log``; a few run whole experiments and read
``scaling.csv`` and the summary.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import pytest
import simpy

import simulator
from models.cluster_autoscaler import (
    Backoff,
    ClusterAutoscalerController,
    ExpansionOption,
    LeastWaste,
    MostPods,
    NodeTemplate,
    Price,
    RandomExpander,
    SimNode,
    binpack_estimate,
    crop_budgets,
    filter_schedulable,
    make_expander,
    plan_scale_down,
    removable_now,
    utilisation,
)
from models.container import NoNodeScaler, allocatable
from simulator.balancer import make_balancer
from simulator.engine import streams_for
from simulator.loading import InputError
from simulator.platform import Cluster, RunContext
from simulator.recorder import Recorder
from simulator.registry import AUTOSCALERS, PLATFORMS
from simulator.serving import Request

MIB = 2**20
GIB = 2**30
M5_PER_S = 0.096 / 3600.0

POD_STAGES = {
    "create": {"duration": {"kind": "fixed", "value": "1s"}},
    "start": {"duration": {"kind": "fixed", "value": "2s"}},
    "app_start": {"duration": {"kind": "fixed", "value": "4s"}},
}
NODE_STAGES = {
    "api_call": {"duration": {"kind": "fixed", "value": "2s"}},
    "pending": {"duration": {"kind": "fixed", "value": "10s"}},
    "boot": {"duration": {"kind": "fixed", "value": "15s"}},
    "node_join": {"duration": {"kind": "fixed", "value": "10s"}},
}
SMALL_POD = {"cpu": "600m", "memory": "256Mi"}  # 3 per m5.large (1930m): 0.311 each


def doc(
    platform: dict[str, Any] | None = None,
    ca: dict[str, Any] | None = None,
    actions: list[tuple[str, int]] | None = None,
    horizon: str = "2000s",
) -> dict[str, Any]:
    """One container scenario: [schedule (pods), cluster-autoscaler (nodes)]."""
    plat: dict[str, Any] = {
        "kind": "container",
        "nodes": 1,
        "initial": 1,
        "pod": {"cpu": 1},  # one pod per m5.large node, 0.518 of its CPU
        "image_pull": "5s",
        "stages": copy.deepcopy(POD_STAGES),
        "node_stages": copy.deepcopy(NODE_STAGES),
        "readiness": {"initial_delay": "0s", "period": "10s"},
    }
    plat.update(platform or {})
    controllers: list[dict[str, Any]] = []
    if actions:
        controllers.append(
            {"kind": "schedule", "actions": [{"at": at, "instances": n} for at, n in actions]}
        )
    controllers.append({"kind": "cluster-autoscaler", **(ca or {})})
    return {
        "name": "ca-test",
        "seed": 3,
        "horizon": horizon,
        "workload": {
            "arrivals": {"kind": "constant", "rate": "0.01/s"},
            "service_time": {"kind": "fixed", "value": "10ms"},
        },
        "scenarios": [
            {"name": "k8s", "platform": plat, "serving": {"workers": 2}, "autoscaler": controllers}
        ],
    }


class Wired:
    """A hand-wired run (``simulator.engine.run_one`` without the traffic source)."""

    def __init__(self, d: dict[str, Any]) -> None:
        exp = simulator.load_experiment(d)
        scenario = exp.scenarios[0]
        self.env = simpy.Environment()
        streams = streams_for(exp.seed, 0)
        recorder = Recorder(exp.warmup, None)
        cluster = Cluster(
            self.env, recorder, make_balancer(scenario.balancer, streams["routing"]), scenario
        )
        self.ctx = RunContext(self.env, exp, scenario, 0, cluster, recorder, streams)
        self.platform = PLATFORMS.get("container").build(scenario.platform, self.ctx)
        self.platform.start()
        built = [
            AUTOSCALERS.get(c.kind).build(c, self.platform, self.ctx)
            for c in scenario.autoscalers()
        ]
        self.ca: ClusterAutoscalerController = built[-1]

    def run(self, until: float) -> Wired:
        self.env.run(until=until)
        return self

    def events(self, kind: str | None = None) -> list[tuple[float, str, str]]:
        return [e for e in self.ca.log if kind is None or e[1] == kind]

    def spans(self, name: str) -> list[tuple[str, float, float, float]]:
        return [
            (s.stage, s.start_s, s.end_s, s.waited_s)
            for s in self.ctx.cluster.spans
            if s.instance == name
        ]

    def ca_table(self) -> list[dict[str, Any]]:
        """The cluster autoscaler's rows of scaling.csv (the pod schedule records its own)."""
        return [
            r for r in self.ctx.tables.get("scaling", []) if r["controller"] == "cluster-autoscaler"
        ]

    def rows(self) -> list[tuple[float, str, float, int, int, int]]:
        return [
            (r["time_s"], r["metric"], r["metric_value"], r["current"], r["desired"], r["applied"])
            for r in self.ca_table()
        ]


def run(d: dict[str, Any]) -> simulator.Results:
    return simulator.run(simulator.load_experiment(d))


# -- scale-up -----------------------------------------------------------------------------------


def test_pending_pods_get_nodes_at_the_next_scan_through_the_cloud_pipeline() -> None:
    # At 95 s the pod count goes 1 -> 3: pod-1 and pod-2 are Pending (one pod per node).
    # The scan at 100 s (5 s later, < one scan interval) packs them on 2 template nodes.
    # node-1, node-2: api 100->102 (2 tokens), pending ->112, boot ->127, join ->137.
    # pod-1 binds at 137 on a cold node: pull 137->142, create ->143, start ->145,
    # app ->149; probes at 145, 155 -> Ready at 155.
    w = Wired(doc(actions=[("95s", 3)])).run(300)
    assert w.events() == [
        (100.0, "launch", "node-1"),
        (100.0, "launch", "node-2"),
        (137.0, "ready", "node-1"),
        (137.0, "ready", "node-2"),
    ]
    assert w.spans("node-1") == [
        ("api_call", 100.0, 102.0, 0.0),
        ("pending", 102.0, 112.0, 0.0),
        ("boot", 112.0, 127.0, 0.0),
        ("node_join", 127.0, 137.0, 0.0),
    ]
    assert w.spans("pod-1") == [
        ("schedule", 137.0, 137.0, 42.0),
        ("image_pull", 137.0, 142.0, 0.0),
        ("create", 142.0, 143.0, 0.0),
        ("start", 143.0, 145.0, 0.0),
        ("app_start", 145.0, 149.0, 0.0),
        ("readiness", 149.0, 155.0, 0.0),
    ]
    assert w.platform.placement() == {"pod-0": "node-0", "pod-1": "node-1", "pod-2": "node-2"}
    assert w.rows() == [(100.0, "pending_pods", 2, 1, 3, 3)]
    # The platform's own pending-pods scaler is off: it would have launched at 95 s.
    assert isinstance(w.platform.node_scaler, NoNodeScaler)
    assert w.ctx.extras["counters"]["container_nodes_added"] == 2


@pytest.mark.parametrize(
    ("pending_at", "launch_at"),
    [
        # Oldest pending pod must be > 0 s old (new_pod_scale_up_delay 0, strict) and
        # >= 2 s old (unschedulablePodTimeBuffer), else the loop waits one more scan.
        ("97s", 100.0),
        ("98s", 100.0),
        ("98.5s", 110.0),
        ("99s", 110.0),
        ("100s", 110.0),
    ],
)
def test_pods_younger_than_two_seconds_wait_one_scan(pending_at: str, launch_at: float) -> None:
    w = Wired(doc(actions=[(pending_at, 2)])).run(130)
    assert w.events("launch") == [(launch_at, "launch", "node-1")]


@pytest.mark.parametrize(
    ("ca", "launch_at"),
    [
        ({"scan_interval": "30s"}, 120.0),  # scans at 0, 30, 60, 90, 120
        ({"new_pod_scale_up_delay": "30s"}, 130.0),  # age 35 > 30 first at 130
        ({"new_pod_scale_up_delay": "35s"}, 140.0),  # age 35 is not > 35
    ],
)
def test_scan_interval_and_new_pod_delay(ca: dict[str, Any], launch_at: float) -> None:
    w = Wired(doc(ca=ca, actions=[("95s", 2)])).run(200)
    assert w.events("launch") == [(launch_at, "launch", "node-1")]


@pytest.mark.parametrize(
    ("second_ask", "launches"),
    [
        # 3 pods per node. At 100 one pod is pending -> node-1. At 105 two more pods
        # (3 pending): all fit on the upcoming node-1, so 110 adds nothing ...
        (6, [(100.0, "launch", "node-1")]),
        # ... but with three more (4 pending) one is left over -> node-2 at 110.
        (7, [(100.0, "launch", "node-1"), (110.0, "launch", "node-2")]),
    ],
)
def test_pods_that_fit_on_upcoming_nodes_add_no_node(
    second_ask: int, launches: list[tuple[float, str, str]]
) -> None:
    d = doc({"initial": 3, "pod": SMALL_POD}, actions=[("95s", 4), ("105s", second_ask)])
    w = Wired(d).run(200)
    assert w.events("launch") == launches


@pytest.mark.parametrize(
    ("platform", "ca"),
    [({}, {"max_nodes": 2}), ({}, {"max_nodes_total": 2}), ({"max_nodes": 2}, {})],
)
def test_max_nodes_caps_the_scale_up(platform: dict[str, Any], ca: dict[str, Any]) -> None:
    # 2 pods pending, room for one more node: desired 3, applied 2. At 110 the pod
    # that fits on the upcoming node is filtered out; the other is blocked (one row).
    w = Wired(doc(platform, ca, actions=[("95s", 3)])).run(300)
    assert w.events("launch") == [(100.0, "launch", "node-1")]
    assert w.rows() == [
        (100.0, "pending_pods", 2, 1, 3, 2),
        (110.0, "pending_pods", 1, 2, 3, 2),
    ]
    reason = w.ca_table()[1]["reason"]
    assert reason.startswith("1 pods pending, no node group can grow: default"), reason
    # The group's max (its own or, by default, the platform's), or the cluster's cap.
    capped = "the cluster is at its max of 2 nodes" if "max_nodes_total" in ca else "max size (2)"
    assert capped in reason, reason
    assert w.platform.unschedulable == 1


def test_max_nodes_per_scaleup_spreads_the_scale_up_over_scans() -> None:
    w = Wired(doc(ca={"max_nodes_per_scaleup": 1}, actions=[("95s", 4)])).run(200)
    assert w.events("launch") == [
        (100.0, "launch", "node-1"),
        (110.0, "launch", "node-2"),
        (120.0, "launch", "node-3"),
    ]
    assert [r[3:] for r in w.rows()] == [(1, 4, 2), (2, 4, 3), (3, 4, 4)]


# -- scale-down: unneeded time, delay after add, taint delay ----------------------------------


@pytest.mark.parametrize(
    ("ca", "taint_at", "remove_at"),
    [
        # Scale-up at 100; pods back to 1 at 295, so node-1 and node-2 are empty and
        # unneeded since the scan at 300. Removable when 300 + 600 < now: 910 (not 900);
        # the delay after add (until 700) has passed by then.
        ({}, 910.0, 915.0),
        # Unneeded 60 s: removable from 370, but no removal before 100 + 600 = 700.
        ({"scale_down_unneeded_time": "60s"}, 700.0, 705.0),
        ({"scale_down_unneeded_time": "60s", "scale_down_delay_after_add": "0s"}, 370.0, 375.0),
        # Delay after add 1000 s: not before 1100 (at 1100 exactly it is over).
        ({"scale_down_delay_after_add": "1000s"}, 1100.0, 1105.0),
        # Deleted at the taint when the delay after taint is 0.
        ({"node_delete_delay_after_taint": "0s"}, 910.0, 910.0),
    ],
)
def test_unneeded_time_and_delays_are_respected_to_the_second(
    ca: dict[str, Any], taint_at: float, remove_at: float
) -> None:
    w = Wired(doc(ca=ca, actions=[("95s", 3), ("295s", 1)])).run(1500)
    assert w.events("taint") == [(taint_at, "taint", "node-1"), (taint_at, "taint", "node-2")]
    assert w.events("remove") == [(remove_at, "remove", "node-1"), (remove_at, "remove", "node-2")]
    assert w.rows()[1] == (taint_at, "node_utilisation", 0.0, 3, 1, 1)
    assert [n.name for n in w.platform.nodes] == ["node-0"]


def test_scale_down_in_a_whole_run_stops_billing_and_counts() -> None:
    res = run(doc(actions=[("95s", 3), ("295s", 1)], horizon="1000s"))
    rows = res.tables["scaling"]
    ca = rows[rows["controller"] == "cluster-autoscaler"]
    assert list(
        zip(ca["time_s"], ca["metric"], ca["current"], ca["desired"], ca["applied"], strict=True)
    ) == [
        (100.0, "pending_pods", 1, 3, 3),
        (910.0, "node_utilisation", 3, 1, 1),
    ]
    row = res.summary.iloc[0]
    assert row["ca_nodes_added"] == 2
    assert row["ca_nodes_removed"] == 2
    assert row["ca_nodes_timed_out"] == 0
    assert row["scale_events"] >= 2  # (other controllers may count their own changes)
    # node-0 bills 0..1000 s; node-1 and node-2 from the request (100) to deletion (915).
    assert row["cost_usd"] == pytest.approx(M5_PER_S * (1000 + 2 * 815), rel=1e-9)


# -- scale-down: empty nodes in bulk, non-empty ones one at a time ----------------------------

# Four nodes, three pods of 600m spread one per node (node-0..2), node-3 empty.
# Scan at 0: candidates ordered empty first: node-3 (empty) is removable; node-0's pod
# fits on node-1; node-1's two pods (its own + node-0's, the simulation keeps the move)
# fit on node-2; node-2's three have nowhere to go (rechecked after 5 min).
FOUR = {"nodes": 4, "initial": 3, "pod": SMALL_POD}


def test_empty_nodes_go_first_in_bulk_and_drains_one_at_a_time() -> None:
    w = Wired(doc(FOUR)).run(2000)
    assert w.events() == [
        # 0 + 600 < 610: empty node-3 and ONE non-empty node (node-0) go together.
        (610.0, "taint", "node-3"),
        (610.0, "taint", "node-0"),
        (615.0, "remove", "node-3"),
        (615.0, "evict", "pod-0"),
        (615.0, "remove", "node-0"),
        # pod-0's replacement pod-3 lands on node-1 (least allocated, oldest first):
        # node-1 is at 0.62 now and no longer unneeded (the FAQ's "B"). node-2 is
        # rechecked at 900 (unremovable at 600 until 900): its pod fits on node-1,
        # unneeded since 900 -> drained at 1510.
        (1510.0, "taint", "node-2"),
        (1515.0, "evict", "pod-2"),
        (1515.0, "remove", "node-2"),
    ]
    assert w.platform.placement() == {"pod-1": "node-1", "pod-3": "node-1", "pod-4": "node-1"}
    # 610: desired 4 - 3 (node-3, node-0, node-1 are removable), applied 4 - 2 (one drain).
    assert [r[:2] + r[3:] for r in w.rows()] == [
        (610.0, "node_utilisation", 4, 1, 2),
        (1510.0, "node_utilisation", 2, 1, 1),
    ]
    assert w.rows()[0][2] == pytest.approx(600 / 1930)
    assert w.ctx.extras["counters"]["ca_nodes_removed"] == 3


def test_evicted_pod_restarts_through_the_pod_pipeline() -> None:
    w = Wired(doc(FOUR)).run(700)
    # pod-3 replaces pod-0 at 615 on node-1, which has the image: no pull.
    assert w.spans("pod-3") == [
        ("schedule", 615.0, 615.0, 0.0),
        ("create", 615.0, 616.0, 0.0),
        ("start", 616.0, 618.0, 0.0),
        ("app_start", 618.0, 622.0, 0.0),
        ("readiness", 622.0, 628.0, 0.0),
    ]


def test_max_drain_parallelism_drains_several_nodes_together() -> None:
    w = Wired(doc(FOUR, {"max_drain_parallelism": 2})).run(700)
    assert w.events("taint") == [
        (610.0, "taint", "node-3"),
        (610.0, "taint", "node-0"),
        (610.0, "taint", "node-1"),
    ]
    # Both replacements go to node-2, the only untainted node.
    assert w.platform.placement() == {"pod-2": "node-2", "pod-3": "node-2", "pod-4": "node-2"}


@pytest.mark.parametrize(
    ("ca", "taints"),
    [
        # One deletion at a time: the empty node-3 uses the budget at 610, node-0 at 620.
        ({"max_scale_down_parallelism": 1}, [610.0, 620.0]),
        # ... and no removal within 30 s of the previous one: node-0 at 640.
        ({"max_scale_down_parallelism": 1, "scale_down_delay_after_delete": "30s"}, [610.0, 640.0]),
    ],
)
def test_parallelism_and_delay_after_delete(ca: dict[str, Any], taints: list[float]) -> None:
    w = Wired(doc(FOUR, ca)).run(700)
    assert w.events("taint") == [(taints[0], "taint", "node-3"), (taints[1], "taint", "node-0")]


def test_unremovable_node_recheck_timeout() -> None:
    # Rechecked every 60 s: node-2 is unremovable at 600 until 660, then its pod fits
    # on node-1: unneeded since 660, drained at the first scan after 1260.
    w = Wired(doc(FOUR, {"unremovable_node_recheck_timeout": "60s"})).run(1400)
    assert w.events("taint")[-1] == (1270.0, "taint", "node-2")


@pytest.mark.parametrize(
    ("ca", "removed"),
    [
        ({"scale_down_utilization_threshold": "30%"}, ["node-3"]),  # 0.311 >= 0.3: kept
        ({"min_nodes": 3}, ["node-3"]),  # group of 4, min 3
        ({"scale_down_enabled": False}, []),
    ],
)
def test_threshold_min_size_and_disable(ca: dict[str, Any], removed: list[str]) -> None:
    w = Wired(doc(FOUR, ca)).run(2500)
    assert [e[2] for e in w.events("remove")] == removed


def test_eviction_without_room_goes_pending_and_gets_a_cold_node() -> None:
    # node-0: pod-0, pod-2; node-1: pod-1 (0.311), unneeded since 0 (its pod fits on
    # node-0). 610: node-1 tainted. 612: a 4th pod takes node-0's last slot. 615: pod-1
    # is evicted, its replacement pod-4 finds no room and is Pending; node-1 goes.
    # 620: scale-up (pod 5 s old): node-2 ready at 657, pod-4 pulls the image there.
    d = doc({"nodes": 2, "initial": 3, "pod": SMALL_POD}, actions=[("612s", 4)])
    w = Wired(d).run(700)
    assert w.events() == [
        (610.0, "taint", "node-1"),
        (615.0, "evict", "pod-1"),
        (615.0, "remove", "node-1"),
        (620.0, "launch", "node-2"),
        (657.0, "ready", "node-2"),
    ]
    assert w.spans("pod-4") == [
        ("schedule", 657.0, 657.0, 42.0),
        ("image_pull", 657.0, 662.0, 0.0),
        ("create", 662.0, 663.0, 0.0),
        ("start", 663.0, 665.0, 0.0),
        ("app_start", 665.0, 669.0, 0.0),
        ("readiness", 669.0, 675.0, 0.0),
    ]


@pytest.mark.parametrize(
    ("drain_timeout", "ca", "remove_at"),
    [
        (None, {}, 645.0),  # the pod's own grace period, 30 s by default
        ("1000s", {}, 1001.0),  # long enough: the request finishes at 1001
        ("1000s", {"max_graceful_termination": "300s"}, 915.0),  # capped by the autoscaler
    ],
)
def test_drain_gives_in_flight_requests_the_capped_grace_period(
    drain_timeout: str | None, ca: dict[str, Any], remove_at: float
) -> None:
    # node-0 (pod-0) is drained at 615 while serving a 1000 s request that started at 1.
    d = doc({"nodes": 2, "initial": 2, "pod": SMALL_POD}, ca)
    if drain_timeout is not None:
        d["scenarios"][0]["serving"]["drain_timeout"] = drain_timeout
    w = Wired(d)
    pod0 = next(i for i in w.ctx.cluster.instances if i.name == "pod-0")

    def send() -> Any:
        yield w.env.timeout(1)
        req = Request(w.env.now, 1000.0, 0)
        w.ctx.recorder.arrive(req)
        assert pod0.offer(req)

    w.env.process(send())
    w.run(1100)
    assert w.events()[:3] == [
        (610.0, "taint", "node-0"),
        (615.0, "evict", "pod-0"),
        (remove_at, "remove", "node-0"),
    ]
    assert w.ctx.recorder.dropped_failed == (1 if remove_at < 1001 else 0)


# -- max node provision time and backoff --------------------------------------------------------

SLOW_BOOT = {"boot": {"duration": {"kind": "fixed", "value": "2000s"}}}


@pytest.mark.parametrize(
    ("ca", "launches", "give_ups"),
    [
        # 100 + 900 < 1010: given up; backoff 5 min -> 1310; 1310 + 900 < 2220; backoff
        # doubles to 10 min -> 2820.
        ({}, [100.0, 1310.0, 2820.0], [1010.0, 2220.0]),
        ({"max_node_group_backoff": "5m"}, [100.0, 1310.0, 2520.0], [1010.0, 2220.0]),
        ({"initial_node_group_backoff": "1m"}, [100.0, 1070.0, 2100.0], [1010.0, 1980.0]),
        ({"max_node_provision_time": "5m"}, [100.0, 710.0, 1620.0], [410.0, 1020.0, 1930.0]),
    ],
)
def test_a_node_not_ready_in_time_is_given_up_and_its_group_backed_off(
    ca: dict[str, Any], launches: list[float], give_ups: list[float]
) -> None:
    d = doc({"node_stages": {**copy.deepcopy(NODE_STAGES), **SLOW_BOOT}}, ca, actions=[("95s", 2)])
    w = Wired(d).run(3000)
    assert [e[0] for e in w.events("launch")] == launches
    assert [e[0] for e in w.events("give_up")] == give_ups
    assert [e[0] for e in w.events("remove")] == give_ups
    assert w.spans("node-1") == [
        ("api_call", 100.0, 102.0, 0.0),
        ("pending", 102.0, 112.0, 0.0),
        ("boot (cancelled)", 112.0, give_ups[0], 0.0),
    ]
    assert w.ctx.extras["counters"]["ca_nodes_timed_out"] == len(give_ups)


def test_given_up_node_rows() -> None:
    d = doc({"node_stages": {**copy.deepcopy(NODE_STAGES), **SLOW_BOOT}}, actions=[("95s", 2)])
    w = Wired(d).run(1400)
    assert w.rows() == [
        (100.0, "pending_pods", 1, 1, 2, 2),
        (1010.0, "node_provision_time", 910.0, 2, 1, 1),
        (1010.0, "pending_pods", 1, 1, 2, 1),  # blocked: the group is backed off
        (1310.0, "pending_pods", 1, 1, 2, 2),
    ]
    assert "backed off until 1310 s" in w.ca_table()[2]["reason"]


# -- expanders, end to end with several node groups --------------------------------------------

GROUPS = [
    {"name": "m5", "node_type": "m5.large", "max": 5},
    {"name": "c5x", "node_type": "c5.xlarge", "max": 5},
]


@pytest.mark.parametrize(
    ("expander", "types"),
    [
        # 2 pods of 1 CPU / 2 GiB. m5: 2 nodes, waste (4000-2000)/4000 + (16-4)/16 = 1.25;
        # c5x (3920m allocatable, 3 pods): 1 node, waste 0.5 + 0.5 = 1.0 -> c5.xlarge.
        ("least-waste", ["c5.xlarge"]),
        # price, 1 registered node -> preferred 1 core: m5 score 3.96, c5x 7.34 -> m5.
        ("price", ["m5.large", "m5.large"]),
    ],
)
def test_expander_picks_the_node_group(expander: str, types: list[str]) -> None:
    ca = {"node_groups": GROUPS, "expander": expander}
    d = doc({"pod": {"cpu": 1, "memory": "2Gi"}}, ca, actions=[("95s", 3)])
    w = Wired(d).run(200)
    new = [n for n in w.platform.nodes if n.name != "node-0"]
    alloc = {"c5.xlarge": 3920, "m5.large": 1930}
    assert [n.cpu_m for n in new] == [alloc[t] for t in types]
    assert all(n.t_launched == 100.0 for n in new)
    assert f"expander {expander}" in w.ca_table()[0]["reason"]


def test_initial_nodes_outside_every_group_are_never_removed() -> None:
    groups = [{"name": "c5x", "node_type": "c5.xlarge", "max": 5}]
    w = Wired(doc(FOUR, {"node_groups": groups})).run(2000)
    assert w.events() == []


# -- builder and config errors -----------------------------------------------------------------


def test_non_container_platform_is_refused_naming_autoscaler() -> None:
    # Refused when the file is validated (exit 2), naming the autoscaler entry.
    d = doc()
    d["scenarios"][0]["platform"] = {"kind": "cloud", "initial": 1}
    with pytest.raises(simulator.InputError) as info:
        simulator.load_experiment(d)
    assert any(
        "scenarios[0].autoscaler[" in p and "cluster-autoscaler manages container platforms" in p
        for p in info.value.problems
    ), info.value.problems


def test_two_cluster_autoscalers_are_refused() -> None:
    d = doc()
    d["scenarios"][0]["autoscaler"].append({"kind": "cluster-autoscaler"})
    with pytest.raises(ValueError, match="only one 'cluster-autoscaler'"):
        run(d)


def test_a_group_whose_nodes_cannot_hold_the_pod_is_refused() -> None:
    d = doc(
        {"pod": {"cpu": 1, "memory": "2Gi"}},
        {"node_groups": [{"name": "t", "node_type": "t3.micro", "max": 3}]},
    )
    with pytest.raises(ValueError, match=r"autoscaler\.node_groups\[0\]\.node_type: .*t3\.micro"):
        run(d)


def problems(ca: dict[str, Any]) -> str:
    d = doc()
    d["scenarios"][0]["autoscaler"] = {"kind": "cluster-autoscaler", **ca}
    with pytest.raises(InputError) as info:
        simulator.load_experiment(d)
    return "\n".join(info.value.problems)


@pytest.mark.parametrize(
    ("ca", "field", "words"),
    [
        ({"expander": "cheapest"}, "expander", "unknown expander 'cheapest'"),
        ({"expander": "price,price"}, "expander", "may appear once"),
        ({"scan_interval": "0s"}, "scan_interval", "greater than 0"),
        ({"scale_down_utilization_threshold": 1.5}, "scale_down_utilization_threshold", "between"),
        ({"min_nodes": 5, "max_nodes": 3}, "max_nodes", "must be >= min_nodes (5)"),
        ({"max_nodes": 0}, "max_nodes", "greater than or equal to 1"),
        (
            {"node_groups": [{"name": "a", "node_type": "m9", "max": 3}]},
            "node_groups[0].node_type",
            "not in the catalog",
        ),
        (
            {"node_groups": [{"name": "a", "node_type": "m5.large", "min": 4, "max": 3}]},
            "node_groups[0].max",
            ">= min (4)",
        ),
        (
            {"node_groups": [{"name": "a", "node_type": "m5.large"}]},
            "node_groups[0].max",
            "required",
        ),
        ({"node_groups": GROUPS, "max_nodes": 4}, "max_nodes", "not both"),
        ({"node_groups": [GROUPS[0], GROUPS[0]]}, "node_groups", "unique: m5"),
        (
            {"initial_node_group_backoff": "10m", "max_node_group_backoff": "5m"},
            "max_node_group_backoff",
            ">= initial",
        ),
        ({"max_drain_parallelism": 0}, "max_drain_parallelism", "greater than or equal to 1"),
        ({"max_node_provision_time": "0s"}, "max_node_provision_time", "greater than 0"),
        ({"scale_down_unneeded_time": "-1s"}, "scale_down_unneeded_time", ""),
        ({"max_empty_bulk": 3}, "max_empty_bulk", "unknown field"),
    ],
)
def test_bad_config_names_the_field(ca: dict[str, Any], field: str, words: str) -> None:
    text = problems(ca)
    assert f"<experiment>: scenarios[0].autoscaler.{field}: " in text, text
    assert words in text, text


def test_bad_config_in_a_list_names_the_entry() -> None:
    d = doc(ca={"expander": "cheapest"})
    with pytest.raises(InputError) as info:
        simulator.load_experiment(d)
    assert any(
        "scenarios[0].autoscaler[0].expander: unknown expander" in p for p in info.value.problems
    )


# -- pure functions: estimator, simulation, budgets, expanders ----------------------------------

M5 = NodeTemplate("m5.large", *allocatable(2, 8), 110, 2000, 8 * GIB, 0.096)


def test_utilisation_is_the_larger_share_of_allocatable() -> None:
    assert utilisation(500, 3 * GIB, 1000, 4 * GIB) == 0.75
    assert utilisation(900, 1 * GIB, 1000, 4 * GIB) == 0.9


@pytest.mark.parametrize(
    ("n", "limit", "nodes", "pods"),
    [(5, 1000, 2, 5), (6, 1000, 2, 6), (7, 1000, 3, 7), (5, 1, 1, 3), (0, 10, 0, 0)],
)
def test_binpacking_estimate(n: int, limit: int, nodes: int, pods: int) -> None:
    est = binpack_estimate([(600, 256 * MIB)] * n, M5, limit)
    assert (est.node_count, est.pods, est.cpu_m) == (nodes, pods, 600 * pods)


def test_binpacking_is_first_fit_decreasing() -> None:
    t = NodeTemplate("x", 1000, GIB, 110, 1000, GIB, 0.1)
    # 700s first (bigger score): one node each; then the 300s fill them first-fit.
    est = binpack_estimate([(300, 1), (700, 1), (300, 1), (700, 1)], t, 10)
    assert (est.node_count, est.pods) == (2, 4)
    # A pod bigger than the template never adds a node.
    assert binpack_estimate([(1500, 1)], t, 10).node_count == 0


def test_filter_schedulable_places_first_fit() -> None:
    nodes = [SimNode.empty("a", M5), SimNode.empty("b", M5)]
    left = filter_schedulable([(600, MIB)] * 7, nodes)
    assert left == [6]
    assert [n.n_pods for n in nodes] == [3, 3]


def _sim(name: str, requested: int, pods: list[int], max_pods: int = 110) -> SimNode:
    return SimNode(name, 1000, GIB, max_pods, requested, 0, len(pods), [(p, 0) for p in pods])


def test_removal_simulation_keeps_moves_faq_example() -> None:
    # FAQ "How does scale-down work?": A, B, C underutilised; A's pod fits on X, B's on
    # X, C's on Y. After A's pod moved to X, B's no longer fits: B is not removable, C is.
    nodes = [
        _sim("A", 400, [400], max_pods=1),
        _sim("B", 400, [400], max_pods=1),
        _sim("C", 300, [300], max_pods=1),
        _sim("X", 600, [600]),
        _sim("Y", 700, [700]),
    ]
    names = [n.name for n in nodes]
    plan = plan_scale_down(nodes, ["A", "B", "C"], names, 0.5)
    assert [(r.name, r.pods_to_move) for r in plan.removable] == [("A", 1), ("C", 1)]
    assert plan.no_room == ["B"]


def test_removal_candidates_empty_first_then_previously_unneeded() -> None:
    nodes = [_sim("a", 100, [100]), _sim("b", 100, [100]), _sim("c", 0, []), _sim("d", 600, [600])]
    names = [n.name for n in nodes]
    plan = plan_scale_down(nodes, names, names, 0.5, previously_unneeded={"b"})
    # c (empty) first; then b (previously unneeded) moves to a; a then has 2 pods -> d.
    assert [r.name for r in plan.removable] == ["c", "b", "a"]
    plan = plan_scale_down(nodes, names, names, 0.5, recently_unremovable={"a"})
    assert [r.name for r in plan.removable] == ["c", "b"]


@pytest.mark.parametrize(("requested", "unneeded"), [(499, True), (500, False), (501, False)])
def test_threshold_is_strict(requested: int, unneeded: bool) -> None:
    nodes = [_sim("a", requested, [requested]), _sim("b", 0, [], max_pods=110)]
    plan = plan_scale_down(nodes, ["a"], ["a", "b"], 0.5)
    assert bool(plan.removable) is unneeded


def test_removable_now_is_strict_and_respects_min_size() -> None:
    unneeded = {"a": (0.0, 0), "b": (0.0, 2), "c": (5.0, 0)}
    groups = {"a": "g", "b": "g", "c": "g"}
    args: dict[str, Any] = {"group_of": groups, "group_size": {"g": 4}, "group_min": {"g": 0}}
    assert removable_now(unneeded, ["a", "b", "c"], 600.0, 600.0, **args) == ([], [])
    assert removable_now(unneeded, ["a", "b", "c"], 600.5, 600.0, **args) == (["a"], ["b"])
    assert removable_now(unneeded, ["a", "b", "c"], 606.0, 600.0, **args) == (["a", "c"], ["b"])
    args["group_min"] = {"g": 2}
    assert removable_now(unneeded, ["a", "b", "c"], 606.0, 600.0, **args) == (["a", "c"], [])
    assert removable_now(unneeded, ["a", "b", "c"], 606.0, 600.0, deleting={"g": 1}, **args) == (
        ["a"],
        [],
    )


def test_crop_budgets() -> None:
    empty, drain = ["e1", "e2", "e3"], ["d1", "d2"]
    assert crop_budgets(empty, drain, 10, 1) == (["e1", "e2", "e3"], ["d1"])
    assert crop_budgets(empty, drain, 10, 2) == (["e1", "e2", "e3"], ["d1", "d2"])
    assert crop_budgets(empty, drain, 2, 1) == (["e1", "e2"], [])
    assert crop_budgets(empty, drain, 4, 1) == (["e1", "e2", "e3"], ["d1"])
    assert crop_budgets(empty, drain, 10, 1, drain_in_progress=1) == (["e1", "e2", "e3"], [])
    assert crop_budgets(empty, drain, 10, 1, empty_in_progress=8) == (["e1", "e2"], [])


def test_backoff_doubles_to_the_max_and_resets_after_three_hours() -> None:
    b = Backoff(300.0, 1800.0)
    assert [b.fail(t) - t for t in (0.0, 400.0, 1000.0, 2000.0, 4000.0, 6000.0)] == [
        300.0,
        600.0,
        1200.0,
        1800.0,
        1800.0,
        1800.0,
    ]
    assert b.fail(6000.0 + 10800.5) - (6000.0 + 10800.5) == 300.0
    assert b.active(b.until - 1) and not b.active(b.until)


def opt(
    group: str,
    n: int,
    pods: int,
    cpu: int,
    mem: float,
    node_cpu: int,
    node_mem: float,
    price: float,
) -> ExpansionOption:
    return ExpansionOption(
        group, n, pods, cpu, int(mem * GIB), node_cpu, int(node_mem * GIB), price
    )


# Two pods of 1 CPU / 2 GiB: one m5.large-like node (2 CPU, 8 GiB) or one c5.large-like (2, 4).
WIDE = opt("wide", 1, 2, 2000, 4, 2000, 8, 0.096)
NARROW = opt("narrow", 1, 2, 2000, 4, 2000, 4, 0.085)


def test_least_waste() -> None:
    # wide: 0/2000 + 4/8 = 0.5; narrow: 0 + 0/4 = 0.0 -> narrow.
    assert LeastWaste().best_options([WIDE, NARROW], 3) == [NARROW]
    twin = opt("twin", 1, 2, 2000, 4, 2000, 4, 0.2)
    assert LeastWaste().best_options([WIDE, NARROW, twin], 3) == [NARROW, twin]


def test_most_pods() -> None:
    more = opt("more", 2, 3, 3000, 6, 2000, 8, 0.096)
    assert MostPods().best_options([WIDE, more, NARROW], 3) == [more]
    assert MostPods().best_options([WIDE, NARROW], 3) == [WIDE, NARROW]


def test_price_expander_by_hand() -> None:
    stab = 0.5 * 0.033174 + 500 / 1024 * 0.004446  # the 500m / 500Mi stabilisation pod
    pods = 2 * 0.033174 + 4 * 0.004446
    a = opt("a", 1, 2, 2000, 4, 2000, 8, 0.096)  # 2 cores
    b = opt("b", 1, 2, 2000, 4, 4000, 8, 0.170)  # 4 cores
    score_a = (0.096 + stab) / (pods + stab)  # unfit 1 vs the preferred 2 cores
    score_b = 2 * (0.170 + stab) / (pods + stab)  # unfit max(2/4, 4/2) = 2
    assert score_a < score_b
    assert Price().best_options([a, b], 3) == [a]  # cluster of 3 -> prefers 2 cores
    # A cluster of 30 prefers 8 cores: a is 4x unfit (4·1.115 = 4.46), b 2x (3.67) -> b.
    assert 4 * score_a > score_b
    assert Price().best_options([a, b], 30) == [b]
    # Many nodes suppress unfitness, (u - 1)(1 - tanh((n - 1)/15)) + 1: 16 two-core nodes
    # (u = 4, suppressed to 1.715) beat 4 eight-core ones (u = 1) costing 0.7 instead of 0.4/h.
    small = opt("small", 16, 32, 32000, 64, 2000, 8, 0.096)
    big = opt("big", 4, 32, 32000, 64, 8000, 32, 0.7)
    pods32 = 32 * 0.033174 + 64 * 0.004446
    score_small = (3 * (1 - math.tanh(1.0)) + 1) * (16 * 0.096 + stab) / (pods32 + stab)
    score_big = (4 * 0.7 + stab) / (pods32 + stab)
    assert score_small < score_big < 4 * (16 * 0.096 + stab) / (pods32 + stab)
    assert Price().best_options([big, small], 30) == [small]


def test_random_expander_and_chain() -> None:
    rng = np.random.default_rng(1)
    picks = {RandomExpander(rng).best_options([WIDE, NARROW], 3)[0].group for _ in range(50)}
    assert picks == {"wide", "narrow"}
    chain = make_expander("most-pods,least-waste", np.random.default_rng(1))
    more = opt("more", 2, 3, 3000, 6, 2000, 8, 0.096)
    assert chain.choose([WIDE, NARROW, more], 3) == more
    assert chain.choose([WIDE, NARROW], 3) == NARROW  # most-pods ties, least-waste decides
    assert chain.choose([], 3) is None
