"""Guard rails: an event budget and a memory estimate, checked before and during a run.

A typo (``horizon: 10y`` for ``10d``, ``rate: 1e6/s`` for ``1e3/s``) or an
overloaded scenario with an unbounded queue must not fill the machine's
memory or run for days. Two settings, in the experiment's top-level
``limits:`` block, bound every run (one scenario × replication):

* ``max_events`` (default 1e9): SimPy events. Validation estimates a run's
  events from the workload (mean arrival rate × horizon × ``EVENTS_PER_REQUEST``)
  and refuses an experiment whose largest run is over budget, suggesting the
  fluid serving mode where it exists; while running, the time-series sampler
  stops a run whose event count passes the budget.
* ``max_memory`` (default 4 GiB): validation estimates the time-series tables
  (rows × ``BYTES_PER_ROW``) of every run; while running, the sampler
  estimates the live requests (queued or in service × ``BYTES_PER_LIVE_REQUEST``)
  plus the rows so far.

Random faults (``faults.events[].rate``) are drawn up front: validation refuses an
event whose expected count per run passes either budget, naming its ``rate``.

A run stopped by a limit raises ``LimitExceeded`` (one line naming the
setting); the CLI prints it and exits 2, writing nothing.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from pydantic import Field

from simulator.base import Config
from simulator.registry import cite
from simulator.units import Size

if TYPE_CHECKING:
    from simulator.platform import RunContext

__all__ = [
    "Limits",
    "LimitExceeded",
    "RunGuard",
    "estimate_run",
    "check_limits",
    "fault_occurrences",
    "EVENTS_PER_REQUEST",
    "BYTES_PER_LIVE_REQUEST",
    "BYTES_PER_ROW",
    "BYTES_PER_FAULT",
]

_FAMILY = "limits"
_MEASURED = "measured on this code base (tracemalloc; events per request: tests/test_limits.py)"

# SimPy events per request, an upper estimate: the arrival and the end of its service
# (measured 1.2-2.1 on the shipped experiments, depending on the engine's fast paths).
EVENTS_PER_REQUEST = cite(_FAMILY, "events per request", 2.0, "2", _MEASURED, "S")
# A queued Request (128 B, tracemalloc) plus its deque slot and heap entry.
BYTES_PER_LIVE_REQUEST = cite(_FAMILY, "bytes per live request", 160.0, "160 B", _MEASURED, "S")
# A time-series row: 15 float columns as Python floats in lists (480 B, tracemalloc) plus
# the DataFrame copy assembled from every run.
BYTES_PER_ROW = cite(_FAMILY, "bytes per time-series row", 600.0, "600 B", _MEASURED, "S")

# A fault time drawn up front: a Python float in a list (24 B + an 8 B slot).
BYTES_PER_FAULT = cite(_FAMILY, "bytes per fault time", 32.0, "32 B", _MEASURED, "S")

# At ~10^6 events/s per core, 1e9 events is about a quarter of an hour of one core: an
# exact-mode day at 5,000 requests/s (8.6e8 events) still runs, a 10-year run at 1e6/s
# (6e14) is refused by five orders of magnitude.
DEFAULT_MAX_EVENTS = cite(
    _FAMILY,
    "max_events",
    1e9,
    "1e9 events per run",
    "deploysim policy: minutes, not hours, per run",
    "U",
)
DEFAULT_MAX_MEMORY = cite(
    _FAMILY,
    "max_memory",
    4.0 * 2**30,
    "4 GiB",
    "deploysim policy: fits a laptop with room for the OS",
    "U",
)


class Limits(Config):
    """Budgets every run (scenario × replication) must stay within."""

    max_events: float = Field(
        default=DEFAULT_MAX_EVENTS,
        gt=0,
        description="simulated events per run (one scenario × replication); "
        "a run passing it stops with an error",
    )
    max_memory: Size = Field(
        default=DEFAULT_MAX_MEMORY,
        gt=0,
        description="estimated memory of one run's live requests and of the time series",
    )


class LimitExceeded(Exception):
    """A run passed a configured limit; the message is one line naming the setting."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        # Raised in pool workers: must survive pickling with its message.
        return (LimitExceeded, (self.message,))


def _fmt_bytes(n: float) -> str:
    for unit, size in (("TiB", 2.0**40), ("GiB", 2.0**30), ("MiB", 2.0**20), ("KiB", 2.0**10)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:.0f} B"


def _fluid(scenario: Any) -> bool:
    # ``serving.mode`` exists once the fluid mode does; read it defensively.
    return getattr(scenario.serving, "mode", "exact") == "fluid"


def _fluid_available() -> bool:
    from simulator.config import Serving

    return "mode" in Serving.model_fields


def estimate_run(experiment: Any, scenario_index: int) -> tuple[float, float]:
    """(expected events, expected time-series bytes) of one run of a scenario."""
    scenario = experiment.scenarios[scenario_index]
    horizon = float(experiment.horizon)
    rows = math.ceil(horizon / experiment.interval) + 1
    if _fluid(scenario):
        step = float(getattr(scenario.serving, "step", 1.0) or 1.0)
        events = horizon / step
    else:
        mean_rate = float(experiment.workload.arrivals.mean_rate(0.0, horizon))
        events = mean_rate * horizon * EVENTS_PER_REQUEST
    # Each random fault of this scenario is at least one event.
    mine = ("faults.", f"scenarios.{scenario_index}.")
    events += sum(n for path, n in fault_occurrences(experiment) if path.startswith(mine))
    return events + rows, rows * BYTES_PER_ROW


