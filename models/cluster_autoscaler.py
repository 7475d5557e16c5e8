"""``cluster-autoscaler``: the Kubernetes Cluster Autoscaler for the ``container`` platform's nodes.

It manages **nodes**, not pods: a pod autoscaler (``hpa``, ``schedule``) changes the
pod count, pods that find no room go Pending, and this controller adds nodes for
them and removes nodes nobody needs. A scenario combines the two as a list::

    autoscaler: [{kind: hpa, target_cpu: 60%, min: 2, max: 60}, {kind: cluster-autoscaler}]

When it is configured it replaces the container platform's built-in node scaler
(``node_scaler: pending_pods``): the builder swaps the platform's ``NodeScaler``
strategy object for ``NoNodeScaler``, so every node after t = 0 comes from here.

Sources (``kubernetes/autoscaler``, ``cluster-autoscaler/``): ``FAQ.md`` ("How does
scale-up work?", "How does scale-down work?", "What are Expanders?", the flag table;
reference ``control-loops-and-queueing.md`` §2) and the code named below.

One loop every ``scan_interval`` (10 s, ``--scan-interval``), from t = 0, in the order
of ``core/static_autoscaler.go`` ``RunOnce``:

1. **Unregistered nodes.** A node launched more than ``max_node_provision_time``
   (15 min, ``--max-node-provision-time``) ago and still not Ready is given up: its
   launch is cancelled and the instance deleted (``removeOldUnregisteredNodes``,
   strict ``UnregisteredSince + max < now``), and its node group is backed off
   (``utils/backoff/exponential_backoff.go``: 5 min, doubling to 30 min, reset after
   3 h without failure; ``--initial-node-group-backoff-duration``,
   ``--max-node-group-backoff-duration``, ``--node-group-backoff-reset-timeout``).
   The launch time stands for ``UnregisteredSince``.
2. **Pending pods** are the platform's unschedulable pods (no Ready node has room:
   the scheduler's ``PodScheduled=False, Unschedulable``). Those that fit on nodes
   still being provisioned ("upcoming" nodes, injected into the snapshot as empty
   nodes of their group's template) are filtered out
   (``addUpcomingNodesToClusterSnapshot`` + ``FilterOutSchedulable``); then pods not
   older than ``new_pod_scale_up_delay`` (0 s; ``filterOutYoungPods``: kept iff
   ``age > delay``). If the oldest remaining pod is younger than **2 s**
   (``unschedulablePodTimeBuffer``, ``allPodsAreNew``) the loop waits one iteration
   "for more pods" and does no scale-down either. So a pod Pending at *t* gets its
   scale-up at the first scan at or after *t* + 2 s: within one scan interval plus 2 s.
3. **Scale-up** (``core/scaleup/orchestrator/orchestrator.go``): for every node group
   not backed off and below its max, the binpacking estimator
   (``estimator/binpacking_estimator.go``, first-fit decreasing, pods ordered by
   ``cpu/alloc + mem/alloc`` as in ``decreasing_pod_orderer.go``) packs the pending
   pods onto empty template nodes, at most ``min(max_nodes_per_scaleup, group max −
   group size, cluster cap − nodes)`` of them; the **expander** picks one option
   (``expander: least-waste`` by default, reference §2; ``random``, ``most-pods``,
   ``price``; a comma list chains them and remaining ties are broken at random, FAQ
   "What are Expanders?"). The group grows by the option's node count: each node goes
   through the container platform's node pipeline (cloud ``api_call`` → ``pending`` →
   ``boot`` → kubelet ``node_join``) and starts with a **cold image cache**. A
   successful scale-up ends the loop: "No scale down in this iteration".
4. **Scale-down** (``core/scaledown/planner/planner.go``), when enabled:

   * candidates are the Ready nodes of autoscaled groups, not being deleted; pod
     destinations are all Ready nodes not being deleted;
   * they are ordered empty first, then those unneeded in the previous loop
     (``processors/scaledowncandidates/emptycandidates``, ``.../previouscandidates``,
     registered in ``main.go``), then in node order;
   * a node is **underutilised** when ``max(Σ cpu requests / allocatable cpu, Σ memory
     requests / allocatable memory) < scale_down_utilization_threshold`` (0.5;
     ``simulator/utilization/info.go``, ``core/scaledown/eligibility/eligibility.go``:
     ``>=`` the threshold keeps it);
   * its pods must fit elsewhere: each is placed first-fit on the destinations
     (minus the nodes already found removable in this loop), and the moves are kept
     for the next candidates (``simulator/cluster.go`` ``RemovalSimulator`` with
     ``canPersist``) — the FAQ's "pods from B may no longer fit on X after pods from A
     were moved there". A node whose pods do not fit is not looked at again for
     ``unremovable_node_recheck_timeout`` (5 min, ``core/scaledown/unremovable``);
   * a node stays **unneeded since** the first loop that found it so, as long as every
     loop finds it so (``core/scaledown/unneeded/nodes.go`` ``Update``); it becomes
     removable when ``since + scale_down_unneeded_time < now`` (10 min, strict
     ``Before``), and only while its group stays above its min size;
   * nothing is removed in **cooldown**: ``now < last scale-up +
     scale_down_delay_after_add`` (10 min), ``now < last deletion +
     scale_down_delay_after_delete`` (0 s), or no candidate (``isScaleDownInCooldown``;
     the run starts out of cooldown, as upstream initialises ``lastScaleUpTime`` to
     start − 1 h). Unneeded times keep counting during cooldown;
   * **budgets** (``core/scaledown/budgets/budgets.go`` ``CropNodes``): at most
     ``max_scale_down_parallelism`` (10) deletions in progress, empty nodes first (in
     bulk), then non-empty ones, at most ``max_drain_parallelism`` (1) drains at a
     time;
   * **actuation** (``core/scaledown/actuation/actuator.go``): the chosen nodes are
     tainted at once (no new pod lands there), ``node_delete_delay_after_taint`` (5 s)
     later an empty node is deleted, a non-empty one is drained: each pod is evicted —
     the balancer stops sending to it, its in-flight requests get the pod's grace
     period (``serving.drain_timeout``, Kubernetes' ``terminationGracePeriodSeconds``)
     capped by ``max_graceful_termination`` (600 s, ``--max-graceful-termination-sec``)
     to finish, what is left is lost (``dropped_failed``), and its ReplicaSet creates a
     replacement pod at once, which goes Pending and through the whole pod pipeline on
     another node (image pull included if that node lacks the image) — and the node is
     deleted when its last pod is gone.

Decisions are rows of ``scaling.csv`` (``controller = cluster-autoscaler``; ``metric``
``pending_pods`` for scale-ups, ``node_utilisation`` for scale-downs,
``node_provision_time`` for given-up nodes; ``current``/``desired``/``applied`` are
node counts: ``desired`` is what the pods or utilisation asked for, ``applied`` what
the limits and budgets let through). A blocked scale-up (groups at max or backed off)
is a row when its reason changes. Counters in the summary: ``scale_events``,
``ca_nodes_added``, ``ca_nodes_removed``, ``ca_nodes_timed_out``; new nodes also count
in the platform's ``container_nodes_added``.

Simplifications, each noted where it is made: one pod template (the platform's pods
are identical), no DaemonSets, PDBs, affinity or zones; removal simulation uses plain
first fit (upstream ``FitsAnyNodeMatching`` rotates its start index); where Go iterates
a map (random order) we take node order; eviction never fails; node groups all use
the platform's node pipeline (durations do not depend on the instance type); pods
keep the platform's node-type speed on every group.

The container model (``models.container``, ``models.cloud``) is imported inside the
functions that need it: the engine package does not import the architectures at load
time, and this controller drives only that one platform.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol

import numpy as np
import simpy
from pydantic import Field, field_validator, model_validator

from models.cloud import INSTANCE_TYPES
from models.container import ContainerPlatform, Node, NoNodeScaler, allocatable
from simulator.base import Config, field_error
from simulator.platform import Platform, RunContext
from simulator.registry import AUTOSCALERS, cite
from simulator.serving import Instance, State
from simulator.units import Duration, Fraction

__all__ = [
    "KIND",
    "NodeGroupSpec",
    "ClusterAutoscalerConfig",
    "NodeTemplate",
    "SimNode",
    "Estimate",
    "ExpansionOption",
    "Expander",
    "LeastWaste",
    "MostPods",
    "Price",
    "RandomExpander",
    "ExpanderChain",
    "EXPANDERS",
    "make_expander",
    "utilisation",
    "binpack_estimate",
    "filter_schedulable",
    "Removable",
    "ScaleDownPlan",
    "plan_scale_down",
    "removable_now",
    "crop_budgets",
    "Backoff",
    "ClusterAutoscalerController",
]

KIND = "cluster-autoscaler"
_FAQ = "kubernetes/autoscaler cluster-autoscaler/FAQ.md"
_CA = "kubernetes/autoscaler cluster-autoscaler/"
_GIB = 2**30
_MIB = 2**20

# -- defaults, with their sources -------------------------------------------------------------

SCAN_INTERVAL_S = cite(KIND, "scan interval", 10.0, "10 s", f"{_FAQ} (--scan-interval)")
EXPANDER = cite(KIND, "expander", "least-waste", "least-waste", "reference §2 (--expander)")
MAX_NODES_PER_SCALEUP = cite(
    KIND, "max nodes per scale-up", 1000, "1000", "reference §2 (--max-nodes-per-scaleup)"
)
NEW_POD_SCALE_UP_DELAY_S = cite(
    KIND,
    "new pod scale-up delay",
    0.0,
    "0 s (pods must be older, strictly)",
    f"reference §2 (--new-pod-scale-up-delay); {_CA}core/static_autoscaler.go filterOutYoungPods",
)
POD_TIME_BUFFER_S = cite(
    KIND,
    "wait while all pending pods are new",
    2.0,
    "2 s",
    f"{_CA}core/static_autoscaler.go unschedulablePodTimeBuffer (allPodsAreNew)",
)
MAX_NODE_PROVISION_TIME_S = cite(
    KIND, "max node provision time", 900.0, "15 min", f"{_FAQ} (--max-node-provision-time)"
)
BACKOFF_INITIAL_S = cite(
    KIND,
    "node group backoff, initial",
    300.0,
    "5 min, doubling",
    f"{_CA}main.go --initial-node-group-backoff-duration",
)
BACKOFF_MAX_S = cite(
    KIND,
    "node group backoff, max",
    1800.0,
    "30 min",
    "reference §2 (--max-node-group-backoff-duration)",
)
BACKOFF_RESET_S = cite(
    KIND,
    "node group backoff reset",
    10800.0,
    "3 h without failure",
    "reference §2 (--node-group-backoff-reset-timeout)",
)
UTILIZATION_THRESHOLD = cite(
    KIND,
    "scale-down utilisation threshold",
    0.5,
    "0.5 of allocatable (max of CPU, memory)",
    f"{_FAQ} (--scale-down-utilization-threshold)",
)
UNNEEDED_TIME_S = cite(
    KIND, "scale-down unneeded time", 600.0, "10 min", f"{_FAQ} (--scale-down-unneeded-time)"
)
DELAY_AFTER_ADD_S = cite(
    KIND, "scale-down delay after add", 600.0, "10 min", f"{_FAQ} (--scale-down-delay-after-add)"
)
DELAY_AFTER_DELETE_S = cite(
    KIND,
    "scale-down delay after delete",
    0.0,
    "0 s",
    "reference §2 (--scale-down-delay-after-delete; the FAQ's 'scan-interval' acts the same "
    "on a 10 s grid)",
)
RECHECK_S = cite(
    KIND,
    "unremovable node recheck timeout",
    300.0,
    "5 min",
    f"{_FAQ} (--unremovable-node-recheck-timeout)",
)
MAX_SCALE_DOWN_PARALLELISM = cite(
    KIND, "max scale-down parallelism", 10, "10", "reference §2 (--max-scale-down-parallelism)"
)
MAX_DRAIN_PARALLELISM = cite(
    KIND, "max drain parallelism", 1, "1 (one non-empty node at a time)", "reference §2; FAQ"
)
DELETE_DELAY_AFTER_TAINT_S = cite(
    KIND,
    "node delete delay after taint",
    5.0,
    "5 s",
    f"{_FAQ} (--node-delete-delay-after-taint); {_CA}core/scaledown/actuation/actuator.go",
)
MAX_GRACEFUL_TERMINATION_S = cite(
    KIND,
    "max graceful termination",
    600.0,
    "600 s",
    f"{_FAQ} (--max-graceful-termination-sec)",
)
# expander/price: GCE pricing model used for pod prices (gce_price_model.go, per hour).
CPU_PRICE_PER_HOUR = 0.033174
MEMORY_PRICE_PER_GIB_HOUR = 0.004446
cite(
    KIND,
    "price expander: pod price",
    None,
    f"${CPU_PRICE_PER_HOUR}/core-h + ${MEMORY_PRICE_PER_GIB_HOUR}/GiB-h",
    f"{_CA}cloudprovider/gce/gce_price_model.go (cpuPricePerHour, memoryPricePerHourPerGb)",
)

# -- config -----------------------------------------------------------------------------------


def _check_node_type(name: str) -> str:
    if name not in INSTANCE_TYPES:
        raise ValueError(f"{name!r} is not in the catalog (known: {', '.join(INSTANCE_TYPES)})")
    return name


class NodeGroupSpec(Config):
    """A node group (``--nodes=<min>:<max>:<name>``): nodes of one type, between min and max."""

    name: str = Field(min_length=1, max_length=63, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    node_type: str = Field(description="a cloud instance type from the catalog")
    min: int = Field(default=0, ge=0, description="never scale down below this")
    max: int = Field(ge=1, description="never scale up above this")

    @field_validator("node_type")
    @classmethod
    def _known_type(cls, name: str) -> str:
        return _check_node_type(name)

    @model_validator(mode="after")
    def _bounds(self) -> NodeGroupSpec:
        if self.max < self.min:
            raise field_error("max", f"must be >= min ({self.min})", self.max)
        return self


class ClusterAutoscalerConfig(Config):
    """The Kubernetes Cluster Autoscaler's settings (its command-line flags, snake_cased).

    Without ``node_groups`` there is one group: the platform's ``node_type``, between
    ``min_nodes`` and ``max_nodes`` (default: the platform's ``max_nodes``), holding the
    nodes that exist at t = 0. With ``node_groups``, the nodes at t = 0 belong to the
    first group of the platform's node type (or to no group: never removed).
    """

    # The nodes it manages belong to the container platform.
    PLATFORMS: ClassVar[tuple[str, ...]] = ("container",)

    kind: Literal["cluster-autoscaler"]
    scan_interval: Duration = Field(
        default=SCAN_INTERVAL_S, gt=0, description="how often the cluster is re-evaluated"
    )
    expander: str = Field(
        default=EXPANDER,
        description="node-group choice on scale-up: least-waste, random, most-pods, price, "
        "or a comma list (a chain)",
    )
    min_nodes: int | None = Field(
        default=None, ge=0, description="the single node group's min size (default 0)"
    )
    max_nodes: int | None = Field(
        default=None, ge=1, description="the single node group's max size (default: platform's)"
    )
    node_groups: list[NodeGroupSpec] | None = Field(
        default=None, min_length=1, description="several node groups, {name, node_type, min, max}"
    )
    max_nodes_total: int = Field(
        default=0, ge=0, description="cap on all nodes (0 = none beyond the platform's max_nodes)"
    )
    max_nodes_per_scaleup: int = Field(default=MAX_NODES_PER_SCALEUP, ge=1)
    new_pod_scale_up_delay: Duration = Field(
        default=NEW_POD_SCALE_UP_DELAY_S, description="pods younger than this are ignored"
    )
    max_node_provision_time: Duration = Field(
        default=MAX_NODE_PROVISION_TIME_S,
        gt=0,
        description="a node not Ready this long after launch is given up and deleted",
    )
    initial_node_group_backoff: Duration = Field(
        default=BACKOFF_INITIAL_S, gt=0, description="first backoff after a node failed to start"
    )
    max_node_group_backoff: Duration = Field(
        default=BACKOFF_MAX_S, gt=0, description="the doubling backoff's ceiling"
    )
    scale_down_enabled: bool = True
    scale_down_utilization_threshold: Fraction = Field(
        default=UTILIZATION_THRESHOLD,
        description="a node below this share of its allocatable (max of CPU, memory) is unneeded",
    )
    scale_down_unneeded_time: Duration = Field(
        default=UNNEEDED_TIME_S, description="unneeded this long (continuously) before removal"
    )
    scale_down_delay_after_add: Duration = Field(
        default=DELAY_AFTER_ADD_S, description="no removal this long after a scale-up"
    )
    scale_down_delay_after_delete: Duration = Field(
        default=DELAY_AFTER_DELETE_S, description="no removal this long after a removal started"
    )
    unremovable_node_recheck_timeout: Duration = Field(
        default=RECHECK_S, description="a node whose pods could not move is skipped this long"
    )
    max_scale_down_parallelism: int = Field(default=MAX_SCALE_DOWN_PARALLELISM, ge=1)
    max_drain_parallelism: int = Field(default=MAX_DRAIN_PARALLELISM, ge=1)
    node_delete_delay_after_taint: Duration = Field(
        default=DELETE_DELAY_AFTER_TAINT_S, description="from taint to deletion (or drain)"
    )
    max_graceful_termination: Duration = Field(
        default=MAX_GRACEFUL_TERMINATION_S,
        description="caps an evicted pod's termination grace period (serving.drain_timeout)",
    )

    @field_validator("expander")
    @classmethod
    def _known_expanders(cls, value: str) -> str:
        names = [n.strip() for n in value.split(",")]
        for name in names:
            if name not in EXPANDERS:
                raise ValueError(
                    f"unknown expander {name!r} (known: {', '.join(EXPANDERS)}; "
                    "a comma list chains them)"
                )
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"an expander may appear once in the chain: {', '.join(repeated)}")
        return ",".join(names)

    @model_validator(mode="after")
    def _consistent(self) -> ClusterAutoscalerConfig:
        if self.node_groups is not None:
            for key in ("min_nodes", "max_nodes"):
                if getattr(self, key) is not None:
                    raise field_error(
                        key,
                        "give the group sizes in node_groups (min, max), not both",
                        getattr(self, key),
                    )
            names = [g.name for g in self.node_groups]
            repeated = sorted({n for n in names if names.count(n) > 1})
            if repeated:
                raise field_error(
                    "node_groups", f"node group names must be unique: {', '.join(repeated)}"
                )
        if (
            self.min_nodes is not None
            and self.max_nodes is not None
            and self.max_nodes < self.min_nodes
        ):
            raise field_error(
                "max_nodes", f"must be >= min_nodes ({self.min_nodes})", self.max_nodes
            )
        if self.max_node_group_backoff < self.initial_node_group_backoff:
            raise field_error(
                "max_node_group_backoff",
                f"must be >= initial_node_group_backoff ({self.initial_node_group_backoff:g} s)",
                self.max_node_group_backoff,
            )
        return self


# -- pure decision functions ------------------------------------------------------------------

Pod = tuple[int, int]  # (CPU request in millicores, memory request in bytes)


@dataclass(frozen=True)
class NodeTemplate:
    """What a new node of a group offers (its allocatable) and costs (its capacity, price)."""

    node_type: str
    cpu_m: int  # allocatable
    memory: int
    max_pods: int
    cpu_capacity_m: int
    memory_capacity: int
    price_per_hour: float


@dataclass
class SimNode:
    """A node in the autoscaler's snapshot: allocatable, requests, and its movable pods."""

    name: str
    cpu_m: int
    memory: int
    max_pods: int
    cpu_requested: int = 0
    memory_requested: int = 0
    n_pods: int = 0
    movable: list[Pod] = field(default_factory=list)

    @classmethod
    def empty(cls, name: str, t: NodeTemplate) -> SimNode:
        return cls(name, t.cpu_m, t.memory, t.max_pods)

    def fits(self, pod: Pod) -> bool:
        """NodeResourcesFit: the requests fit what is left, and a pod slot is free."""
        return (
            self.cpu_requested + pod[0] <= self.cpu_m
            and self.memory_requested + pod[1] <= self.memory
            and self.n_pods < self.max_pods
        )

    def place(self, pod: Pod) -> None:
        self.cpu_requested += pod[0]
        self.memory_requested += pod[1]
        self.n_pods += 1
        self.movable.append(pod)


def utilisation(cpu_requested: int, memory_requested: int, cpu_m: int, memory: int) -> float:
    """``max(Σ cpu requests / allocatable cpu, Σ memory requests / allocatable memory)``.

    ``simulator/utilization/info.go`` ``Calculate`` (DaemonSet and mirror pods counted
    by default; we have none).
    """
    cpu = cpu_requested / cpu_m if cpu_m > 0 else 0.0
    mem = memory_requested / memory if memory > 0 else 0.0
    return max(cpu, mem)


@dataclass(frozen=True)
class Estimate:
    """The binpacking estimator's answer for one node group."""

    node_count: int
    pods: int
    cpu_m: int  # requests of the pods it placed
    memory: int


def _pod_score(pod: Pod, t: NodeTemplate) -> float:
    # decreasing_pod_orderer.go: cpu/allocatable + memory/allocatable, bigger first.
    return pod[0] / t.cpu_m + pod[1] / t.memory


def binpack_estimate(pods: Sequence[Pod], template: NodeTemplate, limit: int) -> Estimate:
    """How many new ``template`` nodes the pods need, adding at most ``limit`` nodes.

    ``estimator/binpacking_estimator.go`` ``Estimate``: pods grouped by equivalence
    (identical requests), groups in decreasing score order; each group is first placed
    first-fit on the nodes added so far (stopping at the first pod that fits none),
    then pod by pod on the last added node, adding a node when it is full — unless the
    last node is still empty (the pod fits no template) or the limit is reached.
    Nodes that received no pod are not counted.
    """
    groups: dict[Pod, list[Pod]] = {}
    for pod in pods:
        groups.setdefault(pod, []).append(pod)
    ordered = sorted(groups.values(), key=lambda g: -_pod_score(g[0], template))
    nodes: list[SimNode] = []
    placed: list[Pod] = []
    for group in ordered:
        i = 0
        while i < len(group):
            node = next((n for n in nodes if n.fits(group[i])), None)
            if node is None:
                break
            node.place(group[i])
            placed.append(group[i])
            i += 1
        for pod in group[i:]:
            last = nodes[-1] if nodes else None
            if last is not None and last.fits(pod):
                last.place(pod)
                placed.append(pod)
                continue
            if last is not None and last.n_pods == 0:
                break
            if len(nodes) >= limit:
                break
            new = SimNode.empty(f"template-{len(nodes)}", template)
            nodes.append(new)
            if not new.fits(pod):
                break
            new.place(pod)
            placed.append(pod)
    return Estimate(
        node_count=sum(1 for n in nodes if n.n_pods > 0),
        pods=len(placed),
        cpu_m=sum(p[0] for p in placed),
        memory=sum(p[1] for p in placed),
    )


def filter_schedulable(pods: Sequence[Pod], nodes: Sequence[SimNode]) -> list[int]:
    """Place pods first-fit on ``nodes`` (mutated); the indices of those that fit nowhere.

    ``FilterOutSchedulable`` on a snapshot holding the upcoming nodes: pending pods that
    will fit on a node already being provisioned trigger no new scale-up.
    """
    left = []
    for i, pod in enumerate(pods):
        node = next((n for n in nodes if n.fits(pod)), None)
        if node is None:
            left.append(i)
        else:
            node.place(pod)
    return left


@dataclass(frozen=True)
class Removable:
    """A node the removal simulation could empty: its utilisation and pods to move."""

    name: str
    utilisation: float
    pods_to_move: int


@dataclass(frozen=True)
class ScaleDownPlan:
    """One loop's ``categorizeNodes``: removable nodes (in order) and those whose pods
    found no room (to skip for the recheck timeout)."""

    removable: list[Removable]
    no_room: list[str]
    utilisation: dict[str, float]


def plan_scale_down(
    nodes: Sequence[SimNode],
    candidates: Sequence[str],
    destinations: Sequence[str],
    threshold: float,
    *,
    recently_unremovable: frozenset[str] | set[str] = frozenset(),
    previously_unneeded: frozenset[str] | set[str] = frozenset(),
) -> ScaleDownPlan:
    """Which candidates are unneeded now (``core/scaledown/planner/planner.go``).

    Candidates are ordered empty first, then previously unneeded, then as given
    (``emptycandidates`` and ``previouscandidates`` sorting). A candidate is eligible
    when not recently found unremovable and its utilisation (from the real cluster) is
    below ``threshold`` (``eligibility.go``: ``>=`` keeps it). Its movable pods — those
    of the snapshot, including pods moved there by earlier candidates — are placed
    first-fit on the destinations other than itself and the nodes already removable;
    if all fit, the moves are kept and the node is removable, else it goes to
    ``no_room``.
    """
    by_name = {n.name: n for n in nodes}
    previously = set(previously_unneeded)
    order = sorted(
        (by_name[c] for c in candidates),
        key=lambda n: (n.n_pods > 0, n.name not in previously),
    )
    util = {
        n.name: utilisation(n.cpu_requested, n.memory_requested, n.cpu_m, n.memory) for n in order
    }
    sim = {
        n.name: SimNode(
            n.name,
            n.cpu_m,
            n.memory,
            n.max_pods,
            n.cpu_requested,
            n.memory_requested,
            n.n_pods,
            list(n.movable),
        )
        for n in nodes
    }
    dests = [d for d in destinations if d in sim]
    removable: list[Removable] = []
    no_room: list[str] = []
    for node in order:
        name = node.name
        if name in recently_unremovable or util[name] >= threshold:
            continue
        pods = list(sim[name].movable)
        targets = [sim[d] for d in dests if d != name]
        trial = [
            SimNode(
                t.name,
                t.cpu_m,
                t.memory,
                t.max_pods,
                t.cpu_requested,
                t.memory_requested,
                t.n_pods,
                list(t.movable),
            )
            for t in targets
        ]
        if filter_schedulable(pods, trial):
            no_room.append(name)
            continue
        for t in trial:  # commit the simulated moves
            sim[t.name] = t
        if name in dests:
            dests.remove(name)
        removable.append(Removable(name, util[name], len(pods)))
    return ScaleDownPlan(removable, no_room, util)


def removable_now(
    unneeded: Mapping[str, tuple[float, int]],
    order: Sequence[str],
    now: float,
    unneeded_time: float,
    group_of: Mapping[str, str],
    group_size: Mapping[str, int],
    group_min: Mapping[str, int],
    deleting: Mapping[str, int] | None = None,
) -> tuple[list[str], list[str]]:
    """The unneeded nodes that may go now: (empty, needing drain), each in ``order``.

    ``core/scaledown/unneeded/nodes.go`` ``RemovableAt``: ``unneeded`` maps a node to
    (unneeded since, pods to move); a node qualifies when ``since + unneeded_time <
    now`` (strict) and its group's size minus deletions in progress stays above the
    group's min (each accepted node lowers the size for the next).
    """
    size = dict(group_size)
    for gname, k in (deleting or {}).items():
        size[gname] = size.get(gname, 0) - k
    empty: list[str] = []
    drain: list[str] = []
    ranked = [n for n in order if n in unneeded]
    for want_empty in (True, False):
        for name in ranked:
            since, pods = unneeded[name]
            if (pods == 0) != want_empty:
                continue
            if not since + unneeded_time < now:
                continue
            g = group_of.get(name)
            if g is None or size.get(g, 0) <= group_min.get(g, 0):
                continue
            size[g] -= 1
            (empty if want_empty else drain).append(name)
    return empty, drain


def crop_budgets(
    empty: Sequence[str],
    drain: Sequence[str],
    max_parallelism: int,
    max_drain: int,
    empty_in_progress: int = 0,
    drain_in_progress: int = 0,
) -> tuple[list[str], list[str]]:
    """``budgets.go`` ``CropNodes``: empty nodes first within the parallelism budget, then
    drains within ``min(what is left, max_drain − drains in progress)``."""
    budget = max(0, max_parallelism - empty_in_progress - drain_in_progress)
    take_empty = list(empty[:budget])
    budget -= len(take_empty)
    drain_budget = max(0, min(budget, max_drain - drain_in_progress))
    return take_empty, list(drain[:drain_budget])


# -- expanders --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExpansionOption:
    """One way to scale up (``expander.Option``): grow ``group`` by ``node_count`` nodes,
    which would take ``pods`` of the pending pods."""

    group: str
    node_count: int
    pods: int
    cpu_requested_m: int
    memory_requested: int
    node_cpu_capacity_m: int
    node_memory_capacity: int
    node_price_per_hour: float


class Expander(Protocol):
    """A scale-up strategy: the best of the options (several when tied)."""

    def best_options(
        self, options: Sequence[ExpansionOption], cluster_size: int
    ) -> list[ExpansionOption]: ...


class LeastWaste:
    """``expander/waste/waste.go``: the least idle CPU + memory after the scale-up.

    ``wasted = (cap_cpu·n − Σcpu)/(cap_cpu·n) + (cap_mem·n − Σmem)/(cap_mem·n)`` with the
    node **capacity** (``node.Status.Capacity``) and the requests of the pods the option
    would schedule; the lowest score wins, ties are all returned.
    """

    def best_options(
        self, options: Sequence[ExpansionOption], cluster_size: int
    ) -> list[ExpansionOption]:
        best: list[ExpansionOption] = []
        best_score = math.inf
        for o in options:
            cpu = o.node_cpu_capacity_m * o.node_count
            mem = o.node_memory_capacity * o.node_count
            score = (cpu - o.cpu_requested_m) / cpu + (mem - o.memory_requested) / mem
            if score == best_score:
                best.append(o)
            elif score < best_score:
                best, best_score = [o], score
        return best


class MostPods:
    """``expander/mostpods/mostpods.go``: the option that schedules the most pods."""

    def best_options(
        self, options: Sequence[ExpansionOption], cluster_size: int
    ) -> list[ExpansionOption]:
        if not options:
            return []
        most = max(o.pods for o in options)
        return [o for o in options if o.pods == most]


def _preferred_cpu_m(cluster_size: int) -> int:
    """``expander/price/preferred.go``: the preferred node doubles each time the cluster
    size triples (≤2 nodes: 1 core, ≤6: 2, ≤20: 4, ≤60: 8, ≤200: 16, else 32)."""
    for bound, cores in ((2, 1), (6, 2), (20, 4), (60, 8), (200, 16)):
        if cluster_size <= bound:
            return cores * 1000
    return 32000


def _pod_price(cpu_m: int, memory: int) -> float:
    """GCE ``PodPrice`` for one hour: requested cores × CPU price + GiB × memory price."""
    return cpu_m / 1000.0 * CPU_PRICE_PER_HOUR + memory / _GIB * MEMORY_PRICE_PER_GIB_HOUR


class Price:
    """``expander/price/price.go``: cheapest node price per pod price, near the preferred size.

    ``score = unfit' × (n × node_price + s) / (pods_price + s)`` for one hour, with
    ``s`` the price of the stabilisation pod (500m, 500 MiB), ``unfit = max(pref/cpu,
    cpu/pref)`` on CPU capacity against the preferred node for the cluster size, and
    ``unfit' = (unfit − 1)(1 − tanh((n − 1)/15)) + 1``; the lowest score wins. Node prices
    are the catalog's (AWS) per hour; pod prices use upstream's GCE model constants.
    """

    def best_options(
        self, options: Sequence[ExpansionOption], cluster_size: int
    ) -> list[ExpansionOption]:
        stab = _pod_price(500, 500 * _MIB)
        pref = _preferred_cpu_m(cluster_size)
        best: list[ExpansionOption] = []
        best_score = math.inf
        for o in options:
            nodes = o.node_price_per_hour * o.node_count
            pods = _pod_price(o.cpu_requested_m, o.memory_requested)
            sub = (nodes + stab) / (pods + stab)
            unfit = max(pref / o.node_cpu_capacity_m, o.node_cpu_capacity_m / pref)
            suppressed = (unfit - 1.0) * (1.0 - math.tanh((o.node_count - 1) / 15.0)) + 1.0
            score = suppressed * sub
            if score == best_score:
                best.append(o)
            elif score < best_score:
                best, best_score = [o], score
        return best


class RandomExpander:
    """``expander/random/random.go``: any option, uniformly at random."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng

    def best_options(
        self, options: Sequence[ExpansionOption], cluster_size: int
    ) -> list[ExpansionOption]:
        if len(options) <= 1:
            return list(options)
        return [options[int(self.rng.integers(len(options)))]]


class ExpanderChain:
    """``expander/factory/chain.go``: each strategy filters the options of the previous
    one; what is still tied at the end is decided at random."""

    def __init__(self, strategies: Sequence[Expander], rng: np.random.Generator) -> None:
        self.strategies = list(strategies)
        self.fallback = RandomExpander(rng)

    def choose(
        self, options: Sequence[ExpansionOption], cluster_size: int
    ) -> ExpansionOption | None:
        left = list(options)
        for s in self.strategies:
            if len(left) <= 1:
                break
            left = s.best_options(left, cluster_size) or left
        left = self.fallback.best_options(left, cluster_size)
        return left[0] if left else None


EXPANDERS: dict[str, Callable[[np.random.Generator], Expander]] = {
    "least-waste": lambda rng: LeastWaste(),
    "random": RandomExpander,
    "most-pods": lambda rng: MostPods(),
    "price": lambda rng: Price(),
}


def make_expander(spec: str, rng: np.random.Generator) -> ExpanderChain:
    """The chain for ``expander: a,b,...``."""
    return ExpanderChain([EXPANDERS[n.strip()](rng) for n in spec.split(",")], rng)


# -- node group backoff -----------------------------------------------------------------------


@dataclass
class Backoff:
    """``utils/backoff/exponential_backoff.go``: a failed scale-up backs the group off for
    ``initial``, doubling at each failure up to ``maximum``; a failure more than
    ``reset`` after the previous one starts again at ``initial``."""

    initial: float
    maximum: float
    reset: float = BACKOFF_RESET_S
    duration: float = 0.0
    until: float = -math.inf
    last_failure: float = -math.inf

    def fail(self, now: float) -> float:
        if self.duration == 0.0 or now - self.last_failure > self.reset:
            self.duration = self.initial
        else:
            self.duration = min(2 * self.duration, self.maximum)
        self.last_failure = now
        self.until = now + self.duration
        return self.until

    def active(self, now: float) -> bool:
        return self.until > now


# -- the controller ---------------------------------------------------------------------------


@dataclass
class _Group:
    name: str
    template: NodeTemplate
    min: int
    max: int
    backoff: Backoff


class ClusterAutoscalerController:
    """The reconcile loop over the container platform's nodes (see the module docstring).

    ``log`` keeps the node events ``(time, event, node)``: ``launch``, ``ready``,
    ``give_up``, ``taint``, ``evict``, ``remove`` — for tests and notebooks.
    """

    def __init__(
        self, config: ClusterAutoscalerConfig, platform: ContainerPlatform, ctx: RunContext
    ) -> None:

        self.config = config
        self.platform = platform
        self.ctx = ctx
        self.env: simpy.Environment = ctx.env
        # Take over node management from the platform's pending-pods scaler.
        platform.node_scaler = NoNodeScaler()
        self.groups = self._groups()
        self._initial_group = self._group_for_initial_nodes()
        self.expander = make_expander(config.expander, ctx.streams["autoscaling"])
        self.counters: dict[str, int] = ctx.extras.setdefault("counters", {})
        for name in ("scale_events", "ca_nodes_added", "ca_nodes_removed", "ca_nodes_timed_out"):
            self.counters.setdefault(name, 0)
        self.counters.setdefault("container_nodes_added", 0)
        self.log: list[tuple[float, str, str]] = []
        self._group_of: dict[Node, _Group] = {}
        self._seen: set[Node] = set()
        self._upcoming: dict[Node, simpy.Process] = {}
        self._deleting: dict[Node, bool] = {}  # node -> needs drain
        self._drained: dict[Node, simpy.Event] = {}
        self._unneeded: dict[str, tuple[float, int]] = {}
        self._unremovable_until: dict[str, float] = {}
        self._last_scale_up = -math.inf
        self._last_delete = -math.inf
        self._last_reason = ""
        self._next_node = 0
        ctx.cluster.retire_hooks.append(self._on_retire)
        self.process = self.env.process(self.run())

    # -- set-up -----------------------------------------------------------------------------

    def _template(self, node_type: str) -> NodeTemplate:

        it = INSTANCE_TYPES[node_type]
        cpu_m, mem = allocatable(it.vcpus, it.memory_gib)
        return NodeTemplate(
            node_type=node_type,
            cpu_m=cpu_m,
            memory=mem,
            max_pods=self.platform.config.max_pods_per_node,
            cpu_capacity_m=it.vcpus * 1000,
            memory_capacity=int(it.memory_gib * _GIB),
            price_per_hour=it.price * 3600.0,
        )

    def _groups(self) -> list[_Group]:
        c, pc = self.config, self.platform.config
        specs: list[tuple[str, str, int, int]]
        if c.node_groups is None:
            specs = [
                (
                    "default",
                    pc.node_type,
                    c.min_nodes or 0,
                    c.max_nodes if c.max_nodes is not None else pc.max_nodes,
                )
            ]
        else:
            specs = [(g.name, g.node_type, g.min, g.max) for g in c.node_groups]
        groups = []
        pod = (self.platform.cpu_m, self.platform.memory)
        for i, (name, node_type, lo, hi) in enumerate(specs):
            t = self._template(node_type)
            if pod[0] > t.cpu_m or pod[1] > t.memory:
                where = f"node_groups[{i}].node_type" if c.node_groups else "node_type"
                raise ValueError(
                    f"autoscaler.{where}: the platform's pod ({pod[0]}m, {pod[1] / _MIB:.0f}Mi) "
                    f"does not fit on a {node_type} node ({t.cpu_m}m, {t.memory / _MIB:.0f}Mi "
                    "allocatable): that group could never help"
                )
            backoff = Backoff(c.initial_node_group_backoff, c.max_node_group_backoff)
            groups.append(_Group(name, t, lo, hi, backoff))
        return groups

    def _group_for_initial_nodes(self) -> _Group | None:
        for g in self.groups:
            if g.template.node_type == self.platform.config.node_type:
                return g
        return None

    def _adopt(self) -> None:
        """Nodes the platform created itself (those at t = 0) join the platform type's group."""
        for node in self.platform.nodes:
            if node not in self._seen:
                self._seen.add(node)
                if self._initial_group is not None:
                    self._group_of[node] = self._initial_group
                self._next_node = max(self._next_node, len(self.platform.nodes))

    # -- the loop ---------------------------------------------------------------------------

    def run(self) -> Generator[simpy.Event, Any, None]:
        while True:
            self.scan()
            yield self.env.timeout(self.config.scan_interval)

    def scan(self) -> None:
        """One ``RunOnce``."""
        now = self.env.now
        self._adopt()
        self._give_up_late_nodes(now)
        scaled_up, no_scale_down = self._scale_up(now)
        if scaled_up:
            return  # "No scale down in this iteration."
        if self.config.scale_down_enabled:
            self._scale_down(now, disabled_for_loop=no_scale_down)

    # -- step 1: nodes that never came up ----------------------------------------------------

    def _give_up_late_nodes(self, now: float) -> None:
        late = [
            n for n in self._upcoming if n.t_launched + self.config.max_node_provision_time < now
        ]
        for node in late:
            current = len(self.platform.nodes)
            proc = self._upcoming.pop(node)
            if proc.is_alive:
                proc.interrupt("max node provision time")
            group = self._group_of.get(node)
            if group is not None:
                group.backoff.fail(now)
            self.log.append((now, "give_up", node.name))
            self._terminate(node)
            self.counters["ca_nodes_timed_out"] += 1
            self.counters["scale_events"] += 1
            backoff = (
                f"; group {group.name} backed off until {group.backoff.until:g} s"
                if group is not None
                else ""
            )
            self._record(
                now,
                "node_provision_time",
                now - node.t_launched,
                current,
                current - 1,
                len(self.platform.nodes),
                f"{node.name} not ready {self.config.max_node_provision_time:g} s after launch: "
                f"given up and deleted{backoff}",
            )

    # -- steps 2-3: scale-up ----------------------------------------------------------------

    def _pending(self, now: float) -> list[Instance]:
        """Unschedulable pods that will not fit on upcoming nodes, and are old enough."""
        waiting: list[Instance] = [inst for inst, _ in self.platform._waiting]  # noqa: SLF001
        if not waiting:
            return []
        pod = (self.platform.cpu_m, self.platform.memory)
        upcoming = [
            SimNode.empty(n.name, self._group_of[n].template)
            for n in self._upcoming
            if n in self._group_of
        ]
        left = filter_schedulable([pod] * len(waiting), upcoming)
        delay = self.config.new_pod_scale_up_delay
        return [waiting[i] for i in left if now - waiting[i].t_created > delay]

    def _group_size(self, group: _Group) -> int:
        return sum(1 for g in self._group_of.values() if g is group)

    def _scale_up(self, now: float) -> tuple[bool, bool]:
        """Returns (scaled up, scale-down disabled for this loop)."""
        pending = self._pending(now)
        if not pending:
            self._last_reason = ""
            return False, False
        if min(p.t_created for p in pending) + POD_TIME_BUFFER_S > now:
            return False, True  # allPodsAreNew: wait one iteration for more pods
        pod = (self.platform.cpu_m, self.platform.memory)
        pods = [pod] * len(pending)
        current = len(self.platform.nodes)
        cap = self.platform.config.max_nodes
        if self.config.max_nodes_total > 0:
            cap = min(cap, self.config.max_nodes_total)
        options: list[ExpansionOption] = []
        blocked: list[str] = []
        for g in self.groups:
            if g.backoff.active(now):
                blocked.append(f"{g.name} backed off until {g.backoff.until:g} s")
                continue
            room = min(g.max - self._group_size(g), cap - current)
            if g.max - self._group_size(g) <= 0:
                blocked.append(f"{g.name} at max size ({g.max})")
                continue
            if room <= 0:
                blocked.append(f"{g.name}: the cluster is at its max of {cap} nodes")
                continue
            est = binpack_estimate(pods, g.template, min(self.config.max_nodes_per_scaleup, room))
            if est.node_count > 0:
                t = g.template
                options.append(
                    ExpansionOption(
                        g.name,
                        est.node_count,
                        est.pods,
                        est.cpu_m,
                        est.memory,
                        t.cpu_capacity_m,
                        t.memory_capacity,
                        t.price_per_hour,
                    )
                )
        registered = current - len(self._upcoming)
        best = self.expander.choose(options, registered)
        if best is None:
            first = self.groups[0].template
            need = binpack_estimate(pods, first, len(pods)).node_count
            reason = f"{len(pending)} pods pending, no node group can grow: " + "; ".join(blocked)
            if reason != self._last_reason:
                self._record(
                    now, "pending_pods", len(pending), current, current + need, current, reason
                )
                self._last_reason = reason
            return False, False
        group = next(g for g in self.groups if g.name == best.group)
        need = binpack_estimate(pods, group.template, len(pods)).node_count
        for _ in range(best.node_count):
            self._launch(group, now)
        self._last_scale_up = now
        self.counters["scale_events"] += 1
        self._last_reason = ""
        self._record(
            now,
            "pending_pods",
            len(pending),
            current,
            current + need,
            len(self.platform.nodes),
            f"{len(pending)} pods pending: +{best.node_count} {group.template.node_type} in group "
            f"{group.name} ({best.pods} pods fit; expander {self.config.expander})",
        )
        return True, False

    def _launch(self, group: _Group, now: float) -> Node:

        t = group.template
        node = Node(
            name=f"node-{self._next_node}",
            cpu_m=t.cpu_m,
            memory=t.memory,
            max_pods=t.max_pods,
            price=t.price_per_hour / 3600.0,
            t_launched=now,
        )
        self._next_node += 1
        self.platform.nodes.append(node)
        self.ctx.cluster.cost_rate.add(now, node.price)
        self._seen.add(node)
        self._group_of[node] = group
        self._upcoming[node] = self.env.process(self._boot(node))
        self.counters["ca_nodes_added"] += 1
        self.counters["container_nodes_added"] += 1
        self.log.append((now, "launch", node.name))
        return node

    def _boot(self, node: Node) -> Generator[simpy.Event, Any, None]:
        """The platform's node pipeline; a cold image cache (``node.images`` starts empty)."""
        try:
            yield from self.platform._provision_node(node)  # noqa: SLF001
        except simpy.Interrupt:
            return
        self._upcoming.pop(node, None)
        self.log.append((self.env.now, "ready", node.name))

    # -- step 4: scale-down -----------------------------------------------------------------

    def _sim_nodes(self, nodes: Sequence[Node]) -> list[SimNode]:
        states = {i.id: i.state for i in self.ctx.cluster.instances}
        pod = (self.platform.cpu_m, self.platform.memory)
        out = []
        for n in nodes:
            movable = sum(1 for pid in n.pods if states.get(pid) is not State.DRAINING)
            out.append(
                SimNode(
                    n.name,
                    n.cpu_m,
                    n.memory,
                    n.max_pods,
                    n.cpu_requested,
                    n.memory_requested,
                    len(n.pods),
                    [pod] * movable,
                )
            )
        return out

    def _scale_down(self, now: float, *, disabled_for_loop: bool) -> None:
        cfg = self.config
        ready = [n for n in self.platform.nodes if n.ready and n not in self._deleting]
        candidates = [n for n in ready if n in self._group_of]
        self._unremovable_until = {k: t for k, t in self._unremovable_until.items() if t > now}
        threshold = cfg.scale_down_utilization_threshold
        under = [
            n
            for n in candidates
            if n.name not in self._unremovable_until
            and utilisation(n.cpu_requested, n.memory_requested, n.cpu_m, n.memory) < threshold
        ]
        if under:
            plan = plan_scale_down(
                self._sim_nodes(ready),
                [n.name for n in candidates],
                [n.name for n in ready],
                threshold,
                recently_unremovable=set(self._unremovable_until),
                previously_unneeded=set(self._unneeded),
            )
            for name in plan.no_room:
                self._unremovable_until[name] = now + cfg.unremovable_node_recheck_timeout
            self._unneeded = {
                r.name: (self._unneeded.get(r.name, (now, 0))[0], r.pods_to_move)
                for r in plan.removable
            }
            util = plan.utilisation
        else:
            self._unneeded = {}
            util = {}
        cooldown = (
            disabled_for_loop
            or not candidates
            or now < self._last_scale_up + cfg.scale_down_delay_after_add
            or now < self._last_delete + cfg.scale_down_delay_after_delete
        )
        if cooldown or not self._unneeded:
            return
        by_name = {n.name: n for n in self.platform.nodes}
        group_of = {n.name: g.name for n, g in self._group_of.items()}
        sizes: dict[str, int] = {}
        for grp in self._group_of.values():
            sizes[grp.name] = sizes.get(grp.name, 0) + 1
        deleting: dict[str, int] = {}
        for n in self._deleting:
            owner = self._group_of.get(n)
            if owner is not None:
                deleting[owner.name] = deleting.get(owner.name, 0) + 1
        order = [n.name for n in candidates]
        empty, drain = removable_now(
            self._unneeded,
            order,
            now,
            cfg.scale_down_unneeded_time,
            group_of,
            sizes,
            {g.name: g.min for g in self.groups},
            deleting,
        )
        if not empty and not drain:
            return
        drains_running = sum(1 for d in self._deleting.values() if d)
        take_empty, take_drain = crop_budgets(
            empty,
            drain,
            cfg.max_scale_down_parallelism,
            cfg.max_drain_parallelism,
            len(self._deleting) - drains_running,
            drains_running,
        )
        if not take_empty and not take_drain:
            return
        current = len(self.platform.nodes)
        to_move = {name: self._unneeded[name][1] for name in take_drain}
        for name in take_empty:
            self._start_deletion(by_name[name], drain=False)
        for name in take_drain:
            self._start_deletion(by_name[name], drain=True)
        self._last_delete = now
        self.counters["scale_events"] += 1
        parts = []
        if take_empty:
            parts.append("empty " + ", ".join(take_empty))
        for name in take_drain:
            parts.append(
                f"drain {name} (utilisation {util.get(name, 0.0):.3f}, "
                f"{to_move[name]} pods to move)"
            )
        gone = take_empty + take_drain
        self._record(
            now,
            "node_utilisation",
            max(util.get(n, 0.0) for n in gone),
            current,
            current - len(empty) - len(drain),
            current - len(gone),
            f"unneeded > {cfg.scale_down_unneeded_time:g} s: remove " + "; ".join(parts),
        )

    def _start_deletion(self, node: Node, *, drain: bool) -> None:
        node.ready = False  # the ToBeDeletedByClusterAutoscaler NoSchedule taint
        self._deleting[node] = drain
        self._unneeded.pop(node.name, None)
        self.log.append((self.env.now, "taint", node.name))
        self.env.process(self._delete(node))

    def _delete(self, node: Node) -> Generator[simpy.Event, Any, None]:
        """After the taint delay: evict the pods (replacements go Pending), wait, delete."""
        yield self.env.timeout(self.config.node_delete_delay_after_taint)
        cluster = self.ctx.cluster
        # The pod's terminationGracePeriodSeconds, capped by --max-graceful-termination-sec.
        limit = self.config.max_graceful_termination
        grace = min(self.ctx.scenario.serving.drain_timeout, limit)
        on_node = [i for i in cluster.instances if i.id in node.pods]
        for inst in on_node:
            if inst.state is State.DRAINING:
                continue  # already being deleted (e.g. by a pod scale-in)
            self.log.append((self.env.now, "evict", inst.name))
            if inst.state is State.READY:
                cluster.drain(inst, grace=grace)
            else:  # still starting: deleted at once
                if inst in self.platform.pending:
                    self.platform.pending.remove(inst)
                cluster.retire(inst)
            self.platform.launch_new()  # the ReplicaSet's replacement
        if node.pods:
            done = self.env.event()
            self._drained[node] = done
            yield done | self.env.timeout(limit)
            self._drained.pop(node, None)
            for inst in [i for i in cluster.instances if i.id in node.pods]:
                cluster.fail(inst)  # still running past the grace period: killed
        self._terminate(node)
        self.counters["ca_nodes_removed"] += 1

    def _on_retire(self, inst: Instance) -> None:
        for node, done in list(self._drained.items()):
            if not node.pods and not done.triggered:
                done.succeed()

    def _terminate(self, node: Node) -> None:
        """Delete the instance: billing stops (with the platform's minimum)."""
        # ContainerPlatform.remove_node takes only ready nodes; the flag is ours to flip
        # here (a taint, or a node that never joined) and nothing runs in between.
        node.ready = True
        self.platform.remove_node(node)
        self._deleting.pop(node, None)
        self._group_of.pop(node, None)
        self._unneeded.pop(node.name, None)
        self._unremovable_until.pop(node.name, None)
        self.log.append((self.env.now, "remove", node.name))

    # -- output -----------------------------------------------------------------------------

    def _record(
        self,
        now: float,
        metric: str,
        value: float,
        current: int,
        desired: int,
        applied: int,
        reason: str,
    ) -> None:
        self.ctx.record(
            "scaling",
            time_s=now,
            controller=KIND,
            metric=metric,
            metric_value=value,
            current=current,
            desired=desired,
            applied=applied,
            reason=reason,
        )


@AUTOSCALERS.register(
    KIND,
    ClusterAutoscalerConfig,
    "Kubernetes Cluster Autoscaler: nodes for Pending pods (binpacking, expanders), "
    "removal of nodes under 50% requested for 10 min (container platform only)",
    f"{_FAQ}; {_CA}core/, estimator/, expander/",
)
def build_cluster_autoscaler(
    config: ClusterAutoscalerConfig, platform: Platform, ctx: RunContext
) -> ClusterAutoscalerController:
    """Start the controller on a ``container`` platform (a clear error on any other)."""

    if not isinstance(platform, ContainerPlatform):
        kind = getattr(getattr(platform, "config", None), "kind", type(platform).__name__)
        raise ValueError(
            f"scenario {ctx.scenario.name!r}: autoscaler: kind 'cluster-autoscaler' manages "
            f"the nodes of a 'container' platform; this scenario's platform is {kind!r}"
        )
    if ctx.extras.get("cluster_autoscaler") is not None:
        raise ValueError(
            f"scenario {ctx.scenario.name!r}: autoscaler: only one 'cluster-autoscaler' "
            "per scenario (it owns the nodes)"
        )
    controller = ClusterAutoscalerController(config, platform, ctx)
    ctx.extras["cluster_autoscaler"] = controller
    return controller
