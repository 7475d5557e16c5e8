"""Throughput and memory benchmark: one M/M/c queue through four simulators, side by side.

The model is the same in every implementation: c = 8 workers share one FIFO
queue, arrivals are Poisson at λ = 7.2/s and service is exponential with mean
1 s, so the utilisation is ρ = λ / (c·μ) = 0.9. Each implementation is timed
over about N requests in this one process:

(a) ``heapq``    a minimal hand-written event loop (heap of arrival and departure
                 events, a FIFO deque, counters). It is the floor for what one
                 simulated request costs in pure Python.
(b) ``ciw``      the ciw queueing library (3.2.x), ``simulate_until_max_customers``.
(c) ``deploysim`` this project's full serving stack through its public API
                 (``simulator.load_experiment`` + ``simulator.run``).
(d) ``simpy``    the naive SimPy design: one process per request plus a
                 ``simpy.Resource`` with eight slots, for context.

Each row also shows the mean queueing wait in service-time units next to the
exact Erlang C value, so a reader can see that every implementation simulates
the same system and is not fast because it is doing less.

``--memory`` additionally runs deploysim at N = 200,000 and N = 2,000,000 in
fresh subprocesses and reports each child's peak RSS (``VmHWM`` on Linux; see
``peak_rss_bytes`` for why not ``ru_maxrss``): the engine keeps its statistics in
streaming form, so memory should stay flat as N grows tenfold.

Usage (from the repository root)::

    python benchmarks/bench_mmc.py [--requests 200000] [--repeat 3] [--memory] [--skip-ciw]

Results are printed as a plain-text table and written to
``benchmarks/results/mmc-<N>.json``.
"""

from __future__ import annotations

import argparse
import gc
import heapq
import importlib.metadata
import json
import math
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# The script lives in benchmarks/; put the repository root first on sys.path so
# ``import simulator`` finds the local package even when it is not pip-installed
# and whatever the current directory is.
REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

WORKERS = 8  # c
ARRIVAL_RATE = 7.2  # λ, requests per second
SERVICE_MEAN = 1.0  # 1/μ, seconds
SERVICE_RATE = 1.0 / SERVICE_MEAN  # μ
RHO = ARRIVAL_RATE / (WORKERS * SERVICE_RATE)

# Targets from the performance brief; reported as PASS/FAIL, never asserted, so a
# slow machine still gets its full table.
TARGET_RATIO_VS_HEAPQ = 0.5
TARGET_RATIO_VS_CIW = 8.0
# ciw and the naive SimPy model cost 5-20 µs per request: they run on the first
# SUBSET requests only and their requests/s is that run's (per-request cost is flat in N
# for both: neither keeps more than a record list that grows linearly).
DEFAULT_SUBSET = 200_000
# Informational: peak RSS at 2M requests may be at most this multiple of 200k.
MEMORY_FLAT_MAX_RATIO = 1.5
# A mean wait within this relative distance of Erlang C counts as "same model".
# At ρ = 0.9 waits are strongly autocorrelated: over 200k requests the sample mean
# has a seed-to-seed standard deviation of about 6.5% (20 seeds of the heapq loop),
# so the band is ~2.3 of those and narrows as 1/sqrt(N) for longer runs.
SANITY_REL_TOL_AT_200K = 0.15


def sanity_tolerance(n: int) -> float:
    """Allowed relative error of the mean wait for a run of ``n`` requests."""
    return min(1.0, SANITY_REL_TOL_AT_200K * math.sqrt(200_000 / n))


MEMORY_SIZES = (200_000, 2_000_000)
RESULTS_DIR = Path(__file__).resolve().parent / "results"


# --------------------------------------------------------------------------- theory


