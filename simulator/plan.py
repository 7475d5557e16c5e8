"""Capacity search: the smallest value of one parameter that meets every SLO.

``deploysim plan EXP --scenario NAME --slo "p99<300ms" --vary path=LO..HI``
runs only the named scenario, with R replications per evaluated value, and
searches ``[LO, HI]`` by bracketing then bisection.

**When a value meets the SLOs.** For each SLO ``metric < threshold`` the
one-sided upper confidence bound of the metric's mean across replications,
``mean + t(γ, R−1)·sd/√R`` (γ the confidence, default 95 %), must be below the
threshold; for ``metric > threshold`` the lower bound ``mean − t·sd/√R`` must be
above it. Every SLO must hold. So "meets" claims, at confidence γ per SLO, that
the long-run mean of each per-replication statistic (e.g. the p99 of one run)
is on the right side. One replication gives no bound: use R ≥ 2.

**Search.** Meeting is assumed monotone in the parameter (more capacity never
hurts). From a start value (the analytic estimate when there is one, else LO)
the search steps up (or down) by 1, 2, 4, … (integers) or by (HI − LO)/8 × 1, 2,
4, … (reals) until it has a failing value below a meeting one, then bisects:
integers to the exact smallest meeting integer, reals until the bracket is at
most ``tolerance`` wide, answering its upper end (a value known to meet).
Every replication uses the same seed streams at every value (common random
numbers), which keeps the comparison between neighbouring values sharp.

**Analytic estimate.** When the varied path is a scenario's instance count
(``platform.instances`` / ``platform.initial`` / ``autoscaler.min``) or
``serving.workers``, the
scenario is approximated as M/M/c: λ = the workload's peak rate (largest mean
rate over 1/1000 of the horizon after the warm-up), 1/μ = the mean service
time / speed, c = instances × workers. The estimate is the smallest c whose
exact M/M/c response-time quantiles and mean meet the latency SLOs
(``simulator.queueing.mmc_min_servers``), converted back to the parameter
(rounded up). Drop, cost and attainment SLOs are not part of it.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from simulator.config import METRIC_ALIASES, Experiment
from simulator.results import Progress, folder_mode, replace_folder, run, summary_ci
from simulator.stats import one_sided_bound
from simulator.units import UnitError, parse_duration, parse_fraction, parse_money

__all__ = [
    "SLOTarget",
    "Vary",
    "PlanResult",
    "parse_slo",
    "parse_vary",
    "search",
    "analytic_estimate",
    "evaluate",
    "plan",
    "UNSERVED",
    "UnknownMetric",
    "varies_scenario",
    "write_plan",
]

# Share of finished requests not served (dropped or timed out), as ``slo.dropped``.
UNSERVED = "unserved_fraction"

_LATENCY = {k: v for k, v in METRIC_ALIASES.items() if v.startswith("latency_")}
_SLO = re.compile(r"^\s*([A-Za-z][A-Za-z0-9_]*)\s*(<=|>=|<|>)\s*(\S.*?)\s*$")


@dataclass(frozen=True)
class SLOTarget:
    """One SLO: ``metric`` (a summary column) ``op`` ``threshold`` (base units)."""

    metric: str
    op: str  # "<" or ">"
    threshold: float
    text: str

    def as_dict(self) -> dict[str, Any]:
        """The plan.json form."""
        return {
            "metric": self.metric,
            "op": self.op,
            "threshold": self.threshold,
            "text": self.text,
        }


def parse_slo(text: str) -> SLOTarget:
    """Parse ``p99<300ms``, ``mean<0.5s``, ``dropped<0.1%``, ``cost<$40``,
    ``attainment>99%`` or ``COLUMN<number``; ``ValueError`` naming what was expected.

    Latency names: mean, p50, p90, p95, p99, p999 (a duration with a unit).
    ``dropped`` is the share of finished requests dropped or timed out (a fraction).
    ``<=``/``>=`` are accepted and mean the same as ``<``/``>``.
    """
    m = _SLO.match(text)
    if not m:
        raise ValueError(f"{text!r}: expected METRIC<VALUE or METRIC>VALUE, e.g. p99<300ms")
    name, op, raw = m.group(1), m.group(2)[0], m.group(3)
    try:
        if name in _LATENCY:
            metric, value = _LATENCY[name], parse_duration(raw)
        elif name == "dropped":
            metric, value = UNSERVED, parse_fraction(raw)
        elif name == "attainment":
            metric, value = "slo_attainment", parse_fraction(raw)
        elif name == "cost":
            metric, value = "cost_usd", parse_money(raw)
        elif name in METRIC_ALIASES.values() or name == UNSERVED or "_" in name:
            metric, value = name, float(raw)
        else:
            known = ", ".join([*METRIC_ALIASES, "or a summary column"])
            raise ValueError(f"{text!r}: unknown metric {name!r} (known: {known})")
    except (UnitError, ValueError) as exc:
        msg = str(exc)
        raise ValueError(msg if msg.startswith(repr(text)) else f"{text!r}: {msg}") from None
    if not math.isfinite(value):
        raise ValueError(f"{text!r}: the threshold must be a finite number")
    return SLOTarget(metric, op, value, text)


@dataclass(frozen=True)
class Vary:
    """The searched parameter: a config path and its range; integer if both ends are."""

    path: str
    lo: float
    hi: float
    integer: bool


def parse_vary(text: str) -> Vary:
    """Parse ``path=LO..HI`` (``scenarios.web.platform.instances=1..40``)."""
    path, sep, rng = text.partition("=")
    lo_s, dots, hi_s = rng.partition("..")
    if not sep or not path.strip() or not dots:
        raise ValueError(
            f"{text!r}: expected path=LO..HI, e.g. scenarios.web.platform.initial=1..40"
        )
    try:
        lo, hi = float(lo_s), float(hi_s)
    except ValueError:
        raise ValueError(f"{text!r}: LO and HI must be numbers") from None
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo >= hi:
        raise ValueError(f"{text!r}: need finite LO < HI")
    integer = _is_int(lo_s) and _is_int(hi_s)
    return Vary(path.strip(), lo, hi, integer)


def _is_int(s: str) -> bool:
    return re.fullmatch(r"\s*[+-]?\d+\s*", s) is not None


# -- search -----------------------------------------------------------------------------------


def search(
    meets: Callable[[float], bool],
    lo: float,
    hi: float,
    *,
    integer: bool,
    tolerance: float | None = None,
    start: float | None = None,
) -> tuple[float | None, list[float]]:
    """The smallest value in [lo, hi] for which ``meets`` holds (assumed monotone), and the
    values evaluated in order. ``None`` when ``hi`` fails. Bracketing from ``start`` (default
    ``lo``) by steps 1, 2, 4, … (integers) or (hi − lo)/8 × 1, 2, 4, … (reals), then
    bisection: exact for integers, to ``tolerance`` for reals (default (hi − lo)/1000)."""
    tol = 1.0 if integer else (tolerance if tolerance is not None else (hi - lo) / 1000.0)
    base: float = 1 if integer else (hi - lo) / 8.0
    if integer:
        lo, hi = int(lo), int(hi)
    cache: dict[float, bool] = {}
    order: list[float] = []

    def check(x: float) -> bool:
        if x not in cache:
            cache[x] = meets(x)
            order.append(x)
        return cache[x]

    x = lo if start is None else min(hi, max(lo, round(start) if integer else start))
    fail: float | None = None  # largest value known to fail
    ok: float | None = None  # smallest value known to meet
    step = base
    if check(x):
        ok = x
        while ok > lo:
            y = max(lo, ok - step)
            if check(y):
                ok = y
                step *= 2
            else:
                fail = y
                break
        if fail is None:
            return ok, order  # lo itself meets
    else:
        fail = x
        while fail < hi:
            y = min(hi, fail + step)
            if check(y):
                ok = y
                break
            fail = y
            step *= 2
        if ok is None:
            return None, order  # even hi fails
    assert fail is not None and ok is not None
    while ok - fail > tol * (1 + 1e-9):
        mid = math.floor((fail + ok) / 2) if integer else (fail + ok) / 2
        if not fail < mid < ok:
            break  # adjacent integers, or floats too close to halve (a tolerance of 0)
        if check(mid):
            ok = mid
        else:
            fail = mid
    return ok, order


# -- the analytic start -----------------------------------------------------------------------

# Paths whose value is a count of instances (or of workers per instance); an
# autoscaler's ``min`` holds the fleet at that count when its target is never exceeded.
_CAPACITY_FIELDS = ("platform.instances", "platform.initial", "autoscaler.min", "serving.workers")


def analytic_estimate(
    experiment: Experiment, scenario: str, path: str, slos: list[SLOTarget]
) -> tuple[float | None, str | None]:
    """The M/M/c estimate of the parameter at ``path`` (see the module doc) and how it was
    made, or ``(None, None)`` when the path is not a capacity or no latency SLO is given."""
    from simulator.queueing import mmc_min_servers

    # ``autoscaler[0].min`` / ``autoscaler.0.min`` name one of several control loops.
    plain = re.sub(r"(\.autoscaler)(\[\d+\]|\.\d+)(?=\.min$)", r"\1", path)
    field_ = next((f for f in _CAPACITY_FIELDS if plain.endswith("." + f)), None)
    if field_ is None:
        return None, None
    quantiles: dict[float, float] = {}
    mean: float | None = None
    for s in slos:
        if s.op != "<" or not s.metric.startswith("latency_"):
            continue
        if s.metric == "latency_mean_s":
            mean = s.threshold if mean is None else min(mean, s.threshold)
        elif s.metric in _QUANTILE:  # not latency_max_s, nor a column that does not exist
            q = _QUANTILE[s.metric]
            quantiles[q] = min(quantiles.get(q, math.inf), s.threshold)
    if not quantiles and mean is None:
        return None, None
    sc = experiment.scenario(scenario)
    wl = experiment.workload
    if wl.classes:
        total = sum(c.weight for c in wl.classes)
        es = sum(c.weight * (c.service_time or wl.service_time).mean_s for c in wl.classes)
        es /= total
    else:
        es = wl.service_time.mean_s
    es /= sc.serving.speed
    lam = _peak_rate(experiment)
    if es <= 0 or lam <= 0:
        return None, None
    c = mmc_min_servers(lam, 1.0 / es, quantiles, mean)
    if c is None:
        return None, "M/M/c: no server count meets the latency SLOs"
    instances = getattr(sc.platform, "instances", getattr(sc.platform, "initial", None))
    if not isinstance(instances, int):
        return None, None
    if field_ == "serving.workers":
        value = math.ceil(c / instances)
    else:
        value = math.ceil(c / sc.serving.workers)
    method = (
        f"M/M/c (Erlang C): λ = {lam:g}/s peak, E[S] = {es * 1000:g} ms, "
        f"smallest c = {c} servers meeting the latency SLOs"
    )
    return float(value), method


_QUANTILE = {
    "latency_p50_s": 0.5,
    "latency_p90_s": 0.9,
    "latency_p95_s": 0.95,
    "latency_p99_s": 0.99,
    "latency_p999_s": 0.999,
}


def _peak_rate(experiment: Experiment) -> float:
    arrivals = experiment.workload.arrivals
    t0, t1 = experiment.warmup, experiment.horizon
    dt = (t1 - t0) / 1000.0
    return max(arrivals.mean_rate(t0 + k * dt, t0 + (k + 1) * dt) for k in range(1000))


def varies_scenario(low: Experiment, high: Experiment, scenario: str) -> bool:
    """Whether ``low`` and ``high`` (the experiment at both ends of ``--vary``) differ in
    what a plan of ``scenario`` runs: the experiment with only that scenario. A path into
    another scenario changes nothing the plan measures."""

    def only(exp: Experiment) -> dict[str, Any]:
        single = exp.model_copy(update={"scenarios": [exp.scenario(scenario)]})
        return single.model_dump(mode="json")

    return only(low) != only(high)


# -- evaluating a value -----------------------------------------------------------------------


def with_unserved(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary with ``unserved_fraction`` = (dropped + timed_out) / (completed + dropped
    + timed_out) per replication (NaN when nothing finished)."""
    out = summary.copy()
    lost = out["dropped"] + out["timed_out"]
    finished = out["completed"] + lost
    out[UNSERVED] = (lost / finished.where(finished > 0)).astype(float)
    return out


