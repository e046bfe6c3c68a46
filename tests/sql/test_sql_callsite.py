"""Call sites: the innermost frame of the user's own code, as ``path:line`` relative to rootdir."""

from __future__ import annotations

import os
import sys
import sysconfig
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from pytest_perfbudget.sql.callsite import OTHER, SQLALCHEMY, CallSiteLocator

ROOT = Path(__file__).resolve().parents[2]
THIS = "tests/sql/test_sql_callsite.py"


def test_user_code_is_shown_relative_to_rootdir() -> None:
    locator = CallSiteLocator(ROOT)
    assert locator.classify(str(ROOT / "app" / "orders.py")) == "app/orders.py"


def test_code_outside_rootdir_is_shown_absolute(tmp_path: Path) -> None:
    locator = CallSiteLocator(ROOT)
    path = tmp_path / "elsewhere.py"
    assert locator.classify(str(path)) == str(path).replace(os.sep, "/")


def test_libraries_the_standard_library_and_the_plugin_are_not_user_code() -> None:
    locator = CallSiteLocator(ROOT)
    stdlib = sysconfig.get_paths()["stdlib"]
    assert locator.classify(os.path.join(stdlib, "json", "__init__.py")) is OTHER
    assert locator.classify(str(ROOT / "lib" / "site-packages" / "x.py")) is OTHER
    assert locator.classify(str(ROOT / "pytest_perfbudget" / "runner.py")) is OTHER
    assert locator.classify("<frozen importlib._bootstrap>") is OTHER


def test_sqlalchemy_is_recognised() -> None:
    sqlalchemy = pytest.importorskip("sqlalchemy")
    locator = CallSiteLocator(ROOT)
    filename = os.path.join(os.path.dirname(sqlalchemy.__file__), "orm", "session.py")
    assert locator.classify(filename) is SQLALCHEMY


def test_excluded_globs_are_not_user_code() -> None:
    locator = CallSiteLocator(ROOT, ["app/db/*", "*/helpers.py"])
    assert locator.classify(str(ROOT / "app" / "db" / "session.py")) is OTHER
    assert locator.classify(str(ROOT / "app" / "util" / "helpers.py")) is OTHER
    assert locator.classify(str(ROOT / "app" / "orders.py")) == "app/orders.py"


def test_locate_finds_the_innermost_user_frame() -> None:
    locator = CallSiteLocator(ROOT)
    line = sys._getframe().f_lineno + 1
    site = locator.locate(sys._getframe())
    assert site == (f"{THIS}:{line}", "test_locate_finds_the_innermost_user_frame", None)


def test_locate_skips_frames_that_are_not_user_code() -> None:
    locator = CallSiteLocator(ROOT, [THIS])  # this file excluded: nothing is user code
    assert locator.locate(sys._getframe()) is None


def test_the_walk_continues_in_the_parent_greenlet() -> None:
    greenlet = pytest.importorskip("greenlet")
    locator = CallSiteLocator(ROOT)
    child = greenlet.greenlet(lambda: locator.locate(None))  # nothing of the child's own stack is walked

    line = sys._getframe().f_lineno + 1
    site = child.switch()

    assert site is not None
    assert site[0] == f"{THIS}:{line}"


FAKE_MODULE = """
import sys

def here():
    return sys._getframe()

def call(function):
    return function()
"""


def fake_module(locator: CallSiteLocator, filename: str, verdict: object) -> dict[str, Any]:
    """Functions compiled as if from ``filename``, which ``locator`` takes for ``verdict``."""
    namespace: dict[str, Any] = {}
    exec(compile(FAKE_MODULE, filename, "exec"), namespace)
    locator._verdicts[filename] = verdict  # type: ignore[assignment]
    return namespace


def test_the_entry_is_the_outermost_frame_of_the_first_sqlalchemy_run() -> None:
    locator = CallSiteLocator(ROOT)
    sqlalchemy = fake_module(locator, "/fake/sqlalchemy/orm.py", SQLALCHEMY)
    library = fake_module(locator, "/fake/library.py", OTHER)

    # The frames have returned, but they still link up to this test's frame.
    innermost = sqlalchemy["call"](sqlalchemy["here"])
    site = locator.locate(innermost)
    assert site is not None
    assert site[1] == "test_the_entry_is_the_outermost_frame_of_the_first_sqlalchemy_run"
    assert site[2] is innermost.f_back  # call(), the outer of the two

    # SQLAlchemy -> a library -> SQLAlchemy: the run nearest the statement is the request.
    innermost = sqlalchemy["call"](partial(library["call"], partial(sqlalchemy["call"], sqlalchemy["here"])))
    site = locator.locate(innermost)
    assert site is not None
    assert site[1] == "test_the_entry_is_the_outermost_frame_of_the_first_sqlalchemy_run"
    assert site[2] is innermost.f_back


def test_a_comprehension_is_named_by_its_function() -> None:
    locator = CallSiteLocator(ROOT)
    line = sys._getframe().f_lineno + 1
    (site,) = [locator.locate(sys._getframe()) for _ in range(1)]
    assert site is not None
    assert site[:2] == (f"{THIS}:{line}", "test_a_comprehension_is_named_by_its_function")
