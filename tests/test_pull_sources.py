"""Where layers come from: a pull-through mirror, peer-to-peer distribution, lazy pulling.

The rig is built like the one of ``tests/test_pulls.py``: no round trip unless a test says so, a
registry egress of 100 MB/s (B), node ingress 10 Gbps (never the bottleneck here),
decompression 100 MB/s of uncompressed output (D), compression ratio 2.7. Every expected
time is written out from the layer sizes in the manifests; ``S`` is the one layer of
``alpine:3.17.1`` (3,370,628 bytes).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Generator
from typing import Any

import pytest
import simpy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_pulls import Rig as PullRig

import simulator
from models.images import (
    BUILTIN,
    LAZY_FRACTION,
    P2P_CONNECTIONS,
    P2P_UPLOAD,
    ImageSettings,
)
from simulator.loading import InputError

MB = 1e6
B = 100 * MB  # registry egress, bytes/s
D = 100 * MB  # decompression, uncompressed bytes/s
M = 1000 * MB  # the mirror's link in these tests
U = 300 * MB  # peer upload cap (the default)
S = 3370628  # alpine:3.17.1, its single layer
ALPINE = "alpine:3.17.1"
SLIM = "python:3.11.1-slim"


def u(size: int) -> int:
    """Uncompressed size at the default 2.7× ratio."""
    return round(size * 2.7)


class Rig(PullRig):
    """The pulls tests' rig, tracking per node when its pod could start."""

    def __init__(self, **cfg: Any) -> None:
        super().__init__(**cfg)
        self.started: dict[str, float] = {}  # node → when its pod could start

    def ensure(self, image: str, node: str = "node-0", at: float = 0.0) -> None:
        n = self.node(node)

        def pod() -> Generator[simpy.Event, Any, None]:
            if at > self.env.now:
                yield self.env.timeout(at - self.env.now)
            yield from self.puller.ensure(image, n)
            self.started[node] = self.env.now

        self.env.process(pod())

    def row(self, node: str, part: str | None = None, index: int = 0) -> dict[str, Any]:
        (found,) = [
            r
            for r in self.rows
            if r["node"] == node and r["index"] == index and (part is None or r["part"] == part)
        ]
        return found

    def at(self, t: float, check: Callable[[], None]) -> None:
        """Run ``check`` at simulated time ``t``."""

        def probe() -> Generator[simpy.Event, Any, None]:
            yield self.env.timeout(t)
            check()

        self.env.process(probe())


MIRROR = {"mirror": {"bandwidth": "1000MB/s", "rtt": "0s"}}

# -- the pull-through mirror --------------------------------------------------------------------


def test_mirror_serves_the_second_node_from_its_cache() -> None:
    rig = Rig(registry=MIRROR)
    rig.ensure(ALPINE, "n0")
    rig.ensure(ALPINE, "n1", at=5.0)
    rig.run()
    # n0: the mirror fetches the layer upstream (S/B), then serves it (S/M); extraction.
    t0 = S / B + S / M
    assert rig.row("n0")["download_end_s"] == pytest.approx(t0)
    assert rig.started["n0"] == pytest.approx(t0 + u(S) / D)
    # n1 at 5 s: straight from the mirror's store.
    assert rig.row("n1")["download_end_s"] == pytest.approx(5 + S / M)
    assert rig.started["n1"] == pytest.approx(5 + S / M + u(S) / D)
    assert {r["source"] for r in rig.rows} == {"mirror"}
    # Upstream egress: one copy. Bytes landed on nodes: two.
    assert rig.puller.registry.bytes_served == S
    assert rig.net.links["registry"].bytes_carried == pytest.approx(S)
    assert rig.net.links["mirror"].bytes_carried == pytest.approx(2 * S)
    assert rig.metrics["registry_egress_bytes"] == S
    assert rig.metrics["bytes_from_mirror"] == rig.metrics["bytes_pulled"] == 2 * S
    assert rig.metrics["bytes_from_registry"] == 0
    assert rig.counters["container_mirror_blob_fetches"] == 1
    # The manifest: one GET upstream, then the tag re-checked with a HEAD.
    assert rig.counters["container_mirror_manifest_fetches"] == 1
    assert rig.counters["container_manifest_gets"] == 1
    assert rig.counters["container_manifest_requests"] == 2


