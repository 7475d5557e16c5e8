"""``hpa``: the Kubernetes Horizontal Pod Autoscaler, as kube-controller-manager runs it.

A reconcile loop every ``sync_period`` (15 s) that reads the metrics pipeline
(``simulator.metrics``, a metrics-server-like scrape every 15 s), computes a
replica count per metric, takes the largest, normalises it (stabilisation
windows, rate limits, min/max) and sets the target's replica count with
``platform.scale_to``. Everything follows the upstream code, read in
``kubernetes/kubernetes`` ``pkg/controller/podautoscaler/``:

* ``horizontal.go`` — the loop (``reconcileAutoscaler``), the maximum over
  metrics with the invalid-metric rules (``computeReplicasForMetrics``), the
  legacy normalisation (``normalizeDesiredReplicas``, ``stabilizeRecommendation``,
  ``convertDesiredReplicasWithRules``, ``calculateScaleUpLimit``) and the
  ``behavior`` normalisation (``stabilizeRecommendationWithBehaviors``,
  ``convertDesiredReplicasWithBehaviorRate``, ``calculateScaleUpLimitWithScalingRules``,
  ``calculateScaleDownLimitWithBehaviors``, ``getReplicasChangePerPeriod``,
  ``storeScaleEvent``);
* ``replica_calculator.go`` — ``groupPods``, ``GetResourceReplicas``,
  ``calcPlainMetricReplicas``, ``GetExternalMetricReplicas``,
  ``getUsageRatioReplicaCount``, ``Tolerances.isWithin``;
* ``metrics/utilization.go`` — ``GetResourceUtilizationRatio`` (integer percent,
  truncated) and ``GetMetricUsageRatio`` (integer milli-units, truncated);
* ``config/v1alpha1/defaults.go`` — the controller flags' defaults;
  ``pkg/apis/autoscaling/v2/defaults.go`` — ``minReplicas`` 1, CPU 80 %, the
  ``behavior`` defaults; ``pkg/apis/autoscaling/validation/validation.go`` —
  the limits on periods (1800 s) and windows (3600 s).

The replica calculation, the classification of pods and both normalisations
are pure functions of plain data (``Pod``, ``PodMetric``, lists of
``(value, time)``), so tests assert them directly; ``decide`` runs one
reconcile on an ``Observation`` and an ``HpaState``; the SimPy process only
observes the cluster, calls ``decide`` and applies the result.

How the simulation maps onto Kubernetes objects
-----------------------------------------------
* ``scale.spec.replicas`` (``current``) = ``platform.target`` (instances asked
  for, provisioning ones included, draining ones not).
* Pods = the cluster's instances: ``provisioning`` → phase ``Pending``
  (``groupPods`` counts them *unready*); ``ready`` → ``Running`` with
  ``Ready=True`` since ``t_ready``; ``draining`` → has a deletion timestamp
  (*ignored*). A pod's ``status.startTime`` is its ``t_created``. A pod with
  no scrape yet has a *missing* metric. No pod here goes from Ready back to
  not-ready, so ``initial_readiness_delay`` only decides in the pure
  ``group_pods`` (where tests give it such pods).
* CPU (a ``Resource`` metric, ``Utilization`` target): a pod's usage in
  millicores is ``cpu × min(workers × 1000, limit)`` where ``cpu`` = busy
  workers / workers over the scrape window (one busy worker = one busy core;
  a CPU limit throttles the pod to ``limit`` cores, as ``models.container``
  models CFS quota). Its request is the platform's pod CPU request
  (``container``: ``pod.cpu``), or ``workers × 1000`` on platforms without one.
  Milli-values are rounded up, like ``Quantity.MilliValue()``. Utilisation =
  ``floor(100 × Σ usage / Σ request)`` percent over the pods counted.
* ``rps``: a ``Pods`` metric with an ``AverageValue`` target — requests
  completed per second per pod (a custom-metrics adapter's
  ``http_requests_per_second``), averaged over the pods counted.
* ``latency_p50|p95|p99``: an ``External`` metric with a ``Value`` target —
  the cluster-wide latency percentile of the last scrape window (what a
  Prometheus adapter or KEDA would serve from a histogram), in milliseconds.
  ``ratio = value / target`` multiplies the *ready* pods (Running and Ready),
  as ``getUsageRatioReplicaCount`` does. A window with no completed request
  has no percentile: the metric is invalid for that sync (upstream: the
  adapter returns no data), and the invalid-metric rules apply.
* A sync reads the latest scrape; when a scrape falls on the same instant
  (always, with a sync period that is a multiple of 15 s) the scrape goes
  first, so the HPA reads a window that has just ended (real metrics are up to
  one resolution older).

Outputs: ``scaling.csv`` gets a row per sync that changes the replica count,
and a row when a sync's proposal differs from the current count but is held
(stabilised, rate-limited or clamped) — once when the hold starts, not again
while the count and the direction of the proposal stay the same, to keep the
table small (a flash crowd held at ``max`` is one row, not one per sync).
Columns: ``time_s, controller, metric, metric_value, current, desired,
applied, reason``; ``desired`` is the metrics' proposal
(before normalisation), ``applied`` what was set. Metric names carry units:
``cpu_pct`` (utilisation, percent of request), ``rps_per_pod``,
``latency_p95_s`` (and p50/p99). The summary counter ``scale_events`` counts
applied changes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import simpy
from pydantic import BeforeValidator, Field, PlainSerializer, WithJsonSchema, model_validator

from simulator.base import Config, field_error
from simulator.metrics import MetricsPipeline, metrics_for
from simulator.platform import Platform, RunContext
from simulator.registry import AUTOSCALERS, cite
from simulator.serving import Instance, State
from simulator.units import Duration, Fraction, UnitError, parse_duration, parse_rate

__all__ = [
    "HpaPolicy",
    "HpaRules",
    "HpaBehavior",
    "HpaMetric",
    "HpaAutoscaler",
    "MetricError",
    "Tolerances",
    "Pod",
    "PodMetric",
    "PodGroups",
    "Rules",
    "Behavior",
    "HpaState",
    "Observation",
    "Decision",
    "parse_percent",
    "pod_cpu_millis",
    "milli",
    "group_pods",
    "resource_utilization_ratio",
    "get_resource_replicas",
    "get_plain_metric_replicas",
    "get_external_value_replicas",
    "replicas_for_metrics",
    "stabilize_legacy",
    "convert_with_rules",
    "legacy_scale_up_limit",
    "stabilize_with_behavior",
    "replicas_change_in_period",
    "scale_up_limit",
    "scale_down_limit",
    "convert_with_behavior_rate",
    "store_scale_event",
    "decide",
    "HorizontalPodAutoscaler",
]

_FAMILY = "hpa"
_SRC_FLAGS = (
    "kubernetes pkg/controller/podautoscaler/config/v1alpha1/defaults.go "
    "(kube-controller-manager flag default)"
)
_SRC_API = "kubernetes pkg/apis/autoscaling/v2/defaults.go"
_SRC_LOOP = "kubernetes pkg/controller/podautoscaler/horizontal.go"
_SRC_VALID = "kubernetes pkg/apis/autoscaling/validation/validation.go"

SYNC_PERIOD_S = cite(
    _FAMILY,
    "sync period",
    15.0,
    "15 s",
    f"--horizontal-pod-autoscaler-sync-period; {_SRC_FLAGS}",
)
TOLERANCE = cite(
    _FAMILY, "tolerance", 0.1, "0.1", f"--horizontal-pod-autoscaler-tolerance; {_SRC_FLAGS}"
)
DOWNSCALE_STABILIZATION_S = cite(
    _FAMILY,
    "downscale stabilization",
    300.0,
    "5 min",
    f"--horizontal-pod-autoscaler-downscale-stabilization; {_SRC_FLAGS}",
)
CPU_INITIALIZATION_PERIOD_S = cite(
    _FAMILY,
    "CPU initialization period",
    300.0,
    "5 min",
    f"--horizontal-pod-autoscaler-cpu-initialization-period; {_SRC_FLAGS}",
)
INITIAL_READINESS_DELAY_S = cite(
    _FAMILY,
    "initial readiness delay",
    30.0,
    "30 s",
    f"--horizontal-pod-autoscaler-initial-readiness-delay; {_SRC_FLAGS}",
)
MIN_REPLICAS = cite(
    _FAMILY, "minReplicas", 1, "1", f"SetDefaults_HorizontalPodAutoscaler; {_SRC_API}"
)
DEFAULT_CPU_UTILIZATION = cite(
    _FAMILY,
    "CPU utilization target when no metric is given",
    80,
    "80 %",
    f"autoscaling.DefaultCPUUtilization; {_SRC_API}",
)
SCALE_UP_LIMIT_FACTOR = cite(
    _FAMILY, "legacy scale-up limit factor", 2.0, "2 × current", f"scaleUpLimitFactor; {_SRC_LOOP}"
)
SCALE_UP_LIMIT_MINIMUM = cite(
    _FAMILY, "legacy scale-up limit minimum", 4.0, "4 pods", f"scaleUpLimitMinimum; {_SRC_LOOP}"
)
MAX_PERIOD_S = cite(
    _FAMILY, "largest policy period", 1800.0, "1800 s", f"MaxPeriodSeconds; {_SRC_VALID}"
)
MAX_WINDOW_S = cite(
    _FAMILY,
    "largest stabilization window",
    3600.0,
    "3600 s",
    f"MaxStabilizationWindowSeconds; {_SRC_VALID}",
)
METRICS_RESOLUTION_S = cite(
    _FAMILY,
    "metrics resolution read",
    15.0,
    "15 s",
    "metrics-server --metric-resolution default (reference §1.10: unverified)",
    "S",
)
cite(
    _FAMILY,
    "behavior.scaleUp defaults",
    None,
    "window 0 s; Pods 4 / 15 s and Percent 100 / 15 s; select Max",
    f"defaultHPAScaleUpRules; {_SRC_API}",
)
cite(
    _FAMILY,
    "behavior.scaleDown defaults",
    None,
    "window = downscale stabilization; Percent 100 / 15 s; select Max",
    f"defaultHPAScaleDownRules; {_SRC_API}; maybeInitScaleDownStabilizationWindow in {_SRC_LOOP}",
)


# -- config ----------------------------------------------------------------------------------

_PERCENT = re.compile(r"^\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*(%?)\s*$")


def parse_percent(text: Any) -> int:
    """A utilisation target as a whole percent: ``"60%"`` → 60; a bare number is a
    fraction as everywhere in deploysim (``0.6`` → 60). Upstream's
    ``averageUtilization`` is an int32 percent, > 0; above 100 % write e.g. ``'150%'``."""
    if isinstance(text, bool) or not isinstance(text, int | float | str):
        raise UnitError(f"expected a percentage like '60%', got {text!r}")
    if isinstance(text, str):
        m = _PERCENT.match(text)
        if not m:
            raise UnitError(f"expected a percentage like '60%', got {text!r}")
        value, percent = float(m.group(1)), m.group(2) == "%"
    else:
        value, percent = float(text), False
    if not math.isfinite(value):
        raise UnitError(f"expected a finite percentage, got {text!r}")
    if not percent:
        if value > 1:
            raise UnitError(
                f"a bare number is a fraction (0.6 = 60%); write '{value:g}%' for a percentage, "
                f"got {text!r}"
            )
        value *= 100.0
    if not math.isfinite(value) or abs(value) > 2**31 - 1:  # int32 upstream
        raise UnitError(f"a utilisation target must be a percent below 2^31, got {text!r}")
    if abs(value - round(value)) > 1e-9:
        raise UnitError(f"a utilisation target is a whole percent (int32 upstream), got {text!r}")
    if round(value) <= 0:
        raise UnitError(f"a utilisation target must be above 0%, got {text!r}")
    return int(round(value))


Percent = Annotated[
    int,
    BeforeValidator(parse_percent),
    # Written back as "60%" so a resolved config reads back to the same target.
    PlainSerializer(lambda v: f"{v}%", return_type=str),
    WithJsonSchema(
        {
            "anyOf": [{"type": "string"}, {"type": "number", "exclusiveMinimum": 0}],
            "description": "a whole percent ('60%'; a bare number is a fraction: 0.6 = 60%)",
            "examples": ["60%", "150%", 0.8],
        }
    ),
]


class HpaPolicy(Config):
    """One scaling policy (``HPAScalingPolicy``): change at most ``value`` pods
    (``Pods``) or ``value`` % of the replicas at the start of the period
    (``Percent``) within any ``period``."""

    type: Literal["Pods", "Percent"]
    value: int = Field(gt=0, description="pods, or percent of the replicas")
    period: Duration = Field(gt=0, description="the sliding window the change is counted in")

    @model_validator(mode="after")
    def _period_limit(self) -> HpaPolicy:
        if self.period > MAX_PERIOD_S:
            raise field_error(
                "period", f"at most {MAX_PERIOD_S:g} s (MaxPeriodSeconds upstream)", self.period
            )
        return self


class HpaRules(Config):
    """``behavior.scaleUp`` / ``scaleDown`` (``HPAScalingRules``); a field left out
    takes the upstream default."""

    stabilization_window: Duration | None = Field(
        default=None,
        description="recommendations of this long ago still count (up: the min, down: the max)",
    )
    select_policy: Literal["Max", "Min", "Disabled"] | None = Field(
        default=None, description="the policy allowing the largest (Max) or smallest (Min) change"
    )
    policies: list[HpaPolicy] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _window_limit(self) -> HpaRules:
        w = self.stabilization_window
        if w is not None and w > MAX_WINDOW_S:
            raise field_error(
                "stabilization_window",
                f"at most {MAX_WINDOW_S:g} s (MaxStabilizationWindowSeconds upstream)",
                w,
            )
        return self


class HpaBehavior(Config):
    """``spec.behavior``: its presence selects the behavior path (as upstream, where
    API defaulting fills a given ``behavior`` and leaves a missing one nil)."""

    scale_up: HpaRules = Field(default_factory=HpaRules)
    scale_down: HpaRules = Field(default_factory=HpaRules)

    def resolve(self, downscale_stabilization: float) -> Behavior:
        """The rules with upstream defaults filled in (``GenerateHPAScaleUpRules``,
        ``GenerateHPAScaleDownRules``, ``maybeInitScaleDownStabilizationWindow``)."""
        up, down = self.scale_up, self.scale_down
        return Behavior(
            scale_up=Rules(
                stabilization_window=_or(up.stabilization_window, 0.0),
                select_policy=up.select_policy or "Max",
                policies=tuple(up.policies or DEFAULT_SCALE_UP_POLICIES),
            ),
            scale_down=Rules(
                stabilization_window=_or(down.stabilization_window, downscale_stabilization),
                select_policy=down.select_policy or "Max",
                policies=tuple(down.policies or DEFAULT_SCALE_DOWN_POLICIES),
            ),
        )


def _or(value: float | None, default: float) -> float:
    return default if value is None else value


DEFAULT_SCALE_UP_POLICIES = (
    HpaPolicy(type="Pods", value=4, period=15.0),
    HpaPolicy(type="Percent", value=100, period=15.0),
)
DEFAULT_SCALE_DOWN_POLICIES = (HpaPolicy(type="Percent", value=100, period=15.0),)

MetricType = Literal["cpu", "rps", "latency_p50", "latency_p95", "latency_p99"]


class HpaMetric(Config):
    """One entry of ``metrics``: ``{type: cpu, target: 60%}`` (Resource, Utilization),
    ``{type: rps, target: 50}`` (Pods, AverageValue, per second per pod) or
    ``{type: latency_p95, target: 300ms}`` (External, Value; also p50, p99)."""

    type: MetricType
    target: Annotated[
        float,
        WithJsonSchema(
            {
                "anyOf": [{"type": "string"}, {"type": "number", "exclusiveMinimum": 0}],
                "description": "cpu: a whole percent of the request ('60%'); rps: requests "
                "per second per pod (50 or '50/s'); latency_*: a duration ('300ms')",
                "examples": ["60%", "50/s", "300ms"],
            }
        ),
    ]

    @model_validator(mode="before")
    @classmethod
    def _parse_target(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "target" not in data:
            return data
        kind, raw = data.get("type"), data["target"]
        try:
            if kind == "cpu":
                value: float = parse_percent(raw)
            elif kind == "rps":
                value = parse_rate(raw)
            elif isinstance(kind, str) and kind.startswith("latency_"):
                value = parse_duration(raw)
            else:
                return data  # the type error is reported on 'type'
        except UnitError as exc:
            raise field_error("target", str(exc), raw) from None
        if not value > 0:
            raise field_error("target", "must be above 0", raw)
        return {**data, "target": value}

    @property
    def name(self) -> str:
        """The metric's column name in ``scaling.csv`` (units in the name)."""
        return {"cpu": "cpu_pct", "rps": "rps_per_pod"}.get(self.type, f"{self.type}_s")


