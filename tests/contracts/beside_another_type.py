"""Stores that share their database with another aggregate type, for the shared contracts.

The store, log and projection contracts also run on the bank-account store of a database
whose second aggregate type, a bank statement, uses the same aggregate ids: what one type
stores must never show in, nor change, the other. For the store contract the statements
hold events of the ids the contract writes (``acc-1`` to ``acc-3``), stored first; the log
and projection contracts count positions from 1, so there the statements' store is open
on the database, its system running, but holds nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from tests.contracts.aggregate_types_contract import ACCOUNTS, STATEMENTS
from tests.contracts.store_contract import BankStore, append, deposited, opened
from trio_eventsourcing import CommandAlreadyStored, Ok

SHARED_IDS = ("acc-1", "acc-2", "acc-3")


async def fill_statements(statements: BankStore) -> None:
    """Two events of each of :data:`SHARED_IDS`, once (a database opened again keeps them)."""
    for aggregate_id in SHARED_IDS:
        stored = await append(
            statements, aggregate_id, 0, [opened(aggregate_id), deposited(9, 9)], key="beside"
        )
        assert isinstance(stored, Ok) or isinstance(stored.error, CommandAlreadyStored), stored


@contextlib.asynccontextmanager
async def beside_statements(
    database: contextlib.AbstractAsyncContextManager[Any],
    event_store: Callable[[Any, Any], BankStore],
    *,
    fill: bool,
) -> AsyncIterator[BankStore]:
    """The accounts' store of the running ``database``, beside the statements' store.

    ``event_store(database, codec)`` gives a database's store of a codec's type.
    """
    async with database as opened_database:
        statements = event_store(opened_database, STATEMENTS)
        if fill:
            await fill_statements(statements)
        yield event_store(opened_database, ACCOUNTS)
