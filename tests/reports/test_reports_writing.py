"""Where reports go, end to end: through symlinks, to devices (never replacing them), one clear
error for a device that refuses, all or nothing under an interrupt, and a report under ``--sw``."""

from __future__ import annotations

import stat
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from report_samples import make_after, write_json

from pytest_perfbudget.cli import main
from pytest_perfbudget.reports import write_atomically

if TYPE_CHECKING:
    from perf_helpers import Runner

from perf_helpers import BASE_ARGS, output

PASSING = "def test_a():\n    pass\n"
OLD = {"out.json": '{"schema": "old"}\n', "out.md": "old markdown\n", "out.html": "<p>old</p>\n"}
REPORTS = ("--perf-report", "out.json", "--perf-report", "out.md", "--perf-report", "out.html")


def write_old_reports(directory: Path) -> None:
    for name, text in OLD.items():
        (directory / name).write_text(text, encoding="utf-8")


def read_reports(directory: Path) -> dict[str, str]:
    return {name: (directory / name).read_text(encoding="utf-8") for name in OLD}


def temporaries(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir() if path.name.endswith(".tmp"))


# --- devices and symlinks in a run --------------------------------------------------------


def test_a_report_goes_through_a_symlink_and_to_a_device(run: Runner, null_device: Path) -> None:
    run.pytester.makepyfile(test_plain=PASSING)
    (run.pytester.path / "kept").mkdir()
    (run.pytester.path / "out.json").symlink_to(Path("kept") / "run.json")
    device = null_device.rename(null_device.with_suffix(".md"))  # the format follows the suffix
    result = run("--perf-report", "out.json", f"--perf-report={device}")
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.OK
    assert (run.pytester.path / "out.json").is_symlink()
    assert run.report("kept/run.json")["tests"][0]["nodeid"] == "test_plain.py::test_a"
    assert stat.S_ISCHR(device.lstat().st_mode)
    assert temporaries(run.pytester.path) == temporaries(device.parent) == []


def test_a_full_device_is_one_error_line_and_the_other_reports_are_written(
    run: Runner, full_device: Path
) -> None:
    run.pytester.makepyfile(test_plain=PASSING)
    full = run.pytester.path / "full.html"
    full.symlink_to(full_device)  # the format follows the suffix
    result = run(f"--perf-report={full}", "--perf-report", "out.json")
    result.assert_outcomes(passed=1)
    # given absolute, shown relative to where pytest started, as every report path is
    result.stdout.fnmatch_lines(["ERROR could not write full.html: No space left on device"])
    assert "Traceback" not in output(result)
    assert result.ret == pytest.ExitCode.USAGE_ERROR  # CI must notice a missing report
    assert run.report()["tests"][0]["nodeid"] == "test_plain.py::test_a"
    assert stat.S_ISCHR(full_device.lstat().st_mode)


def test_the_step_summary_is_appended_through_a_symlink(
    run_serial: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_serial.pytester.makepyfile(test_plain=PASSING)
    summary = run_serial.pytester.path / "summary.md"
    summary.write_text("## Lint\n", encoding="utf-8")
    link = run_serial.pytester.path / "summary-link.md"
    link.symlink_to(summary)
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(link))
    run_serial("--perf-report", "out.json").assert_outcomes(passed=1)
    assert link.is_symlink()
    lint, ours = summary.read_text(encoding="utf-8").split("\n\n", 1)
    assert lint == "## Lint"
    assert ours.startswith("## ")


# --- stopping early and interrupts ----------------------------------------------------------


@pytest.mark.parametrize("stop", ["-x", "--sw"])
def test_a_run_stopped_after_a_failure_writes_its_report(pytester: pytest.Pytester, stop: str) -> None:
    """``--sw`` stops the run as "interrupted" on purpose; its report is written as under ``-x``."""
    pytester.makepyfile(test_stop="def test_a():\n    assert False\n\ndef test_b():\n    pass\n")
    result = pytester.runpytest("-p", "no:hypothesispytest", stop, "--perf-report", "out.json")
    result.assert_outcomes(failed=1)
    report = (pytester.path / "out.json").read_text(encoding="utf-8")
    assert '"test_stop.py::test_a"' in report
    result.stdout.fnmatch_lines(["perf report written to out.json"])
    assert "run interrupted" not in result.stdout.str()


INTERRUPT_WHILE_RENDERING_HTML = """
import pytest_perfbudget.reports.html as html

def interrupt(*args, **kwargs):
    raise KeyboardInterrupt

html.render = interrupt
"""

