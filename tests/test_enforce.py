"""Enforcing budgets end to end: failures, warnings, modes, retries, memory, throughput, rounds."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from perf_helpers import Runner

MIXED = """
import time

def test_fast():
    pass

def test_slow():
    time.sleep(0.05)

def test_broken():
    time.sleep(0.05)
    raise ValueError("broken for its own reasons")
"""

MIXED_BUDGETS = """
version: 1
settings:
  retries: 0
budgets:
  "**":
    time: 5s
  "test_mixed.py::test_slow":
    time: 1ms
  "test_mixed.py::test_broken":
    time: 1ms
"""

SLOW_AND_FAST_BUDGETS = """
version: 1
settings:
  retries: 0
budgets:
  "**":
    time: 5s
  "test_mixed.py::test_slow":
    time: 1ms
"""

SLOW_AND_FAST = """
import time

def test_fast():
    pass

def test_slow():
    time.sleep(0.05)
"""


def test_over_budget_fails_with_the_spec_message(run: Runner) -> None:
    run.pytester.makepyfile(test_mixed=MIXED)
    run.budgets(MIXED_BUDGETS)
    result = run("--perf-budget", "budgets.yml")
    result.assert_outcomes(passed=1, failed=2)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "perf budget exceeded in test_mixed.py::test_slow",
            "  time *ms > 1ms *(budgets.yml: test_mixed.py::test_slow)",
        ]
    )
    result.stdout.fnmatch_lines(["FAILED test_mixed.py::test_slow - *perf budget*"])
    # the test that failed for its own reasons is a plain failure
    result.stdout.fnmatch_lines(["*ValueError: broken for its own reasons*"])
    text = run.output(result)
    assert "perf budget exceeded in test_mixed.py::test_broken" not in text
    assert "OVER BUDGET test_mixed.py::test_broken" not in text
    result.stdout.fnmatch_lines(["OVER BUDGET test_mixed.py::test_slow: time *ms > 1ms"])
    result.stdout.fnmatch_lines(["perf: 3 measured, 1 over budget, 0 regressed, 0 improved"])
    assert "Traceback" not in text


@pytest.mark.parametrize(
    "outputs",
    [(), ("--perf-report", "out.json"), ("--junitxml", "junit.xml")],
    ids=["none", "report", "junit"],
)
def test_every_measured_test_is_counted_whether_or_not_records_are_kept(
    run: Runner, outputs: tuple[str, ...]
) -> None:
    """Without a report a serial run keeps only the records with something to show."""
    run.pytester.makepyfile(test_mixed=MIXED)
    run.budgets(MIXED_BUDGETS)
    result = run("--perf-budget", "budgets.yml", *outputs)
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        ["OVER BUDGET test_mixed.py::test_slow: time *", "perf: 3 measured, 1 over budget, *"]
    )


def test_within_budget_passes_and_exits_0(run_serial: Runner) -> None:
    run_serial.pytester.makepyfile(test_ok="def test_a():\n    pass\n\ndef test_b():\n    pass\n")
    run_serial.budgets("version: 1\nbudgets:\n  '**':\n    time: 5s\n    cpu: 5s\n")
    result = run_serial("--perf-budget", "budgets.yml")
    result.assert_outcomes(passed=2)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        ["*- perf budget -*", "perf: 2 measured, 0 over budget, 0 regressed, 0 improved"]
    )
    assert "OVER BUDGET" not in result.stdout.str()


def test_warn_mode_passes_and_reports(run: Runner) -> None:
    run.pytester.makepyfile(test_mixed=SLOW_AND_FAST)
    run.budgets(SLOW_AND_FAST_BUDGETS)
    result = run("--perf-budget", "budgets.yml", "--perf-mode", "warn", "--perf-report", "out.json")
    result.assert_outcomes(passed=2)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        [
            "WARNING test_mixed.py::test_slow: time *ms > 1ms",
            "perf: 2 measured, 0 over budget, 0 regressed, 0 improved, 1 warning",
        ]
    )
    assert "perf budget exceeded" not in result.stdout.str()
    record = run.record("test_mixed.py::test_slow")
    assert record["outcome"] == "passed"
    assert [(v["metric"], v["level"]) for v in record["violations"]] == [("time", "warn")]
    assert run.report()["summary"]["over_budget"] == 0
    assert run.report()["summary"]["warnings"] == 1


def test_level_warn_in_the_file_passes_and_reports(run_serial: Runner) -> None:
    run_serial.pytester.makepyfile(test_mixed=SLOW_AND_FAST)
    run_serial.budgets(
        """
        version: 1
        settings:
          retries: 0
        budgets:
          "test_mixed.py::test_slow":
            time: 1ms
            level: warn
          "test_mixed.py::test_fast":
            time: 5s
        """
    )
    result = run_serial("--perf-budget", "budgets.yml")
    result.assert_outcomes(passed=2)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        [
            "WARNING test_mixed.py::test_slow: time *ms > 1ms",
            "perf: 2 measured, 0 over budget, 0 regressed, 0 improved, 1 warning",
        ]
    )


def test_level_warn_on_one_entry_leaves_others_enforced(run_serial: Runner) -> None:
    run_serial.pytester.makepyfile(
        test_levels="""
        import time
        import pytest

        @pytest.mark.perf_budget(time="1ns", retries=0, level="warn")
        def test_warned():
            time.sleep(0.01)

        @pytest.mark.perf_budget(time="1ns", retries=0)
        def test_enforced():
            time.sleep(0.01)
        """
    )
    result = run_serial()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["FAILED test_levels.py::test_enforced - *perf budget*"])
    result.stdout.fnmatch_lines(["WARNING test_levels.py::test_warned: time * > 1ns"])


def test_off_mode_measures_nothing(run_serial: Runner) -> None:
    run_serial.pytester.makepyfile(
        test_off="""
        import time
        import pytest

        @pytest.mark.perf_budget(time="1ns", retries=0)
        def test_marked():
            time.sleep(0.01)

        def test_slow():
            time.sleep(0.05)
        """
    )
    run_serial.budgets(MIXED_BUDGETS.replace("test_mixed", "test_off"))
    result = run_serial("--perf-budget", "budgets.yml", "--perf-mode", "off", "--perf-report", "out.json")
    result.assert_outcomes(passed=2)
    assert result.ret == pytest.ExitCode.OK
    text = run_serial.output(result)
    assert "perf budget" not in text
    assert "perf:" not in text
    report = run_serial.pytester.path / "out.json"
    assert not report.exists() or run_serial.report()["tests"] == []


def test_off_mode_from_the_ini_file(run_serial: Runner) -> None:
    run_serial.pytester.makeini("[pytest]\nperf_mode = off\n")
    run_serial.pytester.makepyfile(
        test_off="""
        import time
        import pytest

        @pytest.mark.perf_budget(time="1ns", retries=0)
        def test_marked():
            time.sleep(0.01)
        """
    )
    result = run_serial()
    result.assert_outcomes(passed=1)
    assert "perf budget" not in result.stdout.str()
    # the command line wins over the ini file
    result = run_serial("--perf-mode", "enforce")
    result.assert_outcomes(failed=1)


def test_idle_without_options(run_serial: Runner) -> None:
    run_serial.pytester.makepyfile(test_idle="def test_a():\n    pass\n")
    result = run_serial()
    result.assert_outcomes(passed=1)
    assert "perf" not in result.stdout.str().replace("perfbudget-", "")


def test_exitfirst_stops_at_the_first_over_budget_test(run_serial: Runner) -> None:
    run_serial.pytester.makepyfile(
        test_x="""
        import time

        def test_1_slow():
            time.sleep(0.05)

        def test_2_fine():
            pass
        """
    )
    run_serial.budgets("version: 1\nsettings: {retries: 0}\nbudgets:\n  '**': {time: 1ms}\n")
    result = run_serial("--perf-budget", "budgets.yml", "-x")
    result.assert_outcomes(failed=1)
    assert "test_2_fine" not in result.stdout.str().replace("test_1_slow", "")
    result.stdout.fnmatch_lines(["*stopping after 1 failures*"])


def test_junit_counts_an_over_budget_test_as_a_failure(run_serial: Runner) -> None:
    run_serial.pytester.makepyfile(test_mixed=SLOW_AND_FAST)
    run_serial.budgets(SLOW_AND_FAST_BUDGETS)
    result = run_serial("--perf-budget", "budgets.yml", "--junitxml", "junit.xml")
    result.assert_outcomes(passed=1, failed=1)
    suite = ET.parse(run_serial.pytester.path / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("2", "1", "0")
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    failure = cases["test_slow"].find("failure")
    assert failure is not None
    assert "perf budget exceeded in test_mixed.py::test_slow" in (failure.get("message") or "")
    assert cases["test_fast"].find("failure") is None


# --- retries -----------------------------------------------------------------------

SLOW_FIRST = """
import time

