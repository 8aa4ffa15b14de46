"""A small shop: carts and orders, two aggregate types in one SQLite file, one read model.

A customer opens a cart, adds items and checks it out; the shop then places an order
from it, and the customer pays. Carts and orders are two aggregate types, each with its
own event-sourcing system, on one SQLite database (one file, one writer, one global log).
The *order summary* is one projection that joins them: it learns who the customer is from
the cart and what was ordered and paid from the order, in a table of the same file that
it writes in the transaction of its checkpoint. A payment is run with
:func:`~trio_eventsourcing.execute_and_wait`, so the summary read right after it shows it
paid.

Run it with ``python -m trio_eventsourcing.examples.shop [PATH]`` (default ``shop.db``);
each run adds an order to the file. :doc:`/applications` walks through it.

Example::

    import tempfile
    from decimal import Decimal
    from pathlib import Path

    import trio

    from trio_eventsourcing.examples.shop import run

    with tempfile.TemporaryDirectory() as directory:
        report = trio.run(run, Path(directory) / "shop.db")
    assert report.summary[0].status == "paid"
    assert report.summary[0].total == Decimal("21.00")
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sqlite3
import sys
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, TypeAlias, TypeVar, cast

import trio
from typing_extensions import assert_never

import trio_eventsourcing as eventsourcing

from .. import process, projections, sqlite_store, static_supervisor
from ..codec import JsonCodec
from ..result import Error, Ok, Result

ErrorT = TypeVar("ErrorT")

# --- carts ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Line:
    """``quantity`` of the product ``sku``, at ``unit_price`` each."""

    sku: str
    quantity: int
    unit_price: Decimal


def total(lines: Sequence[Line]) -> Decimal:
    """What ``lines`` cost together.

    Example::

        assert total([Line("tea", 2, Decimal("4.50"))]) == Decimal("9.00")
    """
    return sum((line.quantity * line.unit_price for line in lines), Decimal(0))


@dataclass(frozen=True, slots=True)
class Cart:
    """A cart: its customer (``""`` until it is opened), its lines, whether checked out."""

    customer: str = ""
    lines: tuple[Line, ...] = ()
    checked_out: bool = False


@dataclass(frozen=True, slots=True)
class OpenCart:
    """Open the cart for ``customer``."""

    customer: str


@dataclass(frozen=True, slots=True)
class AddItem:
    """Put ``quantity`` of ``sku`` at ``unit_price`` into the cart."""

    sku: str
    quantity: int
    unit_price: Decimal


@dataclass(frozen=True, slots=True)
class CheckOut:
    """Close the cart: nothing can be added any more, and it can be ordered."""


CartCommand: TypeAlias = OpenCart | AddItem | CheckOut


@dataclass(frozen=True, slots=True)
class CartOpened:
    """The cart was opened for ``customer``."""

    customer: str


@dataclass(frozen=True, slots=True)
class ItemAdded:
    """A line was added to the cart."""

    line: Line


@dataclass(frozen=True, slots=True)
class CartCheckedOut:
    """The cart was checked out."""


CartEvent: TypeAlias = CartOpened | ItemAdded | CartCheckedOut


@dataclass(frozen=True, slots=True)
class CartAlreadyOpened:
    """The cart is open already."""


@dataclass(frozen=True, slots=True)
class CartNotOpened:
    """Items added to, or a check-out of, a cart that was never opened."""


@dataclass(frozen=True, slots=True)
class CartCheckedOutAlready:
    """The cart was checked out: it takes no more items."""


@dataclass(frozen=True, slots=True)
class EmptyCart:
    """A check-out of a cart without items."""


@dataclass(frozen=True, slots=True)
class InvalidItem:
    """An item with a quantity of zero or less, or a price below zero."""


CartError: TypeAlias = (
    CartAlreadyOpened | CartNotOpened | CartCheckedOutAlready | EmptyCart | InvalidItem
)


def handle_cart(cart: Cart, command: CartCommand) -> Result[list[CartEvent], CartError]:
    """Decide the events of ``command`` on ``cart``, or reject it.

    Example::

        assert handle_cart(Cart(), OpenCart("alice")) == Ok([CartOpened("alice")])
    """
    # One list typed once: pyright infers ``Ok([CartOpened(...)])`` as an
    # ``Ok[list[CartOpened]]``, which is not an ``Ok[list[CartEvent]]``.
    events: list[CartEvent]
    match command:
        case OpenCart(customer):
            if cart.customer:
                return Error(CartAlreadyOpened())
            events = [CartOpened(customer)]
        case AddItem(sku, quantity, unit_price):
            if not cart.customer:
                return Error(CartNotOpened())
            if cart.checked_out:
                return Error(CartCheckedOutAlready())
            if quantity <= 0 or unit_price < 0:
                return Error(InvalidItem())
            events = [ItemAdded(Line(sku, quantity, unit_price))]
        case CheckOut():
            if not cart.customer:
                return Error(CartNotOpened())
            if cart.checked_out:
                return Error(CartCheckedOutAlready())
            if not cart.lines:
                return Error(EmptyCart())
            events = [CartCheckedOut()]
        case _:
            assert_never(command)
    return Ok(events)


def apply_cart(cart: Cart, event: CartEvent) -> Cart:
    """Return ``cart`` after ``event``.

    Example::

        assert apply_cart(Cart(), CartOpened("alice")) == Cart(customer="alice")
    """
    match event:
        case CartOpened(customer):
            return Cart(customer=customer)
        case ItemAdded(line):
            return Cart(cart.customer, (*cart.lines, line))
        case CartCheckedOut():
            return Cart(cart.customer, cart.lines, checked_out=True)
        case _:
            assert_never(event)


# --- orders -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Order:
    """An order: placed or not, what it costs, whether it is paid."""

    placed: bool = False
    total: Decimal = Decimal(0)
    paid: bool = False


@dataclass(frozen=True, slots=True)
class PlaceOrder:
    """Order ``lines`` (a checked-out cart's)."""

    lines: tuple[Line, ...]


@dataclass(frozen=True, slots=True)
class PayOrder:
    """Pay ``amount`` for the order: exactly its total."""

    amount: Decimal


OrderCommand: TypeAlias = PlaceOrder | PayOrder


@dataclass(frozen=True, slots=True)
class OrderPlaced:
    """The order was placed: its lines and their total."""

    lines: tuple[Line, ...]
    total: Decimal


@dataclass(frozen=True, slots=True)
class OrderPaid:
    """The order was paid."""

    amount: Decimal


OrderEvent: TypeAlias = OrderPlaced | OrderPaid


@dataclass(frozen=True, slots=True)
class OrderAlreadyPlaced:
    """The order was placed already."""


@dataclass(frozen=True, slots=True)
class OrderNotPlaced:
    """A payment for an order that was never placed."""


@dataclass(frozen=True, slots=True)
class OrderAlreadyPaid:
    """The order is paid already."""


@dataclass(frozen=True, slots=True)
class WrongAmount:
    """A payment of another amount than the order's total, which is ``expected``."""

    expected: Decimal


OrderError: TypeAlias = OrderAlreadyPlaced | OrderNotPlaced | OrderAlreadyPaid | WrongAmount


def handle_order(order: Order, command: OrderCommand) -> Result[list[OrderEvent], OrderError]:
    """Decide the events of ``command`` on ``order``, or reject it.

    Example::

        lines = (Line("tea", 2, Decimal("4.50")),)
        assert handle_order(Order(), PlaceOrder(lines)) == Ok([OrderPlaced(lines, Decimal(9))])
    """
    events: list[OrderEvent]  # typed once, as in handle_cart
    match command:
        case PlaceOrder(lines):
            if order.placed:
                return Error(OrderAlreadyPlaced())
            events = [OrderPlaced(lines, total(lines))]
        case PayOrder(amount):
            if not order.placed:
                return Error(OrderNotPlaced())
            if order.paid:
                return Error(OrderAlreadyPaid())
            if amount != order.total:
                return Error(WrongAmount(order.total))
            events = [OrderPaid(amount)]
        case _:
            assert_never(command)
    return Ok(events)


def apply_order(order: Order, event: OrderEvent) -> Order:
    """Return ``order`` after ``event``.

    Example::

        assert apply_order(Order(), OrderPlaced((), Decimal(0))) == Order(placed=True)
    """
    match event:
        case OrderPlaced(total=total):
            return Order(placed=True, total=total)
        case OrderPaid():
            return Order(placed=True, total=order.total, paid=True)
        case _:
            assert_never(event)


CART_CODEC = JsonCodec[CartEvent, Cart](
    events=[CartOpened, ItemAdded, CartCheckedOut], entities=[Cart], aggregate_type="cart"
)
"""The codec of carts, whose aggregate type is ``"cart"``."""

ORDER_CODEC = JsonCodec[OrderEvent, Order](
    events=[OrderPlaced, OrderPaid], entities=[Order], aggregate_type="order"
)
"""The codec of orders, whose aggregate type is ``"order"``."""

CartMessage: TypeAlias = eventsourcing.AggregateMessage[Cart, CartCommand, CartEvent, CartError]
OrderMessage: TypeAlias = eventsourcing.AggregateMessage[
    Order, OrderCommand, OrderEvent, OrderError
]

# --- the order summary: one projection of both aggregate types --------------------------

SUMMARY = "order_summary"
"""The summary projection's name, under which its checkpoint is kept."""

Status: TypeAlias = Literal["shopping", "placed", "paid"]

SummaryEntry: TypeAlias = sqlite_store.LogEntry[CartOpened | OrderEvent]
"""An entry of the log as the summary's handler receives it (see :func:`summary_selection`)."""


@dataclass(frozen=True, slots=True)
class OrderSummary:
    """One row of the order summary: a cart, and the order placed from it."""

    order_id: str
    customer: str
    items: int
    total: Decimal
    status: Status


def summary_selection(
    carts: sqlite_store.SqliteEventStore[Cart, CartEvent],
    orders: sqlite_store.SqliteEventStore[Order, OrderEvent],
) -> projections.LogSelection[CartOpened | OrderEvent, sqlite3.Connection]:
    """The events the summary reads: the carts' openings and every event of the orders.

    A cart's items are counted from its order, so the summary leaves the cart's other
    events out; the store's query skips them, without reading or decoding them.

    Example::

        selection = summary_selection(carts, orders)
        assert selection.aggregate_types == ("cart", "order")
    """
    return projections.select(carts).only(CartOpened) | projections.select(orders)


def record_summary(db: sqlite3.Connection, entries: Sequence[SummaryEntry]) -> None:
    """Bring the ``order_summary`` table up to date with ``entries``.

    It runs in the transaction that moves the projection's checkpoint past them, on the
    store's connection: each event changes the table exactly once.

    Example::

        projections.transactional(SUMMARY, record_summary, on_reset=clear_summary)
    """
    db.execute(
        "CREATE TABLE IF NOT EXISTS order_summary (order_id TEXT PRIMARY KEY, "
        "customer TEXT NOT NULL, items INTEGER NOT NULL, total TEXT NOT NULL, "
        "status TEXT NOT NULL)"
    )
    for entry in entries:
        # An order has its cart's id (see Shop.place_order), and the cart's opening comes
        # before its order in the log, so the order's events find the cart's row.
        key = entry.envelope.aggregate_id
        payload = entry.envelope.payload
        match payload:
            case CartOpened(customer):
                db.execute(
                    "INSERT INTO order_summary VALUES (?, ?, 0, '0', 'shopping')", (key, customer)
                )
            case OrderPlaced(lines, amount):
                items = sum(line.quantity for line in lines)
                db.execute(
                    "UPDATE order_summary SET items = ?, total = ?, status = 'placed' "
                    "WHERE order_id = ?",
                    (items, str(amount), key),
                )
            case OrderPaid():
                db.execute("UPDATE order_summary SET status = 'paid' WHERE order_id = ?", (key,))
            case _:
                # Exhaustive: the selection's type leaves ItemAdded and CartCheckedOut out.
                assert_never(payload)


def clear_summary(db: sqlite3.Connection) -> None:
    """Empty the summary, before a rebuild (:func:`~trio_eventsourcing.projections.reset`).

    Example::

        projections.transactional(SUMMARY, record_summary, on_reset=clear_summary)
    """
    db.execute("DROP TABLE IF EXISTS order_summary")


def read_summary(path: str | os.PathLike[str]) -> list[OrderSummary]:
    """Read the order summary from the file at ``path``, oldest cart first (blocking).

    Its own connection, as any reader of the read model would have: the store's file is
    in WAL mode, so reading never waits for the store's writer.

    Example::

        rows = await trio.to_thread.run_sync(read_summary, "shop.db")
    """
    with contextlib.closing(sqlite3.connect(path)) as db:
        exists = db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'order_summary'"
        ).fetchone()
        if exists is None:
            return []  # the projection has not handled an event yet
        rows = db.execute(
            "SELECT order_id, customer, items, total, status FROM order_summary ORDER BY rowid"
        ).fetchall()
    return [
        OrderSummary(order_id, customer, items, Decimal(total), cast("Status", status))
        for order_id, customer, items, total, status in rows
    ]


