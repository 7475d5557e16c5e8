"""``ticket`` (manual scaling): check → alert → a person → a ticket → the platform.

Deterministic traces on ``cloud`` with a one-stage pipeline (``configure`` fixed at
900 s, so an ordered VM is ready 900 s after the ticket) and a fixed response time,
compared with hand computations. The load: 1 s fixed service, 4 workers per instance
(4 requests/s each); 10/s on 5 instances is 50 % CPU, 18/s is 90 %, on 6 instances
75 %, on 7 instances 64 %. The monitoring checks (and the metrics scrape at the same
resolution) fall at multiples of ``check_every``; each check reads the window just
ended.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

import simulator
from simulator.autoscalers.ticket import (
    CHECK_EVERY_S,
    LOW_CPU,
    RESPONSE_MEDIAN_S,
    RESPONSE_P95_S,
    STEP,
    SUSTAINED_S,
    THRESHOLD_CPU,
    AlertRule,
    TicketAutoscaler,
    classify,
    order_size,
    window_metrics,
)
from simulator.distributions import Lognormal
from simulator.engine import streams_for
from simulator.loading import InputError
from simulator.metrics import ClusterSample
from simulator.registry import AUTOSCALERS, CATALOG

Row = tuple[float, str, int, int]


def fixed(value: str) -> dict[str, Any]:
    return {"kind": "fixed", "value": value}


def cloud(configure: str = "900s", initial: int = 5) -> dict[str, Any]:
    """A cloud platform whose only stage is ``configure`` (fixed): round numbers."""
    stages: dict[str, Any] = {s: None for s in ("api_call", "pending", "boot", "app_start")}
    stages["configure"] = {"duration": fixed(configure)}
    return {"kind": "cloud", "initial": initial, "stages": stages}


def experiment(
    platform: dict[str, Any],
    autoscaler: dict[str, Any],
    steps: list[tuple[float, str]] | None = None,
    initial: str = "10/s",
    horizon: float = 6600.0,
    seed: int = 1,
) -> dict[str, Any]:
    steps = [(600.0, "18/s")] if steps is None else steps
    arrivals: dict[str, Any] = (
        {
            "kind": "step",
            "initial": initial,
            "steps": [{"at": f"{at}s", "rate": rate} for at, rate in steps],
        }
        if steps
        else {"kind": "constant", "rate": initial}
    )
    return {
        "name": "ticket-trace",
        "seed": seed,
        "horizon": f"{horizon}s",
        "workload": {"arrivals": arrivals, "service_time": fixed("1s")},
        "scenarios": [
            {
                "name": "ops",
                "platform": platform,
                "serving": {"workers": 4},
                "autoscaler": {"kind": "ticket", **autoscaler},
            }
        ],
    }


def run(doc: dict[str, Any]) -> tuple[list[Row], simulator.Results]:
    """The scaling rows as (time, what, current, applied); what = the reason's first word."""
    res = simulator.run(simulator.load_experiment(doc))
    table = res.tables.get("scaling")
    rows: list[Row] = []
    if table is not None:
        assert set(table["controller"]) == {"ticket"}
        for r in table.to_dict("records"):
            what = r["reason"].split(":")[0]
            if "ignored" in r["reason"]:
                what = "alert ignored"
            elif "timed out" in r["reason"]:
                what = "timed out"
            elif r["reason"].startswith("ticket closed"):
                what = "closed"
            rows.append((r["time_s"], what, int(r["current"]), int(r["applied"])))
    return rows, res


FAST = {"threshold_cpu": "70%", "response_time": fixed("1000s")}


# -- traces --------------------------------------------------------------------------------


def test_alert_ack_order_close_trace() -> None:
    # Checks every 300 s. [600, 900] is the first window at 90 % > 70 %: pending at 900,
    # still breached at 1200 and 1500 -> fires at 1500 (held 600 s). The person answers
    # 1000 s later: ticket at 2500 for 5 + 1 = 6; the VM is ready at 3400; the check at
    # 3600 closes the ticket and re-arms the alert. At 6 instances CPU is 75 % > 70 %:
    # pending from 3600, fires at 4200, ticket at 5200 for 7, ready 6100, closed at 6300;
    # at 7 instances (64 %) nothing more.
    rows, res = run(experiment(cloud(), FAST))
    assert rows == [
        (1500.0, "alert", 5, 5),
        (2500.0, "ticket", 5, 6),
        (3600.0, "closed", 6, 6),
        (4200.0, "alert", 6, 6),
        (5200.0, "ticket", 6, 7),
        (6300.0, "closed", 7, 7),
    ]
    spans = res.provisioning
    assert list(zip(spans["stage"], spans["start_s"], spans["end_s"], strict=True)) == [
        ("configure", 2500.0, 3400.0),
        ("configure", 5200.0, 6100.0),
    ]
    assert res.summary.iloc[0]["scale_events"] == 2
    alert = res.tables["scaling"].iloc[0]
    assert alert["metric"] == "cpu" and 0.8 < alert["metric_value"] < 1.0


