"""Reproducibility: a run is a pure function of (experiment, scenario, replication).

Every random number comes from streams spawned from the experiment's root seed keyed by
(replication, stream) — never by scenario — so the same inputs give bit-identical tables,
whatever the scenario order, the process, the global RNG state or the wall clock.
"""

from __future__ import annotations

import copy
import datetime as dt
import inspect
import os
import pickle
import random
import subprocess
import sys
import time
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

import simulator
from simulator.engine import RunResult

BASE: dict[str, Any] = {
    "name": "determinism",
    "seed": 11,
    "horizon": "240s",
    "warmup": "20s",
    "replications": 2,
    "sample_interval": "10s",
    "workload": {
        # A flash crowd overloads the small fleets: queues, drops and timeouts all happen.
        "arrivals": {
            "kind": "spike",
            "base": "40/s",
            "peak": "120/s",
            "start": "60s",
            "rise": "10s",
            "hold": "30s",
            "fall": "10s",
        },
        "service_time": {"kind": "lognormal", "median": "40ms", "p95": "120ms"},
        "timeout": "500ms",
        "classes": [
            {"name": "read", "weight": 3},
            {"name": "write", "weight": 1, "service_time": {"kind": "exponential", "mean": "80ms"}},
        ],
    },
    "scenarios": [
        {
            "name": "round-robin",
            "platform": {"kind": "fixed", "instances": 2},
            "serving": {"workers": 2, "queue_limit": 20},
            "balancer": {"kind": "round_robin"},
        },
        {
            "name": "random",
            "platform": {"kind": "fixed", "instances": 2},
            "serving": {"workers": 2, "queue_limit": 20},
            "balancer": {"kind": "random"},
        },
        {
            "name": "power-of-two",
            "platform": {
                "kind": "fixed",
                "instances": [{"count": 2, "speed": 2.0}, {"count": 1, "speed": 0.5}],
            },
            "serving": {"workers": 1, "queue_limit": 10},
            "balancer": {"kind": "power_of_two"},
        },
    ],
}


def config(**changes: Any) -> dict[str, Any]:
    """A deep copy of the base experiment with top-level keys replaced."""
    out = copy.deepcopy(BASE)
    out.update(copy.deepcopy(changes))
    return out


def run_tables(cfg: dict[str, Any], **kwargs: Any) -> simulator.Results:
    return simulator.run(simulator.load_experiment(cfg), **kwargs)


def by_scenario(df: pd.DataFrame) -> pd.DataFrame:
    """Rows in (scenario name, replication[, time]) order, with a fresh index."""
    keys = ["scenario", "replication"] + (["time_s"] if "time_s" in df.columns else [])
    return df.sort_values(keys, kind="stable").reset_index(drop=True)


@pytest.fixture(scope="module")
def reference() -> simulator.Results:
    return run_tables(BASE)


def test_the_reference_run_exercises_queues_drops_timeouts(reference: simulator.Results) -> None:
    s = reference.summary
    assert len(s) == 3 * 2
    assert (s["completed"] > 1000).all()
    assert (s["dropped"] + s["timed_out"] > 0).all(), "the spike should overload every fleet"
    assert (s["waited_fraction"] > 0).all()


def test_same_seed_same_tables_in_one_process(reference: simulator.Results) -> None:
    again = run_tables(BASE)
    assert_frame_equal(again.summary, reference.summary)
    assert_frame_equal(again.timeseries, reference.timeseries)
    assert_frame_equal(again.provisioning, reference.provisioning)


_CHILD = """
import pickle, sys
import simulator
cfg = pickle.load(sys.stdin.buffer)
res = simulator.run(simulator.load_experiment(cfg))
pickle.dump((res.summary, res.timeseries), sys.stdout.buffer)
"""


def test_same_seed_same_tables_in_a_fresh_process(reference: simulator.Results) -> None:
    # A different hash seed: no dependence on set/dict-of-str iteration order.
    out = subprocess.run(
        [sys.executable, "-c", _CHILD],
        input=pickle.dumps(BASE),
        capture_output=True,
        check=True,
        timeout=60,
        env={**os.environ, "PYTHONHASHSEED": "12345"},
    )
    summary, timeseries = pickle.loads(out.stdout)
    assert_frame_equal(summary, reference.summary)
    assert_frame_equal(timeseries, reference.timeseries)


