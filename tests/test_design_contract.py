"""DESIGN §4's flash-crowd example validates and runs exactly as written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

import simulator
from simulator.cli import app

FLASH_CROWD = """
name: flash-crowd
question: How fast does each architecture absorb a 10x spike, and at what cost?
seed: 42
horizon: 2h
replications: 3
workload:
  arrivals: {kind: spike, base: 50/s, peak: 500/s, start: 30m, rise: 2m, hold: 20m, fall: 10m}
  service_time: {kind: lognormal, median: 40ms, p95: 120ms}
  timeout: 10s
slo: {latency_p99: 300ms, dropped: 0.1%}
scenarios:
  - name: bare-metal
    platform: {kind: physical, initial: 6}
    serving: {workers: 16, queue_limit: 200}
    autoscaler: {kind: ticket}
  - name: kubernetes
    platform: {kind: container, image: "nginx:1.23.3", initial: 4}
    serving: {workers: 4, queue_limit: 100}
    balancer: {kind: least_connections}
    autoscaler: {kind: hpa, target_cpu: 60%, min: 2, max: 60}
"""


def test_flash_crowd_validates_and_runs_as_written(tmp_path: Path) -> None:
    f = tmp_path / "flash-crowd.yaml"
    f.write_text(FLASH_CROWD)
    exp = simulator.load_experiment(f)
    kinds = [c.kind for s in exp.scenarios for c in s.autoscalers()]
    assert kinds == ["ticket", "hpa"]
    # The whole file runs (a shorter horizon and one replication keep the test fast).
    short = simulator.load_experiment(f, ["horizon=40m", "replications=1"])
    res = simulator.run(short)
    assert list(res.summary["scenario"]) == ["bare-metal", "kubernetes"]
    row = res.summary.iloc[1]
    assert row["scale_events"] > 0  # the HPA acted on the crowd
    assert (
        res.summary["arrived"]
        == res.summary["completed"]
        + res.summary["dropped"]
        + res.summary["timed_out"]
        + res.summary["in_flight"]
    ).all()
    assert [s.platform.kind for s in exp.scenarios] == ["physical", "container"]  # type: ignore[attr-defined]
    assert exp.scenarios[0].platform.initial == 6  # type: ignore[attr-defined]
    assert exp.scenarios[1].serving.queue_limit == 100


def test_bad_architecture_input_exits_2_naming_the_field(tmp_path: Path) -> None:
    base: dict[str, Any] = yaml.safe_load(FLASH_CROWD)
    for scenario in base["scenarios"]:
        scenario.pop("autoscaler")
    cases = {
        "unknown stage": ({"stages": {"polish": {"duration": "1s"}}}, "platform.stages.polish"),
        "negative duration": (
            {"lead_time": {"kind": "fixed", "value": "-2d"}},
            "platform.lead_time.value",
        ),
        "unknown resource": ({"resources": {"ops_staf": 2}}, "platform.resources.ops_staf"),
    }
    for name, (extra, path) in cases.items():
        doc = {**base, "scenarios": [{**base["scenarios"][0]}]}
        doc["scenarios"][0]["platform"] = {**doc["scenarios"][0]["platform"], **extra}
        f = tmp_path / f"{name.replace(' ', '-')}.yaml"
        f.write_text(yaml.safe_dump(doc))
        result = CliRunner().invoke(app, ["validate", str(f)])
        assert result.exit_code == 2, (name, result.output)
        assert f"scenarios[0].{path}" in result.output, (name, result.output)
        assert "Traceback" not in result.output
    doc = {
        **base,
        "scenarios": [{"name": "c", "platform": {"kind": "cloud", "instance_type": "z9"}}],
    }
    f = tmp_path / "type.yaml"
    f.write_text(yaml.safe_dump(doc))
    result = CliRunner().invoke(app, ["validate", str(f)])
    assert result.exit_code == 2
    assert "scenarios[0].platform.instance_type: 'z9' is not in the catalog" in result.output
