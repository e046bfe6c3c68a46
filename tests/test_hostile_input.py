"""Hostile or absurd input: one clear line naming its source, never a traceback.

pytest exits with 4 (a usage error), the ``perfbudget`` command with its own statuses
(3 for a report it cannot read or an output it cannot write, 4 for a bad budget file).
"""

from __future__ import annotations

import json
import subprocess
import sys
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import pytest
from perf_helpers import Runner, output

from pytest_perfbudget.budget_file import load as load_budget_file
from pytest_perfbudget.cli import main

ONE_TEST = "def test_one():\n    pass\n"
TEST_ID = "test_one.py::test_one"

BAD_BUDGET_FILES = [
    pytest.param(
        "version: 1\nsettings:\n  n_plus_one_ignore: " + "[" * 3000 + "]" * 3000 + "\n",
        "budgets.yml:3: *nest*",
        id="deep-nesting",
    ),
    pytest.param(
        "version: 1\nbudgets:\n  '**':\n    memory: 1e308GB\n",
        "budgets.yml:4: 'memory': a memory size is too large, got 1e308GB",
        id="infinite-memory",
    ),
    pytest.param(
        "version: 1\nbudgets:\n  '**':\n    time: 1e308min\n",
        "budgets.yml:4: 'time': a time is too large, got 1e308min",
        id="infinite-time",
    ),
    pytest.param(
        "version: 1\nsettings:\n  rounds: 100000000000000000000\n",
        "budgets.yml:3: 'rounds': must be at most 10000, got 100000000000000000000",
        id="endless-rounds",
    ),
]


@pytest.mark.parametrize(("text", "message"), BAD_BUDGET_FILES)
def test_a_bad_budget_file_stops_pytest_with_one_line(run_serial: Runner, text: str, message: str) -> None:
    run_serial.pytester.makepyfile(test_one=ONE_TEST)
    run_serial.budgets(text)
    result = run_serial("--perf-budget=budgets.yml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {message}"])
    assert "Traceback" not in output(result)


@pytest.mark.parametrize(("text", "message"), BAD_BUDGET_FILES)
def test_perfbudget_check_refuses_a_bad_budget_file_in_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    text: str,
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("budgets.yml").write_text(text, encoding="utf-8")
    assert main(["check", "budgets.yml"]) == 4
    _, err = capsys.readouterr()
    assert len(err.splitlines()) == 1
    assert fnmatch(err.strip(), f"error: {message}"), err


def test_a_marker_asking_for_endless_rounds_is_a_usage_error(run: Runner) -> None:
    run.pytester.makepyfile(
        test_one="import pytest\n\n@pytest.mark.perf_budget(rounds=10**20)\ndef test_one():\n    pass\n"
    )
    result = run()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"{TEST_ID}: perf_budget marker: 'rounds': must be at most 10000" in output(result)
    assert "Traceback" not in output(result)


# --- baselines -------------------------------------------------------------------------------


def _report(metrics: dict[str, Any], **top: Any) -> dict[str, Any]:
    test = {"nodeid": TEST_ID, "outcome": "passed", "metrics": metrics, "violations": []}
    return {"schema": "pytest-perfbudget/1", "environment": {}, "tests": [test], **top}


