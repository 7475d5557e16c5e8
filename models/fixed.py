"""``fixed``: N instances ready at t = 0, no provisioning — the queueing baseline.

Instances may be heterogeneous: ``instances`` is either a count or a list of
groups, each with its own ``count``, ``speed``, ``workers`` and balancer
``weight`` (e.g. two fast and two slow servers for balancer comparisons).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from simulator.base import Config
from simulator.platform import Platform, RunContext
from simulator.registry import PLATFORMS
from simulator.units import Price

__all__ = ["FixedConfig", "InstanceGroup", "FixedPlatform"]


class InstanceGroup(Config):
    """``count`` identical instances; unset fields take the scenario's ``serving`` values."""

    count: int = Field(ge=1)
    speed: float | None = Field(default=None, gt=0)
    workers: int | None = Field(default=None, ge=1)
    weight: float = Field(default=1.0, gt=0, description="balancer weight")
    price: Price | None = None


class FixedConfig(Config):
    """A fixed set of instances, ready at t = 0, never provisioned or scaled."""

    kind: Literal["fixed"]
    instances: int | list[InstanceGroup] = Field(
        description="a count, or groups of heterogeneous instances"
    )
    price: Price = Field(default=0.0, description="per instance, e.g. '$0.096/h'")

    @field_validator("instances")
    @classmethod
    def _at_least_one(cls, v: int | list[InstanceGroup]) -> int | list[InstanceGroup]:
        if (v if isinstance(v, int) else len(v)) < 1:
            raise ValueError("need at least one instance")
        return v

    def groups(self) -> list[InstanceGroup]:
        if isinstance(self.instances, int):
            return [InstanceGroup(count=self.instances)]
        return list(self.instances)


class FixedPlatform(Platform):
    """All instances exist and are ready from the first instant."""

    config: FixedConfig

    def start(self) -> None:
        cluster = self.ctx.cluster
        serving = self.ctx.scenario.serving
        for group in self.config.groups():
            for _ in range(group.count):
                inst = cluster.launch(
                    workers=group.workers or serving.workers,
                    speed=group.speed or serving.speed,
                    weight=group.weight,
                    price=group.price if group.price is not None else self.config.price,
                )
                cluster.mark_ready(inst)


@PLATFORMS.register(
    "fixed", FixedConfig, "N instances ready at t=0, no provisioning (queueing baseline)"
)
def build_fixed(config: FixedConfig, ctx: RunContext) -> FixedPlatform:
    return FixedPlatform(config, ctx)
