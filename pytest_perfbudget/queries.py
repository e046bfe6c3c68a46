"""What a test sent to the database, and the N+1 analysis over it.

This module holds no database code: SQL instrumentation (:mod:`.sql.hooks`) adds a
:data:`Record` per statement to the :data:`capture` target while a test's call phase is
measured. Everything that judges statements works on those records; ``perf.queries.statements``
shows them as :class:`Statement` objects, made when read.
"""

from __future__ import annotations

import fnmatch
import functools
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from itertools import compress, islice, repeat
from operator import eq, is_, is_not, itemgetter
from typing import Any, Final, Literal, NamedTuple

StatementKind = Literal["query", "transaction", "setup"]

Site = tuple["str | None", "str | None", tuple[str, ...]]
"""Where in the user's code a statement was sent from: the call site (``path:line``), the function
there, and the call sites of the callers further out, innermost first (see :mod:`.sql.callsite`).
Statements sent from one place share one such tuple."""

NO_SITE: Site = (None, None, ())
"""The site of a statement sent from no frame of the user's code, or recorded without call sites."""

Record = tuple[str, str, float, int, bool, StatementKind, Any, "int | None", int, "int | None", str]
"""One statement as it is recorded: ``(sql, shape, duration, parameters, executemany, kind, rowcount,
request, batch, test's call, place)``, the fields of :class:`Statement` in a plain tuple, with the
cursor's ``rowcount`` as the driver gave it (:class:`Statement` keeps only a count), and its place
(:func:`place_of`, made once per place by the recorder), which also tells its site.

A plain tuple because one is made for every statement a measured test sends: one allocation, no
Python code run to make it. It holds no container, so the garbage collector stops tracking it the
first time it looks at it, and a log of many statements costs later collections nothing. The
analysis reads its fields with C-level getters over all records (``map`` with the getters below)."""

# Where the fields read one by one are in a Record.
SHAPE: Final = 1
DURATION: Final = 2
KIND: Final = 5
REQUEST: Final = 7
TEST_CALL: Final = 9
PLACE: Final = 10

_DURATION = itemgetter(DURATION)
_KIND = itemgetter(KIND)
_REQUEST = itemgetter(REQUEST)
_TEST_CALL = itemgetter(TEST_CALL)
_PLACE = itemgetter(PLACE)


def place_of(shape: str, site: Site) -> str:
    """Where statements of ``shape`` repeat from, as one string: the N+1 analysis counts requests
    per place, and a string hashes once (a site is a tuple of strings and a tuple of strings,
    which would be hashed again at every lookup). The shape alone for no site; else the shape,
    call site, function and callers, separated by NUL, so that :func:`site_of` reads the site
    back (none of them holds a NUL: see :meth:`.sql.fingerprint.ShapeCache.fingerprint`)."""
    call_site, function, callers = site
    if call_site is None and function is None and not callers:
        return shape
    return "\0".join((shape, call_site or "", function or "", *callers))


@functools.lru_cache(maxsize=4096)
def site_of(place: str) -> Site:
    """The site that :func:`place_of` wrote into ``place``."""
    if "\0" not in place:
        return NO_SITE
    _, call_site, function, *callers = place.split("\0")
    return call_site or None, function or None, tuple(callers)


class Statement(NamedTuple):
    """One statement sent to a database. Parameter values are never kept, only counted."""

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
        return is_select(self.shape)

    @property
    def is_write(self) -> bool:
        return is_write(self.shape)


def statement_of(record: Record) -> Statement:
    """The :class:`Statement` a record stands for."""
    sql, shape, duration, parameters, executemany, kind, rowcount, request, batch, test_call, place = record
    call_site, function, callers = site_of(place)
    rows = rowcount if rowcount.__class__ is int and rowcount >= 0 else None  # -1, None: not known
    return Statement(
        sql,
        shape,
        duration,
        parameters,
        executemany,
        call_site,
        function,
        kind,
        rows,
        request,
        batch,
        callers,
        test_call,
    )


def record_of(statement: Statement) -> Record:
    """The record of ``statement`` (a log made from statements, in tests and blocks)."""
    site = (statement.call_site, statement.function, statement.callers)
    return (
        statement.sql,
        statement.shape,
        statement.duration,
        statement.parameters,
        statement.executemany,
        statement.kind,
        statement.rows,
        statement.request,
        statement.batch,
        statement.test_call,
        place_of(statement.shape, site),
    )


