"""Run a callback right after a module is first imported, at no cost before or after.

The plugin installs its SQLAlchemy hooks only once the code under test has
imported SQLAlchemy. Usually that happened at collection; when a test imports
it for the first time inside its call, this finder catches the import so that
the very statements of that call are counted.
"""

from __future__ import annotations

import importlib.util
import sys
import warnings
from collections.abc import Callable, Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType


class ImportWatcher:
    """A ``sys.meta_path`` finder that finds nothing itself: it wraps the real loader of one module."""

    def __init__(self, name: str, callback: Callable[[], None]) -> None:
        self.name = name
        self.callback = callback
        self._searching = False

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname != self.name or self._searching:
            return None
        self._searching = True
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            self._searching = False
        loader = spec.loader if spec is not None else None
        if spec is None or loader is None or not hasattr(loader, "exec_module"):
            return None
        original = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            del loader.exec_module  # back to the class's method
            original(module)
            self.stop()
            try:
                self.callback()
            except Exception as error:  # never break the user's import over a measurement
                warnings.warn(f"pytest-perfbudget: SQL measurement not installed: {error}", stacklevel=2)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec

    def start(self) -> None:
        if self not in sys.meta_path:
            sys.meta_path.insert(0, self)

    def stop(self) -> None:
        if self in sys.meta_path:
            sys.meta_path.remove(self)
