"""The reference pages say what the code does: keys, defaults, units, statistics, errors, options."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from doc_blocks import ROOT

from pytest_perfbudget import budget_file, budgets, cli, stats, units

BUDGET_FILE_DOC = (ROOT / "docs/budget-file.md").read_text(encoding="utf-8")


def section(text: str, heading: str) -> str:
    """The text under ``## heading`` up to the next heading of the same level."""
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert match, f"no section '## {heading}'"
    return match[1]


def table_rows(text: str) -> list[list[str]]:
    rows = []
    for line in text.splitlines():
        if line.startswith("|") and not re.match(r"^\|[-:| ]+\|$", line):
            rows.append([cell.strip() for cell in line.strip().strip("|").split(" | ")])
    return rows[1:]  # without the heading row


def first_code(cell: str) -> str:
    match = re.search(r"`([^`]+)`", cell)
    assert match, cell
    return match[1]


def test_every_metric_is_in_the_metrics_table() -> None:
    documented = [first_code(row[0]) for row in table_rows(section(BUDGET_FILE_DOC, "Metrics"))]
    assert sorted(documented) == sorted(budgets.METRICS)


def test_every_setting_is_in_the_settings_table_with_its_default() -> None:
    rows = table_rows(section(BUDGET_FILE_DOC, "Settings"))
    documented = {first_code(row[0]): row[1] for row in rows}
    assert sorted(documented) == sorted(budgets.TEST_SETTINGS)
    defaults = budgets.Settings()
    for name in ("rounds", "warmup", "statistic", "retries", "level", "n_plus_one_threshold"):
        assert documented[name] == f"`{getattr(defaults, name)}`", name
    assert units.parse_duration(first_code(documented["noise_floor"])) == defaults.noise_floor
    tolerance = documented["tolerance"]
    for metric, allowance in defaults.tolerance.items():
        shown = f"{allowance.relative:.0%}" if allowance.relative is not None else f"{allowance.absolute:g}"
        assert f"{metric}: {shown}" in tolerance, (metric, tolerance)
    assert set(budgets.TEST_SETTINGS) - set(budget_file.FILE_SETTINGS) == {"level"}
    assert "only allowed in an entry or a" in section(BUDGET_FILE_DOC, "Settings")


def test_every_unit_and_statistic_is_documented() -> None:
    unit_rows = {row[0]: row[1] for row in table_rows(section(BUDGET_FILE_DOC, "Units"))}

    def words(cell: str) -> set[str]:
        return {code for code in re.findall(r"`([^`]+)`", cell) if not re.search(r"\d", code)}

    assert words(unit_rows["time"]) == set(units.TIME_UNITS)
    assert words(unit_rows["memory"]) == set(units.SIZE_UNITS)
    rates = {unit.split("/")[1] for unit in re.findall(r"`\d+(/\w+)`", unit_rows["rate"])}
    assert rates == set(units.RATE_UNITS)
    statistics = section(BUDGET_FILE_DOC, "Statistics").split(". ")[0]
    assert re.findall(r"`(\w+)`", statistics) == list(stats.STATISTICS)


# Input files for the rows of the error table: each gives the documented message exactly.
ERROR_INPUTS = {
    "not YAML": 'version: 1\nbudgets:\n  "**":\n    time: [1s, 2s',  # no newline: the end is on line 4
    "empty file": "",
    "unquoted pattern": "version: 1\nbudgets:\n  **:\n    time: 1s\n",
    "top level not a mapping": "- version\n- 1\n",
    "unknown top-level key": "version: 1\nbudget: {}\n",
    "missing version": "budgets: {}\n",
    "unsupported version": "version: 2\n",
    "version as a string": 'version: "1"\n',
    "unknown metric": "version: 1\n" + "#\n" * 8 + 'budgets:\n  "tests/test_orders.py":\n    querys: 3\n',
    "unknown setting": "version: 1\nsettings:\n  round: 3\n",
    "`level` in `settings:`": "version: 1\nsettings:\n  level: warn\n",
    "duplicate key": 'version: 1\nbudgets:\n  "**":\n    time: 1s\n    time: 2s\n',
    "wrong type": 'version: 1\nbudgets:\n  "**":\n    queries: three\n',
    "negative limit": 'version: 1\nbudgets:\n  "**":\n    time: -1s\n',
    "bad unit": 'version: 1\nbudgets:\n  "**":\n    time: 1sec\n',
    "unreadable value": 'version: 1\nbudgets:\n  "**":\n    time: fast\n',
    "bad rate": 'version: 1\nbudgets:\n  "**":\n    throughput: 5000 ops\n',
    "unknown statistic": 'version: 1\nbudgets:\n  "**":\n    time: {p96: 1s}\n',
    "statistics on a single-value metric": 'version: 1\nbudgets:\n  "**":\n    memory: {max: 1MB}\n',
    "bad level": 'version: 1\nbudgets:\n  "**":\n    level: fatal\n',
    "too few rounds": "version: 1\nsettings:\n  rounds: 0\n",
    "too many rounds": "version: 1\nsettings:\n  rounds: 100000\n",
    "value too large": 'version: 1\nbudgets:\n  "**":\n    time: 1e308min\n',
    "nested too deep": "version: 1\nsettings:\n  n_plus_one_ignore: " + "[" * 70 + "]" * 70 + "\n",
    "aliases expanding too far": "version: 1\nsettings:\n  n_plus_one_ignore:\n"
    + '    - &l0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]\n'
    + "".join(f"    - &l{n} [{', '.join([f'*l{n - 1}'] * 10)}]\n" for n in range(1, 10)),
    "`settings` not a mapping": "version: 1\nsettings: 3\n",
    "`budgets` not a mapping": "version: 1\nbudgets: [tests]\n",
    "entry not a mapping": 'version: 1\nbudgets:\n  "**": 1s\n',
    "empty pattern": 'version: 1\nbudgets:\n  "": {time: 1s}\n',
    "bad tolerance": "version: 1\nsettings:\n  tolerance:\n    tiem: 20%\n",
    "executable YAML tag": "version: 1\nbudgets:\n  \"**\":\n    time: !!python/name:os.system ''\n",
}


