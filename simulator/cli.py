"""The ``deploysim`` command: a thin typer layer over the library.

Exit codes: 0 ok, 2 bad input (one line per problem, naming file and field),
1 internal error (a short message; the traceback only with ``--debug``).
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from simulator import config as config_mod
from simulator.balancer import BALANCERS
from simulator.distributions import Distribution
from simulator.engine import RunResult
from simulator.faults import FAULTS
from simulator.limits import LimitExceeded
from simulator.loading import InputError, load_experiment
from simulator.registry import AUTOSCALERS, CATALOG, PLATFORMS
from simulator.results import (
    InterruptedAfterWrite,
    compare_outputs,
    default_workers,
    run_to_precision,
    write_output,
)
from simulator.results import run as run_experiment
from simulator.workload import ArrivalProfile

__all__ = ["app", "main"]

app = typer.Typer(
    name="deploysim",
    help="Discrete-event simulator of deployment architectures.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True, highlight=False, soft_wrap=True)
# Wide enough for the summary table when stdout is a pipe or a file (rich assumes 80).
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 140)

_DEBUG = {"on": False}

ExperimentArg = Annotated[
    Path, typer.Argument(help="Experiment YAML file.", show_default=False, dir_okay=False)
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="Override a field: path=value, e.g. scenarios[0].serving.workers=8 "
        "or scenarios.NAME.platform.instances=4. Validated like the file.",
    ),
]


def _fail_input(problems: list[str]) -> NoReturn:
    for line in problems:
        err.print(line, markup=False)
    raise typer.Exit(2)


def _load(path: Path, sets: list[str] | None, extra: list[str] | None = None) -> Any:
    _LOADED["path"] = str(path)  # names the file when a run passes a limit
    try:
        return load_experiment(path, [*(extra or []), *(sets or [])])
    except InputError as exc:
        _fail_input(exc.problems)


_LOADED = {"path": "experiment"}


@app.callback()
def _root(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks of internal errors.")
    ] = False,
) -> None:
    _DEBUG["on"] = debug


@app.command()
def run(
    experiment: ExperimentArg,
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Output folder (default runs/<experiment name>).", file_okay=False
        ),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Root seed (overrides the file).", min=0)] = None,
    replications: Annotated[
        int | None, typer.Option(help="Replications (overrides the file).", min=1)
    ] = None,
    sets: SetOpt = None,
    report: Annotated[bool, typer.Option(help="Write report.html.")] = True,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress, no summary.")] = False,
    workers: Annotated[
        int | None,
        typer.Option(help="Processes for the runs (default: the cores available).", min=1),
    ] = None,
    precision: Annotated[
        str | None,
        typer.Option(
            help="Add replications until METRIC's 95 % half-width is at most this share of "
            "its mean in every scenario, e.g. p99:5% (metrics: mean p50 p90 p95 p99 p999 "
            "dropped cost attainment, or a summary column).",
        ),
    ] = None,
    max_replications: Annotated[
        int | None,
        typer.Option(help="Cap of the precision rule (default 100).", min=2),
    ] = None,
) -> None:
    """Run every scenario × replication and write the output folder and the HTML report."""
    extra = []
    if seed is not None:
        extra.append(f"seed={seed}")
    if replications is not None:
        extra.append(f"replications={replications}")
    # A cap alone would create a precision block without a metric: say what is missing.
    cap_alone = precision is None and max_replications is not None
    if cap_alone and _load(experiment, sets, extra).precision is None:
        _fail_input(
            ["--max-replications: needs --precision METRIC:RELATIVE (or a precision: block)"]
        )
    extra += _precision_overrides(precision, max_replications)
    exp = _load(experiment, sets, extra)
    target = out_dir if out_dir is not None else Path("runs") / exp.name
    _check_output_folder(target)
    results = _run_with_progress(exp, quiet, workers or default_workers())
    if results.precision is not None:
        _report_precision(results.precision)
    try:
        write_output(results, target, with_report=report)
    except InterruptedAfterWrite:
        err.print(f"interrupted: {target} was already written completely")
        raise typer.Exit(130) from None
    except KeyboardInterrupt:
        err.print(f"interrupted: nothing written to {target}")
        raise typer.Exit(130) from None
    update_index(target, default=out_dir is None)
    if not quiet:
        _print_summary(results)
        out.print(
            f"wrote {target}/ (summary.csv, timeseries.parquet, provisioning.csv"
            f"{', report.html' if report else ''})"
        )


def _precision_overrides(text: str | None, cap: int | None) -> list[str]:
    """``--precision p99:5%`` and ``--max-replications N`` as ``precision.*`` overrides."""
    extra = []
    if text is not None:
        metric, sep, relative = text.partition(":")
        if not sep or not metric.strip() or not relative.strip():
            _fail_input([f"--precision {text!r}: expected METRIC:RELATIVE, e.g. p99:5%"])
        extra += [f"precision.metric={metric.strip()}", f"precision.relative={relative.strip()}"]
    if cap is not None:
        extra.append(f"precision.max_replications={cap}")
    return extra


def _report_precision(info: dict[str, Any]) -> None:
    achieved = ", ".join(
        f"{name} ±{v * 100:.2f} %" if v is not None else f"{name} undefined"
        for name, v in info["achieved"].items()
    )
    line = (
        f"precision {info['metric']} ±{info['relative'] * 100:g} %: "
        f"{info['replications']} replications ({achieved})"
    )
    if info["reached"]:
        err.print(line, markup=False)
    else:
        err.print(
            f"warning: {line}; not reached within max_replications={info['max_replications']}",
            markup=False,
        )


def update_index(target: Path, *, default: bool) -> None:
    """Refresh ``index.html`` in the folder holding the output ``target``.

    Done for the default ``runs/`` layout, and for an ``--out`` folder whose parent already
    has an index (so ``--out results`` does not drop an index.html into the working
    directory). The output is already safely written: a failing index only warns.
    """
    runs_dir = target.parent
    if not default and not (runs_dir / "index.html").is_file():
        return
    try:
        from reports.index import write_index

        write_index(runs_dir)
    except Exception as exc:  # noqa: BLE001 - any failure here must not fail the run
        err.print(f"warning: could not update {runs_dir / 'index.html'}: {exc}", markup=False)


def _check_output_folder(target: Path) -> None:
    """Fail before simulating when the output folder can never be written."""
    if target.exists() and not target.is_dir():
        _fail_input([f"--out {target}: exists and is not a folder"])
    parent = target.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        _fail_input([f"--out {target}: {parent} is a file, cannot create a folder under it"])
    if not os.access(parent, os.W_OK | os.X_OK):
        _fail_input([f"--out {target}: no permission to write in {parent}"])


def _run_with_progress(exp: Any, quiet: bool, workers: int) -> Any:
    total = exp.replications * len(exp.scenarios)
    started = time.monotonic()
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:.1f}/{task.total:.0f} runs"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=quiet,
    )
    task = progress.add_task(exp.name, total=total)
    shown = False

    def show() -> None:
        nonlocal shown
        # Show the bar only once the run has taken longer than a second.
        if not shown and time.monotonic() - started > 1.0:
            progress.start()
            shown = True

    def tick(k: int, now: float) -> None:
        show()
        progress.update(task, completed=k + now / exp.horizon)

    def done(n: int, _total: int, res: RunResult) -> None:
        show()
        progress.update(
            task,
            completed=n,
            total=_total,  # grows as the precision rule adds replications
            description=f"{exp.name}: {res.scenario} rep {res.replication}",
        )

    try:
        if getattr(exp, "precision", None) is not None:
            try:
                return run_to_precision(exp, workers=workers, progress=done)
            except InputError as exc:
                progress.stop()
                _fail_input(exc.problems)
        return run_experiment(exp, workers=workers, progress=done, tick=tick)
    except KeyboardInterrupt:
        progress.stop()
        err.print("interrupted: no output written")
        raise typer.Exit(130) from None
    except LimitExceeded as exc:  # a guard rail stopped a run: the input asks too much
        progress.stop()
        _fail_input([f"{_LOADED['path']}: {exc}"])
    finally:
        progress.stop()


def _fmt_latency(v: float) -> str:
    if v != v:  # NaN
        return "-"
    return f"{v * 1000:.1f} ms" if v < 1 else f"{v:.2f} s"


def _print_summary(results: Any) -> None:
    means = results.scenario_means()
    table = Table(title=f"{results.experiment.name} (mean over replications)")
    for col in (
        "scenario",
        "arrived",
        "completed",
        "dropped",
        "timed out",
        "p50",
        "p99",
        "SLO att.",
        "cost",
    ):
        table.add_column(col, justify="left" if col == "scenario" else "right")
    for _, row in means.iterrows():
        table.add_row(
            str(row["scenario"]),
            f"{row['arrived']:.0f}",
            f"{row['completed']:.0f}",
            f"{row['dropped']:.0f}",
            f"{row['timed_out']:.0f}",
            _fmt_latency(row["latency_p50_s"]),
            _fmt_latency(row["latency_p99_s"]),
            f"{row['slo_attainment'] * 100:.2f} %",
            f"${row['cost_usd']:.2f}",
        )
    out.print(table)


@app.command()
def rerun(
    folder: Annotated[
        Path,
        typer.Argument(help="An output folder (with config.resolved.yaml).", file_okay=False),
    ],
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Where to write the rerun (default FOLDER-rerun).", file_okay=False
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress.")] = False,
    workers: Annotated[int | None, typer.Option(help="Processes for the runs.", min=1)] = None,
) -> None:
    """Run an output folder's resolved config again and check the tables are identical."""
    config = folder / "config.resolved.yaml"
    if not config.is_file():
        _fail_input([f"{folder}: no config.resolved.yaml (not a deploysim output folder)"])
    exp = _load(config, None)
    target = out_dir if out_dir is not None else folder.with_name(f"{folder.name}-rerun")
    _check_output_folder(target)
    results = _run_with_progress(exp, quiet, workers or default_workers())
    write_output(results, target, with_report=True)
    differ = compare_outputs(folder, target)
    if differ:
        err.print(f"{target}: differs from {folder} in {', '.join(differ)}", markup=False)
        raise typer.Exit(1)
    out.print(f"{target}: tables identical to {folder}")