class HpaAutoscaler(Config):
    """Kubernetes HPA (autoscaling/v2 semantics, kube-controller-manager defaults).

    ===============================  ==========  ==================================================
    key                              default     upstream
    ===============================  ==========  ==================================================
    ``min`` / ``max``                1 / —       ``spec.minReplicas`` / ``maxReplicas``
    ``target_cpu``                   80 %        v1 ``targetCPUUtilizationPercentage``
    ``metrics``                      —           ``spec.metrics`` (cpu, rps, latency_p50/95/99)
    ``tolerance``                    0.1         ``--horizontal-pod-autoscaler-tolerance``
    ``tolerance_up``, ``_down``      tolerance   ``behavior.scaleUp/scaleDown.tolerance``
    ``sync_period``                  15 s        ``--horizontal-pod-autoscaler-sync-period``
    ``cpu_initialization_period``    5 min       ``--…-cpu-initialization-period``
    ``initial_readiness_delay``      30 s        ``--…-initial-readiness-delay``
    ``downscale_stabilization``      5 min       ``--…-downscale-stabilization``
    ``behavior``                     absent      ``spec.behavior``: ``scale_up``/``scale_down`` with
                                                 ``stabilization_window``, ``select_policy``,
                                                 ``policies: [{type, value, period}]``
    ===============================  ==========  ==================================================

    ``target_cpu`` is the autoscaling/v1 shorthand for ``metrics: [{type: cpu,
    target: ...}]``; with neither, CPU at 80 % (upstream's default metric).
    ``tolerance_up`` / ``tolerance_down`` are the per-direction tolerances of
    KEP-4951; each defaults to ``tolerance`` (the cluster flag).
    ``downscale_stabilization`` is the controller flag: the legacy path's
    window, and the ``behavior.scale_down`` window when that leaves it out. A
    ``behavior`` block, even ``{}``, selects the behavior path with upstream's
    defaults for whatever it leaves out (up: window 0, Pods 4 and Percent 100
    per 15 s, Max; down: Percent 100 per 15 s, Max).

    Timing follows the code to the second: the first sync is one period after
    the start (a new HPA is queued with ``AddRateLimited``); the legacy window
    still counts a recommendation exactly ``downscale_stabilization`` old
    (``Before(cutoff)`` drops only older ones), the behavior windows and policy
    periods do not (``After(cutoff)`` keeps only newer ones).
    """

    kind: Literal["hpa"]
    min: int = Field(
        default=MIN_REPLICAS,
        ge=1,
        description="minReplicas (0 needs the alpha gate HPAScaleToZero: not modelled)",
    )
    max: int = Field(ge=1, description="maxReplicas")
    target_cpu: Percent | None = Field(
        default=None, description="CPU utilisation target, percent of the pod's request"
    )
    metrics: list[HpaMetric] | None = Field(
        default=None, min_length=1, description="several metrics: the largest proposal wins"
    )
    tolerance: Fraction = Field(
        default=TOLERANCE, description="no change while |ratio - 1| is within this"
    )
    tolerance_up: Fraction | None = Field(default=None, description="scale-up tolerance")
    tolerance_down: Fraction | None = Field(default=None, description="scale-down tolerance")
    sync_period: Duration = Field(default=SYNC_PERIOD_S, gt=0, description="reconcile interval")
    cpu_initialization_period: Duration = Field(
        default=CPU_INITIALIZATION_PERIOD_S,
        description="after a pod starts, its CPU counts only from one full metric window "
        "after it became ready",
    )
    initial_readiness_delay: Duration = Field(
        default=INITIAL_READINESS_DELAY_S,
        description="a not-ready pod that went unready this soon after starting never became "
        "ready: its CPU is ignored",
    )
    downscale_stabilization: Duration = Field(
        default=DOWNSCALE_STABILIZATION_S,
        description="scale-down follows the highest recommendation of this long",
    )
    behavior: HpaBehavior | None = Field(
        default=None, description="autoscaling/v2 behavior; absent = the legacy normalisation"
    )

    @model_validator(mode="after")
    def _consistent(self) -> HpaAutoscaler:
        if self.max < self.min:
            raise field_error("max", f"{self.max} is below min ({self.min})", self.max)
        if self.target_cpu is not None and any(m.type == "cpu" for m in self.metrics or []):
            raise field_error(
                "target_cpu",
                "give the CPU target once: either target_cpu or a 'cpu' entry in metrics",
                self.target_cpu,
            )
        return self

    def metric_specs(self) -> list[HpaMetric]:
        """The metrics evaluated each sync, in order (``target_cpu`` first)."""
        specs = list(self.metrics or [])
        if self.target_cpu is not None:
            specs.insert(
                0, HpaMetric.model_validate({"type": "cpu", "target": f"{self.target_cpu}%"})
            )
        if not specs:
            default = f"{DEFAULT_CPU_UTILIZATION}%"
            specs.append(HpaMetric.model_validate({"type": "cpu", "target": default}))
        return specs

    def tolerances(self) -> Tolerances:
        return Tolerances(
            down=_or(self.tolerance_down, self.tolerance),
            up=_or(self.tolerance_up, self.tolerance),
        )

    def resolved_behavior(self) -> Behavior | None:
        if self.behavior is None:
            return None
        return self.behavior.resolve(self.downscale_stabilization)


