"""The ``perf_budget`` marker: measured and enforced on its own, over the file, and checked."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from perf_helpers import Runner


def test_marker_alone_is_measured_and_enforced(run: Runner) -> None:
    run.pytester.makepyfile(
        test_marked="""
        import time
        import pytest
        from pytest_perfbudget import perf_budget

        @pytest.mark.perf_budget(time="1ns", retries=0)
        def test_pytest_mark():
            time.sleep(0.01)

        @perf_budget(time="1ns", retries=0)
        def test_imported_marker():
            time.sleep(0.01)

        @perf_budget(time="5s")
        def test_within():
            pass

        def test_unmarked():
            time.sleep(0.01)
        """
    )
    result = run()
    result.assert_outcomes(passed=2, failed=2)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        ["perf budget exceeded in test_marked.py::test_pytest_mark", "  time * > 1ns *(marker)"]
    )
    result.stdout.fnmatch_lines(
        ["perf budget exceeded in test_marked.py::test_imported_marker", "  time * > 1ns *(marker)"]
    )
    result.stdout.fnmatch_lines(["perf: 3 measured, 2 over budget, 0 regressed, 0 improved"])


def test_the_imported_marker_is_pytest_mark_perf_budget() -> None:
    from pytest_perfbudget import perf_budget

    assert perf_budget.name == "perf_budget"

    @perf_budget(time="1s")
    def test_x() -> None:
        pass

    assert [(mark.name, mark.kwargs) for mark in test_x.pytestmark] == [  # type: ignore[attr-defined]
        ("perf_budget", {"time": "1s"})
    ]


def test_marker_overrides_the_file_metric_by_metric(run_serial: Runner) -> None:
    run_serial.pytester.makepyfile(
        test_over="""
        import time
        import pytest

        @pytest.mark.perf_budget(time="5s")
        def test_relaxed():
            time.sleep(0.01)

        def test_file_only():
            time.sleep(0.01)
        """
    )
    run_serial.budgets(
        """
        version: 1
        settings:
          retries: 0
        budgets:
          "**":
            time: 1ns
            memory: 1GB
        """
    )
    result = run_serial("--perf-budget", "budgets.yml", "--perf-report", "out.json")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["FAILED test_over.py::test_file_only - *perf budget*"])
    budgets = run_serial.record("test_over.py::test_relaxed")["budgets"]
    assert budgets["time"]["source"] == "marker"
    assert budgets["time"]["limit"] == 5.0
    assert budgets["memory"] == {"limit": 1_000_000_000, "source": "budgets.yml:7"}
    assert "memory" in run_serial.record("test_over.py::test_relaxed")["metrics"]


def test_class_module_and_function_markers_merge(run_serial: Runner) -> None:
    run_serial.pytester.makepyfile(
        test_merge="""
        import time
        import pytest

        pytestmark = pytest.mark.perf_budget(cpu="10s", retries=0)

        @pytest.mark.perf_budget(time="1ns", memory="1GB")
        class TestGroup:
            @pytest.mark.perf_budget(time="5s")
            def test_relaxed(self):
                time.sleep(0.01)

            def test_class_budget(self):
                time.sleep(0.01)
        """
    )
    result = run_serial("--perf-report", "out.json")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["FAILED test_merge.py::TestGroup::test_class_budget - *perf budget*"])
    budgets = run_serial.record("test_merge.py::TestGroup::test_relaxed")["budgets"]
    assert {metric: entry["limit"] for metric, entry in budgets.items()} == {
        "time": 5.0,
        "cpu": 10.0,
        "memory": 1_000_000_000,
    }
    assert (
        run_serial.record("test_merge.py::TestGroup::test_class_budget")["budgets"]["time"]["limit"] == 1e-9
    )


def test_marker_settings_apply(run_serial: Runner) -> None:
    run_serial.module(
        "test_settings",
        """
        import pytest

        @pytest.mark.perf_budget(rounds=3, warmup=1, time={"p95": "5s", "max": "5s"})
        def test_rounds():
            record_call()
        """,
    )
    result = run_serial("--perf-report", "out.json")
    result.assert_outcomes(passed=1)
    assert run_serial.calls() == 4
    record = run_serial.record("test_settings.py::test_rounds")
    assert len(record["metrics"]["time"]["rounds"]) == 3
    assert set(record["budgets"]) == {"time.p95", "time.max"}


def test_statistics_and_several_violations_in_one_message(run_serial: Runner) -> None:
    run_serial.pytester.makepyfile(
        test_stats="""
        import time
        import pytest

        @pytest.mark.perf_budget(rounds=3, retries=0, time={"p95": "1ns", "max": "5s"}, cpu="1ns", memory="1B")
        def test_busy():
            end = time.process_time() + 0.005
            data = [0] * 10_000
            while time.process_time() < end:
                pass
        """
    )
    result = run_serial()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "perf budget exceeded in test_stats.py::test_busy",
            "  time p95 * > 1ns *(marker)",
            "  cpu * > 1ns *(marker)",
            "  memory *B > 1B *(marker)",
        ]
    )
    assert "time max" not in result.stdout.str()


def test_unknown_keyword_is_a_usage_error_naming_the_test(run: Runner) -> None:
    run.pytester.makepyfile(
        test_bad="""
        import pytest

        @pytest.mark.perf_budget(tiem="1s")
        def test_typo():
            pass

        def test_fine():
            pass
        """
    )
    result = run()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    text = run.output(result)
    assert "test_bad.py::test_typo" in text
    assert "'tiem' (did you mean 'time'?)" in text
    assert "Traceback" not in text
    if not run.xdist:
        result.stderr.fnmatch_lines(
            ["ERROR: test_bad.py::test_typo: perf_budget marker: unknown *'tiem' (did you mean 'time'?)"]
        )


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        ('"200ms"', "keyword arguments only"),
        ('time="fast"', "cannot read a time 'fast'"),
        ("queries=-1", "negative"),
        ('level="fatal"', "'fatal'"),
        ('time={"p96": "1s"}', "unknown statistic 'p96'"),
        ('leak="1 second"', "'leak': unknown memory unit 'second'"),
    ],
    ids=["positional", "bad-time", "negative", "bad-level", "bad-statistic", "bad-leak"],
)
def test_bad_markers_are_usage_errors(run_serial: Runner, marker: str, message: str) -> None:
    run_serial.pytester.makepyfile(
        test_bad=f"""
        import pytest

        @pytest.mark.perf_budget({marker})
        def test_marked():
            pass
        """
    )
    result = run_serial()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    text = run_serial.output(result)
    assert "test_bad.py::test_marked" in text
    assert message in text
    assert "Traceback" not in text


def test_the_marker_is_registered(run_serial: Runner) -> None:
    run_serial.pytester.makepyfile(
        test_strict="""
        import pytest

        @pytest.mark.perf_budget(time="5s")
        def test_a():
            pass
        """
    )
    run_serial("--strict-markers").assert_outcomes(passed=1)
    result = run_serial("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.perf_budget(*"])


def _documented_marker_registration() -> str:
    """The ini block of the FAQ that registers the marker for runs without the plugin."""
    faq = (Path(__file__).parents[1] / "docs" / "faq.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```ini\n(.*?)```", faq, re.DOTALL)
    [block] = [block for block in blocks if "perf_budget:" in block]
    return block


@pytest.mark.parametrize("plugin", ["off", "on"])
def test_the_documented_registration_lets_strict_markers_run_without_the_plugin(
    run_serial: Runner, plugin: str
) -> None:
    run_serial.pytester.makepyfile(
        test_marked="import pytest\n\n@pytest.mark.perf_budget(time='1s')\ndef test_a():\n    pass\n"
    )
    # In a process of its own: entry-point plugins are what -p no: turns off.
    args = (
        "-p",
        "no:cacheprovider",
        "--strict-markers",
        *(("-p", "no:perfbudget") if plugin == "off" else ()),
    )
    refused = run_serial.pytester.runpytest_subprocess(*args)
    assert (refused.ret == pytest.ExitCode.INTERRUPTED) == (plugin == "off")  # what the FAQ answers
    run_serial.pytester.makeini(_documented_marker_registration())
    run_serial.pytester.runpytest_subprocess(*args).assert_outcomes(passed=1)
