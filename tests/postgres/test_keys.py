"""Idempotency keys in PostgreSQL: the column and its index, upgrades at once, names.

The store contract (``tests/contracts``) covers what every store does with keys, and the
durable-store contract what every durable store does with them (keys in one batch, the
upgrade of storage written before keys existed, ids the database cannot take); these
tests cover what is PostgreSQL's own: the partial unique index, stores that upgrade
version-1 tables at once, and the length of the names the store creates.
"""

from __future__ import annotations

import re

import psycopg
import pytest

from tests.contracts.store_contract import append, deposited, opened
from tests.postgres.helpers import (
    CODEC,
    connect,
    execute,
    rows,
    running_store,
    started_at_once,
)
from tests.postgres.old_versions import version_1_tables
from trio_eventsourcing import (
    Ok,
    postgres_store,
)
from trio_eventsourcing._stores.postgres.projection_tables import ProjectionNames
from trio_eventsourcing._stores.postgres.schema import CREATED_NAMES, Names
from trio_eventsourcing.examples.bank_account import BankAccountEvent

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


# --- tables written before keys existed ---------------------------------------------------------


async def test_stores_starting_at_once_on_version_1_tables_upgrade_them_once(
    dsn: str, schema: str
) -> None:
    version_1_tables(dsn, schema)
    async with started_at_once(dsn, schema, 4) as stores:
        for index, store in enumerate(stores):
            account = f"acc-{index + 2}"
            assert isinstance(await append(store, account, 0, [opened("x")], key="k"), Ok)
    indexes = rows(
        dsn,
        "SELECT indexname FROM pg_indexes WHERE schemaname = %s AND indexname LIKE %s",
        (schema, "%command_key%"),
    )
    assert indexes == [("trio_es_events_by_command_key",)]
    # The new column keeps each key on the first event of its command; the old rows have none.
    assert rows(
        dsn,
        f'SELECT aggregate_id, sequence, command_key FROM "{schema}".trio_es_events'
        " ORDER BY position",
    ) == [
        ("acc-1", 1, None),
        ("acc-1", 2, None),
        *sorted((f"acc-{index + 2}", 1, "k") for index in range(4)),
    ]


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
