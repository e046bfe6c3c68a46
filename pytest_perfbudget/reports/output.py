"""Writing output files: replaced in one rename where a file can be, written through where not.

Every file the plugin and ``perfbudget`` write (reports, the job summary, budget files) goes
through :func:`stage` or :func:`write_atomically`, so that what is at the named path decides
how it is written:

- nothing, or a regular file: the text goes to a temporary file beside it, is flushed to disk
  and replaces the file in one rename; an interrupted or failed write leaves the previous file;
- a symbolic link: the same, at the file it points to; the link stays a link;
- anything else that exists (a character or block device such as ``/dev/null`` or
  ``/dev/stdout``, a FIFO, a socket): opened and written, never replaced; a rename would put a
  regular file where the device was.

Several outputs are written as one set (:func:`commit_all`): all are rendered to temporaries
first, then the renames run together with a keyboard interrupt held back until the last one,
so a run leaves either every old report or every new one.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Protocol

Text = str | Iterable[str]


class Staged(Protocol):
    """An output rendered and waiting: :meth:`commit` puts it in place, :meth:`discard` drops it."""

    target: Path
    replaces: bool  # True: committing is one rename; False: writing through to the target
    committed: bool  # put in place

    def commit(self) -> None: ...

    def discard(self) -> None: ...


def write_atomically(path: Path, text: Text) -> None:
    """Write ``text`` (or its pieces, in order) to ``path``: see the module's docstring.

    Raises ``OSError`` (the previous file, if any, kept) when it cannot.
    """
    staged = stage(path, text)
    try:
        staged.commit()
    finally:
        staged.discard()


def stage(path: Path, text: Text, *, append: bool = False) -> Staged:
    """Render ``text`` for ``path`` without touching what is there yet.

    ``append``: add to the end of the file (after a blank line when it has text already)
    instead of replacing it, as for the job summary that other tools append to as well.
    """
    target = resolve(path)
    existing = _existing_mode(target)
    if existing is not None and stat.S_ISDIR(existing):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
    if append or (existing is not None and not stat.S_ISREG(existing)):
        return _WriteThrough.spool(target, text, append=append)
    return _Replacement.write(target, text, None if existing is None else stat.S_IMODE(existing))


def resolve(path: Path) -> Path:
    """``path`` with every symbolic link followed; a link loop is an error."""
    resolved = Path(os.path.realpath(path))
    if resolved.is_symlink():  # realpath stops where a loop begins
        raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), str(path))
    return resolved


def commit_all(outputs: Sequence[Staged]) -> list[tuple[Staged, OSError]]:
    """Commit every output, the renames first and together; returns the ones that failed.

    A keyboard interrupt during the renames is held back until they are all done (then
    raised), so it cannot leave some reports new and some old. Writing through to a device
    or a FIFO comes after: it may block on a reader, and must stay interruptible.
    """
    failed: list[tuple[Staged, OSError]] = []
    with interrupts_held():
        for output in outputs:
            if output.replaces:
                _commit(output, failed)
    for output in outputs:
        if not output.replaces:
            _commit(output, failed)
    return failed


def _commit(output: Staged, failed: list[tuple[Staged, OSError]]) -> None:
    try:
        output.commit()
    except OSError as error:
        failed.append((output, error))
    finally:
        output.discard()


@contextmanager
def interrupts_held() -> Iterator[None]:
    """SIGINT inside is delivered (as ``KeyboardInterrupt``) on leaving, not where it falls.

    Only the main thread can install a signal handler, and only a handler installed from
    Python can be put back: otherwise this holds nothing back.
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGINT) is None:
        yield
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if received and previous is not signal.SIG_IGN:
            raise KeyboardInterrupt


class _Replacement:
    """A temporary file beside the target, renamed over it on :meth:`commit`."""

    replaces = True

    def __init__(self, target: Path, temporary: Path) -> None:
        self.target = target
        self.temporary: Path | None = temporary
        self.committed = False

    @classmethod
    def write(cls, target: Path, text: Text, mode: int | None) -> _Replacement:
        import tempfile  # not in an idle run's imports

        target.parent.mkdir(parents=True, exist_ok=True)
        descriptor, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        staged = cls(target, Path(name))
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
                _write_text(stream, text)
                stream.flush()
                os.fsync(stream.fileno())
            # mkstemp makes it private: keep the mode of the file it replaces, or an ordinary one
            os.chmod(name, _new_file_mode() if mode is None else mode)
        except BaseException:
            staged.discard()
            raise
        return staged

    def commit(self) -> None:
        if self.temporary is None:
            raise RuntimeError(f"{self.target}: committed or discarded already")
        os.replace(self.temporary, self.target)
        self.temporary = None
        self.committed = True

    def discard(self) -> None:
        if self.temporary is not None:
            self.temporary.unlink(missing_ok=True)
            self.temporary = None


class _WriteThrough:
    """Text kept in an unnamed temporary file, written to the target on :meth:`commit`."""

    replaces = False

    def __init__(self, target: Path, spooled: IO[str], append: bool) -> None:
        self.target = target
        self.spooled: IO[str] | None = spooled
        self.append = append
        self.committed = False

    @classmethod
    def spool(cls, target: Path, text: Text, *, append: bool) -> _WriteThrough:
        import tempfile

        spooled = tempfile.TemporaryFile("w+", encoding="utf-8", newline="")  # noqa: SIM115 - kept open until committed
        staged = cls(target, spooled, append)
        try:
            _write_text(spooled, text)
        except BaseException:
            staged.discard()
            raise
        return staged

    def commit(self) -> None:
        import shutil

        if self.spooled is None:
            raise RuntimeError(f"{self.target}: committed or discarded already")
        self.spooled.seek(0)
        with self.target.open("a" if self.append else "w", encoding="utf-8") as stream:
            if self.append and stream.tell() > 0:
                stream.write("\n")  # a blank line between what was there and our part
            shutil.copyfileobj(self.spooled, stream)
        self.committed = True

    def discard(self) -> None:
        if self.spooled is not None:
            self.spooled.close()
            self.spooled = None


def _write_text(stream: IO[str], text: Text) -> None:
    if isinstance(text, str):
        stream.write(text)
    else:
        stream.writelines(text)


def _existing_mode(path: Path) -> int | None:
    """``st_mode`` of what is at ``path`` (links followed), or None when nothing is."""
    try:
        return path.stat().st_mode
    except FileNotFoundError:
        return None


def _new_file_mode() -> int:
    """0o666 less the umask, as ``open()`` would create the file."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask
