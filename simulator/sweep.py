"""Sweeps: an experiment run at every point of a grid of config values.

A sweep is data. ``plan_sweep`` expands the factors (``--grid``/``--zip``
flags and the experiment's ``sweep:`` block) into ``Point`` objects — a stable
id, the factor values as written, and the fully validated experiment of that
point — before anything runs, so a bad path or value fails up front.

``run_sweep`` runs every point's scenarios × replications as independent tasks
(``engine.run_one``, a pure function of (resolved config, scenario,
replication)) on a local process pool or a Dask cluster, assembles each point's
tables when its last run arrives, and writes the point's output folder
atomically into ``<sweep dir>/<point id>/`` together with its completion
marker ``point.json`` (one rename makes both appear). A point whose folder is
complete and whose inputs hash matches is skipped on the next run, so a sweep
killed at any moment resumes without losing or duplicating a point. Finally
``sweep.csv`` and ``sweep.json`` collect every point (rebuilt from the point
folders, so a resumed sweep writes the same bytes as an uninterrupted one).
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import hashlib
import itertools
import json
import math
import multiprocessing as mp
import os
import re
import shutil
import socket
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import yaml

from simulator.config import Experiment
from simulator.engine import RunResult, run_one
from simulator.loading import InputError, apply_overrides, load_experiment, read_document
from simulator.results import collect, inputs_hash, replace_folder, write_output

__all__ = [
    "MARKER",
    "Point",
    "Sweep",
    "SweepProgress",
    "SweepOutcome",
    "TaskOutcome",
    "parse_factor",
    "point_id",
    "plan_sweep",
    "point_state",
    "run_sweep",
    "expand_wildcards",
    "run_task",
    "collect_sweep",
    "connect_scheduler",
]

MARKER = "point.json"
"""The completion marker inside a point folder; written before the folder's atomic rename."""

Design = Literal["grid", "zip"]


# --------------------------------------------------------------------------- expansion


@dataclass(frozen=True)
class Point:
    """One point of a sweep: factor values (as written) and the experiment they resolve to."""

    id: str
    factors: dict[str, Any]
    experiment: Experiment
    inputs_sha256: str

    def runs(self) -> list[tuple[int, int]]:
        """(scenario index, replication) of every run of this point, replication-major."""
        n = len(self.experiment.scenarios)
        return [(i, r) for r in range(self.experiment.replications) for i in range(n)]


@dataclass(frozen=True)
class Sweep:
    """An expanded sweep: the base experiment, its factors and every point, in order."""

    source: Path
    experiment: Experiment
    factors: list[str]
    design: Design
    values: dict[str, list[Any]]
    points: list[Point]
    zipped: list[str] = field(default_factory=list)
    """The factors of the zip group (their values move together: one axis of the design)."""


def _parse_value(text: str) -> Any:
    # A value as `--set` reads it: YAML scalar syntax (3, 90s, 100MB/s, null).
    try:
        return yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError:
        return text


def parse_factor(flag: str, item: str) -> tuple[str, list[Any]]:
    """``path=v1,v2,...`` (or ``path=[v1, v2]`` in YAML flow syntax) → (path, values)."""
    path, sep, raw = item.partition("=")
    path = path.strip()
    if not sep or not path:
        raise InputError([f"{flag} {item!r}: expected path=v1,v2,..."])
    raw = raw.strip()
    if raw.startswith("["):
        try:
            values = yaml.safe_load(raw)
        except yaml.YAMLError:
            raise InputError([f"{flag} {item!r}: cannot read the YAML list {raw!r}"]) from None
        if not isinstance(values, list):
            raise InputError([f"{flag} {item!r}: expected a list of values"])
    else:
        values = [_parse_value(v) for v in raw.split(",")] if raw else []
    if not values or any(v == "" for v in values):
        raise InputError([f"{flag} {item!r}: expected one or more comma-separated values"])
    return path, values


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _slug_part(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.=+-]+", "-", text).strip("-")