def test_concurrent_first_requests_share_one_upstream_fetch() -> None:
    rig = Rig(registry=MIRROR)
    for n in ("n0", "n1", "n2"):
        rig.ensure(ALPINE, n)
    rig.run()
    # One upstream fetch (S/B) that all three wait for, then three serves sharing the
    # mirror's link (3S/M).
    t = S / B + 3 * S / M
    for n in ("n0", "n1", "n2"):
        assert rig.row(n)["download_end_s"] == pytest.approx(t)
        assert rig.started[n] == pytest.approx(t + u(S) / D)
    assert rig.counters["container_mirror_blob_fetches"] == 1
    assert rig.puller.registry.bytes_served == S
    assert rig.metrics["bytes_pulled"] == 3 * S


def test_concurrent_pulls_of_a_multi_layer_image_fetch_each_layer_upstream_once() -> None:
    rig = Rig(registry=MIRROR)
    for n in ("n0", "n1", "n2"):
        rig.ensure(SLIM, n)
    rig.run()
    image = BUILTIN[SLIM]
    assert rig.counters["container_mirror_blob_fetches"] == len(image.layers)
    assert rig.puller.registry.bytes_served == image.size
    assert rig.metrics["bytes_pulled"] == 3 * image.size
    assert len(rig.started) == 3


def test_mirror_serves_cached_layers_while_the_registry_is_down() -> None:
    # The registry is down from 1 s to 100 s. n0 pulled before; n1 pulls at 10 s: the tag
    # re-check fails, the cached manifest and blob serve.
    rig = Rig(registry={**MIRROR, "outages": [{"start": "1s", "end": "100s"}]})
    rig.ensure(ALPINE, "n0")
    rig.ensure(ALPINE, "n1", at=10.0)
    rig.run()
    assert rig.started["n1"] == pytest.approx(10 + S / M + u(S) / D)
    assert rig.counters["container_image_pull_failures"] == 0
    # Without the mirror the same pull waits for the registry to come back.
    bare = Rig(registry={"outages": [{"start": "1s", "end": "100s"}]})
    bare.ensure(ALPINE, "n0")
    bare.ensure(ALPINE, "n1", at=10.0)
    bare.run()
    assert bare.started["n1"] > 100
    assert bare.counters["container_image_pull_failures"] >= 1


def test_mirror_spends_one_counted_pull_for_many_nodes() -> None:
    # Docker Hub's limit set to 1 pull per window: through the mirror, three nodes pull
    # with one GET; without it the second node is refused (toomanyrequests).
    limit = {"rate_limit": {"pulls": 1}}
    rig = Rig(registry={**MIRROR, **limit})
    for i, n in enumerate(("n0", "n1", "n2")):
        rig.ensure(ALPINE, n, at=10.0 * i)
    rig.run()
    assert len(rig.started) == 3
    assert rig.counters["container_manifest_gets"] == 1
    assert rig.counters["container_toomanyrequests"] == 0
    bare = Rig(registry=limit)
    bare.ensure(ALPINE, "n0")
    bare.ensure(ALPINE, "n1", at=10.0)
    bare.run(until=60)
    assert "n1" not in bare.started
    assert bare.counters["container_toomanyrequests"] >= 1


# -- peer-to-peer -------------------------------------------------------------------------------

P2P = {"rtt": "0s"}


def test_peer_to_peer_reduces_registry_egress_to_the_seed_copy() -> None:
    # One seed node pulls from the registry at t=0; at t=10 three nodes pull the same image:
    # each takes it from the seed, whose 300 MB/s upload the three share (100 MB/s each).
    rig = Rig(p2p=P2P)
    rig.ensure(ALPINE, "seed")
    for n in ("a", "b", "c"):
        rig.ensure(ALPINE, n, at=10.0)
    rig.run()
    assert rig.row("seed")["source"] == "registry"
    assert rig.started["seed"] == pytest.approx(S / B + u(S) / D)
    for n in ("a", "b", "c"):
        row = rig.row(n)
        assert row["source"] == "peer"
        assert row["download_end_s"] == pytest.approx(10 + S / (U / 3))
        assert rig.started[n] == pytest.approx(10 + S / (U / 3) + u(S) / D)
    # Registry egress: 1 copy instead of 4.
    assert rig.metrics["registry_egress_bytes"] == S
    assert rig.net.links["registry"].bytes_carried == pytest.approx(S)
    assert rig.net.links["seed:upload"].bytes_carried == pytest.approx(3 * S)
    assert rig.metrics["bytes_from_peers"] == 3 * S
    assert rig.metrics["bytes_from_registry"] == S
    bare = Rig()
    bare.ensure(ALPINE, "seed")
    for n in ("a", "b", "c"):
        bare.ensure(ALPINE, n, at=10.0)
    bare.run()
    assert bare.metrics["registry_egress_bytes"] == 4 * S


