"""Faults on the infrastructure: registry outage and slowdown, cloud API errors, and a
partition between a node and the registry — mechanisms first (hand-computed traces on a
small rig), then each kind end to end through the ``faults:`` block of an experiment.

Rig of the pull tests, unless a test says otherwise: no round trip, registry egress
1 MB/s (10^6 B/s), node ingress 10 Gbps, decompression 100 MB/s of uncompressed output,
compression ratio 2.7; ``alpine:3.17.1`` is one layer of 3,370,628 B (9,100,696 B
uncompressed), so alone it downloads in 3.370628 s and extracts in 0.09100696 s.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from typing import Any

import numpy as np
import pytest
import simpy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import simulator  # noqa: F401 - loads the registries before the models (import order)
from models.cloud import ApiErrors, ApiWindow, cloud_stages
from models.container import Node
from models.images import ImageSettings, LayerPuller
from simulator.loading import InputError, load_experiment
from simulator.network import Network
from simulator.pipeline import Resources, resolve_stages, run_stages
from simulator.platform import SpanLog

MB = 1e6
ALPINE = "alpine:3.17.1"
SIZE = 3370628
EXTRACT = round(SIZE * 2.7) / 100e6  # 0.09100696 s


# -- the network: a link's capacity changes under transfers in flight ---------------------------


def test_halving_a_link_mid_transfer_moves_the_finish_exactly() -> None:
    # 1000 B on 100 B/s would end at 10 s. Halved at 4 s (400 B moved, 600 left at 50 B/s)
    # it would end at 16; restored at 10 s (700 B moved, 300 left at 100 B/s): 13 s.
    env = simpy.Environment()
    net = Network(env)
    net.add_link("L", 100.0)
    x = net.transfer(1000.0, ["L"])

    def fault() -> Generator[simpy.Event, Any, None]:
        yield env.timeout(4)
        net.set_bandwidth("L", 50.0)
        assert net.rate_of(x) == pytest.approx(50.0)
        yield env.timeout(6)
        net.set_bandwidth("L", 100.0)  # settles the bytes moved so far first
        assert x.remaining == pytest.approx(300.0)

    env.process(fault())
    env.run()
    assert x.finished == pytest.approx(13.0)
    assert net.links["L"].bytes_carried == pytest.approx(1000.0)


def test_a_capacity_change_reshares_every_flow_and_conserves_bytes() -> None:
    # A (1000 B) and B (200 B) share 100 B/s: 50 each. At 2 s the link halves: 25 each;
    # B has 100 B left → ends at 6; A has moved 100 + 100 = 200, alone at 50 B/s: 16 s
    # more → 22 s.
    env = simpy.Environment()
    net = Network(env)
    net.add_link("L", 100.0)
    a = net.transfer(1000.0, ["L"])
    b = net.transfer(200.0, ["L"])

    def fault() -> Generator[simpy.Event, Any, None]:
        yield env.timeout(2)
        net.set_bandwidth("L", 50.0)

    env.process(fault())
    env.run()
    assert (b.finished, a.finished) == pytest.approx((6.0, 22.0))
    assert net.links["L"].bytes_carried == pytest.approx(1200.0)


def test_set_bandwidth_refuses_unknown_links_and_non_positive_capacity() -> None:
    net = Network(simpy.Environment())
    net.add_link("L", 1.0)
    with pytest.raises(KeyError, match="unknown link 'M'"):
        net.set_bandwidth("M", 1.0)
    with pytest.raises(ValueError, match="bandwidth must be > 0"):
        net.set_bandwidth("L", 0.0)


# -- the registry at run time: outage, slowdown, partition ---------------------------------------


class Rig:
    """A ``LayerPuller`` on its own network; faults applied at given times."""

    def __init__(self, **cfg: Any) -> None:
        self.env = simpy.Environment()
        self.net = Network(self.env)
        base: dict[str, Any] = {"registry": {"bandwidth": "1MB/s", "rtt": "0s"}}
        base.update(cfg)
        self.settings = ImageSettings.model_validate({"decompress": "100MB/s", **base})
        self.rows: list[dict[str, Any]] = []
        self.counters: dict[str, int] = {}
        self.metrics: dict[str, float] = {}
        self.puller = LayerPuller(
            self.env,
            self.net,
            self.settings,
            record=lambda table, **row: self.rows.append(row),
            counters=self.counters,
            metrics=self.metrics,
        )
        self.registry = self.puller.registry
        self.nodes: dict[str, Node] = {}
        self.done: dict[str, float] = {}

    def pull(self, node: str = "node-0", at: float = 0.0) -> None:
        n = self.nodes.setdefault(node, Node(node, cpu_m=2000, memory=2**33, max_pods=110))

        def pod() -> Generator[simpy.Event, Any, None]:
            if at:
                yield self.env.timeout(at)
            yield from self.puller.ensure(ALPINE, n)
            self.done[node] = self.env.now

        self.env.process(pod())

    def at(self, t: float, action: Callable[[], None]) -> None:
        def run() -> Generator[simpy.Event, Any, None]:
            yield self.env.timeout(t)
            action()

        self.env.process(run())


def test_without_faults_alpine_lands_at_its_download_plus_extraction() -> None:
    rig = Rig()
    rig.pull()
    rig.env.run()
    assert rig.done["node-0"] == pytest.approx(3.370628 + EXTRACT)


def test_a_70s_outage_breaks_the_download_and_the_kubelet_backs_off_10_then_20s() -> None:
    # Down from 1 s to 71 s. The download breaks at 1 s with 1 MB in; moby retries after
    # 5, 10, 15, 20 s (t = 6, 16, 31, 51: down) → out of 5 attempts at 51: the pull fails.
    # Kubelet back-off 10 s → pull at 61 (manifest refused: down), 20 s → 81: up; the
    # blob resumes from the 1 MB kept: 2,370,628 B more → 83.370628, then extraction.
    rig = Rig()
    rig.pull()
    rig.at(1, rig.registry.begin_outage)
    rig.at(71, rig.registry.end_outage)
    rig.env.run()
    assert rig.done["node-0"] == pytest.approx(83.370628 + EXTRACT)
    assert rig.counters["container_layer_download_retries"] == 4
    assert rig.counters["container_image_pull_failures"] == 2
    assert [r["error"] for r in rig.rows] == ["registry unavailable", ""]
    # Conservation of bytes: what left the registry is what landed, exactly the layer.
    assert rig.metrics["bytes_pulled"] == pytest.approx(SIZE)
    assert rig.registry.bytes_served == pytest.approx(SIZE)


def test_overlapping_outages_keep_the_registry_down_until_the_last_ends() -> None:
    rig = Rig()
    rig.registry.begin_outage()
    rig.registry.begin_outage()
    rig.registry.end_outage()
    assert rig.registry.down
    rig.registry.end_outage()
    assert not rig.registry.down


def test_a_slowdown_mid_pull_moves_the_finish_by_the_bytes_left() -> None:
    # Halved from 1 s to 3 s: 1 MB by 1 s, 1 MB more by 3 s (0.5 MB/s), the last
    # 1,370,628 B at 1 MB/s → 4.370628 (one second later than without the fault).
    rig = Rig()
    rig.pull()
    rig.at(1, lambda: rig.registry.slow_down(0.5))
    rig.at(3, lambda: rig.registry.restore(0.5))
    rig.env.run()
    assert rig.done["node-0"] == pytest.approx(4.370628 + EXTRACT)
    assert rig.net.links["registry"].bandwidth == pytest.approx(1 * MB)
    assert rig.net.links["registry"].bytes_carried == pytest.approx(SIZE)


def test_slowdowns_multiply_and_restore_one_by_one() -> None:
    rig = Rig()
    rig.registry.slow_down(0.5)
    rig.registry.slow_down(0.1)
    assert rig.net.links["registry"].bandwidth == pytest.approx(0.05 * MB)
    rig.registry.restore(0.5)
    assert rig.net.links["registry"].bandwidth == pytest.approx(0.1 * MB)
    with pytest.raises(ValueError, match="factor must be > 0"):
        rig.registry.slow_down(0.0)


def test_a_short_partition_stalls_the_download_which_resumes_on_heal() -> None:
    # node-0 cut off from 1 s to 41 s (< the 5 min progress timeout): no bytes move for
    # 40 s, no retry; it ends 40 s late. node-1 pulls at 10 s while node-0 is stalled and
    # gets the whole 1 MB/s: 13.370628.
    rig = Rig()
    rig.pull("node-0")
    rig.pull("node-1", at=10)
    rig.at(1, lambda: rig.registry.partition("node-0"))
    rig.at(41, lambda: rig.registry.heal("node-0"))
    rig.env.run()
    assert rig.done["node-0"] == pytest.approx(43.370628 + EXTRACT)
    assert rig.done["node-1"] == pytest.approx(13.370628 + EXTRACT)
    assert rig.counters["container_layer_download_retries"] == 0
    assert rig.registry.bytes_served == pytest.approx(2 * SIZE)


def test_a_long_partition_times_out_the_download_and_new_connections() -> None:
    # Cut off from 1 s to 400 s. The stalled download fails at 1 + 300 = 301 (progress
    # timeout) with 1 MB in; retry after 5 s → 306: connect times out at 336; after 10 s
    # → 346: times out at 376; after 15 s → 391: connected when healed at 400; the other
    # 2,370,628 B → 402.370628. Four attempts, three retries, the pull never failed.
    rig = Rig()
    rig.pull()
    rig.at(1, lambda: rig.registry.partition("node-0"))
    rig.at(400, lambda: rig.registry.heal("node-0"))
    rig.env.run()
    assert rig.done["node-0"] == pytest.approx(402.370628 + EXTRACT)
    assert rig.counters["container_layer_download_retries"] == 3
    assert rig.counters["container_image_pull_failures"] == 0
    assert rig.metrics["bytes_pulled"] == pytest.approx(SIZE)


def test_a_node_partitioned_before_its_pull_times_out_and_backs_off() -> None:
    # Cut off from 0 to 100 s. The manifest request cannot connect: fails at 30 s; kubelet
    # back-off 10 s → 40: fails at 70; 20 s → 90: connects at the heal (100), downloads.
    rig = Rig()
    rig.registry.partition("node-0")
    rig.pull()
    rig.at(100, lambda: rig.registry.heal("node-0"))
    rig.env.run()
    assert rig.done["node-0"] == pytest.approx(103.370628 + EXTRACT)
    assert rig.counters["container_image_pull_failures"] == 2
    assert rig.counters["container_manifest_requests"] == 1  # the refused ones never arrived


# -- cloud API errors on the launch pipeline ------------------------------------------------------


class Half:
    """A stand-in generator whose every draw is 0.5 (so the jitter is hand-computable)."""

    def random(self) -> float:
        return 0.5


def launch(
    windows: list[tuple[float, float, ApiWindow]], rng: Any = None
) -> tuple[SpanLog, dict[str, int]]:
    """One cloud instance (baked image: api_call 1.5 s, pending 11.5, boot 13, app 5) with
    API error windows ``(open, close, window)``; returns its spans and counters."""
    env = simpy.Environment()
    spec = {"cloud_api": 2.0}
    stages = resolve_stages(cloud_stages(baked_image=True), None, resources=spec)
    resources = Resources(env, spec)
    counters: dict[str, int] = {}
    api = ApiErrors(env, rng if rng is not None else Half(), counters)  # type: ignore[arg-type]
    resources.guards["cloud_api"] = api
    for t_open, t_close, window in windows:

        def run(
            t_open: float = t_open, t_close: float = t_close, window: ApiWindow = window
        ) -> Generator[simpy.Event, Any, None]:
            yield env.timeout(t_open)
            api.open(window)
            yield env.timeout(t_close - t_open)
            api.close(window)

        env.process(run())
    spans = SpanLog()
    env.process(run_stages(env, stages, resources, np.random.default_rng(0), None, "vm-0", spans))
    env.run()
    return spans, counters


def trace(spans: SpanLog) -> list[tuple[str, float, float]]:
    return [(s.stage, round(s.start_s, 9), round(s.end_s, 9)) for s in spans]


def test_no_window_no_errors_and_no_random_draws() -> None:
    class NoDraws:
        def random(self) -> float:
            raise AssertionError("drew a random number without a fault window")

    spans, counters = launch([], rng=NoDraws())
    assert trace(spans)[-1] == ("app_start", 26.0, 31.0)
    assert counters == {"cloud_api_errors": 0, "cloud_launch_retries": 0}


def test_throttling_is_retried_by_the_sdk_then_by_the_launcher() -> None:
    # Throttled (every call) from 0 to 25 s; draws 0.5: SDK back-off 0.5·1, 0.5·2, then
    # out of 3 attempts → the launcher retries 10 s later with a fresh call:
    # 0 → 0.5 → 1.5 → 11.5 → 12 → 13 → 23 → 23.5 → 24.5 → 34.5 (window closed): the call
    # succeeds; ready 31 s after it.
    spans, counters = launch([(0, 25, ApiWindow("throttling", 1.0))])
    sdk, group = "api_call (retry: throttling)", "api_call (launch retry: throttling)"
    assert trace(spans) == [
        (sdk, 0.0, 0.5),
        (sdk, 0.5, 1.5),
        (group, 1.5, 11.5),
        (sdk, 11.5, 12.0),
        (sdk, 12.0, 13.0),
        (group, 13.0, 23.0),
        (sdk, 23.0, 23.5),
        (sdk, 23.5, 24.5),
        (group, 24.5, 34.5),
        ("api_call", 34.5, 36.0),
        ("pending", 36.0, 47.5),
        ("boot", 47.5, 60.5),
        ("app_start", 60.5, 65.5),
    ]
    assert counters == {"cloud_api_errors": 9, "cloud_launch_retries": 3}


def test_sdk_back_off_is_capped_at_max_backoff() -> None:
    # 6 attempts, cap 3 s, draws 0.5: 0.5·min(1,3), 0.5·2, 0.5·3, 0.5·3, 0.5·3, then the
    # launcher (retry_interval 7 s).
    window = ApiWindow("throttling", 1.0, max_attempts=6, max_backoff=3.0, retry_interval=7.0)
    spans, _ = launch([(0, 8, window)])
    waits = [round(s.end_s - s.start_s, 9) for s in spans if "retry" in s.stage]
    assert waits == [0.5, 1.0, 1.5, 1.5, 1.5, 7.0]


def test_thousands_of_sdk_attempts_keep_their_capped_back_off() -> None:
    # 1,100 attempts allowed, cap 1 s, draws 0.5: every SDK wait is 0.5 s, also past the
    # 1,025th attempt, where 2^(i-1) is no longer a float (regression: OverflowError).
    window = ApiWindow("throttling", 1.0, max_attempts=1100, max_backoff=1.0)
    spans, counters = launch([(0, 2000, window)])
    waits = [round(s.end_s - s.start_s, 9) for s in spans if "(retry: " in s.stage]
    first_group = next(i for i, s in enumerate(spans) if "launch retry" in s.stage)
    assert first_group == 1099 and set(waits[:1099]) == {0.5}
    assert counters["cloud_launch_retries"] >= 1 and trace(spans)[-1][0] == "app_start"


def test_insufficient_capacity_is_retried_by_the_launcher_only() -> None:
    # No capacity from 0 to 25 s: calls at 0, 10, 20 fail, 30 succeeds.
    spans, counters = launch([(0, 25, ApiWindow("insufficient_capacity", 1.0))])
    group = "api_call (launch retry: insufficient_capacity)"
    assert trace(spans)[:4] == [
        (group, 0.0, 10.0),
        (group, 10.0, 20.0),
        (group, 20.0, 30.0),
        ("api_call", 30.0, 31.5),
    ]
    assert trace(spans)[-1] == ("app_start", 56.0, 61.0)
    assert counters == {"cloud_api_errors": 3, "cloud_launch_retries": 3}


def test_failed_call_share_matches_the_probability() -> None:
    # Each call fails independently with p = 0.3 (insufficient capacity, window always
    # open): failures before success per launch ~ Geometric, mean p / (1 - p) = 3/7.
    # 400 launches; the mean must be within 4 standard errors of 3/7.
    p = 0.3
    rng = np.random.default_rng(2024)
    counts = []
    for _ in range(400):
        spans, counters = launch([(0, 1e9, ApiWindow("insufficient_capacity", p))], rng=rng)
        counts.append(counters["cloud_api_errors"])
        assert trace(spans)[counters["cloud_api_errors"]][0] == "api_call"
    mean = float(np.mean(counts))
    se = math.sqrt(p / (1 - p) ** 2 / len(counts))  # sd of a geometric count
    assert abs(mean - p / (1 - p)) < 4 * se


# -- end to end: the faults block of an experiment ------------------------------------------------


def experiment(tmp_path: Any, body: str) -> Any:
    path = tmp_path / "exp.yaml"
    path.write_text(body)
    return load_experiment(path)


def test_bad_fault_configs_name_the_field(tmp_path: Any) -> None:
    head = """
