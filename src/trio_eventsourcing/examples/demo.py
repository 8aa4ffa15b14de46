"""The bank-account demo's workload: many clients moving money, checked against a model.

Run the demo with ``trio-eventsourcing demo`` (or ``python -m trio_eventsourcing demo``):
it runs this workload on the SQLite store, file ``bank.db``. ``python -m
trio_eventsourcing.examples.demo`` does the same, taking the same options.

:func:`run_bank` works on any store: it loads each of ``accounts`` accounts (an account
already open keeps its balance; the others are opened), sends ``commands`` random deposits
and withdrawals from ``clients`` concurrent clients, then loads every account again and
compares its balance with a model the workload keeps itself. Each account belongs to one
client, so the model sees an account's commands in the order the store does.

Example::

    import trio

    from trio_eventsourcing import memory_store, process, static_supervisor
    from trio_eventsourcing.examples.demo import run_bank

    async def main() -> None:
        store, store_spec = memory_store.supervised(
            process.new_name("events"), process.new_name("snapshots"), static_supervisor.OneForOne
        )
        report = await run_bank(store, store_spec, accounts=10, commands=1_000, clients=5)
        assert not report.mismatches

    trio.run(main)
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from importlib import import_module
from typing import TypeVar

import trio

import trio_eventsourcing as es

from .. import process, static_supervisor
from ..supervision import ChildSpecification
from .bank_account import (
    BankAccount,
    BankAccountCommand,
    BankAccountError,
    BankAccountEvent,
    CantWithdrawMoreThanCurrentBalance,
    DepositMoney,
    OpenAccount,
    WithdrawMoney,
    apply,
    handle,
)

StoreT = TypeVar("StoreT")
TxT = TypeVar("TxT")

BankMessage = es.AggregateMessage[
    BankAccount, BankAccountCommand, BankAccountEvent, BankAccountError
]

REPLY_TIMEOUT_MS = 30_000
"""How long a client waits for the answer to one command before the demo fails."""


@dataclass(frozen=True)
class DemoReport:
    """What one run of the workload did.

    ``commands`` counts every command sent, the accounts opened included; ``rejected``
    those refused for insufficient funds (they store no event). ``mismatches`` describes
    each account whose stored balance differs from the model: empty when all is well.
    """

    accounts: int
    opened: int
    commands: int
    rejected: int
    seconds: float
    balances: dict[str, Decimal] = field(repr=False)
    mismatches: list[str]


def account_ids(accounts: int) -> list[str]:
    """The ids of the demo's accounts: the same on every run, so a rerun continues."""
    return [f"account-{index}" for index in range(accounts)]