def test_peer_to_peer_for_a_multi_layer_image_moves_each_layer_out_of_the_registry_once() -> None:
    rig = Rig(p2p=P2P)
    rig.ensure(SLIM, "seed")
    for n in ("a", "b", "c"):
        rig.ensure(SLIM, n, at=10.0)
    rig.run()
    size = BUILTIN[SLIM].size
    assert rig.metrics["registry_egress_bytes"] == size
    assert rig.metrics["bytes_from_peers"] == 3 * size
    assert {r["source"] for r in rig.rows if r["node"] != "seed"} == {"peer"}


def test_a_node_relays_from_a_peer_still_downloading_when_holders_are_busy() -> None:
    # connections 2: a and b fill the seed's two upload slots (150 MB/s each); c relays
    # from a, the first in-flight download: its own transfer runs at 300 MB/s but it cannot
    # end before a's does.
    rig = Rig(p2p={**P2P, "connections": 2})
    rig.ensure(ALPINE, "seed")
    for n in ("a", "b", "c"):
        rig.ensure(ALPINE, n, at=10.0)
    rig.run()
    t_ab = 10 + S / (U / 2)
    assert rig.row("a")["download_end_s"] == pytest.approx(t_ab)
    assert rig.row("b")["download_end_s"] == pytest.approx(t_ab)
    assert rig.row("c")["download_end_s"] == pytest.approx(t_ab)
    assert rig.net.links["seed:upload"].bytes_carried == pytest.approx(2 * S)
    assert rig.net.links["a:upload"].bytes_carried == pytest.approx(S)
    assert rig.metrics["registry_egress_bytes"] == S


def test_a_swarm_without_a_seed_takes_one_copy_from_the_registry() -> None:
    # Five cold nodes at once: n0 downloads from the registry (S/B); the others relay from
    # n0 while it downloads, sharing its upload (75 MB/s each, slower than the registry's
    # 100 MB/s, so they end at S/(U/4)).
    rig = Rig(p2p=P2P)
    nodes = [f"n{i}" for i in range(5)]
    for n in nodes:
        rig.ensure(ALPINE, n)
    rig.run()
    assert rig.row("n0")["source"] == "registry"
    assert rig.row("n0")["download_end_s"] == pytest.approx(S / B)
    for n in nodes[1:]:
        assert rig.row(n)["source"] == "peer"
        assert rig.row(n)["download_end_s"] == pytest.approx(S / (U / 4))
    assert rig.metrics["registry_egress_bytes"] == S


def test_a_relay_waits_for_its_parent_through_the_parents_retry() -> None:
    # The registry breaks n0's download at 0.01 s (1 MB in; outage to 3 s); n0 retries 5 s
    # later and fetches the rest. n1, relaying from n0, has had its bytes by then but cannot
    # have more than n0: it ends when n0 does, without a retry of its own.
    rig = Rig(p2p=P2P, registry={"outages": [{"start": "0.01s", "end": "3s"}]})
    rig.ensure(ALPINE, "n0")
    rig.ensure(ALPINE, "n1")
    rig.run()
    end = 0.01 + 5 + (S - 0.01 * B) / B
    assert rig.row("n0")["download_end_s"] == pytest.approx(end)
    assert rig.row("n1")["download_end_s"] == pytest.approx(end)
    assert rig.row("n1")["source"] == "peer"
    assert rig.counters["container_layer_download_retries"] == 1
    assert rig.metrics["registry_egress_bytes"] == pytest.approx(S)


# -- lazy pulling -------------------------------------------------------------------------------


