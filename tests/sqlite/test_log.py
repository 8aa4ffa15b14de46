"""The SQLite log beyond the shared contract: one log per aggregate type, bad rows, arguments.

What every store's log promises (order, positions, paging, following) is ``LogContract``
(``tests/contracts/log_contract.py``), run by ``tests/test_sqlite_store.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
import trio.testing

from tests.contracts.store_contract import append, deposited, opened
from tests.sqlite.helpers import BankSqliteStore, execute, running_store
from trio_eventsourcing import Error, EventStoreError, Ok, sqlite_store
from trio_eventsourcing.codec import JsonCodec
from trio_eventsourcing.examples.bank_account import (
    AccountOpened,
    BankAccount,
    BankAccountEvent,
    CustomerDepositedCash,
    CustomerWithdrewCash,
)


async def whole_log(
    store: BankSqliteStore, start_from: int = 0, limit: int = 7
) -> list[sqlite_store.LogEntry[BankAccountEvent]]:
    """Read the log page by page from ``start_from`` to its end."""
    entries: list[sqlite_store.LogEntry[BankAccountEvent]] = []
    position = start_from
    while True:
        page = await sqlite_store.read_log(store, position, limit)
        assert isinstance(page, Ok), page
        assert len(page.value) <= limit
        if not page.value:
            return entries
        entries += page.value
        position = page.value[-1].position


async def test_the_log_only_has_the_codecs_aggregate_type(tmp_path: Path) -> None:
    # Two aggregate types share a file; each store's log holds its own type's events.
    path = tmp_path / "two-types.db"
    savings: JsonCodec[BankAccountEvent, BankAccount] = JsonCodec(
        events=[AccountOpened, CustomerDepositedCash, CustomerWithdrewCash],
        entities=[BankAccount],
        aggregate_type="savings_account",
    )
    async with running_store(path) as checking, running_store(path, savings) as saving:
        assert isinstance(await append(checking, "chk-1", 0, [opened("chk-1")]), Ok)
        assert isinstance(await append(saving, "sav-1", 0, [opened("sav-1")]), Ok)
        assert isinstance(await append(checking, "chk-2", 0, [opened("chk-2")]), Ok)
        checking_log = await whole_log(checking)
        saving_log = await whole_log(saving)
    assert [(e.position, e.envelope.aggregate_id) for e in checking_log] == [
        (1, "chk-1"),
        (3, "chk-2"),
    ]
    assert [(e.position, e.envelope.aggregate_type) for e in saving_log] == [(2, "savings_account")]


async def test_an_unreadable_event_in_the_log_is_an_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "bad-log.db"
    async with running_store(path) as store:
        assert isinstance(await append(store, "acc-1", 0, [opened("acc-1"), deposited(2, 2)]), Ok)
    execute(path, "UPDATE events SET event_type = 'Nope' WHERE position = 2")
    async with running_store(path) as store:
        assert isinstance(await sqlite_store.read_log(store, 0, 1), Ok)
        failed = await sqlite_store.read_log(store, 0, 10)
        assert isinstance(failed, Error)
        assert isinstance(failed.error, EventStoreError)
        assert "'Nope'" in failed.error.message
        assert "'acc-1'" in failed.error.message
        assert "sequence 2" in failed.error.message


async def test_read_log_checks_its_arguments(tmp_path: Path) -> None:
    async with running_store(tmp_path / "args.db") as store:
        with pytest.raises(ValueError, match="start_from"):
            await sqlite_store.read_log(store, -1)
        with pytest.raises(ValueError, match="limit"):
            await sqlite_store.read_log(store, 0, 0)
        with pytest.raises(TypeError, match="read_log"):
            await sqlite_store.read_log(object())  # type: ignore[arg-type]


async def test_read_log_is_a_checkpoint(tmp_path: Path) -> None:
    async with running_store(tmp_path / "checkpoint.db") as store:
        with trio.testing.assert_checkpoints():
            await sqlite_store.read_log(store)
    with trio.testing.assert_checkpoints():
        await sqlite_store.read_log(store)  # not running: still a checkpoint
