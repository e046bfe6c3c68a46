"""Options and ini keys: precedence, paths, usage errors, and budget-file errors end to end."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pytest_perfbudget import budgets, options

if TYPE_CHECKING:
    from perf_helpers import Runner

ONE_TEST = """
def test_a():
    pass
"""


def rounds_measured(run: Runner) -> int:
    return len(run.record("test_one.py::test_a")["metrics"]["time"]["rounds"])


def test_rounds_precedence_command_line_over_ini_over_file(run_serial: Runner) -> None:
    run_serial.pytester.makepyfile(test_one=ONE_TEST)
    run_serial.budgets("version: 1\nsettings:\n  rounds: 2\nbudgets:\n  '**': {time: 5s}\n")
    args = ("--perf-budget", "budgets.yml", "--perf-report", "out.json")

    run_serial(*args).assert_outcomes(passed=1)
    assert rounds_measured(run_serial) == 2

    run_serial.pytester.makeini("[pytest]\nperf_rounds = 3\n")
    run_serial(*args).assert_outcomes(passed=1)
    assert rounds_measured(run_serial) == 3

    run_serial(*args, "--perf-rounds", "4").assert_outcomes(passed=1)
    assert rounds_measured(run_serial) == 4


def test_perf_rounds_overrides_entries_and_markers(run_serial: Runner) -> None:
    run_serial.pytester.makepyfile(
        test_one="""
        import pytest

        @pytest.mark.perf_budget(rounds=5)
        def test_a():
            pass
        """
    )
    run_serial.budgets("version: 1\nbudgets:\n  '**': {rounds: 7}\n")
    run_serial("--perf-budget", "budgets.yml", "--perf-report", "out.json").assert_outcomes(passed=1)
    assert rounds_measured(run_serial) == 5
    run_serial(
        "--perf-budget", "budgets.yml", "--perf-report", "out.json", "--perf-rounds", "2"
    ).assert_outcomes(passed=1)
    assert rounds_measured(run_serial) == 2


def test_ini_paths_are_relative_to_the_ini_file(run_serial: Runner, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester = run_serial.pytester
    pytester.makeini(
        """
        [pytest]
        perf_budget = perf/budgets.yml
        perf_report =
            perf/out.json
            perf/copy.json
        """
    )
    (pytester.path / "perf").mkdir()
    (pytester.path / "perf" / "budgets.yml").write_text(
        "version: 1\nsettings: {retries: 0}\nbudgets:\n  tests/test_one.py::test_slow: {time: 1ns}\n",
        encoding="utf-8",
    )
    tests = pytester.mkpydir("tests")
    (tests / "test_one.py").write_text(
        "import time\n\ndef test_slow():\n    time.sleep(0.01)\n\ndef test_fast():\n    pass\n",
        encoding="utf-8",
    )
    monkeypatch.chdir(tests)
    result = run_serial()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "  time * > 1ns *(perf/budgets.yml: tests/test_one.py::test_slow)",
            "perf report written to ../perf/out.json",
            "perf report written to ../perf/copy.json",
        ]
    )
    original = run_serial.report("perf/out.json")
    assert original == run_serial.report("perf/copy.json")
    assert sorted(test["nodeid"] for test in original["tests"]) == [
        "tests/test_one.py::test_fast",
        "tests/test_one.py::test_slow",
    ]


def test_report_paths_print_relative_to_where_pytest_started(run_serial: Runner) -> None:
    """An absolute path in the project prints as a relative one, as an ini key's path does."""
    run_serial.pytester.makepyfile(test_one=ONE_TEST)
    absolute = run_serial.pytester.path / "reports" / "out.json"
    absolute.parent.mkdir()
    run_serial.pytester.makeini("[pytest]\nperf_report = reports/ini.json\n")
    result = run_serial()
    result.stdout.fnmatch_lines(["perf report written to reports/ini.json"])
    run_serial("--perf-report", str(absolute)).stdout.fnmatch_lines(
        ["perf report written to reports/out.json"]
    )


def test_the_command_line_report_replaces_the_ini_reports(run_serial: Runner) -> None:
    run_serial.pytester.makeini("[pytest]\nperf_report = ini.json\n")
    run_serial.pytester.makepyfile(test_one=ONE_TEST)
    run_serial("--perf-report", "a.json", "--perf-report", "b.json").assert_outcomes(passed=1)
    assert run_serial.report("a.json") == run_serial.report("b.json")
    assert run_serial.report("a.json")["tests"][0]["nodeid"] == "test_one.py::test_a"
    assert not (run_serial.pytester.path / "ini.json").exists()