def test_slow_first():
    record_call()
    if not Path("slow.done").exists():
        Path("slow.done").touch()
        time.sleep(0.2)
"""


@pytest.mark.parametrize(("retries", "outcome"), [(1, "passed"), (0, "failed")])
def test_a_test_slow_only_once_passes_with_retries(run_serial: Runner, retries: int, outcome: str) -> None:
    run_serial.module("test_retry", SLOW_FIRST)
    run_serial.budgets(
        f"""
        version: 1
        settings:
          retries: {retries}
        budgets:
          "test_retry.py::test_slow_first":
            time: 100ms
        """
    )
    # the calls counted are the measured ones: no extra call for hot spots
    result = run_serial("--perf-budget", "budgets.yml", "--perf-report", "out.json", "--perf-profile=off")
    record = run_serial.record("test_retry.py::test_slow_first")
    assert record["outcome"] == outcome
    if retries:
        result.assert_outcomes(passed=1)
        assert record["retries"] == 1
        assert record["violations"] == []
        assert run_serial.calls() == 2
    else:
        result.assert_outcomes(failed=1)
        assert "retries" not in record
        assert run_serial.calls() == 1
        assert "re-measurement" not in result.stdout.str()


def test_still_over_after_retries_says_so(run_serial: Runner) -> None:
    run_serial.pytester.makepyfile(
        test_always="""
        import time
        import pytest

        @pytest.mark.perf_budget(time="1ms", retries=2, calibration=0)  # the limit as written
        def test_always_slow():
            time.sleep(0.02)
        """
    )
    result = run_serial("--perf-report", "out.json")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "perf budget exceeded in test_always.py::test_always_slow",
            "  time * > 1ms *(marker)",
            "  (still over budget after 2 re-measurements)",
        ]
    )
    record = run_serial.record("test_always.py::test_always_slow")
    assert record["retries"] == 2
    assert record["outcome"] == "failed"


def test_the_default_is_two_retries(run_serial: Runner) -> None:
    run_serial.module(
        "test_default",
        """
        import time
        import pytest

        @pytest.mark.perf_budget(time="1ms")
        def test_always_slow():
            record_call()
            time.sleep(0.02)
        """,
    )
    run_serial("--perf-profile=off").assert_outcomes(failed=1)  # no extra call for hot spots
    assert run_serial.calls() == 3


def test_a_memory_budget_is_not_retried(run_serial: Runner) -> None:
    """Only timings are noisy: memory over budget fails at once."""
    run_serial.module(
        "test_memory_once",
        """
        import pytest

        @pytest.mark.perf_budget(memory="1MB", retries=2)
        def test_big():
            record_call()
            data = bytearray(5_000_000)
            del data
        """,
    )
    result = run_serial("--perf-report", "out.json")
    result.assert_outcomes(failed=1)
    # The measured call; one that finds where memory went, watching calls: the bytearray comes and
    # goes with no call in between; and one watching lines too.
    assert run_serial.calls() == 3
    record = run_serial.record("test_memory_once.py::test_big")
    assert "retries" not in record
    assert record["evidence"]["allocations"]["status"] == "taken"


# --- memory and rss ----------------------------------------------------------------

ALLOCATING = """
import pytest