name: bad
horizon: 10m
workload:
  arrivals: {kind: constant, rate: 1/s}
  service_time: {kind: fixed, value: 10ms}
scenarios:
  - name: k8s
    platform: {kind: container, image: "alpine:3.17.1", initial: 1}
    faults:
      events:
"""
    cases = {
        "- {kind: registry_slowdown, at: 1m, duration: 1m}": "factor",
        "- {kind: registry_slowdown, at: 1m, duration: 1m, factor: 0}": "factor",
        "- {kind: registry_outage, at: 1m}": "duration",
        "- {kind: cloud_api_errors, at: 1m, duration: 1m, error: oops}": "error",
        "- {kind: cloud_api_errors, at: 1m, duration: 1m, error: throttling, probability: 2}": (
            "probability"
        ),
        "- {kind: partition, at: 1m, duration: 1m, node: node-0, target: 1}": "node",
        "- {kind: partition, at: 1m, duration: 1m, zone: a}": "zone",
    }
    for line, field in cases.items():
        with pytest.raises(InputError) as info:
            experiment(tmp_path, head + "        " + line + "\n")
        text = str(info.value)
        assert field in text, (line, text)


HEAD = """
name: infra-faults
seed: 1
horizon: 5m
workload:
  arrivals: {kind: constant, rate: 2/s}
  service_time: {kind: fixed, value: 10ms}
