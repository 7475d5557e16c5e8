"""``runs/index.html``: one page listing every run, sweep and plan in a folder of outputs.

What counts (the layout ``deploysim run``/``sweep``/``plan`` write by default):

* a run: ``<runs>/<name>/meta.json`` (its report is ``report.html`` beside it);
* a sweep: ``<runs>/<name>/sweep/sweep.json`` (+ ``sweep.csv``, ``report.html``);
* a plan: ``<runs>/<name>/plan-<scenario>/plan.json`` (+ ``plan.csv``, ``report.html``).

Only these fixed depths are scanned, so the index stays cheap for a folder of thousands of
sweep points (each point's own output folder sits below ``sweep/`` and is not listed; the
sweep's report links them). An entry whose JSON cannot be read is still listed, with the
problem, rather than breaking the page. Links are relative, so the folder can be moved or
served as static files.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import pathlib
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from reports.page import esc, page_html, section, write_atomic

__all__ = ["IndexEntry", "render_index", "scan_runs", "write_index"]


@dataclass(frozen=True)
class IndexEntry:
    """One row of the index: a run, sweep or plan output folder."""

    name: str
    kind: str  # "run", "sweep" or "plan"
    folder: pathlib.Path  # relative to the scanned folder
    modified: float  # POSIX time of the newest of its JSON and report
    scenarios: str
    points: str
    seed: str
    replications: str
    report: pathlib.Path | None  # relative path of report.html, None when absent
    problem: str = ""


def _read_json(path: pathlib.Path) -> tuple[dict[str, Any], str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return {}, f"{path.name} unreadable: {exc}"
    if not isinstance(data, dict):
        return {}, f"{path.name} is not a JSON object"
    return data, ""


def _csv_column(path: pathlib.Path, column: str) -> list[str]:
    """The values of one CSV column ([] when the file or column is missing or unreadable)."""
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            return [row.get(column) or "" for row in csv.DictReader(fh)]
    except (OSError, UnicodeDecodeError, csv.Error):
        return []


def _distinct(values: list[str]) -> list[str]:
    return list(dict.fromkeys(v for v in values if v != ""))


def _span(values: list[str]) -> str:
    """ "3" or "3–10" for a column of replication counts; "–" when there are none."""
    numbers = sorted({int(float(v)) for v in values if _is_number(v)})
    if not numbers:
        return "–"
    return str(numbers[0]) if len(numbers) == 1 else f"{numbers[0]}–{numbers[-1]}"


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _text(value: object) -> str:
    return "–" if value is None or value == "" else str(value)


def _entry(
    root: pathlib.Path, folder: pathlib.Path, kind: str, json_path: pathlib.Path
) -> IndexEntry:
    data, problem = _read_json(json_path)
    report = folder / "report.html"
    stamps = [p.stat().st_mtime for p in (json_path, report) if p.exists()]
    rel = folder.relative_to(root)
    if kind == "run":
        scenarios = _distinct(_csv_column(folder / "summary_ci.csv", "scenario"))
        name = rel.as_posix()
        points = "–"
        seed = _text(data.get("seed"))
        replications = _text(data.get("replications"))
    elif kind == "sweep":
        scenarios = _distinct(_csv_column(folder / "sweep.csv", "scenario"))
        name = str(data.get("experiment") or rel.parent.as_posix())
        points = _text(data.get("points"))
        seed = _text(data.get("seed"))
        replications = _span(_csv_column(folder / "sweep.csv", "replications"))
    else:
        scenarios = [str(data["scenario"])] if data.get("scenario") else []
        name = str(data.get("experiment") or rel.parent.as_posix())
        steps = _csv_column(folder / "plan.csv", "step")
        points = str(len(steps)) if steps else "–"
        seed = _text(data.get("seed"))
        replications = _span(_csv_column(folder / "plan.csv", "replications"))
        if data.get("runs") is not None:
            replications += f" ({data['runs']} runs)"
    if kind != "run" and not scenarios:
        scenarios_text = "–"
    elif len(scenarios) <= 3:
        scenarios_text = ", ".join(scenarios) if scenarios else "–"
    else:
        scenarios_text = f"{len(scenarios)}: {', '.join(scenarios[:3])}, …"
    return IndexEntry(
        name=name,
        kind=kind,
        folder=rel,
        modified=max(stamps) if stamps else 0.0,
        scenarios=scenarios_text,
        points=points,
        seed=seed,
        replications=replications,
        report=report.relative_to(root) if report.exists() else None,
        problem=problem,
    )


def _candidates(root: pathlib.Path) -> Iterator[tuple[pathlib.Path, str, pathlib.Path]]:
    for child in sorted(root.iterdir()):
        # Hidden folders are the temporary siblings of atomic writes (".name.tmp-…").
        if child.name.startswith(".") or not child.is_dir():
            continue
        if (child / "meta.json").is_file():
            yield child, "run", child / "meta.json"
        sweep = child / "sweep"
        if (sweep / "sweep.json").is_file():
            yield sweep, "sweep", sweep / "sweep.json"
        for plan in sorted(child.glob("plan-*")):
            if plan.is_dir() and (plan / "plan.json").is_file():
                yield plan, "plan", plan / "plan.json"


def scan_runs(runs_dir: pathlib.Path) -> list[IndexEntry]:
    """Every run, sweep and plan in ``runs_dir``, newest first (ties by folder)."""
    root = pathlib.Path(runs_dir)
    if not root.is_dir():
        return []
    entries = [_entry(root, folder, kind, path) for folder, kind, path in _candidates(root)]
    return sorted(entries, key=lambda e: (-e.modified, e.folder.as_posix(), e.kind))


def _href(path: pathlib.Path) -> str:
    # Percent-encode each segment: a folder named "a#b" or "50%" must still resolve.
    return "/".join(urllib.parse.quote(part) for part in path.parts)


def _when(stamp: float) -> str:
    if stamp <= 0:
        return "–"
    return dt.datetime.fromtimestamp(stamp, tz=dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def render_index(runs_dir: pathlib.Path, entries: list[IndexEntry] | None = None) -> str:
    """The index page of ``runs_dir`` (scanned unless ``entries`` is given)."""
    root = pathlib.Path(runs_dir)
    if entries is None:
        entries = scan_runs(root)
    headers = [
        "name",
        "kind",
        "modified",
        "scenarios",
        "points / values",
        "seed",
        "replications",
        "report",
    ]
    head = "".join(f'<th scope="col">{esc(h)}</th>' for h in headers)
    rows = []
    for e in entries:
        if e.report is not None:
            link = f'<a href="{esc(_href(e.report))}">report</a>'
        else:
            link = f'<a href="{esc(_href(e.folder))}/">folder</a> (no report)'
        name = esc(e.name)
        if e.kind != "run" or e.name != e.folder.as_posix():
            name += f'<br><span class="how">{esc(e.folder.as_posix())}/</span>'
        if e.problem:
            name += f'<br><span class="error">{esc(e.problem)}</span>'
        rows.append(
            f'<tr><th scope="row" class="left">{name}</th><td class="left">{esc(e.kind)}</td>'
            f"<td>{esc(_when(e.modified))}</td>"
            f'<td class="left">{esc(e.scenarios)}</td><td>{esc(e.points)}</td>'
            f"<td>{esc(e.seed)}</td><td>{esc(e.replications)}</td>"
            f'<td class="left">{link}</td></tr>'
        )
    if not rows:
        rows.append(f'<tr><td colspan="{len(headers)}">no runs yet</td></tr>')
    table = (
        '<div class="table-wrap"><table class="summary index">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )
    counts = {k: sum(e.kind == k for e in entries) for k in ("run", "sweep", "plan")}
    summary = ", ".join(f"{n} {k}{'s' if n != 1 else ''}" for k, n in counts.items())
    header = [
        f"<h1>deploysim outputs in {esc(root.name or str(root))}</h1>",
        f'<p class="question">{esc(summary)}, newest first.</p>',
    ]
    body = [
        section(
            "Runs, sweeps and plans",
            table,
            "One row per output folder: runs (one experiment), sweeps (one row per sweep, "
            "its points are on its report) and capacity plans (one per scenario). "
            "Points / values: sweep points, or values a plan evaluated. Links are relative "
            "to this page.",
        )
    ]
    return page_html(
        title=root.name or str(root), kind="index", header=header, body=body, with_figures=False
    )


def write_index(runs_dir: pathlib.Path) -> pathlib.Path:
    """Scan ``runs_dir`` and write ``runs_dir/index.html`` atomically; return its path."""
    root = pathlib.Path(runs_dir)
    path = root / "index.html"
    write_atomic(path, render_index(root))
    return path