def is_select(shape: str) -> bool:
    """Whether a statement of ``shape`` reads (``SELECT``, ``WITH``)."""
    return shape.lstrip("( ").upper().startswith(("SELECT", "WITH"))


def is_write(shape: str) -> bool:
    """Whether a statement of ``shape`` writes (``INSERT``, ``UPDATE``, ``DELETE``, ...)."""
    return shape.lstrip("( ").upper().startswith(("INSERT", "UPDATE", "DELETE", "REPLACE", "MERGE"))


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

FoldKey = tuple[str, StatementKind]  # place (see place_of) and kind: one string hashed per statement


@dataclass(slots=True)
class Folded:
    """Statements of one shape, site and kind past :data:`DETAIL_LIMIT`: counted as they come,
    for what the N+1 analysis needs, and not kept.

    Requests are told apart by their ids, which grow from one call into SQLAlchemy to the
    next: a statement whose request id is above the last one seen here starts a request.
    """

    first: Record  # the first one folded: its text and function stand for the group
    statements: int = 0
    duration: float = 0.0
    requests: int = 0
    last_request: int = 0
    last_call: int | None = None
    once_per_call: bool = True  # one request per test's call, and every statement in one

    def add(self, record: Record) -> None:
        self.statements += 1
        self.duration += record[DURATION]
        request = record[REQUEST]
        new_request = request is None or request > self.last_request
        if new_request:
            self.requests += 1
            if request is not None:
                self.last_request = request
        call = record[TEST_CALL]
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


