"""The process of the crash test: a transactional projection killed inside its transaction.

Usage (from the repository): ``python -m tests.projections.crash_projection DATABASE
KILL_AT``. Runs the SQLite store on the file (whose events and ``applied`` table the test
made) and a transactional projection, in batches of 5, whose handler records each
position in ``applied``. When a batch holds
``KILL_AT``, the handler sends SIGKILL to its own process after writing and before the
commit: the process dies between the handler and the commit.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import sys
from collections.abc import Sequence

import trio

from tests.contracts.durable_support import CODEC as CODEC
from trio_eventsourcing import projections, sqlite_store, static_supervisor
from trio_eventsourcing.examples.bank_account import BankAccountEvent

NAME = "applied"
BATCH = 5


def record(
    connection: sqlite3.Connection, entries: Sequence[sqlite_store.LogEntry[BankAccountEvent]]
) -> None:
    """The read model: one row per event handled."""
    connection.executemany(
        "INSERT INTO applied (position) VALUES (?)", [(entry.position,) for entry in entries]
    )


async def main(path: str, kill_at: int) -> None:
    def handler(
        connection: sqlite3.Connection, entries: Sequence[sqlite_store.LogEntry[BankAccountEvent]]
    ) -> None:
        record(connection, entries)
        if any(entry.position == kill_at for entry in entries):
            os.kill(os.getpid(), signal.SIGKILL)

    store, store_spec = sqlite_store.supervised(path, CODEC)
    _, spec = projections.supervised(
        store, projections.transactional(NAME, handler, batch_size=BATCH)
    )
    supervisor = static_supervisor.new(static_supervisor.OneForOne).add(store_spec).add(spec)
    async with supervisor.open():
        await trio.sleep_forever()


if __name__ == "__main__":
    trio.run(main, sys.argv[1], int(sys.argv[2]))
