"""A user's ``handle`` or ``apply`` that raises is a bug: reported, logged, nothing kept."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import cast

import pytest

import trio_eventsourcing as eventsourcing
from tests.core.conftest import (
    Added,
    Explode,
    Poison,
    PoisonError,
    Rejected,
    Tally,
    TallyCommand,
    TallyEvent,
    add,
    open_system,
    reply,
)
from trio_eventsourcing import (
    Aggregate,
    AggregateMessage,
    CallbackRaised,
    Error,
    Ok,
    Result,
    memory_store,
    process,
    static_supervisor,
)
from trio_eventsourcing.static_supervisor import OneForOne

LOGGER = "trio_eventsourcing.eventsourcing"


async def test_handle_raising_is_reported_as_callback_raised() -> None:
    async with open_system() as system:
        assert await system.run("t-1", Explode("kaboom")) == Error(
            CallbackRaised("handle", "ValueError", "kaboom")
        )


async def test_handle_raising_commits_and_delivers_nothing() -> None:
    async with open_system() as system:
        assert await system.run("t-1", add(1)) == Ok(None)
        assert isinstance(await system.run("t-1", Explode("kaboom")), Error)
        assert await system.payloads("t-1") == [Added(1)]
        assert await system.delivered("t-1") == [[Added(1)]]


async def test_handle_raising_is_logged_with_its_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger=LOGGER)
    async with open_system() as system:
        assert isinstance(await system.run("t-1", Explode("kaboom")), Error)
    [record] = [r for r in caplog.records if r.name == LOGGER]
    assert record.levelno == logging.ERROR
    assert "handle raised" in record.getMessage()
    assert "'t-1'" in record.getMessage()
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], ValueError)
    assert record.exc_info[2] is not None  # the traceback


async def test_handle_raising_reloads_the_cached_state() -> None:
    async with open_system() as system:
        assert await system.run("t-1", add(1)) == Ok(None)
        assert system.faulty.aggregate_loads == 1
        assert isinstance(await system.run("t-1", Explode("kaboom")), Error)
        assert await system.run("t-1", add(2)) == Ok(None)
        assert system.faulty.aggregate_loads == 2


async def test_later_commands_run_normally_after_handle_raised() -> None:
    async with open_system() as system:
        assert isinstance(await system.run("t-1", Explode("kaboom")), Error)
        assert await system.run("t-1", add(3)) == Ok(None)
        assert await system.load("t-1") == Ok(Aggregate("t-1", Tally(3, (3,)), 1))
        assert system.restarts() == 0


async def test_apply_raising_is_reported_as_callback_raised() -> None:
    async with open_system() as system:
        assert await system.run("t-1", Poison()) == Error(
            CallbackRaised("apply", "PoisonError", "apply cannot take a Poisoned event")
        )


async def test_apply_raising_commits_and_delivers_nothing() -> None:
    async with open_system() as system:
        assert await system.run("t-1", add(1)) == Ok(None)
        assert isinstance(await system.run("t-1", Poison()), Error)
        assert await system.payloads("t-1") == [Added(1)]
        assert await system.delivered("t-1") == [[Added(1)]]


async def test_apply_raising_is_logged_with_its_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger=LOGGER)
    async with open_system() as system:
        assert isinstance(await system.run("t-1", Poison()), Error)
    [record] = [r for r in caplog.records if r.name == LOGGER]
    assert "apply raised" in record.getMessage()
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], PoisonError)


async def test_apply_raising_reloads_the_cached_state_and_later_commands_run() -> None:
    async with open_system() as system:
        assert await system.run("t-1", add(1)) == Ok(None)
        assert isinstance(await system.run("t-1", Poison()), Error)
        assert await system.run("t-1", add(2)) == Ok(None)
        assert system.faulty.aggregate_loads == 2
        assert await system.load("t-1") == Ok(Aggregate("t-1", Tally(3, (1, 2)), 2))
        assert system.restarts() == 0


async def test_apply_raising_while_loading_is_reported_as_callback_raised() -> None:
    def strict_apply(tally: Tally, event: TallyEvent) -> Tally:
        raise KeyError("no such event")

    async with open_system() as writer:
        assert await writer.run("t-1", add(1)) == Ok(None)
        async with open_system(writer.store, apply=strict_apply) as reader:
            expected = Error(CallbackRaised("apply", "KeyError", "'no such event'"))
            assert await reader.run("t-1", add(2)) == expected
            assert await reader.load("t-1") == expected
            assert await reader.payloads("t-1") == [Added(1)]


async def test_handle_returning_a_non_result_is_callback_raised_type_error() -> None:
    def sloppy_handle(tally: Tally, command: TallyCommand) -> Result[list[TallyEvent], Rejected]:
        # A plausible mistake: the events without Ok(...) around them.
        return cast("Result[list[TallyEvent], Rejected]", [Added(1)])

    async with open_system(handle=sloppy_handle) as system:
        result = await system.run("t-1", add(1))
        assert isinstance(result, Error)
        assert isinstance(result.error, CallbackRaised)
        assert (result.error.callback, result.error.exception_type) == ("handle", "TypeError")
        assert "Ok(list_of_events)" in result.error.message
        assert await system.payloads("t-1") == []


async def test_handle_returning_ok_of_a_tuple_stores_its_events() -> None:
    def tuple_handle(tally: Tally, command: TallyCommand) -> Result[Sequence[TallyEvent], Rejected]:
        return Ok((Added(1), Added(2)))

    async with open_system(handle=tuple_handle) as system:
        assert await system.run("t-1", add(1)) == Ok(None)
        assert await system.payloads("t-1") == [Added(1), Added(2)]


async def test_handle_returning_ok_of_a_non_sequence_is_callback_raised_type_error() -> None:
    def set_handle(tally: Tally, command: TallyCommand) -> Result[Sequence[TallyEvent], Rejected]:
        return Ok(cast("Sequence[TallyEvent]", {Added(1)}))

    async with open_system(handle=set_handle) as system:
        result = await system.run("t-1", add(1))
        assert isinstance(result, Error)
        assert isinstance(result.error, CallbackRaised)
        assert result.error.exception_type == "TypeError"
        assert await system.payloads("t-1") == []


async def test_a_handle_that_mutates_the_entity_then_raises_leaves_no_trace() -> None:
    # The entity is a mutable list; this handle appends to it in place before raising.
    def careless_handle(entity: list[int], command: int) -> Result[list[int], str]:
        if command < 0:
            entity.append(command)
            raise ValueError("negative")
        return Ok([command])

    def append_apply(entity: list[int], event: int) -> list[int]:
        return [*entity, event]

    events_name: process.Name[memory_store.GetEvents[int]] = process.new_name("events")
    snapshots_name: process.Name[memory_store.GetSnapshot[list[int]]] = process.new_name("snaps")
    store, store_spec = memory_store.supervised(events_name, snapshots_name, OneForOne)
    name: process.Name[AggregateMessage[list[int], int, int, str]] = process.new_name("lists")
    spec = eventsourcing.supervised(
        name, store, careless_handle, append_apply, [], [], None
    ).unwrap()
    async with static_supervisor.new(OneForOne).add(store_spec).add(spec).open():
        subject = process.named_subject(name)
        assert await reply(eventsourcing.execute_with_response(subject, "l-1", 1, [])) == Ok(None)
        failed = await reply(eventsourcing.execute_with_response(subject, "l-1", -5, []))
        assert isinstance(failed, Error)
        assert await reply(eventsourcing.load_aggregate(subject, "l-1")) == Ok(
            Aggregate("l-1", [1], 1)
        )
