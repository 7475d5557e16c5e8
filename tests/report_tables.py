"""Synthetic result tables for report tests: sweep.csv, plan.csv and a big run.

The numbers follow a simple, monotone capacity model (more instances: lower p99, fewer
losses, higher cost) so figures and the best-configuration rule have something to find;
they are not simulation output. Shared by the unit tests, the browser test and
``benchmarks/bench_report.py``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

# Summary columns the tables carry (as summary_ci.csv would), plus one constant column.
METRICS = (
    "arrived",
    "completed",
    "dropped",
    "timed_out",
    "in_flight",
    "latency_p50_s",
    "latency_p99_s",
    "throughput_rps",
    "utilisation_mean",
    "slo_attainment",
    "cost_usd",
)


def _metrics(n: float, s: int, bonus: float) -> dict[str, float]:
    """Means of one (point, scenario): ``n`` capacity, ``s`` scenario index."""
    capacity = n * (1.0 + 0.1 * s) * bonus
    arrived = 10_000.0
    lost = max(0.0, 0.06 - 0.01 * capacity) * arrived
    dropped, timed_out = 0.75 * lost, 0.25 * lost
    p99 = 0.05 + 1.5 / capacity
    return {
        "arrived": arrived,
        "completed": arrived - lost,
        "dropped": dropped,
        "timed_out": timed_out,
        "in_flight": 0.0,
        "latency_p50_s": p99 / 4,
        "latency_p99_s": p99,
        "throughput_rps": (arrived - lost) / 600.0,
        "utilisation_mean": min(1.0, 4.0 / capacity),
        "slo_attainment": max(0.0, 1.0 - lost / arrived - 0.05 / capacity),
        "cost_usd": 0.4 * n * (1.0 + 0.25 * s),
    }


def _metric_columns(means: Mapping[str, float], replications: int) -> dict[str, float]:
    row: dict[str, float] = {}
    for name in METRICS:
        mean = means[name]
        sd = 0.1 * abs(mean) if replications > 1 else math.nan
        row[f"{name}_mean"] = mean
        row[f"{name}_sd"] = sd
        row[f"{name}_ci95"] = 0.05 * abs(mean) if replications > 1 else math.nan
    return row


def sweep_table(
    scenarios: Sequence[str],
    factors: Mapping[str, Sequence[Any]],
    *,
    design: str = "grid",
    replications: int = 3,
    failed: Mapping[tuple[int, str], str] | None = None,
) -> pd.DataFrame:
    """One row per (point, scenario), columns as ``sweep.csv``.

    The first factor is the capacity (numbers; text values count as 2, 4, 6, ...); a
    second factor, if any, scales capacity by 1 + 0.2 × its position among its values (so
    it may be text). ``failed`` maps (point index, scenario) to an error message.
    """
    names = list(factors)
    if design == "zip":
        combos = list(zip(*factors.values(), strict=True))
    else:
        combos = list(itertools.product(*factors.values()))
    rows: list[dict[str, Any]] = []
    for p, combo in enumerate(combos):
        bonus = 1.0
        if len(names) > 1:
            bonus += 0.2 * list(factors[names[1]]).index(combo[1])
        for s, scenario in enumerate(scenarios):
            row: dict[str, Any] = {"point": f"p{p:03d}", **dict(zip(names, combo, strict=True))}
            error = (failed or {}).get((p, scenario))
            row.update(
                scenario=scenario,
                status="failed" if error else "ok",
                error=error or "",
                replications=replications,
            )
            if error:
                row.update({f"{m}_{k}": math.nan for m in METRICS for k in ("mean", "sd", "ci95")})
            else:
                first = combo[0]
                if isinstance(first, str):  # a categorical factor: capacity by position
                    first = 2 * (list(factors[names[0]]).index(first) + 1)
                row.update(_metric_columns(_metrics(float(first), s, bonus), replications))
            rows.append(row)
    return pd.DataFrame(rows)


def sweep_info(
    experiment: str,
    factors: Sequence[str],
    points: int,
    *,
    design: str = "grid",
    slo: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """``sweep.json`` content."""
    return {
        "experiment": experiment,
        "question": "How many instances keep p99 under 300 ms?",
        "factors": list(factors),
        "design": design,
        "slo": dict(slo) if slo is not None else {"latency_p99": 0.3, "dropped": 0.001},
        "points": points,
    }


def plan_table(values: Sequence[float], *, threshold: float = 0.3) -> pd.DataFrame:
    """One row per evaluated value (in the given order), columns as ``plan.csv``."""
    rows = []
    for step, value in enumerate(values):
        means = _metrics(float(value), 0, 1.0)
        row: dict[str, Any] = {
            "step": step,
            "value": value,
            "replications": 5,
            "meets": means["latency_p99_s"] < threshold,
        }
        row.update(_metric_columns(means, 5))
        rows.append(row)
    return pd.DataFrame(rows)


def plan_info(experiment: str, scenario: str, answer: float | None) -> dict[str, Any]:
    """``plan.json`` content with one latency SLO."""
    return {
        "experiment": experiment,
        "scenario": scenario,
        "parameter": f"scenarios.{scenario}.platform.instances",
        "slos": [
            {"metric": "latency_p99_s", "op": "<", "threshold": 0.3, "text": "p99<300ms"},
        ],
        "confidence": 0.95,
        "answer": answer,
        "analytic": 6,
        "analytic_method": "Erlang C (M/M/c)",
        "runs": 35,
    }


def run_tables(
    n_scenarios: int, *, replications: int = 2, windows: int = 60
) -> dict[str, pd.DataFrame]:
    """Result tables of one run with ``n_scenarios`` scenarios, for :func:`reports.write_report`.

    Keys: ``summary``, ``timeseries``, ``provisioning``, ``scaling``, ``pulls`` (every
    scenario scales and pulls, so the run report has all eleven figures).
    """
    from reports import (
        PROVISIONING_COLUMNS,
        PULLS_COLUMNS,
        SCALING_COLUMNS,
        SUMMARY_COLUMNS,
        TIMESERIES_COLUMNS,
    )

    summary, series, prov, scaling, pulls = [], [], [], [], []
    for rep in range(replications):
        for k in range(n_scenarios):
            name = f"scenario-{k:03d}"
            row: dict[str, Any] = dict.fromkeys(SUMMARY_COLUMNS, 0)
            lat = 0.02 + 0.001 * k + 0.002 * rep
            row.update(
                scenario=name,
                replication=rep,
                seed=rep,
                arrived=1000,
                completed=990,
                dropped=10,
                latency_p50_s=lat / 2,
                latency_p95_s=lat,
                latency_p99_s=lat * 1.5,
                slo_attainment=0.95,
                slo_met=True,
                cost_usd=0.5 + 0.01 * k,
                cost_per_million_requests_usd=500.0,
                time_to_first_ready_s=20.0 + k % 7,
                time_to_target_capacity_s=40.0 + k % 11,
            )
            summary.append(row)
            for w in range(windows):
                series.append(
                    {
                        "scenario": name,
                        "replication": rep,
                        "time_s": 5.0 * (w + 1),
                        "offered_rate_rps": 10.0 if w < windows // 3 else 40.0,
                        "arrival_rate_rps": 10.0 if w < windows // 3 else 38.0,
                        "ready_instances": 1 + min(w // 5, 4),
                        "provisioning_instances": 0,
                        "queue_length": max(0, w - 10) % 7,
                        "busy_workers": 1,
                        "utilisation": 0.8,
                        "cost_rate_usd_per_h": 0.1 + 0.001 * k,
                        "completed": 50,
                        "dropped": 0,
                        "timed_out": 0,
                        "latency_p50_s": lat / 2,
                        "latency_p95_s": lat,
                        "latency_p99_s": lat * (1.0 + 0.01 * (w % 13)),
                    }
                )
            for inst in range(4):
                t0 = 10.0 * inst
                for stage, dur in (("request", 2.0), ("boot", 30.0 + k % 5), ("ready", 1.0)):
                    prov.append(
                        {
                            "scenario": name,
                            "replication": rep,
                            "instance": f"i-{inst}",
                            "stage": stage,
                            "start_s": t0,
                            "end_s": t0 + dur,
                            "waited_s": 0.0,
                        }
                    )
                    t0 += dur
            for t, current, desired in ((55.0, 1, 3), (70.0, 3, 5), (85.0, 5, 5), (200.0, 5, 4)):
                scaling.append(
                    {
                        "scenario": name,
                        "replication": rep,
                        "time_s": t,
                        "controller": "hpa",
                        "metric": "cpu",
                        "metric_value": 0.9,
                        "current": current,
                        "desired": desired,
                        "applied": desired,
                        "reason": "cpu above target",
                    }
                )
            for node in range(3):
                for j in range(3):
                    start = 55.0 + 5 * node
                    pulls.append(
                        {
                            "scenario": name,
                            "replication": rep,
                            "node": f"node-{node}",
                            "image": "shop/web:2",
                            "layer": f"sha256:{j:064x}",
                            "bytes": 40e6 / (j + 1),
                            "cache_hit": False,
                            "download_start_s": start,
                            "download_end_s": start + 2.0 + j,
                            "extract_start_s": start + 3.0 + j,
                            "extract_end_s": start + 3.5 + j,
                            "source": "registry",
                        }
                    )
    return {
        "summary": pd.DataFrame(summary, columns=list(SUMMARY_COLUMNS)),
        "timeseries": pd.DataFrame(series, columns=list(TIMESERIES_COLUMNS)),
        "provisioning": pd.DataFrame(prov, columns=list(PROVISIONING_COLUMNS)),
        "scaling": pd.DataFrame(scaling, columns=list(SCALING_COLUMNS)),
        "pulls": pd.DataFrame(pulls, columns=list(PULLS_COLUMNS)),
    }
