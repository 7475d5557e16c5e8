"""Statistical validation of the serving layer against exact queueing theory.

Every check runs the real engine (``simulator.load_experiment`` + ``simulator.run``) on
one fixed instance (``platform: fixed, instances: 1``) with Poisson arrivals, and compares a
summary column with the exact value from ``tests/theory.py`` (reference:
``control-loops-and-queueing.md`` §5):

* M/M/c, c ∈ {1, 2, 5, 10} × ρ ∈ {0.5, 0.8, 0.9}: mean wait Wq (``wait_mean_s``),
  P(wait) = Erlang C (``waited_fraction``) and utilisation ρ (``utilisation_mean``);
  plus Little's law Lq = λ·Wq per replication (both sides measured on the same run).
* M/M/1, ρ = 0.8: sojourn percentiles p95 = ln 20/(μ − λ) and p99 = ln 100/(μ − λ).
* M/M/c/K (``queue_limit = K − c``): blocking P_K (``dropped / arrived``) and the mean wait
  of accepted requests, including the overload cell ρ = 1.2 and the Erlang B loss system
  M/M/5/5 (``queue_limit: 0``).
* M/D/1 (``service_time: fixed``), ρ ∈ {0.5, 0.8}: Pollaczek–Khinchine Wq and P(wait) = ρ.

Method. Each cell runs R = 20 independent replications (the experiment's ``replications``:
streams are spawned per replication from the root seed), each with a warm-up of 500 mean
service times excluded from the statistics; one per-replication estimate per replication,
then the Student-t interval of their mean, ``mean ± t_{(1+γ)/2, R−1}·s/√R``. The exact value
must lie inside. Initial-state bias: starting empty, the transient decays with the relaxation
time (≈ 380 s at M/M/1 ρ = 0.9, less elsewhere); with the warm-up the residual bias is well
under 1 % of Wq, small against the half-widths. Heavy-traffic means are right-skewed
(§5.4–5.5), so ρ = 0.9 cells use ≥ 50,000 requests per replication.

Why γ = 0.999 per assertion: the file makes 51 interval assertions (12 M/M/c cells × 3,
2 percentiles, 5 blockings, 4 accepted-request waits, 2 M/D/1 cells × 2). With 99.9 % each,
the union bound keeps the family-wise false-alarm rate of a correct simulator ≤ 5.1 %
(~30 such assertions would give ≈ 3 %; checks within a cell are positively correlated, which
only lowers the real rate), while at 95 % each a false alarm would be likely (≈ 90 %). The
seeds are fixed, so the outcome is reproducible run to run, but the tolerance is
statistical, not pinned to the numbers one seed happens to produce: a seed change should
pass with that probability. Every interval must also be reasonably tight (relative
half-width < 15 % for means and percentiles, < 0.03 absolute for P(wait), < 0.02 for
utilisation, < 0.01 for blocking), so a check cannot pass vacuously with a huge interval.

Budget: the engine simulates ~150–230 k requests per CPU second here; the whole file
simulates about 12 M requests (≈ 55 s CPU on the 2-core dev VM). Each test runs its own
experiment (the percentile test reuses the cached M/M/1 ρ = 0.8 run when it is in the same
process), so the file splits cleanly across ``pytest -n`` workers.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest
from theory import (
    md1_wq,
    mm1_sojourn_quantile,
    mmc_p_wait,
    mmc_wq,
    mmck_metrics,
    t_quantile,
)

import simulator

pytestmark = pytest.mark.slow

GAMMA = 0.999
REPLICATIONS = 20
WARMUP_S = 500.0  # = 500 mean service times (E[S] = 1 s)
BASE_SEED = 20_251_128

MAX_REL_HALF_WIDTH = 0.15
MAX_ABS_HALF_WIDTH_PWAIT = 0.03
MAX_ABS_HALF_WIDTH_UTIL = 0.02
MAX_ABS_HALF_WIDTH_BLOCK = 0.01
LITTLE_REL_TOL = 0.02
# A reported percentile is the geometric middle of a 2 % log bucket that holds the sample
# quantile: it is within a factor √1.02 (≤ 0.995 %) of it, whatever the request count.
HISTOGRAM_REL_ERROR = 0.01

EXPONENTIAL_1S = {"kind": "exponential", "mean": "1s"}
FIXED_1S = {"kind": "fixed", "value": "1s"}

# (c, ρ) → requests per replication after the warm-up. Sized from the run-to-run spread of
# §5.5 (SD ∝ 1/√N) so the 99.9 % half-width of Wq is ~5–11 %; M/M/1 ρ = 0.8 is longer
# because its p99 is also checked.
MMC_REQUESTS: dict[tuple[int, float], int] = {
    (1, 0.5): 10_000,
    (1, 0.8): 40_000,
    (1, 0.9): 50_000,
    (2, 0.5): 10_000,
    (2, 0.8): 20_000,
    (2, 0.9): 50_000,
    (5, 0.5): 20_000,
    (5, 0.8): 30_000,
    (5, 0.9): 60_000,
    (10, 0.5): 60_000,
    (10, 0.8): 40_000,
    (10, 0.9): 60_000,
}


# -- statistics -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Interval:
    """Student-t confidence interval of the mean of per-replication estimates."""

    mean: float
    half_width: float
    n: int

    def contains(self, value: float, slack: float = 0.0) -> bool:
        return abs(self.mean - value) <= self.half_width + slack

    def __str__(self) -> str:
        return f"{self.mean:.6g} ± {self.half_width:.3g} (n={self.n}, γ={GAMMA})"


def student_interval(samples: pd.Series | np.ndarray, gamma: float = GAMMA) -> Interval:
    """mean ± t_{(1+γ)/2, n−1}·s/√n over independent replications."""
    x = np.asarray(samples, dtype=float)
    if x.size < 2 or not np.all(np.isfinite(x)):
        raise ValueError(f"need ≥ 2 finite per-replication estimates, got {x.tolist()}")
    half = t_quantile(gamma, x.size - 1) * float(x.std(ddof=1)) / math.sqrt(x.size)
    return Interval(float(x.mean()), half, int(x.size))


def check_interval(
    problems: list[str],
    label: str,
    samples: pd.Series | np.ndarray,
    exact: float,
    *,
    max_half_width: float,
    relative: bool,
    slack: float = 0.0,
) -> Interval:
    """Record a problem if ``exact`` is outside the interval (± ``slack``) or it is too wide."""
    ci = student_interval(samples)
    if not ci.contains(exact, slack):
        extra = f" + {slack:.3g} histogram slack" if slack else ""
        problems.append(f"{label}: exact {exact:.6g} outside {ci}{extra}")
    width = ci.half_width / abs(exact) if relative else ci.half_width
    if not width < max_half_width:
        kind = "relative" if relative else "absolute"
        problems.append(
            f"{label}: {kind} half-width {width:.3g} ≥ {max_half_width} ({ci}): too loose to test"
        )
    return ci


def fail_if(problems: list[str], header: str) -> None:
    if problems:
        pytest.fail(header + "\n  " + "\n  ".join(problems), pytrace=False)


# -- experiments ------------------------------------------------------------------------------


def scenario(name: str, workers: int, queue_limit: int | None = None) -> dict[str, Any]:
    serving: dict[str, Any] = {"workers": workers}
    if queue_limit is not None:
        serving["queue_limit"] = queue_limit
    return {"name": name, "platform": {"kind": "fixed", "instances": 1}, "serving": serving}


def experiment(
    name: str,
    rate: float,
    requests: int,
    scenarios: list[dict[str, Any]],
    *,
    seed: int,
    service: dict[str, str] = EXPONENTIAL_1S,
) -> simulator.Experiment:
    """Poisson arrivals at ``rate``/s for ``requests`` expected arrivals after the warm-up."""
    return simulator.load_experiment(
        {
            "name": name,
            "seed": seed,
            "horizon": f"{WARMUP_S + requests / rate:.6f}s",
            "warmup": f"{WARMUP_S}s",
            "replications": REPLICATIONS,
            "workload": {
                "arrivals": {"kind": "constant", "rate": f"{rate}/s"},
                "service_time": service,
            },
            "scenarios": scenarios,
        }
    )


def run_summary(exp: simulator.Experiment) -> pd.DataFrame:
    summary = simulator.run(exp).summary
    assert len(summary) == REPLICATIONS * len(exp.scenarios)
    assert summary["replication"].nunique() == REPLICATIONS
    return summary


@functools.cache
def mmc_summary(c: int, rho: float) -> pd.DataFrame:
    """The M/M/c cell's replications (cached: the percentile test reuses M/M/1 ρ = 0.8)."""
    seed = BASE_SEED + 100 * c + round(100 * rho)
    exp = experiment(
        f"mmc-{c}-{rho}", c * rho, MMC_REQUESTS[(c, rho)], [scenario("mmc", c)], seed=seed
    )
    return run_summary(exp)


