"""The bank demo's workload: accounts and transfers, two aggregate types in one SQLite file.

Run the demo with ``trio-eventsourcing demo`` (or ``python -m trio_eventsourcing demo``):
it runs this workload on the SQLite file ``bank.db``. ``python -m
trio_eventsourcing.examples.demo`` does the same, taking the same options.

:func:`run_bank` is an application of two aggregate types on one database, which is
what most applications are:

- the bank accounts of :mod:`.bank_account` and the transfers of :mod:`.transfers`, each
  with its event store (``database.event_store(codec)``) and its event-sourcing system;
  their commands share the file's one writer and its group commits, and their events
  one global log;
- the ledger of :mod:`.ledger`, a projection of both types that keeps its read model in
  the same file, in the transaction of its checkpoint.

It loads each of ``accounts`` accounts (an account already open keeps its balance; the
others are opened), then ``clients`` concurrent clients carry out ``commands`` random
operations: deposits, withdrawals and transfers between two accounts. A transfer is
requested, its money withdrawn from one account and deposited into the other, and it is
completed (or failed, for insufficient funds); its four commands share the transfer's id
as their correlation id, and its two account commands have idempotency keys, so a
transfer an interrupted run left pending is settled at the next run's start, never
twice. The last command, a deposit, waits for the ledger (``execute_and_wait``), which
is read at once and must show it. Then every account and every transfer is loaded
again, and compared, with the ledger, to a model the workload keeps itself.

Each account belongs to one client, and a transfer moves money between two accounts of
one client: the model sees an account's commands in the order the store does, and a
seed repeats a run's outcomes, refusals included.

Example::

    import tempfile
    from pathlib import Path

    import trio

    from trio_eventsourcing import sqlite_store
    from trio_eventsourcing.examples.demo import run_bank

    async def main(path: Path) -> None:
        database, database_spec = sqlite_store.supervised_database(path)
        report = await run_bank(database, database_spec, accounts=10, commands=1_000, clients=5)
        assert not report.mismatches

    with tempfile.TemporaryDirectory() as directory:
        trio.run(main, Path(directory) / "bank.db")
"""

from __future__ import annotations

import itertools
import random
import sqlite3
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from importlib import import_module
from typing import TypeVar

import trio

import trio_eventsourcing as es

from .. import process, projections, sqlite_store, static_supervisor
from ..codec import JsonCodec
from ..supervision import ChildSpecification
from . import ledger, transfers
from .bank_account import (
    AccountOpened,
    BankAccount,
    BankAccountCommand,
    BankAccountError,
    BankAccountEvent,
    CantWithdrawMoreThanCurrentBalance,
    CustomerDepositedCash,
    CustomerWithdrewCash,
    DepositMoney,
    OpenAccount,
    WithdrawMoney,
)
from .bank_account import apply as apply_account
from .bank_account import handle as handle_account
from .transfers import (
    CompleteTransfer,
    FailTransfer,
    RequestTransfer,
    Transfer,
    TransferCommand,
    TransferCompleted,
    TransferError,
    TransferEvent,
    TransferFailed,
    TransferRequested,
    TransferStatus,
)

EntityT = TypeVar("EntityT")
CommandT = TypeVar("CommandT")
EventT = TypeVar("EventT")
ErrorT = TypeVar("ErrorT")
ValueT = TypeVar("ValueT")

BankMessage = es.AggregateMessage[
    BankAccount, BankAccountCommand, BankAccountEvent, BankAccountError
]
TransferMessage = es.AggregateMessage[Transfer, TransferCommand, TransferEvent, TransferError]
Operation = tuple[str, BankAccountCommand] | RequestTransfer
"""One step of a client's random plan: a deposit or withdrawal on an account, or a transfer."""

ACCOUNT_TYPE = "bank_account"
"""The aggregate type of the accounts, as stored with their events."""
TRANSFER_TYPE = "transfer"
"""The aggregate type of the transfers, as stored with their events."""
TRANSFER_PREFIX = "transfer-"
"""Transfers are ``transfer-1``, ``transfer-2``, ...: numbered on from the ledger's highest."""
INSUFFICIENT_FUNDS = "insufficient funds"
"""Why a transfer failed: its withdrawal was refused."""

