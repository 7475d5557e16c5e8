"""Container images as layers, the registry they come from, and each node's layer cache.

An **image** is an ordered list of content-addressed **layers** (digest,
compressed size, uncompressed size). A node downloads only the layers it
lacks, so an update that changes one layer moves only that layer; images
that share a base share its layers on disk. This module provides:

* **Images and manifests** — ``Layer``, ``Image``, ``parse_manifest`` /
  ``load_manifest`` for Docker v2 schema 2 and OCI image manifests (a
  manifest list / OCI index picks ``linux/amd64``), inline YAML images
  (``ImageSpec``: FROM-style ``base`` + added ``layers``, or a ``manifest``
  file), and the built-in catalog (``BUILTIN``): the Jan 2023 official
  images of ``models/data/images/``, keyed by ``name:tag``.
* **The registry** (``Registry``): egress bandwidth (a link of the run's
  ``simulator.network``), a round trip per request, Docker Hub's manifest
  rate limit, outage windows. It is one ``LayerSource``; a
  ``SourcePolicy`` picks the source of each manifest request and blob
  download attempt. Two more sources plug in the same way (9–10 below): a
  pull-through **mirror** (``Mirror``, ``registry.mirror``) and
  **peer-to-peer** distribution (``PeerToPeer``, ``p2p``). Rows carry the
  source's ``name`` (``registry`` / ``mirror`` / ``peer``).
* **Pulls and the node cache** (``LayerPuller``, the container platform's
  ``ImageProvider``): how kubelet + containerd bring an image onto a node.

Pull semantics, each from its source (``../shared/CALIBRATION.md``, containers):

1. The kubelet pulls **one image at a time per node** (``serializeImagePulls``
   true unless ``maxParallelImagePulls`` ≥ 2; kubelet config defaults) and
   refuses pulls beyond ``registryPullQPS`` 5/s, burst 10 (same file): the
   pull fails with "pull QPS exceeded".
2. A pull starts with **one manifest request** (one round trip). It counts
   against Docker Hub's limit when it is a ``GET``: always when the node
   lacks the image; a node that holds the image resolves the tag with a
   ``HEAD``, which Docker Hub does not count (docker/docs
   "download-rate-limit": "A pull request is defined as up to two GET
   requests on registry manifest URLs … HEAD requests aren't counted";
   containerd resolves with ``HEAD``). Over the limit (anonymous: 100 per
   6 h per IP) the registry answers ``429 toomanyrequests`` and the pull fails.
3. **Missing layers download at most 3 at a time per pull**
   (``max_concurrent_downloads``: containerd CRI default, per image; dockerd's
   ``max-concurrent-downloads`` 3), in layer order, each a blob request
   (one round trip) then a transfer across registry egress → node ingress
   (max-min fair with every other transfer). A layer already on the node is
   skipped; a layer another pull on the node is downloading is **joined**,
   not downloaded twice (one content-store ingest per digest).
4. A failed blob download is **retried** after 5 s, 10 s, 15 s, 20 s — 5
   attempts in all (moby ``distribution/xfer/download.go``: ``delay :=
   retries * 5``; ``maxDownloadAttempts`` 5), resuming where it stopped
   (moby and containerd resume a partial blob with a range request).
5. **Layers extract strictly in order** — layer *i* after its own download
   and after layer *i−1*'s extraction — even though downloads run in
   parallel (moby/moby issues 37957, 32618; containerd unpacks by chain).
   Extraction takes ``uncompressed size / decompress``: decompression
   throughput is quoted per byte of *output* (lzbench/zstd tables measure
   MB/s of original data; gzip inflate ≈ 80–400 MB/s per core; containerd
   issue 13559: Go's gzip inflates 2.7 GiB in ≈ 30 s ≈ 97 MB/s), and the
   extracted bytes are what is written to disk. Default 100 MB/s.
6. A failed pull (refused manifest, registry down, download out of
   attempts, disk full) fails the pod's image step (``ErrImagePull``); the
   kubelet retries it with **back-off 10 s, doubling, capped at 300 s**
   (kubelet ``backOffPeriod`` 10 s, ``MaxContainerBackOff`` 300 s;
   Kubernetes docs "Images"). A failed pull settles its in-flight downloads
   first; their blobs stay on the node for the retry.
7. **Pull policy** (Kubernetes docs "Images"): ``IfNotPresent`` (default for a
   tagged image) pulls only when the node lacks the image; ``Always``
   (default for ``:latest`` or no tag) makes a manifest request at every
   container start and downloads only missing layers; ``Never`` never pulls:
   without the image the pod waits with ``ErrImageNeverPull`` (counted).
   Each pod start that finds the image absent issues its own pull (the
   kubelet checks presence before queueing); a pull that finds everything
   already on the node costs one round trip (a ``HEAD``).
8. **Node cache and image GC** (kubelet ``ImageGCHighThresholdPercent`` 85,
   ``ImageGCLowThresholdPercent`` 80, ``ImageMinimumGCAge`` 2 min;
   ``ImageGCPeriod`` 5 min in ``pkg/kubelet/kubelet.go``): layers are stored
   once per node however many images use them, counted at their
   uncompressed size. Every ``period`` while disk use is ≥ 85 %, the
   kubelet deletes images not in use, least recently used first, skipping
   images used at that instant and images first seen less than 2 min ago
   (kubelet ``freeSpace``), until use is below 80 %; a layer
   is freed only when no remaining image (nor a pull in flight) uses it.
   Unreferenced layers left by failed pulls go first (containerd's own GC).
   The space is reserved when a layer starts extracting; a layer that would
   overflow the disk triggers an immediate GC (the eviction manager's image
   GC under disk pressure) and, if still short, fails the pull "no space
   left on device". A pod needing an evicted image pulls it again.
9. **Pull-through mirror** (``registry.mirror: {bandwidth, rtt}``; Docker docs
   "Registry as a pull through cache", containerd ``hosts.toml`` mirrors):
   every request goes to the mirror (its own round trip and link). A blob it
   lacks is fetched from the registry **once** — concurrent requests wait for
   that fetch, then are served from the mirror's store (request collapsing,
   as caches with a lock do, e.g. nginx ``proxy_cache_lock``; the reference
   registry's proxy streams each concurrent miss from upstream instead). A
   manifest is fetched with one counted ``GET``; afterwards a tag is
   re-checked with an uncounted ``HEAD`` and the cached copy serves when the
   registry is down, as do cached blobs.
10. **Peer-to-peer** (``p2p: {upload, connections, rtt}``; uber/kraken,
   Dragonfly): a node fetches a layer from a peer holding it, else relays it
   from a peer still downloading it (Kraken trades pieces while
   downloading), else from the registry / mirror, which so seeds each layer
   about once; each peer upload crosses the peer's upload link (300 MB/s
   cap, Kraken's benchmark setting) and the receiver's ingress; a peer serves
   at most ``connections`` uploads of a layer at once (Kraken ``max_open_conn``
   10). See ``PeerToPeer`` for the choice of peer and what is simplified.
11. **Lazy pulling** (``lazy_pull: {fraction}``; eStargz / stargz-snapshotter,
   DADI): a pull fetches only ``fraction`` (default 6.4 %: Slacker, FAST'16 —
   "only 6.4 % of the pulled data is read at start") of each missing layer,
   with the same per-pull download limit, and the layer is mounted, not
   extracted; the container then starts while the rest of every layer
   streams in the background (still in ``bytes_pulled``). A lazily mounted
   layer serves peers only once complete.

Layers are cached by digest (containerd's content store); snapshots proper
are keyed by chain ID, which is the same thing for shared base layers (a
prefix), the case that matters. The image config blob (a few KB) is not
modelled.

Outputs: a ``pulls`` table row per layer per pull (``pulls.csv``) and, in the
summary, ``bytes_pulled``, ``layer_cache_hit_ratio``, ``mean_pull_s`` and
``p95_pull_s`` (per pull, from the kubelet's request to the last extraction;
with lazy pulling, to the last startup share) plus ``container_*`` counters
and per-source byte counts (see ``LayerPuller``). ``pulls.csv``'s ``source``
is ``registry``, ``mirror``, ``peer`` or ``cache`` (nothing fetched), and
``part`` is ``whole``, or ``startup`` / ``background`` for lazy pulls (a
``background`` row is written when the rest of that layer has landed).
"""

from __future__ import annotations

import bisect
import hashlib
import json
import math
import re
from collections import Counter, deque
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal, Protocol

