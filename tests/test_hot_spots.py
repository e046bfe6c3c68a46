"""Hot spots: a test over a time limit is called once more under a profiler, and the failure
message, the reports, the profile files and the ``perfbudget`` command say where its time went."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_perfbudget import cli
from pytest_perfbudget.reports import html, markdown

if TYPE_CHECKING:
    from perf_helpers import Runner

SLOW = """
import time

def slow_helper():
    time.sleep(0.03)

def quick_helper():
    return sum(range(100))

def build_report():
    quick_helper()
    slow_helper()

def test_slow():
    build_report()

def test_fast():
    pass
"""

BUDGETS = """
version: 1
settings:
  retries: 0
budgets:
  "**":
    time: 5s
  "test_report.py::test_slow":
    time: 5ms
"""

REPORTS = ("--perf-report", "out.json", "--perf-report", "out.md", "--perf-report", "out.html")


def hot_spots(runner: Runner, nodeid: str) -> dict[str, Any]:
    evidence = runner.record(nodeid).get("evidence", {})
    assert "hot_spots" in evidence, f"no hot spots for {nodeid}: {runner.record(nodeid)}"
    found: dict[str, Any] = evidence["hot_spots"]
    return found


def line_of(path: Path, text: str) -> int:
    """The line (from 1) of ``path`` that holds ``text``."""
    return next(number for number, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def test_the_slow_helper_is_named_in_the_failure_message_and_every_report(run: Runner) -> None:
    module = run.module("test_report", SLOW)
    run.budgets(BUDGETS)
    helper_site = f"test_report.py:{line_of(module, 'def slow_helper')}"
    result = run("--perf-budget", "budgets.yml", *REPORTS, "--perf-profile-dir", "profiles")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "perf budget exceeded in test_report.py::test_slow",
            "*time*> 5ms*",
            "*hot spots (one more call, under cProfile; share of the call):",
            "*cumulative  own*call site*function",
            "*%*test_report.py:*test_slow",
            "*test_report.py:* build_report",
            f"*  {helper_site} *slow_helper",
            "*profile: profiles/test_report.py_test_slow-*.speedscope.json",
        ]
    )

    found = hot_spots(run, "test_report.py::test_slow")
    assert found["status"] == "taken"
    assert found["profiler"] == "cProfile"
    functions = {function["function"]: function for function in found["functions"]}
    assert set(functions) == {"test_slow", "build_report", "slow_helper", "quick_helper"}
    helper = functions["slow_helper"]
    assert helper["call_site"] == helper_site
    assert helper["calls"] == 1
    # time.sleep, a library call, is folded into the helper's own time
    assert helper["own"] == pytest.approx(helper["cumulative"], rel=0.2)
    assert functions["build_report"]["own"] < helper["own"] / 10
    assert 0.5 < helper["share"] <= 1.0
    assert "evidence" not in run.record("test_report.py::test_fast")  # within budget: not profiled

    markdown_text = (run.pytester.path / "out.md").read_text(encoding="utf-8")
    assert "<details><summary>Hot spots: 4 functions of your code" in markdown_text
    assert f"| `slow_helper` | `{helper_site}` |" in markdown_text
    html_text = (run.pytester.path / "out.html").read_text(encoding="utf-8")
    assert '<section id="hot-spots">' in html_text
    assert '<svg class="flame"' in html_text
    assert f"slow_helper {helper_site}" in html_text  # a box's tooltip

    profiles = list((run.pytester.path / "profiles").iterdir())
    assert [path.name for path in profiles] == [Path(found["file"]).name]
    assert_speedscope(json.loads(profiles[0].read_text(encoding="utf-8")), "slow_helper")


def assert_speedscope(document: dict[str, Any], expected_frame: str) -> None:
    """A speedscope file as its schema wants it: frames, and sampled stacks that index them."""
    assert document["$schema"] == "https://www.speedscope.app/file-format-schema.json"
    frames = document["shared"]["frames"]
    assert all(isinstance(frame["name"], str) for frame in frames)
    assert expected_frame in {frame["name"] for frame in frames}
    (profile,) = document["profiles"]
    assert profile["type"] == "sampled"
    assert profile["unit"] == "seconds"
    assert len(profile["samples"]) == len(profile["weights"]) > 0
    assert all(0 <= index < len(frames) for stack in profile["samples"] for index in stack)
    assert profile["endValue"] == pytest.approx(sum(profile["weights"]), abs=1e-6)


def test_perfbudget_report_and_compare_show_the_hot_spots(run_serial: Runner, capsys: Any) -> None:
    run_serial.module("test_report", SLOW)
    run_serial.budgets(BUDGETS)
    run_serial("--perf-budget", "budgets.yml", "--perf-report", "out.json").assert_outcomes(
        passed=1, failed=1
    )
    after = run_serial.pytester.path / "out.json"
    before = run_serial.pytester.path / "before.json"
    document = json.loads(after.read_text(encoding="utf-8"))
    for test in document["tests"]:  # the same tests, ten times quicker and unprofiled
        test.pop("evidence", None)
        test["violations"] = []
        time = test["metrics"]["time"]
        for key in list(time):
            time[key] = [value / 10 for value in time[key]] if key == "rounds" else time[key] / 10
    before.write_text(json.dumps(document), encoding="utf-8")

    for suffix in (".md", ".html"):
        output = run_serial.pytester.path / f"report{suffix}"
        assert cli.main(["report", str(after), "-o", str(output)]) == 0
        assert "slow_helper" in output.read_text(encoding="utf-8")

    assert cli.main(["compare", str(before), str(after)]) == 0
    out = capsys.readouterr().out
    assert "hot spots of test_report.py::test_slow (a profiled call in the after run):" in out
    assert "slow_helper" in out


REGRESSES = """
import time
from pathlib import Path

