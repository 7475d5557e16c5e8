"""Running an experiment and writing its output folder atomically.

``run(experiment)`` runs every scenario × replication (each a pure
``run_one`` call) and returns ``Results`` with tidy DataFrames. ``write``
produces the §4 output folder: it is built in a temporary sibling folder and
renamed into place, so an interrupted run never leaves a half-written folder.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import math
import multiprocessing as mp
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from simulator.config import Experiment
from simulator.engine import RunResult, run_one

__all__ = [
    "Results",
    "run",
    "run_to_precision",
    "write_output",
    "InterruptedAfterWrite",
    "SUMMARY_COLUMNS",
    "PROVISIONING_COLUMNS",
]

SUMMARY_COLUMNS = [
    "scenario",
    "replication",
    "seed",
    "arrived",
    "completed",
    "dropped",
    "dropped_queue_full",
    "dropped_no_instance",
    "dropped_failed",
    "timed_out",
    "in_flight",
    "wait_mean_s",
    "waited_fraction",
    "latency_mean_s",
    "latency_p50_s",
    "latency_p90_s",
    "latency_p95_s",
    "latency_p99_s",
    "latency_p999_s",
    "latency_max_s",
    "throughput_rps",
    "queue_length_mean",
    "busy_workers_mean",
    "utilisation_mean",
    "instances_mean",
    "slo_attainment",
    "slo_met",
    "cost_usd",
    "cost_per_million_requests_usd",
    "time_to_first_ready_s",
    "time_to_target_capacity_s",
    "staff_hours",
    "max_instances",
    "slo_violation_minutes",
    "scale_events",
    "failed_requests",
    "availability",
    "time_to_recover_s",
]
PROVISIONING_COLUMNS = [
    "scenario",
    "replication",
    "instance",
    "stage",
    "start_s",
    "end_s",
    "waited_s",
    "holds",
]

Progress = Callable[[int, int, RunResult], None]


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("deploysim")
    except Exception:  # noqa: BLE001 - running from a source tree without install
        return "0+unknown"


@dataclass
class Results:
    """Result tables of one experiment run (DataFrames, usable from a notebook)."""

    experiment: Experiment
    summary: pd.DataFrame
    timeseries: pd.DataFrame
    provisioning: pd.DataFrame
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    # Set by ``run_to_precision``: the stopping rule's outcome, recorded in meta.json.
    precision: dict[str, Any] | None = None

    def summary_ci(self) -> pd.DataFrame:
        """Per scenario and numeric summary column: mean, standard deviation and the 95 %
        confidence half-width of the mean across replications (Student t)."""
        return summary_ci(self.summary)

    def scenario_means(self) -> pd.DataFrame:
        """Summary averaged over replications, one row per scenario (in file order)."""
        numeric = self.summary.drop(columns=["replication", "seed"]).groupby("scenario", sort=False)
        return numeric.mean(numeric_only=True).reset_index()


def summary_ci(summary: pd.DataFrame) -> pd.DataFrame:
    """One row per scenario: ``<col>_mean``, ``<col>_sd``, ``<col>_ci95`` for every numeric
    column, and ``replications``. The half-width is ``t(0.975, R-1) * sd / sqrt(R)``;
    with one replication sd and half-width are empty."""
    from reports import t_quantile_975

    numeric = [
        c
        for c in summary.columns
        if c not in ("scenario", "replication", "seed")
        and pd.api.types.is_numeric_dtype(summary[c])
        and not pd.api.types.is_bool_dtype(summary[c])
    ]
    rows = []
    for scenario, group in summary.groupby("scenario", sort=False):
        n = len(group)
        row: dict[str, Any] = {"scenario": scenario, "replications": n}
        t = t_quantile_975(n - 1) if n > 1 else math.nan
        for c in numeric:
            values = group[c].astype(float)
            mean = float(values.mean())
            sd = float(values.std(ddof=1)) if n > 1 else math.nan
            row[f"{c}_mean"] = mean
            row[f"{c}_sd"] = sd
            row[f"{c}_ci95"] = t * sd / math.sqrt(n) if n > 1 else math.nan
        rows.append(row)
    return pd.DataFrame(rows)


def default_workers() -> int:
    """Processes to use by default: the cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def run(
    experiment: Experiment,
    *,
    replications: int | None = None,
    workers: int = 1,
    progress: Progress | None = None,
    tick: Callable[[int, float], None] | None = None,
) -> Results:
    """Run every scenario × replication of ``experiment`` and collect the tables.

    ``workers > 1`` runs them in a local process pool; each run is a pure
    function of (experiment, scenario, replication), so the tables are
    identical whatever the number of workers. ``progress(done, total, result)``
    is called after each run; ``tick(run_index, sim_time)`` during a run (only
    in-process, for progress bars).
    """
    reps = replications if replications is not None else experiment.replications
    specs = [(i, r) for r in range(reps) for i in range(len(experiment.scenarios))]
    return collect(experiment, _run_specs(experiment, specs, workers, progress, tick))