def error_rows() -> list[tuple[str, str]]:
    return [(row[0], first_code(row[1])) for row in table_rows(section(BUDGET_FILE_DOC, "Errors"))]


@pytest.mark.parametrize(("problem", "message"), error_rows(), ids=[row[0] for row in error_rows()])
def test_each_documented_error_is_what_the_file_gets(problem: str, message: str, tmp_path: Path) -> None:
    path = tmp_path / "budgets.yml"
    if problem == "file missing":
        source = path
    else:
        assert problem in ERROR_INPUTS, f"add an input file for the documented error {problem!r}"
        path.write_text(ERROR_INPUTS[problem], encoding="utf-8")
        source = path
    with pytest.raises(budget_file.BudgetFileError) as error:
        budget_file.load(source, display="budgets.yml")
    assert str(error.value) == message


# --- options and commands ---------------------------------------------------------------

OPTIONS_SOURCE = (ROOT / "pytest_perfbudget/options.py").read_text(encoding="utf-8")


@pytest.mark.parametrize("page", ["README.md", "docs/index.md"])
def test_the_options_tables_list_every_option_and_ini_key(page: str) -> None:
    options = set(re.findall(r'addoption\(\s*"(--perf-[\w-]+)"', OPTIONS_SOURCE))
    ini_keys = set(re.findall(r'addini\(\s*"(perf_\w+)"', OPTIONS_SOURCE))
    rows = table_rows(section((ROOT / page).read_text(encoding="utf-8"), "Options"))
    assert {first_code(row[0]).split()[0].split("=")[0] for row in rows} == options
    documented_ini = {first_code(row[1]) for row in rows}
    assert documented_ini == ini_keys - {"perf_call_site_exclude"}
    assert "perf_call_site_exclude" in (ROOT / "docs/sql.md").read_text(encoding="utf-8")


def test_every_perfbudget_command_and_option_is_documented() -> None:
    reports = (ROOT / "docs/reports.md").read_text(encoding="utf-8")
    synopsis = section(reports, "The `perfbudget` command")
    parser = cli.parser()
    commands = next(action for action in parser._actions if action.dest == "command")
    for name, command in commands.choices.items():
        line = next((line for line in synopsis.splitlines() if line.startswith(f"perfbudget {name}")), None)
        assert line is not None, f"docs/reports.md: no synopsis for perfbudget {name}"
        text = synopsis[synopsis.index(line) :].split("\nperfbudget ")[0]
        for action in command._actions:
            flags = [flag for flag in action.option_strings if flag not in ("-h", "--help")]
            if flags:
                assert any(re.search(rf"{re.escape(flag)}\b", text) for flag in flags), (
                    f"perfbudget {name} {flags} is not in its synopsis"
                )


# --- the report samples -----------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".md", ".html"])
def test_the_report_samples_are_what_perfbudget_report_writes(suffix: str, tmp_path: Path) -> None:
    """docs/samples/after.* are renderings of docs/samples/after.json: they change with the renderer.

    Regenerate them with the commands of docs/reports.md, "A real sample".
    """
    samples = ROOT / "docs/samples"
    output = tmp_path / f"after{suffix}"
    arguments = [
        "report",
        str(samples / "after.json"),
        "-o",
        str(output),
        "--baseline",
        str(samples / "before.json"),
    ]
    assert cli.main(arguments) == 0
    assert output.read_text(encoding="utf-8") == (samples / f"after{suffix}").read_text(encoding="utf-8")
