"""Noise study: how often time budgets fail on noise alone, and how often they catch a real slowdown.

Runs the sample suite in ``benchmarks/noise_suite`` through the plugin, exactly as a user would
(``python -m pytest benchmarks/noise_suite --perf-budget B.yml --perf-report R.json``), and prints
Markdown tables:

1. reference: M quiet runs per rounds setting; their per-test medians set the budgets, and each is
   a quiet baseline report for ``--perf-baseline``;
2. noise (``--parts noise``): N repetitions, quiet and with a CPU hog (a spinning subprocess pinned
   to the last core), of every setting with budgets at k x the quiet median (k = 1.2, 1.5, 2) and
   against a quiet baseline (tolerance 20%): every failure is a false failure;
3. slowdown (``--parts slowdown``): S repetitions (quiet, or also under the hog with
   ``--slowdown-conditions quiet,hog``) with every test slowed by 1.25x, 1.5x, 2x or 3x (rotating,
   so each test gets each factor), counting how many slowed tests fail.

Settings compared side by side (``--configs``, see :data:`CONFIGS`): rounds, retries, statistic,
the metric budgeted (``time`` or ``cpu``; sleep tests get no ``cpu:`` budget, a wait uses no CPU),
and whether the budget file has the ``calibration`` setting (the median ``environment.calibration``
of the quiet reference runs), so that the plugin itself stretches the limits of a re-measurement.
Every retry is preceded by the plugin's ``gc.collect()``; ``-nogc`` settings switch that off (through
``PERF_NOISE_NO_GC``, read by the suite's conftest) to see what it is worth.

Without retries the plugin's verdict is a pure function of the measured statistic, so one run per
repetition serves every k and the baseline: the plugin judges the budget at one k (by turns) and
the baseline, the other k are judged offline by the same rule (the tables end with how often that
rule gave the plugin's own verdict). With retries, each k of ``--ks`` and the baseline get a run of
their own, since re-measurement depends on the limit. A baseline with 3 rounds or more on both
sides is judged by the plugin with its significance test (``judge_regression``), and offline too.

Usage::

    python benchmarks/noise.py --quick                  # a few minutes
    python benchmarks/noise.py -n 7 --slowdown-n 8 --snapshot REV --out DIR   # docs/noise.md
    python benchmarks/noise.py --tables-only --out DIR  # the tables again from DIR/runs.jsonl
    python benchmarks/noise.py --append --parts noise --conditions hog --ks 1.5 --configs NAME -n 20 --out DIR

``--snapshot REV`` measures the plugin as committed at REV (exported with ``git archive``), or as it
is in the working tree now with ``--snapshot worktree``, so edits to the working tree during a long
run do not change what is measured. ``--append`` adds runs to DIR/runs.jsonl with its reference runs.

Figures only: nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pytest_perfbudget.significance import judge_regression  # noqa: E402
from pytest_perfbudget.stats import statistic  # noqa: E402

SUITE = "benchmarks/noise_suite"
MODULE = f"{SUITE}/test_noise.py"
CALIBRATION = "test_calibration"
SLOWDOWN_VARIABLE = "PERF_NOISE_SLOWDOWN"
NO_GC_VARIABLE = "PERF_NOISE_NO_GC"
KS = (1.2, 1.5, 2.0)
FACTORS = (1.25, 1.5, 2.0, 3.0)
TOLERANCE = 0.2
TOLERANCES = (0.2, 0.5, 1.0)
SIGNIFICANCE_ROUNDS = 3  # as pytest_perfbudget.compare: rounds on both sides for a significance test
NOISE_FLOOR = 0.001
HOG = "import os, sys; os.sched_setaffinity(0, {int(sys.argv[1])})\nwhile True: pass"


@dataclass(frozen=True)
class Config:
    rounds: int
    retries: int
    statistic: str
    metric: str  # time or cpu
    # ``reference``: the budget file sets ``calibration`` to the quiet reference loop, so retries
    # follow the machine; ``off``: ``calibration: 0``; ``auto``: no setting, the plugin's default
    # (the fastest loop of the run itself, for plugins that have it).
    calibration: str = "off"
    gc: bool = True  # the plugin collects garbage before a retry (off: PERF_NOISE_NO_GC)

    def judges(self, test: str) -> bool:
        """A cpu budget on a test that sleeps limits nothing it does."""
        return test != CALIBRATION and not (self.metric == "cpu" and test.startswith("test_sleep"))


CONFIGS = {
    "single": Config(1, 0, "median", "time"),
    "retries": Config(1, 2, "median", "time"),
    "retries-nogc": Config(1, 2, "median", "time", gc=False),
    "retries-cal": Config(1, 2, "median", "time", calibration="reference"),
    "defaults": Config(1, 2, "median", "time", calibration="auto"),
    "r5-min": Config(5, 0, "min", "time"),
    "r5-median": Config(5, 0, "median", "time"),
    "r5-min-retries": Config(5, 2, "min", "time"),
    "r5-min-retries-cal": Config(5, 2, "min", "time", calibration="reference"),
    "r5-min-defaults": Config(5, 2, "min", "time", calibration="auto"),
    "r5-median-retries": Config(5, 2, "median", "time"),
    "cpu": Config(1, 0, "median", "cpu"),
    "cpu-retries": Config(1, 2, "median", "cpu"),
}
DEFAULT_CONFIGS = "retries,retries-cal,r5-min,r5-median-retries,r5-min-retries-cal,cpu,cpu-retries"

Run = dict[str, Any]
Judge = Callable[[Run, Config, str], bool]  # did this run fail this test?
Keep = Callable[[Run, str], bool]
Rule = Callable[[str], Judge | None]  # a judgement (k=1.5 or baseline) to a verdict, if it applies

# --- running the suite ------------------------------------------------------------------


def _busy_jiffies() -> tuple[int, int]:
    """(busy, total) CPU jiffies of the whole machine, from /proc/stat."""
    with open("/proc/stat", encoding="ascii") as file:
        values = [int(v) for v in file.readline().split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def run_suite(
    work: Path,
    label: str,
    *,
    tree: Path,
    rounds: int,
    budget: str | None,
    baseline: Path | None,
    slowdown: dict[str, float],
    gc: bool = True,
) -> dict[str, Any]:
    """One pytest run in ``tree`` (the plugin imported from there); returns its per-test rounds and
    violations, and the machine's load.
    """
    report = work / f"{label}.json"
    command = [sys.executable, "-m", "pytest", SUITE, f"--perf-report={report}", "-p", "no:cacheprovider"]
    command += ["-p", "no:hypothesispytest", "-q", "--rootdir", str(tree), "--perf-rounds", str(rounds)]
    if budget is not None:
        (work / f"{label}.yml").write_text(budget, encoding="utf-8")
        command += [f"--perf-budget={work / f'{label}.yml'}"]
    if baseline is not None:
        command += [f"--perf-baseline={baseline}"]
    env = {**os.environ, SLOWDOWN_VARIABLE: json.dumps(slowdown), NO_GC_VARIABLE: "" if gc else "1"}
    busy0, total0 = _busy_jiffies()
    children0 = os.times()
    start = time.perf_counter()
    done = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    busy1, total1 = _busy_jiffies()
    children1 = os.times()
    if done.returncode not in (0, 1):
        raise RuntimeError(f"{' '.join(command)} exited {done.returncode}:\n{done.stdout}{done.stderr}")
    own = children1.children_user + children1.children_system
    own -= children0.children_user + children0.children_system
    tests = {}
    document = json.loads(report.read_text(encoding="utf-8"))
    for test in document["tests"]:
        metrics = test["metrics"]
        tests[test["nodeid"].rpartition("::")[2]] = {
            "time": metrics["time"]["rounds"],
            "cpu": metrics["cpu"]["rounds"],
            "retries": test.get("retries", 0),
            "violations": [(v["kind"], v["metric"]) for v in test["violations"]],
            "calibration": test.get("calibration"),  # the loop around the last retry
            "unstable": "stability" in test,
        }
    cores = os.cpu_count() or 1
    return {
        "calibration": document["environment"].get("calibration"),
        "wall": wall,
        "busy_cores": cores * (busy1 - busy0) / max(total1 - total0, 1),
        "own_cores": own / wall,
        "tests": tests,
        "report": str(report),
    }


@contextmanager
def hog(count: int) -> Iterator[None]:
    """``count`` spinning processes, pinned to the last cores."""
    cores = os.cpu_count() or 1
    hogs = [subprocess.Popen([sys.executable, "-c", HOG, str(cores - 1 - i % cores)]) for i in range(count)]
    try:
        time.sleep(0.5)
        yield
    finally:
        for process in hogs:
            process.terminate()
            process.wait()


def budget_file(config: Config, limits: dict[str, float] | None, calibration: float | None = None) -> str:
    """A budget file with the config's settings and, given ``limits`` (seconds), one budget per test;
    ``calibration`` (seconds) is the reference loop time, written when the config calibrates.
    """
    lines = ["version: 1", "settings:", f"  rounds: {config.rounds}", f"  retries: {config.retries}"]
    lines.append(f"  statistic: {config.statistic}")
    if config.calibration == "reference" and calibration is not None:
        lines.append(f"  calibration: {calibration * 1e6:.3f}us")
    elif config.calibration == "off":
        lines.append("  calibration: 0")
    if config.metric == "cpu":
        lines.append("  tolerance: {cpu: 20%}")
    lines.append("budgets:" if limits else "budgets: {}")
    for test, limit in (limits or {}).items():
        lines += [f'  "{MODULE}::{test}":', f"    {config.metric}: {limit * 1e6:.3f}us"]
    return "\n".join(lines) + "\n"


# --- the study ----------------------------------------------------------------------------


class References:
    """Budgets from the quiet reference runs: k x the quiet median of the limited statistic."""

    def __init__(self, runs: Iterable[dict[str, Any]]) -> None:
        self.runs: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for run in runs:
            if run["part"] == "reference":
                self.runs[run["rounds"]].append(run)

    def value(self, config: Config, test: str) -> float:
        return statistics.median(_value(run, config, test) for run in self.runs[config.rounds])

    def limit(self, config: Config, test: str, k: float) -> float:
        """As written in the budget file: whole nanoseconds."""
        return round(k * self.value(config, test), 9)

    def limits(self, config: Config, k: float) -> dict[str, float]:
        tests = self.runs[config.rounds][0]["tests"]
        return {test: self.limit(config, test, k) for test in tests if config.judges(test)}

    def baseline(self, config: Config, rep: int) -> dict[str, Any]:
        runs = self.runs[config.rounds]
        return runs[rep % len(runs)]

    @property
    def calibration(self) -> float:
        """The loop's quiet time: the median ``environment.calibration`` of every reference run."""
        return statistics.median(float(run["calibration"]) for runs in self.runs.values() for run in runs)