def test_perf_budget_from_the_ini_file_and_the_command_line(run_serial: Runner) -> None:
    run_serial.pytester.makepyfile(test_one="import time\n\ndef test_a():\n    time.sleep(0.01)\n")
    run_serial.budgets("version: 1\nsettings: {retries: 0}\nbudgets:\n  '**': {time: 1ns}\n", name="strict")
    run_serial.budgets("version: 1\nbudgets:\n  '**': {time: 5s}\n", name="relaxed")
    run_serial.pytester.makeini("[pytest]\nperf_budget = strict.yml\n")
    run_serial().assert_outcomes(failed=1)
    run_serial("--perf-budget", "relaxed.yml").assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("ini", "message"),
    [
        ("perf_mode = loud", "*perf_mode*loud*"),
        ("perf_rounds = many", "*perf_rounds*many*"),
        ("perf_rounds = 0", "*perf_rounds*0*"),
        ("perf_rounds = 100000000000000000000", "*perf_rounds*between 1 and 10000*100000000000000000000*"),
        ("perf_budget = missing.yml", "*missing.yml: budget file not found*"),
    ],
    ids=["mode", "rounds-word", "rounds-zero", "rounds-endless", "missing-budget-file"],
)
def test_bad_ini_values_are_usage_errors(run_serial: Runner, ini: str, message: str) -> None:
    run_serial.pytester.makeini(f"[pytest]\n{ini}\n")
    run_serial.pytester.makepyfile(test_one=ONE_TEST)
    result = run_serial()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {message}"])
    assert "Traceback" not in run_serial.output(result)


@pytest.mark.parametrize(
    "args",
    [
        ("--perf-mode", "loud"),
        ("--perf-rounds", "0"),
        ("--perf-rounds", "many"),
        ("--perf-rounds", "100000000000000000000"),
        ("--perf-report", "report.txt"),
        ("--perf-report", "report"),
    ],
    ids=["mode", "rounds-zero", "rounds-word", "rounds-endless", "txt-report", "no-suffix"],
)
def test_bad_options_are_usage_errors(run_serial: Runner, args: tuple[str, str]) -> None:
    run_serial.pytester.makepyfile(test_one=ONE_TEST)
    result = run_serial(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert args[1] in "\n".join(result.errlines)
    assert "Traceback" not in run_serial.output(result)
    assert not list(run_serial.pytester.path.glob("report*"))


def test_the_options_are_documented_in_help(run_serial: Runner) -> None:
    result = run_serial("--help")
    result.stdout.fnmatch_lines(["*performance budgets (pytest-perfbudget)*"])
    for option in (
        "--perf-budget",
        "--perf-report",
        "--perf-baseline",
        "--perf-mode",
        "--perf-rounds",
        "--perf-memory",
    ):
        result.stdout.fnmatch_lines([f"*{option}*"])
    for key in ("perf_budget", "perf_report", "perf_baseline", "perf_mode", "perf_rounds", "perf_memory"):
        result.stdout.fnmatch_lines([f"  {key} *"])


# --- budget-file errors end to end ---------------------------------------------------------

BAD_FILE = """\
version: 1
budgets:
  "**":
    time: 2s
    querys: 3
"""


def test_a_bad_budget_file_is_a_usage_error(run: Runner) -> None:
    run.pytester.makepyfile(test_one=ONE_TEST)
    run.pytester.path.joinpath("bad.yml").write_text(BAD_FILE, encoding="utf-8")
    result = run("--perf-budget", "bad.yml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: bad.yml:5: unknown metric 'querys' (did you mean 'queries'?)"])
    text = run.output(result)
    assert "Traceback" not in text
    assert "passed" not in text  # before any test runs


def test_a_missing_budget_file_is_a_usage_error(run_serial: Runner) -> None:
    run_serial.pytester.makepyfile(test_one=ONE_TEST)
    result = run_serial("--perf-budget", "nowhere/budgets.yml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: nowhere/budgets.yml: budget file not found"])
    assert "Traceback" not in run_serial.output(result)


@pytest.mark.parametrize(
    "text",
    [
        "version: !!int abc\n",
        "version: 1\nbudgets: &a {x: *a}\n",
        "version: 1\x1f\n",
        "version: 1\nbudgets:\n  '**':\n    memory: " + "9" * 400 + "\n",
    ],
    ids=["bad-tag", "recursive-alias", "control-character", "huge-number"],
)
def test_an_odd_budget_file_is_a_usage_error_not_a_crash(run_serial: Runner, text: str) -> None:
    run_serial.pytester.makepyfile(test_one=ONE_TEST)
    run_serial.pytester.path.joinpath("odd.yml").write_text(text, encoding="utf-8")
    result = run_serial("--perf-budget", "odd.yml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: odd.yml*: *"])
    assert "Traceback" not in run_serial.output(result)
    assert "INTERNALERROR" not in run_serial.output(result)


def test_the_budget_file_is_not_read_when_perf_is_off(run_serial: Runner) -> None:
    run_serial.pytester.makepyfile(test_one=ONE_TEST)
    run_serial.pytester.path.joinpath("bad.yml").write_text(BAD_FILE, encoding="utf-8")
    run_serial("--perf-budget", "bad.yml", "--perf-mode", "off").assert_outcomes(passed=1)


def test_the_option_and_the_file_bound_rounds_alike() -> None:
    assert options.MAX_ROUNDS == budgets.MAX_ROUNDS


