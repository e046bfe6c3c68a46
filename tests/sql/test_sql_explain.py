"""Slow queries and ``--perf-explain`` end to end: inner pytest runs on SQLite, PostgreSQL, MariaDB."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import pytest
from sql_scenarios import BACKENDS, url_for

from pytest_perfbudget.cli import main

if TYPE_CHECKING:
    from perf_helpers import Runner

SECRET = "sk_live_9f8e7d6c5b4a"  # a parameter value that must reach no report

# An orders table with no index on email, and a test that looks orders up by email. The
# table is named per run, so parallel runs on one database server do not collide.
MODULE = """
import pytest
from sqlalchemy import create_engine, text

URL = "@URL@"
TABLE = "@TABLE@"
SECRET = "@SECRET@"
LOOKUP = f"SELECT {TABLE}.id, {TABLE}.total FROM {TABLE} WHERE {TABLE}.email = :email"


@pytest.fixture
def engine():
    engine = create_engine(URL)
    with engine.begin() as connection:
        connection.execute(text(f"DROP TABLE IF EXISTS {TABLE}"))
        connection.execute(
            text(f"CREATE TABLE {TABLE} (id INTEGER PRIMARY KEY, email VARCHAR(100), total INTEGER)")
        )
        rows = [{"id": n, "email": f"user{n}@example.com", "total": n} for n in range(1, 201)]
        connection.execute(text(f"INSERT INTO {TABLE} (id, email, total) VALUES (:id, :email, :total)"), rows)
    yield engine
    with engine.begin() as connection:
        connection.execute(text(f"DROP TABLE IF EXISTS {TABLE}"))
    engine.dispose()


def lookup(connection, email):
    return connection.execute(text(LOOKUP), {"email": email}).all()
"""

BY_EMAIL = """
@pytest.mark.perf_budget(queries=1)
def test_lookup(engine):
    with engine.connect() as connection:
        for _ in range(3):
            lookup(connection, SECRET)
"""


def write(run: Runner, url: str, tests: str, name: str = "test_orders") -> str:
    """Write the inner module on ``url``; the name of its table."""
    table = f"pb_orders_{uuid.uuid4().hex[:10]}"
    source = MODULE.replace("@URL@", url).replace("@TABLE@", table).replace("@SECRET@", SECRET)
    run.module(name, source + tests)
    return table


def reports(run: Runner) -> dict[str, str]:
    return {name: (run.pytester.path / name).read_text(encoding="utf-8") for name in REPORTS}


REPORTS = ("out.json", "out.md", "out.html")
REPORT_ARGS = ("--perf-report", "out.json", "--perf-report", "out.md", "--perf-report", "out.html")


LOOKUP = "SELECT {table}.id, {table}.total FROM {table} WHERE {table}.email = ?"


def lookup_shape(table: str) -> str:
    return LOOKUP.format(table=table)  # its shape is its text: no literal in it


def test_a_test_over_budget_lists_its_slowest_statement_shapes(run: Runner) -> None:
    table = write(
        run,
        "sqlite://",
        """
@pytest.mark.perf_budget(queries=1)
def test_lookup(engine):
    with engine.connect() as connection:
        for _ in range(3):
            lookup(connection, SECRET)
        connection.execute(text(f"UPDATE {TABLE} SET total = total + 1 WHERE id = :id"), {"id": 1})
""",
    )
    result = run("--perf-report", "out.json")

    result.assert_outcomes(failed=1)
    slow = run.record("test_orders.py::test_lookup")["evidence"]["slow_queries"]
    assert {(shape["statement"], shape["count"]) for shape in slow} == {
        (lookup_shape(table), 3),
        (f"UPDATE {table} SET total = total + ? WHERE id = ?", 1),
    }
    assert [shape["total"] for shape in slow] == sorted((shape["total"] for shape in slow), reverse=True)
    for shape in slow:
        assert 0 < shape["max"] <= shape["total"]
    assert "plans" not in run.record("test_orders.py::test_lookup")["evidence"]  # only with --perf-explain


def test_a_test_within_its_budget_keeps_no_evidence(run_serial: Runner) -> None:
    write(
        run_serial,
        "sqlite://",
        """
@pytest.mark.perf_budget(queries=10)
def test_lookup(engine):
    with engine.connect() as connection:
        lookup(connection, SECRET)
