"""The JSON report: its skeleton, the same content with and without xdist, atomic writing, stale budgets."""

from __future__ import annotations

import importlib.util
import json
import os
import platform
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_perfbudget.reports import write_atomically

if TYPE_CHECKING:
    from perf_helpers import Runner

SUITE = """
import time
import pytest

def test_fast():
    pass

def test_slow():
    time.sleep(0.02)

def test_broken():
    assert False, "broken for its own reasons"

@pytest.mark.parametrize("n", [1, 2])
def test_param(n):
    pass

class TestGroup:
    def test_method(self):
        pass
"""

BUDGETS = """\
version: 1
settings:
  retries: 0
budgets:
  "**":
    time: 5s
  "test_suite.py::test_slow":
    time: 1ns
    memory: 1GB
"""

NODEIDS = [
    "test_suite.py::TestGroup::test_method",
    "test_suite.py::test_broken",
    "test_suite.py::test_fast",
    "test_suite.py::test_param[1]",
    "test_suite.py::test_param[2]",
    "test_suite.py::test_slow",
]


def write_suite(run: Runner) -> None:
    run.pytester.makepyfile(test_suite=SUITE)
    run.pytester.path.joinpath("budgets.yml").write_text(BUDGETS, encoding="utf-8")


def test_the_skeleton_of_spec(run: Runner) -> None:
    write_suite(run)
    result = run("--perf-budget", "budgets.yml", "--perf-report", "out.json")
    result.assert_outcomes(passed=4, failed=2)
    result.stdout.fnmatch_lines(["perf report written to out.json"])
    report = run.report()

    assert report["schema"] == "pytest-perfbudget/1"
    environment = report["environment"]
    assert environment["python"] == platform.python_version()
    assert isinstance(environment["platform"], str)
    assert environment["platform"]
    assert "commit" in environment
    assert "branch" in environment
    assert environment["workers"] == (2 if run.xdist else 0)

    assert report["summary"] == {
        "measured": 6,
        "over_budget": 1,
        "regressed": 0,
        "improved": 0,
        "warnings": 0,
    }
    assert [test["nodeid"] for test in report["tests"]] == NODEIDS
    for test in report["tests"]:
        assert {"nodeid", "outcome", "metrics", "budgets", "violations", "n_plus_one"} <= set(test)

    tests = {test["nodeid"]: test for test in report["tests"]}
    fast = tests["test_suite.py::test_fast"]
    assert fast["outcome"] == "passed"
    assert fast["violations"] == []
    assert fast["n_plus_one"] == []
    assert fast["budgets"]["time"]["limit"] == 5.0
    assert fast["budgets"]["time"]["source"] == "budgets.yml:6"
    time = fast["metrics"]["time"]
    assert len(time["rounds"]) == 1
    assert time["min"] == time["median"] == time["max"] == time["rounds"][0]
    assert fast["metrics"]["cpu"]["median"] >= 0
    assert fast["metrics"]["queries"] == 0
    assert "memory" not in fast["metrics"]

    slow = tests["test_suite.py::test_slow"]
    assert slow["outcome"] == "failed"
    assert slow["budgets"]["time"] == {"limit": 1e-9, "source": "budgets.yml:8", "statistic": "median"}
    assert slow["budgets"]["memory"] == {"limit": 1_000_000_000, "source": "budgets.yml:9"}
    assert isinstance(slow["metrics"]["memory"], int)
    [violation] = slow["violations"]
    assert violation["metric"] == "time"
    assert violation["kind"] == "budget"
    assert violation["limit"] == 1e-9
    assert violation["actual"] >= 0.02
    assert violation["level"] == "error"

    broken = tests["test_suite.py::test_broken"]
    assert broken["outcome"] == "failed"
    assert broken["violations"] == []


def summary_of(report: dict[str, Any]) -> list[tuple[str, str, list[tuple[str, str, float, str]]]]:
    """What must not depend on xdist: node ids, outcomes, violations (not the numbers measured)."""
    return [
        (
            test["nodeid"],
            test["outcome"],
            [(v["metric"], v["kind"], v["limit"], v["level"]) for v in test["violations"]],
        )
        for test in report["tests"]
    ]


@pytest.mark.skipif(importlib.util.find_spec("xdist") is None, reason="pytest-xdist is not installed")
def test_serial_and_xdist_reports_agree(run_serial: Runner) -> None:
    write_suite(run_serial)
    serial = run_serial("--perf-budget", "budgets.yml", "--perf-report", "serial.json")
    parallel = run_serial("--perf-budget", "budgets.yml", "--perf-report", "xdist.json", "-n", "2")
    assert serial.ret == parallel.ret == pytest.ExitCode.TESTS_FAILED
    serial_report, xdist_report = run_serial.report("serial.json"), run_serial.report("xdist.json")
    assert summary_of(serial_report) == summary_of(xdist_report)
    assert serial_report["summary"] == xdist_report["summary"]
    assert [sorted(test) for test in serial_report["tests"]] == [
        sorted(test) for test in xdist_report["tests"]
    ]
    assert [test["budgets"] for test in serial_report["tests"]] == [
        test["budgets"] for test in xdist_report["tests"]
    ]
    assert (serial_report["environment"]["workers"], xdist_report["environment"]["workers"]) == (0, 2)


