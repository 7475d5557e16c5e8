"""Exact M/M/c formulas for capacity estimates (Erlang C and the sojourn-time tail).

Notation: ``lam`` arrival rate (1/s), ``mu`` service rate of one server (1/s),
``c`` servers, ``a = lam/mu`` offered load in Erlangs. FIFO, infinite queue.
Used by ``deploysim plan`` to start its search from the smallest ``c`` the
M/M/c approximation of a scenario says is enough. ``tests/theory.py`` keeps an
independent implementation of the same formulas, so each checks the other.
"""

from __future__ import annotations

import math

__all__ = [
    "erlang_b",
    "erlang_c",
    "mmc_mean_wait",
    "mmc_mean_sojourn",
    "mmc_wait_tail",
    "mmc_sojourn_tail",
    "mmc_quantile",
    "mmc_min_servers",
]


def erlang_b(c: int, a: float) -> float:
    """Blocking probability of M/M/c/c by the stable recursion B(k) = aB(k−1)/(k + aB(k−1))."""
    b = 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    return b


def erlang_c(c: int, a: float) -> float:
    """P(an arrival waits) in M/M/c, C = cB/(c − a(1 − B)); 1 when unstable (a ≥ c)."""
    if a >= c:
        return 1.0
    b = erlang_b(c, a)
    return c * b / (c - a * (1.0 - b))


def mmc_mean_wait(c: int, lam: float, mu: float) -> float:
    """Mean wait in queue Wq = C/(cμ − λ); infinite when unstable."""
    if lam >= c * mu:
        return math.inf
    return erlang_c(c, lam / mu) / (c * mu - lam)


def mmc_mean_sojourn(c: int, lam: float, mu: float) -> float:
    """Mean response time W = Wq + 1/μ."""
    return mmc_mean_wait(c, lam, mu) + 1.0 / mu


def mmc_wait_tail(c: int, lam: float, mu: float, t: float) -> float:
    """P(Wq > t) = C·exp(−(cμ − λ)t) for t ≥ 0 (1 when unstable)."""
    if lam >= c * mu:
        return 1.0
    return erlang_c(c, lam / mu) * math.exp(-(c * mu - lam) * t)


def mmc_sojourn_tail(c: int, lam: float, mu: float, t: float) -> float:
    """P(T > t) for the response time T = Wq + S of M/M/c (FIFO); 1 when unstable.

    Given a wait, Wq ~ Exp(θ) with θ = cμ − λ, so T is the sum of two exponentials.
    """
    if lam >= c * mu:
        return 1.0
    cc = erlang_c(c, lam / mu)
    theta = c * mu - lam
    if math.isclose(theta, mu, rel_tol=1e-9):
        # θ = μ: T | wait ~ Gamma(2, μ).
        return (1.0 - cc) * math.exp(-mu * t) + cc * (1.0 + mu * t) * math.exp(-mu * t)
    mixed = (theta * math.exp(-mu * t) - mu * math.exp(-theta * t)) / (theta - mu)
    return (1.0 - cc) * math.exp(-mu * t) + cc * mixed


def mmc_quantile(c: int, lam: float, mu: float, q: float, *, sojourn: bool = True) -> float:
    """The q-quantile of the response time (``sojourn``) or of the wait, by bisection on
    the exact tail; ``math.inf`` when unstable."""
    if lam >= c * mu:
        return math.inf
    tail = mmc_sojourn_tail if sojourn else mmc_wait_tail
    if tail(c, lam, mu, 0.0) <= 1.0 - q:
        return 0.0  # only the wait can have an atom at 0
    lo, hi = 0.0, 1.0 / mu
    while tail(c, lam, mu, hi) > 1.0 - q:
        hi *= 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if tail(c, lam, mu, mid) > 1.0 - q:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-12 * hi:
            break
    return hi


def mmc_min_servers(
    lam: float,
    mu: float,
    quantiles: dict[float, float],
    mean: float | None = None,
    limit: int = 100_000,
) -> int | None:
    """The smallest c whose M/M/c response time meets every target: ``quantiles`` maps
    q → largest acceptable q-quantile (s), ``mean`` the largest acceptable mean.

    The quantiles and the mean decrease as c grows, so the first c that meets all
    of them is the answer. ``None`` when even ``limit`` servers do not (e.g. a
    target below the service time's own quantile).
    """
    c = max(1, math.floor(lam / mu) + 1)
    while c <= limit:
        ok = all(mmc_quantile(c, lam, mu, q) <= t for q, t in quantiles.items())
        if ok and mean is not None:
            ok = mmc_mean_sojourn(c, lam, mu) <= mean
        if ok:
            return c
        # Past the point where waiting is negligible, more servers cannot help.
        if erlang_c(c, lam / mu) < 1e-12:
            return None
        c += 1
    return None
