"""Running the shop example (examples/shop) in a copy of the repository, in a subprocess.

A module of its own rather than conftest.py: tests/sql and tests/reports have
conftest modules too, and ``from conftest import`` would reach whichever came first.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHOP = "examples/shop"
BUDGETS = "examples/shop/budgets.yml"
SERVICES = ROOT / SHOP / "shop" / "services.py"
POSTGRES_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"

# Variables of an outer run that must not leak into the inner one.
_LEAKY = ("PYTEST_ADDOPTS", "PYTEST_PLUGINS", "GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "SHOP_DATABASE_URL")


# The example's noise floor, and what a copy for tests gets instead: these tests check what
# the commands do, not how steady this machine's timings are while other tests load it.
NOISE_FLOOR = "noise_floor: 25ms"
STEADY_NOISE_FLOOR = "noise_floor: 10s "


def copy_repository(destination: Path, *, steady: bool = True) -> Path:
    """What the examples and docs commands need: pyproject.toml (the rootdir), examples, docs, benchmarks.

    ``steady``: no time change counts as a regression in the copy's ``budgets.yml``, so a
    run compared with a baseline fails on queries, never on a loaded machine's timings.
    """
    shutil.copy2(ROOT / "pyproject.toml", destination / "pyproject.toml")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", "site")
    for name in ("examples", "docs", "benchmarks"):
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, destination / name, ignore=ignore)
    for name in ("README.md", "mkdocs.yml"):
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, destination / name)
    if steady:
        budgets = destination / BUDGETS
        text = budgets.read_text(encoding="utf-8")
        assert NOISE_FLOOR in text, f"{BUDGETS} no longer says {NOISE_FLOOR!r}"
        budgets.write_text(text.replace(NOISE_FLOOR, STEADY_NOISE_FLOOR), encoding="utf-8")
    return destination


def clean_environment(**extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in _LEAKY and not key.startswith(("PYTEST_XDIST", "PYTEST_CURRENT"))
    }
    # The interpreter running these tests, and its scripts (pytest, perfbudget), come first.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.update(extra)
    return env


def run_pytest(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args]
    return subprocess.run(
        command, cwd=cwd, env=clean_environment(**env), capture_output=True, text=True, timeout=600
    )


def run_perfbudget(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pytest_perfbudget.cli", *args]
    return subprocess.run(
        command, cwd=cwd, env=clean_environment(), capture_output=True, text=True, timeout=120
    )


def loop_lines() -> dict[str, int]:
    """Line numbers of the lazy loads in ``services.py``, found by their ``# N+1:`` comments.

    Keys: ``lines``, ``product``, ``customer``, and ``async_`` before each for the async version.
    """
    found: dict[str, int] = {}
    for number, line in enumerate(SERVICES.read_text(encoding="utf-8").splitlines(), start=1):
        code, _, comment = line.partition("# N+1:")
        if not comment:
            continue
        what = next(word for word in ("lines", "product", "customer") if word in comment)
        found[("async_" if "await" in code else "") + what] = number
    return found


def postgres_reachable() -> str | None:
    """Why PostgreSQL cannot be used here, or None when it can."""
    try:
        import psycopg  # noqa: F401
        from sqlalchemy import create_engine, text
    except ImportError as error:
        return f"no driver: {error}"
    engine = create_engine(f"{POSTGRES_SERVER}/test", connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:  # any failure to connect means: skip
        return f"PostgreSQL is not reachable at 127.0.0.1:5432: {type(error).__name__}"
    finally:
        engine.dispose()
    return None


@contextmanager
def postgres_database() -> Iterator[str]:
    """A throwaway database on the local PostgreSQL; yields its SQLAlchemy URL."""
    from sqlalchemy import create_engine, text

    name = f"perfbudget_shop_{uuid.uuid4().hex[:10]}"
    admin = create_engine(f"{POSTGRES_SERVER}/test", isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield f"{POSTGRES_SERVER}/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
