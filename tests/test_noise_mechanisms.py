"""What runs only when a time budget is exceeded: a garbage collection and calibration around each
re-measurement; and the stability warning on rounds that straddle a limit.

Timings here are never real: the inner runs replace the plugin's clock with one that each test
call advances by a scripted duration, and the calibration loop with scripted times, so every
verdict is known in advance.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from perf_helpers import Runner, output

from pytest_perfbudget import calibration
from pytest_perfbudget.budget_file import parse
from pytest_perfbudget.budgets import BudgetError, Limit, Tolerance, parse_fields
from pytest_perfbudget.calibration import MAX_FACTOR, Calibration, factor
from pytest_perfbudget.cli import EXIT_INPUT, main
from pytest_perfbudget.compare import calibration_loop, compare_metrics
from pytest_perfbudget.enforce import evaluate, violation_comparison, violation_text
from pytest_perfbudget.init_budgets import budget_file_text
from pytest_perfbudget.metrics import Metrics

# The inner runs' conftest: a clock the tests advance, and events written to a file in the order
# they happen ("call 130ms", "gc", "loop"), which works across xdist workers too.
FAKE_CLOCK = """
import importlib
import types
from pathlib import Path

import pytest

EVENTS = Path(__file__).with_name("events.txt")


def event(text):
    with EVENTS.open("a", encoding="utf-8") as file:
        file.write(text + "\\n")


class Clock:
    def __init__(self):
        self.now = 0.0
        self.cpu = 0.0
        self.loop = (0.0, 0.0)  # what the calibration loop takes: wall, cpu

    def perf_counter(self):
        return self.now

    def process_time(self):
        return self.cpu

    def take(self, seconds):  # compute: wall and CPU time
        event(f"call {seconds * 1000:g}ms")
        self.now += seconds
        self.cpu += seconds

    def sleep(self, seconds):  # wait: wall time only
        event(f"sleep {seconds * 1000:g}ms")
        self.now += seconds

    def loop_time(self):
        event("loop")
        return self.loop


@pytest.fixture(autouse=True)
def clock(monkeypatch):
    # The modules the plugin runs with now (an in-process run may have imported them afresh).
    measure = importlib.import_module("pytest_perfbudget.measure")
    session = importlib.import_module("pytest_perfbudget.session")  # times a plain call itself
    runner = importlib.import_module("pytest_perfbudget.runner")
    calibration = importlib.import_module("pytest_perfbudget.calibration")
    clock = Clock()
    for module in (measure, session):  # the clocks each binds at import
        monkeypatch.setattr(module, "perf_counter", clock.perf_counter)
        monkeypatch.setattr(module, "process_time", clock.process_time)
    monkeypatch.setattr(runner, "gc", types.SimpleNamespace(collect=lambda: event("gc")))
    monkeypatch.setattr(calibration, "loop_time", clock.loop_time)
    # The reference of `calibration: auto`, as if the session had started on a quiet machine.
    monkeypatch.setattr(calibration._FastestLoop, "seconds", 0.01)
    return clock
