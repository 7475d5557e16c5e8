"""The experiment format: distributions, arrival profiles, traces, errors, overrides."""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from simulator.balancer import BALANCERS
from simulator.config import Experiment
from simulator.loading import InputError, apply_overrides, load_experiment
from simulator.registry import AUTOSCALERS, PLATFORMS
from simulator.workload import arrival_times

REPO = Path(__file__).resolve().parents[1]
MMC = REPO / "experiments" / "mmc-validation.yaml"

DISTRIBUTION_KINDS = [
    "fixed",
    "exponential",
    "uniform",
    "triangular",
    "normal",
    "lognormal",
    "empirical",
]
ARRIVAL_KINDS = ["constant", "step", "ramp", "spike", "diurnal", "trace"]


def base_doc(**workload: Any) -> dict[str, Any]:
    """A small valid experiment document (raw YAML data)."""
    wl: dict[str, Any] = {
        "arrivals": {"kind": "constant", "rate": "10/s"},
        "service_time": {"kind": "exponential", "mean": "50ms"},
    }
    wl.update(workload)
    return {
        "name": "cfg-test",
        "seed": 3,
        "horizon": "60s",
        "workload": wl,
        "scenarios": [
            {"name": "one", "platform": {"kind": "fixed", "instances": 2}},
            {"name": "two", "platform": {"kind": "fixed", "instances": 1}},
        ],
    }


