"""Security of the inputs: YAML is read with the safe loader only, no code evaluates user
input (an AST scan of simulator/, models/ and reports/), and every file an experiment names
(trace, manifest, empirical samples) is resolved against the experiment file's folder, with
one line naming the file when it is missing, unreadable or a folder.

The report's escaping of user strings is tested in tests/test_report_browser.py.
"""

from __future__ import annotations

import ast
import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_run import run_main

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("simulator", "models", "reports")


def one_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    return lines[0]


BASE: dict[str, Any] = {
    "name": "sec",
    "horizon": "5s",
    "workload": {
        "arrivals": {"kind": "constant", "rate": "2/s"},
        "service_time": {"kind": "fixed", "value": "10ms"},
    },
    "scenarios": [{"name": "one", "platform": {"kind": "fixed", "instances": 1}}],
}


# -- the safe loader ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "document",
    [
        '!!python/object/apply:os.system ["touch pwned"]\n',
        "name: !!python/object/apply:os.system ['touch pwned']\nhorizon: 5s\n",
        "name: x\nhorizon: !!python/object/new:subprocess.check_output [['touch', 'pwned']]\n",
        "name: !!python/name:os.system ''\n",
    ],
)
def test_python_tags_are_refused_and_never_run(
    document: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("exp.yaml").write_text(document)
    code, out, err = run_main("run", "exp.yaml", "--out", "out")
    assert code == 2, err
    line = one_line(err)
    assert line.startswith("exp.yaml:") and "invalid YAML" in line, line
    assert "could not determine a constructor for the tag" in line
    assert not Path("pwned").exists(), "the document ran a command"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exp.yaml"]


def test_python_tag_in_a_set_value_stays_a_string(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--set`` values are YAML too: a tag is not constructed, the text is just text."""
    monkeypatch.chdir(tmp_path)
    Path("exp.yaml").write_text(yaml.safe_dump(BASE))
    value = "description=!!python/object/apply:os.system ['touch pwned']"
    code, _, err = run_main("validate", "exp.yaml", "--set", value)
    assert code == 0, err
    assert not Path("pwned").exists()
    code, _, err = run_main("validate", "exp.yaml", "--set", "seed=!!python/name:os.system ''")
    assert code == 2 and one_line(err).startswith("exp.yaml: seed:"), err
    assert not Path("pwned").exists()


# -- no eval/exec/unsafe loading in the code ------------------------------------------------

_YAML_LOADS = {"load", "load_all", "full_load", "full_load_all", "unsafe_load", "unsafe_load_all"}
_SAFE_LOADERS = {"SafeLoader", "CSafeLoader"}
_UNPICKLERS = {"pickle.load", "pickle.loads", "marshal.load", "marshal.loads"}


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return "?"


def unsafe_calls(source: str) -> list[str]:
    """Calls that could run user-controlled code, as ``line: what`` (AST, not text)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func)
        last = name.rsplit(".", 1)[-1]
        where = f"{node.lineno}: {name}"
        if name in ("eval", "exec", "compile", "__import__", "builtins.eval", "builtins.exec"):
            found.append(where)
        elif name.startswith("yaml.") and last in _YAML_LOADS:
            loader = next((k.value for k in node.keywords if k.arg == "Loader"), None)
            if loader is None and len(node.args) > 1:
                loader = node.args[1]
            if last not in ("load", "load_all") or loader is None:
                found.append(where)
            elif _dotted(loader).rsplit(".", 1)[-1] not in _SAFE_LOADERS:
                found.append(f"{where} (Loader={_dotted(loader)})")
        elif name in _UNPICKLERS or last == "read_pickle":
            found.append(where)
        elif last in ("eval", "query") and isinstance(node.func, ast.Attribute):
            found.append(f"{where} (pandas evaluates the string)")
        elif any(k.arg == "shell" and getattr(k.value, "value", False) for k in node.keywords):
            found.append(f"{where} (shell=True)")
    return found


def test_the_scan_finds_what_it_looks_for() -> None:
    """The scanner itself: each unsafe form is caught, the safe ones are not."""
    bad = [
        "eval(text)",
        "exec(code)",
        "yaml.load(text)",
        "yaml.load(text, Loader=yaml.Loader)",
        "yaml.load(text, yaml.UnsafeLoader)",
        "yaml.unsafe_load(text)",
        "yaml.full_load(text)",
        "pickle.loads(blob)",
        "pd.read_pickle(path)",
        "df.query(user_text)",
        "subprocess.run(cmd, shell=True)",
    ]
    for snippet in bad:
        assert unsafe_calls(snippet), snippet
    good = [
        "yaml.safe_load(text)",
        "yaml.load(text, Loader=yaml.SafeLoader)",
        "yaml.load(text, Loader=yaml.CSafeLoader)",
        "yaml.safe_dump(doc)",
        "json.loads(text)",
        "evaluate(x)",
        "subprocess.run(cmd, shell=False)",
    ]
    for snippet in good:
        assert not unsafe_calls(snippet), snippet


def test_no_code_evaluates_user_input() -> None:
    files = [p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))]
    assert len(files) > 20
    problems = []
    for path in files:
        for hit in unsafe_calls(path.read_text(encoding="utf-8")):
            problems.append(f"{path.relative_to(ROOT)}:{hit}")
    assert not problems, "\n".join(problems)


