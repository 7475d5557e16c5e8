"""``ticket``: manual scaling — a monitoring check alerts, a person orders capacity.

The only "autoscaler" a shop of bought servers has: nobody scales anything until a
person is told, looks, and asks for more. Modelled in four steps, each after a
real system or practice:

1. **A monitoring check** runs every ``check_every`` (default 5 min: the Nagios Core
   sample configuration checks hosts and local services every 5 minutes,
   ``NagiosEnterprises/nagioscore`` ``sample-config/template-object/templates.cfg.in``,
   ``check_interval 5`` with the default ``interval_length`` of 60 s). It reads the
   cluster CPU utilisation (busy workers / workers of the ready instances, averaged
   over the check window, ``simulator.metrics``) and the p95 response time of the
   window, and compares them with ``threshold_cpu`` (default 80 %) and, when set,
   ``threshold_p95``: either one exceeded is a breach.
2. **An alert fires** when the breach has held at every check for ``sustained``
   (default 10 min) — the ``for`` clause of a Prometheus alerting rule: "Prometheus
   will check that the alert continues to be active during each evaluation for 10
   minutes before firing the alert" (prometheus.io, "Alerting rules", whose example
   uses ``for: 10m``). A check without breach resets it; ``sustained: 0`` fires at the
   first breached check ("alerting rules without the for clause will become active on
   the first evaluation").
3. **A person acknowledges** it after ``response_time`` (a distribution; default
   log-normal with median 30 min and p95 2 h). The 30 minutes is the slower of the two
   standard on-call response levels of Google SRE (5 and 30 minutes; *Site Reliability
   Engineering*, ch. 11 "Being On-Call", as summarised by greatcircle.com, 2018) — an
   expectation for a staffed rotation, so a ticket-driven shop is unlikely to be
   faster; the tail is a placeholder. Model nights and weekends with a longer
   distribution.
4. **The person files a ticket** for ``step`` more instances on top of what is asked for
   now (``platform.target``, which counts instances still being provisioned) and the
   order goes to the platform (``platform.scale_to``): a cloud VM is launched, a
   physical server is **bought** — procurement, racking and setup take weeks
   (``models.physical``). Ordering a fixed step is what a change request says ("add one
   web server"); it is also what makes manual scaling slow under a large spike.

**One ticket at a time**: while a person is handling an alert or a ticket is open, no
new ticket is filed (an alert that fires meanwhile is recorded and ignored). A
scale-out ticket is closed at the first check where its capacity is ready (ready
instances ≥ the count it ordered); after ``ticket_timeout`` (default none: wait however
long delivery takes) it is closed as timed out. Closing a ticket re-arms the alert: a
further ticket needs a fresh ``sustained`` breach after the capacity arrived (the
person first sees whether it was enough).

**Scale-in tickets** are off by default (``scale_in``): when on, CPU below ``low_cpu``
(default 30 %) with no breach, held for ``sustained``, leads the same way to a ticket
removing ``step`` instances, never below ``min``. A physical server scaled in stays
owned (``models.physical``).

Every alert, ticket and closed ticket is a row of ``scaling.csv``; every order that
changes the capacity asked for counts in ``scale_events``. The person's delays draw
from the run's own ``people`` random stream (independent of the others).
"""

from __future__ import annotations

import math
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import simpy
from pydantic import Field, model_validator

from simulator.base import Config, field_error
from simulator.distributions import Distribution, Lognormal
from simulator.metrics import ClusterSample, MetricsPipeline, metrics_for
from simulator.platform import Platform, RunContext
from simulator.registry import AUTOSCALERS, cite
from simulator.units import Duration, Fraction, format_duration

__all__ = [
    "TicketAutoscaler",
    "TicketController",
    "AlertRule",
    "Ticket",
    "classify",
    "order_size",
    "window_metrics",
]

