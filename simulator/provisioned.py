"""A platform whose instances go through a provisioning pipeline before they serve.

The shared base of the server-based architectures: instances that exist at the
start (``initial``) are ready at t = 0; every instance asked for later by
``scale_to`` runs the platform's pipeline (``simulator.pipeline``) as a SimPy
process and joins the balancer when its last stage ends. Scaling in cancels
instances still provisioning first (newest first), then drains ready ones.

A subclass supplies the default stages and resources (its catalog, with
sources) and may refine ``launch_kwargs`` (price, speed, workers) and
``pipeline_for`` (e.g. a host that must be bought first).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, ClassVar

import simpy
from pydantic import Field, field_validator, model_validator

from simulator.base import Config, located_error
from simulator.network import Network
from simulator.pipeline import (
    Resources,
    Stage,
    StageOverride,
    StageSpec,
    parse_resource,
    resolve_stages,
    run_stages,
)
from simulator.platform import Platform, ProvisioningSpan, RunContext
from simulator.serving import Instance, State

__all__ = ["ProvisionedConfig", "ProvisionedPlatform"]


class ProvisionedConfig(Config):
    """Fields every pipeline-based platform shares."""

    initial: int = Field(default=1, ge=0, description="instances ready at t = 0")
    max_instances: int | None = Field(default=None, ge=1, description="hard cap on instances")
    stages: dict[str, StageOverride | None] | None = Field(
        default=None,
        description="change a stage by name, remove it with null, add one with 'after: <stage>'",
    )
    resources: dict[str, int | str] | None = Field(
        default=None, description="shared limits: pools (ops_staff: 2) and rates (cloud_api: 5/s)"
    )

    # Subclasses set these: the catalog's default pipeline and resources.
    DEFAULT_STAGES: ClassVar[list[StageSpec]] = []
    DEFAULT_RESOURCES: ClassVar[dict[str, int | float]] = {}
    LINKS: ClassVar[set[str] | None] = None

    @field_validator("resources")
    @classmethod
    def _parse_resources(cls, v: dict[str, int | str] | None) -> dict[str, int | str] | None:
        for name, value in (v or {}).items():
            try:
                parse_resource(value)
            except ValueError as exc:
                raise ValueError(f"resources.{name}: {exc}") from None
        return v

    def resource_spec(self) -> dict[str, int | float]:
        """Default resources with the scenario's overrides applied."""
        spec = dict(self.DEFAULT_RESOURCES)
        for name, value in (self.resources or {}).items():
            spec[name] = parse_resource(value)
        return spec

    def default_stages(self) -> list[StageSpec]:
        """The catalog pipeline (a method so a subclass may vary it with its settings)."""
        return list(self.DEFAULT_STAGES)

    def resolved_stages(self) -> list[Stage]:
        return resolve_stages(
            self.default_stages(), self.stages, resources=self.resource_spec(), links=self.LINKS
        )

    @model_validator(mode="after")
    def _stages_resolve(self) -> ProvisionedConfig:
        try:
            self.resolved_stages()
        except ValueError as exc:  # "stages.<stage>: message" -> an error at that field
            raise located_error(exc) from None
        return self