""",
    )
    result = run_serial("--perf-explain", "--perf-report", "out.json")

    result.assert_outcomes(passed=1)
    assert "evidence" not in run_serial.record("test_orders.py::test_lookup")


def test_perf_explain_shows_a_full_scan_on_sqlite_in_every_report(run: Runner) -> None:
    table = write(run, "sqlite://", BY_EMAIL)
    result = run("--perf-explain", *REPORT_ARGS)

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "  queries     3 > 1 *",
            "  slowest statements:",
            f"    * in 3 runs: {lookup_shape(table)}",
            f"      plan: full scan of {table} on email",
        ]
    )
    plans = run.record("test_orders.py::test_lookup")["evidence"]["plans"]
    assert plans == [
        {
            "statement": lookup_shape(table),
            "dialect": "sqlite",
            "plan": [f"SCAN {table}"],
            "full_scans": [{"table": table, "columns": ["email"], "line": 0}],
        }
    ]
    texts = reports(run)
    assert f"SCAN {table}    <- full scan" in texts["out.md"]
    assert f"<summary>Query plans (1): full scan of {table} on email</summary>" in texts["out.md"].replace(
        "\\_", "_"
    )
    assert (
        f'<mark class="full-scan">SCAN {table}  ← full scan of {table} on email</mark>' in texts["out.html"]
    )


def test_an_index_on_the_filtered_column_makes_the_full_scan_go(run_serial: Runner) -> None:
    table = write(
        run_serial,
        "sqlite://",
        """
@pytest.mark.perf_budget(queries=1)
def test_lookup(engine):
    with engine.begin() as connection:
        connection.execute(text(f"CREATE INDEX ix_{TABLE}_email ON {TABLE} (email)"))
    with engine.connect() as connection:
        for _ in range(3):
            lookup(connection, SECRET)
""",
    )
    run_serial("--perf-explain", "--perf-report", "out.json").assert_outcomes(failed=1)

    plans = run_serial.record("test_orders.py::test_lookup")["evidence"]["plans"]
    assert plans[0]["plan"] == [f"SEARCH {table} USING INDEX ix_{table}_email (email=?)"]
    assert plans[0]["full_scans"] == []


@pytest.mark.parametrize(
    ("backend", "scan"),
    [("psycopg", "Seq Scan on {table}"), ("pymysql", "table={table} type=ALL")],
    ids=["postgresql", "mariadb"],
)
def test_perf_explain_shows_a_full_scan_on_a_database_server(run: Runner, backend: str, scan: str) -> None:
    table = write(run, url_for(BACKENDS[backend]), BY_EMAIL)
    result = run("--perf-explain", *REPORT_ARGS)

    result.assert_outcomes(failed=1)
    (plan,) = run.record("test_orders.py::test_lookup")["evidence"]["plans"]
    assert plan["statement"] == lookup_shape(table)
    assert plan["full_scans"] == [{"table": table, "columns": ["email"], "line": 0}]
    assert scan.format(table=table) in plan["plan"][0]
    if backend == "psycopg":
        assert "Filter: ((email)::text = ?::text)" in plan["plan"][1]  # the value masked
    texts = reports(run)
    for name, text in texts.items():
        assert SECRET not in text, name
    assert "full scan" in texts["out.md"]
    assert "full scan" in texts["out.html"]


ASYNC = """
import asyncio

from sqlalchemy.ext.asyncio import create_async_engine

ENGINES = []  # the engine outlives the test's event loop, as one in a fixture would


@pytest.mark.perf_budget(queries=1)
def test_lookup(engine):
    async def go():
        async_engine = create_async_engine("@ASYNC_URL@")
        ENGINES.append(async_engine)
        async with async_engine.connect() as connection:
            for _ in range(3):
                (await connection.execute(text(LOOKUP), {"email": SECRET})).all()

    asyncio.run(go())
"""


def test_perf_explain_on_an_async_engine(run_serial: Runner) -> None:
    async_url = url_for(BACKENDS["asyncpg"])
    table = write(run_serial, url_for(BACKENDS["psycopg"]), ASYNC.replace("@ASYNC_URL@", async_url))
    result = run_serial("--perf-explain", *REPORT_ARGS)

    result.assert_outcomes(failed=1)
    (plan,) = run_serial.record("test_orders.py::test_lookup")["evidence"]["plans"]
    assert plan["dialect"] == "postgresql"
    assert plan["full_scans"] == [{"table": table, "columns": ["email"], "line": 0}]
    for name, text in reports(run_serial).items():
        assert SECRET not in text, name


@pytest.mark.parametrize("backend", ["sqlite", "psycopg", "pymysql"])
def test_parameter_values_reach_no_report(run_serial: Runner, backend: str) -> None:
    url = url_for(BACKENDS[backend])
    write(run_serial, url, BY_EMAIL)
    result = run_serial("--perf-explain", *REPORT_ARGS)

    result.assert_outcomes(failed=1)
    assert run_serial.record("test_orders.py::test_lookup")["evidence"]["plans"][0]["plan"]
    for name, text in reports(run_serial).items():
        assert SECRET not in text, name
        assert "user1@example.com" not in text, name
    assert SECRET not in run_serial.output(result)


# Every statement sent to SQLite's driver is written to statements.log (EXPLAIN too: SQLite's
# own trace callback leaves EXPLAIN out).
LOGGED = """
import sqlite3


