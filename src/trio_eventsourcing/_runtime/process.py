"""Subjects and Names: typed mailboxes that tasks send to and receive from.

A :class:`Subject` is the address of a mailbox, like a BEAM process's subject: any task
may ``send`` to it without blocking, and its owner receives messages in FIFO order.
A :class:`Name` is a stable address whose mailbox outlives the actor holding it, so
messages sent while a named actor restarts wait for the restarted actor.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar, overload

import trio
from typing_extensions import Never, TypeVarTuple, Unpack, final

from .checks import require_non_negative_int, require_positive_int
from .positive import InvalidDuration, NegativeLiteral, NonPositiveLiteral, Timeout
from .result import Error, Ok, Result
from .timer import Timer, cancel_timer, start_timer

MsgT = TypeVar("MsgT")
ReplyT = TypeVar("ReplyT")
ArgsT = TypeVarTuple("ArgsT")

Within = int | Timeout
"""How long to wait, in milliseconds: a positive ``int`` or a :class:`Timeout`.

A literal that is not positive (``0``, ``-5``) is refused by mypy and pyright (see
:class:`InvalidDuration`); any other raises ``ValueError`` naming the argument."""


def within_seconds(within: Within, argument: str = "within") -> float:
    """Validate a ``within`` argument and return it in seconds."""
    if isinstance(within, Timeout):
        return within.seconds
    return require_positive_int(f"{argument} (milliseconds)", within) / 1000


@final
class SubjectClosed(Exception):
    """Raised by :func:`send` to the subject of an actor that has stopped."""


@final
class SubjectFull(trio.WouldBlock):
    """Raised by :func:`send` to a bounded subject that is full (see :func:`send_wait`)."""


@final
class CallTimeout(trio.TooSlowError):
    """Raised by :func:`call` when no reply arrives within the time given."""


class _Mailbox(Generic[MsgT]):
    """Where a subject's messages wait: an unbounded FIFO with one receiving task at a time.

    A deque and a parked task cost far less than a memory channel pair, which matters
    because every request gets a fresh reply mailbox. Receiving has memory-channel
    semantics: a receive that is cancelled takes nothing out of the mailbox.
    """

    __slots__ = (
        "_at_once",
        "_capacity",
        "_closed",
        "_dropping",
        "_expired",
        "_items",
        "_receiver",
        "_space",
        "_timer",
    )

    def __init__(self, capacity: float = math.inf) -> None:
        self._items: deque[MsgT] = deque()
        self._capacity = capacity
        # Senders waiting for room, in a bounded mailbox only: unbounded ones never wait.
        self._space = trio.lowlevel.ParkingLot() if capacity != math.inf else None
        self._receiver: trio.lowlevel.Task | None = None
        self._at_once: Callable[[MsgT], bool] | None = None
        self._timer: Timer | None = None
        self._closed = False
        self._dropping = False
        # Set by the timer of the receive in progress when its time ran out.
        self._expired = False

    def put(self, message: MsgT) -> None:
        if self._dropping:
            return
        if self._closed:
            raise SubjectClosed("cannot send: the actor that owned this subject has stopped")
        if len(self._items) >= self._capacity:
            raise SubjectFull(
                f"cannot send: the subject holds its {self._capacity:g} messages already "
                "(await send_wait() to wait for room)"
            )
        receiver = self._receiver
        # The receiver is parked in ``get`` on an empty mailbox: no earlier message is
        # waiting or being handled, so handling this one here keeps the order.
        at_once = self._at_once
        if (
            at_once is not None
            and receiver is not None
            and self._timer is None
            and at_once(message)
        ):
            return
        self._items.append(message)
        if receiver is not None:
            self._receiver = None
            timer = self._timer
            if timer is not None:
                self._timer = None
                cancel_timer(timer)
            trio.lowlevel.reschedule(receiver)

    def _take(self) -> MsgT:
        message = self._items.popleft()
        if self._space is not None:
            self._space.unpark()
        return message

    async def put_wait(self, message: MsgT) -> None:
        """Put ``message``, first waiting for room if the mailbox is bounded and full."""
        await trio.lowlevel.checkpoint_if_cancelled()
        if self._space is not None:
            while len(self._items) >= self._capacity and not (self._closed or self._dropping):
                await self._space.park()
        self.put(message)
        await trio.lowlevel.cancel_shielded_checkpoint()

    def remove(self, message: MsgT) -> bool:
        """Take ``message`` out of the queue unread; ``False`` if it is not queued."""
        for index, queued in enumerate(self._items):
            if queued is message:
                del self._items[index]
                return True
        return False

    async def park(self) -> None:
        """Park the receiver until a :meth:`put`, taking nothing.

        The receiver looks at the queue again when it wakes, and takes a message with
        :meth:`get_nowait` in the same step, so that a message is never out of the queue
        and unclaimed while other tasks run.
        """
        if self._receiver is not None:
            raise trio.BusyResourceError("another task is already receiving from this subject")
        self._receiver = trio.lowlevel.current_task()
        await trio.lowlevel.wait_task_rescheduled(self._abort_receive)

    def handle_at_once(self, at_once: Callable[[MsgT], bool] | None) -> None:
        """Install (or with ``None`` remove) the handler ``put`` calls while idle."""
        self._at_once = at_once

    def get_nowait(self) -> MsgT:
        if not self._items:
            raise trio.WouldBlock
        return self._take()

    async def get(self) -> MsgT:
        await trio.lowlevel.checkpoint_if_cancelled()
        if self._items:
            message = self._take()
            await trio.lowlevel.cancel_shielded_checkpoint()
            return message
        while not self._items:
            await self.park()
        return self._take()

    async def get_within(self, seconds: float) -> Result[MsgT, None]:
        """Like :meth:`get`, but ``Error(None)`` if nothing arrives within ``seconds``."""
        await trio.lowlevel.checkpoint_if_cancelled()
        if self._items:
            message = self._take()
            await trio.lowlevel.cancel_shielded_checkpoint()
            return Ok(message)
        deadline = trio.current_time() + seconds
        while not self._items:
            if self._receiver is not None:
                raise trio.BusyResourceError("another task is already receiving from this subject")
            remaining = deadline - trio.current_time()
            if remaining <= 0:
                await trio.lowlevel.checkpoint()
                return Error(None)
            self._receiver = trio.lowlevel.current_task()
            self._expired = False
            # Bound methods, not closures: a request's reply is awaited this way, and
            # every object allocated per wait is work for the cyclic GC.
            self._timer = start_timer(remaining, self._time_out)
            await trio.lowlevel.wait_task_rescheduled(self._abort_receive)
            if self._expired:
                return Error(None)
        return Ok(self._take())

    def _time_out(self) -> None:
        """The timer of the receive in progress: its time ran out, wake it empty-handed.

        A timer fires only while it is not cancelled, and every other way of waking or
        ending the receive (a message, a cancellation) cancels it first: a timer that
        fires is the one of the receive now parked.
        """
        task = self._receiver
        self._timer = None
        if task is not None:
            self._receiver = None
            self._expired = True
            trio.lowlevel.reschedule(task)

    def _abort_receive(self, _: trio.lowlevel.RaiseCancelT) -> trio.lowlevel.Abort:
        """A parked receive is cancelled: it takes nothing, and its timer, if any, stops."""
        self._receiver = None
        timer = self._timer
        if timer is not None:
            self._timer = None
            cancel_timer(timer)
        return trio.lowlevel.Abort.SUCCEEDED

    def close(self) -> None:
        """Refuse further messages: sending raises :class:`SubjectClosed`."""
        self._closed = True
        self._items.clear()
        if self._space is not None:
            self._space.unpark_all()

    def drop_further(self) -> None:
        """Silently drop further messages (a caller that gave up on its reply)."""
        self._dropping = True
        self._items.clear()
        if self._space is not None:
            self._space.unpark_all()

    def __len__(self) -> int:
        return len(self._items)


@final
class Subject(Generic[MsgT]):
    """The typed address of a mailbox; create one with :func:`new_subject`.

    ``send(subject, message)`` never blocks; ``await receive(subject, within)`` takes
    the oldest message. Subjects compare equal when they address the same mailbox.

    Example::

        subject: Subject[str] = new_subject()
        send(subject, "hello")
        assert await receive(subject, 100) == Ok("hello")
    """

    __slots__ = ("_mailbox", "_name")
    _mailbox: _Mailbox[MsgT]
    _name: Name[MsgT] | None

    def __init__(self, _private: Never) -> None:
        raise TypeError("Subject has no public constructor: use new_subject() or named_subject()")

    @classmethod
    def _make(cls, mailbox: _Mailbox[MsgT], name: Name[MsgT] | None = None) -> Subject[MsgT]:
        self = object.__new__(cls)
        self._mailbox = mailbox
        self._name = name
        return self

    @property
    def name(self) -> Name[MsgT] | None:
        """The :class:`Name` this subject reaches, or ``None`` for an anonymous subject."""
        return self._name

    def pending(self) -> int:
        """How many messages wait in the mailbox, unreceived."""
        return len(self._mailbox)

    def __repr__(self) -> str:
        target = repr(self._name) if self._name is not None else hex(id(self._mailbox))
        return f"<Subject {target}, {len(self._mailbox)} pending>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Subject) and other._mailbox is self._mailbox

    def __hash__(self) -> int:
        return id(self._mailbox)


_name_ids = itertools.count(1)


@final
class Name(Generic[MsgT]):
    """A stable, unique address for an actor; create one with :func:`new_name`.

    The actor started with ``.named(name)`` holds it; :func:`named_subject` reaches
    whichever actor holds it now. Its mailbox outlives any one holder.

    Example::

        name: Name[int] = new_name("counter")
        counter = named_subject(name)
    """

    __slots__ = ("_holder", "_id", "_prefix", "_subject")
    _holder: object | None
    _id: int
    _prefix: str
    _subject: Subject[MsgT]

    def __init__(self, _private: Never) -> None:
        raise TypeError("Name has no public constructor: use new_name()")

    @classmethod
    def _make(cls, prefix: str) -> Name[MsgT]:
        self = object.__new__(cls)
        self._prefix = prefix
        self._id = next(_name_ids)
        self._holder = None
        self._subject = Subject._make(_Mailbox(), self)
        return self

    @property
    def prefix(self) -> str:
        """The prefix given to :func:`new_name`."""
        return self._prefix

    def _acquire(self, holder: object) -> None:
        if self._holder is not None:
            raise NameAlreadyHeld(f"{self!r} is already held by a live actor")
        self._holder = holder

    def _release(self, holder: object) -> None:
        if self._holder is holder:
            self._holder = None

    @property
    def is_held(self) -> bool:
        """Whether a live actor holds this name now."""
        return self._holder is not None

    def __repr__(self) -> str:
        return f"Name({self._prefix!r}#{self._id})"


@final
class NameAlreadyHeld(Exception):
    """Raised when a second actor tries to take a name a live actor holds."""


def new_subject() -> Subject[MsgT]:
    """Create a new anonymous subject (an unbounded mailbox).

    Example::

        replies: Subject[int] = new_subject()
    """
    return Subject._make(_Mailbox())


def new_bounded_subject(capacity: int) -> Subject[MsgT]:
    """Create a subject that holds at most ``capacity`` messages, for backpressure.

    :func:`send` to a full one raises :class:`SubjectFull`; ``await send_wait(...)``
    waits for room instead. Receiving is as with any subject.

    Example::

        jobs: Subject[str] = new_bounded_subject(100)
        await send_wait(jobs, "resize image 17")
    """
    return Subject._make(_Mailbox(require_positive_int("capacity", capacity)))


def new_name(prefix: str) -> Name[MsgT]:
    """Create a new name, unique per call (two calls with one prefix give two names).

    Example::

        name: Name[str] = new_name("greeter")
    """
    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be a str, got {type(prefix).__name__}")
    return Name._make(prefix)


def named_subject(name: Name[MsgT]) -> Subject[MsgT]:
    """Return the subject that reaches whichever actor holds ``name`` now.

    Messages sent while no actor holds the name wait in its mailbox.

    Example::

        send(named_subject(name), "hello")
    """
    return name._subject


def send(subject: Subject[MsgT], message: MsgT) -> None:
    """Put ``message`` in the subject's mailbox; never blocks, never drops.

    Raises:
        SubjectClosed: the subject belonged to an actor that has stopped.

    Example::

        send(subject, "hello")
    """
    subject._mailbox.put(message)


async def send_wait(subject: Subject[MsgT], message: MsgT) -> None:
    """Send ``message``, waiting for room first if ``subject`` is bounded and full.

    On an unbounded subject it is :func:`send` plus a checkpoint. Cancelling the wait
    sends nothing.

    Raises:
        SubjectClosed: the subject belonged to an actor that has stopped.

    Example::

        await send_wait(jobs, "resize image 18")
    """
    await subject._mailbox.put_wait(message)


# Each function taking milliseconds first offers checkers an overload that a literal
# which is not positive matches, returning what cannot be awaited: the call is refused.
# That overload overlaps the next on purpose, and the implementation (which answers a
# coroutine) cannot produce its return type: mypy's two ignores say so.
@overload
def receive(  # type: ignore[overload-overlap]
    subject: Subject[MsgT], within: NonPositiveLiteral
) -> InvalidDuration: ...
@overload
async def receive(subject: Subject[MsgT], within: Within) -> Result[MsgT, None]: ...
async def receive(subject: Subject[MsgT], within: Within) -> Result[MsgT, None]:  # type: ignore[misc]
    """Take the oldest message, waiting at most ``within`` milliseconds.

    Returns ``Ok(message)``, or ``Error(None)`` if none arrived in time. Cancelling the
    wait never loses a message.

    Raises:
        ValueError: ``within`` is not positive (a literal ``0`` or ``-5`` is a type error).

    Example::

        match await receive(subject, 1000):
            case Ok(message):
                print(message)
            case Error(None):
                print("nothing within a second")
    """
    return await subject._mailbox.get_within(within_seconds(within))


async def receive_forever(subject: Subject[MsgT]) -> MsgT:
    """Take the oldest message, waiting as long as it takes (cancel to stop waiting).

    Example::

        message = await receive_forever(subject)
    """
    return await subject._mailbox.get()


@overload
def call(  # type: ignore[overload-overlap]
    subject: Subject[MsgT],
    within: NonPositiveLiteral,
    make_request: Callable[[Unpack[ArgsT], Subject[ReplyT]], MsgT],
    *args: Unpack[ArgsT],
) -> InvalidDuration: ...
@overload
async def call(
    subject: Subject[MsgT],
    within: Within,
    make_request: Callable[[Unpack[ArgsT], Subject[ReplyT]], MsgT],
    *args: Unpack[ArgsT],
) -> ReplyT: ...
async def call(  # type: ignore[misc]
    subject: Subject[MsgT],
    within: Within,
    make_request: Callable[[Unpack[ArgsT], Subject[ReplyT]], MsgT],
    *args: Unpack[ArgsT],
) -> ReplyT:
    """Send a request carrying a fresh reply subject and wait for the reply.

    ``make_request(*args, reply_to)`` builds the message, the reply subject last as in
    Gleam's ``process.call(subject, 1000, Double(21, _))``; the receiver answers with
    ``send(reply_to, reply)``. A reply that arrives after the caller gave up is dropped
    without harming the replier.

    The reply's type is that of ``make_request``'s last parameter, so mypy and pyright
    infer it when ``make_request`` is the request's class or a function. A lambda's
    parameter has no type: with ``lambda reply_to: Double(21, reply_to)`` the checkers
    know the reply's type only if the result's type is declared (mypy answers ``Any``
    otherwise, pyright an error), which passing ``Double, 21`` avoids.

    Raises:
        CallTimeout: no reply within ``within`` milliseconds.
        ValueError: ``within`` is not positive (a literal ``0`` or ``-5`` is a type error).

    Example::

        # GetCount(reply_to: Subject[int]) and Double(number: int, reply_to: Subject[int])
        count = await call(counter, 1000, GetCount)  # an int
        doubled = await call(doubler, 1000, Double, 21)  # Double(21, reply_to): an int
    """
    seconds = within_seconds(within)
    reply_to: Subject[ReplyT] = new_subject()
    subject._mailbox.put(make_request(*args, reply_to))
    try:
        reply = await reply_to._mailbox.get_within(seconds)
    finally:
        # Whatever happened, nobody will read this mailbox again.
        reply_to._mailbox.drop_further()
    if isinstance(reply, Ok):
        return reply.value
    raise CallTimeout(f"no reply within {seconds * 1000:g} ms from {subject!r}")


@overload
def sleep(ms: NegativeLiteral) -> InvalidDuration: ...  # type: ignore[overload-overlap]
@overload
async def sleep(ms: int) -> None: ...
async def sleep(ms: int) -> None:  # type: ignore[misc]
    """Sleep for ``ms`` milliseconds (Gleam's ``process.sleep``); ``0`` only checkpoints.

    Raises:
        ValueError: ``ms`` is negative (a literal ``-1`` is a type error).

    Example::

        await sleep(10)
    """
    await trio.sleep(require_non_negative_int("ms", ms) / 1000)
