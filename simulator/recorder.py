"""Streaming statistics in simulation time.

* **Tallies** (per-request latency and wait) go into a fixed-bucket log
  histogram: bucket edges grow by 2 % from 1 µs, and a percentile is reported
  as the geometric middle of its bucket, so its relative error is below 1 %
  whatever the request count. Memory is fixed: the per-request cost is a list
  append; blocks of 64k values are folded into the histogram with numpy.
* **Counters** are kept per cohort: only requests *arriving* after the warm-up
  count, so ``arrived = completed + dropped + timed_out + in_flight`` holds
  exactly.
* **Levels** (instances, queue length, busy workers, cost rate) are integrated
  over time, and sampled on a grid by the engine into the time series.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from simulator.serving import Request

__all__ = ["LogHistogram", "Recorder", "Meter"]

_FLUSH_AT = 65536


class LogHistogram:
    """Counts of values in log-spaced buckets: ``[lo·r^k, lo·r^(k+1))``, r = 1.02."""

    RATIO = 1.02
    LOW = 1e-6
    HIGH = 1e8

    def __init__(self) -> None:
        self._log_r = math.log(self.RATIO)
        self.n_buckets = int(math.ceil(math.log(self.HIGH / self.LOW) / self._log_r)) + 2
        self.counts = np.zeros(self.n_buckets, dtype=np.int64)

    def index(self, values: np.ndarray) -> np.ndarray:
        """Bucket of each value; bucket 0 holds everything below ``LOW`` (including 0)."""
        # Values are floored at LOW/2 > 0 first, so the log never sees 0 (no errstate
        # needed: entering it costs more than the arithmetic for a window of values).
        k = np.floor(np.log(np.maximum(values, self.LOW * 0.5) / self.LOW) / self._log_r)
        return np.clip(k + 1, 0, self.n_buckets - 1).astype(np.int64)

    def add(self, values: np.ndarray) -> None:
        self.counts += np.bincount(self.index(values), minlength=self.n_buckets)

    def add_counts(self, counts: np.ndarray) -> None:
        self.counts += counts

    @property
    def n(self) -> int:
        return int(self.counts.sum())

    def quantiles(self, qs: list[float]) -> list[float]:
        """The q-quantiles (smallest bucket whose cumulative share reaches q); NaN if empty."""
        cum = np.cumsum(self.counts)
        total = int(cum[-1])
        if total == 0:
            return [math.nan] * len(qs)
        out = []
        for q in qs:
            rank = max(1, math.ceil(q * total))
            k = int(np.searchsorted(cum, rank))
            out.append(self.representative(k))
        return out

    def representative(self, k: int) -> float:
        """Geometric middle of bucket ``k`` (0 for the below-LOW bucket)."""
        if k == 0:
            return 0.0
        lo = self.LOW * self.RATIO ** (k - 1)
        return lo * math.sqrt(self.RATIO)

    def count_at_most(self, x: float) -> int:
        """Values in buckets entirely at or below ``x`` (a bucket straddling x counts half)."""
        k = int(self.index(np.array([x]))[0])
        return int(self.counts[:k].sum() + self.counts[k] // 2)


class Meter:
    """A time-weighted level: its value and its integral over simulation time."""

    __slots__ = ("value", "area", "t_last", "peak")

    def __init__(self, value: float = 0.0, now: float = 0.0) -> None:
        self.value = value
        self.area = 0.0
        self.t_last = now
        self.peak = value

    def set(self, now: float, value: float) -> None:
        self.area += self.value * (now - self.t_last)
        self.t_last = now
        self.value = value
        if value > self.peak:
            self.peak = value

    def add(self, now: float, delta: float) -> None:
        self.set(now, self.value + delta)

    def area_at(self, now: float) -> float:
        return self.area + self.value * (now - self.t_last)


class Recorder:
    """Counters and tallies of one run (one scenario × replication)."""

    QUANTILES = (0.5, 0.9, 0.95, 0.99, 0.999)

    def __init__(self, warmup: float, slo_latency: float | None, n_classes: int = 1) -> None:
        self.warmup = warmup
        self.slo_latency = slo_latency
        self.n_classes = n_classes
        self.arrived = 0
        self.completed = 0
        self.dropped_queue_full = 0
        self.dropped_no_instance = 0
        self.dropped_failed = 0
        self.timed_out_n = 0
        self.completed_within_slo = 0
        self.wait_sum = 0.0
        self.latency_sum = 0.0
        self.latency_max = 0.0
        self.waited = 0
        self.hist = LogHistogram()
        self.window_hist = LogHistogram()
        # A second window for the metrics pipeline controllers read (its own cadence).
        self.metrics_hist = LogHistogram()
        self._arrived_taken = 0
        self._completed_taken = 0
        self._metrics_mark = (0, 0)
        self.class_hists = [LogHistogram() for _ in range(n_classes)] if n_classes > 1 else []
        # Window counters for the time series (all arrivals, warm-up included).
        self.w_arrived = 0
        self.w_completed = 0
        self.w_dropped = 0
        self.w_timed_out = 0
        # Tally buffers: a completion appends its arrival, start and end times (floats the
        # request already holds, so nothing is computed or allocated per request);
        # ``flush`` turns a block of them into latencies and waits with numpy.
        self._arrival_buf: list[float] = []
        self._start_buf: list[float] = []
        self._end_buf: list[float] = []
        self._class_buf: list[int] = []

    # -- hot path ---------------------------------------------------------------------------

    def arrive(self, req: Request) -> None:
        self.w_arrived += 1
        if req.t_arrival >= self.warmup:
            self.arrived += 1

    def complete(self, req: Request, now: float) -> None:
        """``req`` finished service at ``now`` (``Instance`` inlines these appends)."""
        self._arrival_buf.append(req.t_arrival)
        self._start_buf.append(req.t_start)
        self._end_buf.append(now)
        if self.n_classes > 1:
            self._class_buf.append(req.cls)
        self.maybe_flush()

    def maybe_flush(self) -> None:
        """Fold the buffered tallies if the block is full (called every few thousand
        arrivals, so the buffers stay bounded without a check per completion)."""
        if len(self._end_buf) >= _FLUSH_AT:
            self.flush()

    def drop(self, req: Request, no_instance: bool) -> None:
        self.w_dropped += 1
        if req.t_arrival >= self.warmup:
            if no_instance:
                self.dropped_no_instance += 1
            else:
                self.dropped_queue_full += 1

    def fail(self, req: Request) -> None:
        """The instance serving or holding ``req`` died: the request is lost."""
        self.w_dropped += 1
        if req.t_arrival >= self.warmup:
            self.dropped_failed += 1

    def timed_out(self, req: Request) -> None:
        self.w_timed_out += 1
        if req.t_arrival >= self.warmup:
            self.timed_out_n += 1

    # -- folding ----------------------------------------------------------------------------

    def flush(self) -> None:
        """Fold buffered tallies into the histograms (a block of numpy work)."""
        if not self._end_buf:
            return
        arrival = np.asarray(self._arrival_buf)
        lat = np.asarray(self._end_buf) - arrival
        wait = np.asarray(self._start_buf) - arrival
        idx = self.hist.index(lat)
        counts_all = np.bincount(idx, minlength=self.hist.n_buckets)
        self.window_hist.add_counts(counts_all)
        self.metrics_hist.add_counts(counts_all)
        self.w_completed += lat.size
        # After the warm-up every buffered request is measured: skip the masking (the
        # same arrays, so the same sums). Flushes run every sample interval, so this
        # block's fixed numpy cost matters as much as its per-value cost.
        everyone = float(arrival.min()) >= self.warmup
        measured = None if everyone else arrival >= self.warmup
        if measured is None or measured.any():
            if measured is None:
                m_lat, m_wait, m_idx = lat, wait, idx
                self.hist.add_counts(counts_all)
            else:
                m_lat, m_wait, m_idx = lat[measured], wait[measured], idx[measured]
                self.hist.add_counts(np.bincount(m_idx, minlength=self.hist.n_buckets))
            self.completed += int(m_lat.size)
            self.latency_sum += float(m_lat.sum())
            self.latency_max = max(self.latency_max, float(m_lat.max()))
            self.wait_sum += float(m_wait.sum())
            self.waited += int(np.count_nonzero(m_wait > 0))
            if self.slo_latency is not None:
                self.completed_within_slo += int(np.count_nonzero(m_lat <= self.slo_latency))
            if self.class_hists:
                cls = np.asarray(self._class_buf, dtype=np.int64)
                if measured is not None:
                    cls = cls[measured]
                for c, h in enumerate(self.class_hists):
                    sel = m_idx[cls == c]
                    if sel.size:
                        h.add_counts(np.bincount(sel, minlength=h.n_buckets))
        self._arrival_buf.clear()
        self._start_buf.clear()
        self._end_buf.clear()
        self._class_buf.clear()

    def take_window(self) -> tuple[int, int, int, int, list[float]]:
        """Counters and latency p50/p95/p99 of the window since the last call; resets them."""
        self.flush()
        q = self.window_hist.quantiles([0.5, 0.95, 0.99])
        out = (self.w_arrived, self.w_completed, self.w_dropped, self.w_timed_out, q)
        self._arrived_taken += self.w_arrived
        self._completed_taken += self.w_completed
        self.window_hist.counts[:] = 0
        self.w_arrived = self.w_completed = self.w_dropped = self.w_timed_out = 0
        return out

    def take_metrics_window(self) -> tuple[int, int, float, float, float]:
        """Arrivals, completions and latency p50/p95/p99 since the last call (all requests,
        warm-up included): what a monitoring system saw in its last scrape window."""
        self.flush()
        arrived = self._arrived_taken + self.w_arrived
        completed = self._completed_taken + self.w_completed
        a0, c0 = self._metrics_mark
        self._metrics_mark = (arrived, completed)
        p50, p95, p99 = self.metrics_hist.quantiles([0.5, 0.95, 0.99])
        self.metrics_hist.counts[:] = 0
        return arrived - a0, completed - c0, p50, p95, p99

    @property
    def dropped(self) -> int:
        return self.dropped_queue_full + self.dropped_no_instance + self.dropped_failed