KIND = "ticket"
_NAGIOS = (
    "NagiosEnterprises/nagioscore sample-config/template-object/templates.cfg.in: "
    "check_interval 5 (minutes)"
)
_PROMETHEUS = "prometheus.io 'Alerting rules': example 'for: 10m'"
_SRE = (
    "Google SRE book ch. 11 'Being On-Call': response levels 5 and 30 min "
    "(greatcircle.com 2018 summary)"
)

CHECK_EVERY_S = cite(KIND, "monitoring check interval", 300.0, "5 min", _NAGIOS)
SUSTAINED_S = cite(KIND, "breach held before the alert fires", 600.0, "10 min", _PROMETHEUS, "S")
THRESHOLD_CPU = cite(
    KIND, "CPU alert threshold", 0.8, "80 %", "placeholder: a common warning level", "U"
)
RESPONSE_MEDIAN_S = cite(
    KIND, "response time (alert → ticket), median", 1800.0, "30 min", _SRE, "S"
)
RESPONSE_P95_S = cite(
    KIND, "response time, p95", 7200.0, "2 h (log-normal)", "placeholder for the tail", "U"
)
STEP = cite(KIND, "instances per ticket", 1, "1", "placeholder: 'add one server'", "U")
LOW_CPU = cite(KIND, "scale-in CPU threshold", 0.3, "30 %", "placeholder", "U")

# SeedSequence spawn key of the fallback stream ("tick" in ASCII): far from the
# engine's stream indices, so it never collides with a stream added there.


class TicketAutoscaler(Config):
    """Manual scaling: check → alert → a person → a ticket → the platform's pipeline."""

    kind: Literal["ticket"]
    check_every: Duration = Field(
        default=CHECK_EVERY_S, gt=0, description="monitoring check interval (Nagios: 5 min)"
    )
    sustained: Duration = Field(
        default=SUSTAINED_S,
        ge=0,
        description="a breach must hold at every check this long before the alert fires",
    )
    threshold_cpu: Fraction | None = Field(
        default=THRESHOLD_CPU,
        description="alert when cluster CPU utilisation exceeds this; null = not checked",
    )
    threshold_p95: Duration | None = Field(
        default=None, gt=0, description="alert when the window's p95 latency exceeds this"
    )
    response_time: Distribution = Field(
        default=Lognormal(kind="lognormal", median=RESPONSE_MEDIAN_S, p95=RESPONSE_P95_S),
        description="alert → acknowledged and ticket filed",
    )
    step: int = Field(default=STEP, ge=1, description="instances added (or removed) per ticket")
    ticket_timeout: Duration | None = Field(
        default=None,
        gt=0,
        description="close a ticket whose capacity has not arrived by then; null = wait",
    )
    scale_in: bool = Field(default=False, description="also file tickets to remove capacity")
    low_cpu: Fraction = Field(
        default=LOW_CPU, description="with scale_in: CPU below this (sustained) asks for less"
    )
    min: int = Field(default=1, ge=1, description="scale-in tickets never go below this")

    @model_validator(mode="after")
    def _consistent(self) -> TicketAutoscaler:
        if self.threshold_cpu is None and self.threshold_p95 is None:
            raise field_error(
                "threshold_cpu",
                "no alert could fire: set threshold_cpu or threshold_p95 (or both)",
                None,
            )
        if self.scale_in and self.threshold_cpu is not None and self.low_cpu >= self.threshold_cpu:
            raise field_error(
                "low_cpu",
                f"must be below threshold_cpu ({self.threshold_cpu:.0%})",
                self.low_cpu,
            )
        return self


# -- the pure parts ---------------------------------------------------------------------


def classify(cpu: float, p95: float, config: TicketAutoscaler, current: int | None = None) -> int:
    """+1: a breach (CPU or p95 above its threshold); -1: under-used (only with
    ``scale_in``: CPU below ``low_cpu``, no breach, and more than ``min`` instances asked
    for); 0: neither. NaN never breaches."""
    high_cpu = config.threshold_cpu is not None and cpu > config.threshold_cpu
    high_p95 = config.threshold_p95 is not None and p95 > config.threshold_p95
    if high_cpu or high_p95:
        return 1
    if config.scale_in and cpu < config.low_cpu and (current is None or current > config.min):
        return -1
    return 0


