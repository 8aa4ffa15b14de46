"""Commits in doubt: a failure once ``COMMIT`` may have been sent is resolved, never guessed.

Whatever fails after the writer sent its ``COMMIT`` (a broken connection, or psycopg's
"cannot exit pipeline mode while busy" on a connection it still calls healthy), the
writer asks the server whether the transaction committed before it retries or answers:
committed, the batch is acknowledged; rolled back, it is retried; unknown (the server
cannot be asked in time), each request gets ``OutcomeUnknown``. So an acknowledged
command is stored exactly once, a failed one not at all, and the writer never reports
its own commit as a conflict.

The failures are made by the server (``pg_terminate_backend`` just after the
``COMMIT``), by the network (the proxy of ``proxy.py`` cuts the stream, or drops what
goes one way), and by the driver (the very exception psycopg raised in the field).
"""

from __future__ import annotations

import contextlib
import logging
import random
import secrets
import threading
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import trio

import trio_eventsourcing as eventsourcing
from tests.contracts.store_contract import answer, append, is_stored, open_bank, opened
from tests.postgres.helpers import connect, install_hold, rows, running_store, wait_until, waiting
from tests.postgres.proxy import Proxy, running_proxy
from trio_eventsourcing import (
    CommandAlreadyStored,
    ConcurrencyConflict,
    Error,
    EventSourcingError,
    EventStoreError,
    Ok,
    OutcomeUnknown,
    Result,
    StoreResult,
)
from trio_eventsourcing.examples.bank_account import BankAccountError, DepositMoney, OpenAccount

WRITER_THREAD = "trio-eventsourcing PostgreSQL writer"
WENT_THROUGH = "the commit went through"


def stored(dsn: str, schema: str, aggregate_id: str) -> list[int]:
    """The sequences stored for ``aggregate_id``, in order."""
    return [
        row[0]
        for row in rows(
            dsn,
            f'SELECT sequence FROM "{schema}".trio_es_events WHERE aggregate_id = %s'
            " ORDER BY sequence",
            (aggregate_id,),
        )
    ]


def in_writer_thread() -> bool:
    return threading.current_thread().name.startswith(WRITER_THREAD)


# --- the driver's exception after the server committed ----------------------------------------


@contextlib.contextmanager
def pipeline_fails_after_commit(count: int) -> Iterator[list[int]]:
    """Make the writer's next ``count`` committed pipelines raise as psycopg did in the field.

    The server has committed; psycopg raises ``OperationalError: cannot exit pipeline
    mode while busy`` and the connection is not broken. Yields the list of the backend
    ids that raised.
    """
    import psycopg
    from psycopg.pq import TransactionStatus

    real = psycopg.Connection.pipeline
    raised: list[int] = []

    @contextlib.contextmanager
    def pipeline(self: psycopg.Connection[Any]) -> Iterator[psycopg.Pipeline]:
        with real(self) as opened_pipeline:
            yield opened_pipeline
        committed = self.info.transaction_status == TransactionStatus.IDLE
        if in_writer_thread() and committed and len(raised) < count:
            raised.append(self.info.backend_pid)
            raise psycopg.OperationalError("cannot exit pipeline mode while busy")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(psycopg.Connection, "pipeline", pipeline)
        yield raised


