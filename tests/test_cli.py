"""The ``deploysim`` command: run, validate, schema, list, and the bad-input contract.

Bad input → exit 2, one line per problem naming the file (or the flag), no traceback,
no output folder. Internal error → exit 1, a short message (traceback with ``--debug``).
The cases run through ``typer.testing.CliRunner`` on ``app`` and through the real entry
point ``simulator.cli.main`` (in-process, ``sys.argv`` patched, and in a subprocess).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

import simulator.cli
import simulator.results
from simulator.balancer import BALANCERS
from simulator.loading import load_experiment
from simulator.registry import PLATFORMS

REQUIRED_COLUMNS = [
    "scenario",
    "replication",
    "arrived",
    "completed",
    "dropped",
    "timed_out",
    "in_flight",
    "wait_mean_s",
    "waited_fraction",
    "latency_mean_s",
    "latency_p50_s",
    "latency_p95_s",
    "latency_p99_s",
    "slo_attainment",
    "cost_usd",
]
OUTPUT_FILES = {
    "report.html",
    "summary.csv",
    "summary_ci.csv",
    "timeseries.parquet",
    "provisioning.csv",
    "config.resolved.yaml",
    "meta.json",
}
DISTRIBUTION_KINDS = [
    "fixed",
    "exponential",
    "uniform",
    "triangular",
    "normal",
    "lognormal",
    "empirical",
]

TINY: dict[str, Any] = {
    "name": "tiny",
    "seed": 5,
    "horizon": "10s",
    "workload": {
        "arrivals": {"kind": "constant", "rate": "40/s"},
        "service_time": {"kind": "exponential", "mean": "40ms"},
    },
    "slo": {"latency_p99": "500ms"},
    "scenarios": [
        {
            "name": "pair",
            "platform": {"kind": "fixed", "instances": 2, "price": "$0.096/h"},
            "serving": {"workers": 2},
        },
        {
            "name": "single",
            "platform": {"kind": "fixed", "instances": 1, "price": "$0.2/h"},
            "serving": {"workers": 1, "queue_limit": 3},
            "balancer": {"kind": "power_of_two"},
        },
    ],
}


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working folder (relative file names keep the messages short)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write_exp(folder: Path, doc: dict[str, Any] | None = None, name: str = "tiny.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(doc if doc is not None else TINY, sort_keys=False))
    return Path(name)


def invoke(*args: str) -> Any:
    return CliRunner().invoke(simulator.cli.app, list(args))


def invoke_main(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    """Run the real entry point in-process; return (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["deploysim", *args])
    capsys.readouterr()
    try:
        simulator.cli.main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name or ".old-" in p.name)


def check_conservation(summary: pd.DataFrame) -> None:
    for _, row in summary.iterrows():
        assert row["arrived"] == (
            row["completed"] + row["dropped"] + row["timed_out"] + row["in_flight"]
        ), row.to_dict()


# -- run -------------------------------------------------------------------------------


def test_run_writes_exactly_the_output_files(workdir: Path) -> None:
    exp = write_exp(workdir)
    result = invoke("run", str(exp), "--out", "out")
    assert result.exit_code == 0, result.output
    out = workdir / "out"
    assert {p.name for p in out.iterdir()} == OUTPUT_FILES
    assert leftovers(workdir) == []

    summary = pd.read_csv(out / "summary.csv")
    missing = [c for c in REQUIRED_COLUMNS if c not in summary.columns]
    assert not missing, missing
    assert list(summary["scenario"]) == ["pair", "single"]
    assert list(summary["replication"]) == [0, 0]
    check_conservation(summary)
    assert (summary["arrived"] > 200).all()
    assert (summary["cost_usd"] > 0).all()

    ts = pd.read_parquet(out / "timeseries.parquet")
    assert set(ts["scenario"]) == {"pair", "single"}
    assert ts["time_s"].max() == pytest.approx(10.0)
    provisioning = pd.read_csv(out / "provisioning.csv")
    assert list(provisioning.columns)[:2] == ["scenario", "replication"]
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "<html" in html.lower() and "tiny" in html

    # The resolved config is a valid experiment equal to the input.
    resolved = load_experiment(out / "config.resolved.yaml")
    assert resolved == load_experiment(exp)
    meta = json.loads((out / "meta.json").read_text())
    assert meta["seed"] == 5 and meta["replications"] == 1


