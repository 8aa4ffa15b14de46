"""The bank-account demo: many clients moving money, checked against a model.

Run it with ``python -m trio_eventsourcing.examples.demo`` (``--help`` for options).
It opens ``--accounts`` accounts, sends ``--commands`` random deposits and withdrawals
from ``--clients`` concurrent clients, then loads every account and checks its balance
against a model the demo keeps itself; it exits non-zero if any differs.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import trio

import trio_eventsourcing as es

from .. import memory_store, process, static_supervisor
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

BankMessage = es.AggregateMessage[
    BankAccount, BankAccountCommand, BankAccountEvent, BankAccountError
]


@dataclass(frozen=True)
class DemoReport:
    """What one demo run did."""

    accounts: int
    commands: int
    rejected: int
    seconds: float
    snapshots: int
    mismatches: list[str]


async def _command(
    actor: process.Subject[BankMessage], account_id: str, command: BankAccountCommand
) -> es.Result[None, es.EventSourcingError[BankAccountError]]:
    reply = await process.receive(es.execute_with_response(actor, account_id, command, []), 30_000)
    if isinstance(reply, es.Error):
        raise RuntimeError(f"no reply to {command!r} on {account_id!r} within 30 s")
    return reply.value


async def run_demo(accounts: int, commands: int, clients: int, seed: int = 1) -> DemoReport:
    """Run the demo on the memory store and return its report."""
    events_name: process.Name[memory_store.GetEvents[BankAccountEvent]] = process.new_name("events")
    snapshot_name: process.Name[memory_store.GetSnapshot[BankAccount]] = process.new_name(
        "snapshots"
    )
    store, store_spec = memory_store.supervised(
        events_name, snapshot_name, static_supervisor.OneForOne
    )
    name: process.Name[BankMessage] = process.new_name("bank")
    config = es.SnapshotConfig(es.frequency(10).unwrap())
    spec = es.supervised(name, store, handle, apply, BankAccount(), [], config).unwrap()
    ids = [f"account-{index}" for index in range(accounts)]
    model = dict.fromkeys(ids, Decimal(0))
    rejected = 0
    rng = random.Random(seed)
    plan: list[list[tuple[str, BankAccountCommand]]] = [[] for _ in range(clients)]
    for _ in range(commands):
        account = rng.randrange(accounts)
        amount = Decimal(rng.randint(1, 100))
        command: BankAccountCommand = (
            DepositMoney(amount) if rng.random() < 0.6 else WithdrawMoney(amount)
        )
        # One client per account keeps the model's order equal to the store's order.
        plan[account % clients].append((ids[account], command))

    async def client(
        actor: process.Subject[BankMessage], work: Sequence[tuple[str, BankAccountCommand]]
    ) -> None:
        nonlocal rejected
        for account_id, command in work:
            outcome = await _command(actor, account_id, command)
            if isinstance(outcome, es.Ok):
                if isinstance(command, DepositMoney):
                    model[account_id] += command.amount
                elif isinstance(command, WithdrawMoney):
                    model[account_id] -= command.amount
            elif outcome.error == es.DomainError(CantWithdrawMoreThanCurrentBalance()):
                rejected += 1
            else:
                raise RuntimeError(f"{command!r} on {account_id!r} failed: {outcome!r}")

    async with static_supervisor.new(static_supervisor.OneForOne).add(store_spec).add(spec).open():
        actor = process.named_subject(name)
        started = time.perf_counter()
        for account_id in ids:
            opened = await _command(actor, account_id, OpenAccount(account_id))
            if isinstance(opened, es.Error):
                raise RuntimeError(f"cannot open {account_id!r}: {opened!r}")
        async with trio.open_nursery() as nursery:
            for work in plan:
                nursery.start_soon(client, actor, work)
        seconds = time.perf_counter() - started
        mismatches = []
        for account_id in ids:
            loaded = await process.receive(es.load_aggregate(actor, account_id), 30_000)
            balance = (
                loaded.value.value.entity.balance
                if isinstance(loaded, es.Ok) and isinstance(loaded.value, es.Ok)
                else None
            )
            if balance != model[account_id]:
                mismatches.append(f"{account_id}: stored {balance}, expected {model[account_id]}")
    return DemoReport(
        accounts=accounts,
        commands=accounts + commands,
        rejected=rejected,
        seconds=seconds,
        snapshots=len(store.eventstore.snapshots),
        mismatches=mismatches,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line, run the demo, print a summary; 0 if every balance matches."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100, help="accounts to open")
    parser.add_argument("--commands", type=int, default=10_000, help="deposits and withdrawals")
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients")
    args = parser.parse_args(argv)
    for option in ("accounts", "commands", "clients"):
        if getattr(args, option) <= 0:
            parser.error(f"--{option} must be greater than zero")
    report = trio.run(run_demo, args.accounts, args.commands, args.clients)
    rate = report.commands / report.seconds if report.seconds else float("inf")
    print(f"accounts        {report.accounts}")
    print(f"commands        {report.commands} ({report.rejected} rejected: insufficient funds)")
    print(f"commands/s      {rate:,.0f}")
    print(f"snapshots       {report.snapshots}")
    if report.mismatches:
        print(f"MISMATCHES      {len(report.mismatches)}", file=sys.stderr)
        for line in report.mismatches[:20]:
            print(f"  {line}", file=sys.stderr)
        return 1
    print("balances        all match the model")
    return 0


if __name__ == "__main__":
    sys.exit(main())