# -- M/M/c ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("c", "rho"), list(MMC_REQUESTS), ids=[f"c{c}-rho{rho}" for c, rho in MMC_REQUESTS]
)
def test_mmc_wait_pwait_utilisation(c: int, rho: float) -> None:
    s = mmc_summary(c, rho)
    lam = c * rho
    problems: list[str] = []
    if (s["dropped"] != 0).any() or (s["timed_out"] != 0).any():
        problems.append("unbounded queue without timeout dropped or timed out requests")
    if (s["in_flight"] > 0.05 * s["arrived"]).any():
        problems.append(f"implausible in-flight counts at the horizon: {s['in_flight'].tolist()}")

    check_interval(
        problems,
        "Wq (wait_mean_s)",
        s["wait_mean_s"],
        mmc_wq(c, rho),
        max_half_width=MAX_REL_HALF_WIDTH,
        relative=True,
    )
    check_interval(
        problems,
        "P(wait) (waited_fraction)",
        s["waited_fraction"],
        mmc_p_wait(c, rho),
        max_half_width=MAX_ABS_HALF_WIDTH_PWAIT,
        relative=False,
    )
    check_interval(
        problems,
        "utilisation_mean",
        s["utilisation_mean"],
        rho,
        max_half_width=MAX_ABS_HALF_WIDTH_UTIL,
        relative=False,
    )

    # Little's law on each run: time-average queue length = arrival rate × mean wait, with
    # the arrival rate observed on the same run. Only edge effects (requests straddling the
    # warm-up or the horizon) separate the two sides: ~Wq/T, far below 1 %.
    measured = MMC_REQUESTS[(c, rho)] / lam
    lam_obs = s["arrived"] / measured
    little = s["queue_length_mean"] / (lam_obs * s["wait_mean_s"]) - 1.0
    bad = little[little.abs() > LITTLE_REL_TOL]
    if not bad.empty:
        problems.append(
            "Little's law Lq = λWq off by more than "
            f"{LITTLE_REL_TOL:.0%} in replications {s.loc[bad.index, 'replication'].tolist()}: "
            f"relative errors {bad.round(4).tolist()}"
        )
    fail_if(problems, f"M/M/{c} ρ={rho} (λ={lam:g}/s, μ=1/s, {REPLICATIONS} replications)")


