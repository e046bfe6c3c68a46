"""How fast the reports are for a large suite: 100,000 synthetic test records.

Run it from the repository root (it prints figures and asserts nothing):

    .venv/bin/python benchmarks/reports.py [--tests 100000] [--shards 50] [--repeat 1] [--only-merge]

It times, in one process, the JSON, Markdown and HTML rendering of a run
compared with a baseline; then, each in a fresh process as a user runs
them, ``perfbudget report`` (.md and .html), ``perfbudget compare`` and
``perfbudget merge`` of the run split into shards, with their peak
resident memory. Targets: under 2 s each and under 500 MB peak. ``--only-merge``
generates the run and times ``perfbudget merge`` alone; ``--repeat`` times each
command that many times (the machine's load average is printed with each).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pytest_perfbudget import cli
from pytest_perfbudget.metrics import distribution
from pytest_perfbudget.reports import html, json_report, markdown

ROUNDS = 5


def _timing(rng: random.Random, center: float) -> dict[str, Any]:
    """As the plugin stores a timing: rounds and statistics to 6 significant digits."""
    return distribution([center * rng.uniform(0.9, 1.2) for _ in range(ROUNDS)])


def synthetic_record(index: int, rng: random.Random, slower: float = 1.0) -> dict[str, Any]:
    """A realistic record: five rounds, SQL counts, a violation in 2% and an N+1 in 1% of tests."""
    module, test = divmod(index, 20)
    nodeid = f"tests/pkg{module // 100}/test_mod{module}.py::test_case_{test}[param-{index % 7}]"
    center = rng.lognormvariate(-5, 1.2) * slower
    queries = rng.choice((0, 0, 0, 1, 2, 3, 5, 12))
    record: dict[str, Any] = {
        "nodeid": nodeid,
        "file": nodeid.partition("::")[0],
        "line": 10 + test * 7,
        "outcome": "passed",
        "metrics": {
            "time": _timing(rng, center),
            "cpu": _timing(rng, center * 0.8),
            "queries": queries,
            "sql_time": round(queries * 0.0004, 6),
            "n_plus_one": 0,
        },
        "budgets": {"time": {"limit": 0.5, "source": "budgets.yml:4", "statistic": "median"}},
        "violations": [],
        "n_plus_one": [],
    }
    if index % 10 == 0:
        record["metrics"]["memory"] = rng.randrange(10_000, 50_000_000)
    if index % 50 == 0:
        record["outcome"] = "failed"
        record["violations"].append(
            {
                "metric": "queries",
                "kind": "budget",
                "limit": 3,
                "actual": 52,
                "level": "error",
                "source": "budgets.yml:9",
            }
        )
    if index % 100 == 0:
        record["metrics"]["n_plus_one"] = 1
        record["n_plus_one"].append(
            {
                "statement": "SELECT addresses.id, addresses.email FROM addresses WHERE ? = addresses.user_id",
                "count": 50,
                "call_site": f"app/module{module}.py:42",
                "function": "load_addresses",
            }
        )
    return record


def synthetic_run(tests: int, seed: int, slower: float = 1.0) -> dict[str, Any]:
    rng = random.Random(seed)
    environment = {"python": "3.12.4", "platform": "Linux", "cpu": "synthetic", "workers": 0}
    records = [synthetic_record(index, rng, slower if index % 3 == 0 else 1.0) for index in range(tests)]
    return json_report.document(environment, records, [])


def peak_mb() -> float:
    """Peak resident memory of this process so far (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(label: str, action: Callable[[], Any]) -> Any:
    gc.collect()
    start = time.perf_counter()
    result = action()
    elapsed = time.perf_counter() - start
    size = f"{len(result) / 1e6:7.1f} MB" if isinstance(result, str) else " " * 10
    print(f"{label:<44} {elapsed:6.2f} s {size}", flush=True)
    return result


# Runs one perfbudget command in a fresh interpreter and reports its own peak memory. VmHWM, not
# ru_maxrss: Linux carries ru_maxrss over from the parent across fork and exec.
COMMAND = """
import re, sys
from pytest_perfbudget.cli import main
status = main(sys.argv[1:])
with open("/proc/self/status", encoding="ascii") as status_file:
    print(re.search(r"VmHWM:\\s*(\\d+)", status_file.read()).group(1), file=sys.stderr)
sys.exit(status)
"""


def command(label: str, *argv: str, repeat: int = 1) -> None:
    """Time ``perfbudget ARGV`` as a user runs it: reading the files, rendering, writing."""
    for _ in range(repeat):
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", COMMAND, *argv], capture_output=True, text=True, check=False
        )
        elapsed = time.perf_counter() - start
        peak = int(done.stderr.strip().splitlines()[-1]) / 1024
        load = os.getloadavg()[0]
        print(
            f"{label:<44} {elapsed:6.2f} s   peak {peak:5.0f} MB   exit {done.returncode}   load {load:.2f}",
            flush=True,
        )


