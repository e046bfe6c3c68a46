"""Fixtures shared by the end-to-end tests; the helpers they use live in perf_helpers.py."""

from __future__ import annotations

import pytest
from perf_helpers import SERIAL, XDIST, Runner

pytest_plugins = ["pytester"]


@pytest.fixture(params=[SERIAL, XDIST])
def workers(request: pytest.FixtureRequest) -> tuple[str, ...]:
    """``()`` for a serial run, ``("-n", "2")`` for a run with two xdist workers."""
    result: tuple[str, ...] = request.param
    return result


@pytest.fixture
def run(pytester: pytest.Pytester, workers: tuple[str, ...]) -> Runner:
    """An inner pytest run, once serially and once under ``-n 2``."""
    return Runner(pytester, workers)


@pytest.fixture
def run_serial(pytester: pytest.Pytester) -> Runner:
    """An inner pytest run without xdist."""
    return Runner(pytester, ())
