"""The bank-account workload on the PostgreSQL store, beside the peer's PostgreSQL recorder.

Usage (from the repository): ``python -m tests.benchmarks.postgres_bench [--quick]
[--repeat N]``. The server is
the one ``TRIO_ES_POSTGRES_DSN`` names (default
``postgresql://postgres@127.0.0.1:5432/test``). Measured in one run, alternating this
library and the PyPI ``eventsourcing`` package (when it is installed) so that a noisy
machine hurts both alike:

- W1: ``accounts`` accounts, each opened then given ``deposits`` deposits, by 1
  sequential client (each command waits for its answer before the next is sent) and by
  ``clients`` concurrent clients; commands per second. The peer's API is synchronous,
  so its "concurrent clients" run one after another (see ``peer.py``).
- Log: reading the whole global log (every event of W1, decoded), in pages of 1,000;
  events per second.

Both sides use the same server with its default durability (``synchronous_commit``
on: every acknowledged command is flushed to the WAL), each in a schema of its own,
created for the run and dropped after it.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from types import ModuleType

import psycopg
import trio

import trio_eventsourcing as es
from tests.benchmarks.server import postgres_dsn
from tests.benchmarks.workload import FULL, QUICK, Workload, account_ids, split
from trio_eventsourcing import postgres_store, process, static_supervisor
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
Store = postgres_store.PostgresEventStore[BankAccount, BankAccountEvent]

CODEC: JsonCodec[BankAccountEvent, BankAccount] = JsonCodec(
    events=[AccountOpened, CustomerDepositedCash, CustomerWithdrewCash],
    entities=[BankAccount],
    aggregate_type="bank_account",
)
LOG_PAGE = 1_000


def server_dsn() -> str:
    return postgres_dsn()


def _execute(dsn: str, sql: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(sql)


def _synchronous_commit(dsn: str) -> str:
    with psycopg.connect(dsn, autocommit=True) as connection:
        row = connection.execute("SHOW synchronous_commit").fetchone()
    assert row is not None
    return str(row[0])


# --- this library ---------------------------------------------------------------------


@asynccontextmanager
async def _system(dsn: str, schema: str) -> AsyncIterator[tuple[Store, BankActor]]:
    """Run the store and an event-sourcing system (cold cache) on it."""
    store, store_spec = postgres_store.supervised(dsn, CODEC, schema=schema)
    name: process.Name[BankMessage] = process.new_name("bank")
    spec = es.supervised(
        name, store, handle, apply, BankAccount(), [], None, load_timeout=60.0
    ).unwrap()
    supervisor = static_supervisor.new(static_supervisor.OneForOne).add(store_spec).add(spec)
    async with supervisor.open():
        yield store, process.named_subject(name)


async def _command(actor: BankActor, account_id: str, cmd: BankAccountCommand) -> None:
    reply = await process.receive(es.execute_with_response(actor, account_id, cmd, []), 60_000)
    if not (isinstance(reply, es.Ok) and reply.value == es.Ok(None)):
        raise RuntimeError(f"command {cmd!r} on {account_id!r} failed: {reply!r}")


async def _drive(actor: BankActor, ids: list[str], deposits: int) -> None:
    for account_id in ids:
        await _command(actor, account_id, OpenAccount(account_id))
        for _ in range(deposits):
            await _command(actor, account_id, DepositMoney(Decimal(10)))


def ours_w1(workload: Workload, clients: int, dsn: str, schema: str) -> tuple[float, float]:
    """Commands per second for W1, and commands per PostgreSQL commit."""

    async def main() -> tuple[float, float]:
        async with _system(dsn, schema) as (store, actor):
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


def ours_log(dsn: str, schema: str) -> float:
    """Events per second reading the whole global log, decoded."""

    async def main() -> float:
        store, spec = postgres_store.supervised(dsn, CODEC, schema=schema)
        async with static_supervisor.new(static_supervisor.OneForOne).add(spec).open():
            count = position = 0
            started = time.perf_counter()
            while True:
                page = (await postgres_store.read_log(store, position, LOG_PAGE)).unwrap()
                if not page:
                    break
                count += len(page)
                position = page[-1].position
            elapsed = time.perf_counter() - started
        return count / elapsed

    return trio.run(main)


# --- the peer -------------------------------------------------------------------------


def _peer() -> ModuleType | None:
    try:
        from tests.benchmarks import peer
    except ImportError:
        return None
    return peer


# --- the run --------------------------------------------------------------------------


def run(quick: bool, repeat: int = 1) -> dict[str, float]:
    """Run every measurement ``repeat`` times; return the medians (and ratios).

    Keys: ``<side>_<measure>`` with side ``ours`` or ``peer`` and measure
    ``w1_sequential``, ``w1_concurrent`` or ``log``; ``ratio_<measure>`` (ours / peer,
    above 1: this library is faster); ``ours_<w1 measure>_per_commit``, the group
    commit's commands per PostgreSQL commit.

    Raises:
        psycopg.OperationalError: No server answers at ``TRIO_ES_POSTGRES_DSN``.
    """
    workload = QUICK if quick else FULL
    dsn = server_dsn()
    peer = _peer()
    tag = secrets.token_hex(4)
    figures: dict[str, list[float]] = {}
    schemas: list[str] = []

    def record(key: str, value: float) -> None:
        figures.setdefault(key, []).append(value)

    def fresh_schema(side: str, repetition: int) -> str:
        schema = f"trio_es_bench_{tag}_{side}_{repetition}"
        schemas.append(schema)
        return schema

    try:
        for repetition in range(repeat):
            ours_schema = fresh_schema("ours", repetition)
            peer_schema = fresh_schema("peer", repetition)
            if peer is not None:
                _execute(dsn, f'CREATE SCHEMA "{peer_schema}"')
                peer_target = peer.PeerTarget("postgres", peer_schema, dsn)
            for clients, key in ((1, "w1_sequential"), (workload.clients, "w1_concurrent")):
                commands_per_s, per_commit = ours_w1(workload, clients, dsn, ours_schema)
                record(f"ours_{key}", commands_per_s)
                record(f"ours_{key}_per_commit", per_commit)
                if peer is not None:
                    # Its clients run one after another: its API is synchronous. After
                    # the last W1 run it reads its whole notification log, as ours does.
                    theirs = peer.w1(
                        peer_target, quick, clients, f"{key}-{repetition}", False, clients > 1
                    )
                    record(f"peer_{key}", theirs["commands_per_s"])
                    if "log_events_per_s" in theirs:
                        record("peer_log", theirs["log_events_per_s"])
            record("ours_log", ours_log(dsn, ours_schema))
        result = {key: statistics.median(values) for key, values in figures.items()}
        if peer is not None:
            for key in ("w1_sequential", "w1_concurrent", "log"):
                result[f"ratio_{key}"] = result[f"ours_{key}"] / result[f"peer_{key}"]
    finally:
        for schema in schemas:
            _execute(dsn, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    return result


def main() -> None:
    """Parse the arguments, run, print one line per measure."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a reduced run")
    parser.add_argument("--repeat", type=int, default=1, help="repetitions (median reported)")
    args = parser.parse_args()
    workload = QUICK if args.quick else FULL
    dsn = server_dsn()
    result = run(args.quick, args.repeat)
    rows = [
        ("w1_sequential", "W1, 1 sequential client", "commands/s"),
        ("w1_concurrent", f"W1, {workload.clients} concurrent clients", "commands/s"),
        ("log", "global log, read whole and decoded", "events/s"),
    ]
    server = postgres_store.supervised(dsn, CODEC)[0].eventstore.server
    print(
        f"PostgreSQL store on {server} (synchronous_commit={_synchronous_commit(dsn)}), "
        f"{workload.accounts} accounts x {workload.deposits + 1} commands, "
        f"repeat {args.repeat}, pid {os.getpid()}"
    )
    for key, label, unit in rows:
        line = f"{label:<48} {unit:<11} ours {result[f'ours_{key}']:>10.4g}"
        if f"peer_{key}" in result:
            line += f"  peer {result[f'peer_{key}']:>10.4g}  ratio {result[f'ratio_{key}']:6.2f}x"
        print(line)
    for key in ("w1_sequential", "w1_concurrent"):
        print(f"  {key}: {result[f'ours_{key}_per_commit']:.1f} commands per commit (group commit)")
    if "peer_w1_sequential" not in result:
        print("  the peer (pip install eventsourcing==9.5.6) is not installed: no ratios")


if __name__ == "__main__":
    main()