"""


def events(run: Runner) -> list[str]:
    path = run.pytester.path / "events.txt"
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


def scripted(run: Runner, body: str) -> None:
    """An inner suite with the fake clock: ``body`` is the test module."""
    run.pytester.makeconftest(FAKE_CLOCK)
    run.pytester.makepyfile(test_timed=body)


# --- garbage collection before a re-measurement --------------------------------------------------


def test_a_test_within_budget_gets_no_collection_and_no_loop(run: Runner) -> None:
    scripted(
        run,
        """
        import pytest

        @pytest.mark.perf_budget(time="100ms", calibration="10ms")
        def test_fast(clock):
            clock.take(0.05)
        """,
    )
    run("--perf-report", "out.json").assert_outcomes(passed=1)
    assert events(run) == ["call 50ms"]
    record = run.record("test_timed.py::test_fast")
    assert "calibration" not in record
    assert "retries" not in record


def test_a_call_a_rounding_over_its_limit_passes_without_a_re_measurement(run: Runner) -> None:
    """Limits are held to the time as the record shows it (6 significant digits): 100.0004 ms is 100 ms."""
    scripted(
        run,
        """
        import pytest

        @pytest.mark.perf_budget(time="100ms", cpu="100ms")
        def test_at_limit(clock):
            clock.take(0.1000004)
        """,
    )
    run("--perf-report", "out.json").assert_outcomes(passed=1)
    assert events(run) == ["call 100ms"]
    assert run.record("test_timed.py::test_at_limit")["metrics"]["time"]["max"] == 0.1


def test_each_re_measurement_follows_a_collection(run: Runner) -> None:
    scripted(
        run,
        """
        import pytest

        @pytest.mark.perf_budget(time="100ms", retries=2, calibration=0)
        def test_slow(clock):
            clock.take(0.2)
        """,
    )
    run("--perf-report", "out.json", "--perf-profile=off").assert_outcomes(failed=1)  # no hot spots call
    assert events(run) == ["call 200ms", "gc", "call 200ms", "gc", "call 200ms"]
    assert "calibration" not in run.record("test_timed.py::test_slow")


def test_without_retries_there_is_no_collection(run_serial: Runner) -> None:
    scripted(
        run_serial,
        """
        import pytest

        @pytest.mark.perf_budget(time="100ms", retries=0, calibration="10ms")
        def test_slow(clock):
            clock.take(0.2)
        """,
    )
    run_serial("--perf-profile=off").assert_outcomes(failed=1)  # no extra call for hot spots
    assert events(run_serial) == ["call 200ms"]


def test_a_count_over_budget_is_not_collected_for(run_serial: Runner) -> None:
    """Counts are exact: a broken ``queries`` or ``memory`` limit fails at once, nothing re-runs."""
    scripted(
        run_serial,
        """
        import pytest

        @pytest.mark.perf_budget(memory="1B", calibration="10ms")
        def test_big(clock):
            clock.take(0.01)
            data = [0] * 100_000
        """,
    )
    run_serial().assert_outcomes(failed=1)
    assert "gc" not in events(run_serial)


# --- calibration on a re-measurement ---------------------------------------------------------------

SLOW_MACHINE = """
import pytest

@pytest.mark.perf_budget(time="100ms", retries=2, {setting})
def test_busy(clock):
    clock.loop = ({loop_wall}, {loop_cpu})
    clock.take(0.13)
"""


def test_a_slower_machine_stretches_the_limit_of_the_re_measurement(run: Runner) -> None:
    scripted(run, SLOW_MACHINE.format(setting='calibration="10ms"', loop_wall=0.015, loop_cpu=0.01))
    run("--perf-report", "out.json").assert_outcomes(passed=1)
    # The loop runs just before and just after the re-measured call, never around the first.
    assert events(run) == ["call 130ms", "gc", "loop", "call 130ms", "loop"]
    record = run.record("test_timed.py::test_busy")
    assert record["retries"] == 1
    assert record["violations"] == []
    assert record["calibration"] == {
        "reference": 0.01,
        "loop": 0.015,
        "loop_cpu": 0.01,
        "busy": 1.0,
        "time_factor": 1.5,
        "cpu_factor": 1.0,
    }


def test_with_calibration_off_the_same_run_fails(run_serial: Runner) -> None:
    scripted(run_serial, SLOW_MACHINE.format(setting="calibration=0", loop_wall=0.015, loop_cpu=0.01))
    run_serial().assert_outcomes(failed=1)
    assert "loop" not in events(run_serial)


def test_the_stretch_is_capped_and_the_message_says_by_how_much(run_serial: Runner) -> None:
    scripted(
        run_serial,
        """
        import pytest

        @pytest.mark.perf_budget(time="100ms", retries=1, calibration="10ms")
        def test_overloaded(clock):
            clock.loop = (0.05, 0.05)
            clock.take(0.25)
        """,
    )
    result = run_serial("--perf-report", "out.json")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "perf budget exceeded in test_timed.py::test_overloaded",
            "  time        250ms > 200ms (100ms x 2.00) (marker)",
            "  (still over budget after 1 re-measurement)",
            "  (the machine ran 5.00x slower than its reference loop: time limits x 2.00)",
        ]
    )
    record = run_serial.record("test_timed.py::test_overloaded")
    assert record["calibration"]["time_factor"] == MAX_FACTOR
    (violation,) = record["violations"]
    assert (violation["limit"], violation["actual"], violation["scale"]) == (0.1, 0.25, 2.0)
    assert "OVER BUDGET test_timed.py::test_overloaded: time 250ms > 200ms (100ms x 2.00)" in output(result)


def test_by_default_the_reference_is_the_fastest_loop_of_the_run(run: Runner) -> None:
    """No setting: the loop at the session's start (10 ms, in the clock fixture) is the reference."""
    scripted(run, SLOW_MACHINE.format(setting="level='error'", loop_wall=0.015, loop_cpu=0.01))
    run("--perf-report", "out.json").assert_outcomes(passed=1)
    assert events(run) == ["call 130ms", "gc", "loop", "call 130ms", "loop"]
    record = run.record("test_timed.py::test_busy")
    assert (record["calibration"]["reference"], record["calibration"]["time_factor"]) == (0.01, 1.5)


