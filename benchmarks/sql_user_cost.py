"""What SQL measurement costs per statement inside a real ``pytest`` run, as a user pays it.

Each scenario is one test module that sends ``N`` statements in its test function (N taken from
the environment). Every configuration runs ``pytest`` on it in a fresh process, once with N
statements and once with none, and the plugin's cost per statement is

    ((plugin, N) - (plugin, 0) - (plain, N) + (plain, 0)) / N

in instructions counted by ``valgrind --tool=callgrind`` (the same count whatever the machine's
load): everything the plugin does because of those statements (the hooks, call sites, the N+1
analysis after the call, the record and report) and nothing of pytest's start-up or of the test's
own set-up, which both runs share.

Where the cyclic garbage collector runs its full collections moves with what the statements
allocate, and one full collection of pytest's heap is tens of millions of instructions: at 2,000
statements that alone moves a figure by several thousand instructions per statement (two
configurations doing the same work per statement came out 8,000 apart). Use 20,000 statements
(``--statements 20000``, a few minutes per run under callgrind) for figures to the thousand.

Scenarios: a Core ``text("select 1")``, a Core ``select()``, an ORM ``session.execute``, an ORM
lazy load in a loop (one per parent), and an ``AsyncSession.execute`` on aiosqlite; all on SQLite
in memory, the cheapest statement there is, so the plugin's share is the largest it can be.

Configurations:

- ``plain``: ``-p no:perfbudget``, the reference;
- ``time``: a time budget on every test and nothing that needs SQL numbers (no ``queries``,
  ``n_plus_one`` or ``sql_time`` limit, no report);
- ``sql``: ``queries`` and ``n_plus_one`` limits on every test (call sites and the N+1 analysis on);
- ``report``: the time budget and a JSON report (everything recorded for the report).

Beside the count, the wall time per statement as the test itself measures it (its loop timed with
``perf_counter``, median of interleaved runs), as a ratio to plain: wall time swings on a shared
machine, the instruction count is the figure.

Usage: ``python benchmarks/sql_user_cost.py [--statements 2000] [--scenarios ...] [--configs ...]
[--wall-repeats 5]``. Figures only: nothing here asserts a limit.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

COMMON = '''
import json
import os
import time

import pytest
from sqlalchemy import ForeignKey, String, create_engine, insert, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

STATEMENTS = int(os.environ["SQL_COST_STATEMENTS"])
WALL_FILE = os.environ.get("SQL_COST_WALL_FILE")


class Base(DeclarativeBase):
    pass


class Parent(Base):
    __tablename__ = "parents"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(20))
    children: Mapped[list["Child"]] = relationship(lazy="select")


class Child(Base):
    __tablename__ = "children"
    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int] = mapped_column(ForeignKey("parents.id"))


def engine_with_rows(rows):
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(insert(Parent), [{"name": f"parent {n}"} for n in range(max(rows, 1))])
    return engine


def report_wall(seconds):
    if WALL_FILE and STATEMENTS:
        with open(WALL_FILE, "w") as file:
            json.dump({"per_statement": seconds / STATEMENTS}, file)
'''

SCENARIOS = {
    "core-text": '''
@pytest.fixture
def connection():
    engine = engine_with_rows(1)
    with engine.connect() as connection:
        connection.execute(text("select 1"))
        yield connection


def test_statements(connection):
    start = time.perf_counter()
    for _ in range(STATEMENTS):
        connection.execute(text("select 1"))
    report_wall(time.perf_counter() - start)
''',
    "core-select": '''
QUERY = select(Parent.__table__.c.name).where(Parent.__table__.c.id == 1)


@pytest.fixture
def connection():
    engine = engine_with_rows(1)
    with engine.connect() as connection:
        connection.execute(QUERY)
        yield connection


def test_statements(connection):
    start = time.perf_counter()
    for _ in range(STATEMENTS):
        connection.execute(QUERY).all()
    report_wall(time.perf_counter() - start)
''',
    "orm-execute": '''
QUERY = select(Parent).where(Parent.id == 1)


@pytest.fixture
def session():
    engine = engine_with_rows(1)
    with Session(engine) as session:
        session.execute(QUERY).scalar_one()
        yield session


def test_statements(session):
    start = time.perf_counter()
    for _ in range(STATEMENTS):
        session.execute(QUERY).scalar_one()
    report_wall(time.perf_counter() - start)
''',
    "orm-lazy-load": '''
@pytest.fixture
def parents():
    engine = engine_with_rows(STATEMENTS)
    with Session(engine) as session:
        parents = session.scalars(select(Parent).limit(STATEMENTS)).all()
        yield parents


def test_statements(parents):
    start = time.perf_counter()
    for parent in parents:
        len(parent.children)
    report_wall(time.perf_counter() - start)
''',
    "async-execute": '''
import asyncio

from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

QUERY = select(Parent).where(Parent.id == 1)


async def prepare():
    engine = create_async_engine("sqlite+aiosqlite://")
    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
        await connection.execute(insert(Parent), [{"name": "parent"}])
    return engine


async def run(engine):
    async with AsyncSession(engine) as session:
        (await session.execute(QUERY)).scalar_one()
        start = time.perf_counter()
        for _ in range(STATEMENTS):
            (await session.execute(QUERY)).scalar_one()
        return time.perf_counter() - start


def test_statements():
    loop = asyncio.new_event_loop()
    try:
        engine = loop.run_until_complete(prepare())
        report_wall(loop.run_until_complete(run(engine)))
        loop.run_until_complete(engine.dispose())
    finally:
        loop.close()
''',
}

TIME_BUDGET = 'version: 1\nbudgets:\n  "**":\n    time: 3600s\n'
SQL_BUDGET = 'version: 1\nbudgets:\n  "**":\n    time: 3600s\n    queries: 1000000000\n    n_plus_one: 1000000000\n'
CONFIGS: dict[str, tuple[str, list[str]]] = {
    "plain": ("plain SQLAlchemy (`-p no:perfbudget`)", ["-p", "no:perfbudget"]),
    "time": ("time budget only: nothing needs SQL", ["--perf-budget=time.yml"]),
    "sql": ("`queries` and `n_plus_one` budgets", ["--perf-budget=sql.yml"]),
    "report": ("time budget and a JSON report", ["--perf-budget=time.yml", "--perf-report=run.json"]),
}
PYTEST = ["-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", "-p", "no:xdist"]


def make_suite(directory: Path) -> None:
    (directory / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    (directory / "time.yml").write_text(TIME_BUDGET, encoding="utf-8")
    (directory / "sql.yml").write_text(SQL_BUDGET, encoding="utf-8")
    for name, body in SCENARIOS.items():
        module = f"test_{name.replace('-', '_')}.py"
        (directory / module).write_text(COMMON + body, encoding="utf-8")


def module_of(scenario: str) -> str:
    return f"test_{scenario.replace('-', '_')}.py"


def environment(statements: int, wall_file: Path | None = None) -> dict[str, str]:
    """The user's environment with the bytecode cache on and hash randomization fixed."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    env |= {"PYTHONHASHSEED": "0", "SQL_COST_STATEMENTS": str(statements)}
    if wall_file is not None:
        env["SQL_COST_WALL_FILE"] = str(wall_file)
    return env


