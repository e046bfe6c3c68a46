"""Parsing and formatting of the quantities a budget is written in.

Every parser takes the raw value from YAML or a marker keyword and returns a
plain number in base units (seconds, bytes, operations per second), or raises
:class:`ValueError` with a message fit to show the user after ``file:line:``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

TIME_UNITS: dict[str, float] = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,  # the micro sign, U+00B5
    "ms": 1e-3,
    "s": 1.0,
    "min": 60.0,
}
SIZE_UNITS: dict[str, int] = {
    "B": 1,
    "kB": 1000,
    "MB": 1000**2,
    "GB": 1000**3,
    "KiB": 1024,
    "MiB": 1024**2,
    "GiB": 1024**3,
}
RATE_UNITS: dict[str, float] = {"s": 1.0, "min": 1 / 60}
# Spellings of a unit that are the same unit: the Greek letter mu (U+03BC), which keyboards and
# input methods give for "µ", and which NFKC normalization turns the micro sign into.
UNIT_ALIASES = {"μs": "µs"}

_QUANTITY = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([^\s0-9.].*?)?\s*$")


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """Return `` (did you mean 'x'?)`` for the closest candidate, or nothing."""
    candidates = list(candidates)
    close = [candidate for candidate in candidates if candidate.lower() == word.lower()]
    if not close:
        import difflib  # here: only an error message needs it

        close = difflib.get_close_matches(word, candidates, n=1, cutoff=0.5)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _split(value: object, what: str) -> tuple[float, str | None]:
    """Split ``"200 ms"`` into ``(200.0, "ms")``; a bare number has no unit."""
    if _is_number(value):
        try:
            number = float(value)  # type: ignore[arg-type]
        except OverflowError:
            raise ValueError(f"{what} is too large") from None
        unit = None
    elif isinstance(value, str):
        if value.strip().startswith("-"):
            raise ValueError(f"{what} must not be negative, got '{value}'")
        match = _QUANTITY.match(value)
        if match is None:
            raise ValueError(f"cannot read {what} '{value}'")
        number, unit = float(match.group(1)), match.group(2)
    else:
        raise ValueError(f"{what} must be a number or a string with a unit, got {_describe(value)}")
    if number < 0:
        raise ValueError(f"{what} must not be negative, got {value}")
    if number != number or number == float("inf"):
        raise ValueError(f"{what} must be a finite number, got {value}")
    return number, unit


def _describe(value: object) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing"
    return f"{type(value).__name__} {value!r}"


def _unit_factor(unit: str, units: dict[str, float] | dict[str, int], what: str) -> float:
    unit = UNIT_ALIASES.get(unit, unit)
    if unit not in units:
        raise ValueError(f"unknown {what} unit '{unit}'{did_you_mean(unit, units)}")
    return float(units[unit])


def _scaled(number: float, factor: float, value: object, what: str) -> float:
    """``number`` in base units; finite, since reports are JSON and JSON has no infinity."""
    scaled = number * factor
    if scaled == float("inf"):
        raise ValueError(f"{what} is too large, got {value}")
    return scaled


def parse_duration(value: object) -> float:
    """``"200ms"`` -> 0.2; a bare number is seconds."""
    number, unit = _split(value, "a time")
    return (
        number if unit is None else _scaled(number, _unit_factor(unit, TIME_UNITS, "time"), value, "a time")
    )


def parse_size(value: object) -> int:
    """``"20MB"`` -> 20_000_000; a bare number is bytes."""
    number, unit = _split(value, "a memory size")
    factor = 1.0 if unit is None else _unit_factor(unit, SIZE_UNITS, "memory")
    return round(_scaled(number, factor, value, "a memory size"))


def parse_count(value: object) -> int:
    """A non-negative integer, such as a number of queries or rounds."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected a whole number, got {_describe(value)}")
    if value < 0:
        raise ValueError(f"must not be negative, got {value}")
    return value


def parse_percent(value: object) -> float:
    """``"20%"`` -> 0.2."""
    if not isinstance(value, str) or not value.strip().endswith("%"):
        raise ValueError(f"expected a percentage such as '20%', got {_describe(value)}")
    number, unit = _split(value.strip()[:-1], "a percentage")
    if unit is not None:
        raise ValueError(f"cannot read percentage '{value}'")
    return number / 100


def parse_rate(value: object) -> float:
    """``"5000/s"`` or ``"300/min"`` -> operations per second; a bare number is per second."""
    if isinstance(value, str) and "/" in value:
        amount, _, per = value.partition("/")
        number, unit = _split(amount, "a throughput")
        if unit is not None:
            raise ValueError(f"cannot read throughput '{value}'")
        return _scaled(number, _unit_factor(per.strip(), RATE_UNITS, "throughput"), value, "a throughput")
    number, unit = _split(value, "a throughput")
    if unit is not None:
        raise ValueError(f"cannot read throughput '{value}' (write it as '5000/s')")
    return number


def _significant(number: float) -> str:
    text = f"{number:.3g}"
    if "e" in text:
        text = f"{number:.0f}"
    return text


def format_duration(seconds: float) -> str:
    """0.0123 -> ``12.3ms``."""
    magnitude = abs(seconds)
    if magnitude == 0:
        return "0s"
    for unit, factor in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if magnitude >= factor:
            return _significant(seconds / factor) + unit
    return _significant(seconds / 1e-9) + "ns"


def format_size(size: float) -> str:
    """1_500_000 -> ``1.5MB`` (decimal units, as budgets are usually written)."""
    magnitude = abs(size)
    for unit, factor in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if magnitude >= factor:
            return _significant(size / factor) + unit
    return f"{size:.0f}B"


def format_rate(per_second: float) -> str:
    return _significant(per_second) + "/s"
