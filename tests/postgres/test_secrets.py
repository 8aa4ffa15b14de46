"""The DSN's password never appears in logs, reprs or error messages.

Each case runs with every log record captured (every logger, the driver's and its pool's
included, at DEBUG) and checks every text the store hands out: reprs, statistics, start
errors, error values, raised exceptions, and each record's message and traceback.
"""

from __future__ import annotations

import logging
import re

import pytest
import trio

from tests.cli.helpers import cli
from tests.contracts.store_contract import append, opened
from tests.postgres.helpers import CODEC, execute
from trio_eventsourcing import Error, Ok, postgres_store

SECRET = "s3cret-Pa55"


def with_password(dsn: str, password: str) -> str:
    """``dsn`` with a password: the test server's own if it has one, else ``password``.

    The test server trusts local connections (or knows the password given), so a store
    on this DSN still works.
    """
    from psycopg import conninfo

    params = conninfo.conninfo_to_dict(dsn)
    if params.get("password"):
        return dsn
    return conninfo.make_conninfo(dsn, password=password)


def secret_of(dsn: str) -> str:
    from psycopg import conninfo

    return str(conninfo.conninfo_to_dict(dsn)["password"])


def as_uri(dsn: str) -> str:
    """The same connection as a ``postgresql://user:password@host:port/dbname`` URI."""
    from psycopg import conninfo

    params = conninfo.conninfo_to_dict(dsn)
    return (
        f"postgresql://{params.get('user', 'postgres')}:{params['password']}"
        f"@{params.get('host', '127.0.0.1')}:{params.get('port', 5432)}/{params['dbname']}"
    )