def test_mm1_sojourn_percentiles() -> None:
    """M/M/1 sojourn time is Exp(μ − λ): p95 = ln 20/(μ − λ), p99 = ln 100/(μ − λ).

    The interval is over the per-replication percentiles (each from one run's histogram);
    each reported value is within 1 % of its run's sample quantile (bucket width), a
    deterministic error that the mean inherits, so the tolerance is the t half-width plus
    1 % of the exact value.
    """
    lam, mu = 0.8, 1.0
    s = mmc_summary(1, lam)
    problems: list[str] = []
    for column, q in (("latency_p95_s", 0.95), ("latency_p99_s", 0.99)):
        exact = mm1_sojourn_quantile(lam, mu, q)
        check_interval(
            problems,
            column,
            s[column],
            exact,
            max_half_width=MAX_REL_HALF_WIDTH,
            relative=True,
            slack=HISTOGRAM_REL_ERROR * exact,
        )
    fail_if(problems, "M/M/1 ρ=0.8 sojourn-time percentiles")


# -- M/M/c/K and Erlang B ---------------------------------------------------------------------

# Groups sharing λ run as scenarios of one experiment (common random numbers across them).
# Each entry: (c, K, ρ); queue_limit = K − c requests waiting.
MMCK_GROUPS: dict[str, list[tuple[int, int, float]]] = {
    "mm1k5-rho0.9": [(1, 5, 0.9)],
    "mm2k10-rho0.9": [(2, 10, 0.9)],
    "mm5k10-and-erlangB-mm5k5-rho0.8": [(5, 10, 0.8), (5, 5, 0.8)],
    "mm1k10-rho1.2-overload": [(1, 10, 1.2)],
}
MMCK_REQUESTS = 20_000


