"""Static type tests of the event-sourcing API: checked by mypy and pyright, never run.

``assert_type`` lines are positive tests: the API infers the domain's types from the
user's ``handle``, ``apply`` and ``empty_state`` (through the Name and the store). Each
``# type: ignore[code]`` line is a negative test: mypy runs with ``--warn-unused-ignores``,
so if the line ever stops being an error the ignore becomes unused and the check fails.
"""

# pyright: strict, reportUnnecessaryTypeIgnoreComment=true

from __future__ import annotations

from decimal import Decimal

from typing_extensions import Never, assert_type

import trio_eventsourcing as eventsourcing
from trio_eventsourcing import (
    Aggregate,
    AggregateMessage,
    AggregateStats,
    DomainError,
    EventEnvelop,
    EventSourcingError,
    EventStore,
    Frequency,
    QueryMessage,
    Snapshot,
    SystemStats,
    memory_store,
    process,
    static_supervisor,
    supervision,
)
from trio_eventsourcing.examples.bank_account import (
    AccountOpened,
    BankAccount,
    BankAccountCommand,
    BankAccountError,
    BankAccountEvent,
    DepositMoney,
    OpenAccount,
    apply,
    handle,
)
from trio_eventsourcing.result import Error, Ok, Result

BankMessage = AggregateMessage[BankAccount, BankAccountCommand, BankAccountEvent, BankAccountError]
BankSubject = process.Subject[BankMessage]

events_name: process.Name[memory_store.GetEvents[BankAccountEvent]] = process.new_name("events")
snapshot_name: process.Name[memory_store.GetSnapshot[BankAccount]] = process.new_name("snaps")
store, store_spec = memory_store.supervised(events_name, snapshot_name, static_supervisor.OneForOne)
bank_name: process.Name[BankMessage] = process.new_name("bank")


def on_bank_events(aggregate_id: str, events: list[EventEnvelop[BankAccountEvent]]) -> None:
    pass


def on_int_events(aggregate_id: str, events: list[EventEnvelop[int]]) -> None:
    pass


def apply_ints(account: BankAccount, event: int) -> BankAccount:
    return account


# --- the memory store -----------------------------------------------------------------------


def memory_store_types() -> None:
    assert_type(
        store,
        EventStore[
            memory_store.MemoryStore[BankAccount, BankAccountEvent],
            BankAccount,
            BankAccountEvent,
            memory_store.MemoryTransaction[BankAccount, BankAccountEvent],
        ],
    )
    assert_type(store_spec, supervision.ChildSpecification[static_supervisor.Supervisor])


# --- supervised -------------------------------------------------------------------------------


def supervised_accepts_the_users_functions() -> None:
    query_name: process.Name[QueryMessage[BankAccountEvent]] = process.new_name("q")
    spec = eventsourcing.supervised(
        name=bank_name,
        eventstore=store,
        handle=handle,
        apply=apply,
        empty_state=BankAccount(),
        queries=[(query_name, on_bank_events)],
        snapshot_config=eventsourcing.SnapshotConfig(eventsourcing.frequency(5).unwrap()),
    )
    assert_type(spec, Result[supervision.ChildSpecification[static_supervisor.Supervisor], None])
    # The Name's types come from handle, apply and empty_state when it is made in place.
    eventsourcing.supervised(
        process.new_name("bank"), store, handle, apply, BankAccount(), [], None
    )


def supervised_rejects_what_does_not_fit_the_domain() -> None:
    bank_query: process.Name[QueryMessage[BankAccountEvent]] = process.new_name("q")
    # An apply over another event type than the store's.
    eventsourcing.supervised(bank_name, store, handle, apply_ints, BankAccount(), [], None)  # type: ignore[arg-type]
    # A query function over another event type (its Name is right).
    queries = [(bank_query, on_int_events)]
    eventsourcing.supervised(bank_name, store, handle, apply, BankAccount(), queries, None)  # type: ignore[arg-type]
    # An empty state of another entity type (mypy: cannot infer EntityT).
    eventsourcing.supervised(bank_name, store, handle, apply, 0, [], None)  # type: ignore[misc]
    # A Name for another command type than handle's.
    int_commands: process.Name[
        AggregateMessage[BankAccount, int, BankAccountEvent, BankAccountError]
    ]
    int_commands = process.new_name("ints")
    eventsourcing.supervised(int_commands, store, handle, apply, BankAccount(), [], None)  # type: ignore[arg-type]