def test_a_report_without_a_budget_file_measures_every_test(run_serial: Runner) -> None:
    run_serial.pytester.makepyfile(test_plain="def test_a():\n    pass\n\ndef test_b():\n    pass\n")
    result = run_serial("--perf-report", "out.json")
    result.assert_outcomes(passed=2)
    report = run_serial.report()
    assert [test["nodeid"] for test in report["tests"]] == ["test_plain.py::test_a", "test_plain.py::test_b"]
    assert all(test["budgets"] == {} for test in report["tests"])
    assert report["summary"]["measured"] == 2


def test_a_report_is_valid_strict_json(run_serial: Runner) -> None:
    write_suite(run_serial)
    run_serial("--perf-budget", "budgets.yml", "--perf-report", "out.json")
    text = (run_serial.pytester.path / "out.json").read_text(encoding="utf-8")

    def refuse(constant: str) -> None:
        raise ValueError(f"not JSON: {constant}")

    json.loads(text, parse_constant=refuse)  # no NaN or Infinity


# --- atomic writing ----------------------------------------------------------------------


def test_a_previous_report_is_replaced_whole(run_serial: Runner) -> None:
    run_serial.pytester.makepyfile(test_plain="def test_a():\n    pass\n")
    previous = run_serial.pytester.path / "out.json"
    previous.write_text('{"schema": "old", "padding": "' + "x" * 200_000 + '"}\n', encoding="utf-8")
    run_serial("--perf-report", "out.json").assert_outcomes(passed=1)
    report = run_serial.report()
    assert report["schema"] == "pytest-perfbudget/1"
    assert len(previous.read_text(encoding="utf-8")) < 100_000
    assert [p.name for p in run_serial.pytester.path.iterdir() if p.name.endswith(".tmp")] == []


def test_an_unwritable_report_is_an_error_line_and_others_are_written(run: Runner) -> None:
    run.pytester.makepyfile(test_plain="def test_a():\n    pass\n")
    (run.pytester.path / "afile").write_text("not a directory\n", encoding="utf-8")
    result = run("--perf-report", "afile/out.json", "--perf-report", "out.json")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["ERROR could not write afile/out.json*"])
    assert result.ret == pytest.ExitCode.USAGE_ERROR  # CI must notice a missing report
    assert run.report()["tests"][0]["nodeid"] == "test_plain.py::test_a"
    assert (run.pytester.path / "afile").read_text(encoding="utf-8") == "not a directory\n"


def test_a_failed_write_leaves_the_previous_report(
    run_serial: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_serial.pytester.makepyfile(test_plain="def test_a():\n    pass\n")
    previous = run_serial.pytester.path / "out.json"
    previous.write_text('{"schema": "previous"}\n', encoding="utf-8")

    def no_space(source: object, destination: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", no_space)
    result = run_serial("--perf-report", "out.json")
    monkeypatch.undo()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["ERROR could not write out.json: No space left on device"])
    assert "perf report written" not in result.stdout.str()
    assert previous.read_text(encoding="utf-8") == '{"schema": "previous"}\n'
    assert sorted(p.name for p in run_serial.pytester.path.iterdir() if p.name.startswith(".")) == []


def test_an_interrupted_run_keeps_the_previous_report(run_serial: Runner) -> None:
    """SPEC: an interrupted run never leaves a truncated report and never destroys the previous one."""
    run_serial.pytester.makepyfile(
        test_interrupted="""
        def test_1():
            pass

        def test_2():
            raise KeyboardInterrupt

        def test_3():
            pass
        """
    )
    previous = run_serial.pytester.path / "out.json"
    previous.write_text('{"schema": "previous"}\n', encoding="utf-8")
    recorder = run_serial.inline("--perf-report", "out.json", no_reraise_ctrlc=True)
    assert recorder.ret == pytest.ExitCode.INTERRUPTED
    assert previous.read_text(encoding="utf-8") == '{"schema": "previous"}\n'


def test_write_atomically_replaces_the_file(tmp_path: Path) -> None:
    path = tmp_path / "reports" / "out.json"
    write_atomically(path, "first\n")
    write_atomically(path, "second\n")
    assert path.read_text(encoding="utf-8") == "second\n"
    assert [p.name for p in path.parent.iterdir()] == ["out.json"]


@pytest.mark.parametrize("failing", ["replace", "fsync"])
def test_write_atomically_keeps_the_old_file_when_writing_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    path = tmp_path / "out.json"
    path.write_text("old\n", encoding="utf-8")

    def fail(*args: object) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, failing, fail)
    with pytest.raises(OSError, match="Input/output error"):
        write_atomically(path, "new\n" * 10_000)
    monkeypatch.undo()
    assert path.read_text(encoding="utf-8") == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_write_atomically_survives_an_interrupt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "out.json"
    path.write_text("old\n", encoding="utf-8")

    def interrupt(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupt)
    with pytest.raises(KeyboardInterrupt):
        write_atomically(path, "new\n")
    monkeypatch.undo()
    assert path.read_text(encoding="utf-8") == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


