"""Cross-validation: every experiment that fits both serving modes gives the same summary.

For each file in ``experiments/`` (discovered by glob) and each scenario that fits the
fluid model (``misfit`` says why not, in code), the scenario runs once in exact mode and
once in fluid mode over the experiment's first ``REQUESTS`` expected requests (or its
horizon, if shorter), and the summaries must agree within the stated tolerances.

Excluded, with the reason ``misfit`` gives:

* request classes (``workload.classes``): fluid mode keeps one latency shape per pool;
* heterogeneous fixed fleets (``lb-policies``): which instance a request lands on decides
  the result, and fluid mode splits work in aggregate;
* fewer than ``MIN_REQUESTS`` expected requests in that window (``hello-world``,
  ``compose-up``, ``layer-caching``, ``migration``, ``registry-stampede``): at a trickle of
  requests, single requests and the exact instant an instance becomes ready decide.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from simulator.config import Experiment
from simulator.engine import run_one
from simulator.loading import load_experiment

REPO = Path(__file__).resolve().parents[1]
EXPERIMENTS = sorted((REPO / "experiments").glob("*.yaml"))
REQUESTS = 150_000  # expected requests per run: keeps the exact runs to about a second
MIN_REQUESTS = 20_000

# Tolerances (relative), away from the exact-mode-only regime.
TOLERANCE = {
    "latency_mean_s": 0.10,
    "latency_p99_s": 0.20,
    "completed": 0.01,
    "cost_usd": 0.01,
}


def _window(exp: Experiment) -> float:
    """Seconds until ``REQUESTS`` are expected (bisection on the cumulative arrivals)."""
    profile = exp.workload.arrivals
    expected = lambda t: float(profile.mean_rate(0.0, t) * t)  # noqa: E731
    if expected(exp.horizon) <= REQUESTS:
        return exp.horizon
    lo, hi = 0.0, exp.horizon
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if expected(mid) < REQUESTS else (lo, mid)
    return math.ceil(hi)


def misfit(exp: Experiment, scenario_index: int, horizon: float) -> str | None:
    """Why a scenario does not fit the fluid model over ``horizon`` (None: it fits)."""
    if exp.workload.classes:
        return "request classes: fluid mode keeps one latency shape per pool"
    platform = exp.scenarios[scenario_index].platform
    groups = getattr(platform, "instances", None)
    if isinstance(groups, list) and len({(g.speed, g.workers) for g in groups}) > 1:
        return "heterogeneous fleet: per-request routing decides who is overloaded"
    expected = exp.workload.arrivals.mean_rate(0.0, horizon) * horizon
    if expected < MIN_REQUESTS:
        return f"very low load: {expected:.0f} requests expected (< {MIN_REQUESTS})"
    return None


def _cases() -> list[Any]:
    cases = []
    for path in EXPERIMENTS:
        exp = load_experiment(path)
        horizon = _window(exp)
        for i, s in enumerate(exp.scenarios):
            reason = misfit(exp, i, horizon)
            marks = [pytest.mark.skip(reason=reason)] if reason else []
            cases.append(pytest.param(path, i, id=f"{path.stem}:{s.name}", marks=marks))
    return cases


def _summaries(path: Path, i: int) -> tuple[dict[str, Any], dict[str, Any]]:
    exp = load_experiment(path)
    horizon = _window(exp)
    warmup = exp.warmup if exp.warmup < horizon / 2 else 0.0
    common = [f"horizon={horizon}s", f"warmup={warmup}s", "replications=1"]
    out = []
    for mode in ("exact", "fluid"):
        e = load_experiment(path, [*common, f"scenarios[{i}].serving.mode={mode}"])
        out.append(run_one(e, i, 0).summary)
    return out[0], out[1]


@pytest.mark.slow
@pytest.mark.parametrize(("path", "index"), _cases())
def test_fluid_agrees_with_exact(path: Path, index: int) -> None:
    exact, fluid = _summaries(path, index)
    for column, tol in TOLERANCE.items():
        a, b = float(exact[column]), float(fluid[column])
        assert math.isclose(a, b, rel_tol=tol, abs_tol=1e-9), (column, a, b, tol)
    for s in (exact, fluid):
        assert s["arrived"] == s["completed"] + s["dropped"] + s["timed_out"] + s["in_flight"]


def test_the_criterion_excludes_low_load_and_heterogeneous_fleets() -> None:
    reasons = {}
    for path in EXPERIMENTS:
        exp = load_experiment(path)
        horizon = _window(exp)
        reasons[path.stem] = {misfit(exp, i, horizon) for i in range(len(exp.scenarios))}
    assert all(r and r.startswith("very low load") for r in reasons["hello-world"])
    assert all(r and r.startswith("very low load") for r in reasons["migration"])
    assert all(r and r.startswith("heterogeneous") for r in reasons["lb-policies"])
    assert reasons["mmc-validation"] == {None}
    fitting = sum(1 for r in reasons.values() for x in r if x is None)
    assert fitting >= 3, reasons
    assert np.isfinite(REQUESTS)
