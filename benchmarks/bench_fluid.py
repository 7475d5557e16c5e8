"""``experiments/year-of-growth.yaml`` in fluid mode: wall time and peak memory.

Targets (issue 7): under 60 s of wall time and under 1 GiB of peak memory for the whole
experiment (365 days, four scenarios, one replication).

The run happens in a fresh child process (``python benchmarks/bench_fluid.py --child``),
so its ``VmHWM`` is the experiment's own peak resident memory (not this script's, and not
inherited: see ``bench_mmc.peak_rss_bytes``). The child runs the scenarios with
``--workers`` processes (default 1: one process, so the peak covers every scenario; with
2, the wall time of a two-core machine and the parent's peak only). It reports the wall
and CPU time of the whole run and of each scenario, the steps and simulated requests, and
the load average before and after (the machine may be shared: CPU time is the fairer
number when the load is high).

Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_fluid.py                 # the full year
    .venv/bin/python benchmarks/bench_fluid.py --horizon 30d   # a quick check
    .venv/bin/python benchmarks/bench_fluid.py --workers 2

Writes ``benchmarks/results/fluid-<horizon>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENT = ROOT / "experiments" / "year-of-growth.yaml"
TARGET_WALL_S = 60.0
TARGET_PEAK_BYTES = 1 << 30


def _vm_hwm() -> int:
    """This process's peak resident set (``VmHWM``), in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def child(horizon: str | None, workers: int) -> dict[str, Any]:
    """Run the experiment here and return the measurements (called in a fresh process)."""
    sys.path.insert(0, str(ROOT))
    from simulator.loading import load_experiment
    from simulator.results import run

    overrides = [f"horizon={horizon}"] if horizon else []
    exp = load_experiment(EXPERIMENT, overrides)
    per_scenario: list[dict[str, Any]] = []
    last = [time.perf_counter(), time.process_time()]

    def progress(done: int, total: int, res: Any) -> None:
        now = [time.perf_counter(), time.process_time()]
        per_scenario.append(
            {
                "scenario": res.scenario,
                "wall_s": now[0] - last[0],
                "cpu_s": now[1] - last[1],
                "arrived": int(res.summary["arrived"]),
                "cost_usd": float(res.summary["cost_usd"]),
                "slo_violation_minutes": float(res.summary["slo_violation_minutes"]),
            }
        )
        last[:] = now

    wall0, cpu0 = time.perf_counter(), time.process_time()
    results = run(exp, workers=workers, progress=progress)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    monthly = results.tables.get("monthly")
    return {
        "horizon_s": exp.horizon,
        "workers": workers,
        "wall_s": wall,
        "cpu_s": cpu,
        "peak_rss_bytes": _vm_hwm(),
        "requests": int(results.summary["arrived"].sum()),
        "scenarios": per_scenario,
        "monthly_rows": 0 if monthly is None else len(monthly),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--horizon", default=None, help="override the horizon (e.g. 30d)")
    ap.add_argument("--workers", type=int, default=1, help="processes for the scenarios")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.horizon, args.workers)))
        return
    load_before = os.getloadavg()
    cmd = [sys.executable, __file__, "--child", "--workers", str(args.workers)]
    if args.horizon:
        cmd += ["--horizon", args.horizon]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)
    m = json.loads(out.stdout.strip().splitlines()[-1])
    m["load_before"], m["load_after"] = load_before, os.getloadavg()
    m["python"] = platform.python_version()
    m["cpus"] = os.cpu_count()
    m["meets_wall"] = m["wall_s"] < TARGET_WALL_S
    m["meets_memory"] = m["peak_rss_bytes"] < TARGET_PEAK_BYTES
    print(f"year-of-growth (fluid), horizon {m['horizon_s'] / 86400:g} d, workers {m['workers']}")
    print(f"  load average before {load_before[0]:.2f}, after {m['load_after'][0]:.2f}")
    for s in m["scenarios"]:
        print(
            f"  {s['scenario']:28s} wall {s['wall_s']:6.1f} s  cpu {s['cpu_s']:6.1f} s  "
            f"{s['arrived'] / 1e9:6.2f}e9 requests  cost ${s['cost_usd']:,.0f}  "
            f"SLO violated {s['slo_violation_minutes']:,.0f} min"
        )
    print(
        f"  total: wall {m['wall_s']:.1f} s (target < {TARGET_WALL_S:g} s: "
        f"{'met' if m['meets_wall'] else 'NOT met'}), cpu {m['cpu_s']:.1f} s, "
        f"peak RSS {m['peak_rss_bytes'] / 2**20:.0f} MiB (target < 1 GiB: "
        f"{'met' if m['meets_memory'] else 'NOT met'}), {m['requests']:.3g} requests"
    )
    results_dir = ROOT / "benchmarks" / "results"
    results_dir.mkdir(exist_ok=True)
    tag = args.horizon or "365d"
    (results_dir / f"fluid-{tag}.json").write_text(json.dumps(m, indent=2) + "\n")


if __name__ == "__main__":
    main()