"""

# Two nodes, one pod at t = 0 on node-0 (which holds the image); at 60 s a schedule asks
# for a second pod: it lands on the empty node-1, which must pull alpine (1 MB/s, no
# round trip). Pod pipeline after the image: create 0.5 s, start 0.5 s, app 5 s, then the
# readiness probe 5 s after the start → ready = image end + 11 s.
K8S = """
  - name: k8s
    platform:
      kind: container
      image: "alpine:3.17.1"
      initial: 1
      nodes: 2
      registry: {bandwidth: 1MB/s, rtt: 0s}
      decompress: 100MB/s
    autoscaler: {kind: schedule, actions: [{at: 60s, instances: 2}]}
"""
PULL = 3.370628 + EXTRACT  # alpine on a cold node, registry alone


def run(tmp_path: Any, scenarios: str, faults: str = "", where: str = "scenario") -> Any:
    """Run replication 0 of the first scenario; faults in its block or the experiment's."""
    body = HEAD
    if faults and where == "experiment":
        body += "faults:\n  events:\n" + faults
    body += "scenarios:" + scenarios
    if faults and where == "scenario":
        body += "    faults:\n      events:\n" + "".join(
            "    " + ln + "\n" for ln in faults.splitlines()
        )
    from simulator.engine import run_one

    result = run_one(experiment(tmp_path, body), 0, 0)
    s = result.summary
    assert s["arrived"] == s["completed"] + s["dropped"] + s["timed_out"] + s["in_flight"]
    return result


