"""``container`` (Kubernetes-like): pods bin-packed onto cloud nodes, image, probes, cgroups.

The serving instances are **pods**; they run on **nodes**, cloud instances of one
type (``node_type``, from ``models.cloud``'s catalog) billed like cloud VMs (per
second, 60 s minimum) whether pods use them or not. Pods add no cost.

A pod's life, each step recorded as a span in ``provisioning.csv`` (instance =
the pod's name; restarts of the same pod keep its name):

1. ``schedule`` — kube-scheduler binds the pod to a node with room for its
   requests (filter: NodeResourcesFit; score: ``least_allocated`` by default,
   or ``most_allocated``; a strategy object, see ``Scheduler``). With no room
   the pod stays **Pending** (``waited_s`` of the span) until capacity appears;
   meanwhile the node scaler (a strategy object, ``NodeScaler``; built in: add
   nodes while pods are pending, up to ``max_nodes``) launches nodes through the
   cloud launch pipeline (``models.cloud.cloud_stages(baked_image=True)``: the
   rate-limited API call, pending, boot; its ``app_start`` is replaced by a
   kubelet ``node_join`` stage) — each new node with a cold image cache. The
   cluster autoscaler proper arrives with its own issue and replaces that
   strategy; nodes are never removed until then (``remove_node`` is its hook).
2. ``image_pull`` — the image must be on the node: ``ImageProvider.ensure(image,
   node)``. By default the layer-level model of ``models.images``
   (``LayerPuller``): the registry, layer downloads and extraction, the node's
   layer cache with image GC, the pull policy and back-off; its keys
   (``images``, ``pull_policy``, ``registry``, ``node_disk``, ...) are
   ``models.images.ImageSettings``. Setting ``image_pull`` to a duration
   replaces it with ``FixedPullProvider``: a fixed time per node without the
   image, joined by every pod asking meanwhile. ``extra_images`` adds more
   containers to each pod (a multi-container pod, or a ``docker compose``
   project on one host): every image is ensured, all asked at once (the
   node's ``max_parallel_image_pulls`` decides how many pull together), before
   the pod's containers are created. ``node_images`` are on every node from
   the start (baked into the node image, or left by an earlier run: a warm host).
3. ``create`` → ``start`` (the container runs) → ``app_start`` (the app listens);
   these are the pod pipeline, overridable with ``stages`` like any pipeline.
4. ``readiness`` — the kubelet probes ``initial_delay`` after the container
   started, then every ``period``; the pod becomes Ready (joins the balancer)
   at the first probe at or after the app is up.

A step unfinished at the horizon is recorded with no end; a pod deleted by a
scale-in records its current step as ``<step> (cancelled)``. Scale-in deletes
Pending and starting pods first (newest first), then drains ready ones.
Counters in the summary: ``container_pods_unschedulable`` (pods that went
Pending), ``container_nodes_added``, ``container_oom_kills``.

Containers carry requests and limits, enforced as cgroups enforce them:

* **CPU limit → CFS quota.** The kubelet turns ``limits.cpu`` into a CFS
  bandwidth quota of ``limit × cfs_period`` (100 ms) per period (Kubernetes
  docs, "Resource Management for Pods and Containers"; Linux
  ``Documentation/scheduler/sched-bwc.rst``): the container's threads together
  get at most ``limit`` cores. A pod's ``workers`` each want one core when
  busy, so with ``workers > limit_cpu`` the pod's speed factor is
  ``limit_cpu / workers`` (all workers busy: the saturated case that matters
  under load; fewer busy workers would be throttled less). CPU beyond the
  request but under the limit is assumed free on the node (node CPU contention
  is not modelled).
* **Memory limit → OOM kill.** A container whose working set exceeds
  ``limits.memory`` is killed by the kernel OOM killer and restarted by the
  kubelet with CrashLoopBackOff: 10 s, 20 s, 40 s … capped at 300 s, reset once
  a container ran 10 minutes (Kubernetes docs, "Pod Lifecycle", container
  restarts; KEP-4603 summary), each delay counted from the kill. (The kubelet's
  own bookkeeping counts from the previous restart and may restart a first
  crash at once; we follow the documented curve.) The working set is reached
  ``working_set_after`` seconds after the app is up (0: at once, so the pod
  never becomes ready).
  While restarting, the pod is not ready. The kill loses the requests queued
  on and in service in the container (counted ``dropped_failed``); the
  restarted container is a fresh serving instance with the pod's name.

Defaults are cited in the catalog ``deploysim list`` shows (family
``container``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal, InvalidOperation
from typing import Annotated, Any, ClassVar, Literal, Protocol

import simpy
from pydantic import (
    BeforeValidator,
    Field,
    PlainSerializer,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from models.cloud import (
    API_RATE,
    APP_START_S,
    INSTANCE_TYPES,
    MIN_BILLED_S,
    InstanceType,
    cloud_stages,
)
from models.images import ImageSettings, LayerPuller
from simulator.base import Config, field_error
from simulator.pipeline import (
    Stage,
    StageOverride,
    StageSpec,
    fixed_duration,
    resolve_stages,
    run_stages,
)
from simulator.platform import ProvisioningSpan, RunContext, SpanLog
from simulator.provisioned import ProvisionedConfig, ProvisionedPlatform
from simulator.registry import PLATFORMS, cite
from simulator.serving import Instance, State
from simulator.units import Duration

__all__ = [
    "parse_quantity",
    "cpu_millicores",
    "memory_bytes",
    "allocatable",
    "Node",
    "Scheduler",
    "LeastAllocated",
    "MostAllocated",
    "SCHEDULERS",
    "PendingPods",
    "NodeScaler",
    "PendingPodsScaler",
    "NoNodeScaler",
    "NODE_SCALERS",
    "ImageProvider",
    "FixedPullProvider",
    "PodSpec",
    "Probe",
    "ContainerConfig",
    "ContainerPlatform",
]

_FAMILY = "container"

# -- Kubernetes resource quantities -----------------------------------------------------------

_QUANTITY = re.compile(
    r"^([+-]?(?:\d+\.?\d*|\.\d+))(Ki|Mi|Gi|Ti|Pi|Ei|[eE][+-]?\d+|m|k|M|G|T|P|E)?$"
)
_SUFFIX = {
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
    "m": Decimal("0.001"),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18,
}


# quantity.go keeps a value in an int64 (``Value()`` saturates above it).
_MAX_QUANTITY = Decimal(2**63 - 1)


def parse_quantity(value: Any) -> Decimal:
    """Parse a Kubernetes quantity (``"500m"``, ``"1.5"``, ``"256Mi"``, ``"1e3"``) exactly.

    The grammar of ``k8s.io/apimachinery/pkg/api/resource/quantity.go``: a
    signed decimal number, then a binary-SI suffix (Ki Mi Gi Ti Pi Ei), a
    decimal-SI suffix (m, none, k M G T P E) or a decimal exponent (``e3``).
    A YAML number is taken as is. Negative quantities are refused (requests
    and limits cannot be negative).
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a quantity like '500m', '1' or '256Mi', got {value!r}")
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"expected a finite quantity, got {value!r}")
        # Decimal(int) is exact and, unlike str(), has no 4300-digit limit.
        number = Decimal(value) if isinstance(value, int) else Decimal(str(value))
    elif isinstance(value, str):
        m = _QUANTITY.match(value.strip())
        if not m:
            raise ValueError(
                f"expected a Kubernetes quantity like '500m', '1.5' or '256Mi', got {value!r}"
            )
        try:
            number = Decimal(m.group(1))
        except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
            raise ValueError(f"cannot read the number in {value!r}") from None
        suffix = m.group(2) or ""
        try:
            if suffix[:1] in ("e", "E") and len(suffix) > 1:
                number *= Decimal(10) ** int(suffix[1:])
            elif suffix:
                number *= _SUFFIX[suffix]
        except (ArithmeticError, ValueError):  # decimal.Overflow, a 5000-digit exponent
            raise ValueError(f"quantity out of range: {value[:40]!r}") from None
    else:
        raise ValueError(f"expected a quantity like '500m' or '256Mi', got {type(value).__name__}")
    if number < 0:
        raise ValueError(f"a resource quantity cannot be negative, got {value!r}")
    if number > _MAX_QUANTITY:
        raise ValueError("quantity too large (above 2^63 bytes or cores)")
    return number


