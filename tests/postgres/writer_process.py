"""A process that runs its own supervised system on a PostgreSQL store and writes.

Usage: ``python writer_process.py MODE DSN SCHEMA NAME``.

- ``race``: prints ``ready`` once its store and system run, waits for a line on stdin,
  then runs ``CLIENTS`` concurrent clients that each send ``COMMANDS`` commands to the
  ``AGGREGATES`` shared aggregates, and exits. Another process does the same at once.
- ``crash``: runs concurrent clients until it is killed.

Every command stores ``PARTS`` events naming it, on one of the shared aggregates. After a
command is acknowledged its id is printed on a line of its own (``ok <id>``) and
flushed, so the test knows exactly which commands were acknowledged; a command that
fails prints ``failed <id> <error>``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import trio

import trio_eventsourcing as eventsourcing
from trio_eventsourcing import postgres_store, process, static_supervisor
from trio_eventsourcing.codec import JsonCodec
from trio_eventsourcing.result import Ok, Result

AGGREGATES = 4
CLIENTS = 8
COMMANDS = 25
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


def handle(tally: Tally, command: str) -> Result[list[Marked], None]:
    return Ok([Marked(command, part) for part in range(PARTS)])


def apply(tally: Tally, event: Marked) -> Tally:
    return Tally(tally.events + 1)


def say(line: str) -> None:
    sys.stdout.write(f"{line}\n")
    sys.stdout.flush()


async def main(mode: str, dsn: str, schema: str, me: str) -> None:
    store, store_spec = postgres_store.supervised(dsn, CODEC, schema=schema)
    name: process.Name[eventsourcing.AggregateMessage[Tally, str, Marked, None]] = process.new_name(
        "tally"
    )
    config = eventsourcing.SnapshotConfig(eventsourcing.frequency(10).unwrap())
    # The other process commits to the same aggregates: conflicts are expected, and
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

        async def client(index: int) -> None:
            n = 0
            while mode == "crash" or n < COMMANDS:
                command = f"{me}-{index}-{n}"
                aggregate = f"tally-{(index + n) % AGGREGATES}"
                reply = eventsourcing.execute_with_response(subject, aggregate, command, [])
                outcome = await process.receive(reply, 30_000)
                if outcome == Ok(Ok(None)):
                    say(f"ok {command}")
                else:
                    say(f"failed {command} {outcome!r}")
                n += 1

        async with trio.open_nursery() as nursery:
            for index in range(CLIENTS):
                nursery.start_soon(client, index)
        stats = store.eventstore.statistics()
        say(f"stats conflicts={stats.conflicts} transactions={stats.transactions}")


if __name__ == "__main__":
    mode, dsn, schema, me = sys.argv[1:5]
    trio.run(main, mode, dsn, schema, me)