def spans_of(result: Any, instance: str) -> dict[str, tuple[float, float]]:
    return {s.stage: (s.start_s, s.end_s) for s in result.spans if s.instance == instance}


def test_baseline_scale_out_pulls_on_the_cold_node(tmp_path: Any) -> None:
    result = run(tmp_path, K8S)
    pod = spans_of(result, "pod-1")
    assert pod["image_pull"] == pytest.approx((60.0, 60 + PULL))
    assert pod["readiness"][1] == pytest.approx(60 + PULL + 11)
    assert result.tables.get("faults", []) == []


def test_registry_outage_holds_the_scale_out_through_the_kubelet_back_off(
    tmp_path: Any,
) -> None:
    # Down 30–100 s. Pull at 60: manifest refused; back-off 10 → 70 refused, 20 → 90
    # refused, 40 → 130: up; image at 130 + PULL, ready 11 s later.
    fault = "  - {kind: registry_outage, at: 30s, duration: 70s}\n"
    result = run(tmp_path, K8S, fault)
    pod = spans_of(result, "pod-1")
    assert pod["image_pull"] == pytest.approx((60.0, 130 + PULL))
    (row,) = result.tables["faults"]
    assert (row["kind"], row["target"]) == ("registry_outage", "registry")
    assert (row["start_s"], row["end_s"]) == (30.0, 100.0)
    assert row["recovered_s"] == pytest.approx(130 + PULL + 11)
    assert result.summary["container_image_pull_failures"] == 3
    assert result.summary["time_to_recover_s"] == pytest.approx(130 + PULL + 11 - 30)
    assert result.summary["failed_requests"] == 0