def cpu_millicores(value: Any) -> int:
    """CPU as whole millicores; finer values round up, as the API server does (0.1m → 1m)."""
    return int((parse_quantity(value) * 1000).to_integral_value(rounding=ROUND_CEILING))


def memory_bytes(value: Any) -> int:
    """Memory as whole bytes (a bare number is bytes; fractions round up, as ``Value()`` does)."""
    return int(parse_quantity(value).to_integral_value(rounding=ROUND_CEILING))


def _optional(parse: Any) -> Any:
    return lambda v: None if v is None else parse(v)


def _show_cpu(m: int | None) -> str | None:
    return None if m is None else f"{m}m"


_invalid = field_error  # an error at a path below the model being validated


_CPU_SCHEMA = WithJsonSchema(
    {
        "anyOf": [{"type": "string"}, {"type": "number", "minimum": 0}, {"type": "null"}],
        "description": "CPU quantity: cores ('1', 0.5) or millicores ('500m')",
        "examples": ["500m", "1", 2],
    }
)
_MEM_SCHEMA = WithJsonSchema(
    {
        "anyOf": [{"type": "string"}, {"type": "number", "minimum": 0}, {"type": "null"}],
        "description": "memory quantity: bytes, or with a suffix ('256Mi', '1Gi', '500M')",
        "examples": ["256Mi", "2Gi"],
    }
)
# Stored in millicores / bytes; CPU is written back as "<m>m" so a resolved config re-reads.
CpuQuantity = Annotated[
    int | None,
    BeforeValidator(_optional(cpu_millicores)),
    PlainSerializer(_show_cpu, return_type=str | None),
    _CPU_SCHEMA,
]
MemoryQuantity = Annotated[int | None, BeforeValidator(_optional(memory_bytes)), _MEM_SCHEMA]

# -- catalog: defaults with their sources ---------------------------------------------------

