"""``p95-latency``: Heroku-style web dyno autoscaling toward a desired p95 response time.

What Heroku documents, and what this controller does with it
(Dev Center "Autoscaling", https://devcenter.heroku.com/articles/autoscaling, last
updated 3 Dec 2024; reference ``control-loops-and-queueing.md`` §3.3):

* The user sets a **minimum and maximum** number of web dynos and a **Desired p95
  Response Time** (``min``, ``max``, ``p95``). "The minimum dyno limit can't be less
  than 1." The heroku CLI requires ``--min`` and ``--max`` and defaults the p95 of a
  new monitor to **1000 ms** (``heroku/cli``
  ``packages/cli/src/commands/ps/autoscale/enable.ts``: ``value: flags.p95 ? flags.p95
  : 1000``); the monitor it creates is ``LATENCY_SCALE`` with ``op: GREATER_OR_EQUAL``
  and ``period: 1`` (minute).
* "After configuring ... The current dyno count immediately adjusts to conform to the
  range": a formation outside ``[min, max]`` is clamped at once (``conform``).
* "Every time an autoscaling event occurs, a single web dyno is either added or
  removed from your app. Autoscaling events always occur at least one minute apart."
  (``SPACING_S``).
* "The algorithm scales down less aggressively than it scales up."

What Heroku does **not** publish is its model: "the algorithm uses data from the past
hour to calculate the minimum number of web dynos required to achieve the desired
response time for 95% of incoming requests at your current request throughput" — the
internal p95 → dyno-count model is unpublished (reference §6 item 5). This controller
therefore uses a rule that keeps every documented constraint and says what it assumes
**[INFERRED]**:

* every minute (``PERIOD_S``, the monitor's ``period: 1``) it reads the p95 response
  time of the requests completed in the last minute (``simulator.metrics`` cluster
  samples at a 60 s resolution);
* **scale up** by one dyno when ``p95 >= p95 target`` (the monitor's
  ``GREATER_OR_EQUAL``) and the last event is at least a minute old;
* **scale down** by one dyno only when every minute of the last ``scale_down_after``
  (default 10 min) had ``p95 <= scale_down_below × target`` (default 50 %), i.e. p95 has
  been *well below* the target for several minutes; each scale event restarts that
  wait, so the formation shrinks by at most one dyno per ``scale_down_after`` while it
  can grow by one per minute. The 10 min default follows Rails Autoscale, a Heroku
  add-on autoscaler whose documentation says it waits until queue times "remain below
  your downscale threshold for 10 minutes" before each downscale
  (https://railsautoscale.com/docs/basic-settings/, advanced settings); the 50 % band
  is a placeholder;
* between the two thresholds the formation holds.

A minute with arrivals but no completed request counts as ``p95 = inf`` (nothing was
answered within the minute: the router's own timeouts are counted as slow responses);
a minute with no arrivals at all counts as ``p95 = 0`` (an idle app needs the minimum).
Heroku allows autoscaling only on Performance, Private and Shield dynos and only for
``web`` dynos; the ``paas`` platform does not enforce the tier.

Every evaluation that changes the formation, and every change of the reason it holds,
is a row of ``scaling.csv``; each change counts in ``scale_events``.
"""

from __future__ import annotations

import math
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import simpy
from pydantic import Field, model_validator

from simulator.base import Config, field_error
from simulator.metrics import ClusterSample, MetricsPipeline, metrics_for
from simulator.platform import Platform, RunContext
from simulator.registry import AUTOSCALERS, cite
from simulator.units import Duration, Fraction

__all__ = [
    "HerokuAutoscaler",
    "HerokuController",
    "Decision",
    "decide",
    "observed_p95",
    "PERIOD_S",
    "SPACING_S",
]

KIND = "p95-latency"
_DEV_CENTER = "Heroku Dev Center 'Autoscaling' (last updated 3 Dec 2024)"
_CLI = "heroku/cli packages/cli/src/commands/ps/autoscale/enable.ts"