def test_registry_outage_recovers_when_a_scale_in_cancels_the_pod_it_held_back(
    tmp_path: Any,
) -> None:
    # Down 30–100 s; pod-1 (asked for at 60) is still backing off at the end of the window
    # (next try at 130), so 2 are wanted and 1 is ready. At 110 s the schedule asks for 1:
    # pod-1 is cancelled and what the platform wants is ready — recovered then, although
    # no instance became ready (regression: the row stayed unrecovered to the horizon).
    k8s = K8S.replace(
        "[{at: 60s, instances: 2}]", "[{at: 60s, instances: 2}, {at: 110s, instances: 1}]"
    )
    fault = "  - {kind: registry_outage, at: 30s, duration: 70s}\n"
    result = run(tmp_path, k8s, fault)
    assert "readiness" not in spans_of(result, "pod-1")
    (row,) = result.tables["faults"]
    assert (row["start_s"], row["end_s"], row["recovered_s"]) == (30.0, 100.0, 110.0)
    assert result.summary["faults_unrecovered"] == 0


def test_registry_outage_in_the_experiment_block_acts_on_containers_only(
    tmp_path: Any,
) -> None:
    fault = "  - {kind: registry_outage, at: 30s, duration: 70s}\n"
    k8s = run(tmp_path, K8S, fault, where="experiment")
    assert spans_of(k8s, "pod-1")["image_pull"][1] == pytest.approx(130 + PULL)
    cloud = run(
        tmp_path, "\n  - name: vms\n    platform: {kind: cloud, initial: 1}\n", fault, "experiment"
    )
    assert cloud.tables.get("faults", []) == []


