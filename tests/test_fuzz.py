"""Fuzzing every input path through the real entry point (``simulator.cli.main``).

Experiment YAML (random documents, random text and bytes, and mutations of every file in
``experiments/``), ``--set`` paths and values, trace CSV files, image manifests and random
command lines. For every input the outcome is success (exit 0) or bad input (exit 2, every
line naming the file, flag or field): never a traceback, an internal error (exit 1), a hang
(a timer fails the example) or a partial output folder.

The example budgets are fixed (``derandomize``: the same examples on every run) and keep the
whole file well under a minute on one core.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_run import run_main
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = sorted((ROOT / "experiments").glob("*.yaml"))
MANIFESTS = sorted((ROOT / "models" / "data" / "images").glob("*.json"))
# No single input may take more CPU time to refuse or to run (tiny horizons and event
# budgets keep real runs to a second or two). CPU time, not wall time: a machine shared
# with other jobs must not turn a slow example into a "hang".
HANG_S = 20.0


def fuzz_settings(n: int) -> Any:
    return settings(
        max_examples=n,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


class Hang(BaseException):
    """Raised by the timer: an input took more than HANG_S of CPU (BaseException: main()
    must not turn it into an internal-error exit)."""


@contextlib.contextmanager
def hang_guard(seconds: float = HANG_S) -> Iterator[None]:
    def alarm(*_: Any) -> None:
        raise Hang(f"no answer within {seconds} s of CPU time")

    previous = signal.signal(signal.SIGPROF, alarm)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)


@contextlib.contextmanager
def workdir() -> Iterator[Path]:
    """A fresh current folder (relative names keep messages short), restored afterwards."""
    old = Path.cwd()
    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
        os.chdir(tmp)
        try:
            yield Path(tmp)
        finally:
            os.chdir(old)


def main(*args: str) -> tuple[int, str, str]:
    """Run ``deploysim ARGS`` in-process under the hang guard; (exit code, stdout, stderr)."""
    return run_main(*args, guard=hang_guard())


def check_outcome(
    folder: Path,
    code: int,
    out: str,
    err: str,
    names: tuple[str, ...],
    max_lines: int | None = 1,
    before: set[str] | None = None,
) -> None:
    """Success, or exit 2 with lines that each name one of ``names``; nothing half-written."""
    text = out + err
    assert "Traceback" not in text, text
    assert code in (0, 2), f"exit {code}:\n{text}"
    leftovers = [p.name for p in folder.rglob("*") if ".tmp-" in p.name or ".old-" in p.name]
    assert not leftovers, leftovers
    if code == 2:
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert lines, "exit 2 without a message"
        if max_lines is not None:
            assert len(lines) <= max_lines, text
        for line in lines:
            assert line.startswith(names), f"line does not name {names}: {line!r}"
        if before is not None:
            created = {p.name for p in folder.iterdir()} - before
            assert not created, f"bad input left {created}"


# -- values a user might type -----------------------------------------------------------------

NASTY_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.sampled_from([0, -1, 2**63, 10**400, -(10**400)]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(
        [
            "",
            " ",
            "-5s",
            "1e400s",
            "nan",
            ".inf",
            "inf/s",
            "5 parsecs",
            "10kg",
            "3 furlongs/fortnight",
            "$-3/h",
            "150%",
            "-1%",
            "1e999999999",
            "0x1F",
            "10ms/s",
            "\x00",
            "é€😀",
            "9" * 400,
            "<script>alert(1)</script>",
            "!!python/object/apply:os.system ['true']",
            "{{}}",
            "[",
        ]
    ),
    st.text(max_size=12),
)


def nasty_values() -> st.SearchStrategy[Any]:
    return st.recursive(
        NASTY_SCALARS,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3),
            st.dictionaries(
                st.sampled_from(["kind", "rate", "x", "name", "value"]), inner, max_size=3
            ),
        ),
        max_leaves=6,
    )


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, (*prefix, i))


def _parent(doc: Any, path: tuple[Any, ...]) -> Any:
    for part in path[:-1]:
        doc = doc[part]
    return doc


def load_doc(path: Path) -> dict[str, Any]:
    # A JSON round trip breaks YAML-alias sharing: a mutation touches one place only.
    data: dict[str, Any] = json.loads(json.dumps(yaml.safe_load(path.read_text())))
    return data


DOCS = {p.name: load_doc(p) for p in EXPERIMENTS}
# The fast ones to run for real (a mutation that still validates must also run).
SHORT = "hello-world.yaml"


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, dict[str, Any], str]:
    """(file name, mutated document, description) from one shipped experiment."""
    name = draw(st.sampled_from(sorted(DOCS)))
    doc = copy.deepcopy(DOCS[name])
    paths = [p for p in _paths(doc) if p]
    path = draw(st.sampled_from(paths))
    parent, key = _parent(doc, path), path[-1]
    op = draw(st.sampled_from(["delete", "replace", "rename", "wrap", "kind", "double"]))
    if op == "delete":
        del parent[key]
    elif op == "replace":
        parent[key] = draw(nasty_values())
    elif op == "rename" and isinstance(parent, dict):
        parent[f"{key}_x"] = parent.pop(key)
    elif op == "wrap":
        parent[key] = [parent[key]]
    elif op == "kind" and isinstance(parent[key], dict):
        parent[key]["kind"] = draw(st.sampled_from(["nope", "", "FIXED", None, 3]))
    elif (
        op == "double"
        and isinstance(parent[key], int | float)
        and not isinstance(parent[key], bool)
    ):
        parent[key] = parent[key] * draw(st.sampled_from([-1, 0, 1e6, 1e300, -1e-300]))
    return name, doc, f"{op} {'.'.join(map(str, path))}"


def write_yaml(folder: Path, doc: Any, name: str = "exp.yaml") -> str:
    (folder / name).write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
    return name


# -- experiment documents ---------------------------------------------------------------------


@fuzz_settings(120)
@given(case=mutated())
def test_mutated_shipped_experiments(case: tuple[str, dict[str, Any], str]) -> None:
    _, doc, what = case
    with workdir() as folder:
        exp = write_yaml(folder, doc)
        before = {p.name for p in folder.iterdir()}
        code, out, err = main("validate", exp)
        check_outcome(folder, code, out, err, (exp,), max_lines=3, before=before)


@fuzz_settings(20)
@given(case=mutated())
def test_mutated_experiments_that_validate_also_run(case: tuple[str, dict[str, Any], str]) -> None:
    """A mutation that still validates must run: a tiny horizon and a small event budget
    keep every run short (the guard rail stops the rest with exit 2)."""
    _, doc, _ = case
    with workdir() as folder:
        exp = write_yaml(folder, doc)
        if main("validate", exp)[0] != 0:
            return
        sets = ["--set", "horizon=10s", "--set", "warmup=0s", "--set", "replications=1"]
        sets += ["--set", "limits.max_events=1e5", "--set", "sweep=null"]
        code, out, err = main(
            "run", exp, *sets, "--out", "out", "-q", "--no-report", "--workers", "1"
        )
        check_outcome(folder, code, out, err, (exp,), max_lines=3)
        assert (folder / "out").is_dir() == (code == 0)


KEYS = st.sampled_from(
    [
        "name",
        "horizon",
        "warmup",
        "seed",
        "replications",
        "workload",
        "scenarios",
        "slo",
        "limits",
        "arrivals",
        "service_time",
        "platform",
        "serving",
        "kind",
        "rate",
        "instances",
        "mean",
        "bogus",
    ]
)


@fuzz_settings(60)
@given(
    doc=st.one_of(
        st.dictionaries(KEYS, nasty_values(), max_size=8),
        nasty_values(),
        st.dictionaries(
            KEYS,
            st.recursive(NASTY_SCALARS, lambda i: st.dictionaries(KEYS, i, max_size=4)),
            max_size=8,
        ),
    )
)
def test_random_documents(doc: Any) -> None:
    with workdir() as folder:
        exp = write_yaml(folder, doc)
        code, out, err = main("validate", exp)
        check_outcome(folder, code, out, err, (exp,), max_lines=None)
        assert code == 2


@fuzz_settings(50)
@given(text=st.one_of(st.text(max_size=200), st.binary(max_size=200).map(repr)))
def test_random_yaml_text(text: str) -> None:
    with workdir() as folder:
        (folder / "exp.yaml").write_text(text)
        code, out, err = main("validate", "exp.yaml")
        check_outcome(folder, code, out, err, ("exp.yaml",), max_lines=None)
        assert code == 2


@fuzz_settings(40)
@given(data=st.binary(min_size=1, max_size=300))
def test_random_bytes(data: bytes) -> None:
    with workdir() as folder:
        (folder / "exp.yaml").write_bytes(data)
        code, out, err = main("validate", "exp.yaml")
        check_outcome(folder, code, out, err, ("exp.yaml",))
        assert code == 2


# -- --set ------------------------------------------------------------------------------------

SET_PATHS = st.one_of(
    st.sampled_from(
        [
            "horizon",
            "seed",
            "workload.arrivals.rate",
            "workload.arrivals.kind",
            "workload.service_time",
            "scenarios[0].serving.workers",
            "scenarios[0].platform",
            "scenarios.docker-run-twice.platform.nodes",
            "scenarios[9].serving.workers",
            "scenarios.nope.x",
            "scenarios[0]",
            "scenarios",
            "limits.max_events",
            "a..b",
            "[0]",
            "x[",
            "name.sub",
            "",
            "=",
        ]
    ),
    st.text(alphabet="abcs[]0123.=_-", max_size=20),
)
SET_VALUES = st.one_of(
    st.sampled_from(["", "3", "-1", "90s", "[1, 2]", "{kind: fixed, value: 1s}", "null", "["]),
    st.text(max_size=15),
    nasty_values().map(lambda v: json.dumps(v, default=str)),
)


@fuzz_settings(60)
@given(items=st.lists(st.tuples(SET_PATHS, SET_VALUES), min_size=1, max_size=3))
def test_set_overrides(items: list[tuple[str, str]]) -> None:
    with workdir() as folder:
        exp = write_yaml(folder, DOCS[SHORT])
        args = ["validate", exp]
        for path, value in items:
            args += ["--set", f"{path}={value}" if path != "=" else value]
        code, out, err = main(*args)
        check_outcome(folder, code, out, err, (exp, "--set"), max_lines=None)


# -- trace CSV files --------------------------------------------------------------------------

CELLS = st.one_of(
    st.sampled_from(["0", "1", "10", "-1", "1e9", "1e400", "nan", "inf", "5s", "2m", "3/s", ""]),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.text(alphabet="0123456789.-e,;\"' \t", max_size=8),
)


@st.composite
def trace_files(draw: st.DrawFn) -> bytes:
    header = draw(
        st.sampled_from(["time_s,rps", "time_s, rps", "rps,time_s", "", "\ufefftime_s,rps"])
    )
    rows = draw(st.lists(st.lists(CELLS, min_size=0, max_size=3), max_size=8))
    text = header + "\n" + "\n".join(",".join(r) for r in rows)
    if draw(st.booleans()):
        return text.encode("utf-8")
    return text.encode("utf-8") + draw(st.binary(max_size=8))


TRACE_DOC = {
    "name": "trace",
    "horizon": "20s",
    "workload": {
        "arrivals": {"kind": "trace", "file": "in/t.csv"},
        "service_time": {"kind": "fixed", "value": "10ms"},
    },
    "limits": {"max_events": 2e5},
    "scenarios": [{"name": "one", "platform": {"kind": "fixed", "instances": 1}}],
}


@fuzz_settings(60)
@given(data=trace_files(), run=st.booleans())
def test_trace_files(data: bytes, run: bool) -> None:
    """Relative to the experiment file (in/ here, run from its parent); errors name the CSV."""
    with workdir() as folder:
        (folder / "cfg" / "in").mkdir(parents=True)
        (folder / "cfg" / "in" / "t.csv").write_bytes(data)
        exp = str(Path("cfg") / write_yaml(folder / "cfg", TRACE_DOC))
        args = ["run", exp, "--out", "out", "-q", "--no-report"] if run else ["validate", exp]
        code, out, err = main(*args)
        trace = str((folder / "cfg" / "in" / "t.csv").resolve())
        check_outcome(folder, code, out, err, (f"{exp}: workload.arrivals: {trace}", exp))


# -- image manifests --------------------------------------------------------------------------

MANIFEST_DOCS = {p.name: json.loads(p.read_text()) for p in MANIFESTS}
CONTAINER_DOC = {
    "name": "manifest",
    "horizon": "5s",
    "workload": {
        "arrivals": {"kind": "constant", "rate": "1/s"},
        "service_time": {"kind": "fixed", "value": "1ms"},
    },
    "scenarios": [
        {
            "name": "pods",
            "platform": {
                "kind": "container",
                "image": "app:1",
                "images": {"app:1": {"manifest": "m/manifest.json"}},
                "nodes": 1,
                "initial": 1,
            },
        }
    ],
}


@st.composite
def manifests(draw: st.DrawFn) -> Any:
    doc = copy.deepcopy(MANIFEST_DOCS[draw(st.sampled_from(sorted(MANIFEST_DOCS)))])
    if draw(st.booleans()):  # wrap in an index / manifest list
        doc = {
            "schemaVersion": 2,
            "mediaType": draw(
                st.sampled_from(
                    [
                        "application/vnd.oci.image.index.v1+json",
                        "application/vnd.docker.distribution.manifest.list.v2+json",
                    ]
                )
            ),
            "manifests": [
                {
                    "digest": draw(st.sampled_from(["sha256:" + "a" * 64, "sha256:zz", "x"])),
                    "platform": draw(
                        st.sampled_from(
                            [{"os": "linux", "architecture": "amd64"}, {"os": "windows"}, None]
                        )
                    ),
                }
            ],
        }
    for _ in range(draw(st.integers(0, 3))):
        paths = [p for p in _paths(doc) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = _parent(doc, path)
        if draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(nasty_values())
    return doc


@fuzz_settings(60)
@given(doc=manifests(), raw=st.booleans())
def test_image_manifests(doc: Any, raw: bool) -> None:
    with workdir() as folder:
        (folder / "m").mkdir()
        manifest = folder / "m" / "manifest.json"
        if raw:
            text = json.dumps(doc, allow_nan=True)
            manifest.write_text(text[: len(text) // 2])  # truncated JSON
        else:
            manifest.write_text(json.dumps(doc, allow_nan=True))
        exp = write_yaml(folder, CONTAINER_DOC)
        code, out, err = main("validate", exp)
        check_outcome(folder, code, out, err, (exp,))
        if code == 2:
            assert "manifest.json" in err, err


# -- command lines ----------------------------------------------------------------------------

TINY = {
    "name": "tiny",
    "horizon": "5s",
    "workload": {
        "arrivals": {"kind": "constant", "rate": "20/s"},
        "service_time": {"kind": "exponential", "mean": "20ms"},
    },
    "scenarios": [{"name": "one", "platform": {"kind": "fixed", "instances": 1}}],
}
COMMANDS = ["run", "validate", "rerun", "schema", "list", "sweep", "plan", "bogus", ""]
OPTIONS = [
    "--out",
    "--seed",
    "--replications",
    "--set",
    "--workers",
    "--no-report",
    "--report",
    "-q",
    "--quiet",
    "--debug",
    "--help",
    "--precision",
    "--max-replications",
    "--bogus",
    "-x",
]
TOKENS = st.one_of(
    st.sampled_from(OPTIONS),
    st.sampled_from(["tiny.yaml", "missing.yaml", ".", "out", "afile", "0", "-1", "2", "1e3"]),
    st.sampled_from(["abc", "p99:5%", "horizon=1s", "seed=-3", "x=1", "99999999999999999999"]),
    st.text(max_size=8),
)


@fuzz_settings(40)
@given(
    command=st.sampled_from(COMMANDS),
    tokens=st.lists(TOKENS, max_size=6),
    debug=st.booleans(),
)
def test_random_command_lines(command: str, tokens: list[str], debug: bool) -> None:
    with workdir() as folder:
        write_yaml(folder, TINY, "tiny.yaml")
        (folder / "afile").write_text("not a folder")
        before = {p.name for p in folder.iterdir()}
        args = (["--debug"] if debug else []) + ([command] if command else []) + tokens
        if "run" in args or "sweep" in args or "plan" in args:
            # Keep real runs tiny whatever the flags say: a small event budget.
            args += ["--set", "limits.max_events=5e4"]
        code, out, err = main(*args)
        if debug and code == 1:
            pytest.fail(f"internal error with {args}:\n{err}")
        check_outcome(folder, code, out, err, _names(args), max_lines=None)
        if code != 0:
            created = {p.name for p in folder.iterdir()} - before
            assert not created, f"{args} left {created}"


def _names(args: list[str]) -> tuple[str, ...]:
    """What a bad-input line may start with: a file or folder named, a flag, the program."""
    # Path("") is "." in messages about folders.
    return ("deploysim", "--", *[str(Path(a)) for a in args if not a.startswith("-")])


def test_hang_guard_fires() -> None:
    """The timer that fails a hanging example really interrupts a busy loop."""
    with pytest.raises(Hang), hang_guard(0.2):
        while True:
            math.sqrt(2.0)
