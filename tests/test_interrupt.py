"""Never lose work: Ctrl-C at any point leaves either the previous output folder or the new
complete one, never a half-written folder or a temp folder, and says so (exit 130).

Two levels:

* ``write_output`` step by step: a real SIGINT is sent to this process just before and just
  after each file-system step of the write (each table, the report, each rename), so the
  interrupt lands exactly there; the folder is then checked.
* the ``deploysim run`` process: SIGINT at seeded random moments of a run several seconds
  long, to the process alone or to its whole process group (as a terminal's Ctrl-C does,
  reaching the pool workers too).
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

import reports
import simulator.results
from simulator.loading import load_experiment
from simulator.results import InterruptedAfterWrite, Results, write_output

TINY: dict[str, Any] = {
    "name": "tiny",
    "seed": 2,
    "horizon": "20s",
    "workload": {
        "arrivals": {"kind": "constant", "rate": "20/s"},
        "service_time": {"kind": "exponential", "mean": "50ms"},
    },
    "scenarios": [
        {"name": "a", "platform": {"kind": "fixed", "instances": 1}},
        {"name": "b", "platform": {"kind": "fixed", "instances": 2}},
    ],
}


@pytest.fixture(scope="module")
def results() -> Results:
    return simulator.results.run(load_experiment(TINY), workers=1)


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` with its bytes (the state a user would find)."""
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name or ".old-" in p.name)


# The steps of a write: the calls that touch the file system (the report is one step).
STEPS: list[tuple[Any, str]] = [
    (pd.DataFrame, "to_csv"),
    (pd.DataFrame, "to_parquet"),
    (Path, "write_text"),
    (Path, "rename"),
    (Path, "rmdir"),
    (Path, "iterdir"),
    (yaml, "safe_dump"),
    (reports, "write_report"),
    (shutil, "rmtree"),
    (tempfile, "mkdtemp"),
]


class Steps:
    """Wraps every step; sends SIGINT to this process at step ``at`` (before or after it)."""

    def __init__(self, at: int | None, after: bool) -> None:
        self.at, self.after, self.count, self.names = at, after, 0, []

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def step(*args: Any, **kwargs: Any) -> Any:
            k = self.count
            self.count += 1
            self.names.append(name)
            if k == self.at and not self.after:
                os.kill(os.getpid(), signal.SIGINT)
            out = fn(*args, **kwargs)
            if k == self.at and self.after:
                os.kill(os.getpid(), signal.SIGINT)
            return out

        return step

    def install(self, mp: pytest.MonkeyPatch) -> None:
        for owner, attr in STEPS:
            mp.setattr(owner, attr, self.wrap(attr, getattr(owner, attr)))


