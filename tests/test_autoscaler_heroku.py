"""``p95-latency`` (Heroku-style autoscaling): decision traces against hand computations.

The documented constraints (Dev Center "Autoscaling"): one dyno per event, events at
least one minute apart, min/max dynos with min ≥ 1, the formation conforms to the range
at once, scale-down less aggressive than scale-up. The rule between them is this
simulator's (Heroku's model is unpublished): +1 when the minute's p95 ≥ target, -1 after
``scale_down_after`` of minutes with p95 ≤ ``scale_down_below`` × target.

The step-load trace: 2 web dynos of 4 workers, 50 ms fixed service, queue limit 100.
At 10/s p95 is the 50 ms service time (well below 300 ms × 50 %); at 500/s every dyno is
saturated (capacity 80/s each, even 5 dynos serve only 400/s), its queue is full and the
requests that complete waited ≈ 100 / 80 s: p95 ≈ 1.29 s ≥ 300 ms. Minutes end at
multiples of 60 s (the 60 s metrics scrape); the controller evaluates right after.
"""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import pytest

import simulator
from simulator.autoscalers.heroku import (
    DOWN_AFTER_S,
    DOWN_BELOW,
    P95_DEFAULT_S,
    PERIOD_S,
    SPACING_S,
    Decision,
    HerokuAutoscaler,
    decide,
    observed_p95,
)
from simulator.loading import InputError
from simulator.metrics import ClusterSample
from simulator.registry import AUTOSCALERS, CATALOG


def fixed(value: str) -> dict[str, Any]:
    return {"kind": "fixed", "value": value}


def experiment(
    autoscaler: dict[str, Any],
    initial: int = 2,
    steps: list[tuple[float, str]] | None = None,
    horizon: float = 3400.0,
) -> dict[str, Any]:
    steps = [(300.0, "500/s"), (900.0, "10/s")] if steps is None else steps
    return {
        "name": "heroku-trace",
        "seed": 1,
        "horizon": f"{horizon}s",
        "workload": {
            "arrivals": {
                "kind": "step",
                "initial": "10/s",
                "steps": [{"at": f"{at}s", "rate": rate} for at, rate in steps],
            }
            if steps
            else {"kind": "constant", "rate": "10/s"},
            "service_time": fixed("50ms"),
        },
        "scenarios": [
            {
                "name": "web",
                "platform": {"kind": "paas", "initial": initial, "boot_time": fixed("8s")},
                "serving": {"workers": 4, "queue_limit": 100},
                "autoscaler": {"kind": "p95-latency", **autoscaler},
            }
        ],
    }