P95_DEFAULT_S = cite(
    KIND, "desired p95 response time", 1.0, "1000 ms", f"{_CLI}: value defaults to 1000"
)
SPACING_S = cite(
    KIND,
    "time between autoscaling events",
    60.0,
    "≥ 1 min, one dyno per event",
    f"{_DEV_CENTER}: 'events always occur at least one minute apart'",
)
PERIOD_S = cite(
    KIND,
    "evaluation period / p95 window",
    60.0,
    "1 min",
    f"{_CLI}: monitor period: 1 (minute) [meaning inferred]",
    "S",
)
DOWN_AFTER_S = cite(
    KIND,
    "scale down after p95 low for",
    600.0,
    "10 min (per removed dyno)",
    "Heroku's rule is unpublished; Rails Autoscale (Heroku add-on) docs: below the "
    "downscale threshold for 10 minutes",
    "U",
)
DOWN_BELOW = cite(
    KIND,
    "scale down when p95 below",
    0.5,
    "50 % of the desired p95",
    "placeholder for 'well below': Heroku's rule is unpublished",
    "U",
)


class HerokuAutoscaler(Config):
    """Heroku Autoscaling for web dynos: ``min``/``max`` dynos and a desired p95."""

    kind: Literal["p95-latency"]
    p95: Duration = Field(
        default=P95_DEFAULT_S,
        gt=0,
        description="Desired p95 Response Time (heroku CLI default 1000 ms)",
    )
    min: int = Field(ge=1, description="fewest web dynos (Heroku: at least 1)")
    max: int = Field(ge=1, description="most web dynos")
    scale_down_below: Fraction = Field(
        default=DOWN_BELOW,
        gt=0,
        lt=1,
        description="assumed rule: p95 counts as well below the target under this share of it",
    )
    scale_down_after: Duration = Field(
        default=DOWN_AFTER_S,
        ge=PERIOD_S,
        description="assumed rule: remove one dyno after p95 was well below the target "
        "for this long (restarted by every scale event)",
    )

    @model_validator(mode="after")
    def _range(self) -> HerokuAutoscaler:
        if self.max < self.min:
            raise field_error("max", f"must be >= min ({self.min})", self.max)
        return self


@dataclass(frozen=True)
class Decision:
    """One evaluation's outcome: the dyno count to ask for and why.

    ``low_since`` is when the current run of 'well below target' minutes began
    (None: p95 is not well below the target, or a scale event just restarted the wait).
    """

    desired: int
    reason: str
    low_since: float | None


def decide(
    *,
    now: float,
    current: int,
    p95: float,
    window_start: float,
    last_event: float,
    low_since: float | None,
    target: float,
    min_dynos: int,
    max_dynos: int,
    down_below: float = DOWN_BELOW,
    down_after: float = DOWN_AFTER_S,
    spacing: float = SPACING_S,
) -> Decision:
    """The Heroku-style rule for one evaluation (pure; see the module docstring).

    ``p95`` is the p95 response time of the minute ending at ``now`` (``window_start`` is
    that minute's start), ``last_event`` the time of the last change of the formation.
    """
    # Dev Center: the formation "immediately adjusts to conform to the range".
    if current < min_dynos:
        return Decision(min_dynos, f"conform to range: below min {min_dynos}", None)
    if current > max_dynos:
        return Decision(max_dynos, f"conform to range: above max {max_dynos}", None)
    if math.isnan(p95):
        return Decision(current, "no data", low_since)
    high = p95 >= target  # the CLI's monitor: op GREATER_OR_EQUAL
    low = p95 <= down_below * target
    # The run of 'well below' minutes starts with the first such minute's window.
    low_since = (window_start if low_since is None else low_since) if low else None
    if now - last_event < spacing:
        return Decision(current, "spacing: last event < 1 min ago", low_since)
    if high:
        if current >= max_dynos:
            return Decision(current, f"p95 >= target, at max {max_dynos}", low_since)
        return Decision(current + 1, "p95 >= target: +1 dyno", None)
    if low:
        assert low_since is not None
        if now - low_since < down_after:
            return Decision(current, "p95 well below target: waiting", low_since)
        if current <= min_dynos:
            return Decision(current, f"p95 well below target, at min {min_dynos}", low_since)
        return Decision(current - 1, "p95 well below target: -1 dyno", None)
    return Decision(current, "p95 within band", low_since)


