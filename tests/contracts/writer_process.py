"""A process that runs its own supervised system on a durable store and writes.

Usage (from the repository)::

    python -m tests.contracts.writer_process MODE NAME sqlite DATABASE
    python -m tests.contracts.writer_process MODE NAME postgres DSN SCHEMA

- ``race``: prints ``ready`` once its store and system run, waits for a line on stdin,
  then runs ``CLIENTS`` concurrent clients that each send ``COMMANDS`` commands to the
  ``AGGREGATES`` shared aggregates, prints its store's statistics and exits. Another
  process does the same at once.
- ``crash``: runs ``CRASH_CLIENTS`` concurrent clients on ``CRASH_AGGREGATES`` aggregates
  until it is killed.

Every command stores ``PARTS`` events naming it, on one of the shared aggregates, with a
snapshot every ten events. After a command is acknowledged its id is printed on a line
of its own (``ok <id>``) and flushed, so the test knows exactly which commands were
acknowledged; a command that fails prints ``failed <id> <error>``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import trio

import trio_eventsourcing as eventsourcing
from trio_eventsourcing import postgres_store, process, sqlite_store, static_supervisor
from trio_eventsourcing.codec import JsonCodec
from trio_eventsourcing.result import Ok, Result

AGGREGATES = 4
CLIENTS = 8
COMMANDS = 25
"""In ``race`` mode: each of ``CLIENTS`` clients sends ``COMMANDS`` to ``AGGREGATES``."""
CRASH_AGGREGATES = 8
CRASH_CLIENTS = 16
"""In ``crash`` mode: more clients, for large batches when the kill comes."""
PARTS = 3


@dataclass(frozen=True)
class Tally:
    events: int = 0


@dataclass(frozen=True)
class Marked:
    command: str
    part: int


CODEC: JsonCodec[Marked, Tally] = JsonCodec(
    events=[Marked], entities=[Tally], aggregate_type="tally"
)

TallyMessage = eventsourcing.AggregateMessage[Tally, str, Marked, None]


def handle(tally: Tally, command: str) -> Result[list[Marked], None]:
    return Ok([Marked(command, part) for part in range(PARTS)])


def apply(tally: Tally, event: Marked) -> Tally:
    return Tally(tally.events + 1)


def say(line: str) -> None:
    sys.stdout.write(f"{line}\n")
    sys.stdout.flush()


def describe(backend: str, where: list[str]) -> tuple[Any, Any]:
    """The store named on the command line, and its child."""
    if backend == "sqlite":
        (path,) = where
        return sqlite_store.supervised(path, CODEC)
    dsn, schema = where
    return postgres_store.supervised(dsn, CODEC, schema=schema)


async def main(mode: str, me: str, backend: str, where: list[str]) -> None:
    store, store_spec = describe(backend, where)
    name: process.Name[TallyMessage] = process.new_name("tally")
    config = eventsourcing.SnapshotConfig(eventsourcing.frequency(10).unwrap())
    # Another process may commit to the same aggregates: conflicts are expected, and
    # each is reloaded and retried; enough retries that none runs out.
    system = eventsourcing.supervised(
        name, store, handle, apply, Tally(), [], config, max_retries=100
    ).unwrap()
    supervisor = static_supervisor.new(static_supervisor.OneForOne).add(store_spec).add(system)
    async with supervisor.open():
        subject = process.named_subject(name)
        if mode == "race":
            say("ready")
            await trio.to_thread.run_sync(sys.stdin.readline)

        clients, aggregates = (
            (CRASH_CLIENTS, CRASH_AGGREGATES) if mode == "crash" else (CLIENTS, AGGREGATES)
        )

        async def client(index: int) -> None:
            n = 0
            while mode == "crash" or n < COMMANDS:
                command = f"{me}-{index}-{n}"
                aggregate = f"tally-{(index + n) % aggregates}"
                reply = eventsourcing.execute_with_response(subject, aggregate, command, [])
                outcome = await process.receive(reply, 30_000)
                if outcome == Ok(Ok(None)):
                    say(f"ok {command}")
                else:
                    say(f"failed {command} {outcome!r}")
                n += 1

        async with trio.open_nursery() as nursery:
            for index in range(clients):
                nursery.start_soon(client, index)
        stats = store.eventstore.statistics()
        say(f"stats conflicts={stats.conflicts} transactions={stats.transactions}")


if __name__ == "__main__":
    trio.run(main, sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:])