import simpy
from pydantic import (
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from simulator.base import Config, ConfigError, resolve_path
from simulator.network import Network, Transfer
from simulator.registry import cite
from simulator.units import Bandwidth, Duration, Fraction, Size

__all__ = [
    "Layer",
    "Image",
    "Catalog",
    "BUILTIN",
    "parse_manifest",
    "load_manifest",
    "default_pull_policy",
    "LayerSpec",
    "ImageSpec",
    "RateLimit",
    "Outage",
    "RegistryConfig",
    "ImageGC",
    "ImageSettings",
    "NodeLike",
    "LayerSource",
    "SourcePolicy",
    "Registry",
    "RegistryOnly",
    "Download",
    "MirrorConfig",
    "PeerToPeerConfig",
    "LazyPullConfig",
    "Mirror",
    "PeerToPeer",
    "LayerPuller",
]

_FAMILY = "container"

# -- catalog: defaults with their sources ---------------------------------------------------

_MOBY_CONFIG = "moby daemon/config constants (v20.10); containerd docs/cri/config.md"
MAX_CONCURRENT_DOWNLOADS = cite(
    _FAMILY,
    "parallel layer downloads per pull",
    3,
    "3",
    "containerd CRI max_concurrent_downloads (per image); dockerd max-concurrent-downloads "
    f"({_MOBY_CONFIG})",
)
DOWNLOAD_ATTEMPTS = cite(
    _FAMILY,
    "layer download attempts",
    5,
    "5, retry after 5 s × attempt",
    "moby distribution/xfer/download.go (maxDownloadAttempts 5; delay := retries * 5)",
)
RETRY_DELAY_S = 5.0  # × the attempt number (same source)
MAX_PARALLEL_IMAGE_PULLS = cite(
    _FAMILY,
    "image pulls at once per node",
    1,
    "1 (serializeImagePulls)",
    "kubernetes pkg/kubelet/apis/config/v1beta1/defaults.go",
)
REGISTRY_PULL_QPS = cite(
    _FAMILY,
    "kubelet registryPullQPS / registryBurst",
    5.0,
    "5/s, burst 10",
    "kubernetes pkg/kubelet/apis/config/v1beta1/defaults.go",
)
REGISTRY_BURST = 10
_GC_SRC = (
    "kubernetes pkg/kubelet/apis/config/v1beta1/defaults.go (thresholds, minimum age); "
    "pkg/kubelet/kubelet.go (ImageGCPeriod)"
)
GC_HIGH = cite(_FAMILY, "image GC high threshold", 0.85, "85 % disk use", _GC_SRC)
GC_LOW = cite(_FAMILY, "image GC low threshold", 0.80, "80 % disk use", _GC_SRC)
GC_MIN_AGE_S = cite(_FAMILY, "image GC minimum age", 120.0, "2 min", _GC_SRC)
GC_PERIOD_S = cite(_FAMILY, "image GC period", 300.0, "5 min", _GC_SRC)
_BACKOFF_SRC = (
    "kubelet backOffPeriod 10 s and MaxContainerBackOff 300 s (pkg/kubelet/kubelet.go); "
    "Kubernetes docs 'Images' (ImagePullBackOff)"
)
PULL_BACKOFF_INITIAL_S = cite(
    _FAMILY, "image pull back-off initial", 10.0, "10 s, doubling", _BACKOFF_SRC
)
PULL_BACKOFF_MAX_S = cite(_FAMILY, "image pull back-off cap", 300.0, "300 s", _BACKOFF_SRC)
DECOMPRESS = cite(
    _FAMILY,
    "layer decompression throughput",
    100e6,
    "100 MB/s of uncompressed output",
    "gzip inflate ≈ 80–400 MB/s per core (lzbench/zstd tables); Go's gzip ≈ 97 MB/s "
    "(containerd issue 13559: 2.7 GiB in ≈ 30 s)",
)
COMPRESSION_RATIO = cite(
    _FAMILY,
    "layer compression ratio (uncompressed / compressed)",
    2.7,
    "2.7× (gzip)",
    "EROFS docs dedupe comparison (OS layers)",
)
cite(
    _FAMILY,
    "pull policy default",
    None,
    "Always for :latest or no tag, else IfNotPresent",
    "Kubernetes docs 'Images' (image pull policy)",
)
_HUB_SRC = "docker/docs download-rate-limit.md (PRs 20788, 21494): a pull = a manifest GET"
HUB_PULLS = cite(_FAMILY, "registry manifest rate limit", 100, "100 pulls", _HUB_SRC)
HUB_WINDOW_S = cite(_FAMILY, "registry rate-limit window", 6 * 3600.0, "6 h (rolling)", _HUB_SRC)
cite(
    _FAMILY,
    "registry rate-limit scope",
    None,
    "per cluster (nodes behind one NAT IP)",
    "placeholder: private nodes usually share a NAT address; use per: node for public IPs",
    "U",
)
REGISTRY_BANDWIDTH = cite(
    _FAMILY,
    "registry egress bandwidth",
    1e9 / 8,
    "1 Gbps",
    "placeholder; set to your registry's or CDN's egress",
    "U",
)
REGISTRY_RTT_S = cite(
    _FAMILY, "registry request round trip", 0.05, "50 ms", "placeholder (internet RTT)", "U"
)
NODE_BANDWIDTH = cite(
    _FAMILY,
    "node ingress bandwidth",
    10e9 / 8,
    "10 Gbps",
    "placeholder: AWS m5.large 'up to 10 Gigabit' (burst; baseline lower)",
    "U",
)
NODE_DISK = cite(
    _FAMILY,
    "node disk for images",
    100e9,
    "100 GB",
    "GKE default node boot disk 100 GB (GKE docs); EKS managed node groups default 20 GB",
    "S",
)

_IN_CLUSTER_SRC = "placeholder: a round trip inside one datacentre is ≈ 0.1–1 ms"
_CRI_DIAL_SRC = (
    "containerd CRI newTransport: net.Dialer Timeout 30 s (Go's http.DefaultTransport likewise)"
)
DIAL_TIMEOUT_S = cite(
    _FAMILY,
    "registry connect timeout (a node cut off from the registry)",
    30.0,
    "30 s",
    _CRI_DIAL_SRC,
)
PROGRESS_TIMEOUT_S = cite(
    _FAMILY,
    "pull progress timeout (no bytes received)",
    300.0,
    "5 min",
    "containerd CRI config image_pull_progress_timeout default 5m0s (containerd ≥ 1.7)",
)
MIRROR_BANDWIDTH = cite(
    _FAMILY,
    "pull-through mirror bandwidth (each direction)",
    10e9 / 8,
    "10 Gbps",
    "placeholder: an in-cluster registry on one 10 Gbps NIC",
    "U",
)
MIRROR_RTT_S = cite(_FAMILY, "pull-through mirror round trip", 0.001, "1 ms", _IN_CLUSTER_SRC, "U")
P2P_UPLOAD = cite(
    _FAMILY,
    "peer-to-peer upload cap per node",
    300e6,
    "300 MB/s",
    "uber/kraken README benchmark: 3 GB image to 2,600 hosts with a 300 MB/s limit on all "
    "agents (p50 10 s, p99 18 s)",
)
P2P_CONNECTIONS = cite(
    _FAMILY,
    "peer-to-peer uploads of one layer at once per node",
    10,
    "10",
    "uber/kraken docs/CONFIGURATION.md: scheduler.connstate.max_open_conn 10 (per torrent)",
)
P2P_RTT_S = cite(_FAMILY, "peer-to-peer request round trip", 0.001, "1 ms", _IN_CLUSTER_SRC, "U")
LAZY_FRACTION = cite(
    _FAMILY,
    "lazy pulling: share of an image's bytes needed before the container starts",
    0.064,
    "6.4 %",
    "Slacker, FAST'16 (HelloBench, 57 images: 6.4 % of the pulled data is read at start)",
)
cite(
    _FAMILY,
    "mirror: concurrent misses of one blob",
    None,
    "joined: one upstream fetch, stored, then served",
    "modelling choice (issue 4): request collapsing, as caches with a cache lock do (nginx "
    "proxy_cache_lock); the reference registry (distribution registry/proxy/proxyblobstore.go) "
    "instead streams every concurrent miss from upstream",
    "U",
)

# -- layers, images, manifests ----------------------------------------------------------------

MEDIA_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MEDIA_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MEDIA_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
_MANIFESTS = (MEDIA_DOCKER_MANIFEST, MEDIA_OCI_MANIFEST)
_INDEXES = (MEDIA_DOCKER_LIST, MEDIA_OCI_INDEX)
PLATFORM = ("linux", "amd64")

# OCI image-spec descriptor.md: algorithm ":" encoded, hex of a fixed length per algorithm
# (sha256, sha512 registered; sha384 also accepted by the distribution registry).
_DIGEST = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")
_HEX_LENGTH = {"sha256": 64, "sha384": 96, "sha512": 128}


def check_digest(value: Any) -> str:
    """A digest string per the OCI descriptor grammar (``sha256:`` + 64 lowercase hex)."""
    if not isinstance(value, str) or not _DIGEST.match(value):
        raise ValueError(f"bad digest {value!r}: expected 'sha256:<64 hex digits>'")
    algorithm, _, encoded = value.partition(":")
    want = _HEX_LENGTH.get(algorithm)
    if want is None:
        raise ValueError(f"bad digest {value!r}: unsupported algorithm {algorithm!r}")
    if not (len(encoded) == want and re.fullmatch(r"[0-9a-f]+", encoded)):
        raise ValueError(f"bad digest {value!r}: {algorithm} needs {want} lowercase hex digits")
    return value


def synthetic_digest(text: str) -> str:
    """A stable made-up digest for an inline layer declared without one."""
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Layer:
    """One content-addressed layer: compressed ``size`` on the wire, ``uncompressed`` on disk."""

    digest: str
    size: int
    uncompressed: int
    media_type: str = ""


@dataclass(frozen=True)
class Image:
    """An image: its reference, its layers in order (base first), where it was read from."""

    ref: str
    layers: tuple[Layer, ...]
    digest: str = ""  # the manifest's digest, when known
    source: str = ""

    @property
    def size(self) -> int:
        """Compressed bytes of all layers (what a cold node downloads)."""
        return sum(layer.size for layer in self.layers)

    @property
    def uncompressed(self) -> int:
        """Bytes of all layers on disk once extracted."""
        return sum(layer.uncompressed for layer in self.layers)


def _uncompressed(size: int, media_type: str, ratio: float) -> int:
    # An uncompressed tar layer (OCI ".tar", Docker "rootfs.diff.tar") is as big on disk.
    if media_type.endswith(".tar") or media_type.endswith("diff.tar"):
        return size
    return round(size * ratio)


def _fail(source: str, message: str) -> ConfigError:
    return ConfigError(f"{source}: {message}")


def parse_manifest(
    doc: Any,
    source: str,
    *,
    ref: str | None = None,
    ratio: float = COMPRESSION_RATIO,
    child: Callable[[str], Any] | None = None,
) -> Image:
    """Read an image from a parsed manifest document.

    Accepts a Docker v2 schema 2 manifest or an OCI image manifest
    (``layers[].digest``, ``layers[].size``, ``layers[].mediaType``), or a
    manifest list / OCI index, whose ``linux/amd64`` entry is then read with
    ``child(digest)`` (a parsed document). ``ref`` defaults to the
    ``org.opencontainers.image.ref.name`` annotation. Errors raise
    ``ConfigError`` naming ``source``.
    """
    if not isinstance(doc, dict):
        raise _fail(source, f"a manifest is a JSON object, got {type(doc).__name__}")
    if doc.get("schemaVersion") == 1 or "fsLayers" in doc:
        raise _fail(source, "Docker schema 1 manifests are not supported (use schema 2 or OCI)")
    if doc.get("schemaVersion") != 2:
        raise _fail(source, f"schemaVersion must be 2, got {doc.get('schemaVersion')!r}")
    media = doc.get("mediaType", "")
    annotations = doc.get("annotations") or {}
    if not isinstance(annotations, dict):
        annotations = {}
    ref = ref or annotations.get("org.opencontainers.image.ref.name") or ""
    if media in _INDEXES or (not media and "manifests" in doc and "layers" not in doc):
        return _pick_platform(doc, source, ref, ratio, child)
    if media and media not in _MANIFESTS:
        raise _fail(source, f"unsupported mediaType {media!r} (expected an image manifest)")
    layers = doc.get("layers")
    if not isinstance(layers, list) or not layers:
        raise _fail(source, "no layers: an image manifest needs a non-empty 'layers' list")
    parsed = []
    for i, desc in enumerate(layers):
        where = f"layers[{i}]"
        if not isinstance(desc, dict):
            raise _fail(source, f"{where}: a layer is an object with digest and size")
        size = desc.get("size")
        if isinstance(size, bool) or not isinstance(size, int):
            raise _fail(source, f"{where}.size: expected a whole number of bytes, got {size!r}")
        if size < 0:
            raise _fail(source, f"{where}.size: negative size {size}")
        try:
            digest = check_digest(desc.get("digest"))
        except ValueError as exc:
            raise _fail(source, f"{where}.digest: {exc}") from None
        lmedia = str(desc.get("mediaType", ""))
        parsed.append(Layer(digest, size, _uncompressed(size, lmedia, ratio), lmedia))
    digest = str(annotations.get("io.deploysim.manifest-digest", ""))
    return Image(ref, tuple(parsed), digest, source)


def _pick_platform(
    doc: dict[str, Any],
    source: str,
    ref: str,
    ratio: float,
    child: Callable[[str], Any] | None,
) -> Image:
    entries = doc.get("manifests")
    if not isinstance(entries, list) or not entries:
        raise _fail(source, "an index / manifest list needs a non-empty 'manifests' list")
    seen = []
    for i, entry in enumerate(entries):
        plat = entry.get("platform") if isinstance(entry, dict) else None
        if not isinstance(plat, dict):
            continue
        pair = (plat.get("os"), plat.get("architecture"))
        seen.append(f"{pair[0]}/{pair[1]}")
        if pair == PLATFORM:
            try:
                digest = check_digest(entry.get("digest"))
            except ValueError as exc:
                raise _fail(source, f"manifests[{i}].digest: {exc}") from None
            if child is None:
                raise _fail(source, f"the linux/amd64 manifest {digest} is not available")
            sub = child(digest)
            image = parse_manifest(sub, f"{source} → {digest}", ref=ref, ratio=ratio)
            return Image(ref or image.ref, image.layers, digest, source)
    raise _fail(source, f"no linux/amd64 manifest in the index (platforms: {', '.join(seen)})")


def _read_json(path: Path, source: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise _fail(source, f"cannot read manifest ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise _fail(source, "not JSON (not UTF-8 text)") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise _fail(source, f"not JSON ({exc.msg} at line {exc.lineno})") from None


def load_manifest(path: str | Path, *, ref: str | None = None, ratio: float = 2.7) -> Image:
    """Read an image manifest file (errors name the file: ``ConfigError``).

    An index / manifest list resolves its ``linux/amd64`` entry from an OCI
    image layout next to it (``blobs/sha256/<hex>``) or a sibling
    ``<hex>.json`` / ``sha256_<hex>.json`` file.
    """
    path = Path(path)
    source = str(path)
    doc = _read_json(path, source)

    def child(digest: str) -> Any:
        algorithm, _, hexpart = digest.partition(":")
        candidates = [
            path.parent / "blobs" / algorithm / hexpart,
            path.parent / f"{hexpart}.json",
            path.parent / f"{algorithm}_{hexpart}.json",
        ]
        for candidate in candidates:
            if candidate.is_file():
                return _read_json(candidate, str(candidate))
        looked = ", ".join(str(c.relative_to(path.parent)) for c in candidates)
        raise _fail(source, f"the linux/amd64 manifest {digest} is not there (looked for {looked})")

    return parse_manifest(doc, source, ref=ref, ratio=ratio, child=child)


# -- references and the catalog ---------------------------------------------------------------

_DOCKER_HUB = ("docker.io/", "index.docker.io/", "registry-1.docker.io/")
_DATED_TAG = re.compile(r"-\d{8}(?=-|$)")


def split_ref(ref: str) -> tuple[str, str | None, str | None]:
    """``name[:tag][@digest]`` → (name, tag or None, digest or None)."""
    name, _, digest = ref.partition("@")
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        return name[:colon], name[colon + 1 :], digest or None
    return name, None, digest or None


def normalize_ref(ref: str) -> str:
    """Docker Hub's implicit parts made explicit the short way: ``library/x`` → ``x``,
    no tag → ``:latest``."""
    for prefix in _DOCKER_HUB:
        if ref.startswith(prefix):
            ref = ref[len(prefix) :]
    ref = ref.removeprefix("library/")
    name, tag, digest = split_ref(ref)
    if tag is None and digest is None:
        return f"{name}:latest"
    return ref


def default_pull_policy(ref: str) -> str:
    """Kubernetes' default: ``Always`` for ``:latest`` or no tag, else ``IfNotPresent``."""
    _, tag, digest = split_ref(ref)
    if digest is None and (tag is None or tag == "latest"):
        return "Always"
    return "IfNotPresent"


class Catalog(Mapping[str, Image]):
    """Images by ``name:tag``; lookups normalise Docker Hub names and accept aliases.

    An alias drops a date stamp from a tag (``ubuntu:jammy`` →
    ``ubuntu:jammy-20221130``, ``debian:bullseye-slim`` →
    ``debian:bullseye-20230109-slim``), as the floating tags pointed in Jan 2023;
    ``name@sha256:…`` finds an image by manifest digest.
    """

    def __init__(self, images: Mapping[str, Image] | None = None) -> None:
        self._images: dict[str, Image] = dict(images or {})

    def __getitem__(self, ref: str) -> Image:
        image = self.find(ref)
        if image is None:
            raise KeyError(ref)
        return image

    def __iter__(self) -> Iterator[str]:
        return iter(self._images)

    def __len__(self) -> int:
        return len(self._images)

    def __contains__(self, ref: object) -> bool:
        return isinstance(ref, str) and self.find(ref) is not None

    def find(self, ref: str) -> Image | None:
        """The image ``ref`` names, or None."""
        if ref in self._images:
            return self._images[ref]
        norm = normalize_ref(ref)
        if norm in self._images:
            return self._images[norm]
        name, tag, digest = split_ref(norm)
        if digest is not None:
            for image in self._images.values():
                if image.digest == digest and split_ref(image.ref)[0] == name:
                    return image
            return None
        for key, image in self._images.items():
            kname, ktag, _ = split_ref(key)
            if kname == name and ktag is not None and _DATED_TAG.sub("", ktag) == tag:
                return image
        return None

    def with_images(self, images: Mapping[str, Image]) -> Catalog:
        """A new catalog with ``images`` added (they win over same-named ones)."""
        merged = dict(self._images)
        merged.update(images)
        return Catalog(merged)

    def rescaled(self, ratio: float) -> Catalog:
        """The same images with uncompressed sizes from another compression ratio."""
        if ratio == COMPRESSION_RATIO:
            return self
        return Catalog(
            {
                k: Image(
                    im.ref,
                    tuple(
                        Layer(
                            x.digest,
                            x.size,
                            _uncompressed(x.size, x.media_type, ratio),
                            x.media_type,
                        )
                        for x in im.layers
                    ),
                    im.digest,
                    im.source,
                )
                for k, im in self._images.items()
            }
        )


def _load_builtin() -> Catalog:
    folder = resources.files("models") / "data" / "images"
    images: dict[str, Image] = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".json"):
            continue
        source = f"models/data/images/{entry.name}"
        try:
            doc = json.loads(entry.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:  # pragma: no cover - shipped files are valid
            raise _fail(source, f"not JSON ({exc.msg})") from None
        fallback = entry.name.removesuffix(".json").replace("_", ":", 1)
        image = parse_manifest(doc, source)
        ref = image.ref or fallback
        images[ref] = Image(ref, image.layers, image.digest, source)
    return Catalog(images)


BUILTIN: Catalog = _load_builtin()
"""The built-in images: official Docker Hub images of Jan 2023, linux/amd64."""

for _ref, _image in BUILTIN.items():
    cite(
        "image",
        _ref,
        None,
        f"{len(_image.layers)} layer{'s' if len(_image.layers) > 1 else ''}, "
        f"{_image.size / 1e6:.1f} MB "
        f"(≈ {_image.uncompressed / 1e6:.0f} MB unpacked at 2.7×)",
        "docker-library/repo-info @ 72e4be7 (linux/amd64 manifest); "
        f"models/data/images/{Path(_image.source).name}",
    )

# -- inline images (YAML) ---------------------------------------------------------------------


class LayerSpec(Config):
    """A layer declared in YAML: ``{size: 12MB}``, or just ``12MB``.

    ``digest`` names the content; without it, ``id`` (any name, e.g.
    ``app-src-v1``) or else the image and position make a stable one — give
    two images the same ``id`` or ``digest`` to share a layer.
    """

    # Bounded so size × compression_ratio stays a representable whole number of bytes.
    size: Size = Field(le=1e15, description="compressed size (bytes on the wire)")
    digest: str | None = Field(default=None, description="sha256:<64 hex>; made up if absent")
    id: str | None = Field(default=None, description="a name standing for the digest")
    uncompressed: Size | None = Field(
        default=None, le=1e18, description="size on disk; absent = size × compression_ratio"
    )

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            return {"size": value}
        return value

    @model_validator(mode="after")
    def _digest(self) -> LayerSpec:
        if self.digest is not None:
            try:
                check_digest(self.digest)
            except ValueError as exc:
                raise _located(("digest",), str(exc), self.digest) from None
        return self


class ImageSpec(Config):
    """An image declared in YAML: FROM-style ``base`` + added ``layers``, or a ``manifest`` file.

    A manifest file (Docker v2 schema 2 or OCI; a relative path is resolved
    against the experiment file's folder) is read at validation and its
    layers are embedded in the resolved config.
    """

    base: str | None = Field(default=None, description="the image this one is built FROM")
    layers: list[LayerSpec] = Field(default_factory=list, description="layers added on top")
    manifest: str | None = Field(default=None, description="a manifest JSON file instead")

    @model_validator(mode="after")
    def _load(self, info: ValidationInfo) -> ImageSpec:
        if self.manifest is not None:
            if self.base is not None or self.layers:
                raise ValueError("give either manifest or base/layers, not both")
            path = resolve_path(self.manifest, info)
            image = load_manifest(path)
            layers = [
                LayerSpec(
                    size=x.size,
                    digest=x.digest,
                    uncompressed=x.size if x.uncompressed == x.size else None,
                )
                for x in image.layers
            ]
            object.__setattr__(self, "layers", layers)
            object.__setattr__(self, "manifest", None)
        elif self.base is None and not self.layers:
            raise ValueError("an image needs layers, a base, or a manifest")
        return self


def _located(loc: tuple[str | int, ...], message: str, value: Any = None) -> ValidationError:
    """A validation error at ``loc`` (a tuple: image names contain dots and colons)."""
    return ValidationError.from_exception_data(
        "config",
        [
            InitErrorDetails(
                type=PydanticCustomError("value_error", "{message}", {"message": message}),
                loc=loc,
                input=value,
            )
        ],
    )


def build_images(specs: Mapping[str, ImageSpec], base: Catalog, ratio: float) -> dict[str, Image]:
    """Resolve inline images (bases may be other inline images); errors located per image."""
    done: dict[str, Image] = {}

    def resolve(ref: str, chain: tuple[str, ...]) -> Image:
        if ref in done:
            return done[ref]
        spec = specs[ref]
        layers: list[Layer] = []
        if spec.base is not None:
            if spec.base in specs:
                if spec.base in chain:
                    cycle = " → ".join((*chain, spec.base))
                    raise _located(("images", ref, "base"), f"images build on each other: {cycle}")
                layers.extend(resolve(spec.base, (*chain, spec.base)).layers)
            else:
                found = base.find(spec.base)
                if found is None:
                    raise _located(
                        ("images", ref, "base"),
                        f"unknown base image {spec.base!r} (built in: {', '.join(base)}; "
                        "or declare it under images)",
                        spec.base,
                    )
                layers.extend(found.layers)
        for i, ls in enumerate(spec.layers):
            if ls.digest is not None:
                digest = ls.digest
            elif ls.id is not None:
                digest = synthetic_digest(f"layer:{ls.id}")
            else:
                digest = synthetic_digest(f"{ref}#{i}")
            size = round(ls.size)
            unpacked = (
                round(ls.uncompressed) if ls.uncompressed is not None else round(size * ratio)
            )
            layers.append(Layer(digest, size, unpacked))
        image = Image(ref, tuple(layers), "", "inline")
        done[ref] = image
        return image

    for ref in specs:
        resolve(ref, (ref,))
    return done


# -- settings on the container platform -------------------------------------------------------


class RateLimit(Config):
    """Docker Hub's pull limit: ``pulls`` manifest GETs per rolling ``window`` per IP.

    ``rate_limit: null`` (or ``false``) turns it off (stored as ``enabled: false``).
    """

    enabled: bool = Field(default=True, description="false: no limit (a private registry)")
    pulls: int = Field(default=HUB_PULLS, ge=0, description="manifest GETs allowed per window")
    window: Duration = Field(default=HUB_WINDOW_S, gt=0, description="rolling window")
    per: Literal["cluster", "node"] = Field(
        default="cluster", description="one IP for the cluster (NAT) or one per node"
    )


class Outage(Config):
    """A window when the registry answers nothing: requests fail, transfers break."""

    start: Duration
    end: Duration

    @model_validator(mode="after")
    def _ordered(self) -> Outage:
        if not self.end > self.start:
            raise ValueError(f"end ({self.end:g} s) must be after start ({self.start:g} s)")
        return self


def _on(value: Any) -> Any:
    """``true`` turns an optional block on with its defaults; ``false`` / null leaves it off."""
    if value is True:
        return {}
    if value is False:
        return None
    return value


class MirrorConfig(Config):
    """A pull-through mirror near the nodes (``registry.mirror``; ``true`` = defaults).

    Nodes send every manifest and blob request to the mirror. A blob the mirror
    lacks is fetched from the registry once (registry egress → the mirror's
    ingress), stored, then served (the mirror's egress → node ingress);
    requests arriving meanwhile wait for that one fetch. A manifest is fetched
    with one ``GET`` the first time (counted by the registry's rate limit, as
    the mirror's IP); later a tag is re-checked upstream with a ``HEAD`` (not
    counted), the cached copy serving if the registry is down (Docker docs
    "Registry as a pull through cache": the registry checks the remote for a
    tag and fetches and caches the latest content).
    """

    bandwidth: Bandwidth = Field(
        default=MIRROR_BANDWIDTH, gt=0, description="the mirror's link, each direction"
    )
    rtt: Duration = Field(default=MIRROR_RTT_S, description="round trip node ↔ mirror")


class PeerToPeerConfig(Config):
    """Nodes serve layers they hold to other nodes (``p2p``; ``true`` = defaults).

    Kraken / Dragonfly style: a node missing a layer fetches it from a peer
    that has it (the peer's upload link → the node's ingress), else from the
    registry (or mirror). See ``PeerToPeer`` for how peers are picked.
    """

    upload: Bandwidth = Field(default=P2P_UPLOAD, gt=0, description="upload cap per node")
    connections: int = Field(
        default=P2P_CONNECTIONS, ge=1, description="uploads of one layer at once per node"
    )
    rtt: Duration = Field(default=P2P_RTT_S, description="round trip node ↔ peer")


class LazyPullConfig(Config):
    """Lazy pulling, eStargz / DADI style (``lazy_pull``; ``true`` = defaults).

    A container starts once ``fraction`` of each missing layer's bytes has
    landed (layers are mounted remotely, not extracted); the rest of every
    layer is fetched in the background and still counts in ``bytes_pulled``.
    """

    fraction: Fraction = Field(
        default=LAZY_FRACTION, description="share of the bytes fetched before the start"
    )


class RegistryConfig(Config):
    """The registry images come from (``registry:`` on the container platform)."""

    bandwidth: Bandwidth = Field(default=REGISTRY_BANDWIDTH, gt=0, description="egress")
    rtt: Duration = Field(default=REGISTRY_RTT_S, description="round trip per request")
    rate_limit: RateLimit = Field(
        default_factory=RateLimit, description="manifest pull limit; null = none"
    )
    outages: list[Outage] = Field(default_factory=list, description="[{start, end}, ...]")
    mirror: MirrorConfig | None = Field(
        default=None, description="a pull-through mirror: {bandwidth, rtt}; absent = none"
    )

    @field_validator("rate_limit", mode="before")
    @classmethod
    def _off(cls, value: Any) -> Any:
        return {"enabled": False} if value is None or value is False else value

    @field_validator("mirror", mode="before")
    @classmethod
    def _mirror_on(cls, value: Any) -> Any:
        return _on(value)


class ImageGC(Config):
    """Kubelet image garbage collection (``image_gc:``)."""

    high: Fraction = Field(default=GC_HIGH, description="start at this disk use")
    low: Fraction = Field(default=GC_LOW, description="free down to this disk use")
    min_age: Duration = Field(default=GC_MIN_AGE_S, description="never delete younger images")
    period: Duration = Field(default=GC_PERIOD_S, description="check interval; 0 = every pull")

    @model_validator(mode="after")
    def _ordered(self) -> ImageGC:
        if self.low > self.high:
            raise _located(("low",), f"{self.low:.0%} is above high ({self.high:.0%})", self.low)
        return self


class ImageSettings(Config):
    """The image, registry, pull and node-cache keys of the container platform."""

    images: dict[str, ImageSpec] | None = Field(
        default=None, description="inline images by name:tag (base + layers, or manifest)"
    )
    pull_policy: Literal["IfNotPresent", "Always", "Never"] | None = Field(
        default=None, description="absent = Always for :latest / no tag, else IfNotPresent"
    )
    registry: RegistryConfig = Field(default_factory=RegistryConfig)
    node_disk: Size = Field(default=NODE_DISK, gt=0, description="disk for image layers per node")
    node_bandwidth: Bandwidth = Field(default=NODE_BANDWIDTH, gt=0, description="node ingress")
    decompress: Bandwidth = Field(
        default=DECOMPRESS, gt=0, description="extraction speed, uncompressed bytes/s"
    )
    compression_ratio: float = Field(
        default=COMPRESSION_RATIO,
        ge=1.0,
        le=1000.0,
        description="uncompressed / compressed layer size",
    )
    max_concurrent_downloads: int = Field(
        default=MAX_CONCURRENT_DOWNLOADS, ge=1, description="layer downloads at once per pull"
    )
    max_parallel_image_pulls: int = Field(
        default=MAX_PARALLEL_IMAGE_PULLS, ge=1, description="image pulls at once per node"
    )
    download_attempts: int = Field(default=DOWNLOAD_ATTEMPTS, ge=1, description="per layer")
    registry_pull_qps: float = Field(
        default=REGISTRY_PULL_QPS, ge=0, description="kubelet pulls per second per node; 0 = no cap"
    )
    registry_burst: int = Field(default=REGISTRY_BURST, ge=1, description="kubelet pull burst")
    image_gc: ImageGC = Field(default_factory=ImageGC)
    p2p: PeerToPeerConfig | None = Field(
        default=None, description="peer-to-peer layer distribution: {upload, connections, rtt}"
    )
    lazy_pull: LazyPullConfig | None = Field(
        default=None, description="lazy pulling: {fraction}; absent = whole layers first"
    )

    _catalog: Catalog | None = PrivateAttr(default=None)

    @field_validator("p2p", "lazy_pull", mode="before")
    @classmethod
    def _block_on(cls, value: Any) -> Any:
        return _on(value)

    @model_validator(mode="after")
    def _build_catalog(self) -> ImageSettings:
        self._catalog = self._make_catalog()
        return self

    def _make_catalog(self) -> Catalog:
        base = BUILTIN.rescaled(self.compression_ratio)
        if self.images:
            for ref in self.images:
                if not ref or any(c.isspace() for c in ref):
                    raise _located(("images", ref), f"{ref!r} is not an image name like 'app:v1'")
            base = base.with_images(build_images(self.images, base, self.compression_ratio))
        return base

    def image_catalog(self) -> Catalog:
        """Built-in images (at this compression ratio) plus the inline ones."""
        if self._catalog is None:  # pragma: no cover - set by validation
            self._catalog = self._make_catalog()
        return self._catalog

    def unknown_image(self, ref: str) -> str | None:
        """Why ``ref`` cannot be pulled (None if it can)."""
        if ref in self.image_catalog():
            return None
        return (
            f"{ref!r} is not a known image (built in: {', '.join(BUILTIN)}; "
            "declare others under images)"
        )

    def policy_for(self, ref: str) -> str:
        """The pull policy in force for ``ref``."""
        return self.pull_policy or default_pull_policy(ref)


# -- sources: the registry, a pull-through mirror, peers ---------------------------------------


class NodeLike(Protocol):
    """What the image model needs of a node (``models.container.Node`` fits)."""

    name: str
    images: set[str]
    pods: set[int]
    t_launched: float


BlobResult = tuple[str | None, float]  # (error or None, bytes moved)


@dataclass(eq=False)
class Download:
    """One blob fetch onto one node, shared by every pull on the node that needs the layer.

    ``part`` is ``whole`` (an ordinary layer download) or, with lazy pulling,
    ``startup`` (the share fetched before the container starts) or
    ``background`` (the rest). ``size`` is the bytes this fetch brings;
    ``parent`` is the download on another node this one relays from while
    that one is still in flight (peer-to-peer), else None.
    """

    layer: Layer
    node: str
    owner: int  # the pull that started it
    start: float
    done: simpy.Event
    size: float
    part: str = "whole"
    offset: float = 0.0  # bytes an earlier, failed download left (resumed from there)
    end: float = math.nan
    source: str = ""
    bytes: float = 0.0  # bytes this download moved
    error: str | None = None
    parent: Download | None = None


class LayerSource(Protocol):
    """Where manifests and blobs come from: the registry, a mirror, a peer.

    ``manifest`` answers one manifest request (``counted``: a ``GET`` that
    counts against a pull limit, else a ``HEAD``) and returns an error string
    or None. ``blob`` moves ``size`` bytes of ``layer`` to ``node`` (whose
    ingress link is ``ingress``) and returns ``(error or None, bytes moved)``.
    """

    name: str

    def manifest(
        self, node: NodeLike, image: Image, counted: bool
    ) -> Generator[simpy.Event, Any, str | None]: ...

    def blob(
        self, node: NodeLike, ingress: str, layer: Layer, size: float
    ) -> Generator[simpy.Event, Any, BlobResult]: ...


class SourcePolicy(Protocol):
    """Picks the source of each manifest request and blob download attempt (a strategy object).

    ``blob_source`` is asked at every attempt of ``download`` (a retry may go
    elsewhere); it may set ``download.parent``.
    """

    def manifest_source(self, node: NodeLike, image: Image) -> LayerSource: ...

    def blob_source(self, node: NodeLike, layer: Layer, download: Download) -> LayerSource: ...


class Registry:
    """A registry: egress link, round trip per request, pull rate limit, outages.

    Rate limit (Docker Hub semantics): a manifest ``GET`` counts one pull
    against the rolling window of its IP (the cluster's, or the node's with
    ``per: node``); ``HEAD`` requests and blob ``GET``s do not count; a
    refused request is not counted. During an outage every request fails
    after its round trip and transfers in flight break (the client keeps the
    bytes it received).

    Faults act on it at run time (``models.faults_infra``): ``begin_outage``
    / ``end_outage`` (windows may overlap: down while any is open),
    ``slow_down`` / ``restore`` (egress bandwidth × the product of the active
    factors; transfers in flight re-share the new capacity at once), and
    ``partition`` / ``heal`` of one node. A node cut off from the registry
    cannot connect: a request waits until the partition heals or the connect
    timeout (``DIAL_TIMEOUT_S``, 30 s) fails it; a transfer in flight when the
    partition begins stalls — no bytes move — and resumes where it stopped if
    the partition heals within the pull progress timeout
    (``PROGRESS_TIMEOUT_S``, 5 min, counted from the stall), else fails.
    Failed downloads then follow the usual retries and the kubelet's back-off.
    A partition is between a node and the registry only: a mirror or peers
    still serve the node.
    """

    name = "registry"

    def __init__(
        self,
        env: simpy.Environment,
        network: Network,
        config: RegistryConfig,
        counters: dict[str, int] | None = None,
        link: str = "registry",
    ) -> None:
        self.env = env
        self.network = network
        self.config = config
        self.link = link
        network.add_link(link, config.bandwidth)
        self.counters = counters if counters is not None else {}
        for key in (
            "container_manifest_requests",
            "container_manifest_gets",
            "container_toomanyrequests",
        ):
            self.counters.setdefault(key, 0)
        self.down = False
        self.bytes_served = 0.0  # blob bytes that left the registry (to nodes or a mirror)
        self._window: dict[str, deque[float]] = {}
        # Transfers in flight: transfer → (node name, event fired with "outage" / "partition").
        self._active: dict[Transfer, tuple[str, simpy.Event]] = {}
        self._outages_open = 0
        self._factors: list[float] = []
        self._cut: dict[str, tuple[int, simpy.Event]] = {}  # node → (partitions open, healed)
        if config.outages:
            env.process(self._outages())

    def manifest(
        self, node: NodeLike, image: Image, counted: bool
    ) -> Generator[simpy.Event, Any, str | None]:
        """One manifest request: None, ``"toomanyrequests"`` or ``"registry unavailable"``
        (or ``"dial tcp: i/o timeout"`` from a node cut off from the registry)."""
        unreachable = yield from self._connect(node)
        if unreachable is not None:
            return unreachable
        self.counters["container_manifest_requests"] += 1
        error = None
        if self.down:
            error = "registry unavailable"
        elif counted:
            if self._allow(node):
                self.counters["container_manifest_gets"] += 1
            else:
                self.counters["container_toomanyrequests"] += 1
                error = "toomanyrequests"
        if self.config.rtt > 0:
            yield self.env.timeout(self.config.rtt)
        return error

    def blob(
        self, node: NodeLike, ingress: str, layer: Layer, size: float
    ) -> Generator[simpy.Event, Any, BlobResult]:
        """One blob request: a round trip, then ``size`` bytes over egress → node ingress."""
        unreachable = yield from self._connect(node)
        if unreachable is not None:
            return unreachable, 0.0
        if self.config.rtt > 0:
            yield self.env.timeout(self.config.rtt)
        moved = 0.0
        while True:
            cut = self._cut.get(node.name)
            if cut is not None:  # cut off mid-request: the connection stalls, maybe resumes
                timer = self.env.timeout(PROGRESS_TIMEOUT_S)
                yield cut[1] | timer
                if not cut[1].triggered:
                    return "pull progress timeout", moved
            if self.down:
                return ("registry outage" if moved else "registry unavailable"), moved
            left = size - moved
            xfer = self.network.transfer(
                left, [self.link, ingress], tag=f"{node.name}:{layer.digest}"
            )
            if xfer.done.triggered:
                self.bytes_served += left
                return None, size
            broken = self.env.event()
            self._active[xfer] = (node.name, broken)
            yield xfer.done | broken
            self._active.pop(xfer, None)
            if not broken.triggered:
                self.bytes_served += left
                return None, size
            got = xfer.size - xfer.remaining
            moved += got
            self.bytes_served += got
            if broken.value == "outage":
                return "registry outage", moved

    # -- faults (called by the fault kinds of ``models.faults_infra``) -------------------

    def begin_outage(self) -> None:
        """The registry stops answering: transfers in flight break, requests fail."""
        self._outages_open += 1
        if self._outages_open > 1:
            return
        self.down = True
        for xfer, (_, broken) in list(self._active.items()):
            self.network.cancel(xfer)
            broken.succeed("outage")
        self._active.clear()

    def end_outage(self) -> None:
        """One outage window closes; the registry answers again once none is open."""
        self._outages_open = max(0, self._outages_open - 1)
        if self._outages_open == 0:
            self.down = False

    def slow_down(self, factor: float) -> None:
        """Multiply the egress bandwidth by ``factor`` (> 0) until ``restore(factor)``."""
        if not factor > 0:
            raise ValueError(f"factor must be > 0, got {factor!r}")
        self._factors.append(factor)
        self._apply_bandwidth()

    def restore(self, factor: float) -> None:
        """End one slow-down started with ``factor``."""
        self._factors.remove(factor)
        self._apply_bandwidth()

    def _apply_bandwidth(self) -> None:
        bandwidth = self.config.bandwidth * math.prod(self._factors)
        self.network.set_bandwidth(self.link, bandwidth)

    def partition(self, node: str) -> None:
        """Cut ``node`` off from the registry: its connections stall, new ones time out."""
        opened, healed = self._cut.get(node, (0, self.env.event()))
        self._cut[node] = (opened + 1, healed)
        if opened:
            return
        for xfer, (who, broken) in list(self._active.items()):
            if who == node:
                self.network.cancel(xfer)
                del self._active[xfer]
                broken.succeed("partition")

    def heal(self, node: str) -> None:
        """One partition of ``node`` ends; stalled connections resume once none is left."""
        cut = self._cut.get(node)
        if cut is None:
            return
        opened, healed = cut
        if opened > 1:
            self._cut[node] = (opened - 1, healed)
            return
        del self._cut[node]
        healed.succeed()

    def partitioned(self, node: str) -> bool:
        """Whether ``node`` is cut off from the registry now."""
        return node in self._cut

    def _connect(self, node: NodeLike) -> Generator[simpy.Event, Any, str | None]:
        """Open a connection: at once, or — cut off — when healed, or fail at the timeout."""
        cut = self._cut.get(node.name)
        if cut is None:
            return None
        timer = self.env.timeout(DIAL_TIMEOUT_S)
        yield cut[1] | timer
        return None if cut[1].triggered else "dial tcp: i/o timeout"

    def _allow(self, node: NodeLike) -> bool:
        limit = self.config.rate_limit
        if not limit.enabled:
            return True
        key = node.name if limit.per == "node" else ""
        stamps = self._window.setdefault(key, deque())
        now = self.env.now
        while stamps and stamps[0] <= now - limit.window:
            stamps.popleft()
        if len(stamps) >= limit.pulls:
            return False
        stamps.append(now)
        return True

    def _outages(self) -> Generator[simpy.Event, Any, None]:
        for start, end in _merged(self.config.outages):
            if start > self.env.now:
                yield self.env.timeout(start - self.env.now)
            self.begin_outage()
            yield self.env.timeout(end - self.env.now)
            self.end_outage()


def _merged(outages: list[Outage]) -> list[tuple[float, float]]:
    spans: list[tuple[float, float]] = []
    for o in sorted(outages, key=lambda o: o.start):
        if spans and o.start <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], o.end))
        else:
            spans.append((o.start, o.end))
    return spans


