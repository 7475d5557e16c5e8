"""The exact formulas in ``tests/theory.py`` against the §5.2 reference tables and self-checks.

Reference: ``/work/shared/reference/control-loops-and-queueing.md`` §5.1 (formulas and
self-checks) and §5.2 (exact tables, printed to 6 decimals for probabilities and means,
4 decimals for percentiles).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from theory import (
    erlang_b,
    erlang_b_direct,
    erlang_c,
    erlang_c_direct,
    md1_wq,
    mm1_sojourn_quantile,
    mmc_lq,
    mmc_p_wait,
    mmc_sojourn_quantile,
    mmc_sojourn_tail,
    mmc_wait_tail,
    mmc_wq,
    mmck_blocking,
    mmck_metrics,
    mmck_probabilities,
    pk_wq,
    regularized_incomplete_beta,
    t_quantile,
    t_two_sided_tail,
)

# §5.2: c, ρ, P(wait), Wq, W, Lq, Wq p95, W p95, W p99, Erlang B(c, a).
MMC_TABLE = [
    (1, 0.5, 0.500000, 1.000000, 2.000000, 0.500000, 4.6052, 5.9915, 9.2103, 0.333333),
    (1, 0.8, 0.800000, 4.000000, 5.000000, 3.200000, 13.8629, 14.9787, 23.0259, 0.444444),
    (1, 0.9, 0.900000, 9.000000, 10.000000, 8.100000, 28.9037, 29.9573, 46.0517, 0.473684),
    (1, 0.95, 0.950000, 19.000000, 20.000000, 18.050000, 58.8888, 59.9146, 92.1034, 0.487179),
    (2, 0.5, 0.333333, 0.333333, 1.333333, 0.333333, 1.8971, 3.8165, 5.6660, 0.200000),
    (2, 0.8, 0.711111, 1.777778, 2.777778, 2.844444, 6.6370, 7.9107, 11.9374, 0.329897),
    (2, 0.9, 0.852632, 4.263158, 5.263158, 7.673684, 14.1815, 15.2972, 23.3444, 0.366516),
    (2, 0.95, 0.925641, 9.256410, 10.256410, 17.587179, 29.1846, 30.2382, 46.3326, 0.383634),
    (5, 0.5, 0.130371, 0.052149, 1.052149, 0.130371, 0.3833, 3.0783, 4.6884, 0.069731),
    (5, 0.8, 0.554113, 0.554113, 1.554113, 2.216450, 2.4053, 4.1975, 6.0797, 0.199067),
    (5, 0.9, 0.762493, 1.524986, 2.524986, 6.862439, 5.4491, 6.8125, 10.0498, 0.243021),
    (5, 0.95, 0.877799, 3.511196, 4.511196, 16.678181, 11.4616, 12.6123, 19.0501, 0.264253),
    (10, 0.5, 0.036105, 0.007221, 1.007221, 0.036105, 0.0000, 3.0047, 4.6142, 0.018385),
    (10, 0.8, 0.409180, 0.204590, 1.204590, 1.636721, 1.0511, 3.3283, 4.9461, 0.121661),
    (10, 0.9, 0.668732, 0.668732, 1.668732, 6.018584, 2.5934, 4.3609, 6.2499, 0.167963),
    (10, 0.95, 0.825586, 1.651171, 2.651171, 15.686126, 5.6081, 6.9701, 10.2085, 0.191379),
]

# §5.2 M/D/1: ρ, P(wait), Wq, W, Lq.
MD1_TABLE = [
    (0.5, 0.5, 0.5, 1.5, 0.25),
    (0.8, 0.8, 2.0, 3.0, 1.6),
    (0.9, 0.9, 4.5, 5.5, 4.05),
    (0.95, 0.95, 9.5, 10.5, 9.025),
]

# §5.2 M/M/c/K: c, K, ρ, P_block, throughput/μ, L, W (accepted), Wq, P(wait | accepted).
MMCK_TABLE = [
    (1, 5, 0.8, 0.088819, 0.728944, 1.868332, 2.563065, 1.563065, 0.702523),
    (1, 5, 0.9, 0.126023, 0.786580, 2.194782, 2.790286, 1.790286, 0.755806),
    (1, 10, 0.9, 0.050814, 0.854268, 3.969441, 4.646601, 3.646601, 0.846466),
    (2, 10, 0.9, 0.054807, 1.701347, 4.281411, 2.516483, 1.516483, 0.767179),
    (5, 10, 0.8, 0.042486, 3.830057, 4.723750, 1.233337, 0.233337, 0.455191),
    (5, 20, 0.9, 0.018282, 4.417730, 8.295822, 1.877847, 0.877847, 0.718263),
    (10, 20, 0.95, 0.046597, 9.057327, 12.070734, 1.332704, 0.332704, 0.655097),
    (1, 10, 1.2, 0.192586, 0.968896, 6.710709, 6.926138, 5.926138, 0.961477),
]

TABLE_6DP = 1e-6  # the table prints 6 decimals: agreement to rounding
TABLE_4DP = 1e-4 * 0.5 + 1e-9  # percentiles print 4 decimals


def _wq_quantile(c: int, rho: float, q: float) -> float:
    """q-quantile of the M/M/c wait in queue: 0 if C ≤ 1 − q, else ln(C/(1 − q))/(cμ − λ)."""
    cc = erlang_c(c, c * rho)
    return max(0.0, math.log(cc / (1.0 - q)) / (c * (1.0 - rho)))


# -- §5.2 table values ------------------------------------------------------------------------


def test_brief_spot_values() -> None:
    assert erlang_c(2, 1.6) == pytest.approx(0.711111, abs=TABLE_6DP)
    assert mmc_wq(10, 0.9) == pytest.approx(0.668732, abs=TABLE_6DP)
    assert erlang_b(5, 4.0) == pytest.approx(0.199067, abs=TABLE_6DP)
    assert mmck_blocking(1, 5, 0.9) == pytest.approx(0.126023, abs=TABLE_6DP)
    assert mmck_blocking(5, 20, 0.9) == pytest.approx(0.018282, abs=TABLE_6DP)


@pytest.mark.parametrize(("c", "rho", "pw", "wq", "w", "lq", "wq95", "w95", "w99", "b"), MMC_TABLE)
def test_mmc_table(
    c: int,
    rho: float,
    pw: float,
    wq: float,
    w: float,
    lq: float,
    wq95: float,
    w95: float,
    w99: float,
    b: float,
) -> None:
    a = c * rho
    assert mmc_p_wait(c, rho) == pytest.approx(pw, abs=TABLE_6DP)
    assert mmc_wq(c, rho) == pytest.approx(wq, abs=TABLE_6DP)
    assert mmc_wq(c, rho) + 1.0 == pytest.approx(w, abs=TABLE_6DP)
    assert mmc_lq(c, rho) == pytest.approx(lq, abs=TABLE_6DP)
    assert erlang_b(c, a) == pytest.approx(b, abs=TABLE_6DP)
    assert _wq_quantile(c, rho, 0.95) == pytest.approx(wq95, abs=TABLE_4DP)
    assert mmc_sojourn_quantile(c, rho, 0.95) == pytest.approx(w95, abs=TABLE_4DP)
    assert mmc_sojourn_quantile(c, rho, 0.99) == pytest.approx(w99, abs=TABLE_4DP)


@pytest.mark.parametrize(("rho", "pw", "wq", "w", "lq"), MD1_TABLE)
def test_md1_table(rho: float, pw: float, wq: float, w: float, lq: float) -> None:
    # P(wait) of any M/G/1 is ρ (PASTA + utilisation); Wq from Pollaczek–Khinchine.
    assert mmc_p_wait(1, rho) == pytest.approx(pw, abs=TABLE_6DP)
    assert md1_wq(rho) == pytest.approx(wq, abs=TABLE_6DP)
    assert md1_wq(rho) + 1.0 == pytest.approx(w, abs=TABLE_6DP)
    assert rho * md1_wq(rho) == pytest.approx(lq, abs=TABLE_6DP)  # Little: Lq = λWq
    assert md1_wq(rho) == pytest.approx(0.5 * mmc_wq(1, rho), rel=1e-12)


@pytest.mark.parametrize(("c", "k", "rho", "block", "thr", "big_l", "w", "wq", "pwa"), MMCK_TABLE)
def test_mmck_table(
    c: int,
    k: int,
    rho: float,
    block: float,
    thr: float,
    big_l: float,
    w: float,
    wq: float,
    pwa: float,
) -> None:
    m = mmck_metrics(c, k, rho)
    assert mmck_blocking(c, k, rho) == pytest.approx(block, abs=TABLE_6DP)
    assert m["block"] == pytest.approx(block, abs=TABLE_6DP)
    assert m["throughput"] == pytest.approx(thr, abs=TABLE_6DP)
    assert m["L"] == pytest.approx(big_l, abs=TABLE_6DP)
    assert m["W"] == pytest.approx(w, abs=TABLE_6DP)
    assert m["Wq"] == pytest.approx(wq, abs=TABLE_6DP)
    assert m["p_wait_accepted"] == pytest.approx(pwa, abs=TABLE_6DP)


# -- §5.1 self-checks -------------------------------------------------------------------------


@pytest.mark.parametrize(("c", "rho"), [(row[0], row[1]) for row in MMC_TABLE])
def test_recursion_matches_direct_sum(c: int, rho: float) -> None:
    a = c * rho
    assert erlang_b(c, a) == pytest.approx(erlang_b_direct(c, a), rel=0, abs=1e-12)
    assert erlang_c(c, a) == pytest.approx(erlang_c_direct(c, a), rel=0, abs=1e-12)


@pytest.mark.parametrize("rho", [0.05, 0.3, 0.5, 0.8, 0.9, 0.95, 0.999])
def test_erlang_c_single_server_is_rho(rho: float) -> None:
    assert erlang_c(1, rho) == pytest.approx(rho, abs=1e-15)
    assert mmc_wq(1, rho) == pytest.approx(rho / (1.0 - rho), rel=1e-12)


def test_small_closed_forms() -> None:
    assert erlang_c(2, 1.0) == pytest.approx(1.0 / 3.0, abs=1e-15)
    assert erlang_b(1, 1.0) == pytest.approx(0.5, abs=1e-15)
    assert erlang_b(2, 1.0) == pytest.approx(0.2, abs=1e-15)
    assert erlang_b(0, 3.0) == 1.0


@pytest.mark.parametrize("c", [1, 2, 5, 10, 30])
@pytest.mark.parametrize("rho", [0.2, 0.8, 1.0, 1.5])
def test_mmck_with_k_equal_c_is_erlang_b(c: int, rho: float) -> None:
    assert mmck_blocking(c, c, rho) == pytest.approx(erlang_b(c, c * rho), rel=1e-12)


def test_mmck_tends_to_mmc_for_large_k() -> None:
    p = mmck_probabilities(5, 400, 4.0)
    assert p.sum() == pytest.approx(1.0, abs=1e-12)
    assert p[5:].sum() == pytest.approx(erlang_c(5, 4.0), abs=1e-12)  # P(n ≥ c) = C
    m = mmck_metrics(5, 400, 0.8)
    assert m["Wq"] == pytest.approx(mmc_wq(5, 0.8), rel=1e-9)


def test_erlang_b_large_c_is_stable() -> None:
    # The recursion has no factorials: c = 1000 is fine where the direct sum overflows.
    b = erlang_b(1000, 950.0)
    assert 0.0 < b < 1.0
    assert math.isfinite(erlang_c(1000, 950.0))


def test_unstable_inputs_are_rejected() -> None:
    with pytest.raises(ValueError):
        erlang_c(2, 2.0)
    with pytest.raises(ValueError):
        pk_wq(1.0, 1.0, 1.0)
    with pytest.raises(ValueError):
        mmck_probabilities(5, 4, 1.0)


def test_pk_with_exponential_service_is_mm1() -> None:
    # Exponential service: E[S²] = 2E[S]², so P-K gives the M/M/1 wait.
    for rho in (0.3, 0.8, 0.9):
        assert pk_wq(rho, 1.0, 2.0) == pytest.approx(mmc_wq(1, rho), rel=1e-12)


def test_sojourn_tail() -> None:
    # M/M/1: T ~ Exp(μ − λ).
    for t in (0.0, 1.0, 7.5, 30.0):
        assert mmc_sojourn_tail(1, 0.8, t) == pytest.approx(math.exp(-0.2 * t), rel=1e-12)
    assert mm1_sojourn_quantile(0.8, 1.0, 0.95) == pytest.approx(math.log(20) / 0.2, rel=1e-12)
    assert mm1_sojourn_quantile(0.8, 1.0, 0.99) == pytest.approx(math.log(100) / 0.2, rel=1e-12)
    # θ = cμ − λ = μ exactly (c = 2, ρ = 0.5): the limit form is continuous.
    for t in (0.5, 3.0):
        assert mmc_sojourn_tail(2, 0.5, t) == pytest.approx(
            mmc_sojourn_tail(2, 0.5 + 1e-7, t), rel=1e-5
        )
    assert mmc_wait_tail(5, 0.8, 0.0) == pytest.approx(erlang_c(5, 4.0), rel=1e-15)
    # Mean from the tail (∫ P(T > t) dt) equals W.
    ts = np.linspace(0.0, 200.0, 400_001)
    tail = np.array([mmc_sojourn_tail(5, 0.9, t) for t in ts[::100]])
    mean = float(np.trapezoid(tail, ts[::100]))
    assert mean == pytest.approx(mmc_wq(5, 0.9) + 1.0, rel=1e-4)


# -- Student t --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("confidence", "df", "expected"),
    [
        (0.95, 9, 2.262),
        (0.999, 9, 4.781),
        (0.99, 9, 3.250),
        (0.95, 1, 12.706),
        (0.999, 1, 636.619),
        (0.95, 2, 4.303),
        (0.95, 19, 2.093),
        (0.999, 19, 3.883),
        (0.99, 29, 2.756),
        (0.95, 30, 2.042),
        (0.999, 30, 3.646),
        (0.95, 120, 1.980),
        (0.95, math.inf, 1.960),
        (0.99, math.inf, 2.576),
        (0.999, math.inf, 3.291),
    ],
)
def test_t_quantile_known_values(confidence: float, df: float, expected: float) -> None:
    assert t_quantile(confidence, df) == pytest.approx(expected, abs=0.0005 + 1e-9)


@pytest.mark.parametrize("confidence", [0.5, 0.95, 0.99, 0.999])
def test_t_quantile_closed_forms(confidence: float) -> None:
    # df = 1 (Cauchy): tan(πγ/2); df = 2: t² = 2γ²/(1 − γ²).
    assert t_quantile(confidence, 1) == pytest.approx(math.tan(math.pi * confidence / 2), rel=1e-9)
    g2 = confidence * confidence
    assert t_quantile(confidence, 2) == pytest.approx(math.sqrt(2 * g2 / (1 - g2)), rel=1e-9)


@pytest.mark.parametrize("confidence", [0.95, 0.99, 0.999])
def test_t_quantile_is_monotone_in_df_and_tends_to_normal(confidence: float) -> None:
    values = [t_quantile(confidence, df) for df in range(1, 201)]
    assert all(a > b for a, b in zip(values, values[1:], strict=False))
    assert t_quantile(confidence, 1e7) == pytest.approx(t_quantile(confidence, math.inf), rel=1e-6)
    q = t_quantile(confidence, 7)
    assert t_two_sided_tail(q, 7) == pytest.approx(1 - confidence, rel=1e-9)


def test_incomplete_beta() -> None:
    assert regularized_incomplete_beta(1.0, 1.0, 0.3) == pytest.approx(0.3, abs=1e-14)
    assert regularized_incomplete_beta(2.0, 3.0, 0.0) == 0.0
    assert regularized_incomplete_beta(2.0, 3.0, 1.0) == 1.0
    # I_x(a, 1) = x^a and the symmetry I_x(a, b) = 1 − I_{1−x}(b, a).
    assert regularized_incomplete_beta(3.5, 1.0, 0.7) == pytest.approx(0.7**3.5, rel=1e-12)
    assert regularized_incomplete_beta(2.5, 4.0, 0.35) == pytest.approx(
        1 - regularized_incomplete_beta(4.0, 2.5, 0.65), abs=1e-14
    )
