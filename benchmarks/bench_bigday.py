"""``experiments/big-day.yaml`` in exact mode: requests simulated per second, peak memory.

Every request of the day is an event: diurnal arrivals peaking at 2,000/s, routed at
random (kube-proxy, the first scenario) over up to 5,000 pods on up to 300 nodes, the
HPA and the cluster autoscaler reconciling as the load moves. Each horizon runs in a
fresh interpreter (``run_one`` of the experiment's first scenario, replication 0, with
``--set horizon=H``; from midnight, so short horizons see the night's load, not the
16:00 peak), which reports

* requests simulated per second: ``arrived`` / wall time of ``run_one`` (target
  ≥ 200,000/s);
* peak memory: the child's ``VmHWM`` (see ``bench_mmc.peak_rss_bytes`` for why not
  ``ru_maxrss``), target < 2 GiB, and flat in the number of requests: two horizons
  with several times the requests should peak at about the same size.

Usage (from the repository root)::

    python benchmarks/bench_bigday.py                        # horizons 1h and 4h
    python benchmarks/bench_bigday.py --horizons 24h         # the whole day (minutes)

Results go to ``benchmarks/results/bigday.json``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_mmc import current_rss_bytes, peak_rss_bytes  # noqa: E402

EXPERIMENT = REPO_ROOT / "experiments" / "big-day.yaml"
RESULTS_DIR = Path(__file__).resolve().parent / "results"
TARGET_RPS = 200_000.0
TARGET_PEAK_BYTES = 2 * 2**30
MIB = 2.0**20


def child(horizon: str, overrides: list[str]) -> None:
    """Body of one subprocess: run the scenario to ``horizon`` and print a JSON line."""
    from simulator.engine import run_one
    from simulator.loading import load_experiment

    exp = load_experiment(EXPERIMENT, [f"horizon={horizon}", *overrides])
    gc.collect()
    baseline = current_rss_bytes()
    cpu0, t0 = time.process_time(), time.perf_counter()
    result = run_one(exp, 0, 0)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    s = result.summary
    print(
        json.dumps(
            {
                "horizon": horizon,
                "horizon_s": exp.horizon,
                "arrived": int(s["arrived"]),
                "completed": int(s["completed"]),
                "dropped": int(s["dropped"]),
                "timed_out": int(s["timed_out"]),
                "max_instances": float(s["max_instances"]),
                "instances_mean": float(s["instances_mean"]),
                "latency_p99_s": float(s["latency_p99_s"]),
                "utilisation_mean": float(s["utilisation_mean"]),
                "cost_usd": float(s["cost_usd"]),
                "wall_s": wall,
                "cpu_s": cpu,
                "requests_per_s": s["arrived"] / wall,
                "requests_per_cpu_s": s["arrived"] / cpu,
                "baseline_rss_bytes": baseline,
                "peak_rss_bytes": peak_rss_bytes(),
            }
        )
    )


def run_child(horizon: str, overrides: list[str]) -> dict[str, Any]:
    """One horizon in a fresh interpreter (a fresh peak-memory counter)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", horizon]
    for o in overrides:
        cmd += ["--set", o]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO_ROOT, check=False)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        return {"horizon": horizon, "error": f"exit {proc.returncode}: {tail[0]}"}
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def main(argv: list[str] | None = None) -> int:
    """Run each horizon, print the table and the verdicts, write the JSON."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--horizons", default="1h,4h", help="comma-separated horizons to run")
    p.add_argument("--set", action="append", default=[], help="extra config override")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child is not None:
        child(args.child, args.set)
        return 0

    rows = []
    load_before = os.getloadavg()
    for horizon in args.horizons.split(","):
        print(f"  big-day to {horizon} (subprocess) ...", flush=True)
        rows.append(run_child(horizon, args.set))
    load_after = os.getloadavg()
    print()
    print(
        f"{'horizon':>8} {'requests':>12} {'wall s':>8} {'req/s':>10} {'req/cpu-s':>10} "
        f"{'peak MiB':>9} {'added MiB':>9} {'max pods':>9} {'p99 s':>6} {'dropped':>8}"
    )
    for r in rows:
        if "error" in r:
            print(f"{r['horizon']:>8} failed: {r['error']}")
            continue
        print(
            f"{r['horizon']:>8} {r['arrived']:>12,} {r['wall_s']:>8.1f} "
            f"{r['requests_per_s']:>10,.0f} {r['requests_per_cpu_s']:>10,.0f} "
            f"{r['peak_rss_bytes'] / MIB:>9.0f} "
            f"{(r['peak_rss_bytes'] - r['baseline_rss_bytes']) / MIB:>9.0f} "
            f"{r['max_instances']:>9.0f} {r['latency_p99_s']:>6.2f} {r['dropped']:>8,}"
        )
    ok = [r for r in rows if "error" not in r]
    verdicts = []
    if ok:
        best = max(r["requests_per_s"] for r in ok)
        peak = max(r["peak_rss_bytes"] for r in ok)
        verdicts = [
            (f"requests/s >= {TARGET_RPS:,.0f}", best >= TARGET_RPS, f"{best:,.0f}"),
            ("peak memory < 2 GiB", peak < TARGET_PEAK_BYTES, f"{peak / MIB:,.0f} MiB"),
        ]
        if len(ok) >= 2:
            small, large = min(ok, key=lambda r: r["arrived"]), max(ok, key=lambda r: r["arrived"])
            ratio = large["peak_rss_bytes"] / small["peak_rss_bytes"]
            growth = large["arrived"] / max(1, small["arrived"])
            verdicts.append(
                (
                    f"peak memory flat ({growth:.1f}x the requests, <= 1.25x the peak)",
                    ratio <= 1.25,
                    f"{ratio:.2f}x",
                )
            )
    print(f"load average before {load_before}, after {load_after} ({os.cpu_count()} CPUs)")
    for name, passed, value in verdicts:
        print(f"[{'PASS' if passed else 'FAIL'}] {name}  (measured: {value})")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / "bigday.json"
    out.write_text(
        json.dumps(
            {
                "benchmark": "bigday",
                "created": datetime.now(UTC).isoformat(timespec="seconds"),
                "load_average_before": load_before,
                "load_average_after": load_after,
                "cpu_count": os.cpu_count(),
                "runs": rows,
                "targets": [{"name": n, "pass": v, "value": m} for n, v, m in verdicts],
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {out.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
