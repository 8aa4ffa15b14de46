"""The worked example of an application of two aggregate types: the shop's carts and orders.

Its domain rules, then the application on an SQLite file: the order summary (one
projection of both types) against what was run, the read right after a payment, the
steps that may be run again, a rebuild, and the command line.
"""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
import trio

from trio_eventsourcing import DomainError, Error, Ok, load_events, process, projections
from trio_eventsourcing.examples.shop import (
    SUMMARY,
    AddItem,
    Cart,
    CartCheckedOutAlready,
    CartNotOpened,
    CheckOut,
    EmptyCart,
    InvalidItem,
    Line,
    Order,
    OrderAlreadyPaid,
    OrderPaid,
    OrderPlaced,
    OrderSummary,
    PayOrder,
    PlaceOrder,
    ShopError,
    WrongAmount,
    handle_cart,
    handle_order,
    main,
    open_shop,
    run,
)

WAIT_S = 20
"""How long a test waits for the shop (only a failing test waits that long)."""

TEA = Line("tea", 2, Decimal("4.50"))
MUG = Line("mug", 1, Decimal("12.00"))
OPEN = Cart(customer="alice", lines=(TEA,))
PLACED = Order(placed=True, total=Decimal("9.00"))

# --- the domain --------------------------------------------------------------------------


def test_items_go_into_open_carts_only() -> None:
    assert handle_cart(Cart(), AddItem("tea", 1, Decimal(1))) == Error(CartNotOpened())


def test_an_item_needs_a_positive_quantity() -> None:
    assert handle_cart(OPEN, AddItem("tea", 0, Decimal(1))) == Error(InvalidItem())


def test_a_checked_out_cart_takes_no_more_items() -> None:
    checked_out = Cart("alice", (TEA,), checked_out=True)
    assert handle_cart(checked_out, AddItem("mug", 1, Decimal(12))) == Error(
        CartCheckedOutAlready()
    )


def test_an_empty_cart_cannot_be_checked_out() -> None:
    assert handle_cart(Cart(customer="alice"), CheckOut()) == Error(EmptyCart())


def test_an_order_is_placed_at_the_total_of_its_lines() -> None:
    assert handle_order(Order(), PlaceOrder((TEA, MUG))) == Ok(
        [OrderPlaced((TEA, MUG), Decimal("21.00"))]
    )


def test_a_payment_of_another_amount_than_the_total_is_refused() -> None:
    assert handle_order(PLACED, PayOrder(Decimal("9.50"))) == Error(WrongAmount(Decimal("9.00")))


def test_an_order_is_paid_once() -> None:
    paid = Order(placed=True, total=Decimal("9.00"), paid=True)
    assert handle_order(paid, PayOrder(Decimal("9.00"))) == Error(OrderAlreadyPaid())


# --- the application on one SQLite file ---------------------------------------------------


async def test_the_summary_read_right_after_a_payment_shows_it_paid(tmp_path: Path) -> None:
    report = await run(tmp_path / "shop.db")
    # Read by run() as soon as the payment returned, with no wait of its own.
    assert report.summary == [
        OrderSummary(report.order_id, "alice", 3, Decimal("21.00"), "paid"),
    ]


async def test_a_payment_returns_with_the_summary_at_its_position(tmp_path: Path) -> None:
    async with open_shop(tmp_path / "shop.db") as shop:
        with trio.fail_after(WAIT_S):
            cart_id = await shop.open_cart("alice")
            await shop.add_item(cart_id, "tea", 2, Decimal("4.50"))
            receipt = await shop.pay(cart_id, await shop.place_order(cart_id))
        # Open, add, check out, place, pay: the payment is the log's fifth event.
        assert (receipt.positions, receipt.sequence) == ((5,), 2)
        assert await projections.checkpoint(shop.selection, SUMMARY) == Ok(5)


async def test_the_summary_holds_what_the_commands_did(tmp_path: Path) -> None:
    async with open_shop(tmp_path / "shop.db") as shop:
        with trio.fail_after(WAIT_S):
            paid = await shop.open_cart("alice")
            await shop.add_item(paid, "tea", 2, Decimal("4.50"))
            await shop.add_item(paid, "mug", 1, Decimal("12.00"))
            await shop.pay(paid, await shop.place_order(paid))
            placed = await shop.open_cart("bob")
            await shop.add_item(placed, "pen", 3, Decimal("1.20"))
            await shop.place_order(placed)
            shopping = await shop.open_cart("carol")
            await shop.add_item(shopping, "tea", 1, Decimal("4.50"))
            await shop.summary.wait_until_current()
        assert await shop.read_summary() == [
            OrderSummary(paid, "alice", 3, Decimal("21.00"), "paid"),
            OrderSummary(placed, "bob", 3, Decimal("3.60"), "placed"),
            # Items are counted from the order: a cart being filled shows none yet.
            OrderSummary(shopping, "carol", 0, Decimal(0), "shopping"),
        ]


