"""Statement fingerprints: one normalized *shape* for every run of the same query.

Two statements have the same shape when they differ only in literal values,
bind-marker style (``?``, ``%s``, ``%(name)s``, ``:name``, ``$1``), the length
of an ``IN`` list or of a multi-row ``VALUES``, whitespace, comments and the
case of SQL keywords. Shapes group statements for the N+1 analysis and are
what reports show, so no parameter value ever reaches a report through them.

Normalizing costs tens of microseconds; the result is cached on the statement
string, which SQLAlchemy reuses from its compiled cache, so a repeated
statement costs one dictionary lookup.
"""

from __future__ import annotations

import re

from ..queries import StatementKind

_TOKEN = re.compile(
    r"""
      (?P<comment>--[^\n]*|/\*.*?\*/)
    | (?P<string>(?:\b[EeNnXxBb])?'(?:[^']|'')*')
    | (?P<quoted>"(?:[^"]|"")*"|`(?:[^`]|``)*`)
    | (?P<param>%\([^)]*\)s|%s|\?|\$\d+|(?<!:):(?!:)(?:[A-Za-z_]\w*|\d+))
    | (?P<word>[A-Za-z_][\w$]*)
    | (?P<number>(?:0[xX][0-9A-Fa-f]+|\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?))
    | (?P<comma>\s*,\s*)
    | (?P<open>\(\s*)
    | (?P<close>\s*\))
    | (?P<space>\s+)
    """,
    re.VERBOSE | re.DOTALL,
)

_SPACES = re.compile(r" {2,}")
# A cast on a bind marker (``$1::INTEGER``, ``%(x)s::VARCHAR``): how a driver binds, not a
# different query; dropped so that a shape reads the same on every database.
_PLACEHOLDER_CAST = re.compile(
    r"\?::(?:\"[^\"]*\"|[A-Za-z_][\w.]*)"
    r"(?: (?:WITH|WITHOUT) TIME ZONE| PRECISION| VARYING)?(?:\(\?(?:, \?)*\))?(?:\[\])*"
)
# Consecutive identical rows of placeholders: multi-row VALUES, tuple IN-lists.
_REPEATED_ROWS = re.compile(r"(\(\?[^(),]*(?:, \?[^(),]*)*\))(?:, \1)+")
# An IN-list of identical placeholders (optionally cast, as in ``$1::INTEGER``).
_IN_LIST = re.compile(r"\bIN \(([^(),]+)(?:, \1)+\)")

KEYWORDS = frozenset(
    """
    ALL ALTER AND ANY AS ASC BEGIN BETWEEN BY CASE CAST COMMIT CONFLICT CREATE CROSS DEFAULT DELETE
    DESC DISTINCT DO DROP DUPLICATE ELSE END ESCAPE EXCEPT EXISTS EXPLAIN FALSE FETCH FOR FROM FULL
    GROUP HAVING ILIKE IN INNER INSERT INTERSECT INTO IS JOIN LATERAL LEFT LIKE LIMIT LOCKED NATURAL
    NOT NOTHING NOWAIT NULL NULLS OFFSET ON ONLY OR ORDER OUTER OVER PARTITION PRAGMA RECURSIVE
    RELEASE RETURNING RIGHT ROLLBACK SAVEPOINT SELECT SET SHOW SKIP SOME START TABLE THEN TO
    TRANSACTION TRUE TRUNCATE UNION UPDATE USING VALUES WHEN WHERE WINDOW WITH
    """.split()  # noqa: SIM905 - a word list reads better than a quoted one
)

_TRANSACTION_WORDS = frozenset(("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "END"))

_CACHE_LIMIT = 4096
SHAPES: dict[str, tuple[str, StatementKind]] = {}
"""The cache: statement text to shape and kind (read directly on the hot path)."""


def _replace(match: re.Match[str]) -> str:
    group = match.lastgroup
    text = match.group()
    if group == "word":
        upper = text.upper()
        after_dot = match.start() > 0 and match.string[match.start() - 1] == "."
        return upper if upper in KEYWORDS and not after_dot else text
    if group in ("string", "param", "number"):
        return "?"
    if group == "quoted":
        return text
    if group == "comma":
        return ", "
    if group == "open":
        return "("
    if group == "close":
        return ")"
    return " "  # whitespace and comments


def normalize(sql: str) -> str:
    """The shape of ``sql`` (uncached; see :func:`fingerprint`)."""
    shape = _SPACES.sub(" ", _TOKEN.sub(_replace, sql)).strip()
    shape = _PLACEHOLDER_CAST.sub("?", shape)
    shape = _REPEATED_ROWS.sub(r"\1", shape)
    return _IN_LIST.sub(r"IN (\1)", shape)


def statement_kind(shape: str) -> StatementKind:
    """``transaction`` for transaction control (``BEGIN``, ``SAVEPOINT``, ...), else ``query``."""
    first = shape.split(" ", 1)[0]
    if first in _TRANSACTION_WORDS or shape.startswith("START TRANSACTION"):
        return "transaction"
    return "query"


def fingerprint(sql: str) -> tuple[str, StatementKind]:
    """The shape of ``sql`` and whether it is a query or transaction control; cached."""
    known = SHAPES.get(sql)
    if known is not None:
        return known
    shape = normalize(sql)
    result = (shape, statement_kind(shape))
    if len(SHAPES) >= _CACHE_LIMIT:
        SHAPES.clear()  # statements with inlined values would otherwise grow it without bound
    SHAPES[sql] = result
    return result
