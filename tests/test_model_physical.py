"""``physical``: stage timelines by hand, staff contention, owned cost, bad input.

Every timeline below is written out from the configured fixed durations; the
simulator must reproduce it exactly.
"""

from __future__ import annotations

from typing import Any

import pytest

import simulator
from simulator.loading import InputError
from simulator.registry import CATALOG

H = 3600.0
DAY = 86400.0
WEEK = 7 * DAY
MONTH = 730 * H  # the price unit: '$X/month' is X per 730 h
PUPPET_RUN = 30.0 + 331 * (9.0 / 331)  # overhead + 331 resources × 9/331 s = 39 s
DEPLOY = 300.0  # app_deploy default: 5 min


def fixed(seconds: float) -> dict[str, Any]:
    return {"kind": "fixed", "value": seconds}


def experiment(
    platform: dict[str, Any],
    *,
    horizon: float,
    actions: list[tuple[float, int]] | None = None,
    rate: str = "0.001/s",
) -> dict[str, Any]:
    """A one-scenario document: a trickle of requests, a schedule of instance counts."""
    scenario: dict[str, Any] = {
        "name": "bare-metal",
        "platform": {"kind": "physical", **platform},
        "serving": {"workers": 4},
    }
    if actions:
        scenario["autoscaler"] = {
            "kind": "schedule",
            "actions": [{"at": at, "instances": n} for at, n in actions],
        }
    return {
        "name": "physical-test",
        "seed": 7,
        "horizon": horizon,
        "workload": {
            "arrivals": {"kind": "constant", "rate": rate},
            "service_time": {"kind": "fixed", "value": "100ms"},
        },
        "scenarios": [scenario],
    }


def run(doc: dict[str, Any]) -> simulator.Results:
    return simulator.run(simulator.load_experiment(doc))


def timeline(res: simulator.Results) -> list[tuple[str, str, float, float, float]]:
    """(server, stage, start, end, waited) per span, times rounded to the microsecond."""
    p = res.provisioning.sort_values(["instance", "start_s"], kind="stable")
    return [
        (r.instance, r.stage, round(r.start_s, 6), round(r.end_s, 6), round(r.waited_s, 6))
        for r in p.itertuples()
    ]


# -- the DESIGN contract ----------------------------------------------------------------


def test_design_contract_block_validates_and_runs() -> None:
    doc = experiment({"initial": 6}, horizon=60.0, rate="10/s")
    exp = simulator.load_experiment(doc)
    assert exp.scenarios[0].platform.initial == 6
    s = simulator.run(exp).summary.iloc[0]
    assert s["instances_mean"] == 6
    assert s["arrived"] == s["completed"] + s["dropped"] + s["timed_out"] + s["in_flight"]


def test_every_default_is_in_the_catalog_with_a_status() -> None:
    facts = [f for f in CATALOG if f.family == "physical"]
    names = {f.name for f in facts}
    for needed in ("lead time low", "ops staff pool", "server price", "depreciation period"):
        assert needed in names
    assert all(f.source and f.status in "VSU" for f in facts)


# -- one server, fixed durations: the exact stage timeline ------------------------------


def test_one_server_timeline_equals_hand_computation() -> None:
    doc = experiment(
        {
            "initial": 0,
            "lead_time": fixed(2 * WEEK),
            "stages": {
                "rack": {"duration": fixed(1 * H)},
                "network": {"duration": fixed(40 * 60)},
                "os_install": {"duration": fixed(15 * 60)},
                # accounts, firewall: default fixed 15 min; config_mgmt: puppet, 331
                # resources = 39 s; app_deploy: default 5 min.
            },
        },
        horizon=15 * DAY,
        actions=[(0, 1)],
    )
    res = run(doc)
    d = 2 * WEEK  # 1,209,600 s: delivered
    expected = [
        ("i0", "delivery", 0.0, d, 0.0),
        ("i0", "rack", d, d + 3600, 0.0),
        ("i0", "network", d + 3600, d + 6000, 0.0),
        ("i0", "os_install", d + 6000, d + 6900, 0.0),
        ("i0", "accounts", d + 6900, d + 7800, 0.0),
        ("i0", "firewall", d + 7800, d + 8700, 0.0),
        ("i0", "config_mgmt", d + 8700, d + 8739, 0.0),
        ("i0", "app_deploy", d + 8739, d + 9039, 0.0),
    ]
    assert timeline(res) == expected
    s = res.summary.iloc[0]
    # Ready 14 d 2 h 30 min 39 s after the order.
    assert s["time_to_first_ready_s"] == pytest.approx(d + 9039)
    assert s["time_to_target_capacity_s"] == pytest.approx(d + 9039)
    assert s["physical_servers_ordered"] == 1


# -- two staff, five servers: the hands-on stages queue ---------------------------------