def test_run_without_report(workdir: Path) -> None:
    exp = write_exp(workdir)
    result = invoke("run", str(exp), "--out", "out", "--no-report", "-q")
    assert result.exit_code == 0, result.output
    assert {p.name for p in (workdir / "out").iterdir()} == OUTPUT_FILES - {"report.html"}


def test_run_default_folder_is_runs_name(workdir: Path) -> None:
    exp = write_exp(workdir)
    result = invoke("run", str(exp), "--no-report", "-q")
    assert result.exit_code == 0, result.output
    assert (workdir / "runs" / "tiny" / "summary.csv").exists()


def _summary(workdir: Path, *args: str) -> pd.DataFrame:
    exp = write_exp(workdir)
    out = workdir / ("out-" + "-".join(a.strip("-").replace("/", "_") for a in args))
    result = invoke("run", str(exp), "--out", str(out), "--no-report", "-q", *args)
    assert result.exit_code == 0, result.output
    summary = pd.read_csv(out / "summary.csv")
    check_conservation(summary)
    return summary


def test_seed_flag_takes_effect(workdir: Path) -> None:
    base = _summary(workdir)
    same = _summary(workdir, "--seed", "5")
    other = _summary(workdir, "--seed", "6")
    assert base["seed"].tolist() == [5, 5] and other["seed"].tolist() == [6, 6]
    pd.testing.assert_frame_equal(base, same)
    assert base["arrived"].tolist() != other["arrived"].tolist()


def test_replications_flag_takes_effect(workdir: Path) -> None:
    summary = _summary(workdir, "--replications", "3")
    assert sorted(summary["replication"].tolist()) == [0, 0, 1, 1, 2, 2]
    assert summary.groupby("scenario").size().to_dict() == {"pair": 3, "single": 3}
    # Replications are independent: not all equal.
    assert summary[summary["scenario"] == "pair"]["arrived"].nunique() > 1


def test_set_flag_takes_effect(workdir: Path) -> None:
    base = _summary(workdir)
    changed = _summary(
        workdir,
        "--set",
        "scenarios.pair.serving.workers=1",
        "--set",
        "scenarios.pair.serving.queue_limit=0",
        "--set",
        "scenarios[1].platform.instances=3",
    )
    pair_before, pair_after = base.iloc[0], changed.iloc[0]
    assert pair_before["dropped"] == 0
    assert pair_after["dropped"] > 0
    assert changed.iloc[1]["dropped"] < base.iloc[1]["dropped"]


# -- validate, schema, list ------------------------------------------------------------


def test_validate_ok(workdir: Path) -> None:
    exp = write_exp(workdir)
    result = invoke("validate", str(exp))
    assert result.exit_code == 0, result.output
    assert "ok" in result.stdout and str(exp) in result.stdout
    assert not (workdir / "runs").exists()


