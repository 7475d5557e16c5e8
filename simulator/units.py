"""Quantities with units, parsed once at the edge into SI base units.

Every quantity in an experiment file is a string with a unit (``"250ms"``,
``"31.4MB"``, ``"500/s"``, ``"1Gbps"``, ``"$0.096/h"``, ``"0.1%"``); a bare
number is taken in the base unit (seconds, bytes, per second, bytes per second,
USD, fraction). Inside the simulator everything is a float in base units:

==========  ===============  =======================================
quantity    base unit        examples
==========  ===============  =======================================
duration    seconds          ``250ms``, ``90s``, ``30m``, ``2h``, ``3d``
size        bytes            ``31.4MB`` (decimal), ``2GiB`` (binary)
rate        events / second  ``500/s``, ``120/min``, ``7.2/s``
bandwidth   bytes / second   ``100Mbps``, ``1Gbps``, ``40MB/s``
money       USD              ``$1200``
price       USD / second     ``$0.096/h``, ``$25/month`` (730 h)
fraction    0..1             ``0.1%``, ``60%``, ``0.25``
==========  ===============  =======================================

The pydantic types at the bottom (``Duration``, ``Size``, ...) use these
parsers so a bad value fails validation with a message saying what was
expected.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

__all__ = [
    "UnitError",
    "parse_duration",
    "parse_size",
    "parse_rate",
    "parse_bandwidth",
    "parse_money",
    "parse_price",
    "parse_fraction",
    "format_duration",
    "Duration",
    "Size",
    "Rate",
    "Bandwidth",
    "Money",
    "Price",
    "Fraction",
]


class UnitError(ValueError):
    """A quantity string could not be parsed; the message says what was expected."""


_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_QUANTITY = re.compile(rf"^\s*({_NUMBER})\s*([A-Za-z/%µ]*)\s*$")

HOURS_PER_MONTH = 730.0  # AWS convention (CALIBRATION.md, "billing")

_DURATION_UNITS = {
    "": 1.0,
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "sec": 1.0,
    "m": 60.0,
    "min": 60.0,
    "h": 3600.0,
    "hr": 3600.0,
    "d": 86400.0,
    "day": 86400.0,
    "w": 604800.0,
    "wk": 604800.0,
}
_SIZE_UNITS = {
    "": 1.0,
    "B": 1.0,
    "kB": 1e3,
    "KB": 1e3,
    "MB": 1e6,
    "GB": 1e9,
    "TB": 1e12,
    "KiB": 2.0**10,
    "MiB": 2.0**20,
    "GiB": 2.0**30,
    "TiB": 2.0**40,
}
_PER_UNITS = {
    "s": 1.0,
    "sec": 1.0,
    "min": 1 / 60.0,
    "m": 1 / 60.0,
    "h": 1 / 3600.0,
    "hr": 1 / 3600.0,
    "d": 1 / 86400.0,
    "day": 1 / 86400.0,
    "month": 1 / (HOURS_PER_MONTH * 3600.0),
    "mo": 1 / (HOURS_PER_MONTH * 3600.0),
}
_BIT_RATE_UNITS = {
    "bps": 1 / 8,
    "kbps": 1e3 / 8,
    "Kbps": 1e3 / 8,
    "Mbps": 1e6 / 8,
    "Gbps": 1e9 / 8,
    "Tbps": 1e12 / 8,
}


def _split(text: Any, what: str, example: str) -> tuple[float, str]:
    if isinstance(text, bool):
        raise UnitError(f"expected {_article(what)} {what} like {example!r}, got {text!r}")
    if isinstance(text, int | float):
        try:
            value, unit = float(text), ""
        except OverflowError:
            raise UnitError(f"expected a finite {what}, got a number too large") from None
    elif isinstance(text, str):
        m = _QUANTITY.match(text)
        if not m:
            raise UnitError(f"expected {_article(what)} {what} like {example!r}, got {text!r}")
        value, unit = float(m.group(1)), m.group(2)
    else:
        raise UnitError(
            f"expected {_article(what)} {what} like {example!r}, got {type(text).__name__}"
        )
    if not math.isfinite(value):
        raise UnitError(f"expected a finite {what}, got {text!r}")
    return value, unit


def _lookup(table: dict[str, float], unit: str, text: Any, what: str, example: str) -> float:
    try:
        return table[unit]
    except KeyError:
        known = ", ".join(u for u in table if u)
        raise UnitError(
            f"unknown {what} unit {unit!r} in {text!r} (known: {known}; e.g. {example!r})"
        ) from None


def _non_negative(value: float, text: Any, what: str) -> float:
    if not math.isfinite(value):
        raise UnitError(f"{_article(what)} {what} too large to represent: {text!r}")
    if value < 0:
        raise UnitError(f"{_article(what)} {what} cannot be negative, got {text!r}")
    return value


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def parse_duration(text: Any) -> float:
    """Parse ``"250ms"``, ``"90s"``, ``"30m"``, ``"2h"``, ``"3d"`` (or seconds) to seconds."""
    value, unit = _split(text, "duration", "250ms")
    factor = _lookup(_DURATION_UNITS, unit, text, "duration", "90s")
    return _non_negative(value * factor, text, "duration")


def parse_size(text: Any) -> float:
    """Parse ``"31.4MB"`` (decimal) or ``"2GiB"`` (binary) (or bytes) to bytes."""
    value, unit = _split(text, "size", "31.4MB")
    factor = _lookup(_SIZE_UNITS, unit, text, "size", "2GiB")
    return _non_negative(value * factor, text, "size")


def parse_rate(text: Any) -> float:
    """Parse an event rate ``"500/s"``, ``"120/min"``, ``"3600/h"`` (or per second) to 1/s."""
    value, unit = _split(text, "rate", "500/s")
    if unit == "":
        factor = 1.0
    elif unit.startswith("/"):
        factor = _lookup(_PER_UNITS, unit[1:], text, "rate", "500/s")
    else:
        raise UnitError(f"expected a rate like '500/s' or '120/min', got {text!r}")
    return _non_negative(value * factor, text, "rate")


def parse_bandwidth(text: Any) -> float:
    """Parse ``"100Mbps"``, ``"1Gbps"`` (bits) or ``"40MB/s"`` (bytes) to bytes per second."""
    value, unit = _split(text, "bandwidth", "100Mbps")
    if unit == "":
        factor = 1.0
    elif unit in _BIT_RATE_UNITS:
        factor = _BIT_RATE_UNITS[unit]
    elif unit.endswith("/s") and unit[:-2] in _SIZE_UNITS:
        factor = _SIZE_UNITS[unit[:-2]]
    else:
        raise UnitError(
            f"unknown bandwidth unit {unit!r} in {text!r} "
            "(known: bps, kbps, Mbps, Gbps, Tbps or a size per second like '40MB/s')"
        )
    return _non_negative(value * factor, text, "bandwidth")


def parse_money(text: Any) -> float:
    """Parse ``"$1200"`` or ``"1200USD"`` (or a number) to US dollars."""
    raw = text.strip() if isinstance(text, str) else text
    if isinstance(raw, str) and raw.startswith("$"):
        raw = raw[1:]
    value, unit = _split(raw, "amount of money", "$1200")
    if unit not in ("", "USD", "usd"):
        raise UnitError(f"expected an amount of money like '$1200', got {text!r}")
    return _non_negative(value, text, "amount of money")


def parse_price(text: Any) -> float:
    """Parse a price per time ``"$0.096/h"``, ``"$25/month"`` (730 h) to USD per second."""
    raw = text.strip() if isinstance(text, str) else text
    if isinstance(raw, str) and raw.startswith("$"):
        raw = raw[1:]
    value, unit = _split(raw, "price", "$0.096/h")
    if unit == "":
        factor = 1.0
    elif unit.startswith("/"):
        factor = _lookup(_PER_UNITS, unit[1:], text, "price", "$0.096/h")
    else:
        raise UnitError(f"expected a price like '$0.096/h' or '$25/month', got {text!r}")
    return _non_negative(value * factor, text, "price")


def parse_fraction(text: Any) -> float:
    """Parse ``"0.1%"``, ``"60%"`` or a number in [0, 1] to a fraction."""
    value, unit = _split(text, "fraction", "0.1%")
    if unit == "%":
        value /= 100.0
    elif unit != "":
        raise UnitError(f"expected a fraction like '60%' or 0.6, got {text!r}")
    if not 0.0 <= value <= 1.0:
        raise UnitError(f"expected a fraction between 0% and 100%, got {text!r}")
    return value


def format_duration(seconds: float) -> str:
    """Render seconds the way a person writes them (``"250ms"``, ``"2h"``, ``"1.5d"``)."""
    if seconds == 0:
        return "0s"
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("m", 60.0), ("s", 1.0), ("ms", 1e-3)):
        if abs(seconds) >= size:
            return f"{seconds / size:.4g}{unit}"
    return f"{seconds * 1e6:.4g}us"


def _quantity(parser: Any, pattern_doc: str, examples: list[str]) -> Any:
    """A float field parsed from a unit string, documented as such in the JSON Schema."""
    return (
        BeforeValidator(parser),
        WithJsonSchema(
            {
                "anyOf": [{"type": "string"}, {"type": "number", "minimum": 0}],
                "description": pattern_doc,
                "examples": examples,
            }
        ),
        PlainSerializer(float, return_type=float),
    )


Duration = Annotated[float, *_quantity(parse_duration, "duration (s)", ["250ms", "90s", "2h"])]
Size = Annotated[float, *_quantity(parse_size, "size (bytes)", ["31.4MB", "2GiB"])]
Rate = Annotated[float, *_quantity(parse_rate, "rate (per second)", ["500/s", "120/min"])]
Bandwidth = Annotated[
    float, *_quantity(parse_bandwidth, "bandwidth (bytes/s)", ["100Mbps", "1Gbps", "40MB/s"])
]
Money = Annotated[float, *_quantity(parse_money, "money (USD)", ["$1200"])]
Price = Annotated[float, *_quantity(parse_price, "price (USD/s)", ["$0.096/h", "$25/month"])]
Fraction = Annotated[float, *_quantity(parse_fraction, "fraction (0..1)", ["0.1%", "60%", 0.6])]
