"""How long a large budget file takes to read: 100,000 entries of plain limits, and a
"billion laughs" file of nested aliases, which must be refused at once.

Run it from the repository root (it prints figures and asserts nothing):

    .venv/bin/python benchmarks/budget_file.py [--entries 100000] [--repeat 3]

Each command runs in a fresh process, as a user runs it: ``perfbudget check`` on the file, then
pytest with ``--perf-budget`` on one of the 100 test modules the entries name, twice (the first
run reads the YAML and keeps it in pytest's cache, the second reads it from there). The entries
of the other modules are out of the run's scope; the 1,000 of the module run name tests it does
not have, and are reported as stale. Times are wall clock and the
process's CPU time (user + system), medians of ``--repeat`` runs; the machine's load average is
printed with them, since a shared machine stretches the wall clock.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SUITE = "def test_a():\n    pass\n\ndef test_b():\n    pass\n\ndef test_c():\n    pass\n"


def budget_file(entries: int) -> str:
    lines = ["version: 1", "budgets:"]
    for n in range(entries):
        lines += [f'  "tests/test_m{n % 100}.py::test_{n}":', "    time: 200ms", "    queries: 3"]
    return "\n".join(lines) + "\n"


def billion_laughs() -> str:
    levels = ['    - &l0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    levels += [f"    - &l{n} [{', '.join([f'*l{n - 1}'] * 10)}]" for n in range(1, 10)]
    return "version: 1\nsettings:\n  n_plus_one_ignore:\n" + "\n".join(levels) + "\n"


def timed(command: list[str], cwd: Path) -> tuple[float, float, str]:
    """Wall and CPU seconds of ``command`` in a fresh process, and its last line of output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    finished = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    lines = (finished.stdout + finished.stderr).strip().splitlines()
    return wall, cpu, lines[-1] if lines else ""


def report(
    label: str, command: list[str], cwd: Path, repeat: int, before_each: list[str] | None = None
) -> None:
    walls, cpus, last = [], [], ""
    for _ in range(repeat):
        if before_each is not None:
            subprocess.run(before_each, cwd=cwd, capture_output=True, check=False)
        wall, cpu, last = timed(command, cwd)
        walls.append(wall)
        cpus.append(cpu)
    load = os.getloadavg()[0]
    print(
        f"{label:<44} wall {statistics.median(walls):6.2f} s  cpu {statistics.median(cpus):6.2f} s"
        f"  (load {load:.1f})  {last[:60]}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    arguments = parser.parse_args()
    bin_dir = Path(sys.executable).parent
    perfbudget = str(bin_dir / "perfbudget")
    pytest = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:randomly",
        "tests/test_m0.py",
        "--perf-budget=budgets.yml",
    ]
    with tempfile.TemporaryDirectory() as directory:
        cwd = Path(directory)
        (cwd / "budgets.yml").write_text(budget_file(arguments.entries), encoding="utf-8")
        (cwd / "laughs.yml").write_text(billion_laughs(), encoding="utf-8")
        (cwd / "tests").mkdir()
        for module in range(100):
            (cwd / "tests" / f"test_m{module}.py").write_text(SUITE, encoding="utf-8")
        size = (cwd / "budgets.yml").stat().st_size / 1e6
        print(f"{arguments.entries:,} entries, {size:.1f} MB of YAML; PyYAML with libyaml: {has_libyaml()}")
        report("perfbudget check budgets.yml", [perfbudget, "check", "budgets.yml"], cwd, arguments.repeat)
        report(
            "perfbudget check laughs.yml (refused)",
            [perfbudget, "check", "laughs.yml"],
            cwd,
            arguments.repeat,
        )
        clear = [sys.executable, "-c", "import shutil; shutil.rmtree('.pytest_cache', ignore_errors=True)"]
        report("pytest --perf-budget (the YAML read)", pytest, cwd, arguments.repeat, before_each=clear)
        report("pytest --perf-budget (from pytest's cache)", pytest, cwd, arguments.repeat)
        report("pytest (no plugin option, for comparison)", pytest[:-1], cwd, arguments.repeat)


def has_libyaml() -> bool:
    import yaml

    return bool(getattr(yaml, "__with_libyaml__", False))


if __name__ == "__main__":
    main()
