"""Configuration management: run durations, re-run cadence with splay, one version per host."""

from __future__ import annotations

from typing import Any

import pytest

import simulator
from models.confmgmt import ConfigMgmt, cm_stage
from simulator.engine import streams_for
from simulator.loading import InputError

H = 3600.0
DAY = 86400.0
MONTH = 730 * H


def fixed(seconds: float) -> dict[str, Any]:
    return {"kind": "fixed", "value": seconds}


def experiment(
    platform: dict[str, Any],
    *,
    horizon: float,
    actions: list[tuple[float, int]] | None = None,
    seed: int = 11,
) -> dict[str, Any]:
    scenario: dict[str, Any] = {"name": "servers", "platform": {"kind": "physical", **platform}}
    if actions:
        scenario["autoscaler"] = {
            "kind": "schedule",
            "actions": [{"at": at, "instances": n} for at, n in actions],
        }
    return {
        "name": "cm-test",
        "seed": seed,
        "horizon": horizon,
        "workload": {
            "arrivals": {"kind": "constant", "rate": "0.01/s"},
            "service_time": {"kind": "fixed", "value": "100ms"},
        },
        "scenarios": [scenario],
    }


def run(doc: dict[str, Any]) -> simulator.Results:
    return simulator.run(simulator.load_experiment(doc))


def rerun_spans(res: simulator.Results) -> list[tuple[str, float, float]]:
    p = res.provisioning
    p = p[p.stage == "config_mgmt_rerun"].sort_values(["instance", "start_s"], kind="stable")
    return [(r.instance, round(r.start_s, 6), round(r.end_s, 6)) for r in p.itertuples()]


# -- run duration = overhead + N × per-resource time -------------------------------------


def test_preset_durations_are_overhead_plus_n_times_per_resource() -> None:
    # Puppet, PR 6677: 331 resources in 39 s = 30 s overhead + 331 × (9 s / 331).
    assert cm_stage("puppet", 331).duration.value == pytest.approx(39.0)
    assert cm_stage("puppet", 0).duration.value == pytest.approx(30.0)
    assert cm_stage("puppet", 662).duration.value == pytest.approx(48.0)
    # Chef: the same placeholders [U].
    assert cm_stage("chef", 100).duration.value == pytest.approx(30.0 + 100 * 9.0 / 331)
    # Ansible: 5 s facts + 0.5 s per task; holds one of the control node's 5 forks.
    ansible = cm_stage("ansible", 100)
    assert ansible.duration.value == pytest.approx(5.0 + 50.0)
    assert ansible.holds == {"ansible_forks": 1}
    assert ConfigMgmt(tool="ansible").pools() == {"ansible_forks": 5}
    # Overrides of the block.
    cm = ConfigMgmt(tool="chef", managed_resources=50, per_resource="100ms", overhead="2s")
    assert cm.stage().name == "config_mgmt"
    assert cm.stage().duration.value == pytest.approx(2.0 + 50 * 0.1)


def test_the_physical_pipeline_uses_the_chosen_tool() -> None:
    doc = experiment(
        {
            "initial": 0,
            "lead_time": fixed(0),
            "config_mgmt": {"tool": "ansible", "managed_resources": 20},
            "resources": {"ansible_forks": 1},
            "stages": {s: None for s in ("rack", "network", "os_install", "accounts", "firewall")},
        },
        horizon=2 * H,
        actions=[(0, 2)],
    )
    res = run(doc)
    p = res.provisioning
    cm = p[p.stage == "config_mgmt"].sort_values("instance")
    # 5 s + 20 × 0.5 s = 15 s each; one fork: the second host waits for the first.
    assert [(r.start_s, r.end_s, r.waited_s) for r in cm.itertuples()] == [
        (0.0, 15.0, 0.0),
        (15.0, 30.0, 15.0),
    ]
    # The forks pool exists only for ansible: with puppet nothing holds it.
    with pytest.raises(InputError) as info:
        simulator.load_experiment(experiment({"resources": {"ansible_forks": 1}}, horizon=60))
    assert "resources.ansible_forks: no stage holds it" in "\n".join(info.value.problems)


# -- periodic re-runs --------------------------------------------------------------------


def test_puppet_reruns_every_30_minutes_start_to_start() -> None:
    # Two servers up at t = 0 (their last run: at 0). runinterval 30 min, no splay:
    # runs start at 1800, 3600, 5400 and last 39 s; the one due at 7200 = horizon is not run.
    res = run(experiment({"initial": 2, "config_mgmt": {"rerun": True}}, horizon=2 * H))
    assert rerun_spans(res) == [
        (host, t, t + 39.0) for host in ("i0", "i1") for t in (1800.0, 3600.0, 5400.0)
    ]
    assert res.summary.iloc[0]["cm_reruns"] == 6


def test_chef_reruns_interval_plus_splay_after_each_run_deterministic_under_seed() -> None:
    # chef-client sleeps interval + rand(splay) after each run ends: 1800 s + U(0, 300 s).
    # One server up at t = 0; a run lasts 39 s; splay draws come from the provisioning
    # stream of replication 0 (nothing else draws from it here: every duration is fixed).
    doc = experiment({"initial": 1, "config_mgmt": {"tool": "chef", "rerun": True}}, horizon=3 * H)
    rng = streams_for(11, 0)["provisioning"]
    expected, end = [], 0.0
    while True:
        start = end + 1800.0 + float(rng.uniform(0.0, 300.0))
        if start >= 3 * H:
            break
        end = start + 39.0
        expected.append(("i0", round(start, 6), round(end, 6)))
    assert len(expected) == 5
    got = rerun_spans(run(doc))
    assert got == expected
    splays = [b[1] - a[2] - 1800.0 for a, b in zip(expected, expected[1:], strict=False)]
    assert all(0 <= s <= 300 for s in splays) and len(set(splays)) == len(splays)
    assert rerun_spans(run(doc)) == got  # same seed, same cadence
    assert rerun_spans(run({**doc, "seed": 12})) != got


