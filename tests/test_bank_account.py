"""The example bank-account domain: each rule of ``handle``, each event of ``apply``, folds."""

from __future__ import annotations

from decimal import Decimal
from functools import reduce

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trio_eventsourcing.examples.bank_account import (
    AccountAlreadyOpened,
    AccountOpened,
    BankAccount,
    BankAccountCommand,
    BankAccountEvent,
    CantDepositNegativeAmount,
    CantOperateOnUnopenedAccount,
    CantWithdrawMoreThanCurrentBalance,
    CustomerDepositedCash,
    CustomerWithdrewCash,
    DepositMoney,
    OpenAccount,
    WithdrawMoney,
    apply,
    handle,
)
from trio_eventsourcing.result import Error, Ok

UNOPENED = BankAccount()
OPEN_WITH_50 = BankAccount(opened=True, balance=Decimal(50))


def fold(events: list[BankAccountEvent], start: BankAccount = UNOPENED) -> BankAccount:
    return reduce(apply, events, start)


# --- handle ------------------------------------------------------------------------------


def test_opening_an_unopened_account_emits_account_opened() -> None:
    assert handle(UNOPENED, OpenAccount("acc-1")) == Ok([AccountOpened("acc-1")])


def test_opening_an_open_account_is_account_already_opened() -> None:
    assert handle(OPEN_WITH_50, OpenAccount("acc-1")) == Error(AccountAlreadyOpened())


def test_depositing_emits_the_amount_and_the_new_balance() -> None:
    assert handle(OPEN_WITH_50, DepositMoney(Decimal("12.5"))) == Ok(
        [CustomerDepositedCash(Decimal("12.5"), Decimal("62.5"))]
    )


@pytest.mark.parametrize("amount", [Decimal(0), Decimal(-1), Decimal("-0.01")])
def test_depositing_zero_or_less_is_cant_deposit_negative_amount(amount: Decimal) -> None:
    assert handle(OPEN_WITH_50, DepositMoney(amount)) == Error(CantDepositNegativeAmount())


@pytest.mark.parametrize(
    "command", [DepositMoney(Decimal(10)), WithdrawMoney(Decimal(10))], ids=["deposit", "withdraw"]
)
def test_moving_money_on_an_unopened_account_is_cant_operate_on_unopened_account(
    command: BankAccountCommand,
) -> None:
    assert handle(UNOPENED, command) == Error(CantOperateOnUnopenedAccount())


@pytest.mark.parametrize(
    "command", [DepositMoney(Decimal(-5)), WithdrawMoney(Decimal(-5))], ids=["deposit", "withdraw"]
)
def test_an_unopened_account_is_reported_before_a_bad_amount(command: BankAccountCommand) -> None:
    assert handle(UNOPENED, command) == Error(CantOperateOnUnopenedAccount())


def test_withdrawing_emits_the_amount_and_the_new_balance() -> None:
    assert handle(OPEN_WITH_50, WithdrawMoney(Decimal(20))) == Ok(
        [CustomerWithdrewCash(Decimal(20), Decimal(30))]
    )


def test_withdrawing_the_whole_balance_is_allowed() -> None:
    assert handle(OPEN_WITH_50, WithdrawMoney(Decimal(50))) == Ok(
        [CustomerWithdrewCash(Decimal(50), Decimal(0))]
    )


def test_withdrawing_more_than_the_balance_is_cant_withdraw_more_than_current_balance() -> None:
    assert handle(OPEN_WITH_50, WithdrawMoney(Decimal("50.01"))) == Error(
        CantWithdrawMoreThanCurrentBalance()
    )


@pytest.mark.parametrize("amount", [Decimal(0), Decimal(-3)])
def test_withdrawing_zero_or_less_is_cant_deposit_negative_amount(amount: Decimal) -> None:
    assert handle(OPEN_WITH_50, WithdrawMoney(amount)) == Error(CantDepositNegativeAmount())


# --- apply -------------------------------------------------------------------------------


def test_account_opened_opens_the_account_with_a_zero_balance() -> None:
    assert apply(UNOPENED, AccountOpened("acc-1")) == BankAccount(opened=True, balance=Decimal(0))


def test_customer_deposited_cash_sets_the_new_balance() -> None:
    event = CustomerDepositedCash(Decimal(5), Decimal(55))
    assert apply(OPEN_WITH_50, event) == BankAccount(opened=True, balance=Decimal(55))


def test_customer_withdrew_cash_sets_the_new_balance() -> None:
    event = CustomerWithdrewCash(Decimal(5), Decimal(45))
    assert apply(OPEN_WITH_50, event) == BankAccount(opened=True, balance=Decimal(45))


def test_apply_returns_a_new_account_and_leaves_the_old_one_alone() -> None:
    after = apply(OPEN_WITH_50, CustomerWithdrewCash(Decimal(50), Decimal(0)))
    assert after is not OPEN_WITH_50
    assert BankAccount(opened=True, balance=Decimal(50)) == OPEN_WITH_50


# --- folds -------------------------------------------------------------------------------


def test_folding_a_history_gives_the_current_account() -> None:
    events: list[BankAccountEvent] = [
        AccountOpened("acc-1"),
        CustomerDepositedCash(Decimal(100), Decimal(100)),
        CustomerWithdrewCash(Decimal(30), Decimal(70)),
        CustomerDepositedCash(Decimal("0.5"), Decimal("70.5")),
    ]
    assert fold(events) == BankAccount(opened=True, balance=Decimal("70.5"))
    assert fold([]) == UNOPENED


AMOUNTS = st.decimals(
    min_value=-100, max_value=1000, places=2, allow_nan=False, allow_infinity=False
)
COMMANDS = st.lists(
    st.one_of(
        st.just(OpenAccount("acc-1")),
        AMOUNTS.map(DepositMoney),
        AMOUNTS.map(WithdrawMoney),
    ),
    max_size=30,
)


@given(COMMANDS)
def test_the_balance_never_goes_negative_and_equals_deposits_minus_withdrawals(
    commands: list[BankAccountCommand],
) -> None:
    account = UNOPENED
    events: list[BankAccountEvent] = []
    for command in commands:
        decided = handle(account, command)
        if isinstance(decided, Ok):
            for event in decided.value:
                account = apply(account, event)
                events.append(event)
        assert account.balance >= 0
    deposits = sum((e.amount for e in events if isinstance(e, CustomerDepositedCash)), Decimal(0))
    withdrawals = sum((e.amount for e in events if isinstance(e, CustomerWithdrewCash)), Decimal(0))
    assert account.balance == deposits - withdrawals
    assert fold(events) == account
    assert sum(isinstance(e, AccountOpened) for e in events) <= 1
