"""Number formatting shared by the report's table, figures and plain-language comparison.

Two duration styles: :func:`format_duration` (ms or s, for latencies, which live below a
minute) and :func:`humanize_duration` (s, min, h, d, weeks, for provisioning and scaling
times, which range from seconds on a cloud to weeks for hardware that must be delivered).
Sizes are written in decimal units (:func:`format_bytes`), as registries and ``docker pull``
report them.
"""

from __future__ import annotations

import math

__all__ = [
    "byte_unit",
    "format_bytes",
    "format_duration",
    "format_share",
    "format_usd",
    "humanize_duration",
    "time_unit",
]

# (upper bound in seconds, unit name, seconds per unit): a unit is used while the duration
# stays below the bound, so a number never needs more than three digits (179 s, 119 min).
_UNITS: tuple[tuple[float, str, float], ...] = (
    (180.0, "s", 1.0),
    (2 * 3600.0, "min", 60.0),
    (48 * 3600.0, "h", 3600.0),
    (14 * 86400.0, "d", 86400.0),
    (math.inf, "weeks", 7 * 86400.0),
)


def format_duration(seconds: float, *, reference: float | None = None) -> str:
    """Format a duration in ms when below one second, else in s; NaN becomes "–".

    ``reference`` chooses the unit instead of ``seconds`` itself, so that a confidence
    half-width is written in the same unit as the mean it belongs to.
    """
    if seconds is None or not math.isfinite(seconds):
        return "–"
    basis = reference if reference is not None and math.isfinite(reference) else seconds
    if abs(basis) < 1.0:
        ms = seconds * 1000.0
        digits = 0 if abs(ms) >= 100 else 1 if abs(ms) >= 10 else 2
        return f"{ms:.{digits}f} ms"
    digits = 1 if abs(seconds) >= 100 else 2
    return f"{seconds:.{digits}f} s"


def time_unit(seconds: float) -> tuple[str, float]:
    """The unit :func:`humanize_duration` uses for ``seconds``: ``(name, seconds per unit)``.

    Figures call it with the span they show, so one axis reads "min" for a cloud launch and
    "weeks" for a hardware order. Sub-second and non-finite spans use seconds.
    """
    size = abs(seconds) if math.isfinite(seconds) else 0.0
    for bound, name, factor in _UNITS:
        if size < bound:
            return name, factor
    return _UNITS[-1][1], _UNITS[-1][2]  # pragma: no cover - the last bound is infinite


def _short(value: float) -> str:
    # Two significant digits below ten, whole numbers above; "2.0" reads better as "2".
    text = f"{value:.1f}" if abs(value) < 9.95 else f"{value:.0f}"
    return text.removesuffix(".0")


def humanize_duration(seconds: float) -> str:
    """A duration in the largest sensible unit: "450 ms", "31 s", "2.4 min", "5 h", "6 weeks".

    Below one second in ms; then s below 3 min, min below 2 h, h below 2 days, days below
    two weeks, weeks beyond. One decimal below ten units, none above. NaN becomes "–".
    """
    if seconds is None or not math.isfinite(seconds):
        return "–"
    if abs(seconds) < 1.0:
        return f"{_short(seconds * 1000.0)} ms"
    name, factor = time_unit(seconds)
    return f"{_short(seconds / factor)} {name}"


# Decimal (SI) byte units: registries, Docker Hub and ``docker images`` all use them.
_BYTE_UNITS: tuple[tuple[str, float], ...] = (
    ("B", 1.0),
    ("kB", 1e3),
    ("MB", 1e6),
    ("GB", 1e9),
    ("TB", 1e12),
    ("PB", 1e15),
)


def byte_unit(size: float) -> tuple[str, float]:
    """The decimal unit in which ``size`` bytes reads best: ``(name, bytes per unit)``.

    The largest unit that keeps the number at or above one; figures call it with the largest
    value they show, so one axis reads "MB" for an nginx layer and "GB" for a stampede.
    """
    magnitude = abs(size) if math.isfinite(size) else 0.0
    chosen = _BYTE_UNITS[0]
    for unit in _BYTE_UNITS:
        if magnitude >= unit[1]:
            chosen = unit
    return chosen


def format_bytes(size: float) -> str:
    """A byte count in decimal units: "0 B", "512 B", "3.2 MB", "45 MB", "1.2 GB"; NaN is "–"."""
    if size is None or not math.isfinite(size):
        return "–"
    name, factor = byte_unit(size)
    if abs(size) / factor >= 999.5 and factor < _BYTE_UNITS[-1][1]:
        # Rounding would print "1000 MB": say "1 GB" instead.
        name, factor = byte_unit(size * 1.001)
    if factor == 1.0:
        return f"{size:.0f} B"
    return f"{_short(size / factor)} {name}"


def format_usd(value: float) -> str:
    """Dollars with two significant decimals at least: "$1,234", "$1.10", "$0.52", "$0.0041"."""
    if value is None or not math.isfinite(value):
        return "–"
    size = abs(value)
    if size >= 100:
        text = f"{size:,.0f}"
    elif size >= 1 or size == 0:
        text = f"{size:,.2f}"
    else:
        # Enough decimals to show two significant digits of a fraction of a cent.
        decimals = max(2, 1 - math.floor(math.log10(size)))
        text = f"{size:.{decimals}f}"
    return ("-$" if value < 0 else "$") + text


def format_share(fraction: float) -> str:
    """A fraction as a percentage for prose: "12 %", "3.1 %", "<0.1 %"; NaN becomes "–"."""
    if fraction is None or not math.isfinite(fraction):
        return "–"
    percent = fraction * 100.0
    if 0 < percent < 0.05:
        return "<0.1 %"
    return f"{_short(percent)} %"
