"""AWS EC2 Auto Scaling: ``target-tracking``, ``step-scaling`` and ``simple-scaling`` policies.

An Auto Scaling group (``min``, ``max``, a desired capacity that starts at the
platform's instance count) driven by CloudWatch alarms, as the Amazon EC2 Auto Scaling
User Guide describes it. Sources (reference ``control-loops-and-queueing.md`` §3.1):
the archived ``awsdocs/amazon-ec2-auto-scaling-user-guide`` (``doc_source/``, commits
``c621df35``/``0987d768``): ``as-scaling-simple-step.md`` [STEP], ``as-scaling-target-
tracking.md`` [TT], ``as-scale-based-on-demand.md`` [MULTI], ``Cooldown.md`` [COOL],
``ec2-auto-scaling-default-instance-warmup.md`` [WARM],
``consolidated-view-of-warm-up-and-cooldown-settings.md`` [VIEW],
``health-check-grace-period.md`` [GRACE], ``as-maintain-instance-levels.md``; CloudWatch
"Alarm actions" (docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarm-actions.html)
[CWA]; AWS re:Post knowledge center "autoscaling-policy-cloudwatch-alarm" [KC]; ELB
"CloudWatch metrics for your Application Load Balancer" [ALB].

**The metric pipeline (CloudWatch).** ``simulator.metrics`` scrapes every instance
every 60 s (``metrics_for(ctx, 60.0)``). Every minute the group turns the scrape into
one value per metric, and at the end of each *period* into a datapoint (the mean of the
period's values):

* ``CPUUtilization`` (percent, 0–100): the Average over the group's instances of their
  CPU utilisation (busy workers / workers over the minute). The period is 60 s with
  ``monitoring: detailed`` and 300 s with ``basic`` ("By default, Amazon EC2 instances
  are enabled for basic monitoring, which means metric data for instances is available
  at 5-minute frequency" [TT]); a 5-minute datapoint is the mean of the instances'
  1-minute values. Instances still warming up (or in their health-check grace period,
  see below) are left out; a period without any measured instance is a missing
  datapoint.
* ``RequestCountPerTarget`` (requests per target per minute): requests the load balancer
  received in the minute / targets in service (ready instances). ELB metrics are always
  1-minute ("Elastic Load Balancing measures and sends its metrics in 60-second
  intervals" [ALB]), whatever ``monitoring`` says; a minute without requests counts as
  0 ("the ALBRequestCountPerTarget metric emits zeros for periods with no associated
  data" [TT]). The balancer counts every registered target, so warm-up does not apply
  to the metric (whether AWS leaves warming targets out of it is not documented:
  [INFERRED]); the scale-out capacity still leaves them out, as for every metric.
* ``TargetResponseTime_p50`` / ``_p95`` / ``_p99`` (seconds): the percentile of the
  latency of the requests completed in the minute (ALB ``TargetResponseTime`` with a
  percentile statistic); a minute without completions is missing. The average latency
  is not offered: the metrics pipeline keeps percentiles only. (Latency "doesn't
  necessarily change proportionally" and does not suit target tracking [TT]; it is
  allowed anyway, at the user's risk.)

**Alarms.** Each alarm compares every datapoint with its threshold and is in ``ALARM``
when at least ``datapoints_to_alarm`` (M, default N) of the last ``evaluation_periods``
(N) datapoints breach ("M out of N"); missing datapoints never breach (CloudWatch's
default "treat missing data as missing"); no datapoint at all is ``INSUFFICIENT_DATA``.
"Except for Auto Scaling actions, the actions happen only on state transitions" [CWA]:
an alarm in ``ALARM`` invokes its scaling policy "once each minute when the alarm
remains in a new state, regardless of the configured time period" [KC] — so every
policy is re-invoked each minute with the latest datapoint, also under basic monitoring.

**Instance warm-up** (``warmup``, default 300 s). "Until its specified warm-up time has
expired, an instance is not counted toward the aggregated metrics of the Auto Scaling
group" [STEP][TT]; the warm-up runs from ``InService`` (here: ready) [VIEW]; a launching
instance is warming too. "While scaling out, we do not consider instances that are
warming up as part of the current capacity of the group" and "while scaling in, we
consider instances that are terminating as part of the current capacity"; the warming
instances still count in the desired capacity ("multiple alarm breaches that fall in the
range of the same step adjustment result in a single scaling activity" [WARM]); "a
scale-in activity can't start while a scale-out activity is in progress" and scale-in by
policies is "blocked ... until the instances finish warming up" [WARM] (target tracking
and step scaling; simple scaling waits for its activity and cooldown instead). The 300 s
default: ``DefaultInstanceWarmup`` has none, and the per-policy ``EstimatedInstanceWarmup``
then "falls back to the value of default cooldown" — 300 s [VIEW]. Instances that exist
when the run starts count as warmed up.

**Health-check grace period** (``health_check_grace_period``, default 0 s: the CLI/SDK
default; the console's is 300 s [GRACE]): AWS does not health-check an instance for this
long after it enters service. The simulator has no failing health checks; what it does
with the grace period is its own reading **[INFERRED]**: an instance in its grace period
is treated like a warming one — out of the group's EC2 metrics, out of the scale-out
capacity, blocking scale-in — i.e. the effective warm-up is ``max(warmup,
health_check_grace_period)``. (Leaving it out of the metrics but not out of the capacity
would make ``ceil(capacity × metric / target)`` count instances whose load the metric
does not show.) An instance that is gone (failed, or terminated by the platform) is
replaced at once, grace period or not: "the group maintains this number of running
instances at all times ... When it finds that an instance has become unhealthy, it
terminates that instance and launches a new one" (``as-maintain-instance-levels.md``); a
launch the platform refuses (quota) is retried every minute.

**Bounds.** A result outside ``[min, max]`` is clamped ("the new capacity never goes
outside of the minimum and maximum size limits" [MULTI]); a starting capacity outside
the range is conformed at t = 0.

**Target tracking** (``target-tracking``, [TT]): for each policy ``{metric, target}`` AWS
manages two alarms: *high* = metric > target for ``high_alarm_periods`` (3) datapoints,
*low* = metric < ``low_alarm_fraction`` (90 %) × target for ``low_alarm_periods`` (15)
datapoints. These shapes are **[UNVERIFIED]** (reference §3.1 and §6 item 3; not in the
AWS pages read). They are corroborated by a secondary source ("three consecutive
breaching datapoints to trigger scale-out, fifteen to trigger scale-in" until the
November 2024 "highly responsive" update: cloudandclear.uk, "AWS Auto Scaling
assumptions") and by Alibaba Cloud's documentation of its own target tracking (3 and 15
consecutive minutes); the 90 % is from Application Auto Scaling: scale in "only when utilization
passes a threshold that is far enough below the target value (usually more than 10 %
lower)". The capacity a policy asks for is **[INFERRED]** (reference §6 item 3)::

    capacity = ceil(current × metric / target)

which reproduces the documented rounding ("adding 1.5 instances → add 2; removing 1.5
→ remove 1": "we act conservatively by rounding up or down" [TT]). ``current`` is the
capacity without warming instances on scale-out and with terminating ones on scale-in
(above). Several policies (each on a different metric): the group "will scale out ... if
any of the target tracking policies are ready for scale out, but will scale in only if
all of the target tracking policies (with the scale-in portion enabled) are ready to
scale in" [TT]; the capacity is the largest of the policies' ("chooses the policy that
provides the largest capacity for both scale out and scale in" [MULTI]).
``disable_scale_in`` turns a policy's scale-in off. Scale-in is gradual ("scales out
proportionally to the metric as fast as it can, but scales in more gradually" [TT]); the
amount is not published, so this controller removes at most ``max(1, floor(scale_in_step
× current))`` instances per invocation (``scale_in_step`` default 10 %): a placeholder
**[UNVERIFIED]** picked to match the 10 % band of the low alarm. ``scale_in_step: 0``
removes all the excess at once.

**Step scaling** (``step-scaling``, [STEP]): each policy owns one alarm (``threshold``,
``comparison``) and ``steps: [{lower, upper, adjustment}]`` with bounds relative to the
threshold ("If the metric value is above the breach threshold, the lower bound is
inclusive and the upper bound is exclusive. If the metric value is below the breach
threshold, the lower bound is exclusive and the upper bound is inclusive"). Adjustment
types ``ChangeInCapacity``, ``ExactCapacity``, ``PercentChangeInCapacity``; a percentage
is rounded as documented: "Values greater than 1 are rounded down ... between 0 and 1 are
rounded to 1 ... between 0 and -1 are rounded to -1 ... less than -1 are rounded up",
then raised to ``min_adjustment_magnitude``. No cooldown: the policy responds to every
invocation, with warm-up semantics: a scale-out asks for ``max(desired, base +
change(base))`` with ``base`` the capacity without warming instances (the documented 10
→ 11 → 14 → 13 → 10 example and its warm-up variant 62 % → 11, 70 % → 13 are tests).

**Simple scaling** (``simple-scaling``, [STEP][COOL]): one ``adjustment`` per alarm, applied
to the instances in service (no warm-up bookkeeping: the cooldown is what waits); "after
a scaling activity is started, the policy must wait for the scaling activity ... to
complete and the cooldown period to expire before responding to additional alarms".
The cooldown is the policy's ``cooldown`` or the group's ``default_cooldown`` (300 s) and
"takes effect starting when the last instance finishes launching or terminating" [COOL];
it blocks every simple policy of the group; invocations meanwhile are ignored.

Several step or simple policies firing in the same minute: the largest resulting capacity
wins [MULTI] (8 instances, −3 vs −25 % → remove 2). One AWS controller per scenario (a
group mixing policy types is not modelled).

Every change of the desired capacity is a row of ``scaling.csv`` (``current`` = desired
capacity before, ``desired`` = what the policies asked for, ``applied`` = after the
``[min, max]`` clamp) and counts in ``scale_events``; a policy invocation that holds the
capacity (warming instances, cooldown, bounds, scale-in blocked) is a row when its reason
differs from the previous hold's.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Generator, Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction as Exact
from typing import Any, Literal

import simpy
from pydantic import Field, field_validator, model_validator

from simulator.base import Config, field_error
from simulator.metrics import MetricsPipeline, metrics_for
from simulator.platform import Platform, RunContext
from simulator.registry import AUTOSCALERS, cite
from simulator.serving import Instance, State
from simulator.units import Duration, Fraction

__all__ = [
    "Alarm",
    "AlarmState",
    "CloudWatch",
    "Comparison",
    "Decision",
    "GroupCounts",
    "METRICS",
    "SimpleScalingConfig",
    "SimplePolicy",
    "StepAdjustment",
    "StepPolicy",
    "StepScalingConfig",
    "TargetTrackingConfig",
    "TrackingPolicy",
    "TrackingState",
    "adjusted_capacity",
    "breaches",
    "capacity_change",
    "clamp",
    "in_warmup",
    "is_measured",
    "round_percent_change",
    "select_step",
    "step_capacity",
    "tracking_capacity",
    "target_tracking_decision",
]

_FAMILY = "aws-autoscaling"
_GUIDE = "Amazon EC2 Auto Scaling User Guide"
_TT = f"{_GUIDE}, 'Target tracking scaling policies' (as-scaling-target-tracking.md)"
_VIEW = f"{_GUIDE}, 'Available warm-up and cooldown settings'"
_COOL = f"{_GUIDE}, 'Scaling cooldowns' (Cooldown.md)"
_GRACE = f"{_GUIDE}, 'Set the health check grace period' (health-check-grace-period.md)"
_KC = "AWS re:Post knowledge center 'autoscaling-policy-cloudwatch-alarm'"

MINUTE_S = cite(
    _FAMILY,
    "policy invocation interval (alarm in ALARM)",
    60.0,
    "every 60 s",
    f"{_KC}: 'an alarm invokes an Auto Scaling action once each minute when the alarm "
    "remains in a new state, regardless of the configured time period'",
)
PERIOD_S: dict[str, float] = {
    "detailed": cite(
        _FAMILY,
        "CloudWatch period, detailed monitoring",
        60.0,
        "1 min",
        f"{_TT}: 'scale on metrics with a 1-minute frequency' (detailed monitoring)",
    ),
    "basic": cite(
        _FAMILY,
        "CloudWatch period, basic monitoring (EC2 default)",
        300.0,
        "5 min",
        f"{_TT}: basic monitoring 'metric data ... available at 5-minute frequency'",
    ),
}
WARMUP_S = cite(
    _FAMILY,
    "instance warm-up",
    300.0,
    "300 s (EstimatedInstanceWarmup → DefaultCooldown)",
    f"{_VIEW}: DefaultInstanceWarmup default none, then 'falls back to the value of "
    "default cooldown' (DefaultCooldown 300 s)",
)
GRACE_S = cite(
    _FAMILY,
    "health check grace period",
    0.0,
    "0 s (CLI/SDK; console 300 s)",
    f"{_GRACE}",
)
DEFAULT_COOLDOWN_S = cite(
    _FAMILY, "DefaultCooldown (simple scaling)", 300.0, "300 s", f"{_COOL}; {_VIEW}"
)
EVALUATION_PERIODS = cite(
    _FAMILY,
    "alarm evaluation periods (step/simple)",
    1,
    "1 (datapoints to alarm = evaluation periods)",
    "AWS CDK aws_autoscaling BasicStepScalingPolicyProps (evaluationPeriods default 1, "
    "datapointsToAlarm 'Same as evaluationPeriods'); EMR CloudWatchAlarmDefinition: "
    "'The default value is 1'",
    "S",
)
TT_HIGH_PERIODS = cite(
    _FAMILY,
    "target tracking high alarm",
    3,
    "metric > target for 3 of 3 datapoints",
    "reference §3.1 [UNVERIFIED]; secondary: cloudandclear.uk 'AWS Auto Scaling "
    "assumptions' (three consecutive datapoints); Alibaba Cloud target tracking docs",
    "U",
)
TT_LOW_PERIODS = cite(
    _FAMILY,
    "target tracking low alarm",
    15,
    "metric < 90 % target for 15 of 15 datapoints",
    "reference §3.1 [UNVERIFIED]; secondary: cloudandclear.uk (fifteen datapoints); "
    "aws/containers-roadmap#638 (ECS capacity provider AlarmLow: 15 datapoints in 15 min)",
    "U",
)
TT_LOW_FRACTION = cite(
    _FAMILY,
    "target tracking low alarm threshold",
    0.9,
    "90 % of the target",
    "Application Auto Scaling user guide: scale in 'usually more than 10% lower' than target",
    "S",
)
TT_SCALE_IN_STEP = cite(
    _FAMILY,
    "target tracking scale-in per invocation",
    0.1,
    "at most max(1, 10 % of capacity)",
    f"placeholder: {_TT} says only 'scales in more gradually'",
    "U",
)

Metric = Literal[
    "CPUUtilization",
    "RequestCountPerTarget",
    "TargetResponseTime_p50",
    "TargetResponseTime_p95",
    "TargetResponseTime_p99",
]
METRICS: tuple[str, ...] = (
    "CPUUtilization",
    "RequestCountPerTarget",
    "TargetResponseTime_p50",
    "TargetResponseTime_p95",
    "TargetResponseTime_p99",
)
EC2_METRICS = frozenset({"CPUUtilization"})  # period follows ``monitoring``; ELB: always 60 s
Comparison = Literal[">=", ">", "<=", "<"]
AdjustmentType = Literal["ChangeInCapacity", "ExactCapacity", "PercentChangeInCapacity"]
AlarmState = Literal["OK", "ALARM", "INSUFFICIENT_DATA"]
_OPERATORS = {  # CloudWatch PutMetricAlarm ComparisonOperator names
    "GreaterThanOrEqualToThreshold": ">=",
    "GreaterThanThreshold": ">",
    "LessThanOrEqualToThreshold": "<=",
    "LessThanThreshold": "<",
}
_EPS = 1e-9
# Hold rows are de-duplicated by kind: these codes describe the same situation.
_HOLD_KIND = {
    "at-max": "held-out",
    "hold-out": "held-out",
    "at-min": "held-in",
    "hold-in": "held-in",
}


# -- pure decision functions ------------------------------------------------------------------


def clamp(n: int, lo: int, hi: int) -> int:
    """``n`` within the group's ``[min, max]``."""
    return max(lo, min(hi, n))


