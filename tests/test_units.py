"""Units of the budget file: times, sizes, counts, percentages, rates, and how they are shown."""

from __future__ import annotations

import re

import pytest

from pytest_perfbudget.units import (
    format_duration,
    format_rate,
    format_size,
    parse_count,
    parse_duration,
    parse_percent,
    parse_rate,
    parse_size,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("3ns", 3e-9),
        ("250us", 250e-6),
        ("250µs", 250e-6),
        ("250\u03bcs", 250e-6),  # the Greek letter mu, as many keyboards type the micro sign
        ("200ms", 0.2),
        ("200 ms", 0.2),
        ("1.5s", 1.5),
        (".5s", 0.5),
        ("2min", 120.0),
        ("1e3ms", 1.0),
        ("0s", 0.0),
        ("2", 2.0),  # a bare number in a string is seconds too
        (2, 2.0),
        (0.25, 0.25),
    ],
)
def test_parse_duration(text: object, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("1B", 1),
        ("20kB", 20_000),
        ("20MB", 20_000_000),
        ("2GB", 2_000_000_000),
        ("1KiB", 1024),
        ("20MiB", 20 * 1024**2),
        ("2GiB", 2 * 1024**3),
        ("1.5kB", 1500),
        ("64 MB", 64_000_000),
        (4096, 4096),
        ("4096", 4096),
    ],
)
def test_parse_size(text: object, size: int) -> None:
    assert parse_size(text) == size
    assert isinstance(parse_size(text), int)


@pytest.mark.parametrize(
    ("text", "rate"),
    [("5000/s", 5000.0), ("300/min", 5.0), (" 5000 / s ", 5000.0), (100, 100.0), ("2.5/s", 2.5)],
)
def test_parse_rate(text: object, rate: float) -> None:
    assert parse_rate(text) == pytest.approx(rate)


@pytest.mark.parametrize(("text", "fraction"), [("20%", 0.2), ("0%", 0.0), ("12.5%", 0.125), ("150%", 1.5)])
def test_parse_percent(text: str, fraction: float) -> None:
    assert parse_percent(text) == pytest.approx(fraction)


@pytest.mark.parametrize("value", [0, 3, 10_000])
def test_parse_count(value: int) -> None:
    assert parse_count(value) == value


@pytest.mark.parametrize(
    ("parser", "value", "message"),
    [
        (parse_duration, "-1s", "must not be negative"),
        (parse_duration, -1, "must not be negative"),
        (parse_duration, -0.5, "must not be negative"),
        (parse_size, "-1MB", "must not be negative"),
        (parse_size, -5, "must not be negative"),
        (parse_rate, "-5/s", "must not be negative"),
        (parse_rate, -5, "must not be negative"),
        (parse_percent, "-5%", "must not be negative"),
        (parse_count, -1, "must not be negative"),
    ],
)
def test_negative_values_are_refused(parser: object, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parser(value)  # type: ignore[operator]


@pytest.mark.parametrize(
    ("parser", "value", "message"),
    [
        (parse_duration, "5sec", "unknown time unit 'sec' (did you mean 's'?)"),
        (parse_duration, "5mins", "unknown time unit 'mins' (did you mean 'min'?)"),
        (parse_duration, "5msec", "unknown time unit 'msec' (did you mean 'ms'?)"),
        (parse_size, "20Mib", "unknown memory unit 'Mib' (did you mean 'MiB'?)"),
        (parse_size, "20KB", "unknown memory unit 'KB' (did you mean 'kB'?)"),
        (parse_rate, "5000/sec", "unknown throughput unit 'sec' (did you mean 's'?)"),
    ],
)
def test_bad_units_suggest_the_closest(parser: object, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        parser(value)  # type: ignore[operator]


def test_a_unit_in_the_wrong_case_suggests_the_right_one() -> None:
    """Units are case-sensitive; '20mb' is a typo for '20MB' and should say so."""
    with pytest.raises(ValueError, match="unknown memory unit 'mb'") as caught:
        parse_size("20mb")
    assert "(did you mean 'MB'?)" in str(caught.value)


def test_an_unrelated_unit_gets_no_suggestion() -> None:
    with pytest.raises(ValueError, match=r"^unknown time unit 'fortnights'$"):
        parse_duration("5 fortnights")


@pytest.mark.parametrize("parser", [parse_duration, parse_size, parse_count, parse_rate, parse_percent])
@pytest.mark.parametrize("value", [True, False])
def test_bools_are_refused(parser: object, value: bool) -> None:
    with pytest.raises(ValueError, match=f"got bool {value}"):
        parser(value)  # type: ignore[operator]


@pytest.mark.parametrize(
    ("parser", "value", "message"),
    [
        (parse_duration, "fast", "cannot read a time 'fast'"),
        (parse_duration, None, "a time must be a number or a string with a unit, got nothing"),
        (parse_duration, [1], "got a list"),
        (parse_duration, {"p95": 1}, "got a mapping"),
        (parse_duration, "1s2", "unknown time unit 's2'"),
        (parse_duration, float("nan"), "finite"),
        (parse_duration, float("inf"), "finite"),
        (parse_size, "lots", "cannot read a memory size 'lots'"),
        (parse_size, "20 MB extra", "20 MB extra|MB extra"),
        (parse_count, 3.0, "expected a whole number, got float 3.0"),
        (parse_count, "3", "expected a whole number, got str '3'"),
        (parse_count, "three", "expected a whole number, got str 'three'"),
        (parse_count, None, "expected a whole number, got nothing"),
        (parse_percent, "20", "expected a percentage such as '20%'"),
        (parse_percent, 0.2, "expected a percentage such as '20%'"),
        (parse_percent, "20s%", "20s%"),
        (parse_rate, "5000 ops", "cannot read throughput '5000 ops' \\(write it as '5000/s'\\)"),
        (parse_rate, "5000ms/s", "5000ms/s"),
        # Finite as written, infinite in base units: JSON reports could not hold them.
        (parse_duration, "1e308min", "a time is too large, got 1e308min"),
        (parse_size, "1e308GB", "a memory size is too large, got 1e308GB"),
        (parse_size, "1e300GiB", "a memory size is too large"),
    ],
)
def test_unreadable_values_are_refused(parser: object, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parser(value)  # type: ignore[operator]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (0.0123, "12.3ms"),
        (1.5, "1.5s"),
        (0.2, "200ms"),
        (2.5e-6, "2.5µs"),
        (2e-9, "2ns"),
        (120, "120s"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize(
    ("size", "text"),
    [(999, "999B"), (0, "0B"), (12_345, "12.3kB"), (1_500_000, "1.5MB"), (2_000_000_000, "2GB")],
)
def test_format_size(size: int, text: str) -> None:
    assert format_size(size) == text


@pytest.mark.parametrize(
    ("rate", "text"), [(5000, "5000/s"), (12_345.6, "12346/s"), (0.5, "0.5/s"), (250, "250/s")]
)
def test_format_rate(rate: float, text: str) -> None:
    assert format_rate(rate) == text


@pytest.mark.parametrize("text", ["200ms", "1.5s", "20us", "3min"])
def test_a_formatted_duration_parses_back(text: str) -> None:
    assert parse_duration(format_duration(parse_duration(text))) == pytest.approx(parse_duration(text))
