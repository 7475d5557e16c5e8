"""Sweeps: expansion, stable point ids, resume after a crash, failures, ``--force``,
bad input (exit 2, one line), and the ``sweep.csv`` contract.

Every sweep here runs an M/M/c experiment on a short horizon (tens of milliseconds a
run), except the crash tests, whose points must last long enough to be interrupted.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import simulator.sweep as sweep_mod
from simulator.cli import app
from simulator.loading import InputError, load_experiment
from simulator.sweep import parse_factor, plan_sweep, point_id, run_sweep

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable

MMC = """\
name: mmc-sweep
seed: 5
horizon: {horizon}
replications: {reps}
workload:
  arrivals: {{kind: constant, rate: 4/s}}
  service_time: {{kind: exponential, mean: 1s}}
slo: {{latency_p99: 5s}}
scenarios:
  - name: one-big
    platform: {{kind: fixed, instances: 1}}
    serving: {{workers: 6}}
  - name: two-small
    platform: {{kind: fixed, instances: 2}}
    serving: {{workers: 3}}
"""


def write_exp(tmp: Path, *, horizon: str = "60s", reps: int = 2, extra: str = "") -> Path:
    path = tmp / "mmc.yaml"
    path.write_text(MMC.format(horizon=horizon, reps=reps) + textwrap.dedent(extra))
    return path


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


def point_dirs(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


# ----------------------------------------------------------------------------- expansion


def test_parse_factor_reads_yaml_values() -> None:
    assert parse_factor("--grid", "a.b=1,2,3") == ("a.b", [1, 2, 3])
    assert parse_factor("--grid", "x=90s, 2m") == ("x", ["90s", "2m"])
    assert parse_factor("--grid", "x=[1, [2, 3]]") == ("x", [1, [2, 3]])
    for bad in ("x", "=1,2", "x=", "x=1,,2"):
        with pytest.raises(InputError):
            parse_factor("--grid", bad)


def test_grid_is_the_full_factorial_in_the_order_given(tmp_path: Path) -> None:
    exp = write_exp(tmp_path)
    sw = plan_sweep(
        exp,
        grid=["scenarios.one-big.serving.workers=5,6", "workload.arrivals.rate=2/s,3/s,4/s"],
    )
    assert sw.design == "grid"
    assert sw.factors == ["scenarios.one-big.serving.workers", "workload.arrivals.rate"]
    assert [tuple(p.factors.values()) for p in sw.points] == [
        (5, "2/s"),
        (5, "3/s"),
        (5, "4/s"),
        (6, "2/s"),
        (6, "3/s"),
        (6, "4/s"),
    ]
    # Each point is the file with its values applied, validated, without the sweep block.
    last = sw.points[-1].experiment
    assert last.scenarios[0].serving.workers == 6
    assert last.workload.arrivals.rate == 4.0  # type: ignore[attr-defined]
    assert last.sweep is None and last.replications == 2
    assert len({p.id for p in sw.points}) == 6


def test_zip_pairs_values_and_crosses_with_the_grid(tmp_path: Path) -> None:
    exp = write_exp(tmp_path)
    sw = plan_sweep(
        exp,
        grid=["seed=1,2"],
        zip_with=[
            "scenarios.one-big.serving.workers=4,8",
            "scenarios.two-small.serving.workers=2,4",
        ],
    )
    pairs = [
        (p.experiment.seed, *(s.serving.workers for s in p.experiment.scenarios)) for p in sw.points
    ]
    assert pairs == [(1, 4, 2), (1, 8, 4), (2, 4, 2), (2, 8, 4)]
    # The zip group is one axis of the design (sweep.json "zip"; the report's heatmap).
    assert sw.zipped == [
        "scenarios.one-big.serving.workers",
        "scenarios.two-small.serving.workers",
    ]
    only_zip = plan_sweep(exp, zip_with=["seed=1,2", "replications=1,3"])
    assert only_zip.design == "zip"
    assert [(p.experiment.seed, p.experiment.replications) for p in only_zip.points] == [
        (1, 1),
        (2, 3),
    ]


def test_yaml_block_and_cli_flags_merge(tmp_path: Path) -> None:
    exp = write_exp(
        tmp_path,
        extra="""
        sweep:
          grid:
            seed: [1, 2, 3]
            scenarios.one-big.serving.workers: [5, 6]
          zip:
            scenarios.two-small.serving.workers: [2, 3]
            scenarios.two-small.platform.instances: [3, 2]
        """,
    )
    from_file = plan_sweep(exp)
    assert len(from_file.points) == 3 * 2 * 2
    assert from_file.factors == [
        "seed",
        "scenarios.one-big.serving.workers",
        "scenarios.two-small.serving.workers",
        "scenarios.two-small.platform.instances",
    ]
    # --grid replaces that path's values and adds new paths; --zip replaces the zip group.
    merged = plan_sweep(
        exp,
        grid=["seed=7", "workload.arrivals.rate=3/s,4/s"],
        zip_with=["scenarios.two-small.serving.workers=3"],
    )
    assert merged.factors == [
        "seed",
        "scenarios.one-big.serving.workers",
        "workload.arrivals.rate",
        "scenarios.two-small.serving.workers",
    ]
    assert len(merged.points) == 1 * 2 * 2 * 1
    assert {p.experiment.seed for p in merged.points} == {7}
    # `deploysim run` ignores the block, and the schema documents it.
    assert load_experiment(exp).sweep is not None
    schema = invoke("schema").stdout
    assert "SweepConfig" in schema and '"zip"' in schema


def test_wildcard_sets_every_list_item(tmp_path: Path) -> None:
    sw = plan_sweep(write_exp(tmp_path), grid=["scenarios.*.serving.queue_limit=0,7"])
    assert [[s.serving.queue_limit for s in p.experiment.scenarios] for p in sw.points] == [
        [0, 0],
        [7, 7],
    ]
    assert sw.factors == ["scenarios.*.serving.queue_limit"]


def test_set_on_one_scenario_does_not_leak_through_yaml_aliases(tmp_path: Path) -> None:
    # `<<: *anchor` makes PyYAML share the merged dicts; an override must not follow them.
    exp = tmp_path / "alias.yaml"
    exp.write_text(
        MMC.format(horizon="10s", reps=1).replace(
            "    serving: {workers: 6}", "    serving: &s {workers: 6, speed: 1.0}"
        )
        + "  - name: copy\n    platform: {kind: fixed, instances: 1}\n    serving: {<<: *s}\n"
    )
    loaded = load_experiment(exp, ["scenarios.one-big.serving.workers=9"])
    assert [s.serving.workers for s in loaded.scenarios] == [9, 3, 6]


def test_point_ids_depend_only_on_the_assignment(tmp_path: Path) -> None:
    a = {"scenarios.k8s.platform.initial": 4, "workload.arrivals.rate": "50/s"}
    b = dict(reversed(list(a.items())))
    assert point_id(a) == point_id(b)
    assert point_id(a).startswith("initial=4_rate=50-s-")
    assert point_id(a) != point_id({**a, "workload.arrivals.rate": "60/s"})
    # The same in another process (no hash randomisation, no enumeration order).
    code = f"from simulator.sweep import point_id; print(point_id({b!r}))"
    other = subprocess.run(
        [PYTHON, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "123"},
    )
    assert other.stdout.strip() == point_id(a)
    # Independent of the factors' order and of the other points in the sweep.
    exp = write_exp(tmp_path)
    one = plan_sweep(exp, grid=["seed=1,2", "replications=1,2"])
    two = plan_sweep(exp, grid=["replications=2,1,3", "seed=2,1"])
    ids_one = {p.id: p.factors for p in one.points}
    ids_two = {p.id: p.factors for p in two.points}
    assert set(ids_one) < set(ids_two)
    assert all(ids_two[k] == v for k, v in ids_one.items())


_paths = st.from_regex(r"[a-z_]{1,8}(\.[a-z_*]{1,8}|\[[0-9]\]){0,3}", fullmatch=True)
_values = st.one_of(
    st.integers(), st.floats(allow_nan=False), st.text(max_size=12), st.booleans(), st.none()
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(_paths, _values, min_size=1, max_size=4), st.randoms())
def test_point_id_is_a_safe_folder_name_independent_of_order(
    factors: dict[str, Any], rnd: Any
) -> None:
    items = list(factors.items())
    rnd.shuffle(items)
    pid = point_id(factors)
    assert pid == point_id(dict(items))
    assert re.fullmatch(r"[A-Za-z0-9.=+_-]+", pid) and len(pid) <= 71
    assert not pid.startswith(".")  # never hidden, never a temp folder
    changed = {**factors, items[0][0]: [items[0][1]]}  # another value at one path
    assert point_id(changed) != pid


# ----------------------------------------------------------------------------- running


def test_sweep_writes_points_and_the_contract_table(tmp_path: Path) -> None:
    exp = write_exp(tmp_path)
    out = tmp_path / "sw"
    res = invoke(
        "sweep",
        exp,
        "--grid",
        "scenarios.one-big.serving.workers=5,6",
        "--out",
        out,
        "--workers",
        "1",
        "--no-report",
        "-q",
    )
    assert res.exit_code == 0, res.output
    table = pd.read_csv(out / "sweep.csv")
    assert list(table.columns[:7]) == [
        "point",
        "scenarios.one-big.serving.workers",
        "scenario",
        "status",
        "error",
        "replications",
        "arrived_mean",
    ]
    assert len(table) == 2 * 2  # points × scenarios
    assert set(table["status"]) == {"ok"} and table["error"].isna().all()
    assert (table["replications"] == 2).all()
    # Every numeric summary column appears as mean / sd / ci95, as in summary_ci.csv.
    for point in table["point"].unique():
        ci = pd.read_csv(out / point / "summary_ci.csv")
        rows = table[table["point"] == point].reset_index(drop=True)
        for col in ci.columns.drop(["scenario", "replications"]):
            assert list(rows[col]) == pytest.approx(list(ci[col]), nan_ok=True), col
        marker = json.loads((out / point / "point.json").read_text())
        assert marker["status"] == "ok" and marker["point"] == point
        assert (out / point / "config.resolved.yaml").is_file()
    # A point folder is a normal output folder: `deploysim rerun` reproduces it.
    first = table["point"][0]
    assert invoke("rerun", out / first, "--out", tmp_path / "again", "-q").exit_code == 0
    info = json.loads((out / "sweep.json").read_text())
    assert info["experiment"] == "mmc-sweep" and info["design"] == "grid"
    assert info["zip"] == []
    assert info["factors"] == ["scenarios.one-big.serving.workers"]
    assert info["points"] == 2 and info["slo"]["latency_p99"] == 5.0
    assert info["resolved"] == {"scenarios.one-big.serving.workers": [5, 6]}
    assert not [p for p in out.iterdir() if ".tmp" in p.name]


def test_rerun_skips_complete_points_and_force_recomputes(tmp_path: Path) -> None:
    exp = write_exp(tmp_path)
    out = tmp_path / "sw"
    sw = plan_sweep(exp, grid=["seed=1,2,3"])
    first = run_sweep(sw, out)
    assert len(first.computed) == 3 and not first.skipped
    csv = (out / "sweep.csv").read_bytes()
    markers = {p: (out / p / "point.json").stat().st_mtime_ns for p in point_dirs(out)}

    second = run_sweep(plan_sweep(exp, grid=["seed=1,2,3"]), out)
    assert second.computed == [] and len(second.skipped) == 3
    assert {p: (out / p / "point.json").stat().st_mtime_ns for p in markers} == markers
    assert (out / "sweep.csv").read_bytes() == csv

    forced = run_sweep(sw, out, force=True)
    assert len(forced.computed) == 3 and forced.skipped == []
    assert (out / "sweep.csv").read_bytes() == csv  # same inputs, same numbers

    # Changed inputs (here --set) make stored points stale: recomputed, and said so.
    changed = run_sweep(plan_sweep(exp, grid=["seed=1,2,3"], sets=["warmup=5s"]), out)
    assert len(changed.recomputed_stale) == 3 and len(changed.computed) == 3
    assert (out / "sweep.csv").read_bytes() != csv


def test_one_and_two_workers_write_identical_tables(tmp_path: Path) -> None:
    exp = write_exp(tmp_path)
    sw = plan_sweep(exp, grid=["scenarios.two-small.platform.instances=1,2,3"])
    run_sweep(sw, tmp_path / "w1", workers=1)
    run_sweep(sw, tmp_path / "w2", workers=2)
    assert (tmp_path / "w1" / "sweep.csv").read_bytes() == (
        tmp_path / "w2" / "sweep.csv"
    ).read_bytes()


def test_a_failing_point_is_recorded_and_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exp = write_exp(tmp_path)
    out = tmp_path / "sw"
    real = sweep_mod.run_one

    def flaky(experiment: Any, scenario: int, replication: int, **kw: Any) -> Any:
        if experiment.seed == 2 and scenario == 1:
            raise ZeroDivisionError("the model divided by zero")
        return real(experiment, scenario, replication, **kw)

    monkeypatch.setattr(sweep_mod, "run_one", flaky)
    args = ("sweep", exp, "--grid", "seed=1,2,3", "--out", out, "--no-report", "-q")
    res = invoke(*args, "--workers", "2")  # forked workers inherit the patch
    assert res.exit_code == 1
    assert "1 point(s) failed" in res.stderr
    table = pd.read_csv(out / "sweep.csv")
    failed = table[table["status"] == "failed"]
    assert set(failed["seed"]) == {2} and len(failed) == 2  # both scenarios of the point
    assert set(failed["error"]) == {"ZeroDivisionError: the model divided by zero"}
    assert failed["arrived_mean"].isna().all() and (failed["replications"] == 0).all()
    assert (table[table["status"] == "ok"]["seed"].unique() == [1, 3]).all()
    bad = failed["point"].iloc[0]
    assert "the model divided by zero" in (out / bad / "error.txt").read_text()
    assert json.loads((out / "sweep.json").read_text())["failed"] == 1

    monkeypatch.setattr(sweep_mod, "run_one", real)
    again = invoke(*args, "--workers", "1")
    assert again.exit_code == 0, again.output
    fixed = pd.read_csv(out / "sweep.csv")
    assert set(fixed["status"]) == {"ok"} and len(fixed) == 6


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--grid", "foo.bar=1,2"], "mmc.yaml: foo: unknown field"),
        (["--grid", "scenarios.one-big.serving.workers=4,0"], "serving.workers: Input should be"),
        (
            ["--grid", "scenarios.nope.serving.workers=4"],
            "--grid 'scenarios.nope.serving.workers': no item named 'nope'",
        ),
        (["--grid", "seed"], "--grid 'seed': expected path=v1,v2"),
        (["--zip", "seed=1,2", "--zip", "replications=1,2,3"], "every --zip needs the same number"),
        (["--grid", "seed=1", "--grid", "seed=2"], "--grid 'seed=2': seed given twice"),
        (["--grid", "workload.*.rate=1"], "* must follow a list"),
        ([], "nothing to sweep"),
        (["--grid", "seed=1,1"], "sweep point given twice"),
        (["--grid", "seed=1", "--scheduler", "not an address"], "expected tcp://HOST:PORT"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, flags: list[str], expected: str) -> None:
    exp = write_exp(tmp_path)
    out = tmp_path / "sw"
    res = invoke("sweep", exp, *flags, "--out", out)
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], res.stderr
    assert "Traceback" not in res.output
    assert not out.exists()


def test_bad_sweep_block_in_the_file(tmp_path: Path) -> None:
    exp = write_exp(tmp_path, extra="sweep: {zip: {seed: [1, 2], replications: [1]}}\n")
    res = invoke("validate", exp)
    assert res.exit_code == 2
    assert "mmc.yaml: sweep.zip: lists must have equal lengths" in res.stderr


def test_unreachable_scheduler_is_exit_2(tmp_path: Path) -> None:
    exp = write_exp(tmp_path)
    started = time.monotonic()
    res = invoke(
        "sweep",
        exp,
        "--grid",
        "seed=1",
        "--scheduler",
        "tcp://127.0.0.1:9",
        "--out",
        tmp_path / "sw",
    )
    assert res.exit_code == 2
    assert res.stderr.startswith("--scheduler tcp://127.0.0.1:9: cannot connect")
    assert len(res.stderr.strip().splitlines()) == 1
    assert time.monotonic() - started < 30


# ----------------------------------------------------------------------------- crashes


def _cli(exp: Path, out: Path, *flags: str) -> list[str]:
    return [
        PYTHON,
        "-m",
        "simulator",
        "sweep",
        str(exp),
        "--grid",
        "seed=1,2,3,4,5",
        "--out",
        str(out),
        "--no-report",
        "-q",
        *flags,
    ]


def _wait_for(cond: Any, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert proc.poll() is None, "the sweep finished before it could be interrupted"
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_kill_9_mid_sweep_then_resume_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    # Points of ~0.1 s each so the sweep can be killed between two of them.
    exp = write_exp(tmp_path, horizon="3000s", reps=1)
    reference = tmp_path / "reference"
    run_sweep(plan_sweep(exp, grid=["seed=1,2,3,4,5"]), reference, workers=1)

    out = tmp_path / "crashed"
    proc = subprocess.Popen(_cli(exp, out, "--workers", "1"), cwd=REPO, start_new_session=True)
    _wait_for(lambda: out.exists() and len(point_dirs(out)) >= 2, proc)
    os.killpg(proc.pid, signal.SIGKILL)  # the sweep and anything it started
    proc.wait()
    done_before = {p: (out / p / "point.json").read_bytes() for p in point_dirs(out)}
    assert 2 <= len(done_before) < 5
    assert not (out / "sweep.csv").exists()

    resumed = subprocess.run(
        _cli(exp, out, "--workers", "1"), cwd=REPO, capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr
    # Complete points were kept as they were (not recomputed), the rest computed once.
    assert {p: (out / p / "point.json").read_bytes() for p in done_before} == done_before
    assert point_dirs(out) == point_dirs(reference)
    assert not [p for p in out.iterdir() if ".tmp" in p.name or ".old" in p.name]
    table = pd.read_csv(out / "sweep.csv")
    assert not table.duplicated(["point", "scenario"]).any() and len(table) == 5 * 2
    assert (out / "sweep.csv").read_bytes() == (reference / "sweep.csv").read_bytes()


def _children(pid: int) -> list[int]:
    """The sweep's pool workers: forked children running the same command line."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]

    def cmdline(p: int) -> bytes:
        try:
            return Path(f"/proc/{p}/cmdline").read_bytes()
        except OSError:  # exited meanwhile
            return b""

    return [c for c in found if cmdline(c) == cmdline(pid)]


