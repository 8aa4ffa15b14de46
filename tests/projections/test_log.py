"""The arguments and failures of ``memory_store.read_log`` and ``projections.follow_log``.

What the log and following it promise on every store is ``LogContract``
(``tests/contracts/log_contract.py``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
import trio.testing

from tests.projections.helpers import open_store
from tests.sqlite.helpers import CODEC
from trio_eventsourcing import memory_store, projections, sqlite_store


async def test_memory_read_log_checks_its_arguments_and_checkpoints(tmp_path: Path) -> None:
    async with open_store("memory", tmp_path) as store:
        with pytest.raises(ValueError, match="start_from"):
            await memory_store.read_log(store, -1)
        with pytest.raises(ValueError, match="limit"):
            await memory_store.read_log(store, 0, 0)
        with pytest.raises(TypeError, match="read_log"):
            await memory_store.read_log(object())  # type: ignore[arg-type]
        with trio.testing.assert_checkpoints():
            await memory_store.read_log(store)


async def test_follow_log_checks_its_arguments(tmp_path: Path) -> None:
    async with open_store("memory", tmp_path) as store:
        with pytest.raises(ValueError, match="start_from"):
            projections.follow_log(store, -1)
        with pytest.raises(TypeError, match="start_from"):
            projections.follow_log(store, "0")  # type: ignore[call-overload]
        with pytest.raises(ValueError, match="batch_size"):
            projections.follow_log(store, batch_size=0)
        with pytest.raises(ValueError, match="poll_interval"):
            projections.follow_log(store, poll_interval=0)
        with pytest.raises(TypeError, match=r"memory_store\.supervised"):
            projections.follow_log(object())  # type: ignore[call-overload]


async def test_follow_log_raises_when_the_store_cannot_be_read(tmp_path: Path) -> None:
    store, _ = sqlite_store.supervised(tmp_path / "never-started.db", CODEC)
    seen: list[int] = []

    async def follow() -> None:
        async with projections.follow_log(store) as entries:
            async for entry in entries:
                seen.append(entry.position)

    with pytest.raises(projections.LogReadFailed, match="not started") as caught:
        await follow()
    assert "never-started.db" in caught.value.error.message
    assert seen == []
