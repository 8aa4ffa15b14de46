"""Writes of text PostgreSQL cannot hold: refused for the one command, before any batch.

Group commit, cancelled waiters, a request the database refuses and a crashed writer are
``DurableStoreContract``'s, run by ``tests/test_postgres_store.py``.
"""

from __future__ import annotations

from tests.contracts.store_contract import (
    append,
    load,
    opened,
)
from tests.postgres.helpers import (
    running_store,
)
from trio_eventsourcing import (
    Error,
    EventStoreError,
    Ok,
    StoreFailure,
)


async def test_text_postgresql_cannot_hold_fails_that_command_only(dsn: str, schema: str) -> None:
    async with running_store(dsn, schema) as store:
        for aggregate_id, problem in (("nul\x00id", "NUL"), ("bad\ud800id", "lone surrogate")):
            refused = await append(store, aggregate_id, 0, [opened("x")])
            assert isinstance(refused, Error)
            assert isinstance(refused.error, EventStoreError)
            assert refused.error.kind is StoreFailure.REFUSED
            assert problem in refused.error.message
        # In a payload, JSON escapes it.
        assert isinstance(await append(store, "acc-1", 0, [opened("nul\x00")]), Ok)
        assert [e.payload for e in await load(store, "acc-1")] == [opened("nul\x00")]
