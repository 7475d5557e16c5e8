"""Defects found in review, each pinned by the reproduction that exposed it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import simulator
from simulator.workload import Trace, arrival_times


def test_requests_lost_by_a_failed_instance_are_not_also_in_flight() -> None:
    # 300 s requests, a 100 s horizon, a scale-in at 20 s with a 5 s grace period: the
    # drained instances fail with requests whose completions lie beyond the horizon.
    exp = simulator.load_experiment(
        {
            "name": "r",
            "horizon": "100s",
            "workload": {
                "arrivals": {"kind": "constant", "rate": "1/s"},
                "service_time": {"kind": "fixed", "value": "300s"},
            },
            "scenarios": [
                {
                    "name": "s",
                    "platform": {"kind": "cloud", "initial": 3, "baked_image": True},
                    "serving": {"workers": 100, "drain_timeout": "5s"},
                    "autoscaler": {"kind": "schedule", "actions": [{"at": "20s", "instances": 1}]},
                }
            ],
        }
    )
    row = simulator.run(exp).summary.iloc[0]
    assert row["dropped_failed"] > 0
    assert row["arrived"] == row["completed"] + row["dropped"] + row["timed_out"] + row["in_flight"]


def test_trace_bound_sees_a_drop_at_the_end_of_a_block() -> None:
    # The first thinning block is 4096/512 = 8 s long and ends exactly on the drop.
    trace = Trace(kind="trace", points=[(0.0, 1.0), (8.0, 512.0), (8.0, 1.0), (16.0, 1.0)])
    assert trace.bound(0.0, 8.0) >= 512.0
    counts = [
        sum(int((b < 8.0).sum()) for b in arrival_times(trace, np.random.default_rng(s), 16.0))
        for s in range(20)
    ]
    expected = (1.0 + 512.0) / 2 * 8.0  # the integral of the rate over [0, 8)
    assert abs(np.mean(counts) - expected) < 4 * np.sqrt(expected / len(counts))


def test_interrupted_write_keeps_the_previous_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exp = simulator.load_experiment(
        {
            "name": "w",
            "horizon": "10s",
            "workload": {
                "arrivals": {"kind": "constant", "rate": "1/s"},
                "service_time": {"kind": "fixed", "value": "0.1s"},
            },
            "scenarios": [{"name": "s", "platform": {"kind": "fixed", "instances": 1}}],
        }
    )
    res = simulator.run(exp)
    out = tmp_path / "out"
    simulator.write_output(res, out, with_report=False)
    before = (out / "summary.csv").read_text()
    real_rename = Path.rename

    def rename(self: Path, target: Path) -> Path:  # Ctrl-C between the two renames
        if ".tmp-" in self.name:
            raise KeyboardInterrupt
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", rename)
    with pytest.raises(KeyboardInterrupt):
        simulator.write_output(res, out, with_report=False)
    assert (out / "summary.csv").read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_summary_ci_is_mean_sd_and_student_t_half_width() -> None:
    from simulator.results import summary_ci

    summary = pd.DataFrame(
        {
            "scenario": ["a", "a", "a", "b"],
            "replication": [0, 1, 2, 0],
            "seed": [1, 1, 1, 1],
            "latency_p99_s": [1.0, 2.0, 3.0, 5.0],
            "slo_met": [True, False, True, True],
        }
    )
    ci = summary_ci(summary).set_index("scenario")
    assert list(ci.columns) == [
        "replications",
        "latency_p99_s_mean",
        "latency_p99_s_sd",
        "latency_p99_s_ci95",
    ]
    assert ci.loc["a", "latency_p99_s_mean"] == 2.0
    assert ci.loc["a", "latency_p99_s_sd"] == 1.0
    # t(0.975, 2) = 4.303: half-width 4.303 * 1 / sqrt(3)
    assert ci.loc["a", "latency_p99_s_ci95"] == pytest.approx(4.303 / np.sqrt(3), rel=1e-4)
    assert ci.loc["b", "replications"] == 1
    assert np.isnan(ci.loc["b", "latency_p99_s_ci95"])
