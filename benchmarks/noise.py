"""Noise study: how often time budgets fail on noise alone, and how often they catch a real slowdown.

Runs the sample suite in ``benchmarks/noise_suite`` through the plugin, exactly as a user would
(``python -m pytest benchmarks/noise_suite --perf-budget B.yml --perf-report R.json``), and prints
Markdown tables:

1. reference: M quiet runs per rounds setting; their per-test medians set the budgets, and each is
   a quiet baseline report for ``--perf-baseline``;
2. noise (``--parts noise``): N repetitions, quiet and with a CPU hog (a spinning subprocess pinned
   to the last core), of every setting with budgets at k x the quiet median (k = 1.2, 1.5, 2) and
   against a quiet baseline (tolerance 20%): every failure is a false failure;
3. slowdown (``--parts slowdown``): S quiet repetitions with every test slowed by 1.25x, 1.5x, 2x or
   3x (rotating, so each test gets each factor), counting how many slowed tests fail.

Settings compared side by side (``--configs``): single (rounds 1, retries 0), retries (rounds 1,
retries 2), r5-min and r5-median (rounds 5, retries 0), cpu (a ``cpu:`` budget, rounds 1,
retries 0), and r5-median-retries (rounds 5, retries 2). Sleep tests get no ``cpu:`` budget: a wait
uses no CPU. Without retries the plugin's verdict is a pure function of the measured statistic, so
one run per repetition serves every k and the baseline: the plugin judges the budget at one k (by
turns) and the baseline, the other k are judged offline by the same rule (the tables end with how
often that rule gave the plugin's own verdict). With retries, each k and the baseline get a run
of their own, since re-measurement depends on the limit.

Offline rows: "+ significance" keeps a baseline regression of a setting with 3 or more rounds only
when ``pytest_perfbudget.significance.judge_regression`` finds it significant; "+ calibration"
scales a single-shot setting's limits by the run's calibration loop (``test_calibration``, a fixed
20 ms of work) against the quiet one, to see whether normalizing by machine speed pays.

Usage::

    python benchmarks/noise.py --quick                  # a few minutes
    python benchmarks/noise.py -n 7 --slowdown-n 8 --snapshot REV --out DIR   # docs/noise.md
    python benchmarks/noise.py --tables-only --out DIR  # the tables again from DIR/runs.jsonl

``--snapshot REV`` measures the plugin as committed at REV (exported with ``git archive``), so
edits to the working tree during a long run do not change what is measured.

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

from pytest_perfbudget.significance import judge_regression, stability  # noqa: E402
from pytest_perfbudget.stats import statistic  # noqa: E402

SUITE = "benchmarks/noise_suite"
MODULE = f"{SUITE}/test_noise.py"
CALIBRATION = "test_calibration"
SLOWDOWN_VARIABLE = "PERF_NOISE_SLOWDOWN"
KS = (1.2, 1.5, 2.0)
FACTORS = (1.25, 1.5, 2.0, 3.0)
TOLERANCE = 0.2
TOLERANCES = (0.2, 0.5, 1.0)
NOISE_FLOOR = 0.001
HOG = "import os, sys; os.sched_setaffinity(0, {int(sys.argv[1])})\nwhile True: pass"


@dataclass(frozen=True)
class Config:
    rounds: int
    retries: int
    statistic: str
    metric: str  # time or cpu

    def judges(self, test: str) -> bool:
        """A cpu budget on a test that sleeps limits nothing it does."""
        return test != CALIBRATION and not (self.metric == "cpu" and test.startswith("test_sleep"))


CONFIGS = {
    "single": Config(1, 0, "median", "time"),
    "retries": Config(1, 2, "median", "time"),
    "r5-min": Config(5, 0, "min", "time"),
    "r5-median": Config(5, 0, "median", "time"),
    "cpu": Config(1, 0, "median", "cpu"),
    "r5-median-retries": Config(5, 2, "median", "time"),
}
DEFAULT_CONFIGS = ",".join(CONFIGS)

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
) -> dict[str, Any]:
    """One pytest run in ``tree`` (the plugin imported from there); returns its per-test rounds and
    violations, and the machine's load.
    """
    report = work / f"{label}.json"
    command = [sys.executable, "-m", "pytest", SUITE, "--perf-report", str(report), "-p", "no:cacheprovider"]
    command += ["-p", "no:hypothesispytest", "-q", "--rootdir", str(tree), "--perf-rounds", str(rounds)]
    if budget is not None:
        (work / f"{label}.yml").write_text(budget, encoding="utf-8")
        command += ["--perf-budget", str(work / f"{label}.yml")]
    if baseline is not None:
        command += ["--perf-baseline", str(baseline)]
    env = {**os.environ, SLOWDOWN_VARIABLE: json.dumps(slowdown)}
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
    for test in json.loads(report.read_text(encoding="utf-8"))["tests"]:
        metrics = test["metrics"]
        tests[test["nodeid"].rpartition("::")[2]] = {
            "time": metrics["time"]["rounds"],
            "cpu": metrics["cpu"]["rounds"],
            "retries": test.get("retries", 0),
            "violations": [(v["kind"], v["metric"]) for v in test["violations"]],
        }
    cores = os.cpu_count() or 1
    return {
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


def budget_file(config: Config, limits: dict[str, float] | None) -> str:
    """A budget file with the config's settings and, given ``limits`` (seconds), one budget per test."""
    lines = ["version: 1", "settings:", f"  rounds: {config.rounds}", f"  retries: {config.retries}"]
    lines.append(f"  statistic: {config.statistic}")
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


