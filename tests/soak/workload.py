"""The soak's workload: concurrent clients moving money, and the ledger of what they heard.

Every command carries a unique op id in its metadata (``("op", id)``) and, unless the run
is a control run without keys, the same id as its idempotency key. The ledger records
what each client was told, and so what the store has promised:

- ``ACKNOWLEDGED``: ``Ok(None)``, stored exactly once;
- ``REJECTED``: a domain error (insufficient funds), not stored;
- ``FAILED``: any other error on the first answer, not stored;
- ``UNRESOLVED``: the outcome stayed unknown, stored at most once.

``OutcomeUnknown`` and a reply that does not come in time leave the outcome unknown: the
client asks again with the same key (after a short pause, for a bounded time) until an
answer settles it. After an unknown, only ``Ok`` (stored once) or a domain error (the
key was not found and the command ran, and was rejected) settles it; another failure
says nothing of the earlier attempt, so the client asks again.
"""

from __future__ import annotations

import contextlib
import enum
import random
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import trio

import trio_eventsourcing as eventsourcing
from trio_eventsourcing import (
    DomainError,
    Error,
    Ok,
    OutcomeUnknown,
    Receipt,
    describe_error,
    process,
    static_supervisor,
    supervision,
)
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
    WithdrawMoney,
    apply,
    handle,
)

ACCOUNTS = 20
CLIENTS = 30
OP_KEY = "op"
"""The metadata key of the op id."""

BankMessage = eventsourcing.AggregateMessage[
    BankAccount, BankAccountCommand, BankAccountEvent, BankAccountError
]
BankActor = process.Subject[BankMessage]
BankSystem = eventsourcing.System[
    BankAccount, BankAccountCommand, BankAccountEvent, BankAccountError
]

CODEC: JsonCodec[BankAccountEvent, BankAccount] = JsonCodec(
    events=[AccountOpened, CustomerDepositedCash, CustomerWithdrewCash],
    entities=[BankAccount],
    aggregate_type="bank_account",
)

REASK_PAUSE_S = (0.02, 0.2)
"""Bounds of the random pause before asking again after an unknown outcome."""

SNAPSHOT_EVERY = 5
"""Snapshots are taken often, so that faults also meet commits that save one."""

BankStore = eventsourcing.EventStore[Any, BankAccount, BankAccountEvent, Any]
"""A store of the bank account, whichever its own state and transaction types."""


STATEMENT_CODEC: JsonCodec[BankAccountEvent, BankAccount] = JsonCodec(
    events=[AccountOpened, CustomerDepositedCash, CustomerWithdrewCash],
    entities=[BankAccount],
    aggregate_type="bank_statement",
)
"""A second aggregate type, with the account's events: the same ids meet in one store."""


@dataclass(frozen=True)
class Bank:
    """A running bank-account system, its aggregate type and the accounts its clients use.

    ``system`` is its Trio-native face, ``actor`` the seed's Subject of the same system:
    the clients use both, in turn, on the same accounts.
    """

    system: BankSystem
    accounts: list[str]
    aggregate_type: str = CODEC.aggregate_type

    @property
    def actor(self) -> BankActor:
        return self.system.subject


@contextlib.asynccontextmanager
async def running_bank(
    store: BankStore,
    store_spec: supervision.ChildSpecification[object] | None,
    accounts: list[str] | None = None,
    aggregate_type: str = CODEC.aggregate_type,
) -> AsyncIterator[Bank]:
    """The bank-account system on ``store``, under a supervisor, for the block.

    ``store_spec`` is started first in the same supervisor (``None``: another one runs
    the store). ``accounts``: the aggregates its clients use (by default
    ``account_ids()``), of ``aggregate_type``.
    """
    async with contextlib.AsyncExitStack() as stack:
        if store_spec is not None:
            store_supervisor = static_supervisor.new(static_supervisor.OneForOne).add(store_spec)
            await stack.enter_async_context(store_supervisor.open())
        system = await stack.enter_async_context(
            eventsourcing.open_system(
                store, handle, apply, BankAccount(), snapshot_every=SNAPSHOT_EVERY, name="soak-bank"
            )
        )
        yield Bank(system, account_ids() if accounts is None else accounts, aggregate_type)


