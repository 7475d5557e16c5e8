"""A short plain-language comparison of the scenarios, written from the summary table.

The text answers what a reader of an architecture comparison asks first: which scenario
reached its target capacity first and by how much, how often it scaled and how far, what
that cost, how many bytes its image pulls moved, who lost requests, and who met the latency
objective. It is built from means over replications with fixed wording,
so equal tables give equal text. A clause whose numbers are missing (a column absent from an
older table, or NaN) is left out rather than guessed.

The result is plain text; the page escapes it like every other user-supplied string.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from reports.figures import _ordered, as_float, require_columns
from reports.formatting import format_bytes, format_share, format_usd, humanize_duration

__all__ = ["comparison_text"]

_TARGET = "time_to_target_capacity_s"
_FIRST = "time_to_first_ready_s"
_PER_MILLION = "cost_per_million_requests_usd"
_EVENTS = "scale_events"
_PEAK = "max_instances"
_BYTES = "bytes_pulled"
_COLUMNS: tuple[str, ...] = (
    _TARGET,
    _FIRST,
    _PER_MILLION,
    _EVENTS,
    _PEAK,
    _BYTES,
    "cost_usd",
    "arrived",
    "dropped",
    "timed_out",
    "latency_p99_s",
    "slo_met",
    "failed_requests",
    "time_to_recover_s",
    "faults_injected",
    "faults_unrecovered",
)
# Scenarios that lose less than this share of requests are not named in the text.
_LOSS_THRESHOLD = 0.01


@dataclass(frozen=True, eq=False)
class _Scenario:
    """Means over one scenario's replications, and how many replications each mean used."""

    name: str
    runs: int
    means: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def get(self, column: str) -> float:
        return self.means.get(column, math.nan)


def _scenarios(summary: pd.DataFrame, order: Sequence[str] | None) -> list[_Scenario]:
    df = summary.assign(scenario=summary["scenario"].astype(str))
    out: list[_Scenario] = []
    for name in _ordered(order, df):
        group = df[df["scenario"] == name]
        if group.empty:
            continue
        means: dict[str, float] = {}
        counts: dict[str, int] = {}
        for column in _COLUMNS:
            if column in group.columns:
                values = as_float(group[column]).to_numpy()
                values = values[np.isfinite(values)]
                counts[column] = int(values.size)
                means[column] = float(values.mean()) if values.size else math.nan
        out.append(_Scenario(name, len(group), means, counts))
    return out


def _join(items: Sequence[str]) -> str:
    """ "a", "a and b", "a, b and c"."""
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _partial(s: _Scenario, column: str) -> str:
    """ "in 2 of 3 replications" when a mean covers only some replications, else ""."""
    k = s.counts.get(column, 0)
    return f"in {k} of {s.runs} replications" if 0 < k < s.runs else ""


def _capacity(rows: list[_Scenario], columns: set[str]) -> tuple[_Scenario | None, list[str]]:
    """Who reached capacity first and by how much; who did not. Returns (winner, sentences)."""
    if _TARGET in columns:
        key, verb = _TARGET, "reached its target capacity"
    elif _FIRST in columns:
        key, verb = _FIRST, "had its first new instance ready"
    else:
        return None, []
    reached = sorted((s for s in rows if math.isfinite(s.get(key))), key=lambda s: s.get(key))
    sentences: list[str] = []
    winner = reached[0] if reached else None
    if winner is not None:
        best = winner.get(key)
        note = _partial(winner, key)
        when = f"{humanize_duration(best)} after the scale-out request"
        when += f" ({note})" if note else ""
        first = " first," if len(rows) > 1 else ""
        text = f"{winner.name} {verb}{first} {when}"
        clauses: list[str] = []
        for other in reached[1:]:
            t = other.get(key)
            if t <= best:
                clauses.append(f"as fast as {other.name}")
                continue
            detail = ", ".join(x for x in (humanize_duration(t), _partial(other, key)) if x)
            clauses.append(f"{humanize_duration(t - best)} sooner than {other.name} ({detail})")
        if clauses:
            text += " — " + _join(clauses)
        sentences.append(text + ".")
    idle: list[str] = []
    never: list[str] = []
    for s in rows:
        if math.isfinite(s.get(key)):
            continue
        if key == _TARGET and math.isfinite(s.get(_FIRST)):
            first_ready = humanize_duration(s.get(_FIRST))
            never.append(
                f"{s.name} never reached its target capacity "
                f"(its first new instance was ready after {first_ready})"
            )
        elif key == _TARGET and _FIRST not in columns:
            never.append(f"{s.name} never reached its target capacity")
        else:
            idle.append(s.name)
    clauses = []
    if idle:
        # NaN covers both "never asked for more" and "asked, but nothing arrived in time".
        why = "no new instance was ready by the end of the run"
        if len(idle) == len(rows) and len(rows) > 1:
            clauses.append(f"No scenario scaled ({why})")
        else:
            clauses.append(f"{_join(idle)} did not scale ({why})")
    clauses += never
    if clauses:
        sentences.append("; ".join(clauses) + ".")
    return winner, sentences