# Writes one report as the plugin does at the end of a run, in a fresh interpreter that holds the
# run's records and the baseline (as a run with --perf-baseline does): the document is built from
# the records, rendered and written atomically. For a JSON report the run encodes each record as
# it arrives; that is timed apart, per test. The peak is reset once the records are loaded
# (/proc/self/clear_refs), so that it is the report's own on top of what the run holds.
WRITE = """
import json, re, sys, time
from pathlib import Path
from pytest_perfbudget.reports import gc_paused, json_report, render_chunks, write_atomically
directory, suffix = Path(sys.argv[1]), sys.argv[2]
compared = json.loads((directory / "compared.json").read_text(encoding="utf-8"))
before = json.loads((directory / "before.json").read_text(encoding="utf-8"))
records = compared.pop("tests")
encoded = None
per_test = 0.0
if suffix == ".json":
    start = time.perf_counter()
    encoded = json_report.EncodedTests()
    for record in records:
        encoded.add(record)
    per_test = (time.perf_counter() - start) / len(records)

def status(key):
    with open("/proc/self/status", encoding="ascii") as file:
        return int(re.search(key + r":\\s*(\\d+)", file.read()).group(1)) / 1024

try:
    with open("/proc/self/clear_refs", "w", encoding="ascii") as file:
        file.write("5")
except OSError:
    pass
held = status("VmRSS")
start = time.perf_counter()
with gc_paused():
    document = json_report.document(compared["environment"], records, compared["warnings"], compared["baseline"])
    write_atomically(directory / ("written" + suffix), render_chunks(suffix, document, before, encoded))
print(time.perf_counter() - start, held, status("VmHWM"), per_test)
"""


def write_report(suffix: str, directory: Path) -> None:
    """Time writing a report at the end of a run; its peak memory, and what the run held."""
    done = subprocess.run(
        [sys.executable, "-c", WRITE, str(directory), suffix], capture_output=True, text=True, check=True
    )
    elapsed, held, peak, per_test = (float(value) for value in done.stdout.split())
    label = f"write {suffix} at the end of a run"
    print(f"{label:<44} {elapsed:6.2f} s   peak {peak:5.0f} MB   ({held:.0f} MB held by the run)", flush=True)
    if per_test:
        print(f"{'  + encoding each test as it arrives':<44} {per_test * 1e6:6.1f} µs per test", flush=True)


def render_all(tests: int, directory: Path) -> None:
    """Generate a baseline and a run, compare them, render the comparison; write the files."""
    before = timed("generate baseline", lambda: synthetic_run(tests, seed=1))
    after = timed("generate run", lambda: synthetic_run(tests, seed=2, slower=1.5))
    compared = timed(
        "compare (compare.annotate)", lambda: cli.compare_documents(before, after, source="main.json")
    )
    timed("render JSON (json_report.render)", lambda: json_report.render(compared))
    timed("render Markdown", lambda: markdown.render(compared, before=before))
    timed("render HTML", lambda: html.render(compared, before=before))
    print(f"peak resident memory of this process: {peak_mb():.0f} MB (three documents held)")
    for name, data in (("before", before), ("run", after), ("compared", compared)):
        (directory / f"{name}.json").write_text(json_report.render(data), encoding="utf-8")


def write_shards(directory: Path, shards: int) -> list[str]:
    run = json.loads((directory / "run.json").read_text(encoding="utf-8"))
    tests = run["tests"]
    size = -(-len(tests) // shards)
    paths = []
    for number in range(shards):
        part = json_report.document(run["environment"], tests[number * size : (number + 1) * size], [])
        path = directory / f"shard-{number}.json"
        path.write_text(json_report.render(part), encoding="utf-8")
        paths.append(str(path))
    return paths


def main(argv: list[str] | None = None) -> int:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--tests", type=int, default=100_000)
    options.add_argument("--shards", type=int, default=50)
    options.add_argument("--repeat", type=int, default=1, help="time each perfbudget command this many times")
    options.add_argument("--only-merge", action="store_true", help="time perfbudget merge alone")
    arguments = options.parse_args(argv)
    repeat = arguments.repeat
    print(f"{arguments.tests:,} tests, {ROUNDS} rounds each; Python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        if arguments.only_merge:
            run = timed("generate run", lambda: synthetic_run(arguments.tests, seed=2, slower=1.5))
            (directory / "run.json").write_text(json_report.render(run), encoding="utf-8")
            del run
            shards = write_shards(directory, arguments.shards)
            command(
                f"merge {arguments.shards} shards", "merge", *shards, "-o", f"{name}/all.json", repeat=repeat
            )
            return 0
        print("-- in one process, documents in memory")
        render_all(arguments.tests, directory)
        shards = write_shards(directory, arguments.shards)
        print("-- reports written by the plugin, each in a fresh process holding the run's records")
        for suffix in (".json", ".md", ".html"):
            write_report(suffix, directory)
        print("-- perfbudget commands, each in a fresh process (reading and writing files)")
        compared, before = str(directory / "compared.json"), str(directory / "before.json")
        command(
            "report compared.json -o report.md",
            "report",
            compared,
            "--baseline",
            before,
            "-o",
            f"{name}/r.md",
            repeat=repeat,
        )
        command(
            "report compared.json -o report.html",
            "report",
            compared,
            "--baseline",
            before,
            "-o",
            f"{name}/r.html",
            repeat=repeat,
        )
        command("compare before.json run.json --format json", "compare", before, f"{name}/run.json", "--format",
                "json", "-o", f"{name}/c.json", repeat=repeat)  # fmt: skip
        command(f"merge {arguments.shards} shards", "merge", *shards, "-o", f"{name}/all.json", repeat=repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
