"""A transfer between two bank accounts, as a typed Python domain: the demo's second type.

A transfer is requested with where the money goes from and to and how much; it is then
completed or failed, once. It holds no money itself: whoever runs it withdraws from one
account and deposits into the other (see ``examples.demo``), and records the outcome here.

Example::

    transfer = Transfer()
    request = RequestTransfer("account-1", "account-2", Decimal(5))
    for command in (request, CompleteTransfer()):
        for event in handle(transfer, command).unwrap():
            transfer = apply(transfer, event)
    assert transfer.status is TransferStatus.COMPLETED
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from enum import Enum
from typing import TypeAlias

from typing_extensions import assert_never

from ..result import Error, Ok, Result


class TransferStatus(Enum):
    """Where a transfer is: requested, then completed or failed.

    Example::

        assert TransferStatus("completed") is TransferStatus.COMPLETED
    """

    REQUESTED = "requested"
    COMPLETED = "completed"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Transfer:
    """The state of one transfer; ``status`` is ``None`` until it is requested.

    Example::

        assert Transfer().status is None
    """

    status: TransferStatus | None = None
    from_account: str = ""
    to_account: str = ""
    amount: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class RequestTransfer:
    """Ask to move ``amount`` from one account to another.

    Example::

        RequestTransfer("account-1", "account-2", Decimal(5))
    """

    from_account: str
    to_account: str
    amount: Decimal


@dataclass(frozen=True, slots=True)
class CompleteTransfer:
    """Record that the money has moved.

    Example::

        CompleteTransfer()
    """


@dataclass(frozen=True, slots=True)
class FailTransfer:
    """Record that the money could not move, and why.

    Example::

        FailTransfer("insufficient funds")
    """

    reason: str


TransferCommand: TypeAlias = RequestTransfer | CompleteTransfer | FailTransfer


@dataclass(frozen=True, slots=True)
class TransferRequested:
    """The transfer was asked for.

    Example::

        TransferRequested("account-1", "account-2", Decimal(5))
    """

    from_account: str
    to_account: str
    amount: Decimal


@dataclass(frozen=True, slots=True)
class TransferCompleted:
    """The money moved.

    Example::

        TransferCompleted()
    """


@dataclass(frozen=True, slots=True)
class TransferFailed:
    """The money did not move, for ``reason``.

    Example::

        TransferFailed("insufficient funds")
    """

    reason: str


TransferEvent: TypeAlias = TransferRequested | TransferCompleted | TransferFailed


@dataclass(frozen=True, slots=True)
class TransferAlreadyRequested:
    """A request for a transfer that exists already.

    Example::

        failed = Transfer(TransferStatus.FAILED, "a", "b", Decimal(1))
        command = RequestTransfer("a", "b", Decimal(1))
        assert handle(failed, command) == Error(TransferAlreadyRequested())
    """


@dataclass(frozen=True, slots=True)
class TransferNotPending:
    """An outcome for a transfer that was never requested, or has one already.

    Example::

        assert handle(Transfer(), CompleteTransfer()) == Error(TransferNotPending())
    """


@dataclass(frozen=True, slots=True)
class CantTransferToSameAccount:
    """A transfer from an account to itself.

    Example::

        command = RequestTransfer("a", "a", Decimal(1))
        assert handle(Transfer(), command) == Error(CantTransferToSameAccount())
    """


@dataclass(frozen=True, slots=True)
class CantTransferNonPositiveAmount:
    """A transfer of zero or less.

    Example::

        command = RequestTransfer("a", "b", Decimal(0))
        assert handle(Transfer(), command) == Error(CantTransferNonPositiveAmount())
    """


TransferError: TypeAlias = (
    TransferAlreadyRequested
    | TransferNotPending
    | CantTransferToSameAccount
    | CantTransferNonPositiveAmount
)


def handle(
    transfer: Transfer, command: TransferCommand
) -> Result[list[TransferEvent], TransferError]:
    """Decide the events of ``command`` on ``transfer``, or reject it.

    Example::

        events = handle(Transfer(), RequestTransfer("a", "b", Decimal(5))).unwrap()
        assert events == [TransferRequested("a", "b", Decimal(5))]
    """
    event: TransferEvent
    match command:
        case RequestTransfer(from_account, to_account, amount):
            if transfer.status is not None:
                return Error(TransferAlreadyRequested())
            if from_account == to_account:
                return Error(CantTransferToSameAccount())
            if amount <= 0:
                return Error(CantTransferNonPositiveAmount())
            event = TransferRequested(from_account, to_account, amount)
        case CompleteTransfer():
            if transfer.status is not TransferStatus.REQUESTED:
                return Error(TransferNotPending())
            event = TransferCompleted()
        case FailTransfer(reason):
            if transfer.status is not TransferStatus.REQUESTED:
                return Error(TransferNotPending())
            event = TransferFailed(reason)
        case _:
            assert_never(command)
    return Ok([event])


def apply(transfer: Transfer, event: TransferEvent) -> Transfer:
    """Return ``transfer`` after ``event``.

    Example::

        requested = apply(Transfer(), TransferRequested("a", "b", Decimal(5)))
        assert apply(requested, TransferCompleted()).status is TransferStatus.COMPLETED
    """
    match event:
        case TransferRequested(from_account, to_account, amount):
            return Transfer(TransferStatus.REQUESTED, from_account, to_account, amount)
        case TransferCompleted():
            return replace(transfer, status=TransferStatus.COMPLETED)
        case TransferFailed():
            return replace(transfer, status=TransferStatus.FAILED)
        case _:
            assert_never(event)
