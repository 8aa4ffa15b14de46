"""Children run for the length of an ``async with`` block, as Trio code expects.

The Trio-native openers (``open_system``, ``sqlite_store.open``, ...) run what they
open under a supervisor in a nursery of their own. What the block raises comes out as
it was raised, not wrapped in an exception group by that nursery, and a child that
cannot start raises the opener's own exception, before the block runs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import trio

from .result import Error
from .static_supervisor import OneForOne, Supervisor, new
from .supervision import ChildSpecification


@asynccontextmanager
async def running(
    *children: ChildSpecification[object],
    start_failed: Callable[[str], BaseException],
) -> AsyncIterator[Supervisor]:
    """Run ``children`` under a one-for-one supervisor while the block runs.

    On leaving the block the supervisor shuts its children down, last started first,
    each draining what it accepted. A child that cannot start raises
    ``start_failed(reason)``, with the children started before it stopped again.

    Example::

        async with running(store_spec, start_failed=RuntimeError):
            ...
    """
    builder = new(OneForOne)
    for child in children:
        builder = builder.add(child)
    reason: str | None = None
    raised: BaseException | None = None
    async with trio.open_nursery() as nursery:
        started = await builder.start(nursery)
        if isinstance(started, Error):
            reason = started.error.reason
        else:
            supervisor = started.value.data
            try:
                yield supervisor
            except BaseException as exc:
                # Re-raised below, outside the nursery, which would wrap it in a group.
                raised = exc
            finally:
                supervisor.shutdown()
    if reason is not None:
        # The innermost reason: the supervisors' "child #n (...) failed to start: "
        # prefixes name children the opener's caller never wrote.
        raise start_failed(reason.rsplit(" failed to start: ", 1)[-1])
    if raised is not None:
        raise raised