def test_a_faster_loop_on_a_re_measurement_becomes_the_reference(run: Runner) -> None:
    """The first re-measurement's loops (5 ms) beat the session's 10 ms: the second is judged by them."""
    scripted(
        run,
        """
        import pytest

        LOOPS = iter([0.005, 0.005, 0.0075])  # set by each call, run by the loop after it

        @pytest.mark.perf_budget(time="100ms", retries=2)
        def test_busy(clock):
            loop = next(LOOPS)
            clock.loop = (loop, loop)
            clock.take(0.12)
        """,
    )
    run("--perf-report", "out.json").assert_outcomes(passed=1)
    record = run.record("test_timed.py::test_busy")
    assert record["retries"] == 2
    assert (record["calibration"]["reference"], record["calibration"]["time_factor"]) == (0.005, 1.25)


def test_a_session_that_measures_times_the_loop_once_before_its_tests() -> None:
    calibration.note_session_start()
    assert calibration.fastest_loop() > 0


def test_a_faster_machine_never_tightens_a_limit(run_serial: Runner) -> None:
    scripted(
        run_serial,
        """
        import pytest

        CALLS = iter([0.13, 0.09])

        @pytest.mark.perf_budget(time="100ms", retries=1, calibration="10ms")
        def test_quick_machine(clock):
            clock.loop = (0.005, 0.005)
            clock.take(next(CALLS))
        """,
    )
    run_serial("--perf-report", "out.json").assert_outcomes(passed=1)
    record = run_serial.record("test_timed.py::test_quick_machine")
    assert record["calibration"]["time_factor"] == 1.0
    assert record["violations"] == []


def test_a_cpu_limit_follows_the_loops_cpu_time_not_its_wait(run_serial: Runner) -> None:
    """A busy core makes the loop wait, which costs no CPU time: cpu limits do not stretch for it."""
    scripted(
        run_serial,
        """
        import pytest

        @pytest.mark.perf_budget(cpu="100ms", retries=1, calibration="10ms")
        def test_cpu_bound(clock):
            clock.loop = (0.02, 0.01)
            clock.take(0.13)
        """,
    )
    result = run_serial("--perf-report", "out.json")
    result.assert_outcomes(failed=1)
    record = run_serial.record("test_timed.py::test_cpu_bound")
    assert (record["calibration"]["time_factor"], record["calibration"]["cpu_factor"]) == (2.0, 1.0)
    (violation,) = record["violations"]
    assert violation["metric"] == "cpu"
    assert "scale" not in violation


def test_a_test_that_mostly_waits_is_stretched_for_its_busy_share_only(run_serial: Runner) -> None:
    """The loop is twice as slow, but 120 of the test's 130 ms are a sleep that no machine lengthens."""
    scripted(
        run_serial,
        """
        import pytest

        @pytest.mark.perf_budget(time="100ms", retries=1, calibration="10ms")
        def test_waits(clock):
            clock.loop = (0.02, 0.02)
            clock.take(0.01)
            clock.sleep(0.12)
        """,
    )
    result = run_serial("--perf-report", "out.json")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "  time        130ms > 108ms (100ms x 1.08) (marker)",
            "  (the machine ran 2.00x slower than its reference loop:"
            " time limits x 1.08 (the test busy 15% of its time))",
        ]
    )
    recorded = run_serial.record("test_timed.py::test_waits")["calibration"]
    assert (recorded["busy"], recorded["time_factor"]) == (0.154, 1.083)


def test_a_pattern_entry_can_turn_calibration_off(run_serial: Runner) -> None:
    scripted(run_serial, SLOW_MACHINE.format(setting="level='error'", loop_wall=0.015, loop_cpu=0.01))
    run_serial.budgets(
        """
        version: 1
        settings:
          calibration: 10ms
        budgets:
          "test_timed.py":
            calibration: 0
        """
    )
    run_serial("--perf-budget", "budgets.yml").assert_outcomes(failed=1)
    assert "loop" not in events(run_serial)


