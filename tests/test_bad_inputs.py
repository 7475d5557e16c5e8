"""The bad-input corpus (``tests/data/bad/cases.yaml``): every malformed experiment, trace,
manifest, ``--set`` and flag gets exactly its expected line, exit code 2 and no output.

Each case runs through the real entry point (``simulator.cli.main``, in-process) from the
corpus folder, so the paths in the messages are the relative ones a user typed; the
absolute paths of files resolved against an experiment file are shown relative too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_run import run_main

BAD = Path(__file__).resolve().parent / "data" / "bad"
CASES: list[dict[str, Any]] = yaml.safe_load((BAD / "cases.yaml").read_text())


def listing(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def test_corpus_is_large_and_covers_every_input_path() -> None:
    ids = [c["id"] for c in CASES]
    assert len(ids) == len(set(ids))
    assert len(CASES) >= 50
    kinds = {c["args"][1].split("/")[0] for c in CASES if len(c["args"]) > 1}
    assert {"experiments", "traces", "manifests", "samples"} <= kinds
    assert sum(1 for c in CASES if "--set" in c["args"]) >= 5
    assert sum(1 for c in CASES if c["expect"].startswith("deploysim: ")) >= 5  # flags
    # Every file of the corpus is used by a case (no stale files).
    used = {a for c in CASES for a in c["args"]}
    for path in BAD.glob("*/*.yaml"):
        rel = str(path.relative_to(BAD))
        assert rel in used or rel == "experiments/ok.yaml", f"{rel} has no case"


def test_the_base_of_the_flag_cases_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    """Otherwise a flag case could pass for the wrong reason."""
    monkeypatch.chdir(BAD)
    code, out, err = run_main("validate", "experiments/ok.yaml")
    assert code == 0, err
    assert "ok" in out


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_bad_input(case: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(BAD)
    args = list(case["args"])
    out_dir = tmp_path / "out"
    if args[0] == "run" and "--out" not in args:
        args += ["--out", str(out_dir)]
    before = listing(BAD)
    code, out, err = run_main(*args)
    assert "Traceback" not in out + err, err
    assert code == 2, f"exit {code}: {err}"
    lines = [ln for ln in err.replace(f"{BAD}/", "").splitlines() if ln.strip()]
    assert lines == [case["expect"]]
    assert not out.strip(), "bad-input messages belong on stderr"
    assert not out_dir.exists()
    assert listing(BAD) == before, "the run left files behind"
