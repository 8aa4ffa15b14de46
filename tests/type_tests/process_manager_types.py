"""Static type tests of process managers: checked by mypy and pyright, never run.

A manager's ``handle`` must accept every event its selection selects and what it is told
besides (``TimerFired``, ``CommandRejected``); a ``Send`` must carry its target system's
command. Each ``# type: ignore[code]`` line is a negative test.
"""

# pyright: strict, reportUnnecessaryTypeIgnoreComment=true

from __future__ import annotations

from decimal import Decimal
from typing import Any

from typing_extensions import assert_type

from trio_eventsourcing import memory_store, process, process_managers, projections, sqlite_store
from trio_eventsourcing.codec import JsonCodec
from trio_eventsourcing.examples.bank_account import (
    AccountOpened,
    BankAccount,
    BankAccountCommand,
    BankAccountEvent,
    DepositMoney,
)
from trio_eventsourcing.examples.transfers import CompleteTransfer, TransferCommand
from trio_eventsourcing.process_managers import CommandRejected, Decision, Send, Target, TimerFired


def route(entry: memory_store.MemoryLogEntry[BankAccountEvent]) -> str | None:
    return entry.envelope.aggregate_id


def every_event(
    state: int, happened: BankAccountEvent | TimerFired | CommandRejected
) -> Decision[int]:
    return Decision(state + 1)


def openings_only(
    state: int, happened: AccountOpened | TimerFired | CommandRejected
) -> Decision[int]:
    return Decision(state)


def managers(
    accounts: memory_store.MemoryEventStore[BankAccount, BankAccountEvent],
    bank: process.Subject[Any],
    transfers_actor: process.Subject[Any],
) -> None:
    manager = process_managers.process_manager(
        "counter", projections.select(accounts), route=route, initial=lambda _: 0,
        handle=every_event,
    )  # fmt: skip
    assert_type(manager, process_managers.ProcessManager[BankAccountEvent, int])
    # Selecting only the openings, a handler of the openings fits.
    process_managers.process_manager(
        "openings", projections.select(accounts).only(AccountOpened),
        route=lambda entry: entry.envelope.aggregate_id, initial=lambda _: 0,
        handle=openings_only,
    )  # fmt: skip
    # The whole log, to a handler of the openings only: refused.
    process_managers.process_manager(
        "narrow", projections.select(accounts), route=route, initial=lambda _: 0,
        handle=openings_only,  # type: ignore[arg-type]
    )  # fmt: skip

    account_target: Target[BankAccountCommand] = Target("accounts", bank)
    transfer_target: Target[TransferCommand] = Target("transfers", transfers_actor)
    Send(account_target, "acc-1", DepositMoney(Decimal(1)))
    Send(transfer_target, "t-1", CompleteTransfer())
    # A command of another system: refused.
    Send(account_target, "acc-1", CompleteTransfer())  # type: ignore[misc]


def durable_route(entry: sqlite_store.LogEntry[BankAccountEvent]) -> str | None:
    return entry.envelope.aggregate_id


def durable_managers(
    accounts: sqlite_store.SqliteEventStore[BankAccount, BankAccountEvent],
    bank: process.Subject[Any],
) -> None:
    account_target: Target[BankAccountCommand] = Target("accounts", bank)
    states = JsonCodec[Any, int](events=[DepositMoney], entities=[], aggregate_type="counter")
    texts = JsonCodec[Any, str](events=[DepositMoney], entities=[], aggregate_type="texts")
    manager = process_managers.process_manager(
        "counter", projections.select(accounts),
        route=lambda entry: entry.envelope.aggregate_id, initial=lambda _: 0,
        handle=every_event, targets=[account_target], codec=states,
    )  # fmt: skip
    assert_type(manager, process_managers.ProcessManager[BankAccountEvent, int])
    # A codec of other states than the handler's: refused.
    sel, one = projections.select(accounts), [account_target]

    def first(process_id: str) -> int:
        return 0

    process_managers.process_manager(
        "c", sel, route=durable_route, initial=first, handle=every_event, targets=one, codec=texts  # type: ignore[arg-type]
    )  # fmt: skip
