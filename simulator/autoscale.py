"""Autoscalers: periodic control loops that ask the platform for an instance count.

Each is registered in ``simulator.registry.AUTOSCALERS`` by its YAML ``kind``
and cites the system it imitates. ``none`` keeps the platform's initial
capacity (the default when a scenario has no ``autoscaler`` block).
"""

from __future__ import annotations

from typing import Any, Literal

from simulator.base import Config
from simulator.platform import Platform, RunContext
from simulator.registry import AUTOSCALERS

__all__ = ["NoAutoscaler"]


class NoAutoscaler(Config):
    """No control loop: capacity stays what the platform started with."""

    kind: Literal["none"]


@AUTOSCALERS.register("none", NoAutoscaler, "no autoscaling: the initial capacity stays")
def build_none(config: NoAutoscaler, platform: Platform, ctx: RunContext) -> Any:
    return None
