"""Actors: a task that folds the messages of its mailbox into a state.

Mirrors Gleam's ``gleam/otp/actor``.

Example::

    from __future__ import annotations

    from dataclasses import dataclass

    import trio
    from trio_eventsourcing import actor, process

    @dataclass(frozen=True)
    class Add:
        amount: int

    @dataclass(frozen=True)
    class Total:
        reply_to: process.Subject[int]

    async def handle(total: int, message: Add | Total) -> actor.Next[int]:
        match message:
            case Add(amount):
                return actor.continue_(total + amount)
            case Total(reply_to):
                process.send(reply_to, total)
                return actor.continue_(total)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            started = await actor.new(0).on_message(handle).start(nursery)
            counter = started.unwrap().data
            process.send(counter, Add(5))
            process.send(counter, Add(7))
            assert await process.call(counter, 1000, Total) == 12
            nursery.cancel_scope.cancel()

    trio.run(main)
"""

from ._runtime.actor import ActorStoppedAbnormally as ActorStoppedAbnormally
from ._runtime.actor import Builder as Builder
from ._runtime.actor import Continue as Continue
from ._runtime.actor import Handler as Handler
from ._runtime.actor import Next as Next
from ._runtime.actor import NoHandler as NoHandler
from ._runtime.actor import Started as Started
from ._runtime.actor import StartError as StartError
from ._runtime.actor import StartResult as StartResult
from ._runtime.actor import Stop as Stop
from ._runtime.actor import StopAbnormal as StopAbnormal
from ._runtime.actor import continue_ as continue_
from ._runtime.actor import named as named
from ._runtime.actor import new as new
from ._runtime.actor import on_message as on_message
from ._runtime.actor import start as start
from ._runtime.actor import stop as stop
from ._runtime.actor import stop_abnormal as stop_abnormal
from ._runtime.public import publish as _publish

__all__ = [
    "ActorStoppedAbnormally",
    "Builder",
    "Continue",
    "Handler",
    "Next",
    "NoHandler",
    "StartError",
    "StartResult",
    "Started",
    "Stop",
    "StopAbnormal",
    "continue_",
    "named",
    "new",
    "on_message",
    "start",
    "stop",
    "stop_abnormal",
]

_publish(__name__, globals(), __all__)
