"""Provisioning pipelines as data: ordered stages, shared resources, transfers.

A pipeline is the ordered list of stages that bring one instance (or host)
from nothing to ready. Each stage has a duration distribution, optionally a
number of bytes to move over named links (through ``simulator.network``), and
optionally holds limited shared resources while it runs:

* a **pool** (``ops_staff: 2``, ``build_workers: 1``): a stage holding one unit
  waits until a unit is free — so ten servers are not racked ten times as fast;
* a **rate limit** (``cloud_api: 5/s``): a token bucket; the stage takes one
  token before it starts (burst = one second's worth, at least 1).

Platforms ship default pipelines; a scenario overrides them in YAML by stage
name — change fields of a stage, remove it with ``null``, or add one with
``after: <stage>``. Platform-fixed stages (PaaS) refuse overrides.

Every stage is recorded as a span: ``start_s`` is when its work began (after
waiting for resources), ``waited_s`` how long it waited before that.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import simpy
from pydantic import Field, model_validator

from simulator.base import Config
from simulator.distributions import Distribution, Fixed
from simulator.network import Network
from simulator.platform import ProvisioningSpan, SpanLog
from simulator.units import Size, parse_rate

__all__ = [
    "StageSpec",
    "StageOverride",
    "Stage",
    "Resources",
    "CallGuard",
    "resolve_stages",
    "run_stages",
    "fixed_duration",
]


def fixed_duration(seconds: float) -> Fixed:
    """A deterministic duration (shorthand for catalog defaults)."""
    return Fixed(kind="fixed", value=seconds)


class StageSpec(Config):
    """One stage of a default pipeline (as shipped in a platform's catalog)."""

    name: str
    duration: Distribution
    transfer: Size = 0.0
    links: tuple[str, ...] = ()
    holds: dict[str, int] = Field(default_factory=dict)
    rate_limit: str | None = None
    fixed: bool = False
    source: str = ""


class StageOverride(Config):
    """A scenario's change to one stage, or a new stage (``after`` names its predecessor)."""

    duration: Distribution | None = None
    transfer: Size | None = None
    links: list[str] | None = None
    holds: dict[str, int] | None = None
    rate_limit: str | None = None
    after: str | None = Field(default=None, description="add a new stage after this one")

    @model_validator(mode="after")
    def _positive_holds(self) -> StageOverride:
        for name, units in (self.holds or {}).items():
            if units < 1:
                raise ValueError(f"holds.{name}: must hold at least 1 unit")
        return self


@dataclass(frozen=True)
class Stage:
    """A resolved stage, ready to run."""

    name: str
    duration: Any
    transfer: float = 0.0
    links: tuple[str, ...] = ()
    holds: tuple[tuple[str, int], ...] = ()
    rate_limit: str | None = None


def resolve_stages(
    defaults: list[StageSpec],
    overrides: Mapping[str, StageOverride | None] | None,
    *,
    resources: Mapping[str, Any],
    links: set[str] | None = None,
) -> list[Stage]:
    """Apply a scenario's overrides to a default pipeline; raise ValueError naming the stage."""
    stages: list[dict[str, Any]] = [
        {
            "name": s.name,
            "duration": s.duration,
            "transfer": s.transfer,
            "links": tuple(s.links),
            "holds": dict(s.holds),
            "rate_limit": s.rate_limit,
            "fixed": s.fixed,
        }
        for s in defaults
    ]
    names = [s["name"] for s in stages]
    for name, ov in (overrides or {}).items():
        if name in names:
            stage = stages[names.index(name)]
            if stage["fixed"]:
                raise ValueError(
                    f"stages.{name}: this platform's {name!r} stage is fixed by the provider "
                    "and cannot be changed or removed"
                )
            if ov is None:
                idx = names.index(name)
                del stages[idx], names[idx]
                continue
            if ov.after is not None:
                raise ValueError(f"stages.{name}.after: only a new stage takes 'after'")
            for key in ("duration", "transfer", "rate_limit"):
                value = getattr(ov, key)
                if value is not None:
                    stage[key] = value
            if ov.links is not None:
                stage["links"] = tuple(ov.links)
            if ov.holds is not None:
                stage["holds"] = dict(ov.holds)
        else:
            if ov is None:
                raise ValueError(f"stages.{name}: no such stage to remove (stages: {names})")
            if ov.after is None:
                raise ValueError(
                    f"stages.{name}: unknown stage (stages: {', '.join(names)}); "
                    "to add a stage, give 'after: <stage>'"
                )
            if ov.after not in names:
                raise ValueError(f"stages.{name}.after: no stage {ov.after!r} (stages: {names})")
            if ov.duration is None:
                raise ValueError(f"stages.{name}: a new stage needs a duration")
            idx = names.index(ov.after) + 1
            stages.insert(
                idx,
                {
                    "name": name,
                    "duration": ov.duration,
                    "transfer": ov.transfer or 0.0,
                    "links": tuple(ov.links or ()),
                    "holds": dict(ov.holds or {}),
                    "rate_limit": ov.rate_limit,
                    "fixed": False,
                },
            )
            names.insert(idx, name)
    out = []
    for s in stages:
        for res in [*s["holds"], *([s["rate_limit"]] if s["rate_limit"] else [])]:
            if res not in resources:
                raise ValueError(
                    f"stages.{s['name']}: unknown resource {res!r} "
                    f"(resources: {', '.join(sorted(resources)) or 'none'})"
                )
        if links is not None:
            for link in s["links"]:
                if link not in links:
                    raise ValueError(
                        f"stages.{s['name']}.links: unknown link {link!r} "
                        f"(links: {', '.join(sorted(links))})"
                    )
        if s["transfer"] and not s["links"]:
            raise ValueError(f"stages.{s['name']}: a transfer needs links to cross")
        out.append(
            Stage(
                s["name"],
                s["duration"],
                float(s["transfer"]),
                s["links"],
                tuple(sorted(s["holds"].items())),
                s["rate_limit"],
            )
        )
    return out


def parse_resource(value: Any) -> int | float:
    """A pool size (int) or a rate limit (``"5/s"`` → float tokens per second)."""
    if isinstance(value, bool):
        raise ValueError("expected a pool size like 2 or a rate like '5/s'")
    if isinstance(value, int):
        if value < 1:
            raise ValueError("a pool needs at least 1 unit")
        return value
    rate = parse_rate(value)
    if rate <= 0:
        raise ValueError("a rate limit must be > 0")
    return float(rate)


class _TokenBucket:
    """Rate limiter: ``rate`` tokens per second, burst ``max(1, rate)``; FIFO waiters."""

    def __init__(self, env: simpy.Environment, rate: float) -> None:
        self.env = env
        self.rate = rate
        self.burst = max(1.0, rate)
        self.tokens = self.burst
        self.t_last = env.now
        self.next_free = env.now

    def take(self) -> simpy.Event:
        """An event that fires when this caller's token is available (reserved in order)."""
        now = self.env.now
        self.tokens = min(self.burst, self.tokens + (now - self.t_last) * self.rate)
        self.t_last = now
        self.tokens -= 1.0
        if self.tokens >= 0:
            return self.env.timeout(0)
        # In debt: this caller's token arrives after the debt is paid back.
        return self.env.timeout(-self.tokens / self.rate)


class CallGuard(Protocol):
    """Answers the calls a rate limit admits (a fault making a cloud API fail).

    ``admit`` runs right after a stage took its token: it returns once a call
    succeeds, retrying failed ones (each retry takes a fresh token with
    ``take``) and recording what it did as spans of ``instance``.
    """

    def admit(
        self,
        instance: str,
        stage: str,
        take: Callable[[], simpy.Event],
        spans: list[ProvisioningSpan],
    ) -> Generator[simpy.Event, Any, None]: ...


@dataclass
class Resources:
    """The shared, limited resources of one scenario: pools and rate limits.

    ``guards`` maps a rate limit's name to a ``CallGuard`` that may fail the
    calls it admits (installed at run time by a fault; none by default).
    """

    env: simpy.Environment
    spec: Mapping[str, int | float]
    pools: dict[str, simpy.Resource] = field(default_factory=dict)
    buckets: dict[str, _TokenBucket] = field(default_factory=dict)
    guards: dict[str, CallGuard] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, value in self.spec.items():
            if isinstance(value, int):
                self.pools[name] = simpy.Resource(self.env, capacity=value)
            else:
                self.buckets[name] = _TokenBucket(self.env, float(value))


def run_stages(
    env: simpy.Environment,
    stages: list[Stage],
    resources: Resources,
    rng: np.random.Generator,
    network: Network | None,
    instance: str,
    spans: list[ProvisioningSpan],
) -> Generator[simpy.Event, Any, None]:
    """Run the stages in order for one instance, recording a span per stage."""
    track = spans.open if isinstance(spans, SpanLog) else {}
    for stage in stages:
        t_req = env.now
        held = ",".join(f"{name}:{units}" for name, units in stage.holds)
        track[instance] = (stage.name, t_req, math.nan)
        requests: list[tuple[str, Any]] = []
        xfer = None
        try:
            for name, units in stage.holds:
                for _ in range(units):
                    req = resources.pools[name].request()
                    requests.append((name, req))
                    yield req
            if stage.rate_limit is not None:
                bucket = resources.buckets[stage.rate_limit]
                yield bucket.take()
                guard = resources.guards.get(stage.rate_limit)
                if guard is not None:
                    yield from guard.admit(instance, stage.name, bucket.take, spans)
            start = env.now
            track[instance] = (stage.name, t_req, start)
            if stage.transfer > 0 and network is not None:
                xfer = network.transfer(stage.transfer, stage.links, tag=f"{instance}:{stage.name}")
                yield xfer.done
            duration = float(stage.duration.sample(rng, 1)[0])
            if duration > 0:
                yield env.timeout(duration)
        except simpy.Interrupt:
            # Cancelled (scale-in): the stage ends here, marked as such.
            opened = track.get(instance, (stage.name, t_req, math.nan))
            began = opened[2]
            if xfer is not None and network is not None:
                network.cancel(xfer)
            spans.append(
                ProvisioningSpan(
                    instance,
                    f"{stage.name} (cancelled)",
                    env.now if math.isnan(began) else began,
                    env.now,
                    (env.now if math.isnan(began) else began) - t_req,
                    held,
                )
            )
            raise
        finally:
            track.pop(instance, None)
            # Also on interruption (scale-in): give back units held, leave queues waited in.
            for name, req in requests:
                if req.triggered:
                    resources.pools[name].release(req)
                else:
                    req.cancel()
        spans.append(ProvisioningSpan(instance, stage.name, start, env.now, start - t_req, held))