class RegistryOnly:
    """Every manifest and blob comes from one place: the registry, or a mirror in front of it
    (containerd's ``hosts.toml`` mirror, dockerd's ``registry-mirrors``)."""

    def __init__(self, registry: LayerSource) -> None:
        self.registry = registry

    def manifest_source(self, node: NodeLike, image: Image) -> LayerSource:
        return self.registry

    def blob_source(self, node: NodeLike, layer: Layer, download: Download) -> LayerSource:
        return self.registry


@dataclass(eq=False)
class _Endpoint:
    """A client of the registry that is not a node (the mirror: its own name and IP)."""

    name: str
    images: set[str] = field(default_factory=set)
    pods: set[int] = field(default_factory=set)
    t_launched: float = 0.0


class Mirror:
    """A pull-through mirror (see ``MirrorConfig``): one upstream fetch per blob, many serves.

    Links: ``mirror`` (its egress to nodes) and ``mirror:ingress`` (from the
    registry), each of the configured bandwidth. Its store is unbounded (a
    registry's disk). Counters: ``container_mirror_manifest_fetches`` and
    ``container_mirror_blob_fetches`` (upstream ``GET``s started).
    """

    name = "mirror"

    def __init__(
        self,
        env: simpy.Environment,
        network: Network,
        config: MirrorConfig,
        upstream: Registry,
        counters: dict[str, int] | None = None,
        link: str = "mirror",
    ) -> None:
        self.env = env
        self.network = network
        self.config = config
        self.upstream = upstream
        self.link = link
        self.ingress = f"{link}:ingress"
        network.add_link(self.link, config.bandwidth)
        network.add_link(self.ingress, config.bandwidth)
        self.endpoint = _Endpoint(link)
        self.counters = counters if counters is not None else {}
        for key in ("container_mirror_manifest_fetches", "container_mirror_blob_fetches"):
            self.counters.setdefault(key, 0)
        self.manifests: set[str] = set()  # image refs resolved once
        self.blobs: set[str] = set()  # digests stored
        self.bytes_served = 0.0
        self._resolving: dict[str, simpy.Event] = {}
        self._filling: dict[str, simpy.Event] = {}
        self._partial: dict[str, float] = {}  # bytes kept from a broken upstream fetch

    def manifest(
        self, node: NodeLike, image: Image, counted: bool
    ) -> Generator[simpy.Event, Any, str | None]:
        """Answer from the cache (a tag re-checked upstream with a ``HEAD``) or fetch it once."""
        if self.config.rtt > 0:
            yield self.env.timeout(self.config.rtt)
        ref = image.ref
        if ref in self.manifests:
            if split_ref(ref)[2] is None:  # a tag may have moved: HEAD; down → cached copy
                yield from self.upstream.manifest(self.endpoint, image, False)
            return None
        ev = self._resolving.get(ref)
        if ev is None:
            ev = self._resolving[ref] = self.env.event()
            self.env.process(self._resolve(image, ev))
        error: str | None = ev.value if ev.triggered else (yield ev)
        return error

    def blob(
        self, node: NodeLike, ingress: str, layer: Layer, size: float
    ) -> Generator[simpy.Event, Any, BlobResult]:
        """A round trip; the blob from upstream first if missing (joined); then to the node."""
        if self.config.rtt > 0:
            yield self.env.timeout(self.config.rtt)
        d = layer.digest
        if d not in self.blobs:
            ev = self._filling.get(d)
            if ev is None:
                ev = self._filling[d] = self.env.event()
                self.env.process(self._fill(layer, ev))
            error = ev.value if ev.triggered else (yield ev)
            if error is not None:
                return f"mirror: {error}", 0.0
        xfer = self.network.transfer(size, [self.link, ingress], tag=f"{node.name}:{d}")
        if not xfer.done.triggered:
            yield xfer.done
        self.bytes_served += size
        return None, size

    def _resolve(self, image: Image, ev: simpy.Event) -> Generator[simpy.Event, Any, None]:
        self.counters["container_mirror_manifest_fetches"] += 1
        error = yield from self.upstream.manifest(self.endpoint, image, True)
        if error is None:
            self.manifests.add(image.ref)
        del self._resolving[image.ref]
        ev.succeed(error)

    def _fill(self, layer: Layer, ev: simpy.Event) -> Generator[simpy.Event, Any, None]:
        self.counters["container_mirror_blob_fetches"] += 1
        d = layer.digest
        have = self._partial.pop(d, 0.0)
        error, moved = yield from self.upstream.blob(
            self.endpoint, self.ingress, layer, layer.size - have
        )
        if error is None:
            self.blobs.add(d)
        else:
            self._partial[d] = have + moved  # resumed by the next fetch (a range request)
        del self._filling[d]
        ev.succeed(error)