def _run_specs(
    experiment: Experiment,
    specs: list[tuple[int, int]],
    workers: int,
    progress: Progress | None,
    tick: Callable[[int, float], None] | None,
) -> list[RunResult]:
    """Run (scenario index, replication) pairs, in a process pool when ``workers > 1``."""
    results: list[RunResult] = []
    if workers > 1 and len(specs) > 1:
        ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
        with ProcessPoolExecutor(max_workers=min(workers, len(specs)), mp_context=ctx) as pool:
            futures = [pool.submit(run_one, experiment, i, r) for i, r in specs]
            try:
                for done, fut in enumerate(as_completed(futures), start=1):
                    res = fut.result()
                    results.append(res)
                    if progress is not None:
                        progress(done, len(specs), res)
            except BaseException:
                for f in futures:
                    f.cancel()
                # Ctrl-C sent to this process alone, or a failed run: without this the
                # pool's shutdown would wait for the runs in progress (minutes, maybe).
                for proc in list(pool._processes.values()):  # noqa: SLF001
                    proc.terminate()
                raise
    else:
        for k, (i, r) in enumerate(specs):
            hook = None if tick is None else functools.partial(tick, k)
            res = run_one(experiment, i, r, tick=hook)
            results.append(res)
            if progress is not None:
                progress(k + 1, len(specs), res)
    return results


# Fewer replications give a standard deviation too unreliable to stop on.
MIN_PRECISION_REPLICATIONS = 3


def relative_half_widths(summary: pd.DataFrame, metric: str) -> dict[str, float]:
    """Per scenario: the 95 % half-width of ``metric``'s mean (as in ``summary_ci.csv``)
    divided by |mean|; 0 when every replication gave the same value, NaN when undefined."""
    from reports import t_quantile_975

    out: dict[str, float] = {}
    for scenario, group in summary.groupby("scenario", sort=False):
        values = group[metric].astype(float)
        n = len(values)
        mean = float(values.mean())
        if n < 2 or math.isnan(mean):
            out[str(scenario)] = math.nan
            continue
        hw = t_quantile_975(n - 1) * float(values.std(ddof=1)) / math.sqrt(n)
        if hw == 0.0:
            out[str(scenario)] = 0.0
        else:
            out[str(scenario)] = hw / abs(mean) if mean != 0.0 else math.inf
    return out


def run_to_precision(
    experiment: Experiment,
    *,
    workers: int = 1,
    progress: Progress | None = None,
    tick: Callable[[int, float], None] | None = None,
) -> Results:
    """Run with ``experiment.precision``'s stopping rule: replications are added (in
    batches of ``workers``) until the metric's relative 95 % half-width is at most
    ``relative`` in every scenario, or ``max_replications`` is reached.

    Replication k always uses the same seed streams, and the result is cut at the
    *first* R that meets the precision (checked R by R, starting from
    max(replications, 3)), so it is identical to a fixed-R run with that R whatever the
    number of workers. ``Results.precision`` records the outcome: metric, relative
    target, replications, reached, and the achieved relative half-width per scenario.
    """
    from simulator.loading import InputError

    rule = experiment.precision
    if rule is None:
        raise ValueError("experiment has no precision rule")
    n_sc = len(experiment.scenarios)
    cap = rule.max_replications
    start = min(max(experiment.replications, MIN_PRECISION_REPLICATIONS), cap)
    step = max(1, workers)
    runs: list[RunResult] = []
    have, target = 0, start
    offset = 0

    def counted(done: int, _total: int, res: RunResult) -> None:
        if progress is not None:
            progress(offset + done, min(cap, target + step) * n_sc, res)

    while True:
        specs = [(i, r) for r in range(have, target) for i in range(n_sc)]
        runs += _run_specs(experiment, specs, workers, counted, tick)
        offset += len(specs)
        summary = pd.DataFrame([r.summary for r in runs])
        column = summary.get(rule.metric)
        # A yes/no column (slo_met) has no mean to be precise about, as in summary_ci.csv.
        if (
            column is None
            or not pd.api.types.is_numeric_dtype(column)
            or pd.api.types.is_bool_dtype(column)
        ):
            raise InputError([f"precision.metric: {rule.metric!r} is not a numeric summary column"])
        for reps in range(max(have + 1, start), target + 1):
            achieved = relative_half_widths(summary[summary["replication"] < reps], rule.metric)
            if all(v <= rule.relative for v in achieved.values()):  # NaN is never <=
                return _with_precision(experiment, runs, reps, achieved, True)
        have = target
        if have >= cap:
            return _with_precision(experiment, runs, have, achieved, False)
        target = min(cap, have + step)


