"""Idempotency keys in PostgreSQL: the column and its index, batches, upgrades, names.

The store contract (``tests/contracts``) covers what every store does with keys; these
tests cover what is PostgreSQL's own: the partial unique index, keys in one group
commit, the upgrade of version-1 tables, reads of ids the server cannot take, and the
length of the names the store creates.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable

import psycopg
import pytest
import trio
import trio.testing

from tests.contracts.store_contract import append, deposited, is_stored, load, opened
from tests.postgres.helpers import (
    CODEC,
    BankPostgresStore,
    connect,
    execute,
    rows,
    running_store,
    wait_until,
    waiting,
)
from trio_eventsourcing import (
    Aggregate,
    CommandAlreadyStored,
    ConcurrencyConflict,
    Error,
    EventEnvelop,
    EventStoreError,
    Ok,
    Snapshot,
    StoreResult,
    postgres_store,
)
from trio_eventsourcing._stores.postgres.projection_tables import ProjectionNames
from trio_eventsourcing._stores.postgres.schema import CREATED_NAMES, Names
from trio_eventsourcing.examples.bank_account import BankAccount, BankAccountEvent

Write = Callable[[], Awaitable[StoreResult[object]]]


def write(
    store: BankPostgresStore,
    aggregate_id: str,
    expected: int,
    key: str | None,
    events: list[BankAccountEvent] | None = None,
) -> Write:
    async def run() -> StoreResult[object]:
        return await append(
            store, aggregate_id, expected, events or [deposited(1, expected + 1)], key=key
        )

    return run


async def in_one_batch(
    dsn: str, schema: str, store: BankPostgresStore, writes: list[Write]
) -> list[StoreResult[object]]:
    """Run ``writes``, in order, so that the writer stores them in one batch.

    A first write waits for the position lock, held by another connection; the others
    queue behind it, one at a time, and are taken together once it is free.
    """
    outcomes: dict[int, StoreResult[object]] = {}

    async def run(index: int) -> None:
        outcomes[index] = await writes[index]()

    with connect(dsn) as blocker:
        blocker.execute("BEGIN")
        blocker.execute(f'SELECT 1 FROM "{schema}".trio_es_store FOR UPDATE')
        async with trio.open_nursery() as nursery:
            nursery.start_soon(write(store, "barrier", 0, None, [opened("barrier")]))
            await wait_until(lambda: waiting(dsn, schema, {"transactionid", "tuple"}) == 1)
            for index in range(len(writes)):
                nursery.start_soon(run, index)
                await trio.testing.wait_all_tasks_blocked()
            blocker.execute("COMMIT")
    return [outcomes[index] for index in range(len(writes))]


# --- the column and its index ---------------------------------------------------------------


async def test_the_key_is_kept_on_the_first_event_of_its_command(dsn: str, schema: str) -> None:
    async with running_store(dsn, schema) as store:
        events: list[BankAccountEvent] = [opened("acc-1"), deposited(5, 5), deposited(1, 6)]
        assert isinstance(await append(store, "acc-1", 0, events, key="open-1"), Ok)
        assert isinstance(await append(store, "acc-1", 3, [deposited(1, 7)]), Ok)
    assert rows(
        dsn, f'SELECT sequence, command_key FROM "{schema}".trio_es_events ORDER BY sequence'
    ) == [(1, "open-1"), (2, None), (3, None), (4, None)]


async def test_the_index_refuses_a_second_copy_of_a_key_even_from_outside(
    dsn: str, schema: str
) -> None:
    async with running_store(dsn, schema) as store:
        assert isinstance(await append(store, "acc-1", 0, [opened("acc-1")], key="k"), Ok)
    insert = (
        f'INSERT INTO "{schema}".trio_es_events (position, aggregate_type, aggregate_id,'
        " sequence, event_type, event_version, payload, metadata, command_key)"
        " VALUES (%s, 'bank_account', %s, 2, 'x', 1, '{}', '[]', %s)"
    )
    with pytest.raises(psycopg.errors.UniqueViolation, match="trio_es_events_by_command_key"):
        execute(dsn, insert, (2, "acc-1", "k"))
    execute(dsn, insert, (3, "acc-2", "k"))  # another aggregate


async def test_keys_in_one_batch_are_each_stored_once(dsn: str, schema: str) -> None:
    async with running_store(dsn, schema) as store:
        for account in ("acc-1", "acc-2"):
            assert isinstance(await append(store, account, 0, [opened(account)], key="o"), Ok)
        before = store.eventstore.statistics()
        outcomes = await in_one_batch(
            dsn,
            schema,
            store,
            [
                write(store, "acc-1", 1, "k1"),
                write(store, "acc-1", 1, "k1"),  # the same command again: stale too
                write(store, "acc-2", 1, "k2"),
                write(store, "acc-2", 2, "k2"),  # the same key on a current sequence
                write(store, "acc-2", 0, "o", [opened("acc-2")]),  # stored before, stale
                write(store, "acc-2", 2, "k3"),
                write(store, "acc-2", 2, "k4"),  # stale, key not stored: a conflict
            ],
        )
        after = store.eventstore.statistics()
        assert outcomes[1:5] == [
            Error(CommandAlreadyStored("acc-1", "k1")),
            outcomes[2],
            Error(CommandAlreadyStored("acc-2", "k2")),
            Error(CommandAlreadyStored("acc-2", "o")),
        ]
        assert outcomes[6] == Error(ConcurrencyConflict("acc-2", 2, 3))
        assert all(isinstance(outcomes[n], Ok) for n in (0, 2, 5)), outcomes
        assert [e.sequence for e in await load(store, "acc-1")] == [1, 2]
        assert [e.sequence for e in await load(store, "acc-2")] == [1, 2, 3]
    assert after.largest_batch >= 7
    assert after.conflicts == before.conflicts + 1  # a key stored already is no conflict
    assert after.transactions - before.transactions == 4  # the barrier and three


async def test_a_request_that_fails_alone_leaves_its_key_free(dsn: str, schema: str) -> None:
    async with running_store(dsn, schema) as store:
        assert isinstance(await append(store, "warm", 0, [opened("warm")]), Ok)
        execute(
            dsn,
            f'ALTER TABLE "{schema}".trio_es_events'
            " ADD CONSTRAINT no_poison CHECK (aggregate_id <> 'acc-poison')",
        )
        outcomes = await in_one_batch(
            dsn,
            schema,
            store,
            [
                write(store, "acc-poison", 0, "k", [opened("x")]),
                write(store, "acc-1", 0, "k", [opened("acc-1")]),
                write(store, "acc-1", 1, "k"),  # after the batch failed: one by one
            ],
        )
        assert isinstance(outcomes[0], Error), outcomes
        assert isinstance(outcomes[0].error, EventStoreError), outcomes
        assert isinstance(outcomes[1], Ok), outcomes
        assert outcomes[2] == Error(CommandAlreadyStored("acc-1", "k"))
        assert not await is_stored(store, "acc-poison", "k")


# --- tables written before keys existed ---------------------------------------------------------


def version_1_tables(dsn: str, schema: str) -> None:
    """The store's tables as version 1 created them, with one account of two events."""
    with connect(dsn) as connection, connection.transaction():
        connection.execute(f'CREATE SCHEMA "{schema}"')
        connection.execute(
            f"""
            CREATE TABLE "{schema}".trio_es_store (
                singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
                schema_version integer NOT NULL,
                last_position bigint NOT NULL CHECK (last_position >= 0),
                created_at timestamptz NOT NULL DEFAULT clock_timestamp()
            )
            """
        )
        connection.execute(
            f"""
            CREATE TABLE "{schema}".trio_es_events (
                position bigint PRIMARY KEY CHECK (position >= 1),
                aggregate_type text NOT NULL,
                aggregate_id text NOT NULL,
                sequence bigint NOT NULL CHECK (sequence >= 1),
                event_type text NOT NULL,
                event_version integer NOT NULL,
                payload text NOT NULL,
                metadata text NOT NULL,
                recorded_at timestamptz NOT NULL DEFAULT clock_timestamp(),
                UNIQUE (aggregate_id, sequence)
            )
            """
        )
        connection.execute(
            f"""
            CREATE TABLE "{schema}".trio_es_snapshots (
                aggregate_id text PRIMARY KEY,
                aggregate_type text NOT NULL,
                sequence bigint NOT NULL,
                entity_type text NOT NULL,
                entity_version integer NOT NULL,
                payload text NOT NULL,
                taken_at timestamptz NOT NULL
            )
            """
        )
        connection.execute(
            f'INSERT INTO "{schema}".trio_es_store (schema_version, last_position) VALUES (1, 2)'
        )
        connection.execute(
            f'INSERT INTO "{schema}".trio_es_events (position, aggregate_type, aggregate_id,'
            " sequence, event_type, event_version, payload, metadata) VALUES"
            " (1, 'bank_account', 'acc-1', 1, 'AccountOpened', 1, %s, '[]'),"
            " (2, 'bank_account', 'acc-1', 2, 'CustomerDepositedCash', 1, %s, '[]')",
            ('{"account_id":"acc-1"}', '{"amount":"5","new_balance":"5"}'),
        )