def test_validate_ok_through_main(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    exp = write_exp(workdir)
    code, out, err = invoke_main(monkeypatch, capsys, "validate", str(exp))
    assert code == 0, err
    assert "ok" in out and err == ""


def test_schema_is_json_with_scenarios() -> None:
    result = invoke("schema")
    assert result.exit_code == 0, result.output
    schema = json.loads(result.stdout)
    assert "scenarios" in schema["properties"]
    assert "workload" in schema["properties"]
    assert set(schema.get("required", [])) >= {"name", "horizon", "workload", "scenarios"}


def test_list_shows_kinds() -> None:
    result = invoke("list")
    assert result.exit_code == 0, result.output
    names = ["fixed", *PLATFORMS.kinds(), *BALANCERS, *DISTRIBUTION_KINDS]
    names += ["constant", "step", "ramp", "spike", "diurnal", "trace"]
    for name in names:
        assert name in result.stdout, name


# -- bad input -------------------------------------------------------------------------


def _bad_yaml(folder: Path) -> list[str]:
    (folder / "bad.yaml").write_text("name: x\nhorizon: 10s\nworkload:\n  arrivals: [\n")
    return ["run", "bad.yaml"]


def _doc_with(mutate: Callable[[dict[str, Any]], None]) -> Callable[[Path], list[str]]:
    def make(folder: Path) -> list[str]:
        doc = json.loads(json.dumps(TINY))
        mutate(doc)
        return ["run", str(write_exp(folder, doc, "case.yaml"))]

    return make


def _with_set(*sets: str) -> Callable[[Path], list[str]]:
    def make(folder: Path) -> list[str]:
        args = ["run", str(write_exp(folder))]
        for s in sets:
            args += ["--set", s]
        return args

    return make


def _dir(folder: Path) -> list[str]:
    (folder / "adir.yaml").mkdir()
    return ["run", "adir.yaml"]


def _binary(folder: Path) -> list[str]:
    (folder / "binary.yaml").write_bytes(b"\xff\xfe\x00name: x\x00\x9c")
    return ["run", "binary.yaml"]


def _top_list(folder: Path) -> list[str]:
    (folder / "list.yaml").write_text("- name: x\n- horizon: 10s\n")
    return ["run", "list.yaml"]


def _set_kind(doc: dict[str, Any]) -> None:
    doc["workload"]["arrivals"]["kind"] = "poisson"


def _neg_rate(doc: dict[str, Any]) -> None:
    doc["workload"]["arrivals"]["rate"] = "-5/s"


def _unknown_field(doc: dict[str, Any]) -> None:
    doc["scenarios"][0]["serving"]["wrokers"] = 2


def _warmup(doc: dict[str, Any]) -> None:
    doc["warmup"] = "10s"


def _dupes(doc: dict[str, Any]) -> None:
    doc["scenarios"][1]["name"] = "pair"


def _many(doc: dict[str, Any]) -> None:
    doc["horizon"] = "soon"
    doc["scenarios"][0]["serving"]["workers"] = 0
    doc["scenarios"][1]["balancer"]["kind"] = "fastest"


# name → (build args in a folder, the name every output line must contain, needles)
BAD_INPUT: dict[str, tuple[Callable[[Path], list[str]], str, list[str]]] = {
    "missing-file": (lambda f: ["run", "missing.yaml"], "missing.yaml", ["no such file"]),
    "directory": (_dir, "adir.yaml", ["directory"]),
    "invalid-yaml": (_bad_yaml, "bad.yaml", ["bad.yaml:5", "invalid YAML"]),
    "top-level-list": (_top_list, "list.yaml", ["mapping"]),
    "not-utf8": (_binary, "binary.yaml", ["UTF-8"]),
    "unknown-kind": (_doc_with(_set_kind), "case.yaml", ["workload.arrivals", "'constant'"]),
    "negative-rate": (_doc_with(_neg_rate), "case.yaml", ["workload.arrivals.rate", "negative"]),
    "unknown-field": (_doc_with(_unknown_field), "case.yaml", ["scenarios[0].serving.wrokers"]),
    "warmup-ge-horizon": (_doc_with(_warmup), "case.yaml", ["warmup"]),
    "duplicate-names": (_doc_with(_dupes), "case.yaml", ["pair"]),
    "many-problems": (
        _doc_with(_many),
        "case.yaml",
        ["horizon", "scenarios[0].serving.workers", "scenarios[1].balancer.kind"],
    ),
    "set-without-equals": (_with_set("workers"), "--set", ["'workers'"]),
    "set-bad-path": (_with_set("scenarios.nope.serving.workers=2"), "--set", ["nope"]),
    "set-bad-index": (_with_set("scenarios[7].serving.workers=2"), "--set", ["7"]),
    "set-invalid-value": (
        _with_set("scenarios[0].serving.workers=-1"),
        "tiny.yaml",
        ["scenarios[0].serving.workers"],
    ),
    "set-two-bad": (_with_set("a", "b"), "--set", ["'a'", "'b'"]),
}
# Usage errors found by click itself (before our code runs): through CliRunner (standalone
# mode) click prints its own multi-line usage box; the real entry point prints one line.
CLICK_USAGE_ERRORS = {"directory"}


def _check_bad_input(
    case: str, folder: Path, code: int, output: str, expect_lines: int | None = None
) -> None:
    _, names, needles = BAD_INPUT[case]
    assert code == 2, f"exit {code}, expected 2; output:\n{output}"
    assert "Traceback" not in output, output
    lines = [ln for ln in output.splitlines() if ln.strip()]
    assert lines, "no message"
    for needle in needles:
        assert needle in output, f"{needle!r} not in:\n{output}"
    for line in lines:
        assert names in line, f"line does not name {names!r}: {line!r}"
    if expect_lines is not None:
        assert len(lines) == expect_lines, output
    assert not (folder / "out").exists(), "output folder left behind"
    assert not (folder / "runs").exists(), "default output folder left behind"
    assert leftovers(folder) == []


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_through_cli_runner(workdir: Path, case: str) -> None:
    build, name, _ = BAD_INPUT[case]
    args = [*build(workdir), "--out", "out"]
    result = invoke(*args)
    if case in CLICK_USAGE_ERRORS:
        assert result.exit_code == 2, result.output
        assert "Traceback" not in result.output and name in result.output
        assert not (workdir / "out").exists()
        return
    _check_bad_input(case, workdir, result.exit_code, result.output)
    assert not result.stdout.strip(), "bad-input messages belong on stderr"


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_through_main(
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    case: str,
) -> None:
    """The real entry point (``deploysim`` / ``python -m simulator``) must exit 2 too."""
    build, _, _ = BAD_INPUT[case]
    code, out, err = invoke_main(monkeypatch, capsys, *build(workdir), "--out", "out")
    _check_bad_input(case, workdir, code, out + err)


def test_bad_input_keeps_an_existing_output_folder(workdir: Path) -> None:
    exp = write_exp(workdir)
    assert invoke("run", str(exp), "--out", "out", "--no-report", "-q").exit_code == 0
    before = (workdir / "out" / "summary.csv").read_bytes()
    result = invoke("run", str(exp), "--out", "out", "--set", "horizon=-1s")
    assert result.exit_code == 2
    assert (workdir / "out" / "summary.csv").read_bytes() == before


def test_out_folder_that_cannot_be_created_is_bad_input(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--out`` below a regular file is a bad CLI flag: exit 2 and one line, not exit 1."""
    exp = write_exp(workdir)
    (workdir / "afile").write_text("not a folder")
    code, out, err = invoke_main(
        monkeypatch, capsys, "run", str(exp), "--out", "afile/sub", "-q", "--no-report"
    )
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert "Traceback" not in out + err
    assert len(lines) == 1 and "afile" in lines[0], err
    assert leftovers(workdir) == []
    assert code == 2, f"exit {code}: {err.strip()}"


def test_bad_flag_values_are_exit_2(workdir: Path) -> None:
    exp = write_exp(workdir)
    for args in (["--seed", "-1"], ["--replications", "0"], ["--seed", "abc"]):
        result = invoke("run", str(exp), "--out", "out", *args)
        assert result.exit_code == 2, (args, result.output)
        assert "Traceback" not in result.output
        assert not (workdir / "out").exists()


# -- the real entry point in a subprocess ------------------------------------------------


def _python_m(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "simulator", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_subprocess_unknown_flag_is_one_line_exit_2(workdir: Path) -> None:
    exp = write_exp(workdir)
    proc = _python_m("run", str(exp), "--out", "out", "--bogus", cwd=workdir)
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert "--bogus" in lines[0]
    assert "Traceback" not in proc.stderr + proc.stdout
    assert not (workdir / "out").exists()


def test_subprocess_bad_input_is_exit_2(workdir: Path) -> None:
    doc = json.loads(json.dumps(TINY))
    _unknown_field(doc)
    exp = write_exp(workdir, doc)
    proc = _python_m("validate", str(exp), cwd=workdir)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"{exp}: scenarios[0].serving.wrokers")
    assert proc.returncode == 2, f"exit {proc.returncode}: {proc.stderr}"


def test_deploysim_script_is_python_m_simulator(workdir: Path) -> None:
    script = Path(sys.executable).parent / "deploysim"
    if not script.exists():
        pytest.skip("deploysim console script not installed in this environment")
    exp = write_exp(workdir)
    a = subprocess.run(
        [str(script), "validate", str(exp)], cwd=workdir, capture_output=True, text=True
    )
    b = _python_m("validate", str(exp), cwd=workdir)
    assert (a.returncode, a.stdout, a.stderr) == (b.returncode, b.stdout, b.stderr)
    assert a.returncode == 0 and "ok" in a.stdout


# -- internal errors and interruptions ---------------------------------------------------


def _boom(*_: Any, **__: Any) -> Any:
    raise RuntimeError("boom in the engine")


def _multi_line(*_: Any, **__: Any) -> Any:
    raise ValueError("1 validation error for Thing\ncount\n  Input should be >= 1")


def patch_simulation(monkeypatch: pytest.MonkeyPatch, fake: Callable[..., Any]) -> None:
    """Make every simulation run call ``fake`` (in-process or in forked pool workers; a
    pool pickles ``fake`` by name, so it must be a module-level function)."""
    monkeypatch.setattr(simulator.results, "run_one", fake)
    monkeypatch.setattr(simulator.cli, "run_one", fake, raising=False)


SIMULATE = "simulate"


@pytest.mark.parametrize(
    "target",
    [SIMULATE, (simulator.results, "_write_tables")],
    ids=["run_one", "write_tables"],
)
def test_internal_error_is_exit_1_short_message(
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    target: Any,
) -> None:
    exp = write_exp(workdir)
    if target == SIMULATE:
        patch_simulation(monkeypatch, _boom)
    else:
        monkeypatch.setattr(*target, _boom)
    code, out, err = invoke_main(monkeypatch, capsys, "run", str(exp), "--out", "out", "-q")
    assert code == 1, err
    assert "Traceback" not in out + err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert "internal error" in lines[0] and "boom in the engine" in lines[0]
    assert "--debug" in lines[0]
    assert not (workdir / "out").exists()
    assert leftovers(workdir) == []


def test_internal_error_message_is_one_line(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exceptions with multi-line messages (pydantic's ValidationError is one) still give a
    one-line internal-error message without --debug."""
    exp = write_exp(workdir)
    patch_simulation(monkeypatch, _multi_line)
    code, _, err = invoke_main(monkeypatch, capsys, "run", str(exp), "--out", "out", "-q")
    assert code == 1
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert "internal error" in lines[0] and "1 validation error for Thing" in lines[0]


def test_internal_error_with_debug_shows_traceback(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    exp = write_exp(workdir)
    patch_simulation(monkeypatch, _boom)
    code, _, err = invoke_main(
        monkeypatch, capsys, "--debug", "run", str(exp), "--out", "out", "-q"
    )
    assert code == 1
    assert "Traceback" in err and "RuntimeError: boom in the engine" in err
    assert not (workdir / "out").exists()
    # --debug does not stick to the next invocation.
    code, _, err = invoke_main(monkeypatch, capsys, "run", str(exp), "--out", "out", "-q")
    assert code == 1 and "Traceback" not in err


def _interrupt(*_: Any, **__: Any) -> Any:
    raise KeyboardInterrupt


@pytest.mark.parametrize(
    "target",
    [(simulator.results, "_write_report"), SIMULATE],
    ids=["while-writing", "while-simulating"],
)
def test_interrupted_run_leaves_no_output_folder(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, target: Any
) -> None:
    exp = write_exp(workdir)
    if target == SIMULATE:
        patch_simulation(monkeypatch, _interrupt)
    else:
        monkeypatch.setattr(*target, _interrupt)
    result = invoke("run", str(exp), "--out", "out")
    assert result.exit_code == 130, result.output
    assert "interrupted" in result.output
    assert "Traceback" not in result.output
    assert not (workdir / "out").exists()
    assert leftovers(workdir) == []


def test_interrupted_run_through_main_is_not_success(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    exp = write_exp(workdir)
    monkeypatch.setattr(simulator.results, "_write_report", _interrupt)
    code, out, err = invoke_main(monkeypatch, capsys, "run", str(exp), "--out", "out")
    assert not (workdir / "out").exists()
    assert leftovers(workdir) == []
    assert "interrupted" in err and "Traceback" not in out + err
    assert code == 130, f"an interrupted run exited {code}"