# -- plain data ------------------------------------------------------------------------------


class MetricError(Exception):
    """A metric could not give a replica count this sync (upstream returns an error)."""


@dataclass(frozen=True)
class Tolerances:
    """``Tolerances.isWithin``: no change while ``1 - down <= ratio <= 1 + up`` (inclusive)."""

    down: float = TOLERANCE
    up: float = TOLERANCE

    def is_within(self, ratio: float) -> bool:
        return (1.0 - self.down) <= ratio <= (1.0 + self.up)


@dataclass(frozen=True)
class Pod:
    """What ``groupPods`` reads of a pod.

    ``phase``: ``Pending``, ``Running``, ``Succeeded`` or ``Failed``; ``ready``:
    the Ready condition's status (None: no condition); ``ready_transition``: its
    ``lastTransitionTime``; ``start_time``: ``status.startTime`` (None: unset).
    """

    name: str
    phase: str = "Running"
    ready: bool | None = True
    ready_transition: float = 0.0
    start_time: float | None = 0.0
    deleting: bool = False


@dataclass(frozen=True)
class PodMetric:
    """One pod's metric in integer milli-units, sampled over ``window`` ending at ``timestamp``."""

    value: int
    timestamp: float = 0.0
    window: float = 60.0


@dataclass(frozen=True)
class PodGroups:
    """``groupPods``' result."""

    ready: int
    unready: frozenset[str]
    missing: frozenset[str]
    ignored: frozenset[str]


