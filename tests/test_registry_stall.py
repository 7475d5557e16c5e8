"""A registry pull limit caps how far a cluster can scale out: a hand-computed trace.

``experiments/big-day.yaml`` once levelled off at 3,705 ready pods (95 + 100 nodes x 19)
at 78 % CPU while its HPA asked for 4,796: every node it added needs one manifest GET,
and with the registry default (Docker Hub, anonymous, 100 GETs per 6 h for the
cluster's one NAT address) only 100 new nodes ever got the image. The trace below is
the same mechanism on a small cluster, worked out by hand; the last test checks that
big-day now pulls from a registry without that limit, as its question intends.

Rig (the fixed pipelines of ``tests/test_autoscaler_ca.py``): one m5.large node holding
the image and one pod (``pod: {cpu: 1}`` fits one per node); a schedule asks for 5 pods
at 100 s; the cluster autoscaler scans at 100 and asks for 4 nodes through the cloud API
bucket (2/s, burst 2): node-1 and node-2 at 100, node-3 at 100.5, node-4 at 101; each
takes api_call 2 + pending 10 + boot 15 + node_join 10 = 37 s → Ready at 137, 137, 137.5,
138, where node_join ends at 147, 147, 147.5, 148 (the pod binds then). The image is
alpine:3.17.1, one layer of 3,370,628 B (9,100,696 B extracted at the 2.7 ratio), over a
100 MB/s registry with no round trip and 100 MB/s decompression.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import pytest

import simulator

REPO = Path(__file__).resolve().parents[1]
LAYER = 3370628  # alpine:3.17.1, bytes
EXTRACTED = round(LAYER * 2.7)
RATE = 100e6  # registry egress and decompression, bytes/s

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


def _doc(rate_limit: dict[str, Any] | None) -> dict[str, Any]:
    plat = {
        "kind": "container",
        "image": "alpine:3.17.1",
        "nodes": 1,
        "initial": 1,
        "max_nodes": 10,
        "pod": {"cpu": 1},
        "registry": {"bandwidth": "100MB/s", "rtt": "0s", "rate_limit": rate_limit},
        "decompress": "100MB/s",
        "stages": copy.deepcopy(POD_STAGES),
        "node_stages": copy.deepcopy(NODE_STAGES),
        "readiness": {"initial_delay": "0s", "period": "10s"},
    }
    return {
        "name": "registry-stall",
        "seed": 3,
        "horizon": "600s",
        "workload": {
            "arrivals": {"kind": "constant", "rate": "0.01/s"},
            "service_time": {"kind": "fixed", "value": "10ms"},
        },
        "scenarios": [
            {
                "name": "k8s",
                "platform": plat,
                "serving": {"workers": 2},
                "autoscaler": [
                    {"kind": "schedule", "actions": [{"at": "100s", "instances": 5}]},
                    {"kind": "cluster-autoscaler"},
                ],
            }
        ],
    }


def _pull_end(instance: str, spans: Any) -> float:
    row = spans[(spans["instance"] == instance) & (spans["stage"] == "image_pull")]
    (end,) = row["end_s"]
    return float(end)


def test_a_pull_limit_for_the_cluster_caps_ready_pods_at_initial_plus_limit_nodes() -> None:
    # 2 manifest GETs per hour for the cluster. node-1 and node-2 take both at 147 and
    # share the link: each layer lands at 147 + 2 x 3,370,628 / 1e8 = 147.067413 and is
    # extracted by 147.158420. node-3 (147.5) and node-4 (148) are refused
    # (toomanyrequests) and back off 10, 20, 40, 80, 160 s: node-3 is refused at 147.5,
    # 157.5, 177.5, 217.5, 297.5, 457.5 (next 757.5, past the horizon), node-4 at 148,
    # 158, 178, 218, 298, 458 — 12 refusals while both GETs stay in the 1 h window.
    # Ready pods stop at (1 + 2) nodes x 1 pod = 3 while the schedule asks for 5.
    res = simulator.run(simulator.load_experiment(_doc({"pulls": 2, "window": "1h"})))
    row = res.summary.iloc[0]
    assert row["max_instances"] == 3
    assert row["container_nodes_added"] == 4
    assert row["container_manifest_gets"] == 2
    assert row["container_toomanyrequests"] == 12
    assert row["container_image_pull_failures"] == 12
    assert row["container_image_pulls"] == 14
    spans = res.provisioning
    two = 147 + 2 * LAYER / RATE + EXTRACTED / RATE
    assert _pull_end("pod-1", spans) == pytest.approx(two)
    assert _pull_end("pod-2", spans) == pytest.approx(two)
    assert math.isnan(_pull_end("pod-3", spans)) and math.isnan(_pull_end("pod-4", spans))
    # A refused manifest moves no layer, so pulls.csv holds only the two pulls that got
    # through: the refusals show in the summary counters above, not as rows.
    pulls = res.tables["pulls"]
    assert list(pulls["node"]) == ["node-1", "node-2"]
    assert set(pulls["error"]) == {""}


def test_without_the_limit_every_added_node_pulls_and_all_pods_get_ready() -> None:
    # Same cluster, no limit (a private registry): node-3 pulls alone at 147.5 → layer at
    # 147.5 + 0.033706 = 147.533706, extracted by 147.624713; node-4 at 148 → 148.124713.
    # Container start = pull end + create 1 + start 2; Ready at the first probe 10 s later.
    res = simulator.run(simulator.load_experiment(_doc(None)))
    row = res.summary.iloc[0]
    assert row["max_instances"] == 5
    assert row["container_manifest_gets"] == 4
    assert row["container_toomanyrequests"] == 0
    spans = res.provisioning
    alone = LAYER / RATE + EXTRACTED / RATE
    assert _pull_end("pod-3", spans) == pytest.approx(147.5 + alone)
    assert _pull_end("pod-4", spans) == pytest.approx(148 + alone)
    ready = spans[(spans["instance"] == "pod-3") & (spans["stage"] == "readiness")]
    assert float(ready["end_s"].iloc[0]) == pytest.approx(147.5 + alone + 3 + 10)


def test_big_day_pulls_from_a_registry_without_a_pull_limit() -> None:
    # The question of big-day is whether the HPA and the cluster autoscaler keep up; its
    # 300 nodes must be able to get the image (see the comment in the YAML), and the
    # autoscaler's room (300 nodes x 19 pods) must hold the HPA's max (5,000 pods).
    exp = simulator.load_experiment(REPO / "experiments" / "big-day.yaml")
    for scenario in exp.scenarios:
        platform = scenario.platform
        assert not platform.registry.rate_limit.enabled, scenario.name
        assert platform.pods_per_node == 19, scenario.name
        hpa = next(c for c in scenario.autoscalers() if c.kind == "hpa")
        assert platform.max_nodes * platform.pods_per_node >= hpa.max, scenario.name
