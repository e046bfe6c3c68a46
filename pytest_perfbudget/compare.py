"""Comparing measurements with a baseline: per metric, before, after, change, and a judgement.

Used twice: inside a run (``--perf-baseline``), where a regression beyond the
tolerance is a violation that fails the test, and by ``perfbudget compare``
on two JSON reports.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .budgets import Tolerance
from .calibration import Calibration
from .significance import judge_regression

# Metrics compared with a baseline, and whether a larger value is worse.
COMPARED: dict[str, bool] = {
    "time": True,
    "cpu": True,
    "memory": True,
    "rss": True,
    "leak": True,
    "queries": True,
    "sql_time": True,
    "n_plus_one": True,
    "throughput": False,
}
TIMINGS = frozenset({"time", "cpu", "sql_time"})
SIGNIFICANCE_ROUNDS = 3  # both runs need this many rounds for a significance test
ENVIRONMENT_KEYS = ("python", "implementation", "platform", "machine", "cpu")
# The largest metric value a report may hold: 31 million years, a petabyte, 10^15 queries.
# Beyond it a value is a mistake or a forgery, and arithmetic on it would overflow to infinity.
MAX_METRIC_VALUE = 1e15
# A number too large for a float (1e999) reads as infinity: only a text with one is read again.
_HUGE_EXPONENT = re.compile(r"[0-9][eE]\+?0*[0-9]{3}")


class BaselineError(Exception):
    """A baseline or report file that cannot be read; ``str()`` is the one-line message."""


@dataclass(frozen=True)
class Change:
    """One metric of one test against its baseline."""

    metric: str
    before: float
    after: float
    allowance: float | None  # how much worse ``after`` may be; None: the metric is not gated
    statistic: str | None = None
    noise_floor: float = 0.0
    significant: bool | None = None  # a Mann-Whitney verdict, when both runs had rounds
    confidence: float | None = None
    scale: float = 1.0  # calibration on a re-measurement stretched the baseline's value this much

    @property
    def change(self) -> float | None:
        """Relative change, ``(after - before) / before``; None from zero."""
        if self.before == 0:
            return None if self.after != 0 else 0.0
        return (self.after - self.before) / self.before

    def _stretched(self, value: float) -> float:
        """``value`` at the machine's speed now: calibration on a re-measurement that found the
        machine slower stretches a time and shrinks a throughput; otherwise ``value`` itself."""
        return value * self.scale if COMPARED[self.metric] else value / self.scale

    def _worse_than(self, reference: float) -> float:
        difference = self.after - reference
        return difference if COMPARED[self.metric] else -difference

    def _beyond(self, amount: float, allowance: float | None) -> bool:
        if allowance is None:
            return False
        if self.metric in TIMINGS and abs(amount) < self.noise_floor:
            return False
        return amount > allowance

    @property
    def _stretched_allowance(self) -> float | None:
        return None if self.allowance is None else self._stretched(self.allowance)

    @property
    def regressed(self) -> bool:
        if self.significant is not None:
            return self.significant
        return self._beyond(self._worse_than(self._stretched(self.before)), self._stretched_allowance)

    @property
    def improved(self) -> bool:
        """Judged against the baseline as recorded: a stretch never makes a slow test an improvement."""
        return self._beyond(-self._worse_than(self.before), self.allowance)

    @property
    def threshold(self) -> float | None:
        """The value past which a time or CPU time regresses (noise floor and stretch included)."""
        allowance = self._stretched_allowance
        if allowance is None:
            return None
        return self._stretched(self.before) + max(allowance, self.noise_floor)

    @property
    def limit(self) -> float:
        """The worst value still within tolerance, before calibration's :attr:`scale`."""
        allowance = self.allowance or 0.0
        return self.before + allowance if COMPARED[self.metric] else self.before - allowance

    def to_json(self) -> dict[str, Any]:
        change = self.change
        data: dict[str, Any] = {
            "before": self.before,
            "after": self.after,
            "change": None if change is None else round(change, 4),
        }
        if self.statistic is not None:
            data["statistic"] = self.statistic
        if self.confidence is not None:
            data["confidence"] = round(self.confidence, 3)
        if self.scale != 1.0:
            data["scale"] = round(self.scale, 3)
        if self.regressed:
            data["regressed"] = True
        elif self.improved:
            data["improved"] = True
        return data


# Metrics are JSON data (dicts, floats, ints), read here for every metric of every test of a run
# or of a report: type tests against dict, not isinstance() against Mapping, which costs more.


def metric_value(metrics: Mapping[str, Any], metric: str, statistic: str) -> float | None:
    """A metric as one number: timings give the named statistic over their rounds."""
    value = metrics.get(metric)
    if type(value) is dict:
        value = value.get(statistic)
    return float(value) if isinstance(value, (int, float)) and type(value) is not bool else None


def _rounds(metrics: Mapping[str, Any], metric: str) -> list[float] | None:
    """A timing's rounds when there are enough for a significance test and they were not traced."""
    value = metrics.get(metric)
    if type(value) is not dict or value.get("traced"):
        return None
    rounds = value.get("rounds")
    if type(rounds) is not list or len(rounds) < SIGNIFICANCE_ROUNDS:
        return None
    return [float(round_) for round_ in rounds]


