"""Statement shapes: one per query, whatever its values and bind style."""

from __future__ import annotations

import pytest

from pytest_perfbudget.sql import fingerprint as module
from pytest_perfbudget.sql.fingerprint import (
    MYSQL,
    STANDARD,
    Quoting,
    ShapeCache,
    fingerprint,
    normalize,
    quoting_of,
    shapes_for,
    statement_kind,
)

SHAPE = "SELECT users.id FROM users WHERE users.id = ?"


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT users.id FROM users WHERE users.id = ?",
        "SELECT users.id FROM users WHERE users.id = %s",
        "SELECT users.id FROM users WHERE users.id = %(id_1)s",
        "SELECT users.id FROM users WHERE users.id = :id_1",
        "SELECT users.id FROM users WHERE users.id = :1",
        "SELECT users.id FROM users WHERE users.id = $1",
        "SELECT users.id FROM users WHERE users.id = $1::INTEGER",
        "SELECT users.id FROM users WHERE users.id = 42",
        "SELECT users.id FROM users WHERE users.id = 4.2e1",
        "SELECT users.id FROM users WHERE users.id = 'forty-two'",
        "SELECT users.id FROM users WHERE users.id = 'it''s'",
        "SELECT users.id FROM users WHERE users.id = E'\\\\x'",
        "select users.id\n  from users\n where users.id = 7",
        "SELECT users.id FROM users /* request 123 */ WHERE users.id = 1 -- trailing\n",
    ],
)
def test_values_bind_styles_whitespace_case_and_comments_make_one_shape(sql: str) -> None:
    assert normalize(sql) == SHAPE


@pytest.mark.parametrize(
    ("sql", "shape"),
    [
        ("SELECT a FROM t WHERE t.id IN (?, ?, ?)", "SELECT a FROM t WHERE t.id IN (?)"),
        ("SELECT a FROM t WHERE t.id IN (1, 2, 3, 4)", "SELECT a FROM t WHERE t.id IN (?)"),
        ("SELECT a FROM t WHERE t.id IN (%(ids_1_1)s, %(ids_1_2)s)", "SELECT a FROM t WHERE t.id IN (?)"),
        ("SELECT a FROM t WHERE t.id IN ($1::INTEGER, $2::INTEGER)", "SELECT a FROM t WHERE t.id IN (?)"),
        ("SELECT a FROM t WHERE t.id NOT IN (?, ?)", "SELECT a FROM t WHERE t.id NOT IN (?)"),
        (
            "SELECT a FROM t WHERE (t.x, t.y) IN ((?, ?), (?, ?))",
            "SELECT a FROM t WHERE (t.x, t.y) IN ((?, ?))",
        ),
        ("INSERT INTO t (a, b) VALUES (?, ?), (?, ?), (?, ?)", "INSERT INTO t (a, b) VALUES (?, ?)"),
        ("INSERT INTO t (a, b) VALUES (%s, %s)", "INSERT INTO t (a, b) VALUES (?, ?)"),
        (
            "INSERT INTO t (a) SELECT p0::VARCHAR FROM (VALUES (%(a__0)s::VARCHAR, 0), (%(a__1)s::VARCHAR, 1)) "
            "AS imp_sen(p0, sen_counter) ORDER BY sen_counter RETURNING t.id",
            "INSERT INTO t (a) SELECT p0::VARCHAR FROM (VALUES (?, ?)) "
            "AS imp_sen(p0, sen_counter) ORDER BY sen_counter RETURNING t.id",
        ),
    ],
)
def test_in_lists_and_multi_row_values_collapse(sql: str, shape: str) -> None:
    assert normalize(sql) == shape


def test_identifiers_keep_their_case_and_quotes() -> None:
    sql = 'select "Order".id, `Item`.Name, t1.col2 from "Order" join `Item` on x.first = 3'
    assert normalize(sql) == 'SELECT "Order".id, `Item`.Name, t1.col2 FROM "Order" JOIN `Item` ON x.first = ?'


def test_casts_on_columns_stay() -> None:
    assert normalize("SELECT x::TEXT FROM t WHERE y = $1::TIMESTAMP WITHOUT TIME ZONE") == (
        "SELECT x::TEXT FROM t WHERE y = ?"
    )


