"""What pytest-perfbudget costs, measured side by side in one run (issue 6).

Six parts, each printed as a Markdown table (``--parts`` picks some):

- ``suite``: a generated suite of 2,000 trivial tests run by ``pytest`` in a fresh process per run,
  with the plugin switched off (``-p no:perfbudget``, the reference), installed and idle, active
  with a time budget on every test (without and with a JSON report), active with a memory
  budget on every test, and under ``-n 2`` without and with the plugin active. The
  configurations run interleaved (ABAB..., the order rotating each repetition) after one
  unmeasured warm-up round; each row gives the median wall and CPU time (user + system,
  workers included) and the median of the per-repetition ratios to the reference. Under
  ``-n 2`` the figure is the speed-up over the same configuration run serially.
- ``instructions``: the instructions executed (``valgrind --tool=callgrind``) by runs of 1 and
  of 2,000 trivial tests, off, idle and active (time budgets without and with a JSON report,
  memory budgets): the per-test and fixed costs, and the whole run's ratio, by a count that
  does not move with the machine's load.
- ``xdist``: the speed-up of ``-n 2`` over a serial run, with the plugin active and without it,
  on 1,000 tests that each do a few milliseconds of work (trivial tests cannot show a
  speed-up: starting workers costs more than running them).
- ``sql``: the cost per statement of counting, with and without call sites, on SQLite in
  memory (``benchmarks/sql_overhead.py``: thread CPU time, interleaved batches).
- ``memory``: the slowdown of an allocation-heavy test under a memory budget (tracemalloc),
  and under pytest-memray's ``limit_memory`` marker when pytest-memray is installed; the test
  times its own body, interleaved runs, medians.
- ``reports``: ``benchmarks/reports.py``: writing JSON, Markdown and HTML for 100,000
  synthetic test results, and the ``perfbudget`` commands, merge of 50 shards included,
  each with its peak memory.

Usage, from the repository root::

    .venv/bin/python benchmarks/overhead.py                      # everything, ~25 minutes
    .venv/bin/python benchmarks/overhead.py --parts suite --repeats 9
    .venv/bin/python benchmarks/overhead.py --parts instructions        # needs valgrind, ~6 minutes
    PYTHONPATH=/path/to/other/checkout .venv/bin/python benchmarks/overhead.py   # another version

Figures only: timings depend on the machine and its load, so nothing here asserts a limit.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCHMARKS))

PARTS = ("suite", "instructions", "xdist", "sql", "memory", "reports")
# Plugins that have nothing to do with this comparison stay out of every run, so that the
# reference is as small as it can be and the plugin's share as large. pytest's cache stays on,
# as users have it: an active run reads the budget file's YAML from there (budget_cache.py).
UNRELATED = ("-p", "no:memray", "-p", "no:hypothesispytest")

TIME_BUDGETS = 'version: 1\nbudgets:\n  "**":\n    time: 1s\n'
MEMORY_BUDGETS = 'version: 1\nbudgets:\n  "**":\n    memory: 1GB\n'

# Short name: (what the table calls it, the arguments it adds).
SUITE_CONFIGS: dict[str, tuple[str, tuple[str, ...]]] = {
    "off": ("off (`-p no:perfbudget`)", ("-p", "no:perfbudget")),
    "idle": ("installed, idle", ()),
    "time": ("active, time budget on every test", ("--perf-budget", "time.yml")),
    "time-report": (
        "active, time budgets, JSON report",
        ("--perf-budget", "time.yml", "--perf-report", "report.json"),
    ),
    "memory": ("active, memory budget on every test", ("--perf-budget", "memory.yml")),
    "off-n2": ("off, `-n 2`", ("-p", "no:perfbudget", "-n", "2")),
    "time-n2": ("active, time budgets, `-n 2`", ("--perf-budget", "time.yml", "-n", "2")),
}
# What each configuration is compared with, and the serial one a -n 2 speed-up is over.
REFERENCES = {"off-n2": "off-n2", "time-n2": "off-n2"}
SPEED_UPS = {"off-n2": "off", "time-n2": "time"}


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_timed(command: Sequence[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall and CPU seconds of ``command`` (its waited-for children included); it must succeed."""
    cpu = children_cpu()
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(
            f"failed ({done.returncode}): {' '.join(command)}\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
        )
    return wall, children_cpu() - cpu


# --- the suite of trivial tests ------------------------------------------------------------


def users_environment() -> dict[str, str]:
    """This environment, with Python's bytecode cache on, as users have it.

    Some machines set ``PYTHONDONTWRITEBYTECODE``; the plugin, installed in editable mode, would
    then be compiled from source in every run, a cost no user's run pays. The warm-up round
    writes the cache.
    """
    return {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}