class UnknownMetric(KeyError):
    """An SLO names a column the summary does not have (``args``: the metric, the numeric
    columns it does have). Its own class, so a ``KeyError`` from inside a run is not
    mistaken for bad input."""


def judge(summary: pd.DataFrame, slos: list[SLOTarget], confidence: float) -> bool:
    """Whether the replications in ``summary`` meet every SLO at ``confidence`` (module doc)."""
    for s in slos:
        if s.metric not in summary.columns:
            have = [
                str(c)
                for c in summary.columns
                if c not in ("scenario", "replication", "seed")
                and pd.api.types.is_numeric_dtype(summary[c])
                and not pd.api.types.is_bool_dtype(summary[c])
            ]
            raise UnknownMetric(s.metric, have)
        values = [float(v) for v in summary[s.metric]]
        if any(math.isnan(v) for v in values):
            return False  # e.g. no request completed: no latency to vouch for
        bound = one_sided_bound(values, confidence, upper=s.op == "<")
        if not (bound < s.threshold if s.op == "<" else bound > s.threshold):
            return False
    return True


def evaluate(
    experiment: Experiment,
    slos: list[SLOTarget],
    confidence: float,
    *,
    replications: int,
    workers: int = 1,
    progress: Progress | None = None,
) -> tuple[bool, pd.DataFrame]:
    """Run ``experiment`` (one scenario) R times; whether it meets the SLOs, and the
    summary rows (with ``unserved_fraction``)."""
    results = run(experiment, replications=replications, workers=workers, progress=progress)
    summary = with_unserved(results.summary)
    return judge(summary, slos, confidence), summary