def test_lazy_pull_starts_the_container_after_the_fraction() -> None:
    # alpine, 10 %, RTT 50 ms: manifest 0 → 0.05; blob request → 0.10; the startup share
    # ceil(0.1 S) = 337,063 B lands at 0.10 + 337063/B: the pod may start then (no
    # extraction). The rest (S - 337,063 B) follows: another request, then the bytes.
    rig = Rig(registry={"rtt": "50ms"}, lazy_pull={"fraction": "10%"})
    seen: dict[str, float] = {}
    rig.ensure(ALPINE, "n0")
    startup = math.ceil(0.1 * S)
    t1 = 0.10 + startup / B
    rig.at(t1 + 1e-9, lambda: seen.update(bytes=rig.metrics["bytes_pulled"]))
    rig.run()
    assert startup == 337063
    assert rig.started["n0"] == pytest.approx(t1, rel=1e-12)
    first = rig.row("n0", "startup")
    assert first["bytes"] == startup
    assert first["download_start_s"] == pytest.approx(0.05)
    assert first["download_end_s"] == pytest.approx(t1)
    assert math.isnan(first["extract_start_s"]) and math.isnan(first["extract_end_s"])
    rest = rig.row("n0", "background")
    assert rest["bytes"] == S - startup
    assert rest["download_start_s"] == pytest.approx(t1)
    assert rest["download_end_s"] == pytest.approx(t1 + 0.05 + (S - startup) / B)
    # When the pod could start, only the startup share had been pulled; at the end, all.
    assert seen["bytes"] == startup
    assert rig.metrics["bytes_pulled"] == S
    assert rig.metrics["mean_pull_s"] == pytest.approx(t1, rel=1e-12)
    # The layer's disk space is reserved when it is mounted.
    assert rig.puller.disk_used(rig.node("n0")) == u(S)


def test_lazy_pull_of_a_multi_layer_image_with_the_default_fraction() -> None:
    # python-slim, 6.4 % of each layer, 3 at a time: the registry link is never idle, so
    # the last startup share lands when all of them have crossed it, and the last of the
    # background rests when the whole image has.
    rig = Rig(lazy_pull=True)
    rig.ensure(SLIM, "n0")
    rig.run()
    layers = BUILTIN[SLIM].layers
    shares = [math.ceil(x.size * LAZY_FRACTION) for x in layers]
    t1 = sum(shares) / B
    assert rig.started["n0"] == pytest.approx(t1, rel=1e-9)
    startup = [r for r in rig.rows if r["part"] == "startup"]
    background = [r for r in rig.rows if r["part"] == "background"]
    assert [r["bytes"] for r in startup] == shares
    assert sorted(r["bytes"] for r in background) == sorted(
        x.size - s for x, s in zip(layers, shares, strict=True)
    )
    assert all(r["download_start_s"] == pytest.approx(t1) for r in background)
    assert max(r["download_end_s"] for r in background) == pytest.approx(
        BUILTIN[SLIM].size / B, rel=1e-9
    )
    assert rig.metrics["bytes_pulled"] == BUILTIN[SLIM].size


def test_lazily_mounted_layers_serve_peers_only_once_complete() -> None:
    rig = Rig(lazy_pull={"fraction": "10%"}, p2p=P2P)
    digest = BUILTIN[ALPINE].layers[0].digest
    startup = math.ceil(0.1 * S)
    holders: dict[str, list[str]] = {}
    rig.ensure(ALPINE, "n0")

    def look(when: str) -> Callable[[], None]:
        return lambda: holders.update({when: [n.name for n in rig.puller.holders(digest)]})

    rig.at(startup / B + 1e-6, look("mid"))  # mounted, the rest still coming
    rig.at(1.0, look("end"))
    rig.ensure(ALPINE, "n1", at=2.0)
    rig.run()
    assert holders == {"mid": [], "end": ["n0"]}
    assert rig.row("n1", "startup")["source"] == "peer"
    assert rig.row("n1", "background")["source"] == "peer"
    assert rig.metrics["registry_egress_bytes"] == S


# -- configuration ------------------------------------------------------------------------------


def test_true_turns_a_block_on_with_the_cited_defaults() -> None:
    settings = ImageSettings.model_validate(
        {"registry": {"mirror": True}, "p2p": True, "lazy_pull": True}
    )
    assert settings.registry.mirror is not None
    assert settings.registry.mirror.bandwidth == 10e9 / 8
    assert settings.registry.mirror.rtt == 0.001
    assert settings.p2p is not None
    assert (settings.p2p.upload, settings.p2p.connections) == (P2P_UPLOAD, P2P_CONNECTIONS)
    assert (P2P_UPLOAD, P2P_CONNECTIONS) == (300e6, 10)
    assert settings.lazy_pull is not None and settings.lazy_pull.fraction == 0.064
    off = ImageSettings.model_validate({"registry": {"mirror": False}, "p2p": None})
    assert off.registry.mirror is None and off.p2p is None and off.lazy_pull is None


def test_defaults_are_in_the_catalog_with_their_sources() -> None:
    from simulator.registry import CATALOG

    facts = {f.name: f for f in CATALOG if f.family == "container"}
    assert "kraken README" in facts["peer-to-peer upload cap per node"].source
    assert "max_open_conn" in facts["peer-to-peer uploads of one layer at once per node"].source
    lazy = "lazy pulling: share of an image's bytes needed before the container starts"
    assert "Slacker" in facts[lazy].source
    assert facts["pull-through mirror bandwidth (each direction)"].status == "U"