# --- the application --------------------------------------------------------------------


class ShopError(Exception):
    """A command of the shop failed; ``args[0]`` is the event-sourcing error."""


@dataclass(frozen=True)
class Shop:
    """The running shop, as :func:`open_shop` gives it: its two systems and its summary.

    Its methods run one step each and take no timeout: the caller bounds them (with
    ``trio.fail_after``).
    """

    carts: process.Subject[CartMessage]
    orders: process.Subject[OrderMessage]
    summary: projections.ProjectionHandle
    selection: projections.LogSelection[CartOpened | OrderEvent, sqlite3.Connection]
    path: str

    async def open_cart(self, customer: str) -> str:
        """Open a new cart for ``customer`` and return its id.

        Raises:
            ShopError: The command failed.
        """
        cart_id = uuid.uuid4().hex[:8]
        _receipt(await eventsourcing.execute_and_wait(self.carts, cart_id, OpenCart(customer)))
        return cart_id

    async def add_item(self, cart_id: str, sku: str, quantity: int, unit_price: Decimal) -> None:
        """Add ``quantity`` of ``sku`` to the cart.

        Raises:
            ShopError: The command failed (the cart is not open, or checked out...).
        """
        command = AddItem(sku, quantity, unit_price)
        _receipt(await eventsourcing.execute_and_wait(self.carts, cart_id, command))

    async def place_order(self, cart_id: str) -> Decimal:
        """Check the cart out, place its order, and return the amount to pay.

        The order has the cart's id: ids are scoped by aggregate type, so cart ``c1``
        and order ``c1`` are two aggregates. Two commands on two aggregates are two
        transactions; each has an idempotency key, so that after a crash between them
        this runs again to the end, and each step is stored once.

        Raises:
            ShopError: A command failed, or the cart could not be loaded.
        """
        # Keys are kept per aggregate: a constant one means "once per cart" here.
        check_out = await eventsourcing.execute_and_wait(
            self.carts, cart_id, CheckOut(), idempotency_key="check-out"
        )
        _receipt(check_out)
        loaded = await process.receive_forever(eventsourcing.load_aggregate(self.carts, cart_id))
        if isinstance(loaded, Error):
            raise ShopError(loaded.error)
        lines = loaded.value.entity.lines
        placed = await eventsourcing.execute_and_wait(
            self.orders, cart_id, PlaceOrder(lines), idempotency_key="place"
        )
        _receipt(placed)
        return total(lines)

    async def pay(self, order_id: str, amount: Decimal) -> eventsourcing.Receipt:
        """Pay the order, and return once the order summary shows it paid.

        The payment's idempotency key makes it run at most once per order: sent again
        (say, after a lost answer), it answers a receipt with ``already_stored``.

        Raises:
            ShopError: The command failed (a wrong amount, an order paid already...).
        """
        outcome = await eventsourcing.execute_and_wait(
            self.orders,
            order_id,
            PayOrder(amount),
            idempotency_key="payment",
            consistency=[self.summary],
        )
        return _receipt(outcome)

    async def read_summary(self) -> list[OrderSummary]:
        """Read the order summary (in a worker thread: it reads the file)."""
        return await trio.to_thread.run_sync(read_summary, self.path)