def erlang_c_wait(c: int, offered_load: float) -> tuple[float, float]:
    """Return ``(P(wait), Wq·μ)`` for M/M/c with ``offered_load`` a = λ/μ Erlangs.

    Uses the numerically stable Erlang B recursion B(k) = a·B(k−1) / (k + a·B(k−1))
    and converts: C = c·B / (c − a·(1 − B)); then Wq·μ = C / (c·(1 − ρ)).
    """
    b = 1.0
    for k in range(1, c + 1):
        b = offered_load * b / (k + offered_load * b)
    rho = offered_load / c
    p_wait = c * b / (c - offered_load * (1.0 - b))
    return p_wait, p_wait / (c * (1.0 - rho))


# --------------------------------------------------------------------------- implementations


@dataclass
class RunOutcome:
    """What one timed run produced: how many requests it handled and their mean wait."""

    requests: int  # requests counted for requests/s (arrived for deploysim, finished otherwise)
    completed: int
    wait_mean_s: float
    wall_s: float
    cpu_s: float = 0.0  # process CPU time: what a loaded shared machine distorts least


def run_heapq(n: int, seed: int) -> RunOutcome:
    """(a) Minimal event loop: a heap of (time, kind) events, a FIFO deque and counters.

    Both arrivals and departures go through the heap (rather than keeping the next
    arrival in a variable) so the per-event cost is that of a general event loop,
    which is what the other three implementations are.
    """
    rng = random.Random(seed)
    expo = rng.expovariate
    push, pop = heapq.heappush, heapq.heappop
    arrival, departure = 0, 1
    start, cpu0 = time.perf_counter(), time.process_time()

    heap: list[tuple[float, int]] = [(expo(ARRIVAL_RATE), arrival)]
    waiting: deque[float] = deque()  # arrival times of queued requests, FIFO
    idle = WORKERS
    arrived = completed = 0
    wait_sum = 0.0
    while heap:
        now, kind = pop(heap)
        if kind == arrival:
            arrived += 1
            if arrived < n:
                push(heap, (now + expo(ARRIVAL_RATE), arrival))
            if idle:
                idle -= 1  # starts service at once; its wait is 0
                push(heap, (now + expo(SERVICE_RATE), departure))
            else:
                waiting.append(now)
        else:
            completed += 1
            if waiting:
                wait_sum += now - waiting.popleft()
                push(heap, (now + expo(SERVICE_RATE), departure))
            else:
                idle += 1
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu0
    # Every request waited (possibly 0 s) and was counted in wait_sum once.
    return RunOutcome(completed, completed, wait_sum / completed, wall, cpu)


def run_simpy(n: int, seed: int) -> RunOutcome:
    """(d) Naive SimPy: a source process spawns one generator process per request."""
    import simpy

    rng = random.Random(seed)
    expo = rng.expovariate
    start, cpu0 = time.perf_counter(), time.process_time()

    env = simpy.Environment()
    workers = simpy.Resource(env, capacity=WORKERS)
    totals = {"completed": 0, "wait_sum": 0.0}

    def request(env: simpy.Environment) -> Any:
        arrived_at = env.now
        with workers.request() as slot:
            yield slot
            totals["wait_sum"] += env.now - arrived_at
            yield env.timeout(expo(SERVICE_RATE))
        totals["completed"] += 1

    def source(env: simpy.Environment) -> Any:
        for _ in range(n):
            yield env.timeout(expo(ARRIVAL_RATE))
            env.process(request(env))

    env.process(source(env))
    env.run()  # no `until`: runs until the last request has departed
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu0
    done = int(totals["completed"])
    return RunOutcome(done, done, totals["wait_sum"] / done, wall, cpu)


def run_ciw(n: int, seed: int) -> RunOutcome:
    """(b) ciw: one node, eight servers, run until N customers have left the system."""
    import ciw

    ciw.seed(seed)
    start, cpu0 = time.perf_counter(), time.process_time()
    network = ciw.create_network(
        arrival_distributions=[ciw.dists.Exponential(ARRIVAL_RATE)],
        service_distributions=[ciw.dists.Exponential(SERVICE_RATE)],
        number_of_servers=[WORKERS],
    )
    sim = ciw.Simulation(network)
    sim.simulate_until_max_customers(n, method="Finish")
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu0
    # Collecting records is outside the timed region: ciw keeps every customer's
    # record anyway, so reading them is post-processing, not simulation.
    records = sim.get_all_records()
    waits = [r.waiting_time for r in records]
    return RunOutcome(len(waits), len(waits), sum(waits) / len(waits), wall, cpu)