def order_size(current: int, direction: int, config: TicketAutoscaler) -> int:
    """The instance count a ticket asks for: ``step`` more, or ``step`` fewer (≥ ``min``)."""
    if direction > 0:
        return current + config.step
    return max(config.min, current - config.step)


class AlertRule:
    """A Prometheus-style alert with a ``for`` clause, in one direction at a time.

    ``evaluate(now, direction)`` at each check returns True when the alert starts firing:
    the condition (``direction`` ≠ 0) has been active at every check since a check at
    least ``hold`` seconds ago. Inactive, or a change of direction, resets it.
    """

    def __init__(self, hold: float) -> None:
        self.hold = hold
        self.direction = 0
        self.since: float | None = None
        self.firing = False

    def reset(self) -> None:
        self.direction, self.since, self.firing = 0, None, False

    def evaluate(self, now: float, direction: int) -> bool:
        if direction == 0:
            self.reset()
            return False
        if direction != self.direction or self.since is None:
            self.direction, self.since, self.firing = direction, now, False
        if not self.firing and now - self.since >= self.hold:
            self.firing = True
            return True
        return False


def window_metrics(samples: Sequence[ClusterSample]) -> tuple[float, float]:
    """(CPU utilisation, p95 latency) over the scrape windows in ``samples``.

    One sample (the controller's own pipeline at ``check_every``): exactly that window's
    values. Several (a finer pipeline shared with another controller): CPU weighted by
    window × ready instances, p95 the largest of the windows' (an upper bound). A
    window with arrivals but no completion has p95 ``inf``; NaN means no data.
    """
    windows = [s for s in samples if s.window > 0]
    num = den = 0.0
    for s in windows:
        if not math.isnan(s.cpu):
            w = s.window * max(s.ready, 1)
            num += s.cpu * w
            den += w
    cpu = num / den if den > 0 else math.nan
    completed = sum(s.completed_rps * s.window for s in windows)
    if not windows:
        p95 = math.nan
    elif completed == 0:
        arrived = sum(s.arrival_rps * s.window for s in windows)
        p95 = math.nan if arrived == 0 else math.inf
    else:
        p95 = max(s.latency_p95_s for s in windows if s.completed_rps > 0)
    return cpu, p95


@dataclass
class Ticket:
    """An open ticket: when it was filed, which way, and the count it ordered."""

    filed: float
    direction: int
    ordered: int


# -- the simulation -----------------------------------------------------------------------


def _pipeline(ctx: RunContext, resolution: float) -> MetricsPipeline:
    """The run's metrics pipeline: an existing one (shared with another controller), or
    a new one at ``resolution``."""
    existing: dict[float, MetricsPipeline] = ctx.extras.get("metrics_pipelines") or {}
    if existing and resolution not in existing:
        return next(iter(existing.values()))
    return metrics_for(ctx, resolution)


def _people_rng(ctx: RunContext) -> np.random.Generator:
    """How long people take comes from its own stream, so it never shifts the others."""
    return ctx.streams["people"]