def test_a_quoted_string_is_one_literal_even_with_sql_inside() -> None:
    assert normalize("SELECT 'a, b) -- not a comment' FROM t") == "SELECT ? FROM t"


@pytest.mark.parametrize(
    ("shape", "kind"),
    [
        ("BEGIN", "transaction"),
        ("BEGIN (implicit)", "transaction"),
        ("START TRANSACTION", "transaction"),
        ("COMMIT", "transaction"),
        ("ROLLBACK", "transaction"),
        ("SAVEPOINT sa_savepoint_1", "transaction"),
        ("ROLLBACK TO SAVEPOINT sa_savepoint_1", "transaction"),
        ("RELEASE SAVEPOINT sa_savepoint_1", "transaction"),
        ("SELECT ?", "query"),
        ("BEGINNING", "query"),
        ("SET search_path TO x", "query"),
    ],
)
def test_transaction_control_is_recognised(shape: str, kind: str) -> None:
    assert statement_kind(shape) == kind


def test_fingerprints_are_cached_on_the_statement_text(monkeypatch: pytest.MonkeyPatch) -> None:
    cache = ShapeCache(STANDARD)
    calls = []
    real = module.normalize
    monkeypatch.setattr(module, "normalize", lambda sql, quoting: calls.append(sql) or real(sql, quoting))

    assert cache.fingerprint("select 1") == ("SELECT ?", "query")
    assert cache.fingerprint("select 1") == ("SELECT ?", "query")
    assert cache.fingerprint("commit") == ("COMMIT", "transaction")
    assert calls == ["select 1", "commit"]


def test_the_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    cache = ShapeCache(STANDARD)
    monkeypatch.setattr(module, "_CACHE_LIMIT", 3)
    for value in range(10):
        cache.fingerprint(f"SELECT {value}")
    assert 1 <= len(cache) <= 3


def test_each_quoting_has_its_own_cache() -> None:
    """The same text is another statement on MySQL: "x" is a string there, an identifier elsewhere."""
    sql = 'SELECT "x" FROM t'
    assert fingerprint(sql) == ('SELECT "x" FROM t', "query")
    assert fingerprint(sql, MYSQL) == ("SELECT ? FROM t", "query")
    assert shapes_for(MYSQL) is shapes_for(MYSQL) is not shapes_for(STANDARD) is module.SHAPES


# --- literals of every dialect --------------------------------------------------------------

ANSI_QUOTES = Quoting(backslash_escapes=True, double_quoted_strings=False, hash_comments=True)
NO_BACKSLASH_ESCAPES = Quoting(backslash_escapes=False, double_quoted_strings=True, hash_comments=True)


@pytest.mark.parametrize(
    ("literal", "quoting"),
    [
        # SQLite and PostgreSQL
        ("'secret'", STANDARD),
        ("'it''s secret'", STANDARD),
        ("'C:\\secret\\'", STANDARD),  # a backslash is a character: the quote after it ends the string
        ("$$it's a secret$$", STANDARD),
        ("$body$ it's $$ a secret $body$", STANDARD),
        ("$_1$secret$_1$", STANDARD),
        ("E'it\\'s secret'", STANDARD),
        ("e'\\\\secret\\\\'", STANDARD),
        ("E'it''s secret'", STANDARD),
        ("U&'d\\0061ta secret'", STANDARD),
        ("N'secret'", STANDARD),
        ("X'5EC2E7'", STANDARD),
        ("B'0101'", STANDARD),
        ("0x5EC2E7", STANDARD),
        ("0b0101", STANDARD),
        ("0o777", STANDARD),
        ("1_000_000", STANDARD),
        ("12.5e-3", STANDARD),
        # MySQL and MariaDB
        ("'it\\'s secret'", MYSQL),
        ("'it''s secret'", MYSQL),
        ("'secret\\\\'", MYSQL),
        ('"secret"', MYSQL),
        ('"it\\"s secret"', MYSQL),
        ('"it""s secret"', MYSQL),
        ("_utf8mb4'secret'", MYSQL),
        ("_binary'secret\\''", MYSQL),
        ("N'secret'", MYSQL),
        ("x'5EC2E7'", MYSQL),
        ("X'5EC2E7'", MYSQL),
        ("0x5EC2E7", MYSQL),
        ("b'0101'", MYSQL),
        ("0b0101", MYSQL),
        ("'it\\'s secret'", ANSI_QUOTES),
        ("'C:\\secret\\'", NO_BACKSLASH_ESCAPES),
        ('"C:\\secret\\"', NO_BACKSLASH_ESCAPES),
    ],
)
def test_every_literal_is_masked(literal: str, quoting: Quoting) -> None:
    sql = f"SELECT t.a FROM t WHERE t.b = {literal} AND t.c = 1"
    assert normalize(sql, quoting) == "SELECT t.a FROM t WHERE t.b = ? AND t.c = ?"