class QueryLog:
    """The statements of one measured round, in order; what ``perf.queries`` shows.

    Memory stays bounded whatever a test sends: the first :data:`DETAIL_LIMIT` statements
    are kept one by one (``records``, shown as ``statements``), and later ones only counted in
    ``folded``, one :class:`Folded` per shape, site and kind. Counts, SQL time and the N+1
    analysis take both in; ``statements``, ``counted`` and ``by_shape()`` show the kept ones.

    Two facts about the kept records spare the analysis a pass over them each, in the usual
    log: ``uncounted``, how many are not of kind ``query``, and ``repeated_requests``, the
    requests that may have sent more than one kept query (None: not known, every request is
    looked at). :meth:`add` keeps both; the recorder appends a query itself, and adds its
    request to ``repeated_requests`` when it is not new.
    """

    def __init__(
        self, statements: Iterable[Statement] = (), folded: dict[FoldKey, Folded] | None = None
    ) -> None:
        self.folded: dict[FoldKey, Folded] = {} if folded is None else folded
        self._statements: list[Statement] = []  # the records read as statements so far
        self._kept_requests: dict[FoldKey, int] | None = None
        self._kept_durations: list[float] = []
        self._keep(list(map(record_of, statements)))

    @classmethod
    def of(cls, records: list[Record], folded: dict[FoldKey, Folded] | None = None) -> QueryLog:
        """A log of ``records``."""
        log = cls(folded=folded)
        log._keep(records)
        return log

    def _keep(self, records: list[Record]) -> None:
        self.records: list[Record] = records
        self.uncounted = len(records) - list(map(_KIND, records)).count("query")
        self.repeated_requests: set[int] | None = None if records else set()  # None: not known

    def __repr__(self) -> str:
        return f"QueryLog({self.statements!r}, {self.folded!r})"

    def record(self, statement: Statement) -> None:
        """Add ``statement`` as the recorder adds what it records."""
        self.add(record_of(statement))

    def add(self, record: Record) -> None:
        """Keep ``record``, or fold it past :data:`DETAIL_LIMIT`."""
        if len(self.records) < DETAIL_LIMIT:
            self.records.append(record)
            if record[KIND] != "query":
                self.uncounted += 1
            else:
                self.repeated_requests = None  # not known: the analysis tells
        else:
            self.fold(record)

    def fold(self, record: Record) -> None:
        """Count ``record`` in its group without keeping it (past :data:`DETAIL_LIMIT`)."""
        key = (record[PLACE], record[KIND])
        group = self.folded.get(key)
        if group is None:
            if self._kept_requests is None:
                self._kept_requests = _last_requests(self.records)
            group = self.folded[key] = Folded(record, last_request=self._kept_requests.get(key, 0))
        group.add(record)

    @property
    def statements(self) -> list[Statement]:
        """The kept statements, in order (made from the records when read)."""
        made = self._statements
        if len(made) < len(self.records):
            made.extend(map(statement_of, self.records[len(made) :]))
        return made

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
        kept = len(self.records) - self.uncounted
        if not self.folded:
            return kept
        return kept + sum(group.statements for group in self.folded.values() if group.first[KIND] == "query")

    @property
    def total_time(self) -> float:
        kept: float = sum(self._durations())
        return kept + sum(group.duration for group in self.folded.values())

    def slowest_shape(self) -> tuple[float, str] | None:
        """The duration and shape of the slowest statement kept, if any."""
        durations = self._durations()
        if not durations:
            return None
        slowest = max(durations)
        return slowest, self.records[durations.index(slowest)][SHAPE]

    def _durations(self) -> list[float]:
        """The kept statements' durations, read out once for the SQL time and the slowest."""
        if len(self._kept_durations) != len(self.records):
            self._kept_durations = list(map(_DURATION, self.records))
        return self._kept_durations

    def by_shape(self) -> dict[str, list[Statement]]:
        """Kept counted statements grouped by fingerprint, in order of first appearance."""
        groups: dict[str, list[Statement]] = defaultdict(list)
        for statement in self.counted:
            groups[statement.shape].append(statement)
        return dict(groups)

    def mark(self) -> Mark:
        """Where the log is now: :meth:`since` gives what came after."""
        return len(self.records), {key: replace(group) for key, group in self.folded.items()}

    def since(self, start: int | Mark) -> QueryLog:
        """The statements recorded after ``start``, a :meth:`mark` or a number of statements
        (a block's share)."""
        if isinstance(start, int):
            return QueryLog.of(self.records[start:])
        kept, earlier = start
        folded = {}
        for key, group in self.folded.items():
            before = earlier.get(key)
            share = group if before is None else group.minus(before)
            if share.statements:
                folded[key] = share
        return QueryLog.of(self.records[kept:], folded)

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
        (see :func:`_same_statements_each_call`). Counted as :meth:`suspects` counts.
        """
        return self.n_plus_one(threshold, ignore)[1]

    def n_plus_one(self, threshold: int, ignore: Sequence[str] = ()) -> tuple[list[Suspect], list[Suspect]]:
        """:meth:`suspects` and :meth:`repeated_by_test`, from one pass."""
        return _repeats(self._queries(), self.folded, is_select, threshold, ignore, self.repeated_requests)

    def repeated_writes(self, threshold: int, ignore: Sequence[str] = ()) -> list[Suspect]:
        """INSERT, UPDATE and DELETE shapes requested ``threshold`` times or more from one call site.

        Not N+1 suspects (a loop of writes is often what the test means), but the same
        kind of round trips a batch would save. Counted as :meth:`suspects` counts, and
        as there, repeats that the test made are left out.
        """
        return _repeats(self._queries(), self.folded, is_write, threshold, ignore, self.repeated_requests)[0]

    def _queries(self) -> list[Record]:
        """The kept records of kind ``query``: all of them, in the usual case."""
        records = self.records
        if not self.uncounted:
            return records
        return list(compress(records, map(eq, map(_KIND, records), repeat("query"))))

    def __len__(self) -> int:
        """Every statement recorded, kept or not."""
        return len(self.records) + (self.not_kept if self.folded else 0)

    def __iter__(self) -> Iterator[Statement]:
        return iter(self.statements)


def _repeats(
    records: list[Record],
    folded: dict[FoldKey, Folded],
    wanted: Callable[[str], bool],
    threshold: int,
    ignore: Sequence[str],
    repeated_requests: set[int] | None = None,
) -> tuple[list[Suspect], list[Suspect]]:
    """Shapes repeated ``threshold`` times or more from one call site with the same callers:
    the suspects, and the repeats that the test made. ``records`` are every counted one
    kept, ``folded`` the groups of those not kept; ``wanted`` tells the shapes to judge.

    A loop runs its statement from the same call site with the same callers each
    time; a helper called from several lines runs it with other callers. Chains that
    reach the threshold are reported together, per shape and call site, with their
    requests added up.

    It runs after every measured call that sent SQL, over every statement: the passes over
    the records are C-level (``map``, ``compress``, ``Counter``, ``zip``) over their
    places (see :func:`place_of`), and the Python loops below go over places, not statements.
    A record is a request of its own unless its request is among ``repeated_requests`` (None:
    any may be).
    """
    places: list[str] = list(map(_PLACE, records))
    runs = _runs(places)
    first: dict[str, Record]  # each place's first record
    if runs is not None:
        per_place, starts = runs
        first = {place: records[start] for place, start in starts.items()}
    else:
        per_place = None
        first = dict(zip(reversed(places), reversed(records), strict=True))
    kept: dict[str, int]  # requests per place
    if repeated_requests is None or len(repeated_requests) * 4 > len(records):  # any, or many, may repeat
        kept = _requests_per_place(places, list(map(_REQUEST, records)))
    else:
        statements = per_place if per_place is not None else Counter(places)
        kept = _requests_with_few_repeated(records, places, statements, repeated_requests)
    chains: dict[tuple[str, str | None], dict[str, tuple[Site, int]]] = defaultdict(dict)
    judged: dict[str, bool] = {}
    for key, requests in kept.items():
        shape, site = first[key][SHAPE], site_of(key)
        if judged.setdefault(shape, wanted(shape)):
            chains[(shape, site[0])][key] = (site, requests)
    more: dict[str, Folded] = {}
    for (key, kind), folded_group in folded.items():
        shape, site = folded_group.first[SHAPE], site_of(key)
        if kind == "query" and wanted(shape):
            chains[(shape, site[0])].setdefault(key, (site, 0))
            more[key] = folded_group
    found: list[Suspect] = []
    made_by_test: list[Suspect] = []
    several_places = len(kept) >= 2  # else no call of the test's sent two different statements
    by_test = _RepeatsByTest(records, places, bool(folded))
    for (shape, call_site), by_place in chains.items():
        count = repeated = 0
        function = None
        for key, (site, requests) in by_place.items():
            tail = more.get(key) if more else None
            opening = first.get(key)
            requested = requests + (tail.requests if tail is not None else 0)
            if function is None:
                function = site[1]
            if requested < threshold:
                continue
            if (
                several_places
                and opening
                and opening[TEST_CALL] is not None
                and (tail is None or tail.once_per_call)
                and by_test.made(key, requests)
            ):
                repeated += requested
            else:
                count += requested
        if (count or repeated) and not _ignored(shape, call_site, ignore):
            if count:
                found.append(Suspect(shape, count, call_site, function))
            if repeated:
                made_by_test.append(Suspect(shape, repeated, call_site, function))
    return sorted(found, key=lambda suspect: -suspect.count), made_by_test


def _runs(places: list[str]) -> tuple[dict[str, int], dict[str, int]] | None:
    """Statements per place, and where each place's first is, in order of first appearance; None
    when the places do not come in runs.

    A loop sends its statements in a run of one place, and the recorder makes equal places the
    same string: the runs' starts are found by identity, in C, and only the runs are added up
    here. Counting by hashing instead would make a new int for each statement past 256, and
    a scan per place would compare other places byte by byte.
    """
    if not places:
        return {}, {}
    starts = [0, *compress(range(1, len(places)), map(is_not, islice(places, 1, None), places))]
    if len(starts) > len(places) // 8 + 1:  # short runs: hashing is cheaper
        return None
    counts: dict[str, int] = {}
    first: dict[str, int] = {}
    for start, end in zip(starts, [*starts[1:], len(places)], strict=True):
        place = places[start]
        if place in counts:
            counts[place] += end - start
        else:
            counts[place] = end - start
            first[place] = start
    return counts, first


def _requests_with_few_repeated(
    records: list[Record], places: list[str], statements: dict[str, int], repeated: set[int]
) -> dict[str, int]:
    """Distinct requests per place, from the ``statements`` per place, when only the requests in
    ``repeated`` may have sent more than one statement: a pass in C finds theirs, and only those
    are looked at one by one (the records of a log without such requests, the usual one, not at
    all)."""
    if not repeated:
        return statements
    counts = dict(statements)
    seen: set[tuple[int | None, str]] = set()
    for position in compress(range(len(records)), map(repeated.__contains__, map(_REQUEST, records))):
        place = places[position]
        request_and_place = (records[position][REQUEST], place)
        if request_and_place in seen:
            counts[place] -= 1
        else:
            seen.add(request_and_place)
    return counts


def _requests_per_place(places: list[str], requests: list[int | None]) -> dict[str, int]:
    """Distinct requests per place, in order of first appearance; a statement without a request
    id is a request of its own."""
    distinct_requests = set(requests)
    if len(distinct_requests) == len(requests) and None not in distinct_requests:  # one statement each
        return Counter(places)
    distinct = Counter(map(itemgetter(0), set(zip(places, requests, strict=True))))  # no id: one
    alone = Counter(compress(places, map(is_, requests, repeat(None))))
    counts = dict.fromkeys(places, 0)
    for place in counts:
        counts[place] = distinct[place] + max(alone[place] - 1, 0)
    return counts


def _last_requests(records: Iterable[Record]) -> dict[FoldKey, int]:
    """The highest request id kept per group: a folded statement of that request or an earlier
    one is no new request of the group."""
    last: dict[FoldKey, int] = {}
    for record in records:
        request = record[REQUEST]
        if request is not None:
            key = (record[PLACE], record[KIND])
            last[key] = max(last.get(key, 0), request)
    return last


def _test_calls(records: list[Record], places: list[str], cut: bool) -> dict[int, tuple[str, ...]]:
    """What each call of the test into the code under test sent: the places of its statements.

    With the log ``cut`` (statements folded past the detail kept), the last call kept may have
    sent more than was kept: it is left out.
    """
    sent: dict[int, list[str]] = defaultdict(list)
    for call, place in zip(map(_TEST_CALL, records), places, strict=True):
        if call is not None:
            sent[call].append(place)
    if cut and records and records[-1][TEST_CALL] is not None:
        del sent[records[-1][TEST_CALL]]
    return {call: tuple(keys) for call, keys in sent.items()}


class _RepeatsByTest:
    """Tells the places whose statements repeat only because the test called the code under test
    that often (see :func:`_same_statements_each_call`), each pass over the records made when
    first needed: most logs need none."""

    def __init__(self, records: list[Record], places: list[str], cut: bool) -> None:
        self.records = records
        self.places = places
        self.cut = cut  # statements were folded past the detail kept
        self._test_calls: int | None = None
        self._calls: dict[int, tuple[str, ...]] | None = None

    def made(self, place: str, requests: int) -> bool:
        """Whether the ``requests`` requests kept from ``place`` repeat only because of the test."""
        if self._test_calls is None:
            self._test_calls = len(set(map(_TEST_CALL, self.records)))
        if self._test_calls < requests:  # fewer calls than requests: not each its own call
            return False
        test_calls = set(compress(map(_TEST_CALL, self.records), map(eq, self.places, repeat(place))))
        if not _each_its_own_call(test_calls, requests):
            return False
        if self._calls is None:
            self._calls = _test_calls(self.records, self.places, self.cut)
        return _same_statements_each_call(test_calls, self._calls)


def _each_its_own_call(test_calls: set[int | None], requested: int) -> bool:
    """Whether statements of one place, sent from ``test_calls`` in ``requested`` requests, were
    each request a call of the test's own (a benchmark's round, an iteration of the test's loop):
    the first condition of a repeat made by the test (see :func:`_same_statements_each_call`)."""
    return bool(test_calls) and None not in test_calls and len(test_calls) == requested


def _same_statements_each_call(test_calls: set[int | None], calls: dict[int, tuple[str, ...]]) -> bool:
    """Whether every call of ``test_calls`` sent the same statements, at least two different ones.

    Then statements of one place, each a request of its own call (see :func:`_each_its_own_call`),
    repeat only because the test called the code under test that often: the whole group repeats.
    A loop in the code under test repeats within one call. A call that sends a single statement
    cannot be told from a loop over data: its repeats stay suspects.
    """
    sent = {calls[call] for call in test_calls if call is not None and call in calls}
    if len(sent) != 1:
        return False
    (keys,) = sent
    return len(set(keys)) >= 2


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
