"""Paths that are no database file: refused at start, clearly, without ever being opened.

Opening a named pipe (FIFO) waits for a writer, for ever, in a thread that no cancel can
reach; the store looks at what the path is (``stat``) before it opens anything.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest
import trio

from tests.sqlite.helpers import CODEC, writer_threads
from trio_eventsourcing import Error, sqlite_store

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="named pipes are POSIX here")

START_WITHIN_S = 10.0
"""Only a start that hangs comes near this (one that is refused takes milliseconds)."""


async def start_error(path: Path) -> str:
    """Start a store on ``path``, expecting the start to be refused; return the reason."""
    _, spec = sqlite_store.supervised(path, CODEC)
    with trio.fail_after(START_WITHIN_S):
        async with trio.open_nursery() as nursery:
            started = await spec.start(nursery)
    assert isinstance(started, Error), started
    assert writer_threads() == []
    return started.error.reason


async def test_a_fifo_is_refused_at_start_without_being_opened(tmp_path: Path) -> None:
    path = tmp_path / "pipe.db"
    os.mkfifo(path)
    reason = await start_error(path)
    assert f"{str(path)!r} is a named pipe (FIFO), not a regular file" in reason
    assert stat.S_ISFIFO(path.stat().st_mode)


async def test_a_link_to_a_fifo_is_refused_at_start_without_being_opened(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    path = tmp_path / "bank.db"
    path.symlink_to(fifo)
    reason = await start_error(path)
    assert f"{str(path)!r} is a named pipe (FIFO), not a regular file" in reason


async def test_a_directory_is_refused_at_start_as_one(tmp_path: Path) -> None:
    path = tmp_path / "bank.db"
    path.mkdir()
    reason = await start_error(path)
    assert f"{str(path)!r} is a directory, not a regular file" in reason