REPLY_TIMEOUT_MS = 30_000
"""How long a client waits for the answer to one command before the demo fails."""
TRANSFER_IDLE_S = 1.0
"""Seconds after which a transfer's worker, idle, is dropped (it is settled by then)."""
TRANSFER_SHARE = 0.2
"""The part of the operations that are transfers, for a client with two accounts or more."""


def account_codec() -> JsonCodec[BankAccountEvent, BankAccount]:
    """The codec of the accounts: their events and entity as JSON.

    Example::

        accounts = database.event_store(account_codec())
    """
    return JsonCodec(
        events=[AccountOpened, CustomerDepositedCash, CustomerWithdrewCash],
        entities=[BankAccount],
        aggregate_type=ACCOUNT_TYPE,
    )


def transfer_codec() -> JsonCodec[TransferEvent, Transfer]:
    """The codec of the transfers: their events and entity as JSON.

    Example::

        transfers = database.event_store(transfer_codec())
    """
    return JsonCodec(
        events=[TransferRequested, TransferCompleted, TransferFailed],
        entities=[Transfer],
        aggregate_type=TRANSFER_TYPE,
    )


@dataclass(frozen=True)
class ReadYourWrite:
    """The run's last command, a deposit, and the ledger's row of its account right after.

    ``seen`` was read as soon as ``execute_and_wait(..., consistency=[ledger])`` returned:
    its ``position`` is the deposit's, and its balance includes it.

    Example::

        final = report.final
        assert final.seen is not None and final.seen.position == final.position
    """

    account_id: str
    amount: Decimal
    position: int
    """The deposit's event's position in the log, from the command's receipt."""
    seen: ledger.LedgerAccount | None


@dataclass(frozen=True)
class DemoReport:
    """What one run of the workload did, and what its checks found.

    ``commands`` counts the operations carried out (deposits, withdrawals and transfers:
    the ``commands`` asked for, unless the run was stopped); ``sent`` the commands sent to
    each aggregate type's system to do so (openings, transfer steps and the last deposit
    included). ``rejected`` counts the withdrawals refused for insufficient funds (they
    store no event); ``transfers`` the transfers requested, of which ``failed`` failed for
    the same reason; ``resumed`` those an interrupted run had left pending, settled first.
    Each list of mismatches is empty when all is well: ``mismatches`` for the balances,
    ``transfer_mismatches`` for the transfers, ``ledger_mismatches`` for the read model.

    Example::

        report = await run_bank(database, database_spec, accounts=5, commands=100, clients=2)
        assert report.transfers == report.completed + report.failed
    """

    accounts: int
    opened: int
    commands: int
    rejected: int
    transfers: int
    failed: int
    resumed: int
    seconds: float
    sent: dict[str, int]
    final: ReadYourWrite
    ledger: projections.ProjectionStatistics
    ledger_accounts: int
    """The accounts in the ledger (more than ``accounts`` after a run with more)."""
    ledger_transfers: dict[TransferStatus, int]
    """The transfers in the ledger, of every run, by status."""
    balances: dict[str, Decimal] = field(repr=False)
    mismatches: list[str]
    transfer_mismatches: list[str] = field(default_factory=list)
    ledger_mismatches: list[str] = field(default_factory=list)

    @property
    def completed(self) -> int:
        """The transfers of this run that completed (the money moved)."""
        return self.transfers - self.failed


def account_ids(accounts: int) -> list[str]:
    """The ids of the demo's accounts: the same on every run, so a rerun continues.

    Example::

        assert account_ids(2) == ["account-0", "account-1"]
    """
    return [f"account-{index}" for index in range(accounts)]


