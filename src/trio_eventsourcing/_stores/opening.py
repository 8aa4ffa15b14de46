"""A store run for the length of an ``async with`` block: what the stores' ``open`` share."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypeVar

from .._core.exceptions import could_not_start
from .._runtime.running import running
from .._runtime.static_supervisor import Supervisor
from .._runtime.supervision import ChildSpecification

ValueT = TypeVar("ValueT")


@asynccontextmanager
async def serving(
    value: ValueT, spec: ChildSpecification[Supervisor], what: str
) -> AsyncIterator[ValueT]:
    """Run ``spec`` while the block runs, handing over ``value`` (the store it runs).

    A store that cannot start raises :class:`StoreUnavailable` saying why, before the
    block runs; leaving the block stops the store.

    Example::

        store, spec = sqlite_store.supervised(path, codec)
        async with serving(store, spec, f"the SQLite store {path!r}") as store:
            ...
    """
    async with running(spec, start_failed=could_not_start(what)):
        yield value