@dataclass(frozen=True)
class Rules:
    """Resolved ``HPAScalingRules`` (every field set)."""

    stabilization_window: float
    select_policy: str
    policies: tuple[HpaPolicy, ...]

    @property
    def longest_period(self) -> float:
        return max((p.period for p in self.policies), default=0.0)


@dataclass(frozen=True)
class Behavior:
    """Resolved ``spec.behavior``."""

    scale_up: Rules
    scale_down: Rules


Timed = tuple[int, float]  # (replicas or replica change, time)


@dataclass
class HpaState:
    """What the controller remembers between syncs (per HPA key upstream):
    raw recommendations and, on the behavior path, scale events."""

    recommendations: list[Timed] = field(default_factory=list)
    scale_up_events: list[Timed] = field(default_factory=list)
    scale_down_events: list[Timed] = field(default_factory=list)


# -- pod classification and replica calculation (replica_calculator.go) ----------------------


def milli(x: float) -> int:
    """A value in integer milli-units, rounded up like ``Quantity.MilliValue()``
    (the 1e-6 absorbs float noise: 0.3 s is 300 ms, not 301)."""
    return math.ceil(x * 1000.0 - 1e-6)


def pod_cpu_millis(cpu: float, workers: int, limit_m: int | None = None) -> int:
    """A pod's CPU usage in millicores: busy workers / workers × the cores they use
    (one per worker, at most the CPU limit), rounded up."""
    cores = float(workers) if limit_m is None else min(float(workers), limit_m / 1000.0)
    return milli(cpu * cores)


