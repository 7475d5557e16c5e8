"""Reading experiment files and ``--set`` overrides, with one-line errors.

Every problem becomes a line ``FILE: field.path: what was expected``; the CLI
prints them and exits 2.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from simulator.base import ConfigError
from simulator.config import Experiment

__all__ = ["InputError", "load_experiment", "apply_overrides", "format_validation_error"]


class InputError(Exception):
    """Bad user input; ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _loc(loc: tuple[Any, ...]) -> str:
    """Render a pydantic location as ``scenarios[1].platform.instances``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif out:
            out += f".{part}"
        else:
            out = str(part)
    return out or "(top level)"


def _clean_loc(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    # Drop the union-member tags pydantic inserts (e.g. 'fixed', 'function-after[...]')
    # when they are not real keys, so the path reads as the user's YAML.
    cleaned = []
    for part in loc:
        if isinstance(part, str) and (
            part.startswith(("function-", "tagged-union[", "union[", "list["))
            or part in ("int", "float", "str", "bool", "json-or-python[json=...]")
        ):
            continue
        cleaned.append(part)
    return tuple(cleaned)


_TAG_PREFIX = re.compile(r"^(Value error|Assertion failed), ")


def format_validation_error(source: str, exc: ValidationError, data: Any = None) -> list[str]:
    """One line per error: ``source: field.path: message (got value)``."""
    lines = []
    errors = exc.errors(include_url=False)
    # Discriminated unions put the chosen kind in the path: hide it if the user's
    # document has no such key at that point.
    locs = [_strip_kind_tags(_clean_loc(tuple(e["loc"])), data) for e in errors]
    # A wrong `kind` makes every other complaint about that block noise: keep only it.
    bad_kind = [
        loc[:-1]
        for e, loc in zip(errors, locs, strict=True)
        if loc and loc[-1] == "kind" and e["type"] in ("literal_error", "union_tag_invalid")
    ] + [loc for e, loc in zip(errors, locs, strict=True) if e["type"] == "union_tag_invalid"]
    for err, loc in zip(errors, locs, strict=True):
        if any(loc[: len(b)] == b and loc not in (b, (*b, "kind")) for b in bad_kind):
            continue
        if err["type"] in ("list_type", "dict_type", "model_type", "model_attributes_type") and (
            loc in bad_kind or any(len(o) > len(loc) and o[: len(loc)] == loc for o in locs)
        ):
            continue  # the other arm of "one block or a list of blocks" failed too: noise
        msg = _TAG_PREFIX.sub("", err["msg"])
        if err["type"] == "missing":
            msg = "required field is missing"
        elif err["type"] == "extra_forbidden":
            msg = "unknown field (not part of the experiment format; see `deploysim schema`)"
        elif err["type"] == "union_tag_invalid":
            msg = msg.replace("Input tag", "unknown kind").replace(" found using 'kind'", "")
            msg = msg.replace("does not match any of the expected tags:", "(known:") + ")"
        elif err["type"] == "literal_error" and loc and loc[-1] == "kind":
            expected = msg.removeprefix("Input should be ").replace(" or ", ", ")
            msg = f"unknown kind {err.get('input')!r} (known: {expected})"
        got = err.get("input")
        suffix = ""
        if (
            err["type"] not in ("missing", "extra_forbidden")
            and got is not None
            and not isinstance(got, dict | list)
            and repr(got) not in msg
        ):
            shown = repr(got)
            # A 5,000-character value would drown the message: show its start.
            suffix = f" (got {shown[:60]}…)" if len(shown) > 80 else f" (got {shown})"
        lines.append(f"{source}: {_loc(loc)}: {msg}{suffix}")
    return lines


def _strip_kind_tags(loc: tuple[Any, ...], data: Any) -> tuple[Any, ...]:
    out: list[Any] = []
    node = data
    for part in loc:
        if node is None:
            out.append(part)
            continue
        if isinstance(node, dict) and isinstance(part, str) and node.get("kind") == part:
            continue  # pydantic puts the union member's tag right after the union field
        if (
            isinstance(node, dict)
            and part in node
            or isinstance(node, list)
            and isinstance(part, int)
            and 0 <= part < len(node)
        ):
            out.append(part)
            node = node[part]
        else:
            out.append(part)
            node = None
    return tuple(out)


def _parse_value(text: str) -> Any:
    """A ``--set`` value: YAML scalar/list/map syntax (``3``, ``90s``, ``[1, 2]``)."""
    try:
        return yaml.safe_load(text) if text.strip() else ""
    except (yaml.YAMLError, RecursionError, ValueError):
        return text  # validated as the plain string: the error names the field


def apply_overrides(data: dict[str, Any], overrides: list[str], source: str) -> dict[str, Any]:
    """Apply ``path=value`` overrides (``scenarios[0].serving.workers=8`` or
    ``scenarios.m-m-8.serving.workers=8`` by scenario name) to a raw document."""
    # Not copy.deepcopy: it keeps YAML aliases (`<<: *anchor`) shared, so setting a
    # key in one scenario would change every scenario that merged the same block.
    data = _unshared(data)
    problems = []
    for item in overrides:
        if "=" not in item:
            problems.append(f"--set {item!r}: expected path=value")
            continue
        path, _, raw = item.partition("=")
        try:
            _set_path(data, path.strip(), _parse_value(raw))
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            problems.append(f"--set {item!r}: {exc.args[0] if exc.args else exc}")
    if problems:
        raise InputError(problems)
    return data


def _unshared(node: Any) -> Any:
    """A deep copy in which no two places share a dict or list."""
    if isinstance(node, dict):
        return {k: _unshared(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_unshared(v) for v in node]
    return copy.copy(node)


# A path: a key, then any of `.key` or `[index]`.
_PATH = re.compile(r"^[^.\[\]]+(?:\.[^.\[\]]+|\[\d+\])*$")
_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _set_path(data: Any, path: str, value: Any) -> None:
    if not _PATH.match(path):
        raise ValueError(f"cannot parse path {path!r} (expected e.g. scenarios[0].serving.workers)")
    tokens: list[str | int] = [
        int(m.group(2)) if m.group(2) is not None else m.group(1) for m in _TOKEN.finditer(path)
    ]
    node = data
    for i, tok in enumerate(tokens):
        last = i == len(tokens) - 1
        if isinstance(node, list):
            idx = tok if isinstance(tok, int) else _by_name(node, tok)
            if isinstance(tok, str) and tok.isdigit():
                idx = int(tok)
            if not 0 <= idx < len(node):
                raise IndexError(f"index {idx} out of range in {path!r} (length {len(node)})")
            if last:
                node[idx] = value
            else:
                node = node[idx]
        elif isinstance(node, dict):
            key = str(tok)
            if last:
                node[key] = value
            else:
                if key not in node or node[key] is None:
                    node[key] = {}
                node = node[key]
        else:
            raise TypeError(f"{path!r}: cannot descend into a {type(node).__name__}")


def _by_name(items: list[Any], name: str) -> int:
    for i, item in enumerate(items):
        if isinstance(item, dict) and item.get("name") == name:
            return i
    if name.isdigit():
        return int(name)
    names = [str(it.get("name")) for it in items if isinstance(it, dict)]
    raise KeyError(f"no item named {name!r} (have: {', '.join(names)})")


def read_document(path: Path) -> dict[str, Any]:
    """Read a YAML mapping; every failure is an InputError naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError([f"{path}: no such file"]) from None
    except IsADirectoryError:
        raise InputError([f"{path}: is a directory, expected a YAML experiment file"]) from None
    except UnicodeDecodeError:
        raise InputError([f"{path}: not a UTF-8 text file"]) from None
    except OSError as exc:
        raise InputError([f"{path}: cannot read ({exc.strerror})"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError([f"{path}{where}: invalid YAML: {problem}"]) from None
    except RecursionError:
        raise InputError([f"{path}: invalid YAML: nested too deeply"]) from None
    except ValueError as exc:  # the YAML int constructor: "Exceeds the limit (4300 digits)"
        first = (str(exc).splitlines() or [""])[0]
        raise InputError([f"{path}: invalid YAML: {first.split(';')[0]}"]) from None
    if not isinstance(data, dict):
        raise InputError([f"{path}: expected a mapping of experiment fields at the top level"])
    problem = _too_big(data)
    if problem:
        raise InputError([f"{path}: {problem}"])
    return data


# Far beyond any real experiment (the largest shipped one has a few hundred values), far
# below what would take validation minutes: aliases (`*a`) are expanded by every reader.
MAX_NODES = 1_000_000
MAX_DEPTH = 60


def _too_big(data: Any) -> str | None:
    """Why a parsed document is unreasonable to validate (an alias bomb, deep nesting)."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    nodes = 0
    while stack:
        node, depth = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            return (
                f"more than {MAX_NODES:,} values once YAML aliases are expanded "
                "(an alias bomb?); write the document out"
            )
        if depth > MAX_DEPTH:
            return f"nested more than {MAX_DEPTH} levels deep"
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
    return None


def load_experiment(
    source: str | Path | dict[str, Any],
    overrides: list[str] | None = None,
) -> Experiment:
    """Load and validate an experiment from a YAML path or a dict, applying ``--set`` overrides.

    Raises ``InputError`` with one line per problem.
    """
    if isinstance(source, dict):
        name, base_dir, data = "<experiment>", Path.cwd(), source
    else:
        path = Path(source)
        name, base_dir, data = str(path), path.resolve().parent, read_document(path)
    if overrides:
        data = apply_overrides(data, overrides, name)
        problem = _too_big(data)
        if problem:
            raise InputError([f"{name} with --set: {problem}"])
    try:
        return Experiment.model_validate(data, context={"base_dir": str(base_dir)})
    except ValidationError as exc:
        raise InputError(format_validation_error(name, exc, data)) from None
    except ConfigError as exc:
        raise InputError([f"{name}: {exc}"]) from None