@pytest.fixture
def default_sigint() -> Iterator[None]:
    """Python's own Ctrl-C handler (KeyboardInterrupt), whatever pytest installed."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def count_steps(results: Results, folder: Path) -> list[str]:
    probe = Steps(None, False)
    with pytest.MonkeyPatch.context() as mp:
        probe.install(mp)
        write_output(results, folder / "probe", with_report=True)
    shutil.rmtree(folder / "probe")
    return probe.names


@pytest.mark.parametrize("previous", [False, True], ids=["new-folder", "replacing"])
def test_sigint_at_every_step_of_write_output(
    results: Results, tmp_path: Path, default_sigint: None, previous: bool
) -> None:
    names = count_steps(results, tmp_path)
    assert names.count("rename") >= 1 and "write_report" in names
    out = tmp_path / "out"
    if previous:
        write_output(results, out, with_report=False)
        (out / "sweep").mkdir()  # another output of the experiment, kept by a new run
        (out / "sweep" / "sweep.csv").write_text("point\n0\n")
    before = snapshot(tmp_path)
    fresh = tmp_path / "fresh"
    write_output(results, fresh, with_report=True)
    new_state = snapshot(fresh)
    shutil.rmtree(fresh)
    outcomes = set()
    for at in range(len(names)):
        for after in (False, True):
            steps = Steps(at, after)
            try:
                with pytest.MonkeyPatch.context() as mp:
                    steps.install(mp)
                    write_output(results, out, with_report=True)
                interrupted = False
            except InterruptedAfterWrite:
                interrupted = False  # came during the final renames: delivered after them
            except KeyboardInterrupt:
                interrupted = True
            where = f"SIGINT {'after' if after else 'before'} step {at} ({names[at]})"
            assert leftovers(tmp_path) == [], where
            if interrupted:
                # Nothing changed: no folder, or the previous one byte for byte.
                assert snapshot(tmp_path) == before, where
                outcomes.add("kept")
            else:
                # The interrupt came during the final renames: they completed.
                got = snapshot(out)
                expected = dict(new_state)
                if previous:
                    expected["sweep/sweep.csv"] = b"point\n0\n"
                assert got == expected, where
                outcomes.add("written")
                # Back to the state before, for the next step.
                shutil.rmtree(out)
                if previous:
                    write_output(results, out, with_report=False)
                    (out / "sweep").mkdir()
                    (out / "sweep" / "sweep.csv").write_text("point\n0\n")
                    before = snapshot(tmp_path)
    assert outcomes == {"kept", "written"}


# -- the real process -------------------------------------------------------------------------

LONG: dict[str, Any] = {
    "name": "long",
    "seed": 1,
    "horizon": "40000s",
    "replications": 2,
    "workload": {
        "arrivals": {"kind": "constant", "rate": "50/s"},
        "service_time": {"kind": "exponential", "mean": "100ms"},
    },
    "scenarios": [
        {"name": "one", "platform": {"kind": "fixed", "instances": 1}, "serving": {"workers": 8}}
    ],
}


def start_run(folder: Path, *args: str) -> subprocess.Popen[str]:
    """``deploysim run`` in its own process group; returns once the imports are done (the
    entry point announces itself), so the signal reaches deploysim, not the interpreter's
    start-up."""
    code = (
        "import sys, simulator.cli\n"
        "sys.stderr.write('ready\\n'); sys.stderr.flush()\n"
        "sys.argv = ['deploysim', *sys.argv[1:]]\n"
        "simulator.cli.main()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert proc.stderr is not None
    assert proc.stderr.readline() == "ready\n"
    return proc


@pytest.mark.slow
@pytest.mark.parametrize(
    ("seed", "group", "workers"),
    [(1, False, 1), (2, False, 1), (3, True, 2), (4, False, 2), (5, True, 1)],
)
def test_sigint_during_a_run_leaves_nothing(
    tmp_path: Path, seed: int, group: bool, workers: int
) -> None:
    (tmp_path / "long.yaml").write_text(yaml.safe_dump(LONG, sort_keys=False))
    previous = tmp_path / "out"
    previous.mkdir()
    (previous / "summary.csv").write_text("an earlier result\n")
    proc = start_run(tmp_path, "run", "long.yaml", "--out", "out", "--workers", str(workers))
    time.sleep(random.Random(seed).uniform(0.3, 2.5))
    if proc.poll() is not None:
        pytest.fail("the run finished before the interrupt: make it longer")
    if group:
        os.killpg(proc.pid, signal.SIGINT)  # a terminal's Ctrl-C: the workers get it too
    else:
        proc.send_signal(signal.SIGINT)  # the workers must be stopped by deploysim itself
    sent = time.monotonic()
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail("the run did not stop within 60 s of Ctrl-C")
    # Prompt: not after the runs in progress (seconds each) have finished.
    assert time.monotonic() - sent < 10, "Ctrl-C took effect only after the runs in progress"
    assert proc.returncode == 130, (proc.returncode, err)
    assert "Traceback" not in out + err, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert lines and lines[-1].startswith("interrupted"), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.yaml", "out"]
    assert snapshot(previous) == {"summary.csv": b"an earlier result\n"}
