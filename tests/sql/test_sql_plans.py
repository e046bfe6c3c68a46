"""Reading query plans: what may be explained, values masked, full scans found (no database)."""

from __future__ import annotations

import pytest

from pytest_perfbudget.sql import plans
from pytest_perfbudget.sql.explain import _reason

SHAPE = "SELECT orders.id FROM orders WHERE orders.email = ?"


@pytest.mark.parametrize(
    ("shape", "reason"),
    [
        (SHAPE, None),
        ("WITH recent AS (SELECT id FROM orders) SELECT id FROM recent", None),
        ("SELECT orders.id FROM orders WHERE orders.id = ? FOR UPDATE", "locks rows"),
        ("SELECT id FROM orders FOR NO KEY UPDATE SKIP LOCKED", "locks rows"),
        ("SELECT id FROM orders WHERE id = ? LOCK IN SHARE MODE", "locks rows"),
        ("WITH gone AS (DELETE FROM orders RETURNING id) SELECT id FROM gone", "writes"),
        ("SELECT id INTO archive FROM orders", "writes (SELECT ... INTO)"),
        ("SELECT nextval(?)", "has side effects"),
        ("SELECT pg_advisory_lock(?)", "has side effects"),
        ("SELECT ?; DROP TABLE orders", "writes"),
    ],
)
def test_only_plain_selects_may_be_explained(shape: str, reason: str | None) -> None:
    assert plans.refusal(shape) == reason


def test_sqlite_rows_become_an_indented_tree() -> None:
    rows = [(2, 0, 0, "SCAN o"), (5, 0, 0, "SEARCH c USING INTEGER PRIMARY KEY (rowid=?)"), (7, 5, 0, "X")]
    assert plans.plan_lines("sqlite", ["id", "parent", "notused", "detail"], rows) == [
        "SCAN o",
        "SEARCH c USING INTEGER PRIMARY KEY (rowid=?)",
        "  X",
    ]


def test_postgresql_values_are_masked_and_costs_kept() -> None:
    rows = [
        ("Seq Scan on orders  (cost=0.00..14.00 rows=2 width=4)",),
        ("  Filter: (((email)::text = 'sk_live_1'::text) AND (total > 42))",),
    ]
    assert plans.plan_lines("postgresql", ["QUERY PLAN"], rows) == [
        "Seq Scan on orders  (cost=0.00..14.00 rows=2 width=4)",
        "  Filter: (((email)::text = ?::text) AND (total > ?))",
    ]


def test_a_postgresql_seq_scan_with_a_filter_is_a_full_scan_and_one_without_is_not() -> None:
    shape = "SELECT o.id FROM orders AS o JOIN customers ON customers.id = o.customer_id WHERE o.email = ?"
    lines = [
        "Hash Join  (cost=1.00..30.00 rows=1 width=4)",
        "  Hash Cond: (customers.id = o.customer_id)",
        "  ->  Seq Scan on customers  (cost=0.00..20.00 rows=1000 width=4)",
        "  ->  Hash  (cost=1.00..1.00 rows=1 width=8)",
        "        ->  Seq Scan on orders o  (cost=0.00..1.00 rows=1 width=8)",
        "              Filter: ((email)::text = ?::text)",
    ]
    rows = [(line,) for line in lines]
    assert plans.full_scans("postgresql", ["QUERY PLAN"], rows, lines, shape) == [
        {"table": "o", "columns": ["email"], "line": 4}
    ]


def test_mysql_type_all_with_using_where_is_a_full_scan() -> None:
    columns = [
        "id",
        "select_type",
        "table",
        "type",
        "possible_keys",
        "key",
        "key_len",
        "ref",
        "rows",
        "Extra",
    ]
    rows = [
        (1, "SIMPLE", "orders", "ALL", None, None, None, None, "200", "Using where"),
        (1, "SIMPLE", "customers", "eq_ref", "PRIMARY", "PRIMARY", "4", "orders.customer_id", "1", ""),
    ]
    lines = plans.plan_lines("mariadb", columns, rows)
    assert lines[0] == (
        "id=1 select_type=SIMPLE table=orders type=ALL possible_keys=NULL key=NULL rows=200 Extra=Using where"
    )
    shape = "SELECT orders.id FROM orders JOIN customers ON customers.id = orders.customer_id WHERE orders.email = ?"
    assert plans.full_scans("mariadb", columns, rows, lines, shape) == [
        {"table": "orders", "columns": ["email"], "line": 0}
    ]


@pytest.mark.parametrize(
    ("shape", "full"),
    [
        (SHAPE, True),
        ("SELECT id FROM orders WHERE email = ?", True),  # unqualified, one table
        ("SELECT orders.id FROM orders", False),  # no filter: reading every row is what was asked
        ("SELECT orders.id FROM orders ORDER BY orders.email", False),
    ],
)
def test_a_sqlite_scan_is_a_full_scan_only_of_a_filtered_table(shape: str, full: bool) -> None:
    rows = [(2, 0, 0, "SCAN orders")]
    lines = plans.plan_lines("sqlite", ["id", "parent", "notused", "detail"], rows)
    found = plans.full_scans("sqlite", [], rows, lines, shape)
    assert found == ([{"table": "orders", "columns": ["email"], "line": 0}] if full else [])


def test_where_columns_skip_keywords_functions_and_placeholders() -> None:
    shape = (
        "SELECT u.id FROM users AS u WHERE lower(u.name) LIKE ? AND u.age BETWEEN ? AND ? OR active IS NULL"
    )
    assert plans.where_columns(shape) == {("u", "name"), ("u", "age"), (None, "active")}


def test_a_reason_never_holds_a_parameter_value() -> None:
    error = ValueError(
        "invalid input syntax for type integer: \"sk_live_1\"\nLINE 1: ... WHERE x = 'sk_live_1'"
    )
    assert _reason(error, {"x": "sk_live_1"}) == 'ValueError: invalid input syntax for type integer: "?"'
    assert (
        _reason(RuntimeError("no such table: orders"), ("sk_live_1",))
        == "RuntimeError: no such table: orders"
    )
