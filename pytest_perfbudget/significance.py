"""Is a timing change real? Rank tests, bootstrap intervals and a stability check over rounds.

Pure Python: a regression against a baseline with rounds on both sides is judged by
:func:`judge_regression`, which asks for the change to be beyond the tolerance *and*
significant (a one-sided Mann-Whitney U test), so a few unlucky rounds do not fail a build.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from . import stats
from .stats import percentile

# Exact p-values (no ties) while both samples are at most this large; the normal approximation above.
EXACT_LIMIT = 20
MAX_RSD = 0.10  # pyperf warns above a 10% standard deviation
MAX_SPREAD = 0.5  # (max - min) / median
SHORTEST = 0.001  # rounds shorter than 1 ms are mostly timer and scheduler noise
ADVICE = (
    "measure more rounds (rounds: 10) and budget the min, budget CPU time (cpu:) "
    "instead of wall time, or give the budget more headroom"
)
# For unstable CPU times: moving to CPU time is no longer an option.
CPU_ADVICE = "measure more rounds (rounds: 10) and budget the min, or give the budget more headroom"
# Statistics that a few slow rounds do not move: their significance test sets those rounds aside.
ROBUST_STATISTICS = frozenset({"min", "median"})


def _ranks(values: Sequence[float]) -> tuple[list[float], list[int]]:
    """Mid-ranks (1-based) of ``values`` in their order, and the sizes of groups of ties."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    ties = []
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for position in range(start, end + 1):
            ranks[order[position]] = (start + end) / 2 + 1
        ties.append(end - start + 1)
        start = end + 1
    return ranks, ties


@cache
def _u_counts(m: int, n: int) -> tuple[int, ...]:
    """How many orderings of m and n distinct values give U = 0, 1, ..., m * n."""
    if m == 0 or n == 0:
        return (1,)
    # The largest value belongs to the first sample (beating all n) or to the second.
    with_first, with_second = _u_counts(m - 1, n), _u_counts(m, n - 1)
    counts = [0] * (m * n + 1)
    for u, count in enumerate(with_first):
        counts[u + n] += count
    for u, count in enumerate(with_second):
        counts[u] += count
    return tuple(counts)


def mann_whitney_u(before: Sequence[float], after: Sequence[float]) -> float:
    """One-sided p-value that ``after`` tends to be larger than ``before`` (Mann-Whitney U).

    Exact without ties for samples of up to :data:`EXACT_LIMIT` values, otherwise the normal
    approximation with tie and continuity corrections (as ``scipy.stats.mannwhitneyu(after,
    before, alternative="greater")``). Samples that are all one value give 1.0: no evidence.
    """
    m, n = len(after), len(before)
    if m == 0 or n == 0:
        raise ValueError("both samples need at least one value")
    ranks, ties = _ranks([*after, *before])
    u = sum(ranks[:m]) - m * (m + 1) / 2  # pairs in which the after value is larger, ties half
    total = m + n
    if max(ties) == 1 and max(m, n) <= EXACT_LIMIT:
        counts = _u_counts(m, n)
        return sum(counts[math.ceil(u) :]) / math.comb(total, m)
    tie_term = sum(t**3 - t for t in ties) / (total * (total - 1))
    variance = m * n / 12 * ((total + 1) - tie_term)
    if variance <= 0:
        return 1.0
    z = (u - m * n / 2 - 0.5) / math.sqrt(variance)
    return 0.5 * math.erfc(z / math.sqrt(2))


def _median_ratio(before: Sequence[float], after: Sequence[float]) -> float:
    old, new = percentile(before, 0.5), percentile(after, 0.5)
    if old == 0:
        return 1.0 if new == 0 else math.inf
    return new / old


