"""Guard rails (``limits:``): absurd experiments are refused at validation, runs past their
event or memory budget stop with one line naming the setting, and nothing is written.

Also measures the constants the estimates use (events per request), so a change of the
engine that makes them wrong fails here rather than silently weakening the guard.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

import simulator.cli
from simulator import engine
from simulator.config import Serving
from simulator.limits import (
    EVENTS_PER_REQUEST,
    LimitExceeded,
    Limits,
    RunGuard,
    check_limits,
    estimate_run,
)
from simulator.loading import InputError, load_experiment

MMC: dict[str, Any] = {
    "name": "mmc",
    "seed": 3,
    "horizon": "2000s",
    "workload": {
        "arrivals": {"kind": "constant", "rate": "7.2/s"},
        "service_time": {"kind": "exponential", "mean": "1s"},
    },
    "scenarios": [{"name": "m-m-8", "platform": {"kind": "fixed", "instances": 1}}],
}


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(folder: Path, doc: dict[str, Any], name: str = "exp.yaml") -> str:
    (folder / name).write_text(yaml.safe_dump(doc, sort_keys=False))
    return name


def lines_of(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.strip()]


def no_output(folder: Path) -> None:
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["exp.yaml"], f"left behind: {names}"


# -- validation-time estimate ---------------------------------------------------------------


def test_ten_years_at_a_million_per_second_is_refused_with_a_suggestion(workdir: Path) -> None:
    exp = write(workdir, MMC)
    result = CliRunner().invoke(
        simulator.cli.app,
        ["run", exp, "--set", "horizon=3650d", "--set", "workload.arrivals.rate=1e6/s"],
    )
    assert result.exit_code == 2, result.output
    (line,) = lines_of(result.output)
    assert line.startswith("exp.yaml: limits.max_events: scenario 'm-m-8' would simulate")
    # 1e6/s × 3650 d × 2 events per request = 6.3e14 events, stated as such.
    assert "6.31e+14 events per run" in line, line
    assert "raise limits.max_events" in line
    # The fluid mode is suggested once it exists (serving.mode).
    assert ("mode: fluid" in line) == ("mode" in Serving.model_fields), line
    no_output(workdir)


def test_raising_the_budget_lets_a_big_experiment_validate(workdir: Path) -> None:
    exp = write(workdir, MMC)
    args = ["validate", exp, "--set", "horizon=3650d", "--set", "workload.arrivals.rate=1e6/s"]
    result = CliRunner().invoke(simulator.cli.app, [*args, "--set", "limits.max_events=1e15"])
    assert result.exit_code == 0, result.output


def test_estimate_is_rate_times_horizon_times_events_per_request() -> None:
    exp = load_experiment(MMC)
    events, series = estimate_run(exp, 0)
    rows = 2000 / exp.interval + 1  # interval 5 s: 401 rows
    assert events == pytest.approx(7.2 * 2000 * EVENTS_PER_REQUEST + rows)
    assert series > 0
    assert check_limits(exp) is None


def test_a_tiny_sample_interval_is_refused_by_the_memory_estimate(workdir: Path) -> None:
    exp = write(workdir, MMC)
    result = CliRunner().invoke(
        simulator.cli.app, ["validate", exp, "--set", "horizon=1d", "--set", "sample_interval=1ms"]
    )
    assert result.exit_code == 2, result.output
    (line,) = lines_of(result.output)
    assert line.startswith("exp.yaml: limits.max_memory: the time series of the 1 runs")
    assert "raise sample_interval" in line


def test_limits_block_is_validated_like_any_other() -> None:
    for bad, needle in (
        ({"max_events": 0}, "limits.max_events"),
        ({"max_memory": "lots"}, "limits.max_memory"),
        ({"max_events": ".inf"}, "limits.max_events"),
        ({"max_event": 5}, "limits.max_event"),
    ):
        with pytest.raises(InputError) as info:
            load_experiment({**MMC, "limits": bad})
        assert len(info.value.problems) == 1, info.value.problems
        assert needle in info.value.problems[0]


def test_an_absurd_fault_rate_is_refused_before_its_times_are_drawn(workdir: Path) -> None:
    """Fault times are drawn up front: 1e6/s over 2000 s would be 2e9 of them (a loop of
    hours and gigabytes) — refused at validation, naming the rate (regression: a hang)."""
    doc = {**MMC, "faults": {"events": [{"kind": "instance_crash", "rate": "1e6/s"}]}}
    exp = write(workdir, doc)
    result = CliRunner().invoke(simulator.cli.app, ["run", exp, "--out", "out"])
    assert result.exit_code == 2, result.output
    (line,) = lines_of(result.output)
    assert line.startswith("exp.yaml: faults.events[0].rate: about 2e+09 faults per run")
    assert "over limits.max_events 1e+09" in line
    no_output(workdir)
    # 1e5/s from 1000 s to 1500 s, 2 targets each: 1e8 faults, under the event budget but
    # their times alone (32 B each, 2.98 GiB) over a 1 GiB memory budget.
    event = {"kind": "instance_crash", "rate": "1e5/s", "start": "1000s", "until": "1500s"}
    doc = {**MMC, "limits": {"max_memory": "1GiB"}}
    doc["scenarios"] = [{**MMC["scenarios"][0], "faults": {"events": [{**event, "count": 2}]}}]
    with pytest.raises(InputError) as info:
        load_experiment(doc)
    (problem,) = info.value.problems
    assert "scenarios[0].faults.events[0].rate: about 1e+08 faults per run" in problem
    assert "2.98 GiB, over limits.max_memory 1 GiB" in problem
    # A realistic rate counts in the events estimate (each fault at least one event).
    doc = {**MMC, "faults": {"events": [{"kind": "instance_crash", "rate": "1/10s"}]}}
    events, _ = estimate_run(load_experiment(doc), 0)
    assert events == pytest.approx(7.2 * 2000 * EVENTS_PER_REQUEST + 2000 / 5 + 1 + 200)


# -- run-time check ---------------------------------------------------------------------------


def test_run_past_its_event_budget_stops_naming_the_setting() -> None:
    exp = load_experiment(MMC)
    # model_copy skips validation: the run-time guard alone must stop this run.
    small = exp.model_copy(update={"limits": Limits(max_events=5000)})
    with pytest.raises(LimitExceeded) as info:
        engine.run_one(small, 0, 0)
    message = str(info.value)
    assert message.startswith("limits.max_events: run stopped, scenario 'm-m-8' replication 0")
    # 1 to 2 events per request at 7.2/s: 5000 events pass between t = 347 s and 694 s
    # (checked every 5 s), long before the horizon.
    t = float(message.split("at t = ")[1].split(" s")[0])
    assert 340 < t < 700, message
    assert "\n" not in message


def test_guard_counts_events_without_disturbing_the_run() -> None:
    """Reading SimPy's event counter must not advance it: tables identical with the guard."""
    exp = load_experiment({**MMC, "horizon": "200s"})
    a = engine.run_one(exp, 0, 0)
    seen: list[int] = []
    original = RunGuard.check

    def spy(self: RunGuard, now: float, rows: int) -> None:
        seen.append(self.events())
        original(self, now, rows)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(RunGuard, "check", spy)
        b = engine.run_one(exp, 0, 0)
    assert a.summary == b.summary
    assert seen == sorted(seen) and seen[0] > 0