TIMING = {"rounds": [0.01], "median": 0.01}
BAD_BASELINES = [
    pytest.param(
        json.dumps(_report({"time": TIMING})).replace("0.01]", "NaN]"),
        "not valid JSON: NaN is not a finite number",
        id="nan",
    ),
    pytest.param(
        json.dumps(_report({"time": TIMING, "queries": 3})).replace('"queries": 3', '"queries": -Infinity'),
        "not valid JSON: -Infinity is not a finite number",
        id="infinity",
    ),
    pytest.param(
        json.dumps(_report({"time": TIMING})).replace("0.01]", "1e999]"),
        "not valid JSON: 1e999 is not a finite number",
        id="overflowing-number",
    ),
    pytest.param(
        json.dumps(_report({"time": TIMING}, environment=None)),
        "malformed report: 'environment' must be a mapping",
        id="null-environment",
    ),
    pytest.param(
        json.dumps(_report({"time": {"rounds": [-0.5], "median": -0.5}})),
        f"malformed report: test '{TEST_ID}': 'time' must be between 0 and 1e+15, got -0.5",
        id="negative-time",
    ),
    pytest.param(
        json.dumps(_report({"memory": 1e300})),
        f"malformed report: test '{TEST_ID}': 'memory' must be between 0 and 1e+15, got 1e+300",
        id="huge-memory",
    ),
    pytest.param(
        json.dumps(_report({"queries": "3"})),
        f"malformed report: test '{TEST_ID}': 'queries' must be a number",
        id="text-count",
    ),
    pytest.param(
        '{"schema": "pytest-perfbudget/1", "tests": ' + "[" * 100_000 + "]" * 100_000 + "}",
        "not valid JSON: it nests too deeply",
        id="deep-nesting",
    ),
]


@pytest.mark.parametrize(("text", "message"), BAD_BASELINES)
def test_a_bad_baseline_stops_pytest_with_one_line(run_serial: Runner, text: str, message: str) -> None:
    run_serial.pytester.makepyfile(test_one=ONE_TEST)
    (run_serial.pytester.path / "base.json").write_text(text, encoding="utf-8")
    result = run_serial("--perf-baseline=base.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: base.json: {message}*"])
    assert "Traceback" not in output(result)


@pytest.mark.parametrize(("text", "message"), BAD_BASELINES)
def test_perfbudget_compare_refuses_a_bad_baseline_in_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    text: str,
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("base.json").write_text(text, encoding="utf-8")
    Path("after.json").write_text(json.dumps(_report({"time": TIMING})), encoding="utf-8")
    assert main(["compare", "base.json", "after.json"]) == 3
    _, err = capsys.readouterr()
    assert len(err.splitlines()) == 1
    assert err.startswith(f"error: base.json: {message}"), err


# --- the perfbudget command's output ------------------------------------------------------


def test_perfbudget_init_quotes_test_ids_with_line_separators(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """U+2028, U+2029 and NEL are line breaks to YAML, and C1 controls are not allowed in it."""
    monkeypatch.chdir(tmp_path)
    nodeids = [f"t.py::test_x[a{character}b]" for character in "\u2028\u2029\x85\x9f\ufffe"]
    tests = [{"nodeid": nodeid, "metrics": {"time": TIMING}} for nodeid in nodeids]
    Path("run.json").write_text(json.dumps({"schema": "pytest-perfbudget/1", "tests": tests}))
    assert main(["init", "run.json", "-o", "budgets.yml"]) == 0
    assert [entry.pattern for entry in load_budget_file("budgets.yml").entries] == sorted(nodeids)


def test_perfbudget_init_refuses_a_test_id_yaml_cannot_hold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    test = {"nodeid": "t.py::test_\udcff", "metrics": {"time": TIMING}}  # a byte no encoding knew
    Path("run.json").write_text(json.dumps({"schema": "pytest-perfbudget/1", "tests": [test]}))
    assert main(["init", "run.json", "-o", "budgets.yml"]) == 3
    _, err = capsys.readouterr()
    assert err.startswith("error: run.json: cannot write these budgets: budgets.yml:")
    assert len(err.splitlines()) == 1
    assert not Path("budgets.yml").exists()


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize("command", [["compare", "run.json", "run.json"], ["check", "budgets.yml"]])
def test_a_full_standard_output_is_one_error_line(tmp_path: Path, command: list[str]) -> None:
    (tmp_path / "run.json").write_text(json.dumps(_report({"time": TIMING})))
    (tmp_path / "budgets.yml").write_text("version: 1\n")
    with open("/dev/full", "w") as full:
        finished = subprocess.run(
            [sys.executable, "-m", "pytest_perfbudget.cli", *command],
            cwd=tmp_path,
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
    assert finished.returncode == 3
    assert finished.stderr.splitlines() == ["error: standard output: cannot write: No space left on device"]
