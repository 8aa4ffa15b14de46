"""The Python peer, the PyPI ``eventsourcing`` package, on the same workload.

Its bank account is written the way its documentation writes aggregates; its stores are
the matching ones: POPO (in memory), SQLite and PostgreSQL. Its API is synchronous, so
its "concurrent clients" of W1 run one after another, which is its best case on one
thread (threads only add lock and GIL contention); W4 also runs it with one thread per
client, to show what real concurrent clients cost it.

The peer caches no aggregate by default: every command replays its aggregate from the
store. Its aggregate cache is switched on by application settings (``env``), read when
the application builds its repository (``Application.construct_repository``):

- ``AGGREGATE_CACHE_MAXSIZE``: unset or empty, no cache; ``N > 0``, an LRU cache of ``N``
  aggregates (``N <= 0``: unbounded).
- ``AGGREGATE_CACHE_FASTFORWARD`` (default ``y``): on a hit, read the events after the
  cached version from the store and apply them (one query per command; right with many
  application instances on one store). With ``n`` the application puts every aggregate it
  saves into the cache and a hit reads nothing: right when one application instance is
  the only writer, as in every measurement here, and the fastest the cache gets.
- ``DEEPCOPY_FROM_AGGREGATE_CACHE`` (default ``y``): a hit returns a deep copy, so that a
  command failing halfway leaves the cached aggregate as it was; kept on.

A job with ``cache=True`` runs with ``AGGREGATE_CACHE_MAXSIZE`` = :data:`CACHE_MAXSIZE`
(more than any workload's aggregates) and ``AGGREGATE_CACHE_FASTFORWARD=n``; with
``cache=False`` both are set to "no cache" explicitly, whatever the process environment
says. Cold loads (W2) never use the cache: a cold load reads the store by definition.
W1 and W4 check every account afterwards through a new application without a cache.
"""

from __future__ import annotations

import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal, TypeAlias
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from tests.benchmarks.workload import COLD_LOADS, Op, Open, Script, live_scripts, sizes, w1_script

PeerKind = Literal["popo", "sqlite", "postgres"]
Figures: TypeAlias = dict[str, float]
LOG_PAGE = 1_000
LOG_READS = 5
"""As ours (``ours.LOG_READS``): the whole log read this many times, the median reported."""
BUILD_BATCH = 1_000
CACHE_MAXSIZE = 1_000_000
"""The peer's cache size with ``cache=True``: more than the aggregates of any job."""


class PeerAccount(Aggregate):  # type: ignore[misc]
    """The bank account in the peer's style."""

    @event("Opened")  # type: ignore[untyped-decorator]
    def __init__(self, account_id: str) -> None:
        self.account_id = account_id
        self.balance = Decimal(0)

    @event("Deposited")  # type: ignore[untyped-decorator]
    def deposit(self, amount: Decimal) -> None:
        if amount <= 0:
            raise ValueError("amount must be positive")
        self.balance += amount


class PeerBank(Application):  # type: ignore[misc]
    """The peer's application service for the bank."""

    def open(self, account_id: str) -> UUID:
        account = PeerAccount(account_id)
        self.save(account)
        result: UUID = account.id
        return result

    def deposit(self, account_id: UUID, amount: Decimal) -> None:
        account = self.repository.get(account_id)
        account.deposit(amount)
        self.save(account)


@dataclass(frozen=True)
class PeerTarget:
    """Where the peer keeps its events: its kind of store, and the file or schema."""

    kind: PeerKind
    location: str = ""
    dsn: str = ""


def environment(target: PeerTarget, cache: bool = False) -> dict[str, str]:
    """The peer's settings for ``target`` (its ``env`` argument), with its cache or not."""
    return {**_persistence(target), **_cache_settings(cache)}


def _cache_settings(cache: bool) -> dict[str, str]:
    """The aggregate cache's settings (see the module's docstring); empty: no cache."""
    if not cache:
        return {"AGGREGATE_CACHE_MAXSIZE": "", "AGGREGATE_CACHE_FASTFORWARD": "y"}
    return {"AGGREGATE_CACHE_MAXSIZE": str(CACHE_MAXSIZE), "AGGREGATE_CACHE_FASTFORWARD": "n"}


def _persistence(target: PeerTarget) -> dict[str, str]:
    if target.kind == "popo":
        return {"PERSISTENCE_MODULE": "eventsourcing.popo"}
    if target.kind == "sqlite":
        # The peer switches the file to WAL itself and leaves `synchronous` at SQLite's
        # default, FULL: `durability` below checks both.
        return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": target.location}
    from psycopg import conninfo

    params = conninfo.conninfo_to_dict(target.dsn)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": str(params.get("dbname") or "postgres"),
        "POSTGRES_HOST": str(params.get("host") or "127.0.0.1"),
        "POSTGRES_PORT": str(params.get("port") or "5432"),
        "POSTGRES_USER": str(params.get("user") or "postgres"),
        "POSTGRES_PASSWORD": str(params.get("password") or ""),
        "POSTGRES_SCHEMA": target.location,
    }