def _with_precision(
    experiment: Experiment,
    runs: list[RunResult],
    reps: int,
    achieved: dict[str, float],
    reached: bool,
) -> Results:
    rule = experiment.precision
    assert rule is not None
    results = collect(experiment, [r for r in runs if r.replication < reps])
    results.precision = {
        "metric": rule.metric,
        "relative": rule.relative,
        "max_replications": rule.max_replications,
        "replications": reps,
        "reached": reached,
        "achieved": {k: (v if math.isfinite(v) else None) for k, v in achieved.items()},
    }
    return results


def collect(experiment: Experiment, results: list[RunResult]) -> Results:
    """Assemble run results into tidy tables, sorted by scenario order then replication."""
    order = {s.name: k for k, s in enumerate(experiment.scenarios)}
    results = sorted(results, key=lambda r: (order[r.scenario], r.replication))
    summary = pd.DataFrame([r.summary for r in results])
    extra = [c for c in summary.columns if c not in SUMMARY_COLUMNS]
    summary = summary[SUMMARY_COLUMNS + extra]
    frames = []
    for r in results:
        ts = pd.DataFrame(r.timeseries)
        ts.insert(0, "replication", r.replication)
        ts.insert(0, "scenario", r.scenario)
        frames.append(ts)
    timeseries = pd.concat(frames, ignore_index=True)
    spans = [
        {"scenario": r.scenario, "replication": r.replication, **asdict(s)}
        for r in results
        for s in r.spans
    ]
    provisioning = pd.DataFrame(spans, columns=PROVISIONING_COLUMNS)
    tables: dict[str, pd.DataFrame] = {}
    for name in sorted({n for r in results for n in r.tables}):
        rows = [
            {"scenario": r.scenario, "replication": r.replication, **row}
            for r in results
            for row in r.tables.get(name, [])
        ]
        tables[name] = pd.DataFrame(rows)
    return Results(experiment, summary, timeseries, provisioning, tables)


