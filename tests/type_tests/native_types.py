"""Static type tests of the Trio-native API: checked by mypy and pyright, never run.

``assert_type`` lines are positive tests: ``open_system`` infers the :class:`System`'s
entity, command, event and error types from the user's ``handle``, ``apply`` and
``empty_state``, and its methods answer in those types. Each ``# type: ignore[code]``
line is a negative test: mypy runs with ``--warn-unused-ignores``, so if the line ever
stops being an error the ignore becomes unused and the check fails.
"""

# pyright: strict, reportUnnecessaryTypeIgnoreComment=true

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from decimal import Decimal
from typing import Any

from typing_extensions import assert_type

import trio_eventsourcing as eventsourcing
from trio_eventsourcing import (
    Aggregate,
    AggregateMessage,
    AggregateStats,
    EventEnvelop,
    EventSourcingError,
    EventSourcingException,
    Receipt,
    Snapshot,
    StoreFailure,
    SystemStats,
    memory_store,
    process,
    sqlite_store,
)
from trio_eventsourcing.codec import JsonCodec
from trio_eventsourcing.examples.bank_account import (
    BankAccount,
    BankAccountCommand,
    BankAccountError,
    BankAccountEvent,
    CantDepositNegativeAmount,
    DepositMoney,
    OpenAccount,
    apply,
    handle,
)

BankStore = memory_store.MemoryEventStore[BankAccount, BankAccountEvent]
Bank = eventsourcing.System[BankAccount, BankAccountCommand, BankAccountEvent, BankAccountError]
BankMessage = AggregateMessage[BankAccount, BankAccountCommand, BankAccountEvent, BankAccountError]
BankCodec = JsonCodec[BankAccountEvent, BankAccount]


def apply_ints(account: BankAccount, event: int) -> BankAccount:
    return account


def apply_to_another_entity(balance: Decimal, event: BankAccountEvent) -> Decimal:
    return balance


def on_bank_events(aggregate_id: str, events: list[EventEnvelop[BankAccountEvent]]) -> None:
    pass


def on_int_events(aggregate_id: str, events: list[EventEnvelop[int]]) -> None:
    pass


# --- the openers --------------------------------------------------------------------------------


def openers(codec: BankCodec) -> None:
    assert_type(
        memory_store.open(),
        AbstractAsyncContextManager[memory_store.MemoryEventStore[Any, Any]],
    )
    assert_type(
        sqlite_store.open("bank.db", codec),
        AbstractAsyncContextManager[sqlite_store.SqliteEventStore[BankAccount, BankAccountEvent]],
    )
    assert_type(
        sqlite_store.open_database("bank.db"),
        AbstractAsyncContextManager[sqlite_store.SqliteDatabase],
    )


# --- open_system infers the System's types ------------------------------------------------------


async def open_system_on_a_memory_store(store: BankStore) -> None:
    async with eventsourcing.open_system(store, handle, apply, BankAccount()) as bank:
        assert_type(bank, Bank)


async def open_system_on_the_memory_store_opened_in_place() -> None:
    # memory_store.open() hands over a MemoryEventStore[Any, Any]: the Any wins over
    # what handle, apply and empty_state say, so annotate the store to keep the types.
    async with memory_store.open() as opened:
        store: BankStore = opened
        async with eventsourcing.open_system(store, handle, apply, BankAccount()) as bank:
            assert_type(bank, Bank)


async def open_system_on_a_typed_store(codec: BankCodec) -> None:
    async with (
        sqlite_store.open("bank.db", codec) as store,
        eventsourcing.open_system(
            store, handle, apply, BankAccount(), snapshot_every=5, queries=[on_bank_events]
        ) as bank,
    ):
        assert_type(bank, Bank)


async def system_methods(bank: Bank) -> None:
    assert_type(await bank.execute("acc-1", OpenAccount("acc-1")), Receipt)
    assert_type(
        await bank.execute(
            "acc-1",
            DepositMoney(Decimal(10)),
            metadata=[("user", "ann")],
            idempotency_key="op-1",
            correlation_id="c-1",
            causation_id="c-0",
        ),
        Receipt,
    )
    assert_type(await bank.load("acc-1"), Aggregate[BankAccount])
    assert_type((await bank.load("acc-1")).entity, BankAccount)
    assert_type(await bank.events("acc-1"), list[EventEnvelop[BankAccountEvent]])
    assert_type(await bank.events("acc-1", start_from=3), list[EventEnvelop[BankAccountEvent]])
    assert_type(await bank.latest_snapshot("acc-1"), Snapshot[BankAccount] | None)
    assert_type(await bank.aggregate_stats("acc-1"), AggregateStats)
    assert_type(await bank.stats(), SystemStats)
    assert_type(bank.subject, process.Subject[BankMessage])
    assert_type(bank.name, process.Name[BankMessage])
    # The Subject serves the Gleam-shaped functions, in the same types.
    assert_type(
        eventsourcing.execute_with_response(bank.subject, "acc-1", OpenAccount("acc-1"), []),
        process.Subject[eventsourcing.Result[None, EventSourcingError[BankAccountError]]],
    )