async def test_the_summary_reads_no_cart_event_but_the_opening(tmp_path: Path) -> None:
    async with open_shop(tmp_path / "shop.db") as shop:
        with trio.fail_after(WAIT_S):
            cart_id = await shop.open_cart("alice")
            for _ in range(3):
                await shop.add_item(cart_id, "tea", 1, Decimal("4.50"))
            await shop.summary.wait_until_current()
        assert shop.summary.statistics().handled == 1


async def test_each_run_on_a_file_adds_an_order(tmp_path: Path) -> None:
    first = await run(tmp_path / "shop.db")
    second = await run(tmp_path / "shop.db", customer="bob")
    assert first.order_id != second.order_id
    assert [(row.order_id, row.customer) for row in second.summary] == [
        (first.order_id, "alice"),
        (second.order_id, "bob"),
    ]


async def test_placing_an_order_again_stores_each_step_once(tmp_path: Path) -> None:
    async with open_shop(tmp_path / "shop.db") as shop:
        with trio.fail_after(WAIT_S):
            cart_id = await shop.open_cart("alice")
            await shop.add_item(cart_id, "tea", 2, Decimal("4.50"))
            assert await shop.place_order(cart_id) == Decimal("9.00")
            # As after a crash between its two commands: both answer as the first time.
            assert await shop.place_order(cart_id) == Decimal("9.00")
            events = await process.receive_forever(load_events(shop.orders, cart_id))
        assert isinstance(events, Ok)
        assert [envelope.payload for envelope in events.value] == [
            OrderPlaced((TEA,), Decimal("9.00"))
        ]


async def test_a_payment_sent_again_answers_that_it_is_stored_already(tmp_path: Path) -> None:
    async with open_shop(tmp_path / "shop.db") as shop:
        with trio.fail_after(WAIT_S):
            cart_id = await shop.open_cart("alice")
            await shop.add_item(cart_id, "tea", 2, Decimal("4.50"))
            amount = await shop.place_order(cart_id)
            await shop.pay(cart_id, amount)
            again = await shop.pay(cart_id, amount)
            events = await process.receive_forever(load_events(shop.orders, cart_id))
        assert (again.already_stored, again.positions, again.position) == (True, (), 0)
        assert isinstance(events, Ok)
        assert [envelope.payload for envelope in events.value][1:] == [OrderPaid(amount)]


async def test_a_refused_command_raises_shop_error_with_the_domain_error(tmp_path: Path) -> None:
    async with open_shop(tmp_path / "shop.db") as shop:
        with trio.fail_after(WAIT_S), pytest.raises(ShopError) as raised:
            await shop.add_item("never-opened", "tea", 1, Decimal("4.50"))
    assert raised.value.args == (DomainError(CartNotOpened()),)


async def test_a_reset_rebuilds_the_same_summary(tmp_path: Path) -> None:
    report = await run(tmp_path / "shop.db")
    async with open_shop(tmp_path / "shop.db") as shop:
        with trio.fail_after(WAIT_S):
            await shop.summary.wait_until_current()
            handled = shop.summary.statistics().handled
            assert await projections.reset(shop.selection, SUMMARY) == Ok(None)
            # Opened, placed, paid: the summary's three events, handled again.
            await shop.summary.wait_for(lambda stats: stats.handled == handled + 3)
        assert await shop.read_summary() == report.summary


def test_main_prints_the_order_and_the_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(tmp_path / "shop.db")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("alice paid 21.00 for order ")
    assert lines[1] == "order summary, read right after the payment:"
    assert lines[2].split()[1:] == ["alice", "3", "items", "21.00", "paid"]


def test_the_module_runs_as_a_script(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "trio_eventsourcing.examples.shop", str(tmp_path / "shop.db")],
        capture_output=True,
        text=True,
        timeout=WAIT_S * 3,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.splitlines()[-1].endswith("paid")