def point_id(factors: Mapping[str, Any]) -> str:
    """A stable folder name for a factor assignment: readable slug + hash of its canonical JSON.

    Depends only on the {path: value} pairs (not on their order or on the
    enumeration of the sweep), so the same point has the same id in every run,
    process and machine.
    """
    digest = hashlib.sha256(_canonical(dict(factors)).encode()).hexdigest()[:10]
    parts = []
    for path in sorted(factors):
        last = re.split(r"[.\[\]]+", path.strip(".]"))[-1] or path
        value = factors[path]
        shown = value if isinstance(value, str) else _canonical(value)
        parts.append(_slug_part(f"{last}={shown}"))
    slug = "_".join(p for p in parts if p)[:60].rstrip("_-.")
    return f"{slug}-{digest}" if slug else digest


def _as_override(path: str, value: Any) -> str:
    # JSON is YAML flow syntax: the value reaches apply_overrides exactly as parsed.
    return f"{path}={json.dumps(value, default=str)}"


def _merge_design(
    block: Any, grid_flags: Sequence[str], zip_flags: Sequence[str], source: Path
) -> tuple[dict[str, list[Any]], dict[str, list[Any]]]:
    """The YAML ``sweep:`` block extended by the flags: ``--grid path=`` replaces that
    path's values (or adds it); any ``--zip`` replaces the block's zip group whole."""
    grid: dict[str, list[Any]] = dict(block.grid) if block is not None else {}
    zipped: dict[str, list[Any]] = dict(block.zip) if block is not None else {}
    problems: list[str] = []
    for flag, items in (("--grid", grid_flags), ("--zip", zip_flags)):
        for item in items:
            try:
                parse_factor(flag, item)
            except InputError as exc:
                problems.extend(exc.problems)
    if problems:
        raise InputError(problems)
    flagged: set[str] = set()
    for item in grid_flags:
        path, values = parse_factor("--grid", item)
        if path in flagged:  # the second would silently replace the first
            raise InputError([f"--grid {item!r}: {path} given twice (write path=v1,v2,...)"])
        flagged.add(path)
        zipped.pop(path, None)
        grid[path] = values
    if zip_flags:
        zipped = {}
        for item in zip_flags:
            path, values = parse_factor("--zip", item)
            if path in zipped:
                raise InputError([f"--zip {item!r}: {path} given twice"])
            zipped[path] = values
            grid.pop(path, None)
        lengths = {p: len(v) for p, v in zipped.items()}
        if len(set(lengths.values())) > 1:
            sizes = ", ".join(f"{p} has {n}" for p, n in lengths.items())
            raise InputError([f"--zip: every --zip needs the same number of values ({sizes})"])
    if not grid and not zipped:
        raise InputError(
            [f"{source}: nothing to sweep: give --grid path=v1,v2,... or a sweep: block"]
        )
    return grid, zipped


def _resolved_at(data: Any, path: str) -> Any:
    """The value at a ``--set`` path in a resolved (JSON) config, or None."""
    node = data
    for m in re.finditer(r"([^.\[\]]+)|\[(\d+)\]", path):
        key: Any = int(m.group(2)) if m.group(2) is not None else m.group(1)
        if isinstance(node, list):
            if isinstance(key, str):
                named = [x for x in node if isinstance(x, dict) and x.get("name") == key]
                node = named[0] if named else (node[int(key)] if key.isdigit() else None)
            else:
                node = node[key] if 0 <= key < len(node) else None
        elif isinstance(node, dict):
            node = node.get(str(key))
        else:
            return None
        if node is None:
            return None
    return node


_WILD = re.compile(r"\.\*(?=[.\[]|$)|\[\*\]")


def expand_wildcards(doc: Any, path: str) -> list[str]:
    """``scenarios.*.platform.nodes`` → one ``--set`` path per scenario (``*`` or ``[*]``
    stands for every item of a list); a path without ``*`` is returned as is."""
    m = _WILD.search(path)
    if m is None:
        return [path]
    prefix, rest = path[: m.start()], path[m.end() :]
    items = _resolved_at(doc, prefix) if prefix else None
    if not isinstance(items, list):
        raise ValueError(f"* must follow a list ({prefix or 'the top level'} is not one)")
    return [c for k in range(len(items)) for c in expand_wildcards(doc, f"{prefix}[{k}]{rest}")]


