"""Mailbox order, for any interleaving of senders (Hypothesis).

Each example runs its own ``trio.run`` on a virtual clock. The tests are plain functions,
so pytest-trio leaves them alone.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from trio_eventsourcing import process
from trio_eventsourcing.result import Error, Ok

SENDERS = 4


@dataclass(frozen=True)
class Step:
    """One message of one sender, sent after ``pause`` (0: straight on; >0: ms of sleep)."""

    sender: int
    value: int
    pause: int


steps = st.lists(
    st.builds(
        Step,
        sender=st.integers(0, SENDERS - 1),
        value=st.integers(),
        pause=st.sampled_from([0, 0, 1, 2, 7]),  # 0 twice: mostly no pause at all
    ),
    max_size=60,
)


def _per_sender(steps: list[Step]) -> dict[int, list[int]]:
    sent: dict[int, list[int]] = {sender: [] for sender in range(SENDERS)}
    for step in steps:
        sent[step.sender].append(step.value)
    return sent


async def _send_all(subject: process.Subject[tuple[int, int]], steps: list[Step]) -> None:
    """One task per sender, each sending its own steps in order with its pauses."""

    async def sender(mine: list[Step]) -> None:
        for step in mine:
            if step.pause:
                await trio.sleep(step.pause / 1000)
            else:
                await trio.lowlevel.checkpoint()
            process.send(subject, (step.sender, step.value))

    async with trio.open_nursery() as nursery:
        for sender_id in range(SENDERS):
            nursery.start_soon(sender, [step for step in steps if step.sender == sender_id])


def _check(received: list[tuple[int, int]], steps: list[Step]) -> None:
    # Every message once: nothing lost, nothing duplicated.
    assert Counter(received) == Counter((step.sender, step.value) for step in steps)
    # And each sender's messages in that sender's order.
    for sender_id, values in _per_sender(steps).items():
        assert [value for sender, value in received if sender == sender_id] == values


@settings(deadline=None, max_examples=150)
@given(steps)
def test_a_receiver_sees_each_senders_messages_in_order_none_lost_or_duplicated(
    steps: list[Step],
) -> None:
    received: list[tuple[int, int]] = []

    async def main() -> None:
        subject: process.Subject[tuple[int, int]] = process.new_subject()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_send_all, subject, steps)
            for _ in steps:
                received.append(await process.receive_forever(subject))
        assert subject.pending() == 0

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    _check(received, steps)


@settings(deadline=None, max_examples=150)
@given(steps, st.lists(st.integers(1, 5), min_size=1))
def test_receives_that_time_out_or_are_cancelled_lose_no_message(
    steps: list[Step], windows: list[int]
) -> None:
    # The receiver waits only ``windows[i]`` ms at a time, and every third wait is
    # cancelled from outside instead, so many receives end without a message.
    received: list[tuple[int, int]] = []

    async def main() -> None:
        subject: process.Subject[tuple[int, int]] = process.new_subject()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_send_all, subject, steps)
            attempt = 0
            while len(received) < len(steps):
                within = windows[attempt % len(windows)]
                if attempt % 3 == 2:
                    with trio.move_on_after(within / 2000):
                        received.append(await process.receive_forever(subject))
                else:
                    match await process.receive(subject, within):
                        case Ok(message):
                            received.append(message)
                        case Error(None):
                            pass
                attempt += 1
        assert subject.pending() == 0

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    _check(received, steps)


@settings(deadline=None, max_examples=100)
@given(steps, st.integers(0, 60))
def test_a_named_mailbox_keeps_order_across_a_change_of_receiver(
    steps: list[Step], switch_after: int
) -> None:
    # The first receiver stops after ``switch_after`` messages, as a crashing actor
    # would; a second one takes over the same named mailbox and sees the rest.
    received: list[tuple[int, int]] = []

    async def main() -> None:
        name: process.Name[tuple[int, int]] = process.new_name("property")
        subject = process.named_subject(name)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_send_all, subject, steps)
            first = min(switch_after, len(steps))
            for _ in range(first):
                received.append(await process.receive_forever(subject))
            await trio.sleep(0.001)  # the gap of a restart: messages wait meanwhile
            successor = process.named_subject(name)
            for _ in range(len(steps) - first):
                received.append(await process.receive_forever(successor))

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    _check(received, steps)
