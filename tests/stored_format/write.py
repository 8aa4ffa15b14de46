"""Write ``written_by_0_1_0.sql``: the samples as the current SQLite store stores them.

Run from the repository as ``python -m tests.stored_format.write``. The file is the
evidence that a later version reads what this one wrote: write it again only when the
stored format is meant to change, and never with a version whose decoding is under test.
"""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

import trio

import trio_eventsourcing as eventsourcing
from tests.stored_format.samples import SAMPLES, Album, Sample, codec
from trio_eventsourcing import sqlite_store
from trio_eventsourcing.result import Ok, Result

DUMP = Path(__file__).with_name("written_by_0_1_0.sql")
AGGREGATE = "zoo"
SNAPSHOT_EVERY = 10


def handle(album: Album, command: Sample) -> Result[list[Sample], None]:
    """Every command is the event it records."""
    return Ok([command])


def apply(album: Album, event: Sample) -> Album:
    """The album keeps every event so far, so its snapshots hold every field type."""
    return Album((*album.items, event))


async def write(path: Path) -> None:
    """Record every sample as an event of its own, snapshots every ten."""
    async with (
        sqlite_store.open(path, codec()) as store,
        eventsourcing.open_system(
            store, handle, apply, Album(), snapshot_every=SNAPSHOT_EVERY
        ) as zoo,
    ):
        for sample in SAMPLES:
            await zoo.execute(AGGREGATE, sample)


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "zoo.db"
        trio.run(write, path)
        connection = sqlite3.connect(path)
        try:
            lines = list(connection.iterdump())
            # iterdump leaves out the header fields by which the store knows its files.
            for pragma in ("application_id", "user_version"):
                (value,) = connection.execute(f"PRAGMA {pragma}").fetchone()
                lines.append(f"PRAGMA {pragma} = {value};")
        finally:
            connection.close()
    DUMP.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {DUMP} ({len(SAMPLES)} events)")


if __name__ == "__main__":
    main()