class _Checker(PeerBank):
    """A new application on the events of another, without a cache: reads the store.

    Same name as :class:`PeerBank`, so the same tables. POPO keeps its events in the
    recorder of the application that wrote them, so there the checker shares that
    recorder (with its own mapper, event store and repository); on SQLite and PostgreSQL
    it opens the file or schema anew.
    """

    name = "PeerBank"

    def __init__(self, env: dict[str, str], recorder: Any = None) -> None:
        self._shared_recorder = recorder
        super().__init__(env=env)

    def construct_recorder(self) -> Any:
        if self._shared_recorder is not None:
            return self._shared_recorder
        return super().construct_recorder()


def _app(target: PeerTarget, snapshot_every: int | None = None, cache: bool = False) -> PeerBank:
    PeerBank.snapshotting_intervals = (
        {} if snapshot_every is None else {PeerAccount: snapshot_every}
    )
    app = PeerBank(env=environment(target, cache))
    if (app.repository.cache is not None) != cache:
        raise RuntimeError(f"the peer's aggregate cache is not {'on' if cache else 'off'}")
    return app


def expected_balances(script: Script) -> dict[str, tuple[int, Decimal]]:
    """Each account's version and balance once ``script`` has run (opened: version 1)."""
    expected: dict[str, tuple[int, Decimal]] = {}
    for ops in script:
        for op in ops:
            if isinstance(op, Open):
                expected[op.account_id] = (1, Decimal(0))
            else:
                version, balance = expected[op.account_id]
                expected[op.account_id] = (version + 1, balance + Decimal(op.amount))
    return expected


def verify(
    target: PeerTarget,
    recorder: Any,
    uuids: dict[str, UUID],
    expected: dict[str, tuple[int, Decimal]],
) -> None:
    """Read every account through a new application without a cache; raise if one is off.

    ``recorder`` is that of the application that wrote the events (used on POPO only).
    """
    if set(uuids) != set(expected):
        raise RuntimeError(f"the peer opened {len(uuids)} accounts, not {len(expected)}")
    PeerBank.snapshotting_intervals = {}
    checker = _Checker(environment(target), recorder if target.kind == "popo" else None)
    try:
        if checker.repository.cache is not None:
            raise RuntimeError("the checker has an aggregate cache")
        for account_id, (version, balance) in expected.items():
            account: Any = checker.repository.get(uuids[account_id])
            found = (account.account_id, account.version, account.balance)
            if found != (account_id, version, balance):
                raise RuntimeError(
                    f"the peer's account {account_id} is {found}, not {(version, balance)}"
                )
    finally:
        checker.close()


def _run_ops(app: PeerBank, ops: list[Op], uuids: dict[str, UUID]) -> None:
    for op in ops:
        if isinstance(op, Open):
            uuids[op.account_id] = app.open(op.account_id)
        else:
            app.deposit(uuids[op.account_id], Decimal(op.amount))


def _run_script(
    app: PeerBank, script: list[list[Op]], threads: bool, uuids: dict[str, UUID]
) -> float:
    """Run every client's commands, in turn or each on a thread; return the seconds."""
    started = time.perf_counter()
    if threads and len(script) > 1:
        with ThreadPoolExecutor(max_workers=len(script)) as pool:
            for done in [pool.submit(_run_ops, app, ops, uuids) for ops in script]:
                done.result()
    else:
        for ops in script:
            _run_ops(app, ops, uuids)
    return time.perf_counter() - started


def read_whole_log(app: PeerBank) -> tuple[int, float]:
    """Read the whole notification log in pages, decoded; return the events and seconds."""
    count, start = 0, 0
    started = time.perf_counter()
    while notifications := app.recorder.select_notifications(
        start, LOG_PAGE, inclusive_of_start=False
    ):
        for notification in notifications:
            app.mapper.to_domain_event(notification)
        count += len(notifications)
        start = notifications[-1].id
    return count, time.perf_counter() - started


def _build(app: PeerBank, account_id: str, events: int) -> UUID:
    """An account of ``events`` events, saved ``BUILD_BATCH`` events at a time."""
    uuid = app.open(account_id)
    account: Any = app.repository.get(uuid)
    for number in range(2, events + 1):
        account.deposit(Decimal(1))
        if number % BUILD_BATCH == 0 or number == events:
            app.save(account)
    return uuid


# --- the measurements -----------------------------------------------------------------


