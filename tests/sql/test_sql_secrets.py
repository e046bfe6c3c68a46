"""No literal value reaches a report: generated values inlined into statements in every quoting the
database reads, run for real on SQLite, PostgreSQL and MariaDB, and looked for in the JSON, Markdown
and HTML reports, the GitHub job summary and the terminal."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from perf_helpers import Runner

# The inner module: a hypothesis test sending each generated value, in each literal form the
# database reads, three times from one call site (so that a shape that kept the value would be an
# N+1 suspect of its own, and shown). Each value carries markers between its generated parts:
# a literal masked only up to an escape would leave a marker after it in the report.
INNER = r'''
import itertools

from hypothesis import HealthCheck, given, settings, strategies as st
from sqlalchemy import String, create_engine, literal

URL = {url!r}
ENGINE = create_engine(URL)
DIALECT = ENGINE.dialect.name
COUNTER = itertools.count()
# Everything a literal may hold but NUL (no database takes it in text) and surrogates.
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12)
TRICKY = st.lists(
    st.sampled_from(["'", '"', "\\", "$", "$$", "`", "--", "/*", "#", "?", "%", ":x", "ü", "😀", "\n"]), max_size=6
).map("".join)


def standard(value):
    return "'" + value.replace("'", "''") + "'"


def backslashed(value, quote="'"):
    return quote + value.replace("\\", "\\\\").replace(quote, "\\" + quote) + quote


def rendered(value):
    """As SQLAlchemy renders a literal for this dialect (literal_binds)."""
    return str(literal(value, String()).compile(dialect=ENGINE.dialect, compile_kwargs={{"literal_binds": True}}))


def forms(value, number, bits):
    data = value.encode("utf-8").hex()
    yield rendered(value)
    yield str(number)
    if DIALECT == "sqlite":
        yield standard(value)
        yield f"X'{{data}}'"
    elif DIALECT == "postgresql":
        yield standard(value)
        yield "E" + backslashed(value)
        yield "U&" + standard(value.replace("\\", "\\\\"))
        yield "N" + standard(value)
        if "$$" not in value:
            yield f"$${{value}}$$"
        if "$pb$" not in value:
            yield f"$pb${{value}}$pb$"
        yield f"X'{{data}}'"
        yield f"B'{{bits}}'"
    else:
        yield backslashed(value)
        yield backslashed(value, '"')
        yield "_utf8mb4" + backslashed(value)
        yield "N" + backslashed(value)
        yield f"X'{{data}}'"
        yield f"0x{{data}}"
        yield f"b'{{bits}}'"
        yield f"0b{{bits}}"


def send_three_times(connection, sql):
    if ENGINE.dialect.paramstyle in ("format", "pyformat"):
        sql = sql.replace("%", "%%")  # the driver formats even without parameters
    for _ in range(3):
        connection.exec_driver_sql(sql)


@settings(max_examples={examples}, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(
    TEXT | TRICKY,
    TEXT | TRICKY,
    st.integers(10**12, 10**15),
    st.text("01", min_size=24, max_size=40),
)
def test_literals(first, second, number, bits):
    n = next(COUNTER)
    markers = [f"PbMarkA{{n}}x", f"PbMarkB{{n}}x", f"PbMarkC{{n}}x"]
    value = markers[0] + first + markers[1] + second + markers[2]
    with open("secrets.txt", "a", encoding="utf-8") as secrets:
        for secret in (*markers, str(number), bits, value.encode("utf-8").hex()):
            secrets.write(secret + "\n")
    with ENGINE.connect() as connection:
        for form in forms(value, number, bits):
            send_three_times(connection, f"SELECT {{form}} AS v")
'''

BUDGETS = """\
version: 1
budgets:
  "**":
    n_plus_one: 0
    sql_time: 1ns
"""


@pytest.mark.parametrize("name", ["sqlite", "psycopg", "pymysql"])
def test_no_generated_literal_reaches_a_report(
    run_serial: Runner, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    pytest.importorskip("hypothesis")
    from sql_scenarios import BACKENDS, url_for

    url = url_for(BACKENDS[name])
    directory = run_serial.pytester.path
    run_serial.pytester.makepyfile(test_literals=INNER.format(url=url, examples=60))
    run_serial.budgets(BUDGETS)
    summary = directory / "summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))

    result = run_serial(
        "--perf-budget=budgets.yml",
        "--perf-mode=warn",
        "--perf-report=out.json",
        "--perf-report=out.md",
        "--perf-report=out.html",
    )

    result.assert_outcomes(passed=1)
    record = run_serial.record("test_literals.py::test_literals")
    assert record["n_plus_one"], "the statements were not reported: the test cannot fail"
    secrets = (directory / "secrets.txt").read_text(encoding="utf-8").split()
    assert len(secrets) >= 6 * 20
    written = {
        "out.json": json.dumps(run_serial.report(), ensure_ascii=False),
        "out.md": (directory / "out.md").read_text(encoding="utf-8"),
        "out.html": (directory / "out.html").read_text(encoding="utf-8"),
        "summary.md": summary.read_text(encoding="utf-8"),
        "terminal": run_serial.output(result),
    }
    leaks = {
        where: found
        for where, text in written.items()
        if (found := sorted({secret for secret in secrets if secret.lower() in text.lower()}))
    }
    assert leaks == {}


@pytest.mark.parametrize(
    ("sql_mode", "shape"),
    [
        ("", "SELECT ? AS v"),  # "..." is a string
        ("ANSI_QUOTES", 'SELECT "v" AS v FROM (SELECT ? AS "v") AS t'),  # "..." is an identifier
    ],
)
def test_mariadb_shapes_follow_the_sql_mode_of_the_connection(sql_mode: str, shape: str) -> None:
    """The quoting is read from what the dialect detected on its first connect, not assumed."""
    from sql_scenarios import BACKENDS, capturing, url_for
    from sqlalchemy import create_engine

    engine = create_engine(
        url_for(BACKENDS["pymysql"]), connect_args={"init_command": f"SET SESSION sql_mode='{sql_mode}'"}
    )
    sql = 'SELECT "v" AS v FROM (SELECT 1 AS "v") AS t' if sql_mode else 'SELECT "secret value" AS v'
    try:
        with capturing() as log, engine.connect() as connection:  # the first connect reads the SQL mode
            connection.exec_driver_sql(sql)
    finally:
        engine.dispose()
    assert [statement.shape for statement in log.statements if statement.kind == "query"] == [shape]
