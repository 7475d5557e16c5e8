"""The experiment format: YAML → frozen pydantic models, validated once.

The platform and autoscaler blocks are discriminated unions on ``kind`` whose
members come from the registries (``simulator.registry``), so an architecture
added in ``models/`` appears here, in ``deploysim schema`` and in error
messages without touching the engine.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

from pydantic import Field, ValidationInfo, field_validator, model_validator

from simulator import autoscale  # noqa: F401 - registers the engine's own autoscalers
from simulator.balancer import BalancerConfig
from simulator.base import Config, field_error
from simulator.faults import FAULTS, FaultConfig, HealthCheck
from simulator.limits import Limits, check_limits
from simulator.registry import AUTOSCALERS, PLATFORMS, Registry, cite, load_plugins
from simulator.units import Duration, Fraction
from simulator.workload import Workload

__all__ = [
    "Serving",
    "SLO",
    "FaultsBlock",
    "Precision",
    "METRIC_ALIASES",
    "Scenario",
    "SweepConfig",
    "Experiment",
    "PlatformConfig",
    "AutoscalerConfig",
]

load_plugins()


def _tagged_union(registry: Registry[Any]) -> Any:
    """The registered config models as a union discriminated by ``kind``."""
    members = tuple(e.config for e in registry)
    if len(members) == 1:
        return members[0]
    return Annotated[Union[members], Field(discriminator="kind")]  # noqa: UP007


if TYPE_CHECKING:
    PlatformConfig = Config
    AutoscalerConfig = Config
    FaultEventConfig = FaultConfig
else:
    PlatformConfig = _tagged_union(PLATFORMS)
    AutoscalerConfig = _tagged_union(AUTOSCALERS)
    FaultEventConfig = _tagged_union(FAULTS)


class Serving(Config):
    """How one instance serves: concurrency, queue bound, speed."""

    workers: int = Field(default=1, ge=1, description="requests served in parallel")
    queue_limit: int | None = Field(
        default=None,
        ge=0,
        description="requests waiting (not in service); absent = unbounded; full = dropped",
    )
    speed: float = Field(
        default=1.0, gt=0, description="service speed relative to the reference (demand / speed)"
    )
    drain_timeout: Duration = Field(
        default=cite(
            "serving",
            "termination grace period",
            30.0,
            "30 s",
            "Kubernetes Pod.spec.terminationGracePeriodSeconds default",
        ),
        description="on scale-in, in-flight requests get this long to finish; the rest are "
        "lost (dropped_failed)",
    )
    mode: Literal["exact", "fluid"] = Field(
        default="exact",
        description="exact: every request is an event; fluid: per time step, rates and "
        "backlogs per instance pool (simulator/fluid.py), for horizons of months",
    )
    step: Duration = Field(
        default=cite(
            "serving",
            "fluid time step",
            1.0,
            "1 s",
            "DESIGN serving mode example `serving: {mode: fluid, step: 1s}`: well below the "
            "fastest metrics scrape (metrics-server 15 s) and the provisioning stages (s to weeks)",
        ),
        gt=0,
        description="fluid mode: the time step pools are advanced by",
    )


class SLO(Config):
    """Service-level objectives a scenario is judged by.

    ``latency_*`` are thresholds on the named latency statistic; ``dropped`` is
    the largest acceptable share of requests not served (dropped or timed
    out). ``slo_attainment`` in the summary is the share of requests served
    within the tightest latency threshold given.
    """

    latency_mean: Duration | None = None
    latency_p50: Duration | None = None
    latency_p95: Duration | None = None
    latency_p99: Duration | None = None
    dropped: Fraction | None = None

    def latency_targets(self) -> dict[str, float]:
        """Statistic column → threshold, for the thresholds that are set."""
        out = {}
        for name in ("latency_mean", "latency_p50", "latency_p95", "latency_p99"):
            value = getattr(self, name)
            if value is not None:
                out[f"{name}_s"] = value
        return out


# Short metric names accepted by ``precision.metric`` and ``deploysim plan --slo``.
METRIC_ALIASES = {
    "mean": "latency_mean_s",
    "p50": "latency_p50_s",
    "p90": "latency_p90_s",
    "p95": "latency_p95_s",
    "p99": "latency_p99_s",
    "p999": "latency_p999_s",
    "dropped": "dropped",
    "cost": "cost_usd",
    "attainment": "slo_attainment",
}


class Precision(Config):
    """Stopping rule: add replications until the 95 % confidence half-width of ``metric``
    is at most ``relative`` × |mean| in every scenario, or ``max_replications`` is reached.

    ``metric`` is a summary column (e.g. ``latency_p99_s``) or a short name:
    mean, p50, p90, p95, p99, p999 (latency), dropped, cost, attainment.
    """

    metric: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    relative: Fraction = Field(gt=0, description="largest half-width / |mean|, e.g. 5%")
    max_replications: int = Field(default=100, ge=2, le=10000)

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, v: str) -> str:
        return METRIC_ALIASES.get(v, v)

    @model_validator(mode="after")
    def _within_percentile_resolution(self) -> Precision:
        # Percentiles come from 2 % log buckets (±1 %): replications whose p99 share a
        # bucket report identical values, so a tighter target could be "reached" by a
        # half-width of 0 that only reflects the bucket, not the estimate.
        if re.fullmatch(r"latency_p\d+_s", self.metric) and self.relative < 0.02:
            raise field_error(
                "relative",
                f"{self.metric} is recorded in 2 % buckets (±1 %): ask for at least 2 %",
                self.relative,
            )
        return self


class FaultsBlock(Config):
    """Faults injected into a run (``simulator.faults``): events by ``kind``, and the
    balancer's health check that notices dead instances."""

    health_check: HealthCheck | None = Field(
        default=None, description="default: a Kubernetes readiness probe (10 s, 3 failures, 1 s)"
    )
    events: list[FaultEventConfig] = Field(default_factory=list)