_GKE_SIZES = (
    "GKE docs 'Plan GKE Standard node sizes' (node allocatable; also applied by the "
    "amazon-eks-ami bootstrap for CPU)"
)
cite(
    _FAMILY,
    "allocatable CPU reserve",
    None,
    "6% of core 1, 1% of core 2, 0.5% of cores 3–4, 0.25% above",
    _GKE_SIZES,
    "S",
)
cite(
    _FAMILY,
    "allocatable memory reserve",
    None,
    "25% of first 4 GiB, 20% of next 4, 10% of next 8, 6% of next 112, 2% above; "
    "255 MiB below 1 GiB",
    _GKE_SIZES,
    "S",
)
EVICTION_HARD_BYTES = cite(
    _FAMILY,
    "kubelet eviction threshold (memory.available)",
    100 * 2**20,
    "100 MiB",
    "kubelet default evictionHard memory.available<100Mi (kubelet config defaults)",
)
MAX_PODS = cite(
    _FAMILY, "max pods per node", 110, "110", "kubelet config default maxPods (v1beta1 defaults)"
)
NODES = cite(
    _FAMILY,
    "initial nodes",
    3,
    "3",
    "GKE docs 'About node pools': the default node pool has three nodes (per zone)",
)
MAX_NODES = cite(
    _FAMILY,
    "max nodes",
    5000,
    "5000",
    "Kubernetes docs 'Considerations for large clusters': at most 5,000 nodes",
)
POD_CPU_M = cite(
    _FAMILY,
    "pod CPU request",
    500,
    "500m",
    "GKE Autopilot default request, general-purpose class (upstream has no default request)",
)
POD_MEMORY_BYTES = cite(
    _FAMILY,
    "pod memory request",
    2 * 2**30,
    "2 GiB",
    "GKE Autopilot default request, general-purpose class (upstream has no default request)",
)
cite(
    _FAMILY,
    "scheduler scoring",
    None,
    "NodeResourcesFit LeastAllocated: (alloc − req)×100//alloc per resource, CPU and memory "
    "weight 1",
    "kube-scheduler pkg/scheduler/framework/plugins/noderesources/least_allocated.go",
)
cite(
    _FAMILY,
    "CPU limit enforcement",
    None,
    "CFS quota = limit × 100 ms period; speed factor min(1, limit / workers)",
    "Kubernetes docs 'Resource Management for Pods and Containers'; "
    "Linux Documentation/scheduler/sched-bwc.rst",
)
PROBE_DELAY_S = cite(
    _FAMILY,
    "readiness initialDelaySeconds",
    0.0,
    "0 s",
    "Kubernetes docs 'Configure Liveness, Readiness and Startup Probes'",
)
PROBE_PERIOD_S = cite(
    _FAMILY,
    "readiness periodSeconds",
    10.0,
    "10 s",
    "Kubernetes docs 'Configure Liveness, Readiness and Startup Probes'",
)
_BACKOFF_SRC = "Kubernetes docs 'Pod Lifecycle' (container restarts); KEP-4603 summary"
BACKOFF_INITIAL_S = cite(_FAMILY, "CrashLoopBackOff initial", 10.0, "10 s, doubling", _BACKOFF_SRC)
BACKOFF_MAX_S = cite(_FAMILY, "CrashLoopBackOff cap", 300.0, "300 s", _BACKOFF_SRC)
BACKOFF_RESET_S = cite(
    _FAMILY, "CrashLoopBackOff reset", 600.0, "after 10 min running", _BACKOFF_SRC
)
EVICTION_S = cite(
    _FAMILY,
    "pods on a failed node replaced after",
    340.0,
    "340 s (40 s + 300 s)",
    "kube-controller-manager --node-monitor-grace-period 40s, then the DefaultTolerationSeconds "
    "admission plugin's 300 s toleration of node.kubernetes.io/unreachable",
    "S",
)
_START_SRC = (
    "container start with the image present ≈ 0.5–1.2 s (arXiv study summary, CALIBRATION.md); "
    "the even split between create and start is ours"
)
CREATE_S = cite(_FAMILY, "container create", 0.5, "0.5 s", _START_SRC, "S")
START_S = cite(_FAMILY, "container start", 0.5, "0.5 s", _START_SRC, "S")
cite(
    _FAMILY,
    "app start",
    APP_START_S,
    f"{APP_START_S:g} s",
    "placeholder shared with cloud's app_start so both run the same app",
    "U",
)
IMAGE_PULL_S = cite(
    _FAMILY,
    "image pull (fixed stage)",
    5.0,
    "none: the layer model; e.g. 5 s when image_pull is set",
    "placeholder for the fixed-time alternative to the layer-level model (models.images)",
    "U",
)
NODE_JOIN_S = cite(
    _FAMILY,
    "node join (kubelet start, register, CNI, node Ready)",
    20.0,
    "20 s",
    "placeholder; no measured source yet",
    "U",
)

_GIB = 2**30
# GKE memory reservation tiers: (tier size in GiB, fraction reserved).
_MEM_TIERS = ((4, 0.25), (4, 0.20), (8, 0.10), (112, 0.06), (math.inf, 0.02))
# GKE CPU reservation tiers: (tier size in cores, fraction reserved).
_CPU_TIERS = ((1, 0.06), (1, 0.01), (2, 0.005), (math.inf, 0.0025))


def _tiered(total: float, tiers: tuple[tuple[float, float], ...]) -> float:
    reserved, left = 0.0, total
    for size, fraction in tiers:
        take = min(left, size)
        reserved += take * fraction
        left -= take
        if left <= 0:
            break
    return reserved


def allocatable(vcpus: int, memory_gib: float) -> tuple[int, int]:
    """Node allocatable (millicores, bytes) = capacity − system reserve − eviction threshold.

    GKE's published reservations ("Plan GKE Standard node sizes"): CPU 6 % of
    the first core, 1 % of the second, 0.5 % of cores 3–4, 0.25 % above;
    memory 255 MiB below 1 GiB, else 25 % of the first 4 GiB, 20 % of the next
    4, 10 % of the next 8, 6 % of the next 112, 2 % above 128 GiB; plus the
    kubelet's 100 MiB hard-eviction threshold. (EKS's AMI reserves CPU the
    same way and memory as 255 MiB + 11 MiB per pod.)
    """
    cpu_m = vcpus * 1000 - math.ceil(_tiered(vcpus, _CPU_TIERS) * 1000)
    mem = memory_gib * _GIB
    reserved = 255 * 2**20 if memory_gib < 1 else _tiered(memory_gib, _MEM_TIERS) * _GIB
    return cpu_m, math.floor(mem - reserved - EVICTION_HARD_BYTES)


# -- nodes and strategies ---------------------------------------------------------------------


@dataclass(eq=False)
class Node:
    """A cluster node: allocatable resources, what pods requested, the images it holds."""

    name: str
    cpu_m: int
    memory: int
    max_pods: int
    price: float = 0.0
    t_launched: float = 0.0
    ready: bool = False
    cpu_requested: int = 0
    memory_requested: int = 0
    pods: set[int] = field(default_factory=set)
    images: set[str] = field(default_factory=set)

    def fits(self, cpu_m: int, memory: int) -> bool:
        """NodeResourcesFit's filter: the pod's requests fit in what is left, and a pod slot."""
        return (
            self.cpu_requested + cpu_m <= self.cpu_m
            and self.memory_requested + memory <= self.memory
            and len(self.pods) < self.max_pods
        )


class Scheduler(Protocol):
    """Chooses the node for a pod among ready nodes (``None``: no node has room)."""

    def pick(self, nodes: Sequence[Node], cpu_m: int, memory: int) -> Node | None: ...


class _ScoringScheduler:
    """Filter by fit, then the highest score; ties go to the oldest node.

    kube-scheduler breaks ties at random (``selectHost``); the oldest node keeps
    runs reproducible without drawing from a stream. Only NodeResourcesFit is
    scored (the other default score plugins, e.g. ImageLocality and
    PodTopologySpread, are not modelled).
    """

    def score(self, node: Node, cpu_m: int, memory: int) -> int:
        raise NotImplementedError

    def pick(self, nodes: Sequence[Node], cpu_m: int, memory: int) -> Node | None:
        best: Node | None = None
        best_score = -1
        for node in nodes:
            if not node.fits(cpu_m, memory):
                continue
            s = self.score(node, cpu_m, memory)
            if s > best_score:
                best, best_score = node, s
        return best


_MAX_NODE_SCORE = 100


