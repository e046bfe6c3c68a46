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
from dataclasses import dataclass, field, replace
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


DETAIL_LIMIT = 10_000
"""Statements of one round kept one by one; beyond, each is folded into its group (:class:`Folded`)."""

FoldKey = tuple[str, "str | None", tuple[str, ...], StatementKind]  # shape, call site, callers, kind


@dataclass(slots=True)
class Folded:
    """Statements of one shape, call site, callers and kind past :data:`DETAIL_LIMIT`: counted
    as they come, for what the N+1 analysis needs, and not kept.

    Requests are told apart by their ids, which grow from one call into SQLAlchemy to the
    next: a statement whose request id is above the last one seen here starts a request.
    """

    first: Statement  # the first one folded: its text and function stand for the group
    statements: int = 0
    duration: float = 0.0
    requests: int = 0
    last_request: int = 0
    last_call: int | None = None
    once_per_call: bool = True  # one request per test's call, and every statement in one

    def add(self, statement: Statement) -> None:
        self.statements += 1
        self.duration += statement.duration
        request = statement.request
        new_request = request is None or request > self.last_request
        if new_request:
            self.requests += 1
            if request is not None:
                self.last_request = request
        call = statement.test_call
        if call is None:
            self.once_per_call = False
        elif call != self.last_call:
            self.last_call = call
        elif new_request:
            self.once_per_call = False

    def minus(self, earlier: Folded) -> Folded:
        """What was folded here since ``earlier``, a copy of this group taken then."""
        return Folded(
            self.first,
            self.statements - earlier.statements,
            self.duration - earlier.duration,
            self.requests - earlier.requests,
            self.last_request,
            self.last_call,
            self.once_per_call,
        )


Mark = tuple[int, dict[FoldKey, Folded]]
"""Where a log was at one moment (:meth:`QueryLog.mark`), for :meth:`QueryLog.since`."""


@dataclass
class QueryLog:
    """The statements of one measured round, in order; what ``perf.queries`` shows.

    Memory stays bounded whatever a test sends: the first :data:`DETAIL_LIMIT` statements
    are kept one by one (``statements``), and later ones only counted in ``folded``, one
    :class:`Folded` per shape, call site, callers and kind. Counts, SQL time and the N+1
    analysis take both in; ``statements``, ``counted`` and ``by_shape()`` show the kept ones.
    """

    statements: list[Statement] = field(default_factory=list)
    folded: dict[FoldKey, Folded] = field(default_factory=dict)
    _kept_requests: dict[FoldKey, int] | None = field(default=None, repr=False, compare=False)

    def record(self, statement: Statement) -> None:
        if len(self.statements) < DETAIL_LIMIT:
            self.statements.append(statement)
        else:
            self.fold(statement)

    def fold(self, statement: Statement) -> None:
        """Count ``statement`` in its group without keeping it (past :data:`DETAIL_LIMIT`)."""
        key = (statement.shape, statement.call_site, statement.callers, statement.kind)
        group = self.folded.get(key)
        if group is None:
            if self._kept_requests is None:
                self._kept_requests = _last_requests(self.statements)
            group = self.folded[key] = Folded(statement, last_request=self._kept_requests.get(key, 0))
        group.add(statement)

    @property
    def not_kept(self) -> int:
        """Statements counted but not kept one by one (past :data:`DETAIL_LIMIT`)."""
        return sum(group.statements for group in self.folded.values())

    @property
    def counted(self) -> list[Statement]:
        """The kept statements of kind ``query``."""
        return [statement for statement in self.statements if statement.kind == "query"]

    @property
    def count(self) -> int:
        """Round trips counted towards ``queries`` (transaction control excluded)."""
        kept = len([statement for statement in self.statements if statement.kind == "query"])
        if not self.folded:
            return kept
        return kept + sum(group.statements for group in self.folded.values() if group.first.counted)

    @property
    def total_time(self) -> float:
        kept = sum([statement.duration for statement in self.statements])
        return kept + sum(group.duration for group in self.folded.values())

    def by_shape(self) -> dict[str, list[Statement]]:
        """Kept counted statements grouped by fingerprint, in order of first appearance."""
        groups: dict[str, list[Statement]] = defaultdict(list)
        for statement in self.counted:
            groups[statement.shape].append(statement)
        return dict(groups)

    def mark(self) -> Mark:
        """Where the log is now: :meth:`since` gives what came after."""
        return len(self.statements), {key: replace(group) for key, group in self.folded.items()}

    def since(self, start: int | Mark) -> QueryLog:
        """The statements recorded after ``start``, a :meth:`mark` or a number of statements
        (a block's share)."""
        if isinstance(start, int):
            return QueryLog(self.statements[start:])
        kept, earlier = start
        folded = {}
        for key, group in self.folded.items():
            before = earlier.get(key)
            share = group if before is None else group.minus(before)
            if share.statements:
                folded[key] = share
        return QueryLog(self.statements[kept:], folded)

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
        return _repeats(counted, self.folded, lambda statement: statement.is_select, threshold, ignore)

    def repeated_writes(self, threshold: int, ignore: Sequence[str] = ()) -> list[Suspect]:
        """INSERT, UPDATE and DELETE shapes requested ``threshold`` times or more from one call site.

        Not N+1 suspects (a loop of writes is often what the test means), but the same
        kind of round trips a batch would save. Counted as :meth:`suspects` counts, and
        as there, repeats that the test made are left out.
        """
        counted = self.counted
        return _repeats(counted, self.folded, lambda statement: statement.is_write, threshold, ignore)[0]

    def __len__(self) -> int:
        """Every statement recorded, kept or not."""
        return len(self.statements) + (self.not_kept if self.folded else 0)

    def __iter__(self) -> Iterator[Statement]:
        return iter(self.statements)


