"""Fluid serving mode: instance pools advanced per time step instead of requests as events.

For horizons of months (``serving: {mode: fluid, step: 1s}``) requests are not
events. A driver on the run's SimPy clock wakes every ``step`` seconds and, for
the step ``[t, t + h)``:

1. takes the offered work ``λ·h`` from the workload profile's ``mean_rate(t, t + h)``;
2. splits it over the **pools** of ready instances — instances with identical
   workers, speed, weight and queue limit — by the balancer's policy in aggregate:
   by weight for ``round_robin`` and ``random`` (what a rotation or a uniform draw
   sends on average), by capacity for ``least_connections`` and ``power_of_two``
   (they send work where it is served soonest); no ready instance: all of it is
   ``dropped_no_instance``;
3. advances each pool's fluid state — requests in service ``U`` and the fluid
   backlog ``B`` — with capacity ``R = n · workers · speed / E[S]`` requests/s:
   what is present beyond the busy workers and ``R·h`` of service stays in the
   backlog; a backlog above ``queue_limit`` per instance is dropped
   (``dropped_queue_full``); a backlog older than the client timeout (``B > R·T``)
   leaves (``timed_out``);
4. gives the step's completions a latency distribution: with no backlog, the
   waiting time of an M/M/c queue at the pool's utilisation ρ (Erlang C for the
   probability of waiting, exponential given waiting), corrected for the service
   time's squared coefficient of variation and the arrivals' (Allen–Cunneen:
   ``Wq ≈ Wq(M/M/c)·(ca² + cs²)/2``; ``ca² = 1/n`` under round robin, 1 otherwise),
   plus the service time; with a backlog, the fluid delay ``B / R`` plus the
   service time.

``round_robin``/``random`` pools are ``n`` independent M/M/c queues;
``least_connections`` is join-the-shortest-queue: a request waits only if every
worker of the pool is busy (Erlang C with ``n·c`` servers) and then waits for
``1 + Lq/n`` departures of its instance (``Lq`` the pooled queue); ``power_of_two``
over more than two instances is the mean-field model of two random choices
(``power_of_two_wait``: a request waits iff both draws are busy).

Latencies are folded into the Recorder's log histogram as *weights*: each
distinct shape (no wait; exponential wait of a mean on the histogram's 2 % grid;
a fixed backlog delay on the same grid) is computed once per run and the step
adds its completions to that shape's weight, so a step costs a few dictionary
updates whatever its traffic. Counts are fractional inside; each reported
counter is the floor of its cumulative fluid amount, and ``in_flight`` is what
remains, so ``arrived = completed + dropped + timed_out + in_flight`` holds
exactly (``in_flight`` absorbs the fractions, < 1 request per counter).

Instances are ``FluidInstance``: their busy-worker and queue integrals and
served count are read from their pool's piecewise-linear levels, so the metrics
pipeline (CPU, request rates, latency percentiles) and the sampler work
unchanged. Provisioning, autoscaling, pulls and faults stay discrete events on
the same clock. Sub-step dynamics (an instance ready mid-step serves from the
next step), stochastic blocking below the queue limit and timeouts below
overload are not modelled (README "Fluid mode").
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import simpy

from simulator.recorder import LogHistogram, Recorder
from simulator.serving import Instance, State

if TYPE_CHECKING:
    from simulator.platform import RunContext

__all__ = [
    "FluidInstance",
    "FluidRecorder",
    "FluidServing",
    "PoolStep",
    "advance_pool",
    "erlang_c",
    "power_of_two_wait",
    "wait_shape",
    "start_fluid",
]

# Runs after every ordinary event at the same instant (SimPy: URGENT 0, NORMAL 1), so a
# step at t sees the sampler's and the scrapes' windows ending at t already closed.
_LATE = 2
_RATE_BLOCK = 4096  # step rates computed per block
_SERVICE_SAMPLE = 1 << 16  # service demands drawn once per run to shape latencies
_EPS = 1e-9
_MIN_SLACK = 1e-4  # 1 − ρ is clamped here: M/M/c formulas diverge at ρ = 1
_JSQ = frozenset({"least_connections", "power_of_two"})


# -- queueing formulas ---------------------------------------------------------------------


def erlang_c(c: int, a: float) -> float:
    """P(wait) in M/M/c with offered load ``a`` Erlangs (``a < c``), via the Erlang B
    recursion ``B(k) = a·B(k−1) / (k + a·B(k−1))`` and ``C = c·B / (c − a(1 − B))``."""
    if a <= 0:
        return 0.0
    b = 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    return c * b / (c - a * (1.0 - b))


def wait_shape(
    policy: str, workers: int, n: int, rho: float, mu1: float, cs2: float
) -> tuple[float, float]:
    """(P(wait), mean wait given waiting) of a pool of ``n`` instances of ``workers``
    workers, each worker serving at ``mu1`` requests/s, at utilisation ``rho < 1``.

    Independent M/M/c per instance for round robin and random, join-the-shortest-queue
    for least connections (and power of two over two instances), the mean-field model
    for power of two (module docstring); the conditional mean is scaled by
    Allen–Cunneen's ``(ca² + cs²)/2``.
    """
    rho = min(rho, 1.0 - _MIN_SLACK)
    c = workers
    if policy == "power_of_two" and n > 2:
        # Two draws see less than the whole pool: the mean-field model, not JSQ (with two
        # instances the two distinct draws are the whole pool, so JSQ below is exact).
        p, wq = power_of_two_wait(c, rho)
        mean = wq / p / mu1 if p > 0 else 0.0
        return p, mean * (1.0 + cs2) / 2.0
    if policy in _JSQ:
        p = erlang_c(n * c, n * c * rho)
        mean = (1.0 + rho / (n * (1.0 - rho))) / (c * mu1)
        ca2 = 1.0
    else:
        p = erlang_c(c, c * rho)
        mean = 1.0 / (c * mu1 * (1.0 - rho))
        ca2 = 1.0 / n if policy == "round_robin" else 1.0
    return p, mean * (ca2 + cs2) / 2.0


def power_of_two_wait(workers: int, rho: float) -> tuple[float, float]:
    """(P(wait), mean wait in units of the mean service time) under power of two choices
    over many instances of ``workers`` exponential workers at utilisation ``rho < 1``.

    The mean-field limit (Mitzenmacher, "The power of two choices in randomized load
    balancing", 2001, generalised to ``c`` workers): ``s_k``, the share of instances with
    at least ``k`` requests, balances the flux across each level, ``λ(s_{k-1}² − s_k²) =
    min(k, c)(s_k − s_{k+1})`` with ``λ = cρ`` per instance. Summed from ``k`` up this gives
    ``s_k = ρ·s_{k-1}²`` above ``c`` and ``λ·s_{k-1}² = k·s_k + Σ_{j=k+1..c} s_j`` up to
    ``c``; ``s_c`` is found by bisection so that ``s_0 = 1``. A request waits iff both draws
    are busy (``s_c²``); Little's law on the queue ``Σ_{k>c} s_k`` gives the mean wait.
    With ``c = 1`` this is the closed form ``s_k = ρ^(2^k − 1)``.
    """
    c = workers
    lam = c * rho
    if not lam > 0:
        return 0.0, 0.0  # no traffic: nobody waits

    def s0(sc: float) -> float:
        above = 0.0  # Σ_{j=k+1..c} s_j
        sk = sc
        for k in range(c, 0, -1):
            prev = math.sqrt((k * sk + above) / lam)
            above += sk
            sk = prev
        return sk

    lo, hi = 0.0, 1.0
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if s0(mid) < 1.0:
            lo = mid
        else:
            hi = mid
    sc = 0.5 * (lo + hi)
    queue, sk = 0.0, sc
    for _ in range(100_000):
        sk = rho * sk * sk
        queue += sk
        if sk < 1e-15:
            break
    return sc * sc, queue / lam


class PoolStep:
    """What one step did to a pool (amounts in requests; delays in seconds)."""

    __slots__ = (
        "in_service",
        "backlog",
        "completed",
        "dropped_queue_full",
        "timed_out",
        "from_backlog",
        "backlog_delay",
        "fresh",
    )

    def __init__(self) -> None:
        self.in_service = 0.0
        self.backlog = 0.0
        self.completed = 0.0
        self.dropped_queue_full = 0.0
        self.timed_out = 0.0
        self.from_backlog = 0.0  # completions that came out of the fluid backlog
        self.backlog_delay = 0.0  # their delay: the average backlog / capacity
        self.fresh = 0.0  # completions that met the stationary (M/M/c) regime


def advance_pool(
    servers: float,
    rate: float,
    in_service: float,
    backlog: float,
    offered: float,
    load: float,
    h: float,
    queue_cap: float,
    timeout_cap: float,
) -> PoolStep:
    """One fluid step of a pool with ``servers`` workers serving ``rate`` requests/s in
    all; ``offered`` requests arrive; ``load`` is the offered load in Erlangs (busy
    workers the arrivals would keep busy). Backlog caps: ``queue_cap`` (queue limit)
    and ``timeout_cap`` (``R·T``; requests beyond it have waited longer than ``T``).
    """
    out = PoolStep()
    present = in_service + backlog + offered
    served_cap = rate * h
    busy = min(servers, load, present)
    left = present - busy - served_cap
    if left > _EPS:  # overloaded: capacity serves first, then workers fill, the rest waits
        busy = min(servers, present - served_cap)
        left = max(0.0, present - served_cap - busy)
    else:
        left = 0.0
    dropped = timed = 0.0
    if queue_cap <= timeout_cap:
        if left > queue_cap:
            dropped, left = left - queue_cap, queue_cap
    elif left > timeout_cap:
        timed, left = left - timeout_cap, timeout_cap
    out.in_service = busy
    out.backlog = left
    out.dropped_queue_full = dropped
    out.timed_out = timed
    done = max(0.0, present - busy - left - dropped - timed)
    out.completed = done
    if left > 0.0:
        out.from_backlog = done
        out.backlog_delay = 0.5 * (backlog + left) / rate if rate > 0 else 0.0
    else:
        out.from_backlog = min(backlog, done)
        out.backlog_delay = 0.5 * backlog / rate if rate > 0 else 0.0
        out.fresh = done - out.from_backlog
    return out


# -- latency shapes --------------------------------------------------------------------------


class _Shapes:
    """Latency distributions on the LogHistogram grid, computed once per shape.

    A key is ``(speed, kind, k)``: kind 0 = service time only, 1 = service time plus
    an exponential wait of mean ``grid(k)``, 2 = service time plus a fixed delay
    ``grid(k)``. Each entry is (bucket probabilities, mean wait, P(latency ≤ SLO)).
    """

    def __init__(self, demands: np.ndarray, mean_demand: float, slo: float | None) -> None:
        self.hist = LogHistogram()
        self.log_r = math.log(LogHistogram.RATIO)
        self.demands = demands
        self.mean_demand = mean_demand
        self.slo = slo
        n = self.hist.n_buckets
        self.edges = np.concatenate(
            ([0.0], LogHistogram.LOW * LogHistogram.RATIO ** np.arange(n - 1))
        )
        self._service: dict[float, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self.cache: dict[tuple[float, int, int], tuple[np.ndarray, float, float]] = {}
        self.support: dict[tuple[float, int, int], tuple[int, int, np.ndarray]] = {}
        self._quantile_memo: dict[Any, list[float]] = {}

    def grid(self, k: int) -> float:
        return float(LogHistogram.LOW * math.exp(k * self.log_r))

    def level(self, x: float) -> int:
        """The 2 % grid point nearest to ``x`` (> 0)."""
        return round(math.log(max(x, LogHistogram.LOW) / LogHistogram.LOW) / self.log_r)

    def service(self, speed: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(bucket probabilities, support points, their probabilities) of demand / speed."""
        got = self._service.get(speed)
        if got is None:
            v = self.demands / speed
            idx = self.hist.index(v)
            counts = np.bincount(idx, minlength=self.hist.n_buckets).astype(float)
            sums = np.bincount(idx, weights=v, minlength=self.hist.n_buckets)
            nz = counts > 0
            probs = counts / v.size
            got = (probs, sums[nz] / counts[nz], probs[nz])
            self._service[speed] = got
        return got

    def get(self, key: tuple[float, int, int]) -> tuple[np.ndarray, float, float]:
        entry = self.cache.get(key)
        if entry is None:
            entry = self._make(*key)
            self.cache[key] = entry
            nz = np.flatnonzero(entry[0] > 1e-15)
            lo, hi = (int(nz[0]), int(nz[-1]) + 1) if nz.size else (0, 0)
            self.support[key] = (lo, hi, entry[0][lo:hi].copy())
        return entry

    def quantiles(
        self, weights: dict[tuple[float, int, int], float], qs: list[float]
    ) -> list[float]:
        """Quantiles of a weighted mix of shapes (NaN if it is empty), on the shapes'
        supports only: a window's percentiles cost a few short numpy operations."""
        total_w = sum(weights.values())
        if not total_w > 0:
            return [math.nan] * len(qs)
        # Windows in a steady state mix the same shapes in nearly the same proportions:
        # proportions rounded to 1e-4 give the same percentiles within the 2 % buckets.
        memo = (tuple(qs), tuple(sorted((k, round(w / total_w, 4)) for k, w in weights.items())))
        got = self._quantile_memo.get(memo)
        if got is not None:
            return got
        if len(self._quantile_memo) > 100_000:
            self._quantile_memo.clear()
        parts = []
        for key, w in weights.items():
            if w > 0:
                self.get(key)
                parts.append((w, self.support[key]))
        lo = min(p[1][0] for p in parts)
        hi = max(p[1][1] for p in parts)
        acc = np.zeros(hi - lo)
        for w, (a, b, row) in parts:
            acc[a - lo : b - lo] += w * row
        cum = np.cumsum(acc)
        total = cum[-1]
        if not total > 0:
            return [math.nan] * len(qs)
        ks = np.searchsorted(cum, [q * total for q in qs])
        rep = self.hist.representative
        out = [rep(lo + min(int(k), hi - lo - 1)) for k in ks]
        self._quantile_memo[memo] = out
        return out

    def _make(self, speed: float, kind: int, k: int) -> tuple[np.ndarray, float, float]:
        probs, s, p = self.service(speed)
        slo = self.slo
        if kind == 0:
            within = float(p[s <= slo].sum()) if slo is not None else math.nan
            return probs, 0.0, within
        d = self.grid(k)
        if kind == 2:
            row = np.bincount(self.hist.index(s + d), weights=p, minlength=self.hist.n_buckets)
            within = float(p[s + d <= slo].sum()) if slo is not None else math.nan
            return row, d, within
        # Service + Exp(mean d): P(s_j + W ≤ x) = 1 − exp(−(x − s_j)/d) for x ≥ s_j.
        cdf = self._exp_cdf(s, p, d, self.edges)
        row = np.diff(np.append(cdf, 1.0))
        within = float(self._exp_cdf(s, p, d, np.array([slo]))[0]) if slo is not None else math.nan
        return np.maximum(row, 0.0), d, within

    @staticmethod
    def _exp_cdf(s: np.ndarray, p: np.ndarray, d: float, x: np.ndarray) -> np.ndarray:
        # Only the points between the shortest service time and 50 means past the
        # longest need work: below, the CDF is 0; above, 1 to within e^-50.
        out = np.zeros(x.size)
        lo, hi = np.searchsorted(x, [s[0], s[-1] + 50.0 * d])
        out[hi:] = 1.0
        if hi > lo:
            z = np.maximum(x[None, lo:hi] - s[:, None], 0.0) / d
            out[lo:hi] = p @ (-np.expm1(-z))
        return out

    def fold(self, weights: dict[tuple[float, int, int], float]) -> np.ndarray:
        """The histogram counts of a weighted mix of shapes."""
        out = np.zeros(self.hist.n_buckets)
        for key, w in weights.items():
            if w > 0:
                out += w * self.get(key)[0]
        return out


# -- instances and pools ---------------------------------------------------------------------


class _Levels:
    """Per-instance levels (busy workers, queue, served/s), piecewise constant in time,
    and their integrals: what ``FluidInstance.areas`` and ``served`` read."""

    __slots__ = ("t0", "busy", "queue", "served", "l_busy", "l_queue", "l_served")

    def __init__(self, now: float) -> None:
        self.t0 = now
        self.busy = self.queue = self.served = 0.0
        self.l_busy = self.l_queue = self.l_served = 0.0

    def at(self, now: float) -> tuple[float, float, float]:
        dt = now - self.t0
        return (
            self.busy + self.l_busy * dt,
            self.queue + self.l_queue * dt,
            self.served + self.l_served * dt,
        )

    def set(self, now: float, busy: float, queue: float, served: float) -> None:
        self.busy, self.queue, self.served = self.at(now)
        self.t0 = now
        self.l_busy, self.l_queue, self.l_served = busy, queue, served


class FluidInstance(Instance):
    """An instance whose work is a share of its pool's fluid (no request objects).

    ``areas`` and ``served`` come from the levels of the pool it belongs to while
    ready, or its own levels while it drains its share; ``active`` is that share
    rounded up, so ``Cluster.drain`` waits for it like for queued requests.
    """

    __slots__ = ("_src", "_off", "_base", "_served_base", "fluid_share", "_own")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._served_base = 0.0
        super().__init__(*args, **kwargs)
        now = self.env.now
        self._own = _Levels(now)
        self._src: _Levels = self._own
        self._off = (0.0, 0.0, 0.0)
        self._base = (0.0, 0.0, 0.0)
        self.fluid_share = [0.0, 0.0]  # [in service, backlog] while draining

    def attach(self, levels: _Levels, now: float) -> None:
        """Start reading ``levels`` (a pool's, or the instance's own)."""
        b, q, s = self.frozen(now)
        self._base = (b, q, s)
        self._src = levels
        self._off = levels.at(now)

    def frozen(self, now: float) -> tuple[float, float, float]:
        b, q, s = self._src.at(now)
        ob, oq, os_ = self._off
        bb, bq, bs = self._base
        return bb + b - ob, bq + q - oq, bs + s - os_

    def areas(self, now: float) -> tuple[float, float]:
        b, q, _ = self.frozen(now)
        return b, q

    @property  # type: ignore[override]
    def served(self) -> float:
        if not hasattr(self, "_src"):
            return self._served_base
        return self.frozen(self.env.now)[2]

    @served.setter
    def served(self, value: float) -> None:
        self._served_base = value

    @property
    def active(self) -> int:
        return math.ceil(sum(self.fluid_share) - 1e-6) if self.state is not State.READY else 0


class _Pool:
    """Ready instances with identical (workers, speed, weight, queue limit)."""

    __slots__ = ("key", "workers", "speed", "weight", "queue_limit", "members", "levels", "u", "b")

    def __init__(self, key: tuple[int, float, float, int | None], now: float) -> None:
        self.key = key
        self.workers, self.speed, self.weight, self.queue_limit = key
        self.members: set[FluidInstance] = set()
        self.levels = _Levels(now)
        self.u = 0.0  # requests in service, all members
        self.b = 0.0  # fluid backlog, all members


# -- the recorder ------------------------------------------------------------------------------


_COUNTERS = ("arrived", "completed", "dropped_queue_full", "dropped_no_instance", "dropped_failed")


class _FluidHistogram(LogHistogram):
    """A LogHistogram of fractional (fluid) counts: quantiles by cumulative weight."""

    def __init__(self) -> None:
        super().__init__()
        self.counts = np.zeros(self.n_buckets)  # type: ignore[assignment]

    def quantiles(self, qs: list[float]) -> list[float]:
        """The q-quantiles, NaN if empty: in the bucket where the cumulative weight reaches
        ``q`` of the total, at the point its share of the bucket's weight says (log scale);
        integer ranks mean nothing when a bucket can hold 0.3 of a request."""
        cum = np.cumsum(self.counts)
        total = float(cum[-1])
        if not total > 0:
            return [math.nan] * len(qs)
        out = []
        for q in qs:
            target = q * total
            k = min(int(np.searchsorted(cum, target)), self.n_buckets - 1)
            if k == 0:
                out.append(0.0)
                continue
            inside = float(self.counts[k])
            frac = (target - float(cum[k - 1])) / inside if inside > 0 else 0.5
            out.append(self.LOW * self.RATIO ** (k - 1 + min(max(frac, 0.0), 1.0)))
        return out


class FluidRecorder(Recorder):
    """The Recorder of a fluid run: fractional amounts inside, floored counters outside.

    The driver books rates continuously in time; every read (``flush``, the
    sampler's ``take_window``, the metrics pipeline's ``take_metrics_window``)
    first books up to now, so windows of any length see exact pro-rated amounts.
    """

    def __init__(self, warmup: float, slo_latency: float | None, n_classes: int = 1) -> None:
        super().__init__(warmup, slo_latency, n_classes)
        # Fractional weights: the counts are floats in fluid mode.
        self.hist = _FluidHistogram()
        self.window_hist = _FluidHistogram()
        self.metrics_hist = _FluidHistogram()
        self.driver: FluidServing | None = None
        self.fluid_in_flight = 0
        self.waited_f = 0.0  # fluid amounts behind the floored ``waited``
        self.within_f = 0.0  # ... and ``completed_within_slo``

    def _sync(self) -> FluidServing | None:
        d = self.driver
        if d is not None:
            d.book(d.env.now)
        return d

    def flush(self) -> None:
        """Book up to now and refresh the summary counters and histogram."""
        d = self._sync()
        if d is not None:
            d.fold_measured(self)

    def take_window(self) -> tuple[int, int, int, int, list[float]]:
        d = self._sync()
        if d is None:
            return 0, 0, 0, 0, [math.nan] * 3
        cum, mark = d.all, d.window_mark
        now = {
            "arrived": cum["arrived"],
            "completed": cum["completed"],
            "dropped": cum["dropped_queue_full"]
            + cum["dropped_no_instance"]
            + cum["dropped_failed"],
            "timed_out": cum["timed_out"],
        }
        counts = [math.floor(now[k] + _EPS) - math.floor(mark.get(k, 0.0) + _EPS) for k in now]
        d.window_mark = now
        q = d.shapes.quantiles(d.window_keys, [0.5, 0.95, 0.99])
        d.window_keys = {}
        return counts[0], counts[1], counts[2], counts[3], q

    def take_metrics_window(self) -> tuple[int, int, float, float, float]:
        d = self._sync()
        if d is None:
            return 0, 0, math.nan, math.nan, math.nan
        a, c = d.all["arrived"], d.all["completed"]
        a0, c0 = d.metrics_mark
        d.metrics_mark = (a, c)
        p50, p95, p99 = d.shapes.quantiles(d.metrics_keys, [0.5, 0.95, 0.99])
        d.metrics_keys = {}
        return a - a0, c - c0, p50, p95, p99  # type: ignore[return-value]


# -- the driver --------------------------------------------------------------------------------


class FluidServing:
    """Advances the pools every ``step`` on the run's clock (see the module docstring)."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.env: simpy.Environment = ctx.env
        exp, scenario = ctx.experiment, ctx.scenario
        self.profile = exp.workload.arrivals
        self.horizon = exp.horizon
        self.warmup = exp.warmup
        self.step = scenario.serving.step
        self.policy = scenario.balancer.kind
        self.timeout = exp.workload.timeout
        dist = exp.workload.service_time
        demands = dist.sample(ctx.streams["service"], _SERVICE_SAMPLE)
        self.mean_demand = float(dist.mean_s)
        sample_mean = float(demands.mean())
        self.cs2 = float(demands.var() / sample_mean**2) if sample_mean > 0 else 0.0
        rec = ctx.recorder
        if not isinstance(rec, FluidRecorder):
            raise TypeError("fluid mode needs a FluidRecorder")
        self.rec = rec
        rec.driver = self
        self.shapes = _Shapes(demands, self.mean_demand, rec.slo_latency)
        self.pools: dict[tuple[int, float, float, int | None], _Pool] = {}
        self.draining: dict[FluidInstance, FluidInstance] = {}
        self._wait_cache: dict[tuple[int, int, int, int, int | None], tuple[float, float]] = {}
        # Cumulative fluid amounts: all (warm-up included) and measured (the cohort after it).
        keys = (*_COUNTERS, "timed_out")
        self.all: dict[str, float] = dict.fromkeys(keys, 0.0)
        self.measured: dict[str, float] = dict.fromkeys(keys, 0.0)
        self.rates: dict[str, float] = dict.fromkeys(keys, 0.0)
        self.lat_rates: list[tuple[tuple[float, int, int], float]] = []
        self.t_book = 0.0
        self._measuring = False
        self.old_left = 0.0  # fluid in the system at the warm-up (not the measured cohort)
        self.window_mark: dict[str, float] = {}
        self.metrics_mark = (0.0, 0.0)
        self.window_keys: dict[tuple[float, int, int], float] = {}
        self.metrics_keys: dict[tuple[float, int, int], float] = {}
        self.measured_keys: dict[tuple[float, int, int], float] = {}
        self.steps = 0
        self._cum = getattr(self.profile, "cumulative", None)
        self._block: list[float] = []
        self._block_start = 0
        balancer = ctx.cluster.balancer
        # Every membership change of the balancer, whoever makes it (platforms, faults,
        # health checks), moves an instance into or out of its pool.
        add, remove = balancer.add, balancer.remove
        balancer.add = self._wrap(add, self._join)  # type: ignore[method-assign,assignment]
        balancer.remove = self._wrap(remove, self._leave)  # type: ignore[method-assign,assignment]
        ctx.cluster.retire_hooks.append(self._retired)
        for inst in list(balancer.instances):  # ready before the driver started
            self._join(inst)

    @staticmethod
    def _wrap(fn: Callable[[Any], None], then: Callable[[Any], None]) -> Callable[[Any], None]:
        def wrapped(inst: Any) -> None:
            fn(inst)
            then(inst)

        return wrapped

    # -- membership ------------------------------------------------------------------------

    def _pool_of(self, inst: Instance) -> _Pool:
        key = (inst.workers, inst.speed, inst.weight, inst.queue_limit)
        pool = self.pools.get(key)
        if pool is None:
            pool = self.pools[key] = _Pool(key, self.env.now)
        return pool

    def _join(self, inst: Instance) -> None:
        if not isinstance(inst, FluidInstance):
            return
        now = self.env.now
        pool = self._pool_of(inst)
        n_old = len(pool.members)
        lv = pool.levels
        totals = (lv.l_busy * n_old, lv.l_queue * n_old, lv.l_served * n_old)
        if inst in self.draining:  # back in service: its share rejoins the pool
            del self.draining[inst]
            pool.u += inst.fluid_share[0]
            pool.b += inst.fluid_share[1]
            inst.fluid_share = [0.0, 0.0]
        pool.members.add(inst)
        n = n_old + 1
        lv.set(now, totals[0] / n, totals[1] / n, totals[2] / n)
        inst.attach(lv, now)

    def _leave(self, inst: Instance) -> None:
        if not isinstance(inst, FluidInstance):
            return
        now = self.env.now
        pool = self._pool_of(inst)
        if inst not in pool.members:
            return
        n_old = len(pool.members)
        lv = pool.levels
        per = (lv.l_busy, lv.l_queue, lv.l_served)
        share_u, share_b = pool.u / n_old, pool.b / n_old
        pool.u -= share_u
        pool.b -= share_b
        pool.members.discard(inst)
        lv.set(now, *per)  # the per-instance levels of the others are unchanged
        inst.attach(inst._own, now)  # noqa: SLF001
        inst._own.set(now, per[0], per[1], 0.0)  # noqa: SLF001
        inst.fluid_share = [share_u, share_b]
        if share_u + share_b > _EPS:
            self.draining[inst] = inst

    def _retired(self, inst: Instance) -> None:
        if not isinstance(inst, FluidInstance):
            return
        now = self.env.now
        self.draining.pop(inst, None)
        lost = sum(inst.fluid_share)
        inst.fluid_share = [0.0, 0.0]
        inst.attach(inst._own, now)  # noqa: SLF001
        inst._own.set(now, 0.0, 0.0, 0.0)  # noqa: SLF001
        if lost > _EPS:
            self.book(now)
            self._outflow_now("dropped_failed", lost, now)

    # -- booking -------------------------------------------------------------------------------

    def _outflow_now(self, key: str, amount: float, now: float) -> None:
        self.all[key] += amount
        if now >= self.warmup:
            take = min(self.old_left, amount)
            self.old_left -= take
            self.measured[key] += amount - take

    def book(self, now: float) -> None:
        """Integrate the current step's rates from the last booking up to ``now``."""
        t0 = self.t_book
        if now <= t0:
            return
        w = self.warmup
        if not self._measuring and now > w:
            if t0 < w:
                self._book(t0, w, False)
                t0 = w
            self._start_measuring()
            self._measuring = True
        self._book(t0, now, self._measuring)
        self.t_book = now

    def _start_measuring(self) -> None:
        a = self.all
        out = (
            a["completed"]
            + a["dropped_queue_full"]
            + a["dropped_no_instance"]
            + a["dropped_failed"]
            + a["timed_out"]
        )
        self.old_left = max(0.0, a["arrived"] - out)

    def _book(self, t0: float, t1: float, measured: bool) -> None:
        dt = t1 - t0
        r, a = self.rates, self.all
        for k, v in r.items():
            if v:
                a[k] += v * dt
        for key, v in self.lat_rates:
            x = v * dt
            self.window_keys[key] = self.window_keys.get(key, 0.0) + x
            self.metrics_keys[key] = self.metrics_keys.get(key, 0.0) + x
        if not measured:
            return
        m = self.measured
        m["arrived"] += r["arrived"] * dt
        m["dropped_queue_full"] += r["dropped_queue_full"] * dt
        m["dropped_no_instance"] += r["dropped_no_instance"] * dt
        # Completions, timeouts and losses take the oldest fluid first: while fluid that
        # arrived before the warm-up remains, it is what leaves (FIFO cohorts).
        outs = (r["completed"] * dt, r["timed_out"] * dt, r["dropped_failed"] * dt)
        total = outs[0] + outs[1] + outs[2]
        keep = 1.0
        if total > 0 and self.old_left > 0:
            take = min(self.old_left, total)
            self.old_left -= take
            keep = 1.0 - take / total
        m["completed"] += outs[0] * keep
        m["timed_out"] += outs[1] * keep
        m["dropped_failed"] += outs[2] * keep
        if keep > 0:
            for key, v in self.lat_rates:
                self.measured_keys[key] = self.measured_keys.get(key, 0.0) + v * dt * keep

    def fold_measured(self, rec: FluidRecorder) -> None:
        """Refresh the summary counters and histogram of ``rec`` from the measured amounts."""
        m = self.measured
        if self.measured_keys:
            shapes = self.shapes
            rec.hist.counts = rec.hist.counts + shapes.fold(self.measured_keys)
            for key, w in self.measured_keys.items():
                _, wait, within = shapes.get(key)
                rec.wait_sum += w * wait
                rec.latency_sum += w * (wait + self.mean_demand / key[0])
                if key[1] != 0:
                    rec.waited_f += w
                if rec.slo_latency is not None:
                    rec.within_f += w * within
            self.measured_keys = {}
        floor = math.floor
        ints = {k: floor(m[k] + 1e-6) for k in m}
        outs = (
            ints["completed"]
            + ints["dropped_queue_full"]
            + ints["dropped_no_instance"]
            + ints["dropped_failed"]
            + ints["timed_out"]
        )
        arrived = max(ints["arrived"], outs)
        rec.arrived = arrived
        rec.completed = ints["completed"]
        rec.dropped_queue_full = ints["dropped_queue_full"]
        rec.dropped_no_instance = ints["dropped_no_instance"]
        rec.dropped_failed = ints["dropped_failed"]
        rec.timed_out_n = ints["timed_out"]
        rec.fluid_in_flight = arrived - outs
        rec.waited = min(rec.completed, floor(rec.waited_f + 1e-6))
        rec.completed_within_slo = min(rec.completed, floor(rec.within_f + 1e-6))
        n = rec.hist.counts.sum()
        if n > 0:
            # The largest of n draws sits near the (1 − 1/n) quantile.
            rec.latency_max = rec.hist.quantiles([max(0.5, 1.0 - 1.0 / n)])[0]

    # -- stepping ------------------------------------------------------------------------------

    def start(self) -> None:
        self._schedule(0.0)

    def _schedule(self, delay: float) -> None:
        ev = simpy.Event(self.env)
        ev._ok = True  # noqa: SLF001
        ev._value = None  # noqa: SLF001
        assert ev.callbacks is not None
        ev.callbacks.append(self._on_step)
        self.env.schedule(ev, _LATE, delay)  # type: ignore[arg-type]

    def _on_step(self, _: Any) -> None:
        now = self.env.now
        self.book(now)
        if now >= self.horizon - _EPS:
            return
        h = min(self.step, self.horizon - now)
        self.advance(now, h)
        self.steps += 1
        self._schedule(h)

    def _wait(
        self, workers: int, n: int, rho: float, mu1: float, limit: int | None
    ) -> tuple[float, float]:
        q = round(math.log(max(1.0 - rho, _MIN_SLACK)) / math.log(1.01))
        key = (workers, n, q, round(mu1 * 1e6), limit)
        got = self._wait_cache.get(key)
        if got is None:
            rho_q = 1.0 - math.exp(q * math.log(1.01))
            p, m = wait_shape(self.policy, workers, n, max(rho_q, 0.0), mu1, self.cs2)
            # Near ρ = 1 the stationary wait outgrows what a bounded queue or a client's
            # patience allows: a full queue drains in limit / (workers·μ), and nobody waits
            # past the timeout. Cap the mean there.
            if limit is not None:
                m = min(m, max(limit, 1) / (workers * mu1))
            if self.timeout is not None:
                m = min(m, self.timeout)
            got = (p, m)
            self._wait_cache[key] = got
        return got

    def _mean_rate(self, now: float, h: float) -> float:
        # Full steps read a block of rates computed at once from the profile's cumulative
        # arrivals (exact); the last, shorter step asks the profile directly.
        if h != self.step or self._cum is None:
            return float(self.profile.mean_rate(now, now + h))
        k = self.steps - self._block_start
        if k >= len(self._block):
            self._block_start = self.steps
            ts = now + self.step * np.arange(_RATE_BLOCK + 1)
            self._block = (np.diff(self._cum(ts)) / self.step).tolist()
            k = 0
        return max(0.0, self._block[k])

    def advance(self, now: float, h: float) -> None:
        """Decide the step ``[now, now + h)``: new rates, levels and pool states."""
        lam = self._mean_rate(now, h)
        offered = lam * h
        rates = dict.fromkeys(self.rates, 0.0)
        rates["arrived"] = lam
        lat: dict[tuple[float, int, int], float] = {}
        shapes = self.shapes
        active = [p for p in self.pools.values() if p.members]
        mean_d = self.mean_demand
        if not active:
            rates["dropped_no_instance"] = lam
        else:
            if self.policy in _JSQ:
                weights = [len(p.members) * p.workers * p.speed for p in active]
            else:
                weights = [len(p.members) * p.weight for p in active]
            total_w = sum(weights)
            for pool, w in zip(active, weights, strict=True):
                n = len(pool.members)
                mu1 = pool.speed / mean_d
                servers = n * pool.workers
                cap = servers * mu1
                lam_g = lam * w / total_w
                a_g = offered * w / total_w
                qcap = math.inf if pool.queue_limit is None else pool.queue_limit * n
                tcap = math.inf if self.timeout is None else cap * self.timeout
                b_old = pool.b
                st = advance_pool(servers, cap, pool.u, pool.b, a_g, lam_g / mu1, h, qcap, tcap)
                pool.u, pool.b = st.in_service, st.backlog
                rates["completed"] += st.completed / h
                rates["dropped_queue_full"] += st.dropped_queue_full / h
                rates["timed_out"] += st.timed_out / h
                lq = 0.0
                if st.fresh > 0:
                    rho = lam_g / cap
                    p_wait, m = self._wait(pool.workers, n, rho, mu1, pool.queue_limit)
                    k0 = (pool.speed, 0, 0)
                    lat[k0] = lat.get(k0, 0.0) + st.fresh * (1.0 - p_wait) / h
                    if p_wait > 0:
                        k1 = (pool.speed, 1, shapes.level(m))
                        lat[k1] = lat.get(k1, 0.0) + st.fresh * p_wait / h
                    lq = lam_g * p_wait * m
                if st.from_backlog > 0:
                    d = st.backlog_delay
                    k2 = (pool.speed, 2, shapes.level(d)) if d > 0 else (pool.speed, 0, 0)
                    lat[k2] = lat.get(k2, 0.0) + st.from_backlog / h
                queue_avg = 0.5 * (b_old + st.backlog) + lq
                pool.levels.set(now, st.in_service / n, queue_avg / n, st.completed / (h * n))
        for inst in list(self.draining):
            self._drain_step(inst, now, h, rates, lat)
        self.rates = rates
        self.lat_rates = list(lat.items())

    def _drain_step(
        self,
        inst: FluidInstance,
        now: float,
        h: float,
        rates: dict[str, float],
        lat: dict[tuple[float, int, int], float],
    ) -> None:
        u, b = inst.fluid_share
        mu1 = inst.speed / self.mean_demand
        cap = inst.workers * mu1
        st = advance_pool(inst.workers, cap, u, b, 0.0, 0.0, h, math.inf, math.inf)
        inst.fluid_share = [st.in_service, st.backlog]
        rates["completed"] += st.completed / h
        if st.completed > 0:
            d = st.backlog_delay
            key = (inst.speed, 2, self.shapes.level(d)) if d > 0 else (inst.speed, 0, 0)
            lat[key] = lat.get(key, 0.0) + st.completed / h
        inst._own.set(now, st.in_service, st.backlog, st.completed / h)  # noqa: SLF001
        if st.in_service + st.backlog <= _EPS:
            inst.fluid_share = [0.0, 0.0]
            del self.draining[inst]
            if inst.state is State.DRAINING and inst.on_idle is not None:
                # Finished within this step: retire at its end, as the exact mode would.
                timer = self.env.timeout(h)
                assert timer.callbacks is not None
                timer.callbacks.append(functools.partial(self._idle_after, inst))

    def _idle_after(self, inst: FluidInstance, _ev: Any) -> None:
        if inst.state is State.DRAINING and inst.on_idle is not None and not inst.fluid_share[0]:
            inst.on_idle(inst)


def start_fluid(ctx: RunContext) -> FluidServing:
    """Drive the scenario's serving in fluid mode from t = 0 (call after the platform)."""
    driver = FluidServing(ctx)
    driver.start()
    return driver