async def test_version_1_tables_are_upgraded_and_keep_their_events(
    dsn: str, schema: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="trio_eventsourcing.postgres_store")
    version_1_tables(dsn, schema)
    async with running_store(dsn, schema) as store:
        assert [e.payload for e in await load(store, "acc-1")] == [opened("acc-1"), deposited(5, 5)]
        assert isinstance(await append(store, "acc-1", 2, [deposited(1, 6)], key="d"), Ok)
        again = await append(store, "acc-1", 3, [deposited(1, 7)], key="d")
        assert again == Error(CommandAlreadyStored("acc-1", "d"))
        log = (await postgres_store.read_log(store)).unwrap()
        assert [entry.position for entry in log] == [1, 2, 3]
    assert rows(dsn, f'SELECT schema_version FROM "{schema}".trio_es_store') == [
        (postgres_store.SCHEMA_VERSION,)
    ]
    assert rows(
        dsn, f'SELECT sequence, command_key FROM "{schema}".trio_es_events ORDER BY sequence'
    ) == [(1, None), (2, None), (3, "d")]
    assert f"from schema version 1 to {postgres_store.SCHEMA_VERSION}" in caplog.text


async def test_stores_starting_at_once_on_version_1_tables_upgrade_them_once(
    dsn: str, schema: str
) -> None:
    version_1_tables(dsn, schema)
    stores = [postgres_store.supervised(dsn, CODEC, schema=schema) for _ in range(4)]
    results: list[object] = []

    async def start(index: int, nursery: trio.Nursery) -> None:
        results.append(await stores[index][1].start(nursery))

    async with trio.open_nursery() as nursery:
        async with trio.open_nursery() as starting:
            for index in range(len(stores)):
                starting.start_soon(start, index, nursery)
        assert all(isinstance(result, Ok) for result in results), results
        for index, (store, _) in enumerate(stores):
            assert isinstance(
                await append(store, f"acc-{index + 2}", 0, [opened("x")], key="k"), Ok
            )
        nursery.cancel_scope.cancel()
    indexes = rows(
        dsn,
        "SELECT indexname FROM pg_indexes WHERE schemaname = %s AND indexname LIKE %s",
        (schema, "%command_key%"),
    )
    assert indexes == [("trio_es_events_by_command_key",)]