def breaches(value: float, threshold: float, comparison: str) -> bool:
    """Whether a datapoint breaches an alarm's threshold."""
    if comparison == ">=":
        return value >= threshold
    if comparison == ">":
        return value > threshold
    if comparison == "<=":
        return value <= threshold
    if comparison == "<":
        return value < threshold
    raise ValueError(f"unknown comparison {comparison!r}")


def round_percent_change(x: float | Exact) -> int:
    """AWS's rounding of a non-integer ``PercentChangeInCapacity`` result ([STEP] Note):
    > 1 rounded down (12.7 → 12), (0, 1) → 1 (.67 → 1), (−1, 0) → −1 (−.58 → −1),
    < −1 rounded up (−6.67 → −6). Integers are unchanged."""
    if x >= 1:
        return math.floor(x)
    if x > 0:
        return 1
    if x == 0:
        return 0
    if x > -1:
        return -1
    return math.ceil(x)


def capacity_change(
    adjustment_type: str,
    adjustment: int,
    capacity: int,
    min_adjustment_magnitude: int | None = None,
) -> int:
    """The signed change in instances a ``ChangeInCapacity`` or ``PercentChangeInCapacity``
    adjustment makes to ``capacity`` ([STEP] "Scaling adjustment types").

    A percentage is taken exactly (``capacity × adjustment / 100`` as a fraction), rounded
    by ``round_percent_change``, then raised to ``min_adjustment_magnitude`` ("a policy
    that adds 25 percent ... minimum increment of 2 ... 4 instances ... 2 instances are
    added").
    """
    if adjustment_type == "ChangeInCapacity":
        return adjustment
    if adjustment_type == "PercentChangeInCapacity":
        change = round_percent_change(Exact(capacity * adjustment, 100))
        if min_adjustment_magnitude and 0 < abs(change) < min_adjustment_magnitude:
            change = min_adjustment_magnitude if change > 0 else -min_adjustment_magnitude
        return change
    raise ValueError(f"no relative change for adjustment type {adjustment_type!r}")