def write_yaml(path: Path, doc: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def problems_of(source: Any, overrides: list[str] | None = None) -> list[str]:
    with pytest.raises(InputError) as info:
        load_experiment(source, overrides)
    problems = info.value.problems
    assert problems, "InputError without problems"
    for line in problems:
        assert "\n" not in line, line
    return problems


# -- the DESIGN §4 example ---------------------------------------------------------------


def test_mmc_validation_example_validates_unchanged() -> None:
    exp = load_experiment(MMC)
    assert exp.name == "mmc-8"
    assert exp.seed == 1
    assert exp.horizon == 20000.0
    assert exp.warmup == 1000.0
    assert exp.replications == 10
    assert exp.workload.arrivals.kind == "constant"
    assert exp.workload.arrivals.rate == pytest.approx(7.2)
    assert exp.workload.service_time.kind == "exponential"
    assert exp.workload.service_time.mean_s == 1.0
    (scenario,) = exp.scenarios
    assert scenario.name == "m-m-8"
    assert scenario.platform.kind == "fixed"
    assert scenario.platform.instances == 1
    assert scenario.serving.workers == 8
    assert scenario.serving.queue_limit is None
    assert scenario.balancer.kind == "round_robin"
    assert scenario.autoscaler is None


def test_resolved_config_round_trips() -> None:
    exp = load_experiment(MMC)
    again = Experiment.model_validate(exp.model_dump(mode="json", exclude_none=True))
    assert again == exp


# -- distributions -----------------------------------------------------------------------

N_DRAWS = 200_000

DISTRIBUTIONS: dict[str, dict[str, Any]] = {
    "fixed": {"kind": "fixed", "value": "40ms"},
    "exponential": {"kind": "exponential", "mean": "40ms"},
    "uniform": {"kind": "uniform", "low": "10ms", "high": "50ms"},
    "triangular": {"kind": "triangular", "low": "10ms", "mode": "20ms", "high": "60ms"},
    # mean = sd: about 16 % of the untruncated mass is below 0, so truncation matters.
    "normal": {"kind": "normal", "mean": "20ms", "sd": "20ms"},
    "normal-far-from-zero": {"kind": "normal", "mean": "1s", "sd": "10ms"},
    "lognormal-median-p95": {"kind": "lognormal", "median": "20ms", "p95": "80ms"},
    "lognormal-mean-cv": {"kind": "lognormal", "mean": "30ms", "cv": 1.5},
    "empirical-samples": {"kind": "empirical", "samples": ["10ms", "20ms", "70ms", 0.5]},
}


def check_mean(dist: Any, seed: int = 12345) -> np.ndarray:
    draws = dist.sample(np.random.default_rng(seed), N_DRAWS)
    assert draws.shape == (N_DRAWS,)
    assert (draws >= 0).all(), "a duration is never negative"
    se = draws.std(ddof=1) / math.sqrt(N_DRAWS)
    assert abs(draws.mean() - dist.mean_s) <= max(4 * se, 1e-12), (
        f"{dist.kind}: sample mean {draws.mean()} vs mean_s {dist.mean_s} (se {se})"
    )
    return draws


@pytest.mark.parametrize("name", sorted(DISTRIBUTIONS))
def test_distribution_validates_and_mean_matches_samples(name: str) -> None:
    exp = load_experiment(base_doc(service_time=DISTRIBUTIONS[name]))
    dist = exp.workload.service_time
    draws = check_mean(dist)
    if name == "fixed":
        assert dist.mean_s == 0.04 and (draws == 0.04).all()
    if name == "lognormal-mean-cv":
        assert dist.mean_s == pytest.approx(0.03)
        assert draws.std() / draws.mean() == pytest.approx(1.5, rel=0.1)
    if name == "lognormal-median-p95":
        assert np.quantile(draws, 0.5) == pytest.approx(0.02, rel=0.02)
        assert np.quantile(draws, 0.95) == pytest.approx(0.08, rel=0.03)
    if name == "normal":
        # The truncated mean is above the untruncated one.
        assert dist.mean_s > 0.02
    if name == "empirical-samples":
        assert set(np.unique(draws)) == {0.01, 0.02, 0.07, 0.5}


def test_every_distribution_kind_is_covered() -> None:
    covered = {d["kind"] for d in DISTRIBUTIONS.values()} | {"empirical"}
    assert covered == set(DISTRIBUTION_KINDS)


def test_empirical_file_column_is_relative_to_the_experiment_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "exp"
    folder.mkdir()
    (folder / "data").mkdir()
    (folder / "data" / "latencies.csv").write_text(
        "id,service,other\n1,10ms,x\n2,0.03,y\n3,50ms,z\n4,2s,w\n", encoding="utf-8"
    )
    doc = base_doc(
        service_time={"kind": "empirical", "file": "data/latencies.csv", "column": "service"}
    )
    path = write_yaml(folder / "exp.yaml", doc)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    exp = load_experiment(Path("..") / "exp" / "exp.yaml")
    dist = exp.workload.service_time
    assert dist.samples == pytest.approx([0.01, 0.03, 0.05, 2.0])
    assert dist.mean_s == pytest.approx((0.01 + 0.03 + 0.05 + 2.0) / 4)
    check_mean(dist)
    # The resolved config keeps the data, not the path.
    dumped = exp.model_dump(mode="json", exclude_none=True)
    assert "file" not in dumped["workload"]["service_time"]
    # A bad value in the CSV names the file and line.
    (folder / "data" / "latencies.csv").write_text("id,service\n1,10ms\n2,soon\n", encoding="utf-8")
    (line,) = problems_of(path)
    assert line.startswith(f"{path}:")
    assert "latencies.csv:3" in line
    # A missing column is reported too.
    doc["workload"]["service_time"]["column"] = "nope"
    write_yaml(folder / "exp.yaml", doc)
    (line,) = problems_of(path)
    assert "nope" in line and "latencies.csv" in line


# -- arrival profiles --------------------------------------------------------------------

HORIZON = 200.0
TRACE_CSV = "time_s,rps\n0,10\n50,100\n100,100\n150,0\n"

ARRIVALS: dict[str, dict[str, Any]] = {
    "constant": {"kind": "constant", "rate": "50/s"},
    "step": {
        "kind": "step",
        "initial": "20/s",
        "steps": [{"at": "50s", "rate": "80/s"}, {"at": "2m", "rate": "10/s"}],
    },
    "ramp": {
        "kind": "ramp",
        "start_rate": "10/s",
        "end_rate": "6000/min",
        "start": "20s",
        "duration": "100s",
    },
    "spike": {
        "kind": "spike",
        "base": "20/s",
        "peak": "200/s",
        "start": "60s",
        "rise": "10s",
        "hold": "20s",
        "fall": "30s",
    },
    "diurnal": {"kind": "diurnal", "period": "100s", "min": "5/s", "max": "95/s", "phase": "30s"},
    "trace": {"kind": "trace", "file": "trace.csv"},
}


def load_arrivals(tmp_path: Path, name: str) -> Any:
    (tmp_path / "trace.csv").write_text(TRACE_CSV, encoding="utf-8")
    doc = base_doc(arrivals=ARRIVALS[name])
    doc["horizon"] = f"{HORIZON}s"
    exp = load_experiment(write_yaml(tmp_path / "exp.yaml", doc))
    return exp.workload.arrivals


@pytest.mark.parametrize("name", ARRIVAL_KINDS)
def test_arrival_profile_mean_rate_matches_generated_count(tmp_path: Path, name: str) -> None:
    profile = load_arrivals(tmp_path, name)
    assert profile.kind == name
    times = np.concatenate(
        list(arrival_times(profile, np.random.default_rng(2024), HORIZON)) or [np.empty(0)]
    )
    assert (np.diff(times) >= 0).all(), "arrival times must be increasing"
    assert times.size == 0 or (times[0] >= 0 and times[-1] < HORIZON)
    expected = profile.mean_rate(0.0, HORIZON) * HORIZON
    assert expected > 1000
    assert abs(times.size - expected) <= 4 * math.sqrt(expected), (times.size, expected)
    # The shape over time, not only the total: 20 windows of 10 s.
    edges = np.linspace(0.0, HORIZON, 21)
    counts, _ = np.histogram(times, edges)
    for t0, t1, n in zip(edges[:-1], edges[1:], counts, strict=True):
        exp_n = profile.mean_rate(t0, t1) * (t1 - t0)
        if exp_n == 0:
            assert n == 0, f"{name}: {n} arrivals in [{t0}, {t1}) where the rate is 0"
        else:
            assert abs(n - exp_n) <= 4 * math.sqrt(exp_n) + 1, (name, t0, t1, n, exp_n)


def test_arrival_rate_values(tmp_path: Path) -> None:
    step = load_arrivals(tmp_path, "step")
    assert step.rate_at(np.array([10.0, 60.0, 130.0])) == pytest.approx([20, 80, 10])
    ramp = load_arrivals(tmp_path, "ramp")
    assert ramp.rate_at(np.array([0.0, 70.0, 150.0])) == pytest.approx([10, 55, 100])
    trace = load_arrivals(tmp_path, "trace")
    assert trace.points == [(0.0, 10.0), (50.0, 100.0), (100.0, 100.0), (150.0, 0.0)]
    assert trace.rate_at(np.array([25.0, 75.0, 175.0])) == pytest.approx([55, 100, 0])
    diurnal = load_arrivals(tmp_path, "diurnal")
    assert diurnal.rate_at(np.array([30.0, 80.0])) == pytest.approx([95, 5])
    assert diurnal.mean_rate(0.0, 100.0) == pytest.approx(50.0)


def test_trace_path_is_relative_to_the_experiment_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "trace.csv").write_text(TRACE_CSV, encoding="utf-8")
    path = write_yaml(tmp_path / "sub" / "exp.yaml", base_doc(arrivals=ARRIVALS["trace"]))
    monkeypatch.chdir(tmp_path)
    exp = load_experiment(Path("sub/exp.yaml"))
    assert exp.workload.arrivals.points[1] == (50.0, 100.0)
    assert path.exists()


