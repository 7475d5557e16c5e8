"""``container``: pods on nodes — timelines, bin-packing, pending pods, cgroup limits, errors.

Every timeline below is written out by hand from the config's fixed durations;
the simulator must reproduce it exactly. Stage rows are
``(instance, stage, start_s, end_s, waited_s)`` as in ``provisioning.csv``.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest
import simpy

import simulator
from models.cloud import API_S, BOOT_S, INSTANCE_TYPES, PENDING_S
from models.container import (
    ContainerConfig,
    ContainerPlatform,
    LeastAllocated,
    MostAllocated,
    Node,
    PendingPods,
    PendingPodsScaler,
    allocatable,
    cpu_millicores,
    memory_bytes,
)
from simulator.balancer import make_balancer
from simulator.engine import streams_for
from simulator.loading import InputError
from simulator.platform import Cluster, RunContext
from simulator.recorder import Recorder
from simulator.registry import CATALOG, PLATFORMS

MIB = 2**20
GIB = 2**30
M5_PER_S = 0.096 / 3600.0  # m5.large, USD per second
FIXED_1S = {"kind": "fixed", "value": "1s"}

# Fixed pod pipeline used by the timeline tests: pull 5, create 1, start 2, app 4;
# readiness probes 0 s after the container starts, then every 10 s.
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


def doc(
    platform: dict[str, Any],
    *,
    actions: list[tuple[str, int]] | None = None,
    horizon: str = "300s",
    rate: str = "0.5/s",
    service: str = "100ms",
    workers: int = 4,
) -> dict[str, Any]:
    """An experiment with one container scenario and a scheduled pod count."""
    plat = {
        "kind": "container",
        "image": "nginx:1.23.3",
        "image_pull": "5s",
        "stages": copy.deepcopy(POD_STAGES),
        "readiness": {"initial_delay": "0s", "period": "10s"},
    }
    plat.update(platform)
    scenario: dict[str, Any] = {
        "name": "k8s",
        "platform": plat,
        "serving": {"workers": workers},
    }
    if actions:
        scenario["autoscaler"] = {
            "kind": "schedule",
            "actions": [{"at": at, "instances": n} for at, n in actions],
        }
    return {
        "name": "container-test",
        "seed": 7,
        "horizon": horizon,
        "workload": {
            "arrivals": {"kind": "constant", "rate": rate},
            "service_time": {"kind": "fixed", "value": service},
        },
        "scenarios": [scenario],
    }


Row = tuple[str, str, float | None, float | None, float]


def timeline(res: simulator.Results) -> list[Row]:
    """The provisioning spans in recording order; a stage unfinished at the horizon ends None."""
    p = res.provisioning
    return [
        (str(r["instance"]), str(r["stage"]), _num(r["start_s"]), _num(r["end_s"]), r["waited_s"])
        for r in p.to_dict("records")
    ]


def _num(x: Any) -> float | None:
    return None if math.isnan(x) else float(x)


def spans_of(
    res: simulator.Results, name: str
) -> list[tuple[str, float | None, float | None, float]]:
    return [(s, a, b, w) for i, s, a, b, w in timeline(res) if i == name]


def run(d: dict[str, Any]) -> simulator.Results:
    return simulator.run(simulator.load_experiment(d))


def build(d: dict[str, Any]) -> tuple[simpy.Environment, RunContext, ContainerPlatform]:
    """A hand-built run (the wiring of ``simulator.engine.run_one``), no traffic."""
    exp = simulator.load_experiment(d)
    scenario = exp.scenarios[0]
    env = simpy.Environment()
    streams = streams_for(exp.seed, 0)
    recorder = Recorder(exp.warmup, None)
    balancer = make_balancer(scenario.balancer, streams["routing"])
    cluster = Cluster(env, recorder, balancer, scenario)
    ctx = RunContext(env, exp, scenario, 0, cluster, recorder, streams)
    platform = PLATFORMS.get("container").build(scenario.platform, ctx)
    platform.start()
    return env, ctx, platform


def problems(d: dict[str, Any]) -> str:
    with pytest.raises(InputError) as info:
        simulator.load_experiment(d)
    return "\n".join(info.value.problems)


# -- quantities and node allocatable -----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "millicores"),
    [("500m", 500), ("1", 1000), (0.5, 500), ("1.5", 1500), (2, 2000), ("0.1m", 1), ("1e-3", 1)],
)
def test_cpu_quantities_parse_as_kubernetes_does(text: Any, millicores: int) -> None:
    assert cpu_millicores(text) == millicores


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("256Mi", 256 * MIB),
        ("1Gi", GIB),
        ("512Ki", 512 * 1024),
        ("500M", 500_000_000),
        ("1k", 1000),
        ("129e6", 129_000_000),
        (1024, 1024),
        ("1.5Gi", 3 * GIB // 2),
    ],
)
def test_memory_quantities_parse_as_kubernetes_does(text: Any, size: int) -> None:
    assert memory_bytes(text) == size


@pytest.mark.parametrize("bad", ["5x", "1e", "Mi", "", "-1", "1 .5", True, "1mi"])
def test_malformed_quantities_are_refused(bad: Any) -> None:
    with pytest.raises(ValueError):
        cpu_millicores(bad)


def test_node_allocatable_follows_gke_reservations() -> None:
    # m5.large, 2 vCPU / 8 GiB: CPU 6% of core 1 + 1% of core 2 = 70m reserved;
    # memory 25% of 4 GiB + 20% of the next 4 GiB = 1.8 GiB, plus 100 MiB eviction.
    cpu, mem = allocatable(2, 8)
    assert cpu == 2000 - 60 - 10
    assert mem == math.floor(8 * GIB - 0.25 * 4 * GIB - 0.20 * 4 * GIB - 100 * MIB)
    # c5.xlarge, 4 vCPU: 60 + 10 + 2 × 5 = 80m.
    assert allocatable(4, 8)[0] == 4000 - 80
    # t3.micro, 1 GiB: 25% = 256 MiB, plus 100 MiB eviction.
    assert allocatable(2, 1)[1] == GIB - 256 * MIB - 100 * MIB


# -- pod start timeline -------------------------------------------------------------------------


def test_pod_on_node_without_image_pulls_then_creates_starts_and_probes() -> None:
    res = run(doc({"nodes": 1, "initial": 0}, actions=[("100s", 1), ("200s", 2)]))
    # pod-0 at t=100 on node-0, which lacks the image:
    #   schedule 100 (no wait); pull 100→105; create 105→106; start 106→108
    #   (container running at 108); app 108→112; probes at 108, 118 → ready 118.
    # pod-1 at t=200 lands on node-0 too, which now holds the image: no pull.
    #   create 200→201; start 201→203; app 203→207; probes 203, 213 → ready 213.
    assert timeline(res) == [
        ("pod-0", "schedule", 100.0, 100.0, 0.0),
        ("pod-0", "image_pull", 100.0, 105.0, 0.0),
        ("pod-0", "create", 105.0, 106.0, 0.0),
        ("pod-0", "start", 106.0, 108.0, 0.0),
        ("pod-0", "app_start", 108.0, 112.0, 0.0),
        ("pod-0", "readiness", 112.0, 118.0, 0.0),
        ("pod-1", "schedule", 200.0, 200.0, 0.0),
        ("pod-1", "create", 200.0, 201.0, 0.0),
        ("pod-1", "start", 201.0, 203.0, 0.0),
        ("pod-1", "app_start", 203.0, 207.0, 0.0),
        ("pod-1", "readiness", 207.0, 213.0, 0.0),
    ]
    row = res.summary.iloc[0]
    assert row["time_to_first_ready_s"] == 18.0


def test_initial_delay_shifts_the_probe_grid() -> None:
    d = doc({"nodes": 1, "initial": 0}, actions=[("100s", 1)])
    d["scenarios"][0]["platform"]["readiness"] = {"initial_delay": "15s", "period": "4s"}
    res = run(d)
    # Container running at 108; probes at 108 + 15 = 123, 127, ...; the app is up at 112,
    # so the first probe (123) succeeds.
    assert spans_of(res, "pod-0")[-1] == ("readiness", 112.0, 123.0, 0.0)


def test_two_pods_on_one_node_share_one_pull() -> None:
    env, ctx, platform = build(doc({"nodes": 1, "initial": 0}))
    platform.scale_to(2)
    env.run(until=60)
    spans = [(s.instance, s.stage, s.start_s, s.end_s) for s in ctx.cluster.spans]
    # Both pods wait for the same pull 0→5 (kubelet pulls an image once per node).
    assert ("pod-0", "image_pull", 0.0, 5.0) in spans
    assert ("pod-1", "image_pull", 0.0, 5.0) in spans
    assert platform.images.pulls == 1  # type: ignore[attr-defined]
    assert platform.nodes[0].images == {"nginx:1.23.3"}
    assert len(ctx.cluster.balancer) == 2


def test_default_pipelines_reuse_the_cloud_launch() -> None:
    cfg = ContainerConfig(kind="container")
    node = [(s.name, s.duration.value) for s in cfg.resolved_node_stages()]
    assert node == [
        ("api_call", API_S),
        ("pending", PENDING_S),
        ("boot", BOOT_S),
        ("node_join", 20.0),
    ]
    assert [s.name for s in cfg.resolved_stages()] == ["create", "start", "app_start"]
    assert cfg.resolved_node_stages()[0].rate_limit == "cloud_api"
    facts = {f.name: f for f in CATALOG if f.family == "container"}
    assert facts["readiness periodSeconds"].value == "10 s"
    assert facts["image pull (fixed stage)"].status == "U"


# -- pending pods and new nodes -----------------------------------------------------------------


def test_pending_pods_get_new_nodes_through_the_cloud_stages() -> None:
    # One pod of 1 CPU per m5.large node (1930m allocatable). At t=100 we ask for 4 pods:
    # three are Pending and three nodes are launched. The cloud API bucket (2/s, burst 2)
    # lets two API calls start at 100; the third waits 0.5 s.
    #   node-1, node-2: api 100→102, pending →112, boot →127, join →137.
    #   node-3:         api 100.5→102.5 (waited 0.5), pending →112.5, boot →127.5, join →137.5.
    # Each pending pod binds when a node becomes Ready (waited 37 / 37 / 37.5 s), then:
    #   pull 5, create 1, start 2 (running at +8), app 4 (+12), probes at +8, +18 → ready +18.
    d = doc(
        {"nodes": 1, "initial": 1, "pod": {"cpu": 1}, "node_stages": NODE_STAGES},
        actions=[("100s", 4)],
    )
    res = run(d)
    rows = timeline(res)
    nodes = [r for r in rows if r[0].startswith("node")]
    assert nodes == [
        ("node-1", "api_call", 100.0, 102.0, 0.0),
        ("node-2", "api_call", 100.0, 102.0, 0.0),
        ("node-3", "api_call", 100.5, 102.5, 0.5),
        ("node-1", "pending", 102.0, 112.0, 0.0),
        ("node-2", "pending", 102.0, 112.0, 0.0),
        ("node-3", "pending", 102.5, 112.5, 0.0),
        ("node-1", "boot", 112.0, 127.0, 0.0),
        ("node-2", "boot", 112.0, 127.0, 0.0),
        ("node-3", "boot", 112.5, 127.5, 0.0),
        ("node-1", "node_join", 127.0, 137.0, 0.0),
        ("node-2", "node_join", 127.0, 137.0, 0.0),
        ("node-3", "node_join", 127.5, 137.5, 0.0),
    ]
    for pod, t in (("pod-1", 137.0), ("pod-2", 137.0), ("pod-3", 137.5)):
        assert spans_of(res, pod) == [
            ("schedule", t, t, t - 100.0),
            ("image_pull", t, t + 5, 0.0),
            ("create", t + 5, t + 6, 0.0),
            ("start", t + 6, t + 8, 0.0),
            ("app_start", t + 8, t + 12, 0.0),
            ("readiness", t + 12, t + 18, 0.0),
        ]
    row = res.summary.iloc[0]
    assert row["container_nodes_added"] == 3
    assert row["container_pods_unschedulable"] == 3
    assert row["time_to_first_ready_s"] == 55.0
    assert row["time_to_target_capacity_s"] == 55.5
    # Nodes bill from launch whether or not pods use them: node-0 for 300 s, three for 200 s.
    assert row["cost_usd"] == pytest.approx(M5_PER_S * (300 + 3 * 200), rel=1e-12)


def test_max_nodes_leaves_pods_pending() -> None:
    # One pod per node, at most two nodes: of two more pods, one gets the new node, one waits.
    d = doc(
        {"nodes": 1, "initial": 1, "max_nodes": 2, "pod": {"cpu": 1}, "node_stages": NODE_STAGES}
    )
    env, ctx, platform = build(d)

    def ask() -> Any:
        yield env.timeout(100)
        platform.scale_to(3)

    env.process(ask())
    env.run(until=300)
    assert len(platform.nodes) == 2
    assert platform.unschedulable == 1
    assert platform.placement() == {"pod-0": "node-0", "pod-1": "node-1"}
    assert len(ctx.cluster.balancer) == 2


def test_without_a_node_scaler_pods_wait_for_room() -> None:
    # No new nodes: pod-1 stays Pending until pod-0 is deleted at t=50, then takes its room.
    env, ctx, platform = build(
        doc({"nodes": 1, "initial": 1, "pod": {"cpu": 1}, "node_scaler": "none"})
    )

    def ops() -> Any:
        platform.scale_to(2)
        yield env.timeout(50)
        pod0 = next(i for i in ctx.cluster.instances if i.name == "pod-0")
        ctx.cluster.drain(pod0)  # idle: retires at once and frees its node

    env.process(ops())
    env.run(until=100)
    spans = [(s.instance, s.stage, s.start_s, s.end_s, s.waited_s) for s in ctx.cluster.spans]
    assert spans[0] == ("pod-1", "schedule", 50.0, 50.0, 50.0)
    assert platform.placement() == {"pod-1": "node-0"}
    assert len(platform.nodes) == 1


def test_scale_in_cancels_a_pending_pod_first() -> None:
    env, ctx, platform = build(
        doc({"nodes": 1, "initial": 1, "pod": {"cpu": 1}, "node_scaler": "none"})
    )

    def ops() -> Any:
        platform.scale_to(2)  # pod-1: no room, Pending
        yield env.timeout(30)
        platform.scale_to(1)  # the Pending pod goes first; pod-0 keeps serving

    env.process(ops())
    env.run(until=60)
    spans = [(s.instance, s.stage, s.start_s, s.end_s, s.waited_s) for s in ctx.cluster.spans]
    assert spans == [("pod-1", "schedule (cancelled)", 30.0, 30.0, 30.0)]
    assert platform.unschedulable == 0
    assert platform.placement() == {"pod-0": "node-0"}
    assert [i.name for i in ctx.cluster.balancer.instances] == ["pod-0"]


def test_scale_in_of_a_crash_looping_pod_frees_its_node() -> None:
    d = doc(
        {
            "nodes": 1,
            "initial": 0,
            "pod": {"memory": "128Mi", "limit_memory": "256Mi", "working_set": "300Mi"},
        }
    )
    env, ctx, platform = build(d)

    def ops() -> Any:
        platform.scale_to(1)  # killed at 12 (see the crash-loop test), backing off until 22
        yield env.timeout(15)
        platform.scale_to(0)

    env.process(ops())
    env.run(until=100)
    assert [(s.stage, s.start_s, s.end_s) for s in ctx.cluster.spans][-1] == (
        "crash_backoff (cancelled)",
        12.0,
        15.0,
    )
    node = platform.nodes[0]
    assert (node.cpu_requested, node.memory_requested, node.pods) == (0, 0, set())
    assert ctx.cluster.instances == []


def test_pending_pods_scaler_counts_nodes_on_the_way() -> None:
    scaler = PendingPodsScaler()
    state = PendingPods(unschedulable=7, pods_per_node=3, nodes=4, provisioning=1, max_nodes=10)
    assert scaler.nodes_to_add(state) == 2  # ceil(7/3) = 3 nodes needed, 1 already coming
    capped = PendingPods(unschedulable=7, pods_per_node=3, nodes=9, provisioning=0, max_nodes=10)
    assert scaler.nodes_to_add(capped) == 1


# -- bin packing --------------------------------------------------------------------------------


def hand_made_cluster() -> list[Node]:
    a = Node(
        "a", cpu_m=2000, memory=4 * GIB, max_pods=110, cpu_requested=1000, memory_requested=GIB
    )
    b = Node("b", cpu_m=2000, memory=4 * GIB, max_pods=110, cpu_requested=500)
    b.memory_requested = 3 * GIB
    full = Node("full", cpu_m=2000, memory=4 * GIB, max_pods=110, cpu_requested=1800)
    slots = Node("slots", cpu_m=2000, memory=4 * GIB, max_pods=1, pods={99})
    return [full, slots, a, b]


def test_least_allocated_spreads_by_free_share() -> None:
    # Pod 500m / 512Mi. 'full' has 200m left and 'slots' no pod slot: filtered out.
    # a: cpu (2000-1500)*100//2000 = 25, mem (4096-1536)*100//4096 = 62 → (25+62)//2 = 43
    # b: cpu (2000-1000)*100//2000 = 50, mem (4096-3584)*100//4096 = 12 → (50+12)//2 = 31
    nodes = hand_made_cluster()
    assert LeastAllocated().score(nodes[2], 500, 512 * MIB) == 43
    assert LeastAllocated().score(nodes[3], 500, 512 * MIB) == 31
    assert LeastAllocated().pick(nodes, 500, 512 * MIB) is nodes[2]


def test_most_allocated_packs_by_used_share() -> None:
    # a: cpu 1500*100//2000 = 75, mem 1536*100//4096 = 37 → 56
    # b: cpu 1000*100//2000 = 50, mem 3584*100//4096 = 87 → 68
    nodes = hand_made_cluster()
    assert MostAllocated().score(nodes[2], 500, 512 * MIB) == 56
    assert MostAllocated().score(nodes[3], 500, 512 * MIB) == 68
    assert MostAllocated().pick(nodes, 500, 512 * MIB) is nodes[3]


def test_no_room_anywhere_means_pending() -> None:
    nodes = hand_made_cluster()
    assert LeastAllocated().pick(nodes, 1600, 512 * MIB) is None


@pytest.mark.parametrize(
    ("scheduler", "expected"),
    [
        # Equal nodes: spread alternates (ties go to the oldest node) ...
        ("least_allocated", ["node-0", "node-1", "node-0", "node-1"]),
        # ... pack fills node-0 (3 pods of 500m in 1930m) before node-1.
        ("most_allocated", ["node-0", "node-0", "node-0", "node-1"]),
    ],
)
def test_scheduler_policy_decides_placement(scheduler: str, expected: list[str]) -> None:
    d = doc(
        {
            "nodes": 2,
            "initial": 0,
            "scheduler": scheduler,
            "pod": {"cpu": "500m", "memory": "256Mi"},
        }
    )
    env, _, platform = build(d)
    platform.scale_to(4)
    env.run(until=1)
    where = platform.placement()
    assert [where[f"pod-{i}"] for i in range(4)] == expected


# -- cgroup limits ------------------------------------------------------------------------------


def test_cpu_limit_throttles_service_speed() -> None:
    # Demand 100 ms at full speed; 4 workers share the CFS quota of limit_cpu cores,
    # so the speed factor is min(1, limit / 4): service = 0.1 / factor.
    limits = {"none": None, "4": 4, "2": 2, "1": 1, "500m": "500m"}
    expected = {"none": 0.1, "4": 0.1, "2": 0.2, "1": 0.4, "500m": 0.8}
    base = doc({"nodes": 1, "initial": 1}, horizon="2000s", rate="0.2/s")
    template = base["scenarios"][0]
    base["scenarios"] = []
    for name, limit in limits.items():
        s = copy.deepcopy(template)
        s["name"] = name
        s["platform"]["pod"] = {"cpu": "500m", "limit_cpu": limit}
        base["scenarios"].append(s)
    res = run(base)
    rows: dict[Any, Any] = {r["scenario"]: r for r in res.summary.to_dict("records")}
    for name, service in expected.items():
        # Light load (0.2/s against 4 workers): no request ever queued in any scenario
        # (the same arrivals in each), so the mean latency is exactly the service time.
        assert rows[name]["waited_fraction"] == 0.0
        assert rows[name]["latency_mean_s"] == pytest.approx(service, rel=1e-9)
    # Throttled workers stay busy longer: utilisation grows by the same factor.
    util = rows["1"]["utilisation_mean"] / rows["none"]["utilisation_mean"]
    assert util == pytest.approx(4.0, rel=1e-9)


def test_memory_limit_below_working_set_crash_loops_with_backoff() -> None:
    # Working set 300Mi > limit 256Mi, reached as soon as the app is up: the container is
    # OOM-killed before its first successful probe, every time.
    #   pull 0→5, create 5→6, start 6→8, app 8→12, killed at 12 (probe would be at 18)
    #   backoff 10 → 22; create →23; start →25; app →29; killed
    #   backoff 20 → 49; ... app →56; killed; backoff 40 → 96; ... →103; backoff 80 → 183;
    #   ... →190; backoff 160 → 350; ... →357; backoff 300 (cap) → 657; ... →664; killed;
    #   backoff 300 again, unfinished at the horizon (700).
    d = doc(
        {
            "nodes": 1,
            "initial": 0,
            "pod": {"memory": "128Mi", "limit_memory": "256Mi", "working_set": "300Mi"},
        },
        actions=[("0s", 1)],
        horizon="700s",
    )
    res = run(d)
    backoffs = [(a, b) for s, a, b, _ in spans_of(res, "pod-0") if s == "crash_backoff"]
    assert backoffs == [
        (12.0, 22.0),
        (29.0, 49.0),
        (56.0, 96.0),
        (103.0, 183.0),
        (190.0, 350.0),
        (357.0, 657.0),
        (664.0, None),
    ]
    assert [b - a for a, b in backoffs[:-1] if b is not None and a is not None] == [
        10,
        20,
        40,
        80,
        160,
        300,
    ]
    assert spans_of(res, "pod-0")[:6] == [
        ("schedule", 0.0, 0.0, 0.0),
        ("image_pull", 0.0, 5.0, 0.0),
        ("create", 5.0, 6.0, 0.0),
        ("start", 6.0, 8.0, 0.0),
        ("app_start", 8.0, 12.0, 0.0),
        ("crash_backoff", 12.0, 22.0, 0.0),
    ]
    assert not [s for s, *_ in spans_of(res, "pod-0") if s == "readiness"]
    row = res.summary.iloc[0]
    assert row["container_oom_kills"] == 7
    assert math.isnan(row["time_to_first_ready_s"])
    assert row["completed"] == 0 and row["dropped_no_instance"] == row["arrived"]


def test_oom_kill_of_a_serving_pod_takes_it_out_of_rotation() -> None:
    # The initial pod runs from t=0 and reaches its working set 50 s after: killed at 50.
    #   backoff 10: 50→60; create 60→61; start 61→63; app 63→67; probes 63, 73 → ready 73;
    #   killed at 67 + 50 = 117 (it ran 54 s < 10 min): backoff 20: 117→137; create →138;
    #   start →140; app →144; probes 140, 150 → ready 150; killed at 194; backoff 40 → 234;
    #   create →235; start →237; app from 237, unfinished at the horizon (240).
    d = doc(
        {
            "nodes": 1,
            "initial": 1,
            "pod": {
                "memory": "128Mi",
                "limit_memory": "256Mi",
                "working_set": "300Mi",
                "working_set_after": "50s",
            },
        },
        horizon="240s",
        rate="2/s",
    )
    res = run(d)
    assert spans_of(res, "pod-0") == [
        ("crash_backoff", 50.0, 60.0, 0.0),
        ("create", 60.0, 61.0, 0.0),
        ("start", 61.0, 63.0, 0.0),
        ("app_start", 63.0, 67.0, 0.0),
        ("readiness", 67.0, 73.0, 0.0),
        ("crash_backoff", 117.0, 137.0, 0.0),
        ("create", 137.0, 138.0, 0.0),
        ("start", 138.0, 140.0, 0.0),
        ("app_start", 140.0, 144.0, 0.0),
        ("readiness", 144.0, 150.0, 0.0),
        ("crash_backoff", 194.0, 234.0, 0.0),
        ("create", 234.0, 235.0, 0.0),
        ("start", 235.0, 237.0, 0.0),
        ("app_start", 237.0, None, 0.0),
    ]
    row = res.summary.iloc[0]
    assert row["container_oom_kills"] == 3
    # Not ready 50→73, 117→150, 194→240: requests then find no pod (≈ 2/s × 102 s).
    assert 150 < row["dropped_no_instance"] < 260
    ts = res.timeseries
    assert ts.loc[ts["time_s"] == 60, "ready_instances"].iloc[0] == 0


def test_backoff_resets_after_ten_minutes_of_running() -> None:
    d = doc(
        {
            "nodes": 1,
            "initial": 1,
            "pod": {
                "memory": "128Mi",
                "limit_memory": "256Mi",
                "working_set": "300Mi",
                "working_set_after": "600s",
            },
        },
        horizon="1900s",
    )
    res = run(d)
    # Killed at 600, 600 + 10 + 7 + 600 = 1217 (ran 604 s: reset), ...: always 10 s.
    backoffs = [(a, b) for s, a, b, _ in spans_of(res, "pod-0") if s == "crash_backoff"]
    assert backoffs == [(600.0, 610.0), (1217.0, 1227.0), (1834.0, 1844.0)]


# -- cost ---------------------------------------------------------------------------------------


def test_nodes_bill_per_second_with_a_minimum() -> None:
    env, ctx, platform = build(doc({"nodes": 2, "initial": 0}))

    def ops() -> Any:
        yield env.timeout(10)
        platform.remove_node(platform.nodes[1])  # lived 10 s: billed 60 s

    env.process(ops())
    env.run(until=100)
    cost = ctx.cluster.cost_rate.area_at(100.0)
    assert cost == pytest.approx(M5_PER_S * (100 + 60), rel=1e-12)


def test_design_contract_block_validates_and_runs() -> None:
    d = doc({}, horizon="600s", rate="50/s", service="40ms")
    d["scenarios"][0] = {
        "name": "kubernetes",
        "platform": {"kind": "container", "image": "nginx:1.23.3", "initial": 4},
        "serving": {"workers": 4, "queue_limit": 100},
        "balancer": {"kind": "least_connections"},
    }
    res = run(d)
    row = res.summary.iloc[0]
    assert row["instances_mean"] == 4
    assert row["dropped"] == 0
    # Three default m5.large nodes for 600 s; pods add nothing.
    assert row["cost_usd"] == pytest.approx(3 * M5_PER_S * 600, rel=1e-12)
    assert INSTANCE_TYPES["m5.large"].price == pytest.approx(M5_PER_S)


# -- bad config ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("platform", "field", "words"),
    [
        ({"node_type": "m9.huge"}, "node_type", "not in the catalog"),
        ({"pod": {"cpu": "5x"}}, "pod.cpu", "expected a Kubernetes quantity"),
        ({"pod": {"memory": "12QB"}}, "pod.memory", "expected a Kubernetes quantity"),
        ({"pod": {"cpu": 3}}, "pod.cpu", "exceeds the allocatable CPU of a m5.large node (1930m)"),
        ({"pod": {"memory": "7Gi"}}, "pod.memory", "exceeds the allocatable memory"),
        ({"node_type": "t3.micro", "pod": {"memory": "1Gi"}}, "pod.memory", "t3.micro"),
        ({"pod": {"cpu": 1, "limit_cpu": "500m"}}, "pod.limit_cpu", "below the request"),
        ({"pod": {"limit_memory": "1Gi"}}, "pod.limit_memory", "below the request"),
        ({"nodes": 1, "initial": 4}, "initial", "do not fit on 1 m5.large nodes (3 per node)"),
        ({"nodes": 4, "max_nodes": 2}, "max_nodes", "below nodes"),
        ({"node_stages": {"warmup": {"duration": FIXED_1S}}}, "node_stages.warmup", "unknown"),
        ({"stages": {"warmup": {"duration": FIXED_1S}}}, "stages.warmup", "unknown"),
        ({"stages": {"start": None}}, "stages.start", "cannot be removed"),
        ({"readiness": {"period": "0s"}}, "readiness.period", "greater than 0"),
        ({"image": "nginx latest"}, "image", "image reference"),
        ({"scheduler": "random"}, "scheduler", "least_allocated"),
    ],
)
def test_bad_config_names_the_field(platform: dict[str, Any], field: str, words: str) -> None:
    d = doc({})
    d["scenarios"][0]["platform"] = {"kind": "container", **platform}
    text = problems(d)
    assert f"<experiment>: scenarios[0].platform.{field}: " in text, text
    assert words in text, text
    assert "\n" not in text, text