def test_reordered_scenarios_give_identical_rows(reference: simulator.Results) -> None:
    scenarios = BASE["scenarios"]
    shuffled = run_tables(config(scenarios=[scenarios[2], scenarios[0], scenarios[1]]))
    assert shuffled.summary["scenario"].drop_duplicates().tolist() == [
        "power-of-two",
        "round-robin",
        "random",
    ]
    assert_frame_equal(by_scenario(shuffled.summary), by_scenario(reference.summary))
    assert_frame_equal(by_scenario(shuffled.timeseries), by_scenario(reference.timeseries))


def test_a_scenario_alone_gives_the_same_rows(reference: simulator.Results) -> None:
    alone = run_tables(config(scenarios=[BASE["scenarios"][1]]))
    ref = reference.summary[reference.summary["scenario"] == "random"].reset_index(drop=True)
    assert_frame_equal(alone.summary, ref)


def test_scenarios_of_a_replication_share_the_arrivals(reference: simulator.Results) -> None:
    # Common random numbers: arrivals depend on (seed, replication), not on the scenario.
    s = reference.summary
    for _, rows in s.groupby("replication"):
        assert rows["arrived"].nunique() == 1, rows[["scenario", "arrived"]]


def test_a_replication_is_the_same_whatever_the_replication_count(
    reference: simulator.Results,
) -> None:
    exp = simulator.load_experiment(BASE)
    one = simulator.run(exp, replications=1).summary
    ref0 = reference.summary[reference.summary["replication"] == 0].reset_index(drop=True)
    assert_frame_equal(one, ref0)
    # And run_one alone reproduces a row of the table.
    single: RunResult = simulator.run_one(exp, 2, 1)
    row = reference.summary.query("scenario == 'power-of-two' and replication == 1").iloc[0]
    for key, value in single.summary.items():
        assert value == row[key] or (value != value and row[key] != row[key]), key


def test_different_seeds_give_different_arrivals(reference: simulator.Results) -> None:
    other = run_tables(config(seed=12))
    a, b = reference.summary, other.summary
    assert (a["seed"] == 11).all() and (b["seed"] == 12).all()
    assert (a["arrived"].to_numpy() != b["arrived"].to_numpy()).all()
    assert (a["wait_mean_s"].to_numpy() != b["wait_mean_s"].to_numpy()).all()


def test_replications_in_one_run_differ(reference: simulator.Results) -> None:
    s = reference.summary
    for _, rows in s.groupby("scenario"):
        r0, r1 = rows.iloc[0], rows.iloc[1]
        assert (r0["replication"], r1["replication"]) == (0, 1)
        assert r0["arrived"] != r1["arrived"]
        assert r0["latency_mean_s"] != r1["latency_mean_s"]
    ts = reference.timeseries
    a = ts[(ts["scenario"] == "random") & (ts["replication"] == 0)]["queue_length"].to_numpy()
    b = ts[(ts["scenario"] == "random") & (ts["replication"] == 1)]["queue_length"].to_numpy()
    assert a.shape == b.shape and not np.array_equal(a, b)


def test_parallel_workers_give_identical_tables(reference: simulator.Results) -> None:
    if "workers" not in inspect.signature(simulator.run).parameters:
        pytest.skip("simulator.run has no workers option")
    parallel = run_tables(BASE, workers=2)
    assert_frame_equal(parallel.summary, reference.summary)
    assert_frame_equal(parallel.timeseries, reference.timeseries)


# -- no hidden state --------------------------------------------------------------------------


