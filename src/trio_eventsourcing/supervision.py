"""Child specifications, as in Gleam's ``gleam/otp/supervision``.

A child's start function takes the nursery to start in; the supervisor calls it again,
with its own nursery, on every restart.

Example::

    from trio_eventsourcing import actor, process, supervision

    async def handle(state: int, message: int) -> actor.Next[int]:
        return actor.continue_(state + message)

    name: process.Name[int] = process.new_name("adder")
    child = supervision.worker(
        lambda nursery: actor.new(0).on_message(handle).named(name).start(nursery)
    )
    child = supervision.restart(child, supervision.Transient)
"""

from ._runtime.public import publish as _publish
from ._runtime.supervision import ChildSpecification as ChildSpecification
from ._runtime.supervision import ChildType as ChildType
from ._runtime.supervision import Permanent as Permanent
from ._runtime.supervision import Restart as Restart
from ._runtime.supervision import StartFunction as StartFunction
from ._runtime.supervision import Temporary as Temporary
from ._runtime.supervision import Transient as Transient
from ._runtime.supervision import map_data as map_data
from ._runtime.supervision import restart as restart
from ._runtime.supervision import supervisor as supervisor
from ._runtime.supervision import timeout as timeout
from ._runtime.supervision import worker as worker

__all__ = [
    "ChildSpecification",
    "ChildType",
    "Permanent",
    "Restart",
    "StartFunction",
    "Temporary",
    "Transient",
    "map_data",
    "restart",
    "supervisor",
    "timeout",
    "worker",
]

_publish(__name__, globals(), __all__)