def account_ids(prefix: str = "acc", count: int = ACCOUNTS) -> list[str]:
    return [f"{prefix}-{index:02d}" for index in range(count)]


class Verdict(enum.Enum):
    """What the answers a client received promise about its command."""

    ACKNOWLEDGED = "acknowledged"
    REJECTED = "rejected"
    FAILED = "failed"
    UNRESOLVED = "unresolved"


@dataclass
class Op:
    """One command a client sent, and what it was told."""

    op_id: str
    account: str
    command: BankAccountCommand
    verdict: Verdict | None = None
    unknowns: int = 0
    """Answers that left the outcome unknown (``OutcomeUnknown`` or no reply in time)."""
    timeouts: int = 0
    """Of those, replies that did not come in time."""
    errors: list[str] = field(default_factory=list)
    """Every error answer, described."""
    receipt: Receipt | None = None
    """The receipt of its acknowledgement, when it was asked with a key in this process."""

    def describe(self) -> str:
        errors = "; ".join(self.errors[-3:])
        return (
            f"{self.op_id} on {self.account} ({self.command!r}): {self.verdict}, "
            f"{self.unknowns} unknown, {self.timeouts} timed out{': ' + errors if errors else ''}"
        )


class Ledger:
    """Every op of a run, by op id."""

    def __init__(self) -> None:
        self.ops: dict[str, Op] = {}
        self.key_mismatches: list[str] = []
        """``OutcomeUnknown`` answers naming another idempotency key than the one sent."""
        self.error_answers = 0
        """Answers that were neither ``Ok`` nor a domain error (no reply in time included)."""
        self.failures: Counter[str] = Counter()
        """``FAILED`` ops by the type of the error that failed them."""
        self.examples: dict[str, str] = {}
        """The first op failed with each distinct error (first 160 characters)."""
        self._changed = trio.Event()

    def changed(self) -> None:
        """Called on every answer and verdict: wakes :meth:`wait_until`."""
        self._changed.set()
        self._changed = trio.Event()

    async def wait_until(self, condition: Callable[[Ledger], bool]) -> None:
        """Wait until ``condition(self)`` holds, checking it after every answer."""
        while not condition(self):
            await self._changed.wait()

    def new(self, op_id: str, account: str, command: BankAccountCommand) -> Op:
        if op_id in self.ops:
            raise ValueError(f"op id {op_id!r} used twice")
        op = Op(op_id, account, command)
        self.ops[op_id] = op
        return op

    def failure_examples(self, limit: int = 10) -> list[str]:
        """One line per distinct error that failed an op (the first ``limit``)."""
        return [f"failed: {error} (first: {op})" for error, op in self.examples.items()][:limit]

    def verdicts(self) -> Counter[Verdict | None]:
        return Counter(op.verdict for op in self.ops.values())

    def summary(self) -> str:
        """Counts of the ops by what the clients were told."""
        verdicts = self.verdicts()
        ops = self.ops.values()
        kinds = ",".join(f"{kind}:{count}" for kind, count in self.failures.most_common())
        resolved = sum(
            1
            for op in ops
            if op.unknowns and op.verdict in (Verdict.ACKNOWLEDGED, Verdict.REJECTED)
        )
        return (
            f"commands={len(self.ops)} acknowledged={verdicts[Verdict.ACKNOWLEDGED]} "
            f"rejected={verdicts[Verdict.REJECTED]} failed={verdicts[Verdict.FAILED]} "
            f"unknown_resolved={resolved} unresolved={verdicts[Verdict.UNRESOLVED]} "
            f"reply_timeouts={sum(op.timeouts for op in ops)}"
            + (f" failed_by={kinds}" if kinds else "")
        )


