"""Budget patterns over pytest node ids."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_perfbudget import patterns
from pytest_perfbudget.patterns import fixed_prefix, matches

MATCHING = [
    # exact node ids
    ("tests/test_a.py::test_x", "tests/test_a.py::test_x"),
    ("tests/test_a.py::TestA::test_x", "tests/test_a.py::TestA::test_x"),
    # a pattern matches everything below what it names
    ("tests", "tests/test_a.py::test_x"),
    ("tests/api", "tests/api/test_users.py::test_list"),
    ("tests/api", "tests/api/v1/test_users.py::TestUser::test_list"),
    ("tests/api/test_users.py", "tests/api/test_users.py::test_list"),
    ("tests/api/test_users.py::TestUser", "tests/api/test_users.py::TestUser::test_list"),
    ("tests/api/test_users.py::TestUser", "tests/api/test_users.py::TestUser::test_list[1]"),
    ("tests/t.py::test_x", "tests/t.py::test_x[1]"),
    ("tests/t.py::test_x", "tests/t.py::test_x[a-b]"),
    # * within one path segment
    ("tests/*.py", "tests/test_a.py::test_x"),
    ("tests/test_*.py::test_x", "tests/test_a.py::test_x"),
    ("tests/test_a.py::test_*", "tests/test_a.py::test_x"),
    ("tests/*/test_users.py", "tests/api/test_users.py::test_list"),
    ("*", "tests/test_a.py::test_x"),  # names the directory "tests", and so the tests below it
    # ** anywhere
    ("**", "tests/test_a.py::test_x"),
    ("**", "test_root.py::test_x"),
    ("tests/**", "tests/api/v1/test_users.py::test_list"),
    ("**/test_users.py", "tests/api/v1/test_users.py::test_list"),
    ("**::test_list", "tests/api/test_users.py::TestUser::test_list"),
    # ? is one character
    ("tests/test_?.py", "tests/test_a.py::test_x"),
    ("tests/t.py::test_x[?]", "tests/t.py::test_x[7]"),
    # [ and ] are literal
    ("tests/t.py::test_x[1]", "tests/t.py::test_x[1]"),
    ("tests/t.py::test_x[a-b]", "tests/t.py::test_x[a-b]"),
    # ./ and a trailing / are what a user may write but a node id never has
    ("./tests/api", "tests/api/test_users.py::test_list"),
    ("tests/api/", "tests/api/test_users.py::test_list"),
    ("./tests/api/", "tests/api/test_users.py::test_list"),
]

NOT_MATCHING = [
    # * does not cross /
    ("tests/*.py", "tests/api/test_users.py::test_list"),
    ("tests/*/test_users.py", "tests/api/v1/test_users.py::test_list"),
    # no false prefixes
    ("tests/t.py::test_x", "tests/t.py::test_xy"),
    ("tests/t.py::test_x", "tests/t.py::test_x2[1]"),
    ("tests/api", "tests/api_v2/test_users.py::test_list"),
    ("tests/api/test_users.py::TestUser", "tests/api/test_users.py::TestUserAdmin::test_list"),
    ("tests/test_a", "tests/test_a.py::test_x"),
    ("tests/test_a.py::test", "tests/test_a.py::test_x"),
    # anchored at the start
    ("api/test_users.py", "tests/api/test_users.py::test_list"),
    ("test_x", "tests/t.py::test_x"),
    # ? is exactly one character
    ("tests/test_?.py", "tests/test_ab.py::test_x"),
    # [ and ] are literal, not a character class
    ("tests/t.py::test_x[1]", "tests/t.py::test_x[2]"),
    ("tests/t.py::test_x[1]", "tests/t.py::test_x[10]"),
    ("tests/t.py::test_x[12]", "tests/t.py::test_x[1]"),
    ("tests/t.py::test_[xy]", "tests/t.py::test_x"),
    # other regex characters are literal too
    ("tests/t.py::test_x.y", "tests/t.py::test_xzy"),
    ("tests/t+.py", "tests/tt.py::test_x"),
]


@pytest.mark.parametrize(("pattern", "nodeid"), MATCHING)
def test_matches(pattern: str, nodeid: str) -> None:
    assert matches(pattern, nodeid)


@pytest.mark.parametrize(("pattern", "nodeid"), NOT_MATCHING)
def test_does_not_match(pattern: str, nodeid: str) -> None:
    assert not matches(pattern, nodeid)


@pytest.mark.parametrize(
    ("pattern", "prefix"),
    [
        ("tests/api/test_users.py::TestUser::test_list", "tests/api/test_users.py"),
        ("tests/api", "tests/api"),
        ("./tests/api/", "tests/api"),
        ("tests/api/*.py", "tests/api"),
        ("tests/api/test_*.py::test_x", "tests/api"),
        ("tests/**", "tests"),
        ("**", ""),
        ("test_*.py", ""),
    ],
)
def test_fixed_prefix(pattern: str, prefix: str) -> None:
    assert fixed_prefix(pattern) == prefix


NODEID_PARTS = st.sampled_from(["a", "b", "/", "::", "[", "1", "]", ".py", "t", "-"])
PATTERN_PARTS = st.sampled_from(["a", "b", "/", "::", "[", "1", "]", ".py", "t", "*", "**", "?", "./"])


def _by_regex(pattern: str, nodeid: str) -> bool:
    """The definition: the pattern's regular expression."""
    return patterns._compile(patterns.normalize(pattern)).match(nodeid) is not None


@settings(max_examples=300, deadline=None)
@given(
    pattern_list=st.lists(st.lists(PATTERN_PARTS, max_size=5).map("".join), max_size=80),
    nodeids=st.lists(st.lists(NODEID_PARTS, min_size=1, max_size=9).map("".join), max_size=20),
)
def test_the_index_finds_what_each_pattern_matches(pattern_list: list[str], nodeids: list[str]) -> None:
    """Many literal patterns are looked up by prefix, and one literal without a regex: same answers."""
    unused = ["zz"] * patterns.INDEX_FROM  # literal patterns enough for the look-up, matching nothing
    few, many = patterns.PatternIndex(pattern_list), patterns.PatternIndex(pattern_list + unused)
    for nodeid in nodeids:
        expected = tuple(i for i, pattern in enumerate(pattern_list) if _by_regex(pattern, nodeid))
        assert few.matching(nodeid) == many.matching(nodeid) == expected
        assert (
            tuple(i for i, pattern in enumerate(pattern_list) if patterns.matches(pattern, nodeid))
            == expected
        )