def test_the_file_setting_applies_to_every_test(run_serial: Runner) -> None:
    scripted(run_serial, SLOW_MACHINE.format(setting="level='error'", loop_wall=0.015, loop_cpu=0.01))
    run_serial.budgets("version: 1\nsettings:\n  calibration: 10ms\n")
    run_serial("--perf-budget", "budgets.yml").assert_outcomes(passed=1)
    assert events(run_serial).count("loop") == 2


def test_a_block_limit_is_stretched_too(run_serial: Runner) -> None:
    scripted(
        run_serial,
        """
        import pytest

        @pytest.mark.perf_budget(retries=1, calibration="10ms")
        def test_block(clock, perf):
            clock.loop = (0.015, 0.015)
            with perf.block("load", time="100ms"):
                clock.take(0.13)
        """,
    )
    run_serial().assert_outcomes(passed=1)


# --- calibration against a baseline ------------------------------------------------------------------

AGAINST_BASELINE = """
import pytest

@pytest.mark.perf_budget(retries=1, calibration="10ms")
def test_busy(clock):
    clock.loop = (0.015, 0.01)
    clock.take({seconds})
"""


def _baseline(run: Runner, loop: float | None) -> None:
    """A baseline run of ``test_busy`` at 100 ms, with the calibration loop at ``loop`` there."""
    scripted(run, AGAINST_BASELINE.format(seconds=0.1))
    run("--perf-report", "base.json").assert_outcomes(passed=1)
    document = run.report("base.json")
    document["environment"].pop("calibration", None)
    if loop is not None:
        document["environment"]["calibration"] = loop
    (run.pytester.path / "base.json").write_text(json.dumps(document), encoding="utf-8")
    (run.pytester.path / "events.txt").unlink()


def test_a_slower_machine_stretches_the_baseline_of_the_re_measurement(run: Runner) -> None:
    _baseline(run, loop=0.01)
    scripted(run, AGAINST_BASELINE.format(seconds=0.13))  # 30% over the baseline
    run("--perf-baseline", "base.json", "--perf-report", "out.json").assert_outcomes(passed=1)
    assert events(run) == ["call 130ms", "gc", "loop", "call 130ms", "loop"]
    record = run.record("test_timed.py::test_busy")
    assert record["violations"] == []
    assert record["baseline"]["time"]["scale"] == 1.5
    assert record["calibration"]["baseline_reference"] == 0.01
    assert (record["calibration"]["baseline_time_factor"], record["calibration"]["baseline_cpu_factor"]) == (
        1.5,
        1.0,
    )


def test_without_the_baselines_loop_time_its_values_are_not_stretched(run_serial: Runner) -> None:
    _baseline(run_serial, loop=None)
    scripted(run_serial, AGAINST_BASELINE.format(seconds=0.13))
    result = run_serial("--perf-baseline", "base.json", "--perf-report", "out.json")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["  time        130ms > 120ms (baseline 100ms, +30%) (baseline: base.json)"])
    record = run_serial.record("test_timed.py::test_busy")
    assert "baseline_reference" not in record["calibration"]
    assert "scale" not in record["baseline"]["time"]


def test_a_regression_beyond_the_stretch_fails_and_says_so(run_serial: Runner) -> None:
    _baseline(run_serial, loop=0.01)
    scripted(run_serial, AGAINST_BASELINE.format(seconds=0.25))
    result = run_serial("--perf-baseline", "base.json", "--perf-report", "out.json")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "  time        250ms > 180ms (120ms x 1.50; baseline 100ms, +150%) (baseline: base.json)",
            "  (still over budget after 1 re-measurement)",
            "  (the machine ran 1.50x slower than in the baseline run: the baseline's times x 1.50)",
        ]
    )
    (violation,) = run_serial.record("test_timed.py::test_busy")["violations"]
    assert (violation["kind"], violation["scale"]) == ("regression", 1.5)
    assert violation["limit"] == pytest.approx(0.12)  # as recorded: 100 ms + 20%


OVER_ITS_BUDGET = """
import pytest

@pytest.mark.perf_budget(time="120ms", retries=1, calibration="10ms")
def test_busy(clock):
    clock.loop = (0.015, 0.01)
    clock.take(0.13)
"""