BAD_TRACES = {
    "not-a-number": ("time_s,rps\n0,5\nabc,20\n", 3),
    "three-columns": ("time_s,rps\n0,5\n1,2,3\n", 3),
    "time-backwards": ("time_s,rps\n0,5\n10,3\n5,1\n", 4),
    "missing-header": ("0,5\n10,20\n", 1),
    "bad-rate": ("time_s,rps\n0,5\n1,2\n2,lots\n", 4),
}


@pytest.mark.parametrize("case", sorted(BAD_TRACES))
def test_bad_trace_row_names_file_and_line(tmp_path: Path, case: str) -> None:
    body, line_no = BAD_TRACES[case]
    (tmp_path / "trace.csv").write_text(body, encoding="utf-8")
    path = write_yaml(tmp_path / "exp.yaml", base_doc(arrivals=ARRIVALS["trace"]))
    (line,) = problems_of(path)
    assert line.startswith(f"{path}: workload.arrivals"), line
    assert f"trace.csv:{line_no}:" in line, line


def test_missing_trace_file_is_an_input_error(tmp_path: Path) -> None:
    path = write_yaml(tmp_path / "exp.yaml", base_doc(arrivals=ARRIVALS["trace"]))
    (line,) = problems_of(path)
    assert "trace.csv" in line and line.startswith(str(path))