@app.command()
def sweep(
    experiment: ExperimentArg,
    grid: Annotated[
        list[str] | None,
        typer.Option(
            "--grid",
            help="A factor: path=v1,v2,... (repeat for a full factorial); values are YAML "
            "like --set. Replaces that path in the file's sweep: block.",
        ),
    ] = None,
    zip_with: Annotated[
        list[str] | None,
        typer.Option(
            "--zip",
            help="Paired values: path=v1,v2 (every --zip the same length), crossed with the "
            "grid. Replaces the file's sweep.zip.",
        ),
    ] = None,
    replications: Annotated[
        int | None, typer.Option(help="Replications per point (overrides the file).", min=1)
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(help="Local processes (default: the cores available).", min=1),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(help="Run on a Dask cluster: the scheduler's tcp://HOST:PORT."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Recompute complete points.")] = False,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Sweep folder (default runs/<name>/sweep).", file_okay=False),
    ] = None,
    sets: SetOpt = None,
    report: Annotated[bool, typer.Option(help="Write the sweep's report.html.")] = True,
    point_reports: Annotated[
        bool, typer.Option(help="Also write each point's report.html (slower).")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress, no summary.")] = False,
) -> None:
    """Run the experiment at every point of a grid of config values; resumable.

    Exit 0 when every point is ok, 1 when some point failed (recorded in sweep.csv
    and retried by the next run), 2 on bad input, 130 when interrupted.
    """
    from simulator import sweep as sweep_mod

    try:
        plan = sweep_mod.plan_sweep(
            experiment,
            grid=grid or [],
            zip_with=zip_with or [],
            sets=sets or [],
            replications=replications,
        )
    except InputError as exc:
        _fail_input(exc.problems)
    if plan.experiment.precision is not None and not quiet:
        err.print(
            f"note: the precision rule is for `deploysim run`; each point runs "
            f"{plan.experiment.replications} replication(s) (--replications)",
            markup=False,
        )
    target = out_dir if out_dir is not None else Path("runs") / plan.experiment.name / "sweep"
    _check_output_folder(target)
    client = None
    if scheduler is not None:
        try:
            client = sweep_mod.connect_scheduler(scheduler)
        except InputError as exc:
            _fail_input(exc.problems)
    try:
        outcome = _sweep_with_progress(
            plan, target, workers or default_workers(), client, force, point_reports, quiet
        )
    except InputError as exc:
        _fail_input(exc.problems)
    finally:
        if client is not None:
            client.close()
    written = ["sweep.csv", "sweep.json"]
    if report:
        try:
            from reports.sweep import write_sweep_report
        except ImportError:
            err.print("note: sweep report not written (reports.sweep is not available)")
        else:
            write_sweep_report(target / "report.html", outcome.table, outcome.info)
            written.append("report.html")
    update_index(target.parent, default=out_dir is None)  # runs/index.html; only warns
    if not quiet:
        n = len(plan.points)
        out.print(
            f"{n} point{'s' * (n != 1)}: {len(outcome.computed)} computed, "
            f"{len(outcome.skipped)} already complete, {len(outcome.failed)} failed; "
            f"wrote {target}/ ({', '.join(written)})"
        )
    if outcome.worker_restarts:
        err.print(
            f"note: a worker process died {outcome.worker_restarts} time(s); "
            "the runs it had in flight were run again"
        )
    if outcome.recomputed_stale:
        err.print(
            f"recomputed {len(outcome.recomputed_stale)} point(s) whose stored inputs differ "
            "(experiment file, --set or --replications changed)"
        )
    if outcome.failed:
        err.print(
            f"{len(outcome.failed)} point(s) failed (see status/error in {target}/sweep.csv "
            f"and <point>/error.txt); rerun the same command to retry them",
            markup=False,
        )
        raise typer.Exit(1)


def _sweep_with_progress(
    plan: Any,
    target: Path,
    workers: int,
    client: Any,
    force: bool,
    point_reports: bool,
    quiet: bool,
) -> Any:
    from simulator import sweep as sweep_mod

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn(
            "{task.fields[done]}/{task.fields[points]} points, {task.fields[running]} running, "
            "{task.fields[failed]} failed"
        ),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=quiet,
    )
    task = progress.add_task(
        plan.experiment.name, total=None, done=0, points=len(plan.points), running=0, failed=0
    )
    started = time.monotonic()
    shown = False

    def update(state: Any) -> None:
        nonlocal shown
        if not shown and time.monotonic() - started > 1.0:
            progress.start()  # only for sweeps longer than a second
            shown = True
        progress.update(
            task,
            total=max(state.runs_total, 1),
            completed=state.runs_done,
            done=state.points_done,
            running=state.points_running,
            failed=state.points_failed,
        )

    try:
        return sweep_mod.run_sweep(
            plan,
            target,
            workers=workers,
            client=client,
            force=force,
            point_reports=point_reports,
            progress=update,
        )
    except KeyboardInterrupt:
        progress.stop()
        err.print(f"interrupted: complete points are kept in {target}/; rerun to resume")
        raise typer.Exit(130) from None
    finally:
        progress.stop()