def deploysim_experiment(n: int, seed: int) -> dict[str, Any]:
    """The experiment document for M/M/8 at ρ = 0.9 with about ``n`` arrivals."""
    horizon_s = n / ARRIVAL_RATE
    return {
        "name": "bench-mmc",
        "seed": seed,
        "horizon": f"{horizon_s}s",
        "warmup": "0s",
        "replications": 1,
        "workload": {
            "arrivals": {"kind": "constant", "rate": f"{ARRIVAL_RATE}/s"},
            "service_time": {"kind": "exponential", "mean": f"{SERVICE_MEAN}s"},
        },
        "scenarios": [
            {
                "name": "m-m-8",
                "platform": {"kind": "fixed", "instances": 1},
                "serving": {"workers": WORKERS},
            }
        ],
    }


def run_deploysim(n: int, seed: int) -> RunOutcome:
    """(c) deploysim's full serving stack via its public API; only ``run`` is timed."""
    import simulator

    exp = simulator.load_experiment(deploysim_experiment(n, seed))
    start, cpu0 = time.perf_counter(), time.process_time()
    res = simulator.run(exp)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu0
    row = res.summary.iloc[0]
    return RunOutcome(
        int(row["arrived"]), int(row["completed"]), float(row["wait_mean_s"]), wall, cpu
    )


def deploysim_status() -> str | None:
    """Return ``None`` when deploysim's public API is usable, else why it is not."""
    try:
        import simulator
    except Exception as exc:  # any import-time failure means "not ready yet"
        return f"import simulator failed: {type(exc).__name__}: {exc}"
    missing = [name for name in ("load_experiment", "run") if not hasattr(simulator, name)]
    if missing:
        return f"simulator has no {', '.join(missing)}"
    return None


# --------------------------------------------------------------------------- measurement


@dataclass
class Row:
    """One line of the results table (and one entry of the JSON file)."""

    key: str
    label: str
    available: bool = True
    note: str = ""
    requests: int = 0
    completed: int = 0
    walls_s: list[float] = field(default_factory=list)
    best_wall_s: float = 0.0
    cpus_s: list[float] = field(default_factory=list)
    best_cpu_s: float = 0.0
    requests_per_cpu_s: float = 0.0
    # requests/s over the heapq loop's, from CPU times, one ratio per round (the heapq
    # run of the same round), and their median: robust to load that comes and goes.
    round_ratios_vs_heapq: list[float] = field(default_factory=list)
    median_ratio_vs_heapq: float | None = None
    requests_per_s: float = 0.0
    ratio_vs_heapq: float | None = None
    wait_mean_over_service: float | None = None
    wait_rel_error: float | None = None


Plan = list[tuple[str, str, Callable[[int, int], RunOutcome], str | None, int]]


