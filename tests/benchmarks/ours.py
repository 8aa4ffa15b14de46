"""This library's side of every workload, on its memory, SQLite or PostgreSQL store.

Each public function is one measurement: it runs in its own ``trio.run`` and returns its
figures by name. ``measure.py`` calls one of them in a fresh process, so that a figure
(the peak RSS above all) never inherits what an earlier measurement left behind.
"""

from __future__ import annotations

import functools
import gc
import math
import statistics
import sys
import time
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Literal, TypeAlias

import trio
import trio.testing

import trio_eventsourcing as es
from tests.benchmarks import procfs
from tests.benchmarks.workload import (
    COLD_LOADS,
    Op,
    Open,
    Script,
    live_scripts,
    sizes,
    touch_script,
    w1_script,
)
from trio_eventsourcing import memory_store, process, sqlite_store, static_supervisor
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

StoreKind = Literal["memory", "sqlite", "postgres"]
# One type for the three stores: each fixes the store state and transaction types itself.
AnyStore: TypeAlias = es.EventStore[Any, BankAccount, BankAccountEvent, Any]
BankMessage: TypeAlias = es.AggregateMessage[
    BankAccount, BankAccountCommand, BankAccountEvent, BankAccountError
]
BankActor: TypeAlias = process.Subject[BankMessage]
BankSystem: TypeAlias = es.System[
    BankAccount, BankAccountCommand, BankAccountEvent, BankAccountError
]
Bank: TypeAlias = BankActor | BankSystem
"""A running system: its Subject (the Gleam-shaped API) or its ``System`` (Trio-native)."""
Send: TypeAlias = Callable[[str, BankAccountCommand], Awaitable[None]]
Api = Literal["native", "gleam"]
"""How the clients send their commands: ``await bank.execute(...)`` (Trio-native) or
``execute_with_response`` + ``process.receive`` (Gleam-shaped)."""
Figures: TypeAlias = dict[str, float]
FloorRequest: TypeAlias = tuple[int, trio.MemorySendChannel[int]]

CODEC: JsonCodec[BankAccountEvent, BankAccount] = JsonCodec(
    events=[AccountOpened, CustomerDepositedCash, CustomerWithdrewCash],
    entities=[BankAccount],
    aggregate_type="bank_account",
)
STATEMENT_CODEC: JsonCodec[BankAccountEvent, BankAccount] = JsonCodec(
    events=[AccountOpened, CustomerDepositedCash, CustomerWithdrewCash],
    entities=[BankAccount],
    aggregate_type="bank_statement",
)
"""A second aggregate type with the same events, for the runs of several types."""
LOG_PAGE = 1_000
LOG_READS = 5
"""W3 reads the whole log this many times, one after another; the median rate is reported
(the peer's job does the same), as one read of a few hundred milliseconds on a shared
machine varied by half from run to run."""
WITHIN_MS = 600_000  # no answer takes this long: a hung run fails instead of stalling
BUILD_BATCH = 1_000  # events per transaction when a long aggregate is written directly


@dataclass(frozen=True)
class Target:
    """Where this library keeps its events.

    ``location`` is the SQLite file, or the PostgreSQL schema (on the server ``dsn``).
    """

    kind: StoreKind
    location: str = ""
    dsn: str = ""


# --- the system under test ------------------------------------------------------------


@asynccontextmanager
async def open_store(target: Target) -> AsyncIterator[AnyStore]:
    """Run the store of ``target`` under a supervisor of its own."""
    store: AnyStore
    if target.kind == "memory":
        events: process.Name[memory_store.GetEvents[BankAccountEvent]] = process.new_name("events")
        snapshots: process.Name[memory_store.GetSnapshot[BankAccount]] = process.new_name("snaps")
        store, spec = memory_store.supervised(events, snapshots, static_supervisor.OneForOne)
    elif target.kind == "sqlite":
        # The same durability as the peer's SQLite: WAL (the store's only mode) and FULL.
        store, spec = sqlite_store.supervised(target.location, CODEC, synchronous="FULL")
    else:
        from trio_eventsourcing import postgres_store

        store, spec = postgres_store.supervised(target.dsn, CODEC, schema=target.location)
    async with static_supervisor.new(static_supervisor.OneForOne).add(spec).open():
        yield store