def test_alloc():
    data = bytearray(10_000_000)
    assert len(data) == 10_000_000

def test_small():
    pass
"""


def test_memory_over_budget(run: Runner) -> None:
    run.pytester.makepyfile(test_mem=ALLOCATING)
    run.budgets("version: 1\nbudgets:\n  test_mem.py::test_alloc:\n    memory: 1MB\n")
    result = run("--perf-budget", "budgets.yml", "--perf-report", "out.json")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "perf budget exceeded in test_mem.py::test_alloc",
            "  memory *MB > 1MB *(budgets.yml: test_mem.py::test_alloc)",
        ]
    )
    record = run.record("test_mem.py::test_alloc")
    assert 10_000_000 <= record["metrics"]["memory"] < 20_000_000
    assert record["budgets"]["memory"] == {"limit": 1_000_000, "source": "budgets.yml:4"}
    assert "memory" not in run.record("test_mem.py::test_small")["metrics"]


def test_memory_is_traced_only_when_asked(run_serial: Runner) -> None:
    run_serial.pytester.makepyfile(test_mem=ALLOCATING)
    run_serial.pytester.makefile(".yml", budgets="version: 1\nbudgets:\n  '**':\n    time: 5s\n")
    run_serial("--perf-budget", "budgets.yml", "--perf-report", "out.json").assert_outcomes(passed=2)
    assert "memory" not in run_serial.record("test_mem.py::test_alloc")["metrics"]
    assert "rss" not in run_serial.record("test_mem.py::test_alloc")["metrics"]

    run_serial("--perf-budget", "budgets.yml", "--perf-report", "out.json", "--perf-memory").assert_outcomes(
        passed=2
    )
    metrics = run_serial.record("test_mem.py::test_alloc")["metrics"]
    assert metrics["memory"] >= 10_000_000
    assert "rss" in metrics
    assert run_serial.record("test_mem.py::test_small")["metrics"]["memory"] < 1_000_000


def test_perf_memory_from_the_ini_file(run_serial: Runner) -> None:
    run_serial.pytester.makepyfile(test_mem=ALLOCATING)
    run_serial.pytester.makeini("[pytest]\nperf_memory = true\n")
    run_serial("--perf-report", "out.json").assert_outcomes(passed=2)
    assert run_serial.record("test_mem.py::test_alloc")["metrics"]["memory"] >= 10_000_000


def test_time_is_not_judged_on_the_traced_round(run_serial: Runner) -> None:
    """The traced call runs first and alone; its (slow) timing is not what the budget limits."""
    run_serial.module(
        "test_traced",
        """
        import time
        import pytest

        @pytest.mark.perf_budget(memory="100MB", time="100ms", rounds=3, retries=0)
        def test_slow_when_traced():
            record_call()
            if not Path("slow.done").exists():
                Path("slow.done").touch()
                time.sleep(0.3)
        """,
    )
    result = run_serial("--perf-report", "out.json")
    result.assert_outcomes(passed=1)
    assert run_serial.calls() == 4
    metrics = run_serial.record("test_traced.py::test_slow_when_traced")["metrics"]
    assert len(metrics["time"]["rounds"]) == 3
    assert max(metrics["time"]["rounds"]) < 0.3
    assert "memory" in metrics


def test_a_memory_only_budget_runs_the_call_once(run_serial: Runner) -> None:
    run_serial.module(
        "test_once",
        """
        import pytest

        @pytest.mark.perf_budget(memory="100MB")
        def test_traced_only():
            record_call()
        """,
    )
    run_serial().assert_outcomes(passed=1)
    assert run_serial.calls() == 1


SLOW_WHEN_TRACED = """
import time
import tracemalloc
import pytest