def _name_flag(line: str, concrete: dict[str, list[str]], origin: dict[str, str]) -> str:
    # apply_overrides names `--set 'path=value'`; say which sweep factor it came from.
    for factor, paths in concrete.items():
        for c in paths:
            if line.startswith(f"--set '{c}="):
                return f"{origin[factor]} {factor!r}:" + line.split("':", 1)[-1]
    return line


def plan_sweep(
    source: str | Path,
    *,
    grid: Sequence[str] = (),
    zip_with: Sequence[str] = (),
    sets: Sequence[str] = (),
    replications: int | None = None,
) -> Sweep:
    """Expand a sweep and validate every point like ``--set``; raises ``InputError``.

    ``grid``/``zip_with`` are ``--grid``/``--zip`` items (``path=v1,v2``). Points
    are the full factorial of the grid factors (in the order given) crossed
    with the positions of the zip group. Each point's experiment is
    the file with ``sets``, ``replications`` and the point's values applied and
    its ``sweep`` and ``precision`` blocks removed (a point is an ordinary experiment
    of exactly ``replications`` replications).
    """
    path = Path(source)
    base_overrides = [*sets, *([f"replications={replications}"] if replications else [])]
    base = load_experiment(path, base_overrides)
    grid_v, zip_v = _merge_design(base.sweep, grid, zip_with, path)
    origin = {p: ("--zip" if p in zip_v else "--grid") for p in [*grid_v, *zip_v]}
    if base.sweep is not None:
        for p in base.sweep.grid:
            if p in grid_v and list(base.sweep.grid[p]) == grid_v[p]:
                origin[p] = f"{path}: sweep.grid"
        for p in base.sweep.zip:
            if p in zip_v and list(base.sweep.zip[p]) == zip_v[p]:
                origin[p] = f"{path}: sweep.zip"

    doc = apply_overrides(read_document(path), base_overrides, str(path))
    concrete: dict[str, list[str]] = {}
    wild_problems: list[str] = []
    for p in [*grid_v, *zip_v]:
        try:
            concrete[p] = expand_wildcards(doc, p)
        except ValueError as exc:
            wild_problems.append(f"{origin[p]} {p!r}: {exc}")
    if wild_problems:
        raise InputError(wild_problems)

    def load(assignment: dict[str, Any]) -> Experiment:
        factor_sets = [_as_override(c, v) for p, v in assignment.items() for c in concrete[p]]
        # A point runs exactly `replications` (a precision rule is for `deploysim run`):
        # its config.resolved.yaml must say so, or `deploysim rerun` of it would differ.
        return load_experiment(
            path, [*base_overrides, *factor_sets, "sweep=null", "precision=null"]
        )

    # Every point is validated before anything runs. A problem shared by several
    # points is reported once, naming the first point that has it.
    zip_paths = list(zip_v)
    zip_rows = list(zip(*zip_v.values(), strict=True)) if zip_v else [()]
    problems: dict[str, list[str]] = {}
    points: list[Point] = []
    seen: set[str] = set()
    for combo in itertools.product(*grid_v.values()):
        for zrow in zip_rows:
            assignment = dict(zip(grid_v, combo, strict=True))
            assignment.update(zip(zip_paths, zrow, strict=True))
            where = ", ".join(f"{p}={_canonical(v)}" for p, v in assignment.items())
            try:
                exp = load(assignment)
            except InputError as exc:
                for line in exc.problems:
                    problems.setdefault(_name_flag(line, concrete, origin), []).append(where)
                continue
            pid = point_id(assignment)
            if pid in seen:
                problems.setdefault(f"{path}: sweep point given twice", []).append(where)
                continue
            seen.add(pid)
            points.append(Point(pid, assignment, exp, inputs_hash(exp)))
    if problems:
        raise InputError(
            [
                f"{line} (sweep point {wheres[0]}"
                + (f"; and {len(wheres) - 1} more point(s))" if len(wheres) > 1 else ")")
                for line, wheres in problems.items()
            ]
        )
    design: Design = "zip" if zip_v and not grid_v else "grid"
    return Sweep(
        source=path,
        experiment=base,
        factors=[*grid_v, *zip_v],
        design=design,
        values={**grid_v, **zip_v},
        points=points,
        zipped=list(zip_v),
    )


# --------------------------------------------------------------------------- one task


