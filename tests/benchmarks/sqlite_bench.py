"""The bank-account workload on the SQLite store, beside the peer's SQLite recorder.

Usage: ``python tests/benchmarks/sqlite_bench.py [--quick] [--repeat N] [--dir DIR]``.
Measured in one run, alternating this library and the PyPI ``eventsourcing`` package
(when it is installed) so that a noisy machine hurts both alike:

- W1: ``accounts`` accounts, each opened then given ``deposits`` deposits, by 1
  sequential client (each command waits for its answer before the next is sent) and by
  ``clients`` concurrent clients; commands per second.
- W2: a cold ``load_aggregate`` of one aggregate of ``replay_events`` events, without and
  with snapshots every 100; seconds.
- Log: reading the whole global log (every event of W1, decoded), in pages of 1,000;
  events per second.

Durability is the same on both sides: one file in WAL mode with ``synchronous=FULL``
(the peer does not set ``synchronous``; SQLite's default in WAL mode is FULL, and the
run checks it). Files go to ``--dir`` (default: a temporary directory), which must be on
a real disk for the figures to mean anything: on tmpfs an fsync costs nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sqlite3
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from types import ModuleType

import trio
from workload import FULL, QUICK, Workload, account_ids, split

import trio_eventsourcing as es
from trio_eventsourcing import process, sqlite_store, static_supervisor
from trio_eventsourcing.codec import JsonCodec
from trio_eventsourcing.examples.bank_account import (
    AccountOpened,
    BankAccount,
    BankAccountCommand,
    BankAccountError,
    BankAccountEvent,
    CustomerDepositedCash,
    CustomerWithdrewCash,
    DepositMoney,
    OpenAccount,
    apply,
    handle,
)

BankMessage = es.AggregateMessage[
    BankAccount, BankAccountCommand, BankAccountEvent, BankAccountError
]
BankActor = process.Subject[BankMessage]
Store = sqlite_store.SqliteEventStore[BankAccount, BankAccountEvent]

CODEC: JsonCodec[BankAccountEvent, BankAccount] = JsonCodec(
    events=[AccountOpened, CustomerDepositedCash, CustomerWithdrewCash],
    entities=[BankAccount],
    aggregate_type="bank_account",
)
LOG_PAGE = 1_000


def _remove(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        candidate = path.with_name(path.name + suffix)
        if candidate.exists():
            candidate.unlink()


@asynccontextmanager
async def _store(path: Path) -> AsyncIterator[Store]:
    store, spec = sqlite_store.supervised(path, CODEC)
    async with static_supervisor.new(static_supervisor.OneForOne).add(spec).open():
        yield store


@asynccontextmanager
async def _system(store: Store, snapshot_every: int | None = None) -> AsyncIterator[BankActor]:
    """Run an event-sourcing system (cold cache) on ``store``."""
    name: process.Name[BankMessage] = process.new_name("bank")
    config = (
        None if snapshot_every is None else es.SnapshotConfig(es.frequency(snapshot_every).unwrap())
    )
    spec = es.supervised(
        name, store, handle, apply, BankAccount(), [], config, load_timeout=60_000
    ).unwrap()
    async with static_supervisor.new(static_supervisor.OneForOne).add(spec).open():
        yield process.named_subject(name)


async def _command(actor: BankActor, account_id: str, cmd: BankAccountCommand) -> None:
    reply = await process.receive(es.execute_with_response(actor, account_id, cmd, []), 60_000)
    if not (isinstance(reply, es.Ok) and reply.value == es.Ok(None)):
        raise RuntimeError(f"command {cmd!r} on {account_id!r} failed: {reply!r}")


async def _drive(actor: BankActor, ids: list[str], deposits: int) -> None:
    for account_id in ids:
        await _command(actor, account_id, OpenAccount(account_id))
        for _ in range(deposits):
            await _command(actor, account_id, DepositMoney(Decimal(10)))


# --- this library ---------------------------------------------------------------------


def ours_w1(workload: Workload, clients: int, path: Path) -> tuple[float, float]:
    """Commands per second for W1, and commands per SQLite commit."""

    async def main() -> tuple[float, float]:
        async with _store(path) as store, _system(store) as actor:
            before = store.eventstore.statistics()
            ids = account_ids(workload, f"c{clients}")
            started = time.perf_counter()
            async with trio.open_nursery() as nursery:
                for client_ids in split(ids, clients):
                    nursery.start_soon(_drive, actor, client_ids, workload.deposits)
            elapsed = time.perf_counter() - started
            after = store.eventstore.statistics()
        per_commit = (after.transactions - before.transactions) / (after.commits - before.commits)
        return workload.commands / elapsed, per_commit

    return trio.run(main)


def ours_w2(workload: Workload, snapshot_every: int | None, path: Path) -> float:
    """Seconds for a cold load of one aggregate with ``replay_events`` events."""

    async def main() -> float:
        async with _store(path) as store:
            async with _system(store, snapshot_every) as actor:
                await _command(actor, "replayed", OpenAccount("replayed"))
                for _ in range(workload.replay_events - 1):
                    es.execute(actor, "replayed", DepositMoney(Decimal(1)))
                await process.receive(es.aggregate_stats(actor, "replayed"), 600_000)
            async with _system(store, snapshot_every) as actor:
                started = time.perf_counter()
                loaded = await process.receive(es.load_aggregate(actor, "replayed"), 60_000)
                elapsed = time.perf_counter() - started
        if not (isinstance(loaded, es.Ok) and isinstance(loaded.value, es.Ok)):
            raise RuntimeError(f"replay failed: {loaded!r}")
        if loaded.value.value.sequence != workload.replay_events:
            raise RuntimeError(f"replay loaded {loaded.value.value.sequence} events")
        return elapsed

    return trio.run(main)


def ours_log(path: Path) -> float:
    """Events per second reading the whole global log of ``path``, decoded."""

    async def main() -> float:
        async with _store(path) as store:
            count = position = 0
            started = time.perf_counter()
            while True:
                page = (await sqlite_store.read_log(store, position, LOG_PAGE)).unwrap()
                if not page:
                    break
                count += len(page)
                position = page[-1].position
            elapsed = time.perf_counter() - started
        return count / elapsed

    return trio.run(main)


# --- the peer -----------------------------------------------------------------------


def _peer() -> ModuleType | None:
    try:
        import peer
    except ImportError:
        return None
    return peer


def peer_log(peer: ModuleType, path: Path) -> float:
    """Events per second reading the peer's whole notification log, decoded."""
    app = peer.PeerBank(env=peer.sqlite_env(str(path)))
    try:
        count, start = 0, 0
        started = time.perf_counter()
        while True:
            notifications = app.recorder.select_notifications(
                start, LOG_PAGE, inclusive_of_start=False
            )
            if not notifications:
                break
            for notification in notifications:
                app.mapper.to_domain_event(notification)
            count += len(notifications)
            start = notifications[-1].id
        elapsed = time.perf_counter() - started
    finally:
        app.close()
    return count / elapsed