def test_a_fault_its_scenario_cannot_have_is_refused_naming_the_event(tmp_path: Any) -> None:
    cases = {
        "  - name: vms\n    platform: {kind: cloud, initial: 1}\n": (
            "- {kind: registry_outage, at: 30s, duration: 70s}",
            "scenarios[0].faults.events[0]: registry_outage acts on container platforms, "
            "not 'cloud'",
        ),
        "  - name: k8s\n    platform: {kind: container, initial: 1, image_pull: 10s}\n": (
            "- {kind: partition, at: 30s, duration: 70s, node: node-0}",
            "scenarios[0].faults.events[0]: partition needs the layer-level image model",
        ),
        "  - name: dynos\n    platform: {kind: paas, initial: 1}\n": (
            "- {kind: cloud_api_errors, at: 30s, duration: 70s, error: throttling}",
            "scenarios[0].faults.events[0]: cloud_api_errors acts on cloud or container "
            "platforms, not 'paas'",
        ),
    }
    for scenario, (event, message) in cases.items():
        body = HEAD + "scenarios:\n" + scenario + "    faults:\n      events:\n        " + event
        with pytest.raises(InputError) as info:
            experiment(tmp_path, body + "\n")
        assert message in str(info.value)
        assert len(info.value.problems) == 1


