"""The N+1 analysis over statement records (no database needed)."""

from __future__ import annotations

import pytest

from pytest_perfbudget import queries
from pytest_perfbudget.queries import QueryLog, Statement, StatementKind

LOAD = "SELECT addresses.id FROM addresses WHERE ? = addresses.user_id"


def statement(
    shape: str = LOAD,
    call_site: str | None = "app/orders.py:42",
    request: int | None = None,
    kind: StatementKind = "query",
    duration: float = 0.001,
    callers: tuple[str, ...] = ("tests/test_orders.py:10",),
) -> Statement:
    return Statement(
        shape, shape, duration, 1, False, call_site, "list_orders", kind, None, request, callers=callers
    )


def test_a_select_repeated_from_one_call_site_is_a_suspect() -> None:
    log = QueryLog([statement(request=n) for n in range(50)])

    [suspect] = log.suspects(3)
    assert suspect.to_json() == {
        "statement": LOAD,
        "count": 50,
        "call_site": "app/orders.py:42",
        "function": "list_orders",
    }


def test_the_threshold_is_inclusive() -> None:
    log = QueryLog([statement(request=n) for n in range(3)])
    assert len(log.suspects(3)) == 1
    assert log.suspects(4) == []


def test_statements_of_one_request_count_once() -> None:
    batches = [statement(request=7) for _ in range(5)]  # a selectinload split into five IN-lists
    assert QueryLog(batches).suspects(3) == []
    assert QueryLog([*batches, statement(request=8), statement(request=9)]).suspects(3)[0].count == 3


def test_statements_without_a_request_id_count_each() -> None:
    assert QueryLog([statement() for _ in range(3)]).suspects(3)[0].count == 3


def test_statements_with_and_without_a_request_id_add_up_per_place() -> None:
    log = QueryLog(
        [
            statement(request=7),
            statement(request=7),
            statement(),
            statement(call_site="app/b.py:2"),
            statement(request=8),
            statement(),
        ]
    )
    [suspect] = log.suspects(4)
    assert (suspect.call_site, suspect.count) == ("app/orders.py:42", 4)  # request 7, 8 and two alone
    assert log.suspects(5) == []


def test_other_call_sites_and_shapes_are_separate() -> None:
    log = QueryLog(
        [
            *(statement(call_site="app/a.py:1", request=n) for n in range(2)),
            *(statement(call_site="app/b.py:2", request=10 + n) for n in range(2)),
            *(statement(shape="SELECT users.id FROM users", request=20 + n) for n in range(2)),
        ]
    )
    assert log.suspects(3) == []
    assert len(log.suspects(2)) == 3


def test_repeats_are_counted_per_chain_of_callers() -> None:
    def called_from(line: int, count: int, first_request: int) -> list[Statement]:
        callers = (f"tests/test_orders.py:{line}",)
        return [statement(request=first_request + n, callers=callers) for n in range(count)]

    three_lines = [*called_from(10, 1, 0), *called_from(11, 1, 1), *called_from(12, 1, 2)]
    assert QueryLog(three_lines).suspects(3) == []  # a helper called from three lines: no loop
    assert len(QueryLog(three_lines).suspects(1)) == 1  # one suspect per shape and call site

    # Two loops of 4 through the helper, and a single call: the loops' chains are added up.
    loops = [*called_from(20, 4, 10), *called_from(21, 4, 20), *called_from(22, 1, 30)]
    [suspect] = QueryLog(loops).suspects(3)
    assert (suspect.count, suspect.call_site) == (8, "app/orders.py:42")
    assert QueryLog(loops).suspects(5) == []


def test_repeated_writes_are_counted_per_chain_of_callers_too() -> None:
    insert = "INSERT INTO t (a) VALUES (?)"
    log = QueryLog([statement(shape=insert, request=n, callers=(f"t.py:{n}",)) for n in range(5)])
    assert log.repeated_writes(3) == []


def test_writes_and_transaction_control_are_never_suspects() -> None:
    writes = [statement(shape="INSERT INTO t (a) VALUES (?)", request=n) for n in range(10)]
    commits = [statement(shape="COMMIT", kind="transaction", request=100 + n) for n in range(10)]
    log = QueryLog([*writes, *commits])

    assert log.suspects(3) == []
    [repeated] = log.repeated_writes(3)
    assert (repeated.statement, repeated.count) == ("INSERT INTO t (a) VALUES (?)", 10)


def test_suspects_are_ordered_by_count() -> None:
    log = QueryLog(
        [
            *(statement(call_site="app/a.py:1", request=n) for n in range(3)),
            *(statement(call_site="app/b.py:2", request=10 + n) for n in range(5)),
        ]
    )
    assert [suspect.call_site for suspect in log.suspects(3)] == ["app/b.py:2", "app/a.py:1"]