def test_two_staff_five_servers_queue_in_fifo_order() -> None:
    hour = fixed(H)
    doc = experiment(
        {
            "initial": 0,
            "lead_time": fixed(WEEK),
            "resources": {"ops_staff": 2},
            "stages": {
                name: {"duration": hour}
                for name in ("rack", "network", "os_install", "accounts", "firewall")
            },
        },
        horizon=8 * DAY,
        actions=[(0, 5)],
    )
    res = run(doc)
    p = res.provisioning
    d = WEEK
    # All five arrive at d. Each hands-on stage takes one of two staff for 1 h; a server
    # releases its person and queues again (FIFO) for its next stage, so the staff
    # alternate round-robin over the servers:
    #   hour after delivery:  0      1      2      3      4      5      6      7 ...
    #   staff A/B:          s0,s1  s2,s3  s4,s0  s1,s2  s3,s4  s0,s1  s2,s3  s4,s0 ...
    # (server, stage): (start h, waited h) after delivery
    hands_on = {
        ("i0", "rack"): (0, 0),
        ("i1", "rack"): (0, 0),
        ("i2", "rack"): (1, 1),
        ("i3", "rack"): (1, 1),
        ("i4", "rack"): (2, 2),
        ("i0", "network"): (2, 1),
        ("i1", "network"): (3, 2),
        ("i2", "network"): (3, 1),
        ("i3", "network"): (4, 2),
        ("i4", "network"): (4, 1),
        ("i0", "os_install"): (5, 2),
        ("i1", "os_install"): (5, 1),
        ("i2", "os_install"): (6, 2),
        ("i3", "os_install"): (6, 1),
        ("i4", "os_install"): (7, 2),
        ("i0", "accounts"): (7, 1),
        ("i1", "accounts"): (8, 2),
        ("i2", "accounts"): (8, 1),
        ("i3", "accounts"): (9, 2),
        ("i4", "accounts"): (9, 1),
        ("i0", "firewall"): (10, 2),
        ("i1", "firewall"): (10, 1),
        ("i2", "firewall"): (11, 2),
        ("i3", "firewall"): (11, 1),
        ("i4", "firewall"): (12, 2),
    }
    got = {
        (r.instance, r.stage): (r.start_s, r.end_s, r.waited_s)
        for r in p.itertuples()
        if (r.instance, r.stage) in hands_on
    }
    assert len(got) == 25
    for key, (start_h, waited_h) in hands_on.items():
        start = d + start_h * H
        assert got[key] == pytest.approx((start, start + H, waited_h * H)), key
    # Never more than two hands-on stages at once.
    staff = p[p.stage.isin(["rack", "network", "os_install", "accounts", "firewall"])]
    for t in staff.start_s:
        busy = ((staff.start_s <= t) & (staff.end_s > t)).sum()
        assert busy <= 2
    # Delivery holds nobody: all five were delivered together.
    assert list(p[p.stage == "delivery"].end_s) == [d] * 5
    # Then the CM run and the deploy, without staff: ready = firewall end + 39 s + 300 s.
    ready = {r.instance: r.end_s for r in p[p.stage == "app_deploy"].itertuples()}
    assert ready == pytest.approx(
        {
            "i0": d + 11 * H + PUPPET_RUN + DEPLOY,
            "i1": d + 11 * H + PUPPET_RUN + DEPLOY,
            "i2": d + 12 * H + PUPPET_RUN + DEPLOY,
            "i3": d + 12 * H + PUPPET_RUN + DEPLOY,
            "i4": d + 13 * H + PUPPET_RUN + DEPLOY,
        }
    )
    s = res.summary.iloc[0]
    # One server alone would be ready 5 h after delivery; the fifth waits 8 h more.
    assert s["time_to_first_ready_s"] == pytest.approx(d + 11 * H + PUPPET_RUN + DEPLOY)
    assert s["time_to_target_capacity_s"] == pytest.approx(d + 13 * H + PUPPET_RUN + DEPLOY)
    assert (staff.waited_s > 0).sum() == 23


# -- cost: owned servers cost from delivery to the horizon, used or not -----------------

SERVER = {
    "price": "$7200",  # / 36 months = $200 per month
    "depreciation_months": 36,
    "power_w": 500,  # 0.5 kW × PUE 2 × 730 h × $0.10 = $73 per month
    "pue": 2,
    "usd_per_kwh": 0.10,
    "colo": "$127/month",
}
PER_SERVER_MONTH = 200.0 + 73.0 + 127.0  # = $400