def group_pods(
    pods: Sequence[Pod],
    metrics: Mapping[str, PodMetric],
    now: float,
    *,
    cpu: bool = True,
    cpu_initialization_period: float = CPU_INITIALIZATION_PERIOD_S,
    initial_readiness_delay: float = INITIAL_READINESS_DELAY_S,
) -> PodGroups:
    """``groupPods``: deleted or failed pods are ignored, pending ones unready, pods
    without a metric missing; for CPU, a pod is also unready while it has no Ready
    condition, or within the CPU initialisation period if it is not ready or its
    metric window began before it became ready, or after that period if it is not
    ready and went unready within the initial readiness delay of starting."""
    ready = 0
    unready: set[str] = set()
    missing: set[str] = set()
    ignored: set[str] = set()
    for pod in pods:
        if pod.deleting or pod.phase == "Failed":
            ignored.add(pod.name)
            continue
        if pod.phase == "Pending":
            unready.add(pod.name)
            continue
        metric = metrics.get(pod.name)
        if metric is None:
            missing.add(pod.name)
            continue
        if cpu:
            if pod.ready is None or pod.start_time is None:
                is_unready = True
            elif pod.start_time + cpu_initialization_period > now:
                is_unready = (not pod.ready) or (
                    metric.timestamp < pod.ready_transition + metric.window
                )
            else:
                is_unready = (not pod.ready) and (
                    pod.start_time + initial_readiness_delay > pod.ready_transition
                )
            if is_unready:
                unready.add(pod.name)
                continue
        ready += 1
    return PodGroups(ready, frozenset(unready), frozenset(missing), frozenset(ignored))


def resource_utilization_ratio(
    values: Mapping[str, int], requests: Mapping[str, int], target_pct: int
) -> tuple[float, int]:
    """``GetResourceUtilizationRatio``: ``(utilisation / target, utilisation)`` with the
    utilisation an integer percent, truncated; metrics of unknown pods are skipped."""
    used = requested = 0
    for name, value in values.items():
        if name in requests:
            used += value
            requested += requests[name]
    if requested == 0:
        raise MetricError("no metrics returned matched known pods")
    utilization = (used * 100) // requested
    return utilization / target_pct, utilization


def get_resource_replicas(
    current: int,
    target_pct: int,
    pods: Sequence[Pod],
    metrics: Mapping[str, PodMetric],
    requests: Mapping[str, int],
    now: float,
    tolerances: Tolerances = Tolerances(),  # noqa: B008 - frozen, immutable default
    cpu_initialization_period: float = CPU_INITIALIZATION_PERIOD_S,
    initial_readiness_delay: float = INITIAL_READINESS_DELAY_S,
) -> tuple[int, int]:
    """``GetResourceReplicas`` for CPU: ``(replicas, utilisation %)``.

    ``ceil(ratio × ready pods)`` when no pod is missing and unready pods do not
    matter; otherwise missing pods count at 100 % of their request (or the
    target, if above 100 %) on a scale-down and at 0 on a scale-up, unready pods
    at 0 on a scale-up only, and the ratio is recomputed: no change if it is
    then within tolerance or the direction flips, else ``ceil(new ratio × pods
    counted)`` unless that flips the direction.
    """
    if not pods:
        raise MetricError("no pods returned by selector while calculating replica count")
    groups = group_pods(
        pods,
        metrics,
        now,
        cpu=True,
        cpu_initialization_period=cpu_initialization_period,
        initial_readiness_delay=initial_readiness_delay,
    )
    values = {n: m.value for n, m in metrics.items() if n not in groups.ignored | groups.unready}
    if not values:
        raise MetricError("did not receive metrics for targeted pods (pods might be unready)")
    for pod in pods:
        if pod.name not in requests:
            raise MetricError(f"missing request for cpu in pod {pod.name}")
    ratio, utilization = resource_utilization_ratio(values, requests, target_pct)

    scale_up_with_unready = bool(groups.unready) and ratio > 1.0
    if not scale_up_with_unready and not groups.missing:
        if tolerances.is_within(ratio):
            return current, utilization
        return math.ceil(ratio * groups.ready), utilization

    if groups.missing:
        if ratio < 1.0:
            fallback = max(100, target_pct)
            for name in groups.missing:
                values[name] = requests[name] * fallback // 100
        elif ratio > 1.0:
            for name in groups.missing:
                values[name] = 0
    if scale_up_with_unready:
        for name in groups.unready:
            values[name] = 0

    new_ratio, _ = resource_utilization_ratio(values, requests, target_pct)
    if tolerances.is_within(new_ratio) or (ratio < 1.0 < new_ratio) or (ratio > 1.0 > new_ratio):
        return current, utilization
    new_replicas = math.ceil(new_ratio * len(values))
    if (new_ratio < 1.0 and new_replicas > current) or (new_ratio > 1.0 and new_replicas < current):
        return current, utilization
    return new_replicas, utilization