class Study:
    def __init__(self, work: Path, tree: Path, configs: dict[str, Config], hogs: int) -> None:
        self.work = work
        self.tree = tree
        self.configs = configs
        self.hogs = hogs
        self.log = (work / "runs.jsonl").open("w", encoding="utf-8")
        self.count = 0

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
            budget=budget_file(settings, limits) if fields.get("part") != "reference" else None,
            baseline=Path(baseline["report"]) if baseline is not None else None,
            slowdown=slowdown or {},
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
        with hog(self.hogs) if condition == "hog" else nullcontext():
            for name in names:
                config = self.configs[name]
                baseline = refs.baseline(config, rep)
                fields: dict[str, Any] = {"part": part, "rep": rep, "condition": condition, "config": name}
                if config.retries == 0:
                    self.run(
                        config, k=KS[rep % len(KS)], refs=refs, baseline=baseline, slowdown=slowdown, **fields
                    )
                    continue
                for k in KS:
                    self.run(config, k=k, refs=refs, slowdown=slowdown, **fields)
                self.run(config, baseline=baseline, slowdown=slowdown, **fields)


def snapshot(revision: str, work: Path) -> Path:
    """The plugin as committed at ``revision`` and the sample suite, in a tree of their own.

    The study then measures one fixed version of the plugin while the working tree changes.
    """
    tree = work / "tree"
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


def significant(run: Run, config: Config, test: str) -> bool:
    """The plugin's regression, kept only when judge_regression finds it significant."""
    before = run["baseline_run"]["tests"][test][config.metric]
    after = run["tests"][test][config.metric]
    regressed, _ = judge_regression(before, after, TOLERANCE, NOISE_FLOOR, statistic=config.statistic)
    return _failed(run, config, test, "regression") and regressed


def calibrated(judgement: str, refs: References) -> Judge:
    """Judged offline as the plugin would, with limits scaled by the run's calibration loop.

    A budget becomes k x quiet median x (this run's calibration time / the quiet one); a baseline
    value is scaled by (this run's calibration time / the baseline run's).
    """

    def judge(run: Run, config: Config, test: str) -> bool:
        value, speed = _value(run, config, test), _value(run, config, CALIBRATION)
        if judgement == "baseline":
            base = run["baseline_run"]
            before = _value(base, config, test) * speed / _value(base, config, CALIBRATION)
            return value - before > TOLERANCE * before and value - before >= NOISE_FLOOR
        return value > refs.limit(config, test, float(judgement[2:])) * speed / refs.value(
            config, CALIBRATION
        )

    return judge


def tolerant(tolerance: float) -> Judge:
    """The plugin's baseline rule at another tolerance: worse by more than it, and by the noise floor."""

    def judge(run: Run, config: Config, test: str) -> bool:
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


def _stable(config: Config, stable: bool) -> Keep:
    """Tests whose rounds ``stability`` finds stable (or unstable)."""
    return lambda run, test: stability(run["tests"][test][config.metric]).stable == stable


def _all(run: Run, test: str) -> bool:
    return True


def _only(name: str) -> Keep:
    return lambda run, test: test == name


def _slowed_by(factor: float) -> Keep:
    return lambda run, test: run["slowdown"].get(test) == factor