def slow_helper():
    if Path(__file__).with_name("slow.flag").exists():
        time.sleep(0.05)

def test_changed():
    slow_helper()
"""


def test_a_regression_on_time_gets_hot_spots(run_serial: Runner) -> None:
    run_serial.module("test_changed", REGRESSES)
    run_serial("--perf-report", "before.json").assert_outcomes(passed=1)
    assert "evidence" not in run_serial.record("test_changed.py::test_changed", "before.json")
    (run_serial.pytester.path / "slow.flag").write_text("", encoding="utf-8")
    result = run_serial("--perf-baseline", "before.json", "--perf-report", "after.json")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*time*baseline*", "*hot spots (one more call*", "*test_changed.py:* slow_helper"]
    )


def test_an_unwritable_profile_dir_is_said_and_the_verdict_kept(run_serial: Runner) -> None:
    run_serial.module("test_report", SLOW)
    run_serial.budgets(BUDGETS)
    (run_serial.pytester.path / "taken").write_text("a file, not a directory", encoding="utf-8")
    result = run_serial("--perf-budget", "budgets.yml", "--perf-profile-dir", "taken")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*slow_helper", "*profile not written: could not write taken/*"])


FAILS_AGAIN = """
import time

calls = []

def test_once():
    calls.append(1)
    time.sleep(0.02)
    if len(calls) > 1:
        raise RuntimeError("only runs once")
"""

SKIPS_AGAIN = """
import time
import pytest

calls = []

def test_once():
    calls.append(1)
    time.sleep(0.02)
    if len(calls) > 1:
        pytest.skip("only runs once")
"""

CACHED = """
import time

done = []

def test_cached():
    if not done:
        time.sleep(0.3)  # the extra call must take a quarter of this, however loaded the machine
        done.append(1)
"""

ONE_TIME_BUDGET = """
version: 1
settings:
  retries: 0
budgets:
  "**":
    time: 5ms
