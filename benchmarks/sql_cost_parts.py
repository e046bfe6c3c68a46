"""Where the cost of a recorded SQL statement goes: the wrapper, the recorder, the analysis after the call.

A diagnosis, not the figure a user pays (that is ``sql_user_cost.py``, a real pytest run): one
process sends ``N`` statements from a helper, with the plugin's hooks installed, in four variants,

- ``idle``: no round being measured (the wrappers' call only), the reference;
- ``wrapper``: a round measured, the recorder replaced by a function that does nothing (the clock
  on both sides, the parameters counted, the call);
- ``recorder``: the recorder too (shape, place, request, the record);
- ``analysis``: then what the plugin reads after a call that sent SQL (the query count, SQL time,
  slowest statement and N+1 analysis),

each run under callgrind with N and with 0 statements; a part is the difference between two
variants, per statement, without CPython's method-cache misses (which move with the process
layout, see ``sql_user_cost.py``). Scenarios: a Core ``text("select 1")``, an ORM lazy load in a
loop and an ``AsyncSession.execute`` on aiosqlite, all on SQLite in memory.

Usage: ``python benchmarks/sql_cost_parts.py [--statements 2000] [--scenarios core-text,...]
[--jobs 2]``. Figures only: nothing here asserts a limit.
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sql_user_cost import MODELS, Count, counted

SCRIPT = (
    MODELS
    + """
import asyncio
import gc
import itertools
import os
from pathlib import Path

from sqlalchemy import create_engine, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.orm import Session

from pytest_perfbudget.queries import QueryLog, capture
from pytest_perfbudget.sql import hooks
from pytest_perfbudget.sql.callsite import CallSiteLocator

STATEMENTS = int(os.environ["SQL_PARTS_STATEMENTS"])
VARIANT = os.environ["SQL_PARTS_VARIANT"]
SCENARIO = os.environ["SQL_PARTS_SCENARIO"]
WARM_UP = 60

hooks.install()
hooks.recorder.configure(CallSiteLocator(Path.cwd()))
if VARIANT == "wrapper":
    hooks.recorder.execution = lambda *arguments: None


def core_text():
    engine = create_engine("sqlite://")
    connection = engine.connect()

    def send(count):
        for _ in range(count):
            connection.execute(text("select 1"))

    return send


def lazy_load():
    rows = STATEMENTS + 2 * WARM_UP
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(insert(Parent), [{"name": f"parent {n}"} for n in range(rows)])
    session = Session(engine)
    parents = iter(session.scalars(select(Parent).limit(rows)).all())

    def send(count):
        assert session.is_active  # held here: a parent whose session is gone loads nothing
        for parent in itertools.islice(parents, count):
            len(parent.children)

    return send


def async_execute():
    loop = asyncio.new_event_loop()
    query = select(Parent).where(Parent.id == 1)

    async def prepare():
        engine = create_async_engine("sqlite+aiosqlite://")
        async with engine.begin() as connection:
            await connection.run_sync(Base.metadata.create_all)
            await connection.execute(insert(Parent), [{"name": "parent"}])
        return AsyncSession(engine)

    session = loop.run_until_complete(prepare())

    async def send_async(count):
        for _ in range(count):
            (await session.execute(query)).scalar_one()

    def send(count):
        loop.run_until_complete(send_async(count))

    return send


def analyse(log):
    log.count, log.total_time, log.n_plus_one(3), log.slowest_shape()


def measured(send, count):
    log = QueryLog()
    if VARIANT != "idle":
        capture.log = log
    send(count)
    capture.log = None
    if VARIANT == "analysis":
        analyse(log)


send = {"core-text": core_text, "orm-lazy-load": lazy_load, "async-execute": async_execute}[SCENARIO]()
measured(send, WARM_UP)
analyse(QueryLog())
gc.collect()
gc.freeze()
measured(send, STATEMENTS)
print("done")
"""
)

VARIANTS = ("idle", "wrapper", "recorder", "analysis")
SCENARIOS = ("core-text", "orm-lazy-load", "async-execute")
PARTS = {"wrapper": "the wrapper", "recorder": "the recorder", "analysis": "the analysis after the call"}


def count(scenario: str, variant: str, statements: int, directory: Path) -> Count:
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    env |= {"PYTHONHASHSEED": "0", "SQL_PARTS_STATEMENTS": str(statements)}
    env |= {"SQL_PARTS_VARIANT": variant, "SQL_PARTS_SCENARIO": scenario}
    return counted([sys.executable, "parts.py"], directory, env, "done")


def parts_of(scenario: str, statements: int, directory: Path, pool: ThreadPoolExecutor) -> list[float]:
    """Each part's instructions per statement, without method-cache misses: a variant over the one
    before it."""
    runs = [(variant, size) for variant in VARIANTS for size in (0, statements)]
    counts = dict(
        zip(runs, pool.map(lambda job: count(scenario, job[0], job[1], directory), runs), strict=True)
    )

    def steady(variant: str) -> float:
        (total, misses), (total_0, misses_0) = counts[variant, statements], counts[variant, 0]
        return ((total - misses) - (total_0 - misses_0)) / statements

    return [steady(variant) - steady(before) for before, variant in itertools.pairwise(VARIANTS)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--statements", type=int, default=2000, help="statements per run (default 2000)")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated")
    parser.add_argument("--jobs", type=int, default=2, help="callgrind runs at once (counts do not change)")
    arguments = parser.parse_args(argv)
    scenarios = [name for name in arguments.scenarios.split(",") if name]
    unknown = sorted(set(scenarios) - set(SCENARIOS))
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(unknown)}")
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed: the instruction counts are the figure")
    statements = arguments.statements
    print(f"Python {sys.version.split()[0]}, {statements:,} statements per run, SQLite in memory\n")
    print(f"| scenario | {' | '.join(PARTS.values())} | in all |")
    print("|---|" + "---:|" * (len(PARTS) + 1))
    with tempfile.TemporaryDirectory() as directory_name, ThreadPoolExecutor(arguments.jobs) as pool:
        directory = Path(directory_name)
        (directory / "parts.py").write_text(SCRIPT, encoding="utf-8")
        for scenario in scenarios:
            parts = parts_of(scenario, statements, directory, pool)
            cells = [f"{part / 1000:+,.1f}k" for part in parts] + [f"{sum(parts) / 1000:+,.1f}k"]
            print(f"| {scenario} | {' | '.join(cells)} |", flush=True)
    print(
        "\nInstructions per statement (callgrind, N statements minus none), without CPython's "
        "method-cache misses: each part is one variant over the one before it."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