def scaling(doc: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    res = simulator.run(simulator.load_experiment(doc))
    rows = res.tables["scaling"].to_dict("records")
    assert {r["controller"] for r in rows} == {"p95-latency"}
    return rows, res.summary.iloc[0].to_dict()


def changes(rows: list[dict[str, Any]]) -> list[tuple[float, int]]:
    return [(r["time_s"], r["applied"]) for r in rows if r["applied"] != r["current"]]


def decision(**kw: Any) -> Decision:
    args: dict[str, Any] = {
        "now": 600.0,
        "current": 3,
        "p95": 1.0,
        "window_start": 540.0,
        "last_event": -math.inf,
        "low_since": None,
        "target": 0.3,
        "min_dynos": 2,
        "max_dynos": 5,
    }
    args.update(kw)
    return decide(**args)


# -- the whole trace ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def step_trace() -> tuple[list[dict[str, Any]], dict[str, Any]]:
    return scaling(experiment({"p95": "300ms", "min": 2, "max": 5}))


def test_step_load_decision_sequence(step_trace: Any) -> None:
    rows, summary = step_trace
    # Up: the minute [300, 360] is the first slow one; +1 at 360, 420, 480 (max 5).
    # After the drop at 900 the minute [900, 960] still completes the ≈ 520 requests
    # queued at 900 (p95 high, at max: hold); from [960, 1020] on p95 is 50 ms, so the
    # run of low minutes starts at 960: -1 at 960 + 600 = 1560, then every 600 s
    # (each event restarts the wait), down to min 2 at 2760.
    assert changes(rows) == [
        (360.0, 3),
        (420.0, 4),
        (480.0, 5),
        (1560.0, 4),
        (2160.0, 3),
        (2760.0, 2),
    ]
    assert summary["scale_events"] == 6


def test_scale_up_is_one_dyno_per_minute_and_down_is_slower(step_trace: Any) -> None:
    rows, _ = step_trace
    moves = [
        (r["time_s"], r["applied"] - r["current"]) for r in rows if r["applied"] != r["current"]
    ]
    assert all(abs(d) == 1 for _, d in moves)  # one dyno per event
    ups = [t for t, d in moves if d > 0]
    downs = [t for t, d in moves if d < 0]
    assert [b - a for a, b in zip(ups, ups[1:], strict=False)] == [SPACING_S] * 2
    assert [b - a for a, b in zip(downs, downs[1:], strict=False)] == [DOWN_AFTER_S] * 2


def test_max_and_min_clamp_in_the_trace(step_trace: Any) -> None:
    rows, _ = step_trace
    holds = {(r["time_s"], r["reason"]) for r in rows if r["applied"] == r["current"]}
    assert (540.0, "p95 >= target, at max 5") in holds
    assert (3360.0, "p95 well below target, at min 2") in holds
    assert max(r["applied"] for r in rows) == 5
    assert min(r["applied"] for r in rows) == 2
    slow = [r for r in rows if r["time_s"] == 360.0][0]
    assert slow["metric"] == "latency_p95_s" and slow["metric_value"] > 1.0


def test_p95_target_is_used() -> None:
    # With a 2 s target the saturated minutes (p95 ≈ 1.29 s) are within the band.
    rows, summary = scaling(experiment({"p95": "2s", "min": 2, "max": 5}, horizon=1200.0))
    assert changes(rows) == []
    assert summary["scale_events"] == 0


def test_conforms_to_the_range_at_once() -> None:
    # Dev Center: after configuring, the dyno count "immediately adjusts to conform".
    rows, _ = scaling(experiment({"min": 3, "max": 5}, initial=1, steps=[], horizon=120.0))
    assert changes(rows) == [(0.0, 3)]
    assert rows[0]["reason"] == "conform to range: below min 3"
    rows, _ = scaling(experiment({"min": 1, "max": 2}, initial=4, steps=[], horizon=120.0))
    assert changes(rows)[0] == (0.0, 2)


def test_scale_down_parameters_reach_the_controller() -> None:
    # 10/s on 4 dynos: every minute's p95 is the 50 ms service time.
    quiet = {"p95": "300ms", "min": 2, "max": 5, "scale_down_after": "5m"}
    rows, _ = scaling(experiment(quiet, initial=4, steps=[], horizon=700.0))
    assert changes(rows) == [(300.0, 3), (600.0, 2)]
    # 50 ms is not below 10 % of 300 ms: never 'well below', no scale-down.
    rows, _ = scaling(
        experiment({**quiet, "scale_down_below": "10%"}, initial=4, steps=[], horizon=700.0)
    )
    assert changes(rows) == []


# -- the rule, one parameter at a time ----------------------------------------------------


def test_scale_up_when_p95_reaches_the_target() -> None:
    # The CLI's monitor compares GREATER_OR_EQUAL.
    assert decision(p95=0.3).desired == 4
    assert decision(p95=0.2999).desired == 3


def test_events_are_at_least_one_minute_apart() -> None:
    assert SPACING_S == 60.0
    inside = decision(last_event=600.0 - 59.999)
    assert (inside.desired, inside.reason) == (3, "spacing: last event < 1 min ago")
    assert decision(last_event=540.0).desired == 4
    # Spacing also holds back a scale-down that is otherwise due.
    due = {"p95": 0.05, "low_since": 0.0}
    assert decision(**due, last_event=580.0).desired == 3
    assert decision(**due, last_event=540.0).desired == 2


def test_max_clamps_scale_up() -> None:
    assert decision(current=5).desired == 5
    assert decision(current=5, max_dynos=6).desired == 6
    assert decision(current=7).desired == 5  # above max: back to max at once


def test_min_clamps_scale_down() -> None:
    due = {"p95": 0.05, "low_since": 0.0}
    assert decision(**due, current=2).desired == 2
    assert decision(**due, current=2, min_dynos=1).desired == 1
    assert decision(current=1).desired == 2  # below min: up to min at once


def test_scale_down_after() -> None:
    low = {"p95": 0.05, "now": 600.0}
    d = decision(**low, low_since=0.0 + 1e-9)
    assert (d.desired, d.reason) == (3, "p95 well below target: waiting")
    assert decision(**low, low_since=0.0).desired == 2
    assert decision(**low, low_since=300.0, down_after=300.0).desired == 2
    assert decision(**low, low_since=300.0).desired == 3


def test_scale_down_below() -> None:
    # 'Well below' is p95 <= scale_down_below × target: 150 ms of a 300 ms target.
    assert DOWN_BELOW == 0.5
    due = {"low_since": 0.0}
    assert decision(**due, p95=0.15).desired == 2
    assert decision(**due, p95=0.1501).desired == 3
    assert decision(**due, p95=0.1501, down_below=0.6).desired == 2


def test_low_run_starts_with_its_first_window_and_breaks_on_a_higher_minute() -> None:
    first = decision(p95=0.05, low_since=None, window_start=540.0)
    assert first.low_since == 540.0 and first.desired == 3
    assert decision(p95=0.05, low_since=100.0).low_since == 100.0
    assert decision(p95=0.2, low_since=100.0).low_since is None  # within band: run broken
    # A scale event restarts the wait.
    assert decision(p95=0.05, low_since=0.0).low_since is None
    assert decision(p95=1.0, low_since=0.0).low_since is None


def test_no_data_holds() -> None:
    d = decision(p95=math.nan, low_since=10.0)
    assert (d.desired, d.reason, d.low_since) == (3, "no data", 10.0)


def sample(window: float, arrival: float, completed: float, p95: float) -> ClusterSample:
    return ClusterSample(60.0, window, arrival, completed, p95 / 2, p95, p95 * 2, 2, 0.5)


def test_observed_p95() -> None:
    assert observed_p95([sample(60, 10, 10, 0.05)]) == 0.05
    assert observed_p95([sample(15, 10, 10, 0.05), sample(15, 10, 10, 0.4)]) == 0.4
    assert observed_p95([sample(60, 0, 0, math.nan)]) == 0.0  # idle: needs the minimum
    assert observed_p95([sample(60, 5, 0, math.nan)]) == math.inf  # nothing answered
    assert math.isnan(observed_p95([]))


# -- the config ---------------------------------------------------------------------------


def test_defaults_and_catalog() -> None:
    c = HerokuAutoscaler(kind="p95-latency", min=1, max=3)
    assert c.p95 == P95_DEFAULT_S == 1.0  # heroku CLI: value defaults to 1000 (ms)
    assert (c.scale_down_below, c.scale_down_after) == (DOWN_BELOW, DOWN_AFTER_S)
    assert PERIOD_S == 60.0
    assert "p95-latency" in AUTOSCALERS.kinds()
    facts = {f.name for f in CATALOG if f.family == "p95-latency"}
    assert {"desired p95 response time", "time between autoscaling events"} <= facts


def doc_with(autoscaler: dict[str, Any]) -> dict[str, Any]:
    return experiment(autoscaler, steps=[], horizon=60.0)


@pytest.mark.parametrize(
    ("autoscaler", "message"),
    [
        ({"min": 3, "max": 2}, "scenarios[0].autoscaler.max: must be >= min (3)"),
        ({"min": 0, "max": 2}, "scenarios[0].autoscaler.min: "),
        ({"max": 2}, "scenarios[0].autoscaler.min: required"),
        ({"min": 1}, "scenarios[0].autoscaler.max: required"),
        ({"min": 1, "max": 2, "p95": "0ms"}, "scenarios[0].autoscaler.p95: "),
        ({"min": 1, "max": 2, "scale_down_below": "100%"}, "autoscaler.scale_down_below: "),
        ({"min": 1, "max": 2, "scale_down_after": "30s"}, "autoscaler.scale_down_after: "),
        ({"min": 1, "max": 2, "cooldown": "30s"}, "scenarios[0].autoscaler.cooldown: "),
    ],
)
def test_bad_config_names_the_field(autoscaler: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError) as err:
        simulator.load_experiment(doc_with(autoscaler))
    assert message in str(err.value)


def test_shares_an_existing_metrics_pipeline() -> None:
    # Another controller's pipeline at another resolution is reused (one per run).
    from simulator.autoscalers.heroku import _pipeline

    shared = object()
    ctx: Any = SimpleNamespace(extras={"metrics_pipelines": {15.0: shared}})
    assert _pipeline(ctx, PERIOD_S) is shared