def test_one_ticket_at_a_time() -> None:
    # sustained 0: an alert fires at the first breached check. The load flaps:
    # [600, 900] high -> alert at 900 (a person is on it until 1900); [900, 1200] low ->
    # the alert resolves; [1200, 1500] high -> alert at 1500, ignored: one ticket at a
    # time. The ticket (1900, 5 -> 6) closes at the first check after its VM is ready
    # (2800): 3000.
    steps = [(600.0, "18/s"), (900.0, "10/s"), (1200.0, "18/s"), (1500.0, "10/s")]
    rows, _ = run(experiment(cloud(), {**FAST, "sustained": "0s"}, steps, horizon=3300.0))
    assert rows == [
        (900.0, "alert", 5, 5),
        (1500.0, "alert ignored", 5, 5),
        (1900.0, "ticket", 5, 6),
        (3000.0, "closed", 6, 6),
    ]


def test_ticket_timeout() -> None:
    # The VM takes 5000 s. The ticket of 2500 is not done at 3600 (1100 s < 1200 s) and
    # times out at the 3900 check; a fresh breach (3900, 4200, 4500) fires at 4500 and
    # the next ticket (5500) orders on top of what is still being provisioned: 6 -> 7.
    auto = {**FAST, "ticket_timeout": "20m"}
    rows, _ = run(experiment(cloud("5000s"), auto, horizon=6000.0))
    assert rows == [
        (1500.0, "alert", 5, 5),
        (2500.0, "ticket", 5, 6),
        (3900.0, "timed out", 6, 6),
        (4500.0, "alert", 6, 6),
        (5500.0, "ticket", 6, 7),
    ]
    # Without a timeout the ticket stays open: no second ticket.
    rows, _ = run(experiment(cloud("5000s"), FAST, horizon=6000.0))
    assert [r[1] for r in rows] == ["alert", "ticket"]


def test_check_every_and_sustained() -> None:
    # Checks every minute: first breached check 660, fires 2 min later at 780.
    rows, _ = run(
        experiment(cloud(), {**FAST, "check_every": "1m", "sustained": "2m"}, horizon=2000.0)
    )
    assert rows[:2] == [(780.0, "alert", 5, 5), (1780.0, "ticket", 5, 6)]


def test_step() -> None:
    rows, _ = run(experiment(cloud(), {**FAST, "step": 2}, horizon=2600.0))
    assert rows == [(1500.0, "alert", 5, 5), (2500.0, "ticket", 5, 7)]


def test_threshold_p95() -> None:
    # CPU not checked; the windows at 90 % utilisation have p95 ≈ 1.5 s > 1.2 s
    # (at 50 % it is the 1 s service time).
    auto = {"threshold_cpu": None, "threshold_p95": "1.2s", "response_time": fixed("1000s")}
    rows, res = run(experiment(cloud(), auto, horizon=2600.0))
    assert rows == [(1500.0, "alert", 5, 5), (2500.0, "ticket", 5, 6)]
    assert res.tables["scaling"].iloc[0]["metric"] == "latency_p95_s"


def test_response_time_is_drawn_from_the_people_stream() -> None:
    # The default log-normal (median 30 min), drawn from the run's `people` stream: the
    # ticket comes exactly that long after the alert.
    rows, _ = run(experiment(cloud(), {"threshold_cpu": "70%"}, horizon=9000.0, seed=7))
    rng = streams_for(7, 0)["people"]
    delay = float(Lognormal(kind="lognormal", median=1800.0, p95=7200.0).sample(rng, 1)[0])
    assert rows[0][:2] == (1500.0, "alert")
    assert rows[1][1] == "ticket"
    assert rows[1][0] == pytest.approx(1500.0 + delay)
    again, _ = run(experiment(cloud(), {"threshold_cpu": "70%"}, horizon=9000.0, seed=7))
    assert again == rows