class PeerToPeer:
    """Peer-to-peer layer distribution (Kraken, Dragonfly): a peer if one can serve, else
    ``fallback`` (the registry or the mirror, which then seeds the swarm).

    At each download attempt the node takes, among the other nodes with a free
    upload slot (fewer than ``connections`` uploads of that layer in flight,
    Kraken's ``max_open_conn`` per torrent):

    1. a node holding the whole layer, the one that got it first; else
    2. (whole-layer downloads only) a node still downloading the layer, the one
       that started first: bytes relay through it as they arrive — Kraken and
       Dragonfly trade pieces while downloading. A relayed download ends no
       earlier than the download it relays from, and fails if that one fails;
       a node never relays, even indirectly, from a download that relays from it;
    3. else ``fallback``.

    A peer's bytes cross its upload link (``<node>:upload``, ``upload`` per
    node, shared by all its uploads) and the receiver's ingress. Relays form a
    tree of fan-out ``connections`` rooted at the one registry (or mirror)
    download per layer. Simplifications: pieces are not modelled (a relay runs
    at its own max-min rate, waiting at the end for its parent), peers are
    chosen deterministically (Kraken's tracker hands out random peers), and
    manifests come from ``fallback``.
    """

    def __init__(
        self, puller: LayerPuller, fallback: SourcePolicy, config: PeerToPeerConfig
    ) -> None:
        self.puller = puller
        self.fallback = fallback
        self.config = config
        self.uploads: Counter[tuple[str, str]] = Counter()  # (node, digest) → uploads now

    def manifest_source(self, node: NodeLike, image: Image) -> LayerSource:
        return self.fallback.manifest_source(node, image)

    def blob_source(self, node: NodeLike, layer: Layer, download: Download) -> LayerSource:
        found = self.puller.find_peer(node, download, self.config.connections, self.uploads)
        if found is None:
            download.parent = None
            return self.fallback.blob_source(node, layer, download)
        peer, parent = found
        download.parent = parent
        return _PeerUpload(self, peer, parent)


