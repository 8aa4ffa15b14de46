"""Lost connections: retried or reported, never a hang, never a lost or doubled command.

Connections are ended from the server side (``pg_terminate_backend``, as an
administrator or a failover would) and from the network side (a proxy that cuts them,
or lets the server's answers vanish so that a commit goes through unannounced).
"""

from __future__ import annotations

import secrets
from decimal import Decimal

import trio

import trio_eventsourcing as eventsourcing
from tests.contracts.store_contract import answer, append, load, open_bank, opened
from tests.postgres.helpers import (
    connect,
    install_hold,
    rows,
    running_store,
    store_backends,
    wait_until,
    waiting,
)
from tests.postgres.proxy import running_proxy
from trio_eventsourcing import (
    Error,
    EventSourcingError,
    EventStoreError,
    Ok,
    Result,
    StoreFailure,
    StoreResult,
    postgres_store,
)
from trio_eventsourcing.examples.bank_account import BankAccountError, DepositMoney, OpenAccount


def terminate(dsn: str, schema: str, role: str = "") -> int:
    """End the store's backends (of ``role``, ``"writer"`` or ``"reader"``, if given)."""
    ended = 0
    for pid, name, _, _ in store_backends(dsn, schema):
        if role in name:
            ended += rows(dsn, "SELECT pg_terminate_backend(%s)", (pid,))[0][0]
    return ended


def stored_rows(dsn: str, schema: str, aggregate_id: str) -> list[tuple[int, str]]:
    return [
        (row[0], row[1])
        for row in rows(
            dsn,
            f'SELECT sequence, metadata FROM "{schema}".trio_es_events'
            " WHERE aggregate_id = %s ORDER BY sequence",
            (aggregate_id,),
        )
    ]


async def test_a_writer_ended_in_the_middle_of_a_commit_retries_it_once(
    dsn: str, schema: str
) -> None:
    key = secrets.randbelow(2**31)
    async with running_store(dsn, schema) as store:
        assert isinstance(await append(store, "before", 0, [opened("before")]), Ok)
        install_hold(dsn, schema, "trio_es_events", key)
        with connect(dsn) as gate:
            gate.execute("SELECT pg_advisory_lock(%s)", (key,))
            async with trio.open_nursery() as nursery:
                outcome: list[StoreResult[object]] = []

                async def write() -> None:
                    outcome.append(await append(store, "slow", 0, [opened("slow")], [("n", "1")]))

                nursery.start_soon(write)
                # The writer has sent its batch, COMMIT included, and waits in the INSERT.
                await wait_until(lambda: waiting(dsn, schema, {"advisory"}) == 1)
                assert terminate(dsn, schema, "writer") == 1
                gate.execute("SELECT pg_advisory_unlock(%s)", (key,))
        assert len(outcome) == 1
        assert isinstance(outcome[0], Ok), outcome
        # Looked up as rolled back (the backend was ended), so retried: stored once.
        assert stored_rows(dsn, schema, "slow") == [(1, '[["n","1"]]')]
        assert store.eventstore.statistics().reconnects >= 1
        assert isinstance(await append(store, "after", 0, [opened("after")]), Ok)
        log = (await postgres_store.read_log(store)).unwrap()
        assert [(e.position, e.envelope.aggregate_id) for e in log] == [
            (1, "before"),
            (2, "slow"),
            (3, "after"),
        ]


