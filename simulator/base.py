"""Shared foundations of the config layer: the frozen model base and input errors."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo
from pydantic_core import InitErrorDetails, PydanticCustomError

__all__ = [
    "Config",
    "ConfigError",
    "resolve_path",
    "field_error",
    "field_errors",
    "located_error",
]


class Config(BaseModel):
    """Base of every config object: frozen, unknown keys rejected, numbers finite.

    ``allow_inf_nan=False``: a YAML ``.inf`` or ``.nan`` in a float field would
    otherwise pass ``gt=0``-style bounds (``.inf > 0``) and reach the model.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class ConfigError(ValueError):
    """Bad user input (experiment, override, trace, manifest). The message is one line.

    A ``ValueError`` so that pydantic turns it into a validation error with the
    field path when raised inside a validator.
    """


def resolve_path(file: str, info: ValidationInfo | None) -> Path:
    """Resolve ``file`` against the experiment file's folder (from the validation context)."""
    path = Path(file)
    context: Any = info.context if info is not None else None
    if not path.is_absolute() and isinstance(context, dict) and context.get("base_dir"):
        path = Path(context["base_dir"]) / path
    return path


def field_errors(
    problems: Mapping[str, str], value: Any = None, title: str = "config"
) -> ValidationError:
    """Validation errors located at paths (``"pod.cpu"``) below the model being validated.

    Raised from a validator, pydantic prefixes the model's own location, so a
    cross-field check still reports ``scenarios[0].platform.pod.cpu: message``.
    """
    return ValidationError.from_exception_data(
        title,
        [
            InitErrorDetails(
                type=PydanticCustomError("value_error", "{message}", {"message": message}),
                loc=tuple(int(p) if p.isdigit() else p for p in path.split(".") if p),
                input=value,
            )
            for path, message in problems.items()
        ],
    )


def field_error(
    path: str, message: str, value: Any = None, title: str = "config"
) -> ValidationError:
    """One validation error at ``path`` below the model being validated."""
    return field_errors({path: message}, value, title)


def located_error(exc: ValueError, value: Any = None) -> ValidationError:
    """Turn ``ValueError("stages.boot: message")`` into an error at ``stages.boot``."""
    path, sep, message = str(exc).partition(": ")
    if not sep or " " in path:
        return field_error("", str(exc), value)
    return field_error(path, message, value)
