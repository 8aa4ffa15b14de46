"""A file written by version 0.1.0 reads back as the very objects that were stored.

``written_by_0_1_0.sql`` is an SQLite store file of that version, as ``iterdump`` writes
it (see ``write.py``). Every event, the snapshot and the log must decode to objects of the
same types and values as ``samples.SAMPLES``, down to a Decimal's exponent, a float's sign
and a datetime's offset, and encode again to the bytes that were stored.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import trio_eventsourcing as eventsourcing
from tests.stored_format.identity import identical
from tests.stored_format.samples import SAMPLES, Album, Sample, codec
from tests.stored_format.write import AGGREGATE, DUMP, apply, handle
from trio_eventsourcing import sqlite_store

ZooSystem = eventsourcing.System[Album, Sample, Sample, None]


@pytest.fixture
def restored(tmp_path: Path) -> Path:
    """The file of version 0.1.0, restored from its dump."""
    path = tmp_path / "written_by_0_1_0.db"
    with contextlib.closing(sqlite3.connect(path)) as connection:
        connection.executescript(DUMP.read_text(encoding="utf-8"))
    return path


@contextlib.asynccontextmanager
async def opened(path: Path) -> AsyncIterator[ZooSystem]:
    async with (
        sqlite_store.open(path, codec()) as store,
        eventsourcing.open_system(store, handle, apply, Album()) as zoo,
    ):
        yield zoo


def stored_payloads(path: Path) -> list[tuple[str, int, str]]:
    with contextlib.closing(sqlite3.connect(path)) as connection:
        rows = connection.execute(
            "SELECT event_type, event_version, payload FROM events ORDER BY position"
        ).fetchall()
    return [(str(name), int(version), str(payload)) for name, version, payload in rows]


def test_the_dump_holds_every_sample_once() -> None:
    assert len(SAMPLES) == 32
    assert DUMP.read_text(encoding="utf-8").count('INSERT INTO "events"') == len(SAMPLES)


async def test_every_event_decodes_to_the_object_that_was_stored(restored: Path) -> None:
    async with opened(restored) as zoo:
        envelopes = await zoo.events(AGGREGATE)
    assert [envelope.sequence for envelope in envelopes] == list(range(1, len(SAMPLES) + 1))
    for envelope, sample in zip(envelopes, SAMPLES, strict=True):
        identical(envelope.payload, sample, f"event {envelope.sequence}")


async def test_the_snapshot_decodes_to_the_entity_that_was_stored(restored: Path) -> None:
    async with opened(restored) as zoo:
        snapshot = await zoo.latest_snapshot(AGGREGATE)
        aggregate = await zoo.load(AGGREGATE)
    assert snapshot is not None
    assert snapshot.sequence == 30
    identical(snapshot.entity, Album(tuple(SAMPLES[:30])), "snapshot")
    identical(aggregate.entity, Album(tuple(SAMPLES)), "loaded entity")


async def test_the_log_decodes_to_the_objects_that_were_stored(restored: Path) -> None:
    async with sqlite_store.open(restored, codec()) as store:
        entries = (await sqlite_store.read_log(store, 0, 100)).unwrap()
    assert [entry.position for entry in entries] == list(range(1, len(SAMPLES) + 1))
    for entry, sample in zip(entries, SAMPLES, strict=True):
        identical(entry.envelope.payload, sample, f"log entry {entry.position}")


def test_every_event_encodes_again_to_the_stored_bytes(restored: Path) -> None:
    zoo_codec = codec()
    stored = stored_payloads(restored)
    for (type_name, version, payload), sample in zip(stored, SAMPLES, strict=True):
        decoded = zoo_codec.decode_event(type_name, version, payload)
        again = zoo_codec.encode_event(decoded)
        assert (again.type_name, again.version, again.data) == (type_name, version, payload)
        assert zoo_codec.encode_event(sample).data == payload