@pytest.mark.parametrize(("loop", "regressed"), [(0.01, False), (None, True)])
def test_compare_stretches_the_baseline_of_a_re_measured_test_as_the_run_would(
    run_serial: Runner, loop: float | None, regressed: bool
) -> None:
    """Offline, the loop recorded around the re-measurement meets the before report's loop time."""
    _baseline(run_serial, loop=loop)
    scripted(run_serial, OVER_ITS_BUDGET)  # 130ms: over 120ms, within 120ms x 1.5 on re-measurement
    run_serial("--perf-report", "out.json").assert_outcomes(passed=1)
    assert "baseline_reference" not in run_serial.record("test_timed.py::test_busy")["calibration"]
    path = run_serial.pytester.path
    arguments = [
        "compare",
        str(path / "base.json"),
        str(path / "out.json"),
        "--format",
        "json",
        "-o",
        "c.json",
    ]
    assert main(arguments) == 0
    record = run_serial.record("test_timed.py::test_busy", "c.json")
    assert bool(record["baseline"]["time"].get("regressed")) is regressed
    if loop is None:  # 130ms > 100ms + 20%, as --perf-baseline judges a baseline without a loop time
        assert "scale" not in record["baseline"]["time"]
        assert "baseline_reference" not in record["calibration"]
    else:
        assert record["baseline"]["time"]["scale"] == 1.5
        assert (
            record["calibration"]["baseline_reference"],
            record["calibration"]["baseline_time_factor"],
        ) == (
            0.01,
            1.5,
        )


@pytest.mark.parametrize(
    ("recorded", "error"),
    [
        ({"reference": 0.01}, "missing 'loop'"),
        (
            {"reference": 0.01, "loop": 0.01, "loop_cpu": 0.01, "busy": 1.5},
            "calibration of t.py::test_a: busy must be between 0 and 1",
        ),
    ],
)
def test_compare_refuses_a_recorded_calibration_it_cannot_use(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], recorded: dict[str, float], error: str
) -> None:
    _reports(tmp_path, after=0.1, calibration=recorded)
    assert main(["compare", str(tmp_path / "before.json"), str(tmp_path / "after.json")]) == EXIT_INPUT
    assert capsys.readouterr().err.endswith(f"after.json: malformed report: {error}\n")


@pytest.mark.parametrize(("busy", "regressed"), [(1.0, False), (0.0, True)])
def test_compare_stretches_for_the_recorded_busy_share(tmp_path: Path, busy: float, regressed: bool) -> None:
    """The loop ran twice as slow: 130ms is within 100ms x 2 + 20% for a busy test, not for a sleep."""
    _reports(
        tmp_path, after=0.13, calibration={"reference": 0.01, "loop": 0.02, "loop_cpu": 0.02, "busy": busy}
    )
    arguments = ["compare", str(tmp_path / "before.json"), str(tmp_path / "after.json"), "--format", "json"]
    assert main([*arguments, "-o", str(tmp_path / "c.json")]) == 0
    (test,) = json.loads((tmp_path / "c.json").read_text(encoding="utf-8"))["tests"]
    assert bool(test["baseline"]["time"].get("regressed")) is regressed


def _reports(path: Path, *, after: float, calibration: dict[str, float]) -> None:
    """before.json (``t.py::test_a`` at 100 ms, loop 10 ms) and after.json (the test at ``after``,
    re-measured with ``calibration``)."""
    for name, test in (
        ("before.json", {"metrics": {"time": {"median": 0.1}}}),
        ("after.json", {"metrics": {"time": {"median": after}}, "calibration": calibration}),
    ):
        document = {
            "schema": "pytest-perfbudget/1",
            "environment": {"calibration": 0.01},
            "tests": [{"nodeid": "t.py::test_a", **test}],
        }
        (path / name).write_text(json.dumps(document), encoding="utf-8")


def test_a_stretched_baseline_is_judged_at_the_machines_speed_now() -> None:
    tolerance = {"time": Tolerance(relative=0.2), "throughput": Tolerance(relative=0.2)}
    before = {"time": {"median": 0.1}, "throughput": 1000.0}
    after = {"time": {"median": 0.17}, "throughput": 600.0}
    plain = compare_metrics(before, after, tolerance=tolerance, noise_floor=0.0, statistic="median")
    assert [change.regressed for change in plain] == [True, True]
    scales = {"time": 1.5, "throughput": 1.5}
    stretched = compare_metrics(
        before, after, tolerance=tolerance, noise_floor=0.0, statistic="median", scales=scales
    )
    assert [change.regressed for change in stretched] == [False, False]  # 170ms <= 180ms, 600/s >= 533/s
    assert [change.limit for change in stretched] == pytest.approx([0.12, 800.0])  # as recorded
    assert [change.to_json()["scale"] for change in stretched] == [1.5, 1.5]


