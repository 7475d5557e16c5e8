"""What does running a sweep cost beyond its simulations, and does a second worker pay?

1. **Throughput.** A 16-point sweep of an M/M/8 experiment (one scenario, one
   replication per point, about ``--seconds`` of simulation each) runs with
   ``workers=1`` and with ``workers=2`` into fresh folders; the ratio of wall times
   is the throughput gain of the second worker (target ≥ 1.7× on 2 cores).
   The same runs are also timed with no sweep machinery (serially, and with a plain
   ``multiprocessing`` pool of 2): that ratio is the ceiling the machine's CPUs allow.
2. **Overhead per point.** A 16-point sweep of trivially short points (horizon 1 s)
   runs with ``workers=1`` and ``workers=2``; the same 16 runs are also timed as bare
   ``run_one`` calls in this process. ``(sweep wall − Σ run_one) / points`` is what a
   point costs in scheduling, pickling, assembling its tables and writing its folder
   atomically (target < 50 ms). Expanding and validating the points
   (``plan_sweep``) is timed separately, and so is writing each point's HTML report.

The machine's load average is recorded before and after: on a shared machine the
ratio is only as good as the idle cores it had. Results go to
``benchmarks/results/sweep.json``.

Run: ``.venv/bin/python benchmarks/bench_sweep.py [--points 16] [--seconds 1.0]``
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from simulator.engine import run_one  # noqa: E402
from simulator.sweep import plan_sweep, run_sweep  # noqa: E402

MMC = """\
name: bench-sweep
seed: 1
horizon: {horizon}s
replications: 1
workload:
  arrivals: {{kind: constant, rate: 7.2/s}}
  service_time: {{kind: exponential, mean: 1s}}
scenarios:
  - name: m-m-8
    platform: {{kind: fixed, instances: 1}}
    serving: {{workers: 8}}
"""


def experiment(folder: Path, horizon: float) -> Path:
    path = folder / f"mmc-{horizon:g}.yaml"
    path.write_text(MMC.format(horizon=horizon))
    return path


def seeds(points: int) -> list[str]:
    return [f"seed={','.join(str(k) for k in range(1, points + 1))}"]


def timed_sweep(exp: Path, points: int, workers: int, folder: Path, **kw: Any) -> float:
    sweep = plan_sweep(exp, grid=seeds(points))
    shutil.rmtree(folder, ignore_errors=True)
    t0 = time.perf_counter()
    out = run_sweep(sweep, folder, workers=workers, **kw)
    wall = time.perf_counter() - t0
    assert len(out.computed) == points and not out.failed
    return wall


def _bare(experiment: Any) -> None:
    run_one(experiment, 0, 0)


def bare_ratio(exp: Path, points: int) -> tuple[float, float]:
    """The same runs with no sweep machinery: serially, then on a plain 2-process pool.
    Their ratio is what this machine's two CPUs give any two processes."""
    experiments = [p.experiment for p in plan_sweep(exp, grid=seeds(points)).points]
    t0 = time.perf_counter()
    for e in experiments:
        _bare(e)
    serial = time.perf_counter() - t0
    t0 = time.perf_counter()
    with mp.get_context("fork").Pool(2) as pool:
        pool.map(_bare, experiments, chunksize=1)
    return serial, time.perf_counter() - t0


def calibrate(folder: Path, seconds: float) -> float:
    """The horizon (simulated s) whose M/M/8 run takes about ``seconds`` of wall time."""
    probe = 2000.0
    sweep = plan_sweep(experiment(folder, probe), grid=["seed=1"])
    t0 = time.perf_counter()
    run_one(sweep.points[0].experiment, 0, 0)
    per_sim_s = (time.perf_counter() - t0) / probe
    return round(seconds / per_sim_s, -2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--points", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=1.0, help="wall time of one point")
    ap.add_argument("--repeat", type=int, default=1, help="best of R for each timing")
    args = ap.parse_args()
    load_before = os.getloadavg()
    tmp = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    try:
        horizon = calibrate(tmp, args.seconds)
        long_exp = experiment(tmp, horizon)
        one = min(timed_sweep(long_exp, args.points, 1, tmp / "w1") for _ in range(args.repeat))
        two = min(timed_sweep(long_exp, args.points, 2, tmp / "w2") for _ in range(args.repeat))
        bare_one, bare_two = bare_ratio(long_exp, args.points)

        short = experiment(tmp, 1.0)
        t0 = time.perf_counter()
        sweep = plan_sweep(short, grid=seeds(args.points))
        plan_ms = (time.perf_counter() - t0) * 1000 / args.points
        t0 = time.perf_counter()
        for p in sweep.points:
            run_one(p.experiment, 0, 0)
        bare = time.perf_counter() - t0
        over: dict[str, float] = {}
        for workers in (1, 2):
            wall = min(
                timed_sweep(short, args.points, workers, tmp / f"s{workers}")
                for _ in range(max(args.repeat, 2))
            )
            over[f"workers={workers}"] = (wall - bare) * 1000 / args.points
        wall_r = timed_sweep(short, args.points, 1, tmp / "sr", point_reports=True)
        report_ms = (wall_r - bare) * 1000 / args.points - over["workers=1"]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    load_after = os.getloadavg()

    ratio = one / two
    worst = max(over.values())
    lines = [
        f"sweep of {args.points} M/M/8 points, horizon {horizon:g} s "
        f"(≈ {args.seconds:g} s of wall time each)",
        f"  1 worker : {one:7.2f} s  ({args.points / one:5.2f} points/s)",
        f"  2 workers: {two:7.2f} s  ({args.points / two:5.2f} points/s)",
        f"  throughput ratio 2/1: {ratio:.2f}x   "
        f"[{'PASS' if ratio >= 1.7 else 'FAIL'} target >= 1.7x]",
        f"  the same runs without a sweep (plain multiprocessing pool): {bare_one:.2f} s "
        f"serial, {bare_two:.2f} s on 2 processes = {bare_one / bare_two:.2f}x "
        "(what this machine's 2 CPUs give)",
        f"  sweep ratio / plain-pool ratio: {ratio / (bare_one / bare_two):.2f}",
        f"overhead per point (16 points of 1 s simulated, Σ run_one = {bare * 1000:.0f} ms):",
        *(f"  {k}: {v:6.1f} ms" for k, v in over.items()),
        f"  [{'PASS' if worst < 50 else 'FAIL'} target < 50 ms]",
        f"  expanding + validating (plan_sweep): {plan_ms:.1f} ms per point (before running)",
        f"  with --point-reports: + {report_ms:.0f} ms per point for report.html",
        f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} "
        f"on {os.cpu_count()} CPUs",
    ]
    print("\n".join(lines))
    results = Path(__file__).resolve().parent / "results"
    results.mkdir(exist_ok=True)
    record = {
        "points": args.points,
        "horizon_s": horizon,
        "wall_1_worker_s": one,
        "wall_2_workers_s": two,
        "throughput_ratio": ratio,
        "plain_pool_serial_s": bare_one,
        "plain_pool_2_s": bare_two,
        "plain_pool_ratio": bare_one / bare_two,
        "overhead_ms_per_point": over,
        "plan_ms_per_point": plan_ms,
        "point_report_ms": report_ms,
        "bare_run_one_ms_total": bare * 1000,
        "loadavg_before": load_before,
        "loadavg_after": load_after,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "targets": {"ratio>=1.7": ratio >= 1.7, "overhead<50ms": worst < 50},
    }
    (results / "sweep.json").write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
