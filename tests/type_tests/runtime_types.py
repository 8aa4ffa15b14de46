"""Static type tests of the process runtime: checked by mypy and pyright, never run.

``assert_type`` lines are positive tests. Each ``# type: ignore[code]`` line is a negative
test: mypy runs with ``--warn-unused-ignores``, so if the line ever stops being an error
the ignore becomes unused and the type check fails.
"""

# pyright: strict, reportUnnecessaryTypeIgnoreComment=true

from __future__ import annotations

from dataclasses import dataclass

import trio
from typing_extensions import assert_type

from trio_eventsourcing import actor, process, static_supervisor, supervision
from trio_eventsourcing._core.errors import NonPositiveArgument
from trio_eventsourcing._core.values import Frequency, Timeout, frequency, timeout
from trio_eventsourcing.result import Error, Ok, Result, is_error, is_ok


async def handle_str(count: int, message: str) -> actor.Next[int]:
    return actor.continue_(count + len(message))


async def handle_int(count: int, message: int) -> actor.Next[int]:
    return actor.continue_(count + message)


str_name: process.Name[str] = process.new_name("strings")
int_name: process.Name[int] = process.new_name("ints")


# --- results ------------------------------------------------------------------------------


def results(result: Result[int, str]) -> None:
    match result:
        case Ok(value):
            assert_type(value, int)
        case Error(error):
            assert_type(error, str)
    assert_type(Ok(1).unwrap(), int)
    assert_type(frequency(3), Result[Frequency, NonPositiveArgument])
    if isinstance(result, Ok):
        assert_type(result, Ok[int])
    else:
        assert_type(result, Error[str])


def narrowing(result: Result[int, str]) -> None:
    # The functions narrow, in both branches, as isinstance does.
    if is_ok(result):
        assert_type(result, Ok[int])
        assert_type(result.value, int)
    else:
        assert_type(result, Error[str])
    if is_error(result):
        assert_type(result.error, str)
    else:
        assert_type(result, Ok[int])
    # The methods answer a bool and cannot narrow the result they are called on.
    if result.is_ok():
        _ = result.value  # type: ignore[union-attr]
    is_ok(1)  # type: ignore[arg-type]


def validated_values() -> None:
    match timeout(5):
        case Ok(ms):
            assert_type(ms, Timeout)
            assert_type(ms.seconds, float)
        case Error(_):
            pass
    Frequency(3)  # type: ignore[arg-type]
    Timeout(3)  # type: ignore[arg-type]


# --- actor builders -----------------------------------------------------------------------


def builders() -> None:
    assert_type(actor.new(0), actor.Builder[int, actor.NoHandler])
    assert_type(actor.new(0).on_message(handle_str), actor.Builder[int, str])
    assert_type(actor.new(0).on_message(handle_str).named(str_name), actor.Builder[int, str])
    assert_type(actor.new(0).named(str_name).on_message(handle_str), actor.Builder[int, str])
    assert_type(actor.new(0).named(str_name), actor.Builder[int, str])


def mismatched_builders() -> None:
    # A Name[int] for an actor whose handler takes str, in both orders.
    actor.new(0).on_message(handle_str).named(int_name)  # type: ignore[arg-type]
    actor.new(0).named(int_name).on_message(handle_str)  # type: ignore[arg-type]
    # A handler whose state is not the builder's state.
    actor.new("text").on_message(handle_str)  # type: ignore[arg-type]


def gleam_shaped_builders() -> None:
    # The function forms, nested as Gleam pipes them: actor.new(s) |> on_message |> named.
    assert_type(actor.named(actor.new(0).on_message(handle_str), str_name), actor.Builder[int, str])
    assert_type(
        actor.on_message(actor.named(actor.new(0), str_name), handle_str), actor.Builder[int, str]
    )
    assert_type(actor.on_message(actor.new(0), handle_int), actor.Builder[int, int])
    child = supervision.worker(
        lambda n: actor.start(actor.named(actor.on_message(actor.new(0), handle_int), int_name), n)
    )
    assert_type(child, supervision.ChildSpecification[process.Subject[int]])
    # A builder that has a handler is not one without: the Name[int] cannot re-type the str
    # handler through the expected type of named()'s first argument, nested or in a worker.
    actor.named(actor.new(0).on_message(handle_str), int_name)  # type: ignore[arg-type]
    actor.named(actor.on_message(actor.new(0), handle_str), int_name)  # type: ignore[arg-type]
    actor.on_message(actor.named(actor.new(0), int_name), handle_str)  # type: ignore[arg-type]
    supervision.worker(
        lambda n: actor.start(actor.named(actor.new(0).on_message(handle_str), int_name), n)  # type: ignore[arg-type]
    )  # fmt: skip
    # And no value is of the marker's type.
    actor.NoHandler()  # type: ignore[call-arg]


