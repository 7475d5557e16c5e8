"""AWS EC2 Auto Scaling (``simulator/autoscalers/aws.py``) against the AWS documentation.

Pure functions first (rounding, adjustment types, step bounds, the documented
10 → 11 → 14 → 13 → 10 example, target tracking's any/all rule, alarms), then whole runs
on the ``cloud`` platform whose decision sequences are computed by hand:

* cloud launch (not baked): api 1.5 + pending 11.5 + boot 13 + configure 120 + app 5 =
  151 s; baked with ``app_start`` 34 s: exactly 60 s.
* CPU of an instance = arrival rate per instance × service time / workers (fixed service
  time, round robin), so the group's ``CPUUtilization`` is known up to Poisson noise
  (the cases below keep several standard deviations from every threshold).
* The metrics pipeline scrapes at 60 s, 120 s, ...; the controller runs right after.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

import simulator
from simulator.autoscalers.aws import (
    Alarm,
    StepPolicy,
    TrackingState,
    adjusted_capacity,
    capacity_change,
    in_warmup,
    is_measured,
    round_percent_change,
    select_step,
    step_capacity,
    target_tracking_decision,
    tracking_capacity,
)
from simulator.loading import InputError
from simulator.serving import State

# -- helpers ----------------------------------------------------------------------------------


def experiment(
    autoscaler: dict[str, Any] | list[dict[str, Any]],
    arrivals: dict[str, Any],
    *,
    platform: dict[str, Any] | None = None,
    horizon: str = "45m",
    workers: int = 2,
    service: str = "100ms",
) -> simulator.Experiment:
    return simulator.load_experiment(
        {
            "name": "aws",
            "seed": 1,
            "horizon": horizon,
            "sample_interval": "60s",
            "workload": {
                "arrivals": arrivals,
                "service_time": {"kind": "fixed", "value": service},
            },
            "scenarios": [
                {
                    "name": "asg",
                    "platform": platform or {"kind": "cloud", "initial": 2},
                    "serving": {"workers": workers, "queue_limit": 1000},
                    "autoscaler": autoscaler,
                }
            ],
        }
    )


def scaling(res: simulator.Results) -> pd.DataFrame:
    table = res.tables.get("scaling")
    return table if table is not None else pd.DataFrame(columns=["time_s", "current", "applied"])


def rows(res: simulator.Results) -> list[dict[str, Any]]:
    return [{str(k): v for k, v in r.items()} for r in scaling(res).to_dict("records")]


def changes(res: simulator.Results) -> list[tuple[float, int, int]]:
    return [
        (r["time_s"], r["current"], r["applied"]) for r in rows(res) if r["applied"] != r["current"]
    ]


def holds(res: simulator.Results) -> list[tuple[float, int]]:
    return [(r["time_s"], r["desired"]) for r in rows(res) if r["applied"] == r["current"]]


def reasons(res: simulator.Results) -> dict[float, str]:
    return {r["time_s"]: r["reason"] for r in rows(res)}


def invalid(autoscaler: dict[str, Any]) -> list[str]:
    with pytest.raises(InputError) as info:
        experiment(autoscaler, {"kind": "constant", "rate": "1/s"})
    return info.value.problems


# -- PercentChangeInCapacity rounding and adjustment types ([STEP] "Scaling adjustment types")


@pytest.mark.parametrize(
    ("x", "rounded"),
    [
        (12.7, 12),  # "Values greater than 1 are rounded down. For example, 12.7 → 12"
        (0.67, 1),  # "Values between 0 and 1 are rounded to 1. For example, .67 → 1"
        (-0.58, -1),  # "Values between 0 and -1 are rounded to -1. For example, -.58 → -1"
        (-6.67, -6),  # "Values less than -1 are rounded up. For example, -6.67 → -6"
        (3.0, 3),
        (1.0, 1),
        (0.0, 0),
        (-1.0, -1),
        (-3.0, -3),
    ],
)
def test_percent_rounding_follows_the_documented_examples(x: float, rounded: int) -> None:
    assert round_percent_change(x) == rounded


def test_adjustment_types_follow_the_documented_examples() -> None:
    # "current capacity of the group is 3 and the adjustment is 5 ... total of 8"
    assert adjusted_capacity("ChangeInCapacity", 5, 3) == 8
    # "current capacity of the group is 3 and the adjustment is 5 ... change the capacity to 5"
    assert adjusted_capacity("ExactCapacity", 5, 3) == 5
    # "current capacity is 10 and the adjustment is 10 percent ... total of 11"
    assert adjusted_capacity("PercentChangeInCapacity", 10, 10) == 11
    assert adjusted_capacity("ChangeInCapacity", -2, 3) == 1
    # percentages are exact fractions: 30 % of 10 is 3, not 2.9999
    assert capacity_change("PercentChangeInCapacity", 30, 10) == 3
    assert capacity_change("PercentChangeInCapacity", -10, 14) == -1  # -1.4
    assert capacity_change("PercentChangeInCapacity", -30, 13) == -3  # -3.9
    assert capacity_change("PercentChangeInCapacity", 5, 10) == 1  # 0.5 → 1
    assert capacity_change("PercentChangeInCapacity", -5, 10) == -1  # -0.5 → -1


def test_min_adjustment_magnitude_raises_a_small_percentage() -> None:
    # "adds 25 percent ... minimum increment of 2 ... group with 4 instances ... 2 added"
    assert capacity_change("PercentChangeInCapacity", 25, 4) == 1
    assert capacity_change("PercentChangeInCapacity", 25, 4, 2) == 2
    assert capacity_change("PercentChangeInCapacity", -25, 4, 2) == -2
    assert capacity_change("PercentChangeInCapacity", 50, 10, 2) == 5  # already larger
    assert capacity_change("PercentChangeInCapacity", 0, 10, 2) == 0  # no change stays none


# -- step bounds, the documented example and its warm-up variant ([STEP] "Step adjustments")

OUT: dict[str, Any] = {
    "name": "out",
    "threshold": 50,
    "adjustment_type": "PercentChangeInCapacity",
    "steps": [
        {"lower": 0, "upper": 10, "adjustment": 0},
        {"lower": 10, "upper": 20, "adjustment": 10},
        {"lower": 20, "adjustment": 30},
    ],
}
IN: dict[str, Any] = {
    "name": "in",
    "threshold": 50,
    "adjustment_type": "PercentChangeInCapacity",
    "steps": [
        {"lower": -10, "upper": 0, "adjustment": 0},
        {"lower": -20, "upper": -10, "adjustment": -10},
        {"upper": -20, "adjustment": -30},
    ],
}


def test_step_bounds_are_inclusive_on_the_side_away_from_the_threshold() -> None:
    out, inn = StepPolicy(**OUT), StepPolicy(**IN)
    assert (out.comparison, inn.comparison) == (">=", "<=")  # inferred from the steps

    def pick(policy: StepPolicy, metric: float) -> int | None:
        step = select_step(metric - 50, policy.steps, policy.comparison == ">=")
        return None if step is None else step.adjustment

    # above the threshold: lower inclusive, upper exclusive
    assert [pick(out, m) for m in (50, 59.9, 60, 69.9, 70, 1e9)] == [0, 0, 10, 10, 30, 30]
    # below: lower exclusive, upper inclusive
    assert [pick(inn, m) for m in (50, 40.1, 40, 30.1, 30, -1e9)] == [0, 0, -10, -10, -30, -30]


def test_documented_step_sequence_10_11_14_13_10() -> None:
    """[STEP]: capacity 10, threshold 50; 60 → 11; (warm) 70 → 14; 40 → 13; 30 → 10."""
    out, inn = StepPolicy(**OUT), StepPolicy(**IN)

    def act(policy: StepPolicy, metric: float, capacity: int) -> int:
        step = select_step(metric - policy.threshold, policy.steps, policy.comparison == ">=")
        assert step is not None
        return step_capacity(
            policy.adjustment_type,
            step.adjustment,
            desired=capacity,
            scale_out_base=capacity,
            scale_in_base=capacity,
        )

    seq = [10]
    for policy, metric in ((out, 60), (out, 70), (inn, 40), (inn, 30)):
        seq.append(act(policy, metric, seq[-1]))
    assert seq == [10, 11, 14, 13, 10]


def test_documented_warm_up_variant_does_not_double_count() -> None:
    """[STEP] "Instance warm-up": desired 11 with the 11th instance warming (base 10):
    62 % asks +10 % of 10 → 11 (no change); 70 % asks +30 % of 10 → 13 (adds only 2)."""
    kw = {"desired": 11, "scale_out_base": 10, "scale_in_base": 11}
    assert step_capacity("PercentChangeInCapacity", 10, **kw) == 11
    assert step_capacity("PercentChangeInCapacity", 30, **kw) == 13
    # scale-in counts terminating instances: 14 in service, 1 terminating, desired 13
    kw = {"desired": 13, "scale_out_base": 13, "scale_in_base": 14}
    assert step_capacity("PercentChangeInCapacity", -10, **kw) == 13  # -1 of 14: already
    assert step_capacity("ExactCapacity", 5, **kw) == 5


def test_largest_capacity_wins_among_simultaneous_policies() -> None:
    """[MULTI]: 8 instances, one policy removes 3, another 25 % → remove 2 (6 left)."""
    kw = {"desired": 8, "scale_out_base": 8, "scale_in_base": 8}
    asks = [
        step_capacity("ChangeInCapacity", -3, **kw),
        step_capacity("PercentChangeInCapacity", -25, **kw),
    ]
    assert asks == [5, 6] and max(asks) == 6


# -- target tracking: capacity formula and the any/all rule ([TT], reference §6.3) -------------


def test_tracking_capacity_rounds_conservatively() -> None:
    assert tracking_capacity(3, 75, 50) == 5  # 4.5: "adding 1.5 instances" → add 2
    assert tracking_capacity(3, 25, 50) == 2  # 1.5: "removing 1.5" → remove 1
    assert tracking_capacity(2, 80, 50) == 4  # 3.2 → 4
    assert tracking_capacity(3, 70, 70) == 3  # float noise does not add an instance
    assert tracking_capacity(10, 0.1 * 3, 0.3) == 10


def tt(metric: str, value: float, target: float, high: bool, low: bool, off: bool = False) -> Any:
    return TrackingState(metric, value, target, high, low, off)


def decide(*states: TrackingState, desired: int = 4, warming: int = 0, step: float = 0.0) -> Any:
    return target_tracking_decision(
        states,
        desired=desired,
        scale_out_base=desired - warming,
        scale_in_base=desired,
        warming=warming,
        scale_in_step=step,
    )


def test_target_tracking_scales_out_when_any_policy_says_so() -> None:
    cpu_high = tt("CPUUtilization", 80, 50, high=True, low=False)
    rcpt_low = tt("RequestCountPerTarget", 100, 1000, high=False, low=True)
    rcpt_high = tt("RequestCountPerTarget", 2000, 1000, high=True, low=False)
    assert decide(cpu_high).desired == 7  # ceil(4 × 80/50) = 7
    assert decide(cpu_high, rcpt_low).desired == 7  # out wins over in
    assert decide(cpu_high, rcpt_high).desired == 8  # the largest ask: ceil(4 × 2) = 8
    # warming instances count in the desired capacity: base 2, ask ceil(2 × 1.6) = 4 = desired
    d = decide(cpu_high, warming=2)
    assert (d.desired, d.code) == (4, "hold-out")


def test_target_tracking_scales_in_only_when_all_policies_agree() -> None:
    cpu_low = tt("CPUUtilization", 20, 50, high=False, low=True)
    rcpt_low = tt("RequestCountPerTarget", 400, 1000, high=False, low=True)
    rcpt_ok = tt("RequestCountPerTarget", 950, 1000, high=False, low=False)
    assert decide(cpu_low, rcpt_ok) is None  # one policy in band: no scale-in
    assert decide(cpu_low).desired == 2  # ceil(4 × 20/50) = 2
    # both low: the largest ask, ceil(4 × 0.4) = 2 vs ceil(4 × 0.4) = 2; make them differ:
    rcpt_lowish = tt("RequestCountPerTarget", 600, 1000, high=False, low=True)
    assert decide(cpu_low, rcpt_lowish).desired == 3  # max(2, ceil(2.4) = 3)
    assert decide(cpu_low, rcpt_low).desired == 2
    # a policy with scale-in disabled does not vote
    rcpt_off = tt("RequestCountPerTarget", 950, 1000, high=False, low=False, off=True)
    assert decide(cpu_low, rcpt_off).desired == 2
    assert decide(tt("CPUUtilization", 20, 50, False, True, off=True)) is None


def test_target_tracking_scale_in_waits_for_warm_up_and_is_gradual() -> None:
    cpu_low = tt("CPUUtilization", 10, 50, high=False, low=True)
    d = decide(cpu_low, warming=1)
    assert (d.desired, d.code) == (4, "blocked-in")
    # at most max(1, floor(10 % × 30)) = 3 removed per invocation
    d = decide(cpu_low, desired=30, step=0.1)
    assert d.desired == 27  # ceil(30 × 0.2) = 6 asked, 27 allowed
    assert decide(cpu_low, desired=4, step=0.1).desired == 3  # at least 1
    assert decide(cpu_low, desired=30, step=0.0).desired == 6  # no limit


# -- alarms, warm-up -----------------------------------------------------------------------------


def test_a_spike_shorter_than_the_evaluation_periods_does_not_alarm() -> None:
    alarm = Alarm(50, ">", periods=3)
    states = [alarm.add(v) for v in (80, 80, 40, 80, 80, 80)]
    assert states == ["OK", "OK", "OK", "OK", "OK", "ALARM"]
    two = Alarm(50, ">", periods=2)
    assert [two.add(v) for v in (80, 80, 40)] == ["OK", "ALARM", "OK"]
    # M out of N: 2 of 3 breaching
    m_of_n = Alarm(50, ">", periods=3, datapoints=2)
    assert [m_of_n.add(v) for v in (80, 40, 80, 80, 40, 40)] == [
        "OK",  # [80]
        "OK",  # [80, 40]
        "ALARM",  # [80, 40, 80]
        "ALARM",  # [40, 80, 80]
        "ALARM",  # [80, 80, 40]
        "OK",  # [80, 40, 40]
    ]
    # missing datapoints never breach; none at all is INSUFFICIENT_DATA
    gaps = Alarm(50, ">", periods=2)
    assert [gaps.add(v) for v in (None, 80, None, None)] == [
        "INSUFFICIENT_DATA",
        "OK",
        "OK",
        "INSUFFICIENT_DATA",
    ]
    assert Alarm(50, ">=", 1).add(50) == "ALARM" and Alarm(50, ">", 1).add(50) == "OK"


def test_warm_up_runs_from_in_service_and_excludes_metrics() -> None:
    assert in_warmup(State.PROVISIONING, None, 1000.0, 300.0)
    assert in_warmup(State.READY, 100.0, 399.0, 300.0)
    assert not in_warmup(State.READY, 100.0, 400.0, 300.0)
    assert not in_warmup(State.DRAINING, 100.0, 150.0, 300.0)
    assert not is_measured(State.READY, 100.0, 399.0, 300.0)
    assert is_measured(State.READY, 100.0, 400.0, 300.0)
    assert not is_measured(State.DRAINING, 0.0, 1000.0, 300.0)
    assert is_measured(State.READY, 100.0, 100.0, 0.0)


# -- configuration -----------------------------------------------------------------------------


def test_invalid_policies_are_reported_at_their_field() -> None:
    group = {"min": 1, "max": 3}
    gap = [{"lower": 0, "upper": 10, "adjustment": 1}, {"lower": 20, "adjustment": 2}]
    cases = {
        "policies[0].steps: the ranges of the step adjustments can't overlap or have a gap": {
            "kind": "step-scaling",
            "policies": [{"threshold": 50, "steps": gap}],
        },
        "policies[0].steps[0]: the upper and lower bound can't both be null": {
            "kind": "step-scaling",
            "policies": [{"threshold": 50, "steps": [{"adjustment": 1}]}],
        },
        "policies[0].steps: a negative lower bound needs a step with a null lower bound": {
            "kind": "step-scaling",
            "policies": [
                {"threshold": 50, "steps": [{"lower": -10, "upper": 0, "adjustment": -1}]}
            ],
        },
        "policies[0].datapoints_to_alarm: must be <= evaluation_periods (2)": {
            "kind": "step-scaling",
            "policies": [
                {
                    "threshold": 50,
                    "evaluation_periods": 2,
                    "datapoints_to_alarm": 3,
                    "steps": [{"lower": 0, "adjustment": 1}],
                }
            ],
        },
        "policies[0].min_adjustment_magnitude: only valid with adjustment_type "
        "PercentChangeInCapacity": {
            "kind": "simple-scaling",
            "policies": [{"threshold": 50, "adjustment": 1, "min_adjustment_magnitude": 2}],
        },
        "policies[0].comparison: give": {
            "kind": "simple-scaling",
            "policies": [{"threshold": 50, "adjustment_type": "ExactCapacity", "adjustment": 2}],
        },
        "policies: policy 1 uses CPUUtilization again": {
            "kind": "target-tracking",
            "policies": [{"target": 50}, {"target": 60}],
        },
        "policies[0].target: CPUUtilization is a percentage": {
            "kind": "target-tracking",
            "policies": [{"target": 150}],
        },
    }
    for expected, autoscaler in cases.items():
        problems = invalid({**group, **autoscaler})
        assert any(f"scenarios[0].autoscaler.{expected}" in p for p in problems), problems
    problems = invalid({"kind": "target-tracking", "min": 3, "max": 2, "policies": [{"target": 5}]})
    assert any("scenarios[0].autoscaler.max: must be >= min (3)" in p for p in problems)


def test_cloudwatch_operator_names_are_accepted() -> None:
    exp = experiment(
        {
            "kind": "step-scaling",
            "min": 1,
            "max": 3,
            "policies": [
                {
                    "threshold": 50,
                    "comparison": "GreaterThanThreshold",
                    "steps": [{"lower": 0, "adjustment": 1}],
                }
            ],
        },
        {"kind": "constant", "rate": "1/s"},
    )
    assert exp.scenarios[0].autoscaler.policies[0].comparison == ">"  # type: ignore[union-attr]


# -- whole runs: target tracking on cloud ----------------------------------------------------------

# 2 instances × 2 workers, 100 ms: 10/s → 25 % CPU; 32/s → 80 %; with 4 instances 40 %;
# 8/s on 4 → 10 %. Target 50: high alarm > 50 (3 × 1 min), low alarm < 45 (15 × 1 min).
STEP_LOAD = {
    "kind": "step",
    "initial": "10/s",
    "steps": [{"at": "10m", "rate": "32/s"}, {"at": "40m", "rate": "8/s"}],
}


def target_tracking(**extra: Any) -> dict[str, Any]:
    policies = extra.pop("policies", [{"metric": "CPUUtilization", "target": 50}])
    return {"kind": "target-tracking", "min": 2, "max": 10, "policies": policies, **extra}


def test_target_tracking_trace_on_cloud_with_a_step_load() -> None:
    """By hand: datapoints 660, 720, 780 at 80 % → high ALARM at 780: ceil(2 × 80/50) = 4.
    Launched at 780, ready at 931, warmed at 1231. 840: still 80 % over the 2 measured
    instances, ceil(2 × 1.6) = 4 = desired: hold (the warming ones count). From 1020 the
    old instances run at 40 % < 45: low ALARM after 15 datapoints, at 1860; ceil(4 × 0.8)
    = 4: nothing to remove. At 2400 the load drops to 8/s (10 %): 2460 ceil(4 × 0.2) = 1,
    gradual: −1 → 3; 2520: 8/s on 3 → 13 %, −1 → 2; 2580: at min 2."""
    res = simulator.run(experiment(target_tracking(), STEP_LOAD))
    assert changes(res) == [(780.0, 2, 4), (2460.0, 4, 3), (2520.0, 3, 2)]
    assert holds(res) == [(840.0, 4), (1860.0, 4), (2580.0, 1)]
    t = scaling(res)
    assert set(t.controller) == {"target-tracking"} and set(t.metric) == {"CPUUtilization"}
    assert 75 < t.metric_value.iloc[0] < 85
    assert "ceil(2 × " in t.reason.iloc[0] and "warming" in t.reason.iloc[1]
    assert "gradual scale-in: at most 1" in t.reason.iloc[3]
    assert res.summary.iloc[0]["scale_events"] == 3


def test_warm_up_keeps_new_instances_out_of_the_metric() -> None:
    """With warm-up 0 the new instances (ready at 931, half a minute of 40 %) join the
    960 datapoint: (2 × 60.7 + 2 × 19.3)/4 ≈ 40 < 45, so the low alarm starts a minute
    earlier (ALARM at 1800, not 1860). A grace period of 300 s acts like the warm-up."""
    assert holds(simulator.run(experiment(target_tracking(warmup=0), STEP_LOAD)))[1] == (1800, 4)
    grace = target_tracking(warmup=0, health_check_grace_period="300s")
    assert holds(simulator.run(experiment(grace, STEP_LOAD)))[1] == (1860, 4)


def test_scale_in_is_blocked_until_warm_up_ends() -> None:
    res = simulator.run(experiment(target_tracking(warmup="1h"), STEP_LOAD))
    t = scaling(res)
    blocked = t[t.reason.str.contains("scale-in blocked: 2 instance")]
    assert list(blocked.time_s) == [2460.0]
    assert changes(res) == [(780.0, 2, 4)]


def test_alarm_shapes_of_target_tracking() -> None:
    # a 2-minute spike (datapoints 660, 720) does not reach the 3-datapoint high alarm
    spike = {"kind": "spike", "base": "10/s", "peak": "32/s", "start": "10m", "hold": "2m"}
    assert changes(simulator.run(experiment(target_tracking(), spike))) == []
    res = simulator.run(experiment(target_tracking(high_alarm_periods=2), spike))
    assert changes(res)[0] == (720.0, 2, 4)
    # low alarm of 5 datapoints: from 1020 → 1260 (not 1860)
    res = simulator.run(experiment(target_tracking(low_alarm_periods=5), STEP_LOAD))
    assert (1260.0, 4) in holds(res) and (1860.0, 4) not in holds(res)
    # low alarm at 70 % of the target (35 %): 40 % never breaches; 10 % from 2460 needs
    # 15 datapoints (3300 s > horizon): no scale-in at all
    res = simulator.run(experiment(target_tracking(low_alarm_fraction="70%"), STEP_LOAD))
    assert changes(res) == [(780.0, 2, 4)]


def test_scale_in_step_and_disable_scale_in() -> None:
    res = simulator.run(experiment(target_tracking(scale_in_step=0), STEP_LOAD))
    assert changes(res) == [(780.0, 2, 4), (2460.0, 4, 2)]  # ceil(0.8) = 1 → min 2 at once
    off = [{"metric": "CPUUtilization", "target": 50, "disable_scale_in": True}]
    assert changes(simulator.run(experiment(target_tracking(policies=off), STEP_LOAD))) == [
        (780.0, 2, 4)
    ]


def test_basic_monitoring_uses_five_minute_datapoints() -> None:
    """Datapoints at 600 (25 %), 900, 1200, 1500 (80 %): high ALARM at 1500, not 780."""
    res = simulator.run(experiment(target_tracking(monitoring="basic"), STEP_LOAD))
    assert changes(res)[0] == (1500.0, 2, 4)


def test_request_count_per_target_counts_every_target() -> None:
    """32/s on 2 targets = 960 requests per target per minute; target 600:
    ceil(2 × 960/600) = 4 at 780. On 4 targets 480 < 540 from 960 → low ALARM at 1800."""
    policies = [{"metric": "RequestCountPerTarget", "target": 600}]
    res = simulator.run(experiment(target_tracking(policies=policies), STEP_LOAD))
    assert changes(res) == [(780.0, 2, 4), (2460.0, 4, 3), (2520.0, 3, 2)]
    t = scaling(res)
    assert set(t.metric) == {"RequestCountPerTarget"}
    assert 900 < t.metric_value.iloc[0] < 1020
    hold = t[t.time_s == 1800.0]
    assert len(hold) == 1 and 450 < hold.metric_value.iloc[0] < 510


def test_bounds_clamp_and_conform() -> None:
    res = simulator.run(experiment(target_tracking(max=3), STEP_LOAD))
    t = scaling(res)
    assert changes(res) == [(780.0, 2, 3)]
    assert t.desired.iloc[0] == 4 and "clamped to max 3" in t.reason.iloc[0]
    assert "at max 3" in t.reason.iloc[1]
    # a starting capacity below min is conformed at t = 0
    res = simulator.run(experiment(target_tracking(min=3), STEP_LOAD, horizon="5m"))
    assert changes(res)[0] == (0.0, 2, 3)


def test_the_group_replaces_instances_it_did_not_remove() -> None:
    """A scheduled action takes the platform to 1 instance at 330 s; the group (desired 2)
    launches a replacement at its next minute, 360 s."""
    both = [target_tracking(), {"kind": "schedule", "actions": [{"at": "330s", "instances": 1}]}]
    res = simulator.run(experiment(both, {"kind": "constant", "rate": "10/s"}, horizon="10m"))
    calls = res.provisioning[res.provisioning.stage == "api_call"]
    assert list(calls.start_s) == [360.0]


# -- whole runs: step scaling ------------------------------------------------------------------


def test_documented_step_sequence_on_cloud() -> None:
    """The [STEP] example as a run: 10 instances × 1 worker, 25 ms; the doc's two policies.

    load 180/s: 45 %; 252/s: 63 % on 10 (+10 % of 10 → 11 at 660; 57 % on 11);
    320/s: 72.7 % on 11 (+30 % of 11 = 3.3 → 14 at 1260; 57 % on 14);
    216/s: 38.6 % on 14 (−10 % of 14 = 1.4 → 13 at 1860; 41.5 % on 13: unchanged);
    130/s: 25 % on 13 (−30 % of 13 = 3.9 → 10 at 2460; then 32.5 %: at min 10).
    The new instance warms until 1111: at 720 the 63 % again asks +10 % of 10 = 11, and the
    desired capacity is already 11 — the doc's warm-up example.
    """
    load = {
        "kind": "step",
        "initial": "180/s",
        "steps": [
            {"at": "10m", "rate": "252/s"},
            {"at": "20m", "rate": "320/s"},
            {"at": "30m", "rate": "216/s"},
            {"at": "40m", "rate": "130/s"},
        ],
    }
    autoscaler = {"kind": "step-scaling", "min": 10, "max": 20, "policies": [OUT, IN]}
    platform = {"kind": "cloud", "initial": 10}
    res = simulator.run(experiment(autoscaler, load, platform=platform, workers=1, service="25ms"))
    assert changes(res) == [(660.0, 10, 11), (1260.0, 11, 14), (1860.0, 14, 13), (2460.0, 13, 10)]
    why = reasons(res)
    assert why[660.0].startswith("out: CPUUtilization 6")
    assert "step +10% of 10 → 11" in why[660.0]
    assert "step +10% of 10 → 11; hold: desired already 11" in why[720.0]
    assert "step +30% of 11 → 14" in why[1260.0]
    assert "step -10% of 14 → 13" in why[1860.0]
    assert "step -30% of 13 → 10" in why[2460.0]
    assert why[2520.0].endswith("at min 10")


# -- whole runs: simple scaling and its cooldown --------------------------------------------------

# One instance saturated by 100/s (capacity 20/s): CPU 100 % whatever the group size, so
# the alarm stays in ALARM. Launch = 60 s exactly (baked image, app_start 34 s).
FAST = {
    "kind": "cloud",
    "initial": 1,
    "baked_image": True,
    "stages": {"app_start": {"duration": {"kind": "fixed", "value": "34s"}}},
}
SATURATED = {"kind": "constant", "rate": "100/s"}


def simple(policy: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    p = {"threshold": 70, "adjustment": 1, **(policy or {})}
    return {"kind": "simple-scaling", "min": 1, "max": 5, "policies": [p], **extra}


def run_simple(autoscaler: dict[str, Any], horizon: str = "20m") -> simulator.Results:
    return simulator.run(experiment(autoscaler, SATURATED, platform=FAST, horizon=horizon))


def test_cooldown_blocks_simple_scaling_for_exactly_300_s() -> None:
    """+1 at 60; the instance is in service at 120; cooldown until 420, when the next
    invocation acts; and so on. With 301 s the 420 invocation is still blocked."""
    res = run_simple(simple())
    assert changes(res) == [(60.0, 1, 2), (420.0, 2, 3), (780.0, 3, 4), (1140.0, 4, 5)]
    ignored = scaling(res)[lambda t: t.reason.str.contains("ignored: cooldown until")]
    assert list(ignored.time_s) == [120.0, 480.0, 840.0]
    assert "cooldown until 420 s" in ignored.reason.iloc[0]
    res = run_simple(simple(default_cooldown="301s"))
    assert changes(res) == [(60.0, 1, 2), (480.0, 2, 3), (900.0, 3, 4)]


def test_policy_cooldown_overrides_the_default() -> None:
    res = run_simple(simple({"cooldown": "120s"}))
    assert changes(res) == [(60.0, 1, 2), (240.0, 2, 3), (420.0, 3, 4), (600.0, 4, 5)]


def test_cooldown_starts_when_the_terminated_instance_is_gone() -> None:
    """4 idle instances (1/s of 10 ms), −1 when CPU ≤ 20: the drained instance is idle and
    gone at once, so the cooldown runs from 60 to 360."""
    autoscaler = simple({"threshold": 20, "adjustment": -1})
    platform = {"kind": "cloud", "initial": 4, "baked_image": True}
    res = simulator.run(
        experiment(
            autoscaler, {"kind": "constant", "rate": "1/s"}, platform=platform, service="10ms"
        )
    )
    assert changes(res)[:3] == [(60.0, 4, 3), (360.0, 3, 2), (660.0, 2, 1)]


def test_simple_policy_alarm_parameters() -> None:
    assert changes(run_simple(simple({"evaluation_periods": 3}), "5m"))[0] == (180.0, 1, 2)
    m_of_n = {"evaluation_periods": 3, "datapoints_to_alarm": 1}
    assert changes(run_simple(simple(m_of_n), "5m"))[0] == (60.0, 1, 2)
    assert changes(run_simple(simple(monitoring="basic"), "10m"))[0] == (300.0, 1, 2)
    exact = {"adjustment_type": "ExactCapacity", "adjustment": 4, "comparison": ">="}
    assert changes(run_simple(simple(exact), "5m"))[0] == (60.0, 1, 4)
    percent = {"adjustment_type": "PercentChangeInCapacity", "adjustment": 50}
    assert changes(run_simple(simple(percent), "5m"))[0] == (60.0, 1, 2)  # 0.5 → 1
    with_min = {**percent, "min_adjustment_magnitude": 3}
    assert changes(run_simple(simple(with_min), "5m"))[0] == (60.0, 1, 4)
