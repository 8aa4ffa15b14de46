"""Subjects and Names: ``send``, ``receive``, ``call`` and named mailboxes."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import trio
import trio.testing

from trio_eventsourcing import actor, process
from trio_eventsourcing._core.values import timeout
from trio_eventsourcing.result import Error, Ok


@dataclass(frozen=True)
class Double:
    number: int
    reply_to: process.Subject[int]


async def _doubler(state: None, message: Double) -> actor.Next[None]:
    process.send(message.reply_to, message.number * 2)
    return actor.continue_(state)


async def _quit(state: None, message: str) -> actor.Next[None]:
    return actor.stop()


# --- send and receive ---------------------------------------------------------------------


async def test_receive_returns_messages_in_send_order() -> None:
    inbox: process.Subject[int] = process.new_subject()
    for number in range(5):
        process.send(inbox, number)
    assert [await process.receive(inbox, 100) for _ in range(5)] == [Ok(n) for n in range(5)]


async def test_receive_waits_for_a_message_sent_later(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    inbox: process.Subject[str] = process.new_subject()

    async def send_later() -> None:
        await trio.sleep(0.05)
        process.send(inbox, "late")

    nursery.start_soon(send_later)
    assert await process.receive(inbox, 100) == Ok("late")
    assert trio.current_time() == pytest.approx(0.05)


async def test_receive_times_out_with_error_none(autojump_clock: trio.testing.MockClock) -> None:
    inbox: process.Subject[int] = process.new_subject()
    assert await process.receive(inbox, 250) == Error(None)
    assert trio.current_time() == pytest.approx(0.25)


async def test_receive_accepts_a_timeout_value(autojump_clock: trio.testing.MockClock) -> None:
    inbox: process.Subject[int] = process.new_subject()
    assert await process.receive(inbox, timeout(40).unwrap()) == Error(None)
    assert trio.current_time() == pytest.approx(0.04)


@pytest.mark.parametrize("within", [0, -1, -1000])
async def test_receive_rejects_a_non_positive_within_naming_it(within: int) -> None:
    inbox: process.Subject[int] = process.new_subject()
    with pytest.raises(ValueError, match=r"^within \(milliseconds\) must be greater than zero"):
        await process.receive(inbox, within)


@pytest.mark.parametrize("within", [1.5, True, "100", None])
async def test_receive_rejects_a_non_int_within_naming_it(within: object) -> None:
    inbox: process.Subject[int] = process.new_subject()
    with pytest.raises(TypeError, match=r"^within \(milliseconds\) must be an int"):
        await process.receive(inbox, within)  # type: ignore[call-overload]


async def test_receive_of_a_waiting_message_is_a_checkpoint() -> None:
    inbox: process.Subject[int] = process.new_subject()
    process.send(inbox, 1)
    with trio.testing.assert_checkpoints():
        assert await process.receive(inbox, 100) == Ok(1)


async def test_receive_forever_waits_as_long_as_it_takes(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    inbox: process.Subject[str] = process.new_subject()

    async def send_much_later() -> None:
        await trio.sleep(3600)
        process.send(inbox, "finally")

    nursery.start_soon(send_much_later)
    assert await process.receive_forever(inbox) == "finally"


async def test_cancelled_receive_loses_no_message(nursery: trio.Nursery) -> None:
    inbox: process.Subject[str] = process.new_subject()
    scope = trio.CancelScope()

    async def receive_until_cancelled() -> None:
        with scope:
            await process.receive_forever(inbox)
        assert scope.cancelled_caught

    nursery.start_soon(receive_until_cancelled)
    await trio.testing.wait_all_tasks_blocked()
    scope.cancel()
    await trio.testing.wait_all_tasks_blocked()
    process.send(inbox, "kept")
    assert inbox.pending() == 1
    assert await process.receive(inbox, 100) == Ok("kept")


async def test_receive_cancelled_as_a_message_arrives_takes_it_at_most_once() -> None:
    # The message is sent and the parked receiver cancelled in one step: the receiver
    # either returns the message, or is cancelled and leaves it in the mailbox.
    inbox: process.Subject[str] = process.new_subject()
    got: list[str] = []
    async with trio.open_nursery() as nursery:
        scope = trio.CancelScope()

        async def receive_once() -> None:
            with scope:
                got.append(await process.receive_forever(inbox))

        nursery.start_soon(receive_once)
        await trio.testing.wait_all_tasks_blocked()
        process.send(inbox, "only")
        scope.cancel()
    match await process.receive(inbox, 1):
        case Ok(message):
            got.append(message)
        case Error(None):
            pass
    assert got == ["only"]


async def test_a_second_concurrent_receiver_raises_busy_resource_error(
    nursery: trio.Nursery,
) -> None:
    inbox: process.Subject[int] = process.new_subject()
    nursery.start_soon(process.receive_forever, inbox)
    await trio.testing.wait_all_tasks_blocked()
    with pytest.raises(trio.BusyResourceError):
        await process.receive(inbox, 100)


async def test_subjects_are_distinct_mailboxes() -> None:
    first: process.Subject[int] = process.new_subject()
    second: process.Subject[int] = process.new_subject()
    assert first != second
    process.send(first, 1)
    assert (first.pending(), second.pending()) == (1, 0)


async def test_subject_has_no_public_constructor() -> None:
    with pytest.raises(TypeError, match="no public constructor"):
        process.Subject(1)  # type: ignore[arg-type]


# --- call ---------------------------------------------------------------------------------


async def test_call_returns_the_reply(nursery: trio.Nursery) -> None:
    doubler = (await actor.new(None).on_message(_doubler).start(nursery)).unwrap().data
    assert await process.call(doubler, 100, lambda reply_to: Double(21, reply_to)) == 42


async def test_call_accepts_a_timeout_value(nursery: trio.Nursery) -> None:
    doubler = (await actor.new(None).on_message(_doubler).start(nursery)).unwrap().data
    within = timeout(100).unwrap()
    assert await process.call(doubler, within, lambda reply_to: Double(4, reply_to)) == 8


async def test_call_times_out_with_call_timeout(autojump_clock: trio.testing.MockClock) -> None:
    nobody_reads: process.Subject[Double] = process.new_subject()
    with pytest.raises(process.CallTimeout, match="no reply within 300 ms"):
        await process.call(nobody_reads, 300, lambda reply_to: Double(1, reply_to))
    assert trio.current_time() == pytest.approx(0.3)


def test_call_timeout_is_a_too_slow_error() -> None:
    assert issubclass(process.CallTimeout, trio.TooSlowError)


@pytest.mark.parametrize("within", [0, -5])
async def test_call_rejects_a_non_positive_within(within: int) -> None:
    inbox: process.Subject[Double] = process.new_subject()
    with pytest.raises(ValueError, match=r"^within \(milliseconds\)"):
        await process.call(inbox, within, lambda reply_to: Double(1, reply_to))
    assert inbox.pending() == 0


async def test_a_reply_after_the_caller_gave_up_does_not_harm_the_replier(
    autojump_clock: trio.testing.MockClock,
) -> None:
    requests: process.Subject[Double] = process.new_subject()
    with pytest.raises(process.CallTimeout):
        await process.call(requests, 100, lambda reply_to: Double(5, reply_to))
    late = (await process.receive(requests, 100)).unwrap()
    process.send(late.reply_to, 10)  # must neither raise nor keep the reply
    assert late.reply_to.pending() == 0


async def test_a_reply_to_a_cancelled_caller_does_not_harm_the_replier() -> None:
    requests: process.Subject[Double] = process.new_subject()
    with trio.move_on_after(0) as scope:
        await process.call(requests, 100, lambda reply_to: Double(5, reply_to))
    assert scope.cancelled_caught
    late = (await process.receive(requests, 100)).unwrap()
    process.send(late.reply_to, 10)
    assert late.reply_to.pending() == 0


# --- stopped actors -----------------------------------------------------------------------


async def test_sending_to_a_stopped_actors_subject_raises_subject_closed() -> None:
    async with trio.open_nursery() as nursery:
        subject = (await actor.new(None).on_message(_quit).start(nursery)).unwrap().data
        process.send(subject, "quit")
    with pytest.raises(process.SubjectClosed):
        process.send(subject, "anyone there?")


async def test_calling_a_stopped_actor_raises_subject_closed() -> None:
    async with trio.open_nursery() as nursery:
        doubler = (await actor.new(None).on_message(_doubler).start(nursery)).unwrap().data
        nursery.cancel_scope.cancel()
    with pytest.raises(process.SubjectClosed):
        await process.call(doubler, 100, lambda reply_to: Double(1, reply_to))


# --- names --------------------------------------------------------------------------------


def test_named_subject_of_one_name_is_stable() -> None:
    name: process.Name[int] = process.new_name("stable")
    first = process.named_subject(name)
    second = process.named_subject(name)
    assert first == second
    assert hash(first) == hash(second)
    assert first.name is name


def test_named_subjects_of_one_name_share_one_mailbox() -> None:
    name: process.Name[int] = process.new_name("shared")
    process.send(process.named_subject(name), 1)
    assert process.named_subject(name).pending() == 1


def test_new_name_gives_distinct_names_for_one_prefix() -> None:
    first: process.Name[int] = process.new_name("worker")
    second: process.Name[int] = process.new_name("worker")
    assert first != second
    assert process.named_subject(first) != process.named_subject(second)
    assert repr(first) != repr(second)
    assert first.prefix == second.prefix == "worker"


def test_new_name_rejects_a_non_str_prefix() -> None:
    with pytest.raises(TypeError, match="prefix must be a str"):
        process.new_name(3)  # type: ignore[arg-type]


def test_name_has_no_public_constructor() -> None:
    with pytest.raises(TypeError, match="no public constructor"):
        process.Name("x")  # type: ignore[arg-type]


async def test_messages_to_a_name_nobody_holds_wait_for_the_actor_taking_it(
    nursery: trio.Nursery,
) -> None:
    name: process.Name[Double] = process.new_name("doubler")
    replies: process.Subject[int] = process.new_subject()
    for number in range(3):
        process.send(process.named_subject(name), Double(number, replies))
    assert not name.is_held
    await actor.new(None).on_message(_doubler).named(name).start(nursery)
    assert [await process.receive(replies, 100) for _ in range(3)] == [Ok(0), Ok(2), Ok(4)]


# --- sleep --------------------------------------------------------------------------------


async def test_sleep_waits_the_given_milliseconds(autojump_clock: trio.testing.MockClock) -> None:
    await process.sleep(1_500)
    assert trio.current_time() == pytest.approx(1.5)


# A literal -1 is a type error (tests/type_tests); a negative value that is not a literal
# fails when the call runs.
@pytest.mark.parametrize("ms", [-1, -1000])
async def test_sleep_rejects_a_negative_duration(ms: int) -> None:
    with pytest.raises(ValueError, match="ms must not be negative"):
        await process.sleep(ms)