def adjusted_capacity(
    adjustment_type: str,
    adjustment: int,
    capacity: int,
    min_adjustment_magnitude: int | None = None,
) -> int:
    """The capacity after applying one adjustment to ``capacity`` (``ExactCapacity``: the
    adjustment itself: "current capacity 3, adjustment 5 → 5")."""
    if adjustment_type == "ExactCapacity":
        return adjustment
    return capacity + capacity_change(
        adjustment_type, adjustment, capacity, min_adjustment_magnitude
    )


def step_capacity(
    adjustment_type: str,
    adjustment: int,
    *,
    desired: int,
    scale_out_base: int,
    scale_in_base: int,
    min_adjustment_magnitude: int | None = None,
) -> int:
    """The desired capacity one step (or simple) adjustment asks for, before ``[min, max]``.

    Scale-out starts from ``scale_out_base`` (capacity without warming instances) and
    never lowers the desired capacity, which already holds the warming ones: the doc's
    "desired capacity of the group is already 11 instances, so the scaling policy does not
    increase the desired capacity further ... we add only 2 instances, for a new desired
    capacity of 13" ([STEP] "Instance warm-up"). Scale-in starts from ``scale_in_base``
    (terminating instances included) and never raises it.
    """
    if adjustment_type == "ExactCapacity":
        return adjustment
    if adjustment > 0:
        return max(
            desired,
            adjusted_capacity(
                adjustment_type, adjustment, scale_out_base, min_adjustment_magnitude
            ),
        )
    if adjustment < 0:
        return min(
            desired,
            adjusted_capacity(adjustment_type, adjustment, scale_in_base, min_adjustment_magnitude),
        )
    return desired