def test_ignore_globs_match_shapes_or_call_sites() -> None:
    log = QueryLog([statement(request=n) for n in range(5)])
    assert log.suspects(3, ["SELECT addresses.*"]) == []
    assert log.suspects(3, ["app/orders.py:42"]) == []
    assert log.suspects(3, ["app/*.py:*"]) == []
    assert len(log.suspects(3, ["SELECT users*", "app/orders.py:43"])) == 1


def test_counts_exclude_transaction_control_and_setup_but_times_include_them() -> None:
    log = QueryLog(
        [
            statement(shape="SELECT version()", kind="setup", duration=0.5),
            statement(shape="BEGIN (implicit)", kind="transaction", duration=0.25),
            statement(duration=1.0),
            statement(shape="COMMIT", kind="transaction", duration=0.25),
        ]
    )
    assert log.count == 1
    assert len(log) == 4
    assert log.total_time == 2.0
    assert list(log.by_shape()) == [LOAD]


def test_since_is_a_blocks_share_with_its_own_suspects() -> None:
    log = QueryLog([statement(shape="SELECT users.id FROM users", request=0)])
    start = len(log.statements)
    for n in range(1, 4):
        log.record(statement(request=n))

    block = log.since(start)
    assert block.count == 3
    assert block.suspects(3)[0].count == 3


def calls(*sent: tuple[int, str, str], repeats: int) -> list[Statement]:
    """``repeats`` calls of the test, each sending ``sent`` (request offset, shape, call site)."""
    log = []
    for call in range(repeats):
        for offset, shape, call_site in sent:
            log.append(
                Statement(
                    shape, shape, 0.001, 0, False, call_site, "f", request=100 * call + offset, test_call=call
                )
            )
    return log


USERS = "SELECT users.id FROM users"


def test_a_group_of_statements_repeated_once_per_call_of_the_test_is_no_suspect() -> None:
    log = QueryLog(calls((1, USERS, "app/a.py:1"), (2, LOAD, "app/a.py:2"), repeats=5))

    assert log.suspects(3) == []
    assert sorted((repeat.statement, repeat.count) for repeat in log.repeated_by_test(3)) == [
        (LOAD, 5),
        (USERS, 5),
    ]


def test_a_loop_inside_each_call_of_the_test_stays_a_suspect() -> None:
    log = QueryLog(
        calls((1, USERS, "app/a.py:1"), *((2 + n, LOAD, "app/a.py:2") for n in range(4)), repeats=3)
    )

    [suspect] = log.suspects(3)
    assert (suspect.statement, suspect.count) == (LOAD, 12)
    assert [(repeat.statement, repeat.count) for repeat in log.repeated_by_test(3)] == [(USERS, 3)]


def test_calls_that_send_one_statement_or_differ_stay_suspects() -> None:
    assert QueryLog(calls((1, LOAD, "app/a.py:2"), repeats=4)).suspects(3)[0].count == 4
    differing = calls((1, USERS, "app/a.py:1"), (2, LOAD, "app/a.py:2"), repeats=4)
    del differing[-1]  # the last call sent the users query only
    assert [suspect.statement for suspect in QueryLog(differing).suspects(3)] == [USERS]
    unknown = [
        statement._replace(test_call=None)
        for statement in calls((1, USERS, "a:1"), (2, LOAD, "a:2"), repeats=3)
    ]
    assert len(QueryLog(unknown).suspects(3)) == 2


# --- memory: statements past the detail kept are folded into groups ------------------------------