@dataclass
class TaskOutcome:
    """What one run of a point produced: its result, or the error that stopped it."""

    result: RunResult | None
    error: str | None = None
    detail: str | None = None


def run_task(experiment: Experiment, scenario: int, replication: int) -> TaskOutcome:
    """One run of one point (pure, picklable): the same function on a local worker process
    and on a Dask worker. An exception becomes a failed outcome instead of propagating."""
    try:
        return TaskOutcome(run_one(experiment, scenario, replication))
    except Exception as exc:  # noqa: BLE001 - a failing point is recorded, not fatal
        first = (str(exc).strip().splitlines() or [""])[0]
        return TaskOutcome(None, f"{type(exc).__name__}: {first}", traceback.format_exc())


# --------------------------------------------------------------------------- point folders


def point_state(folder: Path, point: Point) -> Literal["ok", "failed", "stale", "missing"]:
    """``ok`` (complete, same inputs: skip it), ``failed``, ``stale`` (complete but for other
    inputs: the experiment, ``--set`` or replications changed) or ``missing``."""
    marker = folder / MARKER
    try:
        info = json.loads(marker.read_text())
    except (OSError, ValueError):
        return "missing"
    if info.get("inputs_sha256") != point.inputs_sha256:
        return "stale"
    if info.get("status") != "ok" or not (folder / "summary_ci.csv").is_file():
        return "failed"
    return "ok"


def _marker(point: Point, status: str, error: str, elapsed: float) -> dict[str, Any]:
    return {
        "point": point.id,
        "status": status,
        "error": error,
        "factors": point.factors,
        "inputs_sha256": point.inputs_sha256,
        "replications": point.experiment.replications if status == "ok" else 0,
        "elapsed_s": round(elapsed, 3),
    }


def _write_point(
    out_dir: Path,
    point: Point,
    results: list[RunResult],
    *,
    report: bool,
    elapsed: float,
) -> None:
    tmp = out_dir / f".{point.id}.tmp-{os.getpid()}-{time.monotonic_ns()}"
    try:
        write_output(collect(point.experiment, results), tmp, with_report=report)
        # The marker goes in before the rename: a folder in place is a complete folder.
        (tmp / MARKER).write_text(json.dumps(_marker(point, "ok", "", elapsed), indent=2) + "\n")
        replace_folder(tmp, out_dir / point.id)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _write_failed(out_dir: Path, point: Point, error: str, detail: str, elapsed: float) -> None:
    tmp = Path(tempfile.mkdtemp(prefix=f".{point.id}.tmp-", dir=out_dir))
    try:
        (tmp / "error.txt").write_text(detail if detail.endswith("\n") else detail + "\n")
        with (tmp / "config.resolved.yaml").open("w") as fh:
            yaml.safe_dump(
                point.experiment.model_dump(mode="json", exclude_none=True), fh, sort_keys=False
            )
        marker = _marker(point, "failed", error, elapsed)
        (tmp / MARKER).write_text(json.dumps(marker, indent=2) + "\n")
        replace_folder(tmp, out_dir / point.id)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _clean_leftovers(out_dir: Path) -> None:
    # Temp folders of a sweep killed while writing (the lock says no one else is writing).
    for p in out_dir.glob(".*"):
        if p.is_dir() and re.search(r"\.(tmp|old)-", p.name):
            shutil.rmtree(p, ignore_errors=True)
    for p in out_dir.glob(".sweep.*.tmp"):
        p.unlink(missing_ok=True)


@contextlib.contextmanager
def _locked(out_dir: Path) -> Iterator[None]:
    """One sweep at a time per folder; the kernel drops the lock if the process dies."""
    out_dir.mkdir(parents=True, exist_ok=True)
    fh = (out_dir / ".lock").open("a")
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputError([f"{out_dir}: another sweep is writing to this folder"]) from None
        yield
    finally:
        fh.close()


# --------------------------------------------------------------------------- execution


@dataclass
class SweepProgress:
    """Counts for a progress bar, after every finished run."""

    points_total: int
    points_done: int = 0
    points_failed: int = 0
    points_running: int = 0
    points_skipped: int = 0
    runs_total: int = 0
    runs_done: int = 0
    last: str = ""


