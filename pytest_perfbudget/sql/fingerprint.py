"""Statement fingerprints: one normalized *shape* for every run of the same query.

Two statements have the same shape when they differ only in literal values,
bind-marker style (``?``, ``%s``, ``%(name)s``, ``:name``, ``$1``), the length
of an ``IN`` list or of a multi-row ``VALUES``, whitespace, comments and the
case of SQL keywords. Shapes group statements for the N+1 analysis and are
what reports show, so no parameter value ever reaches a report through them.

Every literal is masked as the dialect reads it (:class:`Quoting`): quoted strings
of every form, dollar quotes, hex and bit strings, numbers. Where the end of a
literal cannot be told (an unterminated quote), the rest of the statement is
masked: a shape may lose words, never show a value.

Normalizing costs tens of microseconds; the result is cached on the statement
string (one cache per quoting: see :class:`ShapeCache`), which SQLAlchemy reuses
from its compiled cache, so a repeated statement costs one dictionary lookup.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from ..queries import StatementKind


class Quoting(NamedTuple):
    """How a dialect quotes literals, which decides where a literal ends."""

    backslash_escapes: (
        bool  # ``\'`` inside '...' (MySQL, MariaDB; PostgreSQL with standard_conforming_strings off)
    )
    double_quoted_strings: bool  # "..." is a string, not an identifier (MySQL, MariaDB without ANSI_QUOTES)
    hash_comments: bool  # ``# ...`` runs to the end of the line (MySQL, MariaDB)


STANDARD = Quoting(backslash_escapes=False, double_quoted_strings=False, hash_comments=False)
"""SQLite, PostgreSQL and any dialect not known otherwise."""
MYSQL = Quoting(backslash_escapes=True, double_quoted_strings=True, hash_comments=True)
"""MySQL and MariaDB in their default SQL mode."""
MYSQL_DIALECTS = frozenset(("mysql", "mariadb"))


def _token_pattern(quoting: Quoting) -> re.Pattern[str]:
    """The tokens of a statement; every alternative of ``string`` and ``rest`` becomes ``?``."""
    body = r"(?:[^'\\]|''|\\.)*" if quoting.backslash_escapes else r"(?:[^']|'')*"
    double = r'"(?:[^"\\]|""|\\.)*"' if quoting.backslash_escapes else r'"(?:[^"]|"")*"'
    strings = [
        r"\$(?P<tag>(?:[A-Za-z_]\w*)?)\$.*?\$(?P=tag)\$",  # PostgreSQL dollar quotes: $$...$$, $x$...$x$
        r"\b[Ee]'(?:[^'\\]|''|\\.)*'",  # PostgreSQL escape strings: E'it\'s'
        r"\b[Uu]&'(?:[^']|'')*'",  # PostgreSQL Unicode strings: U&'d\0061t'
        rf"(?:\b(?:[NnXxBb]|_[A-Za-z0-9_]+))?'{body}'",  # N'...', X'0A', B'01', _utf8mb4'...', '...'
    ]
    identifiers = ["`(?:[^`]|``)*`"]
    if quoting.double_quoted_strings:
        strings.append(double)
    else:
        identifiers.append(r'"(?:[^"]|"")*"')
    comments = [r"--[^\n]*", r"/\*.*?\*/", r"/\*.*"] + ([r"\#[^\n]*"] if quoting.hash_comments else [])
    return re.compile(
        rf"""
          (?P<comment>{"|".join(comments)})
        | (?P<string>{"|".join(strings)})
        | (?P<quoted>{"|".join(identifiers)})
        | (?P<rest>(?:\b[Ee])?['"`].*|\$(?:[A-Za-z_]\w*)?\$.*)  # an unterminated quote: the rest may be its text
        | (?P<param>%\([^)]*\)s|%s|\?|\$\d+|(?<!:):(?!:)(?:[A-Za-z_]\w*|\d+))
        | (?P<word>[A-Za-z_][\w$]*)
        | (?P<number>0[xX][0-9A-Fa-f_]+|0[bB][01_]+|0[oO][0-7_]+
                     |\d[\d_]*\.?[\d_]*(?:[eE][-+]?\d+)?|\.\d[\d_]*(?:[eE][-+]?\d+)?)
        | (?P<comma>\s*,\s*)
        | (?P<open>\(\s*)
        | (?P<close>\s*\))
        | (?P<space>\s+)
        """,
        re.VERBOSE | re.DOTALL,
    )


_TOKENS: dict[Quoting, re.Pattern[str]] = {}

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


def _replace(match: re.Match[str]) -> str:
    group = match.lastgroup
    text = match.group()
    if group == "word":
        upper = text.upper()
        after_dot = match.start() > 0 and match.string[match.start() - 1] == "."
        return upper if upper in KEYWORDS and not after_dot else text
    if group in ("string", "param", "number", "rest"):
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


def normalize(sql: str, quoting: Quoting = STANDARD) -> str:
    """The shape of ``sql`` as a dialect quoting as ``quoting`` reads it (uncached; see :class:`ShapeCache`)."""
    tokens = _TOKENS.get(quoting)
    if tokens is None:
        tokens = _TOKENS[quoting] = _token_pattern(quoting)
    shape = _SPACES.sub(" ", tokens.sub(_replace, sql)).strip()
    shape = _PLACEHOLDER_CAST.sub("?", shape)
    shape = _REPEATED_ROWS.sub(r"\1", shape)
    return _IN_LIST.sub(r"IN (\1)", shape)


def statement_kind(shape: str) -> StatementKind:
    """``transaction`` for transaction control (``BEGIN``, ``SAVEPOINT``, ...), else ``query``."""
    first = shape.split(" ", 1)[0]
    if first in _TRANSACTION_WORDS or shape.startswith("START TRANSACTION"):
        return "transaction"
    return "query"


_CACHE_LIMIT = 4096


class ShapeCache(dict[str, tuple[str, StatementKind]]):
    """Statement text to shape and kind, for one quoting: read directly on the hot path."""

    def __init__(self, quoting: Quoting) -> None:
        super().__init__()
        self.quoting = quoting

    def fingerprint(self, sql: str) -> tuple[str, StatementKind]:
        """The shape of ``sql`` and whether it is a query or transaction control; cached.

        A shape holds no NUL (one outside a literal becomes a space): a statement's place
        separates its parts with it (see :func:`~pytest_perfbudget.queries.place_of`)."""
        known = self.get(sql)
        if known is not None:
            return known
        shape = normalize(sql, self.quoting)
        if "\0" in shape:
            shape = shape.replace("\0", " ")
        result = (shape, statement_kind(shape))
        if len(self) >= _CACHE_LIMIT:
            self.clear()  # statements with inlined values would otherwise grow it without bound
        self[sql] = result
        return result


_CACHES: dict[Quoting, ShapeCache] = {}


def shapes_for(quoting: Quoting) -> ShapeCache:
    """The one cache of statements read with ``quoting``."""
    cache = _CACHES.get(quoting)
    if cache is None:
        cache = _CACHES[quoting] = ShapeCache(quoting)
    return cache


SHAPES = shapes_for(STANDARD)
"""The cache of SQLite's, PostgreSQL's and other standard-quoting dialects' statements."""


def fingerprint(sql: str, quoting: Quoting = STANDARD) -> tuple[str, StatementKind]:
    """The shape of ``sql`` and whether it is a query or transaction control; cached."""
    return shapes_for(quoting).fingerprint(sql)


def quoting_of(dialect: Any) -> Quoting:
    """How a SQLAlchemy dialect quotes, from its name and what it detected on its first connect
    (MySQL's ``ANSI_QUOTES`` and ``NO_BACKSLASH_ESCAPES``, PostgreSQL's ``standard_conforming_strings``)."""
    mysql = getattr(dialect, "name", None) in MYSQL_DIALECTS
    return Quoting(
        backslash_escapes=bool(getattr(dialect, "_backslash_escapes", False)),
        double_quoted_strings=mysql and not getattr(dialect, "_server_ansiquotes", False),
        hash_comments=mysql,
    )