# --- the API functions infer from the Subject ----------------------------------------------------


async def api_results(bank: BankSubject) -> None:
    assert_type(
        eventsourcing.execute_with_response(bank, "acc-1", OpenAccount("acc-1"), []),
        process.Subject[Result[None, EventSourcingError[BankAccountError]]],
    )
    assert_type(
        eventsourcing.load_aggregate(bank, "acc-1"),
        process.Subject[Result[Aggregate[BankAccount], EventSourcingError[BankAccountError]]],
    )
    assert_type(
        eventsourcing.load_events(bank, "acc-1"),
        process.Subject[
            Result[list[EventEnvelop[BankAccountEvent]], EventSourcingError[BankAccountError]]
        ],
    )
    assert_type(
        eventsourcing.load_events_from(bank, "acc-1", 3),
        process.Subject[
            Result[list[EventEnvelop[BankAccountEvent]], EventSourcingError[BankAccountError]]
        ],
    )
    assert_type(
        eventsourcing.latest_snapshot(bank, "acc-1"),
        process.Subject[Result[Snapshot[BankAccount] | None, EventSourcingError[BankAccountError]]],
    )
    assert_type(
        eventsourcing.aggregate_stats(bank, "acc-1"),
        process.Subject[Result[AggregateStats, EventSourcingError[BankAccountError]]],
    )
    assert_type(eventsourcing.system_stats(bank), process.Subject[SystemStats])
    eventsourcing.execute(bank, "acc-1", DepositMoney(Decimal(1)))

    match await process.receive(eventsourcing.load_aggregate(bank, "acc-1"), 1000):
        case Ok(Ok(aggregate)):
            assert_type(aggregate, Aggregate[BankAccount])
            assert_type(aggregate.entity, BankAccount)
        case Ok(Error(DomainError(error))):
            assert_type(error, BankAccountError)
        case _:
            pass
    match await process.receive(eventsourcing.load_events(bank, "acc-1"), 1000):
        case Ok(Ok(events)):
            assert_type(events[0].payload, BankAccountEvent)
        case _:
            pass


def api_rejects_a_command_of_another_type(bank: BankSubject) -> None:
    # mypy reports these as "Cannot infer value of type parameter CommandT": the Subject
    # fixes CommandT to BankAccountCommand, which the argument does not fit.
    eventsourcing.execute(bank, "acc-1", 42)  # type: ignore[misc]
    eventsourcing.execute_with_metadata(bank, "acc-1", AccountOpened("acc-1"), [])  # type: ignore[misc]
    eventsourcing.execute_with_response(bank, "acc-1", "deposit", [])  # type: ignore[misc]


def api_rejects_bad_metadata(bank: BankSubject) -> None:
    eventsourcing.execute_with_metadata(bank, "acc-1", OpenAccount("acc-1"), [("k", 1)])  # type: ignore[list-item]
    eventsourcing.execute_with_response(bank, "acc-1", OpenAccount("acc-1"), {"k": "v"})  # type: ignore[arg-type]


# --- values -------------------------------------------------------------------------------------


def wants_any_error(result: Result[Frequency, EventSourcingError[Never]]) -> None: ...


def values() -> None:
    assert_type(eventsourcing.frequency(3), Result[Frequency, eventsourcing.NonPositiveArgument])
    # The one error either can answer, and still an EventSourcingError where one is expected.
    wants_any_error(eventsourcing.frequency(3))
    assert_type(
        eventsourcing.timeout(3), Result[eventsourcing.Timeout, eventsourcing.NonPositiveArgument]
    )
    eventsourcing.SnapshotConfig(3)  # type: ignore[arg-type]
    eventsourcing.describe_error("not an error")  # type: ignore[arg-type]
    eventsourcing.EventStoreError("gone", "refused")  # type: ignore[arg-type]
    assert_type(eventsourcing.EventStoreError("gone").kind, eventsourcing.StoreFailure)