def measure_all(plan: Plan, seed: int, repeat: int, exact_wq: float) -> list[Row]:
    """Time every available implementation ``repeat`` times; keep each one's fastest run.

    Repeats are interleaved (round 1 runs every implementation once, then round 2,
    ...) rather than back to back, so a burst of load from another process on a
    shared machine slows all implementations alike instead of skewing the ratios.
    The same seed every time means the repeats do identical work, so the best of
    them is the least-disturbed measurement of that work.
    """
    rows: dict[str, Row] = {}
    outcomes: dict[str, RunOutcome] = {}
    for key, label, _fn, unavailable, _n in plan:
        rows[key] = Row(key, label, available=unavailable is None, note=unavailable or "")
        if unavailable is not None:
            print(f"  {label:<28} not run: {unavailable}")
    for i in range(repeat):
        for key, label, fn, _unavailable, n in plan:
            row = rows[key]
            if not row.available:
                continue
            # Collect garbage left by the previous implementation so it is not
            # billed to this one.
            gc.collect()
            try:
                outcome = fn(n, seed)
            except Exception as exc:  # one broken implementation must not hide the others
                row.available, row.note = False, f"failed: {type(exc).__name__}: {exc}"
                print(f"  {label:<28} {row.note}")
                continue
            outcomes[key] = outcome
            row.walls_s.append(outcome.wall_s)
            row.cpus_s.append(outcome.cpu_s)
            heapq_row = rows.get("heapq")
            if heapq_row is not None and heapq_row.cpus_s and "heapq" in outcomes:
                floor_rate = outcomes["heapq"].requests / heapq_row.cpus_s[-1]
                row.round_ratios_vs_heapq.append(outcome.requests / outcome.cpu_s / floor_rate)
            print(
                f"  {label:<34} run {i + 1}/{repeat}: {outcome.wall_s:8.3f} s wall "
                f"{outcome.cpu_s:8.3f} s cpu",
                flush=True,
            )
    for key, outcome in outcomes.items():
        row = rows[key]
        if not row.available:
            continue
        row.requests = outcome.requests
        row.completed = outcome.completed
        row.best_wall_s = min(row.walls_s)
        row.requests_per_s = outcome.requests / row.best_wall_s
        row.best_cpu_s = min(row.cpus_s)
        row.requests_per_cpu_s = outcome.requests / row.best_cpu_s
        if row.round_ratios_vs_heapq:
            row.median_ratio_vs_heapq = statistics.median(row.round_ratios_vs_heapq)
        row.wait_mean_over_service = outcome.wait_mean_s / SERVICE_MEAN
        row.wait_rel_error = row.wait_mean_over_service / exact_wq - 1.0
    return list(rows.values())


def ru_maxrss_bytes() -> int:
    """``getrusage(RUSAGE_SELF).ru_maxrss`` in bytes (the field is KiB on Linux)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def _proc_status_bytes(field_name: str) -> int | None:
    """A ``kB`` field of ``/proc/self/status`` in bytes, or None off Linux."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def peak_rss_bytes() -> int:
    """Peak resident set size of this process image, in bytes.

    On Linux this is ``VmHWM``, not ``ru_maxrss``: rusage survives ``execve``, so a
    child forked from a big parent (this script after ciw is ~300 MB) starts with
    the parent's RSS as its "peak", which would hide the child's own footprint.
    ``VmHWM`` belongs to the new address space and starts from zero at exec.
    """
    hwm = _proc_status_bytes("VmHWM")
    return ru_maxrss_bytes() if hwm is None else hwm


def current_rss_bytes() -> int:
    """This process's resident set size now; falls back to the peak off Linux."""
    rss = _proc_status_bytes("VmRSS")
    return peak_rss_bytes() if rss is None else rss


def memory_child(n: int, seed: int) -> None:
    """Body of a ``--memory`` subprocess: run deploysim once and print RSS as JSON.

    The baseline is the *current* RSS after imports and experiment loading (not the
    peak so far, which import-time transients can inflate), so peak minus baseline
    is what the run itself added.
    """
    import simulator

    exp = simulator.load_experiment(deploysim_experiment(n, seed))
    gc.collect()
    baseline = current_rss_bytes()
    start, cpu0 = time.perf_counter(), time.process_time()
    res = simulator.run(exp)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu0
    arrived = int(res.summary.iloc[0]["arrived"])
    print(
        json.dumps(
            {
                "requests": n,
                "arrived": arrived,
                "wall_s": wall,
                "cpu_s": cpu,
                "baseline_rss_bytes": baseline,
                "peak_rss_bytes": peak_rss_bytes(),
                # Kept for comparison; inflated by the parent's size (see peak_rss_bytes).
                "ru_maxrss_bytes": ru_maxrss_bytes(),
            }
        )
    )


