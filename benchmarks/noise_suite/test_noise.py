"""The noise study's sample suite: CPU-, allocation-, sleep- and SQL-bound tests of 1 ms to 100 ms.

Durations are those of the study machine; each test does ``slowdown`` times its normal work, so
an injected slowdown is real extra work (or a longer wait), not an artificial delay.
``test_calibration`` is a fixed loop the harness uses to estimate the machine's speed in each run.
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy import Engine, text

# Work per millisecond of the study machine, measured once and fixed (see docs/noise.md).
SPIN_PER_MS = 7_000
ALLOC_PER_MS = 1_000
SQL_ROWS_PER_MS = 560


def spin(iterations: int) -> int:
    total = 0
    for i in range(iterations):
        total += i * i % 7
    return total


def test_calibration() -> None:
    spin(20 * SPIN_PER_MS)


@pytest.mark.parametrize("ms", [1, 10, 100], ids=lambda ms: f"{ms}ms")
def test_cpu(ms: int, slowdown: float) -> None:
    spin(int(ms * SPIN_PER_MS * slowdown))


@pytest.mark.parametrize("ms", [5, 50], ids=lambda ms: f"{ms}ms")
def test_alloc(ms: int, slowdown: float) -> None:
    rows = [{"id": i, "name": str(i), "tags": [i, i + 1]} for i in range(int(ms * ALLOC_PER_MS * slowdown))]
    assert rows


@pytest.mark.parametrize("ms", [1, 10, 100], ids=lambda ms: f"{ms}ms")
def test_sleep(ms: int, slowdown: float) -> None:
    time.sleep(ms / 1000 * slowdown)


@pytest.mark.parametrize("ms", [5, 50], ids=lambda ms: f"{ms}ms")
def test_sql(ms: int, slowdown: float, engine: Engine) -> None:
    rows = int(ms * SQL_ROWS_PER_MS * slowdown)
    query = text("SELECT grp, count(*), sum(value) FROM items WHERE id <= :rows GROUP BY grp")
    with engine.connect() as connection:
        for _ in range(3):
            assert connection.execute(query, {"rows": rows}).all()