def tracking_capacity(capacity: int, metric: float, target: float) -> int:
    """``ceil(capacity × metric / target)`` [INFERRED]: round up when adding, so "adding
    1.5 instances" adds 2 and "removing 1.5" removes 1 [TT]. A relative 1e-9 slack keeps
    float noise (3.0000000001) from adding an instance."""
    return math.ceil(capacity * metric / target * (1 - _EPS))


def select_step(diff: float, steps: Iterable[Any], above: bool) -> Any | None:
    """The step whose bounds hold ``diff = metric − threshold`` (None: no step matches).

    "If the metric value is above the breach threshold, the lower bound is inclusive and
    the upper bound is exclusive. If the metric value is below the breach threshold, the
    lower bound is exclusive and the upper bound is inclusive." [STEP] ``above`` is the
    alarm's side: a ``>``/``>=`` alarm's breaching value is at or above the threshold.
    """
    for step in steps:
        lo = -math.inf if step.lower is None else step.lower
        hi = math.inf if step.upper is None else step.upper
        if (lo <= diff < hi) if above else (lo < diff <= hi):
            return step
    return None


def in_warmup(state: State, t_ready: float | None, now: float, warmup: float) -> bool:
    """An instance is warming up while it launches and for ``warmup`` seconds after it
    enters service (``InService`` = ready) [WARM][VIEW]; draining or gone: no longer."""
    if state in (State.DRAINING, State.GONE):
        return False
    if state is State.PROVISIONING or t_ready is None:
        return True
    return now < t_ready + warmup


def is_measured(state: State, t_ready: float | None, now: float, warmup: float) -> bool:
    """An instance's EC2 metrics count in the group's aggregate once it is in service and
    warmed up: "Until its specified warm-up time has expired, an instance is not counted
    toward the aggregated metrics of the Auto Scaling group" [STEP]."""
    return state is State.READY and not in_warmup(state, t_ready, now, warmup)


@dataclass(frozen=True)
class TrackingState:
    """One target tracking policy at an invocation: its latest datapoint and alarms."""

    metric: str
    value: float | None
    target: float
    high: bool  # high alarm in ALARM
    low: bool  # low alarm in ALARM
    disable_scale_in: bool = False


@dataclass(frozen=True)
class Decision:
    """What the policies ask for at one invocation (``desired`` before ``[min, max]``)."""

    desired: int
    reason: str
    code: str  # "scale" or a hold code, for de-duplicating hold rows
    metric: str
    value: float


def target_tracking_decision(
    policies: Sequence[TrackingState],
    *,
    desired: int,
    scale_out_base: int,
    scale_in_base: int,
    warming: int,
    scale_in_step: float = TT_SCALE_IN_STEP,
) -> Decision | None:
    """Combine target tracking policies (None: no alarm in ALARM, nothing to do).

    Scale out if **any** policy's high alarm is in ALARM, to the largest capacity they ask
    for (never below ``desired``: warming instances already count). Scale in only if the
    low alarms of **all** policies with scale-in enabled are in ALARM, no instance is
    warming, and then to the largest capacity they ask for, removing at most
    ``max(1, floor(scale_in_step × scale_in_base))`` (``scale_in_step`` 0: no limit).
    """
    out = [(p, v) for p in policies if p.high and (v := p.value) is not None]
    if out:
        n, p, value = max(
            ((tracking_capacity(scale_out_base, v, p.target), p, v) for p, v in out),
            key=lambda a: a[0],
        )
        if n <= desired:
            why = f"{warming} warming instance(s) already count" if warming else "no more needed"
            return Decision(
                max(n, desired),
                f"{p.metric} {value:.4g} > target {p.target:g}: "
                f"ceil({scale_out_base} × {value:.4g}/{p.target:g}) = {n}; hold: {why}",
                "hold-out",
                p.metric,
                value,
            )
        return Decision(
            n,
            f"{p.metric} {value:.4g} > target {p.target:g}: "
            f"ceil({scale_out_base} × {value:.4g}/{p.target:g}) = {n}",
            "scale",
            p.metric,
            value,
        )
    enabled = [p for p in policies if not p.disable_scale_in]
    lows = [(p, v) for p in enabled if p.low and (v := p.value) is not None]
    if not lows or len(lows) < len(enabled):
        return None  # scale in only when all scale-in-enabled policies agree
    n, p, value = max(
        ((tracking_capacity(scale_in_base, v, p.target), p, v) for p, v in lows),
        key=lambda a: a[0],
    )
    head = (
        f"{p.metric} {value:.4g} < {TT_LOW_FRACTION:.0%} target {p.target:g}: "
        f"ceil({scale_in_base} × {value:.4g}/{p.target:g}) = {n}"
    )
    if n >= desired:
        return Decision(desired, f"{head}; hold: nothing to remove", "hold-in", p.metric, value)
    if warming:
        return Decision(
            desired,
            f"{head}; scale-in blocked: {warming} instance(s) warming up",
            "blocked-in",
            p.metric,
            value,
        )
    if scale_in_step > 0:
        most = max(1, math.floor(scale_in_step * scale_in_base + _EPS))
        if desired - n > most:
            return Decision(
                desired - most,
                f"{head}; gradual scale-in: at most {most} per invocation",
                "scale",
                p.metric,
                value,
            )
    return Decision(n, head, "scale", p.metric, value)


# -- alarms and the metric pipeline ------------------------------------------------------------


