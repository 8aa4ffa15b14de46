"""The transfer example's bank on any store: three systems and the transfers' manager.

Used in process by ``test_transfers.py`` and, as ``python -m
tests.process_managers.transfer_bank``, as the process that ``test_kill.py`` kills.
``Backend`` says where the bank keeps its events: the memory store, an SQLite file or a
PostgreSQL schema. The transfers' process manager is durable on the durable stores.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import trio

import trio_eventsourcing as eventsourcing
from trio_eventsourcing import (
    Error,
    Ok,
    memory_store,
    postgres_store,
    process,
    process_managers,
    projections,
    sqlite_store,
    supervision,
)
from trio_eventsourcing import static_supervisor as supervisors
from trio_eventsourcing.actor import Started, StartResult
from trio_eventsourcing.examples import bank_account, credits, transfers
from trio_eventsourcing.examples.credits import ConfirmCredit, credit_codec
from trio_eventsourcing.examples.demo import account_codec, transfer_codec
from trio_eventsourcing.examples.transfer_process import (
    DEADLINE_S,
    TransferProcess,
    process_codec,
    route,
    transfer_process,
)
from trio_eventsourcing.process_managers import ProcessManagerHandle, Target

MANAGER = "transfers"


@dataclass(frozen=True)
class Backend:
    """Where the bank keeps its events: ``kind`` is memory, sqlite or postgres.

    ``where`` is the SQLite file's path, or ``DSN SCHEMA`` for PostgreSQL (the schema
    after the last space).
    """

    kind: str
    where: str = ""

    def argv(self) -> list[str]:
        """This backend as the worker's command-line arguments."""
        return [self.kind, self.where]


@dataclass
class Bank:
    """The three systems, their stores, and the transfers' process manager (if run)."""

    accounts: process.Subject[Any]
    transfers: process.Subject[Any]
    credits: process.Subject[Any]
    account_store: Any
    transfer_store: Any
    credit_store: Any
    manager: ProcessManagerHandle | None
    backend: Backend

    async def log(self) -> list[Any]:
        """The whole global log of the three aggregate types, in position order.

        A read that fails (the server is down) is made again.
        """
        entries: list[Any] = []
        for store in (self.account_store, self.transfer_store, self.credit_store):
            after = 0
            while True:
                read = await _read_log(self.backend, store, after)
                if isinstance(read, Error):
                    await trio.sleep(0.1)
                    continue
                page = read.value
                if not page:
                    break
                entries.extend(page)
                after = page[-1].position
        return sorted(entries, key=lambda entry: entry.position)


async def _read_log(backend: Backend, store: Any, after: int) -> Any:
    if backend.kind == "memory":
        return await memory_store.read_log(store, after, 10_000)
    if backend.kind == "sqlite":
        return await sqlite_store.read_log(store, after, 10_000)
    return await postgres_store.read_log(store, after, 10_000)


class Nemesis:
    """Crashes on request: each request crashes the worker of :meth:`sibling` once."""

    def __init__(self) -> None:
        self.crashes = 0
        self._next = trio.Event()

    def request(self) -> None:
        """Crash the sibling now (if it is up), and be ready for the next request."""
        self._next.set()
        self._next = trio.Event()

    def sibling(self) -> Any:
        """A worker that crashes at each request, taking its siblings down with it."""

        async def start(nursery: trio.Nursery) -> StartResult[None]:
            waiting = self._next

            async def run() -> None:
                await waiting.wait()
                self.crashes += 1
                raise RuntimeError("a sibling crashed")

            nursery.start_soon(run)
            return Ok(Started(None))

        return supervision.worker(start)


def _stores(backend: Backend) -> tuple[list[Any], list[Any]]:
    """The accounts', transfers' and credits' stores, and the specs that run them."""
    codecs = (account_codec(), transfer_codec(), credit_codec())
    if backend.kind == "memory":
        database = memory_store.MemoryDatabase()
        stores: list[Any] = []
        specs: list[Any] = []
        for codec in codecs:
            kind = codec.aggregate_type
            store: Any
            store, spec = memory_store.supervised(
                process.new_name(f"{kind}-events"),
                process.new_name(f"{kind}-snapshots"),
                supervisors.OneForOne,
                database=database,
                aggregate_type=kind,
            )
            stores.append(store)
            specs.append(spec)
        return stores, specs
    if backend.kind == "sqlite":
        sqlite_database, spec = sqlite_store.supervised_database(backend.where)
        return [sqlite_database.event_store(codec) for codec in codecs], [spec]
    dsn, schema = backend.where.rsplit(" ", 1)
    pg_database, spec = postgres_store.supervised_database(dsn, schema=schema)
    return [pg_database.event_store(codec) for codec in codecs], [spec]


