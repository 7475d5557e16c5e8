"""``paas``: hand-computed timelines of builds, releases, dyno boots, R10 retries and cost.

Every case runs a whole experiment with fixed durations (so each span is known)
and compares ``provisioning.csv`` rows — ``(instance, stage, start_s, end_s,
waited_s)`` — with the timeline written out by hand. The release stage is the
provider's 45 s (CALIBRATION.md: 40–50 s from release to process start).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

import simulator
import simulator.cli
from models.paas import DYNO_SIZES, RELEASE_S
from simulator.distributions import Empirical
from simulator.engine import streams_for
from simulator.loading import InputError
from simulator.registry import CATALOG

R = RELEASE_S  # 45 s
PER_S = {name: d.price for name, d in DYNO_SIZES.items()}  # USD per dyno-second


def fixed(seconds: float) -> dict[str, Any]:
    return {"kind": "fixed", "value": f"{seconds}s"}


def experiment(
    platform: dict[str, Any],
    actions: list[tuple[float, int]] | None = None,
    horizon: float = 1500.0,
    service_s: float = 0.1,
    workers: int = 4,
    seed: int = 1,
) -> dict[str, Any]:
    """One paas scenario under a light load; ``actions`` = [(at_s, dynos), ...]."""
    scenario: dict[str, Any] = {
        "name": "app",
        "platform": {
            "kind": "paas",
            "push_time": fixed(5),
            "build_time_cold": fixed(300),
            "build_time_cached": fixed(40),
            "boot_time": fixed(8),
            **platform,
        },
        "serving": {"workers": workers},
    }
    if actions:
        scenario["autoscaler"] = {
            "kind": "schedule",
            "actions": [{"at": f"{at}s", "instances": n} for at, n in actions],
        }
    return {
        "name": "paas-trace",
        "seed": seed,
        "horizon": f"{horizon}s",
        "workload": {
            "arrivals": {"kind": "constant", "rate": "1/s"},
            "service_time": fixed(service_s),
        },
        "scenarios": [scenario],
    }


Span = tuple[str, str, float, float, float]


def run(doc: dict[str, Any]) -> tuple[list[Span], dict[str, Any]]:
    """Run the experiment; its spans sorted by (end, start, instance) and its summary row."""
    res = simulator.run(simulator.load_experiment(doc))
    spans = [
        (r.instance, r.stage, round(r.start_s, 9), round(r.end_s, 9), round(r.waited_s, 9))
        for r in res.provisioning.itertuples()
    ]
    spans.sort(key=lambda s: (s[3], s[2], s[0]))
    return spans, res.summary.iloc[0].to_dict()


# -- build once per release, boot per dyno ---------------------------------------------------


def test_first_deploy_builds_cold_then_releases_then_boots_and_scale_out_only_boots() -> None:
    """No dynos at t = 0: the first scale-up is the app's first deploy; the next only boots."""
    spans, row = run(experiment({"initial": 0}, actions=[(10, 2), (1000, 3)], horizon=1500))
    # t=10 ask 2 dynos: push 10→15, cold build 15→315, release 315→360 (one build for both);
    # both dynos boot 360→368, having waited 350 s for the release.
    # t=1000 ask a 3rd: the slug exists, so it only boots 1000→1008.
    assert spans == [
        ("release-v1", "push", 10, 15, 0),
        ("release-v1", "build_cold", 15, 315, 0),
        ("release-v1", "release", 315, 315 + R, 0),
        ("i0", "boot", 360, 368, 350),
        ("i1", "boot", 360, 368, 350),
        ("i2", "boot", 1000, 1008, 0),
    ]
    assert row["paas_builds"] == 1
    assert row["time_to_first_ready_s"] == 358  # 368 - 10
    # Billing from boot start to the horizon: 2 × (1500 - 360) + (1500 - 1000) dyno-seconds.
    assert row["cost_usd"] == pytest.approx((2 * 1140 + 500) * PER_S["standard-1x"])


def test_scale_out_of_a_built_release_only_boots_dynos() -> None:
    """Dynos at t = 0 mean a release exists: scaling 2 → 4 is two boots, no build."""
    spans, row = run(experiment({"initial": 2}, actions=[(100, 4)], horizon=400))
    assert spans == [("i2", "boot", 100, 108, 0), ("i3", "boot", 100, 108, 0)]
    assert row["paas_builds"] == 0
    assert row["time_to_target_capacity_s"] == 8
    assert row["cost_usd"] == pytest.approx((2 * 400 + 2 * 300) * PER_S["standard-1x"])