@asynccontextmanager
async def open_system(
    store: AnyStore,
    *,
    snapshot_every: int | None = None,
    max_workers: int = 10_000,
    idle_timeout_ms: int = 60_000,
) -> AsyncIterator[BankActor]:
    """Run an event-sourcing system on ``store``, its cache cold."""
    name: process.Name[BankMessage] = process.new_name("bank")
    config = (
        None if snapshot_every is None else es.SnapshotConfig(es.frequency(snapshot_every).unwrap())
    )
    spec = es.supervised(
        name,
        store,
        handle,
        apply,
        BankAccount(),
        [],
        config,
        load_timeout=WITHIN_MS / 1000,
        max_workers=max_workers,
        idle_timeout=idle_timeout_ms / 1000,
    ).unwrap()
    async with static_supervisor.new(static_supervisor.OneForOne).add(spec).open():
        yield process.named_subject(name)


@asynccontextmanager
async def open_bank(
    store: AnyStore,
    api: Api,
    *,
    snapshot_every: int | None = None,
    max_workers: int = 10_000,
    idle_timeout_ms: int = 60_000,
) -> AsyncIterator[Bank]:
    """Run an event-sourcing system on ``store`` for ``api``, its cache cold.

    ``"gleam"``: :func:`open_system` (a supervisor, a Name, the Subject). ``"native"``:
    ``eventsourcing.open_system``, its ``System``. The same system underneath, with the
    same settings.
    """
    if api == "gleam":
        async with open_system(
            store,
            snapshot_every=snapshot_every,
            max_workers=max_workers,
            idle_timeout_ms=idle_timeout_ms,
        ) as actor:
            yield actor
    elif api == "native":
        async with es.open_system(
            store,
            handle,
            apply,
            BankAccount(),
            snapshot_every=snapshot_every,
            name="bank",
            load_timeout=WITHIN_MS / 1000,
            max_workers=max_workers,
            idle_timeout=idle_timeout_ms / 1000,
        ) as bank:
            yield bank
    else:
        raise ValueError(f"api must be 'native' or 'gleam', got {api!r}")


async def command(actor: BankActor, account_id: str, cmd: BankAccountCommand) -> None:
    """Send one command and wait until it is stored; raise if it was not."""
    reply = await process.receive(es.execute_with_response(actor, account_id, cmd, []), WITHIN_MS)
    if not (isinstance(reply, es.Ok) and reply.value == es.Ok(None)):
        raise RuntimeError(f"command {cmd!r} on {account_id!r} failed: {reply!r}")


async def native_command(bank: BankSystem, account_id: str, cmd: BankAccountCommand) -> None:
    """:func:`command` through the Trio-native API: the same check, the same failure.

    A rejected command (``CommandRejected``) or any other failure raises the
    ``RuntimeError`` that :func:`command` raises for an answer other than ``Ok(None)``.
    """
    try:
        receipt = await bank.execute(account_id, cmd)
    except es.EventSourcingException as failure:
        raise RuntimeError(f"command {cmd!r} on {account_id!r} failed: {failure!r}") from failure
    if not isinstance(receipt, es.Receipt):
        raise RuntimeError(f"command {cmd!r} on {account_id!r} failed: {receipt!r}")


def sender(bank: Bank) -> Send:
    """How a client sends a command to ``bank``: by its API, chosen once per client."""
    if isinstance(bank, es.System):
        return functools.partial(native_command, bank)
    return functools.partial(command, bank)


async def _client(bank: Bank, ops: list[Op]) -> None:
    send = sender(bank)
    for op in ops:
        if isinstance(op, Open):
            await send(op.account_id, OpenAccount(op.account_id))
        else:
            await send(op.account_id, DepositMoney(Decimal(op.amount)))


async def run_script(bank: Bank, script: Script) -> float:
    """Run every client of ``script`` at once; return the seconds until all finished.

    A run that hangs fails after ``WITHIN_MS`` (the Trio-native API takes no timeout:
    one cancel scope bounds the whole run, not every command).
    """
    started = time.perf_counter()
    with trio.fail_after(WITHIN_MS / 1000):
        async with trio.open_nursery() as nursery:
            for ops in script:
                nursery.start_soon(_client, bank, ops)
    return time.perf_counter() - started


def _commits(store: AnyStore) -> tuple[int, int] | None:
    """Transactions and commits of a durable store so far (``None``: the memory store)."""
    statistics = getattr(store.eventstore, "statistics", None)
    if statistics is None:
        return None
    counters = statistics()
    return int(counters.transactions), int(counters.commits)