def shares(total: int, weights: Sequence[int]) -> list[int]:
    """Split ``total`` in proportion to ``weights`` (largest remainders first), exactly.

    Example::

        assert shares(10, [2, 2, 1]) == [4, 4, 2]
    """
    whole = sum(weights)
    parts = [total * weight // whole for weight in weights]
    by_remainder = sorted(range(len(weights)), key=lambda index: -(total * weights[index] % whole))
    for index in by_remainder[: total - sum(parts)]:
        parts[index] += 1
    return parts


def random_operations(ids: Sequence[str], count: int, rng: random.Random) -> Iterator[Operation]:
    """Draw ``count`` random operations of 1 to 100 on the accounts ``ids``.

    A :data:`TRANSFER_SHARE` of transfers between two of them (when there are two), then
    deposits (60 %) and withdrawals. Drawn one at a time, as the client carries them
    out: a run of any length needs no memory for its plan.

    Example::

        for operation in random_operations(["account-0"], 3, random.Random(1)):
            print(operation)
    """
    for _ in range(count):
        amount = Decimal(rng.randint(1, 100))
        if rng.random() < TRANSFER_SHARE and len(ids) > 1:
            from_account, to_account = rng.sample(list(ids), 2)
            yield RequestTransfer(from_account, to_account, amount)
        elif rng.random() < 0.6:
            yield rng.choice(ids), DepositMoney(amount)
        else:
            yield rng.choice(ids), WithdrawMoney(amount)


async def send(
    actor: process.Subject[es.AggregateMessage[EntityT, CommandT, EventT, ErrorT]],
    aggregate_id: str,
    command: CommandT,
    *,
    idempotency_key: str | None = None,
    correlation_id: str | None = None,
) -> es.Result[None, es.EventSourcingError[ErrorT]]:
    """Send ``command`` to ``aggregate_id`` and return the answer.

    Raises:
        RuntimeError: No answer within :data:`REPLY_TIMEOUT_MS`.

    Example::

        answer = await send(bank, "account-0", DepositMoney(Decimal(5)))
    """
    reply = es.execute_with_response(
        actor,
        aggregate_id,
        command,
        [],
        idempotency_key=idempotency_key,
        correlation_id=correlation_id,
    )
    answer = await process.receive(reply, REPLY_TIMEOUT_MS)
    if isinstance(answer, es.Error):
        raise RuntimeError(f"no answer to {command!r} on {aggregate_id!r} within 30 s")
    return answer.value


async def load(
    actor: process.Subject[es.AggregateMessage[EntityT, CommandT, EventT, ErrorT]],
    aggregate_id: str,
) -> EntityT | None:
    """The stored entity of an aggregate, or ``None`` if it has no events.

    Raises:
        RuntimeError: No answer in time, or the store failed.

    Example::

        account = await load(bank, "account-0")
    """
    loaded = await process.receive(es.load_aggregate(actor, aggregate_id), REPLY_TIMEOUT_MS)
    if isinstance(loaded, es.Error):
        raise RuntimeError(f"no answer to loading {aggregate_id!r} within 30 s")
    match loaded.value:
        case es.Ok(aggregate):
            return aggregate.entity
        case es.Error(es.EntityNotFound()):
            return None
        case es.Error(error):
            raise RuntimeError(f"cannot load {aggregate_id!r}: {es.describe_error(error)}")


async def load_balance(actor: process.Subject[BankMessage], account_id: str) -> Decimal | None:
    """The stored balance of an open account, or ``None`` if it is not open.

    Raises:
        RuntimeError: No answer in time, or the store failed.

    Example::

        balance = await load_balance(bank, "account-0")
    """
    account = await load(actor, account_id)
    return account.balance if account is not None and account.opened else None


@dataclass
class _Teller:
    """The two systems' subjects, and the commands sent to each."""

    bank: process.Subject[BankMessage]
    desk: process.Subject[TransferMessage]
    sent: Counter[str] = field(default_factory=Counter)

    async def account(
        self,
        account_id: str,
        command: BankAccountCommand,
        *,
        key: str | None = None,
        correlation_id: str | None = None,
    ) -> es.Result[None, es.EventSourcingError[BankAccountError]]:
        self.sent[ACCOUNT_TYPE] += 1
        return await send(
            self.bank, account_id, command, idempotency_key=key, correlation_id=correlation_id
        )

    async def transfer(self, transfer_id: str, command: TransferCommand) -> None:
        self.sent[TRANSFER_TYPE] += 1
        answer = await send(self.desk, transfer_id, command, correlation_id=transfer_id)
        if isinstance(answer, es.Error):
            raise RuntimeError(
                f"{command!r} on {transfer_id!r} failed: {es.describe_error(answer.error)}"
            )

    async def settle(self, transfer_id: str, request: RequestTransfer) -> TransferStatus:
        """Move the money of a requested transfer and record how it ended.

        The keys make each account command of a transfer stored at most once, so a
        transfer an interrupted run left pending is settled again from its start.
        """
        amount = request.amount
        withdrawn = await self.account(
            request.from_account,
            WithdrawMoney(amount),
            key=f"{transfer_id}/withdrawal",
            correlation_id=transfer_id,
        )
        if isinstance(withdrawn, es.Error):
            if withdrawn.error != es.DomainError(CantWithdrawMoreThanCurrentBalance()):
                raise RuntimeError(
                    f"the withdrawal of {transfer_id!r} failed: "
                    f"{es.describe_error(withdrawn.error)}"
                )
            await self.transfer(transfer_id, FailTransfer(INSUFFICIENT_FUNDS))
            return TransferStatus.FAILED
        deposited = await self.account(
            request.to_account,
            DepositMoney(amount),
            key=f"{transfer_id}/deposit",
            correlation_id=transfer_id,
        )
        if isinstance(deposited, es.Error):
            raise RuntimeError(
                f"the deposit of {transfer_id!r} failed: {es.describe_error(deposited.error)}"
            )
        await self.transfer(transfer_id, CompleteTransfer())
        return TransferStatus.COMPLETED


async def read_ledger(path: str, query: Callable[[sqlite3.Connection], ValueT]) -> ValueT:
    """Run a query of :mod:`.ledger` on the file at ``path``, in a worker thread.

    Example::

        balances = await read_ledger(database.path, ledger.accounts)
    """
    return await trio.to_thread.run_sync(ledger.read, path, query)


async def _ledger_wait(handle: projections.ProjectionHandle, wait: Awaitable[ValueT]) -> ValueT:
    """``wait``, unless the ledger stops first (its error policy gave up): then fail.

    A wait for a stopped projection would never end, and the demo would hang.
    """
    result: list[ValueT] = []

    async def watch() -> None:
        stats = await handle.wait_for(lambda s: s.state is projections.ProjectionState.STOPPED)
        raise RuntimeError(f"the ledger projection stopped: {stats.last_error}")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(watch)
        result.append(await wait)
        nursery.cancel_scope.cancel()
    return result[0]


async def run_bank(
    database: sqlite_store.SqliteDatabase,
    database_spec: ChildSpecification[object],
    *,
    accounts: int,
    commands: int,
    clients: int,
    seed: int = 1,
    snapshot_every: int = 10,
    on_command: Callable[[], None] | None = None,
) -> DemoReport:
    """Run the workload on ``database`` and return its report.

    Args:
        database: The SQLite database, from ``sqlite_store.supervised_database``.
        database_spec: Its child specification (started here, before the two systems).
        accounts: How many accounts to use (``account-0``, ``account-1``, ...).
        commands: How many deposits, withdrawals and transfers to carry out.
        clients: How many clients carry them out concurrently.
        seed: Seeds the random plan: the same seed draws the same operations.
        snapshot_every: Take a snapshot of an account every this many events.
        on_command: Called after each operation is done (progress).

    Returns:
        What the run did; its lists of mismatches say what differs from the model.

    Raises:
        RuntimeError: A command or load got no answer, or failed other than by
            insufficient funds; or the ledger stopped.

    Example::

        database, database_spec = sqlite_store.supervised_database("bank.db")
        report = await run_bank(database, database_spec, accounts=10, commands=100, clients=2)
    """
    account_store = database.event_store(account_codec())
    transfer_store = database.event_store(transfer_codec())
    bank_name: process.Name[BankMessage] = process.new_name("bank")
    desk_name: process.Name[TransferMessage] = process.new_name("transfers")
    config = es.SnapshotConfig(es.frequency(snapshot_every).unwrap())
    bank_spec = es.supervised(
        bank_name, account_store, handle_account, apply_account, BankAccount(), [], config
    ).unwrap()
    # A transfer gets its few commands within moments, then none ever again: its worker
    # (and cached state) is dropped soon after, rather than kept for the default minute,
    # so that the transfers of the last minute do not pile up as live workers.
    desk_spec = es.supervised(
        desk_name,
        transfer_store,
        transfers.handle,
        transfers.apply,
        Transfer(),
        [],
        None,
        idle_timeout=TRANSFER_IDLE_S,
    ).unwrap()
    both = projections.select(account_store) | projections.select(transfer_store)
    ledger_handle, ledger_spec = projections.supervised(both, ledger.projection())
    path = database.path
    ids = account_ids(accounts)
    # Each account belongs to one client, so that its commands reach the store in the
    # order the model applies them; the operations are shared out as the accounts are.
    owned = [ids[index::clients] for index in range(min(clients, accounts))]
    counts = shares(commands, [len(mine) for mine in owned])
    model: dict[str, Decimal] = {}
    expected: dict[str, TransferStatus] = {}
    opened = rejected = done = failed = 0

    supervisor = (
        static_supervisor.new(static_supervisor.OneForOne)
        .add(database_spec)
        .add(bank_spec)
        .add(desk_spec)
        .add(ledger_spec)
    )
    async with supervisor.open():
        teller = _Teller(process.named_subject(bank_name), process.named_subject(desk_name))
        # What the ledger says at the start is all that is stored: the transfers left
        # pending, and the highest number taken.
        await _ledger_wait(ledger_handle, ledger_handle.wait_until_current())
        start = ledger_handle.statistics().handled_to
        pending = await read_ledger(path, ledger.transfers(status=TransferStatus.REQUESTED))
        numbers = itertools.count(await read_ledger(path, ledger.last_number(TRANSFER_PREFIX)) + 1)
        # Settled before any client loads a balance, so that the model starts after them.
        for row in sorted(pending.values(), key=lambda row: row.requested_at):
            request = RequestTransfer(row.from_account, row.to_account, row.amount)
            expected[row.transfer_id] = await teller.settle(row.transfer_id, request)

        async def client(index: int) -> None:
            nonlocal opened, rejected, done, failed
            # This client's accounts first: the model starts from what the store holds.
            for account_id in owned[index]:
                balance = await load_balance(teller.bank, account_id)
                if balance is None:
                    answer = await teller.account(account_id, OpenAccount(account_id))
                    if isinstance(answer, es.Error):
                        raise RuntimeError(f"cannot open {account_id!r}: {answer.error!r}")
                    opened += 1
                    balance = Decimal(0)
                model[account_id] = balance
            # Seeded per client: the same seed draws the same operations, whatever the timing.
            rng = random.Random(f"{seed}/{index}")
            for operation in random_operations(owned[index], counts[index], rng):
                if isinstance(operation, RequestTransfer):
                    transfer_id = f"{TRANSFER_PREFIX}{next(numbers)}"
                    await teller.transfer(transfer_id, operation)
                    status = expected[transfer_id] = await teller.settle(transfer_id, operation)
                    if status is TransferStatus.COMPLETED:
                        model[operation.from_account] -= operation.amount
                        model[operation.to_account] += operation.amount
                    else:
                        failed += 1
                else:
                    account_id, command = operation
                    answer = await teller.account(account_id, command)
                    if isinstance(answer, es.Ok):
                        if isinstance(command, DepositMoney):
                            model[account_id] += command.amount
                        elif isinstance(command, WithdrawMoney):
                            model[account_id] -= command.amount
                    elif answer.error == es.DomainError(CantWithdrawMoreThanCurrentBalance()):
                        rejected += 1
                    else:
                        raise RuntimeError(
                            f"{command!r} on {account_id!r} failed: "
                            f"{es.describe_error(answer.error)}"
                        )
                done += 1
                if on_command is not None:
                    on_command()

        started = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for index in range(len(owned)):
                nursery.start_soon(client, index)
        final = await _read_your_write(teller, ledger_handle, path, ids[0], seed)
        model[final.account_id] += final.amount
        seconds = time.perf_counter() - started

        mismatches = []
        for account_id in ids:
            stored = await load_balance(teller.bank, account_id)
            if stored != model[account_id]:
                mismatches.append(f"{account_id}: stored {stored}, expected {model[account_id]}")
        transfer_mismatches = []
        for transfer_id, status in expected.items():
            transfer = await load(teller.desk, transfer_id)
            stored_status = None if transfer is None else transfer.status
            if stored_status is not status:
                transfer_mismatches.append(
                    f"{transfer_id}: stored {_status(stored_status)}, expected {status.value}"
                )
        in_ledger = await read_ledger(path, ledger.accounts)
        ledger_transfers = await read_ledger(path, ledger.transfers())
        statistics = ledger_handle.statistics()
    ledger_mismatches = _ledger_mismatches(
        final, model, in_ledger, expected, ledger_transfers, start
    )
    return DemoReport(
        accounts=accounts,
        opened=opened,
        commands=done,
        rejected=rejected,
        transfers=len(expected) - len(pending),
        failed=failed,
        resumed=len(pending),
        seconds=seconds,
        sent=dict(teller.sent),
        final=final,
        ledger=statistics,
        ledger_accounts=len(in_ledger),
        ledger_transfers=dict(Counter(row.status for row in ledger_transfers.values())),
        balances=model,
        mismatches=mismatches,
        transfer_mismatches=transfer_mismatches,
        ledger_mismatches=ledger_mismatches,
    )


async def _read_your_write(
    teller: _Teller,
    handle: projections.ProjectionHandle,
    path: str,
    account_id: str,
    seed: int,
) -> ReadYourWrite:
    """The last command: a deposit that returns once the ledger has it, then the ledger read."""
    amount = Decimal(random.Random(f"{seed}/last").randint(1, 100))
    # The ledger may be behind the clients after a long run: the deadline below is for
    # the deposit alone.
    await _ledger_wait(handle, handle.wait_until_current())
    teller.sent[ACCOUNT_TYPE] += 1
    with trio.fail_after(REPLY_TIMEOUT_MS / 1000):
        outcome = await _ledger_wait(
            handle,
            es.execute_and_wait(
                teller.bank, account_id, DepositMoney(amount), consistency=[handle]
            ),
        )
    if isinstance(outcome, es.Error):
        raise RuntimeError(
            f"the last deposit on {account_id!r} failed: {es.describe_error(outcome.error)}"
        )
    # No wait here: execute_and_wait returned, so the ledger has the deposit.
    seen = await read_ledger(path, ledger.account(account_id))
    return ReadYourWrite(account_id, amount, outcome.value.position, seen)


def _ledger_mismatches(
    final: ReadYourWrite,
    model: dict[str, Decimal],
    in_ledger: dict[str, ledger.LedgerAccount],
    expected: dict[str, TransferStatus],
    ledger_transfers: dict[str, ledger.LedgerTransfer],
    start: int,
) -> list[str]:
    """What the ledger has that differs from the model (empty when all is well)."""
    found = []
    if final.seen is None or final.seen.position != final.position:
        where = "no row" if final.seen is None else f"position {final.seen.position}"
        found.append(
            f"ledger {final.account_id}: {where} right after the last deposit, "
            f"expected position {final.position}"
        )
    for account_id, balance in model.items():
        row = in_ledger.get(account_id)
        if row is None or row.balance != balance:
            shown = "no row" if row is None else f"balance {row.balance}"
            found.append(f"ledger {account_id}: {shown}, expected {balance}")
    for transfer_id, status in expected.items():
        transfer = ledger_transfers.get(transfer_id)
        if transfer is None or transfer.status is not status:
            shown = "no row" if transfer is None else transfer.status.value
            found.append(f"ledger {transfer_id}: {shown}, expected {status.value}")
    for transfer_id, transfer in ledger_transfers.items():
        if transfer.requested_at > start and transfer_id not in expected:
            found.append(f"ledger {transfer_id}: {transfer.status.value}, not requested by the run")
    return found


def _status(status: TransferStatus | None) -> str:
    return "nothing" if status is None else status.value


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``trio-eventsourcing demo`` with ``argv`` (``--help`` lists the options).

    Example::

        main(["--accounts", "10", "--commands", "1000"])
    """
    # An entry point, not a dependency: the command line sits above this example and
    # imports it, so it is looked up when run rather than imported with the module.
    cli_main: Callable[[list[str]], int] = import_module("trio_eventsourcing.__main__").main
    return cli_main(["demo", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
