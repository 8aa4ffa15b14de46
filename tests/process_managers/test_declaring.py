"""Declaring a process manager: what it refuses, each with a message naming what is wrong.

What a manager promises once running is in ``tests/contracts/process_manager_contract.py``.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.contracts.durable_support import CODEC
from tests.contracts.process_manager_contract import WELCOME_CODEC, Welcome, opened_only
from trio_eventsourcing import memory_store, process, process_managers, projections, sqlite_store
from trio_eventsourcing import static_supervisor as supervisors
from trio_eventsourcing.examples.bank_account import BankAccount, BankAccountEvent, DepositMoney
from trio_eventsourcing.process_managers import Decision, Send, SetTimer, Target

Store = memory_store.MemoryEventStore[BankAccount, BankAccountEvent]


def _memory() -> Store:
    store: Store
    store, _ = memory_store.supervised(
        process.new_name("e"), process.new_name("s"), supervisors.OneForOne
    )
    return store


def _declare(selection: Any, **options: Any) -> object:
    return process_managers.process_manager(
        options.pop("name", "welcome"), selection, route=opened_only, initial=Welcome,
        handle=lambda state, happened: Decision(state), **options,
    )  # fmt: skip


def test_a_durable_manager_without_a_codec_is_refused(tmp_path: Path) -> None:
    durable, _ = sqlite_store.supervised(tmp_path / "bank.db", CODEC)
    with pytest.raises(TypeError, match="a durable store, where it keeps its instances"):
        _declare(projections.select(durable))


def test_a_durable_manager_without_targets_is_refused(tmp_path: Path) -> None:
    durable, _ = sqlite_store.supervised(tmp_path / "bank.db", CODEC)
    with pytest.raises(ValueError, match="list the systems it sends to in targets="):
        _declare(projections.select(durable), codec=WELCOME_CODEC)


def test_two_targets_of_one_name_are_refused() -> None:
    subject: process.Subject[Any] = process.named_subject(process.new_name("bank"))
    twins = [Target("accounts", subject), Target("accounts", subject)]
    with pytest.raises(ValueError, match="two targets are named 'accounts'"):
        _declare(projections.select(_memory()), targets=twins)


def test_a_manager_needs_a_name() -> None:
    with pytest.raises(ValueError, match="non-empty str"):
        _declare(projections.select(_memory()), name="")


@pytest.mark.parametrize(("bad", "error"), [(0, ValueError), (True, TypeError), (2.5, TypeError)])
def test_max_in_flight_must_be_a_positive_int(bad: object, error: type[Exception]) -> None:
    with pytest.raises(error, match="max_in_flight"):
        _declare(projections.select(_memory()), max_in_flight=bad)


def test_a_timer_due_in_the_past_is_refused() -> None:
    with pytest.raises(ValueError, match="after must be a finite number of seconds zero or more"):
        SetTimer("t", -1.0)


def test_a_timer_name_no_store_can_keep_is_refused() -> None:
    with pytest.raises(ValueError, match="contains a NUL character"):
        SetTimer("t\x00", 1.0)


def test_a_target_must_be_a_subject() -> None:
    with pytest.raises(TypeError, match="must be a Subject"):
        Target("accounts", "bank")  # type: ignore[arg-type]


def test_a_send_to_an_id_no_store_can_keep_is_refused() -> None:
    subject: process.Subject[Any] = process.named_subject(process.new_name("bank"))
    with pytest.raises(ValueError, match="lone surrogate"):
        Send(Target("accounts", subject), "acc-\ud800", DepositMoney(Decimal(1)))
