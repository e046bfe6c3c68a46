"""The run writes Markdown and HTML reports, feeds GitHub Actions and JUnit XML."""

from __future__ import annotations

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