@pytest.mark.perf_budget(memory="100MB", time="200ms", retries={retries}, calibration=0)
def test_memory_and_time():
    record_call()
    if tracemalloc.is_tracing() or {always}:
        time.sleep(0.3)
"""


def test_memory_and_time_budgets_call_the_test_once(run_serial: Runner) -> None:
    """One round: the traced call serves for time too, being slower than an untraced one."""
    run_serial.module("test_once", SLOW_WHEN_TRACED.format(retries=2, always=False).replace("0.3", "0"))
    run_serial("--perf-report", "out.json").assert_outcomes(passed=1)
    assert run_serial.calls() == 1
    metrics = run_serial.record("test_once.py::test_memory_and_time")["metrics"]
    assert metrics["time"]["traced"] is True
    assert "memory" in metrics


def test_perf_memory_with_a_time_budget_calls_each_test_once(run_serial: Runner) -> None:
    run_serial.module(
        "test_once",
        """
        def test_plain():
            record_call()
        """,
    )
    run_serial.pytester.makefile(".yml", budgets="version: 1\nbudgets:\n  '**':\n    time: 60s\n")
    run_serial("--perf-budget", "budgets.yml", "--perf-memory").assert_outcomes(passed=1)
    assert run_serial.calls() == 1


def test_a_timing_over_only_when_traced_is_measured_again_untraced(run_serial: Runner) -> None:
    run_serial.module("test_traced", SLOW_WHEN_TRACED.format(retries=0, always=False))
    run_serial("--perf-report", "out.json").assert_outcomes(passed=1)
    assert run_serial.calls() == 2
    metrics = run_serial.record("test_traced.py::test_memory_and_time")["metrics"]
    assert "traced" not in metrics["time"]
    assert metrics["time"]["median"] < 0.2


def test_a_throughput_under_its_floor_only_when_traced_passes(run_serial: Runner) -> None:
    """Not only time: every timing taken from the traced call alone is confirmed untraced."""
    run_serial.module(
        "test_rate",
        """
        import time
        import tracemalloc
        import pytest

        @pytest.mark.perf_budget(memory="100MB", throughput="50/s", retries=0)
        def test_rate(perf):
            record_call()
            time.sleep(0.3 if tracemalloc.is_tracing() else 0)
            perf.ops(10)
        """,
    )
    run_serial("--perf-report", "out.json").assert_outcomes(passed=1)
    assert run_serial.calls() == 2
    assert "traced" not in run_serial.record("test_rate.py::test_rate")["metrics"]["throughput"]


def test_a_timing_over_untraced_too_fails(run_serial: Runner) -> None:
    run_serial.module("test_traced", SLOW_WHEN_TRACED.format(retries=2, always=True))
    result = run_serial("--perf-report", "out.json", "--perf-profile=off")  # no extra call for hot spots
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["  time * > 200ms (marker)", "  (still over budget after 2 re-measurements)"]
    )
    assert run_serial.calls() == 3  # traced; untraced, the first re-measurement; the second
    assert "traced" not in run_serial.record("test_traced.py::test_memory_and_time")["metrics"]["time"]


def test_rss_budget(run_serial: Runner) -> None:
    run_serial.pytester.makepyfile(
        test_rss="""
        import pytest

        KEEP = []

        @pytest.mark.perf_budget(rss="1MB", retries=0)
        def test_grows():
            KEEP.append(b"x" * 50_000_000)  # touched pages, kept: resident memory grows

        @pytest.mark.perf_budget(rss="10GB")
        def test_small():
            pass
        """
    )
    result = run_serial("--perf-report", "out.json")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["perf budget exceeded in test_rss.py::test_grows", "  rss *MB > 1MB *(marker)"]
    )
    assert run_serial.record("test_rss.py::test_grows")["metrics"]["rss"] >= 40_000_000
    assert "rss" in run_serial.record("test_rss.py::test_small")["metrics"]


# --- throughput ------------------------------------------------------------------------

THROUGHPUT = """
import pytest

