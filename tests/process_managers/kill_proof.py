"""The transfer proof with the manager's process killed (``kill -9``) at random moments.

This process runs the three systems for the clients and the other bank; one or more
worker processes (``python -m tests.process_managers.transfer_bank``) run the same
systems and the transfers' process manager on the same database. While the transfers
are under way a worker is killed at a random moment and started again, over and over;
with two workers on PostgreSQL, the one that stands by takes over. Once the stored
manager has nothing left to do, the stores are checked afresh (``transfer_proof.check``).
"""

from __future__ import annotations

import os
import random
import sqlite3
import subprocess
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import trio

from tests.process_managers.transfer_bank import MANAGER, Backend, bank, other_bank
from tests.process_managers.transfer_proof import check, open_accounts, plan, request_all

REPOSITORY = Path(__file__).resolve().parents[2]

try:
    from psycopg import Error as _DriverError
except ImportError:  # pragma: no cover - the SQLite proof runs without psycopg
    _DriverError = sqlite3.Error  # type: ignore[assignment,misc]
_START_S = 60


@dataclass
class Faults:
    """The faults a run made: workers killed, database servers crashed."""

    kills: int = 0
    crashes: int = 0


@dataclass(frozen=True)
class Stored:
    """What the store holds of the manager: its position and what it has pending."""

    position: int
    instances: int
    outbox: int
    timers: int


def stored(backend: Backend) -> Stored | None:
    """Read the manager's stored state (blocks; ``None`` before its first save)."""
    tables = ("positions", "instances", "outbox", "timers")
    if backend.kind == "sqlite":
        file = sqlite3.connect(backend.where, timeout=30)
        try:
            counts = [
                file.execute(
                    f"SELECT {'max(position)' if table == 'positions' else 'count(*)'}"
                    f" FROM process_manager_{table} WHERE name = ?",
                    (MANAGER,),
                ).fetchone()[0]
                for table in tables
            ]
        finally:
            file.close()
    else:
        import psycopg

        dsn, schema = backend.where.rsplit(" ", 1)
        with psycopg.connect(dsn, autocommit=True) as server:
            counts = []
            for table in tables:
                row = server.execute(
                    f"SELECT {'max(position)' if table == 'positions' else 'count(*)'}"
                    f' FROM "{schema}"."trio_es_process_manager_{table}" WHERE name = %s',
                    (MANAGER,),
                ).fetchone()
                assert row is not None
                counts.append(row[0])
    if counts[0] is None:
        return None
    return Stored(*(int(count) for count in counts))


async def start_worker(backend: Backend, deadline: float) -> trio.Process:
    """Start a worker process and wait until its bank is up."""
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPOSITORY), *sys.path])}
    worker = await trio.lowlevel.open_process(
        [
            sys.executable,
            "-m",
            "tests.process_managers.transfer_bank",
            *backend.argv(),
            str(deadline),
        ],
        stdout=subprocess.PIPE,
        cwd=REPOSITORY,
        env=environment,
    )
    assert worker.stdout is not None
    seen = b""
    with trio.fail_after(_START_S):
        while b"ready\n" not in seen:
            chunk = await worker.stdout.receive_some()
            assert chunk, f"the worker exited before it was ready ({worker.returncode})"
            seen += chunk
    return worker


async def settled(backend: Backend, log_head: Callable[[], Awaitable[int]]) -> Stored:
    """Wait until the stored manager is at the end of the log with nothing pending."""
    while True:
        head = await log_head()
        try:
            state = await trio.to_thread.run_sync(stored, backend)
        except (sqlite3.Error, OSError, _DriverError):
            state = None  # the server is down: look again
        if (
            state is not None
            and state.position >= head
            and (state.instances, state.outbox, state.timers) == (0, 0, 0)
        ):
            return state
        await trio.sleep(0.2)


async def transfers_survive_kills(
    backend: Backend,
    count: int,
    *,
    deadline: float,
    workers: int = 1,
    kill_within: float = 1.0,
    seed: int = 11,
    crash_server: Callable[[], None] | None = None,
) -> Faults:
    """Run the proof with workers killed at random moments; return the faults made.

    ``kill_within``: each fault falls at a random moment at most this many seconds after
    the worker it kills was up (or after the previous fault). ``crash_server``: one
    fault in three is a call of it instead (it crashes the database server and starts
    it again), in a thread.
    """
    rng = random.Random(seed)
    planned = plan(count)
    faults = Faults()
    running: list[trio.Process] = []
    try:
        async with (
            trio.open_nursery() as nursery,
            bank(backend, deadline, run_manager=False) as the_bank,
        ):
            await open_accounts(the_bank, planned)
            nursery.start_soon(other_bank, the_bank, planned.confirmed)
            for _ in range(workers):
                running.append(await start_worker(backend, deadline))
            done = trio.Event()

            async def kill_now_and_then() -> None:
                while not done.is_set():
                    await trio.sleep(rng.uniform(0.05, kill_within))
                    if crash_server is not None and rng.random() < 1 / 3:
                        await trio.to_thread.run_sync(crash_server)
                        faults.crashes += 1
                        continue
                    index = rng.randrange(len(running))
                    running[index].kill()
                    await running[index].wait()
                    faults.kills += 1
                    running[index] = await start_worker(backend, deadline)

            async def head() -> int:
                log = await the_bank.log()
                return log[-1].position if log else 0

            async with trio.open_nursery() as killing:
                killing.start_soon(kill_now_and_then)
                await request_all(the_bank, planned)
                # Kill on for a while after the last request, through the deadlines.
                with trio.move_on_after(deadline * 1.5):
                    await settled(backend, head)
                done.set()
            with trio.fail_after(120):
                await settled(backend, head)
            nursery.cancel_scope.cancel()
    finally:
        for worker in running:
            worker.kill()
            with trio.CancelScope(shield=True):
                await worker.wait()
    # Afresh: the systems of this process hold the aggregates as they were before the
    # workers moved them.
    async with bank(backend, deadline, run_manager=False) as the_bank:
        # A kill can hold a credit request back past its deadline: a planned
        # confirmation may then lose to the cancellation (see transfer_proof.check).
        await check(the_bank, planned, confirmations_in_time=False)
    return faults
