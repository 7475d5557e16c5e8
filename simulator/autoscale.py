"""Autoscalers: periodic control loops that ask the platform for an instance count.

Each is registered in ``simulator.registry.AUTOSCALERS`` by its YAML ``kind``
and cites the system it imitates. ``none`` keeps the platform's initial
capacity (the default when a scenario has no ``autoscaler`` block).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, Literal

import simpy
from pydantic import Field, model_validator

from simulator.base import Config
from simulator.platform import Platform, RunContext
from simulator.registry import AUTOSCALERS
from simulator.units import Duration, format_duration

__all__ = ["NoAutoscaler", "ScheduleAutoscaler", "ScheduledAction"]


class NoAutoscaler(Config):
    """No control loop: capacity stays what the platform started with."""

    kind: Literal["none"]


@AUTOSCALERS.register("none", NoAutoscaler, "no autoscaling: the initial capacity stays")
def build_none(config: NoAutoscaler, platform: Platform, ctx: RunContext) -> Any:
    return None


class ScheduledAction(Config):
    """At ``at``, ask the platform for ``instances`` serving instances."""

    at: Duration
    instances: int = Field(ge=0)


class ScheduleAutoscaler(Config):
    """An operator's plan: set the instance count at given times (no metrics read).

    Models the manual change request of a ticket-driven shop, or a scheduled
    scaling action (AWS EC2 Auto Scaling scheduled actions set the desired
    capacity at a time; user guide, "Scheduled scaling").
    """

    kind: Literal["schedule"]
    actions: list[ScheduledAction] = Field(min_length=1)
    repeat: Duration | None = Field(
        default=None,
        gt=0,
        description="repeat the actions with this period, like a cron entry (e.g. 24h)",
    )

    @model_validator(mode="after")
    def _sorted(self) -> ScheduleAutoscaler:
        ats = [a.at for a in self.actions]
        if ats != sorted(ats):
            raise ValueError("actions must be in increasing order of 'at'")
        if self.repeat is not None and ats[-1] >= self.repeat:
            raise ValueError(f"with repeat ({self.repeat:g} s) every 'at' must be shorter")
        return self


@AUTOSCALERS.register(
    "schedule",
    ScheduleAutoscaler,
    "set the instance count at given times (scheduled action / manual change)",
    "AWS EC2 Auto Scaling scheduled actions",
)
def build_schedule(config: ScheduleAutoscaler, platform: Platform, ctx: RunContext) -> Any:
    counters = ctx.extras.setdefault("counters", {})
    counters.setdefault("scale_events", 0)

    def loop() -> Generator[simpy.Event, Any, None]:
        offset = 0.0
        while True:
            for action in config.actions:
                at = offset + action.at
                if at > ctx.env.now:
                    yield ctx.env.timeout(at - ctx.env.now)
                current = platform.target
                platform.scale_to(action.instances)
                ctx.record(
                    "scaling",
                    time_s=ctx.env.now,
                    controller="schedule",
                    metric="scheduled",
                    metric_value=float("nan"),
                    current=current,
                    desired=action.instances,
                    applied=platform.target,
                    reason=f"scheduled action at {format_duration(action.at)}",
                )
                if platform.target != current:
                    counters["scale_events"] += 1
            if config.repeat is None:
                return
            offset += config.repeat

    return ctx.env.process(loop())


def _load_controllers() -> None:
    """Import every module in ``simulator.autoscalers`` (each registers its kinds)."""
    import importlib
    import pkgutil

    from simulator import autoscalers

    for info in sorted(pkgutil.iter_modules(autoscalers.__path__), key=lambda m: m.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"simulator.autoscalers.{info.name}")


_load_controllers()
