"""Child specifications: how a supervisor starts, and when it restarts, one child.

Mirrors Gleam's ``gleam/otp/supervision``. A child's start function takes the nursery
to start in, because on Trio every task needs one::

    child = supervision.worker(lambda nursery: actor.new(0).on_message(h).start(nursery))
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Generic, TypeVar

import trio
from typing_extensions import final

from .actor import Started, StartError
from .checks import require_positive_int
from .result import Ok, Result

DataT = TypeVar("DataT")
DataT_co = TypeVar("DataT_co", covariant=True)
OtherT = TypeVar("OtherT")


@final
class Restart(enum.Enum):
    """When a supervisor restarts a child that has exited (as in OTP)."""

    PERMANENT = "permanent"
    """Always restarted, even after a normal exit."""
    TRANSIENT = "transient"
    """Restarted only after an abnormal exit (an exception or ``stop_abnormal``)."""
    TEMPORARY = "temporary"
    """Never restarted, not even when a sibling's failure takes it down."""


Permanent = Restart.PERMANENT
"""Gleam's ``supervision.Permanent``."""
Transient = Restart.TRANSIENT
"""Gleam's ``supervision.Transient``."""
Temporary = Restart.TEMPORARY
"""Gleam's ``supervision.Temporary``."""


@final
class ChildType(enum.Enum):
    """Whether a child is a worker or itself a supervisor."""

    WORKER = "worker"
    SUPERVISOR = "supervisor"


StartFunction = Callable[[trio.Nursery], Awaitable[Result[Started[DataT], StartError]]]
"""Starts one child in the given nursery and returns once it is ready."""

DEFAULT_WORKER_START_TIMEOUT_MS = 5_000
DEFAULT_SUPERVISOR_START_TIMEOUT_MS = 60_000


@final
@dataclass(frozen=True)
class ChildSpecification(Generic[DataT_co]):
    """How to start one child, and when to restart it; made by :func:`worker`.

    ``data`` of the child's :class:`~trio_eventsourcing.actor.Started` is handed to
    whoever starts it (for an actor, its Subject).

    Example::

        child = supervision.worker(lambda nursery: builder.start(nursery))
        child = supervision.restart(child, supervision.Transient)
    """

    start: StartFunction[DataT_co]
    restart: Restart
    child_type: ChildType
    start_timeout_ms: int
    label: str


def _label(start: Callable[..., object]) -> str:
    """The name of ``start`` for messages: ``main.start_counter`` for a nested function.

    ``<locals>`` says nothing to a reader of a log (that is where nested functions are).
    """
    qualname = getattr(start, "__qualname__", None)
    if not isinstance(qualname, str) or not qualname:
        return repr(start)
    return qualname.replace(".<locals>.", ".")


def worker(start: StartFunction[DataT]) -> ChildSpecification[DataT]:
    """A permanent worker child whose start function is ``start(nursery)``.

    Example::

        supervision.worker(lambda nursery: actor.new(0).on_message(h).named(n).start(nursery))
    """
    if not callable(start):
        raise TypeError(f"worker() takes a start function, got {type(start).__name__}")
    return ChildSpecification(
        start, Restart.PERMANENT, ChildType.WORKER, DEFAULT_WORKER_START_TIMEOUT_MS, _label(start)
    )


def supervisor(start: StartFunction[DataT]) -> ChildSpecification[DataT]:
    """A permanent child that is itself a supervisor.

    Example::

        supervision.supervisor(lambda nursery: static_supervisor.new(OneForOne).start(nursery))
    """
    if not callable(start):
        raise TypeError(f"supervisor() takes a start function, got {type(start).__name__}")
    return ChildSpecification(
        start,
        Restart.PERMANENT,
        ChildType.SUPERVISOR,
        DEFAULT_SUPERVISOR_START_TIMEOUT_MS,
        _label(start),
    )


def restart(child: ChildSpecification[DataT], restart: Restart) -> ChildSpecification[DataT]:
    """Return ``child`` with another :class:`Restart` strategy.

    Example::

        child = supervision.restart(child, supervision.Temporary)
    """
    if not isinstance(restart, Restart):
        raise TypeError(f"restart must be a Restart, got {restart!r}")
    return replace(child, restart=restart)


def timeout(child: ChildSpecification[DataT], ms: int) -> ChildSpecification[DataT]:
    """Return ``child`` with another start timeout: how long its start may take.

    Example::

        child = supervision.timeout(child, 10_000)
    """
    return replace(child, start_timeout_ms=require_positive_int("start timeout (ms)", ms))


def map_data(
    child: ChildSpecification[DataT], fn: Callable[[DataT], OtherT]
) -> ChildSpecification[OtherT]:
    """Return ``child`` with ``fn`` applied to the data its start hands back.

    Example::

        child = supervision.map_data(child, lambda subject: Counter(subject))
    """
    original = child.start

    async def start(nursery: trio.Nursery) -> Result[Started[OtherT], StartError]:
        result = await original(nursery)
        if isinstance(result, Ok):
            return Ok(Started(fn(result.value.data)))
        return result

    return ChildSpecification(
        start, child.restart, child.child_type, child.start_timeout_ms, child.label
    )
