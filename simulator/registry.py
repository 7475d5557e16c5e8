"""Registries keyed by the YAML ``kind``: how the engine finds architectures and strategies.

An architecture (``models/``) registers its config class and builder here; the
engine never names one. An unknown kind fails validation with the list of
known kinds (pydantic's discriminated-union error).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from simulator.base import Config

__all__ = [
    "Entry",
    "Registry",
    "PLATFORMS",
    "AUTOSCALERS",
    "Fact",
    "CATALOG",
    "cite",
    "load_plugins",
]

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Entry(Generic[F]):
    """One registered kind: its config model, its builder, and a line for ``deploysim list``."""

    kind: str
    config: type[Config]
    build: F
    summary: str
    source: str = ""


class Registry(Generic[F]):
    """A name → entry map for one family of pluggable components."""

    def __init__(self, family: str) -> None:
        self.family = family
        self._entries: dict[str, Entry[F]] = {}

    def register(
        self, kind: str, config: type[Config], summary: str, source: str = ""
    ) -> Callable[[F], F]:
        """Decorator: register ``build`` for ``kind`` with its config model."""

        def decorate(build: F) -> F:
            if kind in self._entries:
                raise ValueError(f"{self.family} kind {kind!r} registered twice")
            self._entries[kind] = Entry(kind, config, build, summary, source)
            return build

        return decorate

    def get(self, kind: str) -> Entry[F]:
        try:
            return self._entries[kind]
        except KeyError:
            known = ", ".join(sorted(self._entries))
            raise KeyError(f"unknown {self.family} kind {kind!r} (known: {known})") from None

    def kinds(self) -> list[str]:
        return list(self._entries)

    def __iter__(self) -> Iterator[Entry[F]]:
        return iter(self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)


PLATFORMS: Registry[Callable[..., Any]] = Registry("platform")
AUTOSCALERS: Registry[Callable[..., Any]] = Registry("autoscaler")


@dataclass(frozen=True)
class Fact:
    """A default number with its source, for the catalog ``deploysim list`` shows.

    ``status``: ``V`` read in the source, ``S`` from a secondary summary, ``U``
    an unverified placeholder a user should override (CALIBRATION.md's tags).
    """

    family: str
    name: str
    value: str
    source: str
    status: str = "V"


CATALOG: list[Fact] = []

T = TypeVar("T")


def cite(family: str, name: str, value: T, shown: str, source: str, status: str = "V") -> T:
    """Record a default in the catalog and return it (use inline where the default is set)."""
    if status not in ("V", "S", "U"):
        raise ValueError(f"status must be V, S or U, got {status!r}")
    CATALOG.append(Fact(family, name, shown, source, status))
    return value


_PLUGIN_PACKAGES = ("models",)


def load_plugins() -> None:
    """Import the packages that register architectures (idempotent)."""
    for name in _PLUGIN_PACKAGES:
        importlib.import_module(name)