def tally(runs: Iterable[Run], config: Config, judge: Judge, keep: Keep = _all) -> str:
    """``12.5% (5/40)``: how often ``judge`` fails the kept tests the config judges."""
    hits = total = 0
    for run in runs:
        for test in run["tests"]:
            if config.judges(test) and keep(run, test):
                total += 1
                hits += judge(run, config, test)
    return "n/a" if total == 0 else f"{100 * hits / total:.1f}% ({hits}/{total})"


def _mean(values: Iterable[float]) -> str:
    found = list(values)
    return f"{statistics.mean(found):.2f}" if found else "n/a"


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _table(head: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    return [_row(head), _row(["---"] * len(head)), *(_row(row) for row in rows)]


def tables(runs: list[Run], configs: dict[str, Config]) -> str:
    refs = References(runs)
    noise = [run for run in runs if run["part"] == "noise"]
    slow = [run for run in runs if run["part"] == "slowdown"]
    conditions = [c for c in ("quiet", "hog") if any(run["condition"] == c for run in noise)]
    budgets = [f"k={k}" for k in KS]

    def by_plugin(judgement: str) -> Judge:
        return plugin(judgement, refs)

    def rules(name: str, config: Config) -> list[tuple[str, Rule]]:
        """The plugin's verdict, and the offline rules that apply to the config."""
        found: list[tuple[str, Rule]] = [(name, by_plugin)]
        if config.rounds >= 3:
            found.append((f"{name} + significance", lambda j: significant if j == "baseline" else None))
        if config.rounds == 1 and config.retries == 0:
            found.append((f"{name} + calibration", lambda j: calibrated(j, refs)))
        return found

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
    if noise:
        out.append("\n### False failures by the stability check on a test's rounds (budgets at k = 1.5)\n")
        found = []
        for name, config in configs.items():
            for stable in (True, False) if config.rounds >= 3 else ():
                row = [cell(noise, name, by_plugin, "k=1.5", c, _stable(config, stable)) for c in conditions]
                found.append([f"{name}, {'stable' if stable else 'unstable'} rounds", *row])
        out += _table(["setting", *conditions], found)
    if slow:
        out.append("\n### Slowdowns caught (quiet machine)\n")
        caught = []
        for name, config in configs.items():
            for label, rule in rules(name, config):
                for judgement in [*budgets, "baseline"]:
                    row = [cell(slow, name, rule, judgement, keep=_slowed_by(f)) for f in FACTORS]
                    if any(value != "n/a" for value in row):
                        caught.append([label, judgement.replace("k=", "budget k="), *row])
        out += _table(["setting", "judged by", *(f"{f}x" for f in FACTORS)], caught)
    quiet5 = [run for run in noise if run["condition"] == "quiet" and run["rounds"] == 5]
    slow5 = [run for run in slow if run["rounds"] == 5]
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
    out.append("\n### Cost and load\n")
    conditions = [c for c in ("quiet", "hog") if any(run["condition"] == c for run in noise + slow)]
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
    args = parser.parse_args(argv)
    configs = {name: CONFIGS[name] for name in args.configs.split(",")}
    if args.tables_only:
        print(tables(load_runs(args.out / "runs.jsonl"), configs))
        return 0
    if args.quick:
        args.n, args.slowdown_n, args.reference_n = 2, 1, 3
    parts = set(args.parts.split(","))
    with tempfile.TemporaryDirectory() if args.out is None else nullcontext(str(args.out)) as directory:
        work = Path(directory)
        work.mkdir(parents=True, exist_ok=True)
        tree = ROOT if args.snapshot is None else snapshot(args.snapshot, work)
        study = Study(work, tree, configs, args.hogs)
        started = time.perf_counter()
        print("reference runs", file=sys.stderr)
        study.references(args.reference_n)
        refs = References(load_runs(work / "runs.jsonl"))
        if "noise" in parts:
            for rep in range(args.n):
                for condition in ("quiet", "hog"):
                    print(f"noise {rep + 1}/{args.n} {condition}", file=sys.stderr)
                    study.repetition("noise", rep, condition, refs, {})
        if "slowdown" in parts:
            tests = [t for t in next(iter(refs.runs.values()))[0]["tests"] if t != CALIBRATION]
            for rep in range(args.slowdown_n):
                print(f"slowdown {rep + 1}/{args.slowdown_n}", file=sys.stderr)
                study.repetition("slowdown", rep, "quiet", refs, slowdowns(rep, tests))
        study.log.close()
        print(f"{study.count} runs in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        print(tables(load_runs(work / "runs.jsonl"), configs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
