"""The transfer example's proof: what was planned, and what must hold once all has settled.

A plan of transfers between ``ACCOUNTS`` accounts: one in ten asks for more than the
bank holds (its withdrawal is rejected), and the other bank confirms the credits of two
transfers in three and never the third (those are refunded after the deadline). Once
the manager has nothing left to do, :func:`check` reads the stores and asserts that the
money is where it was, that each transfer ended once, completed or failed as planned,
and that no command was applied twice: each transfer, credit and money move is in the
log exactly as often as the example makes it.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

import trio

import trio_eventsourcing as eventsourcing
from tests.process_managers.transfer_bank import Bank, answered, balance, ok
from trio_eventsourcing import Ok
from trio_eventsourcing.examples import bank_account
from trio_eventsourcing.examples.bank_account import (
    CustomerDepositedCash,
    CustomerWithdrewCash,
    OpenAccount,
)
from trio_eventsourcing.examples.credits import CreditRequested
from trio_eventsourcing.examples.transfers import RequestTransfer, TransferStatus

ACCOUNTS = 20
OPENING = Decimal(1_000)


@dataclass(frozen=True)
class Plan:
    """Transfers to request: ``(id, source, destination, amount)`` each."""

    transfers: list[tuple[str, str, str, Decimal]]
    short: set[str]
    """Those asking for more than the source holds."""
    confirmed: set[str]
    """Those whose credit the other bank confirms."""

    @property
    def accounts(self) -> list[str]:
        """The accounts the transfers move money between."""
        return [f"account-{n}" for n in range(ACCOUNTS)]


def plan(count: int, seed: int = 7) -> Plan:
    """A plan of ``count`` transfers, the same for the same seed."""
    rng = random.Random(seed)
    accounts = [f"account-{n}" for n in range(ACCOUNTS)]
    transfers = []
    for n in range(count):
        source, destination = rng.sample(accounts, 2)
        amount = Decimal(50_000 if n % 10 == 0 else rng.randint(1, 60))
        transfers.append((f"transfer-{n}", source, destination, amount))
    short = {transfer for transfer, _, _, amount in transfers if amount > OPENING * ACCOUNTS}
    confirmed = {transfer for transfer, *_ in transfers if int(transfer.split("-")[1]) % 3}
    return Plan(transfers, short, confirmed)


async def open_accounts(the_bank: Bank, planned: Plan) -> None:
    """Open every account of the plan with ``OPENING`` in it."""
    for account in planned.accounts:
        opening = eventsourcing.execute_with_response(
            the_bank.accounts, account, OpenAccount(account), []
        )
        await ok(opening)
        deposit = bank_account.DepositMoney(OPENING)
        await ok(eventsourcing.execute_with_response(the_bank.accounts, account, deposit, []))


async def request_all(the_bank: Bank, planned: Plan) -> None:
    """Request every transfer of the plan at once, each with its id as correlation id.

    Each request is sent again, under its key, until the system answers.
    """

    async def client(transfer: str, source: str, destination: str, amount: Decimal) -> None:
        command = RequestTransfer(source, destination, amount)
        requested = await answered(
            lambda: eventsourcing.execute_with_response(
                the_bank.transfers,
                transfer,
                command,
                [],
                idempotency_key=f"request-{transfer}",
                correlation_id=transfer,
            )
        )
        assert isinstance(requested, Ok), (transfer, requested)

    async with trio.open_nursery() as clients:
        for transfer in planned.transfers:
            clients.start_soon(client, *transfer)


async def check(the_bank: Bank, planned: Plan, *, confirmations_in_time: bool = True) -> None:
    """Assert what must hold once every transfer has ended (see the module docstring).

    A transfer completes exactly when its credit was confirmed, and is refunded exactly
    when it was cancelled. ``confirmations_in_time``: every confirmation the other bank
    sent beat its transfer's deadline, so the transfers that complete are exactly those
    planned to. Without it (a manager crashed over and over may send its credit request
    so late that the deadline passes first), a planned confirmation may lose to the
    cancellation, and that transfer is refunded: only those planned complete.
    """
    statuses: dict[str, TransferStatus | None] = {}
    for transfer, *_ in planned.transfers:
        loaded = await ok(eventsourcing.load_aggregate(the_bank.transfers, transfer))
        assert isinstance(loaded, eventsourcing.Aggregate)
        statuses[transfer] = loaded.entity.status
    accounts = planned.accounts
    total = sum([await balance(the_bank, account) for account in accounts], Decimal(0))
    moves: dict[str, list[tuple[str, str]]] = defaultdict(list)
    events: dict[tuple[str, str], list[str]] = defaultdict(list)
    for entry in await the_bank.log():
        envelope = entry.envelope
        payload = envelope.payload
        if isinstance(payload, (CustomerWithdrewCash, CustomerDepositedCash)):
            correlation = envelope.correlation_id
            if correlation.startswith("transfer-"):
                moves[correlation].append((type(payload).__name__, envelope.aggregate_id))
        elif entry.aggregate_type != "bank_account":
            events[(entry.aggregate_type, envelope.aggregate_id)].append(type(payload).__name__)
    short, confirmed = planned.short, planned.confirmed
    completed = {t for t, status in statuses.items() if status is TransferStatus.COMPLETED}
    assert total == OPENING * ACCOUNTS
    assert set(statuses.values()) <= {TransferStatus.COMPLETED, TransferStatus.FAILED}
    assert completed <= confirmed - short
    if confirmations_in_time:
        assert completed == confirmed - short
    else:
        # Most still beat the deadline: the proof is not vacuous.
        assert len(completed) >= len(confirmed - short) // 2, (len(completed), len(confirmed))
    for transfer, source, destination, _ in planned.transfers:
        credit = events.get(("credit", transfer), [])
        if transfer in short:
            # Failed for want of money: no credit, no money moved.
            assert credit == [], transfer
            assert moves.get(transfer, []) == [], transfer
            assert events[("transfer", transfer)] == ["TransferRequested", "TransferFailed"]
            continue
        # Requested once; then confirmed or cancelled, once; and each money move once:
        # completed, out of the source and into the destination; else refunded, out of
        # the source and back.
        ended = "TransferCompleted" if transfer in completed else "TransferFailed"
        answer = "CreditConfirmed" if transfer in completed else "CreditCancelled"
        back_to = destination if transfer in completed else source
        assert credit == [CreditRequested.__name__, answer], (transfer, credit)
        assert moves.get(transfer) == [
            ("CustomerWithdrewCash", source),
            ("CustomerDepositedCash", back_to),
        ], (transfer, moves.get(transfer))
        assert events[("transfer", transfer)] == ["TransferRequested", ended], transfer
