"""A money transfer as a process manager: debit, credit, and refund when the credit fails.

Three aggregate types: bank accounts (``examples.bank_account``), transfers
(``examples.transfers``) and credits to the destination (``examples.credits``), which the
destination's bank confirms, or not. A transfer is requested with its id (beginning
``transfer-``) as correlation id; then, for that instance, the manager:

1. on ``TransferRequested``: withdraws the amount from the source account;
2. on the source's ``CustomerWithdrewCash``: requests the credit, and sets a deadline;
3. on ``CreditConfirmed``: deposits the amount into the destination account;
4. on the destination's ``CustomerDepositedCash``: completes the transfer;
5. when the deadline passes before the confirmation: cancels the credit; on
   ``CreditCancelled``, deposits the amount back into the source (a refund), then
   fails the transfer. A credit is confirmed or cancelled, never both: the refund is
   made only for a credit that is surely not made;
6. when the withdrawal is rejected (not enough money): fails the transfer; when the
   deposit is rejected (no such account): refunds, then fails the transfer;
7. on ``TransferCompleted`` or ``TransferFailed``: ends.

The commands it sends carry the transfer's correlation id, so the account events they
cause are routed back to the transfer (:func:`route`); a credit's id is its transfer's.

On a durable store the manager keeps each transfer's process with
:func:`process_codec`, and must know the systems it sends to.

Example::

    manager = process_managers.process_manager(
        "transfers",
        projections.select(transfers) | projections.select(accounts)
        | projections.select(credits),
        route=route,
        initial=TransferProcess,
        handle=transfer_process(accounts_target, transfers_target, credits_target),
        targets=[accounts_target, transfers_target, credits_target],
        codec=process_codec(),
    )
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, TypeAlias

from ..codec import JsonCodec
from ..process_managers import (
    CancelTimer,
    CommandRejected,
    Decision,
    Send,
    SetTimer,
    Target,
    TimerFired,
)
from ..projections import LogRecord
from .bank_account import (
    BankAccountCommand,
    BankAccountEvent,
    CustomerDepositedCash,
    CustomerWithdrewCash,
    DepositMoney,
    OpenAccount,
    WithdrawMoney,
)
from .credits import (
    CancelCredit,
    ConfirmCredit,
    CreditCancelled,
    CreditCommand,
    CreditConfirmed,
    CreditEvent,
    RequestCredit,
)
from .transfers import (
    CompleteTransfer,
    FailTransfer,
    RequestTransfer,
    TransferCommand,
    TransferCompleted,
    TransferEvent,
    TransferFailed,
    TransferRequested,
)

DEADLINE = "credit-deadline"
"""The timer after which a credit not yet confirmed is cancelled and the source refunded."""

DEADLINE_S = 30.0
"""Seconds from the withdrawal to the credit's confirmation before the transfer is refunded."""

TRANSFER_PREFIX = "transfer-"
"""A transfer's id begins with it, so a correlation id that does is a transfer's."""

TransferHappening: TypeAlias = (
    TransferEvent | BankAccountEvent | CreditEvent | TimerFired | CommandRejected
)
"""What a transfer's process is told."""


class Step(enum.Enum):
    """Where a transfer's process is.

    Example::

        assert Step("new") is Step.NEW
    """

    NEW = "new"
    WITHDRAWING = "withdrawing"
    CREDITING = "crediting"
    CANCELLING = "cancelling"
    DEPOSITING = "depositing"
    REFUNDING = "refunding"
    ENDING = "ending"


@dataclass(frozen=True, slots=True)
class TransferProcess:
    """The state of one transfer's process.

    Example::

        assert TransferProcess("transfer-1").step is Step.NEW
    """

    transfer_id: str
    step: Step = Step.NEW
    from_account: str = ""
    to_account: str = ""
    amount: Decimal = Decimal(0)


def process_codec() -> JsonCodec[Any, TransferProcess]:
    """The codec a durable store keeps the transfers' process with.

    Its events are the commands the manager may send (every command of the three
    systems), its entity the state of a transfer's process.

    Example::

        codec = process_codec()
        stored = codec.encode_entity(TransferProcess("transfer-1"))
        assert codec.decode_entity(stored.type_name, stored.version, stored.data) == (
            TransferProcess("transfer-1")
        )
    """
    commands = (
        (OpenAccount, DepositMoney, WithdrawMoney),
        (RequestTransfer, CompleteTransfer, FailTransfer),
        (RequestCredit, ConfirmCredit, CancelCredit),
    )
    return JsonCodec[Any, TransferProcess](
        events=[command for system in commands for command in system],
        entities=[TransferProcess],
        aggregate_type="transfer-process",
    )


