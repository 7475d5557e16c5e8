"""Calendar roll-ups of the time series: ``monthly.csv`` for horizons longer than a month.

A month is 730 h, the month the prices use (``simulator.units.HOURS_PER_MONTH``), so a
365-day horizon is exactly twelve months. Each month sums the sampling windows that end
in it: cost from the cost rate, requests from the window counters, and SLO violation
minutes by the rule of the summary's ``slo_violation_minutes`` (a window whose latency
percentile exceeds its target, or whose unserved share exceeds ``slo.dropped``). Windows
before the warm-up are left out, as in the summary.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from simulator.units import HOURS_PER_MONTH

if TYPE_CHECKING:
    from simulator.config import Experiment

__all__ = ["MONTH_S", "monthly_rows"]

MONTH_S = HOURS_PER_MONTH * 3600.0


def _broken(experiment: Experiment, cols: dict[str, list[Any]], i: int) -> bool:
    slo = experiment.slo
    if slo is None:
        return False
    for col, target in (
        ("latency_p99_s", slo.latency_p99),
        ("latency_p95_s", slo.latency_p95),
        ("latency_p50_s", slo.latency_p50),
    ):
        if target is not None and cols[col][i] > target:  # NaN compares False
            return True
    if slo.dropped is not None:
        lost = cols["dropped"][i] + cols["timed_out"][i]
        finished = cols["completed"][i] + lost
        return bool(finished > 0 and lost / finished > slo.dropped)
    return False


def monthly_rows(experiment: Experiment, cols: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """One row per (730 h) month of the horizon; empty when the horizon is a month or less."""
    if experiment.horizon <= MONTH_S:
        return []
    warmup = experiment.warmup
    n_months = math.ceil(experiment.horizon / MONTH_S - 1e-9)
    rows: list[dict[str, Any]] = [
        {
            "month": m + 1,
            "start_s": m * MONTH_S,
            "end_s": min((m + 1) * MONTH_S, experiment.horizon),
            "cost_usd": 0.0,
            "slo_violation_minutes": 0.0 if experiment.slo is not None else math.nan,
            "arrived": 0,
            "completed": 0,
            "dropped": 0,
            "timed_out": 0,
            "instances_mean": 0.0,
            "max_instances": 0.0,
            "latency_p99_max_s": math.nan,
        }
        for m in range(n_months)
    ]
    spans = [0.0] * n_months
    t_prev = 0.0
    for i, t in enumerate(cols["time_s"]):
        window_start, t_prev = t_prev, t
        if t <= warmup:
            continue
        span = t - max(window_start, warmup)
        m = min(int((t - 1e-9) // MONTH_S), n_months - 1)
        row = rows[m]
        row["cost_usd"] += cols["cost_rate_usd_per_h"][i] * span / 3600.0
        if _broken(experiment, cols, i):
            row["slo_violation_minutes"] += span / 60.0
        # Window counters cover the whole window (a window across the warm-up counts whole).
        row["arrived"] += round(cols["arrival_rate_rps"][i] * (t - window_start))
        row["completed"] += cols["completed"][i]
        row["dropped"] += cols["dropped"][i]
        row["timed_out"] += cols["timed_out"][i]
        ready = cols["ready_instances"][i]
        row["instances_mean"] += ready * span
        row["max_instances"] = max(row["max_instances"], ready)
        p99 = cols["latency_p99_s"][i]
        if not math.isnan(p99) and not (row["latency_p99_max_s"] >= p99):
            row["latency_p99_max_s"] = p99
        spans[m] += span
    for row, span in zip(rows, spans, strict=True):
        row["instances_mean"] = row["instances_mean"] / span if span > 0 else math.nan
    return rows