# -- files named by an experiment -----------------------------------------------------------

MANIFEST = json.loads((ROOT / "models" / "data" / "images" / "alpine_3.17.1.json").read_text())


def experiment_with(kind: str, file: str) -> dict[str, Any]:
    doc = json.loads(json.dumps(BASE))
    if kind == "trace":
        doc["workload"]["arrivals"] = {"kind": "trace", "file": file}
    elif kind == "samples":
        doc["workload"]["service_time"] = {"kind": "empirical", "file": file, "column": "d"}
    else:
        doc["scenarios"][0]["platform"] = {
            "kind": "container",
            "image": "app:1",
            "images": {"app:1": {"manifest": file}},
            "nodes": 1,
            "initial": 1,
        }
    return doc


GOOD = {"trace": "time_s,rps\n0,2\n5,3\n", "samples": "d\n10ms\n20ms\n"}
WRONG = {"trace": "time_s,rps\n0,bad\n", "samples": "d\nbad\n"}
KINDS = ["trace", "samples", "manifest"]


def write_data(path: Path, kind: str, good: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "manifest":
        path.write_text(json.dumps(MANIFEST) if good else "not json")
    else:
        path.write_text(GOOD[kind] if good else WRONG[kind])


@pytest.mark.parametrize("kind", KINDS)
def test_files_are_resolved_against_the_experiment_file(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run from elsewhere: the file beside the experiment is read, not a same-named file in
    the current folder (which is broken here, so reading it would fail)."""
    name = "data/input.json" if kind == "manifest" else "data/input.csv"
    write_data(tmp_path / "project" / name, kind, good=True)
    write_data(tmp_path / "elsewhere" / name, kind, good=False)
    (tmp_path / "project" / "exp.yaml").write_text(yaml.safe_dump(experiment_with(kind, name)))
    monkeypatch.chdir(tmp_path / "elsewhere")
    code, out, err = run_main("validate", "../project/exp.yaml")
    assert code == 0, err
    # An absolute path is taken as is.
    absolute = str(tmp_path / "project" / name)
    (tmp_path / "project" / "abs.yaml").write_text(yaml.safe_dump(experiment_with(kind, absolute)))
    code, _, err = run_main("validate", "../project/abs.yaml")
    assert code == 0, err


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("problem", ["missing", "folder", "below-a-file", "unreadable"])
def test_unusable_files_get_one_line_naming_them(
    kind: str, problem: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    name = "in/data.json" if kind == "manifest" else "in/data.csv"
    target = tmp_path / "cfg" / name
    target.parent.mkdir(parents=True)
    if problem == "folder":
        target.mkdir()
    elif problem == "below-a-file":
        (target.parent / "plain").write_text("a file, not a folder")
        name = "in/plain/data.csv"
        target = tmp_path / "cfg" / name
    elif problem == "unreadable":
        if os.geteuid() == 0:
            pytest.skip("root reads files whatever their mode")
        write_data(target, kind, good=True)
        target.chmod(0)
    (tmp_path / "cfg" / "exp.yaml").write_text(yaml.safe_dump(experiment_with(kind, name)))
    code, out, err = run_main("run", "cfg/exp.yaml", "--out", "out")
    assert code == 2, err
    line = one_line(err)
    assert line.startswith("cfg/exp.yaml: "), line
    assert str(target) in line, f"{target} not named in {line!r}"
    reason = {
        "missing": "No such file or directory",
        "folder": "Is a directory",
        "below-a-file": "Not a directory",
        "unreadable": "Permission denied",
    }[problem]
    assert reason in line, line
    assert "Traceback" not in out + err
    assert not (tmp_path / "out").exists()