async def test_tables_of_this_version_without_the_key_index_are_refused(
    dsn: str, schema: str
) -> None:
    async with running_store(dsn, schema):
        pass
    execute(dsn, f'DROP INDEX "{schema}".trio_es_events_by_command_key')
    _, spec = postgres_store.supervised(dsn, CODEC, schema=schema)
    async with trio.open_nursery() as nursery:
        started = await spec.start(nursery)
    assert isinstance(started, Error), started
    assert "damaged" in started.error.reason
    assert "trio_es_events_by_command_key" in started.error.reason


# --- ids the server cannot take -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("aggregate_id", "problem"),
    [("bad\ud800id", "lone surrogate"), ("nul\x00id", "NUL")],
)
async def test_reads_of_an_id_the_server_cannot_take_are_refused_cleanly(
    dsn: str, schema: str, caplog: pytest.LogCaptureFixture, aggregate_id: str, problem: str
) -> None:
    async with running_store(dsn, schema) as store:
        Tx = postgres_store.PostgresTransaction[BankAccount, BankAccountEvent]

        async def events(tx: Tx) -> StoreResult[list[EventEnvelop[BankAccountEvent]]]:
            return await store.load_events(store.eventstore, tx, aggregate_id, 0)

        async def snapshot(tx: Tx) -> StoreResult[Snapshot[BankAccount] | None]:
            return await store.load_snapshot(tx, aggregate_id)

        async def aggregate(tx: Tx) -> StoreResult[Aggregate[BankAccount]]:
            loaded = await store.load_snapshot(tx, aggregate_id)
            assert isinstance(loaded, Error), loaded
            return loaded

        outcomes: list[StoreResult[object]] = [
            await store.load_events_transaction(events),
            await store.get_latest_snapshot_transaction(snapshot),
            await store.load_aggregate_transaction(aggregate),
            await store.command_stored(store.eventstore, aggregate_id, "k"),
            await store.command_stored(store.eventstore, "acc-1", "k\ud800"),
        ]
        # The store answers the next read as usual.
        assert await store.command_stored(store.eventstore, "acc-1", "k") == Ok(False)
    messages = []
    for outcome in outcomes:
        assert isinstance(outcome, Error), outcome
        assert isinstance(outcome.error, EventStoreError), outcome
        messages.append(outcome.error.message)
    for message in messages[:4]:
        assert message.startswith("cannot")
        assert problem in message
        assert repr(aggregate_id) in message
    assert "lone surrogate" in messages[4]
    assert not [record for record in caplog.records if record.exc_info]
    assert "UnicodeEncodeError" not in caplog.text


