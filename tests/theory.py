"""Exact queueing formulas and a Student-t quantile, for validating the simulator.

Plain functions on floats (``math`` and ``numpy`` only, no scipy). Notation as in
``control-loops-and-queueing.md`` §5.1: ``c`` servers, ``a = λ/μ`` offered load in
Erlangs, ``ρ = a/c``; unless a ``mu`` argument is given, times are in units of the
mean service time ``E[S] = 1/μ``.
"""

from __future__ import annotations

import math

import numpy as np

from simulator.stats import incomplete_beta, t_ppf, t_upper_tail

__all__ = [
    "erlang_b",
    "erlang_b_direct",
    "erlang_c",
    "erlang_c_direct",
    "mmc_p_wait",
    "mmc_wq",
    "mmc_lq",
    "mmc_wait_tail",
    "mmc_sojourn_tail",
    "mmc_sojourn_quantile",
    "mmck_probabilities",
    "mmck_blocking",
    "mmck_metrics",
    "pk_wq",
    "md1_wq",
    "mm1_sojourn_quantile",
    "regularized_incomplete_beta",
    "t_two_sided_tail",
    "t_quantile",
]


# -- Erlang B / C -----------------------------------------------------------------------------


def erlang_b(c: int, a: float) -> float:
    """Blocking probability of M/M/c/c, by the stable recursion B(k) = aB(k−1)/(k + aB(k−1))."""
    if c < 0 or a < 0:
        raise ValueError("need c >= 0 and a >= 0")
    b = 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    return b


def erlang_b_direct(c: int, a: float) -> float:
    """Erlang B from its definition (a^c/c!) / Σ_{k≤c} a^k/k! (for self-checks only)."""
    terms = [a**k / math.factorial(k) for k in range(c + 1)]
    return terms[-1] / math.fsum(terms)


def erlang_c(c: int, a: float) -> float:
    """Probability that an arrival waits in M/M/c (needs a < c): C = cB / (c − a(1 − B))."""
    if not 0 <= a < c:
        raise ValueError(f"M/M/c is unstable unless a < c (got c={c}, a={a})")
    b = erlang_b(c, a)
    return c * b / (c - a * (1.0 - b))


def erlang_c_direct(c: int, a: float) -> float:
    """Erlang C from [a^c/(c!(1−ρ))] / [Σ_{k<c} a^k/k! + a^c/(c!(1−ρ))] (for self-checks)."""
    rho = a / c
    top = a**c / (math.factorial(c) * (1.0 - rho))
    return top / (math.fsum(a**k / math.factorial(k) for k in range(c)) + top)


def mmc_p_wait(c: int, rho: float) -> float:
    """P(an arrival waits) in M/M/c at utilisation ρ (Erlang C with a = cρ)."""
    return erlang_c(c, c * rho)


def mmc_wq(c: int, rho: float, mu: float = 1.0) -> float:
    """Mean wait in queue of M/M/c: Wq = C/(cμ − λ)."""
    lam = c * rho * mu
    return erlang_c(c, c * rho) / (c * mu - lam)


def mmc_lq(c: int, rho: float) -> float:
    """Mean queue length of M/M/c: Lq = λWq = Cρ/(1 − ρ)."""
    return erlang_c(c, c * rho) * rho / (1.0 - rho)


def mmc_wait_tail(c: int, rho: float, t: float, mu: float = 1.0) -> float:
    """P(Wq > t) = C·exp(−(cμ − λ)t) for t ≥ 0."""
    return erlang_c(c, c * rho) * math.exp(-(c * mu - c * rho * mu) * t)


def mmc_sojourn_tail(c: int, rho: float, t: float, mu: float = 1.0) -> float:
    """P(T > t) for the sojourn time T = Wq + S of M/M/c (FIFO)."""
    cc = erlang_c(c, c * rho)
    theta = c * mu - c * rho * mu
    if math.isclose(theta, mu):
        # Limit θ → μ: Wq | wait ~ Exp(μ), so T | wait ~ Gamma(2, μ).
        return (1.0 - cc) * math.exp(-mu * t) + cc * (1.0 + mu * t) * math.exp(-mu * t)
    mixed = (theta * math.exp(-mu * t) - mu * math.exp(-theta * t)) / (theta - mu)
    return (1.0 - cc) * math.exp(-mu * t) + cc * mixed


