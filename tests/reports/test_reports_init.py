"""Rounding budgets up nicely for ``perfbudget init``."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pytest_perfbudget.init_budgets import memory_budget, round_up, time_budget
from pytest_perfbudget.units import parse_duration, parse_size


@pytest.mark.parametrize(
    ("value", "expected"),
    [(15.99, "16"), (7.02, "7.1"), (7.0, "7"), (1234, "1300"), (0.123, "0.13"), (99.1, "100"), (0, "0")],
)
def test_round_up_to_two_significant_digits(value: float, expected: str) -> None:
    assert f"{round_up(value):f}" == expected
    assert round_up(value) >= Decimal(str(value))


@pytest.mark.parametrize(
    ("seconds", "headroom", "expected"),
    [
        (0.0123, 0.3, "16ms"),
        (0.0054, 0.3, "7.1ms"),
        (0.7691, 0.3, "1s"),  # 999.8ms rounds up to 1000ms: written as 1s
        (1.234, 0.3, "1.7s"),
        (12.0, 0.0, "12s"),
        (0.0004, 0.3, "1ms"),  # never under the 1ms floor
        (0.0, 0.3, "1ms"),
    ],
)
def test_time_budget(seconds: float, headroom: float, expected: str) -> None:
    assert time_budget(seconds, headroom) == expected
    assert parse_duration(expected) >= seconds * (1 + headroom) - 1e-12


@pytest.mark.parametrize(
    ("size", "expected"),
    [(1_048_576, "1.4MB"), (800_160, "1.1MB"), (120, "160B"), (999_999, "1.3MB"), (2_000_000_000, "2.6GB")],
)
def test_memory_budget(size: int, expected: str) -> None:
    assert memory_budget(size, 0.3) == expected
    assert parse_size(expected) >= size * 1.3