@pytest.mark.parametrize(
    ("platform", "where"),
    [
        ({"lazy_pull": {"fraction": "150%"}}, "lazy_pull.fraction"),
        ({"p2p": {"connections": 0}}, "p2p.connections"),
        ({"p2p": {"upload": "0MB/s"}}, "p2p.upload"),
        ({"registry": {"mirror": {"bandwidth": "fast"}}}, "registry.mirror.bandwidth"),
        ({"extra_images": ["nope:1"]}, "extra_images[0]"),
        ({"node_images": ["nope:1"]}, "node_images[0]"),
    ],
)
def test_bad_source_settings_name_the_field(platform: dict[str, Any], where: str) -> None:
    doc = experiment({"nodes": 1, **platform})
    with pytest.raises(InputError) as err:
        simulator.load_experiment(doc)
    assert any(where in p for p in err.value.problems), err.value.problems


# -- the container platform ---------------------------------------------------------------------

POD_STAGES = {
    "create": {"duration": {"kind": "fixed", "value": "1s"}},
    "start": {"duration": {"kind": "fixed", "value": "2s"}},
    "app_start": {"duration": {"kind": "fixed", "value": "4s"}},
}


def experiment(platform: dict[str, Any], pods_at: tuple[str, int] | None = None) -> dict[str, Any]:
    plat: dict[str, Any] = {
        "kind": "container",
        "image": ALPINE,
        "registry": {"bandwidth": "100MB/s", "rtt": "0s"},
        "decompress": "100MB/s",
        "stages": copy.deepcopy(POD_STAGES),
        "readiness": {"initial_delay": "0s", "period": "10s"},
        "initial": 0,
    }
    plat.update(platform)
    scenario: dict[str, Any] = {"name": "k8s", "platform": plat, "serving": {"workers": 4}}
    if pods_at is not None:
        scenario["autoscaler"] = {
            "kind": "schedule",
            "actions": [{"at": pods_at[0], "instances": pods_at[1]}],
        }
    return {
        "name": "sources",
        "seed": 3,
        "horizon": "300s",
        "workload": {
            "arrivals": {"kind": "constant", "rate": "0.5/s"},
            "service_time": {"kind": "fixed", "value": "100ms"},
        },
        "scenarios": [scenario],
    }


def run_doc(doc: dict[str, Any]) -> simulator.Results:
    return simulator.run(simulator.load_experiment(doc))


def test_the_source_column_says_registry_mirror_peer_or_cache() -> None:
    spread = {"nodes": 3, "pod": {"cpu": "1500m"}}
    reg = run_doc(experiment(spread, ("10s", 3))).tables["pulls"]
    assert set(reg["source"]) == {"registry"}
    assert set(reg["part"]) == {"whole"}
    mirror = run_doc(experiment({**spread, "registry": MIRROR | {"rtt": "0s"}}, ("10s", 3)))
    assert set(mirror.tables["pulls"]["source"]) == {"mirror"}
    p2p = run_doc(experiment({**spread, "p2p": P2P}, ("10s", 3))).tables["pulls"]
    assert sorted(p2p["source"]) == ["peer", "peer", "registry"]
    # nginx after python-slim on one node: the shared base is a cache hit.
    warm = run_doc(
        experiment({"nodes": 1, "image": "nginx:1.23.3", "node_images": [SLIM]}, ("10s", 1))
    ).tables["pulls"]
    assert list(warm["source"]) == ["cache"] + ["registry"] * 5
    lazy = run_doc(experiment({**spread, "lazy_pull": True}, ("10s", 3))).tables["pulls"]
    assert sorted(lazy["part"]) == ["background"] * 3 + ["startup"] * 3


def test_a_lazily_pulled_pod_starts_after_the_startup_share() -> None:
    doc = experiment({"nodes": 1, "lazy_pull": {"fraction": "10%"}}, ("10s", 1))
    res = run_doc(doc)
    spans = res.provisioning
    pull = spans[(spans["instance"] == "pod-0") & (spans["stage"] == "image_pull")]
    t1 = 10 + math.ceil(0.1 * S) / B
    assert pull["end_s"].iloc[0] == pytest.approx(t1, rel=1e-12)
    create = spans[(spans["instance"] == "pod-0") & (spans["stage"] == "create")]
    assert create["start_s"].iloc[0] == pytest.approx(t1, rel=1e-12)
    assert res.summary.iloc[0]["bytes_pulled"] == S