def _numpy_states_equal(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    return len(a) == len(b) and all(
        np.array_equal(x, y) if isinstance(x, np.ndarray) else x == y
        for x, y in zip(a, b, strict=True)
    )


def test_global_random_state_is_neither_used_nor_changed(reference: simulator.Results) -> None:
    random.seed(2024)
    np.random.seed(2024)
    py_state, np_state = random.getstate(), np.random.get_state()
    first = run_tables(BASE)
    assert random.getstate() == py_state, "the run drew from the global `random` module"
    assert _numpy_states_equal(np.random.get_state(), np_state), (
        "the run drew from the global numpy.random state"
    )
    # Results do not depend on the global state either.
    random.seed(99)
    np.random.seed(99)
    random.random()
    np.random.random(17)
    second = run_tables(BASE)
    assert_frame_equal(first.summary, reference.summary)
    assert_frame_equal(second.summary, reference.summary)


class WallClockUsed(AssertionError):
    pass


def _forbidden(name: str) -> Callable[..., Any]:
    def clock(*_: Any, **__: Any) -> Any:
        raise WallClockUsed(f"the simulation read the wall clock: {name}()")

    return clock


_CLOCKS = (
    "time",
    "time_ns",
    "perf_counter",
    "perf_counter_ns",
    "monotonic",
    "monotonic_ns",
    "process_time",
    "process_time_ns",
    "thread_time",
    "thread_time_ns",
    "localtime",
    "gmtime",
    "ctime",
)


class _NoClockDatetime(dt.datetime):
    @classmethod
    def now(cls, tz: dt.tzinfo | None = None) -> Any:
        raise WallClockUsed("the simulation read the wall clock: datetime.now()")

    @classmethod
    def utcnow(cls) -> Any:
        raise WallClockUsed("the simulation read the wall clock: datetime.utcnow()")

    @classmethod
    def today(cls) -> Any:
        raise WallClockUsed("the simulation read the wall clock: datetime.today()")


class _NoClockDate(dt.date):
    @classmethod
    def today(cls) -> Any:
        raise WallClockUsed("the simulation read the wall clock: date.today()")


@contextmanager
def no_wall_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Make every wall/CPU clock raise, in ``time`` and in the project's own imports.

    ``from time import perf_counter`` (or ``import datetime``) in a project module binds the
    real function at import time, so besides the ``time`` module the names bound in every
    loaded ``simulator.*``/``models.*`` module are replaced too. Undone on exit.
    """
    originals = {getattr(time, n): n for n in _CLOCKS if hasattr(time, n)}
    fake_time = types.SimpleNamespace(
        **{k: getattr(time, k) for k in dir(time) if not k.startswith("__")}
    )
    fake_datetime = types.SimpleNamespace(
        **{k: getattr(dt, k) for k in dir(dt) if not k.startswith("__")}
    )
    fake_datetime.datetime = _NoClockDatetime
    fake_datetime.date = _NoClockDate
    with monkeypatch.context() as m:
        for name in originals.values():
            m.setattr(time, name, _forbidden(f"time.{name}"))
        for mod_name, mod in list(sys.modules.items()):
            if mod is None or not mod_name.startswith(("simulator", "models")):
                continue
            for attr, value in list(vars(mod).items()):
                if value is time:
                    for name in originals.values():
                        setattr(fake_time, name, _forbidden(f"{mod_name}: time.{name}"))
                    m.setattr(mod, attr, fake_time)
                elif value is dt:
                    m.setattr(mod, attr, fake_datetime)
                elif value is dt.datetime:
                    m.setattr(mod, attr, _NoClockDatetime)
                elif value is dt.date:
                    m.setattr(mod, attr, _NoClockDate)
                elif callable(value) and any(value is f for f in originals):
                    m.setattr(mod, attr, _forbidden(f"{mod_name}.{attr}"))
        yield


def test_no_wall_clock_inside_run_one(
    monkeypatch: pytest.MonkeyPatch, reference: simulator.Results
) -> None:
    exp = simulator.load_experiment(BASE)
    # Self-check of the guard on a fake project module that imports clocks in every style.
    probe = types.ModuleType("simulator._clock_probe")
    exec(
        "import time, datetime\n"
        "from time import perf_counter, monotonic as mono\n"
        "from datetime import datetime as DT\n",
        probe.__dict__,
    )
    monkeypatch.setitem(sys.modules, probe.__name__, probe)
    clock_reads: list[Callable[[], Any]] = [
        lambda: time.perf_counter(),
        lambda: probe.perf_counter(),
        lambda: probe.mono(),
        lambda: probe.time.time(),
        lambda: probe.datetime.datetime.now(),
        lambda: probe.DT.now(),
    ]
    for read in clock_reads:
        with no_wall_clock(monkeypatch), pytest.raises(WallClockUsed):
            read()
    assert probe.time.sleep is time.sleep  # the rest of the time module still works
    results: list[RunResult] = []
    with no_wall_clock(monkeypatch):
        for i in range(len(exp.scenarios)):
            results.append(simulator.run_one(exp, i, 0))
    assert time.perf_counter() > 0  # restored
    for i, res in enumerate(results):
        row = reference.summary[
            (reference.summary["scenario"] == exp.scenarios[i].name)
            & (reference.summary["replication"] == 0)
        ].iloc[0]
        assert res.summary["arrived"] == row["arrived"]
        assert res.summary["latency_p99_s"] == row["latency_p99_s"]
