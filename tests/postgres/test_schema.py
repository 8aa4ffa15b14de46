"""The store's tables, their version, its connections and its arguments.

What every durable store promises of its storage and lifetime (refusing newer or damaged
tables, not running before its start or after its stop) is ``DurableStoreContract``, run
by ``tests/test_postgres_store.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import trio

import trio_eventsourcing
from tests.contracts.store_contract import append, load, opened
from tests.postgres.helpers import (
    CODEC,
    execute,
    rows,
    running_store,
    started_at_once,
    store_backends,
    wait_until,
)
from trio_eventsourcing import (
    Error,
    EventStoreError,
    Ok,
    postgres_store,
)
from trio_eventsourcing.actor import StartError

SOURCE = Path(trio_eventsourcing.__file__).parents[1]


def tables(dsn: str, schema: str) -> list[str]:
    found = rows(
        dsn,
        "SELECT table_name FROM information_schema.tables WHERE table_schema = %s"
        " ORDER BY table_name",
        (schema,),
    )
    return [row[0] for row in found]


async def start_error(dsn: str, schema: str, **options: object) -> str:
    """Start a store that must fail to start; return the reason."""
    store, spec = postgres_store.supervised(dsn, CODEC, schema=schema, **options)  # type: ignore[arg-type]
    async with trio.open_nursery() as nursery:
        with trio.fail_after(10):
            started = await spec.start(nursery)
    assert isinstance(started, Error), started
    assert isinstance(started.error, StartError)
    assert not store.eventstore.statistics().running
    return started.error.reason


async def test_a_new_schema_gets_the_tables_and_the_version(dsn: str, schema: str) -> None:
    assert tables(dsn, schema) == []
    async with running_store(dsn, schema) as store:
        assert isinstance(await append(store, "acc-1", 0, [opened("acc-1")]), Ok)
    assert tables(dsn, schema) == ["trio_es_events", "trio_es_snapshots", "trio_es_store"]
    assert rows(dsn, f'SELECT schema_version, last_position FROM "{schema}".trio_es_store') == [
        (postgres_store.SCHEMA_VERSION, 1)
    ]
    # Starting again on existing tables changes nothing.
    async with running_store(dsn, schema) as store:
        assert [e.sequence for e in await load(store, "acc-1")] == [1]
    assert len(rows(dsn, f'SELECT * FROM "{schema}".trio_es_store')) == 1


async def test_two_prefixes_are_two_stores_side_by_side(dsn: str, schema: str) -> None:
    async with (
        running_store(dsn, schema, table_prefix="") as plain,
        running_store(dsn, schema, table_prefix="bank_") as bank,
    ):
        assert isinstance(await append(plain, "acc-1", 0, [opened("acc-1")]), Ok)
        assert await load(bank, "acc-1") == []
        assert isinstance(await append(bank, "acc-1", 0, [opened("acc-1")]), Ok)
        for store in (plain, bank):
            log = (await postgres_store.read_log(store)).unwrap()
            assert [entry.position for entry in log] == [1]
        assert plain.eventstore.channel == f"{schema}.events"
        assert bank.eventstore.channel == f"{schema}.bank_events"
    assert tables(dsn, schema) == [
        "bank_events",
        "bank_snapshots",
        "bank_store",
        "events",
        "snapshots",
        "store",
    ]


async def test_stores_starting_at_once_create_the_tables_once(dsn: str, schema: str) -> None:
    async with started_at_once(dsn, schema, 6) as stores:
        for index, store in enumerate(stores):
            assert isinstance(await append(store, f"acc-{index}", 0, [opened("x")]), Ok)
    assert rows(dsn, f'SELECT schema_version, last_position FROM "{schema}".trio_es_store') == [
        (postgres_store.SCHEMA_VERSION, len(stores))
    ]


async def test_tables_that_are_not_a_store_are_refused_and_left_untouched(
    dsn: str, schema: str
) -> None:
    execute(dsn, f'CREATE SCHEMA "{schema}"')
    execute(dsn, f'CREATE TABLE "{schema}".trio_es_events (id int)')
    reason = await start_error(dsn, schema)
    assert "not a trio-eventsourcing store" in reason
    assert tables(dsn, schema) == ["trio_es_events"]
    # A table named like the store row's, of another application: refused too.
    execute(dsn, f'CREATE TABLE "{schema}".other_store (name text)')
    reason = await start_error(dsn, schema, table_prefix="other_")
    assert "is not a trio-eventsourcing store" in reason
    assert tables(dsn, schema) == ["other_store", "trio_es_events"]


async def test_a_server_that_is_down_gives_a_clear_error_at_the_start(schema: str) -> None:
    reason = await start_error("postgresql://postgres@127.0.0.1:1/test", schema, connect_timeout=2)
    assert "connecting failed on PostgreSQL postgres@127.0.0.1:1/test:" in reason
    assert "refused" in reason


# --- the store's lifetime -----------------------------------------------------------------


async def test_stopping_closes_every_connection(dsn: str, schema: str) -> None:
    async with running_store(dsn, schema, max_readers=3) as store:
        assert isinstance(await append(store, "acc-1", 0, [opened("acc-1")]), Ok)
        async with trio.open_nursery() as nursery:
            for _ in range(6):
                nursery.start_soon(load, store, "acc-1")
        names = sorted(name for _, name, _, _ in store_backends(dsn, schema))
        assert names[-1] == f"trio-eventsourcing writer {schema}.trio_es_"
        assert 2 <= len(names) <= 4  # the writer, and 1 to max_readers readers
    # The server ends a backend a moment after its client closes the connection.
    await wait_until(lambda: store_backends(dsn, schema) == [])


async def test_server_errors_become_event_store_errors(dsn: str, schema: str) -> None:
    async with running_store(dsn, schema) as store:
        assert isinstance(await append(store, "acc-1", 0, [opened("acc-1")]), Ok)
        execute(dsn, f'ALTER TABLE "{schema}".trio_es_events RENAME TO gone')
        read = await postgres_store.read_log(store)
        assert isinstance(read, Error)
        assert isinstance(read.error, EventStoreError)
        assert "UndefinedTable" in read.error.message
        written = await append(store, "acc-2", 0, [opened("acc-2")])
        assert isinstance(written, Error)
        assert isinstance(written.error, EventStoreError)
        assert "UndefinedTable" in written.error.message
        execute(dsn, f'ALTER TABLE "{schema}".gone RENAME TO trio_es_events')
        # The store carries on once the table is back.
        assert isinstance(await append(store, "acc-2", 0, [opened("acc-2")]), Ok)
    assert not [name for name in dir(postgres_store) if "psycopg" in name.lower()]


# --- arguments ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"schema": "Bank"}, ValueError, "schema"),
        ({"schema": "bank; drop"}, ValueError, "schema"),
        ({"schema": "x" * 64}, ValueError, "schema"),
        ({"schema": 3}, TypeError, "schema"),
        ({"table_prefix": "1x"}, ValueError, "table_prefix"),
        ({"table_prefix": "a-b"}, ValueError, "table_prefix"),
        ({"table_prefix": "x" * 55}, ValueError, "table_prefix"),
        ({"max_readers": 0}, ValueError, "max_readers"),
        ({"max_readers": 1.5}, TypeError, "max_readers"),
        ({"connect_timeout": 0}, ValueError, "connect_timeout"),
        ({"connect_timeout": float("inf")}, ValueError, "connect_timeout"),
        ({"retry_timeout": True}, TypeError, "retry_timeout"),
        ({"retry_timeout": "5"}, TypeError, "retry_timeout"),
    ],
)
@pytest.mark.usefixtures("driver")
def test_wrong_options_are_refused_when_the_store_is_described(
    options: dict[str, object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        postgres_store.supervised("dbname=test", CODEC, **options)  # type: ignore[arg-type]


@pytest.mark.usefixtures("driver")
def test_a_wrong_dsn_or_codec_is_refused_without_showing_the_dsn() -> None:
    with pytest.raises(TypeError, match="dsn must be a str, got bytes"):
        postgres_store.supervised(b"password=s3cret", CODEC)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not a valid PostgreSQL connection string") as raised:
        postgres_store.supervised("host=db password=s3cret oops", CODEC)
    assert "s3cret" not in str(raised.value)
    assert raised.value.__cause__ is None
    assert raised.value.__suppress_context__
    with pytest.raises(TypeError, match="codec"):
        postgres_store.supervised("dbname=test", object())  # type: ignore[arg-type]


def test_store_and_transaction_have_no_public_constructor() -> None:
    with pytest.raises(TypeError, match="no public constructor"):
        postgres_store.PostgresStore(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="no public constructor"):
        postgres_store.PostgresTransaction(None)  # type: ignore[arg-type]


def test_without_psycopg_supervised_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # None in sys.modules makes `import psycopg` raise ImportError.
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(ImportError, match=r'pip install "trio-eventsourcing\[postgres\]"'):
        postgres_store.supervised("dbname=test", CODEC)


def test_the_package_imports_without_psycopg() -> None:
    script = textwrap.dedent(
        """
        import sys

        class Refuse:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("psycopg", "psycopg_pool"):
                    raise ImportError(f"{name} is not installed")
                return None

        sys.meta_path.insert(0, Refuse())
        import trio_eventsourcing
        from trio_eventsourcing import postgres_store
        assert "psycopg" not in sys.modules
        try:
            postgres_store.supervised("dbname=test", None)
        except ImportError as exc:
            print(exc)
        """
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SOURCE), env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert 'pip install "trio-eventsourcing[postgres]"' in done.stdout
