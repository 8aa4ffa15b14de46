"""Run-time sides of the typing fixes: what the checkers refuse also fails clearly when run."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import trio

from trio_eventsourcing import actor, process, result
from trio_eventsourcing.result import Error, Ok


def test_no_handler_marks_a_type_and_has_no_instances() -> None:
    with pytest.raises(TypeError, match="no instances"):
        actor.NoHandler(None)  # type: ignore[arg-type]


def test_is_ok_and_is_error_answer_as_the_methods() -> None:
    for value in (Ok(1), Error("no"), Ok(None), Error(None)):
        assert result.is_ok(value) is value.is_ok()
        assert result.is_error(value) is value.is_error()


@dataclass(frozen=True)
class Double:
    number: int
    reply_to: process.Subject[int]


async def _doubler(state: None, message: Double) -> actor.Next[None]:
    process.send(message.reply_to, message.number * 2)
    return actor.continue_(state)


async def test_call_builds_the_request_from_its_arguments_and_the_reply_subject(
    nursery: trio.Nursery,
) -> None:
    doubler = (await actor.new(None).on_message(_doubler).start(nursery)).unwrap().data
    assert await process.call(doubler, 100, Double, 21) == 42
    eight: int = await process.call(doubler, 100, lambda reply_to: Double(4, reply_to))
    assert eight == 8


def test_invalid_duration_marks_a_type_and_has_no_instances() -> None:
    with pytest.raises(TypeError, match="no instances"):
        process.InvalidDuration(None)  # type: ignore[arg-type]


@pytest.mark.parametrize("within", [0, -5])
async def test_a_within_that_is_not_positive_fails_naming_it_when_run(within: int) -> None:
    inbox: process.Subject[Double] = process.new_subject()
    with pytest.raises(ValueError, match=r"^within \(milliseconds\) must be greater than zero"):
        await process.receive(inbox, within)
    with pytest.raises(ValueError, match=r"^within \(milliseconds\) must be greater than zero"):
        await process.call(inbox, within, Double, 1)
