"""Static type tests of a command handler's events: checked by mypy and pyright, never run.

``assert_type`` lines are positive tests. Each ``# type: ignore[code]`` line is a negative
test: mypy runs with ``--warn-unused-ignores`` and pyright with
``reportUnnecessaryTypeIgnoreComment``, so if the line ever stops being an error the
ignore becomes unused and the type check fails.

A ``handle`` answers a sequence of events, so one whose return type names a list of one
event class, or a tuple, fits a system whose events are a union.
"""

# pyright: strict, reportUnnecessaryTypeIgnoreComment=true

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from typing_extensions import assert_type

import trio_eventsourcing as eventsourcing
from trio_eventsourcing import memory_store
from trio_eventsourcing.result import Error, Ok, Result


@dataclass(frozen=True)
class ItemAdded:
    sku: str


@dataclass(frozen=True)
class CartEmptied:
    pass


CartEvent = ItemAdded | CartEmptied


@dataclass(frozen=True)
class AddItem:
    sku: str


@dataclass(frozen=True)
class Cart:
    skus: tuple[str, ...] = ()


@dataclass(frozen=True)
class CartFull:
    pass


def apply(cart: Cart, event: CartEvent) -> Cart:
    return Cart((*cart.skus, event.sku)) if isinstance(event, ItemAdded) else Cart()


def apply_ints(cart: Cart, event: int) -> Cart:
    return cart


# A handle typed as precisely as it is: only ever ItemAdded.
def add_precisely(cart: Cart, command: AddItem) -> Result[list[ItemAdded], CartFull]:
    return Ok([ItemAdded(command.sku)])


# A handle declared with the union of events, returning a list of one of them: pyright
# accepts Ok([ItemAdded(...)]) against Result[Sequence[CartEvent], ...] (not against
# Result[list[CartEvent], ...], where the list's type cannot be inferred from the union).
def add_declared(cart: Cart, command: AddItem) -> Result[Sequence[CartEvent], CartFull]:
    if len(cart.skus) >= 3:
        return Error(CartFull())
    return Ok([ItemAdded(command.sku)])


def add_as_tuple(cart: Cart, command: AddItem) -> Result[tuple[ItemAdded, CartEmptied], CartFull]:
    return Ok((ItemAdded(command.sku), CartEmptied()))


def add_as_set(cart: Cart, command: AddItem) -> Result[set[ItemAdded], CartFull]:
    return Ok({ItemAdded(command.sku)})


def add_ints(cart: Cart, command: AddItem) -> Result[list[int], CartFull]:
    return Ok([1])


Shop = eventsourcing.System[Cart, AddItem, CartEvent, CartFull]


async def handles_of_sequences(store: memory_store.MemoryEventStore[Cart, CartEvent]) -> None:
    # The store's events, CartEvent, are the system's: each handle's events are among them.
    async with eventsourcing.open_system(store, add_precisely, apply, Cart()) as shop:
        assert_type(shop, Shop)
    async with eventsourcing.open_system(store, add_declared, apply, Cart()) as shop:
        assert_type(shop, Shop)
    async with eventsourcing.open_system(store, add_as_tuple, apply, Cart()) as shop:
        assert_type(shop, Shop)
    # A set has no order: not events.
    async with eventsourcing.open_system(store, add_as_set, apply, Cart()):  # type: ignore[arg-type]
        pass
    # Events that apply does not take.
    async with eventsourcing.open_system(store, add_ints, apply, Cart()):  # type: ignore[arg-type]
        pass
    async with eventsourcing.open_system(store, add_precisely, apply_ints, Cart()):  # type: ignore[arg-type]
        pass