def _system(store: Any, module: Any, empty: object, name: str) -> tuple[Any, Any]:
    actor: process.Name[Any] = process.new_name(name)
    spec = eventsourcing.supervised(
        actor, store, module.handle, module.apply, empty, [], None
    ).unwrap()
    return process.named_subject(actor), spec


@contextlib.asynccontextmanager
async def bank(
    backend: Backend,
    deadline: float = DEADLINE_S,
    *,
    nemesis: Nemesis | None = None,
    run_manager: bool = True,
) -> AsyncIterator[Bank]:
    """Run the bank for the duration of the block."""
    (account_store, transfer_store, credit_store), store_specs = _stores(backend)
    accounts, accounts_spec = _system(
        account_store, bank_account, bank_account.BankAccount(), "accounts"
    )
    transfers_actor, transfers_spec = _system(
        transfer_store, transfers, transfers.Transfer(), "transfers"
    )
    credits_actor, credits_spec = _system(credit_store, credits, credits.Credit(), "credits")
    supervisor = supervisors.new(supervisors.OneForOne)
    for spec in (*store_specs, accounts_spec, transfers_spec, credits_spec):
        supervisor = supervisor.add(spec)
    handle = None
    if run_manager:
        targets = (
            Target("accounts", accounts),
            Target("transfers", transfers_actor),
            Target("credits", credits_actor),
        )
        manager = process_managers.process_manager(
            MANAGER,
            projections.select(transfer_store)
            | projections.select(account_store)
            | projections.select(credit_store),
            route=route,
            initial=TransferProcess,
            handle=transfer_process(*targets, deadline),
            targets=targets,
            codec=process_codec(),
        )
        handle, manager_spec = process_managers.supervised(manager)
        # The manager with a sibling that crashes on demand: one for all, so each crash
        # restarts the manager's task, wherever it was.
        manager_group = (
            supervisors.new(supervisors.OneForAll)
            .restart_tolerance(intensity=1_000_000, period=1)
            .add(manager_spec)
        )
        if nemesis is not None:
            manager_group = manager_group.add(nemesis.sibling())
        supervisor = supervisor.add(supervisors.supervised(manager_group))
    async with supervisor.open():
        yield Bank(
            accounts,
            transfers_actor,
            credits_actor,
            account_store,
            transfer_store,
            credit_store,
            handle,
            backend,
        )


async def ok(reply: process.Subject[Any]) -> Any:
    """The value of a successful answer."""
    outcome = await process.receive(reply, 60_000)
    assert isinstance(outcome, Ok), outcome
    answer = outcome.value
    assert isinstance(answer, Ok), answer
    return answer.value


async def answered(make: Callable[[], process.Subject[Any]]) -> Any:
    """Send with ``make()`` until the system answers ``Ok`` or a domain error, and return it.

    ``make`` sends a command under an idempotency key, so that sending it again after a
    store failure, an unknown outcome or no answer stores it at most once.
    """
    while True:
        outcome = await process.receive(make(), 30_000)
        if isinstance(outcome, Ok):
            answer = outcome.value
            if isinstance(answer, Ok) or isinstance(answer.error, eventsourcing.DomainError):
                return answer
        await trio.sleep(0.1)


async def other_bank(the_bank: Bank, confirms: set[str]) -> None:
    """Confirm the credits of the transfers in ``confirms``, each at once; never the others."""

    async def confirm(credit: str) -> None:
        # Confirmed, or cancelled first by the manager (its deadline passed).
        await answered(
            lambda: eventsourcing.execute_with_response(
                the_bank.credits, credit, ConfirmCredit(), [], idempotency_key=f"confirm-{credit}"
            )
        )

    requested = projections.select(the_bank.credit_store).only(credits.CreditRequested)
    position = 0
    async with trio.open_nursery() as nursery:
        while True:
            try:
                async with projections.follow_log(
                    requested, position, poll_interval=0.05
                ) as entries:
                    async for entry in entries:
                        position = entry.position
                        if entry.envelope.aggregate_id in confirms:
                            nursery.start_soon(confirm, entry.envelope.aggregate_id)
            except projections.LogReadFailed:
                # The server is down: read on from where this bank was, once it is back.
                await trio.sleep(0.1)


async def balance(the_bank: Bank, account: str) -> Decimal:
    """The balance of ``account``."""
    loaded = await ok(eventsourcing.load_aggregate(the_bank.accounts, account))
    assert isinstance(loaded, eventsourcing.Aggregate)
    return loaded.entity.balance  # type: ignore[no-any-return]


async def serve(backend: Backend, deadline: float) -> None:
    """Run the bank with its manager until killed; print ``ready`` once it is up."""
    async with bank(backend, deadline):
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        await trio.sleep_forever()


if __name__ == "__main__":
    kind, where, seconds = sys.argv[1:4]
    trio.run(serve, Backend(kind, where), float(seconds))