# --- stale budgets -------------------------------------------------------------------------


def test_a_pattern_matching_no_test_is_a_stale_warning(run: Runner) -> None:
    tests = run.pytester.mkpydir("tests")
    (tests / "test_a.py").write_text("def test_a():\n    pass\n", encoding="utf-8")
    (tests / "test_b.py").write_text("def test_b():\n    pass\n", encoding="utf-8")
    run.budgets(
        """
        version: 1
        budgets:
          "tests/gone.py":
            time: 1s
          "tests/test_b.py":
            time: 1s
          "tests/test_a.py::test_renamed":
            time: 1s
        """
    )
    result = run("--perf-budget", "budgets.yml", "--perf-report", "out.json", "tests/test_a.py")
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["WARNING stale budget: pattern 'tests/gone.py'*"])
    result.stdout.fnmatch_lines(["WARNING stale budget: pattern 'tests/test_a.py::test_renamed'*"])
    # tests/test_b.py exists but was not selected: out of scope, not stale
    assert "pattern 'tests/test_b.py'" not in result.stdout.str()
    assert result.stdout.str().count("stale budget") == 2
    result.stdout.fnmatch_lines(["perf: 1 measured, 0 over budget, 0 regressed, 0 improved, 2 warnings"])
    report = run.report()
    assert report["summary"]["warnings"] == 2
    assert sorted(report["warnings"]) == [
        "stale budget: pattern 'tests/gone.py' matches no collected test",
        "stale budget: pattern 'tests/test_a.py::test_renamed' matches no collected test",
    ]


@pytest.mark.parametrize(
    "selection",
    [
        ("tests/test_a.py::test_x",),
        ("tests", "-k", "test_x"),
        ("tests", "--deselect", "tests/test_a.py::test_y"),
    ],
    ids=["node-id", "keyword", "deselect"],
)
def test_selecting_one_test_does_not_make_its_neighbours_stale(
    run_serial: Runner, selection: tuple[str]
) -> None:
    """``pytest tests/test_a.py::test_x`` (an IDE running one test) leaves test_y out of scope."""
    tests = run_serial.pytester.mkpydir("tests")
    (tests / "test_a.py").write_text("def test_x():\n    pass\n\ndef test_y():\n    pass\n", encoding="utf-8")
    run_serial.budgets("version: 1\nbudgets:\n  tests/test_a.py::test_y:\n    time: 1s\n")
    result = run_serial("--perf-budget", "budgets.yml", *selection)
    result.assert_outcomes(passed=1)
    assert "stale budget" not in result.stdout.str()


def test_no_stale_warning_when_every_pattern_matches(run_serial: Runner) -> None:
    write_suite(run_serial)
    result = run_serial("--perf-budget", "budgets.yml")
    assert "stale budget" not in result.stdout.str()


def test_a_report_gets_the_usual_file_mode(tmp_path: Path) -> None:
    from pytest_perfbudget.reports import write_atomically

    previous = os.umask(0o022)
    try:
        write_atomically(tmp_path / "r.json", "{}\n")
    finally:
        os.umask(previous)
    assert (tmp_path / "r.json").stat().st_mode & 0o777 == 0o644


# --- outcomes ----------------------------------------------------------------------------


def test_outcomes_are_recorded_as_pytest_reports_them(run: Runner) -> None:
    run.pytester.makepyfile(
        test_outcomes="""
        import pytest

        def test_passed():
            pass

        def test_failed():
            assert False

        def test_skipped_in_the_call():
            pytest.skip("not today")

        @pytest.mark.xfail(reason="known bug")
        def test_xfailed():
            assert False

        @pytest.mark.xfail(reason="fixed since")
        def test_xpassed():
            pass

        @pytest.mark.xfail(reason="fixed since", strict=True)
        def test_xpassed_strict():
            pass

        @pytest.fixture
        def broken_teardown():
            yield
            raise RuntimeError("teardown")

        def test_error_in_teardown(broken_teardown):
            pass
        """
    )
    result = run("--perf-report", "out.json")
    result.assert_outcomes(passed=2, failed=2, skipped=1, xfailed=1, xpassed=1, errors=1)
    outcomes = {test["nodeid"].partition("::")[2]: test["outcome"] for test in run.report()["tests"]}
    assert outcomes == {
        "test_passed": "passed",
        "test_failed": "failed",
        "test_skipped_in_the_call": "skipped",
        "test_xfailed": "xfailed",
        "test_xpassed": "xpassed",
        "test_xpassed_strict": "failed",
        "test_error_in_teardown": "error",
    }
