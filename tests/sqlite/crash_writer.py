"""The writer process of the crash-safety test: it commits commands until it is killed.

Usage: ``python crash_writer.py DATABASE``. Clients run commands concurrently, each
storing three events (parts 0, 1, 2) on one of a few aggregates, with a snapshot every
ten events; after a command is acknowledged its id is printed on a line of its own and
flushed, so the test knows exactly which commands were acknowledged when it killed us.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import trio

import trio_eventsourcing as eventsourcing
from trio_eventsourcing import process, sqlite_store, static_supervisor
from trio_eventsourcing.codec import JsonCodec
from trio_eventsourcing.result import Ok, Result

AGGREGATES = 8
CLIENTS = 16
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


async def main(path: str) -> None:
    store, store_spec = sqlite_store.supervised(path, CODEC)
    name: process.Name[eventsourcing.AggregateMessage[Tally, str, Marked, None]] = process.new_name(
        "tally"
    )
    config = eventsourcing.SnapshotConfig(eventsourcing.frequency(10).unwrap())
    system = eventsourcing.supervised(name, store, handle, apply, Tally(), [], config).unwrap()
    supervisor = static_supervisor.new(static_supervisor.OneForOne).add(store_spec).add(system)
    async with supervisor.open():
        subject = process.named_subject(name)

        async def client(index: int) -> None:
            aggregate = f"tally-{index % AGGREGATES}"
            n = 0
            while True:
                command = f"c{index}-{n}"
                reply = eventsourcing.execute_with_response(subject, aggregate, command, [])
                outcome = await process.receive(reply, 30_000)
                if outcome != Ok(Ok(None)):
                    raise RuntimeError(f"command {command} failed: {outcome!r}")
                sys.stdout.write(f"{command}\n")
                sys.stdout.flush()
                n += 1

        async with trio.open_nursery() as nursery:
            for index in range(CLIENTS):
                nursery.start_soon(client, index)


if __name__ == "__main__":
    trio.run(main, sys.argv[1])