def test_a_stretched_baseline_does_not_turn_a_slow_test_into_an_improvement() -> None:
    (change,) = compare_metrics(
        {"time": {"median": 0.1}},
        {"time": {"median": 0.11}},
        tolerance={"time": Tolerance(relative=0.2)},
        noise_floor=0.0,
        statistic="median",
        scales={"time": 2.0},
    )
    assert not change.regressed
    assert not change.improved


def test_the_significance_test_sees_the_stretched_rounds() -> None:
    before = {"time": {"median": 0.1, "rounds": [0.1, 0.1, 0.1]}}
    after = {"time": {"median": 0.14, "rounds": [0.14, 0.14, 0.14]}}
    options: dict[str, Any] = {"tolerance": {"time": Tolerance(relative=0.2)}, "noise_floor": 0.0}
    (plain,) = compare_metrics(before, after, statistic="median", **options)
    (stretched,) = compare_metrics(before, after, statistic="median", scales={"time": 1.5}, **options)
    assert (plain.significant, stretched.significant) == (True, False)


def test_a_report_without_a_loop_time_gives_no_reference() -> None:
    assert calibration_loop({"environment": {"calibration": 0.008}}) == 0.008
    for document in ({}, {"environment": {}}, {"environment": {"calibration": True}}, {"environment": []}):
        assert calibration_loop(document) is None


# --- the calibration loop and its reference ---------------------------------------------------------


def test_the_report_records_the_machines_loop_time(run: Runner) -> None:
    run.pytester.makepyfile(test_plain="def test_a():\n    pass\n")
    run("--perf-report", "out.json").assert_outcomes(passed=1)
    loop = run.report()["environment"]["calibration"]
    assert isinstance(loop, float)
    assert loop > 0


def test_the_loop_measures_something() -> None:
    wall, cpu = calibration.loop_time()
    assert wall > 0
    assert cpu >= 0


@pytest.mark.parametrize(
    ("loop", "expected"), [(0.005, 1.0), (0.010, 1.0), (0.015, 1.5), (0.020, 2.0), (0.5, MAX_FACTOR)]
)
def test_the_factor_is_kept_between_one_and_the_cap(loop: float, expected: float) -> None:
    assert factor(loop, 0.010) == pytest.approx(expected)


def test_around_a_re_measurement_the_loop_times_are_averaged() -> None:
    found = Calibration.around(0.010, (0.012, 0.010), (0.018, 0.012), spent=(0.1, 0.1, 0.0))
    assert (found.wall, found.cpu, found.busy) == pytest.approx((0.015, 0.011, 1.0))
    assert found.scales() == pytest.approx({"time": 1.5, "sql_time": 1.5, "throughput": 1.5, "cpu": 1.1})


def test_wall_time_limits_stretch_for_the_busy_share_and_sql_time_for_the_loop() -> None:
    found = Calibration(0.010, wall=0.020, cpu=0.020, busy=0.5)
    assert found.scales() == pytest.approx({"time": 4 / 3, "throughput": 4 / 3, "sql_time": 2.0, "cpu": 2.0})


@pytest.mark.parametrize(
    ("spent", "loop", "busy"),
    [
        ((0.1, 0.1, 0.0), (0.01, 0.01), 1.0),  # computes all along
        ((0.1, 0.03, 0.0), (0.01, 0.006), 1.0),  # computes on a core it shares more than the loop did
        ((0.1, 0.0, 0.0), (0.01, 0.01), 0.0),  # sleeps
        ((0.1, 0.01, 0.0), (0.01, 0.01), 0.2),  # sleeps 90% of its time
        ((0.1, 0.01, 0.03), (0.01, 0.01), 0.5),  # and waits for a database 30% of it
        ((0.1, 0.08, 0.08), (0.01, 0.01), 1.0),  # SQL on the CPU counts once at most
        ((0.1, 0.05, 0.0), (0.01, 0.0), 1.0),  # a loop without CPU time tells nothing
    ],
)
def test_the_busy_share_is_twice_the_cpu_over_the_loops_share_plus_the_database(
    spent: tuple[float, float, float], loop: tuple[float, float], busy: float
) -> None:
    assert calibration.busy_share(spent, *loop) == pytest.approx(busy)


@pytest.mark.parametrize(("busy", "expected"), [(1.0, 2.0), (0.0, 1.0), (0.5, 4 / 3), (0.25, 8 / 7)])
def test_the_stretch_follows_amdahls_law(busy: float, expected: float) -> None:
    assert calibration.stretch(2.0, busy) == pytest.approx(expected)


