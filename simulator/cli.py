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
from simulator.loading import InputError, load_experiment
from simulator.registry import AUTOSCALERS, CATALOG, PLATFORMS
from simulator.results import compare_outputs, default_workers, write_output
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
    try:
        return load_experiment(path, [*(extra or []), *(sets or [])])
    except InputError as exc:
        _fail_input(exc.problems)


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
) -> None:
    """Run every scenario × replication and write the output folder and the HTML report."""
    extra = []
    if seed is not None:
        extra.append(f"seed={seed}")
    if replications is not None:
        extra.append(f"replications={replications}")
    exp = _load(experiment, sets, extra)
    target = out_dir if out_dir is not None else Path("runs") / exp.name
    _check_output_folder(target)
    results = _run_with_progress(exp, quiet, workers or default_workers())
    try:
        write_output(results, target, with_report=report)
    except KeyboardInterrupt:
        err.print(f"interrupted: nothing written to {target}")
        raise typer.Exit(130) from None
    if not quiet:
        _print_summary(results)
        out.print(
            f"wrote {target}/ (summary.csv, timeseries.parquet, provisioning.csv"
            f"{', report.html' if report else ''})"
        )


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
            task, completed=n, description=f"{exp.name}: {res.scenario} rep {res.replication}"
        )

    try:
        return run_experiment(exp, workers=workers, progress=done, tick=tick)
    except KeyboardInterrupt:
        progress.stop()
        err.print("interrupted: no output written")
        raise typer.Exit(130) from None
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
    """List the architectures, autoscalers, balancers, workloads and distributions known."""
    table = Table(title="deploysim: what an experiment can name", show_lines=False)
    table.add_column("family")
    table.add_column("kind")
    table.add_column("what it is")
    table.add_column("source")
    for entry in PLATFORMS:
        table.add_row("platform", entry.kind, entry.summary, entry.source)
    for entry in AUTOSCALERS:
        table.add_row("autoscaler", entry.kind, entry.summary, entry.source)
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