def test_deploys_build_with_the_warm_cache_queue_for_the_builder_and_restart_dynos() -> None:
    """Two pushes 10 s apart share one build worker; each release restarts older dynos."""
    spans, row = run(
        experiment({"initial": 1, "deploys": ["100s", "110s"]}, actions=[(185, 2)], horizon=400)
    )
    assert spans == [
        # v2 pushed at 100: push 100→105, cached build 105→145, release 145→190.
        ("release-v2", "push", 100, 105, 0),
        # v3 pushed at 110: push 110→115, waits for the builder until 145.
        ("release-v3", "push", 110, 115, 0),
        ("release-v2", "build_cached", 105, 145, 0),
        ("release-v3", "build_cached", 145, 185, 30),
        ("release-v2", "release", 145, 190, 0),
        # t=185 a 2nd dyno (i1) starts booting v1; t=190 v2 is out: i0 stops taking
        # requests and i2 boots v2; i1's boot of the old slug is killed, it boots v2.
        ("i1", "boot_interrupted", 185, 190, 0),
        ("i1", "boot", 190, 198, 0),
        ("i2", "boot", 190, 198, 0),
        # t=230 v3 is out: i1 and i2 are replaced by i3 and i4.
        ("release-v3", "release", 185, 230, 0),
        ("i3", "boot", 230, 238, 0),
        ("i4", "boot", 230, 238, 0),
    ]
    assert row["paas_builds"] == 2


# -- R10: boot timeout, kill, restart ------------------------------------------------------


def test_a_boot_that_never_binds_is_killed_at_the_timeout_until_the_dyno_stays_crashed() -> None:
    """A 70 s boot always exceeds the 60 s timeout.

    Restarts: the 1st at once, then after the cool-off (30 s), doubled (60 s). With
    ``max_boot_attempts: 4`` the dyno stays crashed: in the formation, billed, never ready.
    """
    platform = {
        "initial": 1,
        "boot_time": fixed(70),
        "max_boot_attempts": 4,
        "crash_cooloff": "30s",
    }
    spans, row = run(experiment(platform, actions=[(100, 2)], horizon=1000))
    assert spans == [
        ("i1", "boot_timeout", 100, 160, 0),
        ("i1", "boot_timeout", 160, 220, 0),
        ("i1", "boot_timeout", 250, 310, 30),
        ("i1", "boot_timeout", 370, 430, 60),
    ]
    assert row["paas_boot_timeouts"] == 4
    assert row["paas_dynos_crashed"] == 1
    assert np.isnan(row["time_to_first_ready_s"])
    # Only i0 serves; both are billed: i0 for 1000 s, the crashed i1 from 100 s.
    assert row["instances_mean"] == pytest.approx(1.0)
    assert row["cost_usd"] == pytest.approx((1000 + 900) * PER_S["standard-1x"])


def test_heroku_restarts_a_crashing_dyno_forever_with_a_capped_cool_off() -> None:
    """No attempt limit (Heroku's behaviour): cool-offs 0, 30, 60, then capped at 60 s."""
    platform = {
        "initial": 1,
        "boot_time": fixed(70),
        "crash_cooloff": "30s",
        "crash_cooloff_max": "60s",
    }
    spans, row = run(experiment(platform, actions=[(100, 2)], horizon=700))
    assert spans == [
        ("i1", "boot_timeout", 100, 160, 0),
        ("i1", "boot_timeout", 160, 220, 0),
        ("i1", "boot_timeout", 250, 310, 30),
        ("i1", "boot_timeout", 370, 430, 60),
        ("i1", "boot_timeout", 490, 550, 60),  # 30 × 2² = 120 s, capped at 60 s
        ("i1", "boot_timeout", 610, 670, 60),
    ]
    assert row["paas_boot_timeouts"] == 6
    assert row["paas_dynos_crashed"] == 0


def test_a_slow_boot_is_killed_and_the_restart_that_binds_in_time_serves() -> None:
    """Boot times drawn from ``empirical [70 s, 10 s]``.

    The seed is the first whose provisioning stream draws 70 s then 10 s (found here,
    with the same calls the platform makes), so the trace is known: killed at 60 s,
    restarted at once, bound 10 s later.
    """
    dist = Empirical(kind="empirical", samples=[70.0, 10.0])

    def first_two(seed: int) -> list[float]:
        rng = streams_for(seed, 0)["provisioning"]
        return [float(dist.sample(rng, 1)[0]) for _ in range(2)]

    seed = next(s for s in range(1, 1000) if first_two(s) == [70.0, 10.0])
    boot = {"kind": "empirical", "samples": ["70s", "10s"]}
    spans, row = run(
        experiment({"initial": 1, "boot_time": boot}, actions=[(100, 2)], horizon=400, seed=seed)
    )
    assert spans == [("i1", "boot_timeout", 100, 160, 0), ("i1", "boot", 160, 170, 0)]
    assert row["paas_boot_timeouts"] == 1
    assert row["time_to_first_ready_s"] == 70