@app.command()
def plan(
    experiment: ExperimentArg,
    scenario: Annotated[str, typer.Option(help="The scenario to size (the others are not run).")],
    slo: Annotated[
        list[str],
        typer.Option(
            "--slo",
            help="A target every value must meet, e.g. 'p99<300ms', 'dropped<0.1%', "
            "'cost<$40', 'attainment>99%' (repeatable).",
        ),
    ],
    vary: Annotated[
        str,
        typer.Option(
            help="path=LO..HI: the parameter to search (integers if LO and HI are), "
            "e.g. scenarios.web.platform.instances=1..40.",
        ),
    ],
    replications: Annotated[int, typer.Option(help="Replications per value tried.", min=2)] = 5,
    confidence: Annotated[
        str, typer.Option(help="Confidence of the one-sided bounds, e.g. 95%.")
    ] = "95%",
    tolerance: Annotated[
        float | None,
        typer.Option(help="Real parameters: stop when the bracket is this narrow.", min=0),
    ] = None,
    sets: SetOpt = None,
    seed: Annotated[int | None, typer.Option(help="Root seed (overrides the file).", min=0)] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Plan folder (default runs/<name>/plan-<scenario>).", file_okay=False
        ),
    ] = None,
    report: Annotated[bool, typer.Option(help="Write the plan's report.html.")] = True,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress, no table.")] = False,
    workers: Annotated[
        int | None,
        typer.Option(help="Processes for the runs (default: the cores available).", min=1),
    ] = None,
) -> None:
    """Find the smallest value of a parameter that meets every SLO (bracketing + bisection
    over replicated runs of one scenario), with the M/M/c estimate where it applies."""
    from simulator import plan as plan_mod
    from simulator.units import UnitError, parse_fraction

    problems = []
    slos = []
    for text in slo:
        try:
            slos.append(plan_mod.parse_slo(text))
        except ValueError as exc:
            problems.append(f"--slo {exc}")
    try:
        spec = plan_mod.parse_vary(vary)
    except ValueError as exc:
        problems.append(f"--vary {exc}")
    try:
        level = parse_fraction(confidence)
        if not 0.5 < level < 1.0:
            problems.append(f"--confidence {confidence!r}: expected a level between 50% and 100%")
    except UnitError as exc:
        problems.append(f"--confidence {exc}")
    if tolerance is not None and not tolerance > 0:
        problems.append(f"--tolerance {tolerance:g}: must be greater than 0")
    if problems:
        _fail_input(problems)
    base = [*(sets or []), *([f"seed={seed}"] if seed is not None else [])]

    def load(value: str) -> Any:
        return _load(experiment, [*base, f"{spec.path}={value}"])

    # Both ends validated up front, like --set: a bad path or value fails before any run.
    lo_text = str(int(spec.lo)) if spec.integer else repr(spec.lo)
    exp = load(lo_text)
    exp_hi = load(str(int(spec.hi)) if spec.integer else repr(spec.hi))
    names = [s.name for s in exp.scenarios]
    if scenario not in names:
        _fail_input([f"--scenario {scenario!r}: no such scenario (have: {', '.join(names)})"])
    if not plan_mod.varies_scenario(exp, exp_hi, scenario):
        why = f"{spec.path} does not change scenario {scenario!r} (the plan runs it alone)"
        _fail_input([f"--vary {vary!r}: {why}"])
    if not spec.integer:
        # A real search sets fractional values: an integer field must fail now, not after
        # the first values have run.
        probe = repr(spec.lo + (spec.hi - spec.lo) * 0.382)
        try:
            load_experiment(experiment, [*base, f"{spec.path}={probe}"])
        except InputError as exc:
            if not (spec.lo.is_integer() and spec.hi.is_integer()):
                _fail_input(exc.problems)
            whole = f"{int(spec.lo)}..{int(spec.hi)}"
            _fail_input(
                [f"--vary {vary!r}: {spec.path} takes whole numbers: write LO..HI as {whole}"]
            )
    target = out_dir if out_dir is not None else Path("runs") / exp.name / f"plan-{scenario}"
    _check_output_folder(target)

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:.0f}/{task.total:.0f} runs of this value"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=quiet,
    )
    task = progress.add_task(exp.name, total=replications)

    def on_step(step: int, value: float) -> None:
        shown = int(value) if spec.integer else f"{value:.6g}"
        progress.update(task, completed=0, description=f"plan {scenario}: step {step}, {shown}")

    def done(n: int, _total: int, _res: RunResult) -> None:
        progress.update(task, completed=n)

    progress.start()
    try:
        result = plan_mod.plan(
            load,
            scenario,
            spec,
            slos,
            replications=replications,
            confidence=level,
            tolerance=tolerance,
            workers=workers or default_workers(),
            on_step=on_step,
            progress=done,
        )
    except plan_mod.UnknownMetric as exc:
        progress.stop()
        metric, have = exc.args
        _fail_input([f"--slo: {metric!r} is not a summary column (have: {', '.join(have)})"])
    except KeyboardInterrupt:
        progress.stop()
        err.print("interrupted: no output written")
        raise typer.Exit(130) from None
    finally:
        progress.stop()
    plan_mod.write_plan(result, target, with_report=report)
    update_index(target.parent, default=out_dir is None)  # runs/index.html; only warns
    if not quiet:
        _print_plan(result)
    info = result.info
    answer = "none in range" if info["answer"] is None else f"{info['answer']}"
    analytic = "-" if info["analytic"] is None else f"{info['analytic']}"
    out.print(
        f"{info['parameter']}: smallest value meeting every SLO = {answer} "
        f"(analytic M/M/c estimate: {analytic}; {info['runs']} runs)",
        markup=False,
    )
    if info["answer"] is not None and "cost_usd_mean" in result.table:
        at = result.table[result.table["value"] == info["answer"]].iloc[0]
        out.print(
            f"cost at the answer: ${at['cost_usd_mean']:,.2f} ± {at['cost_usd_ci95']:,.2f} "
            "over the measured period (mean of the replications)",
            markup=False,
        )
    out.print(f"wrote {target}/ (plan.csv, plan.json{', report.html' if report else ''})")


