"""What the PostgreSQL store tests share: the server, throwaway schemas, a running store.

The server is the one ``TRIO_ES_POSTGRES_DSN`` names (default
``postgresql://postgres@127.0.0.1:5432/test``). When it does not answer, the tests are
skipped with the reason, unless ``TRIO_ES_REQUIRE_POSTGRES=1`` (as CI sets it): then they
fail. Every test works in a schema of its own, with a random name, dropped afterwards.
"""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest
import trio

from tests.contracts.durable_support import CODEC as CODEC
from tests.contracts.durable_support import BankCodec, started
from trio_eventsourcing import Ok, postgres_store
from trio_eventsourcing.examples.bank_account import BankAccount, BankAccountEvent

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/test"
INSTALL = 'pip install "trio-eventsourcing[postgres]"'

WAIT_S = 10.0
"""The longest a test polls the server for a state it waits for (only a failing test does)."""

if TYPE_CHECKING:
    import psycopg

BankPostgresStore = postgres_store.PostgresEventStore[BankAccount, BankAccountEvent]


def configured_dsn() -> str:
    return os.environ.get("TRIO_ES_POSTGRES_DSN") or DEFAULT_DSN


@functools.cache
def _server_problem() -> str | None:
    """Why the tests cannot use the server (checked once per run), or ``None``."""
    try:
        import psycopg
    except ImportError as exc:
        return f"psycopg is not installed ({exc}): {INSTALL}"
    try:
        with psycopg.connect(configured_dsn(), connect_timeout=3) as connection:
            connection.execute("SELECT 1")
    except psycopg.Error as exc:
        detail = " ".join(str(exc).split())
        return f"no PostgreSQL server answers at TRIO_ES_POSTGRES_DSN: {detail}"
    return None


def _skip_or_fail(problem: str) -> None:
    if os.environ.get("TRIO_ES_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"TRIO_ES_REQUIRE_POSTGRES=1 but {problem}", pytrace=False)
    pytest.skip(problem)


def require_driver() -> None:
    """Skip the test (or fail it, in CI) if psycopg is not installed."""
    try:
        import psycopg  # noqa: F401
    except ImportError as exc:
        _skip_or_fail(f"psycopg is not installed ({exc}): {INSTALL}")


def require_server() -> str:
    """The DSN of a server that answers; skip the test (or fail it, in CI) if none does."""
    problem = _server_problem()
    if problem is not None:
        _skip_or_fail(problem)
    return configured_dsn()


def connect(dsn: str) -> psycopg.Connection[tuple[Any, ...]]:
    """A plain autocommit connection (psycopg is imported here: it is an extra)."""
    import psycopg

    return psycopg.connect(dsn, autocommit=True)


def new_schema_name() -> str:
    return f"trio_es_test_{secrets.token_hex(6)}"


def execute(dsn: str, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> None:
    """Run one statement with a plain connection (as a person with psql might)."""
    with connect(dsn) as connection:
        connection.execute(sql, params)


def rows(
    dsn: str, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()
) -> list[tuple[Any, ...]]:
    """Run one query with a plain connection (for checks from outside the store)."""
    with connect(dsn) as connection:
        return connection.execute(sql, params).fetchall()


def drop_schema(dsn: str, schema: str) -> None:
    execute(dsn, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@contextlib.contextmanager
def throwaway_schema(dsn: str) -> Iterator[str]:
    """A new schema name, dropped (with whatever was created in it) afterwards."""
    schema = new_schema_name()
    try:
        yield schema
    finally:
        drop_schema(dsn, schema)


def running_store(
    dsn: str, schema: str, codec: BankCodec = CODEC, **options: Any
) -> contextlib.AbstractAsyncContextManager[BankPostgresStore]:
    """A PostgreSQL store whose child runs for the duration of the block."""
    return started(*postgres_store.supervised(dsn, codec, schema=schema, **options))


@contextlib.asynccontextmanager
async def started_at_once(
    dsn: str, schema: str, count: int
) -> AsyncIterator[list[BankPostgresStore]]:
    """``count`` stores on ``schema``, all started at the same moment, for the block."""
    stores = [postgres_store.supervised(dsn, CODEC, schema=schema) for _ in range(count)]
    results: list[object] = []

    async def start(index: int, nursery: trio.Nursery) -> None:
        results.append(await stores[index][1].start(nursery))

    async with trio.open_nursery() as nursery:
        async with trio.open_nursery() as starting:
            for index in range(count):
                starting.start_soon(start, index, nursery)
        assert all(isinstance(result, Ok) for result in results), results
        yield [store for store, _ in stores]
        nursery.cancel_scope.cancel()


def store_backends(dsn: str, schema: str) -> list[tuple[int, str, str | None, str | None]]:
    """``(pid, application_name, wait_event_type, wait_event)`` of the store's connections."""
    found = rows(
        dsn,
        "SELECT pid, application_name, wait_event_type, wait_event FROM pg_stat_activity"
        " WHERE application_name LIKE %s AND pid <> pg_backend_pid()",
        (f"trio-eventsourcing % {schema}.%",),
    )
    return [(row[0], row[1], row[2], row[3]) for row in found]


async def wait_until(condition: Callable[[], bool]) -> None:
    """Poll ``condition()`` (run in a thread, it may query the server) until it is true.

    For states of the server that nothing can announce to the test (a backend waiting on
    a lock), polling with a bounded deadline is the only way; it does not sleep when the
    condition already holds.
    """
    with trio.fail_after(WAIT_S):
        # Nothing to wait on but the server's state: poll it.
        while not await trio.to_thread.run_sync(condition):  # noqa: ASYNC110
            await trio.sleep(0.005)


def install_hold(dsn: str, schema: str, table: str, key: int) -> None:
    """Make inserts of aggregate ``slow`` into ``table`` wait while advisory lock ``key`` is held.

    A BEFORE trigger runs after the row has its values (a sequence default included) and
    inside the inserting transaction, which stays open, uncommitted, while it waits.
    """
    execute(
        dsn,
        f"""
        CREATE FUNCTION "{schema}".hold_slow() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.aggregate_id = 'slow' THEN
                PERFORM pg_advisory_xact_lock_shared({key});
            END IF;
            RETURN NEW;
        END $$
        """,
    )
    execute(
        dsn,
        f'CREATE TRIGGER hold_slow BEFORE INSERT ON "{schema}"."{table}"'
        f' FOR EACH ROW EXECUTE FUNCTION "{schema}".hold_slow()',
    )


def waiting(dsn: str, schema: str, events: set[str]) -> int:
    """How many of the store's backends wait on a lock of one of the kinds in ``events``."""
    return sum(
        1 for _, _, kind, event in store_backends(dsn, schema) if kind == "Lock" and event in events
    )


@contextlib.contextmanager
def position_lock_held(dsn: str, schema: str) -> Iterator[None]:
    """Hold the store's position lock from another connection, as another writer could."""
    with connect(dsn) as connection, connection.transaction():
        connection.execute(f'SELECT 1 FROM "{schema}".trio_es_store FOR UPDATE')
        yield


class ThrowawaySchema:
    """Gives each test of a class a schema of its own, as ``self.dsn`` and ``self.schema``.

    A store reopened in the same test must find what it stored, so the schema belongs to
    the test, not to one store.
    """

    dsn: str
    schema: str

    @pytest.fixture(autouse=True)
    def _schema_of_the_test(self) -> Iterator[None]:
        self.dsn = require_server()
        with throwaway_schema(self.dsn) as schema:
            self.schema = schema
            yield