def test_boot_timeout_is_configurable() -> None:
    """Java apps get 90 s (help.heroku.com, R10): a 70 s boot then succeeds first time."""
    platform = {"initial": 1, "boot_time": fixed(70), "boot_timeout": "90s"}
    spans, row = run(experiment(platform, actions=[(100, 2)], horizon=400))
    assert spans == [("i1", "boot", 100, 170, 0)]
    assert row["paas_boot_timeouts"] == 0


# -- dyno sizes and cost -------------------------------------------------------------------


def test_dyno_catalog_speed_and_price_come_from_the_calibration() -> None:
    ci_job_s = {"standard-1x": 276, "standard-2x": 190, "performance-m": 167, "performance-l": 104}
    for name, seconds in ci_job_s.items():
        assert DYNO_SIZES[name].speed == pytest.approx(276 / seconds)
    usd_month = {
        "basic": 7,
        "standard-1x": 25,
        "standard-2x": 50,
        "performance-m": 250,
        "performance-l": 500,
    }
    for name, usd in usd_month.items():
        assert DYNO_SIZES[name].price * 3600 == pytest.approx(usd / 720)
    facts = [f for f in CATALOG if f.family == "paas"]
    assert facts and all(f.source for f in facts)


@pytest.mark.parametrize("dyno", ["standard-1x", "standard-2x", "performance-m", "performance-l"])
def test_dyno_speed_scales_service_time(dyno: str) -> None:
    """A 1 s request (at standard-1x speed) takes 1/speed s; 50 workers, so nobody queues."""
    doc = experiment({"initial": 1, "dyno": dyno}, horizon=300, service_s=1.0, workers=50)
    _, row = run(doc)
    assert row["completed"] > 200
    assert row["latency_mean_s"] == pytest.approx(1 / DYNO_SIZES[dyno].speed)
    assert row["latency_max_s"] == pytest.approx(1 / DYNO_SIZES[dyno].speed)


@pytest.mark.parametrize(
    ("dyno", "dynos", "usd_month"), [("performance-m", 3, 250), ("basic", 5, 7)]
)
def test_cost_of_n_dynos_over_the_horizon(dyno: str, dynos: int, usd_month: float) -> None:
    """N dynos for 2 h at USD/month ÷ 720 per hour, prorated to the second."""
    _, row = run(experiment({"initial": dynos, "dyno": dyno}, horizon=7200))
    assert row["cost_usd"] == pytest.approx(dynos * 2 * usd_month / 720)


# -- the provider's pipeline cannot be changed ---------------------------------------------


def problems(platform: dict[str, Any]) -> list[str]:
    with pytest.raises(InputError) as err:
        simulator.load_experiment(experiment(platform))
    return err.value.problems


@pytest.mark.parametrize(
    ("platform", "field", "says"),
    [
        ({"stages": {"build": {"duration": fixed(1)}}}, "stages.build", "fixed by the provider"),
        ({"stages": {"boot": None}}, "stages.boot", "fixed by the provider"),
        (
            {"stages": {"warmup": {"after": "boot", "duration": fixed(1)}}},
            "stages.warmup",
            "no stage can be added",
        ),
        ({"resources": {"build_workers": 4}}, "resources.build_workers", "provider's limit"),
        ({"dyno": "standard-3x"}, "dyno", "not a dyno size"),
        ({"build_time_cold": fixed(1200)}, "build_time_cold", "slug compile limit"),
        ({"boot_timeout": "0s"}, "boot_timeout", ""),
        ({"max_boot_attempts": 0}, "max_boot_attempts", ""),
    ],
)
def test_bad_paas_config_names_the_field(platform: dict[str, Any], field: str, says: str) -> None:
    lines = problems(platform)
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"<experiment>: scenarios[0].platform.{field}: "), lines[0]
    assert says in lines[0]


def test_overriding_a_fixed_stage_is_exit_2_from_the_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    doc = experiment({"stages": {"release": {"duration": fixed(1)}}})
    Path("app.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    result = CliRunner().invoke(simulator.cli.app, ["validate", "app.yaml"])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("app.yaml: scenarios[0].platform.stages.release: ")
    assert "'release' stage is fixed by the provider" in lines[0]