def mmc_sojourn_quantile(c: int, rho: float, q: float, mu: float = 1.0) -> float:
    """The q-quantile of the M/M/c sojourn time (bisection on the exact tail)."""
    lo, hi = 0.0, 1.0 / mu
    while mmc_sojourn_tail(c, rho, hi, mu) > 1.0 - q:
        hi *= 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mmc_sojourn_tail(c, rho, mid, mu) > 1.0 - q:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def mm1_sojourn_quantile(lam: float, mu: float, q: float) -> float:
    """M/M/1 sojourn time is Exp(μ − λ): its q-quantile is −ln(1 − q)/(μ − λ)."""
    return -math.log1p(-q) / (mu - lam)


# -- M/M/c/K ----------------------------------------------------------------------------------


def mmck_probabilities(c: int, k: int, a: float) -> np.ndarray:
    """Stationary p_0..p_K of M/M/c/K (K = most in system): p_n ∝ a^n/n! (n ≤ c), then ×ρ."""
    if k < c:
        raise ValueError(f"need K >= c (got c={c}, K={k})")
    terms = np.empty(k + 1)
    terms[0] = 1.0
    for n in range(1, k + 1):
        terms[n] = terms[n - 1] * a / min(n, c)
    return terms / terms.sum()


def mmck_blocking(c: int, k: int, rho: float) -> float:
    """P(an arrival is blocked) = p_K in M/M/c/K with ρ = λ/(cμ) (any ρ ≥ 0: K is finite)."""
    return float(mmck_probabilities(c, k, c * rho)[-1])


def mmck_metrics(c: int, k: int, rho: float) -> dict[str, float]:
    """Blocking, throughput/μ, L, W, Wq (accepted, units of E[S]) and P(wait | accepted)."""
    p = mmck_probabilities(c, k, c * rho)
    lam = c * rho
    n = np.arange(k + 1)
    block = float(p[-1])
    accepted = lam * (1.0 - block)
    big_l = float((n * p).sum())
    lq = float((np.maximum(n - c, 0) * p).sum())
    return {
        "block": block,
        "throughput": accepted,
        "L": big_l,
        "W": big_l / accepted,
        "Wq": lq / accepted,
        "p_wait_accepted": float(p[c:k].sum()) / (1.0 - block),
    }


# -- Pollaczek–Khinchine ----------------------------------------------------------------------


def pk_wq(lam: float, es: float, es2: float) -> float:
    """M/G/1 mean wait in queue: Wq = λE[S²] / (2(1 − ρ)), ρ = λE[S]."""
    rho = lam * es
    if not 0 <= rho < 1:
        raise ValueError(f"M/G/1 is unstable unless ρ < 1 (got {rho})")
    return lam * es2 / (2.0 * (1.0 - rho))


def md1_wq(rho: float, service: float = 1.0) -> float:
    """M/D/1 mean wait in queue: ρ/(2(1 − ρ))·D (half the M/M/1 wait)."""
    return pk_wq(rho / service, service, service * service)


# -- Student t --------------------------------------------------------------------------------


def regularized_incomplete_beta(a: float, b: float, x: float) -> float:
    """I_x(a, b) for a, b > 0 and 0 ≤ x ≤ 1 (the library's, checked in test_theory)."""
    if not 0.0 <= x <= 1.0:
        raise ValueError(f"x must be in [0, 1] (got {x})")
    return incomplete_beta(a, b, x)


def t_two_sided_tail(t: float, df: float) -> float:
    """P(|T| > t) for Student's t with ``df`` degrees of freedom (``math.inf``: normal)."""
    return 2.0 * t_upper_tail(abs(t), df)


def t_quantile(confidence: float, df: float) -> float:
    """Two-sided critical value t_{(1+γ)/2, df}: P(|T| ≤ t) = γ."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1) (got {confidence})")
    return t_ppf((1.0 + confidence) / 2.0, df)
