"""Writing output files: atomic replace for regular files, symlinks followed, devices and FIFOs
written through, never replaced; several reports replaced together."""

from __future__ import annotations

import errno
import os
import signal
import stat
import threading
from pathlib import Path

import pytest

from pytest_perfbudget.reports import github
from pytest_perfbudget.reports.output import commit_all, stage, write_atomically


def read_fifo_in_background(path: Path) -> tuple[threading.Thread, list[str]]:
    """Start a reader of the FIFO at ``path``; its text is in the list once the thread ends."""
    text: list[str] = []

    def read() -> None:
        with path.open(encoding="utf-8") as stream:
            text.append(stream.read())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    return reader, text


def leftovers(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir() if path.name.endswith(".tmp"))


def test_a_symlink_stays_a_link_and_its_target_is_replaced(tmp_path: Path) -> None:
    (tmp_path / "kept").mkdir()
    target = tmp_path / "kept" / "report.json"
    target.write_text("old\n", encoding="utf-8")
    link = tmp_path / "report.json"
    link.symlink_to(Path("kept") / "report.json")

    write_atomically(link, "new\n")

    assert link.is_symlink()
    assert os.readlink(link) == str(Path("kept") / "report.json")
    assert target.read_text(encoding="utf-8") == "new\n"
    assert leftovers(tmp_path) == leftovers(tmp_path / "kept") == []


def test_a_dangling_symlink_gets_its_target_created(tmp_path: Path) -> None:
    link = tmp_path / "report.md"
    link.symlink_to(tmp_path / "out" / "report.md")
    write_atomically(link, "new\n")
    assert link.is_symlink()
    assert (tmp_path / "out" / "report.md").read_text(encoding="utf-8") == "new\n"


def test_a_symlink_loop_is_an_error_and_stays(tmp_path: Path) -> None:
    (tmp_path / "a.json").symlink_to("b.json")
    (tmp_path / "b.json").symlink_to("a.json")
    with pytest.raises(OSError, match="symbolic links") as raised:
        write_atomically(tmp_path / "a.json", "new\n")
    assert raised.value.errno == errno.ELOOP
    assert (tmp_path / "a.json").is_symlink()
    assert (tmp_path / "b.json").is_symlink()


def test_a_fifo_is_written_through_and_stays_a_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "report.md"
    os.mkfifo(fifo)
    reader, text = read_fifo_in_background(fifo)
    write_atomically(fifo, ["# report\n", "line\n"])
    reader.join(timeout=30)
    assert text == ["# report\nline\n"]
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    assert leftovers(tmp_path) == []


def test_a_device_is_written_through_and_stays_a_device(tmp_path: Path, null_device: Path) -> None:
    write_atomically(null_device, "a report nobody keeps\n")
    assert stat.S_ISCHR(null_device.lstat().st_mode)
    assert null_device.stat().st_rdev == os.makedev(1, 3)
    assert leftovers(tmp_path) == []


def test_a_symlink_to_a_device_writes_through_to_the_device(tmp_path: Path, null_device: Path) -> None:
    link = tmp_path / "report.json"
    link.symlink_to(null_device)
    write_atomically(link, "{}\n")
    assert link.is_symlink()
    assert stat.S_ISCHR(null_device.lstat().st_mode)


def test_a_full_device_is_an_error(tmp_path: Path, full_device: Path) -> None:
    with pytest.raises(OSError, match="No space left on device") as raised:
        write_atomically(full_device, "x" * 100_000)
    assert raised.value.errno == errno.ENOSPC
    assert stat.S_ISCHR(full_device.lstat().st_mode)
    assert leftovers(tmp_path) == []


def test_a_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(IsADirectoryError):
        write_atomically(tmp_path, "new\n")


def test_replacing_a_file_keeps_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "budgets.yml"
    path.write_text("old\n", encoding="utf-8")
    path.chmod(0o600)
    write_atomically(path, "new\n")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text(encoding="utf-8") == "new\n"


def test_an_append_adds_after_a_blank_line_through_a_symlink(tmp_path: Path) -> None:
    summary = tmp_path / "step_summary"
    summary.write_text("earlier step\n", encoding="utf-8")
    link = tmp_path / "summary-link"
    link.symlink_to(summary)
    github.append_step_summary(link, "## Performance budget")
    assert link.is_symlink()
    assert summary.read_text(encoding="utf-8") == "earlier step\n\n## Performance budget\n"


def test_a_staged_output_touches_nothing_until_committed(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    path.write_text("old\n", encoding="utf-8")
    staged = stage(path, "new\n")
    assert path.read_text(encoding="utf-8") == "old\n"
    staged.discard()
    assert path.read_text(encoding="utf-8") == "old\n"
    assert leftovers(tmp_path) == []


def test_an_interrupt_during_the_renames_waits_for_the_last_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGINT while the first report is renamed: every report is still replaced, then the interrupt."""
    paths = [tmp_path / name for name in ("out.json", "out.md", "out.html")]
    for path in paths:
        path.write_text("old\n", encoding="utf-8")
    staged = [stage(path, f"new {path.suffix}\n") for path in paths]
    real_replace = os.replace

    def interrupted_replace(source: str, destination: str) -> None:
        if str(destination).endswith("out.json"):
            os.kill(os.getpid(), signal.SIGINT)
        real_replace(source, destination)

    monkeypatch.setattr(os, "replace", interrupted_replace)
    with pytest.raises(KeyboardInterrupt):
        commit_all(staged)
    monkeypatch.undo()
    assert [path.read_text(encoding="utf-8") for path in paths] == ["new .json\n", "new .md\n", "new .html\n"]
    assert all(output.committed for output in staged)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert leftovers(tmp_path) == []


def test_a_failed_commit_is_returned_and_the_others_are_written(tmp_path: Path, full_device: Path) -> None:
    good = tmp_path / "out.json"
    outputs = [stage(full_device, "x" * 100_000), stage(good, "{}\n")]
    failed = commit_all(outputs)
    assert [(output.target, error.errno) for output, error in failed] == [
        (full_device.resolve(), errno.ENOSPC)
    ]
    assert good.read_text(encoding="utf-8") == "{}\n"
