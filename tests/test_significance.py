"""Significance of timing changes: Mann-Whitney U, bootstrap intervals, stability, judge_regression."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_perfbudget.significance import (
    EXACT_LIMIT,
    _u_counts,
    bootstrap_ratio_interval,
    judge_regression,
    mann_whitney_u,
    stability,
    without_slow_outliers,
)

# --- Mann-Whitney U ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        ([1.0], [2.0], 0.5),  # one ordering of two: U = 1 or 0, each with probability 1/2
        ([2.0], [1.0], 1.0),
        ([1.0, 2.0, 3.0], [4.0, 5.0, 6.0], 1 / 20),  # fully separated: 1 of C(6, 3) orderings
        ([1.0, 2.0, 3.0, 4.0, 5.0], [6.0, 7.0, 8.0, 9.0, 10.0], 1 / 252),
        ([6.0, 7.0, 8.0, 9.0, 10.0], [1.0, 2.0, 3.0, 4.0, 5.0], 1.0),
    ],
)
def test_exact_p_values_by_hand(before: list[float], after: list[float], expected: float) -> None:
    assert mann_whitney_u(before, after) == pytest.approx(expected)


def test_u_distribution_counts_every_ordering() -> None:
    for m, n in [(1, 1), (2, 3), (5, 5), (4, 9)]:
        counts = _u_counts(m, n)
        assert len(counts) == m * n + 1
        assert sum(counts) == math.comb(m + n, m)
        assert counts == counts[::-1]  # U is symmetric around m * n / 2


def test_all_values_tied_is_no_evidence() -> None:
    assert mann_whitney_u([0.01, 0.01, 0.01], [0.01, 0.01]) == 1.0
    assert mann_whitney_u([3.0], [3.0]) == 1.0


def test_identical_samples_are_not_significant() -> None:
    values = [0.010, 0.012, 0.011, 0.013, 0.009]
    assert mann_whitney_u(values, list(values)) > 0.5


def test_ties_use_the_normal_approximation() -> None:
    before = [1.0, 1.0, 2.0, 2.0, 3.0]
    after = [2.0, 3.0, 3.0, 4.0, 4.0]
    # U = 22 of 25, mean 12.5; ties of 2, 3, 3 and 2 values: sum(t^3 - t) = 60 over 10 * 9
    z = (22 - 12.5 - 0.5) / math.sqrt(25 / 12 * (11 - 60 / 90))
    assert mann_whitney_u(before, after) == pytest.approx(0.5 * math.erfc(z / math.sqrt(2)))


def test_empty_sample_is_an_error() -> None:
    with pytest.raises(ValueError, match="at least one value"):
        mann_whitney_u([], [1.0])
    with pytest.raises(ValueError, match="at least one value"):
        mann_whitney_u([1.0], [])


@given(
    st.lists(st.floats(0.001, 1.0), min_size=1, max_size=12),
    st.lists(st.floats(0.001, 1.0), min_size=1, max_size=12),
)
def test_p_value_is_a_probability_and_the_two_sides_cover_everything(
    before: list[float], after: list[float]
) -> None:
    greater, less = mann_whitney_u(before, after), mann_whitney_u(after, before)
    assert 0.0 <= greater <= 1.0
    assert greater + less >= 1.0 - 1e-9  # P(U >= u) + P(U <= u) = 1 + P(U = u)


@given(st.lists(st.floats(0.001, 1.0), min_size=2, max_size=10, unique=True), st.floats(1.01, 3.0))
def test_slowing_every_round_never_weakens_the_evidence(values: list[float], factor: float) -> None:
    slower = [value * factor for value in values]
    assert mann_whitney_u(values, slower) <= mann_whitney_u(values, values)


def _samples(
    seed: int, m: int, n: int, shift: float, decimals: int | None
) -> tuple[list[float], list[float]]:
    rng = random.Random(seed)

    def draw(offset: float) -> float:
        value = rng.lognormvariate(0, 0.3) + offset
        return value if decimals is None else round(value, decimals)

    return [draw(0) for _ in range(m)], [draw(shift) for _ in range(n)]


@pytest.mark.parametrize(("m", "n"), [(1, 1), (3, 3), (5, 5), (3, 8), (10, 10), (20, 20), (25, 30), (40, 7)])
@pytest.mark.parametrize("decimals", [None, 1], ids=["distinct", "ties"])
def test_agrees_with_scipy(m: int, n: int, decimals: int | None) -> None:
    scipy_stats = pytest.importorskip("scipy.stats")
    for seed in range(5):
        before, after = _samples(seed, m, n, shift=0.2, decimals=decimals)
        ties = len(set(before + after)) < m + n
        method = "exact" if not ties and max(m, n) <= EXACT_LIMIT else "asymptotic"
        expected = scipy_stats.mannwhitneyu(after, before, alternative="greater", method=method).pvalue
        if math.isnan(expected):  # scipy gives nan when every value is tied; we say "no evidence"
            expected = 1.0
        assert mann_whitney_u(before, after) == pytest.approx(expected, rel=1e-9, abs=1e-12)


# --- bootstrap interval -----------------------------------------------------------------------


def test_bootstrap_is_deterministic_for_a_seed() -> None:
    before, after = _samples(1, 8, 8, shift=0.5, decimals=None)
    first = bootstrap_ratio_interval(before, after, seed=3)
    assert bootstrap_ratio_interval(before, after, seed=3) == first
    assert bootstrap_ratio_interval(before, after, seed=4) != first


def test_bootstrap_interval_surrounds_a_clear_ratio() -> None:
    before = [0.100, 0.102, 0.098, 0.101, 0.099, 0.100, 0.103]
    after = [value * 1.5 for value in before]
    low, high = bootstrap_ratio_interval(before, after)
    assert low <= 1.5 <= high
    assert low > 1.4
    assert high < 1.6


def test_bootstrap_narrows_as_confidence_drops() -> None:
    before, after = _samples(2, 10, 10, shift=0.3, decimals=None)
    wide = bootstrap_ratio_interval(before, after, confidence=0.99)
    narrow = bootstrap_ratio_interval(before, after, confidence=0.5)
    assert wide[0] <= narrow[0] <= narrow[1] <= wide[1]


def test_bootstrap_of_single_and_identical_values() -> None:
    assert bootstrap_ratio_interval([2.0], [3.0]) == (1.5, 1.5)
    assert bootstrap_ratio_interval([1.0, 1.0], [1.0, 1.0]) == (1.0, 1.0)
    assert bootstrap_ratio_interval([0.0], [0.0]) == (1.0, 1.0)
    assert bootstrap_ratio_interval([0.0], [1.0]) == (math.inf, math.inf)


def test_bootstrap_refuses_bad_arguments() -> None:
    with pytest.raises(ValueError, match="at least one value"):
        bootstrap_ratio_interval([], [1.0])
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_ratio_interval([1.0], [1.0], confidence=1.0)
    with pytest.raises(ValueError, match="resamples"):
        bootstrap_ratio_interval([1.0], [1.0], resamples=0)


# --- stability -------------------------------------------------------------------------------


def test_steady_rounds_are_stable() -> None:
    result = stability([0.0100, 0.0102, 0.0099, 0.0101, 0.0100])
    assert result.stable
    assert result.message is None
    assert result.rsd < 0.02


def test_identical_rounds_are_stable() -> None:
    result = stability([0.05] * 5)
    assert result.stable
    assert (result.rsd, result.spread) == (0.0, 0.0)


def test_rounds_that_vary_are_unstable_with_advice() -> None:
    result = stability([0.010, 0.025, 0.011, 0.010, 0.012])
    assert not result.stable
    assert result.rsd > 0.1
    assert result.spread == pytest.approx(0.015 / 0.011)
    assert result.message is not None
    for advice in ("rounds", "cpu:", "headroom"):
        assert advice in result.message


def test_one_outlier_is_caught_by_the_spread() -> None:
    result = stability([0.010] * 49 + [0.0156])
    assert result.rsd < 0.1
    assert not result.stable
    assert "differ by 56%" in str(result.message)


def test_rounds_under_a_millisecond_are_unstable() -> None:
    result = stability([0.0002, 0.0002, 0.0002])
    assert not result.stable
    assert "200 µs" in str(result.message)


def test_too_few_rounds_to_judge_count_as_stable() -> None:
    assert stability([0.010]).stable
    assert stability([0.010, 0.030]).stable
    with pytest.raises(ValueError, match="no values"):
        stability([])


# --- judge_regression ----------------------------------------------------------------------------

BEFORE = [0.100, 0.102, 0.098, 0.101, 0.099]


def test_a_clear_slowdown_is_a_regression() -> None:
    regressed, confidence = judge_regression(BEFORE, [v * 1.5 for v in BEFORE], 0.2, 0.001)
    assert regressed
    assert confidence == pytest.approx(1 - 1 / 252)


def test_a_significant_change_within_tolerance_is_not_a_regression() -> None:
    regressed, confidence = judge_regression(BEFORE, [v * 1.1 for v in BEFORE], 0.2, 0.001)
    assert not regressed
    assert confidence > 0.99


def test_a_change_beyond_tolerance_from_a_few_slow_rounds_is_not_a_regression() -> None:
    after = [0.100, 0.160, 0.099, 0.150, 0.125]  # the median is 25% up, but rounds overlap
    regressed, confidence = judge_regression(BEFORE, after, 0.2, 0.001)
    assert not regressed
    assert confidence < 0.95


def test_a_change_under_the_noise_floor_is_not_a_regression() -> None:
    before = [0.0001, 0.00011, 0.00009]
    regressed, _ = judge_regression(before, [v * 3 for v in before], 0.2, 0.001)
    assert not regressed


def test_an_improvement_is_not_a_regression() -> None:
    regressed, confidence = judge_regression(BEFORE, [v / 2 for v in BEFORE], 0.2, 0.001)
    assert not regressed
    assert confidence == 0.0


def test_three_rounds_each_are_enough_when_fully_separated() -> None:
    assert judge_regression([1.0, 1.1, 1.05], [2.0, 2.1, 2.05], 0.2, 0.001) == (True, pytest.approx(0.95))
    assert not judge_regression([1.0, 1.1, 1.05], [2.0, 2.1, 1.04], 0.2, 0.001)[0]


def test_identical_runs_are_not_a_regression() -> None:
    assert not judge_regression(BEFORE, BEFORE, 0.0, 0.0)[0]


def test_the_statistic_decides_the_size_of_the_change() -> None:
    after = [0.130, 0.1165, 0.125, 0.121, 0.119]  # min +19%, median +21%
    assert judge_regression(BEFORE, after, 0.2, 0.001, statistic="median")[0]
    assert not judge_regression(BEFORE, after, 0.2, 0.001, statistic="min")[0]


def test_alpha_sets_how_sure_it_must_be() -> None:
    after = [0.150, 0.148, 0.1005, 0.151, 0.149]  # p = 4/252
    assert judge_regression(BEFORE, after, 0.2, 0.001, alpha=0.05)[0]
    assert not judge_regression(BEFORE, after, 0.2, 0.001, alpha=0.01)[0]


# One slow round at the same place in both runs: a collection that an allocation-heavy test triggers
# (measured in the noise study: test_alloc[5ms] slowed 3x).
COLLECTED_BEFORE = [0.00217, 0.00166, 0.01837, 0.00156, 0.00150]
COLLECTED_AFTER = [0.00611, 0.00519, 0.00496, 0.01753, 0.00501]


@pytest.mark.parametrize("statistic", ["min", "median"])
def test_slow_outliers_do_not_hide_a_slowdown_of_the_other_rounds(statistic: str) -> None:
    regressed, confidence = judge_regression(
        COLLECTED_BEFORE, COLLECTED_AFTER, 0.2, 0.001, statistic=statistic
    )
    assert regressed
    assert confidence == pytest.approx(1 - 1 / 70)  # 4 rounds against 4, fully separated


def test_the_mean_is_judged_on_every_round() -> None:
    regressed, confidence = judge_regression(COLLECTED_BEFORE, COLLECTED_AFTER, 0.2, 0.001, statistic="mean")
    assert not regressed
    assert confidence == pytest.approx(1 - 19 / 252)


@pytest.mark.parametrize(
    ("values", "kept"),
    [
        ([1.0, 1.1, 9.0, 1.2, 1.0], [1.0, 1.1, 1.2, 1.0]),
        ([1.0, 1.1, 1.2, 1.0, 0.1], [1.0, 1.1, 1.2, 1.0, 0.1]),  # a fast round is no noise to set aside
        ([1.0, 1.0, 5.0], [1.0, 1.0, 5.0]),  # three rounds: Q3 is halfway to the slow one
    ],
)
def test_only_rounds_beyond_the_upper_fence_are_set_aside(values: list[float], kept: list[float]) -> None:
    assert without_slow_outliers(values) == kept


def _timing(rounds: list[float]) -> dict[str, object]:
    from pytest_perfbudget.metrics import distribution

    return {"time": distribution(rounds)}


def test_a_baseline_time_change_within_the_spread_is_not_a_regression() -> None:
    from pytest_perfbudget.budgets import Tolerance
    from pytest_perfbudget.compare import compare_metrics

    before = _timing([0.010, 0.030, 0.011, 0.029, 0.012])
    after = _timing([0.031, 0.010, 0.032, 0.012, 0.030])  # median up 150%, rounds overlap
    (change,) = compare_metrics(
        before, after, tolerance={"time": Tolerance(relative=0.2)}, noise_floor=0.001, statistic="median"
    )
    assert change.after > change.before * 1.2
    assert change.significant is False
    assert not change.regressed
    assert 0 < change.to_json()["confidence"] < 0.95


def test_a_separated_slowdown_is_a_significant_regression_and_single_rounds_use_the_tolerance() -> None:
    from pytest_perfbudget.budgets import Tolerance
    from pytest_perfbudget.compare import compare_metrics

    tolerance = {"time": Tolerance(relative=0.2)}
    (change,) = compare_metrics(
        _timing([0.010, 0.011, 0.012]),
        _timing([0.030, 0.031, 0.032]),
        tolerance=tolerance,
        noise_floor=0.001,
        statistic="median",
    )
    assert change.regressed
    assert change.confidence is not None
    assert change.confidence >= 0.95
    (single,) = compare_metrics(
        _timing([0.010]), _timing([0.030]), tolerance=tolerance, noise_floor=0.001, statistic="median"
    )
    assert single.significant is None
    assert single.regressed