def w1(
    target: PeerTarget,
    quick: bool,
    clients: int,
    run: str,
    threads: bool,
    read_log: bool,
    cache: bool = False,
) -> Figures:
    """W1 (commands/s); then W3, the notification log read whole (events/s).

    Afterwards (untimed) every account is read back without a cache and checked.
    """
    workload = sizes(quick)
    script = w1_script(workload, clients, run)
    app = _app(target, cache=cache)
    uuids: dict[str, UUID] = {}
    try:
        figures = {"commands_per_s": workload.commands / _run_script(app, script, threads, uuids)}
        if read_log:
            rates = []
            for _ in range(LOG_READS):
                count, seconds = read_whole_log(app)
                rates.append(count / seconds)
            figures["log_events_per_s"] = statistics.median(rates)
            figures["log_events"] = count
    finally:
        app.close()
    verify(target, app.recorder, uuids, expected_balances(script))
    figures["accounts_checked"] = len(uuids)
    return figures


def cold_load(
    target: PeerTarget, events: int, snapshot_every: int | None, loads: int = COLD_LOADS
) -> Figures:
    """W2: the median seconds of ``repository.get`` of an aggregate of ``events`` events.

    Always without the peer's cache (``_app`` checks it is off), so each ``get`` replays
    from the latest snapshot, or from the first event, as a cold load does: one ``get``
    of each of ``loads`` aggregates built alike, after an untimed one, as ours.
    """
    app = _app(target, snapshot_every, cache=False)
    try:
        uuids = [_build(app, f"replayed-{number}", events) for number in range(loads)]
        app.repository.get(_build(app, "warm-up", 2))
        seconds = []
        for uuid in uuids:
            started = time.perf_counter()
            loaded: Any = app.repository.get(uuid)
            seconds.append(time.perf_counter() - started)
            if loaded.version != events:
                raise RuntimeError(f"the peer loaded version {loaded.version}")
    finally:
        app.close()
    return {"seconds": statistics.median(seconds)}


def live(target: PeerTarget, aggregates: int, commands: int, cache: bool = False) -> Figures:
    """W4: commands/s of deposits spread over ``aggregates`` opened accounts.

    Afterwards (untimed) every account is read back without a cache and checked.
    """
    setup, measured = live_scripts(aggregates, commands, 1, "live")
    app = _app(target, cache=cache)
    uuids: dict[str, UUID] = {}
    try:
        started = time.perf_counter()
        _run_ops(app, setup[0], uuids)
        setup_seconds = time.perf_counter() - started
        started = time.perf_counter()
        _run_ops(app, measured[0], uuids)
        seconds = time.perf_counter() - started
    finally:
        app.close()
    verify(target, app.recorder, uuids, expected_balances(setup + measured))
    return {
        "commands_per_s": commands / seconds,
        "open_commands_per_s": aggregates / setup_seconds,
        "accounts_checked": len(uuids),
    }


def stream_length(target: PeerTarget, events: int, commands: int, cache: bool = False) -> Figures:
    """Commands/s on an aggregate of ``events`` events, and on a fresh one (no snapshots).

    Afterwards (untimed) both accounts are read back without a cache and checked.
    """
    app = _app(target, cache=cache)
    try:
        long_id = _build(app, "long", events)
        fresh_id = app.open("fresh")

        def deposits(uuid: UUID, count: int) -> float:
            started = time.perf_counter()
            for _ in range(count):
                app.deposit(uuid, Decimal(1))
            return time.perf_counter() - started

        fresh = long = 0.0
        for _ in range(2):
            fresh += deposits(fresh_id, commands // 4)
            long += deposits(long_id, commands // 4)
            long += deposits(long_id, commands // 4)
            fresh += deposits(fresh_id, commands // 4)
    finally:
        app.close()
    done = commands // 4 * 4
    verify(
        target,
        app.recorder,
        {"long": long_id, "fresh": fresh_id},
        {
            "long": (events + done, Decimal(events - 1 + done)),
            "fresh": (1 + done, Decimal(done)),
        },
    )
    return {"fresh_commands_per_s": done / fresh, "long_commands_per_s": done / long}


def durability(target: PeerTarget) -> Figures:
    """``PRAGMA synchronous`` (2 is FULL) and WAL (1) of a connection the peer opened."""
    app = _app(target)
    try:
        with app.recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute("PRAGMA synchronous")
            synchronous = int(cursor.fetchone()[0])
        with app.recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute("PRAGMA journal_mode")
            wal = str(cursor.fetchone()[0]).lower() == "wal"
    finally:
        app.close()
    return {"synchronous": synchronous, "wal": float(wal)}


def version() -> str:
    """The peer's version, for the report."""
    from importlib.metadata import version as dist_version

    return dist_version("eventsourcing")


def cleanup(path: str) -> None:
    """Remove a peer SQLite file and its WAL companions."""
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
