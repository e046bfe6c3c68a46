"""The budget model: limits, per-test settings, and how they resolve for one test.

A budget file and a marker both come down to *fields* (metric and setting
names with raw values); :func:`parse_fields` turns them into :class:`Limit`
objects and setting overrides, so the two sources validate identically.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property, partial
from typing import Any, Literal

from . import patterns
from .stats import STATISTICS
from .units import (
    did_you_mean,
    parse_count,
    parse_duration,
    parse_percent,
    parse_rate,
    parse_size,
)

TIME_METRICS = ("time", "cpu")
MEMORY_METRICS = ("memory", "rss", "leak")
SQL_METRICS = ("queries", "n_plus_one", "sql_time")
METRICS: tuple[str, ...] = (*TIME_METRICS, *MEMORY_METRICS, *SQL_METRICS, "throughput")
# Metrics whose measurement is noisy: retried before failing, never judged on a traced run.
NOISY_METRICS = frozenset({"time", "cpu", "sql_time", "throughput"})
LEVELS = ("error", "warn")

# Settings a pattern entry, a marker and a block may set for the tests they apply to.
TEST_SETTINGS = (
    "rounds",
    "warmup",
    "statistic",
    "retries",
    "calibration",
    "level",
    "tolerance",
    "noise_floor",
    "n_plus_one_threshold",
    "n_plus_one_ignore",
)
# Settings of the budget file's ``settings:`` section.
FILE_SETTINGS = tuple(name for name in TEST_SETTINGS if name != "level")


class BudgetError(ValueError):
    """A bad budget value; ``line`` locates it in a budget file when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


@dataclass(frozen=True)
class Limit:
    """One limit on one metric (and, for timings, one statistic)."""

    metric: str
    value: float
    statistic: str | None = None  # None: the test's ``statistic`` setting
    source: str = "marker"  # "budgets.yml:7", "marker" or "block 'name'"
    pattern: str | None = None  # the budget file entry it came from

    @property
    def is_floor(self) -> bool:
        """Throughput is a minimum; every other metric a maximum."""
        return self.metric == "throughput"

    @property
    def origin(self) -> str:
        """Where the limit came from, as shown in a failure message."""
        if self.pattern is None:
            return self.source
        return f"{self.source.rpartition(':')[0]}: {self.pattern}"


@dataclass(frozen=True)
class Tolerance:
    """Allowed regression against a baseline: relative (``20%``) or absolute."""

    relative: float | None = None
    absolute: float | None = None


def _default_tolerance() -> dict[str, Tolerance]:
    return {
        "time": Tolerance(relative=0.2),
        "memory": Tolerance(relative=0.1),
        "queries": Tolerance(absolute=0),
    }


@dataclass(frozen=True)
class Settings:
    """How a test is measured and judged; defaults are those of SPEC."""

    rounds: int = 1
    warmup: int = 0
    statistic: str = "median"
    retries: int = 2
    # The calibration loop's time where the budgets were set; "auto": the fastest run of the loop
    # in this run (see calibration.fastest_loop); None: off.
    calibration: float | Literal["auto"] | None = "auto"
    level: str = "error"
    tolerance: Mapping[str, Tolerance] = field(default_factory=_default_tolerance)
    noise_floor: float = 0.001
    n_plus_one_threshold: int = 3
    n_plus_one_ignore: tuple[str, ...] = ()

    def updated(self, overrides: Mapping[str, Any]) -> Settings:
        """A copy with ``overrides``; tolerances merge metric by metric."""
        if not overrides:
            return self
        values = dict(overrides)
        if "tolerance" in values:
            values["tolerance"] = {**self.tolerance, **values["tolerance"]}
        return replace(self, **values)


@dataclass(frozen=True)
class Fields:
    """Parsed budget fields: limits by metric, and setting overrides."""

    limits: Mapping[str, tuple[Limit, ...]]
    settings: Mapping[str, Any]