class LeastAllocated(_ScoringScheduler):
    """kube-scheduler's default NodeResourcesFit scoring (``least_allocated.go``): spread.

    Per resource ``(allocatable − requested) × 100 // allocatable``, with the
    incoming pod counted in ``requested``; CPU and memory weighted 1 each,
    integer arithmetic as in Go.
    """

    def score(self, node: Node, cpu_m: int, memory: int) -> int:
        cpu = _least(node.cpu_requested + cpu_m, node.cpu_m)
        mem = _least(node.memory_requested + memory, node.memory)
        return (cpu + mem) // 2


class MostAllocated(_ScoringScheduler):
    """NodeResourcesFit ``MostAllocated`` scoring (``most_allocated.go``): pack.

    Per resource ``requested × 100 // allocatable`` (capped), weights 1 and 1.
    """

    def score(self, node: Node, cpu_m: int, memory: int) -> int:
        cpu = _most(node.cpu_requested + cpu_m, node.cpu_m)
        mem = _most(node.memory_requested + memory, node.memory)
        return (cpu + mem) // 2


def _least(requested: int, capacity: int) -> int:
    if capacity == 0 or requested > capacity:
        return 0
    return (capacity - requested) * _MAX_NODE_SCORE // capacity


def _most(requested: int, capacity: int) -> int:
    if capacity == 0:
        return 0
    return min(requested, capacity) * _MAX_NODE_SCORE // capacity


SCHEDULERS: dict[str, type[_ScoringScheduler]] = {
    "least_allocated": LeastAllocated,
    "most_allocated": MostAllocated,
}


@dataclass(frozen=True)
class PendingPods:
    """What a node scaler sees when pods cannot be scheduled."""

    unschedulable: int
    pods_per_node: int
    nodes: int
    provisioning: int
    max_nodes: int


class NodeScaler(Protocol):
    """Decides how many nodes to add while pods are pending (replaceable strategy)."""

    def nodes_to_add(self, state: PendingPods) -> int: ...


class PendingPodsScaler:
    """Add enough empty nodes for the unschedulable pods, counting nodes already on the way.

    A stand-in for the Kubernetes cluster autoscaler's scale-up (which also
    reacts to unschedulable pods by simulating them on a new node of the
    group), without its scan interval, expanders or scale-down.
    """

    def nodes_to_add(self, state: PendingPods) -> int:
        if state.pods_per_node <= 0:
            return 0
        need = math.ceil(state.unschedulable / state.pods_per_node) - state.provisioning
        return max(0, min(need, state.max_nodes - state.nodes))


class NoNodeScaler:
    """Never add nodes: pending pods wait for room on the nodes there are."""

    def nodes_to_add(self, state: PendingPods) -> int:
        return 0


NODE_SCALERS: dict[str, type[PendingPodsScaler] | type[NoNodeScaler]] = {
    "pending_pods": PendingPodsScaler,
    "none": NoNodeScaler,
}


class ImageProvider(Protocol):
    """Makes ``image`` available on ``node`` (a SimPy sub-process: ``yield from``);
    ``forget`` drops the state of a node that left the cluster."""

    def ensure(self, image: str, node: Node) -> Generator[simpy.Event, Any, None]: ...

    def forget(self, node: Node) -> None: ...


class FixedPullProvider:
    """An image pull of fixed duration per node (``image_pull``), instead of the layer model.

    A node that has the image skips the pull (``IfNotPresent``, the default
    pull policy for a tagged image); a second pod asking while a pull of the
    same image is in flight on that node waits for that pull instead of
    starting another.
    """

    def __init__(self, env: simpy.Environment, duration: float) -> None:
        self.env = env
        self.duration = duration
        self.pulls = 0
        self._inflight: dict[tuple[str, str], simpy.Event] = {}

    def ensure(self, image: str, node: Node) -> Generator[simpy.Event, Any, None]:
        if image in node.images:
            return
        key = (node.name, image)
        pull = self._inflight.get(key)
        if pull is None:
            self.pulls += 1
            pull = self.env.timeout(self.duration)
            self._inflight[key] = pull
            # Runs before the waiting pods resume: they find the image present.
            pull.callbacks.append(lambda _: self._done(key, node, image))
        yield pull

    def _done(self, key: tuple[str, str], node: Node, image: str) -> None:
        node.images.add(image)
        del self._inflight[key]

    def forget(self, node: Node) -> None:
        """Nothing kept per node beyond ``node.images``."""


# -- config -----------------------------------------------------------------------------------


class PodSpec(Config):
    """One pod's container resources (``resources.requests`` / ``limits``) and memory use."""

    cpu: CpuQuantity = Field(default=POD_CPU_M, description="CPU request ('500m', '0.5', 1)")
    memory: MemoryQuantity = Field(default=POD_MEMORY_BYTES, description="memory request ('256Mi')")
    limit_cpu: CpuQuantity = Field(default=None, description="CPU limit (CFS quota); none = no cap")
    limit_memory: MemoryQuantity = Field(
        default=None, description="memory limit; a working set above it is OOM-killed"
    )
    working_set: MemoryQuantity = Field(
        default=None, description="the app's memory working set; none = fits any limit"
    )
    working_set_after: Duration = Field(
        default=0.0, description="time after the app is up until the working set is reached"
    )

    @model_validator(mode="after")
    def _consistent(self) -> PodSpec:
        if self.cpu is None:
            raise _invalid("cpu", "a pod needs a CPU request", None)
        if self.memory is None:
            raise _invalid("memory", "a pod needs a memory request", None)
        if self.limit_cpu == 0:
            raise _invalid("limit_cpu", "a CPU limit must be > 0", 0)
        # The API server rejects a limit below the request.
        if self.limit_cpu is not None and self.limit_cpu < self.cpu:
            raise _invalid(
                "limit_cpu",
                f"{self.limit_cpu}m is below the request cpu {self.cpu}m "
                "(Kubernetes requires limit >= request)",
                self.limit_cpu,
            )
        if self.limit_memory is not None and self.limit_memory < self.memory:
            raise _invalid(
                "limit_memory",
                f"{self.limit_memory} bytes is below the request memory {self.memory} bytes "
                "(Kubernetes requires limit >= request)",
                self.limit_memory,
            )
        return self

    @property
    def cpu_m(self) -> int:
        assert self.cpu is not None
        return self.cpu

    @property
    def memory_b(self) -> int:
        assert self.memory is not None
        return self.memory

    @property
    def oom_kills(self) -> bool:
        """Whether the container's working set exceeds its memory limit."""
        return (
            self.limit_memory is not None
            and self.working_set is not None
            and self.working_set > self.limit_memory
        )