def measure_memory(seed: int, sizes: tuple[int, ...]) -> list[dict[str, Any]]:
    """Run deploysim at each size in a fresh interpreter and collect its peak RSS.

    A fresh process per size matters: ru_maxrss never goes down, so measuring two
    sizes in one process would report the larger peak for both.
    """
    out: list[dict[str, Any]] = []
    for n in sizes:
        print(f"  deploysim memory run, N = {n:,} (subprocess) ...", flush=True)
        cmd = [sys.executable, str(Path(__file__).resolve()), "--memory-child", str(n)]
        cmd += ["--seed", str(seed)]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO_ROOT, check=False)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            out.append({"requests": n, "error": f"exit {proc.returncode}: {tail[0]}"})
            continue
        # The child's last stdout line is the JSON record; anything before it is
        # whatever the engine itself chose to print.
        out.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return out


# --------------------------------------------------------------------------- reporting


def fmt_opt(value: float | None, spec: str, missing: str = "-") -> str:
    """Format an optional number, or a dash when it is absent."""
    return missing if value is None else format(value, spec)


def render_table(rows: list[Row], exact_wq: float) -> str:
    """The plain-text results table."""
    header = (
        f"{'implementation':<34} {'requests':>10} {'best wall s':>11} {'requests/s':>11} "
        f"{'x heapq':>8} {'best cpu s':>10} {'req/cpu-s':>10} {'x heapq cpu':>11} "
        f"{'Wq*mu':>7} {'vs exact':>9}  sanity"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        if not r.available:
            lines.append(f"{r.label:<34} {'not run':>10}  ({r.note})")
            continue
        err = r.wait_rel_error
        sane = "ok" if err is not None and abs(err) <= sanity_tolerance(r.requests) else "CHECK"
        lines.append(
            f"{r.label:<34} {r.requests:>10,} {r.best_wall_s:>11.3f} {r.requests_per_s:>11,.0f} "
            f"{fmt_opt(r.ratio_vs_heapq, '.2f'):>7}x {r.best_cpu_s:>10.3f} "
            f"{r.requests_per_cpu_s:>10,.0f} {fmt_opt(r.median_ratio_vs_heapq, '.2f'):>10}x "
            f"{fmt_opt(r.wait_mean_over_service, '.3f'):>7} {fmt_opt(err, '+.1%'):>9}  {sane}"
        )
    lines.append(
        f"{'Erlang C exact (M/M/8, rho=0.9)':<34} {'':>10} {'':>11} {'':>11} {'':>8} "
        f"{'':>10} {'':>10} {'':>11} {exact_wq:>7.3f}"
    )
    lines.append(
        "x heapq = requests/s over the heapq loop's (best wall times); x heapq cpu = the "
        "median over rounds of the same ratio from CPU times (each round's own heapq run)."
    )
    lines.append(
        "Wq*mu = mean queueing wait / mean service time; sanity is 'ok' when it is within "
        f"+/-{sanity_tolerance(max(1, rows[0].requests)):.0%} of Erlang C at this N "
        "(seed-to-seed noise at rho=0.9)."
    )
    return "\n".join(lines)


def verdict(ok: bool | None) -> str:
    """PASS / FAIL, or SKIP when the check could not be made."""
    return "SKIP" if ok is None else ("PASS" if ok else "FAIL")


def evaluate_targets(rows: list[Row], memory: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """Check the brief's targets; absent measurements give SKIP rather than FAIL."""
    by_key = {r.key: r for r in rows}
    ds = by_key.get("deploysim")
    ds_ok = ds is not None and ds.available
    ciw = by_key.get("ciw")
    ciw_ok = ciw is not None and ciw.available and ds_ok
    vs_ciw = ds.requests_per_cpu_s / ciw.requests_per_cpu_s if ciw_ok and ds and ciw else None
    vs_heapq = ds.median_ratio_vs_heapq if ds_ok and ds else None
    targets: list[dict[str, Any]] = [
        {
            "name": f"deploysim >= {TARGET_RATIO_VS_HEAPQ}x the heapq loop (CPU time, median)",
            "value": vs_heapq,
            "result": verdict(None if vs_heapq is None else vs_heapq >= TARGET_RATIO_VS_HEAPQ),
        },
        {
            "name": f"deploysim >= {TARGET_RATIO_VS_CIW:g}x ciw (CPU time, best runs)",
            "value": vs_ciw,
            "result": verdict(None if vs_ciw is None else vs_ciw >= TARGET_RATIO_VS_CIW),
        },
    ]
    if memory is not None:
        ratio = memory_ratio(memory)
        targets.append(
            {
                "name": f"(info) deploysim peak RSS 2M / 200k <= {MEMORY_FLAT_MAX_RATIO}",
                "value": ratio,
                "result": verdict(None if ratio is None else ratio <= MEMORY_FLAT_MAX_RATIO),
            }
        )
    return targets


def memory_ratio(memory: list[dict[str, Any]]) -> float | None:
    """Peak RSS of the largest run over that of the smallest, if both succeeded."""
    ok = [m for m in memory if "peak_rss_bytes" in m]
    if len(ok) < 2:
        return None
    ok.sort(key=lambda m: m["requests"])
    return float(ok[-1]["peak_rss_bytes"]) / float(ok[0]["peak_rss_bytes"])


def render_memory(memory: list[dict[str, Any]]) -> str:
    """The plain-text memory table."""
    mib = 1024.0 * 1024.0
    lines = [
        f"{'deploysim N':>12} {'arrived':>10} {'wall s':>8} {'baseline MiB':>13} "
        f"{'peak RSS MiB':>13} {'run added MiB':>14}  (peak = VmHWM of a fresh child)"
    ]
    for m in memory:
        if "error" in m:
            lines.append(f"{m['requests']:>12,} failed: {m['error']}")
            continue
        added = (m["peak_rss_bytes"] - m["baseline_rss_bytes"]) / mib
        lines.append(
            f"{m['requests']:>12,} {m['arrived']:>10,} {m['wall_s']:>8.2f} "
            f"{m['baseline_rss_bytes'] / mib:>13.1f} {m['peak_rss_bytes'] / mib:>13.1f} "
            f"{added:>14.1f}"
        )
    ratio = memory_ratio(memory)
    if ratio is not None:
        lines.append(f"peak RSS ratio (largest / smallest N): {ratio:.2f}x")
        ok = sorted((m for m in memory if "peak_rss_bytes" in m), key=lambda m: m["requests"])
        small, large = ok[0], ok[-1]
        # Marginal memory per extra request: ~0 for streaming statistics, tens to
        # hundreds of bytes if the engine kept a record (or even a float) per request.
        extra = (large["peak_rss_bytes"] - large["baseline_rss_bytes"]) - (
            small["peak_rss_bytes"] - small["baseline_rss_bytes"]
        )
        per_request = extra / max(1, large["requests"] - small["requests"])
        lines.append(
            f"memory added by the run grew {extra / mib:+.1f} MiB from N={small['requests']:,} "
            f"to N={large['requests']:,} ({per_request:+.1f} bytes per extra request)"
        )
    return "\n".join(lines)


def package_version(name: str) -> str | None:
    """Installed version of ``name``, or None if it is not installed."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--requests", type=int, default=1_000_000, help="N requests per run")
    p.add_argument(
        "--subset",
        type=int,
        default=DEFAULT_SUBSET,
        help="requests for ciw and SimPy (their requests/s is measured on this many)",
    )
    p.add_argument("--repeat", type=int, default=3, help="runs per implementation; best kept")
    p.add_argument("--seed", type=int, default=1, help="random seed for every implementation")
    p.add_argument("--memory", action="store_true", help="also measure deploysim peak RSS")
    p.add_argument("--skip-ciw", action="store_true", help="skip ciw (~5-7 s per 200k)")
    p.add_argument("--skip-simpy", action="store_true", help="skip the naive SimPy reference")
    p.add_argument("--memory-child", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.requests < 1 or args.repeat < 1:
        p.error("--requests and --repeat must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the tables and write the JSON results file."""
    args = parse_args(argv)
    if args.memory_child is not None:
        memory_child(args.memory_child, args.seed)
        return 0

    n, seed, repeat = args.requests, args.seed, args.repeat
    p_wait, exact_wq = erlang_c_wait(WORKERS, ARRIVAL_RATE / SERVICE_RATE)
    print(
        f"M/M/{WORKERS}: lambda={ARRIVAL_RATE}/s, service mean={SERVICE_MEAN}s, rho={RHO:.2f}, "
        f"N={n:,}, repeat={repeat}, seed={seed}"
    )
    print(f"Erlang C: P(wait)={p_wait:.4f}, Wq*mu={exact_wq:.4f}\n")

    # Order within a round: deploysim right after the floor, ciw last. ciw keeps a
    # record object per customer (hundreds of MB at 200k); that garbage is freed
    # when run_ciw returns and collected before the next round starts.
    subset = min(n, args.subset)
    sub = "" if subset == n else f" [{subset // 1000}k]"
    plan: Plan = [
        ("heapq", "(a) heapq event loop", run_heapq, None, n),
        ("deploysim", "(c) deploysim serving stack", run_deploysim, deploysim_status(), n),
        (
            "simpy",
            f"(d) simpy process/request{sub}",
            run_simpy,
            "skipped (--skip-simpy)" if args.skip_simpy else None,
            subset,
        ),
        (
            "ciw",
            f"(b) ciw 3.2{sub}",
            run_ciw,
            "skipped (--skip-ciw)" if args.skip_ciw else None,
            subset,
        ),
    ]
    load_before = os.getloadavg()
    print(f"load average before: {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}")
    rows = measure_all(plan, seed, repeat, exact_wq)
    load_after = os.getloadavg()
    print(f"load average after: {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}")

    floor = next((r for r in rows if r.key == "heapq" and r.available), None)
    for r in rows:
        if r.available and floor is not None:
            r.ratio_vs_heapq = r.requests_per_s / floor.requests_per_s
    rows.sort(key=lambda r: r.label)  # (a), (b), (c), (d) as in the README

    memory: list[dict[str, Any]] | None = None
    if args.memory:
        print()
        status = deploysim_status()
        if status is None:
            memory = measure_memory(seed, MEMORY_SIZES)
        else:
            print(f"  memory mode skipped: {status}")
            memory = [{"requests": s, "error": status} for s in MEMORY_SIZES]

    print()
    print(render_table(rows, exact_wq))
    if memory is not None:
        print()
        print(render_memory(memory))
    targets = evaluate_targets(rows, memory)
    print()
    for t in targets:
        print(f"[{t['result']}] {t['name']}  (measured: {fmt_opt(t['value'], ',.2f')})")

    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out_path = RESULTS_DIR / f"mmc-{n}.json"
    document = {
        "benchmark": "mmc",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "subset": subset,
        "load_average_before": load_before,
        "load_average_after": load_after,
        "model": {
            "workers": WORKERS,
            "arrival_rate_per_s": ARRIVAL_RATE,
            "service_mean_s": SERVICE_MEAN,
            "rho": RHO,
            "erlang_c_p_wait": p_wait,
            "erlang_c_wq_times_mu": exact_wq,
        },
        "requests": n,
        "repeat": repeat,
        "seed": seed,
        "environment": {
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cpu_count": os.cpu_count(),
            "simpy": package_version("simpy"),
            "ciw": package_version("ciw"),
            "numpy": package_version("numpy"),
        },
        "results": [asdict(r) for r in rows],
        "memory": memory,
        "targets": targets,
    }
    out_path.write_text(json.dumps(document, indent=2) + "\n")
    print(f"\nwrote {out_path.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
