"""The experiment format: YAML → frozen pydantic models, validated once.

The platform and autoscaler blocks are discriminated unions on ``kind`` whose
members come from the registries (``simulator.registry``), so an architecture
added in ``models/`` appears here, in ``deploysim schema`` and in error
messages without touching the engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Union

from pydantic import Field, ValidationInfo, field_validator, model_validator

from simulator import autoscale  # noqa: F401 - registers the engine's own autoscalers
from simulator.balancer import BalancerConfig
from simulator.base import Config, field_error
from simulator.registry import AUTOSCALERS, PLATFORMS, Registry, cite, load_plugins
from simulator.units import Duration, Fraction
from simulator.workload import Workload

__all__ = ["Serving", "SLO", "Scenario", "Experiment", "PlatformConfig", "AutoscalerConfig"]

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
else:
    PlatformConfig = _tagged_union(PLATFORMS)
    AutoscalerConfig = _tagged_union(AUTOSCALERS)


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

    def autoscalers(self) -> list[Any]:
        """The scenario's control loops, as a list."""
        if self.autoscaler is None:
            return []
        return list(self.autoscaler) if isinstance(self.autoscaler, list) else [self.autoscaler]


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
    scenarios: list[Scenario] = Field(min_length=1)

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