class Scenario(Config):
    """One architecture with its settings, run under the experiment's workload."""

    name: str = Field(min_length=1, max_length=80)
    description: str | None = None
    platform: PlatformConfig
    serving: Serving = Serving()
    balancer: BalancerConfig = BalancerConfig()
    autoscaler: AutoscalerConfig | list[AutoscalerConfig] | None = Field(
        default=None,
        description="one control loop, or several (e.g. an HPA for pods and a cluster "
        "autoscaler for nodes)",
    )
    faults: FaultsBlock | None = Field(
        default=None, description="faults for this scenario (added to the experiment's)"
    )

    @model_validator(mode="after")
    def _controllers_fit_the_platform(self) -> Scenario:
        kind = getattr(self.platform, "kind", None)
        for i, controller in enumerate(self.autoscalers()):
            allowed = getattr(controller, "PLATFORMS", None)
            if allowed and kind not in allowed:
                where = "autoscaler" if not isinstance(self.autoscaler, list) else f"autoscaler.{i}"
                raise field_error(
                    where,
                    f"{controller.kind} manages {' or '.join(allowed)} platforms, not {kind!r}",
                    controller.kind,
                )
        return self

    @model_validator(mode="after")
    def _faults_fit_the_platform(self) -> Scenario:
        # A fault kind may say which platforms it acts on (``applies_to``); one in the
        # scenario's own block must fit (the experiment's block applies where it fits).
        for i, event in enumerate(self.faults.events if self.faults is not None else []):
            check = getattr(event, "applies_to", None)
            why = check(self.platform) if check is not None else None
            if why:
                raise field_error(f"faults.events.{i}", f"{getattr(event, 'kind', '')} {why}")
        return self

    def autoscalers(self) -> list[Any]:
        """The scenario's control loops, as a list."""
        if self.autoscaler is None:
            return []
        return list(self.autoscaler) if isinstance(self.autoscaler, list) else [self.autoscaler]


class SweepConfig(Config):
    """A sweep over config paths (``deploysim sweep``): the full factorial of ``grid``,
    crossed with the paired values of ``zip`` (all ``zip`` lists have equal lengths).

    Keys are ``--set`` paths (``scenarios.NAME.platform.initial``); values are
    written as in the file (``100MB/s``, ``4``) and each point is validated like
    the file when the sweep starts.
    """

    grid: dict[str, list[Any]] = Field(
        default_factory=dict, description="path -> values; every combination is a point"
    )
    zip: dict[str, list[Any]] = Field(
        default_factory=dict, description="path -> values, paired by position (equal lengths)"
    )

    @model_validator(mode="after")
    def _well_formed(self) -> SweepConfig:
        for block in ("grid", "zip"):
            for path, values in getattr(self, block).items():
                if not values:
                    raise field_error(f"{block}.{path}", "needs at least one value", values)
        lengths = {len(v) for v in self.zip.values()}
        if len(lengths) > 1:
            sizes = ", ".join(f"{p}: {len(v)}" for p, v in self.zip.items())
            raise field_error("zip", f"lists must have equal lengths (have {sizes})")
        both = sorted(set(self.grid) & set(self.zip))
        if both:
            raise field_error("zip", f"path(s) also in grid: {', '.join(both)}")
        return self


