"""The cloud (IaaS) platform, traced against hand-computed timelines.

Defaults (models/cloud.py): api_call 1.5 s (token bucket 2/s, burst 2), pending 11.5 s,
boot 13 s, configure 120 s (skipped with a baked image), app_start 5 s.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

import simulator
from models.cloud import INSTANCE_TYPES


def experiment(platform: dict[str, Any], actions: list[dict[str, Any]], **top: Any) -> Any:
    doc = {
        "name": "cloud",
        "seed": 1,
        "horizon": "30m",
        "sample_interval": "60s",
        "workload": {
            "arrivals": {"kind": "constant", "rate": "5/s"},
            "service_time": {"kind": "fixed", "value": "10ms"},
        },
        "scenarios": [
            {
                "name": "c",
                "platform": {"kind": "cloud", **platform},
                "serving": {"workers": 2},
                "autoscaler": {"kind": "schedule", "actions": actions},
            }
        ],
        **top,
    }
    return simulator.load_experiment(doc)


def timeline(res: simulator.Results) -> list[tuple[str, str, float, float, float]]:
    p = res.provisioning.sort_values(["start_s", "instance"], kind="stable")
    return [
        (r.instance, r.stage, r.start_s, r.end_s, r.waited_s)
        for r in p.itertuples()
        if not pd.isna(r.end_s)
    ]


def test_one_launch_follows_the_stages_in_order() -> None:
    res = simulator.run(experiment({"initial": 1}, [{"at": "100s", "instances": 2}]))
    assert timeline(res) == [
        ("i1", "api_call", 100.0, 101.5, 0.0),
        ("i1", "pending", 101.5, 113.0, 0.0),
        ("i1", "boot", 113.0, 126.0, 0.0),
        ("i1", "configure", 126.0, 246.0, 0.0),
        ("i1", "app_start", 246.0, 251.0, 0.0),
    ]
    row = res.summary.iloc[0]
    assert row["time_to_first_ready_s"] == 151.0
    assert row["time_to_target_capacity_s"] == 151.0


def test_baked_image_skips_configuration() -> None:
    res = simulator.run(
        experiment({"initial": 1, "baked_image": True}, [{"at": "100s", "instances": 2}])
    )
    assert [s for _, s, *_ in timeline(res)] == ["api_call", "pending", "boot", "app_start"]
    assert res.summary.iloc[0]["time_to_first_ready_s"] == 31.0


def test_api_rate_limit_delays_launches_beyond_the_burst() -> None:
    # Bucket 2/s with burst 2: launches 1-2 go at once, 3 waits 0.5 s, 4 waits 1.0 s.
    res = simulator.run(experiment({"initial": 0}, [{"at": "100s", "instances": 4}]))
    calls = [(i, start, waited) for i, s, start, _, waited in timeline(res) if s == "api_call"]
    assert calls == [
        ("i0", 100.0, 0.0),
        ("i1", 100.0, 0.0),
        ("i2", 100.5, 0.5),
        ("i3", 101.0, 1.0),
    ]


def test_quota_refuses_launches_beyond_the_running_vcpus() -> None:
    # m5.large has 2 vCPUs: a 5-vCPU quota admits 2 instances; the third is refused.
    res = simulator.run(
        experiment({"initial": 1, "quota_vcpus": 5}, [{"at": "100s", "instances": 3}])
    )
    row = res.summary.iloc[0]
    assert row["cloud_launches_refused"] == 1
    assert sorted({i for i, *_ in timeline(res)}) == ["i1"]
    assert res.timeseries["ready_instances"].iloc[-1] == 2


def test_billing_minimum_is_charged_on_a_short_lived_instance() -> None:
    # An instance launched at 100 s and terminated at 110 s (still provisioning) is billed
    # 60 s, not 10 s; the initial instance is billed for the whole 30 min.
    price = INSTANCE_TYPES["m5.large"].price
    res = simulator.run(
        experiment(
            {"initial": 1},
            [{"at": "100s", "instances": 2}, {"at": "110s", "instances": 1}],
        )
    )
    cost = res.summary.iloc[0]["cost_usd"]
    assert cost == pytest.approx((1800 + 60) * price, rel=1e-12)
    assert timeline(res) == [
        ("i1", "api_call", 100.0, 101.5, 0.0),
        ("i1", "pending (cancelled)", 101.5, 110.0, 0.0),
    ]


def test_longer_lived_instances_are_billed_per_second() -> None:
    price = INSTANCE_TYPES["c5.xlarge"].price
    res = simulator.run(
        experiment(
            {"initial": 1, "instance_type": "c5.xlarge", "baked_image": True},
            [{"at": "100s", "instances": 2}, {"at": "1000s", "instances": 1}],
        )
    )
    # The second instance lives 900 s (launch to termination), the first 1800 s.
    assert res.summary.iloc[0]["cost_usd"] == pytest.approx((1800 + 900) * price, rel=1e-12)


@pytest.mark.parametrize(
    ("platform", "path"),
    [
        ({"instance_type": "m9.mega"}, "platform.instance_type"),
        (
            {"stages": {"boot": {"duration": {"kind": "fixed", "value": "-3s"}}}},
            "platform.stages.boot.duration.value",
        ),
        ({"stages": {"warmup": {"duration": {"kind": "fixed", "value": "3s"}}}}, "stages.warmup"),
        ({"stages": {"boot": {"holds": {"dba": 1}}}}, "platform.stages.boot"),
        ({"resources": {"cloud_api": "fast"}}, "platform.resources"),
    ],
)
def test_bad_config_names_the_field(platform: dict[str, Any], path: str) -> None:
    with pytest.raises(simulator.InputError) as info:
        experiment(platform, [{"at": "1s", "instances": 1}])
    assert any(f"scenarios[0].{path}" in p or path in p for p in info.value.problems), (
        info.value.problems
    )
