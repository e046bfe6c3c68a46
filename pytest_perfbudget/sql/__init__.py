"""SQL measurement for SQLAlchemy (filled in by the SQL issue).

The plugin calls :meth:`SqlInstrumentation.ensure_installed` before each
measured call; instrumentation records :class:`~pytest_perfbudget.queries.Statement`
objects into :data:`pytest_perfbudget.queries.capture`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


class SqlInstrumentation:
    """Installs SQL counting once SQLAlchemy has been imported by the code under test."""

    def __init__(self, rootdir: Path, exclude: Sequence[str] = ()) -> None:
        self.rootdir = rootdir
        self.exclude = tuple(exclude)

    def ensure_installed(self) -> None:
        """Cheap when already installed or when SQLAlchemy is not imported."""
