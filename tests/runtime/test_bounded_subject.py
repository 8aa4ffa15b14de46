"""Bounded subjects: the opt-in backpressure of ``new_bounded_subject`` and ``send_wait``."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from trio_eventsourcing import process
from trio_eventsourcing.result import Ok


async def test_send_to_a_full_bounded_subject_raises_subject_full() -> None:
    jobs: process.Subject[int] = process.new_bounded_subject(2)
    process.send(jobs, 1)
    process.send(jobs, 2)
    with pytest.raises(process.SubjectFull, match="holds its 2 messages already"):
        process.send(jobs, 3)
    assert jobs.pending() == 2


async def test_subject_full_is_a_would_block() -> None:
    assert issubclass(process.SubjectFull, trio.WouldBlock)


@pytest.mark.parametrize("capacity", [0, -1])
async def test_a_bounded_subject_needs_a_positive_capacity(capacity: int) -> None:
    with pytest.raises(ValueError, match="capacity must be greater than zero"):
        process.new_bounded_subject(capacity)


async def test_send_wait_waits_for_room_and_keeps_the_order(nursery: trio.Nursery) -> None:
    jobs: process.Subject[int] = process.new_bounded_subject(1)
    process.send(jobs, 1)
    sent = trio.Event()

    async def producer() -> None:
        await process.send_wait(jobs, 2)
        sent.set()

    nursery.start_soon(producer)
    await trio.testing.wait_all_tasks_blocked()
    assert not sent.is_set()  # full: the producer waits
    assert await process.receive(jobs, 100) == Ok(1)
    await sent.wait()
    assert await process.receive(jobs, 100) == Ok(2)


async def test_a_cancelled_send_wait_sends_nothing() -> None:
    jobs: process.Subject[int] = process.new_bounded_subject(1)
    process.send(jobs, 1)
    with trio.move_on_after(0.01) as scope:
        await process.send_wait(jobs, 2)
    assert scope.cancelled_caught
    assert jobs.pending() == 1
    assert await process.receive(jobs, 100) == Ok(1)


async def test_send_wait_checkpoints_when_there_is_room() -> None:
    jobs: process.Subject[int] = process.new_bounded_subject(1)
    with trio.testing.assert_checkpoints():
        await process.send_wait(jobs, 1)


async def test_send_wait_on_an_unbounded_subject_sends_at_once() -> None:
    inbox: process.Subject[int] = process.new_subject()
    for number in range(1_000):
        await process.send_wait(inbox, number)
    assert inbox.pending() == 1_000