@dataclass
class PlanResult:
    """What ``plan`` found: the answer, the analytic estimate, and one row per value tried."""

    info: dict[str, Any]
    table: pd.DataFrame
    steps: list[tuple[float, bool]] = field(default_factory=list)


def plan(
    load: Callable[[str], Experiment],
    scenario: str,
    vary: Vary,
    slos: list[SLOTarget],
    *,
    replications: int,
    confidence: float = 0.95,
    tolerance: float | None = None,
    workers: int = 1,
    on_step: Callable[[int, float], None] | None = None,
    progress: Progress | None = None,
) -> PlanResult:
    """Search ``vary``'s range for the smallest value meeting ``slos`` in ``scenario``.

    ``load(value_text)`` returns the experiment with the parameter set to that value
    (the caller applies it as a ``--set`` override, so it is validated like the file);
    only ``scenario`` is run. ``on_step(step, value)`` is called before each evaluation.
    """
    first = load(_fmt(vary.lo if not vary.integer else int(vary.lo), vary.integer))
    analytic, method = analytic_estimate(first, scenario, vary.path, slos)
    rows: list[dict[str, Any]] = []
    steps: list[tuple[float, bool]] = []

    def meets(value: float) -> bool:
        if on_step is not None:
            on_step(len(rows) + 1, value)
        exp = load(_fmt(value, vary.integer))
        exp = exp.model_copy(update={"scenarios": [exp.scenario(scenario)]})
        ok, summary = evaluate(
            exp, slos, confidence, replications=replications, workers=workers, progress=progress
        )
        ci = summary_ci(summary).drop(columns=["scenario", "replications"])
        row: dict[str, Any] = {
            "step": len(rows) + 1,
            "value": int(value) if vary.integer else value,
            "replications": replications,
            "meets": ok,
        }
        row.update({str(k): v for k, v in ci.iloc[0].items()})
        # The one-sided bound each SLO was judged by (the report draws it beside the
        # two-sided 95 % band, which is for reading, not for the verdict).
        for slo in slos:
            if slo.metric in summary.columns:
                values = [float(v) for v in summary[slo.metric]]
                row[f"{slo.metric}_bound"] = one_sided_bound(
                    values, confidence, upper=slo.op == "<"
                )
        rows.append(row)
        steps.append((value, ok))
        return ok

    start = analytic if analytic is not None else None
    answer, _ = search(
        meets, vary.lo, vary.hi, integer=vary.integer, tolerance=tolerance, start=start
    )
    table = pd.DataFrame(rows)
    info = {
        "experiment": first.name,
        "scenario": scenario,
        "parameter": vary.path,
        "slos": [s.as_dict() for s in slos],
        "confidence": confidence,
        "answer": (int(answer) if vary.integer else answer) if answer is not None else None,
        "analytic": (int(analytic) if vary.integer else analytic) if analytic is not None else None,
        "analytic_method": method,
        "runs": len(rows) * replications,
        "range": [vary.lo, vary.hi],
        "integer": vary.integer,
        "tolerance": None if vary.integer else (tolerance or (vary.hi - vary.lo) / 1000.0),
        "replications": replications,
        "seed": first.seed,
    }
    return PlanResult(info, table, steps)