def test_a_pod_with_extra_images_pulls_them_all_and_shares_their_base() -> None:
    # nginx and python-slim share the debian:bullseye-slim layer: downloaded once.
    doc = experiment({"nodes": 1, "image": "nginx:1.23.3", "extra_images": [SLIM]}, ("10s", 1))
    res = run_doc(doc)
    distinct = {x.digest: x.size for im in ("nginx:1.23.3", SLIM) for x in BUILTIN[im].layers}
    row = res.summary.iloc[0]
    assert row["bytes_pulled"] == sum(distinct.values())
    pulls = res.tables["pulls"]
    assert set(pulls["image"]) == {"nginx:1.23.3", SLIM}
    spans = res.provisioning
    pull = spans[(spans["instance"] == "pod-0") & (spans["stage"] == "image_pull")]
    create = spans[(spans["instance"] == "pod-0") & (spans["stage"] == "create")]
    last = pulls["extract_end_s"].max()
    assert pull["end_s"].iloc[0] == pytest.approx(last)
    assert create["start_s"].iloc[0] == pytest.approx(last)


def test_node_images_make_a_warm_host() -> None:
    doc = experiment({"nodes": 1, "node_images": [ALPINE]}, ("10s", 1))
    res = run_doc(doc)
    assert "image_pull" not in set(res.provisioning["stage"])
    assert res.summary.iloc[0]["bytes_pulled"] == 0


def test_a_forgotten_node_serves_no_peers() -> None:
    rig = Rig(p2p=P2P)
    rig.ensure(ALPINE, "n0")
    rig.run()
    digest = BUILTIN[ALPINE].layers[0].digest
    assert [n.name for n in rig.puller.holders(digest)] == ["n0"]
    rig.puller.forget(rig.node("n0"))
    assert rig.puller.holders(digest) == []
    rig.ensure(ALPINE, "n1", at=5.0)
    rig.run()
    assert rig.row("n1")["source"] == "registry"


# -- invariants (hypothesis) --------------------------------------------------------------------

IMAGES = sorted(BUILTIN)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    asks=st.lists(
        st.tuples(st.sampled_from(IMAGES), st.floats(0, 20), st.sampled_from(["n0", "n1", "n2"])),
        min_size=1,
        max_size=8,
    ),
    mode=st.sampled_from(["mirror", "p2p", "mirror+p2p", "lazy", "lazy+p2p"]),
    parallel=st.integers(1, 2),
)
def test_every_source_lands_each_distinct_layer_once_per_node(
    asks: list[tuple[str, float, str]], mode: str, parallel: int
) -> None:
    cfg: dict[str, Any] = {
        "registry": {"bandwidth": "1GB/s"},
        "decompress": "1GB/s",
        "max_parallel_image_pulls": parallel,
    }
    if "mirror" in mode:
        cfg["registry"] = {**cfg["registry"], **MIRROR}
    if "p2p" in mode:
        cfg["p2p"] = P2P
    if "lazy" in mode:
        cfg["lazy_pull"] = True
    rig = Rig(**cfg)
    for image, at, node in asks:
        rig.ensure(image, node, at=at)
    rig.run()
    assert rig.counters["container_image_pull_failures"] == 0
    wanted: dict[str, dict[str, int]] = {}
    for image, _, node in asks:
        for x in BUILTIN[image].layers:
            wanted.setdefault(node, {})[x.digest] = x.size
    for node, layers in wanted.items():
        got = sum(r["bytes"] for r in rig.rows if r["node"] == node)
        assert got == sum(layers.values())  # every distinct layer lands once, whole
        assert rig.puller.layers_on(rig.node(node)) == set(layers)
    everywhere = {d: s for layers in wanted.values() for d, s in layers.items()}
    landed = sum(sum(layers.values()) for layers in wanted.values())
    assert rig.metrics["bytes_pulled"] == landed
    by_source = sum(rig.metrics[f"bytes_from_{s}"] for s in ("registry", "mirror", "peers"))
    assert by_source == landed
    egress = rig.metrics["registry_egress_bytes"]
    if "mirror" in mode or mode == "p2p":
        # The mirror fetches each layer upstream once; whole-layer swarms seed it once.
        assert egress == sum(everywhere.values())
    else:
        assert sum(everywhere.values()) <= egress <= landed