async def test_a_commit_that_raised_after_the_server_committed_is_acknowledged_once(
    dsn: str, schema: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_store(dsn, schema) as store:
        assert isinstance(await append(store, "acc-1", 0, [opened("acc-1")]), Ok)
        before = store.eventstore.statistics()
        with pipeline_fails_after_commit(1) as raised:
            outcome = await append(store, "acc-1", 1, [opened("again")])
        assert len(raised) == 1
        # Not retried blindly (that would find its own commit stale: a conflict).
        assert isinstance(outcome, Ok), outcome
        after = store.eventstore.statistics()
        assert stored(dsn, schema, "acc-1") == [1, 2]
        assert after.conflicts == before.conflicts
        assert after.transactions == before.transactions + 1
        assert after.reconnects == before.reconnects + 1
    assert WENT_THROUGH in caplog.text


async def test_a_batch_that_raised_after_the_server_committed_keeps_every_answer(
    dsn: str, schema: str
) -> None:
    async with running_store(dsn, schema) as store:
        for account in ("acc-1", "acc-2"):
            assert isinstance(await append(store, account, 0, [opened(account)]), Ok)
        outcomes: dict[str, StoreResult[object]] = {}

        async def write(name: str, account: str, expected: int, key: str | None) -> None:
            outcomes[name] = await append(store, account, expected, [opened(name)], key=key)

        # Both batches raise: "warm", taken alone while the lock is held, then the others,
        # queued together behind the position lock: one batch.
        with pipeline_fails_after_commit(2) as raised, connect(dsn) as blocker:
            blocker.execute("BEGIN")
            blocker.execute(f'SELECT 1 FROM "{schema}".trio_es_store FOR UPDATE')
            async with trio.open_nursery() as nursery:
                nursery.start_soon(write, "warm", "warm", 0, None)
                await wait_until(lambda: waiting(dsn, schema, {"transactionid", "tuple"}) == 1)
                nursery.start_soon(write, "fresh", "acc-1", 1, "k-fresh")
                nursery.start_soon(write, "stale", "acc-2", 0, None)
                nursery.start_soon(write, "keyed", "acc-2", 1, "k-keyed")
                await trio.testing.wait_all_tasks_blocked()
                blocker.execute("COMMIT")
        assert len(raised) == 2
        assert store.eventstore.statistics().largest_batch == 3
        assert isinstance(outcomes["warm"], Ok), outcomes
        assert isinstance(outcomes["fresh"], Ok), outcomes
        assert isinstance(outcomes["keyed"], Ok), outcomes
        # Stale whatever the order the batch took them in: its conflict stands.
        stale = outcomes["stale"]
        assert isinstance(stale, Error), stale
        assert isinstance(stale.error, ConcurrencyConflict), stale
        assert stored(dsn, schema, "acc-1") == [1, 2]
        assert stored(dsn, schema, "acc-2") == [1, 2]
        assert store.eventstore.statistics().conflicts == 1


# --- the server ends the backend right after the COMMIT ---------------------------------------


@contextlib.contextmanager
def backend_killed_after_commit(dsn: str) -> Iterator[list[int]]:
    """Have the writer's backend ended 0 to 2 ms after each ``COMMIT`` it sends.

    That is the window in which the server may have committed while psycopg still
    waits for the answer. Yields the list of the backends ended.
    """
    import psycopg

    real = psycopg.Connection.execute
    killed: list[int] = []
    lock = threading.Lock()
    timers: list[threading.Timer] = []
    with connect(dsn) as admin:

        def kill(pid: int) -> None:
            with lock:
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
                killed.append(pid)

        def execute(self: psycopg.Connection[Any], query: Any, *args: Any, **kwargs: Any) -> Any:
            if query == "COMMIT" and in_writer_thread():
                timer = threading.Timer(random.uniform(0, 0.002), kill, (self.info.backend_pid,))
                timers.append(timer)
                timer.start()
            return real(self, query, *args, **kwargs)

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(psycopg.Connection, "execute", execute)
            try:
                yield killed
            finally:
                for timer in timers:
                    timer.join()


async def test_backends_ended_right_after_commit_never_turn_a_commit_into_a_conflict(
    dsn: str, schema: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="trio_eventsourcing.postgres_store")
    attempts = 60
    outcomes: list[StoreResult[object]] = []
    async with running_store(dsn, schema) as store:
        with backend_killed_after_commit(dsn) as killed:
            for n in range(attempts):
                outcomes.append(await append(store, f"acc-{n}", 0, [opened(f"acc-{n}")]))
        statistics = store.eventstore.statistics()
    assert len(killed) >= attempts
    for n, outcome in enumerate(outcomes):
        if isinstance(outcome, Ok):
            assert stored(dsn, schema, f"acc-{n}") == [1], n
        else:
            # Never a conflict with itself; failed means not stored, unless it says
            # that nobody could tell.
            assert isinstance(outcome, Error)
            assert isinstance(outcome.error, EventStoreError), outcome
            most = 1 if "outcome is unknown" in outcome.error.message else 0
            assert len(stored(dsn, schema, f"acc-{n}")) <= most, outcome
    assert statistics.conflicts == 0
    went_through = caplog.text.count(WENT_THROUGH)
    assert sum(isinstance(outcome, Ok) for outcome in outcomes) >= attempts * 0.9, (
        f"{went_through} commits found committed after their connection failed"
    )


# --- the network --------------------------------------------------------------------------------


async def test_a_stream_cut_after_the_commit_was_sent_is_found_committed(
    dsn: str, schema: str, caplog: pytest.LogCaptureFixture
) -> None:
    key = secrets.randbelow(2**31)
    async with running_proxy(dsn) as proxy, running_store(proxy.dsn, schema) as store:
        assert isinstance(await append(store, "before", 0, [opened("before")]), Ok)
        install_hold(dsn, schema, "trio_es_events", key)
        with connect(dsn) as gate:
            gate.execute("SELECT pg_advisory_lock(%s)", (key,))
            async with trio.open_nursery() as nursery:
                outcome: list[StoreResult[object]] = []

                async def write() -> None:
                    outcome.append(await append(store, "slow", 0, [opened("slow")], key="k"))

                nursery.start_soon(write)
                # The whole batch, COMMIT included, has reached the server, which waits
                # in the INSERT; the proxy has forwarded all it got.
                await wait_until(lambda: waiting(dsn, schema, {"advisory"}) == 1)
                await trio.testing.wait_all_tasks_blocked(cushion=0.05)
                proxy.refuse = True
                proxy.cut()
                # The server still runs the batch to its COMMIT, its client gone.
                gate.execute("SELECT pg_advisory_unlock(%s)", (key,))
                await wait_until(lambda: stored(dsn, schema, "slow") == [1])
                proxy.refuse = False
        assert outcome == [outcome[0]]
        assert isinstance(outcome[0], Ok), outcome
        assert stored(dsn, schema, "slow") == [1]
        statistics = store.eventstore.statistics()
        assert statistics.conflicts == 0
        assert statistics.transactions == 2
    assert WENT_THROUGH in caplog.text


async def append_with_its_commit_lost(
    dsn: str, schema: str, proxy: Proxy, store: Any
) -> StoreResult[object]:
    """Append to ``"lost"`` (key ``"k"``) while what the writer sends after it has taken
    the position lock, its ``COMMIT`` included, vanishes; then the stream is cut.
    """
    with connect(dsn) as blocker:
        blocker.execute("BEGIN")
        blocker.execute(f'SELECT 1 FROM "{schema}".trio_es_store FOR UPDATE')
        async with trio.open_nursery() as nursery:
            outcome: list[StoreResult[object]] = []

            async def write() -> None:
                outcome.append(await append(store, "lost", 0, [opened("lost")], key="k"))

            nursery.start_soon(write)
            # The writer waits for the position lock; what it sends next vanishes.
            await wait_until(lambda: waiting(dsn, schema, {"transactionid", "tuple"}) == 1)
            proxy.swallow_requests = True
            blocker.execute("COMMIT")
            with trio.fail_after(10):
                while proxy.dropped_requests == 0:  # noqa: ASYNC110
                    await trio.sleep(0.001)
            proxy.swallow_requests = False
            proxy.cut()
    return outcome[0]


async def test_a_commit_that_never_reached_the_server_is_retried_once(
    dsn: str, schema: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_proxy(dsn) as proxy, running_store(proxy.dsn, schema) as store:
        assert isinstance(await append(store, "before", 0, [opened("before")]), Ok)
        outcome = await append_with_its_commit_lost(dsn, schema, proxy, store)
        assert isinstance(outcome, Ok), outcome
        assert stored(dsn, schema, "lost") == [1]
        statistics = store.eventstore.statistics()
        assert statistics.conflicts == 0
        assert statistics.reconnects >= 1
    assert WENT_THROUGH not in caplog.text


async def test_outcome_unknown_only_when_the_server_cannot_be_asked(dsn: str, schema: str) -> None:
    key = secrets.randbelow(2**31)
    async with (
        running_proxy(dsn) as proxy,
        running_store(proxy.dsn, schema, retry_timeout=1.0, connect_timeout=1.0) as store,
    ):
        assert isinstance(await append(store, "before", 0, [opened("before")]), Ok)
        install_hold(dsn, schema, "trio_es_events", key)
        with connect(dsn) as gate:
            gate.execute("SELECT pg_advisory_lock(%s)", (key,))
            async with trio.open_nursery() as nursery:
                outcome: list[StoreResult[object]] = []

                async def write() -> None:
                    outcome.append(await append(store, "slow", 0, [opened("slow")], key="k1"))

                nursery.start_soon(write)
                await wait_until(lambda: waiting(dsn, schema, {"advisory"}) == 1)
                # The commit goes through unannounced, and the server stays out of reach
                # for longer than retry_timeout.
                proxy.swallow_replies = True
                gate.execute("SELECT pg_advisory_unlock(%s)", (key,))
                await wait_until(lambda: stored(dsn, schema, "slow") == [1])
                proxy.refuse = True
                proxy.cut()
        assert len(outcome) == 1
        assert isinstance(outcome[0], Error), outcome
        unknown = outcome[0].error
        assert isinstance(unknown, OutcomeUnknown), unknown
        assert (unknown.aggregate_id, unknown.idempotency_key) == ("slow", "k1")
        proxy.swallow_replies = False
        proxy.refuse = False
        # Asked again with its key, the store has the answer: it was stored, once.
        assert await is_stored(store, "slow", "k1")
        again = await append(store, "slow", 0, [opened("slow")], key="k1")
        assert again == Error(CommandAlreadyStored("slow", "k1"))
        assert stored(dsn, schema, "slow") == [1]
        assert store.eventstore.statistics().conflicts == 0


# --- under load -----------------------------------------------------------------------------------


@pytest.mark.slow
async def test_backends_ended_every_few_tenths_of_a_second_store_each_command_once(
    dsn: str, schema: str
) -> None:
    # The fault injection that found the bug: 30 clients, the store's backends ended
    # every 0.1 to 0.5 s, for a few seconds.
    clients, seconds = 30, 4.0
    kills = 0
    acknowledged: set[str] = set()
    unknown: list[tuple[str, str, str]] = []
    failed: list[Result[None, EventSourcingError[BankAccountError]]] = []
    async with running_store(dsn, schema) as store, open_bank(store) as bank:
        for index in range(clients):
            reply = eventsourcing.execute_with_response(
                bank, f"acc-{index}", OpenAccount(f"acc-{index}"), []
            )
            assert await answer(reply) == Ok(None)
        done = trio.Event()

        async def client(index: int) -> None:
            n = 0
            while not done.is_set():
                n += 1
                command = f"c{index}-{n}"
                reply = eventsourcing.execute_with_response(
                    bank, f"acc-{index}", DepositMoney(Decimal(1)), [("cmd", command)]
                )
                outcome = await answer(reply)
                if outcome == Ok(None):
                    acknowledged.add(command)
                elif isinstance(outcome, Error) and isinstance(outcome.error, OutcomeUnknown):
                    error = outcome.error
                    unknown.append((command, error.aggregate_id, error.idempotency_key))
                else:
                    failed.append(outcome)

        async def killer() -> None:
            nonlocal kills
            with trio.move_on_after(seconds):
                while True:
                    await trio.sleep(random.uniform(0.1, 0.5))
                    await trio.to_thread.run_sync(terminate_all, dsn, schema)
                    kills += 1
            done.set()

        with trio.fail_after(seconds + 60):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(killer)
                for index in range(clients):
                    nursery.start_soon(client, index)
        # A command whose outcome was unknown, sent again with its key: answered Ok,
        # stored at most once in all.
        for command, aggregate_id, key in unknown:
            reply = eventsourcing.execute_with_response(
                bank,
                aggregate_id,
                DepositMoney(Decimal(1)),
                [("cmd", command)],
                idempotency_key=key,
            )
            assert await answer(reply) == Ok(None)
            acknowledged.add(command)
        statistics = store.eventstore.statistics()
    assert kills >= 5
    assert statistics.reconnects >= 1
    # Each client has its own account: every conflict would be the writer's own commit.
    assert statistics.conflicts == 0
    commands: list[str] = []
    for aggregate_id, sequences in _streams(dsn, schema).items():
        assert sequences == list(range(1, len(sequences) + 1)), aggregate_id
    for (metadata,) in rows(dsn, f'SELECT metadata FROM "{schema}".trio_es_events'):
        if metadata != "[]":
            commands.append(metadata.split('"')[3])
    assert len(commands) == len(set(commands)), "a command was stored twice"
    assert acknowledged <= set(commands), sorted(acknowledged - set(commands))
    assert all(isinstance(f, Error) for f in failed), failed
    assert len(acknowledged) >= 0.9 * (len(acknowledged) + len(failed))


def terminate_all(dsn: str, schema: str) -> None:
    rows(
        dsn,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE application_name LIKE %s AND pid <> pg_backend_pid()",
        (f"trio-eventsourcing % {schema}.%",),
    )


def _streams(dsn: str, schema: str) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for aggregate_id, sequence in rows(
        dsn,
        f'SELECT aggregate_id, sequence FROM "{schema}".trio_es_events ORDER BY aggregate_id,'
        " sequence",
    ):
        found.setdefault(aggregate_id, []).append(sequence)
    return found


# --- after a restart of the server ----------------------------------------------------------


def as_if_the_server_restarted(store: Any, xid: str | None = None) -> None:
    """Make the writer note a server start time that is not the server's, as after a restart.

    With ``xid``, the writer also notes that id for its transactions: one the server has
    given before, as a server restarted after a crash may give a lost transaction's id
    to another.
    """
    names = store.eventstore._running.names
    noted = "pg_current_xact_id()::text" if xid is None else f"'{xid}'"
    names.lock = (
        f"SELECT last_position, {noted}, 'an earlier run of the server'"
        f" FROM {names.store} FOR UPDATE"
    )


async def test_a_commit_lost_before_a_restart_is_not_taken_for_another_with_its_id(
    dsn: str, schema: str
) -> None:
    async with running_proxy(dsn) as proxy, running_store(proxy.dsn, schema) as store:
        assert isinstance(await append(store, "before", 0, [opened("before")]), Ok)
        with connect(dsn) as other:
            other.execute("BEGIN")
            (xid,) = other.execute("SELECT pg_current_xact_id()::text").fetchone() or ("",)
            other.execute("COMMIT")
        # The writer's transaction carries a committed transaction's id, as after a crash
        # that lost it and a restart that gave its id again; then its COMMIT is lost.
        as_if_the_server_restarted(store, xid)
        outcome = await append_with_its_commit_lost(dsn, schema, proxy, store)
        # Not acknowledged on the other transaction's status: found missing, stored again.
        assert isinstance(outcome, Ok), outcome
        assert stored(dsn, schema, "lost") == [1]


async def test_a_commit_that_went_through_before_a_restart_is_found_by_its_row(
    dsn: str, schema: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_store(dsn, schema) as store:
        assert isinstance(await append(store, "acc-1", 0, [opened("acc-1")]), Ok)
        as_if_the_server_restarted(store)
        with pipeline_fails_after_commit(1) as raised:
            outcome = await append(store, "acc-1", 1, [opened("again")], key="k-2")
        assert len(raised) == 1
        assert isinstance(outcome, Ok), outcome
        assert stored(dsn, schema, "acc-1") == [1, 2]
        assert store.eventstore.statistics().conflicts == 0
    assert WENT_THROUGH in caplog.text
