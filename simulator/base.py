"""Shared foundations of the config layer: the frozen model base and input errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationInfo

__all__ = ["Config", "ConfigError", "resolve_path"]


class Config(BaseModel):
    """Base of every config object: frozen, unknown keys rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid")


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
