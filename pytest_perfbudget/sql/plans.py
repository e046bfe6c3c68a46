"""Query plans as reports show them: which statements may be explained, each dialect's EXPLAIN
output as lines with their values masked, and the full scans a user wants to see.

Pure functions over text and rows: no database here (see :mod:`.explain` for running EXPLAIN).
A *full scan* is a table read row by row to apply a filter on one of its columns, the plan a
missing index gives: SQLite's ``SCAN t`` for a table the statement's WHERE filters on,
PostgreSQL's ``Seq Scan on t`` with a ``Filter:``, and MySQL and MariaDB's access type ``ALL``
with ``Using where``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from .fingerprint import KEYWORDS

EXPLAIN_PREFIXES = {
    "sqlite": "EXPLAIN QUERY PLAN ",
    "postgresql": "EXPLAIN ",
    "mysql": "EXPLAIN ",
    "mariadb": "EXPLAIN ",
}

# A SELECT shape with one of these is never explained: it locks rows, writes, or is several statements.
_REFUSALS = (
    (
        re.compile(r"\bFOR (?:NO KEY )?(?:UPDATE|SHARE)\b|\bFOR KEY SHARE\b|\bLOCK IN SHARE MODE\b"),
        "locks rows",
    ),
    (re.compile(r"\b(?:INSERT|UPDATE|DELETE|MERGE|REPLACE|TRUNCATE|CREATE|DROP|ALTER)\b"), "writes"),
    (re.compile(r"\bINTO\b"), "writes (SELECT ... INTO)"),
    (re.compile(r"\b(?:nextval|setval|pg_advisory\w*|get_lock|sleep|pg_sleep)\(", re.I), "has side effects"),
    (re.compile(r";\s*\S"), "is several statements"),
)

_STRING = re.compile(r"'(?:[^']|'')*'")
_NUMBER = re.compile(r"(?<![\w.$])-?\d+(?:\.\d+)?(?![\w.])")
_COST = "(cost="

_CLAUSE_END = re.compile(
    r"\b(?:GROUP BY|ORDER BY|LIMIT|HAVING|UNION|EXCEPT|INTERSECT|WINDOW|OFFSET|FETCH|FOR|RETURNING)\b"
)
_NAME = r"[\"`]?[A-Za-z_][\w$]*[\"`]?"
_COLUMN_REFERENCE = re.compile(rf"(?<![\w$.\"`])(?:({_NAME})\.)?({_NAME})(?![\w$.\"`])(?!\s*\()")
_TABLE_REFERENCE = re.compile(rf"\b(?:FROM|JOIN)\s+(?:{_NAME}\.)?({_NAME})(?:\s+(?:AS\s+)?({_NAME}))?")

_SQLITE_SCAN = re.compile(r"^\s*SCAN (?:TABLE )?([\w$\"`]+)")
_POSTGRESQL_SCAN = re.compile(r"Seq Scan on ([\w$\".]+)(?: ([\w$\"]+))?\s+\(cost=")


def refusal(shape: str) -> str | None:
    """Why a SELECT shape is never explained, or None when it may be."""
    for pattern, reason in _REFUSALS:
        if pattern.search(shape):
            return reason
    return None


def plan_lines(dialect: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """The plan as lines of text, string literals masked (and numbers in PostgreSQL's conditions):
    a plan may show the parameter values it was made for, and a report never does."""
    if dialect == "sqlite":
        lines = _sqlite_lines(rows)
    elif dialect == "postgresql":
        lines = [str(row[0]) for row in rows]
    else:
        lines = [_mysql_line(dict(zip(columns, row, strict=False))) for row in rows]
    return [mask(line, numbers=dialect == "postgresql" and _COST not in line) for line in lines]


def mask(text: str, *, numbers: bool = False) -> str:
    """``text`` with its string literals (and, when asked, its numbers) replaced by ``?``."""
    text = _STRING.sub("?", text)
    return _NUMBER.sub("?", text) if numbers else text


def _sqlite_lines(rows: Sequence[Sequence[Any]]) -> list[str]:
    """``EXPLAIN QUERY PLAN`` rows (id, parent, notused, detail), indented as the tree they form."""
    depth: dict[Any, int] = {0: -1}
    lines = []
    for row in rows:
        node, parent, detail = row[0], row[1], row[-1]
        depth[node] = depth.get(parent, -1) + 1
        lines.append("  " * depth[node] + str(detail))
    return lines


_MYSQL_FIELDS = ("select_type", "table", "type", "possible_keys", "key", "rows", "filtered", "Extra")


def _mysql_line(row: Mapping[str, Any]) -> str:
    """One row of MySQL's or MariaDB's ``EXPLAIN`` table as ``table=t type=ALL key=NULL ...``."""
    fields = [f"id={row.get('id')}"]
    for name in _MYSQL_FIELDS:
        if name in row:
            value = row[name]
            fields.append(f"{name}={'NULL' if value is None else value}")
    return " ".join(fields)


def full_scans(
    dialect: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], lines: Sequence[str], shape: str
) -> list[dict[str, Any]]:
    """Tables read in full to apply a filter: ``{"table", "columns", "line"}`` each, where
    ``columns`` are the table's columns the WHERE clause names (when the shape tells) and
    ``line`` the index of the plan line that shows the scan."""
    filtered = where_columns(shape)
    found = []
    for index, line in enumerate(lines):
        table = _scanned_table(
            dialect,
            line,
            lines[index + 1 :],
            columns,
            rows[index] if dialect in ("mysql", "mariadb") else None,
        )
        if table is None:
            continue
        names = _names_of(table, shape)
        on = sorted(
            {
                column
                for qualifier, column in filtered
                if qualifier in names or (qualifier is None and _single_table(shape))
            }
        )
        if dialect == "sqlite" and not on:
            continue  # a SCAN with no filter on the table is the query's own choice
        found.append({"table": table, "columns": on, "line": index})
    return found


def _scanned_table(
    dialect: str, line: str, following: Sequence[str], columns: Sequence[str], row: Sequence[Any] | None
) -> str | None:
    """The table a plan line shows scanned in full to be filtered, if it does."""
    if dialect == "sqlite":
        match = _SQLITE_SCAN.match(line)
        return _unquote(match[1]) if match else None
    if dialect == "postgresql":
        match = _POSTGRESQL_SCAN.search(line)
        if match is None or not _has_filter(line, following):
            return None
        return _unquote(match[2] or match[1].rsplit(".", 1)[-1])
    if row is None:
        return None
    fields = dict(zip(columns, row, strict=False))
    if fields.get("type") == "ALL" and "Using where" in str(fields.get("Extra") or ""):
        return _unquote(str(fields.get("table")))
    return None


def _has_filter(node: str, following: Sequence[str]) -> bool:
    """Whether the lines below a PostgreSQL plan node, before its next node, hold a ``Filter:``."""
    indent = len(node) - len(node.lstrip())
    for line in following:
        if len(line) - len(line.lstrip()) <= indent or line.lstrip().startswith("->"):
            return False
        if line.lstrip().startswith("Filter:"):
            return True
    return False


def where_columns(shape: str) -> set[tuple[str | None, str]]:
    """``(qualifier, column)`` of every column named in the shape's WHERE clauses."""
    found: set[tuple[str | None, str]] = set()
    for match in re.finditer(r"\bWHERE\b", shape):
        clause = shape[match.end() :]
        end = _CLAUSE_END.search(clause)
        clause = clause[: end.start()] if end else clause
        for reference in _COLUMN_REFERENCE.finditer(clause):
            qualifier, column = reference[1], _unquote(reference[2])
            if column.upper() in KEYWORDS or column == "?":
                continue
            found.add((_unquote(qualifier) if qualifier else None, column))
    return found


def _tables(shape: str) -> dict[str, str]:
    """Every table and alias the shape reads from, each mapped to its table."""
    found: dict[str, str] = {}
    for match in _TABLE_REFERENCE.finditer(shape):
        table = _unquote(match[1])
        found[table] = table
        alias = match[2]
        if alias and alias.upper() not in KEYWORDS:
            found[_unquote(alias)] = table
    return found


def _names_of(name: str, shape: str) -> set[str]:
    """``name`` and every other name of its table in the shape (the table's and its aliases)."""
    tables = _tables(shape)
    table = tables.get(name, name)
    return {name, table, *(alias for alias, aliased in tables.items() if aliased == table)}


def _single_table(shape: str) -> bool:
    return len(set(_tables(shape).values())) == 1


def _unquote(name: str) -> str:
    return name.strip('"`')