async def build(
    store: AnyStore, aggregate_id: str, events: int, snapshot_every: int | None
) -> None:
    """Write an aggregate of ``events`` events straight to the store, a batch at a time.

    With ``snapshot_every``, the latest snapshot the system would have taken is saved
    too: at the last multiple of ``snapshot_every``. Writing through the store is a
    fixture (only the load is timed): a command per event would cost one fsync each.
    """
    snapshot_at = 0 if snapshot_every is None else events // snapshot_every * snapshot_every
    entity, sequence = BankAccount(), 0
    while sequence < events:
        before = es.Aggregate(aggregate_id, entity, sequence)
        batch: list[BankAccountEvent] = []
        snapshot: es.Snapshot[BankAccount] | None = None
        for number in range(sequence + 1, min(sequence + BUILD_BATCH, events) + 1):
            event: BankAccountEvent = (
                AccountOpened(aggregate_id)
                if number == 1
                else CustomerDepositedCash(Decimal(1), entity.balance + 1)
            )
            entity = apply(entity, event)
            batch.append(event)
            if number == snapshot_at:
                snapshot = es.Snapshot(aggregate_id, entity, number, datetime.now(timezone.utc))

        async def body(
            tx: Any,
            before: es.Aggregate[BankAccount] = before,
            batch: list[BankAccountEvent] = batch,
            snapshot: es.Snapshot[BankAccount] | None = snapshot,
        ) -> es.StoreResult[None]:
            appended = await store.commit_events(tx, before, batch, [], None)
            if isinstance(appended, es.Error):
                return appended
            if snapshot is not None:
                return await store.save_snapshot(tx, snapshot)
            return es.Ok(None)

        written = await store.execute_transaction(body)
        if isinstance(written, es.Error):
            raise RuntimeError(f"writing {aggregate_id!r} failed: {written.error!r}")
        sequence += len(batch)


async def read_whole_log(target: Target, store: AnyStore) -> tuple[int, float]:
    """Read the whole global log in pages, decoded; return the events and the seconds."""
    count = position = 0
    started = time.perf_counter()
    if target.kind == "memory":
        # The memory store keeps its log as a list of envelopes (decoded already).
        while page := (await memory_store.read_log(store, position, LOG_PAGE)).unwrap():
            count += len(page)
            position = page[-1].position
    else:
        from trio_eventsourcing import postgres_store

        while True:
            if target.kind == "sqlite":
                read = await sqlite_store.read_log(store, position, LOG_PAGE)
            else:
                read = await postgres_store.read_log(store, position, LOG_PAGE)
            entries = read.unwrap()
            if not entries:
                break
            count += len(entries)
            position = entries[-1].position
    return count, time.perf_counter() - started


# --- the measurements -----------------------------------------------------------------


def w1(
    target: Target, quick: bool, clients: int, run: str, read_log: bool, api: Api = "gleam"
) -> Figures:
    """W1 (commands/s) with ``clients`` clients through ``api``; then W3, the log read
    (events/s). The same script, the same check of every answer, for either API."""
    workload = sizes(quick)
    script = w1_script(workload, clients, run)

    async def main() -> Figures:
        figures: Figures = {}
        async with open_store(target) as store:
            async with open_bank(store, api) as bank:
                before = _commits(store)
                elapsed = await run_script(bank, script)
                after = _commits(store)
            figures["commands_per_s"] = workload.commands / elapsed
            if before is not None and after is not None:
                figures["commands_per_commit"] = (after[0] - before[0]) / (after[1] - before[1])
            if read_log:
                rates = []
                for _ in range(LOG_READS):
                    count, seconds = await read_whole_log(target, store)
                    rates.append(count / seconds)
                figures["log_events_per_s"] = statistics.median(rates)
                figures["log_events"] = count
        return figures

    return trio.run(main)


def w1_types(target: Target, quick: bool, clients: int, run: str, api: Api = "gleam") -> Figures:
    """W1 on one SQLite file of two aggregate types, ``clients // 2`` clients each.

    The workload of :func:`w1` with ``clients`` clients, its accounts dealt out to two
    aggregate types (two event-sourcing systems on one database): the commands of both
    share the file's one writer and its group commits.
    """
    workload = sizes(quick)
    script = w1_script(workload, clients, run)
    halves = (script[0::2], script[1::2])

    async def main() -> Figures:
        database, spec = sqlite_store.supervised_database(target.location, synchronous="FULL")
        async with static_supervisor.new(static_supervisor.OneForOne).add(spec).open():
            stores = (database.event_store(CODEC), database.event_store(STATEMENT_CODEC))
            async with open_bank(stores[0], api) as first, open_bank(stores[1], api) as second:
                before = database.statistics()
                started = time.perf_counter()
                async with trio.open_nursery() as nursery:
                    for bank, half in zip((first, second), halves, strict=True):
                        nursery.start_soon(run_script, bank, half)
                elapsed = time.perf_counter() - started
                after = database.statistics()
        transactions = after.transactions - before.transactions
        return {
            "commands_per_s": workload.commands / elapsed,
            "commands_per_commit": transactions / (after.commits - before.commits),
        }

    return trio.run(main)