class _PeerUpload:
    """One peer serving one download attempt (``source`` = ``peer``)."""

    name = "peer"

    def __init__(self, p2p: PeerToPeer, peer: NodeLike, parent: Download | None) -> None:
        self.p2p = p2p
        self.peer = peer
        self.parent = parent

    def manifest(
        self, node: NodeLike, image: Image, counted: bool
    ) -> Generator[simpy.Event, Any, str | None]:
        source = self.p2p.fallback.manifest_source(node, image)
        error = yield from source.manifest(node, image, counted)
        return error

    def blob(
        self, node: NodeLike, ingress: str, layer: Layer, size: float
    ) -> Generator[simpy.Event, Any, BlobResult]:
        p2p = self.p2p
        key = (self.peer.name, layer.digest)
        p2p.uploads[key] += 1  # taken now: picks at this same instant see it
        try:
            if p2p.config.rtt > 0:
                yield p2p.puller.env.timeout(p2p.config.rtt)
            path = [p2p.puller.upload_link(self.peer), ingress]
            xfer = p2p.puller.network.transfer(size, path, tag=f"{node.name}:{layer.digest}")
            if not xfer.done.triggered:
                yield xfer.done
        finally:
            p2p.uploads[key] -= 1
            if p2p.uploads[key] <= 0:
                del p2p.uploads[key]
        parent = self.parent
        if parent is not None:
            if not parent.done.triggered:
                yield parent.done
            if parent.error is not None:
                return f"peer lost the layer ({parent.error})", 0.0
        return None, size


