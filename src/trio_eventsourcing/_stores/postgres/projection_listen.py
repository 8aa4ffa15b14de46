"""Wake-ups from PostgreSQL: ``LISTEN`` on the store's channel, which every commit notifies.

The store's writer sends ``NOTIFY`` in each transaction that stores events (any process,
any machine), and PostgreSQL delivers it when that transaction commits. A listener owns
one connection: it sends ``LISTEN`` once, then waits on the connection's socket with
``trio.lowlevel.wait_readable`` (no thread sits blocked in the driver), and on each
readable socket lets libpq read what arrived (``consume_input``, which does not block) and
takes the notifications, waking the store's ``LogWatchers``. A lost connection is opened
again with a growing pause; meanwhile the followers' poll covers, so a lost
notification only costs latency.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import trio

from ..._core.log_watchers import LogWatchers
from .connection import Options, connect

if TYPE_CHECKING:
    from .connection import Connection

logger = logging.getLogger("trio_eventsourcing.projections")

_FIRST_DELAY = 0.1
_LONGEST_DELAY = 5.0


@asynccontextmanager
async def listening(options: Options, channel: str, watchers: LogWatchers) -> AsyncIterator[None]:
    """Listen on ``channel`` for the duration of the block, waking ``watchers``."""
    async with trio.open_nursery() as nursery:
        await nursery.start(_listen, options, channel, watchers)
        try:
            yield
        finally:
            nursery.cancel_scope.cancel()


async def _listen(
    options: Options,
    channel: str,
    watchers: LogWatchers,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    import psycopg

    failures = 0
    # Started at once: a follower works without wake-ups too (it polls), and must not
    # wait for a server that is down.
    task_status.started()
    while True:
        connection: Connection | None = None
        try:
            connection = await trio.to_thread.run_sync(_open, options, channel)
            failures = 0
            # Whatever committed while we were not listening is found by one more read.
            watchers.changed()
            await _receive(connection, watchers)
        except psycopg.Error as exc:
            failures += 1
            delay = min(_FIRST_DELAY * 2.0 ** min(failures - 1, 64), _LONGEST_DELAY)
            logger.warning(
                "listening for new events failed: %s; listening again in %.3g s",
                options.driver_error("LISTEN", exc),
                delay,
            )
            await trio.sleep(delay)
        finally:
            if connection is not None:
                with trio.CancelScope(shield=True):
                    await trio.to_thread.run_sync(connection.close)


def _open(options: Options, channel: str) -> Connection:
    connection = connect(options, "listener")
    try:
        connection.execute(f'LISTEN "{channel}"')
    except BaseException:
        connection.close()
        raise
    return connection


async def _receive(connection: Connection, watchers: LogWatchers) -> None:
    """Wake ``watchers`` on each notification, until the connection fails."""
    import psycopg

    pgconn = connection.pgconn
    while True:
        await trio.lowlevel.wait_readable(pgconn.socket)
        # Reads only what the socket holds: it does not block.
        pgconn.consume_input()
        if pgconn.status != psycopg.pq.ConnStatus.OK:
            raise psycopg.OperationalError("the listening connection was closed")
        woken = False
        while pgconn.notifies() is not None:
            woken = True
        if woken:
            watchers.changed()
