"""Actors: a task that owns a mailbox and folds its messages into a state.

Mirrors Gleam's ``gleam/otp/actor``::

    builder = actor.new(0).on_message(handle).named(name)
    started = await builder.start(nursery)   # Ok(Started(data=subject)) once receiving
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import ClassVar, Generic, TypeVar, cast, overload

import trio
from typing_extensions import Never, TypeAliasType, final

from .process import Name, NameAlreadyHeld, Subject, _Mailbox, named_subject
from .result import Error, Ok, Result

StateT = TypeVar("StateT")
MsgT = TypeVar("MsgT")
DataT = TypeVar("DataT")
DataT_co = TypeVar("DataT_co", covariant=True)
StateT_co = TypeVar("StateT_co", covariant=True)

logger = logging.getLogger("trio_eventsourcing.actor")

BURST = 32
"""Most messages an actor handles in a row without passing through the scheduler."""


@final
@dataclass(frozen=True, slots=True)
class Continue(Generic[StateT_co]):
    """Keep running with ``state``; made by :func:`continue_`."""

    state: StateT_co


@final
@dataclass(frozen=True, slots=True)
class Stop:
    """Stop normally; made by :func:`stop`."""


@final
@dataclass(frozen=True, slots=True)
class StopAbnormal:
    """Stop with an error ``reason``; made by :func:`stop_abnormal`."""

    reason: str


Next = TypeAliasType("Next", Continue[StateT] | Stop | StopAbnormal, type_params=(StateT,))
"""What a message handler returns: go on with a new state, or stop."""


def continue_(state: StateT) -> Continue[StateT]:
    """Go on handling messages with ``state`` (Gleam's ``actor.continue``).

    Example::

        async def handle(count: int, message: Increment) -> actor.Next[int]:
            return actor.continue_(count + 1)
    """
    return Continue(state)


def stop() -> Stop:
    """Stop the actor normally: a ``transient`` child is not restarted.

    Example::

        return actor.stop()
    """
    return Stop()


def stop_abnormal(reason: str) -> StopAbnormal:
    """Stop the actor with an error: its supervisor restarts it unless ``temporary``.

    Example::

        return actor.stop_abnormal("lost the connection")
    """
    return StopAbnormal(reason)


@final
class ActorStoppedAbnormally(Exception):
    """Raised by an actor's task when its handler returned :func:`stop_abnormal`."""


@final
@dataclass(frozen=True, slots=True)
class Started(Generic[DataT_co]):
    """A started process and the data it hands to its starter (usually its Subject)."""

    data: DataT_co


@final
@dataclass(frozen=True, slots=True)
class StartError:
    """Why a process could not start: ``reason`` says what went wrong."""

    reason: str


StartResult = Result[Started[DataT], StartError]
"""What ``start(nursery)`` returns."""

Handler = Callable[[StateT, MsgT], Awaitable[Next[StateT]]]
"""A message handler: ``async (state, message) -> Next[state]``."""


@final
class NoHandler:
    """The message type of a builder given neither handler nor name yet.

    :func:`new` returns a ``Builder[state, NoHandler]``; :meth:`Builder.on_message` or
    :meth:`Builder.named` then gives it its message type. No value of this type exists,
    and only a handler that takes any message (``object``, ``Any``) could take one, so a
    checker cannot mistake a builder that has a handler for one without: a handler of
    ``str`` messages never becomes, through expected-type inference, a handler of the
    ``int`` messages of a ``Name[int]``.

    Example::

        builder: actor.Builder[int, actor.NoHandler] = actor.new(0)
        counter: actor.Builder[int, int] = builder.on_message(handle)
    """

    __slots__ = ()
    # Not even hashable: the fewer protocols it satisfies, the fewer handlers could take it.
    __hash__: ClassVar[None] = None  # type: ignore[assignment]

    def __init__(self, _private: Never) -> None:
        raise TypeError("NoHandler has no instances: it only marks a builder without handler")


@final
class Builder(Generic[StateT, MsgT]):
    """Describes an actor to start; made by :func:`new`, refined by its methods.

    Each method returns a new builder, so one builder can start many actors.

    Example::

        async def handle(count: int, message: int) -> actor.Next[int]:
            return actor.continue_(count + message)

        started = await actor.new(0).on_message(handle).start(nursery)
    """

    __slots__ = ("_at_once", "_handler", "_name", "_state")

    def __init__(
        self,
        state: StateT,
        handler: Handler[StateT, MsgT] | None,
        name: Name[MsgT] | None,
        at_once: Callable[[MsgT], bool] | None = None,
    ) -> None:
        self._state = state
        self._handler = handler
        self._name = name
        self._at_once = at_once

    def _handling_at_once(self, at_once: Callable[[MsgT], bool]) -> Builder[StateT, MsgT]:
        """A builder whose actor, while idle, lets ``at_once`` take messages in the sender.

        For the library's own actors whose handling never waits (the event-sourcing
        router): ``at_once(message)`` runs inside ``send`` when the actor is parked on an
        empty mailbox, which saves a trip through the scheduler per message. It returns
        ``False`` for a message it leaves to the handler, which then gets it as usual.
        """
        return Builder(self._state, self._handler, self._name, at_once)

    @overload
    def on_message(
        self: Builder[StateT, NoHandler], handler: Handler[StateT, DataT]
    ) -> Builder[StateT, DataT]: ...
    @overload
    def on_message(self, handler: Handler[StateT, MsgT]) -> Builder[StateT, MsgT]: ...
    def on_message(self, handler: Handler[StateT, DataT]) -> Builder[StateT, DataT]:
        """Set the handler called with ``(state, message)`` for each message."""
        return Builder(self._state, handler, self._name, self._at_once)  # type: ignore[arg-type]

    @overload
    def named(self: Builder[StateT, NoHandler], name: Name[DataT]) -> Builder[StateT, DataT]: ...
    @overload
    def named(self, name: Name[MsgT]) -> Builder[StateT, MsgT]: ...
    def named(self, name: Name[DataT]) -> Builder[StateT, DataT]:
        """Make the actor hold ``name``, receiving what is sent to ``named_subject(name)``."""
        if not isinstance(name, Name):
            raise TypeError(f"named() takes a Name from new_name(), got {type(name).__name__}")
        return Builder(self._state, self._handler, name, self._at_once)  # type: ignore[arg-type]

    async def start(self, nursery: trio.Nursery) -> StartResult[Subject[MsgT]]:
        """Start the actor as a task in ``nursery``.

        Returns ``Ok(Started(data=subject))`` once the actor is ready to receive, or
        ``Error(StartError(...))`` if it cannot start (no handler, name already held).
        """
        try:
            subject = await nursery.start(self.run)
        except (NameAlreadyHeld, _NoHandler) as exc:
            return Error(StartError(str(exc)))
        return Ok(Started(subject))

    async def run(
        self, *, task_status: trio.TaskStatus[Subject[MsgT]] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Run the actor in this task (for ``await nursery.start(builder.run)``).

        Returns when the handler stops normally; raises if the handler raises or
        stops abnormally, after logging it.
        """
        handler = self._handler
        if handler is None:
            raise _NoHandler("the actor has no message handler: call on_message() first")
        name = self._name
        owner = object()
        if name is not None:
            name._acquire(owner)
            subject = named_subject(name)
        else:
            subject = Subject._make(_Mailbox())
        mailbox = subject._mailbox
        try:
            if self._at_once is not None:
                mailbox.handle_at_once(self._at_once)
            task_status.started(subject)
            state = self._state
            burst = 0
            while True:
                # Handle a burst of waiting messages back to back, then checkpoint: one
                # trip through the scheduler per message costs more than most handlers.
                if burst < BURST and len(mailbox):
                    message = mailbox.get_nowait()
                    burst += 1
                else:
                    message = await mailbox.get()
                    burst = 0
                try:
                    outcome = await handler(state, message)
                except Exception:
                    logger.exception("actor %r crashed handling %r", subject, message)
                    raise
                if isinstance(outcome, Continue):
                    state = outcome.state
                elif isinstance(outcome, Stop):
                    return
                else:
                    logger.error("actor %r stopped abnormally: %s", subject, outcome.reason)
                    raise ActorStoppedAbnormally(outcome.reason)
        finally:
            if self._at_once is not None:
                mailbox.handle_at_once(None)
            if name is not None:
                name._release(owner)
            else:
                mailbox.close()


class _NoHandler(Exception):
    pass


def new(state: StateT) -> Builder[StateT, NoHandler]:
    """Begin describing an actor whose state starts as ``state``.

    The builder has no handler yet (:class:`NoHandler` stands for its message type);
    :meth:`~Builder.on_message` gives it one, and with it the type of its messages.

    Example::

        builder = actor.new(0).on_message(handle).named(name)
    """
    return Builder(state, None, None)


# The function forms of the builder's methods, as Gleam writes them:
# ``actor.on_message(builder, handler)`` is ``builder.on_message(handler)``.


@overload
def on_message(
    builder: Builder[StateT, NoHandler], handler: Handler[StateT, DataT]
) -> Builder[StateT, DataT]: ...
@overload
def on_message(
    builder: Builder[StateT, MsgT], handler: Handler[StateT, MsgT]
) -> Builder[StateT, MsgT]: ...
def on_message(
    builder: Builder[StateT, MsgT], handler: Handler[StateT, DataT]
) -> Builder[StateT, DataT]:
    """Return ``builder`` with ``handler`` called with ``(state, message)`` for each message.

    The function form of :meth:`Builder.on_message`, as in Gleam's
    ``actor.on_message(builder, handler)``.
    """
    return cast("Builder[StateT, NoHandler]", builder).on_message(handler)


@overload
def named(builder: Builder[StateT, NoHandler], name: Name[DataT]) -> Builder[StateT, DataT]: ...
@overload
def named(builder: Builder[StateT, MsgT], name: Name[MsgT]) -> Builder[StateT, MsgT]: ...
def named(builder: Builder[StateT, MsgT], name: Name[DataT]) -> Builder[StateT, DataT]:
    """Return ``builder`` making the actor hold ``name``.

    The function form of :meth:`Builder.named`, as in Gleam's ``actor.named(builder, name)``.
    """
    return cast("Builder[StateT, NoHandler]", builder).named(name)


async def start(
    builder: Builder[StateT, MsgT], nursery: trio.Nursery
) -> StartResult[Subject[MsgT]]:
    """Start the actor ``builder`` describes as a task in ``nursery``.

    The function form of :meth:`Builder.start`, as in Gleam's ``actor.start(builder)``.
    """
    return await builder.start(nursery)