class Alarm:
    """A CloudWatch metric alarm: ALARM when ≥ ``datapoints`` of the last ``periods``
    datapoints breach ``threshold`` (M out of N); missing datapoints never breach."""

    def __init__(
        self, threshold: float, comparison: str, periods: int, datapoints: int | None = None
    ) -> None:
        if periods < 1:
            raise ValueError("periods must be >= 1")
        self.threshold = threshold
        self.comparison = comparison
        self.periods = periods
        self.datapoints = periods if datapoints is None else datapoints
        if not 1 <= self.datapoints <= periods:
            raise ValueError("datapoints must be between 1 and periods")
        self.window: deque[float | None] = deque(maxlen=periods)
        self.state: AlarmState = "INSUFFICIENT_DATA"
        self.latest: float | None = None

    def add(self, value: float | None) -> AlarmState:
        """Evaluate the alarm with a new datapoint (None: missing)."""
        self.window.append(value)
        if value is not None:
            self.latest = value
        hits = sum(
            1 for v in self.window if v is not None and breaches(v, self.threshold, self.comparison)
        )
        if hits >= self.datapoints:
            self.state = "ALARM"
        elif all(v is None for v in self.window):
            self.state = "INSUFFICIENT_DATA"
        else:
            self.state = "OK"
        return self.state


class CloudWatch:
    """Per-minute metric values from the metrics pipeline, averaged into period datapoints.

    ``measured(inst, now)`` says whether an instance's CPU counts (not warming up).
    """

    def __init__(
        self,
        pipeline: MetricsPipeline,
        instances: Callable[[], Iterable[Instance]],
        measured: Callable[[Instance, float], bool],
        metrics: Iterable[str],
        monitoring_period: float,
    ) -> None:
        self.pipeline = pipeline
        self.instances = instances
        self.measured = measured
        self.minutes = 0
        self.per_period: dict[str, int] = {}
        self._acc: dict[str, list[float]] = {}
        for m in metrics:
            period = monitoring_period if m in EC2_METRICS else MINUTE_S
            self.per_period[m] = max(1, round(period / MINUTE_S))
            self._acc[m] = []

    def minute_values(self, metric: str, now: float) -> list[float]:
        """The values of ``metric`` in the scrape taken at ``now`` (empty: missing)."""
        if metric == "CPUUtilization":
            out = []
            for inst in self.instances():
                if self.measured(inst, now):
                    s = self.pipeline.sample(inst)
                    if s is not None and s.timestamp == now:
                        out.append(100.0 * s.cpu)
            return out
        last = self.pipeline.last()
        if last is None or last.timestamp != now or not last.window > 0:
            return []
        if metric == "RequestCountPerTarget":
            if last.ready == 0:
                return []
            # requests in the last 60 s per target (per minute, whatever the scrape window)
            return [last.arrival_rps * MINUTE_S / last.ready]
        quantile = {
            "TargetResponseTime_p50": last.latency_p50_s,
            "TargetResponseTime_p95": last.latency_p95_s,
            "TargetResponseTime_p99": last.latency_p99_s,
        }[metric]
        return [quantile] if last.completed_rps > 0 and math.isfinite(quantile) else []

    def collect(self, now: float) -> dict[str, float | None]:
        """Take this minute's values; return the datapoints whose period ends now."""
        self.minutes += 1
        out: dict[str, float | None] = {}
        for metric, acc in self._acc.items():
            acc.extend(self.minute_values(metric, now))
            if self.minutes % self.per_period[metric] == 0:
                out[metric] = sum(acc) / len(acc) if acc else None
                acc.clear()
        return out


# -- configuration -----------------------------------------------------------------------------


class _Group(Config):
    """The Auto Scaling group settings every policy type shares."""

    min: int = Field(ge=0, description="MinSize: fewest instances")
    max: int = Field(ge=1, description="MaxSize: most instances")
    monitoring: Literal["detailed", "basic"] = Field(
        default="detailed",
        description="EC2 metrics every 1 min (detailed) or 5 min (basic, the EC2 default); "
        "ELB metrics are always 1 min",
    )
    warmup: Duration = Field(
        default=WARMUP_S,
        description="instance warm-up: a new instance's metrics and capacity count only "
        "after this long in service",
    )
    health_check_grace_period: Duration = Field(
        default=GRACE_S, description="a new instance's metrics are left out for this long"
    )

    @model_validator(mode="after")
    def _range(self) -> _Group:
        if self.max < self.min:
            raise field_error("max", f"must be >= min ({self.min}), got {self.max}", self.max)
        return self


class _AlarmFields(Config):
    """The CloudWatch alarm of a step or simple policy."""

    name: str | None = Field(default=None, description="shown in scaling.csv reasons")
    metric: Metric = "CPUUtilization"
    threshold: float = Field(description="the alarm's threshold, in the metric's unit")
    comparison: Comparison | None = Field(
        default=None,
        description="'>=', '>', '<=', '<' (or CloudWatch names); default from the "
        "adjustment's direction",
    )
    evaluation_periods: int = Field(default=EVALUATION_PERIODS, ge=1)
    datapoints_to_alarm: int | None = Field(
        default=None, ge=1, description="M of the M-out-of-N alarm (default N)"
    )
    adjustment_type: AdjustmentType = "ChangeInCapacity"
    min_adjustment_magnitude: int | None = Field(
        default=None, ge=1, description="PercentChangeInCapacity only: change at least this"
    )

    @field_validator("comparison", mode="before")
    @classmethod
    def _cloudwatch_names(cls, v: Any) -> Any:
        return _OPERATORS.get(v, v) if isinstance(v, str) else v

    def _check_alarm(self) -> None:
        if self.datapoints_to_alarm is not None and self.datapoints_to_alarm > (
            self.evaluation_periods
        ):
            raise field_error(
                "datapoints_to_alarm",
                f"must be <= evaluation_periods ({self.evaluation_periods})",
                self.datapoints_to_alarm,
            )
        if (
            self.min_adjustment_magnitude is not None
            and self.adjustment_type != "PercentChangeInCapacity"
        ):
            raise field_error(
                "min_adjustment_magnitude",
                "only valid with adjustment_type PercentChangeInCapacity",
                self.min_adjustment_magnitude,
            )

    @property
    def op(self) -> str:
        assert self.comparison is not None
        return self.comparison

    def alarm(self) -> Alarm:
        return Alarm(self.threshold, self.op, self.evaluation_periods, self.datapoints_to_alarm)


