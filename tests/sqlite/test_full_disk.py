"""A COMMIT that fails on a full disk after its frames reached the ``-wal`` file.

SQLite then reports the commit as failed (``SQLITE_IOERR_SHMSIZE``: the WAL index could
not grow), and this process no longer sees the transaction; but its frames are in the
``-wal`` file, whole, and the recovery after a crash finds them committed. The store
must not call that "failed": it empties the ``-wal`` file first (then the failure is
true), or answers ``OutcomeUnknown``.

Reproducing it needs a small disk: a tmpfs, mounted for the test (root only; skipped
otherwise). The file uses 512-byte pages so that the WAL index's first region (4062
frames) fills with a couple of megabytes; a reader holds the ``-wal`` file so that
checkpoints cannot restart it; the disk is then filled so that the last commit's
frames fit and the index's next region (32 KiB) does not.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.contracts.store_contract import append, deposited, is_stored, opened
from tests.sqlite.helpers import BankSqliteStore, running_store
from trio_eventsourcing import Error, EventStoreError, Ok, OutcomeUnknown
from trio_eventsourcing._stores.sqlite import writer as writer_module
from trio_eventsourcing.examples.bank_account import BankAccountEvent

PAGE = 512
FRAME = PAGE + 24
FIRST_REGION = 4062
"""The frames the first 32 KiB of the ``-shm`` file index; the next one needs 32 KiB more."""
FREE_PAGES = 6
"""Free 4 KiB pages left on the disk: room for the last commit's frames, not for the index."""
PAD = "p" * 400


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A directory on a 16 MiB tmpfs of its own, unmounted afterwards."""
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs Linux and root")
    where = tmp_path / "disk"
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=True)


def wal_bytes(path: Path) -> int:
    wal = Path(f"{path}-wal")
    return wal.stat().st_size if wal.exists() else 0


def frames(path: Path) -> int:
    return max(0, (wal_bytes(path) - 32) // FRAME)


def new_file(path: Path) -> None:
    """An empty database with small pages, which the store takes as new."""
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as connection:
        connection.execute(f"PRAGMA page_size = {PAGE}")
        connection.execute("PRAGMA journal_mode = WAL")


def padded(count: int, balance: int) -> list[BankAccountEvent]:
    return [deposited(1, balance + n + 1) for n in range(count)]


async def fill_to_the_edge(store: BankSqliteStore, path: Path) -> int:
    """Commit until the ``-wal`` file is a few frames short of the first region's end.

    Returns the sequence of the account ``filler``.
    """
    assert isinstance(await append(store, "filler", 0, [opened("filler")]), Ok)
    sequence = 1
    metadata = [("pad", PAD)]
    while frames(path) < FIRST_REGION - 300:
        assert isinstance(await append(store, "filler", sequence, padded(20, 0), metadata), Ok)
        sequence += 20
    while frames(path) < FIRST_REGION - 12:
        assert isinstance(await append(store, "filler", sequence, padded(1, 0)), Ok)
        sequence += 1
    assert frames(path) < FIRST_REGION
    return sequence


def fill_the_disk(where: Path) -> Path:
    """Leave :data:`FREE_PAGES` pages free on the disk; return the file that fills it."""
    filler = where / "filler"
    free = os.statvfs(where).f_bavail
    filler.write_bytes(b"\0" * ((free - FREE_PAGES) * os.statvfs(where).f_bsize))
    return filler


def crash_image(path: Path, into: Path) -> list[tuple[str, int]]:
    """``(aggregate_id, sequence)`` of the events a restart after a crash now would find.

    The database and ``-wal`` files as they are (what a ``kill -9`` leaves), without the
    ``-shm`` file: opening them recovers the WAL index from the ``-wal`` file.
    """
    into.mkdir()
    copy = into / path.name
    shutil.copyfile(path, copy)
    if Path(f"{path}-wal").exists():
        shutil.copyfile(f"{path}-wal", f"{copy}-wal")
    with contextlib.closing(sqlite3.connect(copy)) as connection:
        found = connection.execute(
            "SELECT aggregate_id, sequence FROM events WHERE aggregate_id = 'final'"
            " ORDER BY sequence"
        ).fetchall()
    return [(row[0], row[1]) for row in found]


@contextlib.contextmanager
def reader_on(path: Path) -> Iterator[sqlite3.Connection]:
    """A connection in a read transaction: checkpoints cannot restart the ``-wal`` file."""
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("BEGIN")
        connection.execute("SELECT count(*) FROM events").fetchone()
        yield connection
    finally:
        connection.close()


LAST = [opened("final"), *padded(11, 0)]
"""The last commit: enough frames to cross into the WAL index's next region."""


async def test_a_commit_failed_after_its_frames_were_written_is_outcome_unknown(
    small_disk: Path, tmp_path: Path
) -> None:
    path = small_disk / "store.db"
    new_file(path)
    async with running_store(path, busy_timeout=0.3) as store:
        with reader_on(path) as reader:
            await fill_to_the_edge(store, path)
            filler = fill_the_disk(small_disk)
            outcome = await append(store, "final", 0, LAST, [("pad", PAD)], key="last")
            # The reader keeps the -wal file from being emptied: nobody can tell.
            assert isinstance(outcome, Error), outcome
            assert isinstance(outcome.error, OutcomeUnknown), outcome
            assert (outcome.error.aggregate_id, outcome.error.idempotency_key) == ("final", "last")
            assert "committing failed" in outcome.error.message
            # And rightly so: this process does not see it, a restart would.
            assert not await is_stored(store, "final", "last")
            assert crash_image(path, tmp_path / "image-1") == [("final", n) for n in range(1, 13)]
            reader.execute("COMMIT")
        filler.unlink()
        # Sent again with its key: stored now, and once.
        again = await append(store, "final", 0, LAST, [("pad", PAD)], key="last")
        assert isinstance(again, Ok), again
        assert await is_stored(store, "final", "last")
        assert crash_image(path, tmp_path / "image-2") == [("final", n) for n in range(1, 13)]


async def test_a_commit_failed_after_its_frames_were_written_is_failed_once_erased(
    small_disk: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = small_disk / "store.db"
    new_file(path)
    erase = writer_module.SqliteWriteConnection._erase_unfinished_commit
    filler: list[Path] = []

    def free_the_disk_then_erase(self: writer_module.SqliteWriteConnection) -> bool:
        # The operator freed some space: the checkpoint that empties the -wal file can
        # now write the committed pages to the database file.
        filler.pop().unlink()
        return erase(self)

    monkeypatch.setattr(
        writer_module.SqliteWriteConnection, "_erase_unfinished_commit", free_the_disk_then_erase
    )
    async with running_store(path, busy_timeout=0.3) as store:
        with reader_on(path) as reader:
            await fill_to_the_edge(store, path)
            reader.execute("COMMIT")
        filler.append(fill_the_disk(small_disk))
        outcome = await append(store, "final", 0, LAST, [("pad", PAD)], key="last")
        assert not filler  # the commit failed
        assert isinstance(outcome, Error), outcome
        assert isinstance(outcome.error, EventStoreError), outcome
        assert "committing failed" in outcome.error.message
        # Failed, and truly so: a restart now finds nothing of it.
        assert wal_bytes(path) == 0
        assert crash_image(path, tmp_path / "image") == []
        assert not await is_stored(store, "final", "last")
        assert isinstance(await append(store, "final", 0, LAST, key="last"), Ok)