# -- the node cache and pulls -----------------------------------------------------------------


@dataclass
class _ImageRecord:
    ref: str
    digests: tuple[str, ...]
    first_detected: float
    last_used: float


@dataclass(eq=False)
class _Row:
    """What one pull did about one layer (a row of ``pulls.csv``)."""

    index: int
    layer: Layer
    cache_hit: bool
    joined: bool = False
    download: Download | None = None
    extract_start: float = math.nan
    extract_end: float = math.nan


@dataclass(eq=False)
class _Pull:
    id: int
    node: NodeLike
    image: Image
    requested: float
    done: simpy.Event
    rows: list[_Row] = field(default_factory=list)
    finished: bool = False
    lazy: bool = False


class _NodeState:
    """One node's layer cache, downloads in flight, kubelet pull slots and rate bucket."""

    def __init__(self, env: simpy.Environment, node: NodeLike, settings: ImageSettings) -> None:
        self.node = node
        self.slots = simpy.Resource(env, capacity=settings.max_parallel_image_pulls)
        self.tokens = float(settings.registry_burst)
        self.t_tokens = env.now
        self.disk: dict[str, int] = {}  # digest → uncompressed bytes (extracted or extracting)
        self.used = 0
        self.extracting: dict[str, tuple[float, simpy.Event]] = {}  # digest → (start, done)
        self.blobs: set[str] = set()  # downloaded, not yet extracted
        self.partial: dict[str, float] = {}  # digest → bytes kept from a failed download
        self.downloads: dict[str, Download] = {}
        self.fetched: dict[str, Download] = {}  # the last finished download per digest
        self.got: dict[str, float] = {}  # digest → when the whole layer was on the node
        self.lazy: dict[str, float] = {}  # startup share in: digest → bytes fetched so far
        self.background: dict[str, Download] = {}  # lazy pulling: the rest, in flight
        self.images: dict[str, _ImageRecord] = {}
        self.pins: Counter[str] = Counter()
        self.arrivals: dict[str, simpy.Event] = {}
        self.gc_running = False