class Probe(Config):
    """The readiness probe's timing (``initialDelaySeconds``, ``periodSeconds``)."""

    initial_delay: Duration = Field(default=PROBE_DELAY_S, description="after the container starts")
    period: Duration = Field(default=PROBE_PERIOD_S, gt=0, description="between probes")


# host[:port]/path[:tag][@digest], loosely: no spaces, no empty parts at the ends.
_IMAGE_REF = re.compile(r"^[a-z0-9][\w./:@+-]*[\w]$")


class ContainerConfig(ProvisionedConfig, ImageSettings):
    """Pods on a cluster of cloud nodes (``initial`` = pods ready at t = 0).

    Image, registry, pull-policy and node-cache keys come from
    ``models.images.ImageSettings``.

    ``stages`` overrides the pod pipeline (``create``, ``start``, ``app_start``);
    ``node_stages`` overrides the node launch pipeline (cloud ``api_call``,
    ``pending``, ``boot``, then ``node_join``). ``resources`` holds the shared
    limits both use (``cloud_api`` rate by default).
    """

    kind: Literal["container"]
    image: str = Field(default="nginx:1.23.3", description="image reference, e.g. nginx:1.23.3")
    node_type: str = Field(default="m5.large", description="a cloud instance type from the catalog")
    nodes: int = Field(default=NODES, ge=0, description="nodes ready at t = 0")
    max_nodes: int = Field(default=MAX_NODES, ge=1, description="the node scaler's ceiling")
    max_pods_per_node: int = Field(default=MAX_PODS, ge=1, description="kubelet maxPods")
    pod: PodSpec = Field(default_factory=PodSpec)
    readiness: Probe = Field(default_factory=Probe)
    image_pull: Duration | None = Field(
        default=None,
        description="a fixed pull time instead of the layer model (absent = layer model)",
    )
    extra_images: list[str] = Field(
        default_factory=list,
        description="more containers per pod, by image (a compose project on one host)",
    )
    node_images: list[str] = Field(
        default_factory=list,
        description="images on every node from the start (node image, or a warm host)",
    )
    scheduler: Literal["least_allocated", "most_allocated"] = Field(
        default="least_allocated", description="NodeResourcesFit scoring strategy"
    )
    node_scaler: Literal["pending_pods", "none"] = Field(
        default="pending_pods", description="add nodes while pods are pending, or never"
    )
    node_stages: dict[str, StageOverride | None] | None = Field(
        default=None, description="change the node launch pipeline, like 'stages'"
    )
    min_billed: Duration = Field(default=MIN_BILLED_S, description="node billing minimum")

    DEFAULT_STAGES: ClassVar[list[StageSpec]] = [
        StageSpec(name="create", duration=fixed_duration(CREATE_S)),
        StageSpec(name="start", duration=fixed_duration(START_S)),
        StageSpec(name="app_start", duration=fixed_duration(APP_START_S)),
    ]
    DEFAULT_RESOURCES: ClassVar[dict[str, int | float]] = {"cloud_api": API_RATE}

    @field_validator("node_type")
    @classmethod
    def _known_type(cls, name: str) -> str:
        if name not in INSTANCE_TYPES:
            raise ValueError(f"{name!r} is not in the catalog (known: {', '.join(INSTANCE_TYPES)})")
        return name

    @field_validator("image")
    @classmethod
    def _image_ref(cls, ref: str) -> str:
        if not _IMAGE_REF.match(ref):
            raise ValueError(f"{ref!r} is not an image reference like 'nginx:1.23.3'")
        return ref

    @model_validator(mode="after")
    def _image_known(self) -> ContainerConfig:
        refs = [("image", self.image)]
        refs += [(f"extra_images.{i}", ref) for i, ref in enumerate(self.extra_images)]
        refs += [(f"node_images.{i}", ref) for i, ref in enumerate(self.node_images)]
        for where, ref in refs:
            problem = None
            if not _IMAGE_REF.match(ref):
                problem = f"{ref!r} is not an image reference like 'nginx:1.23.3'"
            elif self.image_pull is None:
                problem = self.unknown_image(ref)
            if problem:
                raise _invalid(where, problem, ref)
        return self

    @property
    def pod_images(self) -> list[str]:
        """The images a pod runs: ``image`` then ``extra_images`` (duplicates dropped)."""
        return list(dict.fromkeys([self.image, *self.extra_images]))

    @model_validator(mode="after")
    def _fits(self) -> ContainerConfig:
        if (self.stages or {}).get("start", 0) is None:
            raise _invalid("stages.start", "the container start cannot be removed", None)
        cpu_m, mem = self.node_allocatable
        t = self.node_type
        if self.pod.cpu_m > cpu_m:
            raise _invalid(
                "pod.cpu",
                f"the request {self.pod.cpu_m}m exceeds the allocatable CPU of a {t} node "
                f"({cpu_m}m): the pod could never be scheduled",
                self.pod.cpu_m,
            )
        if self.pod.memory_b > mem:
            raise _invalid(
                "pod.memory",
                f"the request {self.pod.memory_b} bytes ({self.pod.memory_b / 2**20:.1f}Mi) "
                f"exceeds the allocatable memory of a {t} node ({mem / 2**20:.1f}Mi): "
                "the pod could never be scheduled",
                self.pod.memory_b,
            )
        if self.max_nodes < self.nodes:
            raise _invalid(
                "max_nodes", f"{self.max_nodes} is below nodes ({self.nodes})", self.max_nodes
            )
        room = self.nodes * self.pods_per_node
        if self.initial > room:
            raise _invalid(
                "initial",
                f"{self.initial} pods do not fit on {self.nodes} {t} nodes "
                f"({self.pods_per_node} per node); raise nodes or lower initial",
                self.initial,
            )
        _located(self.resolved_node_stages, self.node_stages)
        return self

    @model_validator(mode="after")
    def _stages_resolve(self) -> ContainerConfig:
        # Replaces ProvisionedConfig's check to locate the error at stages.<stage>.
        _located(self.resolved_stages, self.stages)
        return self

    @property
    def itype(self) -> InstanceType:
        """The node's cloud instance type (vCPUs, memory, price)."""
        return INSTANCE_TYPES[self.node_type]

    @property
    def node_allocatable(self) -> tuple[int, int]:
        """(millicores, bytes) a node of ``node_type`` offers pods."""
        return allocatable(self.itype.vcpus, self.itype.memory_gib)

    @property
    def pods_per_node(self) -> int:
        """How many of these pods fit on one empty node."""
        cpu_m, mem = self.node_allocatable
        by_cpu = cpu_m // self.pod.cpu_m if self.pod.cpu_m else self.max_pods_per_node
        by_mem = mem // self.pod.memory_b if self.pod.memory_b else self.max_pods_per_node
        return int(min(by_cpu, by_mem, self.max_pods_per_node))

    def default_node_stages(self) -> list[StageSpec]:
        """The cloud launch with a baked node image; kubelet joining replaces the app start."""
        stages = [s for s in cloud_stages(baked_image=True) if s.name != "app_start"]
        stages.append(StageSpec(name="node_join", duration=fixed_duration(NODE_JOIN_S)))
        return stages

    def resolved_node_stages(self) -> list[Stage]:
        try:
            return resolve_stages(
                self.default_node_stages(),
                self.node_stages,
                resources=self.resource_spec(),
                links=self.LINKS,
            )
        except ValueError as exc:
            raise ValueError(f"node_{exc}") from None


