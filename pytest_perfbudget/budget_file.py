"""Reading the budget file (version 1).

The YAML is composed into nodes by PyYAML's safe loader, never constructed
into arbitrary objects, and walked by hand: that keeps the line of every key
for error messages and lets duplicate keys be refused.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

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


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


MAX_NODES = 100_000  # aliases can expand a small file exponentially ("billion laughs")
_PLAIN_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")


class _Walker:
    """Turns composed nodes into ``(value, line)`` pairs; mappings hold located values by key."""

    def __init__(self) -> None:
        self.loader = yaml.SafeLoader("")
        self.nodes = 0

    def located(self, node: yaml.Node) -> Located:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise BudgetError(f"the file expands to more than {MAX_NODES} values (aliases?)")
        if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and node.tag not in _PLAIN_TAGS:
            raise BudgetError(f"unsupported YAML value: tag '{node.tag}'", _line(node))
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node), _line(node)
        if isinstance(node, yaml.SequenceNode):
            return [self.located(item) for item in node.value], _line(node)
        return self.scalar(node), _line(node)

    def _mapping(self, node: yaml.MappingNode) -> dict[Any, Located]:
        mapping: dict[Any, Located] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise BudgetError("keys must be plain words or quoted patterns", _line(key_node))
            key = self.scalar(key_node)
            if key in mapping:
                raise BudgetError(f"duplicate key '{key}' (first on line {mapping[key][1]})", _line(key_node))
            mapping[key] = (self.located(value_node)[0], _line(key_node))
        return mapping

    def scalar(self, node: yaml.Node) -> Any:
        """A scalar by the safe loader's rules; a bad explicit tag (``!!int abc``) is an error."""
        try:
            value = self.loader.construct_object(node, deep=True)
        except yaml.constructor.ConstructorError as error:
            raise BudgetError(f"unsupported YAML value: {error.problem}", _line(node)) from None
        except (ValueError, TypeError, LookupError, AttributeError, ArithmeticError):
            raise BudgetError(f"cannot read {node.value!r} as tagged '{node.tag}'", _line(node)) from None
        try:
            hash(value)
        except TypeError:
            raise BudgetError(f"unsupported YAML value {node.value!r}", _line(node)) from None
        return value

    def close(self) -> None:
        self.loader.dispose()


def _compose(text: str, source: str) -> yaml.Node | None:
    try:
        loader = yaml.SafeLoader(text)
    except yaml.reader.ReaderError as error:  # the reader refuses control characters up front
        line_number = text[: error.position].count("\n") + 1
        raise BudgetFileError(f"{source}:{line_number}: not valid YAML: {error.reason}") from None
    try:
        return loader.get_single_node()
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        raise BudgetFileError(f"{source}{line}: not valid YAML: {error.problem or error.context}") from None
    except yaml.YAMLError as error:
        raise BudgetFileError(f"{source}: not valid YAML: {error}") from None
    finally:
        loader.dispose()


def parse(text: str, source: str) -> BudgetFile:
    """Validate budget file ``text``; ``source`` names it in errors."""
    try:
        return _parse(text, source)
    except BudgetError as error:
        where = f"{source}:{error.line}" if error.line is not None else source
        raise BudgetFileError(f"{where}: {error.message}") from None


def _parse(text: str, source: str) -> BudgetFile:
    node = _compose(text, source)
    if node is None:
        raise BudgetError("the file is empty; it needs at least 'version: 1'")
    walker = _Walker()
    try:
        document, line = walker.located(node)
    except RecursionError:
        raise BudgetError("a YAML alias refers to itself or nests too deeply") from None
    finally:
        walker.close()
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
    return BudgetFile(source, Settings().updated(overrides), overrides, entries)


def _check_version(raw: Located | None, line: int | None) -> None:
    if raw is None:
        raise BudgetError("missing 'version: 1'", line)
    version, version_line = raw
    if type(version) is not int or version not in SUPPORTED_VERSIONS:
        raise BudgetError(f"unsupported version {version!r}; this plugin reads version 1", version_line)


def _parse_settings(raw: Located | None, source: str) -> dict[str, Any]:
    if raw is None or raw[0] is None:
        return {}
    value, line = raw
    if not isinstance(value, dict):
        raise BudgetError("'settings' must be a mapping", line)
    for name, (_, name_line) in value.items():
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


def load(path: str | Path, display: str | None = None) -> BudgetFile:
    """Read and validate the budget file at ``path``; ``display`` is how errors name it."""
    source = display or str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BudgetFileError(f"{source}: budget file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise BudgetFileError(f"{source}: cannot read the budget file: {error}") from None
    return parse(text, source)


def stale_patterns(budget_file: BudgetFile, nodeids: Iterable[str], rootpath: Path) -> list[str]:
    """Patterns that match no collected test although the run looked where they point.

    A pattern anchored at a file or directory this run did not collect from
    (``pytest tests/a.py`` with budgets for ``tests/b.py``) is out of scope,
    not stale; one anchored at a path that does not exist is stale.
    """
    nodeids = list(nodeids)
    stale = []
    for entry in budget_file.entries:
        if any(patterns.matches(entry.pattern, nodeid) for nodeid in nodeids):
            continue
        anchor = patterns.fixed_prefix(entry.pattern)
        in_scope = not anchor or any(
            nodeid == anchor or nodeid.startswith((anchor + "/", anchor + "::")) for nodeid in nodeids
        )
        if in_scope or not (rootpath / anchor).exists():
            stale.append(entry.pattern)
    return stale
