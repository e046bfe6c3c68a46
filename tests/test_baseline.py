"""``--perf-baseline``: regressions fail tests like budgets; improvements, new and vanished tests."""

from __future__ import annotations

import json

import pytest
from perf_helpers import Runner, output

SUITE = """
import pathlib
import time

def test_sleepy():
    time.sleep(float(pathlib.Path(__file__).with_name("sleep.txt").read_text()))

def test_steady():
    pass
"""


@pytest.fixture
def suite(run: Runner) -> Runner:
    run.pytester.makepyfile(test_suite=SUITE)
    run.budgets("version: 1\nsettings:\n  rounds: 3\n  retries: 0\n  tolerance: {time: 50%}\n")
    return run


def _baseline_run(run: Runner, sleep: float) -> None:
    (run.pytester.path / "sleep.txt").write_text(str(sleep))
    result = run("--perf-budget", "budgets.yml", "--perf-report", "base.json")
    result.assert_outcomes(passed=2)


def test_a_regression_beyond_tolerance_fails_the_test(suite: Runner) -> None:
    _baseline_run(suite, 0.005)
    (suite.pytester.path / "sleep.txt").write_text("0.05")
    result = suite(
        "--perf-budget", "budgets.yml", "--perf-baseline", "base.json", "--perf-report", "out.json"
    )
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "perf budget exceeded in test_suite.py::test_sleepy",
            "  time * > * (baseline *, +*%) (baseline: base.json)",
            "perf: 2 measured, 0 over budget, 1 regressed, 0 improved",
        ]
    )
    record = suite.record("test_suite.py::test_sleepy")
    assert record["baseline"]["time"]["regressed"] is True
    assert record["baseline"]["time"]["before"] < record["baseline"]["time"]["after"]
    (violation,) = record["violations"]
    assert violation["kind"] == "regression"
    assert violation["metric"] == "time"
    assert suite.report()["summary"]["regressed"] == 1


def test_an_improvement_is_reported_and_passes(suite: Runner) -> None:
    _baseline_run(suite, 0.05)
    (suite.pytester.path / "sleep.txt").write_text("0.005")
    result = suite(
        "--perf-budget", "budgets.yml", "--perf-baseline", "base.json", "--perf-report", "out.json"
    )
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["perf: 2 measured, 0 over budget, 0 regressed, 1 improved"])
    assert suite.record("test_suite.py::test_sleepy")["baseline"]["time"]["improved"] is True


def test_warn_mode_reports_a_regression_without_failing(suite: Runner) -> None:
    _baseline_run(suite, 0.005)
    (suite.pytester.path / "sleep.txt").write_text("0.05")
    result = suite(
        "--perf-budget",
        "budgets.yml",
        "--perf-baseline",
        "base.json",
        "--perf-mode",
        "warn",
        "--perf-report",
        "out.json",
    )
    result.assert_outcomes(passed=2)
    assert suite.record("test_suite.py::test_sleepy")["violations"][0]["level"] == "warn"
    assert suite.report()["summary"]["regressed"] == 1


def test_new_and_vanished_tests_are_listed(run: Runner) -> None:
    run.pytester.makepyfile(test_old="def test_old():\n    pass\n")
    run("--perf-report", "base.json").assert_outcomes(passed=1)
    (run.pytester.path / "test_old.py").unlink()
    run.pytester.makepyfile(test_new="def test_new():\n    pass\n")
    result = run("--perf-baseline", "base.json", "--perf-report", "out.json")
    result.assert_outcomes(passed=1)
    baseline = run.report()["baseline"]
    assert baseline["new"] == ["test_new.py::test_new"]
    assert baseline["vanished"] == ["test_old.py::test_old"]
    assert "baseline" not in run.record("test_new.py::test_new")


def test_a_missing_baseline_is_a_warning(run: Runner) -> None:
    run.pytester.makepyfile(test_one="def test_one():\n    pass\n")
    result = run("--perf-baseline", "missing.json", "--perf-report", "out.json")
    result.assert_outcomes(passed=1)
    assert result.ret == 0
    result.stdout.fnmatch_lines(["WARNING baseline missing.json not found: nothing compared*"])


def test_a_malformed_baseline_is_a_usage_error(run_serial: Runner) -> None:
    run_serial.pytester.makepyfile(test_one="def test_one():\n    pass\n")
    (run_serial.pytester.path / "base.json").write_text("{not json")
    result = run_serial("--perf-baseline", "base.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "base.json:1: not valid JSON" in output(result)
    assert "Traceback" not in output(result)


def test_a_baseline_from_another_environment_is_flagged(run_serial: Runner) -> None:
    run_serial.pytester.makepyfile(test_one="def test_one():\n    pass\n")
    run_serial("--perf-report", "base.json").assert_outcomes(passed=1)
    path = run_serial.pytester.path / "base.json"
    document = json.loads(path.read_text())
    document["environment"]["python"] = "2.7.18"
    path.write_text(json.dumps(document))
    result = run_serial("--perf-baseline", "base.json", "--perf-report", "out.json")
    result.stdout.fnmatch_lines(["WARNING baseline from a different environment: python 2.7.18 -> *"])
    assert run_serial.report()["baseline"]["environment_differences"]
