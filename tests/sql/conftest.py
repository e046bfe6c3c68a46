"""Fixtures for the SQL tests: a database per backend, skipped with a reason when unavailable."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytest.importorskip("sqlalchemy", reason="the SQL tests need SQLAlchemy")

from sql_scenarios import ASYNC_BACKENDS, BACKENDS, SYNC_BACKENDS, Database

# Imported here, so that in-process inner runs share this process's hooks: pytester drops the
# modules an inner run imported, and the next run's new hooks module would find the dialect
# classes and the event loop wrapped by the old one, with its own recorder and context variable.
import pytest_perfbudget.sql.hooks  # noqa: F401


def _database(name: str, rows: int = 30) -> Iterator[Database]:
    database = Database(BACKENDS[name], rows)
    try:
        yield database
    finally:
        database.close()


@pytest.fixture(params=list(BACKENDS))
def database(request: pytest.FixtureRequest) -> Iterator[Database]:
    """Every backend, sync and async, with 30 users of one address each."""
    yield from _database(request.param)


@pytest.fixture(params=SYNC_BACKENDS)
def sync_database(request: pytest.FixtureRequest) -> Iterator[Database]:
    yield from _database(request.param)


@pytest.fixture(params=ASYNC_BACKENDS)
def async_database(request: pytest.FixtureRequest) -> Iterator[Database]:
    yield from _database(request.param)
