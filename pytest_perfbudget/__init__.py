"""pytest-perfbudget: performance budgets as tested properties of a pytest suite."""

from __future__ import annotations

import pytest

from .queries import QueryLog, Statement
from .recorder import Perf

__version__ = "0.1.0"

perf_budget = pytest.mark.perf_budget
"""The ``perf_budget`` marker, importable: ``@perf_budget(time="200ms", queries=3)``."""

__all__ = ["Perf", "QueryLog", "Statement", "__version__", "perf_budget"]