def test_cost_is_amortised_capex_plus_power_and_colo_while_owned() -> None:
    # 3 servers at t = 0; one more ordered at t = 0 (delivered after 7 d); at 20 d the
    # count drops to 2 — but the two drained servers are owned and keep costing.
    horizon = 30 * DAY
    doc = experiment(
        {"initial": 3, "lead_time": fixed(WEEK), "server": SERVER},
        horizon=horizon,
        actions=[(0, 4), (20 * DAY, 2)],
    )
    res = run(doc)
    server_seconds = 3 * 30 * DAY + 1 * (30 - 7) * DAY  # = 113 server-days
    expected = PER_SERVER_MONTH * server_seconds / MONTH  # 400 × 113 d / 30.4167 d = $1486.03
    assert expected == pytest.approx(1486.0274, abs=1e-3)
    s = res.summary.iloc[0]
    assert s["cost_usd"] == pytest.approx(expected, rel=1e-9)
    ts = res.timeseries
    rate_per_h = PER_SERVER_MONTH / 730.0
    # Before delivery 3 servers cost; after it 4 — and still 4 after the scale-in.
    assert ts[ts.time_s <= 6 * DAY].cost_rate_usd_per_h.iloc[-1] == pytest.approx(3 * rate_per_h)
    assert ts[ts.time_s >= 21 * DAY].cost_rate_usd_per_h.iloc[-1] == pytest.approx(4 * rate_per_h)
    assert ts[ts.time_s >= 21 * DAY].ready_instances.iloc[-1] == pytest.approx(2)


def test_an_order_cancelled_before_delivery_costs_nothing() -> None:
    # Ordered at 0, cancelled at 1 d (before the 7 d delivery): no cost at all.
    doc = experiment(
        {"initial": 0, "lead_time": fixed(WEEK), "server": SERVER},
        horizon=10 * DAY,
        actions=[(0, 1), (DAY, 0)],
    )
    s = run(doc).summary.iloc[0]
    assert s["cost_usd"] == 0.0
    assert s["physical_servers_ordered"] == 1


def test_without_a_delivery_stage_a_server_costs_from_the_order() -> None:
    # stages.delivery: null (servers from stock): billed from the order at t = 0.
    doc = experiment(
        {"initial": 0, "server": SERVER, "stages": {"delivery": None}},
        horizon=DAY,
        actions=[(0, 1)],
    )
    res = run(doc)
    assert res.provisioning.stage.iloc[0] == "rack"
    assert res.summary.iloc[0]["cost_usd"] == pytest.approx(PER_SERVER_MONTH * DAY / MONTH)


def test_an_idle_owned_server_is_reused_before_ordering() -> None:
    # Two servers at t = 0; the count drops to 1 at once (i1 drained: idle, still owned),
    # then rises to 2 at 1 h: i1 is racked and installed, so it only re-runs the CM
    # stage and the deploy — no new order, no staff.
    doc = experiment(
        {"initial": 2, "server": SERVER},
        horizon=2 * H,
        actions=[(0, 1), (H, 2)],
    )
    res = run(doc)
    assert timeline(res) == [
        ("i1", "config_mgmt", H, H + 39, 0.0),
        ("i1", "app_deploy", H + 39, H + 39 + 300, 0.0),
    ]
    s = res.summary.iloc[0]
    assert s["physical_servers_reused"] == 1
    assert s["physical_servers_ordered"] == 0
    assert s["time_to_first_ready_s"] == pytest.approx(PUPPET_RUN + DEPLOY)
    # Both servers cost for the whole horizon.
    assert s["cost_usd"] == pytest.approx(2 * PER_SERVER_MONTH * 2 * H / MONTH)


# -- bad input: the field is named -------------------------------------------------------


def problems(platform: dict[str, Any]) -> str:
    with pytest.raises(InputError) as info:
        simulator.load_experiment(experiment(platform, horizon=60.0))
    return "\n".join(info.value.problems)


def test_unknown_stage_override_names_the_stage() -> None:
    text = problems({"stages": {"racking": {"duration": fixed(H)}}})
    assert "scenarios[0].platform" in text
    assert "stages.racking: unknown stage" in text
    assert "rack, network, os_install" in text  # the known stages are listed


def test_negative_duration_names_the_field() -> None:
    text = problems({"stages": {"rack": {"duration": fixed(-5)}}})
    assert "scenarios[0].platform.stages.rack.duration" in text
    assert "cannot be negative" in text
    text = problems({"lead_time": {"kind": "fixed", "value": "-2w"}})
    assert "scenarios[0].platform.lead_time" in text


def test_unknown_resource_name_is_rejected() -> None:
    text = problems({"stages": {"rack": {"holds": {"typists": 1}}}})
    assert "scenarios[0].platform" in text
    assert "stages.rack: unknown resource 'typists'" in text
    # A pool no stage holds is a typo that would otherwise be silently ignored.
    text = problems({"resources": {"ops_staf": 2}})
    assert "resources.ops_staf: no stage holds it (held: ops_staff)" in text
    text = problems({"resources": {"ops_staff": 0}})
    assert "resources.ops_staff" in text


def test_bad_server_fields_are_named() -> None:
    text = problems({"server": {"depreciation_months": 0}})
    assert "scenarios[0].platform.server.depreciation_months" in text
    text = problems({"server": {"price": "-$5"}})
    assert "scenarios[0].platform.server.price" in text
