"""The ``perf_budget`` marker: its keywords validated like a budget file entry."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .budgets import Fields

MARKER = "perf_budget"
MARKER_HELP = (
    "perf_budget(**limits): performance budget of the test, e.g. "
    "perf_budget(time='200ms', queries=3, memory='20MB'); keywords as in the budget file"
)


def marker_fields(item: pytest.Item) -> Fields | None:
    """The item's ``perf_budget`` markers, farthest (module, class) first, closest last."""
    markers = list(item.iter_markers(MARKER))
    if not markers:
        return None
    from .budgets import BudgetError, Fields, located, parse_fields  # not in an idle run's imports

    limits: dict[str, Any] = {}
    settings: dict[str, Any] = {}
    for mark in reversed(markers):
        if mark.args:
            raise pytest.UsageError(
                f"{item.nodeid}: perf_budget marker takes keyword arguments only, such as time='200ms'"
            )
        try:
            fields = parse_fields(located(mark.kwargs), source="marker")
        except BudgetError as error:
            raise pytest.UsageError(f"{item.nodeid}: perf_budget marker: {error.message}") from None
        limits.update(fields.limits)
        settings.update(fields.settings)
    return Fields(limits, settings)
