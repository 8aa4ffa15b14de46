"""The PostgreSQL log beyond the shared contracts: order with writers in many processes, NOTIFY.

What every store's log promises is ``LogContract``; what every durable store's log
promises (a log per aggregate type, unreadable rows, a reader tailing several writing
stores) is ``DurableStoreContract``.

The ordering test holds one writer's transaction open *after* it has numbered and
inserted its events (a trigger makes its insert wait on an advisory lock the test holds)
while a second writer, on its own connection as another process would be, tries to
commit. With the store's rule (the position lock is taken before numbering and held to
the commit) the second writer waits, and a reader sees nothing past the last committed
position until the first commits. A control runs the same interleaving against a naive
table whose positions come from a sequence, and shows the reader skipping an event:
the probe is sharp enough to catch the bug it guards against.
"""

from __future__ import annotations

import secrets

import trio
import trio.testing

from tests.contracts.store_contract import append, deposited, opened
from tests.postgres.helpers import (
    BankPostgresStore,
    connect,
    execute,
    install_hold,
    rows,
    running_store,
    wait_until,
    waiting,
)
from trio_eventsourcing import (
    Error,
    Ok,
    StoreResult,
    postgres_store,
)

# --- ordering under concurrent writers ----------------------------------------------------


async def test_a_reader_never_passes_over_an_event_that_commits_later(
    dsn: str, schema: str
) -> None:
    key = secrets.randbelow(2**31)
    # Two stores on the same tables: two writer connections, as two processes have.
    async with running_store(dsn, schema) as first, running_store(dsn, schema) as second:
        assert isinstance(await append(first, "before", 0, [opened("before")]), Ok)
        install_hold(dsn, schema, "trio_es_events", key)
        with connect(dsn) as gate:
            gate.execute("SELECT pg_advisory_lock(%s)", (key,))
            outcomes: dict[str, StoreResult[object]] = {}

            async def write(store: BankPostgresStore, aggregate_id: str) -> None:
                outcomes[aggregate_id] = await append(store, aggregate_id, 0, [opened("x")])

            async with trio.open_nursery() as nursery:
                nursery.start_soon(write, first, "slow")
                # The slow writer holds the position lock and has numbered its event
                # (position 2), and waits, uncommitted, inside its INSERT.
                await wait_until(lambda: waiting(dsn, schema, {"advisory"}) == 1)
                nursery.start_soon(write, second, "fast")
                # The fast writer, on another connection, waits for the position lock.
                await wait_until(lambda: waiting(dsn, schema, {"transactionid", "tuple"}) == 1)
                # The critical moment: a position is taken but not committed. A reader
                # sees nothing after the last committed position, so it cannot move on.
                assert await postgres_store.read_log(first, 1) == Ok([])
                assert await postgres_store.read_log(second, 1) == Ok([])
                assert outcomes == {}
                gate.execute("SELECT pg_advisory_unlock(%s)", (key,))
        assert isinstance(outcomes["slow"], Ok), outcomes
        assert isinstance(outcomes["fast"], Ok), outcomes
        log = (await postgres_store.read_log(second)).unwrap()
        assert [(e.position, e.envelope.aggregate_id) for e in log] == [
            (1, "before"),
            (2, "slow"),
            (3, "fast"),
        ]


async def test_control_a_sequence_numbered_log_loses_an_event_under_the_same_interleaving(
    dsn: str, schema: str
) -> None:
    # What the test above guards against: positions from a sequence are taken at insert
    # time and commit in any order, so a reader moves past one that commits later.
    key = secrets.randbelow(2**31)
    execute(dsn, f'CREATE SCHEMA "{schema}"')
    execute(
        dsn,
        f'CREATE TABLE "{schema}".naive (position bigserial PRIMARY KEY, aggregate_id text)',
    )
    install_hold(dsn, schema, "naive", key)
    insert = f'INSERT INTO "{schema}".naive (aggregate_id) VALUES (%s)'
    read = f'SELECT position FROM "{schema}".naive WHERE position > %s ORDER BY position'
    execute(dsn, insert, ("before",))
    with (
        connect(dsn) as gate,
        connect(dsn) as slow,
    ):
        gate.execute("SELECT pg_advisory_lock(%s)", (key,))
        slow_pid = slow.info.backend_pid

        def insert_slow() -> None:
            slow.execute(insert, ("slow",))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(trio.to_thread.run_sync, insert_slow)
            await wait_until(
                lambda: bool(
                    rows(
                        dsn,
                        "SELECT 1 FROM pg_stat_activity WHERE pid = %s AND wait_event = 'advisory'",
                        (slow_pid,),
                    )
                )
            )
            execute(dsn, insert, ("fast",))  # commits position 3 while 2 is in flight
            seen = [row[0] for row in rows(dsn, read, (1,))]
            gate.execute("SELECT pg_advisory_unlock(%s)", (key,))
    later = [row[0] for row in rows(dsn, read, (seen[-1],))]
    assert seen == [3]
    assert later == []  # the reader, now at position 3, never sees position 2
    assert [row[0] for row in rows(dsn, read, (0,))] == [1, 2, 3]


# --- NOTIFY -------------------------------------------------------------------------------


async def test_every_commit_that_stores_events_notifies_the_channel(dsn: str, schema: str) -> None:
    async with running_store(dsn, schema) as store:
        channel = store.eventstore.channel
        assert channel == f"{schema}.trio_es_events"
        with connect(dsn) as listener:
            listener.execute(f'LISTEN "{channel}"')
            assert isinstance(await append(store, "acc-1", 0, [opened("acc-1")]), Ok)
            # A stale write commits nothing and notifies nothing.
            refused = await append(store, "acc-1", 0, [opened("acc-1")])
            assert isinstance(refused, Error)
            assert isinstance(await append(store, "acc-1", 1, [deposited(1, 1)]), Ok)
            # Notifications arrive in commit order: this marker comes after the others.
            execute(dsn, "SELECT pg_notify(%s, 'end')", (channel,))

            def collect() -> list[str]:
                payloads: list[str] = []
                for notification in listener.notifies(timeout=10):
                    payloads.append(notification.payload)
                    if notification.payload == "end":
                        break
                return payloads

            payloads = await trio.to_thread.run_sync(collect)
    # The payload only says that something changed: read the log to see what.
    assert payloads == ["", "", "end"]