# --- the names the store creates ----------------------------------------------------------------


def created_names(prefix: str) -> set[str]:
    """Every name a ``CREATE TABLE`` or ``CREATE ... INDEX`` of the store's DDL makes."""
    names = Names("s", prefix)
    statements = [*names.ddl(), *names.upgrade(1), *ProjectionNames(names, prefix, "s").ddl()]
    made: set[str] = set()
    for statement in statements:
        found = re.search(
            r'CREATE (?:UNIQUE )?(?:TABLE|INDEX) (?:IF NOT EXISTS )?(?:"s"\.)?"([^"]+)"', statement
        )
        if found:
            made.add(found.group(1))
    return made


def test_every_name_the_store_creates_is_counted_in_the_limit() -> None:
    assert created_names("p_") == {f"p_{name}" for name in CREATED_NAMES}


@pytest.mark.usefixtures("driver")
def test_a_table_prefix_that_would_make_a_name_too_long_is_refused() -> None:
    longest = max(CREATED_NAMES, key=len)
    most = 63 - len(longest)
    assert most == 32
    postgres_store.supervised("dbname=test", CODEC, table_prefix="p" * most)
    for length in (most + 1, 52, 54):
        with pytest.raises(ValueError, match=r"table_prefix must be at most 32 bytes") as raised:
            postgres_store.supervised("dbname=test", CODEC, table_prefix="p" * length)
        assert "63-byte" in str(raised.value)
        assert longest in str(raised.value)


async def test_the_longest_prefix_allowed_gives_every_table_its_own_name(
    dsn: str, schema: str
) -> None:
    prefix = "p" * 32
    async with running_store(dsn, schema, table_prefix=prefix) as store:
        assert isinstance(await append(store, "acc-1", 0, [opened("acc-1")], key="k"), Ok)
        names = store.eventstore._names
        with connect(dsn) as connection:
            ProjectionNames(names, prefix, schema).ensure(connection)
    made = {
        row[0]
        for row in rows(
            dsn,
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relkind IN ('r', 'i')",
            (schema,),
        )
    }
    assert {f"{prefix}{name}" for name in CREATED_NAMES} <= made
