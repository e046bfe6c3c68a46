"""Tests that patch the clocks or use tracemalloc themselves: what the plugin measures stays true.

The plugin keeps its own references to ``perf_counter`` and ``process_time``, and tells a trace
the test broke (tracemalloc stopped, restarted or cleared during the call) from a measured 0.
"""

from __future__ import annotations

import pytest
from perf_helpers import Runner

CLOCK_TEST = """
import itertools
import time

def test_patches_the_clock(monkeypatch):
    fake = itertools.count(1_000_000.0, {step})
    monkeypatch.setattr(time, "{clock}", lambda: next(fake))
    time.{clock}()
"""


@pytest.mark.parametrize(
    ("clock", "step"), [("perf_counter", 100), ("process_time", -100)], ids=["wall-forward", "cpu-backward"]
)
@pytest.mark.parametrize("rounds", [1, 3], ids=["one-call", "rounds"])
def test_a_patched_clock_does_not_change_what_is_measured(
    run: Runner, clock: str, step: int, rounds: int
) -> None:
    """A fake clock 100 s ahead on each call used to fail a 10 s budget, or record -100 s."""
    run.pytester.makepyfile(test_clock=CLOCK_TEST.format(clock=clock, step=step))
    run.budgets(
        f"version: 1\nsettings: {{rounds: {rounds}, retries: 0}}\nbudgets:\n  '**': {{time: 10s, cpu: 10s}}\n"
    )
    result = run("--perf-budget=budgets.yml", "--perf-report=out.json")
    result.assert_outcomes(passed=1)
    metrics = run.record("test_clock.py::test_patches_the_clock")["metrics"]
    for metric in ("time", "cpu"):
        assert 0 <= min(metrics[metric]["rounds"]) <= max(metrics[metric]["rounds"]) < 10


TRACEMALLOC_TEST = """
import tracemalloc

def test_traces_its_own_memory():
    {before}
    data = bytearray(5_000_000)
    {after}
    del data
"""
BROKEN_TRACES = {
    "start-stop": ("tracemalloc.start()", "tracemalloc.stop()"),
    "restart": ("tracemalloc.stop(); tracemalloc.start()", "pass"),
    "clear": ("pass", "tracemalloc.clear_traces()"),
}
NODEID = "test_memory.py::test_traces_its_own_memory"


@pytest.mark.parametrize("broken", sorted(BROKEN_TRACES))
def test_memory_is_not_measured_when_the_test_breaks_the_trace(run: Runner, broken: str) -> None:
    """5 MB over a 1 MB budget used to be recorded as 0 and pass; now it is not measured, said so,
    and the test neither passes the budget silently nor fails it on a guess."""
    before, after = BROKEN_TRACES[broken]
    run.pytester.makepyfile(test_memory=TRACEMALLOC_TEST.format(before=before, after=after))
    run.budgets("version: 1\nbudgets:\n  '**': {memory: 1MB}\n")
    result = run("--perf-budget=budgets.yml", "--perf-report=out.json")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [f"WARNING {NODEID}: memory not measured (limit 1MB; tracemalloc was stopped, restarted or cleared*"]
    )
    record = run.record(NODEID)
    assert "memory" not in record["metrics"]
    assert record["memory_not_measured"].startswith("tracemalloc was stopped")
    [violation] = record["violations"]
    assert (violation["metric"], violation["actual"], violation["level"]) == ("memory", None, "warn")


def test_memory_is_measured_when_the_test_leaves_tracemalloc_alone(run: Runner) -> None:
    run.pytester.makepyfile(test_memory=TRACEMALLOC_TEST.format(before="pass", after="pass"))
    run.budgets("version: 1\nbudgets:\n  '**': {memory: 1MB}\n")
    result = run("--perf-budget=budgets.yml", "--perf-report=out.json")
    result.assert_outcomes(failed=1)
    record = run.record(NODEID)
    assert record["metrics"]["memory"] >= 5_000_000
    assert "memory_not_measured" not in record
