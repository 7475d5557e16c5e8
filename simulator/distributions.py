"""Probability distributions of durations, as validated config objects.

Each distribution is a frozen pydantic model keyed by ``kind`` that can draw a
vector of samples from a ``numpy.random.Generator`` (``sample(rng, n)``) and
knows its analytic mean (``mean_s``). Values are durations in seconds (parsed
from ``"40ms"`` etc.). Sampling is vectorised: the engine draws samples in
blocks, never one numpy call per request.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import Field, ValidationInfo, model_validator

from simulator.base import Config, ConfigError, resolve_path
from simulator.units import Duration, UnitError, parse_duration

__all__ = [
    "Fixed",
    "Exponential",
    "Uniform",
    "Triangular",
    "Normal",
    "Lognormal",
    "Empirical",
    "Distribution",
]

# z such that Phi(z) = 0.95: the 95th percentile of the standard normal.
_Z95 = 1.6448536269514722


class Fixed(Config):
    """Always ``value`` (a deterministic duration, as in M/D/1)."""

    kind: Literal["fixed"]
    value: Duration

    @property
    def mean_s(self) -> float:
        return self.value

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return np.full(n, self.value)


class Exponential(Config):
    """Exponential with the given ``mean`` (memoryless; as in M/M/c)."""

    kind: Literal["exponential"]
    mean: Duration = Field(gt=0)

    @property
    def mean_s(self) -> float:
        return self.mean

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.exponential(self.mean, n)


class Uniform(Config):
    """Uniform on [``low``, ``high``]."""

    kind: Literal["uniform"]
    low: Duration
    high: Duration

    @model_validator(mode="after")
    def _ordered(self) -> Uniform:
        if self.high < self.low:
            raise ValueError("high must be >= low")
        return self

    @property
    def mean_s(self) -> float:
        return (self.low + self.high) / 2

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.uniform(self.low, self.high, n)


class Triangular(Config):
    """Triangular with ``low`` <= ``mode`` <= ``high``."""

    kind: Literal["triangular"]
    low: Duration
    mode: Duration
    high: Duration

    @model_validator(mode="after")
    def _ordered(self) -> Triangular:
        if not self.low <= self.mode <= self.high:
            raise ValueError("need low <= mode <= high")
        if self.low == self.high:
            raise ValueError("need low < high")
        return self

    @property
    def mean_s(self) -> float:
        return (self.low + self.mode + self.high) / 3

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.triangular(self.low, self.mode, self.high, n)


class Normal(Config):
    """Normal(``mean``, ``sd``) truncated at 0 (rejection: a duration is never negative).

    ``mean_s`` is the mean of the truncated distribution,
    ``mu + sd * phi(a) / (1 - Phi(a))`` with ``a = -mu/sd``.
    """

    kind: Literal["normal"]
    mean: Duration
    sd: Duration

    @property
    def mean_s(self) -> float:
        if self.sd == 0:
            return self.mean
        a = -self.mean / self.sd
        phi = math.exp(-a * a / 2) / math.sqrt(2 * math.pi)
        tail = 0.5 * math.erfc(a / math.sqrt(2))
        return self.mean + self.sd * phi / tail

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        out = rng.normal(self.mean, self.sd, n)
        bad = out < 0
        # Resample the negative draws: exact truncation, converges fast unless
        # the mean is many sds below zero (then validation would be kinder).
        for _ in range(1000):
            if not bad.any():
                break
            out[bad] = rng.normal(self.mean, self.sd, int(bad.sum()))
            bad = out < 0
        out[bad] = 0.0
        return out


class Lognormal(Config):
    """Log-normal given by ``median`` + ``p95`` (as latency is usually quoted) or ``mean`` + ``cv``.

    ``median``/``p95``: ``mu = ln median``, ``sigma = ln(p95/median) / z95``.
    ``mean``/``cv``: ``sigma^2 = ln(1 + cv^2)``, ``mu = ln mean - sigma^2/2``.
    """

    kind: Literal["lognormal"]
    median: Duration | None = None
    p95: Duration | None = None
    mean: Duration | None = None
    cv: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _one_form(self) -> Lognormal:
        by_quantiles = self.median is not None and self.p95 is not None
        by_moments = self.mean is not None and self.cv is not None
        if by_quantiles == by_moments or (
            by_quantiles and (self.mean is not None or self.cv is not None)
        ):
            raise ValueError("give either median + p95, or mean + cv")
        if by_quantiles:
            assert self.median is not None and self.p95 is not None
            if self.median <= 0 or self.p95 <= self.median:
                raise ValueError("need 0 < median < p95")
        elif self.mean is not None and self.mean <= 0:
            raise ValueError("mean must be > 0")
        return self

    @property
    def mu_sigma(self) -> tuple[float, float]:
        if self.median is not None and self.p95 is not None:
            return math.log(self.median), math.log(self.p95 / self.median) / _Z95
        assert self.mean is not None and self.cv is not None
        s2 = math.log1p(self.cv**2)
        return math.log(self.mean) - s2 / 2, math.sqrt(s2)

    @property
    def mean_s(self) -> float:
        mu, sigma = self.mu_sigma
        return math.exp(mu + sigma**2 / 2)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        mu, sigma = self.mu_sigma
        return rng.lognormal(mu, sigma, n)


class Empirical(Config):
    """Resample observed durations: inline ``samples`` or a CSV ``file`` + ``column``.

    A relative ``file`` is resolved against the experiment file's folder.
    Values in the CSV are durations (``"120ms"`` or seconds).
    """

    kind: Literal["empirical"]
    samples: list[Duration] | None = None
    file: str | None = None
    column: str | None = None

    @model_validator(mode="after")
    def _load(self, info: ValidationInfo) -> Empirical:
        if (self.samples is None) == (self.file is None):
            raise ValueError("give either samples or file + column")
        if self.file is not None:
            if self.column is None:
                raise ValueError("file needs a column")
            object.__setattr__(self, "samples", _read_column(self.file, self.column, info))
            # Keep the data, forget the file: the resolved config stays self-contained.
            object.__setattr__(self, "file", None)
            object.__setattr__(self, "column", None)
        assert self.samples is not None
        if len(self.samples) == 0:
            raise ValueError("samples must not be empty")
        return self

    @property
    def mean_s(self) -> float:
        assert self.samples is not None
        return float(np.mean(self.samples))

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.choice(np.asarray(self.samples, dtype=float), n)


def _read_column(file: str, column: str, info: ValidationInfo) -> list[float]:
    path = resolve_path(file, info)
    try:
        with Path(path).open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            if reader.fieldnames is None or column not in reader.fieldnames:
                raise ConfigError(f"{path}: no column {column!r} (columns: {reader.fieldnames})")
            values = []
            for line, row in enumerate(reader, start=2):
                try:
                    values.append(parse_duration(row[column]))
                except UnitError as exc:
                    raise ConfigError(f"{path}:{line}: column {column!r}: {exc}") from None
            if not values:
                raise ConfigError(f"{path}: no data rows after the header")
            return values
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a UTF-8 text CSV file") from None


Distribution = Annotated[
    Fixed | Exponential | Uniform | Triangular | Normal | Lognormal | Empirical,
    Field(discriminator="kind"),
]