# --- judging against stretched limits ----------------------------------------------------------------


def _metrics(**values: float) -> Metrics:
    return Metrics({name: {"median": value} for name, value in values.items()}, [])


def test_a_maximum_is_multiplied_and_a_floor_divided() -> None:
    limits = [Limit("time", 0.1), Limit("throughput", 1000.0)]
    scales = {"time": 1.5, "throughput": 1.5}
    within = evaluate(
        limits, _metrics(time=0.14, throughput=700.0), default_statistic="median", level="error"
    )
    assert [v.metric for v in within] == ["time", "throughput"]
    stretched = evaluate(
        limits,
        _metrics(time=0.14, throughput=700.0),
        default_statistic="median",
        level="error",
        scales=scales,
    )
    assert stretched == []
    still = evaluate(
        limits,
        _metrics(time=0.16, throughput=600.0),
        default_statistic="median",
        level="error",
        scales=scales,
    )
    assert [(v.metric, v.scale) for v in still] == [("time", 1.5), ("throughput", 1.5)]
    assert [v.to_json()["scale"] for v in still] == [1.5, 1.5]


def test_a_stretched_limit_shows_both_values() -> None:
    assert violation_comparison("time", 0.31, 0.2, scale=1.4) == "310ms > 280ms (200ms x 1.40)"
    assert violation_comparison("throughput", 500.0, 1000.0, scale=2.0) == "500/s < 500/s (1000/s / 2.00)"
    assert violation_comparison("time", 0.31, 0.2) == "310ms > 200ms"
    assert violation_comparison("time", 0.31, 0.24, before=0.2) == "310ms > 240ms (baseline 200ms, +55%)"
    stretched = violation_comparison("time", 0.31, 0.24, before=0.2, scale=1.2)
    assert stretched == "310ms > 288ms (240ms x 1.20; baseline 200ms, +55%)"
    shown = violation_text({"metric": "time", "actual": 0.31, "limit": 0.2, "scale": 1.4})
    assert shown == "time 310ms > 280ms (200ms x 1.40)"


# --- the setting ---------------------------------------------------------------------------------------


def test_the_setting_is_a_time_or_auto_and_zero_turns_it_off() -> None:
    document = parse("version: 1\nsettings:\n  calibration: 12ms\n", "budgets.yml")
    assert document.settings.calibration == pytest.approx(0.012)
    assert parse("version: 1\nsettings:\n  calibration: 0\n", "budgets.yml").settings.calibration is None
    assert parse("version: 1\nsettings:\n  calibration: auto\n", "budgets.yml").settings.calibration == "auto"
    assert parse("version: 1\n", "budgets.yml").settings.calibration == "auto"


def test_a_bad_setting_names_file_and_line() -> None:
    with pytest.raises(Exception, match=r"^budgets.yml:3: 'calibration': .*'-1ms'"):
        parse("version: 1\nsettings:\n  calibration: -1ms\n", "budgets.yml")
    with pytest.raises(BudgetError, match="'calibration': cannot read a time 'fast'"):
        parse_fields({"calibration": ("fast", None)}, source="marker")


def test_a_bad_marker_setting_names_marker_and_test(run_serial: Runner) -> None:
    run_serial.pytester.makepyfile(
        test_bad="""
        import pytest

        @pytest.mark.perf_budget(calibration="fast")
        def test_x():
            pass
        """
    )
    result = run_serial()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "test_bad.py::test_x: perf_budget marker: 'calibration': cannot read a time 'fast'" in output(
        result
    )


def test_init_writes_the_runs_loop_time_as_the_setting() -> None:
    report = {
        "environment": {"calibration": 0.00846},
        "tests": [{"nodeid": "tests/test_a.py::test_a", "metrics": {"time": {"median": 0.01}}}],
    }
    text = budget_file_text(report, source="run.json")
    assert "  calibration: 8.5ms\n" in text
    assert parse(text, "budgets.yml").settings.calibration == pytest.approx(0.0085)


@pytest.mark.parametrize(
    "environment", [{}, {"calibration": None}, {"calibration": 0}, {"calibration": True}]
)
def test_init_without_a_loop_time_writes_no_setting(environment: dict[str, object]) -> None:
    report = {"environment": environment, "tests": []}
    text = budget_file_text(report, source="run.json")
    assert "calibration" not in text
    assert "settings" not in text
    parse(text, "budgets.yml")


# --- stability of rounds ----------------------------------------------------------------------------------

