"""A sweep on a Dask cluster (``--scheduler``) writes the same ``sweep.csv`` as a local one.

The cluster is a ``distributed.LocalCluster`` on the loopback interface with two
workers; the CLI connects to it over TCP like it would to a remote scheduler.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from simulator.sweep import connect_scheduler, plan_sweep, run_sweep

distributed = pytest.importorskip("distributed")

REPO = Path(__file__).resolve().parents[1]
MMC = """\
name: mmc-dask
seed: 5
horizon: 60s
replications: 2
workload:
  arrivals: {kind: constant, rate: 4/s}
  service_time: {kind: exponential, mean: 1s}
scenarios:
  - name: one-big
    platform: {kind: fixed, instances: 1}
    serving: {workers: 6}
  - name: two-small
    platform: {kind: fixed, instances: 2}
    serving: {workers: 3}
"""


def write_exp(tmp: Path) -> Path:
    path = tmp / "mmc.yaml"
    path.write_text(MMC)
    return path


def _cluster(processes: bool) -> Any:
    return distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=processes,
        host="127.0.0.1",
        protocol="tcp://",
        dashboard_address=":0",
    )


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    with _cluster(processes=False) as c:
        yield c


def test_dask_and_local_sweeps_write_identical_tables(tmp_path: Path, cluster: Any) -> None:
    exp = write_exp(tmp_path)
    sw = plan_sweep(exp, grid=["seed=1,2", "scenarios.two-small.platform.instances=1,2"])
    run_sweep(sw, tmp_path / "local", workers=2)
    client = connect_scheduler(cluster.scheduler_address)
    try:
        got = run_sweep(sw, tmp_path / "dask", client=client)
    finally:
        client.close()
    assert len(got.computed) == 4 and not got.failed
    local = (tmp_path / "local" / "sweep.csv").read_bytes()
    assert (tmp_path / "dask" / "sweep.csv").read_bytes() == local
    for point in sw.points:
        a = pd.read_parquet(tmp_path / "local" / point.id / "timeseries.parquet")
        b = pd.read_parquet(tmp_path / "dask" / point.id / "timeseries.parquet")
        assert a.equals(b)


def test_cli_scheduler_flag_runs_on_the_cluster(tmp_path: Path, cluster: Any) -> None:
    exp = write_exp(tmp_path)
    args = ["sweep", str(exp), "--grid", "seed=3,4", "--no-report", "-q"]
    dask_run = subprocess.run(
        [sys.executable, "-m", "simulator", *args, "--out", str(tmp_path / "dask")]
        + ["--scheduler", cluster.scheduler_address],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert dask_run.returncode == 0, dask_run.stderr
    # The runs went through the cluster's scheduler.
    assert "run_task" in cluster.scheduler.task_prefixes
    run_sweep(plan_sweep(exp, grid=["seed=3,4"]), tmp_path / "local", workers=1)
    assert (tmp_path / "dask" / "sweep.csv").read_bytes() == (
        tmp_path / "local" / "sweep.csv"
    ).read_bytes()


@pytest.mark.slow
def test_process_workers_give_the_same_table(tmp_path: Path) -> None:
    exp = write_exp(tmp_path)
    sw = plan_sweep(exp, grid=["seed=1,2"])
    run_sweep(sw, tmp_path / "local", workers=1)
    with _cluster(processes=True) as c, distributed.Client(c) as client:
        run_sweep(sw, tmp_path / "dask", client=client)
    assert (tmp_path / "dask" / "sweep.csv").read_bytes() == (
        tmp_path / "local" / "sweep.csv"
    ).read_bytes()
