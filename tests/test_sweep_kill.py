"""Kill -9 a sweep at seeded random moments, again and again, then let it finish: every
point is present exactly once, every point's tables and ``sweep.csv`` are byte-identical to
an uninterrupted sweep, and no temp folder is left.

Each round starts ``deploysim sweep`` (two worker processes) in its own process group and,
once the round has started writing, SIGKILLs the whole group after a seeded random delay:
mid-point, while a point's folder is being written, between points. After every kill, a
point folder that exists is complete (its ``point.json`` marker appears with it in one
rename) and a complete point is never computed again.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from simulator.sweep import plan_sweep, run_sweep

REPO = Path(__file__).resolve().parents[1]
GRID = ["seed=1,2,3,4,5,6", "scenarios[0].serving.workers=5,7"]  # 12 points
EXPERIMENT = """\
name: kill-sweep
seed: 5
horizon: 10000s
workload:
  arrivals: {kind: constant, rate: 4/s}
  service_time: {kind: exponential, mean: 1s}
slo: {latency_p99: 5s}
scenarios:
  - name: big
    platform: {kind: fixed, instances: 1}
    serving: {workers: 6}
  - name: small
    platform: {kind: fixed, instances: 2}
    serving: {workers: 3}
"""


def command(exp: Path, out: Path) -> list[str]:
    args = [sys.executable, "-m", "simulator", "sweep", str(exp), "--out", str(out)]
    for factor in GRID:
        args += ["--grid", factor]
    return [*args, "--workers", "2", "--no-report", "-q"]


def points(folder: Path) -> list[str]:
    if not folder.exists():
        return []
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def tables(folder: Path) -> dict[str, bytes]:
    """Every point's result tables (the bytes that must not depend on the kills)."""
    return {
        f"{p}/{name}": (folder / p / name).read_bytes()
        for p in points(folder)
        for name in ("summary.csv", "provisioning.csv")
    }


@pytest.mark.slow
def test_kill_9_at_random_moments_then_resume(tmp_path: Path) -> None:
    exp = tmp_path / "exp.yaml"
    exp.write_text(EXPERIMENT)
    reference = tmp_path / "reference"
    run_sweep(plan_sweep(exp, grid=GRID), reference, workers=2)
    assert len(points(reference)) == 12

    out = tmp_path / "killed"
    rng = random.Random(8)
    kills = 0
    done_after_kill: list[int] = []  # complete points after each kill
    kept: dict[str, bytes] = {}  # point.json of every complete point seen so far
    for _ in range(5):
        before = set(points(out))
        proc = subprocess.Popen(command(exp, out), cwd=REPO, start_new_session=True)
        # Once this round has completed a point of its own, kill it at a seeded random
        # moment soon after: mid-point, mid-write or between points, but before the end.
        deadline = time.monotonic() + 120
        while set(points(out)) <= before and proc.poll() is None:
            assert time.monotonic() < deadline, "the sweep never completed a point"
            time.sleep(0.005)
        time.sleep(rng.uniform(0.0, 0.3))
        if proc.poll() is not None:
            break  # finished before this kill
        os.killpg(proc.pid, signal.SIGKILL)  # the sweep and its workers
        proc.wait()
        kills += 1
        done_after_kill.append(len(points(out)))
        for p in points(out):  # a point folder is complete or absent
            assert (out / p / "point.json").is_file(), f"{p} is half-written"
            assert (out / p / "summary.csv").is_file(), f"{p} is half-written"
            marker = (out / p / "point.json").read_bytes()
            # A complete point is never computed again (its marker would be rewritten).
            assert kept.setdefault(p, marker) == marker, f"{p} was computed twice"
    assert kills >= 3, "the sweep finished too fast to be killed: lengthen the horizon"
    # At least one kill landed between points (some done, some not): the resume is tested.
    assert any(0 < n < 12 for n in done_after_kill), f"no kill landed mid-sweep: {done_after_kill}"

    final = subprocess.run(command(exp, out), cwd=REPO, capture_output=True, text=True)
    assert final.returncode == 0, final.stderr
    assert points(out) == points(reference)
    assert tables(out) == tables(reference)
    assert (out / "sweep.csv").read_bytes() == (reference / "sweep.csv").read_bytes()
    table = pd.read_csv(out / "sweep.csv")
    assert len(table) == 12 * 2 and not table.duplicated(["point", "scenario"]).any()
    assert (table["status"] == "ok").all()
    leftovers = [p.name for p in out.rglob("*") if ".tmp" in p.name or ".old" in p.name]
    assert not leftovers, leftovers