def make_suite(directory: Path, tests: int, per_module: int = 50, work: str = "pass") -> None:
    """``tests`` tests whose body is ``work``, 50 to a module, and the budget files."""
    (directory / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    (directory / "time.yml").write_text(TIME_BUDGETS, encoding="utf-8")
    (directory / "memory.yml").write_text(MEMORY_BUDGETS, encoding="utf-8")
    package = directory / "tests"
    package.mkdir()
    for module in range(-(-tests // per_module)):
        count = min(per_module, tests - module * per_module)
        body = "".join(f"def test_{index}():\n    {work}\n\n\n" for index in range(count))
        (package / f"test_mod{module}.py").write_text(body, encoding="utf-8")


def suite(tests: int, repeats: int, only: Sequence[str] = ()) -> None:
    print(f"\n### A suite of {tests:,} trivial tests ({repeats} interleaved repetitions, medians)\n")
    names = [name for name in SUITE_CONFIGS if not only or name in only or name == "off"]
    names += [REFERENCES[name] for name in names if REFERENCES.get(name, "off") not in names]
    with tempfile.TemporaryDirectory() as directory_name:
        directory = Path(directory_name)
        make_suite(directory, tests)
        base = [sys.executable, "-m", "pytest", "-q", *UNRELATED]
        env = users_environment()
        walls: dict[str, list[float]] = {name: [] for name in names}
        cpus: dict[str, list[float]] = {name: [] for name in names}
        for repetition in range(repeats + 1):  # the first round warms caches up and is not kept
            shift = repetition % len(names)
            for name in names[shift:] + names[:shift]:
                wall, cpu = run_timed([*base, *SUITE_CONFIGS[name][1]], directory, env)
                if repetition:
                    walls[name].append(wall)
                    cpus[name].append(cpu)
            print(f"  repetition {repetition}/{repeats} done", file=sys.stderr, flush=True)

    def ratio(values: dict[str, list[float]], name: str, reference: str) -> float:
        return median([a / b for a, b in zip(values[name], values[reference], strict=True)])

    print("| configuration | wall | CPU | wall, relative | CPU, relative | speed-up of `-n 2` |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in names:
        reference = REFERENCES.get(name, "off")
        relative = "" if name == reference else f" (vs {SUITE_CONFIGS[reference][0]})" * (reference != "off")
        speed_up = ""
        if name in SPEED_UPS and SPEED_UPS[name] in names:
            speed_up = f"{ratio(walls, SPEED_UPS[name], name):.2f}x"
        wall_ratio = "" if name == reference else f"{ratio(walls, name, reference) - 1:+.1%}{relative}"
        cpu_ratio = "" if name == reference else f"{ratio(cpus, name, reference) - 1:+.1%}"
        print(
            f"| {SUITE_CONFIGS[name][0]} | {median(walls[name]):.2f} s | {median(cpus[name]):.2f} s "
            f"| {wall_ratio} | {cpu_ratio} | {speed_up} |"
        )
    print(
        "\nRelative: the median of the per-repetition ratios to the plugin switched off (under "
        "`-n 2`, to `-n 2` switched off). CPU: user + system of pytest and its workers."
    )


# --- instruction counts -------------------------------------------------------------------

INSTRUCTION_CONFIGS = ("off", "idle", "time", "time-report", "memory")


def instructions_of(command: Sequence[str], cwd: Path, env: dict[str, str]) -> int:
    """Instructions ``command`` executes under callgrind: the same count whatever the load."""
    done = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or found is None:
        sys.exit(f"callgrind failed ({done.returncode}): {' '.join(command)}\n{done.stderr[-3000:]}")
    return int(found.group(1))


def instructions(tests: int) -> None:
    """Off, idle and active (a time budget on every test, without and with a JSON report, and a
    memory budget on every test) on 1 and ``tests`` trivial tests.

    Counted, not timed: on a shared VM whole runs swing by 20% from one to the next, an
    instruction count not at all. Hash randomization is fixed (``PYTHONHASHSEED=0``), which
    makes the counts repeatable to the instruction; each command runs once before it is
    counted, so that the bytecode cache is written.
    """
    if shutil.which("valgrind") is None:
        print("\n(valgrind is not installed: the instruction counts are left out)")
        return
    print(f"\n### Instructions executed: 1 and {tests:,} trivial tests (callgrind)\n")
    env = {**users_environment(), "PYTHONHASHSEED": "0"}
    counts: dict[tuple[str, int], int] = {}
    with tempfile.TemporaryDirectory() as directory_name:
        for size in (1, tests):
            directory = Path(directory_name) / str(size)
            directory.mkdir()
            make_suite(directory, size)
            for name in INSTRUCTION_CONFIGS:
                command = [sys.executable, "-m", "pytest", "-q", *UNRELATED, *SUITE_CONFIGS[name][1]]
                run_timed(command, directory, env)
                counts[name, size] = instructions_of(command, directory, env)
                print(f"  {name}, {size} tests counted", file=sys.stderr, flush=True)
    print(
        f"| configuration | 1 test | {tests:,} tests | per test | fixed, over off | {tests:,} tests, over off |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    off_per_test = (counts["off", tests] - counts["off", 1]) / (tests - 1)
    for name in INSTRUCTION_CONFIGS:
        per_test = (counts[name, tests] - counts[name, 1]) / (tests - 1)
        cells = [
            f"{counts[name, 1] / 1e6:,.0f} M",
            f"{counts[name, tests] / 1e6:,.0f} M",
            f"{per_test / 1e6:.3f} M",
        ]
        if name == "off":
            cells += ["", ""]
        else:
            fixed = counts[name, 1] - counts["off", 1]
            total = counts[name, tests] / counts["off", tests] - 1
            cells += [
                f"{fixed / 1e6:+,.0f} M ({per_test / off_per_test - 1:+.1%} per test)",
                f"{total:+.1%}",
            ]
        print(f"| {SUITE_CONFIGS[name][0]} | {' | '.join(cells)} |")


# --- xdist ------------------------------------------------------------------------------------

XDIST_CONFIGS = ("off", "off-n2", "time", "time-n2")
WORK = "sum(range(300_000))"  # a few milliseconds of CPU per test on the machine described


def xdist(tests: int, repeats: int) -> None:
    """The speed-up of ``-n 2`` with the plugin active and without it, on tests that do some work.

    Trivial tests cannot show it: starting two workers costs more than running them. Here each
    test does a few milliseconds of CPU work, so that ``-n 2`` can pay off on two cores.
    """
    print(f"\n### `-n 2` on {tests:,} tests of `{WORK}` ({repeats} interleaved repetitions, medians)\n")
    walls: dict[str, list[float]] = {name: [] for name in XDIST_CONFIGS}
    with tempfile.TemporaryDirectory() as directory_name:
        directory = Path(directory_name)
        make_suite(directory, tests, work=WORK)
        env = users_environment()
        for repetition in range(repeats + 1):
            shift = repetition % len(XDIST_CONFIGS)
            for name in XDIST_CONFIGS[shift:] + XDIST_CONFIGS[:shift]:
                command = [sys.executable, "-m", "pytest", "-q", *UNRELATED, *SUITE_CONFIGS[name][1]]
                wall, _ = run_timed(command, directory, env)
                if repetition:
                    walls[name].append(wall)
            print(f"  repetition {repetition}/{repeats} done", file=sys.stderr, flush=True)
    speed_ups = {
        configuration: [
            serial / parallel
            for serial, parallel in zip(walls[configuration], walls[f"{configuration}-n2"], strict=True)
        ]
        for configuration in ("off", "time")
    }
    print("| configuration | serial | `-n 2` | speed-up, median | speed-up, range |")
    print("|---|---:|---:|---:|---:|")
    for configuration, label in (
        ("off", "off (`-p no:perfbudget`)"),
        ("time", "active, time budget on every test"),
    ):
        ratios = speed_ups[configuration]
        print(
            f"| {label} | {median(walls[configuration]):.2f} s | {median(walls[configuration + '-n2']):.2f} s "
            f"| {median(ratios):.2f}x | {min(ratios):.2f}x–{max(ratios):.2f}x |"
        )


# --- SQL ------------------------------------------------------------------------------------


def sql(repeats: int, batch: int) -> None:
    import sql_overhead

    print(f"\n### SQL on SQLite in memory (thread CPU time, {repeats} interleaved batches of {batch})\n")
    print("| workload | plain | counted | counted + call site | cursor event, for comparison |")
    print("|---|---:|---:|---:|---:|")
    engine = sql_overhead.make_engine()
    sql_overhead.SqlInstrumentation(BENCHMARKS.parent).ensure_installed()
    for title, workload in (
        ("Core `connection.execute`", sql_overhead.core),
        ("ORM `session.execute`", sql_overhead.orm),
    ):
        figures = sql_overhead.measure(engine, workload, batch, repeats)
        plain = figures["plain"]
        cells = [f"{plain * 1e6:.2f} µs"] + [
            f"+{(figures[name] - plain) * 1e6:.2f} µs"
            for name in ("counted", "counted + call site", "cursor event")
        ]
        print(f"| {title} | {' | '.join(cells)} |")
    print("\nPer statement: the best of the batches (the least disturbed), over plain SQLAlchemy.")


# --- memory tracing ---------------------------------------------------------------------------

ALLOCATING_TEST = """
import os
import time

import pytest


@pytest.mark.limit_memory("1 GB")  # pytest-memray's marker; inert where pytest-memray is off
def test_allocations():
    start = time.perf_counter()
    for _ in range(5):
        rows = [{"index": index, "name": str(index)} for index in range(100_000)]
        del rows
    elapsed = time.perf_counter() - start
    with open(os.environ["OVERHEAD_OUT"], "w") as out:
        out.write(repr(elapsed))
"""


def memray_installed() -> bool:
    done = subprocess.run([sys.executable, "-c", "import pytest_memray"], capture_output=True, check=False)
    return done.returncode == 0


def memory(repeats: int) -> None:
    print(f"\n### Memory tracing: an allocation-heavy test ({repeats} interleaved repetitions, medians)\n")
    other = (
        "-p",
        "no:cacheprovider",
        "-p",
        "no:hypothesispytest",
        "-W",
        "ignore::pytest.PytestUnknownMarkWarning",
    )
    configs: dict[str, tuple[str, ...]] = {
        "plain (-p no:perfbudget, no memray)": ("-p", "no:perfbudget", "-p", "no:memray"),
        "perfbudget, memory budget": ("--perf-budget", "memory.yml", "-p", "no:memray"),
    }
    if memray_installed():
        configs["pytest-memray, limit_memory"] = ("-p", "no:perfbudget")
    else:
        print("(pytest-memray is not installed: its row is left out)\n")
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        (directory / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
        (directory / "memory.yml").write_text(MEMORY_BUDGETS, encoding="utf-8")
        (directory / "test_alloc.py").write_text(ALLOCATING_TEST, encoding="utf-8")
        out = directory / "elapsed.txt"
        env = {**os.environ, "OVERHEAD_OUT": str(out)}
        names = list(configs)
        bodies: dict[str, list[float]] = {config: [] for config in names}
        for repetition in range(repeats + 1):
            shift = repetition % len(names)
            for config in names[shift:] + names[:shift]:
                run_timed([sys.executable, "-m", "pytest", "-q", *other, *configs[config]], directory, env)
                if repetition:
                    bodies[config].append(float(out.read_text(encoding="utf-8")))
    reference = names[0]
    print("| configuration | test body | slowdown |")
    print("|---|---:|---:|")
    for config in names:
        slowdown = median([a / b for a, b in zip(bodies[config], bodies[reference], strict=True)])
        print(f"| {config} | {median(bodies[config]) * 1000:.0f} ms | {slowdown:.2f}x |")


# --- reports ------------------------------------------------------------------------------------


def reports(tests: int, shards: int) -> None:
    print(f"\n### Reports for {tests:,} synthetic tests\n")
    sys.stdout.flush()
    subprocess.run(
        [sys.executable, str(BENCHMARKS / "reports.py"), "--tests", str(tests), "--shards", str(shards)],
        check=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, of {', '.join(PARTS)}")
    parser.add_argument("--repeats", type=int, default=7, help="repetitions of the suite and memory runs")
    parser.add_argument("--tests", type=int, default=2000, help="tests in the generated suites")
    parser.add_argument("--xdist-tests", type=int, default=1000, help="tests in the xdist suite")
    parser.add_argument(
        "--configs",
        default="",
        help=f"suite configurations to run, of {', '.join(SUITE_CONFIGS)} (default: all)",
    )
    parser.add_argument("--sql-batches", type=int, default=200, help="interleaved batches per SQL set-up")
    parser.add_argument("--sql-batch", type=int, default=200, help="statements per SQL batch")
    parser.add_argument("--report-tests", type=int, default=100_000)
    parser.add_argument("--shards", type=int, default=50)
    arguments = parser.parse_args(argv)
    parts = [part.strip() for part in arguments.parts.split(",") if part.strip()]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        parser.error(f"unknown parts: {', '.join(unknown)}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {load:.1f} at the start")
    if "suite" in parts:
        only = [config.strip() for config in arguments.configs.split(",") if config.strip()]
        suite(arguments.tests, arguments.repeats, only)
    if "instructions" in parts:
        instructions(arguments.tests)
    if "xdist" in parts:
        xdist(arguments.xdist_tests, arguments.repeats)
    if "sql" in parts:
        sql(arguments.sql_batches, arguments.sql_batch)
    if "memory" in parts:
        memory(arguments.repeats)
    if "reports" in parts:
        reports(arguments.report_tests, arguments.shards)
    return 0


if __name__ == "__main__":
    sys.exit(main())
