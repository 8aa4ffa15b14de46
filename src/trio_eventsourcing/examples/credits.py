"""A credit to another bank, confirmed by it or cancelled, whichever comes first.

The process manager of ``examples.transfer_process`` requests a credit for each transfer
whose money has left the source account; the other bank confirms it some time later, or
never. When the transfer's deadline passes first, the manager cancels the credit. Only
one of the two can happen: a credit confirmed cannot be cancelled, nor one cancelled
confirmed. So the manager refunds the source only when the credit is surely not made.

Example::

    credit = Credit()
    for command in (RequestCredit("account-2", Decimal(5)), ConfirmCredit()):
        for event in handle(credit, command).unwrap():
            credit = apply(credit, event)
    assert credit.status is CreditStatus.CONFIRMED
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TypeAlias

from typing_extensions import assert_never

from ..codec import JsonCodec
from ..result import Error, Ok, Result

CREDIT_TYPE = "credit"
"""The aggregate type of credits."""


class CreditStatus(enum.Enum):
    """Where a credit is: requested, then confirmed or cancelled.

    Example::

        assert CreditStatus("confirmed") is CreditStatus.CONFIRMED
    """

    REQUESTED = "requested"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class Credit:
    """The state of one credit; ``status`` is ``None`` until it is requested.

    Example::

        assert Credit().status is None
    """

    status: CreditStatus | None = None
    to_account: str = ""
    amount: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class RequestCredit:
    """Ask the other bank to credit ``amount`` to ``to_account``.

    Example::

        RequestCredit("account-2", Decimal(5))
    """

    to_account: str
    amount: Decimal


@dataclass(frozen=True, slots=True)
class ConfirmCredit:
    """The other bank made the credit.

    Example::

        ConfirmCredit()
    """


@dataclass(frozen=True, slots=True)
class CancelCredit:
    """Withdraw the request: the credit will not be made.

    Example::

        CancelCredit()
    """


CreditCommand: TypeAlias = RequestCredit | ConfirmCredit | CancelCredit


@dataclass(frozen=True, slots=True)
class CreditRequested:
    """The credit was asked for.

    Example::

        CreditRequested("account-2", Decimal(5))
    """

    to_account: str
    amount: Decimal


@dataclass(frozen=True, slots=True)
class CreditConfirmed:
    """The credit was made.

    Example::

        CreditConfirmed("account-2", Decimal(5))
    """

    to_account: str
    amount: Decimal


@dataclass(frozen=True, slots=True)
class CreditCancelled:
    """The credit will not be made.

    Example::

        CreditCancelled()
    """


CreditEvent: TypeAlias = CreditRequested | CreditConfirmed | CreditCancelled


@dataclass(frozen=True, slots=True)
class CreditNotPending:
    """The credit is not requested, or is confirmed or cancelled already.

    Example::

        CreditNotPending(CreditStatus.CANCELLED)
    """

    status: CreditStatus | None


def handle(credit: Credit, command: CreditCommand) -> Result[list[CreditEvent], CreditNotPending]:
    """Decide the events of ``command`` on ``credit``, or reject it.

    Example::

        handle(Credit(), RequestCredit("account-2", Decimal(5)))
    """
    event: CreditEvent
    match command:
        case RequestCredit(to_account, amount):
            if credit.status is not None:
                return Error(CreditNotPending(credit.status))
            event = CreditRequested(to_account, amount)
        case ConfirmCredit():
            if credit.status is not CreditStatus.REQUESTED:
                return Error(CreditNotPending(credit.status))
            event = CreditConfirmed(credit.to_account, credit.amount)
        case CancelCredit():
            if credit.status is not CreditStatus.REQUESTED:
                return Error(CreditNotPending(credit.status))
            event = CreditCancelled()
        case _:
            assert_never(command)
    return Ok([event])


def apply(credit: Credit, event: CreditEvent) -> Credit:
    """The credit after ``event``.

    Example::

        apply(Credit(), CreditRequested("account-2", Decimal(5))).status  # REQUESTED
    """
    match event:
        case CreditRequested(to_account, amount):
            return Credit(CreditStatus.REQUESTED, to_account, amount)
        case CreditConfirmed():
            return replace(credit, status=CreditStatus.CONFIRMED)
        case CreditCancelled():
            return replace(credit, status=CreditStatus.CANCELLED)
        case _:
            assert_never(event)


def credit_codec() -> JsonCodec[CreditEvent, Credit]:
    """The codec of credits: their events and entity as JSON.

    Example::

        credits = database.event_store(credit_codec())
    """
    return JsonCodec(
        events=[CreditRequested, CreditConfirmed, CreditCancelled],
        entities=[Credit],
        aggregate_type=CREDIT_TYPE,
    )
