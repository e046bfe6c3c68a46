"""SQL measurement for SQLAlchemy.

The plugin calls :meth:`SqlInstrumentation.ensure_installed` before each
measured call. Once the code under test has imported SQLAlchemy, that wraps
the dialect classes (see :mod:`.hooks`) so that every statement sent while a
round is measured is recorded as a :class:`~pytest_perfbudget.queries.Statement`
in :data:`pytest_perfbudget.queries.capture`. Nothing here imports SQLAlchemy
unless it is already imported: a suite without it pays nothing.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from . import hooks
from .callsite import CallSiteLocator
from .importwatch import ImportWatcher

__all__ = ["CallSiteLocator", "SqlInstrumentation"]

_watcher = ImportWatcher("sqlalchemy", hooks.install)


class SqlInstrumentation:
    """Installs SQL counting once SQLAlchemy has been imported by the code under test."""

    def __init__(self, rootdir: Path, exclude: Sequence[str] = ()) -> None:
        self.rootdir = rootdir
        self.exclude = tuple(exclude)
        self._locator: CallSiteLocator | None = None

    @property
    def locator(self) -> CallSiteLocator:
        """Made on first use: finding the library directories takes a moment."""
        if self._locator is None:
            self._locator = CallSiteLocator(self.rootdir, self.exclude)
        return self._locator

    def ensure_installed(self) -> None:
        """Cheap when already installed or when SQLAlchemy is not imported.

        Also points call sites at this session's rootdir (an in-process pytester
        run has its own).
        """
        hooks.recorder.configure(self.locator)
        if hooks.is_installed():
            return
        if "sqlalchemy" in sys.modules:
            hooks.install()
        else:
            _watcher.start()