class StepAdjustment(Config):
    """One step: bounds relative to the threshold (null: infinite) and its adjustment."""

    lower: float | None = None
    upper: float | None = None
    adjustment: int

    @model_validator(mode="after")
    def _bounds(self) -> StepAdjustment:
        if self.lower is None and self.upper is None:
            raise ValueError("the upper and lower bound can't both be null")
        if self.lower is not None and self.upper is not None and not self.upper > self.lower:
            raise field_error("upper", f"must be greater than lower ({self.lower})", self.upper)
        return self


class StepPolicy(_AlarmFields):
    """A step scaling policy: its alarm and its step adjustments."""

    steps: list[StepAdjustment] = Field(min_length=1)

    @model_validator(mode="after")
    def _valid(self) -> StepPolicy:
        self._check_alarm()
        steps = sorted(self.steps, key=lambda s: -math.inf if s.lower is None else s.lower)
        for a, b in zip(steps, steps[1:], strict=False):
            if a.upper is None or b.lower is None or a.upper != b.lower:
                raise field_error(
                    "steps", "the ranges of the step adjustments can't overlap or have a gap"
                )
        if any(s.lower is not None and s.lower < 0 for s in steps) and steps[0].lower is not None:
            raise field_error(
                "steps", "a negative lower bound needs a step with a null lower bound"
            )
        if any(s.upper is not None and s.upper > 0 for s in steps) and steps[-1].upper is not None:
            raise field_error(
                "steps", "a positive upper bound needs a step with a null upper bound"
            )
        if self.adjustment_type == "ExactCapacity" and any(s.adjustment < 0 for s in steps):
            raise field_error("steps", "ExactCapacity adjustments must be >= 0")
        if self.comparison is None:
            bounds = [b for s in steps for b in (s.lower, s.upper) if b is not None]
            if all(b >= 0 for b in bounds):
                object.__setattr__(self, "comparison", ">=")
            elif all(b <= 0 for b in bounds):
                object.__setattr__(self, "comparison", "<=")
            else:
                raise field_error(
                    "comparison", "steps span both sides of the threshold: give '>=' or '<='"
                )
        object.__setattr__(self, "steps", steps)
        return self


class SimplePolicy(_AlarmFields):
    """A simple scaling policy: its alarm, one adjustment and an optional cooldown."""

    adjustment: int
    cooldown: Duration | None = Field(
        default=None, description="overrides the group's default_cooldown for this policy"
    )

    @model_validator(mode="after")
    def _valid(self) -> SimplePolicy:
        self._check_alarm()
        if self.adjustment_type == "ExactCapacity" and self.adjustment < 0:
            raise field_error("adjustment", "ExactCapacity must be >= 0", self.adjustment)
        if self.comparison is None:
            if self.adjustment_type == "ExactCapacity" or self.adjustment == 0:
                raise field_error("comparison", "give '>=', '>', '<=' or '<' for this policy")
            object.__setattr__(self, "comparison", ">=" if self.adjustment > 0 else "<=")
        return self


class TrackingPolicy(Config):
    """A target tracking policy: keep ``metric`` at ``target``."""

    metric: Metric = "CPUUtilization"
    target: float = Field(gt=0, description="target value in the metric's unit")
    disable_scale_in: bool = Field(default=False, description="scale out only")

    @model_validator(mode="after")
    def _percent(self) -> TrackingPolicy:
        if self.metric == "CPUUtilization" and self.target > 100:
            raise field_error("target", "CPUUtilization is a percentage: at most 100", self.target)
        return self


class TargetTrackingConfig(_Group):
    """EC2 Auto Scaling target tracking: one or more ``{metric, target}`` policies."""

    kind: Literal["target-tracking"]
    policies: list[TrackingPolicy] = Field(min_length=1)
    high_alarm_periods: int = Field(
        default=TT_HIGH_PERIODS, ge=1, description="[UNVERIFIED] high alarm: N of N datapoints"
    )
    low_alarm_periods: int = Field(
        default=TT_LOW_PERIODS, ge=1, description="[UNVERIFIED] low alarm: N of N datapoints"
    )
    low_alarm_fraction: Fraction = Field(
        default=TT_LOW_FRACTION,
        gt=0,
        le=1,
        description="low alarm threshold as a share of the target",
    )
    scale_in_step: Fraction = Field(
        default=TT_SCALE_IN_STEP,
        description="[UNVERIFIED] at most this share of the capacity (at least 1) removed "
        "per invocation; 0: no limit",
    )

    @model_validator(mode="after")
    def _distinct(self) -> TargetTrackingConfig:
        metrics = [p.metric for p in self.policies]
        for i, m in enumerate(metrics):
            if m in metrics[:i]:
                raise field_error(
                    "policies",
                    f"policy {i} uses {m} again: each target tracking policy must use a "
                    "different metric",
                )
        return self


class StepScalingConfig(_Group):
    """EC2 Auto Scaling step scaling policies (no cooldown, warm-up semantics)."""

    kind: Literal["step-scaling"]
    policies: list[StepPolicy] = Field(min_length=1)


class SimpleScalingConfig(_Group):
    """EC2 Auto Scaling simple scaling policies (one adjustment, then a cooldown)."""

    kind: Literal["simple-scaling"]
    policies: list[SimplePolicy] = Field(min_length=1)
    default_cooldown: Duration = Field(
        default=DEFAULT_COOLDOWN_S, description="DefaultCooldown: wait after an activity"
    )


# -- the controllers ---------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupCounts:
    """The group's capacities at an invocation."""

    scale_out_base: int  # in service and warmed up
    scale_in_base: int  # in service, terminating included
    warming: int  # launching or in warm-up
    in_service: int  # ready (serving), warming or not


