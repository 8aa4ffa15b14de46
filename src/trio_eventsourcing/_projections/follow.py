"""Following the global log: every entry after a position, then each new one as it commits.

An async generator made safe with ``trio.as_safe_channel``: it runs in a task of its own
and hands entries over a channel, so the caller iterates inside ``async with`` and never
holds a suspended generator across a cancel scope. It reads pages after the last
position it yielded; when a page comes back empty it waits for the store's wake-up
(noting the token before the read, so no commit slips between the read and the wait) or
for the poll interval.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from typing import TypeVar

import trio
from typing_extensions import Never, final

from .._core.errors import EventStoreError
from .._core.log_source import LogRecord, LogSource
from .._runtime.result import Error
from .policies import Start

EntryT = TypeVar("EntryT", bound=LogRecord[object])


@final
class LogReadFailed(Exception):
    """Following the log ended: the store could not be read. ``error`` says why.

    Raised out of the ``async with projections.follow_log(...)`` block; continue from the
    last position you handled once the cause is fixed.
    """

    def __init__(self, error: EventStoreError) -> None:
        super().__init__(error.message)
        self.error = error


@asynccontextmanager
async def following(
    source: LogSource[EntryT, Never],
    start_from: int | Start,
    batch_size: int,
    poll_interval: float,
) -> AsyncIterator[trio.abc.ReceiveChannel[EntryT]]:
    """Follow the log for the duration of the block (``projections.follow_log``)."""
    if start_from is Start.CURRENT:
        # Where the log ends now, as the block is entered: the generator itself would
        # only start at the first receive.
        head = await source.head()
        if isinstance(head, Error):
            raise LogReadFailed(head.error)
        position = head.value
    else:
        position = 0 if start_from is Start.ORIGIN else start_from
    async with _follow(source, position, batch_size, poll_interval) as entries:
        yield entries


@trio.as_safe_channel
async def _follow(
    source: LogSource[EntryT, Never], position: int, batch_size: int, poll_interval: float
) -> AsyncGenerator[EntryT, None]:
    """Yield the log's entries after ``position``, then each new one, forever."""
    # Yielding inside the watch is safe here: as_safe_channel runs this generator in a
    # task of its own. The failure is raised after the watch has ended: a watch that runs
    # a nursery (PostgreSQL's LISTEN) would wrap it in an exception group.
    async with source.watch() as watch:
        while True:
            token = watch.token()
            page = await source.read(position, batch_size)
            if isinstance(page, Error):
                failure = page.error
                break
            if page.value.entries:
                for entry in page.value.entries:
                    position = entry.position
                    yield entry
                continue
            with trio.move_on_after(poll_interval):
                await watch.wait(token)
    raise LogReadFailed(failure)
