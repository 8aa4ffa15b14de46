"""Actors: starting, folding messages into state, stopping, crashing and names."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pytest
import trio
import trio.testing

from trio_eventsourcing import actor, process
from trio_eventsourcing.result import Error, Ok


@dataclass(frozen=True)
class Add:
    amount: int


@dataclass(frozen=True)
class Total:
    reply_to: process.Subject[int]


@dataclass(frozen=True)
class Quit:
    pass


@dataclass(frozen=True)
class Abort:
    reason: str


@dataclass(frozen=True)
class Explode:
    pass


Message = Add | Total | Quit | Abort | Explode


class Boom(Exception):
    pass


async def _counter(total: int, message: Message) -> actor.Next[int]:
    match message:
        case Add(amount):
            return actor.continue_(total + amount)
        case Total(reply_to):
            process.send(reply_to, total)
            return actor.continue_(total)
        case Quit():
            return actor.stop()
        case Abort(reason):
            return actor.stop_abnormal(reason)
        case Explode():
            raise Boom("handler blew up")


COUNTER = actor.new(0).on_message(_counter)


async def _total(subject: process.Subject[Message]) -> int:
    return await process.call(subject, 1000, Total)


# --- starting -----------------------------------------------------------------------------


async def test_start_returns_ok_started_holding_the_actors_subject(nursery: trio.Nursery) -> None:
    result = await COUNTER.start(nursery)
    assert isinstance(result, Ok)
    assert isinstance(result.value, actor.Started)
    assert isinstance(result.value.data, process.Subject)


async def test_start_returns_only_once_the_actor_is_receiving(nursery: trio.Nursery) -> None:
    counter = (await COUNTER.start(nursery)).unwrap().data
    process.send(counter, Add(5))
    await trio.testing.wait_all_tasks_blocked()
    # Handled with no help from the test: the actor was parked on its mailbox already.
    assert counter.pending() == 0
    assert await _total(counter) == 5


async def test_nursery_start_of_run_hands_back_the_subject(nursery: trio.Nursery) -> None:
    counter: process.Subject[Message] = await nursery.start(COUNTER.run)
    process.send(counter, Add(2))
    assert await _total(counter) == 2


async def test_state_folds_over_the_messages_in_order(nursery: trio.Nursery) -> None:
    counter = (await COUNTER.start(nursery)).unwrap().data
    for amount in (1, 2, 3, 4):
        process.send(counter, Add(amount))
    assert await _total(counter) == 10


async def test_one_builder_starts_independent_actors(nursery: trio.Nursery) -> None:
    first = (await COUNTER.start(nursery)).unwrap().data
    second = (await COUNTER.start(nursery)).unwrap().data
    process.send(first, Add(1))
    assert (await _total(first), await _total(second)) == (1, 0)


async def test_start_without_on_message_returns_start_error(nursery: trio.Nursery) -> None:
    result = await actor.new(0).start(nursery)
    assert isinstance(result, Error)
    assert isinstance(result.error, actor.StartError)
    assert "on_message" in result.error.reason


# --- stopping and crashing ----------------------------------------------------------------


async def test_stop_ends_the_actor_task_normally() -> None:
    async with trio.open_nursery() as nursery:
        counter = (await COUNTER.start(nursery)).unwrap().data
        process.send(counter, Quit())
    # The nursery exited without an error and without being cancelled.
    assert not nursery.cancel_scope.cancelled_caught


async def test_messages_after_stop_are_not_handled() -> None:
    async with trio.open_nursery() as nursery:
        counter = (await COUNTER.start(nursery)).unwrap().data
        process.send(counter, Quit())
        process.send(counter, Explode())  # would raise if handled
    with pytest.raises(process.SubjectClosed):
        process.send(counter, Add(1))


async def test_stop_abnormal_raises_actor_stopped_abnormally() -> None:
    with pytest.RaisesGroup(pytest.RaisesExc(actor.ActorStoppedAbnormally, match="^lost it$")):
        async with trio.open_nursery() as nursery:
            counter = (await COUNTER.start(nursery)).unwrap().data
            process.send(counter, Abort("lost it"))


async def test_stop_abnormal_is_logged_with_its_reason(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="trio_eventsourcing.actor")
    with pytest.RaisesGroup(actor.ActorStoppedAbnormally):
        async with trio.open_nursery() as nursery:
            counter = (await COUNTER.start(nursery)).unwrap().data
            process.send(counter, Abort("lost it"))
    [record] = caplog.records
    assert record.name == "trio_eventsourcing.actor"
    assert record.levelno == logging.ERROR
    assert "stopped abnormally: lost it" in record.getMessage()


async def test_handler_exception_propagates_in_an_exception_group() -> None:
    with pytest.RaisesGroup(pytest.RaisesExc(Boom, match="handler blew up")):
        async with trio.open_nursery() as nursery:
            counter = (await COUNTER.start(nursery)).unwrap().data
            process.send(counter, Explode())


async def test_handler_exception_is_logged_with_the_exception(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="trio_eventsourcing.actor")
    with pytest.RaisesGroup(Boom):
        async with trio.open_nursery() as nursery:
            counter = (await COUNTER.start(nursery)).unwrap().data
            process.send(counter, Explode())
    [record] = caplog.records
    assert record.name == "trio_eventsourcing.actor"
    assert "crashed handling Explode()" in record.getMessage()
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], Boom)


async def test_cancelling_an_actor_closes_its_subject() -> None:
    async with trio.open_nursery() as nursery:
        counter = (await COUNTER.start(nursery)).unwrap().data
        nursery.cancel_scope.cancel()
    with pytest.raises(process.SubjectClosed):
        process.send(counter, Add(1))


async def test_sending_to_a_crashed_actor_raises_subject_closed() -> None:
    with pytest.RaisesGroup(Boom):
        async with trio.open_nursery() as nursery:
            counter = (await COUNTER.start(nursery)).unwrap().data
            process.send(counter, Explode())
    with pytest.raises(process.SubjectClosed):
        process.send(counter, Add(1))


# --- names --------------------------------------------------------------------------------


async def test_named_actor_serves_the_named_subject(nursery: trio.Nursery) -> None:
    name: process.Name[Message] = process.new_name("counter")
    subject = (await COUNTER.named(name).start(nursery)).unwrap().data
    assert subject == process.named_subject(name)
    process.send(process.named_subject(name), Add(3))
    assert await _total(subject) == 3


async def test_named_before_on_message_builds_the_same_actor(nursery: trio.Nursery) -> None:
    name: process.Name[Message] = process.new_name("counter")
    builder = actor.new(0).named(name).on_message(_counter)
    subject = (await builder.start(nursery)).unwrap().data
    assert subject == process.named_subject(name)


async def test_a_running_named_actor_holds_its_name(nursery: trio.Nursery) -> None:
    name: process.Name[Message] = process.new_name("counter")
    assert not name.is_held
    await COUNTER.named(name).start(nursery)
    assert name.is_held


async def test_a_second_actor_on_a_held_name_gets_a_start_error_naming_it(
    nursery: trio.Nursery,
) -> None:
    name: process.Name[Message] = process.new_name("counter")
    await COUNTER.named(name).start(nursery)
    result = await COUNTER.named(name).start(nursery)
    assert isinstance(result, Error)
    assert isinstance(result.error, actor.StartError)
    assert repr(name) in result.error.reason
    assert "already held" in result.error.reason


async def test_a_refused_second_actor_leaves_the_first_serving(nursery: trio.Nursery) -> None:
    name: process.Name[Message] = process.new_name("counter")
    first = (await COUNTER.named(name).start(nursery)).unwrap().data
    await COUNTER.named(name).start(nursery)
    process.send(first, Add(1))
    assert await _total(first) == 1
    assert name.is_held


async def test_name_is_released_when_its_actor_exits_so_another_can_take_it(
    nursery: trio.Nursery,
) -> None:
    name: process.Name[Message] = process.new_name("counter")
    async with trio.open_nursery() as inner:
        await COUNTER.named(name).start(inner)
        process.send(process.named_subject(name), Quit())
    assert not name.is_held
    result = await COUNTER.named(name).start(nursery)
    assert isinstance(result, Ok)
    assert name.is_held


async def test_name_is_released_when_its_actor_crashes() -> None:
    name: process.Name[Message] = process.new_name("counter")
    with pytest.RaisesGroup(Boom):
        async with trio.open_nursery() as nursery:
            await COUNTER.named(name).start(nursery)
            process.send(process.named_subject(name), Explode())
    assert not name.is_held


async def test_a_stopped_named_actors_mailbox_keeps_accepting_messages(
    nursery: trio.Nursery,
) -> None:
    name: process.Name[Message] = process.new_name("counter")
    async with trio.open_nursery() as inner:
        await COUNTER.named(name).start(inner)
        process.send(process.named_subject(name), Quit())
    process.send(process.named_subject(name), Add(4))  # waits for the next holder
    successor = (await COUNTER.named(name).start(nursery)).unwrap().data
    assert await _total(successor) == 4


def test_named_rejects_anything_but_a_name() -> None:
    with pytest.raises(TypeError, match="named\\(\\) takes a Name"):
        COUNTER.named("counter")  # type: ignore[arg-type]
