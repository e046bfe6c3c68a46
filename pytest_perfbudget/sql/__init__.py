"""SQL measurement for SQLAlchemy.

The plugin calls :meth:`SqlInstrumentation.ensure_installed` before each
measured call. Once the code under test has imported SQLAlchemy, that wraps
the dialect classes (see :mod:`.hooks`) so that every statement sent while a
round is measured is recorded as a :class:`~pytest_perfbudget.queries.Statement`
in :data:`pytest_perfbudget.queries.capture`. Nothing here imports SQLAlchemy
unless it is already imported, nor the hooks and the call-site walk until it
is: a suite without it pays nothing for it.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from .importwatch import ImportWatcher

if TYPE_CHECKING:
    from .callsite import CallSiteLocator

__all__ = ["CallSiteLocator", "SqlInstrumentation", "StatementObserver"]


class StatementObserver(Protocol):
    """Shown every query a measured test runs: its shape, its text and SQLAlchemy's execution context."""

    def observe(self, shape: str, sql: str, context: Any) -> None: ...


class SqlInstrumentation:
    """Installs SQL counting once SQLAlchemy has been imported by the code under test."""

    def __init__(
        self, rootdir: Path, exclude: Sequence[str] = (), observer: StatementObserver | None = None
    ) -> None:
        self.rootdir = rootdir
        self.exclude = tuple(exclude)
        self.observer = observer
        self._locator: CallSiteLocator | None = None

    @property
    def locator(self) -> CallSiteLocator:
        """Made on first use: finding the library directories takes a moment."""
        if self._locator is None:
            from .callsite import CallSiteLocator

            self._locator = CallSiteLocator(self.rootdir, self.exclude)
        return self._locator

    def ensure_installed(self) -> None:
        """Cheap when already installed or when SQLAlchemy is not imported.

        Also points call sites at this session's rootdir (an in-process pytester
        run has its own).
        """
        if "sqlalchemy" not in sys.modules:
            _waiting[0] = self  # the watcher installs for it if the call imports SQLAlchemy
            _watcher.start()
            return
        self._install()

    def stop_watching(self) -> None:
        """Take the import watcher out of ``sys.meta_path`` (at the end of the session).

        Not only tidy: a finder left in ``sys.meta_path`` makes the interpreter's shutdown
        measurably slower.
        """
        if _waiting[0] is self:
            _waiting[0] = None
            _watcher.stop()
        hooks = sys.modules.get(f"{__name__}.hooks")
        if hooks is not None and self.observer is not None:
            hooks.recorder.observer = None  # another session in this process may not explain

    def _install(self) -> None:
        from . import hooks

        hooks.recorder.configure(self.locator)
        hooks.recorder.observer = self.observer.observe if self.observer is not None else None
        if not hooks.is_installed():
            hooks.install()


_waiting: list[SqlInstrumentation | None] = [None]  # the instrumentation that last asked


def _on_import() -> None:
    instrumentation = _waiting[0]
    if instrumentation is not None:
        instrumentation._install()
    else:
        from . import hooks

        hooks.install()


_watcher = ImportWatcher("sqlalchemy", _on_import)


def __getattr__(name: str) -> Any:
    if name == "CallSiteLocator":  # imported on first use, as the hooks are
        from .callsite import CallSiteLocator

        return CallSiteLocator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