class LoggingCursor(sqlite3.Cursor):
    def execute(self, sql, *args):
        with open("statements.log", "a", encoding="utf-8") as file:
            file.write(" ".join(sql.split()) + "\\n")
        return super().execute(sql, *args)


class LoggingConnection(sqlite3.Connection):
    def cursor(self, factory=LoggingCursor):
        return super().cursor(factory)


@pytest.fixture
def logged_engine():
    engine = create_engine("sqlite://", creator=lambda: sqlite3.connect(":memory:", factory=LoggingConnection))
    with engine.begin() as connection:
        connection.execute(text(f"CREATE TABLE {TABLE} (id INTEGER PRIMARY KEY, email VARCHAR(100), total INTEGER)"))
    yield engine
    engine.dispose()


@pytest.mark.perf_budget(queries=1)
def test_writes(logged_engine):
    with logged_engine.begin() as connection:
        for n in range(3):
            connection.execute(text(f"UPDATE {TABLE} SET total = total + 1 WHERE id = :id"), {"id": n})
        connection.execute(text(f"DELETE FROM {TABLE} WHERE total > :total"), {"total": 150})
        lookup(connection, SECRET)
"""


def test_only_selects_are_explained(run_serial: Runner) -> None:
    table = write(run_serial, "sqlite://", LOGGED)
    result = run_serial("--perf-explain", "--perf-report", "out.json")

    result.assert_outcomes(failed=1)
    evidence = run_serial.record("test_orders.py::test_writes")["evidence"]
    assert len(evidence["slow_queries"]) == 3  # the UPDATE, the DELETE, the SELECT
    assert [plan["statement"] for plan in evidence["plans"]] == [lookup_shape(table)]
    sent = (run_serial.pytester.path / "statements.log").read_text(encoding="utf-8").splitlines()
    explained = [statement for statement in sent if statement.startswith("EXPLAIN")]
    assert explained == [f"EXPLAIN QUERY PLAN {LOOKUP.format(table=table)}"]


@pytest.mark.parametrize(
    ("ending", "reason"),
    [
        (
            'with engine.begin() as connection:\n        connection.execute(text(f"DROP TABLE {TABLE}"))',
            "no such table",
        ),
        ("engine.dispose()", "no such table"),  # a new in-memory database, without the table
    ],
    ids=["table-dropped", "engine-disposed"],
)
@pytest.mark.parametrize("mode", ["enforce", "warn"])
def test_a_plan_that_cannot_be_taken_says_why_and_changes_no_verdict(
    run: Runner, ending: str, reason: str, mode: str
) -> None:
    table = write(
        run,
        "sqlite://",
        f"""
@pytest.mark.perf_budget(queries=1)
def test_lookup(engine):
    with engine.connect() as connection:
        for _ in range(3):
            lookup(connection, SECRET)
    {ending}
""",
    )
    result = run("--perf-explain", "--perf-mode", mode, "--perf-report", "out.json")

    result.assert_outcomes(**({"failed": 1} if mode == "enforce" else {"passed": 1}))
    (plan,) = run.record("test_orders.py::test_lookup")["evidence"]["plans"]
    assert plan["statement"] == lookup_shape(table)
    assert plan["status"] == "not taken"
    assert reason in plan["reason"]
    assert SECRET not in plan["reason"]


def test_a_select_for_update_is_never_explained(run_serial: Runner) -> None:
    url = url_for(BACKENDS["psycopg"])
    table = write(
        run_serial,
        url,
        """
@pytest.mark.perf_budget(queries=1)
def test_locks(engine):
    with engine.begin() as connection:
        for n in range(3):
            connection.execute(text(f"SELECT id FROM {TABLE} WHERE email = :email FOR UPDATE"), {"email": SECRET})
""",
    )
    run_serial("--perf-explain", "--perf-report", "out.json").assert_outcomes(failed=1)

    plans: list[dict[str, Any]] = run_serial.record("test_orders.py::test_locks")["evidence"]["plans"]
    assert plans == [
        {
            "statement": f"SELECT id FROM {table} WHERE email = ? FOR UPDATE",
            "status": "not taken",
            "reason": "never explained: the statement locks rows",
        }
    ]


def test_perfbudget_report_renders_the_evidence_of_a_json_report(run_serial: Runner) -> None:
    table = write(run_serial, "sqlite://", BY_EMAIL)
    run_serial("--perf-explain", "--perf-report", "out.json").assert_outcomes(failed=1)

    for output in ("again.md", "again.html"):
        assert main(["report", str(run_serial.pytester.path / "out.json"), "-o", output]) == 0
    markdown = (run_serial.pytester.path / "again.md").read_text(encoding="utf-8")
    html = (run_serial.pytester.path / "again.html").read_text(encoding="utf-8")
    assert "<summary>Slowest statements (1)</summary>" in markdown
    assert f"SCAN {table}    <- full scan" in markdown
    assert '<section id="sql-evidence">' in html
    assert f"SCAN {table}  ← full scan" in html
