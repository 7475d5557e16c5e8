"""Student t quantiles and confidence bounds across replications (no scipy).

``summary_ci.csv`` uses the two-sided 95 % half-width; ``deploysim plan`` uses a
one-sided bound at any confidence, so it needs the t quantile at any level.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["t_ppf", "t_upper_tail", "incomplete_beta", "half_width", "one_sided_bound"]


def _beta_cf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 1000):
        m2 = 2 * m
        for num in (
            m * (b - m) * x / ((qam + m2) * (a + m2)),
            -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2)),
        ):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h


def incomplete_beta(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta I_x(a, b)."""
    if x <= 0.0 or x >= 1.0:
        return max(0.0, min(1.0, x))
    front = math.exp(
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_cf(a, b, x) / a
    return 1.0 - front * _beta_cf(b, a, 1.0 - x) / b


def t_upper_tail(t: float, df: float) -> float:
    """P(T > t) for t ≥ 0, Student t with ``df`` degrees of freedom (``math.inf``: normal)."""
    if math.isinf(df):
        return 0.5 * math.erfc(t / math.sqrt(2.0))
    return 0.5 * incomplete_beta(df / 2.0, 0.5, df / (df + t * t))


def t_ppf(p: float, df: float) -> float:
    """The p-quantile of Student's t with ``df`` degrees of freedom (0.5 < p < 1)."""
    if not 0.5 <= p < 1.0:
        raise ValueError(f"need 0.5 <= p < 1 (got {p})")
    if df <= 0:
        raise ValueError(f"degrees of freedom must be positive (got {df})")
    alpha = 1.0 - p
    lo, hi = 0.0, 1.0
    while t_upper_tail(hi, df) > alpha:
        lo, hi = hi, hi * 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if t_upper_tail(mid, df) > alpha:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-12 * hi:
            break
    return 0.5 * (lo + hi)


def _mean_sd(values: Sequence[float]) -> tuple[float, float]:
    n = len(values)
    mean = math.fsum(values) / n
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else math.nan
    return mean, sd


def half_width(values: Sequence[float], confidence: float = 0.95) -> float:
    """Two-sided confidence half-width of the mean: t((1+γ)/2, R−1)·sd/√R (NaN if R < 2)."""
    n = len(values)
    if n < 2:
        return math.nan
    _, sd = _mean_sd(values)
    return t_ppf(0.5 + confidence / 2.0, n - 1) * sd / math.sqrt(n)


def one_sided_bound(values: Sequence[float], confidence: float, upper: bool) -> float:
    """One-sided confidence bound of the mean: mean ± t(γ, R−1)·sd/√R (upper or lower).

    With one replication there is no spread to estimate: the bound is infinite
    (on the unfavourable side), so no claim is made from a single run.
    """
    n = len(values)
    mean, sd = _mean_sd(values)
    if n < 2 or math.isnan(sd):
        return math.inf if upper else -math.inf
    margin = t_ppf(confidence, n - 1) * sd / math.sqrt(n)
    return mean + margin if upper else mean - margin