def _fmt_metric(metric: str, mean: float, hw: float) -> str:
    """``mean ± half-width`` in the metric's natural unit (ms, %, $)."""
    if metric.endswith("_s"):
        return f"{mean * 1000:.1f} ± {hw * 1000:.1f} ms"
    if metric in ("unserved_fraction", "slo_attainment"):
        return f"{mean * 100:.3f} ± {hw * 100:.3f} %"
    if metric.endswith("_usd"):
        return f"${mean:,.2f} ± {hw:,.2f}"
    return f"{mean:.4g} ± {hw:.2g}"


def _print_plan(result: Any) -> None:
    info = result.info
    table = Table(title=f"plan {info['scenario']}: {info['parameter']}")
    for col in ("step", "value", "meets", *(s["text"] for s in info["slos"])):
        table.add_column(str(col), justify="right")
    for _, row in result.table.iterrows():
        cells = [str(row["step"]), f"{row['value']:g}", "yes" if row["meets"] else "no"]
        for s in info["slos"]:
            mean, hw = row.get(f"{s['metric']}_mean"), row.get(f"{s['metric']}_ci95")
            cells.append(_fmt_metric(s["metric"], mean, hw))
        table.add_row(*cells)
    out.print(table)
    if info["analytic_method"]:
        out.print(f"analytic: {info['analytic_method']}", markup=False)


