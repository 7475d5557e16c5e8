"""Image pulls at scale: the registry stampede, and max-min fairness with 1,000 flows.

Two measurements, printed as plain-text tables and written to
``benchmarks/results/pulls.json``:

1. **Stampede.** ``experiments/registry-stampede.yaml`` as shipped: 200 cold
   nodes start the same 400 MB image of 10 layers at once, under four
   architectures (registry only, pull-through mirror, peer-to-peer, lazy
   pulling), 15 simulated minutes each, one replication, in this process
   (``simulator.engine.run_one`` per scenario; the experiment's total is the
   sum). Target: the whole experiment in under 10 s of wall time. Each row
   also shows what was simulated (pulls, pull rows, transfers, network
   reallocations), so a fast run cannot hide doing less.

2. **Max-min fairness microbenchmark** (``simulator.network``). N concurrent
   transfers start together and run to completion; every completion
   reallocates the rates of the rest. Three topologies:

   * ``single``: N flows on one link (sizes 1..N MB) — one path class;
   * ``per-node``: N flows registry → node i's own ingress, the registry the
     bottleneck — N path classes, one water-filling pass;
   * ``distinct``: N flows each on its own link of a distinct, lower
     bandwidth than its share of a common link — N classes and up to N passes
     (the worst case, not the common one).

   Each runs through deploysim's ``Network`` and through a flow-level
   reference (``naive``: progressive filling over individual flows,
   recomputed and advanced flow by flow at every event, as a textbook
   implementation does). Both give the same completion times (checked).

Usage (from the repository root)::

    python benchmarks/bench_pulls.py [--repeat 3] [--flows 1000] [--skip-naive]
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import simpy  # noqa: E402

import simulator  # noqa: E402
from simulator.engine import run_one  # noqa: E402
from simulator.network import Network  # noqa: E402

RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"
STAMPEDE = REPO_ROOT / "experiments" / "registry-stampede.yaml"
STAMPEDE_TARGET_S = 10.0
MB = 1e6


# -- 1. the stampede ------------------------------------------------------------------------


class _Counting:
    """Counts ``Network`` reallocations and transfers while installed (instrumentation
    from outside the model: the class attributes are wrapped, then restored)."""

    def __init__(self) -> None:
        self.reallocations = 0
        self.transfers = 0
        self._saved: dict[str, Any] = {}

    def __enter__(self) -> _Counting:
        realloc, transfer = Network._reallocate, Network.transfer
        self._saved = {"_reallocate": realloc, "transfer": transfer}
        counter = self

        def counted_realloc(net: Network) -> None:
            counter.reallocations += 1
            realloc(net)

        def counted_transfer(net: Network, *args: Any, **kwargs: Any) -> Any:
            counter.transfers += 1
            return transfer(net, *args, **kwargs)

        setattr(Network, "_reallocate", counted_realloc)  # noqa: B010 - a probe, undone on exit
        setattr(Network, "transfer", counted_transfer)  # noqa: B010
        return self

    def __exit__(self, *exc: object) -> None:
        for name, fn in self._saved.items():
            setattr(Network, name, fn)


def bench_stampede(repeat: int) -> list[dict[str, Any]]:
    exp = simulator.load_experiment(STAMPEDE)
    rows = []
    for i, scenario in enumerate(exp.scenarios):
        best = math.inf
        for _ in range(repeat):
            with _Counting() as counts:
                t0 = time.perf_counter()
                result = run_one(exp, i, 0)
                wall = time.perf_counter() - t0
            best = min(best, wall)
        s = result.summary
        pulls = result.tables.get("pulls")
        rows.append(
            {
                "scenario": scenario.name,
                "wall_s": best,
                "pull_rows": 0 if pulls is None else len(pulls),
                "pulls": s.get("container_image_pulls", 0),
                "transfers": counts.transfers,
                "reallocations": counts.reallocations,
                "all_ready_s": s.get("time_to_target_capacity_s", math.nan),
                "mean_pull_s": s.get("mean_pull_s", math.nan),
                "bytes_pulled_gb": s.get("bytes_pulled", math.nan) / 1e9,
                "registry_egress_gb": s.get("registry_egress_bytes", math.nan) / 1e9,
            }
        )
    return rows


def render_stampede(rows: list[dict[str, Any]]) -> str:
    head = (
        f"{'scenario':<14} {'wall s':>7} {'pulls':>6} {'rows':>6} {'transfers':>9} "
        f"{'realloc':>8} {'all ready s':>11} {'mean pull s':>11} {'GB pulled':>9} "
        f"{'GB registry':>11}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['scenario']:<14} {r['wall_s']:>7.2f} {r['pulls']:>6} {r['pull_rows']:>6} "
            f"{r['transfers']:>9} {r['reallocations']:>8} {r['all_ready_s']:>11.1f} "
            f"{r['mean_pull_s']:>11.1f} {r['bytes_pulled_gb']:>9.2f} "
            f"{r['registry_egress_gb']:>11.2f}"
        )
    total = sum(r["wall_s"] for r in rows)
    verdict = "PASS" if total < STAMPEDE_TARGET_S else "FAIL"
    lines.append(
        f"{'total':<14} {total:>7.2f}   target < {STAMPEDE_TARGET_S:g} s of wall time: {verdict}"
    )
    return "\n".join(lines)


# -- 2. max-min fairness --------------------------------------------------------------------

Topology = tuple[dict[str, float], list[tuple[str, ...]], list[float]]  # links, paths, sizes


def topology(kind: str, n: int) -> Topology:
    """Links (name → bytes/s), each flow's path, each flow's size."""
    if kind == "single":
        return {"r": 1e9}, [("r",)] * n, [(k + 1) * MB for k in range(n)]
    if kind == "per-node":
        links = {"registry": 1e9, **{f"n{i}": 1.25e9 for i in range(n)}}
        return links, [("registry", f"n{i}") for i in range(n)], [(i + 1) * MB for i in range(n)]
    if kind == "distinct":
        # Flow i's own link is below its share of the 1 GB/s common link and distinct:
        # every flow has its own bottleneck level, so water-filling needs one pass per flow.
        share = 1e9 / n
        links = {"common": 1e9, **{f"n{i}": share * (0.5 + 0.4 * i / n) for i in range(n)}}
        return links, [("common", f"n{i}") for i in range(n)], [10 * MB] * n
    raise ValueError(kind)


def run_network(topo: Topology) -> tuple[list[float], int]:
    """deploysim's ``Network``: completion times and reallocations."""
    links, paths, sizes = topo
    env = simpy.Environment()
    net = Network(env)
    for name, bw in links.items():
        net.add_link(name, bw)
    with _Counting() as counts:
        xs = [net.transfer(size, path) for size, path in zip(sizes, paths, strict=True)]
        env.run()
    return [float(x.finished or math.nan) for x in xs], counts.reallocations