# -- kinds, unknown fields ---------------------------------------------------------------


def _set(doc: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    node: Any = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


UNKNOWN_KIND_CASES = {
    "arrivals": (("workload", "arrivals"), "workload.arrivals", ARRIVAL_KINDS),
    "service_time": (("workload", "service_time"), "workload.service_time", DISTRIBUTION_KINDS),
    "balancer": (("scenarios", 0, "balancer"), "scenarios[0].balancer", list(BALANCERS)),
    "platform": (("scenarios", 0, "platform"), "scenarios[0].platform", PLATFORMS.kinds()),
    "autoscaler": (("scenarios", 0, "autoscaler"), "scenarios[0].autoscaler", AUTOSCALERS.kinds()),
}


@pytest.mark.parametrize("case", sorted(UNKNOWN_KIND_CASES))
def test_unknown_kind_lists_known_kinds(case: str) -> None:
    where, field, known = UNKNOWN_KIND_CASES[case]
    doc = base_doc()
    node: Any = doc
    for key in where[:-1]:
        node = node[key]
    node.setdefault(where[-1], {})["kind"] = "warp-drive"  # other fields stay valid
    (line,) = problems_of(doc)
    assert line.startswith(f"<experiment>: {field}"), line
    assert "warp-drive" in line
    for kind in known:
        assert repr(kind) in line, f"{kind!r} missing from: {line}"


UNKNOWN_FIELDS = {
    "bogus": ("bogus",),
    "workload.arrivals.burst": ("workload", "arrivals", "burst"),
    "workload.service_time.shape": ("workload", "service_time", "shape"),
    "scenarios[0].serving.wrokers": ("scenarios", 0, "serving", "wrokers"),
    "scenarios[1].platform.cpus": ("scenarios", 1, "platform", "cpus"),
    "slo.latency_p98": ("slo", "latency_p98"),
}


@pytest.mark.parametrize("field", sorted(UNKNOWN_FIELDS))
def test_unknown_field_rejected_with_its_path(field: str) -> None:
    doc = base_doc()
    doc["slo"] = {"latency_p99": "1s"}
    doc["scenarios"][0]["serving"] = {"workers": 2}
    _set(doc, UNKNOWN_FIELDS[field], 3)
    (line,) = problems_of(doc)
    assert line.startswith(f"<experiment>: {field}: unknown field"), line


def test_non_positive_instance_count_is_rejected_at_validation() -> None:
    """``instances: 0``, ``-1`` or ``[]`` must be bad input, not an internal error at run time."""
    for n in (0, -1, []):
        doc = base_doc()
        doc["scenarios"][0]["platform"]["instances"] = n
        (line,) = problems_of(doc)
        assert "scenarios[0].platform.instances" in line, line


# -- overrides ---------------------------------------------------------------------------


def test_override_by_index_and_by_name() -> None:
    by_index = load_experiment(MMC, ["scenarios[0].serving.workers=4"])
    by_name = load_experiment(MMC, ["scenarios.m-m-8.serving.workers=4"])
    assert by_index.scenarios[0].serving.workers == 4
    assert by_name == by_index
    assert load_experiment(MMC).scenarios[0].serving.workers == 8


def test_overrides_of_units_lists_and_new_blocks() -> None:
    exp = load_experiment(
        MMC,
        [
            "horizon=2m",
            "warmup=0s",
            "workload.arrivals.rate=120/min",
            "scenarios[0].serving.queue_limit=5",
            "scenarios.m-m-8.balancer.kind=least_connections",
            "slo.latency_p99=2s",
            "seed=9",
        ],
    )
    assert exp.horizon == 120.0 and exp.warmup == 0.0 and exp.seed == 9
    assert exp.workload.arrivals.rate == 2.0
    assert exp.scenarios[0].serving.queue_limit == 5
    assert exp.scenarios[0].balancer.kind == "least_connections"
    assert exp.slo is not None and exp.slo.latency_p99 == 2.0


def test_apply_overrides_does_not_mutate_its_input() -> None:
    doc = base_doc()
    before = copy.deepcopy(doc)
    out = apply_overrides(doc, ["scenarios.two.serving.workers=3", "horizon=5s"], "x.yaml")
    assert doc == before
    assert out["scenarios"][1]["serving"]["workers"] == 3
    assert out["horizon"] == "5s"


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ("scenarios.m-m-8.serving.workers=0", "scenarios[0].serving.workers"),
        ("scenarios[0].serving.workers=many", "scenarios[0].serving.workers"),
        ("scenarios[0].serving.queue_limit=-1", "scenarios[0].serving.queue_limit"),
        ("horizon=ten seconds", "horizon"),
        ("workload.arrivals.rate=-5/s", "workload.arrivals.rate"),
        ("workload.service_time.mean=0s", "workload.service_time.mean"),
        ("scenarios[0].serving.wrkers=2", "scenarios[0].serving.wrkers"),
        ("replications=0", "replications"),
        ("seed=-1", "seed"),
    ],
)
def test_bad_override_value_names_file_and_path(override: str, field: str) -> None:
    (line,) = problems_of(MMC, [override])
    assert line.startswith(f"{MMC}: {field}:"), line