def _located(resolve: Any, overrides: dict[str, StageOverride | None] | None) -> None:
    """Run ``resolve``; its ``"<key>.<stage>[.field]: message"`` becomes an error at that path."""
    try:
        resolve()
    except ValueError as exc:
        path, _, message = str(exc).partition(": ")
        parts = path.split(".")
        given = (overrides or {}).get(parts[1]) if len(parts) > 1 else None
        value = given.model_dump(exclude_none=True) if given is not None else None
        raise _invalid(path, message, value) from None


# -- platform ---------------------------------------------------------------------------------


class ContainerPlatform(ProvisionedPlatform):
    """Pods scheduled onto nodes; nodes launched through the cloud pipeline when pods pend.

    ``scheduler``, ``node_scaler`` and ``images`` are strategy objects; the
    builder picks them from the config, a caller may pass others.
    """

    config: ContainerConfig

    def __init__(
        self,
        config: ContainerConfig,
        ctx: RunContext,
        *,
        scheduler: Scheduler | None = None,
        node_scaler: NodeScaler | None = None,
        images: ImageProvider | None = None,
    ) -> None:
        super().__init__(config, ctx)
        self.scheduler: Scheduler = scheduler or SCHEDULERS[config.scheduler]()
        self.node_scaler: NodeScaler = node_scaler or NODE_SCALERS[config.node_scaler]()
        self.images: ImageProvider = images or self._image_provider(config, ctx)
        self.node_stages = config.resolved_node_stages()
        self.nodes: list[Node] = []
        self._nodes_named = 0  # names stay unique after nodes are removed
        self.cpu_m = config.pod.cpu_m
        self.memory = config.pod.memory_b
        serving = ctx.scenario.serving
        limit = config.pod.limit_cpu
        # CFS quota shared by the pod's workers (see the module docstring).
        self.throttle = 1.0 if limit is None else min(1.0, limit / 1000.0 / serving.workers)
        self.pod_speed = config.itype.speed * serving.speed * self.throttle
        self._bound: dict[int, Node] = {}
        self._backoff: dict[str, tuple[float, float]] = {}  # pod → (last back-off, running since)
        self._waiting: list[tuple[Instance, simpy.Event]] = []
        self._pods_named = 0
        self.counters: dict[str, int] = ctx.extras.setdefault("counters", {})
        for name in (
            "container_pods_unschedulable",
            "container_nodes_added",
            "container_oom_kills",
        ):
            self.counters[name] = 0

    def _image_provider(self, config: ContainerConfig, ctx: RunContext) -> ImageProvider:
        """The layer model, or a fixed pull time when ``image_pull`` is set."""
        if config.image_pull is not None:
            return FixedPullProvider(ctx.env, config.image_pull)
        images = set(config.pod_images)
        return LayerPuller(
            ctx.env,
            self.network,
            config,
            record=ctx.record,
            counters=ctx.extras.setdefault("counters", {}),
            metrics=self.metrics,
            # Every pod of this platform runs the same images: in use while a pod is bound.
            in_use=lambda node: set(images) if node.pods else set(),
        )

    # -- pods -------------------------------------------------------------------------------

    def launch_kwargs(self) -> dict[str, Any]:
        """A new pod: no price of its own, speed throttled by its CPU limit, a pod name."""
        name = f"pod-{self._pods_named}"
        self._pods_named += 1
        return {"price": 0.0, "speed": self.pod_speed, "name": name}

    def start(self) -> None:
        """Nodes and ``initial`` pods exist at t = 0; nodes with a pod hold the image."""
        for _ in range(self.config.nodes):
            self._new_node().ready = True
        for _ in range(self.config.initial):
            inst = self.ctx.cluster.launch(**self.launch_kwargs())
            node = self.scheduler.pick(self.nodes, self.cpu_m, self.memory)
            assert node is not None, "validation guarantees the initial pods fit"
            self._bind(inst, node)
            node.images.update(self.config.pod_images)
            self.ctx.cluster.mark_ready(inst)
            if self.config.pod.oom_kills:
                self._procs[inst.id] = self.env.process(self.provision(inst, running_since=0.0))

    def provision(
        self, inst: Instance, running_since: float | None = None
    ) -> Generator[simpy.Event, Any, None]:
        """A pod's whole life: schedule, image, container start, readiness, OOM restarts."""
        me = self.env.active_process
        try:
            if running_since is None:
                node = yield from self._schedule(inst)
                pull = self._ensure_images(node)
                yield from self._tracked(inst, "image_pull", pull, keep_empty=False)
            yield from self._run(inst, running_since)
        except simpy.Interrupt:
            return
        finally:
            for key, proc in list(self._procs.items()):
                if proc is me:
                    del self._procs[key]

    def _ensure_images(self, node: Node) -> Generator[simpy.Event, Any, None]:
        """Every image of the pod on ``node``: the one image directly, several all at once."""
        refs = self.config.pod_images
        if len(refs) == 1:
            yield from self.images.ensure(refs[0], node)
            return
        yield simpy.AllOf(self.env, [self.env.process(self.images.ensure(r, node)) for r in refs])

    def _schedule(self, inst: Instance) -> Generator[simpy.Event, Any, Node]:
        t_req = self.env.now
        node = None
        if not self._waiting:  # FIFO: a new pod does not overtake pending ones
            node = self.scheduler.pick(self._ready_nodes(), self.cpu_m, self.memory)
        if node is not None:
            self._bind(inst, node)
        else:
            bound = self.env.event()
            self._waiting.append((inst, bound))
            self.counters["container_pods_unschedulable"] += 1
            self._reconcile_nodes()
            log = self.ctx.cluster.spans
            opened = log.open if isinstance(log, SpanLog) else {}
            opened[inst.name] = ("schedule", t_req, math.nan)  # Pending, shown if unfinished
            try:
                node = yield bound
            except simpy.Interrupt:
                self._waiting = [(i, ev) for i, ev in self._waiting if i is not inst]
                now = self.env.now
                log.append(
                    ProvisioningSpan(inst.name, "schedule (cancelled)", now, now, now - t_req)
                )
                raise
            finally:
                opened.pop(inst.name, None)
        assert node is not None
        now = self.env.now
        self.ctx.cluster.spans.append(
            ProvisioningSpan(inst.name, "schedule", now, now, now - t_req)
        )
        return node

    def _run(
        self, inst: Instance, running_since: float | None
    ) -> Generator[simpy.Event, Any, None]:
        backoff = 0.0
        while True:
            if running_since is None:
                t_run, t_up = yield from self._start_container(inst)
            else:
                t_run = t_up = running_since
                running_since = None
            pod = self.config.pod
            t_kill = t_up + pod.working_set_after if pod.oom_kills else math.inf
            if inst.state is State.PROVISIONING:
                t_ready = self._first_probe_success(t_run, t_up)
                if t_ready < t_kill:
                    probes = self._sleep(t_ready - self.env.now)
                    yield from self._tracked(inst, "readiness", probes)
                    self.pending.remove(inst)
                    self.ctx.cluster.mark_ready(inst)
                    self._note_ready()
            if math.isinf(t_kill):
                return
            if t_kill > self.env.now:
                yield self.env.timeout(t_kill - self.env.now)
            if inst.state in (State.DRAINING, State.GONE):
                return  # the pod is being deleted anyway
            ran = self.env.now - t_run
            backoff = (
                BACKOFF_INITIAL_S
                if backoff == 0.0 or ran >= BACKOFF_RESET_S
                else min(2 * backoff, BACKOFF_MAX_S)
            )
            inst = self._oom_kill(inst)
            yield from self._tracked(inst, "crash_backoff", self._sleep(backoff))

    def _sleep(self, seconds: float) -> Generator[simpy.Event, Any, None]:
        yield self.env.timeout(seconds)

    def _tracked(
        self,
        inst: Instance,
        stage: str,
        steps: Generator[simpy.Event, Any, None],
        *,
        keep_empty: bool = True,
    ) -> Generator[simpy.Event, Any, None]:
        """Run ``steps`` as one span of ``stage``, recorded like a pipeline stage.

        Open while running (so it appears, unfinished, at the horizon);
        ``<stage> (cancelled)`` if the pod is deleted meanwhile.
        """
        log = self.ctx.cluster.spans
        opened = log.open if isinstance(log, SpanLog) else {}
        start = self.env.now
        opened[inst.name] = (stage, start, start)
        try:
            yield from steps
        except simpy.Interrupt:
            log.append(ProvisioningSpan(inst.name, f"{stage} (cancelled)", start, self.env.now))
            raise
        finally:
            opened.pop(inst.name, None)
        if keep_empty or self.env.now > start:
            log.append(ProvisioningSpan(inst.name, stage, start, self.env.now))

    def _start_container(self, inst: Instance) -> Generator[simpy.Event, Any, tuple[float, float]]:
        """Run the pod pipeline; returns (container running, app up) times."""
        cut = next(i for i, s in enumerate(self.stages) if s.name == "start") + 1
        args = (self.resources, self.rng, self.network, inst.name, self.ctx.cluster.spans)
        yield from run_stages(self.env, self.stages[:cut], *args)
        t_run = self.env.now
        yield from run_stages(self.env, self.stages[cut:], *args)
        return t_run, self.env.now

    def _first_probe_success(self, t_run: float, t_up: float) -> float:
        """Probes at t_run + initial_delay + k·period; the first at or after t_up succeeds."""
        probe = self.config.readiness
        first = t_run + probe.initial_delay
        if t_up <= first:
            return first
        k = math.ceil((t_up - first) / probe.period - 1e-9)
        return first + k * probe.period

    def _oom_kill(self, inst: Instance) -> Instance:
        """The kernel kills the container; a serving one loses its requests and is replaced."""
        self.counters["container_oom_kills"] += 1
        if inst.state is not State.READY:
            return inst
        cluster = self.ctx.cluster
        new = cluster.launch(price=0.0, speed=self.pod_speed, name=inst.name)
        node = self._bound.pop(inst.id)
        node.pods.discard(inst.id)
        node.pods.add(new.id)
        self._bound[new.id] = node
        proc = self._procs.pop(inst.id, None)
        if proc is not None:
            self._procs[new.id] = proc
        self.pending.append(new)
        # The kill loses the container's queued and in-service requests (dropped_failed).
        cluster.fail(inst)
        return new

    # -- faults -----------------------------------------------------------------------------

    def failure_domains(self) -> dict[str, list[Instance]]:
        """Ready nodes → the pods bound to them."""
        on: dict[str, list[Instance]] = {n.name: [] for n in self.nodes if n.ready}
        for inst in self.ctx.cluster.instances:
            node = self._bound.get(inst.id)
            if node is not None and node.name in on:
                on[node.name].append(inst)
        return on

    def crash(self, inst: Instance, until: float | None = None) -> None:
        """The container dies; the kubelet restarts it in the same pod (same node, image
        present) after CrashLoopBackOff: 10 s, doubling, capped at 300 s, reset after
        10 min running."""
        node = self._bound.pop(inst.id, None)
        if node is None:  # not on a node: nothing to restart in place
            self.ctx.cluster.fail(inst)
            return
        backoff, since = self._backoff.get(inst.name, (0.0, 0.0))
        ran = self.env.now - max(since, inst.t_ready or inst.t_created)
        backoff = (
            BACKOFF_INITIAL_S
            if backoff == 0.0 or ran >= BACKOFF_RESET_S
            else min(2 * backoff, BACKOFF_MAX_S)
        )
        cluster = self.ctx.cluster
        new = cluster.launch(price=0.0, speed=self.pod_speed, name=inst.name)
        node.pods.discard(inst.id)
        node.pods.add(new.id)
        self._bound[new.id] = node
        self.pending.append(new)
        cluster.fail(inst)  # its requests are lost; on_retire stops its old life
        wait = max(backoff, (until or 0.0) - self.env.now)
        self._backoff[inst.name] = (backoff, self.env.now + wait)
        self._procs[new.id] = self.env.process(self._restart(new, wait))

    def _restart(self, inst: Instance, wait: float) -> Generator[simpy.Event, Any, None]:
        me = self.env.active_process
        try:
            yield from self._tracked(inst, "crash_backoff", self._sleep(wait))
            yield from self._run(inst, None)
        except simpy.Interrupt:
            return
        finally:
            if self._procs.get(inst.id) is me:
                del self._procs[inst.id]

    def fail_host(self, host: str, until: float | None = None) -> None:
        """The node dies (its VM is gone: billing stops, its image cache with it). Its
        pods are replaced once the node controller evicts them (``EVICTION_S``), and
        scheduled on other nodes — pulling the image where it is missing, or waiting
        for a new node."""
        node = next(n for n in self.nodes if n.name == host)
        self.nodes.remove(node)
        self.images.forget(node)
        self.ctx.cluster.cost_rate.add(self.env.now, -node.price)
        victims = [i for i in self.ctx.cluster.instances if self._bound.get(i.id) is node]
        for inst in victims:
            self._bound.pop(inst.id)
            if inst in self.pending:
                self.pending.remove(inst)
            self.ctx.cluster.fail(inst)
        for _ in victims:
            # The ReplicaSet still counts the lost pods until eviction: create their
            # replacements now (so an autoscaler does not add more) and start them then.
            new = self.ctx.cluster.launch(**self.launch_kwargs())
            self.pending.append(new)
            self._procs[new.id] = self.env.process(self._after(new, EVICTION_S, "eviction"))

    def on_retire(self, inst: Instance) -> None:
        """A deleted pod frees its node's room (pending pods may now fit) and stops its life."""
        self._waiting = [(i, ev) for i, ev in self._waiting if i is not inst]
        node = self._bound.pop(inst.id, None)
        if node is not None:
            node.pods.discard(inst.id)
            node.cpu_requested -= self.cpu_m
            node.memory_requested -= self.memory
            self._dispatch()
        proc = self._procs.pop(inst.id, None)
        if proc is not None and proc.is_alive and proc is not self.env.active_process:
            proc.interrupt("pod deleted")

    def _bind(self, inst: Instance, node: Node) -> None:
        node.pods.add(inst.id)
        node.cpu_requested += self.cpu_m
        node.memory_requested += self.memory
        self._bound[inst.id] = node

    def _dispatch(self) -> None:
        """Retry pending pods in order (kube-scheduler retries on node added / pod deleted)."""
        still: list[tuple[Instance, simpy.Event]] = []
        ready = self._ready_nodes()
        for inst, bound in self._waiting:
            node = self.scheduler.pick(ready, self.cpu_m, self.memory) if not still else None
            if node is None:
                still.append((inst, bound))
                continue
            self._bind(inst, node)
            bound.succeed(node)
        self._waiting = still
        self._reconcile_nodes()

    @property
    def unschedulable(self) -> int:
        """Pods Pending for want of a node with room."""
        return len(self._waiting)

    def placement(self) -> dict[str, str]:
        """Pod name → node name, for the pods bound to a node now."""
        names = {i.id: i.name for i in self.ctx.cluster.instances}
        return {names[pid]: node.name for pid, node in self._bound.items() if pid in names}

    # -- nodes ------------------------------------------------------------------------------

    def _ready_nodes(self) -> list[Node]:
        return [n for n in self.nodes if n.ready]

    def _new_node(self) -> Node:
        cpu_m, mem = self.config.node_allocatable
        node = Node(
            name=f"node-{self._nodes_named}",
            cpu_m=cpu_m,
            memory=mem,
            max_pods=self.config.max_pods_per_node,
            price=self.config.itype.price,
            t_launched=self.env.now,
            images=set(self.config.node_images),
        )
        self.nodes.append(node)
        self._nodes_named += 1
        self.ctx.cluster.cost_rate.add(self.env.now, node.price)
        return node

    def _reconcile_nodes(self) -> None:
        if not self._waiting:
            return
        state = PendingPods(
            unschedulable=len(self._waiting),
            pods_per_node=self.config.pods_per_node,
            nodes=len(self.nodes),
            provisioning=sum(1 for n in self.nodes if not n.ready),
            max_nodes=self.config.max_nodes,
        )
        for _ in range(self.node_scaler.nodes_to_add(state)):
            node = self._new_node()
            self.counters["container_nodes_added"] += 1
            self.env.process(self._provision_node(node))

    def _provision_node(self, node: Node) -> Generator[simpy.Event, Any, None]:
        yield from run_stages(
            self.env,
            self.node_stages,
            self.resources,
            self.rng,
            self.network,
            node.name,
            self.ctx.cluster.spans,
        )
        node.ready = True
        self._dispatch()

    def remove_node(self, node: Node) -> None:
        """Terminate an empty, ready node (for a cluster autoscaler's scale-down).

        Billing stops; a node that lived less than the minimum is charged up to it.
        """
        if node.pods or not node.ready:
            raise RuntimeError(f"{node.name} is not an empty ready node")
        now = self.env.now
        self.nodes.remove(node)
        self.images.forget(node)
        self.ctx.cluster.cost_rate.add(now, -node.price)
        lived = now - node.t_launched
        if lived < self.config.min_billed:
            self.ctx.cluster.charge((self.config.min_billed - lived) * node.price)


@PLATFORMS.register(
    "container",
    ContainerConfig,
    "Kubernetes-like pods bin-packed on cloud nodes: image, create, start, readiness; "
    "CPU limits throttle, memory limits OOM-kill",
    "Kubernetes docs (scheduler, probes, restarts, resources); GKE node allocatable",
)
def build_container(config: ContainerConfig, ctx: RunContext) -> ContainerPlatform:
    return ContainerPlatform(config, ctx)