def _allowance(tolerance: Tolerance | None, before: float) -> float | None:
    if tolerance is None:
        return None
    if tolerance.relative is not None:
        return abs(before) * tolerance.relative
    return tolerance.absolute


def compare_metrics(
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    *,
    tolerance: Mapping[str, Tolerance],
    noise_floor: float,
    statistic: str,
    scales: Mapping[str, float] | None = None,
) -> list[Change]:
    """Every metric present in both runs, judged against ``tolerance``.

    ``scales`` stretches the baseline's values of some metrics (calibration on a re-measurement):
    a regression is judged against the baseline at the machine's speed now.
    """
    changes = []
    for metric in COMPARED:
        old = metric_value(before, metric, statistic)
        new = metric_value(after, metric, statistic)
        if old is None or new is None:
            continue
        old_value, new_value = before[metric], after[metric]
        timing = type(new_value) is dict
        traced = (type(old_value) is dict and old_value.get("traced")) or (timing and new_value.get("traced"))
        allowance = None if traced else _allowance(tolerance.get(metric), old)
        stat = statistic if timing else None
        significant = confidence = None
        if allowance is not None and timing and metric in ("time", "cpu"):
            old_rounds, new_rounds = _rounds(before, metric), _rounds(after, metric)
        else:
            old_rounds = new_rounds = None
        scale = scales.get(metric, 1.0) if scales else 1.0
        if allowance is not None and old_rounds and new_rounds:
            relative = allowance / abs(old) if old else 0.0
            stretched = old_rounds if scale == 1.0 else [value * scale for value in old_rounds]
            significant, confidence = judge_regression(
                stretched, new_rounds, relative, noise_floor, statistic=statistic
            )
        changes.append(Change(metric, old, new, allowance, stat, noise_floor, significant, confidence, scale))
    return changes