async def starting(nursery: trio.Nursery) -> None:
    started = await actor.new(0).on_message(handle_str).start(nursery)
    assert_type(started, Result[actor.Started[process.Subject[str]], actor.StartError])
    subject: process.Subject[str] = await nursery.start(actor.new(0).on_message(handle_str).run)
    process.send(subject, "hello")


# --- subjects -----------------------------------------------------------------------------


def wants_str_subject(subject: process.Subject[str]) -> None: ...


async def subjects(str_subject: process.Subject[str], int_subject: process.Subject[int]) -> None:
    assert_type(await process.receive(str_subject, 100), Result[str, None])
    assert_type(await process.receive(str_subject, timeout(100).unwrap()), Result[str, None])
    assert_type(await process.receive_forever(str_subject), str)
    assert_type(process.named_subject(str_name), process.Subject[str])
    process.send(str_subject, "fine")
    # mypy reports this one as "cannot infer MsgT" (misc), not as arg-type: the invariant
    # Subject[str] pins MsgT to str, which 1 cannot be.
    process.send(str_subject, 1)  # type: ignore[misc]
    wants_str_subject(int_subject)  # type: ignore[arg-type]
    await process.receive(str_subject, 1.5)  # type: ignore[call-overload]


@dataclass(frozen=True)
class GetCount:
    reply_to: process.Subject[int]


@dataclass(frozen=True)
class Double:
    number: int
    reply_to: process.Subject[int]


def ask_for_text(reply_to: process.Subject[str]) -> tuple[int, process.Subject[str]]:
    return (1, reply_to)


async def durations(
    subject: process.Subject[str], doubler: process.Subject[Double], ms: int
) -> None:
    assert_type(await process.receive(subject, 1), Result[str, None])
    assert_type(await process.receive(subject, ms), Result[str, None])
    assert_type(await process.call(doubler, 1, Double, 21), int)
    await process.sleep(0)
    await process.sleep(ms)
    # A literal that is not positive: the overload it matches answers an InvalidDuration,
    # which cannot be awaited ("InvalidDuration" is not awaitable, to both checkers).
    await process.receive(subject, 0)  # type: ignore[misc]
    await process.receive(subject, -5)  # type: ignore[misc]
    await process.call(doubler, 0, Double, 21)  # type: ignore[misc]
    await process.call(doubler, -1, lambda reply_to: Double(1, reply_to))  # type: ignore[misc]
    await process.sleep(-1)  # type: ignore[misc]


async def calls(
    counter: process.Subject[GetCount],
    doubler: process.Subject[Double],
    either: process.Subject[GetCount | Double],
    pairs: process.Subject[tuple[int, process.Subject[str]]],
) -> None:
    # The reply's type is that of make_request's last parameter, inside any expression.
    assert_type(await process.call(counter, 100, GetCount), int)
    assert_type(await process.call(doubler, 100, Double, 21), int)
    assert_type(await process.call(either, 100, Double, 21) + 1, int)
    assert_type(await process.call(pairs, 100, ask_for_text), str)
    # A lambda's parameter has no type: the result's declared type gives it one.
    doubled: int = await process.call(doubler, 100, lambda reply_to: Double(21, reply_to))
    assert_type(doubled, int)
    text: str = await process.call(pairs, 100, lambda reply_to: (1, reply_to))
    assert_type(text, str)
    # Arguments that are not the request's, a request the subject does not take.
    await process.call(doubler, 100, Double, "21")  # type: ignore[arg-type]
    await process.call(doubler, 100, Double)  # type: ignore[arg-type, call-arg]
    await process.call(counter, 100, Double, 21)  # type: ignore[arg-type]
    _: str = await process.call(doubler, 100, Double, 21)  # type: ignore[arg-type]


# --- supervision --------------------------------------------------------------------------


def child_specifications() -> None:
    child = supervision.worker(
        lambda nursery: actor.new(0).on_message(handle_int).named(int_name).start(nursery)
    )
    assert_type(child, supervision.ChildSpecification[process.Subject[int]])
    assert_type(
        supervision.restart(child, supervision.Transient),
        supervision.ChildSpecification[process.Subject[int]],
    )
    mapped = supervision.map_data(child, lambda subject: subject.pending())
    assert_type(mapped, supervision.ChildSpecification[int])
    nested = static_supervisor.supervised(static_supervisor.new(static_supervisor.OneForOne))
    assert_type(nested, supervision.ChildSpecification[static_supervisor.Supervisor])
    static_supervisor.new(static_supervisor.OneForAll).add(child).add(nested)
    supervision.restart(child, "transient")  # type: ignore[arg-type]
    static_supervisor.new("one_for_one")  # type: ignore[arg-type]