"""


@pytest.mark.parametrize(
    ("source", "nodeid", "reason"),
    [
        (FAILS_AGAIN, "test_again.py::test_once", "the extra call raised RuntimeError: only runs once"),
        (SKIPS_AGAIN, "test_again.py::test_once", "the extra call raised Skipped: only runs once"),
        (CACHED, "test_again.py::test_cached", "the extra call took * where the measured call took *"),
    ],
    ids=["raises", "skips", "not-idempotent"],
)
def test_an_extra_call_that_fails_or_differs_keeps_the_verdict_and_says_why(
    run: Runner, source: str, nodeid: str, reason: str
) -> None:
    run.module("test_again", source)
    run.budgets(ONE_TIME_BUDGET)
    result = run("--perf-budget", "budgets.yml", "--perf-report", "out.json", "--perf-report", "out.md")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [f"perf budget exceeded in {nodeid}", "*time*> 5ms*", f"*hot spots not taken: {reason}"]
    )
    assert run.record(nodeid)["outcome"] == "failed"
    assert hot_spots(run, nodeid)["status"] == "not taken"
    assert "<details><summary>Hot spots: not taken</summary>" in (run.pytester.path / "out.md").read_text(
        encoding="utf-8"
    )


def test_under_warn_the_terminal_summary_has_them(run: Runner) -> None:
    run.module("test_report", SLOW)
    run.budgets(BUDGETS)
    result = run("--perf-budget", "budgets.yml", "--perf-mode", "warn")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        ["WARNING test_report.py::test_slow: time*> 5ms", "*hot spots (one more call*", "*slow_helper"]
    )


def test_off_takes_no_hot_spots(run: Runner) -> None:
    run.module("test_report", SLOW)
    run.budgets(BUDGETS)
    result = run(
        "--perf-budget", "budgets.yml", *REPORTS, "--perf-profile=off", "--perf-profile-dir", "profiles"
    )
    result.assert_outcomes(passed=1, failed=1)
    assert "hot spots" not in run.output(result)
    assert all("evidence" not in test for test in run.report()["tests"])
    assert "Hot spots" not in (run.pytester.path / "out.html").read_text(encoding="utf-8")
    assert not (run.pytester.path / "profiles").exists()


def test_the_ini_key_turns_it_off_too(run_serial: Runner) -> None:
    run_serial.module("test_report", SLOW)
    run_serial.budgets(BUDGETS)
    run_serial.pytester.makeini("[pytest]\nperf_profile = off\n")
    result = run_serial("--perf-budget", "budgets.yml")
    result.assert_outcomes(passed=1, failed=1)
    assert "hot spots" not in run_serial.output(result)


def test_all_profiles_a_test_within_its_budget(run: Runner) -> None:
    run.module("test_report", SLOW)
    result = run("--perf-report", "out.json", "--perf-profile=all")
    result.assert_outcomes(passed=2)
    assert hot_spots(run, "test_report.py::test_fast")["status"] == "taken"
    functions = [
        function["function"] for function in hot_spots(run, "test_report.py::test_slow")["functions"]
    ]
    assert "slow_helper" in functions


TRACED = """
import sys
import pytest

@pytest.fixture(autouse=True)
def tracer():
    sys.settrace(lambda *args: None)
    yield
    sys.settrace(None)

def test_traced():
    pass
"""


def test_not_taken_under_another_tracer(run_serial: Runner) -> None:
    run_serial.module("test_traced", TRACED)
    run_serial("--perf-report", "out.json", "--perf-profile=all").assert_outcomes(passed=1)
    found = hot_spots(run_serial, "test_traced.py::test_traced")
    assert found["status"] == "not taken"
    assert found["reason"].startswith("a tracer was active")


UNITTEST = """
import time
import unittest
import pytest

class TestCase(unittest.TestCase):
    @pytest.mark.perf_budget(time="5ms", retries=0)
    def test_slow(self):
        time.sleep(0.02)
"""


def test_a_unittest_item_says_it_cannot_be_called_again(run_serial: Runner) -> None:
    run_serial.module("test_unit", UNITTEST)
    result = run_serial()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*hot spots not taken: a unittest or doctest item cannot be called again"])


def test_the_reports_escape_what_a_profile_names() -> None:
    hostile = "<script>alert('x')</script>"
    test = {
        "nodeid": "t.py::test_x",
        "outcome": "failed",
        "metrics": {},
        "violations": [],
        "evidence": {
            "hot_spots": {
                "status": "taken",
                "profiler": "cProfile",
                "duration": 1.0,
                "functions": [
                    {
                        "function": hostile,
                        "call_site": "a|b.py:1",
                        "own": 1.0,
                        "cumulative": 1.0,
                        "calls": 1,
                        "share": 1.0,
                    }
                ],
                "flame": {
                    "function": "(the test call)",
                    "call_site": "",
                    "time": 1.0,
                    "children": [{"function": hostile, "call_site": "a|b.py:1", "time": 1.0}],
                },
            }
        },
    }
    document = {"schema": "pytest-perfbudget/1", "environment": {}, "tests": [test]}
    page = html.render(document)
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert" in page
    text = markdown.render(document)
    assert f"| `{hostile}` | `a\\|b.py:1` |" in text  # in a code span, shown as written
    assert text.count("<script>") == 1