def test_physical_order_goes_through_procurement() -> None:
    # The ticket buys a server: its delivery (weeks) starts at the ticket and has not
    # ended at the horizon, so the ticket is still open.
    rows, res = run(experiment({"kind": "physical", "initial": 5}, FAST, horizon=3000.0))
    assert rows == [(1500.0, "alert", 5, 5), (2500.0, "ticket", 5, 6)]
    span = res.provisioning.iloc[0]
    assert (span["stage"], span["start_s"]) == ("delivery", 2500.0)
    assert math.isnan(span["end_s"])


def test_fixed_platform_ignores_the_order() -> None:
    rows, res = run(experiment({"kind": "fixed", "instances": 5}, FAST, horizon=2800.0))
    assert rows == [
        (1500.0, "alert", 5, 5),
        (2500.0, "ticket", 5, 5),
        (2700.0, "closed", 5, 5),
    ]
    assert "did not change its capacity" in res.tables["scaling"].iloc[1]["reason"]
    assert res.summary.iloc[0]["scale_events"] == 0


def test_scale_in_tickets() -> None:
    # 2/s on 5 instances: 10 % CPU. Pending from the first check (300), fires at 900,
    # ticket at 1900 (5 -> 4), closed at the next check (2100); re-armed: fires at 2700,
    # ticket at 3700 (4 -> 3 = min), closed 3900; at min no further alert.
    auto = {**FAST, "scale_in": True, "min": 3}
    rows, _ = run(experiment(cloud(), auto, steps=[], initial="2/s", horizon=6000.0))
    assert rows == [
        (900.0, "alert", 5, 5),
        (1900.0, "ticket", 5, 4),
        (2100.0, "closed", 4, 4),
        (2700.0, "alert", 4, 4),
        (3700.0, "ticket", 4, 3),
        (3900.0, "closed", 3, 3),
    ]
    # Off by default; low_cpu is the threshold (10 % is not below 5 %).
    rows, _ = run(experiment(cloud(), FAST, steps=[], initial="2/s", horizon=3000.0))
    assert rows == []
    low = {**auto, "low_cpu": "5%"}
    rows, _ = run(experiment(cloud(), low, steps=[], initial="2/s", horizon=3000.0))
    assert rows == []


# -- the pure parts ------------------------------------------------------------------------


def config(**kw: Any) -> TicketAutoscaler:
    return TicketAutoscaler.model_validate({"kind": "ticket", **kw})


def test_classify() -> None:
    c = config()
    assert classify(0.81, math.nan, c) == 1
    assert classify(0.80, math.nan, c) == 0  # exceeding, not reaching
    assert classify(math.nan, math.nan, c) == 0
    assert classify(0.1, math.nan, c) == 0  # scale_in off
    p95 = config(threshold_cpu=None, threshold_p95="300ms")
    assert classify(0.99, 0.31, p95) == 1
    assert classify(0.99, 0.30, p95) == 0
    assert classify(0.1, math.inf, p95) == 1  # arrivals, nothing answered
    both = config(threshold_p95="300ms")
    assert classify(0.5, 0.31, both) == 1 and classify(0.9, 0.1, both) == 1
    down = config(scale_in=True, low_cpu="30%", min=2)
    assert classify(0.29, math.nan, down) == -1
    assert classify(0.30, math.nan, down) == 0
    assert classify(0.29, math.nan, down, current=2) == 0  # at min
    assert classify(0.29, math.nan, down, current=3) == -1


def test_order_size() -> None:
    assert order_size(5, 1, config()) == 6
    assert order_size(5, 1, config(step=3)) == 8
    assert order_size(5, -1, config(step=3, min=1)) == 2
    assert order_size(5, -1, config(step=3, min=4)) == 4


def test_alert_rule_for_clause() -> None:
    rule = AlertRule(600.0)
    assert [rule.evaluate(t, 1) for t in (900, 1200, 1500, 1800)] == [False, False, True, False]
    assert rule.evaluate(2100, 0) is False  # resolved: reset
    assert [rule.evaluate(t, 1) for t in (2400, 2700, 3000)] == [False, False, True]
    assert rule.evaluate(3300, -1) is False  # a change of direction starts over
    rule.reset()
    assert rule.evaluate(3600, 1) is False
    instant = AlertRule(0.0)
    assert instant.evaluate(300, 1) is True and instant.evaluate(600, 1) is False