class LayerPuller:
    """The layer-level ``ImageProvider``: kubelet + containerd pulls onto node caches.

    ``ensure(image, node)`` (a SimPy sub-process) returns once ``image`` is on
    ``node``, following the pull policy, pulling, backing off and retrying
    as the module docstring describes. ``sources`` picks where manifests and
    blobs come from; by default it follows the settings: the registry
    (``RegistryOnly``), through a ``Mirror`` with ``registry.mirror``, and
    ``PeerToPeer`` in front of either with ``p2p``. ``in_use(node)`` names the
    images that containers on the node use (protected from GC).

    With ``lazy_pull`` a pull fetches only ``fraction`` of each missing layer
    (``part`` ``startup`` in ``pulls.csv``; the layer is mounted, not
    extracted: no decompression wait, its disk space reserved at once) and
    returns — the container may start; the rest of each layer follows in the
    background (a ``background`` row when it lands; the layer is pinned
    meanwhile and only then can it serve peers).

    Counters (merged into the summary): ``container_image_pulls`` (pulls
    started), ``container_image_pull_failures``, ``container_manifest_requests``
    / ``_gets`` / ``container_toomanyrequests`` (from the registry),
    ``container_err_image_never_pull`` (pods that found no image under
    ``Never``), ``container_layer_download_retries``, ``container_images_gc_deleted``,
    and with a mirror ``container_mirror_manifest_fetches`` / ``_blob_fetches``.
    Metrics besides the pull statistics: ``bytes_from_registry``,
    ``bytes_from_mirror``, ``bytes_from_peers`` (bytes landed on nodes, by
    source) and ``registry_egress_bytes`` (bytes that left the registry, to
    nodes or to the mirror).
    """

    def __init__(
        self,
        env: simpy.Environment,
        network: Network,
        settings: ImageSettings,
        *,
        record: Callable[..., None] | None = None,
        counters: dict[str, int] | None = None,
        metrics: dict[str, float] | None = None,
        in_use: Callable[[NodeLike], set[str]] | None = None,
        sources: SourcePolicy | None = None,
        registry: Registry | None = None,
    ) -> None:
        self.env = env
        self.network = network
        self.settings = settings
        self.catalog = settings.image_catalog()
        self.record: Callable[..., None] = record or _discard
        self.counters: dict[str, int] = counters if counters is not None else {}
        self.metrics: dict[str, float] = metrics if metrics is not None else {}
        self.in_use = in_use or (lambda node: set(node.images) if node.pods else set())
        self.registry = registry or Registry(env, network, settings.registry, self.counters)
        self.mirror: Mirror | None = None
        self.sources: SourcePolicy = sources or self._default_sources()
        for key in (
            "container_image_pulls",
            "container_image_pull_failures",
            "container_err_image_never_pull",
            "container_layer_download_retries",
            "container_images_gc_deleted",
        ):
            self.counters.setdefault(key, 0)
        self._nodes: dict[str, _NodeState] = {}
        self._pull_ids = 0
        self._durations: list[float] = []  # sorted
        self._duration_sum = 0.0
        self._rows = 0
        self._hits = 0
        self._bytes = 0.0
        self._by_source: dict[str, float] = {}
        self._update_metrics()

    def _default_sources(self) -> SourcePolicy:
        base: LayerSource = self.registry
        if self.settings.registry.mirror is not None:
            self.mirror = Mirror(
                self.env, self.network, self.settings.registry.mirror, self.registry, self.counters
            )
            base = self.mirror
        policy: SourcePolicy = RegistryOnly(base)
        if self.settings.p2p is not None:
            policy = PeerToPeer(self, policy, self.settings.p2p)
        return policy

    @property
    def pulls(self) -> int:
        """Pulls started so far."""
        return self._pull_ids

    # -- the ImageProvider call -----------------------------------------------------------

    def ensure(self, image: str, node: NodeLike) -> Generator[simpy.Event, Any, None]:
        """Make ``image`` available on ``node`` (wait, pull, back off and retry as needed)."""
        found = self.catalog.find(image)
        if found is None:
            raise KeyError(f"unknown image {image!r}")
        img = Image(image, found.layers, found.digest, found.source)
        st = self._state(node)
        policy = self.settings.policy_for(image)
        backoff = 0.0
        counted_never = False
        while True:
            if image in st.images and policy != "Always":
                st.images[image].last_used = self.env.now
                return
            if policy == "Never":
                if not counted_never:
                    self.counters["container_err_image_never_pull"] += 1
                    counted_never = True
                arrival = st.arrivals.get(image)
                if arrival is None:
                    arrival = st.arrivals[image] = self.env.event()
                yield arrival
                continue
            pull = self._start_pull(st, img)
            error = yield pull.done
            if error is None:
                record = st.images.get(image)
                if record is not None:
                    record.last_used = self.env.now
                    return
                # Deleted by GC between the pull and this pod's turn: pull again, no back-off.
                continue
            backoff = (
                PULL_BACKOFF_INITIAL_S if backoff == 0.0 else min(2 * backoff, PULL_BACKOFF_MAX_S)
            )
            yield self.env.timeout(backoff)

    def holders(self, digest: str) -> list[NodeLike]:
        """Nodes holding the whole of ``digest`` (extracted or as a downloaded blob)."""
        return [st.node for st in self._nodes.values() if _holds(st, digest)]

    def find_peer(
        self,
        node: NodeLike,
        download: Download,
        connections: int,
        uploads: Mapping[tuple[str, str], int],
    ) -> tuple[NodeLike, Download | None] | None:
        """The peer ``download`` should come from (and the download it relays, if any).

        Among the other nodes with fewer than ``connections`` uploads of the
        layer: the holder that got it first, else (whole-layer downloads only)
        the in-flight whole download that started first and does not relay
        from ``download``; None if neither exists. Ties: the node seen first.
        """
        digest = download.layer.digest
        relay = download.part == "whole"
        best: tuple[NodeLike, Download | None] | None = None
        best_key = (2, 0.0)
        for st in self._nodes.values():
            other = st.node
            if other is node or uploads.get((other.name, digest), 0) >= connections:
                continue
            if _holds(st, digest):
                key, parent = (0, st.got.get(digest, -math.inf)), None
            elif relay:
                job = st.downloads.get(digest)
                if job is None or job.part != "whole" or _relays_from(job, download):
                    continue
                key, parent = (1, job.start), job
            else:
                continue
            if key < best_key:
                best_key, best = key, (other, parent)
        return best

    def forget(self, node: NodeLike) -> None:
        """``node`` left the cluster: its cache goes with it (it serves no more peers)."""
        st = self._nodes.get(node.name)
        if st is not None and st.node is node:
            del self._nodes[node.name]

    def upload_link(self, node: NodeLike) -> str:
        """The name of ``node``'s upload link (peer-to-peer), declared on first use."""
        name = f"{node.name}:upload"
        p2p = self.settings.p2p
        self.network.add_link(name, p2p.upload if p2p is not None else P2P_UPLOAD)
        return name

    def disk_used(self, node: NodeLike) -> int:
        """Bytes of layers on ``node``'s disk (uncompressed)."""
        return self._state(node).used

    def layers_on(self, node: NodeLike) -> set[str]:
        """Digests extracted or extracting on ``node``."""
        return set(self._state(node).disk)

    # -- node state -----------------------------------------------------------------------

    def _state(self, node: NodeLike) -> _NodeState:
        st = self._nodes.get(node.name)
        if st is None or st.node is not node:
            st = self._nodes[node.name] = _NodeState(self.env, node, self.settings)
        if len(node.images) != len(st.images) or not node.images.issubset(st.images):
            self._import_preloaded(st)
        return st

    def _import_preloaded(self, st: _NodeState) -> None:
        """Images put on the node outside a pull (a node image, pods running at t = 0)."""
        now = self.env.now
        for ref in sorted(st.node.images - set(st.images)):
            image = self.catalog.find(ref)
            layers = image.layers if image is not None else ()
            for layer in layers:
                if layer.digest not in st.disk:
                    st.disk[layer.digest] = layer.uncompressed
                    st.used += layer.uncompressed
                    st.got[layer.digest] = now
            st.images[ref] = _ImageRecord(
                ref, tuple(x.digest for x in layers), min(now, st.node.t_launched), now
            )

    def _ingress(self, node: NodeLike) -> str:
        name = f"{node.name}:ingress"
        self.network.add_link(name, self.settings.node_bandwidth)
        return name

    def _take_token(self, st: _NodeState) -> bool:
        """kubelet's registryPullQPS token bucket (0 = unlimited)."""
        qps = self.settings.registry_pull_qps
        if qps <= 0:
            return True
        now = self.env.now
        st.tokens = min(float(self.settings.registry_burst), st.tokens + (now - st.t_tokens) * qps)
        st.t_tokens = now
        if st.tokens >= 1.0:
            st.tokens -= 1.0
            return True
        return False

    # -- a pull ---------------------------------------------------------------------------

    def _start_pull(self, st: _NodeState, image: Image) -> _Pull:
        pull = _Pull(self._pull_ids, st.node, image, self.env.now, self.env.event())
        pull.lazy = self.settings.lazy_pull is not None
        self._pull_ids += 1
        self.counters["container_image_pulls"] += 1
        self.env.process(self._run_pull(st, pull))
        return pull

    def _run_pull(self, st: _NodeState, pull: _Pull) -> Generator[simpy.Event, Any, None]:
        slot = st.slots.request()
        yield slot
        error: str | None
        try:
            if not self._take_token(st):
                error = "pull QPS exceeded"
            else:
                counted = pull.image.ref not in st.images  # GET if absent, else HEAD
                source = self.sources.manifest_source(st.node, pull.image)
                error = yield from source.manifest(st.node, pull.image, counted)
            if error is None:
                error = yield from self._fetch_layers(st, pull)
        finally:
            st.slots.release(slot)
        now = self.env.now
        if error is None:
            self._register(st, pull.image)
            if pull.lazy:
                self._fetch_the_rest(st, pull)
            duration = now - pull.requested
            bisect.insort(self._durations, duration)
            self._duration_sum += duration
        else:
            self.counters["container_image_pull_failures"] += 1
        self._write_rows(pull, error)
        self._update_metrics()
        pull.done.succeed(error)
        if error is None:
            self._after_pull(st)

    def _fetch_layers(self, st: _NodeState, pull: _Pull) -> Generator[simpy.Event, Any, str | None]:
        env = self.env
        image = pull.image
        for layer in image.layers:
            st.pins[layer.digest] += 1
        own: list[Download] = []
        closing = False  # the run ended with the pull in flight: the generator is closed
        try:
            ready: list[simpy.Event] = []
            wanted: list[tuple[_Row, simpy.Event]] = []
            for i, layer in enumerate(image.layers):
                d = layer.digest
                row = _Row(i, layer, cache_hit=_present(st, d))
                pull.rows.append(row)
                if row.cache_hit:
                    ev = env.event().succeed(None)
                elif d in st.downloads:
                    row.joined = True
                    row.download = st.downloads[d]
                    ev = row.download.done
                else:
                    ev = env.event()
                    wanted.append((row, ev))
                ready.append(ev)
            if wanted:
                env.process(self._dispatch(st, pull, wanted, own))
            for row, ev in zip(pull.rows, ready, strict=True):
                error = ev.value if ev.triggered else (yield ev)
                if error is not None:
                    return str(error)
                if pull.lazy:
                    error = self._mount(st, row)
                else:
                    error = yield from self._extract(st, row)
                if error is not None:
                    return error
            return None
        except GeneratorExit:
            closing = True
            raise
        finally:
            pull.finished = True  # stops the dispatcher starting more downloads
            for layer in image.layers:
                _unpin(st, layer.digest)
            unsettled = [j.done for j in own if not j.done.triggered]
            if unsettled and not closing:
                yield simpy.AllOf(env, unsettled)

    def _dispatch(
        self,
        st: _NodeState,
        pull: _Pull,
        wanted: list[tuple[_Row, simpy.Event]],
        own: list[Download],
    ) -> Generator[simpy.Event, Any, None]:
        """Start this pull's downloads in layer order, at most ``max_concurrent_downloads``."""
        limit = self.settings.max_concurrent_downloads
        running: list[Download] = []
        for row, ready in wanted:
            d = row.layer.digest
            while True:
                if pull.finished:
                    return
                if _present(st, d):  # another pull brought it meanwhile
                    row.joined = True
                    row.download = st.fetched.get(d)
                    ready.succeed(None)
                    break
                job = st.downloads.get(d)
                if job is not None:
                    row.joined = True
                    row.download = job
                    _chain(job.done, ready)
                    break
                running = [j for j in running if not j.done.triggered]
                if len(running) < limit:
                    job = self._start_download(st, row.layer, pull.id)
                    running.append(job)
                    own.append(job)
                    row.download = job
                    _chain(job.done, ready)
                    break
                yield simpy.AnyOf(self.env, [j.done for j in running])

    def _start_download(self, st: _NodeState, layer: Layer, owner: int) -> Download:
        now = self.env.now
        lazy = self.settings.lazy_pull
        if lazy is None:
            job = Download(layer, st.node.name, owner, now, self.env.event(), layer.size)
            job.offset = st.partial.pop(layer.digest, 0.0)
        else:  # whole bytes: a range request cannot ask for a fraction of a byte
            startup = min(layer.size, math.ceil(layer.size * lazy.fraction))
            job = Download(layer, st.node.name, owner, now, self.env.event(), startup, "startup")
        st.downloads[layer.digest] = job
        self.env.process(self._download(st, job))
        return job

    def _download(self, st: _NodeState, job: Download) -> Generator[simpy.Event, Any, None]:
        node, layer = st.node, job.layer
        ingress = self._ingress(node)
        attempt = 0
        error: str | None = None
        while True:
            attempt += 1
            source = self.sources.blob_source(node, layer, job)
            job.source = source.name
            left = job.size - job.offset - job.bytes
            error, moved = yield from source.blob(node, ingress, layer, left)
            job.bytes += moved
            self._bytes += moved
            self._by_source[source.name] = self._by_source.get(source.name, 0.0) + moved
            if error is None or attempt >= self.settings.download_attempts:
                break
            self.counters["container_layer_download_retries"] += 1
            yield self.env.timeout(RETRY_DELAY_S * attempt)
        now = self.env.now
        d = layer.digest
        job.end = now
        job.error = error
        job.parent = None
        if job.part == "background":
            del st.background[d]
            _unpin(st, d)
            if error is None and d in st.lazy:
                del st.lazy[d]
                st.got[d] = now
        else:
            del st.downloads[d]
            st.fetched[d] = job
            if job.part == "whole":
                if error is None:
                    st.blobs.add(d)
                    st.got[d] = now
                else:
                    st.partial[d] = job.offset + job.bytes  # containerd keeps the ingest
            elif error is None:  # a startup share: ready to mount
                st.lazy[d] = job.offset + job.bytes
        self._update_metrics()
        job.done.succeed(error)

    def _mount(self, st: _NodeState, row: _Row) -> str | None:
        """Lazy pulling: the layer is mounted remotely once its startup share landed."""
        d = row.layer.digest
        if d in st.disk:
            return None
        if not self._reserve(st, d, row.layer.uncompressed):
            return "no space left on device"
        if d in st.blobs:  # a whole blob fetched earlier: nothing left to fetch
            st.blobs.discard(d)
            return None
        st.lazy.setdefault(d, 0.0)
        return None

    def _fetch_the_rest(self, st: _NodeState, pull: _Pull) -> None:
        """After a lazy pull: fetch the rest of its lazily mounted layers in the background."""
        for row in pull.rows:
            d = row.layer.digest
            if d not in st.lazy or d not in st.disk or d in st.background:
                continue
            rest = row.layer.size - st.lazy[d]
            if rest <= 0:
                del st.lazy[d]
                st.got[d] = self.env.now
                continue
            job = Download(
                row.layer, st.node.name, pull.id, self.env.now, self.env.event(), rest, "background"
            )
            st.background[d] = job
            st.pins[d] += 1  # the running container reads it: not collectable meanwhile
            self.env.process(self._background(st, pull, row.index, job))

    def _background(
        self, st: _NodeState, pull: _Pull, index: int, job: Download
    ) -> Generator[simpy.Event, Any, None]:
        yield from self._download(st, job)
        self.record(
            "pulls",
            pull=pull.id,
            node=pull.node.name,
            image=pull.image.ref,
            layer=job.layer.digest,
            index=index,
            bytes=job.bytes,
            cache_hit=False,
            joined=False,
            download_start_s=job.start,
            download_end_s=job.end,
            extract_start_s=math.nan,
            extract_end_s=math.nan,
            source=job.source,
            error=job.error or "",
            part="background",
        )

    def _extract(self, st: _NodeState, row: _Row) -> Generator[simpy.Event, Any, str | None]:
        d = row.layer.digest
        shared = st.extracting.get(d)
        if shared is not None:  # another pull is unpacking it: wait for that
            row.extract_start = shared[0]
            yield shared[1]
            row.extract_end = self.env.now
            return None
        if d in st.disk:
            return None  # already extracted
        need = row.layer.uncompressed
        if not self._reserve(st, d, need):
            return "no space left on device"
        start = self.env.now
        done = self.env.event()
        st.extracting[d] = (start, done)
        row.extract_start = start
        yield self.env.timeout(need / self.settings.decompress)
        del st.extracting[d]
        st.blobs.discard(d)
        row.extract_end = self.env.now
        done.succeed()
        return None

    def _register(self, st: _NodeState, image: Image) -> None:
        now = self.env.now
        record = st.images.get(image.ref)
        if record is None:
            st.images[image.ref] = _ImageRecord(
                image.ref, tuple(x.digest for x in image.layers), now, now
            )
            st.node.images.add(image.ref)
        else:
            record.last_used = now
        arrival = st.arrivals.pop(image.ref, None)
        if arrival is not None:
            arrival.succeed()

    # -- disk and garbage collection ------------------------------------------------------

    def _reserve(self, st: _NodeState, digest: str, need: int) -> bool:
        cap = self.settings.node_disk
        if st.used + need > cap:
            self._gc(st, need)
        if st.used + need > cap:
            return False
        st.disk[digest] = need
        st.used += need
        return True

    def _after_pull(self, st: _NodeState) -> None:
        gc = self.settings.image_gc
        if st.used < gc.high * self.settings.node_disk:
            return
        if gc.period <= 0:
            self._gc(st)
        elif not st.gc_running:
            st.gc_running = True
            self.env.process(self._gc_loop(st))

    def _gc_loop(self, st: _NodeState) -> Generator[simpy.Event, Any, None]:
        """The kubelet's image GC ticks every ``period`` from the node's launch."""
        gc = self.settings.image_gc
        t0 = st.node.t_launched
        high = gc.high * self.settings.node_disk
        while st.used >= high:
            now = self.env.now
            k = math.floor((now - t0) / gc.period + 1e-9) + 1
            yield self.env.timeout(t0 + k * gc.period - now)
            if st.used >= high:
                self._gc(st)
        st.gc_running = False

    def _gc(self, st: _NodeState, need: int = 0) -> None:
        """Free down to the low threshold (and ``need`` bytes), kubelet's ``freeSpace``."""
        cap = self.settings.node_disk
        gc = self.settings.image_gc
        amount = st.used - gc.low * cap
        if need:
            amount = max(amount, st.used + need - cap)
        if amount <= 0:
            return
        now = self.env.now
        in_use = self.in_use(st.node)
        for ref in in_use:
            if ref in st.images:
                st.images[ref].last_used = now
        before = st.used
        self._free_unreferenced(st)
        candidates = sorted(
            (r for r in st.images.values() if r.ref not in in_use),
            key=lambda r: (r.last_used, r.first_detected, r.ref),
        )
        for record in candidates:
            if before - st.used >= amount:
                break
            # kubelet freeSpace: skip images used at this very instant (just pulled, or in
            # use: detection stamped them now) and images first seen less than min_age ago.
            if record.last_used >= now or now - record.first_detected < gc.min_age:
                continue
            del st.images[record.ref]
            st.node.images.discard(record.ref)
            self.counters["container_images_gc_deleted"] += 1
            self._free_unreferenced(st)

    def _free_unreferenced(self, st: _NodeState) -> None:
        keep: set[str] = set(st.pins)
        for record in st.images.values():
            keep.update(record.digests)
        for digest in [d for d in st.disk if d not in keep and d not in st.extracting]:
            st.used -= st.disk.pop(digest)
            st.got.pop(digest, None)
            st.lazy.pop(digest, None)

    # -- outputs --------------------------------------------------------------------------

    def _write_rows(self, pull: _Pull, error: str | None) -> None:
        for row in pull.rows:
            job = row.download
            own = job is not None and not row.joined and job.owner == pull.id
            self._rows += 1
            self._hits += row.cache_hit
            self.record(
                "pulls",
                pull=pull.id,
                requested_s=pull.requested,
                node=pull.node.name,
                image=pull.image.ref,
                layer=row.layer.digest,
                index=row.index,
                bytes=job.bytes if own and job is not None else 0.0,
                cache_hit=row.cache_hit,
                joined=row.joined,
                download_start_s=job.start if job is not None else math.nan,
                download_end_s=job.end if job is not None else math.nan,
                extract_start_s=row.extract_start,
                extract_end_s=row.extract_end,
                source=job.source if job is not None else "cache",
                error=error or "",
                part="startup" if pull.lazy else "whole",
            )

    def _update_metrics(self) -> None:
        m = self.metrics
        m["bytes_pulled"] = self._bytes
        m["layer_cache_hit_ratio"] = self._hits / self._rows if self._rows else math.nan
        n = len(self._durations)
        m["mean_pull_s"] = self._duration_sum / n if n else math.nan
        m["p95_pull_s"] = _percentile(self._durations, 0.95) if n else math.nan
        m["bytes_from_registry"] = self._by_source.get("registry", 0.0)
        m["bytes_from_mirror"] = self._by_source.get("mirror", 0.0)
        m["bytes_from_peers"] = self._by_source.get("peer", 0.0)
        m["registry_egress_bytes"] = self.registry.bytes_served


