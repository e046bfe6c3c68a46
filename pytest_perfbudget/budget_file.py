"""Reading the budget file (version 1).

The YAML becomes located values (see :mod:`.yaml_document`), taken from pytest's cache when
the file has not changed since the last run (see :mod:`.budget_cache`), and is validated here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import patterns
from .budgets import (
    FILE_SETTINGS,
    BudgetError,
    Entry,
    Located,
    Settings,
    parse_fields,
)
from .units import did_you_mean

if TYPE_CHECKING:
    from .budget_cache import DocumentCache

SUPPORTED_VERSIONS = (1,)
TOP_LEVEL_KEYS = ("version", "settings", "budgets")


class BudgetFileError(Exception):
    """A budget file that cannot be used; ``str()`` is the one-line message."""


@dataclass(frozen=True)
class BudgetFile:
    """A validated budget file."""

    path: str
    settings: Settings = field(default_factory=Settings)
    setting_overrides: dict[str, Any] = field(default_factory=dict)
    entries: tuple[Entry, ...] = ()
    warnings: tuple[str, ...] = ()  # valid but probably not meant: shown by `check` and by the run


def parse(text: str, source: str, cache: DocumentCache | None = None) -> BudgetFile:
    """Validate budget file ``text``; ``source`` names it in errors."""
    try:
        return _parse(text, source, cache)
    except BudgetError as error:
        where = f"{source}:{error.line}" if error.line is not None else source
        raise BudgetFileError(f"{where}: {error.message}") from None


def _document(text: str, source: str, cache: DocumentCache | None) -> Located:
    """The file's YAML as located values, from ``cache`` when it read the same text before."""
    cached = cache.get(text) if cache is not None else None
    if cached is not None:
        return cached
    from . import yaml_document  # here: importing PyYAML is a third of an active run's fixed cost

    try:
        document = yaml_document.read(text)
    except yaml_document.YamlError as error:
        where = f"{source}:{error.line}" if error.line is not None else source
        hint = _quoting_hint(text, error.line)
        raise BudgetFileError(f"{where}: not valid YAML: {error.message}{hint}") from None
    if document is None:
        raise BudgetError("the file is empty; it needs at least 'version: 1'")
    if cache is not None:
        cache.put(text, document)
    return document


# Characters YAML reads as syntax at the start of a plain key: `**:` is an alias to YAML.
_YAML_INDICATORS = tuple("*&!%@`|>{[")


def _quoting_hint(text: str, line: int | None) -> str:
    """Advice to quote a pattern when the line YAML stumbled on starts with YAML syntax."""
    lines = text.splitlines()
    if line is None or not 0 < line <= len(lines):
        return ""
    written = lines[line - 1].strip()
    if not written.startswith(_YAML_INDICATORS):
        return ""
    key = written.partition(":")[0].rstrip()
    return f' (quote test patterns in YAML: write "{key}": instead of {key}:)'


def _parse(text: str, source: str, cache: DocumentCache | None) -> BudgetFile:
    document, line = _document(text, source, cache)
    if not isinstance(document, dict):
        raise BudgetError("the top level must be a mapping with 'version', 'settings' and 'budgets'", line)
    for key, (_, key_line) in document.items():
        if key not in TOP_LEVEL_KEYS:
            raise BudgetError(
                f"unknown top-level key '{key}'{did_you_mean(str(key), TOP_LEVEL_KEYS)}", key_line
            )
    _check_version(document.get("version"), line)
    overrides = _parse_settings(document.get("settings"), source)
    entries = _parse_entries(document.get("budgets"), source)
    warnings = tuple(_bare_seconds(document, source))
    return BudgetFile(source, Settings().updated(overrides), overrides, entries, warnings)


# Fields whose value is a time: a bare number there is seconds.
DURATION_FIELDS = ("time", "cpu", "sql_time", "noise_floor", "calibration")
LIKELY_MILLISECONDS = 10  # a bare time from here up was more likely meant in milliseconds


def _bare_seconds(document: dict[str, Located], source: str) -> Iterator[str]:
    """A warning for each time written as a bare number of at least 10 (seconds, as documented)."""
    sections = [document.get("settings")]
    budgets = document.get("budgets")
    if budgets is not None and isinstance(budgets[0], dict):
        sections.extend(budgets[0].values())
    for section in sections:
        if section is not None and isinstance(section[0], dict):
            yield from _bare_seconds_in(section[0], source)


def _bare_seconds_in(fields: dict[Any, Located], source: str, within: str = "") -> Iterator[str]:
    for name, (value, line) in fields.items():
        if name == "tolerance" and isinstance(value, dict):
            yield from _bare_seconds_in(value, source, "tolerance ")
        elif name not in DURATION_FIELDS:
            continue
        elif isinstance(value, dict):  # limits on statistics: time: {p95: 100}
            for statistic, (limit, statistic_line) in value.items():
                yield from _bare_second(f"{within}{name} {statistic}", limit, f"{source}:{statistic_line}")
        else:
            yield from _bare_second(f"{within}{name}", value, f"{source}:{line}")


