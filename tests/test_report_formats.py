"""The run writes Markdown and HTML reports, feeds GitHub Actions and JUnit XML."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ElementTree

import pytest
from perf_helpers import Runner

SUITE = """
import time

def test_fast():
    pass

def test_slow():
    time.sleep(0.02)
"""
BUDGETS = 'version: 1\nsettings: {retries: 0}\nbudgets:\n  "test_suite.py::test_slow":\n    time: 1ms\n'


@pytest.fixture
def suite(run: Runner) -> Runner:
    run.pytester.makepyfile(test_suite=SUITE)
    run.budgets(BUDGETS)
    return run


def test_markdown_and_html_reports_follow_the_suffix(suite: Runner) -> None:
    result = suite("--perf-budget", "budgets.yml", "--perf-report", "out.md", "--perf-report", "out.html")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["perf report written to out.md", "perf report written to out.html"])
    markdown = (suite.pytester.path / "out.md").read_text(encoding="utf-8")
    assert "1 test over budget" in markdown
    assert "`test_suite.py::test_slow`" in markdown
    page = (suite.pytester.path / "out.html").read_text(encoding="utf-8")
    assert page.lstrip().lower().startswith("<!doctype html>")
    assert "test_suite.py::test_fast" in page
    assert "http://" not in page
    assert "https://" not in page


def test_github_actions_gets_a_summary_and_annotations(
    suite: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = suite.pytester.path / "summary.md"
    summary.write_text("## Earlier step\n", encoding="utf-8")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    result = suite("--perf-budget", "budgets.yml")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["::error file=test_suite.py,line=6,title=perf budget::test_suite.py::test_slow: time * > 1ms *"]
    )
    text = summary.read_text(encoding="utf-8")
    assert text.startswith("## Earlier step\n")
    assert "1 test over budget" in text


def test_no_github_output_outside_actions(suite: Runner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    result = suite("--perf-budget", "budgets.yml")
    assert "::error" not in result.stdout.str()


def test_junit_xml_carries_metrics_and_budgets(suite: Runner) -> None:
    result = suite("--perf-budget", "budgets.yml", "--junitxml", "junit.xml")
    result.assert_outcomes(passed=1, failed=1)
    tree = ElementTree.parse(suite.pytester.path / "junit.xml")
    cases = {case.get("name"): case for case in tree.iter("testcase")}
    slow = {prop.get("name"): prop.get("value") for prop in cases["test_slow"].iter("property")}
    assert float(slow["perf.time.median"]) > 0.001
    assert slow["perf.budget.time"] == "0.001"
    assert slow["perf.violation"].startswith("time ")
    fast = {prop.get("name") for prop in cases["test_fast"].iter("property")}
    assert "perf.time.median" in fast
    assert "perf.violation" not in fast


# --- one vocabulary, the same numbers everywhere ----------------------------------------------------

COUNTED_SUITE = """
import pytest
import sqlalchemy

ENGINE = sqlalchemy.create_engine("sqlite://")

def run_queries(n):
    with ENGINE.connect() as connection:
        for _ in range(n):
            connection.execute(sqlalchemy.text("SELECT 1"))

@pytest.mark.perf_budget(queries=0)
def test_over():
    run_queries(2)

@pytest.mark.perf_budget(queries=0, level="warn")
def test_warned():
    run_queries(1)

def test_regressed():
    run_queries(3)

@pytest.mark.parametrize("n", [1, 2])
def test_improved(n):
    run_queries(n)

def test_unchanged():
    run_queries(1)
"""
# Before: queries per test of the baseline run (the tolerance for queries is 0).
COUNTED_BEFORE = {
    "test_over": 2,
    "test_warned": 1,
    "test_regressed": 1,
    "test_improved[1]": 4,
    "test_improved[2]": 5,
    "test_unchanged": 1,
}


def test_every_report_counts_the_same_tests_with_the_same_words(run: Runner) -> None:
    """The terminal line, the JSON summary, the Markdown and the HTML agree: 1 over budget, 1 with a
    warning, 1 regressed, 2 improved (tests, not metrics or rows)."""
    pytest.importorskip("sqlalchemy", reason="the suite counts SQL queries")
    run.pytester.makepyfile(test_counted=COUNTED_SUITE)
    before = {
        "schema": "pytest-perfbudget/1",
        "environment": {},
        "tests": [
            {"nodeid": f"test_counted.py::{name}", "outcome": "passed", "metrics": {"queries": queries}}
            for name, queries in COUNTED_BEFORE.items()
        ],
    }
    (run.pytester.path / "base.json").write_text(json.dumps(before), encoding="utf-8")
    result = run(
        "--perf-baseline",
        "base.json",
        "--perf-report",
        "out.json",
        "--perf-report",
        "out.md",
        "--perf-report",
        "out.html",
    )
    result.assert_outcomes(passed=4, failed=2)
    result.stdout.fnmatch_lines(["perf: 6 measured, 1 over budget, 1 regressed, 2 improved, 1 warning"])
    assert run.report()["summary"] == {
        "measured": 6,
        "over_budget": 1,
        "regressed": 1,
        "improved": 2,
        "warnings": 1,
    }
    markdown = (run.pytester.path / "out.md").read_text(encoding="utf-8")
    page = (run.pytester.path / "out.html").read_text(encoding="utf-8")
    headings = [
        "Violations: 1 test over budget, 1 test with warnings (2 violations)",
        "Regressions: 1 test regressed (1 metric)",
        "Improvements: 2 tests improved (2 metrics)",
    ]
    for heading in headings:
        assert f"### {heading}" in markdown
        assert f"<h2>{heading}</h2>" in page
    assert "**1 test over budget, 1 regressed, 2 improved, 1 warning**" in markdown
    for name, count in [("over-budget", 1), ("regressed", 1), ("improved", 2), ("warnings", 1)]:
        assert f'id="summary-{name}"><b>{count}</b>' in page