@dataclass
class SweepOutcome:
    """What ``run_sweep`` did: the table, the sweep.json content and the counts."""

    table: pd.DataFrame
    info: dict[str, Any]
    computed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    recomputed_stale: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    worker_restarts: int = 0


Task = tuple[int, int, int]  # (point index, scenario index, replication)


def connect_scheduler(address: str, timeout: float = 10.0) -> Any:
    """A dask.distributed Client for ``address``; ``InputError`` (one line) if unreachable."""
    if not re.match(r"^[a-z]+://[^/\s]+$|^[^/\s:]+:\d+$", address):
        raise InputError([f"--scheduler {address!r}: expected tcp://HOST:PORT"])
    try:
        from distributed import Client
    except ImportError:  # pragma: no cover - a declared dependency
        raise InputError(["--scheduler: dask.distributed is not installed"]) from None
    m = re.match(r"^(?:tcp://)?\[?([^\]/\s]+?)\]?:(\d+)$", address)
    if m is not None:
        # A refused TCP connection fails now, not after the client's retries time out.
        try:
            socket.create_connection((m.group(1), int(m.group(2))), timeout=timeout).close()
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise InputError([f"--scheduler {address}: cannot connect ({reason})"]) from None
    try:
        return Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise InputError([f"--scheduler {address}: cannot connect ({reason})"]) from None


def _local_backend(
    sweep: Sweep, tasks: list[Task], workers: int, stats: SweepOutcome
) -> Iterator[tuple[Task, TaskOutcome, list[Task]]]:
    """Yield (task, outcome, tasks still running) as tasks finish on a local pool."""
    if workers <= 1 or len(tasks) <= 1:
        for k, task in enumerate(tasks):
            pi, i, r = task
            yield task, run_task(sweep.points[pi].experiment, i, r), tasks[k + 1 : k + 2]
        return
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    size = min(workers, len(tasks))
    pool = ProcessPoolExecutor(max_workers=size, mp_context=ctx)
    # Submit a bounded window (not everything): a killed sweep loses little work in
    # flight and the parent holds few finished-but-unwritten runs.
    window = max(2 * workers, 4)
    pending: dict[Future[TaskOutcome], Task] = {}
    retry: list[Task] = []
    queue = iter(tasks)
    order = {t: k for k, t in enumerate(tasks)}
    restarts = 0

    def fill() -> bool:
        """Top up the window; False when the pool turned out to be broken."""
        while len(pending) < window:
            task = retry.pop(0) if retry else next(queue, None)
            if task is None:
                return True
            exp = sweep.points[task[0]].experiment
            try:
                pending[pool.submit(run_task, exp, task[1], task[2])] = task
            except BrokenProcessPool:
                retry.insert(0, task)
                return False
        return True

    try:
        healthy = fill()
        while pending or not healthy:
            done = wait(pending, return_when=FIRST_COMPLETED)[0] if pending else set()
            broken: list[Task] = []
            for fut in sorted(done, key=lambda f: order[pending[f]]):
                task = pending.pop(fut)
                try:
                    outcome = fut.result()
                except BrokenProcessPool:
                    broken.append(task)
                    continue
                except Exception as exc:  # noqa: BLE001 - recorded as the point's error
                    outcome = TaskOutcome(None, f"{type(exc).__name__}: {exc}", repr(exc))
                running = sorted(pending.values(), key=order.__getitem__)[:workers]
                yield task, outcome, running
            if broken or not healthy:
                # A worker process died (killed, out of memory): every run in flight is
                # lost. Runs are pure, so they are simply run again on a fresh pool — a
                # few times; a run that keeps killing its worker fails its point.
                lost = sorted([*broken, *pending.values()], key=order.__getitem__)
                pending.clear()
                pool.shutdown(wait=False, cancel_futures=True)
                restarts += 1
                stats.worker_restarts += 1
                if restarts > _MAX_POOL_RESTARTS:
                    for task in lost:
                        why = "a worker process died while running this point"
                        yield task, TaskOutcome(None, why, why), []
                    lost = []
                pool = ProcessPoolExecutor(max_workers=size, mp_context=ctx)
                retry = lost + retry
            healthy = fill()
    finally:
        for fut in pending:
            fut.cancel()
        pool.shutdown(wait=True, cancel_futures=True)