@dataclass(frozen=True)
class Asking:
    """How clients ask: with keys or not, how long they wait for a reply, until when."""

    keys: bool
    reply_ms: int
    resolve_until: float
    """``trio.current_time()`` after which an unknown outcome is left unresolved."""


async def ask(actor: BankActor | BankSystem, ledger: Ledger, op: Op, asking: Asking) -> None:
    """Send ``op``'s command, asking again while its outcome is unknown; set its verdict.

    Through the seed's Subject (``execute_with_receipt``) or the Trio-native
    ``System.execute``, whichever ``actor`` is.
    """
    try:
        await _ask(actor, ledger, op, asking)
    finally:
        ledger.changed()


async def _ask(actor: BankActor | BankSystem, ledger: Ledger, op: Op, asking: Asking) -> None:
    key = op.op_id if asking.keys else None
    while True:
        match await _answer(actor, op, key, asking.reply_ms):
            case Ok(Ok(None)):
                op.verdict = Verdict.ACKNOWLEDGED
                return
            case Ok(Ok(Receipt() as receipt)):
                op.verdict = Verdict.ACKNOWLEDGED
                op.receipt = receipt
                return
            case Ok(Error(DomainError() as error)):
                op.errors.append(describe_error(error))
                op.verdict = Verdict.REJECTED
                return
            case Ok(Error(OutcomeUnknown() as error)):
                ledger.error_answers += 1
                op.errors.append(describe_error(error))
                op.unknowns += 1
                if key is not None and error.idempotency_key != key:
                    ledger.key_mismatches.append(f"{op.op_id}: {error!r}")
            case Ok(Error(error)):
                ledger.error_answers += 1
                op.errors.append(describe_error(error))
                if not op.unknowns:
                    op.verdict = Verdict.FAILED
                    ledger.failures[type(error).__name__] += 1
                    ledger.examples.setdefault(describe_error(error)[:160], op.op_id)
                    return
                # Says nothing about the attempt whose outcome is unknown: ask again.
            case Error(None):
                ledger.error_answers += 1
                op.errors.append(f"no reply within {asking.reply_ms} ms")
                op.unknowns += 1
                op.timeouts += 1
        ledger.changed()
        if key is None or trio.current_time() >= asking.resolve_until:
            op.verdict = Verdict.UNRESOLVED
            return
        await trio.sleep(random.uniform(*REASK_PAUSE_S))


async def _answer(actor: BankActor | BankSystem, op: Op, key: str | None, reply_ms: int) -> Any:
    """One attempt at ``op``, answered as the seed answers.

    ``Ok(Ok(...))``, ``Ok(Error(error))``, or ``Error(None)`` for no answer within
    ``reply_ms``.
    """
    metadata = [(OP_KEY, op.op_id)]
    if isinstance(actor, eventsourcing.System):
        try:
            # A deadline that passes before the command begins skips it; a begun one
            # runs to its end and answers.
            with trio.fail_after(reply_ms / 1000):
                receipt = await actor.execute(
                    op.account, op.command, metadata=metadata, idempotency_key=key
                )
            # Without a key (the control run), an acknowledgement only, as the seed's
            # ``execute_with_response`` answers: the checker holds receipts to their key.
            return Ok(Ok(None if key is None else receipt))
        except eventsourcing.EventSourcingException as failure:
            return Ok(Error(failure.reason))
        except trio.TooSlowError:
            return Error(None)
    reply: process.Subject[Any]
    if key is None:
        # The control run uses the API as it was before idempotency keys.
        reply = eventsourcing.execute_with_response(actor, op.account, op.command, metadata)
    else:
        # With a key, ask for the receipt: the checker holds it against the stored rows.
        reply = eventsourcing.execute_with_receipt(
            actor, op.account, op.command, metadata, idempotency_key=key
        )
    return await process.receive(reply, reply_ms)