def _number(value: float) -> str:
    """A mean count: whole numbers as such ("12"), others with one decimal ("11.5")."""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def _scaling(rows: list[_Scenario], columns: set[str]) -> str:
    """How many scale events each scenario had per run, and its peak instance count.

    Left out when every scenario had no scale event (the capacity sentence already says
    nobody scaled); a scenario whose count is missing is not named.
    """
    has_events = _EVENTS in columns and any(math.isfinite(s.get(_EVENTS)) for s in rows)
    has_peak = _PEAK in columns and any(math.isfinite(s.get(_PEAK)) for s in rows)
    if has_events:
        if not any(s.get(_EVENTS) > 0 for s in rows):
            return ""
        items = []
        for s in rows:
            events, peak = s.get(_EVENTS), s.get(_PEAK)
            if not math.isfinite(events):
                continue
            item = f"{s.name} {_number(events)}"
            if math.isfinite(peak):
                item += f" (peak {_number(peak)} instance{'' if peak == 1 else 's'})"
            items.append(item)
        return f"Scale events per run: {_join(items)}."
    if has_peak:
        items = [f"{s.name} {_number(s.get(_PEAK))}" for s in rows if math.isfinite(s.get(_PEAK))]
        return f"Peak instances per run: {_join(items)}."
    return ""


def _pulled(rows: list[_Scenario], columns: set[str]) -> str:
    """Bytes the image pulls moved per run; left out when nothing was pulled anywhere."""
    if _BYTES not in columns:
        return ""
    known = [s for s in rows if math.isfinite(s.get(_BYTES))]
    if not any(s.get(_BYTES) > 0 for s in known):
        return ""
    items = [f"{s.name} {format_bytes(s.get(_BYTES))}" for s in known]
    return f"Image pulls moved per run: {_join(items)}."


def _cost(rows: list[_Scenario], columns: set[str], winner: _Scenario | None) -> str:
    """What the fastest scenario (else the cheapest) cost, against the others."""
    key, phrase = "", ""
    for column, words in ((_PER_MILLION, "per million requests"), ("cost_usd", "in total")):
        if column in columns and any(math.isfinite(s.get(column)) for s in rows):
            key, phrase = column, words
            break
    if not key:
        return ""
    priced = [s for s in rows if math.isfinite(s.get(key))]

    def usd(s: _Scenario) -> str:
        return format_usd(s.get(key))

    subject = winner if any(s is winner for s in priced) else None
    if subject is None:
        subject = min(priced, key=lambda s: s.get(key))
        others = [s for s in priced if s is not subject]
        if not others:
            return f"{subject.name} cost {usd(subject)} {phrase}."
        top = max(others, key=lambda s: s.get(key))
        text = f"{subject.name} was the cheapest at {usd(subject)} {phrase}, "
        text += f"vs {usd(top)} for {top.name}"
        return text + (" (the most expensive)." if len(others) > 1 else ".")
    text = f"{subject.name} cost {usd(subject)} {phrase}"
    others = [s for s in priced if s is not subject]
    if len(others) == 1:
        text += f", vs {usd(others[0])} for {others[0].name}"
    elif others:
        value = subject.get(key)
        low = min(others, key=lambda s: s.get(key))
        high = max(others, key=lambda s: s.get(key))
        if value == low.get(key) == high.get(key):
            text += ", the same as every other scenario"
        elif value <= low.get(key):
            text += f", the least of all, vs {usd(high)} for {high.name}"
        elif value >= high.get(key):
            text += f", the most of all, vs {usd(low)} for {low.name}"
        else:
            text += (
                f", vs {usd(low)} for {low.name} (the cheapest) "
                f"and {usd(high)} for {high.name} (the most expensive)"
            )
    return text + "."