@dataclass(frozen=True)
class TestBudget:
    """Everything that applies to one test once file, marker and options are resolved."""

    limits: Mapping[str, tuple[Limit, ...]]
    settings: Settings
    _all_limits: tuple[Limit, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Asked for once or twice per measured test: listed once, here.
        ordered = tuple(limit for metric in METRICS for limit in self.limits.get(metric, ()))
        object.__setattr__(self, "_all_limits", ordered)

    def has_any(self, metrics: Sequence[str]) -> bool:
        return any(self.limits.get(metric) for metric in metrics)

    def all_limits(self) -> list[Limit]:
        return list(self._all_limits)

    @cached_property
    def as_json(self) -> dict[str, Any]:
        """The limits as test records carry them; tests with one budget share it: read-only."""
        budgets: dict[str, Any] = {}
        for limit in self._all_limits:
            entry: dict[str, Any] = {"limit": limit.value, "source": limit.source}
            if limit.metric in ("time", "cpu", "throughput", "sql_time"):
                entry["statistic"] = limit.statistic or self.settings.statistic
            key = limit.metric if limit.statistic is None else f"{limit.metric}.{limit.statistic}"
            budgets[key] = entry
        return budgets


# --- parsing of fields -------------------------------------------------------------

Located = tuple[Any, int | None]  # a raw value and the line it was written on


def _parse_statistic(value: object) -> str:
    if not isinstance(value, str) or value not in STATISTICS:
        raise ValueError(
            f"unknown statistic {value!r}{did_you_mean(str(value), STATISTICS)}; "
            f"use one of {', '.join(STATISTICS)}"
        )
    return value


def _parse_level(value: object) -> str:
    if value not in LEVELS:
        raise ValueError(f"level must be 'error' or 'warn', got {value!r}")
    return str(value)


def _parse_positive(value: object) -> int:
    count = parse_count(value)
    if count < 1:
        raise ValueError(f"must be at least 1, got {count}")
    return count


# Most calls of a test one setting may ask for: a run must end. Rounds and warm-up calls beyond
# ten thousand measure nothing new; every retry repeats all the rounds.
MAX_ROUNDS = 10_000
MAX_WARMUP = 10_000
MAX_RETRIES = 100


def _at_most(parse: Callable[[object], int], maximum: int) -> Callable[[object], int]:
    def parse_bounded(value: object) -> int:
        count = parse(value)
        if count > maximum:
            raise ValueError(f"must be at most {maximum}, got {count}")
        return count

    return parse_bounded


def _parse_calibration(value: object) -> float | Literal["auto"] | None:
    """A time, or ``auto``; ``0`` turns calibration off (for an entry or a marker under a file-wide
    setting)."""
    if value == "auto":
        return "auto"
    seconds = parse_duration(value)
    return seconds if seconds > 0 else None


def _parse_patterns(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise ValueError("expected a list of statement shapes or call sites")


_METRIC_PARSERS: dict[str, Callable[[object], float]] = {
    "time": parse_duration,
    "cpu": parse_duration,
    "sql_time": parse_duration,
    "memory": parse_size,
    "rss": parse_size,
    "leak": parse_size,
    "queries": parse_count,
    "n_plus_one": parse_count,
    "throughput": parse_rate,
}

_SETTING_PARSERS: dict[str, Callable[[object], Any]] = {
    "rounds": _at_most(_parse_positive, MAX_ROUNDS),
    "warmup": _at_most(parse_count, MAX_WARMUP),
    "statistic": _parse_statistic,
    "retries": _at_most(parse_count, MAX_RETRIES),
    "calibration": _parse_calibration,
    "level": _parse_level,
    "noise_floor": parse_duration,
    "n_plus_one_threshold": _parse_positive,
    "n_plus_one_ignore": _parse_patterns,
}


def parse_tolerance(metric: str, value: object) -> Tolerance:
    """``20%`` is relative; a plain value is absolute in the metric's own unit."""
    if isinstance(value, str) and value.strip().endswith("%"):
        return Tolerance(relative=parse_percent(value))
    return Tolerance(absolute=_METRIC_PARSERS[metric](value))


def _parse_tolerances(raw: Located, line: int | None) -> dict[str, Tolerance]:
    value, _ = raw
    if not isinstance(value, Mapping):
        raise BudgetError("tolerance must be a mapping of metric to allowance, such as {time: 20%}", line)
    result: dict[str, Tolerance] = {}
    for metric, (allowance, metric_line) in value.items():
        if metric not in METRICS:
            raise BudgetError(
                f"unknown metric '{metric}' in tolerance{did_you_mean(str(metric), METRICS)}", metric_line
            )
        try:
            result[metric] = parse_tolerance(metric, allowance)
        except ValueError as error:
            raise BudgetError(f"tolerance for '{metric}': {error}", metric_line) from None
    return result


_PARSED: dict[tuple[str, type, object], float] = {}  # "200ms" once, not once per entry


def _parse_limit(metric: str, value: object) -> float:
    """``value`` parsed as a limit on ``metric``; a budget file repeats the same few values."""
    key = (metric, type(value), value)
    try:
        return _PARSED[key]
    except (KeyError, TypeError):  # not parsed yet, or not hashable (parsing will say what it is)
        parsed = _METRIC_PARSERS[metric](value)
    if type(value) in (str, int, float):
        _PARSED[key] = parsed
    return parsed


def _parse_limits(metric: str, raw: Located, source: str, pattern: str | None) -> tuple[Limit, ...]:
    value, line = raw
    parse = partial(_parse_limit, metric)
    if isinstance(value, Mapping):
        if metric not in TIME_METRICS:
            raise BudgetError(f"'{metric}' takes one value, not a mapping of statistics", line)
        if not value:
            raise BudgetError(f"'{metric}' has an empty mapping of statistics", line)
        limits = []
        for stat, (limit, stat_line) in value.items():
            try:
                limits.append(
                    Limit(metric, parse(limit), _parse_statistic(stat), _at(source, stat_line), pattern)
                )
            except ValueError as error:
                raise BudgetError(f"'{metric}' {stat}: {error}", stat_line) from None
        return tuple(limits)
    try:
        return (Limit(metric, parse(value), None, _at(source, line), pattern),)
    except ValueError as error:
        raise BudgetError(f"'{metric}': {error}", line) from None


def _at(source: str, line: int | None) -> str:
    return f"{source}:{line}" if line is not None else source


def parse_fields(
    fields: Mapping[str, Located],
    *,
    source: str,
    allowed_settings: Sequence[str] = TEST_SETTINGS,
    pattern: str | None = None,
) -> Fields:
    """Validate metric and setting fields; raise :class:`BudgetError` on the first bad one.

    ``source`` is the file name (a line is appended) or a fixed label like ``marker``.
    Values are paired with their line numbers, or ``None`` where lines do not exist.
    """
    limits: dict[str, tuple[Limit, ...]] = {}
    settings: dict[str, Any] = {}
    for name, raw in fields.items():
        line = raw[1]
        if name in METRICS:
            limits[name] = _parse_limits(name, raw, source, pattern)
        elif name == "tolerance" and name in allowed_settings:
            settings[name] = _parse_tolerances(raw, line)
        elif name in allowed_settings:
            try:
                settings[name] = _SETTING_PARSERS[name](unwrap(raw[0]))
            except ValueError as error:
                raise BudgetError(f"'{name}': {error}", line) from None
        else:
            raise BudgetError(_unknown_field(str(name), allowed_settings), line)
    return Fields(limits, settings)


def _unknown_field(name: str, allowed_settings: Sequence[str]) -> str:
    """``unknown metric 'querys' (did you mean 'queries'?)``, or ``unknown setting`` when closer to one."""
    suggestion = did_you_mean(name, (*METRICS, *allowed_settings))
    kind = "setting" if any(f"'{setting}'" in suggestion for setting in allowed_settings) else "metric"
    return f"unknown {kind} '{name}'{suggestion}"


def unwrap(value: Any) -> Any:
    """Strip line numbers from a located YAML value (lists and mappings included)."""
    if isinstance(value, Mapping):
        return {key: unwrap(item[0]) for key, item in value.items()}
    if isinstance(value, list):
        return [unwrap(item[0]) if isinstance(item, tuple) else item for item in value]
    return value


def located(values: Mapping[str, Any]) -> dict[str, Located]:
    """Pair plain values (from a marker) with no line, nested mappings included."""

    def wrap(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {key: (wrap(item), None) for key, item in value.items()}
        return value

    return {name: (wrap(value), None) for name, value in values.items()}


# --- resolution ----------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One pattern of a budget file with its parsed fields."""

    pattern: str
    line: int
    fields: Fields

    def applies_to(self, nodeid: str) -> bool:
        return patterns.matches(self.pattern, nodeid)


def resolve(
    nodeid: str,
    base: Settings,
    entries: Sequence[Entry],
    marker: Fields | None,
    forced: Mapping[str, Any],
) -> TestBudget:
    """Apply matching entries top to bottom, then the marker, then forced options.

    A later source replaces an earlier one metric by metric and setting by
    setting; ``forced`` holds what the command line or ini file fixes for all.
    """
    limits: dict[str, tuple[Limit, ...]] = {}
    settings = base
    layers = [entry.fields for entry in entries if entry.applies_to(nodeid)]
    if marker is not None:
        layers.append(marker)
    for layer in layers:
        limits.update(layer.limits)
        settings = settings.updated(layer.settings)
    return TestBudget(limits, settings.updated(forced))
