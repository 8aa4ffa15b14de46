"""A store that cannot start, under a supervisor: what its caller gets, and what it reads.

``supervisor.start(nursery)`` (the Gleam form) returns ``Error(StartError(reason))``;
``supervisor.open()`` raises one ``ChildStartFailed``, not in an exception group, before
the block runs. Either way the reason names the child (its position and the store, never
a ``<locals>`` function) and says why, in one line. The native openers
(``sqlite_store.open``, ...) raise ``StoreUnavailable`` instead: ``test_store_openers.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import trio

from tests.contracts.durable_support import CODEC
from tests.postgres.helpers import require_driver
from trio_eventsourcing import (
    Error,
    Ok,
    StoreUnavailable,
    memory_store,
    postgres_store,
    process,
    sqlite_store,
    static_supervisor,
    supervision,
)
from trio_eventsourcing.actor import Started, StartError, StartResult
from trio_eventsourcing.examples.bank_account import BankAccount, BankAccountEvent

# Nothing listens on port 1 of the loopback: connecting is refused at once.
UNREACHABLE_DSN = "postgresql://app:secret@127.0.0.1:1/bank?connect_timeout=5"


def _spec(kind: str, tmp_path: Path) -> supervision.ChildSpecification[object]:
    """The child specification of a store of ``kind`` that cannot start."""
    if kind == "sqlite: no such directory":
        return sqlite_store.supervised(tmp_path / "missing" / "bank.db", CODEC)[1]
    if kind == "sqlite: not a database":
        path = tmp_path / "notes.db"
        path.write_bytes(b"\x00not a database\xff" + os.urandom(4_000))
        return sqlite_store.supervised_database(path)[1]
    require_driver()
    return postgres_store.supervised(UNREACHABLE_DSN, CODEC)[1]


# What each reason says: the store, then why.
EXPECTED = {
    "sqlite: no such directory": (
        "child #0 (supervisor of the SQLite store '{tmp}/missing/bank.db') failed to start: "
        "opening failed on the SQLite file '{tmp}/missing/bank.db': OperationalError: "
        "unable to open database file"
    ),
    "sqlite: not a database": (
        "child #0 (supervisor of the SQLite database '{tmp}/notes.db') failed to start: "
        "'{tmp}/notes.db' is not an SQLite database"
    ),
    "postgres: unreachable": (
        'child #0 (supervisor of the PostgreSQL store app@127.0.0.1:1/bank ("public".'
        '"trio_es_events")) failed to start: connecting failed on PostgreSQL '
        "app@127.0.0.1:1/bank: OperationalError: connection failed"
    ),
}


@pytest.mark.parametrize("kind", list(EXPECTED))
async def test_a_store_that_cannot_start_makes_start_return_a_start_error(
    kind: str, tmp_path: Path, nursery: trio.Nursery
) -> None:
    builder = static_supervisor.new(static_supervisor.OneForOne).add(_spec(kind, tmp_path))
    started = await builder.start(nursery)
    assert isinstance(started, Error)
    assert isinstance(started.error, StartError)
    reason = started.error.reason
    assert reason.startswith(EXPECTED[kind].format(tmp=tmp_path))
    assert "<locals>" not in reason
    assert "\n" not in reason
    assert "secret" not in reason


@pytest.mark.parametrize("kind", list(EXPECTED))
async def test_a_store_that_cannot_start_makes_open_raise_one_child_start_failed(
    kind: str, tmp_path: Path
) -> None:
    ran: list[bool] = []
    builder = static_supervisor.new(static_supervisor.OneForOne).add(_spec(kind, tmp_path))
    # A plain except catches it, on every Python: it is not in an exception group.
    with pytest.raises(static_supervisor.ChildStartFailed) as info:
        async with builder.open():
            ran.append(True)
    assert type(info.value) is static_supervisor.ChildStartFailed
    assert str(info.value).startswith(EXPECTED[kind].format(tmp=tmp_path))
    assert ran == []


async def test_the_children_started_before_a_store_that_cannot_start_are_stopped(
    tmp_path: Path,
) -> None:
    stopped: list[str] = []

    async def run_first() -> None:
        try:
            await trio.sleep_forever()
        finally:
            stopped.append("first")

    async def start_first(nursery: trio.Nursery) -> StartResult[None]:
        nursery.start_soon(run_first)
        return Ok(Started(None))

    builder = (
        static_supervisor.new(static_supervisor.OneForOne)
        .add(supervision.worker(start_first))
        .add(_spec("sqlite: no such directory", tmp_path))
    )
    with pytest.raises(static_supervisor.ChildStartFailed, match=r"^child #1 \(supervisor of"):
        async with builder.open():
            pass
    assert stopped == ["first"]


async def test_the_native_opener_still_says_which_store_could_not_start_once(
    tmp_path: Path,
) -> None:
    path = tmp_path / "missing" / "bank.db"
    with pytest.raises(StoreUnavailable) as info:
        async with sqlite_store.open(path, CODEC):
            pass
    assert info.value.message == (
        f"the SQLite store {str(path)!r} could not start: opening failed on the SQLite file "
        f"{str(path)!r}: OperationalError: unable to open database file"
    )


async def test_a_memory_store_that_cannot_start_names_its_actor(nursery: trio.Nursery) -> None:
    events: process.Name[memory_store.GetEvents[BankAccountEvent]] = process.new_name("events")
    snapshots: process.Name[memory_store.GetSnapshot[BankAccount]] = process.new_name("snaps")
    _, first = memory_store.supervised(events, snapshots, static_supervisor.OneForOne)
    _, second = memory_store.supervised(events, snapshots, static_supervisor.OneForOne)
    # Two stores under one Name: the second cannot register its actor.
    builder = static_supervisor.new(static_supervisor.OneForOne).add(first).add(second)
    started = await builder.start(nursery)
    assert isinstance(started, Error)
    assert started.error.reason == (
        f"child #1 (supervisor of the memory store {events!r}) failed to start: "
        f"child #0 (worker events actor {events!r}) failed to start: "
        f"{events!r} is already held by a live actor"
    )


def test_a_worker_made_from_a_nested_function_is_named_without_locals() -> None:
    async def start_counter(nursery: trio.Nursery) -> StartResult[None]:
        return Ok(Started(None))

    test = test_a_worker_made_from_a_nested_function_is_named_without_locals
    assert supervision.worker(start_counter).label == f"{test.__name__}.start_counter"