def get_plain_metric_replicas(
    current: int,
    target_milli: int,
    pods: Sequence[Pod],
    metrics: Mapping[str, PodMetric],
    now: float,
    tolerances: Tolerances = Tolerances(),  # noqa: B008 - frozen, immutable default
) -> tuple[int, int]:
    """``calcPlainMetricReplicas`` (a Pods metric, AverageValue): ``(replicas, usage)``,
    usage the integer mean in milli-units. Like the CPU case, but missing pods count
    at exactly the target on a scale-down and the CPU readiness rules do not apply
    (only Pending pods are unready)."""
    if not pods:
        raise MetricError("no pods returned by selector while calculating replica count")
    groups = group_pods(pods, metrics, now, cpu=False)
    values = {n: m.value for n, m in metrics.items() if n not in groups.ignored | groups.unready}
    if not values:
        raise MetricError("did not receive metrics for targeted pods (pods might be unready)")
    usage = sum(values.values()) // len(values)
    ratio = usage / target_milli

    scale_up_with_unready = bool(groups.unready) and ratio > 1.0
    if not scale_up_with_unready and not groups.missing:
        if tolerances.is_within(ratio):
            return current, usage
        return math.ceil(ratio * groups.ready), usage

    if groups.missing:
        if ratio < 1.0:
            for name in groups.missing:
                values[name] = target_milli
        elif ratio > 1.0:
            for name in groups.missing:
                values[name] = 0
    if scale_up_with_unready:
        for name in groups.unready:
            values[name] = 0

    new_ratio = (sum(values.values()) // len(values)) / target_milli
    if tolerances.is_within(new_ratio) or (ratio < 1.0 < new_ratio) or (ratio > 1.0 > new_ratio):
        return current, usage
    new_replicas = math.ceil(new_ratio * len(values))
    if (new_ratio < 1.0 and new_replicas > current) or (new_ratio > 1.0 and new_replicas < current):
        return current, usage
    return new_replicas, usage


def get_external_value_replicas(
    current: int,
    usage_milli: int,
    target_milli: int,
    pods: Sequence[Pod],
    tolerances: Tolerances = Tolerances(),  # noqa: B008 - frozen, immutable default
) -> int:
    """``GetExternalMetricReplicas`` → ``getUsageRatioReplicaCount`` (External, Value):
    ``ceil(usage / target × ready pods)`` unless within tolerance; ready pods are
    Running with Ready=True."""
    ratio = usage_milli / target_milli
    if current == 0:
        return math.ceil(ratio)
    if tolerances.is_within(ratio):
        return current
    if not pods:
        raise MetricError("no pods returned by selector while calculating replica count")
    ready = sum(1 for p in pods if p.phase == "Running" and p.ready)
    return math.ceil(ratio * ready)


def replicas_for_metrics(proposals: Sequence[int | None], spec_replicas: int) -> int | None:
    """``computeReplicasForMetrics``: the largest proposal (None = that metric failed);
    None when every metric failed, or some failed and the rest would scale down."""
    best = 0
    invalid = 0
    for p in proposals:
        if p is None:
            invalid += 1
        elif best == 0 or p > best:
            best = p
    if invalid >= len(proposals) or (invalid > 0 and best < spec_replicas):
        return None
    return best


# -- normalisation without behavior (legacy path) -------------------------------------------


def stabilize_legacy(
    recommendations: Sequence[Timed], desired: int, now: float, window: float
) -> tuple[int, list[Timed]]:
    """``stabilizeRecommendation``: the max of ``desired`` and the recommendations
    not older than ``window`` (one exactly ``window`` old still counts); returns it
    and the log with ``(desired, now)`` written over the last old entry, or appended."""
    cutoff = now - window
    best = desired
    old: int | None = None
    for i, (rec, t) in enumerate(recommendations):
        if t < cutoff:
            old = i
        elif rec > best:
            best = rec
    log = list(recommendations)
    if old is None:
        log.append((desired, now))
    else:
        log[old] = (desired, now)
    return best, log


def legacy_scale_up_limit(current: int) -> int:
    """``calculateScaleUpLimit``: ``max(2 × current, 4)`` per sync."""
    return int(max(SCALE_UP_LIMIT_FACTOR * current, SCALE_UP_LIMIT_MINIMUM))


def convert_with_rules(current: int, desired: int, min_replicas: int, max_replicas: int) -> int:
    """``convertDesiredReplicasWithRules``: clamp to ``[min, min(max, scale-up limit)]``."""
    maximum = min(max_replicas, legacy_scale_up_limit(current))
    if desired < min_replicas:
        return min_replicas
    if desired > maximum:
        return maximum
    return desired


# -- normalisation with behavior -------------------------------------------------------------


def stabilize_with_behavior(
    recommendations: Sequence[Timed],
    desired: int,
    current: int,
    now: float,
    up_window: float,
    down_window: float,
) -> tuple[int, list[Timed]]:
    """``stabilizeRecommendationWithBehaviors``: scale up no further than the lowest
    raw recommendation of the last ``up_window`` and down no further than the highest
    of the last ``down_window`` (strictly newer than the cutoffs); records the raw
    ``desired`` over the last entry older than both windows, or appends it."""
    up_cutoff, down_cutoff = now - up_window, now - down_window
    up_rec = down_rec = desired
    old: int | None = None
    for i, (rec, t) in enumerate(recommendations):
        if t > up_cutoff:
            up_rec = min(rec, up_rec)
        if t > down_cutoff:
            down_rec = max(rec, down_rec)
        if t < up_cutoff and t < down_cutoff:
            old = i
    stabilized = current
    if stabilized < up_rec:
        stabilized = up_rec
    if stabilized > down_rec:
        stabilized = down_rec
    log = list(recommendations)
    if old is None:
        log.append((desired, now))
    else:
        log[old] = (desired, now)
    return stabilized, log


def replicas_change_in_period(events: Sequence[Timed], period: float, now: float) -> int:
    """``getReplicasChangePerPeriod``: replicas changed by events strictly within the
    last ``period`` (an event exactly ``period`` old no longer counts)."""
    cutoff = now - period
    return sum(change for change, t in events if t > cutoff)


def _period_start(
    current: int, ups: Sequence[Timed], downs: Sequence[Timed], period: float, now: float
) -> int:
    return (
        current
        - replicas_change_in_period(ups, period, now)
        + replicas_change_in_period(downs, period, now)
    )


def scale_up_limit(
    current: int, ups: Sequence[Timed], downs: Sequence[Timed], rules: Rules, now: float
) -> int:
    """``calculateScaleUpLimitWithScalingRules``: per policy, the replicas at the start
    of its period plus ``value`` pods or ``ceil(× (1 + value %))``; Max takes the
    largest, Min the smallest; Disabled allows no scale-up."""
    if rules.select_policy == "Disabled":
        return current
    proposals = []
    for pol in rules.policies:
        start = _period_start(current, ups, downs, pol.period, now)
        if pol.type == "Pods":
            proposals.append(start + pol.value)
        else:
            proposals.append(math.ceil(float(start) * (1 + float(pol.value) / 100)))
    return min(proposals) if rules.select_policy == "Min" else max(proposals)


def scale_down_limit(
    current: int, ups: Sequence[Timed], downs: Sequence[Timed], rules: Rules, now: float
) -> int:
    """``calculateScaleDownLimitWithBehaviors``: per policy, the replicas at the start
    of its period minus ``value`` pods or ``int(× (1 - value %))`` (truncated); Max
    takes the largest change (lowest count), Min the smallest; Disabled allows none."""
    if rules.select_policy == "Disabled":
        return current
    proposals = []
    for pol in rules.policies:
        start = _period_start(current, ups, downs, pol.period, now)
        if pol.type == "Pods":
            proposals.append(start - pol.value)
        else:
            proposals.append(int(float(start) * (1 - float(pol.value) / 100)))
    return max(proposals) if rules.select_policy == "Min" else min(proposals)


def convert_with_behavior_rate(
    current: int,
    desired: int,
    min_replicas: int,
    max_replicas: int,
    ups: Sequence[Timed],
    downs: Sequence[Timed],
    behavior: Behavior,
    now: float,
) -> int:
    """``convertDesiredReplicasWithBehaviorRate``: up to ``min(max, scale-up limit)``
    (the limit never below current), down to ``max(min, scale-down limit)`` (never
    above current); an unchanged count is left as is."""
    if desired > current:
        limit = max(scale_up_limit(current, ups, downs, behavior.scale_up, now), current)
        return min(desired, min(max_replicas, limit))
    if desired < current:
        limit = min(scale_down_limit(current, ups, downs, behavior.scale_down, now), current)
        return max(desired, max(min_replicas, limit))
    return desired


def store_scale_event(
    events: Sequence[Timed], change: int, now: float, longest_period: float
) -> list[Timed]:
    """``storeScaleEvent``: record ``change`` at ``now`` over the last event older than
    the rules' longest period (no longer counted by any policy), or append it."""
    cutoff = now - longest_period
    old: int | None = None
    for i, (_, t) in enumerate(events):
        if t < cutoff:
            old = i
    log = list(events)
    if old is None:
        log.append((change, now))
    else:
        log[old] = (change, now)
    return log


# -- one reconcile ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Observation:
    """What one sync reads: the scale target, its pods and the metrics.

    ``cpu``: per-pod CPU usage (millicores) with its window; ``requests``: per-pod
    CPU requests (millicores); ``rps``: per-pod completed requests per second
    (milli); ``latency``: cluster-wide latency percentiles in seconds of the last
    window (``{"latency_p95": 0.21, ...}``; NaN or absent = no data).
    """

    current: int
    pods: Sequence[Pod] = ()
    cpu: Mapping[str, PodMetric] = field(default_factory=dict)
    requests: Mapping[str, int] = field(default_factory=dict)
    rps: Mapping[str, PodMetric] = field(default_factory=dict)
    latency: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    """One sync's outcome, a row of ``scaling.csv``."""

    time_s: float
    current: int
    desired: int  # the metrics' proposal, or the min/max the current count violates
    applied: int  # what the replica count is set to
    metric: str
    metric_value: float
    reason: str


def _propose(
    spec: HpaMetric, config: HpaAutoscaler, obs: Observation, now: float
) -> tuple[int, float]:
    """One metric's replica proposal and its current value (in the column's unit)."""
    tol = config.tolerances()
    if spec.type == "cpu":
        replicas, utilization = get_resource_replicas(
            obs.current,
            round(spec.target),
            obs.pods,
            obs.cpu,
            obs.requests,
            now,
            tol,
            config.cpu_initialization_period,
            config.initial_readiness_delay,
        )
        return replicas, float(utilization)
    if spec.type == "rps":
        replicas, usage = get_plain_metric_replicas(
            obs.current, milli(spec.target), obs.pods, obs.rps, now, tol
        )
        return replicas, usage / 1000.0
    value = obs.latency.get(spec.type, math.nan)
    if not math.isfinite(value):
        raise MetricError(f"no {spec.type} in the last metrics window")
    usage = milli(value)
    replicas = get_external_value_replicas(obs.current, usage, milli(spec.target), obs.pods, tol)
    return replicas, usage / 1000.0


def decide(config: HpaAutoscaler, obs: Observation, state: HpaState, now: float) -> Decision | None:
    """One ``reconcileAutoscaler``: the decision, or None when the HPA does nothing
    this sync (target scaled to 0, or the metrics fail). Updates ``state``."""
    current = obs.current
    if not state.recommendations:  # recordInitialRecommendation
        state.recommendations = [(current, now)]
    lo, hi = config.min, config.max
    if current == 0 and lo != 0:
        return None  # "ScalingDisabled"
    behavior = config.resolved_behavior()
    metric, value = "", math.nan
    if current > hi:
        desired = applied = hi
        reason = "current above max"
    elif current < lo:
        desired = applied = lo
        reason = "current below min"
    else:
        specs = config.metric_specs()
        proposals: list[int | None] = []
        values: list[float] = []
        for spec in specs:
            try:
                replicas, v = _propose(spec, config, obs, now)
            except MetricError:
                proposals.append(None)
                values.append(math.nan)
                continue
            proposals.append(replicas)
            values.append(v)
        best = replicas_for_metrics(proposals, current)
        if best is None:
            return None
        desired = max(0, best)
        # The metric named is the first with the largest proposal, as upstream.
        i = next(i for i, p in enumerate(proposals) if p == best)
        metric, value = specs[i].name, values[i]
        notes = [
            f"{metric} above target"
            if desired > current
            else "all metrics below target"
            if desired < current
            else "within tolerance"
        ]
        if behavior is None:
            stabilized, state.recommendations = stabilize_legacy(
                state.recommendations, desired, now, config.downscale_stabilization
            )
            applied = convert_with_rules(current, stabilized, lo, hi)
            if stabilized != desired:
                notes.append(
                    f"stabilised to the highest recommendation of "
                    f"{config.downscale_stabilization:g} s: {stabilized}"
                )
            if applied < stabilized:
                limit = legacy_scale_up_limit(current)
                notes.append(
                    f"max replicas {hi}"
                    if hi <= limit
                    else f"scale-up limit max(2 x {current}, 4) = {limit}"
                )
            elif applied > stabilized:
                notes.append(f"min replicas {lo}")
        else:
            stabilized, state.recommendations = stabilize_with_behavior(
                state.recommendations,
                desired,
                current,
                now,
                behavior.scale_up.stabilization_window,
                behavior.scale_down.stabilization_window,
            )
            ups, downs = state.scale_up_events, state.scale_down_events
            applied = convert_with_behavior_rate(
                current, stabilized, lo, hi, ups, downs, behavior, now
            )
            if stabilized != desired:
                rules = behavior.scale_up if desired >= current else behavior.scale_down
                notes.append(f"stabilised over {rules.stabilization_window:g} s: {stabilized}")
            if applied < stabilized:
                limit = scale_up_limit(current, ups, downs, behavior.scale_up, now)
                notes.append(
                    f"max replicas {hi}"
                    if hi <= max(limit, current)
                    else f"scale-up policies ({behavior.scale_up.select_policy}) allow {applied}"
                )
            elif applied > stabilized:
                limit = scale_down_limit(current, ups, downs, behavior.scale_down, now)
                notes.append(
                    f"min replicas {lo}"
                    if lo >= min(limit, current)
                    else f"scale-down policies ({behavior.scale_down.select_policy}) "
                    f"allow {applied}"
                )
        reason = "; ".join(notes)
    if applied != current and behavior is not None:
        if applied > current:
            state.scale_up_events = store_scale_event(
                state.scale_up_events, applied - current, now, behavior.scale_up.longest_period
            )
        else:
            state.scale_down_events = store_scale_event(
                state.scale_down_events,
                current - applied,
                now,
                behavior.scale_down.longest_period,
            )
    return Decision(now, current, desired, applied, metric, value, reason)


# -- the controller --------------------------------------------------------------------------


def _pod_cpu(platform: Platform) -> tuple[int | None, int | None]:
    """The platform's pod CPU request and limit in millicores, if it has pods."""
    pod = getattr(platform.config, "pod", None)
    request = getattr(pod, "cpu_m", None)
    limit = getattr(pod, "limit_cpu", None)
    return (
        int(request) if isinstance(request, int) else None,
        int(limit) if isinstance(limit, int) else None,
    )


def _pod(inst: Instance) -> Pod:
    name = str(inst.id)
    if inst.state is State.DRAINING:
        return Pod(name, "Running", True, inst.t_ready or 0.0, inst.t_created, deleting=True)
    if inst.state is State.PROVISIONING:
        return Pod(name, "Pending", False, inst.t_created, inst.t_created)
    return Pod(name, "Running", True, inst.t_ready or 0.0, inst.t_created)


class HorizontalPodAutoscaler:
    """The reconcile loop: every ``sync_period`` observe, ``decide``, apply, record."""

    def __init__(self, config: HpaAutoscaler, platform: Platform, ctx: RunContext) -> None:
        self.config = config
        self.platform = platform
        self.ctx = ctx
        self.pipeline: MetricsPipeline = metrics_for(ctx, METRICS_RESOLUTION_S)
        self.state = HpaState()
        self.request_m, self.limit_m = _pod_cpu(platform)
        self.counters: dict[str, int] = ctx.extras.setdefault("counters", {})
        self.counters.setdefault("scale_events", 0)
        self._held: tuple[int, int, bool] | None = None
        self.process = ctx.env.process(self.run())

    def run(self) -> Generator[simpy.Event, Any, None]:
        env = self.ctx.env
        while True:
            yield env.timeout(self.config.sync_period)
            # Let everything else due now (a scrape) happen first: same-time events run in
            # the order they were scheduled, and this one is scheduled last.
            yield env.timeout(0)
            self.sync()

    def observe(self) -> Observation:
        """Pods and metrics as the HPA would read them now."""
        pods: list[Pod] = []
        cpu: dict[str, PodMetric] = {}
        rps: dict[str, PodMetric] = {}
        requests: dict[str, int] = {}
        for inst in self.ctx.cluster.instances:
            pod = _pod(inst)
            pods.append(pod)
            requests[pod.name] = (
                self.request_m if self.request_m is not None else inst.workers * 1000
            )
            sample = self.pipeline.sample(inst)
            if sample is not None:
                usage = pod_cpu_millis(sample.cpu, inst.workers, self.limit_m)
                cpu[pod.name] = PodMetric(usage, sample.timestamp, sample.window)
                rps[pod.name] = PodMetric(milli(sample.rps), sample.timestamp, sample.window)
        last = self.pipeline.last()
        latency = (
            {}
            if last is None
            else {
                "latency_p50": last.latency_p50_s,
                "latency_p95": last.latency_p95_s,
                "latency_p99": last.latency_p99_s,
            }
        )
        return Observation(self.platform.target, pods, cpu, requests, rps, latency)

    def sync(self) -> Decision | None:
        """One reconcile: decide, scale, record."""
        now = self.ctx.env.now
        d = decide(self.config, self.observe(), self.state, now)
        if d is None:
            return None
        if d.applied != d.current:
            self.platform.scale_to(d.applied)
            self.counters["scale_events"] = self.counters.get("scale_events", 0) + 1
            self._held = None
        elif d.desired != d.current:
            # One row when a hold starts; not again while the count and direction stay.
            key = (d.current, d.applied, d.desired > d.current)
            if key == self._held:
                return d
            self._held = key
        else:
            return d  # in the tolerance band: nothing to record
        self.ctx.record(
            "scaling",
            time_s=now,
            controller="hpa",
            metric=d.metric,
            metric_value=d.metric_value,
            current=d.current,
            desired=d.desired,
            applied=d.applied,
            reason=d.reason,
        )
        return d


@AUTOSCALERS.register(
    "hpa",
    HpaAutoscaler,
    "Kubernetes Horizontal Pod Autoscaler: CPU/rps/latency targets, tolerance, pod readiness "
    "rules, stabilisation and scaling policies",
    "kubernetes pkg/controller/podautoscaler (horizontal.go, replica_calculator.go)",
)
def build_hpa(
    config: HpaAutoscaler, platform: Platform, ctx: RunContext
) -> HorizontalPodAutoscaler:
    return HorizontalPodAutoscaler(config, platform, ctx)
