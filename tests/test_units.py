"""Unit parsers of ``simulator.units``: documented examples, bare numbers, bad input."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from simulator.units import (
    HOURS_PER_MONTH,
    Duration,
    Fraction,
    Rate,
    UnitError,
    format_duration,
    parse_bandwidth,
    parse_duration,
    parse_fraction,
    parse_money,
    parse_price,
    parse_rate,
    parse_size,
)

MONTH_S = HOURS_PER_MONTH * 3600.0

# (parser, text, value in base units) for every example in the module docstring / brief.
DOCUMENTED = [
    (parse_duration, "250ms", 0.25),
    (parse_duration, "90s", 90.0),
    (parse_duration, "30m", 1800.0),
    (parse_duration, "2h", 7200.0),
    (parse_duration, "3d", 3 * 86400.0),
    (parse_size, "31.4MB", 31.4e6),
    (parse_size, "2GiB", 2 * 2.0**30),
    (parse_rate, "500/s", 500.0),
    (parse_rate, "120/min", 2.0),
    (parse_rate, "7.2/s", 7.2),
    (parse_rate, "3600/h", 1.0),
    (parse_bandwidth, "100Mbps", 100e6 / 8),
    (parse_bandwidth, "1Gbps", 1e9 / 8),
    (parse_bandwidth, "40MB/s", 40e6),
    (parse_money, "$1200", 1200.0),
    (parse_price, "$0.096/h", 0.096 / 3600.0),
    (parse_price, "$25/month", 25.0 / (730 * 3600.0)),
    (parse_fraction, "0.1%", 0.001),
    (parse_fraction, "60%", 0.6),
    (parse_fraction, "0.25", 0.25),
]


@pytest.mark.parametrize(
    ("parser", "text", "expected"),
    DOCUMENTED,
    ids=[f"{p.__name__}-{t}" for p, t, _ in DOCUMENTED],
)
def test_documented_examples(parser: Callable[[Any], float], text: str, expected: float) -> None:
    assert parser(text) == pytest.approx(expected, rel=1e-12)
    # Surrounding whitespace is tolerated (YAML may keep it in quoted strings).
    assert parser(f"  {text} ") == pytest.approx(expected, rel=1e-12)


def test_month_is_730_hours() -> None:
    assert HOURS_PER_MONTH == 730.0
    assert parse_price("$25/month") * MONTH_S == pytest.approx(25.0)


@pytest.mark.parametrize("text", ["250ms", "90s", "30m", "2h", "3d"])
def test_documented_durations_format_and_parse_back(text: str) -> None:
    seconds = parse_duration(text)
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("parser", "value"),
    [
        (parse_duration, 5),
        (parse_duration, 0.25),
        (parse_size, 1024),
        (parse_rate, 7.5),
        (parse_bandwidth, 1e6),
        (parse_money, 12),
        (parse_price, 0.5),
        (parse_fraction, 0.25),
        (parse_fraction, 1),
        (parse_fraction, 0),
    ],
)
def test_bare_numbers_are_base_units(parser: Callable[[Any], float], value: float) -> None:
    assert parser(value) == float(value)
    assert parser(str(value)) == float(value)
    assert isinstance(parser(value), float)


# (parser, word the message must contain, bad inputs)
BAD = [
    (
        parse_duration,
        "duration",
        [
            "abc",
            "",
            "  ",
            "5 parsec",
            "5/s",
            "1,5s",
            "-5s",
            "-1",
            -3,
            "nan",
            "inf",
            float("nan"),
            float("inf"),
            float("-inf"),
            "1e400s",
            True,
            False,
            None,
            [1],
            {"s": 1},
        ],
    ),
    (
        parse_size,
        "size",
        ["big", "5mb", "5 Mbit", "-1MB", -1, float("nan"), float("inf"), True, None],
    ),
    (
        parse_rate,
        "rate",
        ["fast", "5/", "5per s", "5/parsec", "5 rps", "-5/s", -5, float("nan"), True, None],
    ),
    (
        parse_bandwidth,
        "bandwidth",
        ["quick", "5MB/h", "5Mbit", "-1Gbps", -1, float("inf"), False, None],
    ),
    (parse_money, "money", ["lots", "5EUR", "$-5", "$", -1, float("nan"), True, None]),
    (
        parse_price,
        "price",
        ["cheap", "$5/parsec", "$5 per h", "$-1/h", -1, float("inf"), True, None],
    ),
    (
        parse_fraction,
        "fraction",
        ["half", "150%", "-1%", "1.5", -0.1, "60 percent", float("nan"), True, None],
    ),
]
BAD_CASES = [(p, w, v) for p, w, vs in BAD for v in vs]


@pytest.mark.parametrize(
    ("parser", "what", "bad"),
    BAD_CASES,
    ids=[f"{p.__name__}-{v!r}" for p, _, v in BAD_CASES],
)
def test_bad_input_raises_unit_error_naming_what_was_expected(
    parser: Callable[[Any], float], what: str, bad: Any
) -> None:
    with pytest.raises(UnitError) as info:
        parser(bad)
    msg = str(info.value)
    assert what in msg, msg
    assert any(k in msg for k in ("expected", "unknown", "cannot be negative")), msg
    assert "\n" not in msg
    # UnitError is a ValueError, so pydantic turns it into a validation error.
    assert isinstance(info.value, ValueError)


def test_unknown_unit_lists_known_units() -> None:
    with pytest.raises(UnitError) as info:
        parse_duration("5 fortnights")
    msg = str(info.value)
    for unit in ("ms", "s", "m", "h", "d"):
        assert f" {unit}," in msg or f" {unit};" in msg, msg


@pytest.mark.parametrize(
    ("parser", "text"),
    [
        (parse_duration, "1e308w"),
        (parse_duration, 10**400),
        (parse_size, "1e308TiB"),
        (parse_rate, "1e308/s"),
    ],
    ids=["1e308w", "int-10**400", "1e308TiB", "1e308/s"],
)
def test_huge_values_are_a_unit_error_not_inf_or_overflow(
    parser: Callable[[Any], float], text: Any
) -> None:
    """A quantity that overflows to inf after the unit conversion is still not finite."""
    try:
        value = parser(text)
    except UnitError:
        return
    assert math.isfinite(value), f"{parser.__name__}({str(text)[:20]!r}) returned {value}"


def test_pydantic_types_use_the_parsers() -> None:
    assert TypeAdapter(Duration).validate_python("2h") == 7200.0
    assert TypeAdapter(Rate).validate_python("120/min") == 2.0
    assert TypeAdapter(Fraction).validate_python("60%") == pytest.approx(0.6)
    with pytest.raises(ValidationError) as info:
        TypeAdapter(Duration).validate_python("soon")
    assert "expected a duration" in str(info.value)


DURATION_FACTORS = {
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
FINITE = st.floats(min_value=0.0, max_value=1e12, allow_nan=False, allow_infinity=False)


@settings(max_examples=200, deadline=None)
@given(x=FINITE, unit=st.sampled_from(sorted(DURATION_FACTORS)))
def test_duration_unit_factor_property(x: float, unit: str) -> None:
    got = parse_duration(f"{x}{unit}")
    assert math.isclose(got, x * DURATION_FACTORS[unit], rel_tol=1e-12, abs_tol=1e-300)


@settings(max_examples=200, deadline=None)
@given(x=FINITE)
def test_format_duration_parses_back(x: float) -> None:
    text = format_duration(x)
    assert isinstance(text, str) and text
    # 4 significant digits: relative error at most 5e-4.
    assert math.isclose(parse_duration(text), x, rel_tol=1e-3, abs_tol=1e-12), text
