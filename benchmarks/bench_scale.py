"""Scaling curves of exact mode: wall time vs requests, and vs instances.

1. **Requests** — M/M/8 at ρ = 0.9 (one instance, eight workers, λ = 7.2/s, exponential
   1 s service), N = 1e5 … 1e7 requests (horizon N / λ). Linear means a constant cost
   per request: no structure grows with the run (statistics are streaming).
2. **Instances** — n instances of eight workers each (n = 10 … 10,000), Poisson arrivals
   at ρ = 0.9 of the fleet (λ = 7.2·n/s), a fixed number of requests, for each balancer
   in ``--balancers``. The cost per request grows only with the heap of in-service
   requests (7.2·n of them: O(log n) per push and pop, and cache misses) and, for least
   connections, O(log n) bucket moves; a per-request scan over the instances would make
   the 10,000-instance point ~1,000× slower than the 10-instance one.

Each point runs ``simulator.engine.run_one`` once (the fastest of ``--repeat``) in this
process; requests/s counts ``arrived``. Results go to ``benchmarks/results/scale.json``;
``--figure`` writes ``benchmarks/scale.svg`` (plotly; static export needs ``kaleido``,
else an HTML file is written instead) and prints the markdown tables for the README.

Usage (from the repository root)::

    python benchmarks/bench_scale.py                     # the README's numbers
    python benchmarks/bench_scale.py --requests 1e5,1e6 --instances 10,100 --fleet-requests 2e5
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from simulator.engine import run_one  # noqa: E402
from simulator.loading import load_experiment  # noqa: E402

RESULTS_DIR = Path(__file__).resolve().parent / "results"
FIGURE = Path(__file__).resolve().parent / "scale.svg"
WORKERS = 8
RHO = 0.9


def experiment(instances: int, requests: float, balancer: str, seed: int) -> dict[str, Any]:
    """``instances`` × M/M/8 at ρ 0.9 behind one balancer, about ``requests`` arrivals."""
    rate = RHO * WORKERS * instances  # service mean 1 s
    horizon = requests / rate
    return {
        "name": "bench-scale",
        "seed": seed,
        "horizon": f"{horizon}s",
        "warmup": "0s",
        "replications": 1,
        # About 100 time-series rows whatever the horizon: the grid is not what is timed.
        "sample_interval": f"{max(horizon / 100.0, 1e-3)}s",
        "workload": {
            "arrivals": {"kind": "constant", "rate": f"{rate}/s"},
            "service_time": {"kind": "exponential", "mean": "1s"},
        },
        "scenarios": [
            {
                "name": f"{instances}x{balancer}",
                "platform": {"kind": "fixed", "instances": instances},
                "serving": {"workers": WORKERS},
                "balancer": {"kind": balancer},
            }
        ],
    }


def measure(
    instances: int, requests: float, balancer: str, seed: int, repeat: int
) -> dict[str, Any]:
    """Run one point ``repeat`` times; keep the fastest wall time."""
    exp = load_experiment(experiment(instances, requests, balancer, seed))
    walls, cpus = [], []
    summary: dict[str, Any] = {}
    for _ in range(repeat):
        gc.collect()
        t0, c0 = time.perf_counter(), time.process_time()
        summary = run_one(exp, 0, 0).summary
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    wall, cpu = min(walls), min(cpus)
    arrived = int(summary["arrived"])
    row = {
        "instances": instances,
        "balancer": balancer,
        "requests": arrived,
        "wall_s": wall,
        "walls_s": walls,
        "requests_per_s": arrived / wall,
        "us_per_request": wall / arrived * 1e6,
        "cpu_s": cpu,
        "cpus_s": cpus,
        "cpu_us_per_request": cpu / arrived * 1e6,
        "utilisation": float(summary["utilisation_mean"]),
    }
    print(
        f"  {instances:>6} inst {balancer:<18} {arrived:>11,} req {wall:8.2f} s "
        f"{row['requests_per_s']:>10,.0f} req/s {row['us_per_request']:6.2f} us/req "
        f"(cpu {cpu:.2f} s, {row['cpu_us_per_request']:.2f} us/req)",
        flush=True,
    )
    return row


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x]


def figure(by_requests: list[dict[str, Any]], by_instances: list[dict[str, Any]]) -> str:
    """Two log-log panels; returns the path written (SVG, or HTML without kaleido)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=(
            "wall time vs requests (M/M/8, ρ 0.9)",
            "CPU µs per request vs instances (n × M/M/8, ρ 0.9)",
        ),
    )
    xs = [r["requests"] for r in by_requests]
    fig.add_trace(
        go.Scatter(
            x=xs, y=[r["wall_s"] for r in by_requests], mode="lines+markers", name="deploysim"
        ),
        row=1,
        col=1,
    )
    # The linear reference through the smallest point: what "linear" would look like.
    if by_requests:
        k = by_requests[0]["wall_s"] / by_requests[0]["requests"]
        fig.add_trace(
            go.Scatter(
                x=xs, y=[k * x for x in xs], mode="lines", name="linear", line={"dash": "dot"}
            ),
            row=1,
            col=1,
        )
    for balancer in sorted({r["balancer"] for r in by_instances}):
        rows = [r for r in by_instances if r["balancer"] == balancer]
        fig.add_trace(
            go.Scatter(
                x=[r["instances"] for r in rows],
                y=[r["cpu_us_per_request"] for r in rows],
                mode="lines+markers",
                name=balancer,
            ),
            row=1,
            col=2,
        )
    fig.update_xaxes(type="log", title_text="requests", row=1, col=1)
    fig.update_yaxes(type="log", title_text="wall time (s)", row=1, col=1)
    fig.update_xaxes(type="log", title_text="instances", row=1, col=2)
    fig.update_yaxes(title_text="CPU µs per request", rangemode="tozero", row=1, col=2)
    fig.update_layout(width=1000, height=420, template="plotly_white", margin={"t": 60})
    try:
        fig.write_image(str(FIGURE))
        return str(FIGURE)
    except Exception as exc:  # kaleido missing or no browser: keep the interactive page
        html = FIGURE.with_suffix(".html")
        fig.write_html(str(html), include_plotlyjs="cdn")
        print(f"  (static export failed: {type(exc).__name__}; wrote HTML instead)")
        return str(html)