def environment_differences(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """``python 3.11.7 -> 3.12.4`` for each environment key that differs."""
    return [
        f"{key} {before.get(key)} -> {after.get(key)}"
        for key in ENVIRONMENT_KEYS
        if key in before and key in after and before[key] != after[key]
    ]


def load_report(path: Path, what: str = "report") -> dict[str, Any]:
    """Read a JSON report, refusing anything that is not one with a clear message.

    A report is user input: NaN, infinities, and metric values that are negative or
    beyond :data:`MAX_METRIC_VALUE` are refused with the test they belong to.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BaselineError(f"{path}: {what} file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise BaselineError(f"{path}: cannot read the {what}: {error}") from None
    document = _parse_json(path, text)
    if not isinstance(document, dict) or not str(document.get("schema", "")).startswith("pytest-perfbudget/"):
        raise BaselineError(f"{path}: not a pytest-perfbudget JSON report (no 'schema: pytest-perfbudget/1')")
    if not isinstance(document.get("environment", {}), dict):
        raise BaselineError(f"{path}: malformed report: 'environment' must be a mapping")
    tests = document.get("tests")
    if not isinstance(tests, list) or not all(isinstance(test, dict) and "nodeid" in test for test in tests):
        raise BaselineError(
            f"{path}: malformed report: 'tests' must be a list of test records with a 'nodeid'"
        )
    for test in tests:
        problem = _bad_metrics(test.get("metrics", {}))
        if problem is not None:
            raise BaselineError(f"{path}: malformed report: test '{test['nodeid']}': {problem}")
    return document


class _NotANumber(ValueError):
    """NaN or an infinity, which JSON does not have and Python's reader accepts."""


def _refuse_constant(name: str) -> float:
    raise _NotANumber(name)


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _NotANumber(text)
    return value


def _parse_json(path: Path, text: str) -> Any:
    finite = _finite if _HUGE_EXPONENT.search(text) else None
    try:
        return json.loads(text, parse_constant=_refuse_constant, parse_float=finite)
    except json.JSONDecodeError as error:
        raise BaselineError(f"{path}:{error.lineno}: not valid JSON: {error.msg}") from None
    except _NotANumber as error:
        raise BaselineError(f"{path}: not valid JSON: {error} is not a finite number") from None
    except RecursionError:
        raise BaselineError(f"{path}: not valid JSON: it nests too deeply") from None


def _bad_metrics(metrics: object) -> str | None:
    """What is wrong with a record's metrics, or None: each compared one is a number (a
    timing: its statistics and rounds are) from 0 to :data:`MAX_METRIC_VALUE`."""
    if type(metrics) is not dict:
        return "'metrics' must be a mapping"
    for metric in COMPARED:
        value = metrics.get(metric)
        if value is None or value.__class__ is bool:
            continue
        if type(value) is dict:
            rounds = value.get("rounds", [])
            numbers = [number for key, number in value.items() if key != "rounds" and key != "traced"]
            if type(rounds) is not list:
                return f"'{metric}' rounds must be a list"
            numbers += rounds
        else:
            numbers = [value]
        try:
            if numbers and not (min(numbers) >= 0 and max(numbers) <= MAX_METRIC_VALUE):
                return f"'{metric}' must be between 0 and {MAX_METRIC_VALUE:g}, got {_outside(numbers)}"
        except TypeError:
            return f"'{metric}' must be a number or a mapping of statistics to numbers"
    return None


def _outside(numbers: list[Any]) -> object:
    return next(number for number in numbers if not 0 <= number <= MAX_METRIC_VALUE)


def calibration_loop(document: Mapping[str, Any]) -> float | None:
    """The calibration loop's time in a report's run (``environment.calibration``), if it has one."""
    environment = document.get("environment")
    loop = environment.get("calibration") if isinstance(environment, dict) else None
    if isinstance(loop, (int, float)) and not isinstance(loop, bool) and loop > 0:
        return float(loop)
    return None


def tests_by_nodeid(document: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {str(test["nodeid"]): test for test in document.get("tests", [])}


def regression_json(change: Change, *, level: str, source: str) -> dict[str, Any]:
    """A regression as a violation record (kind ``regression``)."""
    data: dict[str, Any] = {
        "metric": change.metric,
        "kind": "regression",
        "limit": change.limit,
        "actual": change.after,
        "before": change.before,
        "change": change.to_json()["change"],
        "level": level,
        "source": source,
    }
    if change.statistic is not None:
        data["statistic"] = change.statistic
    if change.scale != 1.0:
        data["scale"] = round(change.scale, 3)
    return data


def baseline_section(
    source: str, before: Mapping[str, Any], after_nodeids: list[str], after_environment: Mapping[str, Any]
) -> dict[str, Any]:
    """What the report says about the baseline as a whole: new and vanished tests, environment."""
    before_tests = tests_by_nodeid(before)
    measured = set(after_nodeids)
    return {
        "path": source,
        "new": sorted(nodeid for nodeid in measured if nodeid not in before_tests),
        "vanished": sorted(nodeid for nodeid in before_tests if nodeid not in measured),
        "environment_differences": environment_differences(before.get("environment", {}), after_environment),
    }


def annotate(
    after: dict[str, Any],
    before: Mapping[str, Any],
    *,
    source: str,
    tolerance: Mapping[str, Tolerance],
    noise_floor: float,
    statistic: str = "median",
    level: str = "error",
) -> dict[str, Any]:
    """``after`` with a baseline entry and regression violations per test (``perfbudget compare``).

    A test re-measured with calibration recorded its loop's time: against a ``before`` run that
    recorded its own, the test's baseline values are stretched as ``--perf-baseline`` would have
    stretched them in that run, and its ``calibration`` entry is recomputed against ``before``.
    """
    before_tests = tests_by_nodeid(before)
    before_loop = calibration_loop(before)
    tests = []
    for test in after.get("tests", []):
        test = dict(test)
        old = before_tests.get(str(test["nodeid"]))
        violations = [v for v in test.get("violations", []) if v.get("kind") != "regression"]
        calibration = _recorded_calibration(test, before_loop if old is not None else None)
        if calibration is not None:
            test["calibration"] = calibration.to_json()
        if old is not None:
            changes = compare_metrics(
                old.get("metrics", {}),
                test.get("metrics", {}),
                tolerance=tolerance,
                noise_floor=noise_floor,
                statistic=statistic,
                scales=calibration.baseline_scales() if calibration is not None else None,
            )
            test["baseline"] = {change.metric: change.to_json() for change in changes}
            violations += [regression_json(c, level=level, source=source) for c in changes if c.regressed]
        else:
            test.pop("baseline", None)
        test["violations"] = violations
        tests.append(test)
    nodeids = [str(test["nodeid"]) for test in tests]
    return {
        **after,
        "tests": tests,
        "baseline": baseline_section(source, before, nodeids, after.get("environment", {})),
    }


def _recorded_calibration(test: Mapping[str, Any], baseline_loop: float | None) -> Calibration | None:
    """The loop around a test's re-measurement as its record holds it, against ``baseline_loop``."""
    recorded = test.get("calibration")
    if recorded is None:
        return None
    wall, cpu, reference = (float(recorded[key]) for key in ("loop", "loop_cpu", "reference"))
    if min(wall, cpu, reference) <= 0:
        raise ValueError(f"calibration of {test['nodeid']}: loop times must be positive")
    busy = float(recorded.get("busy", 1.0))  # recorded since the busy share exists; before, all busy
    if not 0.0 <= busy <= 1.0:
        raise ValueError(f"calibration of {test['nodeid']}: busy must be between 0 and 1")
    return Calibration(reference, wall, cpu, baseline_loop, busy)


def load_baseline(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """The baseline document, or a warning when the file does not exist (a first run).

    A file that exists but is not a report raises :class:`BaselineError`.
    """
    if not path.exists():
        return (
            None,
            f"baseline {path} not found: nothing compared (run once with --perf-report {path} to make one)",
        )
    return load_report(path, "baseline"), None
