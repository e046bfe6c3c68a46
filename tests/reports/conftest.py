"""Fixtures of the report tests; the sample reports themselves are in ``report_samples``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from report_samples import make_after, make_before, make_compared, write_json


@pytest.fixture
def before() -> dict[str, Any]:
    return make_before()


@pytest.fixture
def after() -> dict[str, Any]:
    return make_after()


@pytest.fixture
def compared() -> dict[str, Any]:
    return make_compared()


@pytest.fixture
def reports(tmp_path: Path) -> dict[str, Path]:
    """``before.json`` and ``after.json`` on disk."""
    return {
        "before": write_json(tmp_path / "before.json", make_before()),
        "after": write_json(tmp_path / "after.json", make_after()),
    }
