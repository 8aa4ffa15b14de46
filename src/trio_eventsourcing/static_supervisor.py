"""Supervisors with a fixed list of children, as in Gleam's ``gleam/otp/static_supervisor``.

Example::

    import trio
    from trio_eventsourcing import actor, process, static_supervisor, supervision

    async def handle(state: int, message: int) -> actor.Next[int]:
        return actor.continue_(state + message)

    async def main() -> None:
        name: process.Name[int] = process.new_name("adder")
        child = supervision.worker(
            lambda nursery: actor.new(0).on_message(handle).named(name).start(nursery)
        )
        builder = static_supervisor.new(static_supervisor.OneForOne).add(child)
        async with builder.open() as supervisor:
            process.send(process.named_subject(name), 1)
            assert supervisor.statistics().live_children == 1

    trio.run(main)
"""

from ._runtime.public import publish as _publish
from ._runtime.static_supervisor import Builder as Builder
from ._runtime.static_supervisor import ChildStartFailed as ChildStartFailed
from ._runtime.static_supervisor import OneForAll as OneForAll
from ._runtime.static_supervisor import OneForOne as OneForOne
from ._runtime.static_supervisor import RestForOne as RestForOne
from ._runtime.static_supervisor import Strategy as Strategy
from ._runtime.static_supervisor import Supervisor as Supervisor
from ._runtime.static_supervisor import SupervisorGaveUp as SupervisorGaveUp
from ._runtime.static_supervisor import SupervisorStatistics as SupervisorStatistics
from ._runtime.static_supervisor import add as add
from ._runtime.static_supervisor import new as new
from ._runtime.static_supervisor import restart_tolerance as restart_tolerance
from ._runtime.static_supervisor import start as start
from ._runtime.static_supervisor import supervised as supervised

__all__ = [
    "Builder",
    "ChildStartFailed",
    "OneForAll",
    "OneForOne",
    "RestForOne",
    "Strategy",
    "Supervisor",
    "SupervisorGaveUp",
    "SupervisorStatistics",
    "add",
    "new",
    "restart_tolerance",
    "start",
    "supervised",
]

_publish(__name__, globals(), __all__)
