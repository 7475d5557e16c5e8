"""Workload: arrival-rate profiles (non-homogeneous Poisson) and request classes.

Every profile is a rate function ``rate(t)`` in requests per second. All but
``diurnal`` are piecewise linear and carry their knots; arrivals are generated
by thinning (Lewis & Shedler, 1979) in vectorised blocks: draw a homogeneous
Poisson process at the block's rate bound, keep each point with probability
``rate(t) / bound``. The result is an exact NHPP sample, and the per-request
cost is a few numpy element operations.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import Field, ValidationInfo, model_validator

from simulator.base import Config, ConfigError, resolve_path
from simulator.distributions import Distribution
from simulator.units import Duration, Fraction, Rate, UnitError, parse_duration, parse_rate

__all__ = [
    "Constant",
    "Step",
    "Ramp",
    "Spike",
    "Diurnal",
    "Trace",
    "ArrivalProfile",
    "RequestClass",
    "Workload",
    "arrival_times",
]


class _PiecewiseLinear(Config):
    """A profile defined by knots ``(t_i, r_i)``; constant beyond the last knot."""

    def knots(self) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def rate_at(self, t: np.ndarray) -> np.ndarray:
        """The rate (1/s) at each time in ``t``."""
        xs, ys = self.knots()
        return np.interp(t, xs, ys)

    def bound(self, t0: float, t1: float) -> float:
        """An upper bound of the rate on [t0, t1] (exact: the max over knots and ends)."""
        xs, ys = self.knots()
        # Closed interval: a vertical jump (repeated time) at an end must count its high side.
        inside = ys[(xs >= t0) & (xs <= t1)]
        ends = np.interp([t0, t1], xs, ys)
        return float(max(ends.max(), inside.max() if inside.size else 0.0))

    def cumulative(self, t: np.ndarray) -> np.ndarray:
        """Expected arrivals in [0, t] at each time of ``t`` (exact for linear pieces)."""
        xs, ys = self.knots()
        t = np.asarray(t, dtype=float)
        # Areas of the pieces between knots, then the partial piece up to each t.
        area = np.concatenate(([0.0], np.cumsum(np.diff(xs) * (ys[1:] + ys[:-1]) / 2)))
        i = np.clip(np.searchsorted(xs, t, side="right") - 1, 0, len(xs) - 1)
        x0, y0 = xs[i], ys[i]
        y1 = np.interp(t, xs, ys)
        before = np.minimum(t, xs[0])  # before the first knot the first rate holds
        inside = np.maximum(t - x0, 0.0) * (y0 + y1) / 2
        return area[i] + inside + before * ys[0]

    def mean_rate(self, t0: float, t1: float) -> float:
        """Average rate over [t0, t1] (trapezoidal integration is exact for linear pieces)."""
        if t1 <= t0:
            return float(self.rate_at(np.array([t0]))[0])
        xs, ys = self.knots()
        grid = np.concatenate(([t0], xs[(xs > t0) & (xs < t1)], [t1]))
        return float(np.trapezoid(np.interp(grid, xs, ys), grid) / (t1 - t0))


class Constant(_PiecewiseLinear):
    """Poisson arrivals at a constant ``rate``."""

    kind: Literal["constant"]
    rate: Rate

    def knots(self) -> tuple[np.ndarray, np.ndarray]:
        return np.array([0.0]), np.array([self.rate])


class StepLevel(Config):
    """From time ``at`` on, the rate is ``rate``."""

    at: Duration
    rate: Rate


class Step(_PiecewiseLinear):
    """``initial`` rate, then a jump to each ``steps[i].rate`` at ``steps[i].at``."""

    kind: Literal["step"]
    initial: Rate
    steps: list[StepLevel] = Field(min_length=1)

    @model_validator(mode="after")
    def _sorted(self) -> Step:
        ats = [s.at for s in self.steps]
        if ats != sorted(ats):
            raise ValueError("steps must be in increasing order of 'at'")
        return self

    def knots(self) -> tuple[np.ndarray, np.ndarray]:
        xs, ys = [0.0], [self.initial]
        for s in self.steps:
            # A vertical jump: two knots at (nearly) the same time.
            xs += [max(s.at, xs[-1]), max(s.at, xs[-1]) + 1e-9]
            ys += [ys[-1], s.rate]
        return np.array(xs), np.array(ys)


class Ramp(_PiecewiseLinear):
    """``start_rate`` until ``start``, linear to ``end_rate`` over ``duration``, then flat."""

    kind: Literal["ramp"]
    start_rate: Rate
    end_rate: Rate
    start: Duration = 0.0
    duration: Duration = Field(gt=0)

    def knots(self) -> tuple[np.ndarray, np.ndarray]:
        return (
            np.array([0.0, self.start, self.start + self.duration]),
            np.array([self.start_rate, self.start_rate, self.end_rate]),
        )


class Spike(_PiecewiseLinear):
    """A flash crowd: ``base`` rate, from ``start`` a linear ``rise`` to ``peak``,
    ``hold`` at the peak, a linear ``fall`` back to ``base``."""

    kind: Literal["spike"]
    base: Rate
    peak: Rate
    start: Duration
    rise: Duration = 0.0
    hold: Duration
    fall: Duration = 0.0

    def knots(self) -> tuple[np.ndarray, np.ndarray]:
        t1 = self.start + max(self.rise, 1e-9)
        t2 = t1 + self.hold
        t3 = t2 + max(self.fall, 1e-9)
        return (
            np.array([0.0, self.start, t1, t2, t3]),
            np.array([self.base, self.base, self.peak, self.peak, self.base]),
        )


class Diurnal(Config):
    """A daily cycle: ``min + (max - min) * (1 + cos(2π (t - phase) / period)) / 2``.

    The rate peaks at ``t = phase`` (mod ``period``) and bottoms out half a period later.
    Two optional factors multiply it, for long horizons:

    * ``weekly``: ``1 − weekly · (1 − cos(2π (t − weekly_phase) / 7 d)) / 2`` — 1 at
      ``weekly_phase`` (the busiest day), ``1 − weekly`` half a week later (the weekend);
    * ``growth``: ``growth^(t / growth_over)`` — compound growth, reaching ``growth`` times
      the initial traffic at ``growth_over`` (5× over 365 d is ≈ 14 % a month).

    ``mean_rate`` is the exact integral (each product term is ``e^(kt)·cos(ωt + φ)``).
    """

    kind: Literal["diurnal"]
    period: Duration = Field(default=86400.0, gt=0)
    min: Rate
    max: Rate
    phase: Duration = 0.0
    weekly: Fraction = Field(
        default=0.0, ge=0, lt=1, description="weekly dip: the weekend trough is this much lower"
    )
    weekly_phase: Duration = Field(default=0.0, description="the busiest moment of the week")
    growth: float = Field(default=1.0, gt=0, description="traffic multiplier at growth_over")
    growth_over: Duration | None = Field(
        default=None, gt=0, description="time to reach growth× (compound growth)"
    )

    @model_validator(mode="after")
    def _ordered(self) -> Diurnal:
        if self.max < self.min:
            raise ValueError("max must be >= min")
        if self.growth != 1.0 and self.growth_over is None:
            raise ValueError("growth needs growth_over (the time to reach it)")
        return self

    @property
    def _plain(self) -> bool:
        return self.weekly == 0.0 and self.growth == 1.0

    @property
    def _k(self) -> float:
        """Growth exponent per second."""
        if self.growth == 1.0 or self.growth_over is None:
            return 0.0
        return math.log(self.growth) / self.growth_over

    def rate_at(self, t: np.ndarray) -> np.ndarray:
        """The rate (1/s) at each time in ``t``."""
        w = 2 * math.pi / self.period
        r = self.min + (self.max - self.min) * (1 + np.cos(w * (t - self.phase))) / 2
        if self._plain:
            return r
        ww = 2 * math.pi / WEEK_S
        weekly = 1 - self.weekly * (1 - np.cos(ww * (np.asarray(t) - self.weekly_phase))) / 2
        return r * weekly * np.exp(self._k * np.asarray(t))

    def bound(self, t0: float, t1: float) -> float:
        # Between peaks the curve is monotone on each half period, so the max on
        # [t0, t1] is at an end unless a peak lies inside.
        k = math.ceil((t0 - self.phase) / self.period)
        if self.phase + k * self.period <= t1:
            daily = self.max
        else:
            daily = float(self.rate_at_plain(np.array([t0, t1])).max())
        if self._plain:
            return daily
        # A product of nonnegative factors is at most the product of their maxima.
        kw = math.ceil((t0 - self.weekly_phase) / WEEK_S)
        if self.weekly_phase + kw * WEEK_S <= t1:
            weekly = 1.0
        else:
            ww = 2 * math.pi / WEEK_S
            weekly = max(
                1 - self.weekly * (1 - math.cos(ww * (t - self.weekly_phase))) / 2 for t in (t0, t1)
            )
        growth = max(math.exp(self._k * t0), math.exp(self._k * t1))
        return daily * weekly * growth

    def rate_at_plain(self, t: np.ndarray) -> np.ndarray:
        """The daily cycle alone (no weekly or growth factor)."""
        w = 2 * math.pi / self.period
        return self.min + (self.max - self.min) * (1 + np.cos(w * (t - self.phase))) / 2

    def mean_rate(self, t0: float, t1: float) -> float:
        if t1 <= t0:
            return float(self.rate_at(np.array([t0]))[0])
        w = 2 * math.pi / self.period
        if self._plain:
            integral_cos = (math.sin(w * (t1 - self.phase)) - math.sin(w * (t0 - self.phase))) / w
            amp = (self.max - self.min) / 2
            return self.min + amp + amp * integral_cos / (t1 - t0)
        k = self._k
        total = 0.0
        for amp, omega, phi in self._terms():
            hi = _exp_cos_primitive(k, omega, phi, t1)
            total += amp * (hi - _exp_cos_primitive(k, omega, phi, t0))
        return total / (t1 - t0)

    def cumulative(self, t: np.ndarray) -> np.ndarray:
        """Expected arrivals in [0, t] at each time of ``t`` (exact)."""
        t = np.asarray(t, dtype=float)
        k = self._k
        out = np.zeros_like(t)
        for amp, omega, phi in self._terms():
            if k == 0.0:
                if omega == 0.0:
                    out += amp * (math.cos(phi) * t)
                    continue
                out += amp * (np.sin(omega * t + phi) - math.sin(phi)) / omega
                continue
            x = omega * t + phi
            prim = np.exp(k * t) * (k * np.cos(x) + omega * np.sin(x)) / (k * k + omega * omega)
            out += amp * (prim - _exp_cos_primitive(k, omega, phi, 0.0))
        return out

    def _terms(self) -> list[tuple[float, float, float]]:
        """The rate without growth as a sum of ``amp · cos(ω t + φ)``."""
        c0, c1 = (self.max + self.min) / 2, (self.max - self.min) / 2
        e0, e1 = 1 - self.weekly / 2, self.weekly / 2
        wd, ww = 2 * math.pi / self.period, 2 * math.pi / WEEK_S
        pd, pw = -wd * self.phase, -ww * self.weekly_phase
        return [
            (c0 * e0, 0.0, 0.0),
            (c1 * e0, wd, pd),
            (c0 * e1, ww, pw),
            (c1 * e1 / 2, wd + ww, pd + pw),
            (c1 * e1 / 2, wd - ww, pd - pw),
        ]


WEEK_S = 7 * 86400.0


def _exp_cos_primitive(k: float, omega: float, phi: float, t: float) -> float:
    """A primitive of ``e^(k t) · cos(ω t + φ)``."""
    if k == 0.0:
        if omega == 0.0:
            return math.cos(phi) * t
        return math.sin(omega * t + phi) / omega
    e = math.exp(k * t)
    x = omega * t + phi
    return e * (k * math.cos(x) + omega * math.sin(x)) / (k * k + omega * omega)


class Trace(_PiecewiseLinear):
    """A rate trace from a CSV file with columns ``time_s,rps``, linearly interpolated.

    ``scale`` multiplies every rate. Before the first row the first rate holds,
    after the last row the last rate holds. A relative path is resolved against
    the experiment file's folder; the rows are embedded in the resolved config.
    """

    kind: Literal["trace"]
    file: str | None = None
    points: list[tuple[float, float]] | None = None
    scale: float = Field(default=1.0, ge=0)

    @model_validator(mode="after")
    def _load(self, info: ValidationInfo) -> Trace:
        if (self.file is None) == (self.points is None):
            raise ValueError("give either file (CSV time_s,rps) or points")
        if self.file is not None:
            object.__setattr__(self, "points", read_trace(resolve_path(self.file, info)))
            object.__setattr__(self, "file", None)
        assert self.points is not None
        if not self.points:
            raise ValueError("a trace needs at least one row")
        times = [p[0] for p in self.points]
        if any(b < a for a, b in zip(times, times[1:], strict=False)):
            raise ValueError("trace times must not decrease")
        if any(p[1] < 0 or p[0] < 0 for p in self.points):
            raise ValueError("trace times and rates must be >= 0")
        return self

    def knots(self) -> tuple[np.ndarray, np.ndarray]:
        assert self.points is not None
        pts = np.asarray(self.points, dtype=float)
        return pts[:, 0], pts[:, 1] * self.scale


def read_trace(path: Path) -> list[tuple[float, float]]:
    """Read a ``time_s,rps`` CSV; a bad row raises ConfigError naming the file and line."""
    try:
        # utf-8-sig: spreadsheet exports often start with a byte-order mark.
        with path.open(newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read trace ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text CSV file") from None
    if not rows or [c.strip() for c in rows[0]] != ["time_s", "rps"]:
        raise ConfigError(f"{path}:1: expected the header 'time_s,rps'")
    points: list[tuple[float, float]] = []
    for line, row in enumerate(rows[1:], start=2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != 2:
            raise ConfigError(f"{path}:{line}: expected 2 columns time_s,rps, got {len(row)}")
        try:
            t, r = parse_duration(row[0].strip()), parse_rate(row[1].strip())
        except UnitError as exc:
            raise ConfigError(f"{path}:{line}: {exc}") from None
        if points and t < points[-1][0]:
            raise ConfigError(
                f"{path}:{line}: time_s {t} goes backwards (previous {points[-1][0]})"
            )
        points.append((t, r))
    if not points:
        raise ConfigError(f"{path}: no data rows after the header")
    return points


ArrivalProfile = Annotated[
    Constant | Step | Ramp | Spike | Diurnal | Trace, Field(discriminator="kind")
]


class RequestClass(Config):
    """A class of requests: its share of arrivals and, optionally, its own service time."""

    name: str = Field(min_length=1)
    weight: float = Field(gt=0)
    service_time: Distribution | None = None


class Workload(Config):
    """What users send: arrivals over time, service demand per request, client timeout."""

    arrivals: ArrivalProfile
    service_time: Distribution
    timeout: Duration | None = Field(
        default=None, description="client gives up when its wait in a queue exceeds this"
    )
    classes: list[RequestClass] | None = None

    @model_validator(mode="after")
    def _unique_classes(self) -> Workload:
        if self.classes:
            names = [c.name for c in self.classes]
            if len(set(names)) != len(names):
                raise ValueError("request class names must be unique")
        return self


def arrival_times(
    profile: Constant | Step | Ramp | Spike | Diurnal | Trace,
    rng: np.random.Generator,
    horizon: float,
    block: int = 4096,
) -> Iterator[np.ndarray]:
    """Yield increasing blocks of NHPP arrival times in [0, horizon) by thinning."""
    t = 0.0
    while t < horizon:
        lam = profile.bound(t, horizon)
        if lam <= 0:
            return  # the bound is exact: no traffic for the rest of the horizon
        # A window expected to hold ~block candidates, bounded tighter on its own span.
        span = min(block / lam, horizon - t)
        lam = profile.bound(t, t + span)
        if lam <= 0:
            t += span
            continue
        n = rng.poisson(lam * span)
        pts = np.sort(rng.uniform(t, t + span, n))
        keep = rng.uniform(0.0, lam, n) < profile.rate_at(pts)
        if keep.any():
            yield pts[keep]
        t += span