def route(entry: LogRecord[TransferEvent | BankAccountEvent | CreditEvent]) -> str | None:
    """The transfer an entry is for, or ``None``.

    A transfer's and a credit's events are their transfer's (a credit's id is its
    transfer's); an account's events are the transfer's whose id is their correlation.

    Example::

        route(entry)  # "transfer-7", or None for an account event of no transfer
    """
    payload = entry.envelope.payload
    if isinstance(
        payload,
        (TransferRequested, TransferCompleted, TransferFailed, CreditConfirmed, CreditCancelled),
    ):
        return entry.envelope.aggregate_id
    correlation = getattr(entry.envelope, "correlation_id", "")
    is_account_event = isinstance(payload, (CustomerWithdrewCash, CustomerDepositedCash))
    return correlation if is_account_event and correlation.startswith(TRANSFER_PREFIX) else None


def transfer_process(
    accounts: Target[BankAccountCommand],
    transfers: Target[TransferCommand],
    credits: Target[CreditCommand],
    deadline: float = DEADLINE_S,
) -> Callable[[TransferProcess, TransferHappening], Decision[TransferProcess]]:
    """The ``handle`` of the transfers' process manager, sending to these systems.

    ``deadline``: seconds from the withdrawal to the credit's confirmation.

    Example::

        decide = transfer_process(accounts, transfers, credits)
        decide(TransferProcess("transfer-1"), TransferRequested("a", "b", Decimal(5)))
    """

    def fail(state: TransferProcess, reason: str) -> Decision[TransferProcess]:
        return Decision(
            replace(state, step=Step.ENDING),
            send=[Send(transfers, state.transfer_id, FailTransfer(reason))],
            timers=[CancelTimer(DEADLINE)],
        )

    def refund(state: TransferProcess) -> Decision[TransferProcess]:
        back = Send(accounts, state.from_account, DepositMoney(state.amount))
        return Decision(replace(state, step=Step.REFUNDING), send=[back])

    def decide(state: TransferProcess, happened: TransferHappening) -> Decision[TransferProcess]:
        step = state.step
        match happened:
            case TransferRequested(from_account, to_account, amount) if step is Step.NEW:
                started = replace(
                    state,
                    step=Step.WITHDRAWING,
                    from_account=from_account,
                    to_account=to_account,
                    amount=amount,
                )
                return Decision(started, send=[Send(accounts, from_account, WithdrawMoney(amount))])
            case CustomerWithdrewCash() if step is Step.WITHDRAWING:
                credit = Send(
                    credits, state.transfer_id, RequestCredit(state.to_account, state.amount)
                )
                return Decision(
                    replace(state, step=Step.CREDITING),
                    send=[credit],
                    timers=[SetTimer(DEADLINE, deadline)],
                )
            case CommandRejected(send=Send(command=WithdrawMoney())) if step is Step.WITHDRAWING:
                return fail(state, "not enough money in the source account")
            case CreditConfirmed() if step in (Step.CREDITING, Step.CANCELLING):
                deposit = Send(accounts, state.to_account, DepositMoney(state.amount))
                return Decision(
                    replace(state, step=Step.DEPOSITING),
                    send=[deposit],
                    timers=[CancelTimer(DEADLINE)],
                )
            case TimerFired(name=timer) if timer == DEADLINE and step is Step.CREDITING:
                cancel = Send(credits, state.transfer_id, CancelCredit())
                return Decision(replace(state, step=Step.CANCELLING), send=[cancel])
            case CreditCancelled() if step is Step.CANCELLING:
                return refund(state)
            case CustomerDepositedCash() if step is Step.DEPOSITING:
                complete = Send(transfers, state.transfer_id, CompleteTransfer())
                return Decision(replace(state, step=Step.ENDING), send=[complete])
            case CommandRejected(send=Send(command=DepositMoney())) if step is Step.DEPOSITING:
                return refund(state)
            case CustomerDepositedCash() if step is Step.REFUNDING:
                return fail(state, "refunded: the credit was not made")
            case TransferCompleted() | TransferFailed():
                return Decision(state, done=True)
            case _:
                # A cancellation the confirmation beat (or the other way round), or an
                # event this step does not wait for: nothing to do.
                return Decision(state)

    return decide
