"""A test whose xdist worker dies (``os._exit``, SIGKILL) is listed, as an error, not measured.

Only under xdist: without it the crash ends pytest itself, and nothing is reported.
"""

from __future__ import annotations

import json

import pytest
from perf_helpers import HAS_XDIST, Runner

from pytest_perfbudget import cli

pytestmark = pytest.mark.skipif(not HAS_XDIST, reason="pytest-xdist is not installed")

CRASHES = {
    "exit": "os._exit(1)",
    "sigkill": "os.kill(os.getpid(), signal.SIGKILL)",
}
SUITE = """
import os
import signal

def test_before():
    pass

def test_crash():
    {crash}

def test_after():
    pass
"""
CRASHED = "test_suite.py::test_crash"


@pytest.mark.parametrize("crash", sorted(CRASHES))
def test_a_test_whose_worker_died_is_listed_not_measured(run_serial: Runner, crash: str) -> None:
    run_serial.pytester.makepyfile(test_suite=SUITE.format(crash=CRASHES[crash]))
    run_serial.budgets("version: 1\nbudgets:\n  '**': {time: 10s}\n")
    reports = ("--perf-report=out.json", "--perf-report=out.md", "--perf-report=out.html")
    result = run_serial("-n", "2", "--perf-budget=budgets.yml", *reports)
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            f"CRASHED {CRASHED}: not measured (worker '*' crashed while running*",
            "perf: 2 measured, *, 1 crashed",
        ]
    )
    report = run_serial.report()
    assert sorted(test["nodeid"] for test in report["tests"]) == [
        "test_suite.py::test_after",
        "test_suite.py::test_before",
        CRASHED,
    ]
    record = run_serial.record(CRASHED)
    assert record["outcome"] == "error"
    assert record["metrics"] == {}
    assert "crashed while running" in record["crash"]
    assert record["budgets"]["time"]["limit"] == 10.0
    assert (report["summary"]["measured"], report["summary"]["crashed"]) == (2, 1)
    assert report["environment"]["workers"] == 2  # the replacement worker is not a third
    markdown = (run_serial.pytester.path / "out.md").read_text(encoding="utf-8")
    assert "all within budget" not in markdown
    assert "1 test crashed, not measured" in markdown
    assert "### Crashed tests (1)" in markdown
    html = (run_serial.pytester.path / "out.html").read_text(encoding="utf-8")
    assert "all within budget" not in html
    assert '<section id="crashed">' in html
    merged = run_serial.pytester.path / "merged.json"
    assert cli.main(["merge", str(run_serial.pytester.path / "out.json"), "-o", str(merged)]) == 0
    assert json.loads(merged.read_text(encoding="utf-8"))["summary"] == report["summary"]