def _faults(rows: list[_Scenario], columns: set[str]) -> str:
    """Who lost the fewest requests to injected faults, and who recovered fastest.

    Only scenarios that had faults take part, and only when there are two to compare. A
    scenario with a fault unrecovered at the end of a run is named as such instead of
    competing on recovery time: its mean covers only the faults that did recover.
    """
    need = {"faults_injected", "failed_requests", "time_to_recover_s", "faults_unrecovered"}
    if not need <= columns:
        return ""
    hit = [s for s in rows if s.get("faults_injected") > 0]
    if len(hit) < 2:
        return ""
    parts: list[str] = []
    counted = [s for s in hit if math.isfinite(s.get("failed_requests"))]
    if len(counted) >= 2:
        low = min(s.get("failed_requests") for s in counted)
        high = max(s.get("failed_requests") for s in counted)
        fewest = [s.name for s in counted if s.get("failed_requests") == low]
        text = f"injected faults cost {_join(fewest)} the fewest requests ({low:,.0f} per run"
        if high > low:
            most = [s.name for s in counted if s.get("failed_requests") == high]
            text += f"; {_join(most)} the most, {high:,.0f}"
        parts.append(text + ")")
    whole = [
        s
        for s in hit
        if s.get("faults_unrecovered") == 0 and math.isfinite(s.get("time_to_recover_s"))
    ]
    if whole:
        best = min(s.get("time_to_recover_s") for s in whole)
        fastest = [s.name for s in whole if s.get("time_to_recover_s") == best]
        parts.append(
            f"{_join(fastest)} recovered fastest ({humanize_duration(best)} on average)"
            if len(whole) > 1
            else f"only {_join(fastest)} recovered from every fault "
            f"({humanize_duration(best)} on average)"
        )
    left = [s.name for s in hit if s.get("faults_unrecovered") > 0]
    if left:
        parts.append(f"{_join(left)} had faults not recovered by the end of a run")
    if not parts:
        return ""
    text = "; ".join(parts) + "."
    # Capitalise our own words only: a scenario name is written as the user spelled it.
    return text[0].upper() + text[1:] if text.startswith(("injected", "only")) else text


def _losses(rows: list[_Scenario], columns: set[str]) -> str:
    """Which scenarios dropped or timed out at least 1 % of the requests that arrived."""
    if not {"arrived", "dropped"} <= columns:
        return ""
    with_timeouts = "timed_out" in columns
    shares: list[tuple[_Scenario, float, float]] = []
    for s in rows:
        arrived, dropped = s.get("arrived"), s.get("dropped")
        if not (math.isfinite(arrived) and arrived > 0 and math.isfinite(dropped)):
            continue
        timed_out = s.get("timed_out")
        late = timed_out / arrived if math.isfinite(timed_out) else 0.0
        shares.append((s, dropped / arrived, late))
    if not shares:
        return ""
    lossy = sorted(
        (x for x in shares if x[1] + x[2] >= _LOSS_THRESHOLD), key=lambda x: -(x[1] + x[2])
    )
    what = "dropped or timed out" if with_timeouts else "dropped"
    if not lossy:
        if len(shares) == 1:
            return f"{shares[0][0].name} {what} less than 1 % of requests."
        return f"No scenario {what} more than 1 % of requests."
    clauses = []
    for s, dropped, late in lossy:
        parts = [f"dropped {format_share(dropped)}"] if dropped > 0 else []
        parts += [f"timed out {format_share(late)}"] if late > 0 else []
        clauses.append(f"{s.name} {' and '.join(parts)} of requests")
    return "; ".join(clauses) + "."


