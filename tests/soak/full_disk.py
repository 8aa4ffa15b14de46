"""A disk that fills up and gets space back, for the SQLite store's file.

Two ways, chosen by ``TRIO_ES_SOAK_DISK`` (``auto`` tries them in this order):

- ``tmpfs``: a small tmpfs mounted for the test (root only; a container may refuse it).
  After the store has started, a ballast file takes all but a few pages of the free
  space, so the write-ahead log soon cannot grow: SQLite's writes fail with ENOSPC,
  which it reports as ``SQLITE_FULL``, exactly as on a real full disk. Deleting the
  ballast frees the space.
- ``pages``: SQLite's own ``PRAGMA max_page_count`` on the store's connections, for
  machines where nothing can be mounted. The store opens its connections itself, so
  ``sqlite3.connect`` is wrapped (only for the test's file) to keep them; the limit is
  then set a few pages above the file's size and later raised. SQLite answers
  ``SQLITE_FULL`` too, from its pager rather than the file system: the same error on
  the same paths of the store, but no real ``write`` fails, so the WAL and ``-shm``
  files never meet a full disk.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import pytest

from tests.soak.settings import DiskMode

TMPFS_BASE_BYTES = 16 * 1024 * 1024
TMPFS_BYTES_PER_SECOND = 4 * 1024 * 1024
"""The tmpfs grows with the load's length, so that the workload alone never fills it."""
HEADROOM_BYTES = 48 * 1024
"""Free space left on the tmpfs when it is filled: a few WAL frames."""
HEADROOM_PAGES = 3
"""Pages allowed above the file's size when it is filled by ``max_page_count``."""


class FullDisk:
    """Where the database goes, and how to fill and free its disk."""

    def __init__(self, directory: Path, how: Literal["tmpfs", "pages"]) -> None:
        self.directory = directory
        self.how = how
        self._ballast = directory / "ballast"
        self._connections: list[sqlite3.Connection] = []

    @property
    def path(self) -> Path:
        return self.directory / "bank.db"

    def fill(self) -> None:
        """Leave only a little room for the database to grow (blocking: run in a thread)."""
        if self.how == "tmpfs":
            free = os.statvfs(self.directory)
            room = free.f_bavail * free.f_frsize - HEADROOM_BYTES
            chunk = b"\0" * (64 * 1024)
            ballast = os.open(self._ballast, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                while room > 0:
                    room -= os.write(ballast, chunk[: min(room, len(chunk))])
            except OSError as exc:
                # The store took the last of the room meanwhile: full all the same.
                if exc.errno != errno.ENOSPC:
                    raise
            finally:
                os.close(ballast)
        else:
            for connection in self._connections:
                pages = connection.execute("PRAGMA page_count").fetchone()[0]
                connection.execute(f"PRAGMA max_page_count = {pages + HEADROOM_PAGES}")

    def free(self) -> None:
        """Give the space back (blocking: run in a thread)."""
        if self.how == "tmpfs":
            self._ballast.unlink()
        else:
            for connection in self._connections:
                connection.execute("PRAGMA max_page_count = 1073741823")

    def keep(self, connection: sqlite3.Connection) -> None:
        self._connections.append(connection)


def _mount_tmpfs(directory: Path, size: int) -> str | None:
    """Mount a tmpfs of ``size`` bytes on ``directory``; return why not if that fails."""
    if os.geteuid() != 0:
        return "not root"
    try:
        done = subprocess.run(
            [
                "mount",
                "-t",
                "tmpfs",
                "-o",
                f"size={size},mode=0755",
                "tmpfs",
                str(directory),
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
    except OSError as exc:
        return f"mount: {exc}"
    if done.returncode != 0:
        return f"mount: {' '.join((done.stderr or done.stdout).split())}"
    return None


def _unmount(directory: Path) -> None:
    done = subprocess.run(
        ["umount", str(directory)], capture_output=True, text=True, check=False, timeout=30
    )
    if done.returncode != 0:
        # Something still has a file open there: detach it now, freed when closed.
        subprocess.run(["umount", "-l", str(directory)], check=False, timeout=30)


@contextlib.contextmanager
def full_disk(
    mode: DiskMode,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    seconds: float,
    *,
    real: bool = False,
) -> Iterator[FullDisk]:
    """A directory whose disk :meth:`FullDisk.fill` fills (by ``mode``), for ``seconds`` of load.

    ``real``: only a tmpfs will do (the test fills the disk of another process, or needs
    real writes to fail); the test is skipped where none can be mounted, unless
    ``TRIO_ES_SOAK_DISK=tmpfs`` asks for one (then it fails).
    """
    directory = tmp_path / "disk"
    directory.mkdir()
    refused: str | None = None
    if real and mode == "pages":
        pytest.skip("TRIO_ES_SOAK_DISK=pages, and this test needs a disk that really fills")
    if mode in ("auto", "tmpfs"):
        refused = _mount_tmpfs(directory, TMPFS_BASE_BYTES + int(seconds * TMPFS_BYTES_PER_SECOND))
        if refused is None:
            try:
                yield FullDisk(directory, "tmpfs")
            finally:
                _unmount(directory)
            return
        if mode == "tmpfs":
            pytest.fail(f"TRIO_ES_SOAK_DISK=tmpfs, but a tmpfs cannot be mounted: {refused}")
        if real:
            pytest.skip(f"this test needs a disk that really fills: no tmpfs ({refused})")
    disk = FullDisk(directory, "pages")
    connect: Callable[..., sqlite3.Connection] = sqlite3.connect
    database = str(disk.path)

    def keeping_connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        connection = connect(*args, **kwargs)
        if args and os.fspath(args[0]) == database:
            disk.keep(connection)
        return connection

    monkeypatch.setattr(sqlite3, "connect", keeping_connect)
    yield disk