def test_a_killed_worker_process_is_replaced_and_nothing_is_lost(tmp_path: Path) -> None:
    exp = write_exp(tmp_path, horizon="3000s", reps=1)
    out = tmp_path / "sw"
    proc = subprocess.Popen(
        _cli(exp, out, "--workers", "2"),
        cwd=REPO,
        start_new_session=True,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for(lambda: out.exists() and len(point_dirs(out)) >= 1 and _children(proc.pid), proc)
        os.kill(_children(proc.pid)[0], signal.SIGKILL)  # a pool worker, mid-run
        _, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr
        assert "a worker process died 1 time(s)" in stderr
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    table = pd.read_csv(out / "sweep.csv")
    assert set(table["status"]) == {"ok"} and len(table) == 10
    reference = tmp_path / "reference"
    run_sweep(plan_sweep(exp, grid=["seed=1,2,3,4,5"]), reference, workers=1)
    assert (out / "sweep.csv").read_bytes() == (reference / "sweep.csv").read_bytes()


def test_running_the_experiment_again_keeps_its_sweep(tmp_path: Path) -> None:
    # runs/<exp>/ is replaced atomically by `deploysim run`; its sweep/ lives inside it.
    exp = write_exp(tmp_path, horizon="20s", reps=1)
    folder = tmp_path / "runs" / "mmc-sweep"
    res = invoke("sweep", exp, "--grid", "seed=1,2", "--out", folder / "sweep", "-q", "--no-report")
    assert res.exit_code == 0, res.output
    before = (folder / "sweep" / "sweep.csv").read_bytes()
    for _ in range(2):  # the first run creates the folder, the second replaces it
        assert invoke("run", exp, "--out", folder, "-q", "--no-report").exit_code == 0
    assert (folder / "summary.csv").is_file()
    assert (folder / "sweep" / "sweep.csv").read_bytes() == before
    assert len(point_dirs(folder / "sweep")) == 2


def test_a_second_sweep_on_the_same_folder_is_refused(tmp_path: Path) -> None:
    import fcntl

    exp = write_exp(tmp_path, horizon="20s", reps=1)
    out = tmp_path / "sw"
    out.mkdir()
    with (out / ".lock").open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a running sweep holds it
        res = invoke("sweep", exp, "--grid", "seed=1", "--out", out, "--workers", "1")
        assert res.exit_code == 2
        assert res.stderr.strip() == f"{out}: another sweep is writing to this folder"
    assert point_dirs(out) == []
    assert invoke("sweep", exp, "--grid", "seed=1", "--out", out, "-q").exit_code == 0


def test_the_default_folder_refreshes_the_index_and_a_failing_index_only_warns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import reports.index

    exp = write_exp(tmp_path, horizon="20s", reps=1)
    monkeypatch.chdir(tmp_path)
    args = ("sweep", exp, "--grid", "seed=1", "--workers", "1", "-q", "--no-report")
    assert invoke(*args).exit_code == 0
    assert "mmc-sweep/sweep/" in (tmp_path / "runs" / "index.html").read_text()

    def broken(_runs: Path) -> Path:
        raise OSError("disk full")

    monkeypatch.setattr(reports.index, "write_index", broken)
    res = invoke(*args, "--force")
    # The sweep is written; the index is a convenience: a warning, not a failed command.
    assert res.exit_code == 0, res.output
    assert res.stderr.strip() == "warning: could not update runs/index.html: disk full"
    assert (tmp_path / "runs" / "mmc-sweep" / "sweep" / "sweep.csv").is_file()


def test_a_point_of_an_experiment_with_a_precision_rule_reruns_identically(
    tmp_path: Path,
) -> None:
    # A point runs the file's replications; the precision rule is `deploysim run`'s. Left in
    # the point's config.resolved.yaml, `deploysim rerun` would add replications and differ.
    exp = write_exp(
        tmp_path,
        horizon="20s",
        extra="precision: {metric: mean, relative: 5%, max_replications: 6}\n",
    )
    sw = plan_sweep(exp, grid=["seed=1"])
    assert sw.experiment.precision is not None and sw.points[0].experiment.precision is None
    out = tmp_path / "sw"
    res = invoke("sweep", exp, "--grid", "seed=1", "--out", out, "--workers", "1", "--no-report")
    assert res.exit_code == 0 and "note: the precision rule is for `deploysim run`" in res.stderr
    again = invoke("rerun", out / sw.points[0].id, "--out", tmp_path / "again", "-q")
    assert again.exit_code == 0, again.output
