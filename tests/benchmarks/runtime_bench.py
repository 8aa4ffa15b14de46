"""Micro-benchmark of the process runtime, beside bare Trio memory channels (not a test).

What one message costs through a :class:`~trio_eventsourcing.process.Subject`, and one
request/reply through :func:`~trio_eventsourcing.process.call` to an actor, each next to
the same work written by hand on ``trio.open_memory_channel``. Run it from the repository
with::

    python -m tests.benchmarks.runtime_bench            # N = 100_000 and 20_000
    python -m tests.benchmarks.runtime_bench --quick    # a tenth of that

A harness can call :func:`run` and read the numbers from the returned dict instead.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import trio

from trio_eventsourcing import actor, process

SEND_RECEIVE_N = 100_000
REQUEST_REPLY_N = 20_000
WITHIN_MS = 10_000  # far longer than any one message takes: the timer is armed, never fires


@dataclass(frozen=True)
class Double:
    number: int
    reply_to: process.Subject[int]


async def _double(state: None, message: Double) -> actor.Next[None]:
    process.send(message.reply_to, message.number * 2)
    return actor.continue_(state)


async def _timed(n: int, body: Callable[[int], Awaitable[None]]) -> float:
    """Run ``body(n)`` and return the microseconds it took per message."""
    start = time.perf_counter()
    await body(n)
    return (time.perf_counter() - start) / n * 1e6


# --- send + receive, one task -------------------------------------------------------------


async def _channel_send_receive(n: int) -> None:
    send_channel, receive_channel = trio.open_memory_channel[int](math.inf)
    async with send_channel, receive_channel:
        for i in range(n):
            send_channel.send_nowait(i)
            with trio.move_on_after(WITHIN_MS / 1000):
                await receive_channel.receive()


async def _channel_send_receive_no_timeout(n: int) -> None:
    send_channel, receive_channel = trio.open_memory_channel[int](math.inf)
    async with send_channel, receive_channel:
        for i in range(n):
            send_channel.send_nowait(i)
            await receive_channel.receive()


async def _subject_send_receive(n: int) -> None:
    subject: process.Subject[int] = process.new_subject()
    for i in range(n):
        process.send(subject, i)
        await process.receive(subject, WITHIN_MS)


async def _subject_send_receive_forever(n: int) -> None:
    subject: process.Subject[int] = process.new_subject()
    for i in range(n):
        process.send(subject, i)
        await process.receive_forever(subject)


# --- request / reply, two tasks -----------------------------------------------------------


async def _channel_request_reply(n: int) -> None:
    Request = tuple[int, trio.MemorySendChannel[int]]
    request_send, request_receive = trio.open_memory_channel[Request](math.inf)

    async def server() -> None:
        async with request_receive:
            async for number, reply_send in request_receive:
                reply_send.send_nowait(number * 2)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(server)
        async with request_send:
            for i in range(n):
                reply_send, reply_receive = trio.open_memory_channel[int](1)
                request_send.send_nowait((i, reply_send))
                with trio.fail_after(WITHIN_MS / 1000):
                    await reply_receive.receive()


async def _actor_call(n: int) -> None:
    async with trio.open_nursery() as nursery:
        doubler = (await actor.new(None).on_message(_double).start(nursery)).unwrap().data
        for i in range(n):
            await process.call(doubler, WITHIN_MS, lambda reply_to: Double(i, reply_to))  # noqa: B023
        nursery.cancel_scope.cancel()


def run(quick: bool) -> dict[str, float]:
    """Run every benchmark once and return µs per message (and the ratios) by name.

    ``quick`` runs a tenth of the messages, for a smoke test of the benchmark itself.
    """
    send_n = SEND_RECEIVE_N // 10 if quick else SEND_RECEIVE_N
    call_n = REQUEST_REPLY_N // 10 if quick else REQUEST_REPLY_N
    results: dict[str, float] = {}

    async def main() -> None:
        results["channel_send_receive_us"] = await _timed(send_n, _channel_send_receive)
        results["channel_send_receive_no_timeout_us"] = await _timed(
            send_n, _channel_send_receive_no_timeout
        )
        results["subject_send_receive_us"] = await _timed(send_n, _subject_send_receive)
        results["subject_send_receive_forever_us"] = await _timed(
            send_n, _subject_send_receive_forever
        )
        results["channel_request_reply_us"] = await _timed(call_n, _channel_request_reply)
        results["actor_call_us"] = await _timed(call_n, _actor_call)

    trio.run(main)
    results["send_receive_ratio"] = (
        results["subject_send_receive_us"] / results["channel_send_receive_us"]
    )
    results["request_reply_ratio"] = results["actor_call_us"] / results["channel_request_reply_us"]
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a tenth of the messages")
    quick = parser.parse_args().quick
    results = run(quick)
    send_n = SEND_RECEIVE_N // 10 if quick else SEND_RECEIVE_N
    call_n = REQUEST_REPLY_N // 10 if quick else REQUEST_REPLY_N
    rows = [
        (f"send + receive, N={send_n:,}", None),
        ("  memory channel, receive under move_on_after", "channel_send_receive_us"),
        ("  memory channel, bare receive", "channel_send_receive_no_timeout_us"),
        ("  Subject, receive(subject, within)", "subject_send_receive_us"),
        ("  Subject, receive_forever(subject)", "subject_send_receive_forever_us"),
        (f"request / reply, N={call_n:,}", None),
        ("  memory channels by hand, under fail_after", "channel_request_reply_us"),
        ("  process.call to an actor", "actor_call_us"),
    ]
    for label, key in rows:
        print(label if key is None else f"{label:<50} {results[key]:8.2f} µs/message")
    print(
        f"ratio Subject / channel (send + receive, both timed): {results['send_receive_ratio']:.2f}"
    )
    print(
        f"ratio call / channels (request / reply):            {results['request_reply_ratio']:.2f}"
    )


if __name__ == "__main__":
    main()
