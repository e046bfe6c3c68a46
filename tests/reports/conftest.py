"""Fixtures of the report tests; the sample reports themselves are in ``report_samples``."""

from __future__ import annotations

import os
import stat
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


def _device_node(directory: Path, name: str, minor: int) -> Path:
    """A character device of the memory driver (major 1), made in ``directory``."""
    path = directory / name
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, minor))
        path.open("w", encoding="utf-8").close()
    except (AttributeError, OSError) as error:
        pytest.skip(f"cannot make a device node here: {error}")
    return path


@pytest.fixture
def null_device(tmp_path: Path) -> Path:
    """A device like /dev/null in ``tmp_path``: never risk the machine's own, should the code under
    test replace what it writes to."""
    return _device_node(tmp_path, "null", 3)


@pytest.fixture
def full_device(tmp_path: Path) -> Path:
    """A device like /dev/full (every write fails with ENOSPC) in ``tmp_path`` where permitted; the
    machine's own only for a user who could not replace it whatever the code under test did."""
    if hasattr(os, "geteuid") and os.geteuid() != 0 and Path("/dev/full").exists():
        return Path("/dev/full")
    return _device_node(tmp_path, "full", 7)
