"""Fault kinds that act on the infrastructure behind the instances: the image registry,
the cloud API, the network between a node and the registry.

Registered in ``simulator.faults.FAULTS`` (so they appear in the ``faults:``
block, ``deploysim schema`` and ``deploysim list``); timing (``at`` or
``rate``), ``duration`` and the ``faults.csv`` record come from
``simulator.faults``. Each kind drives a mechanism of its model:

* ``registry_outage`` — the container platform's registry answers nothing for
  ``duration`` (``models.images.Registry.begin_outage``): transfers in flight
  break, requests fail; downloads retry (5 s × attempt, 5 attempts), a failed
  pull backs off 10 s doubling to 300 s (kubelet), so pods wait past the end.
* ``registry_slowdown`` — the registry's egress bandwidth × ``factor`` for
  ``duration``; transfers in flight re-share the new capacity at once
  (``simulator.network.Network.set_bandwidth``).
* ``cloud_api_errors`` — calls to the cloud's launch API fail with ``error``
  (``throttling`` or ``insufficient_capacity``) with ``probability`` for
  ``duration``: retried by the SDK's standard mode (throttling) and by the
  launcher (``models.cloud.ApiErrors``); on ``cloud`` instances and on
  ``container`` nodes, whose launches take the same ``cloud_api`` token.
* ``partition`` — one container node (``target``: ``random``, an index or a
  node name) cannot reach the registry for ``duration``: new connections
  time out after 30 s, transfers in flight stall and resume if it heals
  within 5 min, else fail (``models.images.Registry.partition``).

A fault in a scenario's own ``faults`` block must fit its platform
(``applies_to``, checked when the experiment is validated); one in the
experiment's block applies to the scenarios it fits and is skipped (not
recorded) on the others.

Each fault is one ``faults.csv`` row: ``start_s`` / ``end_s`` the window, and
``recovered_s`` when as many instances are ready as the platform was asked for
at the end of the window, or as it asks for by then if fewer (what the fault
held back has caught up, or a scale-in cancelled it; the end itself if nothing
was held back).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import simpy
from pydantic import Field, model_validator

from models.cloud import LAUNCH_RETRY_S, SDK_MAX_ATTEMPTS, SDK_MAX_BACKOFF_S, ApiErrors, ApiWindow
from models.images import Registry
from simulator.base import field_error
from simulator.faults import FAULTS, FaultConfig, FaultRecord, fault_log, pick_targets, schedule
from simulator.units import Duration, Fraction

if TYPE_CHECKING:
    from simulator.platform import Platform, RunContext

__all__ = [
    "RegistryOutage",
    "RegistrySlowdown",
    "CloudApiErrors",
    "Partition",
    "FaultTargetError",
]


class FaultTargetError(ValueError):
    """A fault in a scenario's own block that its platform has nothing for (one line)."""


class _WindowFault(FaultConfig):
    """A fault that lasts ``duration`` (required) on a platform of ``PLATFORMS``."""

    PLATFORMS: ClassVar[tuple[str, ...]] = ("container",)

    kind: str  # each kind narrows it to its Literal

    @model_validator(mode="after")
    def _needs_duration(self) -> _WindowFault:
        if self.duration is None:
            raise field_error("duration", f"a {self.kind} needs a duration, e.g. 10m")
        return self

    def applies_to(self, platform: Any) -> str | None:
        """Why this fault cannot act on a platform with this config (None if it can)."""
        kind = getattr(platform, "kind", None)
        if kind not in self.PLATFORMS:
            return f"acts on {' or '.join(self.PLATFORMS)} platforms, not {kind!r}"
        return None


class _RegistryFault(_WindowFault):
    def applies_to(self, platform: Any) -> str | None:
        why = super().applies_to(platform)
        if why is None and getattr(platform, "image_pull", None) is not None:
            why = "needs the layer-level image model (image_pull is a fixed time here)"
        return why


class RegistryOutage(_RegistryFault):
    """The registry answers nothing for ``duration``."""

    kind: Literal["registry_outage"]


class RegistrySlowdown(_RegistryFault):
    """The registry's egress bandwidth is multiplied by ``factor`` for ``duration``."""

    kind: Literal["registry_slowdown"]
    factor: float = Field(gt=0, description="egress bandwidth multiplier, e.g. 0.1")


class CloudApiErrors(_WindowFault):
    """Launch API calls fail with ``error`` (each with ``probability``) for ``duration``."""

    PLATFORMS: ClassVar[tuple[str, ...]] = ("cloud", "container")

    kind: Literal["cloud_api_errors"]
    error: Literal["throttling", "insufficient_capacity"] = Field(
        description="throttling (RequestLimitExceeded) or insufficient_capacity"
    )
    probability: Fraction = Field(default=1.0, description="share of calls that fail")
    max_attempts: int = Field(
        default=SDK_MAX_ATTEMPTS, ge=1, description="SDK attempts per call (throttling)"
    )
    max_backoff: Duration = Field(
        default=SDK_MAX_BACKOFF_S, gt=0, description="SDK back-off cap (full jitter, base 2)"
    )
    retry_interval: Duration = Field(
        default=LAUNCH_RETRY_S, gt=0, description="a failed launch is tried again after this"
    )


