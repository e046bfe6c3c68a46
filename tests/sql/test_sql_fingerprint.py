"""Statement shapes: one per query, whatever its values and bind style."""

from __future__ import annotations

import pytest

from pytest_perfbudget.sql import fingerprint as module
from pytest_perfbudget.sql.fingerprint import fingerprint, normalize, statement_kind

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
    monkeypatch.setattr(module, "SHAPES", {})
    calls = []
    real = module.normalize
    monkeypatch.setattr(module, "normalize", lambda sql: calls.append(sql) or real(sql))

    assert fingerprint("select 1") == ("SELECT ?", "query")
    assert fingerprint("select 1") == ("SELECT ?", "query")
    assert fingerprint("commit") == ("COMMIT", "transaction")
    assert calls == ["select 1", "commit"]


def test_the_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(module, "SHAPES", {})
    monkeypatch.setattr(module, "_CACHE_LIMIT", 3)
    for value in range(10):
        fingerprint(f"SELECT {value}")
    assert 1 <= len(module.SHAPES) <= 3