def inputs_hash(experiment: Experiment) -> str:
    """SHA-256 of the resolved config: two runs with the same hash had the same inputs."""
    blob = json.dumps(experiment.model_dump(mode="json"), sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()


def folder_mode() -> int:
    """Permissions of a folder made by ``mkdir`` under the current umask (0o755 usually)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o777 & ~mask


class InterruptedAfterWrite(KeyboardInterrupt):
    """Ctrl-C arrived during the final renames of ``write_output``: they were completed
    first, so the output folder is whole; the interrupt is delivered afterwards."""


@contextlib.contextmanager
def _sigint_deferred() -> Iterator[list[int]]:
    """Hold Ctrl-C (SIGINT) for the duration of the block; the list says if one came.

    Only in the main thread (where Python delivers signals); elsewhere a no-op.
    """
    caught: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield caught
        return
    previous = signal.signal(signal.SIGINT, lambda signum, _frame: caught.append(signum))
    try:
        yield caught
    finally:
        signal.signal(signal.SIGINT, previous)


def write_output(results: Results, out_dir: Path, *, with_report: bool = True) -> Path:
    """Write the output folder atomically: a temp folder beside ``out_dir``, then rename.

    Ctrl-C leaves either the previous folder (or none) or the new complete one, and no
    temp folder: it is held while the temp folder is created and during the final renames
    (milliseconds); if it came during the renames, ``InterruptedAfterWrite`` follows them.
    """
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with _sigint_deferred() as creating:
        tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        if creating:
            raise KeyboardInterrupt
        os.chmod(tmp, folder_mode())  # mkdtemp makes it private; the output is not
        _write_tables(results, tmp)
        if with_report:
            _write_report(results, tmp)
        with _sigint_deferred() as committing:
            replace_folder(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if committing:
        raise InterruptedAfterWrite(str(out_dir))
    return out_dir


def replace_folder(tmp: Path, out_dir: Path) -> None:
    """Move the complete ``tmp`` folder to ``out_dir``, replacing a previous output (never
    half of either); subfolders of the previous output that ``tmp`` lacks are kept."""
    old = None
    if out_dir.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=out_dir.parent))
        old.rmdir()
        out_dir.rename(old)
    try:
        tmp.rename(out_dir)
    except BaseException:
        if old is not None and not out_dir.exists():
            old.rename(out_dir)  # put the previous results back
        raise
    if old is not None:
        # A run writes files only; subfolders are other outputs of the same
        # experiment (runs/<exp>/sweep/, plan-*/): a new run must not delete them.
        for child in old.iterdir():
            if child.is_dir() and not (out_dir / child.name).exists():
                child.rename(out_dir / child.name)
        shutil.rmtree(old, ignore_errors=True)


def _write_tables(results: Results, folder: Path) -> None:
    exp = results.experiment
    results.summary.to_csv(folder / "summary.csv", index=False)
    results.summary_ci().to_csv(folder / "summary_ci.csv", index=False)
    results.timeseries.to_parquet(folder / "timeseries.parquet", index=False)
    results.provisioning.to_csv(folder / "provisioning.csv", index=False)
    for name, table in results.tables.items():
        table.to_csv(folder / f"{name}.csv", index=False)
    resolved = exp.model_dump(mode="json", exclude_none=True)
    meta = {
        "deploysim_version": _version(),
        "seed": exp.seed,
        "replications": int(results.summary["replication"].nunique()),
        "inputs_sha256": inputs_hash(exp),
        "serving_modes": {s.name: s.serving.mode for s in exp.scenarios},
    }
    if results.precision is not None:
        meta["precision"] = results.precision
    with (folder / "config.resolved.yaml").open("w") as fh:
        fh.write("# Resolved experiment: every quantity in base units (s, bytes, 1/s, USD).\n")
        fh.write(f"# {json.dumps(meta)}\n")
        yaml.safe_dump(resolved, fh, sort_keys=False)
    (folder / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")


def serving_mode_text(exp: Experiment) -> str:
    """How the scenarios were served, for the report: one mode, or which scenario used which."""
    from simulator.units import format_duration

    def one(s: Any) -> str:
        if s.serving.mode == "fluid":
            return f"fluid (per-step rates, step {format_duration(s.serving.step)})"
        return "exact (every request is an event)"

    texts = {one(s) for s in exp.scenarios}
    if len(texts) == 1:
        return texts.pop()
    return "; ".join(f"{s.name}: {one(s)}" for s in exp.scenarios)


def _write_report(results: Results, folder: Path) -> None:
    from reports import write_report
    from simulator.units import format_duration

    exp = results.experiment
    meta = {
        "seed": str(exp.seed),
        "replications": str(int(results.summary["replication"].nunique())),
        "horizon": format_duration(exp.horizon),
        "warm-up": format_duration(exp.warmup),
        "serving mode": serving_mode_text(exp),
        "deploysim": _version(),
    }
    with contextlib.suppress(KeyError):
        meta["workload"] = exp.workload.arrivals.kind
    write_report(
        folder / "report.html",
        title=exp.name,
        question=exp.question,
        summary=results.summary,
        timeseries=results.timeseries,
        provisioning=results.provisioning,
        meta=meta,
        scaling=results.tables.get("scaling"),
        pulls=results.tables.get("pulls"),
        faults=results.tables.get("faults"),
    )


TABLE_FILES = ("summary.csv", "summary_ci.csv", "timeseries.parquet", "provisioning.csv")


def compare_outputs(a: Path, b: Path) -> list[str]:
    """Names of the result tables that differ between two output folders (bit for bit),
    including the extra ``<table>.csv`` files either folder has."""
    names = set(TABLE_FILES)
    for folder in (a, b):
        names |= {
            p.name for p in Path(folder).glob("*.csv") if p.name not in ("config.resolved.yaml",)
        }
    differ = []
    for name in sorted(names):
        pa, pb = Path(a) / name, Path(b) / name
        if not (pa.exists() and pb.exists()):
            differ.append(name)
        elif name.endswith(".parquet"):
            if not pd.read_parquet(pa).equals(pd.read_parquet(pb)):
                differ.append(name)
        elif pa.read_bytes() != pb.read_bytes():
            differ.append(name)
    return differ


def load_results(folder: Path) -> dict[str, Any]:
    """Read back an output folder's tables (for reports and comparisons)."""
    folder = Path(folder)
    return {
        "summary": pd.read_csv(folder / "summary.csv"),
        "timeseries": pd.read_parquet(folder / "timeseries.parquet"),
        "provisioning": pd.read_csv(folder / "provisioning.csv"),
    }