def peer_synchronous(peer: ModuleType, path: Path) -> int:
    """``PRAGMA synchronous`` of a connection the peer opened (2 is FULL)."""
    app = peer.PeerBank(env=peer.sqlite_env(str(path)))
    try:
        with app.recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute("PRAGMA synchronous")
            value: int = cursor.fetchone()[0]
        with app.recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute("PRAGMA journal_mode")
            mode: str = cursor.fetchone()[0]
    finally:
        app.close()
    if mode.lower() != "wal":
        raise RuntimeError(f"the peer's journal mode is {mode!r}, not WAL")
    return value


# --- the run ------------------------------------------------------------------------


def _median(values: list[float]) -> float:
    return statistics.median(values)


def run(quick: bool, repeat: int = 1, directory: Path | None = None) -> dict[str, float]:
    """Run every measurement ``repeat`` times; return the medians (and ratios).

    Keys: ``<side>_<measure>`` with side ``ours`` or ``peer``, and ``ratio_<measure>``
    (above 1: this library is better); ``ours_w1_*_per_commit`` is the group commit's
    commands per fsync.
    """
    workload = QUICK if quick else FULL
    peer = _peer()
    root = Path(tempfile.mkdtemp(prefix="sqlite-bench-", dir=directory))
    figures: dict[str, list[float]] = {}

    def record(key: str, value: float) -> None:
        figures.setdefault(key, []).append(value)

    def measure(
        key: str, ours: Callable[[Path], float], theirs: Callable[[Path], float] | None
    ) -> None:
        ours_path, peer_path = root / f"ours-{key}.db", root / f"peer-{key}.db"
        _remove(ours_path)
        record(f"ours_{key}", ours(ours_path))
        if peer is not None and theirs is not None:
            peer.cleanup(str(peer_path))
            record(f"peer_{key}", theirs(peer_path))

    def ours_w1_measure(clients: int, key: str) -> Callable[[Path], float]:
        def measure_once(path: Path) -> float:
            commands_per_s, commands_per_commit = ours_w1(workload, clients, path)
            record(f"ours_{key}_per_commit", commands_per_commit)
            return commands_per_s

        return measure_once

    def ours_w2_measure(every: int | None) -> Callable[[Path], float]:
        return lambda path: ours_w2(workload, every, path)

    def peer_w1_measure(key: str) -> Callable[[Path], float] | None:
        if peer is None:
            return None
        return lambda path: float(peer.w1(workload, peer.sqlite_env(str(path)), key))

    def peer_w2_measure(every: int | None) -> Callable[[Path], float] | None:
        if peer is None:
            return None
        return lambda path: float(peer.w2(workload, peer.sqlite_env(str(path)), every))

    try:
        for _ in range(repeat):
            for clients, key in ((1, "w1_sequential"), (workload.clients, "w1_concurrent")):
                measure(key, ours_w1_measure(clients, key), peer_w1_measure(key))
                if key == "w1_concurrent":
                    record("ours_log", ours_log(root / f"ours-{key}.db"))
                    if peer is not None:
                        record("peer_log", peer_log(peer, root / f"peer-{key}.db"))
            for every, key in ((None, "w2_replay"), (workload.snapshot_every, "w2_snapshots")):
                measure(key, ours_w2_measure(every), peer_w2_measure(every))
        result = {key: _median(values) for key, values in figures.items()}
        if peer is not None:
            for key in ("w1_sequential", "w1_concurrent", "log"):
                result[f"ratio_{key}"] = result[f"ours_{key}"] / result[f"peer_{key}"]
            for key in ("w2_replay", "w2_snapshots"):
                result[f"ratio_{key}"] = result[f"peer_{key}"] / result[f"ours_{key}"]
            result["peer_synchronous"] = peer_synchronous(peer, root / "peer-w1_concurrent.db")
        ours_file = root / "ours-w1_concurrent.db"
        with contextlib.closing(sqlite3.connect(ours_file)) as connection:
            mode = connection.execute("PRAGMA journal_mode").fetchone()[0]
        if mode != "wal":
            raise RuntimeError(f"our journal mode is {mode!r}")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return result