class Experiment(Config):
    """One question: a workload, an SLO, and the scenarios to compare under it."""

    name: str = Field(
        min_length=1,
        max_length=80,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        description="used as the output folder name: letters, digits, . _ -",
    )
    question: str | None = None
    description: str | None = None
    seed: int = Field(default=0, ge=0, description="root seed of every random stream")
    horizon: Duration = Field(gt=0, description="simulated time")
    warmup: Duration = Field(default=0.0, description="excluded from statistics")
    replications: int = Field(default=1, ge=1, le=10000)
    sample_interval: Duration | None = Field(
        default=None, gt=0, description="time-series grid; default ≈ horizon / 500, rounded"
    )
    workload: Workload
    slo: SLO | None = None
    faults: FaultsBlock | None = Field(default=None, description="faults for every scenario")
    precision: Precision | None = Field(
        default=None, description="add replications until a metric is this precise"
    )
    scenarios: list[Scenario] = Field(min_length=1)
    sweep: SweepConfig | None = Field(
        default=None, description="values `deploysim sweep` runs (ignored by `deploysim run`)"
    )
    limits: Limits = Field(
        default_factory=Limits, description="event and memory budgets of every run (guard rails)"
    )

    @field_validator("warmup")
    @classmethod
    def _warmup_before_horizon(cls, v: float, info: ValidationInfo) -> float:
        horizon = info.data.get("horizon")
        if horizon is not None and v >= horizon:
            raise ValueError(f"warmup ({v:g} s) must be shorter than the horizon ({horizon:g} s)")
        return v

    @field_validator("scenarios")
    @classmethod
    def _unique_names(cls, v: list[Scenario]) -> list[Scenario]:
        names = [s.name for s in v]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"scenario names must be unique, repeated: {', '.join(dupes)}")
        return v

    @model_validator(mode="after")
    def _growth_stays_finite(self) -> Experiment:
        # Compound growth over the horizon must stay a float: e^709 is the largest there is.
        arrivals = self.workload.arrivals
        growth, over = getattr(arrivals, "growth", 1.0), getattr(arrivals, "growth_over", None)
        if over is not None and growth > 1.0:
            peak = max(getattr(arrivals, "max", 1.0), 1.0)
            exponent = math.log(growth) * self.horizon / over + math.log(peak)
            if exponent > 700.0:
                raise field_error(
                    "workload.arrivals.growth",
                    f"traffic would reach e^{exponent:.3g} requests/s within the horizon "
                    "(floating point ends at e^709): lower growth or lengthen growth_over",
                    growth,
                )
        return self

    @model_validator(mode="after")
    def _within_limits(self) -> Experiment:
        # Absurd sizes (a 10-year exact run at 1e6/s) fail here, before anything runs.
        problem = check_limits(self)
        if problem is not None:
            raise field_error(*problem)
        return self

    @model_validator(mode="after")
    def _fluid_fits(self) -> Experiment:
        # Fluid mode keeps one latency shape per pool; per-class shapes are not modelled.
        for i, s in enumerate(self.scenarios):
            if s.serving.mode == "fluid" and self.workload.classes:
                raise field_error(
                    f"scenarios.{i}.serving.mode",
                    "fluid mode does not model request classes (workload.classes): use mode: exact",
                    "fluid",
                )
        return self

    @property
    def interval(self) -> float:
        """The time-series sampling interval in seconds."""
        if self.sample_interval is not None:
            return self.sample_interval
        return nice_interval(self.horizon / 500)

    def scenario(self, name: str) -> Scenario:
        for s in self.scenarios:
            if s.name == name:
                return s
        raise KeyError(f"no scenario {name!r} (have: {', '.join(s.name for s in self.scenarios)})")


_NICE = [
    1,
    2,
    5,
    10,
    15,
    30,
    60,
    120,
    300,
    600,
    900,
    1800,
    3600,
    7200,
    21600,
    43200,
    86400,
]


def nice_interval(raw: float) -> float:
    """The smallest round interval (1 s, 2 s, 5 s, ..., 1 d) at least ``raw``."""
    for v in _NICE:
        if v >= raw:
            return float(v)
    return float(86400 * max(1, round(raw / 86400)))


def experiment_json_schema() -> dict[str, Any]:
    """JSON Schema of the experiment format (for editors)."""
    schema = Experiment.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "deploysim experiment"
    return schema