async def test_a_commit_whose_answer_is_lost_is_found_committed_and_not_repeated(
    dsn: str, schema: str
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
                    outcome.append(await append(store, "slow", 0, [opened("slow")]))

                nursery.start_soon(write)
                await wait_until(lambda: waiting(dsn, schema, {"advisory"}) == 1)
                # From now on the server's answers vanish: the commit will go through,
                # and the store will not hear of it.
                proxy.swallow_replies = True
                gate.execute("SELECT pg_advisory_unlock(%s)", (key,))
                await wait_until(lambda: stored_rows(dsn, schema, "slow") != [])
                proxy.swallow_replies = False
                proxy.cut()
        assert len(outcome) == 1
        assert isinstance(outcome[0], Ok), outcome
        assert [sequence for sequence, _ in stored_rows(dsn, schema, "slow")] == [1]
        stats = store.eventstore.statistics()
        assert stats.reconnects >= 1
        assert stats.transactions == 2


async def test_readers_carry_on_after_their_connections_are_ended(dsn: str, schema: str) -> None:
    async with running_store(dsn, schema, max_readers=2) as store:
        assert isinstance(await append(store, "acc-1", 0, [opened("acc-1")]), Ok)
        assert len(await load(store, "acc-1")) == 1
        assert terminate(dsn, schema, "reader") >= 1
        # The first read on a dead connection is retried on a new one.
        assert len(await load(store, "acc-1")) == 1
        assert isinstance(await postgres_store.read_log(store), Ok)


async def test_a_read_waiting_on_a_silent_server_does_not_hold_up_the_stop(
    dsn: str, schema: str
) -> None:
    async with running_proxy(dsn) as proxy:
        async with running_store(proxy.dsn, schema) as store:
            assert isinstance(await append(store, "acc-1", 0, [opened("acc-1")]), Ok)
            proxy.swallow_replies = True
            async with trio.open_nursery() as nursery:
                nursery.start_soon(postgres_store.read_log, store)
                # The server has answered the read, and the answer was lost on its way.
                await wait_until(lambda: proxy.swallowed_replies > 0)
                # The read's caller gives up; its thread still waits for an answer.
                nursery.cancel_scope.cancel()
            stopping = trio.current_time()
        # The stop did not wait for the read, which ends on its own once cut off.
        assert trio.current_time() - stopping < 10
        proxy.cut()


async def test_a_server_gone_mid_run_is_reported_in_bounded_time_then_the_store_recovers(
    dsn: str, schema: str
) -> None:
    async with (
        running_proxy(dsn) as proxy,
        running_store(proxy.dsn, schema, retry_timeout=1.0, connect_timeout=1.0) as store,
    ):
        assert isinstance(await append(store, "acc-1", 0, [opened("acc-1")]), Ok)
        proxy.refuse = True
        proxy.cut()
        with trio.fail_after(10):  # retry_timeout, plus reconnect attempts: never a hang
            written = await append(store, "acc-2", 0, [opened("acc-2")])
            read = await postgres_store.read_log(store)
        assert isinstance(written, Error)
        assert isinstance(written.error, EventStoreError)
        assert written.error.kind is StoreFailure.UNREACHABLE
        assert "connecting the writer failed" in written.error.message
        assert isinstance(read, Error)
        assert isinstance(read.error, EventStoreError)
        assert read.error.kind is StoreFailure.UNREACHABLE
        proxy.refuse = False
        assert isinstance(await append(store, "acc-2", 0, [opened("acc-2")]), Ok)
        assert [
            e.envelope.aggregate_id for e in (await postgres_store.read_log(store)).unwrap()
        ] == [
            "acc-1",
            "acc-2",
        ]


async def test_backends_ended_under_load_lose_and_double_no_acknowledged_command(
    dsn: str, schema: str
) -> None:
    accounts, clients, commands_each, kills = 8, 16, 25, 3
    acknowledged: set[str] = set()
    failed: list[Result[None, EventSourcingError[BankAccountError]]] = []
    async with running_store(dsn, schema) as store, open_bank(store) as bank:
        for index in range(accounts):
            reply = eventsourcing.execute_with_response(
                bank, f"acc-{index}", OpenAccount(f"acc-{index}"), []
            )
            assert await answer(reply) == Ok(None)
        progress = trio.Event()

        async def client(index: int) -> None:
            for n in range(commands_each):
                command = f"c{index}-{n}"
                reply = eventsourcing.execute_with_response(
                    bank, f"acc-{index % accounts}", DepositMoney(Decimal(1)), [("cmd", command)]
                )
                outcome = await answer(reply)
                if outcome == Ok(None):
                    acknowledged.add(command)
                else:
                    failed.append(outcome)
                if len(acknowledged) % 40 == 0:
                    progress.set()

        with trio.fail_after(60):
            async with trio.open_nursery() as nursery:
                for index in range(clients):
                    nursery.start_soon(client, index)
                for _ in range(kills):
                    await progress.wait()
                    progress = trio.Event()
                    terminate(dsn, schema)
        assert store.eventstore.statistics().reconnects >= 1
    stored: dict[str, list[int]] = {}
    commands: list[str] = []
    for aggregate_id, sequence, metadata in rows(
        dsn,
        f'SELECT aggregate_id, sequence, metadata FROM "{schema}".trio_es_events ORDER BY position',
    ):
        stored.setdefault(aggregate_id, []).append(sequence)
        if metadata != "[]":
            commands.append(metadata)
    assert all(s == list(range(1, len(s) + 1)) for s in stored.values())
    assert len(commands) == len(set(commands)), "a command was stored twice"
    ids = {command.split('"')[3] for command in commands}
    assert acknowledged <= ids, f"acknowledged but not stored: {sorted(acknowledged - ids)}"
    # A failure is reported as such (never a hang), and is rare: most commands went through.
    assert all(isinstance(f, Error) for f in failed), failed
    assert len(acknowledged) >= clients * commands_each * 0.9