def cold_load(
    target: Target,
    events: int,
    snapshot_every: int | None,
    loads: int = COLD_LOADS,
    api: Api = "gleam",
) -> Figures:
    """W2: the median seconds of a cold load of an aggregate of ``events`` events.

    ``loads`` aggregates (:data:`COLD_LOADS` unless told) are built alike, and each is
    loaded once, uncached, by one running system through ``api``, after an untimed load
    of another aggregate warmed the store.
    """
    ids = [f"replayed-{number}" for number in range(loads)]

    async def main() -> Figures:
        async with open_store(target) as store:
            for aggregate_id in ids:
                await build(store, aggregate_id, events, snapshot_every)
            await build(store, "warm-up", 2, None)
            async with open_bank(store, api, snapshot_every=snapshot_every) as bank:
                seconds = []
                for aggregate_id in ["warm-up", *ids]:
                    started = time.perf_counter()
                    await load(bank, aggregate_id)
                    seconds.append(time.perf_counter() - started)
        return {"seconds": statistics.median(seconds[1:])}

    return trio.run(main)


async def load(bank: Bank, aggregate_id: str) -> es.Aggregate[BankAccount]:
    """Load an aggregate through the API of ``bank``; raise if it cannot be loaded."""
    if isinstance(bank, es.System):
        return await bank.load(aggregate_id)
    loaded = await process.receive(es.load_aggregate(bank, aggregate_id), WITHIN_MS)
    if not (isinstance(loaded, es.Ok) and isinstance(loaded.value, es.Ok)):
        raise RuntimeError(f"the cold load of {aggregate_id!r} failed: {loaded!r}")
    return loaded.value.value


def live(
    target: Target, aggregates: int, commands: int, clients: int, api: Api = "gleam"
) -> Figures:
    """W4: commands/s over ``aggregates`` live (cached) aggregates, through ``api``.

    The cache's cap is ``aggregates`` and the idle timeout longer than the run, so every
    aggregate opened stays cached while the deposits are measured. The opening is the
    bounded-memory check with a large cap: the RSS is read before and after it.
    """
    setup, measured = live_scripts(aggregates, commands, clients, "live")

    async def main() -> Figures:
        figures: Figures = {}
        async with (
            open_store(target) as store,
            open_bank(store, api, max_workers=aggregates, idle_timeout_ms=WITHIN_MS) as bank,
        ):
            await sender(bank)("warm-up", OpenAccount("warm-up"))
            _measure_memory(figures, "before")
            setup_seconds = await run_script(bank, setup)
            _measure_memory(figures, "after")
            seconds = await run_script(bank, measured)
        figures["commands_per_s"] = commands / seconds
        figures["open_commands_per_s"] = aggregates / setup_seconds
        return figures

    return trio.run(main)


def density(target: Target, aggregates: int, clients: int, api: Api = "gleam") -> Figures:
    """Bytes per cached idle aggregate through ``api``, counted by tracemalloc.

    ``aggregates`` accounts are opened through the system and left idle; what the
    traced memory falls by when the system closes (the store, and its events, stay) is
    the cache, over the number of aggregates it held.
    """
    script = touch_script(aggregates, clients, "dense")

    async def main() -> Figures:
        async with open_store(target) as store:
            tracemalloc.start()
            try:
                async with open_bank(
                    store, api, max_workers=aggregates + 1, idle_timeout_ms=WITHIN_MS
                ) as bank:
                    await sender(bank)("warm-up", OpenAccount("warm-up"))
                    seconds = await run_script(bank, script)
                    await trio.testing.wait_all_tasks_blocked()
                    gc.collect()
                    cached = tracemalloc.get_traced_memory()[0]
                gc.collect()
                closed = tracemalloc.get_traced_memory()[0]
            finally:
                tracemalloc.stop()
        return {
            "bytes_per_cached": (cached - closed) / (aggregates + 1),
            "open_commands_per_s": aggregates / seconds,
        }

    return trio.run(main)