def test_registry_slowdown_mid_pull_delays_the_pod_by_the_lost_bytes(tmp_path: Any) -> None:
    # Pull at 60; the registry at a quarter speed 61–65: 1 MB by 61, 1 MB more by 65, the
    # last 1,370,628 B at full speed → 66.370628: three seconds late.
    fault = "  - {kind: registry_slowdown, at: 61s, duration: 4s, factor: 0.25}\n"
    result = run(tmp_path, K8S, fault)
    assert spans_of(result, "pod-1")["image_pull"] == pytest.approx((60.0, 63 + PULL))
    (row,) = result.tables["faults"]
    assert (row["kind"], row["start_s"], row["end_s"]) == ("registry_slowdown", 61.0, 65.0)
    assert result.summary["bytes_pulled"] == SIZE


def test_partition_of_the_new_node_times_out_its_pull_until_it_heals(tmp_path: Any) -> None:
    # node-1 cut off 50–145 s. Pull at 60: connect times out at 90; back-off 10 → 100:
    # times out at 130; back-off 20 → 150 (healed): image at 150 + PULL.
    fault = "  - {kind: partition, at: 50s, duration: 95s, node: node-1}\n"
    result = run(tmp_path, K8S, fault)
    assert spans_of(result, "pod-1")["image_pull"] == pytest.approx((60.0, 150 + PULL))
    (row,) = result.tables["faults"]
    assert (row["kind"], row["target"], row["end_s"]) == ("partition", "node-1", 145.0)
    assert result.summary["container_image_pull_failures"] == 2


def test_partition_of_a_node_holding_the_image_changes_nothing(tmp_path: Any) -> None:
    fault = "  - {kind: partition, at: 50s, duration: 95s, target: 0}\n"
    result = run(tmp_path, K8S, fault)
    assert spans_of(result, "pod-1")["image_pull"] == pytest.approx((60.0, 60 + PULL))
    assert result.tables["faults"][0]["target"] == "node-0"


CLOUD = """
  - name: vms
    platform: {kind: cloud, initial: 1, baked_image: true}
    autoscaler: {kind: schedule, actions: [{at: 60s, instances: 2}]}
"""


def test_insufficient_capacity_delays_a_cloud_launch_by_the_group_retries(
    tmp_path: Any,
) -> None:
    # No capacity 50–75 s: the launch at 60 fails, again at 70, succeeds at 80.
    fault = "  - {kind: cloud_api_errors, at: 50s, duration: 25s, error: insufficient_capacity}\n"
    result = run(tmp_path, CLOUD, fault)
    group = "api_call (launch retry: insufficient_capacity)"
    got = [(s.stage, s.start_s, s.end_s) for s in result.spans if s.instance == "i1"]
    assert got[:3] == [(group, 60.0, 70.0), (group, 70.0, 80.0), ("api_call", 80.0, 81.5)]
    assert result.summary["cloud_api_errors"] == 2
    (row,) = result.tables["faults"]
    assert (row["kind"], row["target"], row["end_s"]) == (
        "cloud_api_errors",
        "insufficient_capacity",
        75.0,
    )
    assert row["recovered_s"] == pytest.approx(80 + 31)


def test_throttled_node_launches_delay_the_pending_pod(tmp_path: Any) -> None:
    # One pod per node: the pod asked for at 60 s is Pending; the node scaler launches
    # node-1 at 60 through the cloud pipeline. Throttled 50–90 s: SDK retries (full
    # jitter from the failures stream), then the group every 10 s, until the window ends.
    k8s = K8S.replace("nodes: 2", "nodes: 1\n      max_pods_per_node: 1")
    fault = "  - {kind: cloud_api_errors, at: 50s, duration: 40s, error: throttling}\n"
    base = run(tmp_path, k8s)
    hit = run(tmp_path, k8s, fault)
    node_base = spans_of(base, "node-1")
    retries = [s for s in hit.spans if s.instance == "node-1" and "retry" in s.stage]
    node_hit = spans_of(hit, "node-1")
    assert node_base["api_call"][0] == 60.0
    # Every failure is a span; they chain without gaps from 60 s to the successful call,
    # which comes after the window closed.
    assert retries[0].start_s == 60.0
    for a, b in zip(retries, retries[1:], strict=False):
        assert b.start_s == pytest.approx(a.end_s)
    assert node_hit["api_call"][0] == pytest.approx(retries[-1].end_s)
    assert node_hit["api_call"][0] >= 90.0
    assert hit.summary["cloud_api_errors"] == len(retries)
    assert hit.summary["cloud_launch_retries"] >= 1
    delay = node_hit["api_call"][0] - 60.0
    assert spans_of(hit, "pod-1")["readiness"][1] == pytest.approx(
        spans_of(base, "pod-1")["readiness"][1] + delay
    )