@app.command()
def validate(experiment: ExperimentArg, sets: SetOpt = None) -> None:
    """Check an experiment file; list every problem (file, field path, expected) and exit 2."""
    exp = _load(experiment, sets)
    n, r = len(exp.scenarios), exp.replications
    out.print(f"{experiment}: ok ({n} scenario{'s' * (n != 1)}, {r} replication{'s' * (r != 1)})")


@app.command()
def schema() -> None:
    """Print the JSON Schema of the experiment format (for editors)."""
    sys.stdout.write(json.dumps(config_mod.experiment_json_schema(), indent=2) + "\n")


@app.command(name="list")
def list_kinds() -> None:
    """List the architectures, autoscalers, faults, balancers, workloads and distributions."""
    table = Table(title="deploysim: what an experiment can name", show_lines=False)
    table.add_column("family")
    table.add_column("kind")
    table.add_column("what it is")
    table.add_column("source")
    for entry in PLATFORMS:
        table.add_row("platform", entry.kind, entry.summary, entry.source)
    for entry in AUTOSCALERS:
        table.add_row("autoscaler", entry.kind, entry.summary, entry.source)
    for entry in FAULTS:
        table.add_row("fault", entry.kind, entry.summary, entry.source)
    for name, cls in BALANCERS.items():
        table.add_row("balancer", name, (cls.__doc__ or "").strip().splitlines()[0], "")
    for cls in _union_members(ArrivalProfile):
        table.add_row("arrivals", _kind_of(cls), _first_line(cls.__doc__), "")
    for cls in _union_members(Distribution):
        table.add_row("distribution", _kind_of(cls), _first_line(cls.__doc__), "")
    out.print(table)
    if CATALOG:
        facts = Table(
            title="Default numbers and their sources (V read in source, "
            "S secondary summary, U unverified: override it)"
        )
        for col in ("family", "default", "value", "source", ""):
            facts.add_column(col)
        for fact in CATALOG:
            facts.add_row(fact.family, fact.name, fact.value, fact.source, fact.status)
        out.print(facts)


def _union_members(annotated: Any) -> list[Any]:
    import typing

    union = typing.get_args(annotated)[0]
    return list(typing.get_args(union))


def _kind_of(cls: Any) -> str:
    return str(cls.model_fields["kind"].annotation.__args__[0])


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().splitlines()[0] if doc else ""


def main() -> None:
    """Entry point: one line per bad-input problem and exit 2; short internal errors."""
    try:
        # Without standalone mode the command's exit code comes back as the return value.
        code = app(standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err.print("interrupted")
        sys.exit(130)
    except typer.TyperException as exc:  # usage errors: unknown flag, bad value, missing file
        err.print(f"deploysim: {exc.format_message()}", markup=False)
        sys.exit(2)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except LimitExceeded as exc:  # from a command that does not catch it itself
        err.print(f"deploysim: {exc}", markup=False)
        sys.exit(2)
    except Exception as exc:  # noqa: BLE001 - the last line of defence for users
        if _DEBUG["on"]:
            traceback.print_exc()
        else:
            first = (str(exc).strip().splitlines() or [""])[0]
            err.print(
                f"deploysim: internal error: {type(exc).__name__}: {first} (rerun with --debug)",
                markup=False,
            )
        sys.exit(1)