def test_overloaded_unbounded_queue_stops_at_the_memory_budget(workdir: Path) -> None:
    """One worker at load 7.2: the queue grows ~6.2 requests/s; 1 MB ≈ 6,250 requests of
    160 B, reached near t = 1000 s, well before the 2000 s horizon."""
    doc = {**MMC, "scenarios": [{**MMC["scenarios"][0], "serving": {"workers": 1}}]}
    exp = write(workdir, doc)
    result = CliRunner().invoke(
        simulator.cli.app, ["run", exp, "--set", "limits.max_memory=1MB", "--out", "out", "-q"]
    )
    assert result.exit_code == 2, result.output
    (line,) = lines_of(result.output)
    assert line.startswith("exp.yaml: limits.max_memory: run stopped, scenario 'm-m-8'")
    assert "serving.queue_limit" in line and "raise limits.max_memory" in line
    t = float(line.split("at t = ")[1].split(" s")[0])
    assert 700 < t < 1400, line
    no_output(workdir)


def test_memory_budget_is_checked_between_coarse_time_series_rows() -> None:
    """Rows every 1,000 s, 2,000 requests/s onto one worker (≈ 1,990 more waiting each
    second): 10 MB ≈ 65,500 requests of 160 B. The source checks the budget every 65,536
    arrivals (≈ 32.8 s), so the run stops at the second check (≈ 65.5 s), not at the
    first row (t = 1,000 s, ≈ 300 MB)."""
    doc = {
        **MMC,
        "horizon": "3000s",
        "warmup": "0s",
        "sample_interval": "1000s",
        "workload": {
            "arrivals": {"kind": "constant", "rate": "2000/s"},
            "service_time": {"kind": "exponential", "mean": "100ms"},
        },
        "scenarios": [{**MMC["scenarios"][0], "serving": {"workers": 1}}],
    }
    exp = load_experiment(doc)
    small = exp.model_copy(update={"limits": Limits(max_memory=10_000_000)})
    with pytest.raises(LimitExceeded) as info:
        engine.run_one(small, 0, 0)
    message = str(info.value)
    assert message.startswith("limits.max_memory: run stopped"), message
    t = float(message.split("at t = ")[1].split(" s")[0])
    assert 60 < t < 70, message


