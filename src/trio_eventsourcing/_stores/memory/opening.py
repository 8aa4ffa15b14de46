"""The memory store opened for an ``async with`` block (the Trio-native form)."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any

from ..._runtime.process import new_name
from ..._runtime.static_supervisor import OneForOne
from ..opening import serving
from .store import MemoryDatabase, MemoryEventStore, supervised


def open_store(
    *, database: MemoryDatabase | None = None, aggregate_type: str = ""
) -> AbstractAsyncContextManager[MemoryEventStore[Any, Any]]:
    """Run a memory store for the length of an ``async with`` block and hand it over.

    No Names and no supervisor to write: the store's actors run in a nursery of the
    block's own. Give a ``database`` (and a distinct ``aggregate_type`` per store) to
    share one global log between the stores of several aggregate types.

    Example::

        async with memory_store.open() as store, eventsourcing.open_system(
            store, handle, apply, BankAccount()
        ) as bank:
            await bank.execute("acc-1", OpenAccount("acc-1"))
    """
    label = f"-{aggregate_type}" if aggregate_type else ""
    store: MemoryEventStore[Any, Any]
    store, spec = supervised(
        new_name(f"memory-events{label}"),
        new_name(f"memory-snapshots{label}"),
        OneForOne,
        database=database,
        aggregate_type=aggregate_type,
    )
    return serving(store, spec, "the memory store")
