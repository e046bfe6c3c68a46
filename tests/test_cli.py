"""``perfbudget check`` (validate a budget file without running tests), and what every command's help says."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_perfbudget import __version__
from pytest_perfbudget.cli import main

GOOD = """\
version: 1
settings:
  rounds: 3
budgets:
  "**":
    time: 2s
  "tests/test_orders.py::test_list_orders":
    queries: 3
"""

BAD = """\
version: 1
budgets:
  "**":
    time: 2s
    querys: 3
"""


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "good.yml").write_text(GOOD, encoding="utf-8")
    (tmp_path / "bad.yml").write_text(BAD, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_check_a_good_file(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "good.yml"]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == "good.yml: ok (2 patterns)"
    assert err == ""


def test_check_a_bad_file(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "bad.yml"]) == 4
    out, err = capsys.readouterr()
    assert out == ""
    assert err.strip().endswith("bad.yml:5: unknown metric 'querys' (did you mean 'queries'?)")
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_check_a_missing_file(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "missing.yml"]) == 4
    _, err = capsys.readouterr()
    assert err.strip().endswith("missing.yml: budget file not found")


def test_check_an_odd_file(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (files / "odd.yml").write_text("version: !!int abc\n", encoding="utf-8")
    assert main(["check", "odd.yml"]) == 4
    _, err = capsys.readouterr()
    assert "odd.yml:1: " in err


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out, _ = capsys.readouterr()
    assert "usage: perfbudget" in out
    assert "check" in out
    assert main(["check", "--help"]) == 0
    out, _ = capsys.readouterr()
    assert "FILE" in out


def test_no_command_is_an_argument_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    _, err = capsys.readouterr()
    assert "usage: perfbudget" in err


def test_the_console_script(files: Path) -> None:
    script = Path(sys.executable).with_name("perfbudget")
    if not script.exists():
        pytest.skip(f"no perfbudget script next to {sys.executable}")
    good = subprocess.run([str(script), "check", "good.yml"], capture_output=True, text=True, check=False)
    assert (good.returncode, good.stdout.strip()) == (0, "good.yml: ok (2 patterns)")
    bad = subprocess.run([str(script), "check", "bad.yml"], capture_output=True, text=True, check=False)
    assert bad.returncode == 4
    assert bad.stdout == ""
    assert "bad.yml:5: unknown metric 'querys' (did you mean 'queries'?)" in bad.stderr
    assert "Traceback" not in bad.stderr


@pytest.mark.parametrize(
    ("command", "statuses"),
    [
        ("check", "024"),
        ("compare", "0123"),
        ("merge", "023"),
        ("report", "023"),
        ("init", "023"),
    ],
)
def test_each_help_lists_only_its_own_exit_statuses(
    command: str, statuses: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([command, "--help"]) == 0
    out, _ = capsys.readouterr()
    listed = re.findall(r"^  (\d)  ", out.partition("exit status:")[2], re.M)
    assert "".join(listed) == statuses, out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    out, _ = capsys.readouterr()
    assert out == f"perfbudget {__version__}\n"


def test_pytest_shows_the_version_perfbudget_shows(pytester: pytest.Pytester) -> None:
    """The header's ``plugins:`` line and ``pytest -VV`` show the installed distribution's version."""
    assert importlib.metadata.version("pytest-perfbudget") == __version__
    result = pytester.runpytest_subprocess("-VV")
    result.stdout.fnmatch_lines([f"*pytest-perfbudget-{__version__} at *"])


def test_check_warns_of_a_bare_time_that_was_probably_meant_in_milliseconds(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (files / "bare.yml").write_text('version: 1\nbudgets:\n  "**":\n    time: 100\n', encoding="utf-8")
    assert main(["check", "bare.yml"]) == 0
    out, err = capsys.readouterr()
    assert out == "bare.yml: ok (1 pattern)\n"
    assert err == (
        "warning: bare.yml:4: time: 100 is 100 seconds (a bare number is seconds); "
        "write 100ms if you meant milliseconds\n"
    )


def test_check_several_files(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "good.yml", "missing.yml", "good.yml"]) == 4
    out, err = capsys.readouterr()
    assert out == "good.yml: ok (2 patterns)\ngood.yml: ok (2 patterns)\n"
    assert err == "error: missing.yml: budget file not found\n"
