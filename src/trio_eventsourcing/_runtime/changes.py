"""Waiting for a condition on something that says when it changes (a ``ParkingLot``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import trio

ValueT = TypeVar("ValueT")


async def wait_until(
    changes: trio.lowlevel.ParkingLot,
    read: Callable[[], ValueT],
    predicate: Callable[[ValueT], bool],
) -> ValueT:
    """Return ``read()`` once ``predicate`` holds of it, reading again after each change.

    ``changes`` is unparked (``unpark_all``) after every change of what ``read`` reads.
    Checked at once; a Trio checkpoint whether it waits or not.

    Example::

        stats = await wait_until(lot, handle.statistics, lambda s: s.outbox == 0)
    """
    await trio.lowlevel.checkpoint_if_cancelled()
    value = read()
    while not predicate(value):
        await changes.park()
        value = read()
    await trio.lowlevel.cancel_shielded_checkpoint()
    return value
