"""pytest-xdist: the controller learns what workers found at collection and counts them.

Per-test records need nothing here: they travel on the test reports, which
xdist already sends to the controller. Registered only when xdist is loaded,
before the session exists in an idle run (see :mod:`.plugin`): workers are
counted from the start, and the session is attached once it is created.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .session import PerfSession

STALE_KEY = "perfbudget_stale_patterns"


class XdistHooks:
    """Counts the workers: the most that ran at once, so that a worker that crashed and was
    replaced (``gw2`` for ``-n 2``) is not counted twice."""

    def __init__(self, session: PerfSession | None = None) -> None:
        self.session: PerfSession | None = None
        self.running: set[str] = set()
        self.workers = 0
        if session is not None:
            self.attach(session)

    def attach(self, session: PerfSession) -> None:
        self.session = session
        session.workers = self.workers

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodeready(self, node: Any) -> None:
        self.running.add(node.gateway.id)
        self.workers = max(self.workers, len(self.running))
        if self.session is not None:
            self.session.workers = self.workers

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        """Every worker collects the same tests: take the stale patterns the first one found."""
        self.running.discard(node.gateway.id)
        stale = getattr(node, "workeroutput", {}).get(STALE_KEY)
        if stale is not None and self.session is not None and not self.session.stale_patterns:
            self.session.stale_patterns = list(stale)

    @pytest.hookimpl
    def pytest_sessionfinish(self) -> None:
        """On a worker: hand the stale patterns to the controller."""
        if self.session is not None and self.session.is_worker:
            self.session.config.workeroutput[STALE_KEY] = self.session.stale_patterns  # type: ignore[attr-defined]