def _repeats(
    statements: Sequence[Statement],
    folded: dict[FoldKey, Folded],
    wanted: Callable[[Statement], bool],
    threshold: int,
    ignore: Sequence[str],
) -> tuple[list[Suspect], list[Suspect]]:
    """Shapes repeated ``threshold`` times or more from one call site with the same callers:
    the suspects, and the repeats that the test made. ``statements`` are every counted one
    kept, ``folded`` the groups of those not kept.

    A loop runs its statement from the same call site with the same callers each
    time; a helper called from several lines runs it with other callers. Chains that
    reach the threshold are reported together, per shape and call site, with their
    requests added up.
    """
    by_place: dict[tuple[str, str | None, tuple[str, ...]], list[Statement]] = {}
    for statement in statements:  # grouped first: what is wanted is the shape's, judged once
        key = (statement.shape, statement.call_site, statement.callers)
        group = by_place.get(key)
        if group is None:
            by_place[key] = [statement]
        else:
            group.append(statement)
    chains: dict[tuple[str, str | None], dict[tuple[str, ...], list[Statement]]] = defaultdict(dict)
    for (shape, call_site, callers), repeats in by_place.items():
        if wanted(repeats[0]):
            chains[(shape, call_site)][callers] = repeats
    more: dict[tuple[str, str | None, tuple[str, ...]], Folded] = {}
    for (shape, call_site, callers, kind), folded_group in folded.items():
        if kind == "query" and wanted(folded_group.first):
            chains[(shape, call_site)].setdefault(callers, [])
            more[(shape, call_site, callers)] = folded_group
    found: list[Suspect] = []
    made_by_test: list[Suspect] = []
    calls: dict[int, tuple[tuple[str, str | None, tuple[str, ...]], ...]] | None = None
    for (shape, call_site), by_callers in chains.items():
        count = repeated = 0
        function = None
        for callers, repeats in by_callers.items():
            tail = more.get((shape, call_site, callers)) if more else None
            kept = _requests(repeats)
            requested = kept + (tail.requests if tail is not None else 0)
            if function is None:
                function = repeats[0].function if repeats else tail.first.function if tail else None
            if requested < threshold:
                continue
            if repeats and repeats[0].test_call is not None and (tail is None or tail.once_per_call):
                if calls is None:
                    calls = _test_calls(statements, bool(folded))
                if _made_by_the_test(repeats, kept, calls):
                    repeated += requested
                    continue
            count += requested
        if (count or repeated) and not _ignored(shape, call_site, ignore):
            if count:
                found.append(Suspect(shape, count, call_site, function))
            if repeated:
                made_by_test.append(Suspect(shape, repeated, call_site, function))
    return sorted(found, key=lambda suspect: -suspect.count), made_by_test


def _last_requests(statements: Iterable[Statement]) -> dict[FoldKey, int]:
    """The highest request id kept per group: a folded statement of that request or an earlier
    one is no new request of the group."""
    last: dict[FoldKey, int] = {}
    for statement in statements:
        if statement.request is not None:
            key = (statement.shape, statement.call_site, statement.callers, statement.kind)
            last[key] = max(last.get(key, 0), statement.request)
    return last


def _test_calls(
    statements: Sequence[Statement], cut: bool
) -> dict[int, tuple[tuple[str, str | None, tuple[str, ...]], ...]]:
    """What each call of the test into the code under test sent: shapes, call sites and callers.

    With the log ``cut`` (statements folded past the detail kept), the last call kept may have
    sent more than was kept: it is left out.
    """
    sent: dict[int, list[tuple[str, str | None, tuple[str, ...]]]] = defaultdict(list)
    for statement in statements:
        if statement.test_call is not None:
            sent[statement.test_call].append((statement.shape, statement.call_site, statement.callers))
    if cut and statements and statements[-1].test_call is not None:
        del sent[statements[-1].test_call]
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
    if not ids or None in ids or len(ids) != requested:
        return False
    sent = {calls[call] for call in ids if call in calls}
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