class TicketController:
    """The monitoring check loop and the person who answers its alerts."""

    def __init__(self, config: TicketAutoscaler, platform: Platform, ctx: RunContext) -> None:
        self.config = config
        self.platform = platform
        self.ctx = ctx
        self.env: simpy.Environment = ctx.env
        self.pipeline = _pipeline(ctx, config.check_every)
        self.rng = _people_rng(ctx)
        self.rule = AlertRule(config.sustained)
        self.busy = False  # a person is on an alert, or a ticket is open
        self.ticket: Ticket | None = None
        self.counters: dict[str, int] = ctx.extras.setdefault("counters", {})
        self.counters.setdefault("scale_events", 0)

    def run(self) -> Generator[simpy.Event, Any, None]:
        period = self.config.check_every
        while True:
            yield self.env.timeout(period)
            self.check(*window_metrics(self.pipeline.since(self.env.now - period)))

    def check(self, cpu: float, p95: float) -> None:
        """One monitoring check: close a finished ticket, then evaluate the alert."""
        now = self.env.now
        self._maybe_close(now, cpu)
        direction = classify(cpu, p95, self.config, self.platform.target)
        if not self.rule.evaluate(now, direction):
            return
        metric, value, what = self._describe(cpu, p95, direction)
        held = format_duration(self.config.sustained)
        if self.busy:
            self._record(metric, value, f"alert: {what} for {held}; a ticket is open: ignored")
            return
        self._record(metric, value, f"alert: {what} for {held}")
        self.busy = True
        self.env.process(self._respond(direction, metric, value, now))

    def _describe(self, cpu: float, p95: float, direction: int) -> tuple[str, float, str]:
        cfg = self.config
        if direction < 0:
            return "cpu", cpu, f"cpu {cpu:.0%} < {cfg.low_cpu:.0%}"
        if cfg.threshold_cpu is not None and cpu > cfg.threshold_cpu:
            return "cpu", cpu, f"cpu {cpu:.0%} > {cfg.threshold_cpu:.0%}"
        assert cfg.threshold_p95 is not None
        return "latency_p95_s", p95, f"p95 {p95:.3g}s > {cfg.threshold_p95:.3g}s"

    def _respond(
        self, direction: int, metric: str, value: float, alerted: float
    ) -> Generator[simpy.Event, Any, None]:
        """The person: acknowledge after ``response_time``, then file the ticket."""
        delay = float(self.config.response_time.sample(self.rng, 1)[0])
        yield self.env.timeout(max(0.0, delay))
        now = self.env.now
        current = self.platform.target
        desired = order_size(current, direction, self.config)
        self.platform.scale_to(desired)
        applied = self.platform.target
        if applied != current:
            self.counters["scale_events"] = self.counters.get("scale_events", 0) + 1
        change = f"{desired - current:+d}"
        reason = f"ticket: order {change} (acknowledged {format_duration(now - alerted)} after)"
        if applied == current:
            reason += "; the platform did not change its capacity"
        self._record(metric, value, reason, current=current, desired=desired, applied=applied)
        self.ticket = Ticket(now, direction, applied)

    def _maybe_close(self, now: float, cpu: float) -> None:
        ticket = self.ticket
        if ticket is None:
            return
        if ticket.direction > 0:
            done = len(self.ctx.cluster.balancer) >= ticket.ordered
        else:
            done = self.platform.target <= ticket.ordered
        timeout = self.config.ticket_timeout
        if done:
            reason = "ticket closed: capacity ready" if ticket.direction > 0 else "ticket closed"
        elif timeout is not None and now - ticket.filed >= timeout:
            reason = f"ticket timed out after {format_duration(now - ticket.filed)}"
        else:
            return
        self._record("cpu", cpu, reason)
        self.ticket = None
        self.busy = False
        self.rule.reset()

    def _record(
        self,
        metric: str,
        value: float,
        reason: str,
        *,
        current: int | None = None,
        desired: int | None = None,
        applied: int | None = None,
    ) -> None:
        n = self.platform.target if current is None else current
        self.ctx.record(
            "scaling",
            time_s=self.env.now,
            controller=KIND,
            metric=metric,
            metric_value=value,
            current=n,
            desired=n if desired is None else desired,
            applied=n if applied is None else applied,
            reason=reason,
        )


@AUTOSCALERS.register(
    KIND,
    TicketAutoscaler,
    "manual: a check alerts after a sustained breach, a person orders capacity by ticket",
    "Nagios check interval; Prometheus 'for' clause; Google SRE on-call response levels",
)
def build_ticket(config: TicketAutoscaler, platform: Platform, ctx: RunContext) -> Any:
    return ctx.env.process(TicketController(config, platform, ctx).run())
