"""Call sites: the innermost frame of the user's own code, as ``path:line`` relative to rootdir."""

from __future__ import annotations

import os
import sys
import sysconfig
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from pytest_perfbudget.sql.callsite import GENERATED, OTHER, RUNNER, SQLALCHEMY, CallSiteLocator

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
    assert locator.classify("<frozen importlib._bootstrap>") is GENERATED
    assert locator.classify(pytest.__file__) is OTHER


def test_pytest_and_pluggy_are_the_runner() -> None:
    import _pytest.python
    import pluggy

    locator = CallSiteLocator(ROOT)
    assert locator.classify(_pytest.python.__file__) is RUNNER
    assert locator.classify(pluggy.__file__) is RUNNER


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
    # No callers: the frame out of this test is pytest's.
    assert site == (f"{THIS}:{line}", "test_locate_finds_the_innermost_user_frame", None, (), None)


def test_locate_skips_frames_that_are_not_user_code() -> None:
    locator = CallSiteLocator(ROOT, [THIS])  # this file excluded: nothing is user code
    assert locator.locate(sys._getframe()) == (None, None, None, (), None)


def test_the_walk_continues_in_the_parent_greenlet() -> None:
    greenlet = pytest.importorskip("greenlet")
    locator = CallSiteLocator(ROOT)
    child = greenlet.greenlet(lambda: locator.locate(None))  # nothing of the child's own stack is walked

    line = sys._getframe().f_lineno + 1
    site = child.switch()

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


def locate_from_helper(locator: CallSiteLocator) -> Any:
    return locator.locate(sys._getframe())  # helper


def locate_recursively(locator: CallSiteLocator, depth: int) -> Any:
    if depth == 0:
        return locator.locate(sys._getframe())
    return locate_recursively(locator, depth - 1)  # recursion


def line_of(marker: str) -> int:
    lines = Path(__file__).read_text(encoding="utf-8").splitlines()
    return next(number for number, line in enumerate(lines, start=1) if line.endswith(f"# {marker}"))


def test_callers_are_the_user_frames_further_out_up_to_pytest() -> None:
    locator = CallSiteLocator(ROOT)
    first_line = sys._getframe().f_lineno + 1
    first = locate_from_helper(locator)
    second = locate_from_helper(locator)
    in_loop = [locate_from_helper(locator) for _ in range(2)]

    helper = f"{THIS}:{line_of('helper')}"
    assert first[:2] == second[:2] == (helper, "locate_from_helper")
    assert first[3] == (f"{THIS}:{first_line}",)
    assert second[3] == (f"{THIS}:{first_line + 1}",)
    # The comprehension's frame and this function's are at one line: folded into one caller.
    assert in_loop[0][3] == in_loop[1][3] == (f"{THIS}:{first_line + 2}",)


def test_direct_recursion_is_folded_in_the_callers() -> None:
    locator = CallSiteLocator(ROOT)
    line = sys._getframe().f_lineno + 1
    deep, shallow = locate_recursively(locator, 5), locate_recursively(locator, 1)

    assert deep[3] == shallow[3] == (f"{THIS}:{line_of('recursion')}", f"{THIS}:{line}")


def test_callers_continue_in_the_parent_greenlet() -> None:
    greenlet = pytest.importorskip("greenlet")
    locator = CallSiteLocator(ROOT)
    child = greenlet.greenlet(partial(locate_from_helper, locator))

    line = sys._getframe().f_lineno + 1
    site = child.switch()

    assert site[0] == f"{THIS}:{line_of('helper')}"
    assert site[3] == (f"{THIS}:{line}",)


def test_the_test_call_is_the_user_frame_that_the_test_function_called() -> None:
    locator = CallSiteLocator(ROOT)

    def code_under_test() -> tuple[object, object]:
        return helper(), sys._getframe()

    def helper() -> object:
        return locator.locate(sys._getframe())

    site, called = code_under_test()
    assert site[4] is called
    assert locator.locate(sys._getframe())[4] is None  # the test function itself: no call of its own