def shares(total: int, weights: Sequence[int]) -> list[int]:
    """Split ``total`` in proportion to ``weights`` (largest remainders first), exactly."""
    whole = sum(weights)
    parts = [total * weight // whole for weight in weights]
    by_remainder = sorted(range(len(weights)), key=lambda index: -(total * weights[index] % whole))
    for index in by_remainder[: total - sum(parts)]:
        parts[index] += 1
    return parts


def random_commands(
    ids: Sequence[str], count: int, rng: random.Random
) -> Iterator[tuple[str, BankAccountCommand]]:
    """Draw ``count`` random deposits (60 %) and withdrawals of 1 to 100 on ``ids``.

    Drawn one at a time, as the client sends them: a run of any length needs no memory
    for its plan.
    """
    for _ in range(count):
        amount = Decimal(rng.randint(1, 100))
        command: BankAccountCommand = (
            DepositMoney(amount) if rng.random() < 0.6 else WithdrawMoney(amount)
        )
        yield rng.choice(ids), command


async def send(
    actor: process.Subject[BankMessage], account_id: str, command: BankAccountCommand
) -> es.Result[None, es.EventSourcingError[BankAccountError]]:
    """Send ``command`` to ``account_id`` and return the answer.

    Raises:
        RuntimeError: No answer within :data:`REPLY_TIMEOUT_MS`.
    """
    reply = es.execute_with_response(actor, account_id, command, [])
    answer = await process.receive(reply, REPLY_TIMEOUT_MS)
    if isinstance(answer, es.Error):
        raise RuntimeError(f"no answer to {command!r} on {account_id!r} within 30 s")
    return answer.value


async def load_balance(actor: process.Subject[BankMessage], account_id: str) -> Decimal | None:
    """The stored balance of an open account, or ``None`` if it is not open.

    Raises:
        RuntimeError: No answer in time, or the store failed.
    """
    loaded = await process.receive(es.load_aggregate(actor, account_id), REPLY_TIMEOUT_MS)
    if isinstance(loaded, es.Error):
        raise RuntimeError(f"no answer to loading {account_id!r} within 30 s")
    match loaded.value:
        case es.Ok(aggregate):
            return aggregate.entity.balance if aggregate.entity.opened else None
        case es.Error(es.EntityNotFound()):
            return None
        case es.Error(error):
            raise RuntimeError(f"cannot load {account_id!r}: {es.describe_error(error)}")


async def run_bank(
    store: es.EventStore[StoreT, BankAccount, BankAccountEvent, TxT],
    store_spec: ChildSpecification[object],
    *,
    accounts: int,
    commands: int,
    clients: int,
    seed: int = 1,
    snapshot_every: int = 10,
    on_command: Callable[[], None] | None = None,
) -> DemoReport:
    """Run the workload on ``store`` and return its report.

    Args:
        store: The event store, e.g. from ``sqlite_store.supervised``.
        store_spec: The store's child specification (started here, before the bank).
        accounts: How many accounts to use (``account-0``, ``account-1``, ...).
        commands: How many deposits and withdrawals to send.
        clients: How many clients send them concurrently.
        seed: Seeds the random plan: the same seed draws the same commands.
        snapshot_every: Take a snapshot of an account every this many events.
        on_command: Called after each deposit or withdrawal is answered (progress).

    Returns:
        What the run did; ``mismatches`` lists the balances that differ from the model.

    Raises:
        RuntimeError: A command or load got no answer, or failed other than by
            insufficient funds.
    """
    name: process.Name[BankMessage] = process.new_name("bank")
    config = es.SnapshotConfig(es.frequency(snapshot_every).unwrap())
    bank_spec = es.supervised(name, store, handle, apply, BankAccount(), [], config).unwrap()
    ids = account_ids(accounts)
    # Each account belongs to one client, so that its commands reach the store in the
    # order the model applies them; the commands are shared out as the accounts are.
    owned = [ids[index::clients] for index in range(min(clients, accounts))]
    counts = shares(commands, [len(mine) for mine in owned])
    model: dict[str, Decimal] = {}
    opened = rejected = sent = 0

    async def client(actor: process.Subject[BankMessage], index: int) -> None:
        nonlocal opened, rejected, sent
        # This client's accounts first: the model starts from what the store holds.
        for account_id in owned[index]:
            balance = await load_balance(actor, account_id)
            if balance is None:
                answer = await send(actor, account_id, OpenAccount(account_id))
                sent += 1
                if isinstance(answer, es.Error):
                    raise RuntimeError(f"cannot open {account_id!r}: {answer.error!r}")
                opened += 1
                balance = Decimal(0)
            model[account_id] = balance
        # Seeded per client: the same seed draws the same commands, whatever the timing.
        rng = random.Random(f"{seed}/{index}")
        for account_id, command in random_commands(owned[index], counts[index], rng):
            answer = await send(actor, account_id, command)
            sent += 1
            if isinstance(answer, es.Ok):
                if isinstance(command, DepositMoney):
                    model[account_id] += command.amount
                elif isinstance(command, WithdrawMoney):
                    model[account_id] -= command.amount
            elif answer.error == es.DomainError(CantWithdrawMoreThanCurrentBalance()):
                rejected += 1
            else:
                raise RuntimeError(
                    f"{command!r} on {account_id!r} failed: {es.describe_error(answer.error)}"
                )
            if on_command is not None:
                on_command()

    supervisor = static_supervisor.new(static_supervisor.OneForOne).add(store_spec).add(bank_spec)
    async with supervisor.open():
        actor = process.named_subject(name)
        started = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for index in range(len(owned)):
                nursery.start_soon(client, actor, index)
        seconds = time.perf_counter() - started
        mismatches = []
        for account_id in ids:
            stored = await load_balance(actor, account_id)
            if stored != model[account_id]:
                mismatches.append(f"{account_id}: stored {stored}, expected {model[account_id]}")
    return DemoReport(
        accounts=accounts,
        opened=opened,
        commands=sent,
        rejected=rejected,
        seconds=seconds,
        balances=model,
        mismatches=mismatches,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``trio-eventsourcing demo`` with ``argv`` (``--help`` lists the options)."""
    # An entry point, not a dependency: the command line sits above this example and
    # imports it, so it is looked up when run rather than imported with the module.
    cli_main: Callable[[list[str]], int] = import_module("trio_eventsourcing.__main__").main
    return cli_main(["demo", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