INTERRUPT_AT_THE_FIRST_RENAME = """
import os
import signal

real_replace = os.replace

def replace(source, destination, **kwargs):
    if str(destination).endswith("out.json"):
        os.kill(os.getpid(), signal.SIGINT)
    real_replace(source, destination, **kwargs)

os.replace = replace
"""


def interrupted_run(run: Runner, conftest: str) -> pytest.RunResult:
    """A run whose conftest interrupts the report writing: in a subprocess, so that neither the
    patch nor the signal can reach this test run."""
    run.pytester.makepyfile(test_plain=PASSING)
    run.pytester.makeconftest(textwrap.dedent(conftest))
    write_old_reports(run.pytester.path)
    return run.pytester.runpytest_subprocess(*BASE_ARGS, *run.workers, *REPORTS)


def test_an_interrupt_while_rendering_keeps_every_old_report(run: Runner) -> None:
    result = interrupted_run(run, INTERRUPT_WHILE_RENDERING_HTML)
    assert read_reports(run.pytester.path) == OLD
    assert temporaries(run.pytester.path) == []
    result.stdout.fnmatch_lines(["ERROR interrupted while writing reports: none written, earlier ones kept"])
    assert "Traceback" not in output(result)
    assert "KeyboardInterrupt" not in output(result)
    assert result.ret == pytest.ExitCode.INTERRUPTED


def test_a_renderer_crashing_leaves_no_temporary_file(run_serial: Runner) -> None:
    interrupted_run(run_serial, INTERRUPT_WHILE_RENDERING_HTML.replace("KeyboardInterrupt", "RuntimeError"))
    assert read_reports(run_serial.pytester.path) == OLD
    assert temporaries(run_serial.pytester.path) == []


def test_an_interrupt_during_the_renames_writes_every_report(run: Runner) -> None:
    result = interrupted_run(run, INTERRUPT_AT_THE_FIRST_RENAME)
    written = read_reports(run.pytester.path)
    assert all(written[name] != OLD[name] for name in OLD), written
    assert temporaries(run.pytester.path) == []
    result.stdout.fnmatch_lines(["ERROR interrupted while writing reports: all written"])
    assert "Traceback" not in output(result)
    assert result.ret == pytest.ExitCode.INTERRUPTED


# --- the perfbudget command -----------------------------------------------------------------


def command_arguments(command: str, run_json: Path, destination: Path) -> list[str]:
    if command == "compare":
        return ["compare", str(run_json), str(run_json), "--format", "md", "-o", str(destination)]
    if command == "merge":
        return ["merge", str(run_json), "-o", str(destination)]
    if command == "report":
        return ["report", str(run_json), "-o", str(destination)]
    return ["init", str(run_json), "-o", str(destination)]


COMMANDS = ["compare", "merge", "report", "init"]


@pytest.mark.parametrize("command", COMMANDS)
def test_a_command_writes_through_to_a_device(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, null_device: Path, command: str
) -> None:
    run_json = write_json(tmp_path / "run.json", make_after())
    device = null_device.rename(tmp_path / "null.md")  # a suffix for `report`
    assert main(command_arguments(command, run_json, device)) == 0, capsys.readouterr().err
    assert stat.S_ISCHR(device.lstat().st_mode)
    assert temporaries(tmp_path) == []


@pytest.mark.parametrize("command", COMMANDS)
def test_a_command_writing_to_a_full_device_fails_with_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, full_device: Path, command: str
) -> None:
    run_json = write_json(tmp_path / "run.json", make_after())
    destination = tmp_path / "full.md"
    destination.symlink_to(full_device)  # a suffix for `report`
    status = main(command_arguments(command, run_json, destination))
    err = capsys.readouterr().err
    assert status == 3
    assert err.splitlines() == [f"error: {destination}: cannot write: No space left on device"]
    assert stat.S_ISCHR(full_device.lstat().st_mode)
    assert destination.is_symlink()


@pytest.mark.parametrize("command", COMMANDS)
def test_a_command_replaces_the_target_of_a_symlink(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str
) -> None:
    run_json = write_json(tmp_path / "run.json", make_after())
    (tmp_path / "kept").mkdir()
    target = tmp_path / "kept" / "out.md"
    write_atomically(target, "old\n")
    link = tmp_path / "out.md"
    link.symlink_to(target)
    arguments = command_arguments(command, run_json, link)
    assert main([*arguments, "--force"] if command == "init" else arguments) == 0, capsys.readouterr().err
    assert link.is_symlink()
    assert target.read_text(encoding="utf-8") != "old\n"