@pytest.mark.parametrize("group", list(MMCK_GROUPS))
def test_mmck_blocking(group: str) -> None:
    cells = MMCK_GROUPS[group]
    c0, _, rho0 = cells[0]
    lam = c0 * rho0
    assert all(c * rho == pytest.approx(lam) for c, _, rho in cells)
    seed = BASE_SEED + 10_000 + list(MMCK_GROUPS).index(group)
    scenarios = [scenario(f"c{c}-K{k}", c, k - c) for c, k, _ in cells]
    s = run_summary(experiment(f"mmck-{group}", lam, MMCK_REQUESTS, scenarios, seed=seed))

    problems: list[str] = []
    for c, k, rho in cells:
        label = f"M/M/{c}/{k} ρ={rho}"
        d = s[s["scenario"] == f"c{c}-K{k}"]
        exact = mmck_metrics(c, k, rho)
        if (d["dropped_no_instance"] != 0).any() or (d["timed_out"] != 0).any():
            problems.append(f"{label}: drops with no instance or timeouts on a fixed instance")
        lost = d["arrived"] - d["completed"] - d["dropped"] - d["in_flight"]
        if (lost != 0).any():
            problems.append(f"{label}: conservation broken: {lost.tolist()}")
        if (d["in_flight"] > k).any():
            problems.append(f"{label}: more than K={k} in the system at the horizon")
        check_interval(
            problems,
            f"{label} blocking (dropped/arrived)",
            d["dropped"] / d["arrived"],
            exact["block"],
            max_half_width=MAX_ABS_HALF_WIDTH_BLOCK,
            relative=False,
        )
        if k == c:
            # Loss system: nobody ever waits.
            if (d["wait_mean_s"] != 0).any() or (d["waited_fraction"] != 0).any():
                problems.append(f"{label}: requests waited in a system with queue_limit 0")
        else:
            check_interval(
                problems,
                f"{label} Wq of accepted requests (wait_mean_s)",
                d["wait_mean_s"],
                exact["Wq"],
                max_half_width=MAX_REL_HALF_WIDTH,
                relative=True,
            )
    fail_if(problems, f"{group} (λ={lam:g}/s, μ=1/s, {REPLICATIONS} replications)")


# -- M/D/1 ------------------------------------------------------------------------------------

MD1_REQUESTS = {0.5: 10_000, 0.8: 20_000}


@pytest.mark.parametrize("rho", list(MD1_REQUESTS), ids=[f"rho{r}" for r in MD1_REQUESTS])
def test_md1_pollaczek_khinchine(rho: float) -> None:
    seed = BASE_SEED + 20_000 + round(100 * rho)
    exp = experiment(
        f"md1-{rho}", rho, MD1_REQUESTS[rho], [scenario("md1", 1)], seed=seed, service=FIXED_1S
    )
    s = run_summary(exp)
    problems: list[str] = []
    check_interval(
        problems,
        "Wq (wait_mean_s)",
        s["wait_mean_s"],
        md1_wq(rho),
        max_half_width=MAX_REL_HALF_WIDTH,
        relative=True,
    )
    check_interval(
        problems,
        "P(wait) (waited_fraction)",
        s["waited_fraction"],
        rho,
        max_half_width=MAX_ABS_HALF_WIDTH_PWAIT,
        relative=False,
    )
    # Deterministic service: every sojourn is at least the 1 s service time (the reported
    # median may sit up to one 2 % bucket below it).
    if (s["latency_p50_s"] < 0.98).any():
        problems.append(f"median latency below the fixed service time: {s['latency_p50_s']}")
    fail_if(problems, f"M/D/1 ρ={rho} (λ={rho:g}/s, D=1s, {REPLICATIONS} replications)")