class Study:
    def __init__(
        self, work: Path, tree: Path, configs: dict[str, Config], hogs: int, ks: Sequence[float], append: bool
    ) -> None:
        self.work = work
        self.tree = tree
        self.configs = configs
        self.hogs = hogs
        self.ks = tuple(ks)
        self.baselines = True  # retry settings get a run against the baseline too
        self.hog_label = "hog"  # the condition's name in the tables: several hog conditions may be compared
        log = work / "runs.jsonl"
        self.count = len(load_runs(log)) if append else 0
        self.log = log.open("a" if append else "w", encoding="utf-8")

    def run(
        self,
        settings: Config,
        *,
        k: float | None = None,
        refs: References | None = None,
        baseline: dict[str, Any] | None = None,
        slowdown: dict[str, float] | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """Run the suite with ``settings``, budgets at ``k``, and/or a baseline; log it."""
        self.count += 1
        label = f"run{self.count:04d}"
        print(f"  {label}", end="\r", file=sys.stderr, flush=True)
        limits = refs.limits(settings, k) if refs is not None and k is not None else None
        run = run_suite(
            self.work,
            label,
            tree=self.tree,
            rounds=settings.rounds,
            budget=budget_file(settings, limits, refs.calibration if refs is not None else None)
            if fields.get("part") != "reference"
            else None,
            baseline=Path(baseline["report"]) if baseline is not None else None,
            slowdown=slowdown or {},
            gc=settings.gc,
        )
        run.update(fields, rounds=settings.rounds, k=k, baseline_run=baseline, slowdown=slowdown or {})
        self.log.write(json.dumps(run) + "\n")
        self.log.flush()
        return run

    def references(self, m: int) -> None:
        for rounds in sorted({config.rounds for config in self.configs.values()}):
            for index in range(m):
                self.run(Config(rounds, 0, "median", "time"), part="reference", index=index)

    def repetition(
        self, part: str, rep: int, condition: str, refs: References, slowdown: dict[str, float]
    ) -> None:
        """Every config once: without retries, one run judges all k (budgets at the k of the
        turn, the other k offline) and the baseline; with retries, one run per k and one for the baseline.
        """
        names = list(self.configs)
        random.Random(rep).shuffle(names)
        label = condition if condition == "quiet" else self.hog_label
        with hog(self.hogs) if condition == "hog" else nullcontext():
            for name in names:
                config = self.configs[name]
                baseline = refs.baseline(config, rep)
                fields: dict[str, Any] = {"part": part, "rep": rep, "condition": label, "config": name}
                if config.retries == 0:
                    k = self.ks[rep % len(self.ks)]
                    self.run(config, k=k, refs=refs, baseline=baseline, slowdown=slowdown, **fields)
                    continue
                for k in self.ks:
                    self.run(config, k=k, refs=refs, slowdown=slowdown, **fields)
                if self.baselines:
                    self.run(config, refs=refs, baseline=baseline, slowdown=slowdown, **fields)


def snapshot(revision: str, work: Path) -> Path:
    """The plugin as committed at ``revision`` (or as in the working tree now, for ``worktree``) and
    the sample suite, in a tree of their own.

    The study then measures one fixed version of the plugin while the working tree changes.
    """
    tree = work / "tree"
    if tree.exists():  # --append: the snapshot of the first part
        return tree
    if revision == "worktree":
        ignore = shutil.ignore_patterns("__pycache__")
        shutil.copytree(ROOT / "pytest_perfbudget", tree / "pytest_perfbudget", ignore=ignore)
    else:
        archive = subprocess.run(
            ["git", "archive", "--format=tar", revision, "pytest_perfbudget"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(tree, filter="data")
    shutil.copytree(ROOT / SUITE, tree / SUITE, ignore=shutil.ignore_patterns("__pycache__"))
    return tree


def slowdowns(rep: int, tests: Sequence[str]) -> dict[str, float]:
    """Each test gets one factor, rotating with the repetition so every test gets every factor."""
    return {test: FACTORS[(index + rep) % len(FACTORS)] for index, test in enumerate(tests)}


# --- analysis -------------------------------------------------------------------------------


def load_runs(path: Path) -> list[Run]:
    with path.open(encoding="utf-8") as file:
        return [json.loads(line) for line in file if line.strip()]


def _value(run: Run, config: Config, test: str) -> float:
    return statistic(run["tests"][test][config.metric], config.statistic)


def _failed(run: Run, config: Config, test: str, kind: str) -> bool:
    return [kind, config.metric] in run["tests"][test]["violations"]


def answers(run: Run, config: Config, judgement: str) -> bool:
    """Whether the run can tell ``judgement`` (``k=1.5`` or ``baseline``) for the config."""
    if judgement == "baseline":
        return run["baseline_run"] is not None
    return run["k"] is not None and (config.retries == 0 or judgement == f"k={run['k']}")


def plugin(judgement: str, refs: References) -> Judge:
    """The plugin's verdict; without retries, a budget at another k is judged as the plugin would."""

    def judge(run: Run, config: Config, test: str) -> bool:
        if judgement == "baseline":
            return _failed(run, config, test, "regression")
        if judgement == f"k={run['k']}":
            return _failed(run, config, test, "budget")
        return _value(run, config, test) > refs.limit(config, test, float(judgement[2:]))

    return judge


def tolerant(tolerance: float) -> Judge:
    """The plugin's baseline rule at another tolerance: worse by more than it, and by the noise floor;
    with 3 rounds or more on both sides, also significantly worse (``judge_regression``).
    """

    def judge(run: Run, config: Config, test: str) -> bool:
        before_rounds = run["baseline_run"]["tests"][test][config.metric]
        after_rounds = run["tests"][test][config.metric]
        if min(len(before_rounds), len(after_rounds)) >= SIGNIFICANCE_ROUNDS:
            regressed, _ = judge_regression(
                before_rounds, after_rounds, tolerance, NOISE_FLOOR, statistic=config.statistic
            )
            return regressed
        before, after = _value(run["baseline_run"], config, test), _value(run, config, test)
        return after - before > tolerance * before and after - before >= NOISE_FLOOR

    return judge


def agreement(runs: Iterable[Run], configs: dict[str, Config], refs: References) -> str:
    """How often the offline rules give the plugin's own verdict (they should always)."""
    same = total = 0
    for run in runs:
        config = configs.get(run.get("config", ""))
        if config is None or config.retries:
            continue
        for test in filter(config.judges, run["tests"]):
            if run["k"] is not None:
                offline = _value(run, config, test) > refs.limit(config, test, run["k"])
                same += offline == _failed(run, config, test, "budget")
                total += 1
            if run["baseline_run"] is not None:
                same += tolerant(TOLERANCE)(run, config, test) == _failed(run, config, test, "regression")
                total += 1
    return f"{same}/{total}"


def _always(judge: Judge) -> Rule:
    """A rule that judges every judgement the same way."""
    return lambda judgement: judge


def _flagged(flag: bool) -> Keep:
    """Tests the plugin flagged (or did not flag) as unstable, in runs with budgets at k = 1.5."""
    return lambda run, test: run["k"] == 1.5 and run["tests"][test]["unstable"] == flag


def _all(run: Run, test: str) -> bool:
    return True


def _only(name: str) -> Keep:
    return lambda run, test: test == name


def _slowed_by(factor: float) -> Keep:
    return lambda run, test: run["slowdown"].get(test) == factor


def _slowed_beyond_floor(factor: float, refs: References, configs: dict[str, Config]) -> Keep:
    """Slowed by ``factor``, by more than twice the noise floor over the quiet median: a change
    the floor (never a regression below it) does not decide."""

    def keep(run: Run, test: str) -> bool:
        quiet = refs.value(configs[run["config"]], test)
        return run["slowdown"].get(test) == factor and quiet * (factor - 1) > 2 * NOISE_FLOOR

    return keep


def tally(runs: Iterable[Run], config: Config, judge: Judge, keep: Keep = _all) -> str:
    """``12.5% (5/40)``: how often ``judge`` fails the kept tests the config judges."""
    hits = total = 0
    for run in runs:
        for test in run["tests"]:
            if config.judges(test) and keep(run, test):
                total += 1
                hits += judge(run, config, test)
    return "n/a" if total == 0 else f"{100 * hits / total:.1f}% ({hits}/{total})"


def _conditions(runs: Iterable[Run]) -> list[str]:
    """The conditions of ``runs``: quiet first, then the hog conditions by name."""
    found = {run["condition"] for run in runs}
    return [c for c in ("quiet",) if c in found] + sorted(found - {"quiet"})


def _at(runs: Iterable[Run], name: str, key: str, value: Any, condition: str) -> list[Run]:
    """The runs of setting ``name`` in ``condition`` whose ``key`` is ``value``."""
    return [
        run for run in runs if run["config"] == name and run[key] == value and run["condition"] == condition
    ]


def _is_flagged(run: Run, config: Config, test: str) -> bool:
    return bool(run["tests"][test]["unstable"])


def _mean(values: Iterable[float]) -> str:
    found = list(values)
    return f"{statistics.mean(found):.2f}" if found else "n/a"


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _table(head: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    return [_row(head), _row(["---"] * len(head)), *(_row(row) for row in rows)]


def normalized_spread(runs: Sequence[Run], test: str) -> list[str]:
    """The relative standard deviation of ``test``'s fastest round across ``runs``: as measured,
    divided by the run's ``environment.calibration``, and divided by the fastest round of the
    suite's own calibration test in that run (the loop next to the tests, not after them)."""
    columns: list[list[float]] = [[], [], []]
    for run in runs:
        fastest = min(run["tests"][test]["time"])
        columns[0].append(fastest)
        columns[1].append(fastest / run["calibration"])
        columns[2].append(fastest / min(run["tests"][CALIBRATION]["time"]))
    return [test, *(f"{statistics.stdev(values) / statistics.mean(values):.0%}" for values in columns)]


def speed_rows(runs: Sequence[Run], chunks: int = 6) -> list[list[str]]:
    """``environment.calibration`` of consecutive runs, in ``chunks`` groups: a machine whose speed
    drifts during the study shows it here, as does a reference taken at another speed."""
    size = max(1, -(-len(runs) // chunks))
    rows = []
    for start in range(0, len(runs), size):
        group = runs[start : start + size]
        loops = [run["calibration"] * 1000 for run in group]
        parts = sorted({run["part"] for run in group})
        rows.append(
            [
                f"{start + 1}-{start + len(group)}",
                ", ".join(parts),
                f"{statistics.median(loops):.1f} ms",
                f"{min(loops):.1f}-{max(loops):.1f} ms",
            ]
        )
    return rows


def busy_rows(runs: Sequence[Run]) -> list[list[str]]:
    """The busy share of retried test-runs with calibration, by kind of test (``test_sleep[10ms]``
    is a ``sleep`` test): a CPU-, allocation- or SQL-bound test should be near 1, a sleep near 0."""
    shares: dict[str, list[float]] = {}
    for run in runs:
        for name, test in run["tests"].items():
            recorded = test.get("calibration")
            if recorded is not None and "busy" in recorded:
                kind = name.removeprefix("test_").partition("[")[0]
                shares.setdefault(kind, []).append(recorded["busy"])
    return [
        [kind, f"{statistics.median(values):.2f}", f"{min(values):.2f}-{max(values):.2f}", str(len(values))]
        for kind, values in sorted(shares.items())
    ]


def tables(runs: list[Run], configs: dict[str, Config]) -> str:
    refs = References(runs)
    noise = [run for run in runs if run["part"] == "noise"]
    slow = [run for run in runs if run["part"] == "slowdown"]
    conditions = _conditions(noise)
    budgets = [f"k={k}" for k in sorted({*KS, *(run["k"] for run in noise if run.get("k"))})]

    def by_plugin(judgement: str) -> Judge:
        return plugin(judgement, refs)

    def rules(name: str, config: Config) -> list[tuple[str, Rule]]:
        """The plugin's verdict (room for offline variants of it)."""
        return [(name, by_plugin)]

    def cell(
        part: list[Run], name: str, rule: Rule, judgement: str, condition: str = "", keep: Keep = _all
    ) -> str:
        judge = rule(judgement)
        if judge is None:
            return "n/a"
        config = configs[name]
        chosen = [
            run
            for run in part
            if run["config"] == name
            and answers(run, config, judgement)
            and condition in ("", run["condition"])
        ]
        return tally(chosen, config, judge, keep)

    def rows(cells: Callable[[str, Rule], list[str]]) -> list[list[str]]:
        found = []
        for name, config in configs.items():
            for label, rule in rules(name, config):
                row = cells(name, rule)
                if any(value != "n/a" for value in row):
                    found.append([label, *row])
        return found

    out: list[str] = []
    if noise:
        out.append("### False failures: absolute budgets at k x the quiet median\n")
        out += _table(
            ["setting", *(f"{c} {j}" for c in conditions for j in budgets)],
            rows(lambda name, rule: [cell(noise, name, rule, j, c) for c in conditions for j in budgets]),
        )
        out.append("\n### False regressions against a quiet baseline (tolerance 20%, noise floor 1 ms)\n")
        out += _table(
            ["setting", *conditions],
            rows(lambda name, rule: [cell(noise, name, rule, "baseline", c) for c in conditions]),
        )
        out.append("\n### False failures by test, budgets at k = 1.5\n")
        tests = [test for test in noise[0]["tests"] if test != CALIBRATION]
        out += _table(
            ["test", *(f"{name} {c}" for name in configs for c in conditions)],
            [
                [
                    test,
                    *(
                        cell(noise, name, by_plugin, "k=1.5", c, _only(test))
                        for name in configs
                        for c in conditions
                    ),
                ]
                for test in tests
            ],
        )
        out.append("\n### Spread of the first round across runs (relative standard deviation)\n")
        spread = []
        for test in [CALIBRATION, *tests]:
            row = [test]
            for metric in ("time", "cpu"):
                for c in conditions:
                    values = [run["tests"][test][metric][0] for run in noise if run["condition"] == c]
                    row.append(f"{statistics.stdev(values) / statistics.mean(values):.0%}")
            spread.append(row)
        out += _table(["test", *(f"{m} {c}" for m in ("wall", "cpu") for c in conditions)], spread)
        quiet5 = [run for run in noise if run["condition"] == "quiet" and run["rounds"] >= 5]
        if len(quiet5) > 1:
            out.append("\n### Would the loop correct it? Spread of the min of 5 rounds across quiet runs\n")
            out += _table(
                ["test", "as measured", "over the run's loop", "over its calibration test"],
                [normalized_spread(quiet5, test) for test in tests],
            )
    if noise:
        out.append("\n### Stability warnings of the plugin (budgets at k = 1.5)\n")
        found = []
        for name, config in configs.items():
            if config.rounds < SIGNIFICANCE_ROUNDS:
                continue
            flagged = [tally(_at(noise, name, "k", 1.5, c), config, _is_flagged) for c in conditions]
            false = [
                cell(noise, name, by_plugin, "k=1.5", c, _flagged(flag))
                for c in conditions
                for flag in (True, False)
            ]
            found.append([name, *flagged, *false])
        head = [
            "setting",
            *(f"flagged, {c}" for c in conditions),
            *(f"false failures {c}, {w}" for c in conditions for w in ("flagged", "not flagged")),
        ]
        out += _table(head, found)
        out.append("\n### Calibration on retries: the time factor of the last re-measurement\n")
        found = []
        for name, config in configs.items():
            if config.calibration == "off":
                continue
            row = [name]
            for c in conditions:
                factors = [
                    test["calibration"][f"{'cpu' if config.metric == 'cpu' else 'time'}_factor"]
                    for run in _at(noise, name, "condition", c, c)
                    for test in run["tests"].values()
                    if test.get("calibration")
                ]
                row.append(f"{statistics.median(factors):.2f} ({len(factors)})" if factors else "n/a")
            found.append(row)
        if found:
            out += _table(
                ["setting", *(f"median factor, {c} (retried test-runs)" for c in conditions)], found
            )
    for condition in _conditions(slow):
        machine = "quiet machine" if condition == "quiet" else condition
        out.append(f"\n### Slowdowns caught ({machine})\n")
        caught = []
        for name, config in configs.items():
            for label, rule in rules(name, config):
                for judgement in [*budgets, "baseline"]:
                    row = [cell(slow, name, rule, judgement, condition, _slowed_by(f)) for f in FACTORS]
                    if any(value != "n/a" for value in row):
                        caught.append([label, judgement.replace("k=", "budget k="), *row])
        out += _table(["setting", "judged by", *(f"{f}x" for f in FACTORS)], caught)
        out.append(
            f"\n### Slowdowns caught ({machine}), changes over {2 * NOISE_FLOOR * 1000:g} ms"
            " (the quiet median x (factor - 1)), against the baseline\n"
        )
        beyond = []
        for name, config in configs.items():
            for label, rule in rules(name, config):
                keeps = [_slowed_beyond_floor(f, refs, configs) for f in FACTORS]
                row = [cell(slow, name, rule, "baseline", condition, keep) for keep in keeps]
                if any(value != "n/a" for value in row):
                    beyond.append([label, *row])
        out += _table(["setting", *(f"{f}x" for f in FACTORS)], beyond)
    quiet5 = [run for run in noise if run["condition"] == "quiet" and run["rounds"] == 5]
    slow5 = [run for run in slow if run["condition"] == "quiet" and run["rounds"] == 5]
    if quiet5 and slow5:
        out.append("\n### Effective slowdown: median wall time slowed / quiet (all rounds of 5-round runs)\n")
        found = []
        for test in [test for test in quiet5[0]["tests"] if test != CALIBRATION]:
            quiet = statistics.median(x for run in quiet5 for x in run["tests"][test]["time"])
            row = [test]
            for factor in FACTORS:
                times = [
                    x
                    for run in slow5
                    if run["slowdown"].get(test) == factor
                    for x in run["tests"][test]["time"]
                ]
                row.append(f"{statistics.median(times) / quiet:.2f}" if times else "n/a")
            found.append(row)
        out += _table(["test", *(f"{f}x" for f in FACTORS)], found)
    if noise or slow:
        out.append("\n### Baseline comparison at other tolerances (offline, settings without retries)\n")
        found = []
        for name, config in configs.items():
            for tolerance in TOLERANCES if config.retries == 0 else ():
                by_tolerance = _always(tolerant(tolerance))
                false = [cell(noise, name, by_tolerance, "baseline", c) for c in conditions]
                found.append(
                    [
                        name,
                        f"{tolerance:.0%}",
                        *false,
                        *(cell(slow, name, by_tolerance, "baseline", keep=_slowed_by(f)) for f in FACTORS),
                    ]
                )
        head = [
            "setting",
            "tolerance",
            *(f"false, {c}" for c in conditions),
            *(f"caught {f}x" for f in FACTORS),
        ]
        out += _table(head, found)
    busy = busy_rows(runs)
    if busy:
        out.append("\n### Busy share of re-measurements with calibration, by kind of test\n")
        out += _table(["kind", "busy, median", "range", "retried test-runs"], busy)
    out.append("\n### The machine's speed over the study: the calibration loop of quiet runs, in order\n")
    quiet = [run for run in runs if run.get("condition") in (None, "quiet")]
    out += _table(["quiet runs", "parts", "loop, median", "loop, range"], speed_rows(quiet))
    out.append("\n### Cost and load\n")
    conditions = _conditions(noise + slow)
    cost = []
    for name in configs:
        mine = [run for run in noise + slow if run["config"] == name]
        if mine:
            retries = [
                _mean(
                    t["retries"]
                    for run in mine
                    if run["condition"] == c and run["part"] == "noise"
                    for n, t in run["tests"].items()
                    if n != CALIBRATION
                )
                for c in conditions
            ]
            loads = [
                _mean(run["busy_cores"] - run["own_cores"] for run in mine if run["condition"] == c)
                for c in conditions
            ]
            seconds = _mean(run["wall"] for run in mine if run["condition"] == "quiet")
            cost.append([name, seconds, *retries, *loads])
    head = [
        "setting",
        "seconds per suite run, quiet",
        *(f"retries per unchanged test, {c}" for c in conditions),
    ]
    out += _table([*head, *(f"other load {c} (cores)" for c in conditions)], cost)
    out.append(f"\nPlugin verdicts matching the offline rules: {agreement(noise + slow, configs, refs)}")
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=10, help="noise repetitions per condition (default 10)")
    parser.add_argument("--slowdown-n", type=int, default=8, help="slowdown repetitions (default 8)")
    parser.add_argument("--reference-n", type=int, default=5, help="quiet reference runs per rounds setting")
    parser.add_argument("--parts", default="noise,slowdown", help="noise, slowdown or both (default)")
    parser.add_argument("--configs", default=DEFAULT_CONFIGS, help=f"from {', '.join(CONFIGS)}")
    parser.add_argument(
        "--hogs", type=int, default=1, help="spinning processes in the hog condition (default 1)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="n 2, slowdown-n 1, reference-n 3: a few minutes"
    )
    parser.add_argument(
        "--out", type=Path, help="keep reports and runs.jsonl here (default: a temporary dir)"
    )
    parser.add_argument(
        "--snapshot", metavar="REV", help="measure the plugin as committed at REV (default: the working tree)"
    )
    parser.add_argument("--tables-only", action="store_true", help="print the tables of --out DIR/runs.jsonl")
    parser.add_argument(
        "--ks",
        default=",".join(map(str, KS)),
        help="budgets at k x the quiet median that get runs (default all)",
    )
    parser.add_argument("--conditions", default="quiet,hog", help="quiet, hog or both (default)")
    parser.add_argument(
        "--slowdown-conditions", default="quiet", help="quiet (default), hog or both, for slowdown runs"
    )
    parser.add_argument("--hog-label", default="hog", help="the hog condition's name in the tables")
    parser.add_argument(
        "--no-baseline", action="store_true", help="no baseline run for settings with retries"
    )
    parser.add_argument(
        "--append", action="store_true", help="add runs to --out DIR, with its reference runs and snapshot"
    )
    args = parser.parse_args(argv)
    configs = {name: CONFIGS[name] for name in args.configs.split(",")}
    if args.tables_only:
        print(tables(load_runs(args.out / "runs.jsonl"), configs))
        return 0
    if args.quick:
        args.n, args.slowdown_n, args.reference_n = 2, 1, 3
    parts = set(args.parts.split(","))
    if args.append and args.out is None:
        parser.error("--append needs --out DIR")
    with tempfile.TemporaryDirectory() if args.out is None else nullcontext(str(args.out)) as directory:
        work = Path(directory)
        work.mkdir(parents=True, exist_ok=True)
        tree = ROOT if args.snapshot is None else snapshot(args.snapshot, work)
        ks = [float(k) for k in args.ks.split(",")]
        study = Study(work, tree, configs, args.hogs, ks, args.append)
        study.baselines = not args.no_baseline
        study.hog_label = args.hog_label
        started = time.perf_counter()
        if not args.append:
            print("reference runs", file=sys.stderr)
            study.references(args.reference_n)
        refs = References(load_runs(work / "runs.jsonl"))
        done = [run["rep"] for run in load_runs(work / "runs.jsonl") if run["part"] == "noise"]  # rep seeds
        first = 1 + max(done, default=-1)
        if "noise" in parts:
            for rep in range(first, first + args.n):
                for condition in args.conditions.split(","):
                    print(f"noise {rep - first + 1}/{args.n} {condition}", file=sys.stderr)
                    study.repetition("noise", rep, condition, refs, {})
        if "slowdown" in parts:
            tests = [t for t in next(iter(refs.runs.values()))[0]["tests"] if t != CALIBRATION]
            for rep in range(args.slowdown_n):
                for condition in args.slowdown_conditions.split(","):
                    print(f"slowdown {rep + 1}/{args.slowdown_n} {condition}", file=sys.stderr)
                    study.repetition("slowdown", rep, condition, refs, slowdowns(rep, tests))
        study.log.close()
        print(f"{study.count} runs in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        print(tables(load_runs(work / "runs.jsonl"), configs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