def run(command: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0 and "Collected" not in done.stderr:
        sys.exit(f"failed ({done.returncode}): {' '.join(command)}\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return done


def instructions(scenario: str, config: str, statements: int, directory: Path) -> int:
    command = [sys.executable, *PYTEST, module_of(scenario), *CONFIGS[config][1]]
    env = environment(statements)
    run(command, directory, env)  # writes the bytecode cache; not counted
    done = run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *command], directory, env)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if found is None or " passed" not in done.stdout:
        sys.exit(f"callgrind run failed: {' '.join(command)}\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return int(found.group(1))


def wall_per_statement(scenario: str, configs: list[str], statements: int, repeats: int, directory: Path) -> dict[str, float]:
    """Median wall seconds per statement as the test times its own loop, interleaved runs."""
    wall_file = directory / "wall.json"
    samples: dict[str, list[float]] = {config: [] for config in configs}
    for repetition in range(repeats):
        shift = repetition % len(configs)
        for config in configs[shift:] + configs[:shift]:
            command = [sys.executable, *PYTEST, module_of(scenario), *CONFIGS[config][1]]
            run(command, directory, environment(statements, wall_file))
            samples[config].append(json.loads(wall_file.read_text(encoding="utf-8"))["per_statement"])
    return {config: statistics.median(values) for config, values in samples.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--statements", type=int, default=2000, help="statements per test (default 2000)")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated")
    parser.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated; plain is always run")
    parser.add_argument("--wall-repeats", type=int, default=5, help="interleaved wall-clock runs (0: none)")
    arguments = parser.parse_args(argv)
    scenarios = [name for name in arguments.scenarios.split(",") if name]
    configs = ["plain", *(name for name in arguments.configs.split(",") if name and name != "plain")]
    unknown = sorted((set(scenarios) - set(SCENARIOS)) | (set(configs) - set(CONFIGS)))
    if unknown:
        parser.error(f"unknown scenarios or configurations: {', '.join(unknown)}")
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed: the instruction counts are the figure")
    statements = arguments.statements
    print(f"Python {sys.version.split()[0]}, {statements:,} statements per test, SQLite in memory\n")
    header = " | ".join(CONFIGS[config][0] for config in configs[1:])
    print(f"| scenario | plain, per statement | {header} |")
    print("|---|---:|" + "---:|" * (len(configs) - 1))
    with tempfile.TemporaryDirectory() as directory_name:
        directory = Path(directory_name)
        make_suite(directory)
        for scenario in scenarios:
            counts = {
                (config, size): instructions(scenario, config, size, directory)
                for config in configs
                for size in (0, statements)
            }
            walls = (
                wall_per_statement(scenario, configs, statements, arguments.wall_repeats, directory)
                if arguments.wall_repeats
                else {}
            )
            plain = (counts["plain", statements] - counts["plain", 0]) / statements
            cells = [f"{plain / 1000:,.1f}k" + (f" ({walls['plain'] * 1e6:.1f} µs)" if walls else "")]
            for config in configs[1:]:
                extra = (counts[config, statements] - counts[config, 0]) / statements - plain
                cell = f"{extra / 1000:+,.1f}k ({extra / plain:+.1%})"
                if walls:
                    cell += f", wall x{walls[config] / walls['plain']:.2f}"
                cells.append(cell)
            print(f"| {scenario} | {' | '.join(cells)} |", flush=True)
    print(
        "\nInstructions per statement over plain, from runs with N and with 0 statements "
        "(callgrind); wall: the test's own loop, median of interleaved runs, over plain."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