class _Controller:
    """The group, the CloudWatch pipeline and the minute loop; subclasses decide."""

    kind = ""

    def __init__(self, config: Any, platform: Platform, ctx: RunContext) -> None:
        self.config = config
        self.platform = platform
        self.ctx = ctx
        self.env: simpy.Environment = ctx.env
        self.pipeline = metrics_for(ctx, MINUTE_S)
        self.initial = {i.id for i in ctx.cluster.instances}
        self.counters: dict[str, int] = ctx.extras.setdefault("counters", {})
        self.counters.setdefault("scale_events", 0)
        self._last_hold: str | None = None
        self.desired = platform.target
        # An instance in its grace period is treated as warming: out of the metrics, so
        # also out of the scale-out capacity (else ceil(capacity × metric / target)
        # would count instances whose load the metric does not show).
        self.warm_s = max(config.warmup, config.health_check_grace_period)
        self.cloudwatch = CloudWatch(
            self.pipeline,
            lambda: ctx.cluster.instances,
            self.measured,
            self.metrics(),
            PERIOD_S[config.monitoring],
        )
        start = clamp(self.desired, config.min, config.max)
        if start != self.desired:
            self.apply(
                Decision(
                    start, f"conform to [min {config.min}, max {config.max}]", "scale", "", math.nan
                ),
                math.nan,
            )

    # -- hooks -------------------------------------------------------------------------------

    def metrics(self) -> set[str]:
        raise NotImplementedError

    def evaluate(self, now: float, datapoints: dict[str, float | None]) -> None:
        raise NotImplementedError

    # -- the group ---------------------------------------------------------------------------

    def warming(self, inst: Instance, now: float) -> bool:
        """Launching, or in service for less than the warm-up or the health-check grace
        period (initial instances: warm)."""
        if inst.id in self.initial:
            return False
        return in_warmup(inst.state, inst.t_ready, now, self.warm_s)

    def measured(self, inst: Instance, now: float) -> bool:
        """Counted in the group's EC2 metrics: in service and no longer warming."""
        if inst.id in self.initial:
            return inst.state is State.READY
        return is_measured(inst.state, inst.t_ready, now, self.warm_s)

    def counts(self, now: float) -> GroupCounts:
        out = inn = warm = ready = 0
        for inst in self.ctx.cluster.instances:
            w = self.warming(inst, now)
            warm += w
            if inst.state is State.READY:
                ready += 1
                out += not w
                inn += 1
            elif inst.state is State.DRAINING:
                inn += 1
        return GroupCounts(out, inn, warm, ready)

    def run(self) -> Generator[simpy.Event, Any, None]:
        while True:
            yield self.env.timeout(MINUTE_S)
            yield self.env.timeout(0)  # after the metrics scrape due at this instant
            now = self.env.now
            self.evaluate(now, self.cloudwatch.collect(now))
            if self.platform.target < self.desired:
                # keep the desired capacity: replace gone instances, retry refused launches
                self.platform.scale_to(self.desired)

    def apply(self, d: Decision, now: float) -> bool:
        """Set the desired capacity (clamped); record a change, or a new kind of hold."""
        now = self.env.now if math.isnan(now) else now
        current = self.desired
        applied = clamp(d.desired, self.config.min, self.config.max)
        reason, code = d.reason, d.code
        if applied != d.desired:
            side = "max" if d.desired > applied else "min"
            if applied == current:
                reason, code = f"{reason}; at {side} {applied}", f"at-{side}"
            else:
                reason = f"{reason}; clamped to {side} {applied}"
        if applied != current:
            self.platform.scale_to(applied)
            self.desired = applied
            self.counters["scale_events"] = self.counters.get("scale_events", 0) + 1
            self._last_hold = None
        elif _HOLD_KIND.get(code, code) == self._last_hold:
            return False
        else:
            self._last_hold = _HOLD_KIND.get(code, code)
        self.ctx.record(
            "scaling",
            time_s=now,
            controller=self.kind,
            metric=d.metric,
            metric_value=d.value,
            current=current,
            desired=d.desired,
            applied=applied,
            reason=reason,
        )
        return applied != current


class TargetTrackingController(_Controller):
    """Target tracking: a high and a low alarm per policy, combined any-out / all-in."""

    kind = "target-tracking"
    config: TargetTrackingConfig

    def __init__(self, config: TargetTrackingConfig, platform: Platform, ctx: RunContext) -> None:
        super().__init__(config, platform, ctx)
        self.high = [Alarm(p.target, ">", config.high_alarm_periods) for p in config.policies]
        self.low = [
            Alarm(p.target * config.low_alarm_fraction, "<", config.low_alarm_periods)
            for p in config.policies
        ]

    def metrics(self) -> set[str]:
        return {p.metric for p in self.config.policies}

    def evaluate(self, now: float, datapoints: dict[str, float | None]) -> None:
        states = []
        for p, hi, lo in zip(self.config.policies, self.high, self.low, strict=True):
            if p.metric in datapoints:
                hi.add(datapoints[p.metric])
                lo.add(datapoints[p.metric])
            states.append(
                TrackingState(
                    p.metric,
                    hi.latest,
                    p.target,
                    hi.state == "ALARM",
                    lo.state == "ALARM",
                    p.disable_scale_in,
                )
            )
        c = self.counts(now)
        d = target_tracking_decision(
            states,
            desired=self.desired,
            scale_out_base=c.scale_out_base,
            scale_in_base=c.scale_in_base,
            warming=c.warming,
            scale_in_step=self.config.scale_in_step,
        )
        if d is None:
            self._last_hold = None
        else:
            self.apply(d, now)


def _policy_name(p: _AlarmFields, i: int) -> str:
    return p.name or f"policy {i}"


def _alarm_text(p: _AlarmFields, value: float) -> str:
    return f"{p.metric} {value:.4g} {p.op} {p.threshold:g}"


def _adjustment_text(adjustment_type: str, adjustment: int) -> str:
    if adjustment_type == "ExactCapacity":
        return f"= {adjustment}"
    unit = "%" if adjustment_type == "PercentChangeInCapacity" else ""
    return f"{adjustment:+d}{unit}"


class _AlarmPolicies(_Controller):
    """Step and simple scaling: one alarm per policy; the largest capacity wins [MULTI]."""

    config: StepScalingConfig | SimpleScalingConfig

    def __init__(self, config: Any, platform: Platform, ctx: RunContext) -> None:
        super().__init__(config, platform, ctx)
        self.alarms = [p.alarm() for p in config.policies]

    def metrics(self) -> set[str]:
        return {p.metric for p in self.config.policies}

    def firing(self, datapoints: dict[str, float | None]) -> list[int]:
        """Update the alarms; the indices of the policies whose alarm is in ALARM."""
        out = []
        for i, (p, alarm) in enumerate(zip(self.config.policies, self.alarms, strict=True)):
            if p.metric in datapoints:
                alarm.add(datapoints[p.metric])
            if alarm.state == "ALARM" and alarm.latest is not None:
                out.append(i)
        return out