def sample(
    window: float, ready: int, cpu: float, p95: float, arrival: float = 5.0
) -> ClusterSample:
    completed = 0.0 if math.isnan(p95) else arrival
    return ClusterSample(0.0, window, arrival, completed, p95, p95, p95, ready, cpu)


def test_window_metrics() -> None:
    assert window_metrics([sample(300, 5, 0.9, 1.5)]) == (0.9, 1.5)
    cpu, p95 = window_metrics([sample(60, 1, 1.0, 2.0), sample(60, 3, 0.2, 0.5)])
    assert cpu == pytest.approx((1.0 * 1 + 0.2 * 3) / 4)
    assert p95 == 2.0  # the largest window p95: an upper bound
    cpu, p95 = window_metrics([sample(60, 0, math.nan, math.nan)])
    assert math.isnan(cpu) and p95 == math.inf  # arrivals, nothing completed
    cpu, p95 = window_metrics([sample(60, 2, 0.0, math.nan, arrival=0.0)])
    assert cpu == 0.0 and math.isnan(p95)
    assert all(math.isnan(v) for v in window_metrics([]))


# -- the config ----------------------------------------------------------------------------


def test_contract_form_validates_with_defaults() -> None:
    # DESIGN §4: `autoscaler: {kind: ticket}` with nothing else, on the bare-metal scenario.
    doc = {
        "name": "flash-crowd",
        "seed": 42,
        "horizon": "2h",
        "workload": {
            "arrivals": {
                "kind": "spike",
                "base": "50/s",
                "peak": "500/s",
                "start": "30m",
                "rise": "2m",
                "hold": "20m",
                "fall": "10m",
            },
            "service_time": {"kind": "lognormal", "median": "40ms", "p95": "120ms"},
            "timeout": "10s",
        },
        "slo": {"latency_p99": "300ms", "dropped": "0.1%"},
        "scenarios": [
            {
                "name": "bare-metal",
                "platform": {"kind": "physical", "initial": 6},
                "serving": {"workers": 16, "queue_limit": 200},
                "autoscaler": {"kind": "ticket"},
            }
        ],
    }
    exp = simulator.load_experiment(doc)
    c = exp.scenarios[0].autoscaler
    assert isinstance(c, TicketAutoscaler)
    assert c == TicketAutoscaler(kind="ticket")


def test_defaults_and_catalog() -> None:
    c = TicketAutoscaler(kind="ticket")
    assert (c.check_every, c.sustained) == (CHECK_EVERY_S, SUSTAINED_S) == (300.0, 600.0)
    assert (c.threshold_cpu, c.threshold_p95) == (THRESHOLD_CPU, None) == (0.8, None)
    assert c.response_time == Lognormal(kind="lognormal", median=1800.0, p95=7200.0)
    assert (RESPONSE_MEDIAN_S, RESPONSE_P95_S) == (1800.0, 7200.0)
    assert (c.step, c.ticket_timeout, c.scale_in, c.low_cpu, c.min) == (
        STEP,
        None,
        False,
        LOW_CPU,
        1,
    )
    assert "ticket" in AUTOSCALERS.kinds()
    facts = {f.name: f for f in CATALOG if f.family == "ticket"}
    assert facts["monitoring check interval"].status == "V"
    assert facts["response time, p95"].status == "U"


@pytest.mark.parametrize(
    ("autoscaler", "message"),
    [
        ({"threshold_cpu": None}, "autoscaler.threshold_cpu: no alert could fire"),
        ({"scale_in": True, "low_cpu": "90%"}, "autoscaler.low_cpu: must be below threshold_cpu"),
        ({"step": 0}, "scenarios[0].autoscaler.step: "),
        ({"min": 0}, "scenarios[0].autoscaler.min: "),
        ({"check_every": "0s"}, "scenarios[0].autoscaler.check_every: "),
        ({"threshold_cpu": "120%"}, "scenarios[0].autoscaler.threshold_cpu: "),
        ({"ticket_timeout": "0s"}, "scenarios[0].autoscaler.ticket_timeout: "),
        ({"response_time": {"kind": "fixed"}}, "scenarios[0].autoscaler.response_time"),
        ({"target_cpu": "60%"}, "scenarios[0].autoscaler.target_cpu: unknown field"),
    ],
)
def test_bad_config_names_the_field(autoscaler: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError) as err:
        simulator.load_experiment(experiment(cloud(), autoscaler))
    assert message in str(err.value)