def markdown(by_requests: list[dict[str, Any]], by_instances: list[dict[str, Any]]) -> str:
    """The README tables."""
    out = [
        "| requests | wall (s) | requests/s | µs / request | CPU (s) | CPU µs / request |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for r in by_requests:
        out.append(
            f"| {r['requests']:,} | {r['wall_s']:.2f} | {r['requests_per_s']:,.0f} | "
            f"{r['us_per_request']:.2f} | {r['cpu_s']:.2f} | {r['cpu_us_per_request']:.2f} |"
        )
    out += [
        "",
        "| instances | balancer | requests | wall (s) | requests/s | µs / request | "
        "CPU µs / request |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in by_instances:
        out.append(
            f"| {r['instances']:,} | {r['balancer']} | {r['requests']:,} | {r['wall_s']:.2f} | "
            f"{r['requests_per_s']:,.0f} | {r['us_per_request']:.2f} | "
            f"{r['cpu_us_per_request']:.2f} |"
        )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    """Run both sweeps, print the tables, write the JSON (and the figure)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--requests", default="1e5,1e6,1e7", help="N for the requests sweep")
    p.add_argument("--instances", default="10,100,1000,10000", help="n for the fleet sweep")
    p.add_argument("--fleet-requests", type=float, default=1e6, help="requests per fleet point")
    p.add_argument(
        "--balancers", default="round_robin,least_connections,power_of_two", help="fleet sweep"
    )
    p.add_argument("--repeat", type=int, default=1, help="runs per point; the fastest kept")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--figure", action="store_true", help="write benchmarks/scale.svg")
    args = p.parse_args(argv)

    print(f"load average before: {os.getloadavg()}")
    print("wall time vs requests (1 instance, M/M/8, rho 0.9):")
    by_requests = [
        measure(1, n, "round_robin", args.seed, args.repeat) for n in _floats(args.requests)
    ]
    print(f"wall time vs instances ({args.fleet_requests:,.0f} requests each):")
    by_instances = [
        measure(int(n), args.fleet_requests, b, args.seed, args.repeat)
        for n in _floats(args.instances)
        for b in args.balancers.split(",")
    ]
    load_after = os.getloadavg()
    print(f"load average after: {load_after}")
    print()
    print(markdown(by_requests, by_instances))
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / "scale.json"
    out.write_text(
        json.dumps(
            {
                "benchmark": "scale",
                "created": datetime.now(UTC).isoformat(timespec="seconds"),
                "cpu_count": os.cpu_count(),
                "load_average_after": load_after,
                "by_requests": by_requests,
                "by_instances": by_instances,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"\nwrote {out.relative_to(REPO_ROOT)}")
    if args.figure:
        print(f"wrote {figure(by_requests, by_instances)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
