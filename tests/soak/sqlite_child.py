"""The process ``test_sqlite_kill`` kills: the bank workload on an SQLite file, forever.

Usage (from the repository): ``python -m tests.soak.sqlite_child DATABASE PREFIX SEED KEYS``
(``KEYS`` is 1 or 0). It opens the accounts (a domain error when they are open already,
from an earlier life), prints ``ready``, then runs the clients until it is killed. It
tells the parent about every op on stdout, one line each, flushed at once:

- ``sent OP ACCOUNT KIND AMOUNT`` before the command is sent;
- ``done OP VERDICT UNKNOWNS TIMEOUTS`` once its outcome is settled, so ``done OP
  acknowledged`` is printed only after the ``Ok`` was received;
- ``errors N`` when the count of answers other than ``Ok`` and domain errors (failures,
  unknown outcomes, timeouts) has grown to ``N``.

An op sent and not done when the kill came was in flight: stored at most once.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable
from decimal import Decimal

import trio

from tests.soak.workload import (
    CLIENTS,
    CODEC,
    Asking,
    Bank,
    BankActor,
    BankSystem,
    Ledger,
    Op,
    ask,
    random_command,
    running_bank,
)
from trio_eventsourcing import sqlite_store
from trio_eventsourcing.examples.bank_account import (
    BankAccountCommand,
    DepositMoney,
    OpenAccount,
    WithdrawMoney,
)

REPLY_MS = 10_000
RESOLVE_S = 3_600.0
"""Unknown outcomes are asked about until the process is killed."""


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def describe_command(command: BankAccountCommand) -> str:
    match command:
        case OpenAccount():
            return "open 0"
        case DepositMoney(amount):
            return f"deposit {amount}"
        case WithdrawMoney(amount):
            return f"withdraw {amount}"


def parse_command(kind: str, amount: str, account: str) -> BankAccountCommand:
    """The command a ``sent`` line describes."""
    if kind == "open":
        return OpenAccount(account)
    if kind == "deposit":
        return DepositMoney(Decimal(amount))
    if kind == "withdraw":
        return WithdrawMoney(Decimal(amount))
    raise ValueError(f"no such command kind: {kind!r}")


async def reported(actor: BankActor | BankSystem, ledger: Ledger, op: Op, asking: Asking) -> None:
    say(f"sent {op.op_id} {op.account} {describe_command(op.command)}")
    await ask(actor, ledger, op, asking)
    assert op.verdict is not None
    say(f"done {op.op_id} {op.verdict.value} {op.unknowns} {op.timeouts}")


async def report_errors(ledger: Ledger) -> None:
    """Print ``errors N`` whenever the count of error answers grows."""

    def more_than(seen: int) -> Callable[[Ledger], bool]:
        return lambda ledger: ledger.error_answers > seen

    seen = 0
    while True:
        await ledger.wait_until(more_than(seen))
        seen = ledger.error_answers
        say(f"errors {seen}")


async def client(
    bank: Bank, ledger: Ledger, rng: random.Random, prefix: str, asking: Asking
) -> None:
    n = 0
    while True:
        op = ledger.new(f"{prefix}-{n}", rng.choice(bank.accounts), random_command(rng))
        n += 1
        # Both faces in turn: see workload.run_client.
        await reported(bank.system if n % 2 else bank.actor, ledger, op, asking)


async def main(path: str, prefix: str, seed: int, keys: bool) -> None:
    store, store_spec = sqlite_store.supervised(path, CODEC)
    async with running_bank(store, store_spec) as bank:
        ledger = Ledger()
        asking = Asking(keys, REPLY_MS, trio.current_time() + RESOLVE_S)
        async with trio.open_nursery() as nursery:
            for account in bank.accounts:
                op = ledger.new(f"{prefix}open-{account}", account, OpenAccount(account))
                nursery.start_soon(reported, bank.actor, ledger, op, asking)
        say("ready")
        async with trio.open_nursery() as nursery:
            nursery.start_soon(report_errors, ledger)
            for index in range(CLIENTS):
                rng = random.Random(f"{seed}-{prefix}-{index}")
                nursery.start_soon(client, bank, ledger, rng, f"{prefix}c{index}", asking)


if __name__ == "__main__":
    database, prefix, seed, keys = sys.argv[1:5]
    trio.run(main, database, prefix, int(seed), keys == "1")