def _slo(rows: list[_Scenario], columns: set[str]) -> str:
    """Who met the latency SLO in how many replications, and the spread of p99 latency."""
    met_text = ""
    judged = [s for s in rows if "slo_met" in columns and s.counts.get("slo_met", 0) > 0]
    if judged:
        tally = [
            (s, round(s.get("slo_met") * s.counts["slo_met"]), s.counts["slo_met"]) for s in judged
        ]
        single = len(judged) == 1
        if all(k == n for _, k, n in tally):
            who = judged[0].name if single else "Every scenario"
            met_text = f"{who} met the latency SLO in every replication"
        elif all(k == 0 for _, k, _ in tally):
            met_text = (
                f"{judged[0].name} did not meet the latency SLO in any replication"
                if single
                else "No scenario met the latency SLO in any replication"
            )
        else:
            always = [s.name for s, k, n in tally if k == n]
            never = [s.name for s, k, _ in tally if k == 0]
            items = [(_join(always), "every replication")] if always else []
            items += [(s.name, f"{k} of {n}") for s, k, n in tally if 0 < k < n]
            items += [(_join(never), "none")] if never else []
            head_names, head_where = items[0]
            if head_where[0].isdigit():
                head_where += " replications"
            parts = [f"{head_names} met the latency SLO in {head_where}"]
            parts += [f"{names} in {where}" for names, where in items[1:]]
            met_text = _join(parts)
    p99_text = ""
    if "latency_p99_s" in columns:
        timed = [s for s in rows if math.isfinite(s.get("latency_p99_s"))]
        if len(timed) == 1:
            only = timed[0]
            p99_text = f"p99 latency was {humanize_duration(only.get('latency_p99_s'))}"
            p99_text += f" for {only.name}" if len(rows) > 1 else ""
        elif timed:
            low = min(timed, key=lambda s: s.get("latency_p99_s"))
            high = max(timed, key=lambda s: s.get("latency_p99_s"))
            lo, hi = low.get("latency_p99_s"), high.get("latency_p99_s")
            if lo == hi:
                p99_text = f"p99 latency was {humanize_duration(lo)} everywhere"
            else:
                p99_text = (
                    f"p99 latency ranged from {humanize_duration(lo)} ({low.name}) "
                    f"to {humanize_duration(hi)} ({high.name})"
                )
    if met_text and p99_text:
        return f"{met_text}; {p99_text}."
    if met_text:
        return met_text + "."
    return f"The {p99_text}." if p99_text else ""


def comparison_text(summary: pd.DataFrame, scenarios: Sequence[str] | None = None) -> str:
    """A few plain sentences comparing the scenarios of ``summary``, or "" if none.

    ``summary`` is the scenario × replication summary table; every column but ``scenario``
    is optional. Values are means over replications (NaN skipped), scenarios are named in
    the order of ``scenarios`` (default: first appearance). In turn: which scenario reached
    its target capacity first after the scale-out request and how much sooner than each
    other one (``time_to_target_capacity_s``; ``time_to_first_ready_s`` tells "did not
    scale" from "never reached its target"); each scenario's scale events per run and peak
    instances (``scale_events``, ``max_instances``; left out when nobody scaled); what the
    fastest scenario cost per million requests (else in total) against the cheapest and the
    most expensive; the bytes image pulls moved per run (``bytes_pulled``; left out when
    nothing was pulled); which scenarios dropped or timed out at least 1 % of arrived
    requests; with injected faults (``faults_injected``), who lost the fewest requests to
    them (``failed_requests``) and, of the scenarios that recovered from every fault
    (``faults_unrecovered`` 0), which recovered fastest (``time_to_recover_s``); and who met
    the latency SLO (``slo_met``, per replication) with the range of
    p99 latency. Durations are humanised ("31 s", "2.4 min", "6 weeks"), sizes in decimal
    units ("1.2 GB"). The text is plain, not HTML: escape it before embedding.
    """
    require_columns(summary, ("scenario",), "summary")
    rows = _scenarios(summary, scenarios)
    if not rows:
        return ""
    columns = {c for c in _COLUMNS if c in summary.columns}
    winner, sentences = _capacity(rows, columns)
    sentences += [
        _scaling(rows, columns),
        _cost(rows, columns, winner),
        _pulled(rows, columns),
        _losses(rows, columns),
        _faults(rows, columns),
        _slo(rows, columns),
    ]
    return " ".join(s for s in sentences if s)