def naive_rates(paths: Sequence[tuple[str, ...]], links: dict[str, float]) -> list[float]:
    """Progressive filling over individual flows (no path classes)."""
    rates = [0.0] * len(paths)
    left = dict(links)
    active = list(range(len(paths)))
    while active:
        users: dict[str, int] = {}
        for i in active:
            for name in paths[i]:
                users[name] = users.get(name, 0) + 1
        inc = min(left[name] / k for name, k in users.items())
        saturated = {name for name, k in users.items() if left[name] / k <= inc * (1 + 1e-12)}
        for name, k in users.items():
            left[name] -= inc * k
        still = []
        for i in active:
            rates[i] += inc
            if not any(name in saturated for name in paths[i]):
                still.append(i)
        active = still
    return rates


def run_naive(topo: Topology) -> tuple[list[float], int]:
    """A flow-level event loop: at each completion, recompute and advance every flow."""
    links, paths, sizes = topo
    remaining = list(sizes)
    finished = [math.nan] * len(sizes)
    active = list(range(len(sizes)))
    now = 0.0
    events = 0
    while active:
        events += 1
        rates = naive_rates([paths[i] for i in active], links)
        dt = min(remaining[i] / r for i, r in zip(active, rates, strict=True))
        now += dt
        still = []
        for i, r in zip(active, rates, strict=True):
            remaining[i] -= r * dt
            if remaining[i] <= 1e-6 * sizes[i]:
                finished[i] = now
            else:
                still.append(i)
        active = still
    return finished, events


def bench_fairness(
    sizes: Sequence[int], kinds: Sequence[str], repeat: int, naive: bool
) -> list[dict[str, Any]]:
    rows = []
    for kind in kinds:
        for n in sizes:
            topo = topology(kind, n)
            impls: list[tuple[str, Callable[[Topology], tuple[list[float], int]]]] = [
                ("deploysim", run_network)
            ]
            if naive:
                impls.append(("naive", run_naive))
            ref: list[float] | None = None
            for name, fn in impls:
                best = math.inf
                for _ in range(repeat):
                    t0 = time.perf_counter()
                    times, events = fn(topo)
                    best = min(best, time.perf_counter() - t0)
                if ref is None:
                    ref = times
                    diff = 0.0
                else:
                    diff = max(abs(a - b) / b for a, b in zip(times, ref, strict=True))
                rows.append(
                    {
                        "topology": kind,
                        "flows": n,
                        "impl": name,
                        "wall_s": best,
                        "events": events,
                        "us_per_event": best / events * 1e6,
                        "max_rel_diff": diff,
                        "last_finish_s": max(times),
                    }
                )
    return rows


def render_fairness(rows: list[dict[str, Any]]) -> str:
    head = (
        f"{'topology':<9} {'flows':>6} {'impl':<10} {'wall s':>8} {'events':>7} "
        f"{'µs/event':>9} {'last end s':>10} {'vs deploysim':>12}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        diff = "" if r["impl"] == "deploysim" else f"{r['max_rel_diff']:.1e}"
        lines.append(
            f"{r['topology']:<9} {r['flows']:>6} {r['impl']:<10} {r['wall_s']:>8.3f} "
            f"{r['events']:>7} {r['us_per_event']:>9.1f} {r['last_finish_s']:>10.2f} {diff:>12}"
        )
    return "\n".join(lines)


# -- main -----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=3, help="runs per measurement; best kept")
    p.add_argument("--flows", type=int, default=1000, help="largest N for single / per-node")
    p.add_argument("--skip-naive", action="store_true", help="leave out the flow-level reference")
    p.add_argument("--skip-stampede", action="store_true", help="only the fairness benchmark")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    document: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "processor": platform.processor(),
        "simpy": simpy.__version__,
        "repeat": args.repeat,
    }
    if not args.skip_stampede:
        stampede = bench_stampede(args.repeat)
        document["stampede"] = stampede
        print("Registry stampede (experiments/registry-stampede.yaml, 1 replication)\n")
        print(render_stampede(stampede))
        print()
    n = args.flows
    common = sorted({n // 4, n // 2, n})
    rows = bench_fairness(common, ["single", "per-node"], args.repeat, not args.skip_naive)
    rows += bench_fairness(
        sorted({max(n // 20, 1), max(n // 10, 1), max(n // 5, 1)}),
        ["distinct"],
        args.repeat,
        not args.skip_naive,
    )
    document["fairness"] = rows
    print("Max-min fairness: N transfers start together and run to completion\n")
    print(render_fairness(rows))
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / "pulls.json"
    out.write_text(json.dumps(document, indent=2) + "\n")
    print(f"\nwritten: {out.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