def observed_p95(samples: Sequence[ClusterSample]) -> float:
    """The p95 response time over the scrape windows in ``samples`` (NaN: no data).

    One sample (the controller's own 60 s pipeline): that minute's p95. Several finer
    samples (a pipeline shared with another controller): the largest of their p95s,
    an upper bound, since percentiles of windows cannot be merged exactly. Arrivals but
    no completion: ``inf``; no arrivals: ``0``.
    """
    windows = [s for s in samples if s.window > 0]
    if not windows:
        return math.nan
    completed = sum(s.completed_rps * s.window for s in windows)
    if completed == 0:
        arrived = sum(s.arrival_rps * s.window for s in windows)
        return 0.0 if arrived == 0 else math.inf
    return max(s.latency_p95_s for s in windows if s.completed_rps > 0)


def _pipeline(ctx: RunContext, resolution: float) -> MetricsPipeline:
    """The run's metrics pipeline: an existing one (shared with another controller), or
    a new one at ``resolution``."""
    existing: dict[float, MetricsPipeline] = ctx.extras.get("metrics_pipelines") or {}
    if existing and resolution not in existing:
        return next(iter(existing.values()))
    return metrics_for(ctx, resolution)


class HerokuController:
    """The control loop: every minute, read the minute's p95 and apply ``decide``."""

    def __init__(self, config: HerokuAutoscaler, platform: Platform, ctx: RunContext) -> None:
        self.config = config
        self.platform = platform
        self.ctx = ctx
        self.env: simpy.Environment = ctx.env
        self.pipeline = _pipeline(ctx, PERIOD_S)
        self.counters: dict[str, int] = ctx.extras.setdefault("counters", {})
        self.counters.setdefault("scale_events", 0)
        self.last_event = -math.inf
        self.low_since: float | None = None
        self._last_reason = ""

    def run(self) -> Generator[simpy.Event, Any, None]:
        current = self.platform.target
        if not self.config.min <= current <= self.config.max:
            self.evaluate(math.nan, self.env.now)  # conform to the range at once
        while True:
            yield self.env.timeout(PERIOD_S)
            now = self.env.now
            samples = self.pipeline.since(now - PERIOD_S)
            start = min((s.timestamp - s.window for s in samples), default=now)
            self.evaluate(observed_p95(samples), start)

    def evaluate(self, p95: float, window_start: float) -> Decision:
        now = self.env.now
        cfg = self.config
        current = self.platform.target
        d = decide(
            now=now,
            current=current,
            p95=p95,
            window_start=window_start,
            last_event=self.last_event,
            low_since=self.low_since,
            target=cfg.p95,
            min_dynos=cfg.min,
            max_dynos=cfg.max,
            down_below=cfg.scale_down_below,
            down_after=cfg.scale_down_after,
        )
        self.low_since = d.low_since
        applied = current
        if d.desired != current:
            self.platform.scale_to(d.desired)
            applied = self.platform.target
            if applied != current:
                self.last_event = now
                self.counters["scale_events"] = self.counters.get("scale_events", 0) + 1
        if applied != current or d.reason != self._last_reason:
            self.ctx.record(
                "scaling",
                time_s=now,
                controller=KIND,
                metric="latency_p95_s",
                metric_value=p95,
                current=current,
                desired=d.desired,
                applied=applied,
                reason=d.reason,
            )
            self._last_reason = d.reason
        return d


@AUTOSCALERS.register(
    KIND,
    HerokuAutoscaler,
    "Heroku-style: ±1 web dyno per event, ≥ 1 min apart, toward a desired p95; slower down",
    f"{_DEV_CENTER}; {_CLI}",
)
def build_heroku(config: HerokuAutoscaler, platform: Platform, ctx: RunContext) -> Any:
    return ctx.env.process(HerokuController(config, platform, ctx).run())