@pytest.mark.perf_budget(throughput="1000000000/s")
def test_unreachable(perf):
    perf.ops(1000)

@pytest.mark.perf_budget(throughput="1/s")
def test_reachable(perf):
    perf.ops(1000)

@pytest.mark.perf_budget(throughput="5/s")
def test_not_counted():
    pass
"""


def test_throughput(run_serial: Runner) -> None:
    run_serial.pytester.makepyfile(test_tp=THROUGHPUT)
    result = run_serial("--perf-report", "out.json")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        ["perf budget exceeded in test_tp.py::test_unreachable", "  throughput */s < *1000000000/s *(marker)"]
    )
    result.stdout.fnmatch_lines(
        ["perf budget exceeded in test_tp.py::test_not_counted", "  throughput *not measured*perf.ops*"]
    )
    reachable = run_serial.record("test_tp.py::test_reachable")
    assert reachable["outcome"] == "passed"
    assert reachable["metrics"]["throughput"]["median"] > 1
    not_counted = run_serial.record("test_tp.py::test_not_counted")
    assert not_counted["violations"][0]["metric"] == "throughput"
    assert not_counted["violations"][0]["actual"] is None


# --- rounds, warmup, fixtures -----------------------------------------------------------


def test_rounds_and_warmup(run_serial: Runner) -> None:
    run_serial.module(
        "test_rounds",
        """
        import pytest

        @pytest.mark.perf_budget(time="5s", rounds=4, warmup=2)
        def test_counted():
            record_call()
        """,
    )
    run_serial("--perf-report", "out.json").assert_outcomes(passed=1)
    assert run_serial.calls() == 6
    time = run_serial.record("test_rounds.py::test_counted")["metrics"]["time"]
    assert len(time["rounds"]) == 4
    assert {"rounds", "min", "median", "mean", "max", "p50", "p90", "p95", "p99"} <= set(time)
    assert time["min"] <= time["median"] <= time["max"]
    assert time["min"] == min(time["rounds"])
    cpu = run_serial.record("test_rounds.py::test_counted")["metrics"]["cpu"]
    assert len(cpu["rounds"]) == 4


def test_rounds_and_warmup_from_the_file(run_serial: Runner) -> None:
    run_serial.module(
        "test_rounds",
        """
        def test_counted():
            record_call()
        """,
    )
    run_serial.budgets(
        "version: 1\nsettings:\n  rounds: 3\n  warmup: 1\nbudgets:\n  test_rounds.py::test_counted: {time: 5s}\n"
    )
    run_serial("--perf-budget", "budgets.yml").assert_outcomes(passed=1)
    assert run_serial.calls() == 4


def test_fixtures_are_not_measured(run_serial: Runner) -> None:
    run_serial.pytester.makepyfile(
        test_slow_fixture="""
        import time
        import pytest

        @pytest.fixture
        def slow_resource():
            time.sleep(0.3)
            yield 42
            time.sleep(0.1)

        @pytest.mark.perf_budget(time="150ms")
        def test_uses_it(slow_resource):
            assert slow_resource == 42
        """
    )
    result = run_serial("--perf-report", "out.json")
    result.assert_outcomes(passed=1)
    assert run_serial.record("test_slow_fixture.py::test_uses_it")["metrics"]["time"]["median"] < 0.3


def test_teardown_error_is_recorded(run: Runner) -> None:
    run.pytester.makepyfile(
        test_teardown="""
        import pytest

        @pytest.fixture
        def breaks():
            yield
            raise RuntimeError("teardown")

        @pytest.mark.perf_budget(time="5s")
        def test_it(breaks):
            pass
        """
    )
    result = run("--perf-report", "out.json")
    result.assert_outcomes(passed=1, errors=1)
    assert run.record("test_teardown.py::test_it")["outcome"] == "error"


def test_unittest_and_doctest_items_are_measured_once(run: Runner) -> None:
    run.pytester.makepyfile(
        test_legacy='''
        import time
        import unittest

        class Legacy(unittest.TestCase):
            def test_slow(self):
                time.sleep(0.05)

        def documented():
            """
            >>> 1 + 1
            2
            """
        '''
    )
    run.budgets('version: 1\nsettings: {rounds: 3}\nbudgets:\n  "test_legacy.py::Legacy":\n    time: 1ms\n')
    result = run("--perf-budget", "budgets.yml", "--doctest-modules", "--perf-report", "out.json")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["perf budget exceeded in test_legacy.py::Legacy::test_slow"])
    slow = run.record("test_legacy.py::Legacy::test_slow")
    assert len(slow["metrics"]["time"]["rounds"]) == 1  # no repeated calls outside test functions
    assert "retries" not in slow
    assert run.record("test_legacy.py::test_legacy.documented")["outcome"] == "passed"


def test_time_budgets_are_not_judged_under_a_tracer(run: Runner) -> None:
    run.pytester.makeconftest(
        """
        import sys
        import pytest

        def _tracer(frame, event, arg):
            return None

        @pytest.fixture(autouse=True)
        def traced():
            sys.settrace(_tracer)
            yield
            sys.settrace(None)
        """
    )
    run.pytester.makepyfile(
        test_traced="""
        import time
        import pytest

        @pytest.mark.perf_budget(time="1ms", memory="1kB")
        def test_slow_and_big():
            time.sleep(0.02)
            data = [0] * 100_000
        """
    )
    result = run("--perf-report", "out.json")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["  memory * > 1kB *", "WARNING time budgets not judged: a tracer was active (conftest)*"]
    )
    assert "  time " not in result.stdout.str()
    assert run.record("test_traced.py::test_slow_and_big")["timings_not_judged"] == "conftest"


def test_a_throughput_never_counted_is_not_measured_again(run: Runner) -> None:
    """No operations counted is not noise: the test is called once, and told how to count them."""
    run.module(
        "test_uncounted",
        """
        import pytest

        @pytest.mark.perf_budget(throughput="5/s")
        def test_not_counted():
            record_call()
        """,
    )
    result = run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "perf budget exceeded in test_uncounted.py::test_not_counted",
            "  throughput  not measured (limit 5/s; no operations counted: call perf.ops(n) with the perf fixture)"
            " (marker)",
        ]
    )
    assert "re-measurement" not in result.stdout.str()
    assert run.calls() == 1
