"""Instance, host and zone faults (``simulator.faults``): hand-computed traces per architecture.

Each case runs a small experiment with fixed durations and asserts the rows of
``faults.csv`` — when the fault hit, when the health check took the dead instance
out of the balancer, when the lost capacity was back — and the request accounting
(``run_one`` raises ``ConservationError`` if any request went missing).

The health check is the default one unless a test says otherwise: a probe every
10 s from the instance's ready time, 3 consecutive failures, 1 s timeout. An
instance ready at t = 0 that dies at t = 600 s is probed at 610, 620 and 630 s;
the third failure is known at 631 s — the detection time of every such case.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import simulator  # noqa: F401 - loads the registries before the models (import order)
import simulator.cli
from models.cloud import API_S, ASG_REPLACE_S, PENDING_S
from models.cloud import BOOT_S as CLOUD_BOOT_S
from models.container import BACKOFF_INITIAL_S, CREATE_S, EVICTION_S, START_S
from models.physical import REPAIR_S
from models.vm import BOOT_S as VM_BOOT_S
from models.vm import HA_RESTART_S
from simulator.config import Experiment
from simulator.engine import RunResult, run_one
from simulator.faults import FAULTS, HealthCheck, fault_times, parse_fault_rate
from simulator.loading import InputError, load_experiment
from simulator.platform import RESTART_S

DETECTED = 631.0  # ready at 0, dead at 600: probes fail at 610, 620, 630 (+1 s timeout)


def fixed(seconds: float) -> dict[str, Any]:
    return {"kind": "fixed", "value": f"{seconds}s"}


def experiment(
    platform: dict[str, Any],
    events: list[dict[str, Any]],
    *,
    horizon: str = "20m",
    rate: str = "20/s",
    workers: int = 8,
    health: dict[str, Any] | None = None,
    seed: int = 1,
    interval: str = "1s",
) -> Experiment:
    faults: dict[str, Any] = {"events": events}
    if health is not None:
        faults["health_check"] = health
    return Experiment.model_validate(
        {
            "name": "faults",
            "seed": seed,
            "horizon": horizon,
            "sample_interval": interval,
            "workload": {
                "arrivals": {"kind": "constant", "rate": rate},
                "service_time": {"kind": "exponential", "mean": "50ms"},
            },
            "faults": faults,
            "scenarios": [{"name": "s", "platform": platform, "serving": {"workers": workers}}],
        }
    )


def run(exp: Experiment, replication: int = 0) -> RunResult:
    return run_one(exp, 0, replication)


def faults_of(result: RunResult) -> list[dict[str, Any]]:
    return result.tables.get("faults", [])


def failed_between(result: RunResult, start: float, end: float) -> int:
    """Requests dropped in the time-series windows (t - 1, t] with start < t <= end."""
    ts = result.timeseries
    return sum(d for t, d in zip(ts["time_s"], ts["dropped"], strict=True) if start < t <= end)


def assert_accounted(result: RunResult) -> None:
    s = result.summary
    # Every loss here is a fault's: nothing else drops (no queue limit, no overload).
    assert s["failed_requests"] == s["dropped_failed"] == s["dropped"]
    assert sum(f["lost_requests"] for f in faults_of(result)) == s["failed_requests"]
    finished = s["completed"] + s["dropped"] + s["timed_out"]
    assert s["availability"] == pytest.approx(s["completed"] / finished)


# -- the health check ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phase", "t_fail", "expected"),
    [
        (0.0, 600.0, 631.0),  # a probe at the instant of death still sees it alive
        (0.0, 600.5, 631.0),
        (0.0, 609.9, 631.0),
        (0.0, 610.0, 641.0),
        (3.0, 600.0, 624.0),  # probes at 3 + 10k: 603, 613, 623 (+1)
    ],
)
def test_detection_is_threshold_probes_after_the_failure_plus_the_timeout(
    phase: float, t_fail: float, expected: float
) -> None:
    assert HealthCheck().detection_time(phase, t_fail) == pytest.approx(expected)


def test_health_check_defaults_are_a_kubernetes_readiness_probe() -> None:
    hc = HealthCheck()
    assert (hc.interval, hc.threshold, hc.timeout) == (10.0, 3, 1.0)
    assert HealthCheck(interval=5, threshold=2, timeout=0.5).detection_time(0, 12) == 20.5


# -- instance crash, generic restart (the fixed platform: a supervised process) --------------------


def test_a_crashed_process_restarts_in_place_before_any_probe_notices() -> None:
    exp = experiment(
        {"kind": "fixed", "instances": 2}, [{"kind": "instance_crash", "at": "600s", "target": 0}]
    )
    result = run(exp)
    (row,) = faults_of(result)
    assert row["kind"] == "instance_crash" and row["target"] == "i0"
    assert row["start_s"] == 600.0
    assert math.isnan(row["detected_s"])  # back at 600.1 s: the same endpoint answers again
    assert row["recovered_s"] == pytest.approx(600.0 + RESTART_S)
    assert result.summary["time_to_recover_s"] == pytest.approx(RESTART_S)
    assert failed_between(result, 601, 3600) == 0
    assert_accounted(result)


def test_a_dead_instance_gets_traffic_until_detected_then_none() -> None:
    # The host is down for 5 min: the restart waits, the balancer keeps sending every
    # other request to the dead instance until the third failed probe (631 s).
    exp = experiment(
        {"kind": "fixed", "instances": 2},
        [{"kind": "node_failure", "at": "600s", "duration": "5m", "target": "i1"}],
    )
    result = run(exp)
    (row,) = faults_of(result)
    assert (row["target"], row["start_s"], row["end_s"]) == ("i1", 600.0, 900.0)
    assert row["detected_s"] == DETECTED
    assert row["recovered_s"] == 900.0
    # Round robin over two: about half of 31 s × 20/s is lost; none after the detection.
    assert 200 < failed_between(result, 600, DETECTED) < 420
    assert failed_between(result, DETECTED + 1, 3600) == 0
    assert result.summary["failed_requests"] == row["lost_requests"]
    assert_accounted(result)


def test_the_health_check_settings_move_the_detection() -> None:
    exp = experiment(
        {"kind": "fixed", "instances": 2},
        [{"kind": "node_failure", "at": "600s", "duration": "5m", "target": 1}],
        health={"interval": "5s", "threshold": 2, "timeout": "2s"},
    )
    (row,) = faults_of(run(exp))
    assert row["detected_s"] == 612.0  # probes fail at 605 and 610, known at 612


def test_least_connections_sends_more_to_the_dead_instance() -> None:
    # A dead instance has no connections, so least_conn prefers it: nearly all traffic
    # in the detection window is lost (the black-hole effect of real proxies).
    base = experiment(
        {"kind": "fixed", "instances": 2},
        [{"kind": "node_failure", "at": "600s", "duration": "5m", "target": 1}],
    )
    data = base.model_dump()
    data["scenarios"][0]["balancer"] = {"kind": "least_connections"}
    result = run(Experiment.model_validate(data))
    lost_rr = failed_between(run(base), 600, DETECTED)  # the same arrivals, round robin
    assert failed_between(result, 600, DETECTED) > lost_rr * 1.1
    assert failed_between(result, DETECTED + 1, 3600) == 0


def test_zone_outage_takes_every_host_of_the_zone_for_its_duration() -> None:
    # Six instances in three zones, round robin: zone-1 = i1, i4.
    exp = experiment(
        {"kind": "fixed", "instances": 6},
        [{"kind": "zone_outage", "at": "600s", "duration": "10m", "target": 1}],
        horizon="30m",
    )
    result = run(exp)
    (row,) = faults_of(result)
    assert (row["target"], row["end_s"], row["detected_s"]) == ("zone-1", 1200.0, DETECTED)
    assert row["recovered_s"] == 1200.0
    assert result.summary["time_to_recover_s"] == 600.0
    assert_accounted(result)


def test_a_fault_whose_target_does_not_exist_hits_nothing() -> None:
    exp = experiment(
        {"kind": "fixed", "instances": 1}, [{"kind": "instance_crash", "at": "60s", "target": "x"}]
    )
    result = run(exp)
    assert faults_of(result) == []
    assert result.summary["failed_requests"] == 0


# -- containers -----------------------------------------------------------------------------------

APP = 3.0  # the pod's app start in these tests


def k8s(**extra: Any) -> dict[str, Any]:
    return {
        "kind": "container",
        "image": "nginx:1.23.3",
        "node_type": "c5.xlarge",
        "pod": {"cpu": "1", "memory": "1Gi"},
        "stages": {"app_start": {"duration": fixed(APP)}},
        **extra,
    }


def test_a_crashed_container_restarts_in_its_pod_with_crash_loop_back_off() -> None:
    # Crash at 600: back-off 10 s; create 0.5 + start 0.5 → running at 611, app up at
    # 614; readiness probes from 611 every 10 s → ready at 621 (before any health check
    # failure is counted: the ghost goes when the pod's endpoint is ready again).
    # Crash again at 700 (ran 79 s < 10 min): back-off doubles to 20 s → ready at 731.
    # (Windows of the time series are (t - 1, t]: none after 722 loses a request.)
    exp = experiment(
        k8s(nodes=2, initial=2),
        [
            {"kind": "instance_crash", "at": "600s", "target": "pod-0"},
            {"kind": "instance_crash", "at": "700s", "target": "pod-0"},
        ],
    )
    result = run(exp)
    first, second = faults_of(result)
    t_run = 600 + BACKOFF_INITIAL_S + CREATE_S + START_S
    assert t_run == 611.0
    assert (first["start_s"], first["recovered_s"]) == (600.0, 621.0)
    assert (second["start_s"], second["recovered_s"]) == (700.0, 700 + 20 + 1 + 10)
    assert math.isnan(first["detected_s"])
    # The restarted pod was ready at 621, so its probes run at 621 + 10k: they fail at
    # 701, 711, 721 → out of the balancer at 722, before the 20 s back-off ends.
    assert second["detected_s"] == 722.0
    assert failed_between(result, 722, 3600) == 0
    backoffs = [(s.start_s, s.end_s) for s in result.spans if s.stage == "crash_backoff"]
    assert backoffs == [(600.0, 610.0), (700.0, 720.0)]
    assert_accounted(result)


def test_a_failed_node_s_pods_are_replaced_after_eviction_on_a_node_with_the_image() -> None:
    # Two nodes, a pod on each (the image on both). node-1 dies at 600: pod-1 is a ghost
    # until 631; its replacement pod-2 waits for eviction (340 s), binds to node-0 at 940
    # (image present: no pull), create+start → 941, app up 944, probes 941, 951 → 951.
    exp = experiment(k8s(nodes=2, initial=2), [{"kind": "node_failure", "at": "600s", "target": 1}])
    result = run(exp)
    (row,) = faults_of(result)
    assert (row["target"], row["detected_s"]) == ("node-1", DETECTED)
    assert row["recovered_s"] == 600 + EVICTION_S + 11.0
    stages = {(s.instance, s.stage): (s.start_s, s.end_s) for s in result.spans}
    assert stages[("pod-2", "eviction")] == (600.0, 940.0)
    assert ("pod-2", "image_pull") not in stages
    assert failed_between(result, DETECTED + 1, 3600) == 0
    assert_accounted(result)


def test_a_replacement_on_a_node_without_the_image_pulls_it_again() -> None:
    # Three nodes, two pods (node-0, node-1); node-2 is empty and has no image. node-0
    # dies: the replacement goes to the emptiest node, node-2, and pulls (30 s fixed).
    exp = experiment(
        k8s(nodes=3, initial=2, image_pull="30s"),
        [{"kind": "node_failure", "at": "600s", "target": "node-0"}],
    )
    result = run(exp)
    (row,) = faults_of(result)
    stages = {(s.instance, s.stage): (s.start_s, s.end_s) for s in result.spans}
    assert stages[("pod-2", "image_pull")] == (940.0, 970.0)
    assert row["recovered_s"] == 970 + 11.0
    assert_accounted(result)


def test_a_node_failure_stops_the_node_s_billing() -> None:
    with_fault = run(
        experiment(k8s(nodes=2, initial=1), [{"kind": "node_failure", "at": "0s", "target": 1}])
    )
    without = run(experiment(k8s(nodes=2, initial=1), []))
    # node-1 (empty) billed 0 s instead of 1200 s.
    from models.cloud import INSTANCE_TYPES

    per_s = INSTANCE_TYPES["c5.xlarge"].price
    assert without.summary["cost_usd"] - with_fault.summary["cost_usd"] == pytest.approx(
        per_s * 1200
    )


# -- virtual machines -----------------------------------------------------------------------------


def test_a_crashed_vm_reboots_on_its_host() -> None:
    exp = experiment(
        {"kind": "vm", "hosts": 2, "initial": 2},
        [{"kind": "instance_crash", "at": "600s", "target": 0}],
    )
    result = run(exp)
    (row,) = faults_of(result)
    assert row["recovered_s"] == 600 + VM_BOOT_S  # 608: back before the first failed probe
    assert math.isnan(row["detected_s"])
    assert [(s.instance, s.stage) for s in result.spans if s.start_s >= 600] == [("i0", "boot")]
    assert_accounted(result)


def test_a_failed_hypervisor_host_s_vms_restart_on_another_host() -> None:
    # first_fit put both VMs on host0. It dies at 600: HA restarts them on host1
    # after 15 s, booting 8 s → 623; the ghosts leave when their endpoints answer.
    exp = experiment(
        {"kind": "vm", "hosts": 2, "initial": 2},
        [{"kind": "node_failure", "at": "600s", "target": "host0"}],
    )
    result = run(exp)
    (row,) = faults_of(result)
    assert row["recovered_s"] == 600 + HA_RESTART_S + VM_BOOT_S
    restarted = [(s.instance, s.stage, s.start_s) for s in result.spans if s.start_s >= 600]
    assert sorted(restarted) == [
        ("i0", "boot", 615.0),
        ("i0", "ha_restart", 600.0),
        ("i1", "boot", 615.0),
        ("i1", "ha_restart", 600.0),
    ]
    assert failed_between(result, 600 + HA_RESTART_S + VM_BOOT_S + 1, 3600) == 0
    assert_accounted(result)


def test_a_vm_being_built_on_a_failed_host_is_rebuilt_elsewhere() -> None:
    # Both VMs on host0 (first fit); at 590 s a schedule asks for a third, built on host0
    # too. host0 dies at 600 s mid-build: the build is cancelled; HA restarts all three on
    # host1 after 15 s — the two that had booted only boot again (615–623), the third runs
    # its whole pipeline from the image copy (regression: its old build went on and the run
    # crashed marking a gone VM ready).
    data = experiment(
        {"kind": "vm", "hosts": 2, "initial": 2},
        [{"kind": "node_failure", "at": "600s", "target": "host0"}],
    ).model_dump()
    data["scenarios"][0]["autoscaler"] = {
        "kind": "schedule",
        "actions": [{"at": "590s", "instances": 3}],
    }
    result = run(Experiment.model_validate(data))
    spans = [(s.instance, s.stage, s.start_s, s.end_s) for s in result.spans if s.start_s >= 590]
    assert spans[0] == ("i2", "image_copy (cancelled)", 590.0, 600.0)
    restart = 600 + HA_RESTART_S
    by_vm = {vm: [(st, a) for v, st, a, _ in spans[1:] if v == vm] for vm in ("i0", "i1", "i2")}
    assert by_vm["i0"] == by_vm["i1"] == [("ha_restart", 600.0), ("boot", restart)]
    assert by_vm["i2"][:2] == [("ha_restart", 600.0), ("image_copy", restart)]
    (row,) = faults_of(result)
    assert row["recovered_s"] == restart + VM_BOOT_S
    assert result.timeseries["ready_instances"][-1] == 3  # the rebuilt VM serves too
    assert_accounted(result)


# -- physical servers, cloud, PaaS ----------------------------------------------------------------


def test_a_broken_server_waits_for_its_repair_ticket_then_is_redeployed() -> None:
    platform = {
        "kind": "physical",
        "initial": 2,
        "stages": {"config_mgmt": {"duration": fixed(60)}, "app_deploy": {"duration": fixed(30)}},
    }
    exp = experiment(
        platform,
        [{"kind": "instance_crash", "at": "600s", "target": 1}],
        horizon="5h",
        rate="1/s",
        interval="1m",
    )
    result = run(exp)
    (row,) = faults_of(result)
    assert row["detected_s"] == DETECTED
    assert row["recovered_s"] == 600 + REPAIR_S + 60 + 30
    spans = [(s.stage, s.start_s, s.end_s, s.holds) for s in result.spans if s.instance == "i1"]
    assert spans[0] == ("repair", 600.0, 600 + REPAIR_S, "ops_staff:1")
    assert result.summary["staff_hours"] == pytest.approx(REPAIR_S / 3600)
    assert_accounted(result)


def test_a_failed_cloud_instance_is_replaced_by_the_auto_scaling_group() -> None:
    exp = experiment(
        {
            "kind": "cloud",
            "instance_type": "c5.large",
            "initial": 2,
            "baked_image": True,
            "stages": {"app_start": {"duration": fixed(5)}},
        },
        [{"kind": "instance_crash", "at": "600s", "target": "i0"}],
    )
    result = run(exp)
    (row,) = faults_of(result)
    launch = 600 + ASG_REPLACE_S
    assert row["detected_s"] == DETECTED
    assert row["recovered_s"] == pytest.approx(launch + API_S + PENDING_S + CLOUD_BOOT_S + 5)
    new = [s for s in result.spans if s.instance == "i2"]
    assert (new[0].stage, new[0].start_s) == ("status_check", 600.0)
    assert_accounted(result)


def test_a_crashed_dyno_restarts_at_once_then_after_a_cool_off() -> None:
    exp = experiment(
        {"kind": "paas", "dyno": "performance-m", "initial": 2},
        [
            {"kind": "instance_crash", "at": "600s", "target": "i0"},
            {"kind": "instance_crash", "at": "1200s", "target": "i0"},
        ],
        horizon="30m",
    )
    result = run(exp)
    first, second = faults_of(result)
    boots = [(s.start_s, s.end_s) for s in result.spans if s.instance == "i0" and s.stage == "boot"]
    assert boots[0][0] == 600.0 and first["recovered_s"] == boots[0][1]
    cooloff = [(s.start_s, s.end_s) for s in result.spans if s.stage == "crash_cooloff"]
    assert cooloff == [(1200.0, 1260.0)]  # the second crash waits 60 s
    assert boots[1][0] == 1260.0 and second["recovered_s"] == boots[1][1]
    assert_accounted(result)


# -- random faults ------------------------------------------------------------------------------


def test_fault_rates_read_one_per_period() -> None:
    assert parse_fault_rate("1/6h") == pytest.approx(1 / 21600)
    assert parse_fault_rate("4/d") == pytest.approx(4 / 86400)
    assert parse_fault_rate("0.5/h") == pytest.approx(0.5 / 3600)


def test_random_fault_times_are_a_poisson_process() -> None:
    # 1/h over 2000 h: the count is Poisson(2000), sd ≈ 44.7 — within 4 sd; the gaps are
    # exponential with mean 3600 s — the sample mean within 4 standard errors.
    cfg = FAULTS.get("instance_crash").config.model_validate(
        {"kind": "instance_crash", "rate": "1/h"}
    )
    times = fault_times(cfg, np.random.default_rng(7), 2000 * 3600.0)
    assert abs(len(times) - 2000) < 4 * math.sqrt(2000)
    gaps = np.diff([0.0, *times])
    assert abs(gaps.mean() - 3600) < 4 * 3600 / math.sqrt(len(gaps))
    window = FAULTS.get("instance_crash").config.model_validate(
        {"kind": "instance_crash", "rate": "1/h", "start": "10h", "until": "20h"}
    )
    assert all(36000 <= t < 72000 for t in fault_times(window, np.random.default_rng(7), 1e9))


def random_crashes(seed: int) -> Experiment:
    return experiment(
        {"kind": "fixed", "instances": 3},
        [{"kind": "node_failure", "rate": "1/10m", "duration": "1m"}],
        horizon="2h",
        rate="1/s",
        seed=seed,
        interval="10m",
    )


def test_random_faults_are_reproducible_per_seed_and_differ_across_seeds() -> None:
    a, b = run(random_crashes(5)), run(random_crashes(5))
    assert faults_of(a) == faults_of(b) and a.summary == b.summary
    other = run(random_crashes(6))
    assert [f["start_s"] for f in faults_of(other)] != [f["start_s"] for f in faults_of(a)]
    assert len(faults_of(a)) > 3


def test_random_faults_do_not_disturb_the_other_streams() -> None:
    # The arrivals come from their own stream: the same requests with or without faults.
    quiet = experiment(
        {"kind": "fixed", "instances": 3}, [], horizon="2h", rate="1/s", seed=5, interval="10m"
    )
    assert run(quiet).summary["arrived"] == run(random_crashes(5)).summary["arrived"]
    # And faults come from theirs: replications differ, the same replication repeats.
    r0, r1 = run(random_crashes(5), 0), run(random_crashes(5), 1)
    assert [f["start_s"] for f in faults_of(r0)] != [f["start_s"] for f in faults_of(r1)]


@settings(max_examples=15, deadline=None)
@given(
    at=st.floats(min_value=0, max_value=590, allow_nan=False),
    kind=st.sampled_from(["instance_crash", "node_failure", "zone_outage"]),
    instances=st.integers(min_value=1, max_value=4),
    balancer=st.sampled_from(["round_robin", "least_connections", "random", "power_of_two"]),
)
def test_requests_are_conserved_whatever_fails_when(
    at: float, kind: str, instances: int, balancer: str
) -> None:
    event: dict[str, Any] = {"kind": kind, "at": f"{at}s", "duration": "2m"}
    if kind == "instance_crash":
        del event["duration"]
    data = experiment(
        {"kind": "fixed", "instances": instances}, [event], horizon="10m", rate="10/s"
    ).model_dump()
    data["scenarios"][0]["balancer"] = {"kind": balancer}
    data["scenarios"][0]["serving"]["queue_limit"] = 5
    result = run(Experiment.model_validate(data))  # raises ConservationError if not
    s = result.summary
    assert s["failed_requests"] <= s["dropped_failed"]
    assert 0.0 <= s["availability"] <= 1.0


# -- the faults block -----------------------------------------------------------------------------


def test_experiment_and_scenario_faults_add_up_and_the_scenario_s_health_check_wins() -> None:
    data = experiment(
        {"kind": "fixed", "instances": 2},
        [{"kind": "node_failure", "at": "600s", "duration": "5m", "target": 0}],
        health={"interval": "30s"},
    ).model_dump()
    data["scenarios"][0]["faults"] = {
        "health_check": {"interval": "5s", "threshold": 1, "timeout": "0s"},
        "events": [{"kind": "node_failure", "at": "900s", "duration": "5m", "target": "i1"}],
    }
    rows = faults_of(run(Experiment.model_validate(data)))
    assert [(r["target"], r["start_s"], r["detected_s"]) for r in rows] == [
        ("i0", 600.0, 605.0),
        ("i1", 900.0, 905.0),
    ]


def test_runs_without_faults_have_the_fault_columns() -> None:
    s = run(experiment({"kind": "fixed", "instances": 1}, [], horizon="10m")).summary
    assert s["failed_requests"] == 0 and math.isnan(s["time_to_recover_s"])
    assert s["availability"] == 1.0


BAD = [
    (
        {"kind": "meteor", "at": "1m"},
        "faults.events[0]: unknown kind 'meteor' (known: 'instance_crash', 'node_failure'",
    ),
    ({"kind": "instance_crash"}, "give either 'at' (a fixed time) or 'rate'"),
    ({"kind": "instance_crash", "at": "1m", "rate": "1/h"}, "give either 'at'"),
    ({"kind": "instance_crash", "at": "1m", "until": "2m"}, "'start' and 'until' go with 'rate'"),
    ({"kind": "instance_crash", "rate": "1/h", "start": "2h", "until": "1h"}, "'until' must be"),
    ({"kind": "instance_crash", "rate": "often"}, "rate like '500/s'"),
    ({"kind": "zone_outage", "at": "1m"}, "a zone outage needs a 'duration'"),
    ({"kind": "zone_outage", "at": "1m", "duration": "1m", "zones": 0}, "zones"),
    # Regression: a billion zones were listed when the fault fired (a hang filling memory).
    (
        {"kind": "zone_outage", "at": "1m", "duration": "1m", "zones": 10**9},
        "zones: Input should be less than or equal to 100",
    ),
    ({"kind": "instance_crash", "at": "1m", "count": 0}, "count"),
    ({"kind": "instance_crash", "at": "1m", "target": -1}, "target index must be >= 0"),
    ({"kind": "instance_crash", "at": "1m", "colour": "red"}, "colour"),
]


@pytest.mark.parametrize(("event", "message"), BAD)
def test_bad_fault_events_fail_with_one_line_naming_the_field(
    tmp_path: Any, event: dict[str, Any], message: str
) -> None:
    doc = experiment({"kind": "fixed", "instances": 1}, []).model_dump(mode="json")
    doc["faults"] = {"events": [event]}
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(InputError) as err:
        load_experiment(path)
    (line,) = err.value.problems
    assert str(path) in line and "faults.events[0]" in line and message in line


def test_validate_cli_reports_a_bad_fault_and_exits_2(tmp_path: Any) -> None:
    doc = experiment({"kind": "fixed", "instances": 1}, []).model_dump(mode="json")
    doc["scenarios"][0]["faults"] = {"health_check": {"threshold": 0}}
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(doc))
    result = CliRunner().invoke(simulator.cli.app, ["validate", str(path)])
    assert result.exit_code == 2
    assert "scenarios[0].faults.health_check.threshold" in result.output
    assert "Traceback" not in result.output


# -- the failures experiment ----------------------------------------------------------------------


def test_the_failures_experiment_s_kubernetes_scenario_recovers_from_both_faults() -> None:
    # Registry down 31–41 min during the scale-out; node-0 fails at 50 min (the peak).
    path = Path(__file__).resolve().parents[1] / "experiments" / "failures.yaml"
    exp = load_experiment(path, ["horizon=58m", "replications=1"])
    index = [s.name for s in exp.scenarios].index("kubernetes")
    result = run_one(exp, index, 0)
    outage, node = faults_of(result)
    assert (outage["kind"], outage["start_s"], outage["end_s"]) == ("registry_outage", 1860, 2460)
    assert (node["kind"], node["target"], node["start_s"]) == ("node_failure", "node-0", 3000)
    assert node["detected_s"] == 3031.0  # node-0's pods were ready at 0
    assert node["recovered_s"] > 3000 + EVICTION_S  # its pods came back after eviction
    assert result.summary["failed_requests"] == node["lost_requests"] > 0


# -- a zone outage on each architecture ----------------------------------------------------------

ZONE = {"kind": "zone_outage", "at": "600s", "duration": "10m", "target": "zone-0"}
CM_DEPLOY = {"config_mgmt": {"duration": fixed(60)}, "app_deploy": {"duration": fixed(30)}}
CLOUD_UP = API_S + PENDING_S + CLOUD_BOOT_S + 5  # baked image, app start 5 s


@pytest.mark.parametrize(
    ("platform", "target_host", "detected", "recovered"),
    [
        # Three servers, one per zone: i0 is down until 1200, then redeploys (CM + app).
        ({"kind": "physical", "initial": 3, "stages": CM_DEPLOY}, "i0", DETECTED, 1290.0),
        # first_fit packed every VM on host0 (zone-0): HA restarts them all on host1.
        (
            {"kind": "vm", "hosts": 3, "initial": 3},
            "host0",
            math.nan,
            600 + HA_RESTART_S + VM_BOOT_S,
        ),
        # The Auto Scaling group replaces i0 in another zone at once (after its check).
        (
            {
                "kind": "cloud",
                "instance_type": "c5.large",
                "initial": 3,
                "baked_image": True,
                "stages": {"app_start": {"duration": fixed(5)}},
            },
            "i0",
            DETECTED,
            600 + ASG_REPLACE_S + CLOUD_UP,
        ),
        # node-0's pod is evicted and rescheduled on node-1 or node-2 (image present).
        (k8s(nodes=3, initial=3), "node-0", DETECTED, 600 + EVICTION_S + 11.0),
    ],
    ids=["physical", "vm", "cloud", "container"],
)
def test_a_zone_outage_on_each_architecture(
    platform: dict[str, Any], target_host: str, detected: float, recovered: float
) -> None:
    result = run(experiment(platform, [ZONE], horizon="30m"))
    (row,) = faults_of(result)
    assert (row["kind"], row["target"], row["start_s"], row["end_s"]) == (
        "zone_outage",
        "zone-0",
        600.0,
        1200.0,
    )
    if math.isnan(detected):
        assert math.isnan(row["detected_s"])
    else:
        assert row["detected_s"] == detected
    assert row["recovered_s"] == pytest.approx(recovered)
    assert_accounted(result)


def test_a_zone_outage_holds_a_dyno_until_the_zone_is_back() -> None:
    exp = experiment({"kind": "paas", "dyno": "performance-m", "initial": 3}, [ZONE], horizon="30m")
    result = run(exp)
    (row,) = faults_of(result)
    (boot,) = [s for s in result.spans if s.instance == "i0" and s.stage == "boot"]
    assert boot.start_s == 1200.0 and row["recovered_s"] == boot.end_s
    assert row["detected_s"] == DETECTED
    assert_accounted(result)


def test_on_platforms_without_shared_hosts_a_host_failure_is_its_instance_s_crash() -> None:
    cloud = {
        "kind": "cloud",
        "instance_type": "c5.large",
        "initial": 2,
        "baked_image": True,
        "stages": {"app_start": {"duration": fixed(5)}},
    }
    node = {"kind": "node_failure", "at": "600s", "target": "i1"}
    crash = {"kind": "instance_crash", "at": "600s", "target": "i1"}
    detected = {}
    for platform in (cloud, {"kind": "paas", "dyno": "performance-m", "initial": 2}):
        a, b = run(experiment(platform, [node])), run(experiment(platform, [crash]))
        (row_a,), (row_b,) = faults_of(a), faults_of(b)
        assert row_a["kind"] == "node_failure" and row_a["target"] == "i1"
        same = ("detected_s", "recovered_s", "lost_requests")
        assert [row_a[k] for k in same] == pytest.approx([row_b[k] for k in same], nan_ok=True)
        detected[platform["kind"]] = row_a["detected_s"]
    # A replacement (cloud) is a new endpoint: detected. A dyno restarts at once and
    # boots in seconds, before the third failed probe: never detected.
    assert detected["cloud"] == DETECTED and math.isnan(detected["paas"])