def touch_once(
    target: Target, aggregates: int, cap: int, clients: int, idle_timeout_ms: int
) -> Figures:
    """The bounded-memory check: ``aggregates`` accounts opened once each.

    ``cap`` is the worker cap (``max_workers``); with an ``idle_timeout_ms`` shorter than
    the run, the RSS is read again after every worker has been idle that long.
    """
    script = touch_script(aggregates, clients, "touch")

    async def main() -> Figures:
        figures: Figures = {}
        async with (
            open_store(target) as store,
            open_system(store, max_workers=cap, idle_timeout_ms=idle_timeout_ms) as actor,
        ):
            await command(actor, "warm-up", OpenAccount("warm-up"))
            _measure_memory(figures, "before")
            seconds = await run_script(actor, script)
            _measure_memory(figures, "after")
            if idle_timeout_ms < WITHIN_MS:
                await trio.sleep(idle_timeout_ms / 1000 * 2)
                _measure_memory(figures, "after_idle")
        figures["commands_per_s"] = aggregates / seconds
        return figures

    return trio.run(main)


def store_only(target: Target, aggregates: int) -> Figures:
    """What ``touch_once`` stores, written straight to the store with no system running."""

    async def main() -> Figures:
        figures: Figures = {}
        async with open_store(target) as store:
            await build(store, "warm-up", 1, None)
            _measure_memory(figures, "before")
            for index in range(aggregates):
                await build(store, f"touch-{index}", 1, None)
            _measure_memory(figures, "after")
        return figures

    return trio.run(main)


def _measure_memory(figures: Figures, when: str) -> None:
    gc.collect()
    figures[f"rss_{when}"] = procfs.rss()
    figures[f"blocks_{when}"] = sys.getallocatedblocks()