class StepScalingController(_AlarmPolicies):
    """Step scaling: every invocation acts, with instance warm-up semantics."""

    kind = "step-scaling"
    config: StepScalingConfig

    def evaluate(self, now: float, datapoints: dict[str, float | None]) -> None:
        fired = self.firing(datapoints)
        if not fired:
            self._last_hold = None
            return
        c = self.counts(now)
        asks: list[Decision] = []
        for i in fired:
            p = self.config.policies[i]
            value = self.alarms[i].latest
            assert value is not None
            step = select_step(value - p.threshold, p.steps, p.op in (">", ">="))
            head = f"{_policy_name(p, i)}: {_alarm_text(p, value)}"
            if step is None:
                asks.append(Decision(self.desired, f"{head}: no step", "no-step", p.metric, value))
                continue
            n = step_capacity(
                p.adjustment_type,
                step.adjustment,
                desired=self.desired,
                scale_out_base=c.scale_out_base,
                scale_in_base=c.scale_in_base,
                min_adjustment_magnitude=p.min_adjustment_magnitude,
            )
            base = c.scale_in_base if step.adjustment < 0 else c.scale_out_base
            text = f"{head}: step {_adjustment_text(p.adjustment_type, step.adjustment)}"
            if p.adjustment_type != "ExactCapacity":
                after = adjusted_capacity(
                    p.adjustment_type, step.adjustment, base, p.min_adjustment_magnitude
                )
                text += f" of {base} → {after}"
            code = "scale"
            if step.adjustment == 0:
                code = "step-0"
            elif n == self.desired:
                code = f"hold-{i}"
                text += f"; hold: desired already {self.desired}"
            asks.append(Decision(n, text, code, p.metric, value))
        d = max(asks, key=lambda a: a.desired)
        if d.code == "step-0" or d.code == "no-step":
            return  # the alarm fired into a no-change band: nothing to record
        if d.desired < self.desired and c.warming:
            d = Decision(
                self.desired,
                f"{d.reason}; scale-in blocked: {c.warming} instance(s) warming up",
                "blocked-in",
                d.metric,
                d.value,
            )
        self.apply(d, now)


class SimpleScalingController(_AlarmPolicies):
    """Simple scaling: one adjustment, then the activity and a cooldown block the policies."""

    kind = "simple-scaling"
    config: SimpleScalingConfig

    def __init__(self, config: SimpleScalingConfig, platform: Platform, ctx: RunContext) -> None:
        super().__init__(config, platform, ctx)
        self.activity: list[tuple[Instance, bool]] = []  # (instance, launched?)
        self.cooldown_s = 0.0
        self.cooldown_until = -math.inf

    def activity_done(self) -> float | None:
        """When the last scaling activity finished (None: still running): every launched
        instance in service (or cancelled), every terminated instance gone [COOL]."""
        done = -math.inf
        for inst, launched in self.activity:
            if launched and inst.state is State.PROVISIONING:
                return None
            if not launched and inst.state is not State.GONE:
                return None
            t = inst.t_ready if launched and inst.t_ready is not None else inst.t_gone
            done = max(done, -math.inf if t is None else t)
        return done

    def blocked(self, now: float) -> str | None:
        """Why the simple policies can't act now (None: they can)."""
        if self.activity:
            done = self.activity_done()
            if done is None:
                return "scaling activity in progress"
            self.cooldown_until = (done if math.isfinite(done) else now) + self.cooldown_s
            self.activity = []
        if now < self.cooldown_until:
            return f"cooldown until {self.cooldown_until:g} s"
        return None

    def evaluate(self, now: float, datapoints: dict[str, float | None]) -> None:
        fired = self.firing(datapoints)
        why = self.blocked(now)
        if not fired:
            self._last_hold = None
            return
        c = self.counts(now)
        asks: list[tuple[Decision, int]] = []
        for i in fired:
            p = self.config.policies[i]
            value = self.alarms[i].latest
            assert value is not None
            n = max(
                0,
                adjusted_capacity(
                    p.adjustment_type, p.adjustment, c.in_service, p.min_adjustment_magnitude
                ),
            )
            text = (
                f"{_policy_name(p, i)}: {_alarm_text(p, value)}: "
                f"{_adjustment_text(p.adjustment_type, p.adjustment)}"
            )
            if p.adjustment_type != "ExactCapacity":
                text += f" of {c.in_service}"
            asks.append((Decision(n, text, "scale", p.metric, value), i))
        d, i = max(asks, key=lambda a: a[0].desired)
        if why is not None:
            self.apply(
                Decision(
                    self.desired, f"{d.reason}; ignored: {why}", "cooldown", d.metric, d.value
                ),
                now,
            )
            return
        if d.desired == self.desired:
            self.apply(
                Decision(d.desired, f"{d.reason}; no change", "hold", d.metric, d.value), now
            )
            return
        before = {inst.id for inst in self.ctx.cluster.instances}
        serving = [i_ for i_ in self.ctx.cluster.instances if i_.state is not State.DRAINING]
        if self.apply(d, now):
            p = self.config.policies[i]
            self.cooldown_s = self.config.default_cooldown if p.cooldown is None else p.cooldown
            launched = [x for x in self.ctx.cluster.instances if x.id not in before]
            stopped = [x for x in serving if x.state in (State.DRAINING, State.GONE)]
            self.activity = [(x, True) for x in launched] + [(x, False) for x in stopped]
            if not self.activity:  # nothing launched (refused) or removed: done now
                self.cooldown_until = now + self.cooldown_s


def _build(cls: type[_Controller]) -> Callable[[Any, Platform, RunContext], Any]:
    def build(config: Any, platform: Platform, ctx: RunContext) -> Any:
        return ctx.env.process(cls(config, platform, ctx).run())

    return build


_SOURCES = f"{_GUIDE} (awsdocs/amazon-ec2-auto-scaling-user-guide); reference §3.1"

AUTOSCALERS.register(
    "target-tracking",
    TargetTrackingConfig,
    "AWS EC2 Auto Scaling target tracking: ceil(current × metric/target), out if any, "
    "in if all, warm-up",
    _SOURCES,
)(_build(TargetTrackingController))
AUTOSCALERS.register(
    "step-scaling",
    StepScalingConfig,
    "AWS EC2 Auto Scaling step scaling: CloudWatch alarm + step adjustments, warm-up",
    _SOURCES,
)(_build(StepScalingController))
AUTOSCALERS.register(
    "simple-scaling",
    SimpleScalingConfig,
    "AWS EC2 Auto Scaling simple scaling: one adjustment per alarm, then a cooldown (300 s)",
    _SOURCES,
)(_build(SimpleScalingController))