@pytest.mark.parametrize(
    "override",
    [
        "no-equals-sign",
        "scenarios[3].serving.workers=2",
        "scenarios.nope.serving.workers=2",
        "name.sub=1",
        "=3",
    ],
)
def test_bad_override_path_names_the_override(override: str) -> None:
    (line,) = problems_of(MMC, [override])
    assert line.startswith("--set "), line
    assert repr(override) in line, line


def test_every_bad_override_is_reported() -> None:
    problems = problems_of(MMC, ["nope", "scenarios.x.serving.workers=1", "also-nope"])
    assert len(problems) == 3


# -- every problem, one line each --------------------------------------------------------


def test_every_problem_reported_one_line_each_with_file_and_path(tmp_path: Path) -> None:
    doc = base_doc()
    doc["horizon"] = "abc"
    doc["workload"]["arrivals"]["rate"] = "5/parsec"
    doc["workload"]["service_time"] = {"kind": "uniform", "low": "1ms"}
    doc["scenarios"][0]["serving"] = {"workers": 0, "speeed": 2}
    doc["scenarios"][1]["platform"]["instances"] = "many"
    doc["slo"] = {"dropped": "150%"}
    path = write_yaml(tmp_path / "many.yaml", doc)
    problems = problems_of(path)
    expected = [
        "horizon",
        "workload.arrivals.rate",
        "workload.service_time.high",
        "scenarios[0].serving.workers",
        "scenarios[0].serving.speeed",
        "scenarios[1].platform.instances",
        "slo.dropped",
    ]
    for field in expected:
        hits = [p for p in problems if p.startswith(f"{path}: {field}:")]
        assert hits, f"no line for {field} in {problems}"
    for line in problems:
        assert line.startswith(f"{path}: "), line
    # One line per problem (a union may add a line per member it tried; bounded here).
    assert len(expected) <= len(problems) <= len(expected) + 1, problems


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda d: d.update(warmup="60s"), "warmup"),
        (lambda d: d.update(warmup="2m"), "warmup"),
        (lambda d: d["scenarios"].append(copy.deepcopy(d["scenarios"][0])), "one"),
        (lambda d: d.update(scenarios=[]), "scenarios"),
        (lambda d: d.update(name="has space"), "name"),
        (lambda d: d.pop("workload"), "workload"),
    ],
    ids=[
        "warmup-eq-horizon",
        "warmup-gt-horizon",
        "duplicate-names",
        "no-scenarios",
        "bad-name",
        "missing-workload",
    ],
)
def test_model_level_problems(mutate: Any, needle: str) -> None:
    doc = base_doc()
    mutate(doc)
    (line,) = problems_of(doc)
    assert needle in line, line