def _receipt(
    outcome: Result[eventsourcing.Receipt, eventsourcing.EventSourcingError[ErrorT]],
) -> eventsourcing.Receipt:
    """The receipt of a command that succeeded; a failure raises :class:`ShopError`."""
    match outcome:
        case Ok(receipt):
            return receipt
        case Error(error):
            raise ShopError(error)
        case _:
            assert_never(outcome)


@asynccontextmanager
async def open_shop(path: str | os.PathLike[str]) -> AsyncIterator[Shop]:
    """Run the shop on the SQLite file at ``path`` for the duration of an ``async with``.

    One database, its two event stores (carts and orders), an event-sourcing system for
    each, and the order summary, under one supervisor.

    Example::

        async with open_shop("shop.db") as shop:
            cart_id = await shop.open_cart("alice")
    """
    database, database_spec = sqlite_store.supervised_database(path)
    carts = database.event_store(CART_CODEC)
    orders = database.event_store(ORDER_CODEC)
    carts_name: process.Name[CartMessage] = process.new_name("carts")
    orders_name: process.Name[OrderMessage] = process.new_name("orders")
    carts_spec = eventsourcing.supervised(
        name=carts_name,
        eventstore=carts,
        handle=handle_cart,
        apply=apply_cart,
        empty_state=Cart(),
        queries=[],
        snapshot_config=None,
    ).unwrap()
    orders_spec = eventsourcing.supervised(
        name=orders_name,
        eventstore=orders,
        handle=handle_order,
        apply=apply_order,
        empty_state=Order(),
        queries=[],
        snapshot_config=None,
    ).unwrap()
    selection = summary_selection(carts, orders)
    summary, summary_spec = projections.supervised(
        selection, projections.transactional(SUMMARY, record_summary, on_reset=clear_summary)
    )
    # The database first: the systems and the projection use it from their start.
    supervisor = (
        static_supervisor.new(static_supervisor.OneForOne)
        .add(database_spec)
        .add(carts_spec)
        .add(orders_spec)
        .add(summary_spec)
    )
    async with supervisor.open():
        yield Shop(
            carts=process.named_subject(carts_name),
            orders=process.named_subject(orders_name),
            summary=summary,
            selection=selection,
            path=database.path,
        )