def main() -> None:
    """Parse the arguments, run, print one line per measure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a reduced run")
    parser.add_argument("--repeat", type=int, default=1, help="repetitions (median reported)")
    parser.add_argument("--dir", type=Path, default=None, help="where the files go")
    args = parser.parse_args()
    workload = QUICK if args.quick else FULL
    result = run(args.quick, args.repeat, args.dir)
    rows = [
        ("w1_sequential", "W1, 1 sequential client", "commands/s"),
        ("w1_concurrent", f"W1, {workload.clients} concurrent clients", "commands/s"),
        ("w2_replay", f"W2, cold load of {workload.replay_events} events", "s"),
        (
            "w2_snapshots",
            f"W2, same with snapshots every {workload.snapshot_every}",
            "s",
        ),
        ("log", "global log, read whole and decoded", "events/s"),
    ]
    print(
        f"SQLite store (WAL, synchronous=FULL), {workload.accounts} accounts x "
        f"{workload.deposits + 1} commands, repeat {args.repeat}, pid {os.getpid()}"
    )
    for key, label, unit in rows:
        line = f"{label:<48} {unit:<11} ours {result[f'ours_{key}']:>10.4g}"
        if f"peer_{key}" in result:
            line += f"  peer {result[f'peer_{key}']:>10.4g}  ratio {result[f'ratio_{key}']:6.2f}x"
        print(line)
    for key in ("w1_sequential", "w1_concurrent"):
        print(f"  {key}: {result[f'ours_{key}_per_commit']:.1f} commands per commit (group commit)")
    if "peer_synchronous" in result:
        print(f"  peer PRAGMA synchronous = {int(result['peer_synchronous'])} (2 = FULL), WAL")
    else:
        print("  the peer (pip install eventsourcing==9.5.6) is not installed: no ratios")


if __name__ == "__main__":
    main()
