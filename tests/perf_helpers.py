"""Helpers of the end-to-end tests: running an inner pytest serially and under pytest-xdist.

A module of its own, not conftest.py: tests/sql and tests/reports have conftest modules
too, and ``from conftest import`` would reach whichever was imported first.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import textwrap
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

HAS_XDIST = importlib.util.find_spec("xdist") is not None

# Every inner run: no cache directory in the test's tmp dir, and no hypothesis plugin (its
# start-up costs about a second per process, which xdist workers would pay on every run).
BASE_ARGS = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest")

SERIAL = pytest.param((), id="serial")
XDIST = pytest.param(
    ("-n", "2"),
    id="xdist",
    marks=pytest.mark.skipif(not HAS_XDIST, reason="pytest-xdist is not installed"),
)


# For inner test modules: count calls in a file, which works across xdist workers too.
RECORD_CALL = """
from pathlib import Path

def record_call(name="calls"):
    with Path(__file__).with_name(name + ".calls").open("a", encoding="utf-8") as file:
        file.write(".")
"""


class Runner:
    """Runs pytest inside ``pytester`` with the plugin, serially or with ``-n 2``."""

    def __init__(self, pytester: pytest.Pytester, workers: Sequence[str]) -> None:
        self.pytester = pytester
        self.workers = tuple(workers)

    @property
    def xdist(self) -> bool:
        return bool(self.workers)

    def __call__(self, *args: str) -> pytest.RunResult:
        with self._clashing_modules_hidden():
            return self.pytester.runpytest(*BASE_ARGS, *self.workers, *args)

    def inline(self, *args: str, **kwargs: Any) -> pytest.HookRecorder:
        """``pytester.inline_run`` with the same base arguments (for ``no_reraise_ctrlc``)."""
        with self._clashing_modules_hidden():
            return self.pytester.inline_run(*BASE_ARGS, *self.workers, *args, **kwargs)

    @contextmanager
    def _clashing_modules_hidden(self) -> Iterator[None]:
        """Let an inner ``test_x.py`` be imported although this suite has its own ``test_x``.

        The inner run is in-process and imports test modules by their base name; a module
        of the same name already imported (this suite's own, or another directory's)
        would make pytest refuse the inner file. Hide those for the run, then restore them.
        """
        files = list(self.pytester.path.rglob("*.py"))
        names = {path.stem for path in files} | {
            path.parent.name for path in files if path.stem == "__init__"
        }
        hidden = {}
        for name in names:
            module = sys.modules.get(name)
            origin = getattr(module, "__file__", None)
            if module is not None and (origin is None or self.pytester.path not in Path(origin).parents):
                hidden[name] = sys.modules.pop(name)
        try:
            yield
        finally:
            sys.modules.update(hidden)

    def budgets(self, text: str, name: str = "budgets") -> Path:
        """Write ``name``.yml in the test directory."""
        return self.pytester.makefile(".yml", **{name: text})

    def module(self, name: str, source: str) -> Path:
        """Write test module ``name``.py with ``record_call`` defined at its top."""
        return self.pytester.makepyfile(**{name: RECORD_CALL + textwrap.dedent(source)})

    def calls(self, name: str = "calls") -> int:
        """How many times the inner tests called ``record_call(name)`` (see :data:`RECORD_CALL`)."""
        path = self.pytester.path / f"{name}.calls"
        return len(path.read_text(encoding="utf-8")) if path.exists() else 0

    @staticmethod
    def output(result: pytest.RunResult) -> str:
        """Everything a run printed, stdout and stderr."""
        return "\n".join(result.outlines + result.errlines)

    def report(self, name: str = "out.json") -> dict[str, Any]:
        """The JSON report written by the last run."""
        data: dict[str, Any] = json.loads((self.pytester.path / name).read_text(encoding="utf-8"))
        return data

    def record(self, nodeid: str, name: str = "out.json") -> dict[str, Any]:
        """The report's entry for one test."""
        tests = {test["nodeid"]: test for test in self.report(name)["tests"]}
        assert nodeid in tests, f"{nodeid} not in the report: {sorted(tests)}"
        return tests[nodeid]


def output(result: pytest.RunResult) -> str:
    """Everything a run printed, stdout and stderr (also ``Runner.output``)."""
    return Runner.output(result)
