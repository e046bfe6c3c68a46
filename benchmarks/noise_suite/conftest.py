"""Fixtures of the noise study's sample suite: the injected slowdown and a SQLite database."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text

# A JSON object mapping a test's name (``test_cpu[10ms]``) to a factor its work is multiplied by.
SLOWDOWN_VARIABLE = "PERF_NOISE_SLOWDOWN"
TABLE_ROWS = 200_000

if os.environ.get("PERF_NOISE_NO_GC"):
    # The study's "-nogc" settings: retries without the plugin's garbage collection before them.
    import types

    from pytest_perfbudget import runner

    runner.gc = types.SimpleNamespace(collect=lambda: 0)  # type: ignore[assignment]


@pytest.fixture
def slowdown(request: pytest.FixtureRequest) -> float:
    """How many times more work this test does than normal (1.0 unless injected)."""
    factors = json.loads(os.environ.get(SLOWDOWN_VARIABLE) or "{}")
    return float(factors.get(request.node.name, 1.0))


@pytest.fixture(scope="session")
def engine() -> Iterator[Engine]:
    """An in-memory SQLite database with one table of 200,000 rows (set up unmeasured)."""
    engine = create_engine("sqlite://")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE items (id INTEGER PRIMARY KEY, grp INTEGER, value REAL)"))
        connection.execute(
            text(
                "INSERT INTO items (id, grp, value) WITH RECURSIVE seq(i) AS "
                "(SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < :rows) SELECT i, i % 97, i * 0.5 FROM seq"
            ),
            {"rows": TABLE_ROWS},
        )
    yield engine
    engine.dispose()