def test_puppet_splay_delays_only_the_first_run() -> None:
    # Puppet::Scheduler::SplayJob: rand(splaylimit + 1) before the first run, then every
    # runinterval start to start.
    doc = experiment({"initial": 1, "config_mgmt": {"rerun": True, "splay": "10m"}}, horizon=2 * H)
    first = float(streams_for(11, 0)["provisioning"].uniform(0.0, 600.0))
    starts = [1800.0 + first, 3600.0 + first, 5400.0 + first]
    assert rerun_spans(run(doc)) == [("i0", round(t, 6), round(t + 39.0, 6)) for t in starts]


def test_ansible_has_no_cadence_unless_one_is_given() -> None:
    with pytest.raises(InputError) as info:
        simulator.load_experiment(
            experiment({"config_mgmt": {"tool": "ansible", "rerun": True}}, horizon=60)
        )
    (line,) = info.value.problems
    assert "scenarios[0].platform.config_mgmt" in line
    assert "config_mgmt.interval: ansible pushes on demand" in line
    # A scheduled push every hour, after the previous one ends: 5 + 331 × 0.5 = 170.5 s.
    doc = experiment(
        {"initial": 1, "config_mgmt": {"tool": "ansible", "rerun": True, "interval": "1h"}},
        horizon=3 * H,
    )
    assert rerun_spans(run(doc)) == [
        ("i0", 3600.0, 3770.5),
        ("i0", 7370.5, 7541.0),
    ]


def test_recorded_reruns_are_capped() -> None:
    doc = experiment(
        {"initial": 5, "config_mgmt": {"rerun": True, "max_rerun_spans": 4}}, horizon=DAY
    )
    res = run(doc)
    # All five are due at 1800 s; the first four recorded stop every loop.
    assert rerun_spans(res) == [(f"i{k}", 1800.0, 1839.0) for k in range(4)]
    assert res.summary.iloc[0]["cm_reruns"] == 4


def test_rerun_is_off_by_default() -> None:
    res = run(experiment({"initial": 2}, horizon=2 * H))
    assert rerun_spans(res) == []


# -- one version per host ----------------------------------------------------------------

STAFF_STAGES = ("rack", "network", "os_install", "accounts", "firewall")
SERVER = {"price": "$3600", "depreciation_months": 36, "power_w": 0, "colo": "$0/month"}
PER_SERVER_MONTH = 100.0  # $3600 / 36


def two_versions(**cm: Any) -> dict[str, Any]:
    return experiment(
        {
            "initial": 1,
            "lead_time": fixed(0),
            "resources": {"ops_staff": 1},
            "server": SERVER,
            "stages": {s: {"duration": fixed(H)} for s in STAFF_STAGES},
            "config_mgmt": {"versions": 2, **cm},
        },
        horizon=DAY,
        actions=[(0, 2)],
    )


def test_two_versions_on_one_version_per_host_need_twice_the_servers() -> None:
    res = run(two_versions(one_version_per_host=True))
    p = res.provisioning
    # The initial instance already runs on two servers; the new one orders i1 and i1/v2,
    # which share the single ops person: 10 h of hands-on work instead of 5.
    assert sorted(set(p.instance)) == ["i1", "i1/v2"]
    fw = p[p.stage == "firewall"].sort_values("end_s")
    assert list(fw.end_s) == [9 * H, 10 * H]
    s = res.summary.iloc[0]
    assert s["physical_servers_ordered"] == 2
    assert s["time_to_first_ready_s"] == pytest.approx(10 * H + 39 + 300)
    # Cost: 2 servers from t = 0, 2 more from their delivery at t = 0: 4 × 24 h.
    assert s["cost_usd"] == pytest.approx(4 * PER_SERVER_MONTH * DAY / MONTH)
    assert s["instances_mean"] == pytest.approx(
        (1 * (10 * H + 339) + 2 * (DAY - 10 * H - 339)) / DAY
    )


def test_without_the_constraint_versions_share_a_host() -> None:
    res = run(two_versions(one_version_per_host=False))
    s = res.summary.iloc[0]
    assert sorted(set(res.provisioning.instance)) == ["i1"]
    assert s["physical_servers_ordered"] == 1
    assert s["time_to_first_ready_s"] == pytest.approx(5 * H + 39 + 300)
    assert s["cost_usd"] == pytest.approx(2 * PER_SERVER_MONTH * DAY / MONTH)
    assert s["cm_version_conflicts"] == 0


def test_or_the_second_deploy_fails_on_every_host() -> None:
    res = run(two_versions(one_version_per_host=True, on_conflict="fail"))
    s = res.summary.iloc[0]
    # One server per instance; version 2 fails on the initial server (at t = 0) and on
    # the new one when it is set up.
    assert s["physical_servers_ordered"] == 1
    assert s["cm_version_conflicts"] == 2
    assert s["cost_usd"] == pytest.approx(2 * PER_SERVER_MONTH * DAY / MONTH)