def _present(st: _NodeState, digest: str) -> bool:
    """Whether a pull on the node needs no download for the layer (a cache hit)."""
    return digest in st.disk or digest in st.blobs or digest in st.lazy


def _holds(st: _NodeState, digest: str) -> bool:
    """Whether the node has the whole layer (extracted, or downloaded and not yet extracted)."""
    return (
        digest in st.disk and digest not in st.extracting and digest not in st.lazy
    ) or digest in st.blobs


def _relays_from(job: Download, download: Download) -> bool:
    """Whether ``job`` gets its bytes, directly or through other relays, from ``download``."""
    p: Download | None = job
    while p is not None:
        if p is download:
            return True
        p = p.parent
    return False


def _unpin(st: _NodeState, digest: str) -> None:
    st.pins[digest] -= 1
    if st.pins[digest] <= 0:
        del st.pins[digest]


def _discard(table: str, **row: Any) -> None:
    """A ``record`` that keeps nothing (a puller used outside a run)."""


def _chain(source: simpy.Event, target: simpy.Event) -> None:
    """Trigger ``target`` with ``source``'s value once it fires."""
    if source.triggered:
        target.succeed(source.value)
        return

    def forward(ev: simpy.Event) -> None:
        target.succeed(ev.value)

    assert source.callbacks is not None
    source.callbacks.append(forward)


def _percentile(ordered: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    pos = (len(ordered) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)