# --- the exceptions -------------------------------------------------------------------------


def rejected_error(rejected: eventsourcing.CommandRejected[BankAccountError]) -> None:
    assert_type(rejected.error, BankAccountError)
    assert_type(rejected.aggregate_id, str)
    assert_type(rejected.reason, EventSourcingError[object])


async def caught(bank: Bank) -> None:
    try:
        await bank.execute("acc-1", DepositMoney(Decimal(-1)))
    # An except clause cannot name the type argument: the error is Any there (Unknown to
    # pyright, which strict mode reports).
    except eventsourcing.CommandRejected as rejected:  # pyright: ignore[reportUnknownVariableType]
        assert_type(rejected, eventsourcing.CommandRejected[Any])
        if isinstance(rejected.error, CantDepositNegativeAmount):  # pyright: ignore[reportUnknownMemberType]
            assert_type(rejected.error, CantDepositNegativeAmount)
    except eventsourcing.StoreUnavailable as unavailable:
        assert_type(unavailable.kind, StoreFailure)
        assert_type(unavailable.message, str)
    except eventsourcing.CommandOutcomeUnknown as unknown:
        assert_type(unknown.idempotency_key, str)
    except eventsourcing.ConflictAfterRetries as conflict:
        assert_type(conflict.expected_sequence, int)
        assert_type(conflict.actual_sequence, int)
    except eventsourcing.CallbackFailed as failed:
        assert_type(failed.callback, str)
        assert_type(failed.exception_type, str)
    except eventsourcing.AggregateNotFound as not_found:
        assert_type(not_found.aggregate_id, str)


def the_exceptions_share_a_base() -> None:
    failures: list[EventSourcingException] = [
        eventsourcing.CommandRejected("acc-1", CantDepositNegativeAmount()),
        eventsourcing.AggregateNotFound("acc-1"),
    ]
    del failures
    # CommandRejected is covariant in its error: a rejection of a subtype fits.
    narrow: eventsourcing.CommandRejected[CantDepositNegativeAmount]
    narrow = eventsourcing.CommandRejected("acc-1", CantDepositNegativeAmount())
    wide: eventsourcing.CommandRejected[BankAccountError] = narrow
    del wide
    wrong: eventsourcing.CommandRejected[int] = narrow  # type: ignore[assignment]
    del wrong


# --- what does not fit the domain ------------------------------------------------------------


async def execute_rejects_a_command_of_another_type(bank: Bank) -> None:
    await bank.execute("acc-1", 42)  # type: ignore[arg-type]
    await bank.execute("acc-1", "deposit")  # type: ignore[arg-type]


async def execute_rejects_bad_arguments(bank: Bank) -> None:
    await bank.execute(42, OpenAccount("acc-1"))  # type: ignore[arg-type]
    await bank.execute("acc-1", OpenAccount("acc-1"), metadata=[("k", 1)])  # type: ignore[list-item]
    await bank.execute("acc-1", OpenAccount("acc-1"), idempotency_key=7)  # type: ignore[arg-type]
    await bank.execute("acc-1", OpenAccount("acc-1"), consistency=[object()])  # type: ignore[list-item]


async def results_keep_their_types(bank: Bank) -> None:
    loaded: Aggregate[int] = await bank.load("acc-1")  # type: ignore[assignment]
    events: list[EventEnvelop[int]] = await bank.events("acc-1")  # type: ignore[assignment]
    del loaded, events


async def open_system_rejects_an_apply_for_another_entity(store: BankStore) -> None:
    # The store, handle and empty_state make the entity a BankAccount, apply a Decimal.
    async with eventsourcing.open_system(
        store,
        handle,
        apply_to_another_entity,  # type: ignore[arg-type]
        BankAccount(),
    ):
        pass


async def open_system_rejects_an_apply_for_another_event(store: BankStore) -> None:
    async with eventsourcing.open_system(store, handle, apply_ints, BankAccount()):  # type: ignore[arg-type]
        pass


async def open_system_rejects_an_empty_state_of_another_entity(store: BankStore) -> None:
    async with eventsourcing.open_system(store, handle, apply, 0):  # type: ignore[misc]
        pass


async def open_system_rejects_a_store_of_another_domain(
    int_store: memory_store.MemoryEventStore[BankAccount, int],
) -> None:
    async with eventsourcing.open_system(int_store, handle, apply, BankAccount()):  # type: ignore[arg-type]
        pass


async def open_system_rejects_a_query_of_another_event(store: BankStore) -> None:
    async with eventsourcing.open_system(
        store,
        handle,
        apply,
        BankAccount(),
        queries=[on_int_events],  # type: ignore[list-item]
    ):
        pass


async def open_system_rejects_options_of_the_wrong_type(store: BankStore) -> None:
    async with eventsourcing.open_system(
        store,
        handle,
        apply,
        BankAccount(),
        snapshot_every="5",  # type: ignore[arg-type]
    ):
        pass
