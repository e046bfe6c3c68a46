"""pytest-perfbudget: performance budgets as tested properties of a pytest suite."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .queries import QueryLog, Statement
    from .recorder import Perf

__version__ = "0.1.0"

perf_budget = pytest.mark.perf_budget
"""The ``perf_budget`` marker, importable: ``@perf_budget(time="200ms", queries=3)``."""

__all__ = ["Perf", "QueryLog", "Statement", "__version__", "perf_budget"]

# Imported on first use: pytest imports this package with the plugin in every run, and an idle
# plugin (no option, marker or fixture in play) should cost next to nothing.
_LAZY = {"Perf": "recorder", "QueryLog": "queries", "Statement": "queries"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
