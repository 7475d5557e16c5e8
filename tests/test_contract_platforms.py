"""Contract tests over the platform registry (like Gymnasium's tests/envs/test_envs.py).

Every registered architecture must: run a short experiment with a scale-out and
a scale-in, be deterministic under a seed, conserve requests, record only
well-formed provisioning spans, and reject an invalid config with a one-line
error naming the field. A new architecture must add its minimal block below.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

import simulator
from simulator.registry import PLATFORMS

# The smallest sensible platform block of each kind, and one invalid field for it.
EXAMPLES: dict[str, dict[str, Any]] = {
    "fixed": {"kind": "fixed", "instances": 2},
    "cloud": {"kind": "cloud", "instance_type": "c5.large", "initial": 2},
    "physical": {"kind": "physical", "initial": 2},
    "vm": {"kind": "vm", "initial": 2},
    "paas": {"kind": "paas", "initial": 2},
    "container": {"kind": "container", "image": "nginx:1.23.3", "initial": 2},
}
INVALID: dict[str, tuple[str, Any]] = {
    "fixed": ("instances", -1),
    "cloud": ("instance_type", "m99.huge"),
    "physical": ("initial", -3),
    "vm": ("initial", -1),
    "paas": ("dyno", "standard-99x"),
    "container": ("node_type", "m99.huge"),
}


def experiment(platform: dict[str, Any], seed: int = 5) -> dict[str, Any]:
    return {
        "name": "contract",
        "seed": seed,
        "horizon": "15m",
        "sample_interval": "30s",
        "workload": {
            "arrivals": {
                "kind": "spike",
                "base": "20/s",
                "peak": "120/s",
                "start": "2m",
                "rise": "30s",
                "hold": "8m",
                "fall": "1m",
            },
            "service_time": {"kind": "lognormal", "median": "40ms", "p95": "120ms"},
            "timeout": "10s",
        },
        "slo": {"latency_p99": "300ms"},
        "scenarios": [
            {
                "name": "s",
                "platform": platform,
                "serving": {"workers": 4, "queue_limit": 50},
                "balancer": {"kind": "least_connections"},
                "autoscaler": {
                    "kind": "schedule",
                    "actions": [{"at": "2m", "instances": 6}, {"at": "12m", "instances": 2}],
                },
            }
        ],
    }


def test_every_registered_platform_has_a_contract_example() -> None:
    assert set(PLATFORMS.kinds()) <= set(EXAMPLES), "add the new kind to EXAMPLES and INVALID"


KINDS = [k for k in EXAMPLES if k in PLATFORMS.kinds()]


@pytest.mark.parametrize("kind", KINDS)
def test_platform_runs_conserves_and_records_spans(kind: str) -> None:
    res = simulator.run(simulator.load_experiment(experiment(EXAMPLES[kind])))
    row = res.summary.iloc[0]
    assert row["arrived"] > 10_000
    assert row["arrived"] == (
        row["completed"] + row["dropped"] + row["timed_out"] + row["in_flight"]
    )
    assert row["cost_usd"] >= 0
    spans = res.provisioning
    if kind != "fixed":
        assert len(spans) > 0, "a scale-out must record provisioning stages"
    # Stages unfinished at the horizon have no end (and no start while still waiting).
    done = spans.dropna(subset=["end_s"])
    assert (done["end_s"] >= done["start_s"]).all()
    assert (spans["waited_s"] >= 0).all()
    started = spans.dropna(subset=["start_s"])
    assert (started["start_s"] - started["waited_s"] >= -1e-9).all()
    assert (spans["end_s"].isna() | spans["start_s"].notna()).all()


@pytest.mark.parametrize("kind", KINDS)
def test_platform_is_deterministic(kind: str) -> None:
    exp = simulator.load_experiment(experiment(EXAMPLES[kind]))
    a, b = simulator.run(exp), simulator.run(exp)
    pd.testing.assert_frame_equal(a.summary, b.summary)
    pd.testing.assert_frame_equal(a.timeseries, b.timeseries)
    pd.testing.assert_frame_equal(a.provisioning, b.provisioning)


@pytest.mark.parametrize("kind", KINDS)
def test_platform_rejects_invalid_config_naming_the_field(kind: str) -> None:
    field, value = INVALID[kind]
    block = {**EXAMPLES[kind], field: value}
    with pytest.raises(simulator.InputError) as info:
        simulator.load_experiment(experiment(block))
    problems = info.value.problems
    assert any(f"scenarios[0].platform.{field}" in p for p in problems), problems
    assert all("\n" not in p for p in problems)


@pytest.mark.parametrize("kind", KINDS)
def test_platform_rejects_unknown_field(kind: str) -> None:
    block = {**EXAMPLES[kind], "flavour_of_the_month": 1}
    with pytest.raises(simulator.InputError) as info:
        simulator.load_experiment(experiment(block))
    assert any(
        "scenarios[0].platform.flavour_of_the_month: unknown field" in p
        for p in info.value.problems
    ), info.value.problems