def _bare_second(label: str, value: object, where: str) -> Iterator[str]:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= LIKELY_MILLISECONDS:
        yield (
            f"{where}: {label}: {value} is {value} seconds (a bare number is seconds); "
            f"write {value}ms if you meant milliseconds"
        )


def _check_version(raw: Located | None, line: int | None) -> None:
    if raw is None:
        raise BudgetError("missing 'version: 1'", line)
    version, version_line = raw
    if isinstance(version, str) and version.strip() == "1":
        raise BudgetError(
            "'version' must be the number 1, not the string '1' (write version: 1, without quotes)",
            version_line,
        )
    if type(version) is not int or version not in SUPPORTED_VERSIONS:
        raise BudgetError(f"unsupported version {version!r}; this plugin reads version 1", version_line)


def _parse_settings(raw: Located | None, source: str) -> dict[str, Any]:
    if raw is None or raw[0] is None:
        return {}
    value, line = raw
    if not isinstance(value, dict):
        raise BudgetError("'settings' must be a mapping", line)
    for name, (_, name_line) in value.items():
        if name == "level":
            raise BudgetError(
                "'level' is not a setting of the whole file: put it in a budget entry (a pattern such "
                'as "**") or a marker, or run with --perf-mode warn',
                name_line,
            )
        if name not in FILE_SETTINGS:
            raise BudgetError(f"unknown setting '{name}'{did_you_mean(str(name), FILE_SETTINGS)}", name_line)
    return dict(parse_fields(value, source=source, allowed_settings=FILE_SETTINGS).settings)


def _parse_entries(raw: Located | None, source: str) -> tuple[Entry, ...]:
    if raw is None or raw[0] is None:
        return ()
    value, line = raw
    if not isinstance(value, dict):
        raise BudgetError("'budgets' must be a mapping of test patterns to limits", line)
    entries = []
    for pattern, (fields, pattern_line) in value.items():
        if not isinstance(pattern, str) or not pattern.strip():
            raise BudgetError(f"a pattern must be a non-empty string, got {pattern!r}", pattern_line)
        if not isinstance(fields, dict):
            raise BudgetError(
                f"the budget for '{pattern}' must be a mapping of metrics to limits", pattern_line
            )
        parsed = parse_fields(fields, source=source, pattern=pattern)
        entries.append(Entry(pattern, pattern_line, parsed))
    return tuple(entries)


def load(path: str | Path, display: str | None = None, cache: DocumentCache | None = None) -> BudgetFile:
    """Read and validate the budget file at ``path``; ``display`` is how errors name it."""
    source = display or str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BudgetFileError(f"{source}: budget file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise BudgetFileError(f"{source}: cannot read the budget file: {error}") from None
    return parse(text, source, cache)


def combine(files: Sequence[BudgetFile]) -> BudgetFile:
    """Budget files given together, as one: each file's entries after the earlier file's (so a
    later file overrides metric by metric, as a later entry does), and its settings over theirs."""
    if len(files) == 1:
        return files[0]
    settings = Settings()
    overrides: dict[str, Any] = {}
    for file in files:
        settings = settings.updated(file.setting_overrides)
        overrides.update(file.setting_overrides)
    if "tolerance" in overrides:
        overrides["tolerance"] = {
            metric: allowance
            for file in files
            for metric, allowance in file.setting_overrides.get("tolerance", {}).items()
        }
    return BudgetFile(
        ", ".join(file.path for file in files),
        settings,
        overrides,
        tuple(entry for file in files for entry in file.entries),
        tuple(warning for file in files for warning in file.warnings),
    )


def stale_patterns(budget_file: BudgetFile, nodeids: Iterable[str], rootpath: Path) -> list[str]:
    """Patterns that match no collected test although the run looked where they point.

    A pattern anchored at a file or directory this run did not collect from
    (``pytest tests/a.py`` with budgets for ``tests/b.py``) is out of scope,
    not stale; one anchored at a path that does not exist is stale.
    """
    nodeids = list(nodeids)
    matched = patterns.PatternIndex([entry.pattern for entry in budget_file.entries]).matched(nodeids)
    looked_at: set[str] | None = None  # every directory, file and id the run collected from
    exists: dict[str, bool] = {}  # by anchor: a file with an entry per test has one per module
    stale = []
    for index, entry in enumerate(budget_file.entries):
        if index in matched:
            continue
        if looked_at is None:
            looked_at = {prefix for nodeid in nodeids for prefix in _collected_from(nodeid)}
        anchor = patterns.fixed_prefix(entry.pattern)
        if not anchor or anchor in looked_at:
            stale.append(entry.pattern)
            continue
        if anchor not in exists:
            exists[anchor] = (rootpath / anchor).exists()
        if not exists[anchor]:
            stale.append(entry.pattern)
    return stale


def _collected_from(nodeid: str) -> list[str]:
    """What a pattern's anchor (a path, cut at ``::``) may be for the run to have looked there:
    ``nodeid`` itself or a part of it followed by ``/`` or ``::``."""
    return [prefix for prefix in patterns.prefixes(nodeid) if nodeid[len(prefix) : len(prefix) + 1] != "["]
