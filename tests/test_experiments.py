"""Every experiment in ``experiments/*.yaml`` validates and runs (on a short horizon).

Files are discovered by glob, so a new experiment is covered without editing this test.
A file naming a platform or autoscaler kind that is not registered fails here: intended.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.config import Experiment
from simulator.engine import run_one
from simulator.loading import InputError, load_experiment

REPO = Path(__file__).resolve().parents[1]
EXPERIMENTS = sorted((REPO / "experiments").glob("*.yaml"))
SHORT_HORIZON_S = 20.0


def test_experiments_are_discovered() -> None:
    assert REPO / "experiments" / "mmc-validation.yaml" in EXPERIMENTS


def _load(path: Path, overrides: list[str] | None = None) -> Experiment:
    try:
        return load_experiment(path, overrides)
    except InputError as exc:  # show every problem, one per line
        pytest.fail("\n".join(exc.problems), pytrace=False)


@pytest.mark.parametrize("path", EXPERIMENTS, ids=[p.name for p in EXPERIMENTS])
def test_experiment_validates(path: Path) -> None:
    exp = _load(path)
    assert exp.scenarios


@pytest.mark.parametrize("path", EXPERIMENTS, ids=[p.name for p in EXPERIMENTS])
def test_experiment_runs_on_a_short_horizon(path: Path) -> None:
    full = _load(path)
    horizon = min(full.horizon, SHORT_HORIZON_S)
    exp = _load(path, [f"horizon={horizon}s", "warmup=0s", "replications=1"])
    assert exp.horizon == horizon and exp.warmup == 0 and exp.replications == 1
    for i, scenario in enumerate(exp.scenarios):
        s = run_one(exp, i, 0).summary
        assert s["scenario"] == scenario.name
        assert s["arrived"] == s["completed"] + s["dropped"] + s["timed_out"] + s["in_flight"], (
            scenario.name,
            s,
        )
        assert s["arrived"] >= 0 and s["completed"] >= 0
