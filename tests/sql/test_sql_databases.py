"""The same ORM scenarios on SQLite, aiosqlite, PostgreSQL (psycopg 3, asyncpg) and MariaDB (PyMySQL).

Counts and suspects are asserted alike on every backend: the SQL of these
scenarios is the same everywhere, up to quoting and bind style, which shapes
normalize away. A backend whose driver or server is missing is skipped with
the reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sql_scenarios import (
    BACKENDS,
    HERE,
    ROWS,
    Database,
    async_row_loop,
    capturing,
    executemany_insert,
    lazy_load_loop,
    per_row_loop,
    savepoints,
    selectin_fix,
    site,
    url_for,
    wide_selectin,
)
from sqlalchemy import create_engine, text

from pytest_perfbudget.queries import QueryLog


def kinds(log: QueryLog) -> list[str]:
    return [statement.kind for statement in log]


def test_lazy_load_loop_is_31_queries_and_one_suspect_of_30(database: Database) -> None:
    log, total = database.run(lazy_load_loop)

    assert total == ROWS
    assert log.count == ROWS + 1
    [suspect] = log.suspects(3)
    assert suspect.count == ROWS
    assert suspect.call_site == site("lazy")
    assert suspect.function == "lazy_load_loop"
    address_table = database.models.Address.__tablename__
    assert suspect.statement == (
        f"SELECT {address_table}.id, {address_table}.email, {address_table}.user_id "
        f"FROM {address_table} WHERE ? = {address_table}.user_id ORDER BY {address_table}.id"
    )


def test_selectinload_fix_is_two_queries_and_no_suspect(database: Database) -> None:
    log, total = database.run(selectin_fix)

    assert total == ROWS
    assert log.count == 2
    assert log.suspects(3) == []
    assert [statement.call_site for statement in log.counted] == [site("selectin")] * 2


def test_per_row_query_loop_is_a_suspect_at_its_line(database: Database) -> None:
    log, found = database.run(per_row_loop)

    assert found == ROWS
    assert log.count == ROWS + 1
    [suspect] = log.suspects(3)
    assert (suspect.count, suspect.call_site, suspect.function) == (ROWS, site("loop"), "per_row_loop")
    assert log.suspects(ROWS + 1) == []  # the threshold is a count of requests


def test_executemany_insert_is_one_statement(database: Database) -> None:
    log, rows = database.run(executemany_insert)

    [statement] = log.counted
    assert statement.executemany
    assert statement.batch == rows == ROWS
    assert statement.parameters == 2
    assert (
        statement.shape
        == f"INSERT INTO {database.models.Address.__tablename__} (email, user_id) VALUES (?, ?)"
    )
    assert statement.call_site == site("executemany")
    assert statement.rows in (ROWS, None)  # asyncpg does not report an executemany's row count
    assert log.suspects(1) == []  # a write is never an N+1 suspect


def test_savepoints_are_shown_and_not_counted(database: Database) -> None:
    log, inserts = database.run(savepoints)

    assert log.count == inserts
    control = [
        statement.shape.split(" sa_savepoint")[0] for statement in log if statement.kind == "transaction"
    ]
    assert [shape for shape in control if "SAVEPOINT" in shape] == [
        "SAVEPOINT",
        "RELEASE SAVEPOINT",
        "SAVEPOINT",
        "ROLLBACK TO SAVEPOINT",
    ]
    first_savepoint = next(statement for statement in log if statement.shape.startswith("SAVEPOINT"))
    assert first_savepoint.call_site == site("savepoint")


@pytest.mark.parametrize("name", list(BACKENDS))
def test_selectinload_batches_are_one_request(name: str) -> None:
    database = Database(BACKENDS[name], rows=1200)
    try:
        log, users = database.run(wide_selectin)
    finally:
        database.close()

    assert users == 1200
    assert log.count == 1 + 3  # the users, then three IN-lists of at most 500
    assert log.suspects(3) == []
    batches = [statement for statement in log.counted if "user_id IN" in statement.shape]
    assert len(batches) == 3
    assert len({statement.request for statement in batches}) == 1


def test_async_session_loop_reports_the_await_line(async_database: Database) -> None:
    log, found = async_database.run_async(async_row_loop)

    assert found == ROWS
    assert log.count == ROWS + 1
    [suspect] = log.suspects(3)
    assert (suspect.count, suspect.call_site, suspect.function) == (ROWS, site("await"), "async_row_loop")


def test_call_site_excludes_move_the_site_outwards(database: Database) -> None:
    log, _ = database.run(lazy_load_loop, exclude=(HERE,))  # the next frame out not excluded

    [suspect] = log.suspects(3)
    assert suspect.count == ROWS
    assert suspect.call_site == f"tests/sql/test_sql_databases.py:{_line_of_run_above()}"
    assert suspect.function == "test_call_site_excludes_move_the_site_outwards"


def _line_of_run_above() -> int:
    source = Path(__file__).read_text(encoding="utf-8").splitlines()
    return 1 + source.index(
        "    log, _ = database.run(lazy_load_loop, exclude=(HERE,))  # the next frame out not excluded"
    )


def test_durations_and_rows_are_recorded(database: Database) -> None:
    log, _ = database.run(per_row_loop)

    assert all(statement.duration > 0 for statement in log.counted)
    assert log.total_time == pytest.approx(sum(statement.duration for statement in log))
    assert {statement.parameters for statement in log.counted} == {0, 1}
    rows = [statement.rows for statement in log.counted[1:]]
    assert rows == [1] * ROWS or rows == [None] * ROWS  # SQLite does not count a SELECT's rows


@pytest.mark.parametrize("name", ["psycopg", "pymysql", "sqlite"])
def test_first_connect_queries_are_setup_not_counted(name: str) -> None:
    url = url_for(BACKENDS[name])
    with capturing() as log:
        engine = create_engine(url)
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()

    assert log.count == 1
    assert "setup" in kinds(log)
    assert [statement.shape for statement in log.counted] == ["SELECT ?"]


def test_no_parameter_value_is_kept(database: Database) -> None:
    log, _ = database.run(per_row_loop)

    kept: list[Any] = [value for statement in log for value in (statement.sql, statement.shape)]
    assert not any("user1@example.com" in str(value) for value in kept)