@pytest.mark.parametrize(
    ("sql", "quoting", "shape"),
    [
        ("SELECT 'open secret FROM t", STANDARD, "SELECT ?"),
        ("SELECT $$open secret FROM t", STANDARD, "SELECT ?"),
        ("SELECT $tag$open secret $other$ FROM t", STANDARD, "SELECT ?"),
        ('SELECT "open secret FROM t', STANDARD, "SELECT ?"),
        ("SELECT `open secret FROM t", MYSQL, "SELECT ?"),
        ("SELECT 'it\\' secret FROM t", MYSQL, "SELECT ?"),
        ("SELECT E'it\\' secret FROM t", STANDARD, "SELECT ?"),
    ],
)
def test_an_unterminated_quote_masks_the_rest(sql: str, quoting: Quoting, shape: str) -> None:
    assert normalize(sql, quoting) == shape


def test_double_quotes_are_identifiers_outside_mysql() -> None:
    sql = 'SELECT "Order".id FROM "Order" WHERE "Order"."x y" = 3'
    assert normalize(sql, STANDARD) == 'SELECT "Order".id FROM "Order" WHERE "Order"."x y" = ?'
    assert normalize(sql, ANSI_QUOTES) == normalize(sql, STANDARD)
    assert normalize(sql, MYSQL) == "SELECT ?.id FROM ? WHERE ?.? = ?"


def test_mysql_comments_and_backticks() -> None:
    sql = "SELECT `t`.`a` FROM `t` # the secret\nWHERE `t`.`b` = 'x' -- another secret"
    assert normalize(sql, MYSQL) == "SELECT `t`.`a` FROM `t` WHERE `t`.`b` = ?"
    assert normalize("SELECT a # b FROM t", STANDARD) == "SELECT a # b FROM t"  # PostgreSQL's XOR


def test_dollar_bind_markers_are_not_dollar_quotes() -> None:
    assert normalize("SELECT a FROM t WHERE a = $1 AND b = $2::VARCHAR", STANDARD) == (
        "SELECT a FROM t WHERE a = ? AND b = ?"
    )
    assert normalize("SELECT a$b$c FROM t", STANDARD) == "SELECT a$b$c FROM t"


class Dialect:
    def __init__(self, name: str, **attributes: bool) -> None:
        self.name = name
        self.__dict__.update(attributes)


@pytest.mark.parametrize(
    ("dialect", "quoting"),
    [
        (Dialect("sqlite"), STANDARD),
        (Dialect("postgresql", _backslash_escapes=False), STANDARD),
        (Dialect("postgresql", _backslash_escapes=True), Quoting(True, False, False)),
        (Dialect("mysql", _backslash_escapes=True, _server_ansiquotes=False), MYSQL),
        (Dialect("mariadb", _backslash_escapes=True, _server_ansiquotes=False), MYSQL),
        (Dialect("mysql", _backslash_escapes=True, _server_ansiquotes=True), ANSI_QUOTES),
        (Dialect("mariadb", _backslash_escapes=False, _server_ansiquotes=False), NO_BACKSLASH_ESCAPES),
        (Dialect("mssql"), STANDARD),
    ],
    ids=[
        "sqlite",
        "postgresql",
        "postgresql-backslash",
        "mysql",
        "mariadb",
        "ansi-quotes",
        "no-backslash",
        "other",
    ],
)
def test_the_quoting_of_a_dialect(dialect: Dialect, quoting: Quoting) -> None:
    assert quoting_of(dialect) == quoting