class Partition(_RegistryFault):
    """A node cannot reach the registry for ``duration``: ``node`` names it (or ``target``:
    ``random``, an index or a name, as for the other kinds)."""

    kind: Literal["partition"]
    node: str | None = Field(default=None, description="the node cut off, e.g. node-2")

    @model_validator(mode="after")
    def _one_node(self) -> Partition:
        if self.node is not None and self.target != "random":
            raise field_error("node", "give the node as 'node' or 'target', not both")
        return self

    def targeting(self) -> Partition:
        """This config with ``node`` folded into ``target``."""
        return self if self.node is None else self.model_copy(update={"target": self.node})


# -- starting them -----------------------------------------------------------------------------


def _fits(config: _WindowFault, ctx: RunContext) -> bool:
    """Whether the fault acts on this scenario; an error if the scenario asked for it."""
    why = config.applies_to(ctx.scenario.platform)
    if why is None:
        return True
    own = ctx.scenario.faults
    if own is not None and any(event is config for event in own.events):
        raise FaultTargetError(f"scenario {ctx.scenario.name!r}: {config.kind} {why}")
    return False


def _registry(platform: Platform) -> Registry:
    registry = getattr(getattr(platform, "images", None), "registry", None)
    if not isinstance(registry, Registry):  # pragma: no cover - applies_to checked it
        raise FaultTargetError("this platform has no registry")
    return registry


def _close(ctx: RunContext, rec: FaultRecord, platform: Platform) -> None:
    """The window ends: recovered once the instances asked for now are ready."""
    rec.end_s = ctx.env.now
    fault_log(ctx).await_capacity(rec, platform.target)


def _window(
    ctx: RunContext,
    platform: Platform,
    config: _WindowFault,
    target: str,
    begin: Callable[[], object],
    end: Callable[[], object],
) -> Generator[simpy.Event, Any, None]:
    """One occurrence: ``begin()`` now, ``end()`` after ``duration``, and its record."""
    assert config.duration is not None
    rec = fault_log(ctx).open(config.kind, target)
    begin()
    yield ctx.env.timeout(config.duration)
    end()
    _close(ctx, rec, platform)


@FAULTS.register(
    "registry_outage",
    RegistryOutage,
    "the image registry answers nothing for a while (container)",
    "kubelet image pull back-off; moby download retries",
)
def start_registry_outage(config: RegistryOutage, ctx: RunContext, platform: Platform) -> None:
    if not _fits(config, ctx):
        return
    registry = _registry(platform)
    schedule(
        config,
        ctx,
        lambda: _window(
            ctx, platform, config, registry.link, registry.begin_outage, registry.end_outage
        ),
    )


@FAULTS.register(
    "registry_slowdown",
    RegistrySlowdown,
    "the image registry's egress bandwidth × factor for a while (container)",
    "max-min fair network, recomputed on the capacity change",
)
def start_registry_slowdown(config: RegistrySlowdown, ctx: RunContext, platform: Platform) -> None:
    if not _fits(config, ctx):
        return
    registry = _registry(platform)
    factor = config.factor
    schedule(
        config,
        ctx,
        lambda: _window(
            ctx,
            platform,
            config,
            registry.link,
            lambda: registry.slow_down(factor),
            lambda: registry.restore(factor),
        ),
    )


@FAULTS.register(
    "cloud_api_errors",
    CloudApiErrors,
    "launch API calls fail (throttling / insufficient capacity) for a while (cloud, container)",
    "AWS SDK standard retry mode; EC2 Auto Scaling retries failed launches",
)
def start_cloud_api_errors(config: CloudApiErrors, ctx: RunContext, platform: Platform) -> None:
    if not _fits(config, ctx):
        return
    resources = getattr(platform, "resources", None)
    if resources is None or "cloud_api" not in resources.buckets:
        raise FaultTargetError(
            f"scenario {ctx.scenario.name!r}: cloud_api_errors needs the 'cloud_api' rate limit"
        )
    guard = resources.guards.get("cloud_api")
    if not isinstance(guard, ApiErrors):
        counters: dict[str, int] = ctx.extras.setdefault("counters", {})
        guard = ApiErrors(ctx.env, ctx.streams["failures"], counters)
        resources.guards["cloud_api"] = guard
    api: ApiErrors = guard
    window = ApiWindow(
        config.error,
        config.probability,
        config.max_attempts,
        config.max_backoff,
        config.retry_interval,
    )

    def fire() -> Generator[simpy.Event, Any, None]:
        return _window(
            ctx, platform, config, config.error, lambda: api.open(window), lambda: api.close(window)
        )

    schedule(config, ctx, fire)


@FAULTS.register(
    "partition",
    Partition,
    "a node cannot reach the registry for a while (container)",
    "containerd dial timeout 30 s, image_pull_progress_timeout 5 min",
)
def start_partition(config: Partition, ctx: RunContext, platform: Platform) -> None:
    if not _fits(config, ctx):
        return
    registry = _registry(platform)

    def fire() -> None:
        nodes = {n.name: n for n in getattr(platform, "nodes", [])}
        for name, _node in pick_targets(config.targeting(), ctx, nodes):
            cut = functools.partial(registry.partition, name)
            heal = functools.partial(registry.heal, name)
            ctx.env.process(_window(ctx, platform, config, name, cut, heal))

    schedule(config, ctx, fire)