_MAX_POOL_RESTARTS = 3


def _dask_backend(
    sweep: Sweep, tasks: list[Task], client: Any
) -> Iterator[tuple[Task, TaskOutcome, list[Task]]]:
    """The same tasks on a Dask cluster: ``run_task`` submitted through ``client``."""
    from distributed import as_completed

    order = {t: k for k, t in enumerate(tasks)}
    # Each point's experiment is sent to the cluster once, not with each of its runs.
    configs = {
        pi: client.scatter(sweep.points[pi].experiment, hash=False)
        for pi in sorted({t[0] for t in tasks})
    }
    futures = {}
    for task in tasks:
        pi, i, r = task
        futures[client.submit(run_task, configs[pi], i, r, pure=False)] = task
    threads = max(1, sum(client.nthreads().values()))
    remaining = set(tasks)
    try:
        for fut in as_completed(list(futures), loop=client.loop):
            task = futures[fut]
            try:
                outcome = fut.result()
            except Exception as exc:  # noqa: BLE001 - e.g. KilledWorker
                outcome = TaskOutcome(None, f"{type(exc).__name__}: {exc}", repr(exc))
            remaining.discard(task)
            fut.release()
            running = sorted(remaining, key=order.__getitem__)[:threads]
            yield task, outcome, running
    finally:
        for fut in futures:
            if not fut.done():
                fut.cancel()
        for cfg in configs.values():
            cfg.release()


def run_sweep(
    sweep: Sweep,
    out_dir: Path,
    *,
    workers: int = 1,
    client: Any = None,
    force: bool = False,
    point_reports: bool = False,
    progress: Callable[[SweepProgress], None] | None = None,
) -> SweepOutcome:
    """Run the points not yet complete, write each point's folder, then ``sweep.csv``/``.json``.

    ``client`` (a dask.distributed Client) runs the tasks on a cluster instead of
    ``workers`` local processes. ``force`` recomputes complete points. A point
    whose run raised is written as ``failed`` (``point.json`` + ``error.txt``)
    and retried by the next run.
    """
    out_dir = Path(out_dir)
    with _locked(out_dir):
        _clean_leftovers(out_dir)
        outcome = SweepOutcome(pd.DataFrame(), {})
        todo: list[int] = []
        for k, point in enumerate(sweep.points):
            state = point_state(out_dir / point.id, point)
            if state == "ok" and not force:
                outcome.skipped.append(point.id)
            else:
                if state == "stale":
                    outcome.recomputed_stale.append(point.id)
                todo.append(k)
        tasks = [(k, i, r) for k in todo for i, r in sweep.points[k].runs()]
        state_p = SweepProgress(
            points_total=len(sweep.points),
            points_done=len(outcome.skipped),
            points_skipped=len(outcome.skipped),
            runs_total=len(tasks),
        )
        if progress is not None:
            progress(state_p)
        if tasks:
            _execute(
                sweep, out_dir, tasks, workers, client, point_reports, outcome, state_p, progress
            )
        table, info = collect_sweep(sweep, out_dir)
        _write_atomic(out_dir / "sweep.csv", table.to_csv(index=False))
        _write_atomic(out_dir / "sweep.json", json.dumps(info, indent=2) + "\n")
        outcome.table, outcome.info = table, info
        return outcome