@dataclass(frozen=True)
class ShopReport:
    """What :func:`run` did: the order it placed, its payment, the summary read after it."""

    order_id: str
    payment: eventsourcing.Receipt
    summary: list[OrderSummary]


DEADLINE_S = 10.0
"""How long :func:`run` gives its whole shopping trip."""


async def run(path: str | os.PathLike[str], customer: str = "alice") -> ShopReport:
    """Open the shop on ``path``, fill a cart, order and pay it, then read the summary.

    The summary is read right after the payment, with no wait of its own: the payment's
    :func:`~trio_eventsourcing.execute_and_wait` returned only once the summary held it.

    Raises:
        ShopError: A command failed.
        trio.TooSlowError: The trip took more than :data:`DEADLINE_S`.

    Example::

        report = await run("shop.db")
        print(report.summary)
    """
    async with open_shop(path) as shop:
        with trio.fail_after(DEADLINE_S):
            cart_id = await shop.open_cart(customer)
            await shop.add_item(cart_id, "tea", 2, Decimal("4.50"))
            await shop.add_item(cart_id, "mug", 1, Decimal("12.00"))
            amount = await shop.place_order(cart_id)
            payment = await shop.pay(cart_id, amount)
            summary = await shop.read_summary()
    return ShopReport(cart_id, payment, summary)


def main(argv: Sequence[str] | None = None) -> int:
    """Run :func:`run` on the file named on the command line and print the summary.

    Example::

        main(["shop.db"])
    """
    parser = argparse.ArgumentParser(
        prog="python -m trio_eventsourcing.examples.shop",
        description="Order and pay a cart, then print the order summary (read model).",
    )
    parser.add_argument("path", nargs="?", default="shop.db", help="the SQLite file (shop.db)")
    args = parser.parse_args(argv)
    report = trio.run(run, args.path)
    ours = next(row for row in report.summary if row.order_id == report.order_id)
    print(
        f"{ours.customer} paid {ours.total} for order {ours.order_id} "
        f"(its events up to position {report.payment.position} of the log)"
    )
    print("order summary, read right after the payment:")
    for row in report.summary:
        print(
            f"  {row.order_id}  {row.customer:<8} {row.items:>3} items {row.total:>8}  {row.status}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
