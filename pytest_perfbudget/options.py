"""Command-line options and ini keys, resolved once: command line over ini over the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import pytest

from .reports import REPORT_SUFFIXES

MODES = ("enforce", "warn", "off")
MAX_ROUNDS = 10_000  # budgets.MAX_ROUNDS, not imported from there: an idle run does not import it
PROFILE_CHOICES = ("off", "failures", "all")


class Options(NamedTuple):  # not a dataclass: imported in every run, and four times quicker to define
    """The run's perf options after precedence is applied."""

    budget_files: tuple[Path, ...] = ()  # merged in order: a later file's entries come after
    budget_displays: tuple[str, ...] = ()  # how the user wrote each path, for messages
    reports: tuple[Path, ...] = ()
    baseline: Path | None = None
    mode: str = "enforce"
    rounds: int | None = None
    memory: bool = False
    call_site_exclude: tuple[str, ...] = ()  # globs of paths that are not the user's own code
    profile: str = "failures"  # which tests get hot spots: off, failures (time/CPU) or all
    profile_dir: Path | None = None  # where a speedscope file per profiled test goes
    explain: bool = False  # EXPLAIN the slowest SELECT shapes of a test that broke a limit

    @property
    def measures_everything(self) -> bool:
        """A budget file, a report or a baseline to compare with makes every test measured."""
        return bool(self.budget_files) or bool(self.reports) or self.baseline is not None

    def forced_settings(self) -> dict[str, Any]:
        """Settings the options impose on every test, over file and marker."""
        forced: dict[str, Any] = {}
        if self.rounds is not None:
            forced["rounds"] = self.rounds
        if self.mode == "warn":
            forced["level"] = "warn"
        return forced


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("perfbudget", "performance budgets (pytest-perfbudget)")
    group.addoption(
        "--perf-budget",
        metavar="FILE",
        action="append",
        default=[],
        help="budget file (YAML) to enforce. Repeatable: each file's entries apply after the earlier "
        "file's, and its settings override theirs",
    )
    group.addoption(
        "--perf-report",
        metavar="PATH",
        action="append",
        default=[],
        help="write a report; the format follows the suffix: .json, .md or .html. Repeatable",
    )
    group.addoption("--perf-baseline", metavar="PATH", help="JSON report of an earlier run to compare with")
    group.addoption(
        "--perf-mode",
        choices=MODES,
        help="enforce (default): fail tests over budget; warn: report only; off: measure nothing",
    )
    group.addoption("--perf-rounds", metavar="N", type=int, help="measure each test's call N times")
    group.addoption(
        "--perf-memory",
        action="store_true",
        default=None,
        help="trace memory for every measured test, not only those with a memory budget",
    )
    group.addoption(
        "--perf-profile",
        choices=PROFILE_CHOICES,
        help="hot spots: profile one more call of each test over a time or CPU limit "
        "(failures, the default), of every measured test (all), or of none (off)",
    )
    group.addoption(
        "--perf-profile-dir", metavar="DIR", help="write a speedscope profile of each profiled test to DIR"
    )
    group.addoption(
        "--perf-explain",
        action="store_true",
        default=None,
        help="add the query plans (EXPLAIN) of the 3 slowest SELECT shapes to a test over budget",
    )
    parser.addini(
        "perf_budget", "budget files (YAML), one per line, relative to the ini file", type="linelist"
    )
    parser.addini("perf_report", "reports to write, one per line", type="linelist")
    parser.addini("perf_baseline", "JSON report of an earlier run, relative to the ini file", type="string")
    parser.addini("perf_mode", "enforce, warn or off", type="string", default="enforce")
    parser.addini("perf_rounds", "measure each test's call N times", type="string")
    parser.addini("perf_memory", "trace memory for every measured test", type="bool", default=False)
    parser.addini(
        "perf_profile", "hot spots of off, failures or all tests", type="string", default="failures"
    )
    parser.addini("perf_profile_dir", "where speedscope profiles go, relative to the ini file", type="string")
    parser.addini(
        "perf_explain", "query plans of the slowest SELECTs of a test over budget", type="bool", default=False
    )
    parser.addini(
        "perf_call_site_exclude",
        "path globs (relative to rootdir) never reported as the call site of a SQL statement",
        type="linelist",
    )