ROUNDS = """
import pytest

CALLS = iter({calls})

@pytest.mark.perf_budget(time="{limit}", rounds=5, retries=0, level="warn")
def test_rounds(clock):
    clock.take(next(CALLS))
"""


def test_rounds_that_straddle_the_limit_are_flagged_unstable(run: Runner) -> None:
    scripted(run, ROUNDS.format(calls=[0.08, 0.1, 0.09, 0.13, 0.085], limit="100ms"))
    result = run("--perf-report", "out.json", "--perf-report", "out.md", "--perf-report", "out.html")
    result.assert_outcomes(passed=1)
    record = run.record("test_timed.py::test_rounds")
    assert record["violations"] == []  # the median, 90 ms, is within
    stability = record["stability"]
    assert (stability["metric"], stability["stable"]) == ("time", False)
    assert stability["rsd"] > 0.1
    assert "rounds: 10" in stability["message"]
    assert "cpu:" in stability["message"]
    result.stdout.fnmatch_lines(["UNSTABLE test_timed.py::test_rounds: time unstable: rounds vary by *"])
    assert run.report()["summary"]["warnings"] == 0  # advice, not a budget outcome
    markdown = (run.pytester.path / "out.md").read_text(encoding="utf-8")
    assert "### Unstable timings (1)" in markdown
    assert "| `test_timed.py::test_rounds` | time | unstable: rounds vary by" in markdown
    html = (run.pytester.path / "out.html").read_text(encoding="utf-8")
    assert '<section id="unstable"><h2>Unstable timings (1)</h2>' in html


@pytest.mark.parametrize(
    ("calls", "why"),
    [
        ([0.02, 0.03, 0.02, 0.04, 0.025], "far under the limit"),
        ([0.2, 0.3, 0.2, 0.4, 0.25], "all over the limit"),
        ([0.09, 0.091, 0.092, 0.093, 0.101], "steady rounds"),
    ],
)
def test_unstable_rounds_away_from_the_limit_are_not_flagged(
    run_serial: Runner, calls: list[float], why: str
) -> None:
    scripted(run_serial, ROUNDS.format(calls=calls, limit="100ms"))
    result = run_serial("--perf-report", "out.json")
    assert "stability" not in run_serial.record("test_timed.py::test_rounds"), why
    assert "UNSTABLE" not in output(result)


def test_a_failure_on_unstable_rounds_says_so(run_serial: Runner) -> None:
    scripted(
        run_serial,
        """
        import pytest

        CALLS = iter([0.08, 0.13, 0.12, 0.14, 0.09])

        @pytest.mark.perf_budget(time="100ms", rounds=5, retries=0)
        def test_rounds(clock):
            clock.take(next(CALLS))
        """,
    )
    result = run_serial()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "perf budget exceeded in test_timed.py::test_rounds",
            "  time        120ms > 100ms *",
            "  (time unstable: rounds vary by *: measure more rounds (rounds: 10) and budget the min, *)",
        ]
    )


def test_a_cpu_limit_gets_advice_without_cpu(run_serial: Runner) -> None:
    scripted(
        run_serial,
        ROUNDS.format(calls=[0.08, 0.1, 0.09, 0.13, 0.085], limit="100ms").replace("time=", "cpu="),
    )
    run_serial("--perf-report", "out.json")
    stability = run_serial.record("test_timed.py::test_rounds")["stability"]
    assert stability["metric"] == "cpu"
    assert "cpu:" not in stability["message"]


def test_rounds_straddling_the_baselines_allowance_are_flagged(run_serial: Runner) -> None:
    scripted(
        run_serial,
        """
        import json
        from pathlib import Path

        import pytest

        CALLS = iter(json.loads(Path(__file__).with_name("calls.json").read_text()))

        @pytest.mark.perf_budget(rounds=5, retries=0, level="warn")
        def test_rounds(clock):
            clock.take(next(CALLS))
        """,
    )
    calls = run_serial.pytester.path / "calls.json"
    calls.write_text("[0.1, 0.15, 0.1, 0.1, 0.1]")
    run_serial("--perf-report", "base.json")
    # Unstable, but nothing judges its time: no limit, no baseline.
    assert "stability" not in run_serial.record("test_timed.py::test_rounds", "base.json")
    calls.write_text("[0.1, 0.15, 0.11, 0.13, 0.1]")  # 20% tolerance: 120 ms regresses
    run_serial("--perf-baseline", "base.json", "--perf-report", "out.json")
    assert run_serial.record("test_timed.py::test_rounds")["stability"]["metric"] == "time"
