"""Subjects and Names: typed mailboxes, as in Gleam's ``gleam/erlang/process``.

Example::

    import trio
    from trio_eventsourcing import process
    from trio_eventsourcing.result import Ok

    async def main() -> None:
        inbox: process.Subject[str] = process.new_subject()
        process.send(inbox, "hello")
        assert await process.receive(inbox, 100) == Ok("hello")

    trio.run(main)
"""

from ._runtime.positive import InvalidDuration as InvalidDuration
from ._runtime.process import CallTimeout as CallTimeout
from ._runtime.process import Name as Name
from ._runtime.process import NameAlreadyHeld as NameAlreadyHeld
from ._runtime.process import Subject as Subject
from ._runtime.process import SubjectClosed as SubjectClosed
from ._runtime.process import SubjectFull as SubjectFull
from ._runtime.process import Within as Within
from ._runtime.process import call as call
from ._runtime.process import named_subject as named_subject
from ._runtime.process import new_bounded_subject as new_bounded_subject
from ._runtime.process import new_name as new_name
from ._runtime.process import new_subject as new_subject
from ._runtime.process import receive as receive
from ._runtime.process import receive_forever as receive_forever
from ._runtime.process import send as send
from ._runtime.process import send_wait as send_wait
from ._runtime.process import sleep as sleep
from ._runtime.public import publish as _publish

__all__ = [
    "CallTimeout",
    "InvalidDuration",
    "Name",
    "NameAlreadyHeld",
    "Subject",
    "SubjectClosed",
    "SubjectFull",
    "Within",
    "call",
    "named_subject",
    "new_bounded_subject",
    "new_name",
    "new_subject",
    "receive",
    "receive_forever",
    "send",
    "send_wait",
    "sleep",
]

_publish(__name__, globals(), __all__)