def test_same_seed_same_retries(tmp_path: Any) -> None:
    k8s = K8S.replace("nodes: 2", "nodes: 1\n      max_pods_per_node: 1")
    fault = "  - {kind: cloud_api_errors, at: 50s, duration: 40s, error: throttling}\n"
    a, b = run(tmp_path, k8s, fault), run(tmp_path, k8s, fault)
    assert a.spans == b.spans
    assert _nan_equal(a.summary, b.summary)


def _nan_equal(x: dict[str, Any], y: dict[str, Any]) -> bool:
    def same(u: Any, v: Any) -> bool:
        return u == v or (
            isinstance(u, float) and isinstance(v, float) and math.isnan(u) and math.isnan(v)
        )

    return x.keys() == y.keys() and all(same(x[k], y[k]) for k in x)


_window_st = st.tuples(st.floats(0, 30), st.floats(0.5, 400))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    outages=st.lists(_window_st, max_size=2),
    slowdowns=st.lists(
        st.tuples(st.floats(0, 30), st.floats(0.5, 60), st.floats(0.05, 2)), max_size=2
    ),
    cuts=st.lists(
        st.tuples(st.sampled_from(["node-0", "node-1"]), st.floats(0, 30), st.floats(0.5, 400)),
        max_size=2,
    ),
)
def test_any_mix_of_registry_faults_loses_no_byte_and_every_pull_lands(
    outages: list[tuple[float, float]],
    slowdowns: list[tuple[float, float, float]],
    cuts: list[tuple[str, float, float]],
) -> None:
    # Whatever the faults, once they are over every pull completes (the kubelet retries
    # forever), each node holds the layer once, and the bytes that left the registry are
    # the bytes that crossed its link and landed on the nodes.
    rig = Rig()
    rig.pull("node-0")
    rig.pull("node-1", at=2)
    for start, length in outages:
        rig.at(start, rig.registry.begin_outage)
        rig.at(start + length, rig.registry.end_outage)
    for start, length, factor in slowdowns:
        rig.at(start, lambda f=factor: rig.registry.slow_down(f))
        rig.at(start + length, lambda f=factor: rig.registry.restore(f))
    for node, start, length in cuts:
        rig.at(start, lambda n=node: rig.registry.partition(n))
        rig.at(start + length, lambda n=node: rig.registry.heal(n))
    rig.env.run()
    assert set(rig.done) == {"node-0", "node-1"}
    assert rig.metrics["bytes_pulled"] == pytest.approx(2 * SIZE)
    assert rig.registry.bytes_served == pytest.approx(2 * SIZE)
    assert rig.net.links["registry"].bytes_carried == pytest.approx(2 * SIZE)
    assert rig.net.links["registry"].bandwidth == pytest.approx(1 * MB)
    assert not rig.registry.down and not rig.registry.partitioned("node-0")


def test_random_outages_each_last_their_duration(tmp_path: Any) -> None:
    # Outages at random (Poisson, 1 per minute on the failures stream), 5 s each: every
    # record is one window of 5 s inside the horizon, and the pod still comes up.
    fault = "  - {kind: registry_outage, rate: 1/1m, duration: 5s}\n"
    result = run(tmp_path, K8S, fault)
    rows = result.tables["faults"]
    assert len(rows) >= 1
    for row in rows:
        assert row["kind"] == "registry_outage"
        assert 0 < row["start_s"] < 300
        if math.isnan(row["end_s"]):  # still open at the horizon
            assert row["start_s"] > 295
        else:
            assert row["end_s"] - row["start_s"] == pytest.approx(5.0)
    assert "readiness" in spans_of(result, "pod-1")
