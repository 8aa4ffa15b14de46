"""Declaring a process manager: what it refuses. What it promises on every store is in
``tests/contracts/process_manager_contract.py``."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

import trio_eventsourcing as eventsourcing
from tests.contracts.store_contract import BankMessage, answer, open_bank
from trio_eventsourcing import Ok, memory_store, process, process_managers, projections
from trio_eventsourcing import static_supervisor as supervisors
from trio_eventsourcing.examples.bank_account import (
    AccountOpened,
    BankAccount,
    BankAccountCommand,
    BankAccountEvent,
    CustomerDepositedCash,
    DepositMoney,
)
from trio_eventsourcing.process_managers import (
    CommandRejected,
    Decision,
    ProcessManagerHandle,
    SetTimer,
    Target,
    TimerFired,
)

WAIT_S = 10
Happened = BankAccountEvent | TimerFired | CommandRejected
Store = memory_store.MemoryEventStore[BankAccount, BankAccountEvent]


@dataclass(frozen=True)
class Welcome:
    """An account's welcome: opened, and what has been done for it."""

    account: str
    steps: tuple[str, ...] = ()


def opened_only(entry: projections.LogRecord[BankAccountEvent]) -> str | None:
    return (
        entry.envelope.aggregate_id if isinstance(entry.envelope.payload, AccountOpened) else None
    )


@contextlib.asynccontextmanager
async def bank() -> AsyncIterator[tuple[Store, process.Subject[BankMessage]]]:
    events: process.Name[memory_store.GetEvents[BankAccountEvent]] = process.new_name("events")
    snapshots: process.Name[memory_store.GetSnapshot[BankAccount]] = process.new_name("snaps")
    store, spec = memory_store.supervised(events, snapshots, supervisors.OneForOne)
    async with supervisors.new(supervisors.OneForOne).add(spec).open(), open_bank(store) as actor:
        yield store, actor


@contextlib.asynccontextmanager
async def running(
    manager: process_managers.ProcessManager[Any, Any],
) -> AsyncIterator[ProcessManagerHandle]:
    handle, spec = process_managers.supervised(manager)
    async with supervisors.new(supervisors.OneForOne).add(spec).open():
        yield handle


def bonus_manager(
    store: Store,
    accounts: Target[BankAccountCommand],
    decide: Callable[[Welcome, Happened], Decision[Welcome]],
) -> process_managers.ProcessManager[BankAccountEvent, Welcome]:
    return process_managers.process_manager(
        "welcome", projections.select(store), route=opened_only, initial=Welcome, handle=decide
    )


async def balance(actor: process.Subject[BankMessage], account: str) -> Decimal:
    loaded = await answer(eventsourcing.load_aggregate(actor, account))
    assert isinstance(loaded, Ok), loaded
    return loaded.value.entity.balance


def test_a_manager_refuses_what_it_cannot_run(tmp_path: Any) -> None:
    from trio_eventsourcing import sqlite_store
    from trio_eventsourcing.codec import JsonCodec
    from trio_eventsourcing.examples.bank_account import BankAccount as Entity

    codec: JsonCodec[BankAccountEvent, Entity] = JsonCodec(
        events=[AccountOpened, CustomerDepositedCash], entities=[Entity], aggregate_type="bank"
    )
    durable, _ = sqlite_store.supervised(tmp_path / "bank.db", codec)
    welcome_codec = JsonCodec[Any, Welcome](
        events=[DepositMoney], entities=[Welcome], aggregate_type="welcome"
    )
    with pytest.raises(TypeError, match="a durable store, where it keeps its instances"):
        process_managers.process_manager(
            "p", projections.select(durable), route=opened_only, initial=Welcome,
            handle=lambda state, happened: Decision(state),
        )  # fmt: skip
    with pytest.raises(ValueError, match="list the systems it sends to in targets="):
        process_managers.process_manager(
            "p", projections.select(durable), route=opened_only, initial=Welcome,
            handle=lambda state, happened: Decision(state), codec=welcome_codec,
        )  # fmt: skip
    memory: Store
    memory, _ = memory_store.supervised(
        process.new_name("e"), process.new_name("s"), supervisors.OneForOne
    )
    with pytest.raises(ValueError, match="non-empty str"):
        process_managers.process_manager(
            "", projections.select(memory), route=opened_only, initial=Welcome,
            handle=lambda state, happened: Decision(state),
        )  # fmt: skip
    with pytest.raises(ValueError, match="0 or more seconds"):
        SetTimer("t", -1.0)
    with pytest.raises(TypeError, match="must be a Subject"):
        Target("accounts", "bank")  # type: ignore[arg-type]


def test_max_in_flight_must_be_a_positive_int() -> None:
    memory: Store
    memory, _ = memory_store.supervised(
        process.new_name("e"), process.new_name("s"), supervisors.OneForOne
    )
    for bad, error in ((0, ValueError), (True, TypeError), (2.5, TypeError)):
        with pytest.raises(error, match="max_in_flight"):
            process_managers.process_manager(
                "p", projections.select(memory), route=opened_only, initial=Welcome,
                handle=lambda state, happened: Decision(state),
                max_in_flight=bad,  # type: ignore[arg-type]
            )  # fmt: skip