def test_limit_in_a_pool_worker_is_still_exit_2(workdir: Path) -> None:
    """The exception crosses the process pool (pickled) and keeps its one-line message."""
    doc = {**MMC, "replications": 2}
    doc["scenarios"] = [{**MMC["scenarios"][0], "serving": {"workers": 1}}]
    exp = write(workdir, doc)
    result = CliRunner().invoke(
        simulator.cli.app,
        ["run", exp, "--set", "limits.max_memory=1MB", "--out", "out", "-q", "--workers", "2"],
    )
    assert result.exit_code == 2, result.output
    (line,) = lines_of(result.output)
    assert line.startswith("exp.yaml: limits.max_memory: run stopped")
    no_output(workdir)


def test_limit_exceeded_pickles_with_its_message() -> None:
    exc = pickle.loads(pickle.dumps(LimitExceeded("limits.max_events: stop")))
    assert isinstance(exc, LimitExceeded) and str(exc) == "limits.max_events: stop"


# -- the constants ----------------------------------------------------------------------------


@pytest.mark.parametrize("workers", [1, 8])
def test_events_per_request_is_what_the_estimate_assumes(workers: int) -> None:
    """Measured: SimPy events scheduled per arrival on an M/M/c run. The estimate must be an
    upper bound (at most an arrival and a service end each) and not a gross one."""
    doc = {**MMC, "horizon": "1000s"}
    doc["scenarios"] = [{**MMC["scenarios"][0], "serving": {"workers": workers}}]
    exp = load_experiment(doc)
    counts: list[int] = []
    original = engine._Sampler.finish

    def finish(self: Any) -> None:
        counts.append(RunGuard(self.ctx).events())
        rec = self.ctx.recorder
        counts.append(rec._arrived_taken + rec.w_arrived)
        original(self)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(engine._Sampler, "finish", finish)
        engine.run_one(exp, 0, 0)
    events, arrivals = counts
    assert arrivals > 5000
    assert 1.0 <= events / arrivals <= 1.05 * EVENTS_PER_REQUEST


def test_the_suggested_fluid_mode_is_accepted(workdir: Path) -> None:
    """The suggestion works: the same ten years in fluid mode are a few 1e8 time steps."""
    if "mode" not in Serving.model_fields:
        pytest.skip("no fluid serving mode in this version")
    exp = write(workdir, MMC)
    args = ["validate", exp, "--set", "horizon=3650d", "--set", "workload.arrivals.rate=1e6/s"]
    result = CliRunner().invoke(
        simulator.cli.app, [*args, "--set", "scenarios.m-m-8.serving.mode=fluid"]
    )
    assert result.exit_code == 0, result.output
