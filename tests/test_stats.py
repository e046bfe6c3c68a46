"""Statistics over rounds: percentiles interpolate linearly, as numpy does by default."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_perfbudget.stats import STATISTICS, percentile, statistic, summarize


def test_the_statistics_of_spec() -> None:
    assert set(STATISTICS) == {"min", "median", "mean", "max", "p50", "p90", "p95", "p99"}


@pytest.mark.parametrize(
    ("values", "fraction", "expected"),
    [
        ([1, 2, 3, 4], 0.5, 2.5),
        ([1, 2, 3, 4], 0.9, 3.7),
        ([1, 2, 3, 4], 0.0, 1.0),
        ([1, 2, 3, 4], 1.0, 4.0),
        ([10, 20, 30, 40, 50], 0.95, 48.0),
        ([10, 20, 30, 40, 50], 0.99, 49.6),
        ([10, 20, 30, 40, 50], 0.5, 30.0),
        ([50, 10, 40, 20, 30], 0.9, 46.0),  # unsorted input
        (list(range(1, 101)), 0.99, 99.01),
    ],
)
def test_percentile_interpolates_linearly(values: list[float], fraction: float, expected: float) -> None:
    assert percentile(values, fraction) == pytest.approx(expected)


def test_every_named_statistic() -> None:
    values = [0.4, 0.1, 0.3, 0.2, 1.0]
    assert statistic(values, "min") == 0.1
    assert statistic(values, "max") == 1.0
    assert statistic(values, "mean") == pytest.approx(0.4)
    assert statistic(values, "median") == pytest.approx(0.3)
    assert statistic(values, "p50") == pytest.approx(0.3)
    assert statistic(values, "p90") == pytest.approx(0.76)
    assert statistic(values, "p95") == pytest.approx(0.88)
    assert statistic(values, "p99") == pytest.approx(0.976)


def test_median_of_an_even_number_of_rounds() -> None:
    assert statistic([4, 1, 3, 2], "median") == pytest.approx(2.5)


def test_a_single_round_is_every_statistic() -> None:
    assert summarize([0.0123]) == dict.fromkeys(STATISTICS, 0.0123)


def test_summarize_gives_every_statistic() -> None:
    summary = summarize([1.0, 2.0, 3.0])
    assert set(summary) == set(STATISTICS)
    assert summary["median"] == summary["p50"] == 2.0


def test_no_values_and_unknown_statistics_are_errors() -> None:
    with pytest.raises(ValueError, match="no values"):
        statistic([], "median")
    with pytest.raises(ValueError, match="no values"):
        percentile([], 0.5)
    with pytest.raises(ValueError, match="unknown statistic 'average'"):
        statistic([1.0], "average")


@settings(max_examples=200, deadline=None, database=None)
@given(st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), min_size=1, max_size=50))
def test_p50_is_the_median_and_statistics_are_ordered(values: list[float]) -> None:
    summary = summarize(values)
    assert summary["p50"] == summary["median"]
    assert (
        summary["min"]
        <= summary["p50"]
        <= summary["p90"]
        <= summary["p95"]
        <= summary["p99"]
        <= summary["max"]
    )
    slack = 1e-9 * max(1.0, summary["max"])
    assert summary["min"] - slack <= summary["mean"] <= summary["max"] + slack
