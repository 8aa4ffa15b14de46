"""This library on its memory store: W1 (sequential and concurrent) and W2 (replay)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal

import trio
from workload import Workload, account_ids, split

import trio_eventsourcing as es
from trio_eventsourcing import memory_store, process, static_supervisor
from trio_eventsourcing.examples.bank_account import (
    BankAccount,
    BankAccountCommand,
    BankAccountError,
    BankAccountEvent,
    DepositMoney,
    OpenAccount,
    apply,
    handle,
)
from trio_eventsourcing.supervision import ChildSpecification

BankMessage = es.AggregateMessage[
    BankAccount, BankAccountCommand, BankAccountEvent, BankAccountError
]
BankActor = process.Subject[BankMessage]
Store = memory_store.MemoryEventStore[BankAccount, BankAccountEvent]


def new_store() -> tuple[Store, ChildSpecification[static_supervisor.Supervisor]]:
    events: process.Name[memory_store.GetEvents[BankAccountEvent]] = process.new_name("events")
    snapshots: process.Name[memory_store.GetSnapshot[BankAccount]] = process.new_name("snaps")
    return memory_store.supervised(events, snapshots, static_supervisor.OneForOne)


@asynccontextmanager
async def running(store: Store, snapshot_every: int | None = None) -> AsyncIterator[BankActor]:
    """Run an event-sourcing system (cold cache) on ``store``."""
    name: process.Name[BankMessage] = process.new_name("bank")
    config = (
        None if snapshot_every is None else es.SnapshotConfig(es.frequency(snapshot_every).unwrap())
    )
    spec = es.supervised(name, store, handle, apply, BankAccount(), [], config).unwrap()
    async with static_supervisor.new(static_supervisor.OneForOne).add(spec).open():
        yield process.named_subject(name)


async def command(actor: BankActor, account_id: str, cmd: BankAccountCommand) -> None:
    reply = await process.receive(es.execute_with_response(actor, account_id, cmd, []), 60_000)
    if not (isinstance(reply, es.Ok) and reply.value == es.Ok(None)):
        raise RuntimeError(f"command {cmd!r} on {account_id!r} failed: {reply!r}")


async def drive(actor: BankActor, ids: list[str], deposits: int) -> None:
    for account_id in ids:
        await command(actor, account_id, OpenAccount(account_id))
        for _ in range(deposits):
            await command(actor, account_id, DepositMoney(Decimal(10)))


def w1(workload: Workload, clients: int, run: str) -> float:
    """Commands per second for W1 with ``clients`` concurrent clients."""

    async def main() -> float:
        store, store_spec = new_store()
        supervisor = static_supervisor.new(static_supervisor.OneForOne).add(store_spec)
        async with supervisor.open(), running(store) as actor:
            ids = account_ids(workload, run)
            started = time.perf_counter()
            async with trio.open_nursery() as nursery:
                for client_ids in split(ids, clients):
                    nursery.start_soon(drive, actor, client_ids, workload.deposits)
            elapsed = time.perf_counter() - started
        return workload.commands / elapsed

    return trio.run(main)


def w2(workload: Workload, snapshot_every: int | None) -> float:
    """Seconds for a cold load of one aggregate with ``replay_events`` events."""

    async def main() -> float:
        store, store_spec = new_store()
        async with static_supervisor.new(static_supervisor.OneForOne).add(store_spec).open():
            async with running(store, snapshot_every) as actor:
                await command(actor, "replayed", OpenAccount("replayed"))
                for _ in range(workload.replay_events - 1):
                    es.execute(actor, "replayed", DepositMoney(Decimal(1)))
                await process.receive(es.aggregate_stats(actor, "replayed"), 60_000)
            async with running(store, snapshot_every) as actor:
                started = time.perf_counter()
                loaded = await process.receive(es.load_aggregate(actor, "replayed"), 60_000)
                elapsed = time.perf_counter() - started
        if not (isinstance(loaded, es.Ok) and isinstance(loaded.value, es.Ok)):
            raise RuntimeError(f"replay failed: {loaded!r}")
        if loaded.value.value.sequence != workload.replay_events:
            raise RuntimeError(f"replay loaded {loaded.value.value.sequence} events")
        return elapsed

    return trio.run(main)
