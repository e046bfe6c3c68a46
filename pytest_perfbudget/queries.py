"""What a test sent to the database, and the N+1 analysis over it.

This module holds no database code: SQL instrumentation (see the SQL issue)
appends :class:`Statement` records to the :data:`capture` target while a
test's call phase is measured. Everything that judges or reports statements
works on these records only.
"""

from __future__ import annotations

import fnmatch
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

StatementKind = Literal["query", "transaction", "setup"]


@dataclass(slots=True)
class Statement:
    """One statement sent to a database. Parameter values are never kept, only counted.

    Not frozen: a frozen dataclass costs microseconds to build, and one is built
    for every statement a measured test runs. Treat it as read-only.
    """

    sql: str
    shape: str  # normalized fingerprint: the same query with other values has one shape
    duration: float
    parameters: int = 0  # bind values sent (per parameter set, for an executemany)
    executemany: bool = False
    call_site: str | None = None  # "path:line" of the user's own code, relative to rootdir
    function: str | None = None
    kind: StatementKind = "query"  # only "query" counts towards ``queries``
    rows: int | None = None  # the cursor's row count, when the driver knows it
    request: int | None = None  # statements of one call into SQLAlchemy share it; None: its own
    batch: int = 1  # parameter sets of an executemany
    callers: tuple[str, ...] = ()  # call sites of the user's frames further out, innermost first
    test_call: int | None = None  # statements of one call the test made into the code under test share it

    @property
    def counted(self) -> bool:
        return self.kind == "query"

    @property
    def is_select(self) -> bool:
        return self.shape.lstrip("( ").upper().startswith(("SELECT", "WITH"))

    @property
    def is_write(self) -> bool:
        return self.shape.lstrip("( ").upper().startswith(("INSERT", "UPDATE", "DELETE", "REPLACE", "MERGE"))


@dataclass(frozen=True)
class Suspect:
    """A SELECT shape repeated from one call site: a likely N+1."""

    statement: str
    count: int
    call_site: str | None
    function: str | None

    def to_json(self) -> dict[str, object]:
        return {
            "statement": self.statement,
            "count": self.count,
            "call_site": self.call_site,
            "function": self.function,
        }


@dataclass
class QueryLog:
    """The statements of one measured round, in order; what ``perf.queries`` shows."""

    statements: list[Statement] = field(default_factory=list)

    def record(self, statement: Statement) -> None:
        self.statements.append(statement)

    @property
    def counted(self) -> list[Statement]:
        return [statement for statement in self.statements if statement.counted]

    @property
    def count(self) -> int:
        """Round trips counted towards ``queries`` (transaction control excluded)."""
        return sum(1 for statement in self.statements if statement.counted)

    @property
    def total_time(self) -> float:
        return sum(statement.duration for statement in self.statements)

    def by_shape(self) -> dict[str, list[Statement]]:
        """Counted statements grouped by fingerprint, in order of first appearance."""
        groups: dict[str, list[Statement]] = defaultdict(list)
        for statement in self.counted:
            groups[statement.shape].append(statement)
        return dict(groups)

    def since(self, start: int) -> QueryLog:
        """The statements recorded after the first ``start`` (a block's share)."""
        return QueryLog(self.statements[start:])

    def suspects(self, threshold: int, ignore: Sequence[str] = ()) -> list[Suspect]:
        """SELECT shapes requested ``threshold`` times or more from one call site: likely N+1s.

        Repeats are counted in requests, not statements: the batches SQLAlchemy splits
        one request into (a ``selectinload`` over many parents) are one request. And they
        are counted per chain of callers: a helper called once from each of three lines
        is three calls, not a loop (see :func:`_repeats`). Repeats that the test made
        (:meth:`repeated_by_test`) are not suspects.
        """
        return self.n_plus_one(threshold, ignore)[0]

    def repeated_by_test(self, threshold: int, ignore: Sequence[str] = ()) -> list[Suspect]:
        """SELECT shapes repeated as often as the test repeated its call of the code under test.

        A benchmark fixture running rounds, or the test's own loop over calls of the code
        under test: each call sent the same statements, at least two of them, each once
        (see :func:`_made_by_the_test`). Counted as :meth:`suspects` counts.
        """
        return self.n_plus_one(threshold, ignore)[1]

    def n_plus_one(self, threshold: int, ignore: Sequence[str] = ()) -> tuple[list[Suspect], list[Suspect]]:
        """:meth:`suspects` and :meth:`repeated_by_test`, from one pass."""
        counted = self.counted
        return _repeats(counted, counted, lambda statement: statement.is_select, threshold, ignore)

    def repeated_writes(self, threshold: int, ignore: Sequence[str] = ()) -> list[Suspect]:
        """INSERT, UPDATE and DELETE shapes requested ``threshold`` times or more from one call site.

        Not N+1 suspects (a loop of writes is often what the test means), but the same
        kind of round trips a batch would save. Counted as :meth:`suspects` counts, and
        as there, repeats that the test made are left out.
        """
        counted = self.counted
        return _repeats(counted, counted, lambda statement: statement.is_write, threshold, ignore)[0]

    def __len__(self) -> int:
        return len(self.statements)

    def __iter__(self) -> Iterator[Statement]:
        return iter(self.statements)