def stream_length(target: Target, events: int, commands: int) -> Figures:
    """Commands/s on an aggregate of ``events`` events, and on a fresh one.

    Both are cached (the long one is loaded by one untimed command first); the
    deposits alternate between them in four rounds, so drift hurts both alike.
    """

    async def deposits(actor: BankActor, account_id: str, count: int) -> float:
        started = time.perf_counter()
        for _ in range(count):
            await command(actor, account_id, DepositMoney(Decimal(1)))
        return time.perf_counter() - started

    async def main() -> Figures:
        fresh = long = 0.0
        async with open_store(target) as store:
            await build(store, "long", events, None)
            async with open_system(store) as actor:
                await command(actor, "long", DepositMoney(Decimal(1)))
                await command(actor, "fresh", OpenAccount("fresh"))
                for _ in range(2):
                    fresh += await deposits(actor, "fresh", commands // 4)
                    long += await deposits(actor, "long", commands // 4)
                    long += await deposits(actor, "long", commands // 4)
                    fresh += await deposits(actor, "fresh", commands // 4)
        done = commands // 4 * 4
        return {"fresh_commands_per_s": done / fresh, "long_commands_per_s": done / long}

    return trio.run(main)


BUDGET_ROUNDS = 4  # the two APIs' commands alternate in rounds, so drift hurts both alike


def budget(commands: int) -> Figures:
    """Where the microseconds of one memory-store command go, measured piece by piece.

    - ``command_native_us``: a whole command from one sequential client, aggregate
      cached, through the Trio-native API (``await bank.execute``).
    - ``command_gleam_us``: the same through the Gleam-shaped API
      (``execute_with_response`` + ``process.receive``); ``command_us`` is the same figure
      under its earlier name.
    - ``trio_floor_us``: a bare request/reply on Trio memory channels: the client sends
      a reply channel to a server task and awaits the answer.
    - ``domain_us``: ``handle`` then ``apply``, the user's code, called directly.
    - ``store_us``: the memory store's write transaction (``commit_events``), direct.
    - ``call_us``: a request/reply to an actor (``process.call``): two mailbox hops.

    The two APIs run side by side on one store, their commands alternating in
    ``BUDGET_ROUNDS`` rounds; every answer is checked as in W1.
    """
    from trio_eventsourcing import actor as actor_module

    async def commands_us(send: Send, account_id: str, count: int) -> float:
        started = time.perf_counter()
        for _ in range(count):
            await send(account_id, DepositMoney(Decimal(10)))
        return time.perf_counter() - started

    async def main() -> Figures:
        figures: Figures = {}
        async with (
            open_store(Target("memory")) as store,
            open_bank(store, "native") as native,
            open_bank(store, "gleam") as gleam,
        ):
            banks: dict[Api, Send] = {"native": sender(native), "gleam": sender(gleam)}
            seconds: dict[Api, float] = {"native": 0.0, "gleam": 0.0}
            per_round = max(1, commands // BUDGET_ROUNDS)
            for api, send in banks.items():
                await send(f"budget-{api}", OpenAccount(f"budget-{api}"))
                await commands_us(send, f"budget-{api}", per_round // 10 + 1)  # warm-up
            for number in range(BUDGET_ROUNDS):
                order: list[Api] = ["native", "gleam"] if number % 2 == 0 else ["gleam", "native"]
                for api in order:
                    seconds[api] += await commands_us(banks[api], f"budget-{api}", per_round)
            done = per_round * BUDGET_ROUNDS
            figures["command_native_us"] = seconds["native"] / done * 1e6
            figures["command_gleam_us"] = seconds["gleam"] / done * 1e6
            figures["command_us"] = figures["command_gleam_us"]

            entity = BankAccount(opened=True)
            started = time.perf_counter()
            for _ in range(commands):
                decided = handle(entity, DepositMoney(Decimal(10))).unwrap()
                for event in decided:
                    entity = apply(entity, event)
            figures["domain_us"] = (time.perf_counter() - started) / commands * 1e6

            aggregate = es.Aggregate("direct", BankAccount(opened=True), 0)
            event = CustomerDepositedCash(Decimal(10), Decimal(10))
            started = time.perf_counter()
            for _ in range(commands):
                current = aggregate

                async def body(tx: Any, current: es.Aggregate[BankAccount] = current) -> Any:
                    return await store.commit_events(tx, current, [event], [], None)

                (await store.execute_transaction(body)).unwrap()
                aggregate = es.Aggregate("direct", aggregate.entity, aggregate.sequence + 1)
            figures["store_us"] = (time.perf_counter() - started) / commands * 1e6

        async def echo(
            state: None, message: tuple[int, process.Subject[int]]
        ) -> actor_module.Next[None]:
            process.send(message[1], message[0])
            return actor_module.continue_(state)

        async with trio.open_nursery() as nursery:
            started_actor = await actor_module.new(None).on_message(echo).start(nursery)
            target = started_actor.unwrap().data
            started = time.perf_counter()
            for number in range(commands):
                await process.call(target, WITHIN_MS, lambda reply_to: (number, reply_to))  # noqa: B023
            figures["call_us"] = (time.perf_counter() - started) / commands * 1e6
            nursery.cancel_scope.cancel()
        figures["trio_floor_us"] = await trio_floor_us(commands)
        return figures

    return trio.run(main)


async def trio_floor_us(requests: int) -> float:
    """Microseconds of a bare request/reply to a server task on Trio memory channels.

    The client sends the request with a fresh reply channel (what a reply Subject is)
    and awaits the answer; the server task answers each. No timeout, no mailbox: the
    least a request answered by another task costs in Trio.
    """
    request_send, request_receive = trio.open_memory_channel[FloorRequest](math.inf)

    async def server() -> None:
        async with request_receive:
            async for number, reply_send in request_receive:
                reply_send.send_nowait(number)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(server)
        async with request_send:
            for number in range(requests // 10 + 1):  # warm-up
                reply_send, reply_receive = trio.open_memory_channel[int](1)
                request_send.send_nowait((number, reply_send))
                await reply_receive.receive()
            started = time.perf_counter()
            for number in range(requests):
                reply_send, reply_receive = trio.open_memory_channel[int](1)
                request_send.send_nowait((number, reply_send))
                if await reply_receive.receive() != number:
                    raise RuntimeError("the server task answered another request")
            elapsed = time.perf_counter() - started
    return elapsed / requests * 1e6


def runtime(quick: bool) -> Figures:
    """The process runtime beside bare Trio (``runtime_bench``): µs per message."""
    from tests.benchmarks import runtime_bench

    return runtime_bench.run(quick)


def selection(target: Target, events: int, rounds: int) -> Figures:
    """A projection of one event type in three beside the whole log's (``selection_bench``)."""
    from tests.benchmarks import selection_bench

    return selection_bench.catch_up(target, events, rounds)


def read_your_writes(target: Target, commands: int, block: int) -> Figures:
    """``execute_and_wait`` beside a plain command, a projection live (``consistency_bench``)."""
    from tests.benchmarks import consistency_bench

    return consistency_bench.read_your_writes(target, commands, block)