def _ini_path(config: pytest.Config, value: str) -> Path:
    base = config.inipath.parent if config.inipath is not None else config.rootpath
    return base / value


def resolve(config: pytest.Config) -> Options:
    """Read options and ini keys into :class:`Options`; bad values raise ``pytest.UsageError``."""
    budget_displays: tuple[str, ...] = tuple(config.getoption("perf_budget"))
    budget_files = tuple(Path(path) for path in budget_displays)
    if not budget_displays:
        budget_displays = tuple(config.getini("perf_budget"))
        budget_files = tuple(_ini_path(config, path) for path in budget_displays)

    report_options: list[str] = config.getoption("perf_report")
    reports = tuple(Path(path) for path in report_options) or tuple(
        _ini_path(config, path) for path in config.getini("perf_report")
    )
    for report in reports:
        if report.suffix not in REPORT_SUFFIXES:
            raise pytest.UsageError(
                f"--perf-report {report}: unknown report format '{report.suffix or report.name}'; "
                f"use a path ending in {', '.join(REPORT_SUFFIXES)}"
            )

    baseline_option = config.getoption("perf_baseline")
    baseline_ini = config.getini("perf_baseline")
    baseline = (
        Path(baseline_option)
        if baseline_option
        else (_ini_path(config, baseline_ini) if baseline_ini else None)
    )

    mode = config.getoption("perf_mode") or str(config.getini("perf_mode")).strip() or "enforce"
    if mode not in MODES:
        raise pytest.UsageError(f"ini key perf_mode: unknown mode '{mode}'; use enforce, warn or off")

    rounds: int | None = config.getoption("perf_rounds")
    if rounds is not None and not 1 <= rounds <= MAX_ROUNDS:
        raise pytest.UsageError(f"--perf-rounds: must be between 1 and {MAX_ROUNDS}, got {rounds}")
    if rounds is None:
        rounds = _ini_rounds(str(config.getini("perf_rounds") or "").strip())

    memory_option = config.getoption("perf_memory")
    memory = bool(memory_option) if memory_option is not None else bool(config.getini("perf_memory"))
    exclude = tuple(config.getini("perf_call_site_exclude"))
    profile, profile_dir = _profile(config)
    explain_option = config.getoption("perf_explain")
    explain = bool(explain_option) if explain_option is not None else bool(config.getini("perf_explain"))
    return Options(
        budget_files,
        budget_displays,
        reports,
        baseline,
        mode,
        rounds,
        memory,
        exclude,
        profile,
        profile_dir,
        explain,
    )


def _profile(config: pytest.Config) -> tuple[str, Path | None]:
    profile = config.getoption("perf_profile") or str(config.getini("perf_profile")).strip() or "failures"
    if profile not in PROFILE_CHOICES:
        raise pytest.UsageError(
            f"ini key perf_profile: unknown value '{profile}'; use {', '.join(PROFILE_CHOICES)}"
        )
    directory_option = config.getoption("perf_profile_dir")
    directory_ini = str(config.getini("perf_profile_dir") or "").strip()
    if directory_option:
        return profile, Path(directory_option)
    return profile, _ini_path(config, directory_ini) if directory_ini else None


def _ini_rounds(text: str) -> int | None:
    if not text:
        return None
    if not text.isdigit() or not 1 <= int(text) <= MAX_ROUNDS:
        raise pytest.UsageError(
            f"ini key perf_rounds: expected a whole number between 1 and {MAX_ROUNDS}, got '{text}'"
        )
    return int(text)