def _repeats(
    statements: Sequence[Statement],
    everything: Sequence[Statement],
    wanted: Callable[[Statement], bool],
    threshold: int,
    ignore: Sequence[str],
) -> tuple[list[Suspect], list[Suspect]]:
    """Shapes repeated ``threshold`` times or more from one call site with the same callers:
    the suspects, and the repeats that the test made (judged against ``everything`` counted).

    A loop runs its statement from the same call site with the same callers each
    time; a helper called from several lines runs it with other callers. Chains that
    reach the threshold are reported together, per shape and call site, with their
    requests added up.
    """
    chains: dict[tuple[str, str | None], dict[tuple[str, ...], list[Statement]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for statement in statements:
        if wanted(statement):
            chains[(statement.shape, statement.call_site)][statement.callers].append(statement)
    found: list[Suspect] = []
    made_by_test: list[Suspect] = []
    calls: dict[int, tuple[tuple[str, str | None, tuple[str, ...]], ...]] | None = None
    for (shape, call_site), by_callers in chains.items():
        count = repeated = 0
        for repeats in by_callers.values():
            requested = _requests(repeats)
            if requested < threshold:
                continue
            if calls is None:
                calls = _test_calls(everything)
            if _made_by_the_test(repeats, requested, calls):
                repeated += requested
            else:
                count += requested
        if (count or repeated) and not _ignored(shape, call_site, ignore):
            function = next(iter(by_callers.values()))[0].function
            if count:
                found.append(Suspect(shape, count, call_site, function))
            if repeated:
                made_by_test.append(Suspect(shape, repeated, call_site, function))
    return sorted(found, key=lambda suspect: -suspect.count), made_by_test


def _test_calls(
    statements: Iterable[Statement],
) -> dict[int, tuple[tuple[str, str | None, tuple[str, ...]], ...]]:
    """What each call of the test into the code under test sent: shapes, call sites and callers."""
    sent: dict[int, list[tuple[str, str | None, tuple[str, ...]]]] = defaultdict(list)
    for statement in statements:
        if statement.test_call is not None:
            sent[statement.test_call].append((statement.shape, statement.call_site, statement.callers))
    return {call: tuple(keys) for call, keys in sent.items()}


def _made_by_the_test(
    repeats: Sequence[Statement],
    requested: int,
    calls: dict[int, tuple[tuple[str, str | None, tuple[str, ...]], ...]],
) -> bool:
    """Whether ``repeats`` repeat only because the test called the code under test that often.

    So when each repeat is one request of its own call of the test's (a benchmark's round,
    an iteration of the test's loop), and every such call sent the same statements, at
    least two different ones: the whole group repeats. A loop in the code under test
    repeats within one call. A call that sends a single statement cannot be told from a
    loop over data: its repeats stay suspects.
    """
    ids = {statement.test_call for statement in repeats}
    if None in ids or len(ids) != requested:
        return False
    sent = {calls[call] for call in ids if call is not None}
    if len(sent) != 1:
        return False
    (keys,) = sent
    return len(set(keys)) >= 2


def _requests(statements: Sequence[Statement]) -> int:
    """Distinct requests among ``statements``; a statement without a request id is one."""
    ids = {statement.request for statement in statements if statement.request is not None}
    return len(ids) + sum(1 for statement in statements if statement.request is None)


def _ignored(shape: str, call_site: str | None, ignore: Sequence[str]) -> bool:
    return any(
        fnmatch.fnmatchcase(shape, pattern)
        or (call_site is not None and fnmatch.fnmatchcase(call_site, pattern))
        for pattern in ignore
    )


@dataclass
class Capture:
    """Where instrumentation sends statements: the log of the round being measured, if any.

    Deliberately a plain process-wide attribute, not a thread-local: statements
    sent from any thread during a measured call belong to that call.
    """

    log: QueryLog | None = None


capture = Capture()