@pytest.fixture
def every_log_record(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    caplog.set_level(logging.DEBUG)
    # The driver sets its own level (WARNING) on import: its debug records too.
    caplog.set_level(logging.DEBUG, logger="psycopg")
    return caplog.records


def assert_secret_absent(secret: str, texts: list[str], records: list[logging.LogRecord]) -> None:
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    texts = texts + [formatter.format(record) for record in records]
    leaks = [text for text in texts if secret in text]
    assert not leaks, leaks
    assert texts  # something was checked


async def test_a_running_store_never_shows_the_password(
    dsn: str, schema: str, every_log_record: list[logging.LogRecord]
) -> None:
    keyword_dsn = with_password(dsn, SECRET)
    secret = secret_of(keyword_dsn)
    texts: list[str] = []
    for prefix, secret_dsn in (("kv_", keyword_dsn), ("uri_", as_uri(keyword_dsn))):
        store, spec = postgres_store.supervised(
            secret_dsn, CODEC, schema=schema, table_prefix=prefix
        )
        texts += [repr(store), repr(store.eventstore), str(store.eventstore)]
        texts.append(repr(await append(store, "acc-0", 0, [opened("acc-0")])))  # not started
        async with trio.open_nursery() as nursery:
            supervisor = (await spec.start(nursery)).unwrap().data
            texts += [repr(store.eventstore), repr(store.eventstore.statistics())]
            texts.append(store.eventstore.server)
            again = await spec.start(nursery)
            assert isinstance(again, Error)
            texts.append(repr(again))
            assert isinstance(await append(store, "acc-1", 0, [opened("acc-1")]), Ok)
            # Errors from the server, on reads and on writes.
            execute(dsn, f'ALTER TABLE "{schema}".{prefix}events RENAME TO gone')
            texts.append(repr(await postgres_store.read_log(store)))
            texts.append(repr(await append(store, "acc-2", 0, [opened("acc-2")])))
            execute(dsn, f'ALTER TABLE "{schema}".gone RENAME TO {prefix}events')
            supervisor.shutdown()
        texts.append(repr(await postgres_store.read_log(store)))  # stopped
    assert_secret_absent(secret, texts, every_log_record)


@pytest.mark.parametrize(
    "secret_dsn",
    [
        # No server on port 1: connection refused.
        f"host=127.0.0.1 port=1 user=postgres password={SECRET} dbname=test",
        f"postgresql://postgres:{SECRET}@127.0.0.1:1/test",
        # A server that answers, for a user that does not exist.
        "SERVER_WITH_UNKNOWN_USER",
    ],
)
async def test_start_errors_never_show_the_password(
    dsn: str, schema: str, secret_dsn: str, every_log_record: list[logging.LogRecord]
) -> None:
    if secret_dsn == "SERVER_WITH_UNKNOWN_USER":
        from psycopg import conninfo

        secret_dsn = conninfo.make_conninfo(
            dsn, user="trio_es_nobody", password=SECRET, connect_timeout=3
        )
    store, spec = postgres_store.supervised(secret_dsn, CODEC, schema=schema, connect_timeout=2)
    async with trio.open_nursery() as nursery:
        started = await spec.start(nursery)
    assert isinstance(started, Error)
    texts = [repr(started), started.error.reason, repr(store.eventstore)]
    assert "failed on PostgreSQL" in started.error.reason
    assert_secret_absent(SECRET, texts, every_log_record)


@pytest.mark.usefixtures("driver")
def test_a_dsn_that_does_not_parse_is_not_quoted(every_log_record: list[logging.LogRecord]) -> None:
    with pytest.raises(ValueError, match="not a valid PostgreSQL connection string") as raised:
        postgres_store.supervised(f"host=db password={SECRET} user", CODEC)
    assert_secret_absent(SECRET, [str(raised.value), repr(raised.value)], every_log_record)


# DSNs people write, though they are malformed, and the password each holds. In a URI the
# driver ends the user info at the first `@` before a `/`: it reads the first as password
# "s3cret", host "Pa55" and database "w0rd@127.0.0.1:5432/test". A database name may hold
# a whole URI; the server then quotes it in its "does not exist" message.
MALFORMED_DSNS = {
    "unescaped @ and /": (
        "postgresql://postgres:s3cret@Pa55/w0rd@127.0.0.1:5432/test",
        "s3cret@Pa55/w0rd",
    ),
    "unescaped @": ("postgresql://postgres:s3cret@Pa55@127.0.0.1:1/test", "s3cret@Pa55"),
    "unescaped /": ("postgresql://postgres:s3cret/Pa55@127.0.0.1:1/test", "s3cret/Pa55"),
    "a URI as dbname": (
        "host=127.0.0.1 user=postgres dbname=postgresql://u:s3cret-Pa55@db.example/bank",
        "s3cret-Pa55",
    ),
}
MALFORMED = pytest.mark.parametrize(
    ("secret_dsn", "secret"), list(MALFORMED_DSNS.values()), ids=list(MALFORMED_DSNS)
)


def pieces(secret: str) -> list[str]:
    """The password, and each part of it that one reading or another takes for another part."""
    return [secret, *(piece for piece in re.split("[@/]", secret) if len(piece) > 2)]


@pytest.mark.usefixtures("driver")
@MALFORMED
def test_a_malformed_dsn_is_described_without_its_password(
    secret_dsn: str, secret: str, every_log_record: list[logging.LogRecord]
) -> None:
    store, _ = postgres_store.supervised(secret_dsn, CODEC)
    texts = [repr(store), repr(store.eventstore), str(store.eventstore), store.eventstore.server]
    for piece in pieces(secret):
        assert_secret_absent(piece, texts, every_log_record)


@MALFORMED
async def test_a_malformed_dsn_never_shows_its_password_in_start_errors(
    dsn: str, schema: str, secret_dsn: str, secret: str, every_log_record: list[logging.LogRecord]
) -> None:
    store, spec = postgres_store.supervised(secret_dsn, CODEC, schema=schema, connect_timeout=2)
    async with trio.open_nursery() as nursery:
        started = await spec.start(nursery)
    assert isinstance(started, Error)
    assert "failed on PostgreSQL" in started.error.reason
    texts = [repr(started), started.error.reason, repr(store.eventstore)]
    for piece in pieces(secret):
        assert_secret_absent(piece, texts, every_log_record)


@MALFORMED
async def test_a_malformed_dsn_never_shows_its_password_in_store_errors(
    dsn: str, schema: str, secret_dsn: str, secret: str, every_log_record: list[logging.LogRecord]
) -> None:
    store, spec = postgres_store.supervised(secret_dsn, CODEC, schema=schema, connect_timeout=2)
    texts = [repr(await append(store, "acc-0", 0, [opened("acc-0")]))]
    texts.append(repr(await postgres_store.read_log(store)))
    async with trio.open_nursery() as nursery:
        await spec.start(nursery)
    texts.append(repr(await append(store, "acc-0", 0, [opened("acc-0")])))
    for piece in pieces(secret):
        assert_secret_absent(piece, texts, every_log_record)


@MALFORMED
@pytest.mark.parametrize("command", [["stats"], ["aggregates"], ["log", "--follow"]], ids=" ".join)
def test_a_malformed_dsn_never_shows_its_password_on_the_command_line(
    capsys: pytest.CaptureFixture[str],
    dsn: str,
    secret_dsn: str,
    secret: str,
    command: list[str],
    every_log_record: list[logging.LogRecord],
) -> None:
    outcome = cli(capsys, command[0], secret_dsn, *command[1:])
    assert outcome.status in (1, 2)
    lines = outcome.err.splitlines()
    assert len(lines) == 1, outcome.err
    assert lines[0].startswith("trio-eventsourcing: error: ")
    for piece in pieces(secret):
        assert_secret_absent(piece, [outcome.out, outcome.err], every_log_record)
