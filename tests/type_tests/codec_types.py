"""Static type tests of the types a `JsonCodec` infers: checked by mypy and pyright, never run.

``assert_type`` lines are positive tests. Each ``# type: ignore[code]`` line is a negative
test: mypy runs with ``--warn-unused-ignores`` and pyright with
``reportUnnecessaryTypeIgnoreComment``, so if the line ever stops being an error the
ignore becomes unused and the type check fails.

A tuple of event classes makes a codec of their union under both checkers, so a store
opened with an unannotated codec refuses a ``handle`` of events it cannot store.
"""

# pyright: strict, reportUnnecessaryTypeIgnoreComment=true

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from typing_extensions import assert_type

import trio_eventsourcing as eventsourcing
from trio_eventsourcing import sqlite_store
from trio_eventsourcing.codec import JsonCodec, Registration
from trio_eventsourcing.result import Ok, Result


@dataclass(frozen=True)
class Opened:
    owner: str


@dataclass(frozen=True)
class Deposited:
    amount: int


@dataclass(frozen=True)
class Closed:
    reason: str


@dataclass(frozen=True)
class Shipped:
    parcel: str


@dataclass(frozen=True)
class Account:
    balance: int = 0


def a_codec_of_a_tuple_of_classes_is_a_codec_of_their_union() -> None:
    codec = JsonCodec(events=(Opened, Deposited), entities=[Account], aggregate_type="account")
    assert_type(codec, JsonCodec[Opened | Deposited, Account])
    one = JsonCodec(events=(Opened,), entities=[Account], aggregate_type="account")
    assert_type(one, JsonCodec[Opened, Account])
    registered = JsonCodec(
        events=(Opened, Registration(Deposited, type_name="deposit"), Closed),
        entities=[Account],
        aggregate_type="account",
    )
    assert_type(registered, JsonCodec[Opened | Deposited | Closed, Account])


def a_codec_written_with_its_types_keeps_them() -> None:
    codec = JsonCodec[Opened | Deposited | Closed, Account](
        events=[Opened, Deposited, Closed], entities=[Account], aggregate_type="account"
    )
    assert_type(codec, JsonCodec[Opened | Deposited | Closed, Account])
    from_tuple = JsonCodec[Opened | Deposited, Account](
        events=(Opened, Deposited), entities=[Account], aggregate_type="account"
    )
    assert_type(from_tuple, JsonCodec[Opened | Deposited, Account])


def handle_shipments(account: Account, command: str) -> Result[Sequence[Shipped], str]:
    return Ok([Shipped(command)])


def handle_deposits(account: Account, command: int) -> Result[Sequence[Deposited], str]:
    return Ok([Deposited(command)])


def apply_shipped(account: Account, event: Shipped) -> Account:
    return account


def apply_any(account: Account, event: Opened | Deposited) -> Account:
    return account


def a_store_of_an_unannotated_codec_refuses_events_it_cannot_store() -> None:
    store, _ = sqlite_store.supervised(
        "bank.db",
        JsonCodec(events=(Opened, Deposited), entities=[Account], aggregate_type="account"),
    )
    eventsourcing.open_system(store, handle_deposits, apply_any, Account())
    eventsourcing.open_system(store, handle_shipments, apply_shipped, Account())  # type: ignore[arg-type]
