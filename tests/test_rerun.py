"""`deploysim rerun FOLDER` reproduces every experiment's tables bit for bit."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import simulator
from simulator.cli import app
from simulator.results import compare_outputs

EXPERIMENTS = sorted((Path(__file__).resolve().parents[1] / "experiments").glob("*.yaml"))


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.stem)
def test_rerun_reproduces_the_tables(path: Path, tmp_path: Path) -> None:
    exp = simulator.load_experiment(path)
    short = simulator.load_experiment(
        path, [f"horizon={min(exp.horizon, 90.0)}s", "warmup=0s", "replications=1"]
    )
    first = tmp_path / "first"
    simulator.write_output(simulator.run(short), first, with_report=False)
    result = CliRunner().invoke(
        app, ["rerun", str(first), "--out", str(tmp_path / "again"), "-q", "--workers", "1"]
    )
    assert result.exit_code == 0, result.output
    assert "tables identical" in result.output
    assert compare_outputs(first, tmp_path / "again") == []


def test_rerun_of_a_folder_without_a_resolved_config_is_bad_input(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["rerun", str(tmp_path)])
    assert result.exit_code == 2
    assert "no config.resolved.yaml" in result.output


def test_a_changed_table_is_reported(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    for folder, value in ((a, "1"), (b, "2")):
        folder.mkdir()
        (folder / "summary.csv").write_text(f"x\n{value}\n")
    assert "summary.csv" in compare_outputs(a, b)