def _execute(
    sweep: Sweep,
    out_dir: Path,
    tasks: list[Task],
    workers: int,
    client: Any,
    point_reports: bool,
    outcome: SweepOutcome,
    state: SweepProgress,
    progress: Callable[[SweepProgress], None] | None,
) -> None:
    left = {k: len(sweep.points[k].runs()) for k in {t[0] for t in tasks}}
    got: dict[int, list[RunResult]] = {k: [] for k in left}
    errors: dict[int, TaskOutcome] = {}
    started: dict[int, float] = {}
    backend = (
        _dask_backend(sweep, tasks, client)
        if client is not None
        else _local_backend(sweep, tasks, workers, outcome)
    )
    t0 = time.monotonic()
    state.points_running = len({t[0] for t in tasks[: max(workers, 1)]}) if client is None else 1
    if progress is not None:
        progress(state)
    for (pi, _i, _r), result, running in backend:
        started.setdefault(pi, t0)
        left[pi] -= 1
        if result.result is not None:
            got[pi].append(result.result)
        elif pi not in errors:
            errors[pi] = result
        state.runs_done += 1
        if left[pi] == 0:
            point = sweep.points[pi]
            elapsed = time.monotonic() - started[pi]
            if pi in errors:
                err = errors[pi]
                _write_failed(out_dir, point, err.error or "", err.detail or "", elapsed)
                outcome.failed.append(point.id)
                state.points_failed += 1
            else:
                _write_point(out_dir, point, got[pi], report=point_reports, elapsed=elapsed)
                outcome.computed.append(point.id)
                state.points_done += 1
            del got[pi]
            state.last = point.id
        for t in running:
            started.setdefault(t[0], time.monotonic())
        state.points_running = len({t[0] for t in running})
        if progress is not None:
            progress(state)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".sweep.{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def collect_sweep(sweep: Sweep, out_dir: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """``sweep.csv`` rows (one per point × scenario, from the point folders) and ``sweep.json``.

    Columns: ``point``, one per factor (named by its path, value as written),
    ``scenario``, ``status``, ``error``, ``replications``, then every
    ``<metric>_mean/_sd/_ci95`` of the points' ``summary_ci.csv``.
    """
    fixed = ["point", "scenario", "status", "error", "replications"]
    factors = [p for p in sweep.factors if p not in fixed]  # `replications` is one already
    rows: list[dict[str, Any]] = []
    metrics: list[str] = []
    for point in sweep.points:
        folder = out_dir / point.id
        head = {"point": point.id, **{p: _cell(point.factors[p]) for p in factors}}
        if point_state(folder, point) == "ok":
            # The csv module, not pandas: reading hundreds of small files stays cheap.
            with (folder / "summary_ci.csv").open(newline="") as fh:
                reader = csv.DictReader(fh)
                for col in reader.fieldnames or []:
                    if col not in fixed and col not in metrics:
                        metrics.append(col)
                for rec in reader:
                    rows.append({**head, "status": "ok", "error": "", **rec})
        else:
            error = "not run (interrupted)"
            with contextlib.suppress(OSError, ValueError):
                error = json.loads((folder / MARKER).read_text()).get("error") or error
            for s in point.experiment.scenarios:
                rows.append(
                    {**head, "scenario": s.name, "status": "failed", "error": error}
                    | {"replications": "0"}
                )
    table = pd.DataFrame(rows, columns=["point", *factors, *fixed[1:], *metrics])
    for col in ["replications", *metrics]:
        # Numbers as pandas would read them from the files (ints stay ints).
        table[col] = pd.to_numeric(table[col].replace("", math.nan))
    slo = sweep.experiment.slo
    info: dict[str, Any] = {
        "experiment": sweep.experiment.name,
        "question": sweep.experiment.question,
        "factors": sweep.factors,
        "design": sweep.design,
        "zip": sweep.zipped,
        "slo": slo.model_dump(mode="json") if slo is not None else None,
        "points": len(sweep.points),
        "failed": int(table.drop_duplicates("point")["status"].eq("failed").sum()),
        "replications": sweep.experiment.replications,
        "seed": sweep.experiment.seed,
        "values": {p: [_cell(v) for v in vs] for p, vs in sweep.values.items()},
        "resolved": _resolved_values(sweep),
    }
    return table, info


def _cell(value: Any) -> Any:
    # Scalars go in a CSV cell as they are; lists and maps as canonical JSON.
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return _canonical(value)


def _resolved_values(sweep: Sweep) -> dict[str, list[Any]]:
    """Per factor, the value each written value resolves to in base units (s, bytes/s, ...)
    — a number a plot can place on an axis — or null when it is not a number."""
    out: dict[str, list[Any]] = {}
    for path, values in sweep.values.items():
        resolved: list[Any] = []
        for v in values:
            point = next(p for p in sweep.points if _canonical(p.factors[path]) == _canonical(v))
            got = _resolved_at(point.experiment.model_dump(mode="json"), _WILD.sub("[0]", path))
            ok = isinstance(got, int | float) and not isinstance(got, bool)
            resolved.append(got if ok and math.isfinite(float(got)) else None)
        out[path] = resolved
    return out