class ProvisionedPlatform(Platform):
    """Instances are launched, provisioned through stages, then serve."""

    config: ProvisionedConfig

    def __init__(self, config: ProvisionedConfig, ctx: RunContext) -> None:
        super().__init__(config, ctx)
        self.env: simpy.Environment = ctx.env
        self.stages = config.resolved_stages()
        self.resources = Resources(ctx.env, config.resource_spec())
        self.network: Network = ctx.extras.setdefault("network", Network(ctx.env))
        self.rng = ctx.streams["provisioning"]
        self.pending: list[Instance] = []
        self._procs: dict[int, simpy.Process] = {}
        ctx.cluster.retire_hooks.append(self.on_retire)
        # Scale-out timing for the summary: from the first scale-up request.
        self.metrics: dict[str, float] = ctx.extras.setdefault("metrics", {})
        self._scale_from: tuple[float, int] | None = None

    # -- hooks ------------------------------------------------------------------------------

    def launch_kwargs(self) -> dict[str, Any]:
        """Instance settings (price per second, speed, workers) for a new instance."""
        return {}

    def pipeline_for(self, inst: Instance) -> list[Stage]:
        """The stages this instance goes through (default: the resolved pipeline, or the
        ones a restart gave it in ``tags["stages"]``)."""
        stages: list[Stage] | None = inst.tags.get("stages")
        return self.stages if stages is None else stages

    def on_retire(self, inst: Instance) -> None:
        """Called when an instance is gone (e.g. to charge a billing minimum)."""

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        for _ in range(self.config.initial):
            inst = self.ctx.cluster.launch(**self.launch_kwargs())
            self.ctx.cluster.mark_ready(inst)

    @property
    def target(self) -> int:
        return sum(1 for i in self.ctx.cluster.instances if i.state is not State.DRAINING)

    def scale_to(self, n: int) -> None:
        if self.config.max_instances is not None:
            n = min(n, self.config.max_instances)
        n = max(0, n)
        current = self.target
        if n > current:
            if self._scale_from is None:
                self._scale_from = (self.env.now, n)
            for _ in range(n - current):
                self.launch_new()
        elif n < current:
            self._shrink(current - n)

    def launch_new(self) -> Instance | None:
        """Hook: create one instance and start its ``provision`` process (None if refused)."""
        inst = self.ctx.cluster.launch(**self.launch_kwargs())
        self.pending.append(inst)
        self._procs[inst.id] = self.env.process(self.provision(inst))
        return inst

    def relaunch(
        self,
        old: Instance,
        *,
        stages: list[Stage] | None,
        delay: float,
        label: str,
        same_name: bool = True,
    ) -> Instance:
        """A replacement for the crashed ``old``: provisioning now (so it counts in
        ``target``), it waits ``delay`` (recorded as a ``label`` span), then runs
        ``stages`` (None: the whole pipeline) and serves. ``same_name``: a restart in
        place (same endpoint) rather than a new instance."""
        kwargs = self.launch_kwargs()
        if same_name:
            kwargs["name"] = old.name
        inst = self.ctx.cluster.launch(**kwargs)
        if stages is not None:
            inst.tags["stages"] = stages
        self.pending.append(inst)
        self._procs[inst.id] = self.env.process(self._after(inst, delay, label))
        return inst

    def _after(self, inst: Instance, delay: float, label: str) -> Generator[simpy.Event, Any, None]:
        if delay > 0:
            start = self.env.now
            try:
                yield self.env.timeout(delay)
            except simpy.Interrupt:
                self._procs.pop(inst.id, None)
                return
            self.ctx.cluster.spans.append(ProvisioningSpan(inst.name, label, start, self.env.now))
        yield from self.provision(inst)

    def provision(self, inst: Instance) -> Generator[simpy.Event, Any, None]:
        """Hook: the SimPy process that brings ``inst`` from launched to ready."""
        try:
            yield from run_stages(
                self.env,
                self.pipeline_for(inst),
                self.resources,
                self.rng,
                self.network,
                inst.name,
                self.ctx.cluster.spans,
            )
        except simpy.Interrupt:
            return
        finally:
            self._procs.pop(inst.id, None)
        self.pending.remove(inst)
        self.ctx.cluster.mark_ready(inst)
        self._note_ready()

    def _note_ready(self) -> None:
        if self._scale_from is None:
            return
        t0, wanted = self._scale_from
        now = self.env.now
        self.metrics.setdefault("time_to_first_ready_s", now - t0)
        if len(self.ctx.cluster.balancer) >= wanted:
            self.metrics.setdefault("time_to_target_capacity_s", now - t0)

    def _shrink(self, k: int) -> None:
        # Cancel the newest provisioning instances first: they serve nobody yet.
        for inst in reversed(list(self.pending)):
            if k == 0:
                return
            proc = self._procs.get(inst.id)
            if proc is not None and proc.is_alive:
                proc.interrupt("scale-in")
            self.pending.remove(inst)
            self.ctx.cluster.retire(inst)
            k -= 1
        ready = [i for i in self.ctx.cluster.instances if i.state is State.READY]
        for inst in reversed(ready[-k:] if k else []):
            self.ctx.cluster.drain(inst)