def random_command(rng: random.Random) -> BankAccountCommand:
    amount = Decimal(rng.randint(1, 100))
    return DepositMoney(amount) if rng.random() < 0.55 else WithdrawMoney(amount)


class Deadline:
    """When clients stop sending new commands (``trio.current_time()``); it may be moved."""

    def __init__(self, at: float) -> None:
        self.at = at


async def run_client(
    bank: Bank,
    ledger: Ledger,
    rng: random.Random,
    prefix: str,
    until: Deadline,
    asking: Asking,
) -> None:
    """Send random commands to random accounts, one at a time, until ``until``."""
    n = 0
    while trio.current_time() < until.at:
        op = ledger.new(f"{prefix}-{n}", rng.choice(bank.accounts), random_command(rng))
        n += 1
        # Both faces in turn, on the same accounts: the native one runs a command of an
        # idle aggregate in this task, the seed's always through the aggregate's worker.
        await ask(bank.system if n % 2 else bank.actor, ledger, op, asking)


async def open_accounts(bank: Bank, ledger: Ledger, prefix: str, asking: Asking) -> None:
    """Open every account (a domain error if it is open already), all at once."""
    async with trio.open_nursery() as nursery:
        for account in bank.accounts:
            op = ledger.new(f"{prefix}open-{account}", account, OpenAccount(account))
            nursery.start_soon(ask, bank.actor, ledger, op, asking)


async def run_clients(
    bank: Bank,
    ledger: Ledger,
    seed: int,
    prefix: str,
    until: Deadline,
    asking: Asking,
    clients: int = CLIENTS,
) -> None:
    """Run ``clients`` concurrent clients until ``until``; each settles its last op."""
    async with trio.open_nursery() as nursery:
        for index in range(clients):
            rng = random.Random(f"{seed}-{prefix}-{index}")
            nursery.start_soon(run_client, bank, ledger, rng, f"{prefix}c{index}", until, asking)


async def load_served(
    bank: Bank, timeout_ms: int
) -> tuple[dict[str, eventsourcing.Aggregate[BankAccount] | None], list[str]]:
    """What the system serves for each account (by ``"<type>:<id>"``), and the loads that
    failed.

    A load is answered after every command sent to its account before it, so once all
    loads are answered, no command of the run is still in flight.
    """
    served: dict[str, eventsourcing.Aggregate[BankAccount] | None] = {}
    failures: list[str] = []

    async def load(account: str) -> None:
        loading = eventsourcing.load_aggregate(bank.actor, account)
        answer = await process.receive(loading, timeout_ms)
        match answer:
            case Ok(Ok(aggregate)):
                served[f"{bank.aggregate_type}:{account}"] = aggregate
            case Ok(Error(eventsourcing.EntityNotFound())):
                served[f"{bank.aggregate_type}:{account}"] = None
            case Ok(Error(error)):
                failures.append(f"load_aggregate({account!r}): {describe_error(error)}")
            case Error(None):
                failures.append(f"load_aggregate({account!r}): no reply within {timeout_ms} ms")

    async with trio.open_nursery() as nursery:
        for account in bank.accounts:
            nursery.start_soon(load, account)
    return served, failures


async def final_commands(bank: Bank, ledger: Ledger, prefix: str, asking: Asking) -> list[str]:
    """One deposit on every account, each to be acknowledged at the first answer.

    Returns a description of each one that was not: the system must serve again, without
    a restart, once the faults have stopped.
    """
    ops = [ledger.new(f"{prefix}final-{a}", a, DepositMoney(Decimal(1))) for a in bank.accounts]
    async with trio.open_nursery() as nursery:
        for op in ops:
            nursery.start_soon(ask, bank.actor, ledger, op, asking)
    return [op.describe() for op in ops if op.verdict is not Verdict.ACKNOWLEDGED or op.unknowns]