def fault_occurrences(experiment: Any) -> list[tuple[str, float]]:
    """(field path of the rate, expected targets hit per run) of every random fault event:
    ``rate`` × its window (``start`` to ``until`` or the horizon) × ``count``. Their times
    are drawn up front, so an absurd rate (``1e6/s`` for ``1/6h``) must be refused here."""
    horizon = float(experiment.horizon)
    blocks = [("faults", getattr(experiment, "faults", None))]
    blocks += [
        (f"scenarios.{i}.faults", getattr(s, "faults", None))
        for i, s in enumerate(experiment.scenarios)
    ]
    out: list[tuple[str, float]] = []
    for where, block in blocks:
        for j, event in enumerate(getattr(block, "events", None) or []):
            rate = getattr(event, "rate", None)
            if rate is None:
                continue
            until = event.until if event.until is not None else horizon
            window = max(0.0, min(until, horizon) - event.start)
            out.append((f"{where}.events.{j}.rate", rate * window * event.count))
    return out


def check_limits(experiment: Any) -> tuple[str, str] | None:
    """The first limit the experiment would pass, as (field path, message), or None."""
    limits: Limits = getattr(experiment, "limits", None) or Limits()
    for path, n in fault_occurrences(experiment):
        # Each fault is at least one event (more: the restart, the detection), and its
        # time is held in a list from the start of the run.
        over = None
        if n > limits.max_events:
            over = f"over limits.max_events {limits.max_events:.3g}"
        elif n * BYTES_PER_FAULT > limits.max_memory:
            over = (
                f"their times alone {_fmt_bytes(n * BYTES_PER_FAULT)}, over limits.max_memory "
                f"{_fmt_bytes(limits.max_memory)}"
            )
        if over is not None:
            return (
                path,
                f"about {n:.3g} faults per run ({over}): lower the rate (e.g. 1/6h), "
                "bound it with start/until, or raise the limit",
            )
    runs = len(experiment.scenarios) * experiment.replications
    worst_i, worst_events, series = 0, -1.0, 0.0
    for i in range(len(experiment.scenarios)):
        events, rows_bytes = estimate_run(experiment, i)
        series += rows_bytes * experiment.replications
        if events > worst_events:
            worst_i, worst_events = i, events
    if worst_events > limits.max_events:
        scenario = experiment.scenarios[worst_i]
        hint = "shorten the horizon"
        if _fluid_available() and not _fluid(scenario):
            hint = (
                f"use the fluid mode for it (serving: {{mode: fluid}}, "
                f"--set scenarios.{scenario.name}.serving.mode=fluid) or shorten the horizon"
            )
        return (
            "limits.max_events",
            f"scenario {scenario.name!r} would simulate about {worst_events:.3g} events per run "
            f"(budget {limits.max_events:.3g}): {hint}, or raise limits.max_events",
        )
    if series > limits.max_memory:
        return (
            "limits.max_memory",
            f"the time series of the {runs} runs would take about {_fmt_bytes(series)} "
            f"(budget {_fmt_bytes(limits.max_memory)}): raise sample_interval, shorten the "
            "horizon, or raise limits.max_memory",
        )
    return None


class RunGuard:
    """Checks a running simulation against the limits (called at every time-series row)."""

    __slots__ = ("ctx", "limits")

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.limits: Limits = getattr(ctx.experiment, "limits", None) or Limits()

    def events(self) -> int:
        """Events scheduled so far: SimPy numbers every event from one counter."""
        counter = self.ctx.env._eid  # noqa: SLF001
        # repr(itertools.count(n)) is "count(n)": read it without advancing the counter.
        return int(repr(counter)[6:-1])

    def live_requests(self) -> int:
        """Requests held in memory: waiting in a queue, or in service (heap entries)."""
        queued = sum(len(inst.queue) for inst in self.ctx.cluster.instances)
        return queued + len(self.ctx.env._queue)  # noqa: SLF001

    def check(self, now: float, rows: int) -> None:
        """Raise ``LimitExceeded`` when the run has passed a limit."""
        ctx, limits = self.ctx, self.limits
        where = (
            f"scenario {ctx.scenario.name!r} replication {ctx.replication} at "
            f"t = {now:g} s of {ctx.experiment.horizon:g} s"
        )
        events = self.events()
        if events > limits.max_events:
            raise LimitExceeded(
                f"limits.max_events: run stopped, {where}: it passed {limits.max_events:.3g} "
                "events; raise limits.max_events (--set limits.max_events=...), shorten the "
                "horizon, or use the fluid serving mode"
            )
        live = self.live_requests()
        memory = live * BYTES_PER_LIVE_REQUEST + rows * BYTES_PER_ROW
        if memory > limits.max_memory:
            raise LimitExceeded(
                f"limits.max_memory: run stopped, {where}: {live} requests waiting or in "
                f"service need about {_fmt_bytes(memory)} (budget "
                f"{_fmt_bytes(limits.max_memory)}); bound the queue (serving.queue_limit), "
                "add capacity, or raise limits.max_memory"
            )
