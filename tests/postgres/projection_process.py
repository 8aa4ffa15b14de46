"""A process running a transactional projection on the test's schema, for the failover test.

Usage (from the repository): ``python -m tests.postgres.projection_process DSN SCHEMA``.
Runs the store and the projection ``applied``, whose handler inserts each position into
``"<schema>".applied`` in the checkpoint's transaction; prints ``live`` once it holds the
projection and is caught up, then runs until it is killed.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import trio

from tests.contracts.durable_support import CODEC
from trio_eventsourcing import postgres_store, projections, static_supervisor
from trio_eventsourcing.examples.bank_account import BankAccountEvent

if TYPE_CHECKING:
    import psycopg

NAME = "applied"


def recorder(
    schema: str,
) -> projections.Projection[postgres_store.LogEntry[BankAccountEvent], Any]:
    """The projection: one row per event, in the checkpoint's transaction."""

    def record(
        connection: psycopg.Connection[Any],
        entries: Sequence[postgres_store.LogEntry[BankAccountEvent]],
    ) -> None:
        with connection.cursor() as cursor:
            cursor.executemany(
                f'INSERT INTO "{schema}".applied (position) VALUES (%s)',
                [(entry.position,) for entry in entries],
            )

    return projections.transactional(NAME, record, batch_size=5, poll_interval=0.2)


async def main(dsn: str, schema: str) -> None:
    store, store_spec = postgres_store.supervised(dsn, CODEC, schema=schema)
    handle, spec = projections.supervised(store, recorder(schema))
    supervisor = static_supervisor.new(static_supervisor.OneForOne).add(store_spec).add(spec)
    async with supervisor.open():
        await handle.wait_for(lambda stats: stats.state is projections.ProjectionState.LIVE)
        sys.stdout.write("live\n")
        sys.stdout.flush()
        await trio.sleep_forever()


if __name__ == "__main__":
    trio.run(main, sys.argv[1], sys.argv[2])