def _scenarios() -> dict[str, list[Statement]]:
    lazy_loads = [statement(request=n) for n in range(1, 40)]
    batches = [statement(request=n // 3 + 1, call_site=f"app/b.py:{n % 2}") for n in range(30)]
    benchmark = calls((1, USERS, "app/a.py:1"), (2, LOAD, "app/a.py:2"), repeats=25)
    loop_in_calls = calls(
        (1, USERS, "app/a.py:1"), *((2 + n, LOAD, "app/a.py:2") for n in range(3)), repeats=10
    )
    writes = [
        Statement(
            "INSERT INTO t VALUES (?)",
            "INSERT INTO t VALUES (?)",
            0.002,
            1,
            False,
            "app/w.py:3",
            "w",
            request=n,
        )
        for n in range(1, 30)
    ]
    mixed = [*lazy_loads[:12], statement(kind="transaction", request=None), *writes, *lazy_loads[12:]]
    return {
        "lazy loads": lazy_loads,
        "batches": batches,
        "benchmark": benchmark,
        "loop in calls": loop_in_calls,
        "mixed": mixed,
        "no requests": [statement() for _ in range(25)],
    }


@pytest.mark.parametrize("name", list(_scenarios()))
def test_folding_past_the_detail_limit_keeps_counts_and_verdicts(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    statements = _scenarios()[name]
    whole = QueryLog()
    for each in statements:
        whole.record(each)
    monkeypatch.setattr(queries, "DETAIL_LIMIT", 10)
    bounded = QueryLog()
    for each in statements:
        bounded.record(each)

    assert len(bounded.statements) == 10
    assert len(bounded.folded) <= 4  # one group per shape, call site, callers and kind
    assert bounded.not_kept == len(statements) - 10
    assert (len(bounded), bounded.count) == (len(whole), whole.count)
    assert bounded.total_time == pytest.approx(whole.total_time)
    assert bounded.suspects(3) == whole.suspects(3)
    assert bounded.repeated_by_test(3) == whole.repeated_by_test(3)
    assert bounded.repeated_writes(3) == whole.repeated_writes(3)


def test_a_block_after_the_detail_limit_gets_its_share_of_the_folded_statements(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(queries, "DETAIL_LIMIT", 10)
    log = QueryLog()
    for n in range(1, 16):
        log.record(statement(request=n))
    start = log.mark()
    for n in range(16, 20):
        log.record(statement(request=n))

    block = log.since(start)
    assert (block.count, len(block.statements), block.suspects(3)[0].count) == (4, 0, 4)
    assert log.suspects(3)[0].count == 19


@pytest.mark.parametrize(
    ("shapes", "sites"), [(1, 1), (3, 2), (40, 2)], ids=["one place", "6 places", "40 places"]
)
def test_a_log_of_one_statement_per_request_gives_what_the_general_analysis_gives(
    shapes: int, sites: int
) -> None:
    """The recorder tells the log when no request repeats; the analysis then skips telling them apart."""
    statements = [
        statement(
            shape=f"SELECT t{n % shapes}.id FROM t{n % shapes}", call_site=f"app/a.py:{n % sites}", request=n
        )
        for n in range(200)
    ]
    general = QueryLog(statements)
    known = QueryLog(statements)
    known.repeated_requests = set()
    assert general.n_plus_one(3) == known.n_plus_one(3)
    suspects = known.suspects(3)
    assert len(suspects) == len({(n % shapes, n % sites) for n in range(200)})
    assert sum(suspect.count for suspect in suspects) == 200


ORDER = "SELECT orders.id FROM orders"
ITEMS = "SELECT items.id FROM items"


@pytest.mark.parametrize(
    "requests",
    [
        # (request, shape) per statement: a loop of requests, a few sending more than one statement
        [(n, ORDER) for n in range(40)] + [(40, ORDER), (40, ITEMS), (40, ITEMS), (41, ITEMS), (42, ITEMS)],
        # a request's statements with another request's between them (a listener's, nested)
        [(n, ORDER) for n in range(40)] + [(50, ITEMS), (51, ITEMS), (50, ITEMS), (52, ITEMS), (50, ORDER)],
        # a request sending the same statement again and again (batches of one executemany)
        [(n, ORDER) for n in range(20)] + [(99, ORDER)] * 10 + [(n, ITEMS) for n in range(100, 120)],
    ],
    ids=["contiguous", "nested", "batches"],
)
def test_a_log_told_which_requests_repeat_gives_what_the_general_analysis_gives(
    requests: list[tuple[int, str]],
) -> None:
    """The recorder tells the log which requests sent more than one statement (or may have); the
    analysis then looks only at theirs, and must count requests per place as if it looked at all."""
    statements = [statement(shape=shape, request=request) for request, shape in requests]
    general = QueryLog(statements)
    sent = [request for request, _ in requests]
    for told in ({request for request in sent if sent.count(request) > 1}, set(sent[-5:]) | {99}):
        known = QueryLog(statements)
        known.repeated_requests = told  # the repeated ones, or more (the recorder may add a new one)
        assert known.n_plus_one(3) == general.n_plus_one(3)
        assert [suspect.count for suspect in known.suspects(3)] == [
            len({request for request, shape in requests if shape == suspect.statement})
            for suspect in known.suspects(3)
        ]


@pytest.mark.parametrize(
    "site",
    [
        ("app/a.py:1", "load", ("tests/test_a.py:3", "tests/test_a.py:9")),
        (None, None, ("tests/test_a.py:3",)),
        ("app/a.py:1", None, ()),
        (None, None, ()),
    ],
)
def test_a_place_tells_its_site(site: queries.Site) -> None:
    assert queries.site_of(queries.place_of(LOAD, site)) == site


def test_places_in_runs_are_added_up_run_by_run() -> None:
    a, b = "SELECT a\0app/a.py:1\0f", "SELECT b\0app/a.py:2\0f"  # one string each, as the recorder keeps them
    assert queries._runs([a] * 10 + [b] * 10 + [a] * 5) == ({a: 15, b: 10}, {a: 0, b: 10})
    assert queries._runs([a, b] * 20) is None  # runs too short: counted by hashing
    assert queries._runs([]) == ({}, {})