def _fmt(value: float, integer: bool) -> str:
    return str(int(value)) if integer else repr(float(value))


def write_plan(result: PlanResult, out_dir: Path, *, with_report: bool = True) -> Path:
    """Write ``plan.csv``, ``plan.json`` and ``report.html`` atomically (temp sibling, rename)."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    os.chmod(tmp, folder_mode())  # mkdtemp makes it private; the output is not
    try:
        result.table.to_csv(tmp / "plan.csv", index=False)
        (tmp / "plan.json").write_text(json.dumps(result.info, indent=2) + "\n")
        if with_report:
            _write_report(tmp / "report.html", result)
        # A plan writes files only; subfolders of what it replaces are other outputs (an
        # --out naming the experiment's folder holds its sweep/ and plan-*/): kept.
        replace_folder(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def _write_report(path: Path, result: PlanResult) -> None:
    try:
        from reports.sweep import write_plan_report  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        # The plan report module is not there yet: a minimal page with the table.
        import html

        table = result.table.to_html(index=False, float_format=lambda v: f"{v:.6g}")
        path.write_text(
            "<!doctype html><meta charset='utf-8'><title>plan</title>"
            f"<h1>{html.escape(str(result.info['experiment']))}: plan "
            f"{html.escape(str(result.info['scenario']))}</h1>"
            f"<pre>{html.escape(json.dumps(result.info, indent=2))}</pre>{table}\n"
        )
        return
    write_plan_report(path, result.table, result.info)