def bootstrap_ratio_interval(
    before: Sequence[float],
    after: Sequence[float],
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    """A percentile bootstrap interval for median(after) / median(before); the same for one seed."""
    if not before or not after:
        raise ValueError("both samples need at least one value")
    if not 0 < confidence < 1 or resamples < 1:
        raise ValueError("confidence must be between 0 and 1, resamples at least 1")
    rng = random.Random(seed)
    ratios = sorted(
        _median_ratio(rng.choices(before, k=len(before)), rng.choices(after, k=len(after)))
        for _ in range(resamples)
    )
    tail = (1 - confidence) / 2  # nearest ranks: no interpolation between an infinite ratio and another

    def rank(fraction: float) -> float:
        return ratios[round(fraction * (resamples - 1))]

    return rank(tail), rank(1 - tail)


@dataclass(frozen=True)
class Stability:
    """Whether rounds agree well enough to judge a time on them; ``message`` says what to do if not."""

    stable: bool
    rsd: float  # standard deviation / mean
    spread: float  # (max - min) / median
    message: str | None = None


def stability(
    values: Sequence[float],
    max_rsd: float = MAX_RSD,
    max_spread: float = MAX_SPREAD,
    *,
    advice: str = ADVICE,
) -> Stability:
    """pyperf-style check of a test's rounds: unstable when they vary too much or are too short.

    Fewer than three rounds cannot show a spread and count as stable. ``advice`` ends the message
    of unstable rounds: what to do about it.
    """
    if not values:
        raise ValueError("no values")
    mean = math.fsum(values) / len(values)
    median = percentile(values, 0.5)
    if len(values) < 3 or mean <= 0:
        return Stability(True, 0.0, 0.0)
    rsd = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1)) / mean
    spread = (max(values) - min(values)) / median if median > 0 else math.inf
    problems = []
    if rsd > max_rsd:
        problems.append(f"rounds vary by {rsd:.0%} (relative standard deviation)")
    if spread > max_spread:
        problems.append(f"the slowest and the fastest round differ by {spread:.0%} of the median")
    if median < SHORTEST:
        problems.append(f"rounds take {median * 1e6:.0f} µs, where timer and scheduler noise dominate")
    if not problems:
        return Stability(True, rsd, spread)
    return Stability(False, rsd, spread, f"unstable: {'; '.join(problems)}: {advice}")


def without_slow_outliers(values: Sequence[float]) -> list[float]:
    """``values`` without those above Tukey's upper fence, Q3 + 1.5 x IQR.

    Noise only ever adds time: a round that a garbage collection or another process slowed is an
    outlier upwards. An allocation-heavy test may even have one at the same round of every run.
    """
    first, third = percentile(values, 0.25), percentile(values, 0.75)
    fence = third + 1.5 * (third - first)
    return [value for value in values if value <= fence]


def judge_regression(
    before_rounds: Sequence[float],
    after_rounds: Sequence[float],
    tolerance_relative: float,
    noise_floor: float,
    *,
    statistic: str = "median",
    alpha: float = 0.05,
) -> tuple[bool, float]:
    """(regressed, confidence): is ``after`` worse than ``before`` beyond the tolerance, for real?

    Regressed only when ``statistic`` (over the rounds) grew by more than ``tolerance_relative`` of its
    baseline value and by at least ``noise_floor`` (seconds), *and* the rounds are significantly
    larger (one-sided Mann-Whitney p-value at most ``alpha``). ``confidence`` is 1 - p. Meant for
    runs with three rounds or more on both sides; with 3 and 3, only fully separated rounds reach
    p = 0.05.

    For ``min`` and ``median`` the test leaves out slow outliers on each side
    (:func:`without_slow_outliers`), as the statistic does: with 5 rounds, one slow round on each
    side is enough to keep a 3x slowdown of the other four from significance.
    """
    old = stats.statistic(before_rounds, statistic)
    new = stats.statistic(after_rounds, statistic)
    beyond = new - old > tolerance_relative * abs(old) and new - old >= noise_floor
    if statistic in ROBUST_STATISTICS:
        before_rounds, after_rounds = (
            without_slow_outliers(before_rounds),
            without_slow_outliers(after_rounds),
        )
    p = mann_whitney_u(before_rounds, after_rounds)
    return beyond and p <= alpha, 1 - p