def test_a_run_warns_of_a_bare_time_that_was_probably_meant_in_milliseconds(run: Runner) -> None:
    run.pytester.makepyfile(test_one=ONE_TEST)
    run.budgets('version: 1\nbudgets:\n  "**":\n    time: 100\n')
    result = run("--perf-budget", "budgets.yml", "--perf-report", "out.json")
    result.assert_outcomes(passed=1)
    warning = "budgets.yml:4: time: 100 is 100 seconds (a bare number is seconds); write 100ms if you meant milliseconds"
    result.stdout.fnmatch_lines([f"WARNING {warning}", "perf: 1 measured, *, 1 warning"])
    assert run.report()["warnings"] == [warning]


def test_budget_files_given_together_merge_in_order(run: Runner) -> None:
    """A later file's entries apply after the earlier file's, metric by metric; its settings win.
    Each limit names the file it came from."""
    run.pytester.makepyfile(
        test_two="""
        import sqlalchemy

        ENGINE = sqlalchemy.create_engine("sqlite://")

        def test_two_queries():
            with ENGINE.connect() as connection:
                connection.execute(sqlalchemy.text("SELECT 1"))
                connection.execute(sqlalchemy.text("SELECT 2"))
        """
    )
    run.budgets('version: 1\nsettings:\n  rounds: 2\nbudgets:\n  "**": {time: 5s, queries: 0}\n', name="a")
    run.budgets('version: 1\nsettings:\n  rounds: 3\nbudgets:\n  "**": {queries: 1}\n', name="b")
    result = run("--perf-budget", "a.yml", "--perf-budget", "b.yml", "--perf-report", "out.json")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["  queries *2 > 1 *(b.yml: **)"])
    record = run.record("test_two.py::test_two_queries")
    assert record["budgets"]["time"]["source"] == "a.yml:5"
    assert record["budgets"]["queries"]["source"] == "b.yml:5"
    assert len(record["metrics"]["time"]["rounds"]) == 3


def test_budget_files_in_the_ini_file_one_per_line(run_serial: Runner) -> None:
    run_serial.pytester.makepyfile(test_one=ONE_TEST)
    run_serial.budgets('version: 1\nbudgets:\n  "**": {time: 5s}\n', name="a")
    run_serial.budgets('version: 1\nbudgets:\n  "**": {cpu: 5s}\n', name="b")
    run_serial.pytester.makeini("[pytest]\nperf_budget =\n    a.yml\n    b.yml\n")
    run_serial("--perf-report", "out.json").assert_outcomes(passed=1)
    budgets = run_serial.record("test_one.py::test_a")["budgets"]
    assert (budgets["time"]["source"], budgets["cpu"]["source"]) == ("a.yml:3", "b.yml:3")


# --- a path option's value taken for a path to test -------------------------------------------------


@pytest.fixture
def project_and_shared_budgets(run_serial: Runner, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project with its own pytest config, run from its directory, and a budget file outside it."""
    pytester = run_serial.pytester
    project = pytester.path / "project"
    (project / "tests").mkdir(parents=True)
    (project / "pyproject.toml").write_text(
        "[tool.pytest.ini_options]\nmarkers = ['slow']\n", encoding="utf-8"
    )
    (project / "tests" / "test_one.py").write_text(ONE_TEST, encoding="utf-8")
    shared = pytester.path / "shared" / "budgets.yml"
    shared.parent.mkdir()
    shared.write_text("version: 1\nbudgets: {}\n", encoding="utf-8")
    monkeypatch.chdir(project)
    return shared


def test_a_separate_budget_path_that_moves_the_rootdir_is_named_with_the_fix(
    run_serial: Runner, project_and_shared_budgets: Path
) -> None:
    result = run_serial("--perf-budget", str(project_and_shared_budgets))
    result.assert_outcomes(passed=1)
    project = project_and_shared_budgets.parent.parent / "project"
    result.stdout.fnmatch_lines(
        [
            f"*PytestConfigWarning: --perf-budget {project_and_shared_budgets}: pytest took the value for a "
            f"path to test, which moved the rootdir to {project.parent} (config file: none) from {project} "
            f"(config file: {project / 'pyproject.toml'}); node ids and budget patterns follow the rootdir. "
            f"Write --perf-budget={project_and_shared_budgets} (one token), or a path relative to the project."
        ]
    )


def test_the_one_token_form_keeps_the_rootdir_and_says_nothing(
    run_serial: Runner, project_and_shared_budgets: Path
) -> None:
    result = run_serial(f"--perf-budget={project_and_shared_budgets}")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"rootdir: {run_serial.pytester.path / 'project'}"])
    result.stdout.no_fnmatch_line("*took the value for a path to test*")


def test_a_separate_path_inside_the_project_says_nothing(run_serial: Runner) -> None:
    run_serial.pytester.makepyfile(test_one=ONE_TEST)
    run_serial.budgets("version: 1\nbudgets: {}\n")
    result = run_serial("--perf-budget", "budgets.yml", "--perf-report", "out.json")
    result.assert_outcomes(passed=1)
    result.stdout.no_fnmatch_line("*took the value for a path to test*")
