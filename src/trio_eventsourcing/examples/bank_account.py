"""The seed's bank account, as a typed Python domain.

Commands are decided by :func:`handle` into events, and events folded by :func:`apply`
into a :class:`BankAccount`; both are plain functions, as the library expects.

Example::

    account = BankAccount()
    events = handle(account, OpenAccount("acc-1")).unwrap()
    for event in events:
        account = apply(account, event)
    assert account == BankAccount(opened=True, balance=Decimal(0))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeAlias

from typing_extensions import assert_never

from ..result import Error, Ok, Result


@dataclass(frozen=True, slots=True)
class BankAccount:
    """The state of one account."""

    opened: bool = False
    balance: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class OpenAccount:
    """Open the account."""

    account_id: str


@dataclass(frozen=True, slots=True)
class DepositMoney:
    """Put ``amount`` into the account."""

    amount: Decimal


@dataclass(frozen=True, slots=True)
class WithdrawMoney:
    """Take ``amount`` out of the account."""

    amount: Decimal


BankAccountCommand: TypeAlias = OpenAccount | DepositMoney | WithdrawMoney


@dataclass(frozen=True, slots=True)
class AccountOpened:
    """The account was opened."""

    account_id: str


@dataclass(frozen=True, slots=True)
class CustomerDepositedCash:
    """Money came in; ``new_balance`` is the balance after it."""

    amount: Decimal
    new_balance: Decimal


@dataclass(frozen=True, slots=True)
class CustomerWithdrewCash:
    """Money went out; ``new_balance`` is the balance after it."""

    amount: Decimal
    new_balance: Decimal


BankAccountEvent: TypeAlias = AccountOpened | CustomerDepositedCash | CustomerWithdrewCash


@dataclass(frozen=True, slots=True)
class CantDepositNegativeAmount:
    """A deposit or withdrawal of zero or less."""


@dataclass(frozen=True, slots=True)
class CantOperateOnUnopenedAccount:
    """Money moved on an account that is not open."""


@dataclass(frozen=True, slots=True)
class CantWithdrawMoreThanCurrentBalance:
    """A withdrawal larger than the balance."""


@dataclass(frozen=True, slots=True)
class AccountAlreadyOpened:
    """The account is open already."""


BankAccountError: TypeAlias = (
    CantDepositNegativeAmount
    | CantOperateOnUnopenedAccount
    | CantWithdrawMoreThanCurrentBalance
    | AccountAlreadyOpened
)


def handle(
    account: BankAccount, command: BankAccountCommand
) -> Result[Sequence[BankAccountEvent], BankAccountError]:
    """Decide the events of ``command`` on ``account``, or reject it.

    Declared with a ``Sequence`` of events, which ``Ok([AccountOpened(...)])`` fits for
    mypy and pyright alike (pyright cannot make that list a ``list[BankAccountEvent]``).
    """
    match command:
        case OpenAccount(account_id):
            if account.opened:
                return Error(AccountAlreadyOpened())
            return Ok([AccountOpened(account_id)])
        case DepositMoney(amount):
            if not account.opened:
                return Error(CantOperateOnUnopenedAccount())
            if amount <= 0:
                return Error(CantDepositNegativeAmount())
            return Ok([CustomerDepositedCash(amount, account.balance + amount)])
        case WithdrawMoney(amount):
            if not account.opened:
                return Error(CantOperateOnUnopenedAccount())
            if amount <= 0:
                return Error(CantDepositNegativeAmount())
            if amount > account.balance:
                return Error(CantWithdrawMoreThanCurrentBalance())
            return Ok([CustomerWithdrewCash(amount, account.balance - amount)])
        case _:
            assert_never(command)


def apply(account: BankAccount, event: BankAccountEvent) -> BankAccount:
    """Return ``account`` after ``event``."""
    match event:
        case AccountOpened():
            return BankAccount(opened=True, balance=Decimal(0))
        case CustomerDepositedCash(new_balance=balance) | CustomerWithdrewCash(new_balance=balance):
            return BankAccount(opened=True, balance=balance)
        case _:
            assert_never(event)
