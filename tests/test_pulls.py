"""Image pulls: the network they share, hand-computed timelines on the real manifests,
the node cache and its GC, the registry's limits and outages, pull policies, and
invariants checked by hypothesis.

Unless a test says otherwise the rig is: no round trip (``rtt: 0``), a registry egress
of 100 MB/s (10^8 B/s), node ingress 10 Gbps (never the bottleneck), decompression
100 MB/s of uncompressed output, compression ratio 2.7 (``u(x) = round(2.7 x)``).
Every expected time is written out from the layer sizes in the manifests.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Generator
from typing import Any

import pytest
import simpy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import simulator
from models.container import ContainerPlatform, Node
from models.images import BUILTIN, ImageSettings, LayerPuller
from simulator.network import Link, Network, max_min_fair

MB = 1e6
B = 100 * MB  # registry egress in the rig, bytes/s
D = 100 * MB  # decompression, uncompressed bytes/s


def u(size: int) -> int:
    """Uncompressed size at the default 2.7× ratio."""
    return round(size * 2.7)


# -- the network: max-min fairness --------------------------------------------------------------


def test_max_min_on_two_links_matches_a_hand_computation() -> None:
    # A = 10 MB/s carries f1 and f2; B = 4 MB/s carries f2 and f3. Water-filling: both
    # links have 2 flows; B saturates first at 4/2 = 2 each (f2, f3 frozen at 2); A has
    # 10 - 2 = 8 left for f1 alone.
    a, b = Link("A", 10 * MB), Link("B", 4 * MB)
    assert max_min_fair([(a,), (a, b), (b,)]) == pytest.approx([8 * MB, 2 * MB, 2 * MB])


def test_transfers_on_two_links_finish_when_computed() -> None:
    # f1 40 MB on A at 8 MB/s → 5 s. f2 20 MB on A+B and f3 40 MB on B at 2 MB/s each;
    # f1 leaving changes nothing for them (B is their bottleneck): f2 done at 10 s, f3 has
    # moved 20 MB by then and finishes the other 20 MB alone at 4 MB/s → 15 s.
    env = simpy.Environment()
    net = Network(env)
    net.add_link("A", 10 * MB)
    net.add_link("B", 4 * MB)
    f1 = net.transfer(40 * MB, ["A"])
    f2 = net.transfer(20 * MB, ["A", "B"])
    f3 = net.transfer(40 * MB, ["B"])
    assert [net.rate_of(f) for f in (f1, f2, f3)] == pytest.approx([8 * MB, 2 * MB, 2 * MB])
    env.run()
    assert (f1.finished, f2.finished, f3.finished) == pytest.approx((5.0, 10.0, 15.0))
    assert net.links["A"].bytes_carried == pytest.approx(60 * MB)
    assert net.links["B"].bytes_carried == pytest.approx(60 * MB)


def test_a_finish_moves_when_another_transfer_starts_midway() -> None:
    # X: 100 MB alone on 10 MB/s would end at 10 s. At 4 s Y (30 MB) starts: X has 60 MB
    # left, both get 5 MB/s; Y ends at 4 + 6 = 10; X has 30 MB left, alone again: 13 s.
    env = simpy.Environment()
    net = Network(env)
    net.add_link("L", 10 * MB)
    x = net.transfer(100 * MB, ["L"])
    got: dict[str, Any] = {}

    def later() -> Generator[simpy.Event, Any, None]:
        yield env.timeout(4)
        got["y"] = net.transfer(30 * MB, ["L"])
        assert net.rate_of(x) == pytest.approx(5 * MB)

    env.process(later())
    env.run()
    assert got["y"].finished == pytest.approx(10.0)
    assert x.finished == pytest.approx(13.0)


def test_cancel_frees_the_share_and_keeps_the_bytes_moved() -> None:
    env = simpy.Environment()
    net = Network(env)
    net.add_link("L", 10 * MB)
    x = net.transfer(100 * MB, ["L"])
    y = net.transfer(100 * MB, ["L"])

    def stop() -> Generator[simpy.Event, Any, None]:
        yield env.timeout(2)
        net.cancel(y)  # y moved 10 MB at 5 MB/s; x has 90 MB left, now at 10 MB/s

    env.process(stop())
    env.run()
    assert y.remaining == pytest.approx(90 * MB)
    assert y.finished is None and not y.done.triggered
    assert x.finished == pytest.approx(2 + 9.0)
    assert net.links["L"].bytes_carried == pytest.approx(110 * MB)


def test_one_thousand_flows_on_one_link_are_fast_and_exact() -> None:
    # Path classes: 1,000 flows with one path are one water-filling class.
    link = Link("r", 1e9)
    t0 = time.perf_counter()
    rates = max_min_fair([(link,)] * 1000)
    assert time.perf_counter() - t0 < 0.1
    assert rates == [1e6] * 1000
    # 1,000 concurrent transfers of k MB (k = 1..1000) on 1 GB/s: the k-th finishes when
    # flows 1..k have moved their size and the other n-k have moved k MB each.
    env = simpy.Environment()
    net = Network(env)
    net.add_link("r", 1e9)
    t0 = time.perf_counter()
    xs = [net.transfer(k * MB, ["r"]) for k in range(1, 1001)]
    env.run()
    assert time.perf_counter() - t0 < 1.0
    for k in (1, 2, 500, 1000):
        expected = (MB * k * (k + 1) / 2 + (1000 - k) * k * MB) / 1e9
        assert xs[k - 1].finished == pytest.approx(expected, rel=1e-9)


def test_one_thousand_flows_through_distinct_node_links_share_the_registry() -> None:
    # Registry 1 GB/s, 1,000 nodes at 10 Gbps each: the registry is the single bottleneck.
    env = simpy.Environment()
    net = Network(env)
    net.add_link("registry", 1e9)
    for i in range(1000):
        net.add_link(f"n{i}", 1.25e9)
    t0 = time.perf_counter()
    xs = [net.transfer(10 * MB, ["registry", f"n{i}"]) for i in range(1000)]
    assert net.rate_of(xs[0]) == pytest.approx(1e6)
    env.run()
    assert time.perf_counter() - t0 < 5.0
    assert all(x.finished == pytest.approx(10.0) for x in xs)


# -- the rig ------------------------------------------------------------------------------------


class Rig:
    """A ``LayerPuller`` on its own network, with its rows, counters and metrics."""

    def __init__(
        self,
        in_use: Callable[[Any], set[str]] | None = None,
        **cfg: Any,
    ) -> None:
        base: dict[str, Any] = {
            "registry": {"bandwidth": "100MB/s", "rtt": "0s"},
            "decompress": "100MB/s",
        }
        for key, value in cfg.items():
            if isinstance(value, dict) and isinstance(base.get(key), dict):
                base[key] = {**base[key], **value}
            else:
                base[key] = value
        self.env = simpy.Environment()
        self.net = Network(self.env)
        self.settings = ImageSettings.model_validate(base)
        self.rows: list[dict[str, Any]] = []
        self.counters: dict[str, int] = {}
        self.metrics: dict[str, float] = {}
        self.puller = LayerPuller(
            self.env,
            self.net,
            self.settings,
            record=lambda table, **row: self.rows.append({"table": table, **row}),
            counters=self.counters,
            metrics=self.metrics,
            in_use=in_use,
        )
        self.nodes: dict[str, Node] = {}
        self.done: list[tuple[str, str, float]] = []  # (node, image, time available)

    def node(self, name: str = "node-0") -> Node:
        if name not in self.nodes:
            self.nodes[name] = Node(name, cpu_m=2000, memory=2**33, max_pods=110)
        return self.nodes[name]

    def ensure(self, image: str, at: float = 0.0, node: str = "node-0") -> None:
        """A pod on ``node`` asks for ``image`` at time ``at``."""
        n = self.node(node)

        def pod() -> Generator[simpy.Event, Any, None]:
            if at > self.env.now:
                yield self.env.timeout(at - self.env.now)
            yield from self.puller.ensure(image, n)
            self.done.append((node, image, self.env.now))

        self.env.process(pod())

    def run(self, until: float | None = None) -> Rig:
        self.env.run(until=until)
        return self

    def pull_rows(self, pull: int) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["pull"] == pull]


# -- hand-computed timelines on the real manifests ----------------------------------------------

# python:3.11.1-slim, compressed layer sizes (models/data/images/python_3.11.1-slim.json)
PA, PB, PC, PD, PE = 31396972, 1076311, 12588558, 234, 3348247
# nginx:1.23.3: its first layer is PA (the debian:bullseye-slim base)
N2, N3, N4, N5, N6 = 25470551, 626, 958, 772, 1404


def test_python_slim_schedule_with_three_downloads_and_in_order_extraction() -> None:
    rig = Rig()
    rig.ensure("python:3.11.1-slim")
    rig.run()
    # Downloads, 3 at a time, sharing 100 MB/s equally (the link is never idle, so a
    # layer ends when the bytes moved so far total what the link carried):
    #   t=0: a, b, c start. b ends at 3b/B.
    #   d starts; d ends 3d/B later. e starts (a, c, e share).
    #   e ends 3e/B later; then a, c share (B/2): c's rest (c-b-d-e) ends 2(c-b-d-e)/B later;
    #   a's rest alone at B: a ends at (a+b+c+d+e)/B.
    tb = 3 * PB / B
    td = tb + 3 * PD / B
    te = td + 3 * PE / B
    tc = te + 2 * (PC - PB - PD - PE) / B
    ta = (PA + PB + PC + PD + PE) / B
    rows = rig.pull_rows(0)
    assert [r["download_start_s"] for r in rows] == pytest.approx([0, 0, 0, tb, td])
    assert [r["download_end_s"] for r in rows] == pytest.approx([ta, tb, tc, td, te], rel=1e-9)
    # Extraction strictly in order, each after its own download and the previous one:
    # every later layer was downloaded before a finished, so they follow back to back.
    x = [ta]
    for size in (PA, PB, PC, PD, PE):
        x.append(x[-1] + u(size) / D)
    assert [r["extract_start_s"] for r in rows] == pytest.approx(x[:-1], rel=1e-9)
    assert [r["extract_end_s"] for r in rows] == pytest.approx(x[1:], rel=1e-9)
    assert rig.done == [("node-0", "python:3.11.1-slim", pytest.approx(x[-1], rel=1e-9))]
    assert [r["bytes"] for r in rows] == [PA, PB, PC, PD, PE]
    assert {r["source"] for r in rows} == {"registry"}
    assert rig.metrics["bytes_pulled"] == PA + PB + PC + PD + PE
    assert rig.metrics["mean_pull_s"] == pytest.approx(x[-1], rel=1e-9)
    assert rig.puller.disk_used(rig.node()) == sum(u(s) for s in (PA, PB, PC, PD, PE))


def test_nginx_after_python_slim_does_not_download_the_shared_base_again() -> None:
    rig = Rig()
    rig.ensure("python:3.11.1-slim")
    rig.ensure("nginx:1.23.3", at=10.0)
    rig.run()
    rows = rig.pull_rows(1)
    assert [r["cache_hit"] for r in rows] == [True, False, False, False, False, False]
    assert [r["bytes"] for r in rows] == [0, N2, N3, N4, N5, N6]
    # From t=10: 2, 3, 4 start. 3 ends at 3·N3/B; 5 starts; 4's rest (N4-N3) ends
    # 3(N4-N3)/B later; 6 starts; 5's rest (N5-(N4-N3)) ends 3·that/B later; then 2 and 6
    # share: 6's rest ends 2·rest/B later; 2 ends when the link has carried all of it.
    t3 = 10 + 3 * N3 / B
    r4 = N4 - N3
    t4 = t3 + 3 * r4 / B
    r5 = N5 - r4
    t5 = t4 + 3 * r5 / B
    t6 = t5 + 2 * (N6 - r5) / B
    t2 = 10 + (N2 + N3 + N4 + N5 + N6) / B
    assert [r["download_end_s"] for r in rows[1:]] == pytest.approx([t2, t3, t4, t5, t6])
    assert math.isnan(rows[0]["download_start_s"]) and math.isnan(rows[0]["extract_start_s"])
    # Layer 1 is on disk already: extraction starts with layer 2 once it is downloaded.
    x = [t2]
    for size in (N2, N3, N4, N5, N6):
        x.append(x[-1] + u(size) / D)
    assert [r["extract_end_s"] for r in rows[1:]] == pytest.approx(x[1:], rel=1e-9)
    assert rig.metrics["bytes_pulled"] == PA + PB + PC + PD + PE + N2 + N3 + N4 + N5 + N6
    assert rig.metrics["layer_cache_hit_ratio"] == pytest.approx(1 / 11)
    # The base is stored once: disk = python-slim + nginx's own layers.
    on_disk = sum(u(s) for s in (PA, PB, PC, PD, PE, N2, N3, N4, N5, N6))
    assert rig.puller.disk_used(rig.node()) == on_disk


def test_round_trips_precede_the_manifest_and_each_blob() -> None:
    # alpine: one layer of 3,370,628 bytes. RTT 50 ms: manifest 0 → 0.05; blob request
    # 0.05 → 0.10, bytes 0.10 → 0.10 + size/B; extraction u(size)/D.
    size = 3370628
    rig = Rig(registry={"rtt": "50ms"})
    rig.ensure("alpine:3.17.1")
    rig.run()
    (row,) = rig.rows
    assert row["download_start_s"] == pytest.approx(0.05)
    assert row["download_end_s"] == pytest.approx(0.10 + size / B)
    assert rig.done[0][2] == pytest.approx(0.10 + size / B + u(size) / D)


def test_kubelet_pulls_one_image_at_a_time_per_node() -> None:
    # Both asked at t=0; nginx waits for the python-slim pull, then finds the base on disk.
    rig = Rig()
    rig.ensure("python:3.11.1-slim")
    rig.ensure("nginx:1.23.3")
    rig.run()
    end_python = rig.done[0][2]
    nginx = rig.pull_rows(1)
    assert min(r["download_start_s"] for r in nginx[1:]) == pytest.approx(end_python)
    assert nginx[0]["cache_hit"]
    nginx_own = N2 + N3 + N4 + N5 + N6
    assert rig.metrics["bytes_pulled"] == BUILTIN["python:3.11.1-slim"].size + nginx_own


def test_parallel_pulls_join_the_download_of_a_shared_layer() -> None:
    # With two pulls at once the nginx pull finds the base layer being downloaded by the
    # python-slim pull: it joins it (no bytes of its own) and extracts it once.
    rig = Rig(max_parallel_image_pulls=2)
    rig.ensure("python:3.11.1-slim")
    rig.ensure("nginx:1.23.3")
    rig.run()
    base_rows = [r for r in rig.rows if r["index"] == 0]
    assert [(r["pull"], r["joined"], r["bytes"]) for r in base_rows] == [
        (0, False, PA),
        (1, True, 0),
    ]
    assert base_rows[0]["download_end_s"] == base_rows[1]["download_end_s"]
    assert base_rows[0]["extract_end_s"] == base_rows[1]["extract_end_s"]
    distinct = {
        x.digest: x.size
        for im in ("python:3.11.1-slim", "nginx:1.23.3")
        for x in BUILTIN[im].layers
    }
    assert rig.metrics["bytes_pulled"] == sum(distinct.values())


def test_python_and_node_at_once_download_each_shared_layer_once() -> None:
    rig = Rig(max_parallel_image_pulls=2)
    rig.ensure("python:3.11.1")
    rig.ensure("node:18.13.0")
    rig.run()
    downloaded = [r["layer"] for r in rig.rows if r["bytes"] > 0]
    assert len(downloaded) == len(set(downloaded))
    distinct = {
        x.digest: x.size for im in ("python:3.11.1", "node:18.13.0") for x in BUILTIN[im].layers
    }
    assert set(downloaded) == set(distinct)
    assert rig.metrics["bytes_pulled"] == sum(distinct.values())
    assert sum(r["joined"] for r in rig.rows) == 5  # the five shared layers, one side each


def test_max_concurrent_downloads_is_a_setting() -> None:
    # One download at a time: python-slim's layers download one after the other.
    rig = Rig(max_concurrent_downloads=1)
    rig.ensure("python:3.11.1-slim")
    rig.run()
    ends, total = [], 0
    for size in (PA, PB, PC, PD, PE):
        total += size
        ends.append(total / B)
    assert [r["download_end_s"] for r in rig.rows] == pytest.approx(ends)
    assert [r["download_start_s"] for r in rig.rows] == pytest.approx([0.0, *ends[:-1]])


# -- pull policies ------------------------------------------------------------------------------


def test_if_not_present_requests_the_manifest_once() -> None:
    rig = Rig()
    for t in (0, 100, 200):
        rig.ensure("alpine:3.17.1", at=t)
    rig.run()
    assert rig.counters["container_manifest_requests"] == 1
    assert rig.counters["container_manifest_gets"] == 1
    assert rig.counters["container_image_pulls"] == 1
    assert [t for _, _, t in rig.done][1:] == [100.0, 200.0]  # present: no wait at all


def test_always_requests_the_manifest_at_every_start_and_downloads_once() -> None:
    rig = Rig(pull_policy="Always", registry={"rtt": "50ms"})
    for t in (0, 100, 200):
        rig.ensure("alpine:3.17.1", at=t)
    rig.run()
    assert rig.counters["container_manifest_requests"] == 3
    # Only the first is a GET; the node then holds the image and resolves with HEAD.
    assert rig.counters["container_manifest_gets"] == 1
    assert rig.metrics["bytes_pulled"] == 3370628
    assert [t for _, _, t in rig.done][1:] == pytest.approx([100.05, 200.05])
    assert [r["cache_hit"] for r in rig.rows] == [False, True, True]


def test_latest_tag_defaults_to_always() -> None:
    rig = Rig(images={"app:latest": {"layers": ["1MB"]}})
    rig.ensure("app:latest")
    rig.ensure("app:latest", at=10)
    rig.run()
    assert rig.counters["container_manifest_requests"] == 2


def test_never_fails_without_the_image_and_never_asks_the_registry() -> None:
    rig = Rig(pull_policy="Never")
    rig.ensure("alpine:3.17.1")
    rig.ensure("alpine:3.17.1", at=5)
    rig.run(until=1000)
    assert rig.done == []
    assert rig.counters["container_err_image_never_pull"] == 2
    assert rig.counters["container_manifest_requests"] == 0


def test_never_uses_an_image_already_on_the_node() -> None:
    rig = Rig(pull_policy="Never")
    rig.node().images.add("alpine:3.17.1")  # e.g. baked into the node image
    rig.ensure("alpine:3.17.1", at=3)
    rig.run()
    assert rig.done == [("node-0", "alpine:3.17.1", 3.0)]
    assert rig.counters["container_err_image_never_pull"] == 0
    assert rig.puller.disk_used(rig.node()) == u(3370628)


def test_never_in_the_platform_leaves_the_pod_waiting() -> None:
    doc = platform_doc({"pull_policy": "Never", "nodes": 1, "initial": 0}, actions=[("10s", 1)])
    res = simulator.run(simulator.load_experiment(doc))
    row = res.summary.iloc[0]
    assert row["container_err_image_never_pull"] == 1
    spans = res.provisioning
    pulls = spans[spans["stage"] == "image_pull"]
    assert list(pulls["start_s"]) == [10.0] and math.isnan(pulls["end_s"].iloc[0])
    assert math.isnan(row["time_to_first_ready_s"])


# -- the registry: rate limits, outages, retries ------------------------------------------------


def test_rate_limit_refuses_pulls_and_the_pod_backs_off_up_to_300s() -> None:
    # 2 pulls per hour for the cluster: node-0 and node-1 pull at t=0; node-2 is refused
    # (toomanyrequests) and retries after 10, 20, 40, 80, 160, then 300 s each time:
    # at 10, 30, 70, 150, 310, 610, 910, ..., 3310 — all refused while both pulls of t=0
    # are in the 1 h window — and succeeds at 3610.
    size = 3370628
    rig = Rig(registry={"rate_limit": {"pulls": 2, "window": "1h"}})
    for n in ("node-0", "node-1", "node-2"):
        rig.ensure("alpine:3.17.1", node=n)
    rig.run()
    refused_at = [0, 10, 30, 70, 150, 310, *range(610, 3311, 300)]
    assert rig.counters["container_toomanyrequests"] == len(refused_at) == 16
    assert rig.counters["container_image_pull_failures"] == 16
    assert rig.counters["container_manifest_gets"] == 3
    late = [t for n, _, t in rig.done if n == "node-2"]
    assert late == [pytest.approx(3610 + size / B + u(size) / D)]
    # A refused manifest moves no layer: no rows for those pulls.
    assert sorted({r["node"] for r in rig.rows}) == ["node-0", "node-1", "node-2"]
    assert len(rig.rows) == 3


def test_rate_limit_per_node_and_head_requests() -> None:
    # One pull per node per 6 h: two nodes both get one; Always starts on a node that
    # holds the image resolve with HEAD, which does not count against the limit.
    rig = Rig(registry={"rate_limit": {"pulls": 1, "per": "node"}}, pull_policy="Always")
    rig.ensure("alpine:3.17.1", node="node-0")
    rig.ensure("alpine:3.17.1", node="node-1")
    for t in (100, 200, 300):
        rig.ensure("alpine:3.17.1", at=t, node="node-0")
    rig.run()
    assert rig.counters["container_toomanyrequests"] == 0
    assert rig.counters["container_manifest_gets"] == 2
    assert rig.counters["container_manifest_requests"] == 5
    assert len(rig.done) == 5


def test_no_rate_limit() -> None:
    rig = Rig(registry={"rate_limit": None})
    assert not rig.settings.registry.rate_limit.enabled
    for i in range(150):
        rig.ensure("alpine:3.17.1", node=f"n{i}")
    rig.run()
    assert rig.counters["container_toomanyrequests"] == 0
    assert len(rig.done) == 150


def test_outage_breaks_a_download_which_resumes_after_retries() -> None:
    # Registry at 1 MB/s, down from 1 s to 30 s. alpine (3,370,628 B) starts at 0: broken at
    # 1 s with 1 MB received; retries after 5 s (t=6, down), 10 s (t=16, down), 15 s (t=31,
    # up): the other 2,370,628 B arrive at 33.370628.
    rig = Rig(registry={"bandwidth": "1MB/s", "outages": [{"start": "1s", "end": "30s"}]})
    rig.ensure("alpine:3.17.1")
    rig.run()
    (row,) = rig.rows
    assert row["download_start_s"] == 0.0
    assert row["download_end_s"] == pytest.approx(33.370628)
    assert row["bytes"] == 3370628
    assert rig.counters["container_layer_download_retries"] == 3
    assert rig.metrics["bytes_pulled"] == 3370628
    assert rig.done[0][2] == pytest.approx(33.370628 + u(3370628) / D)


def test_download_out_of_attempts_fails_the_pull_and_the_kubelet_backs_off() -> None:
    # Down from 1 s to 100 s: attempts at 0 (broken at 1), 6, 16, 31, 51 → the 5th fails at
    # 51: the pull fails. Kubelet back-off: 10 s → pull at 61 (manifest: registry down),
    # 20 s → 81 (down), 40 s → 121: up; the blob resumes from the 1 MB kept → 123.370628.
    rig = Rig(registry={"bandwidth": "1MB/s", "outages": [{"start": "1s", "end": "100s"}]})
    rig.ensure("alpine:3.17.1")
    rig.run()
    assert rig.counters["container_layer_download_retries"] == 4
    assert rig.counters["container_image_pull_failures"] == 3
    assert rig.counters["container_image_pulls"] == 4
    first, last = rig.pull_rows(0), rig.pull_rows(3)
    assert first[0]["error"] == "registry unavailable"
    assert first[0]["download_end_s"] == pytest.approx(51.0)
    assert first[0]["bytes"] == pytest.approx(1e6)
    assert last[0]["bytes"] == pytest.approx(2370628)
    assert last[0]["download_start_s"] == pytest.approx(121.0)
    assert rig.metrics["bytes_pulled"] == pytest.approx(3370628)
    assert rig.done[0][2] == pytest.approx(123.370628 + u(3370628) / D)


def test_kubelet_pull_qps_refuses_a_burst() -> None:
    # registryPullQPS 1, burst 1; three Always starts at t=0 on a node holding the image:
    # the first pull takes the token, the next two fail ("pull QPS exceeded") and back off
    # 10 s; at 10 one token has come back: the first of them pulls, the other backs off 20 s.
    rig = Rig(pull_policy="Always", registry_pull_qps=1, registry_burst=1)
    rig.node().images.add("alpine:3.17.1")
    for _ in range(3):
        rig.ensure("alpine:3.17.1")
    rig.run()
    assert [t for _, _, t in rig.done] == [0.0, 10.0, 30.0]
    assert rig.counters["container_image_pull_failures"] == 3


# -- node cache and image GC --------------------------------------------------------------------

GC_IMAGES = {
    "a:1": {"layers": [{"size": "50MB", "id": "a"}]},
    "b:1": {"layers": [{"size": "40MB", "id": "b"}]},
    "c:1": {"layers": [{"size": "30MB", "id": "c"}]},
    "base-x:1": {"layers": [{"size": "30MB", "id": "base"}, {"size": "20MB", "id": "x"}]},
    "base-y:1": {"layers": [{"size": "30MB", "id": "base"}, {"size": "20MB", "id": "y"}]},
}


def gc_rig(**cfg: Any) -> Rig:
    """Disk 100 MB, ratio 1 (sizes on disk = sizes on the wire); a 50 MB image takes 1 s."""
    args: dict[str, Any] = {
        "images": GC_IMAGES,
        "compression_ratio": 1.0,
        "node_disk": "100MB",
        "image_gc": {"period": "0s"},
    }
    args.update(cfg)
    return Rig(**args)


def test_gc_above_high_threshold_frees_lru_images_to_the_low_threshold() -> None:
    # a at 0 (done at 1: 0.5 s download + 0.5 s extract), b at 200 (done 200.8): 90 MB on
    # 100 MB ≥ 85 % → free 90 - 80 = 10 MB: a (least recently used, 200 s old) goes.
    rig = gc_rig()
    rig.ensure("a:1")
    rig.ensure("b:1", at=200)
    rig.run()
    node = rig.node()
    assert rig.puller.disk_used(node) == 40 * MB
    assert node.images == {"b:1"}
    assert rig.counters["container_images_gc_deleted"] == 1


def test_gc_below_high_threshold_deletes_nothing() -> None:
    rig = gc_rig(image_gc={"period": "0s", "high": "95%", "low": "90%"})
    rig.ensure("a:1")
    rig.ensure("b:1", at=200)
    rig.run()
    assert rig.puller.disk_used(rig.node()) == 90 * MB
    assert rig.counters["container_images_gc_deleted"] == 0


def test_gc_never_deletes_images_in_use() -> None:
    rig = gc_rig(in_use=lambda node: {"a:1"})
    rig.ensure("a:1")
    rig.ensure("b:1", at=200)
    rig.run()
    assert rig.puller.disk_used(rig.node()) == 90 * MB
    assert rig.node().images == {"a:1", "b:1"}


def test_gc_never_deletes_images_younger_than_the_minimum_age() -> None:
    # b at 60: a was first seen at 1, only 59.8 s before: too young (2 min).
    rig = gc_rig()
    rig.ensure("a:1")
    rig.ensure("b:1", at=60)
    rig.run()
    assert rig.puller.disk_used(rig.node()) == 90 * MB
    assert rig.counters["container_images_gc_deleted"] == 0


def test_gc_runs_on_the_kubelet_period() -> None:
    # Default period 5 min from the node's launch (t=0): 90 MB from 200.8 until the GC at 300.
    rig = gc_rig(image_gc={"period": "5m"})
    rig.ensure("a:1")
    rig.ensure("b:1", at=200)
    node = rig.node()
    rig.run(until=299)
    assert rig.puller.disk_used(node) == 90 * MB
    rig.run(until=301)
    assert rig.puller.disk_used(node) == 40 * MB


def test_a_layer_is_freed_only_when_no_image_uses_it() -> None:
    # base-x (base + x) at 0, base-y at 200 downloads only y: 70 MB of 70 MB disk ≥ 85 %:
    # deleting base-x frees x (20 MB) but not the base, which base-y still uses.
    rig = gc_rig(node_disk="70MB")
    rig.ensure("base-x:1")
    rig.ensure("base-y:1", at=200)
    rig.run()
    node = rig.node()
    assert node.images == {"base-y:1"}
    assert rig.puller.disk_used(node) == 50 * MB
    assert rig.metrics["bytes_pulled"] == 70 * MB


def test_an_evicted_image_is_pulled_again() -> None:
    rig = gc_rig()
    rig.ensure("a:1")
    rig.ensure("b:1", at=200)
    rig.ensure("a:1", at=400)
    rig.run()
    assert rig.counters["container_image_pulls"] == 3
    assert rig.metrics["bytes_pulled"] == (50 + 40 + 50) * MB
    # a back at 400.9: 90 MB again ≥ 85 %, and now b is the least recently used.
    assert rig.node().images == {"a:1"}
    assert rig.counters["container_images_gc_deleted"] == 2


def test_a_layer_that_would_overflow_the_disk_triggers_gc_first() -> None:
    # High threshold out of reach (100 %): a (50) + b (40) = 90 MB stay; c (30 MB) cannot
    # fit: the eviction manager's GC frees a (LRU, old enough) before c extracts.
    rig = gc_rig(image_gc={"period": "0s", "high": "100%", "low": "80%"})
    rig.ensure("a:1")
    rig.ensure("b:1", at=200)
    rig.ensure("c:1", at=400)
    rig.run()
    node = rig.node()
    assert node.images == {"b:1", "c:1"}
    assert rig.puller.disk_used(node) == 70 * MB


def test_no_room_at_all_fails_the_pull_with_no_space_left() -> None:
    rig = gc_rig(in_use=lambda node: {"a:1", "b:1"})
    rig.ensure("a:1")
    rig.ensure("b:1", at=200)
    rig.ensure("c:1", at=400)
    rig.run(until=1000)
    assert rig.counters["container_image_pull_failures"] >= 1
    assert {r["error"] for r in rig.rows if r["image"] == "c:1"} == {"no space left on device"}
    assert rig.puller.disk_used(rig.node()) <= 100 * MB


# -- the container platform with the layer model ------------------------------------------------

POD_STAGES = {
    "create": {"duration": {"kind": "fixed", "value": "1s"}},
    "start": {"duration": {"kind": "fixed", "value": "2s"}},
    "app_start": {"duration": {"kind": "fixed", "value": "4s"}},
}


def platform_doc(
    platform: dict[str, Any], actions: list[tuple[str, int]] | None = None
) -> dict[str, Any]:
    plat = {
        "kind": "container",
        "image": "nginx:1.23.3",
        "registry": {"bandwidth": "100MB/s", "rtt": "0s"},
        "decompress": "100MB/s",
        "stages": copy.deepcopy(POD_STAGES),
        "readiness": {"initial_delay": "0s", "period": "10s"},
    }
    plat.update(platform)
    scenario: dict[str, Any] = {"name": "k8s", "platform": plat, "serving": {"workers": 4}}
    if actions:
        scenario["autoscaler"] = {
            "kind": "schedule",
            "actions": [{"at": at, "instances": n} for at, n in actions],
        }
    return {
        "name": "pulls",
        "seed": 3,
        "horizon": "300s",
        "workload": {
            "arrivals": {"kind": "constant", "rate": "0.5/s"},
            "service_time": {"kind": "fixed", "value": "100ms"},
        },
        "scenarios": [scenario],
    }


def test_the_platform_uses_the_layer_model_by_default() -> None:
    doc = platform_doc({"nodes": 1, "initial": 0}, actions=[("100s", 1)])
    exp = simulator.load_experiment(doc)
    # nginx on a cold node at 100: the base (largest) ends downloading when the link has
    # carried all 56,871,283 B; then six extractions back to back.
    t = 100 + BUILTIN["nginx:1.23.3"].size / B
    for size in (PA, N2, N3, N4, N5, N6):
        t += u(size) / D
    res = simulator.run(exp)
    spans = res.provisioning
    pull = spans[(spans["instance"] == "pod-0") & (spans["stage"] == "image_pull")]
    assert pull["start_s"].iloc[0] == 100.0
    assert pull["end_s"].iloc[0] == pytest.approx(t, rel=1e-12)
    row = res.summary.iloc[0]
    assert row["bytes_pulled"] == BUILTIN["nginx:1.23.3"].size
    assert row["layer_cache_hit_ratio"] == 0.0
    assert row["mean_pull_s"] == pytest.approx(t - 100, rel=1e-9)
    assert row["p95_pull_s"] == pytest.approx(t - 100, rel=1e-9)
    pulls = res.tables["pulls"]
    assert list(pulls.columns[:2]) == ["scenario", "replication"]
    for col in (
        "node",
        "image",
        "layer",
        "bytes",
        "cache_hit",
        "download_start_s",
        "download_end_s",
        "extract_start_s",
        "extract_end_s",
        "source",
    ):
        assert col in pulls.columns
    assert len(pulls) == 6 and set(pulls["source"]) == {"registry"}
    # Built the way the engine builds it: the provider is the layer model.
    env = simpy.Environment()
    ctx = _ctx(exp, env)
    platform = ContainerPlatform(exp.scenarios[0].platform, ctx)  # type: ignore[arg-type]
    assert isinstance(platform.images, LayerPuller)


def _ctx(exp: Any, env: simpy.Environment) -> Any:
    from simulator.balancer import make_balancer
    from simulator.engine import streams_for
    from simulator.platform import Cluster, RunContext
    from simulator.recorder import Recorder

    scenario = exp.scenarios[0]
    streams = streams_for(exp.seed, 0)
    cluster = Cluster(
        env, Recorder(0, None), make_balancer(scenario.balancer, streams["routing"]), scenario
    )
    return RunContext(env, exp, scenario, 0, cluster, Recorder(0, None), streams)


def test_pods_on_a_warm_node_skip_the_pull() -> None:
    # Initial pods hold the image on their node: a second pod there needs no pull.
    doc = platform_doc({"nodes": 1, "initial": 1}, actions=[("50s", 2)])
    res = simulator.run(simulator.load_experiment(doc))
    stages = list(res.provisioning["stage"])
    assert "image_pull" not in stages
    assert res.summary.iloc[0]["bytes_pulled"] == 0


# -- invariants (hypothesis) --------------------------------------------------------------------

IMAGES = sorted(BUILTIN)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    asks=st.lists(
        st.tuples(st.sampled_from(IMAGES), st.floats(0, 30), st.sampled_from(["n0", "n1"])),
        min_size=1,
        max_size=8,
    ),
    parallel=st.integers(1, 3),
    downloads=st.integers(1, 4),
)
def test_bytes_to_a_node_never_exceed_its_distinct_missing_layers(
    asks: list[tuple[str, float, str]], parallel: int, downloads: int
) -> None:
    rig = Rig(
        registry={"bandwidth": "1GB/s"},
        decompress="1GB/s",
        max_parallel_image_pulls=parallel,
        max_concurrent_downloads=downloads,
    )
    for image, at, node in asks:
        rig.ensure(image, at=at, node=node)
    rig.run()
    assert len(rig.done) == len(asks)
    for node in {n for _, _, n in asks}:
        wanted = {x.digest: x.size for im, _, n in asks if n == node for x in BUILTIN[im].layers}
        got = sum(r["bytes"] for r in rig.rows if r["node"] == node)
        # Ample disk: every distinct layer crosses the network once, no more, no less.
        assert got == sum(wanted.values())
        assert rig.puller.layers_on(rig.node(node)) == set(wanted)
    for pull in {r["pull"] for r in rig.rows}:
        rows = rig.pull_rows(pull)
        missing = sum(
            BUILTIN[r["image"]].layers[r["index"]].size for r in rows if not r["cache_hit"]
        )
        assert sum(r["bytes"] for r in rows) <= missing


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    asks=st.lists(
        st.tuples(st.sampled_from(IMAGES), st.floats(0, 600)),
        min_size=1,
        max_size=10,
    ),
    disk_mb=st.integers(150, 1500),
    min_age=st.sampled_from(["0s", "2m"]),
    period=st.sampled_from(["0s", "5m"]),
)
def test_the_cache_never_exceeds_the_disk_after_gc(
    asks: list[tuple[str, float]], disk_mb: int, min_age: str, period: str
) -> None:
    rig = Rig(
        registry={"bandwidth": "1GB/s"},
        decompress="1GB/s",
        node_disk=f"{disk_mb}MB",
        image_gc={"min_age": min_age, "period": period},
    )
    cap = disk_mb * MB
    node = rig.node()
    samples: list[float] = []

    def probe() -> Generator[simpy.Event, Any, None]:
        while True:
            samples.append(rig.puller.disk_used(node))
            yield rig.env.timeout(0.25)

    rig.env.process(probe())
    for image, at in asks:
        rig.ensure(image, at=at)
    rig.run(until=3600)
    assert max(samples) <= cap
    assert rig.puller.disk_used(node) <= cap
    # What is on disk is exactly the layers the cache lists, each counted once.
    sizes = {x.digest: x.uncompressed for im in IMAGES for x in BUILTIN[im].layers}
    assert rig.puller.disk_used(node) == sum(sizes[d] for d in rig.puller.layers_on(node))
    for row in rig.rows:
        if row["bytes"]:
            assert row["bytes"] == BUILTIN[row["image"]].layers[row["index"]].size
