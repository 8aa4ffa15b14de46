"""What a process manager is made of: its targets, what it decides, and what it is told.

A process manager follows events of the global log (a ``projections.LogSelection``),
routes each to an *instance* (a transfer, an order), and decides, from the instance's
state and what happened, the instance's new state, the commands to send and the timers
to set or cancel (:class:`Decision`). Besides the events it selects, it is told when one
of its timers fires (:class:`TimerFired`) and when the domain rejected one of its
commands (:class:`CommandRejected`), so that it can compensate.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from typing_extensions import final

from .._core.api import check_aggregate_id, unstorable_text
from .._core.log_source import LogRecord
from .._core.records import AggregateMessage
from .._runtime.checks import require_seconds
from .._runtime.process import Subject

CommandT = TypeVar("CommandT")
EventT = TypeVar("EventT")
StateT = TypeVar("StateT")


def check_name(what: str, name: object) -> str:
    """``name`` checked: a non-empty str that every store can keep (``what`` names it).

    Raises:
        ValueError: Naming what is wrong with it.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"{what} must be a non-empty str, got {name!r}")
    problem = unstorable_text(name)
    if problem is not None:
        raise ValueError(f"{what} {name!r} {problem}")
    return name


@final
class Target(Generic[CommandT]):
    """An event-sourcing system a process manager sends commands to, by a stable name.

    The name goes into the idempotency keys of the commands sent to it: keep it when the
    process restarts. ``actor`` is the system's subject (``process.named_subject(name)``).

    Example::

        accounts = process_managers.Target("accounts", process.named_subject(bank_name))
    """

    __slots__ = ("actor", "name")
    name: str
    actor: Subject[AggregateMessage[Any, CommandT, Any, Any]]

    def __init__(
        self, name: str, actor: Subject[AggregateMessage[Any, CommandT, Any, Any]]
    ) -> None:
        check_name("a target's name", name)
        subject: object = actor
        if not isinstance(subject, Subject):
            raise TypeError(f"a target's actor must be a Subject, got {actor!r}")
        self.name = name
        self.actor = actor

    def __repr__(self) -> str:
        return f"<Target {self.name!r}>"


@final
@dataclass(frozen=True, slots=True)
class Send(Generic[CommandT]):
    """Send ``command`` to aggregate ``aggregate_id`` of ``target``'s system.

    The command's type must be the target system's: a ``Send`` of another command does
    not type-check.

    Example::

        Send(accounts, "acc-1", WithdrawMoney(Decimal(10)))
    """

    target: Target[CommandT]
    aggregate_id: str
    command: CommandT

    def __post_init__(self) -> None:
        target: object = self.target
        if not isinstance(target, Target):
            raise TypeError(f"Send's target must be a Target, got {target!r}")
        try:
            check_aggregate_id(self.aggregate_id)
        except ValueError as exc:
            raise ValueError(f"Send's {exc}") from None


@final
@dataclass(frozen=True, slots=True)
class SetTimer:
    """Set the instance's timer ``name`` to fire ``after`` seconds from now.

    Setting a timer that is set already moves it. A timer fires once: the instance is
    then told :class:`TimerFired`.

    Example::

        SetTimer("credit-deadline", after=30.0)
    """

    name: str
    after: float

    def __post_init__(self) -> None:
        check_name("a timer's name", self.name)
        require_seconds("SetTimer's after", self.after, zero=True)


@final
@dataclass(frozen=True, slots=True)
class CancelTimer:
    """Cancel the instance's timer ``name`` (nothing happens if it is not set).

    Example::

        CancelTimer("credit-deadline")
    """

    name: str

    def __post_init__(self) -> None:
        check_name("a timer's name", self.name)


@final
@dataclass(frozen=True, slots=True)
class TimerFired:
    """What an instance is told when its timer ``name`` fires."""

    name: str


@final
@dataclass(frozen=True, slots=True)
class CommandRejected:
    """What an instance is told when the domain rejected a command it sent.

    ``error`` is the target system's domain error (``DomainError.error``).
    """

    send: Send[Any]
    error: object


@final
@dataclass(frozen=True, slots=True)
class Decision(Generic[StateT]):
    """What an instance decided: its new state, commands to send, timers to set or cancel.

    ``done``: the instance has ended; its state is forgotten and its timers cancelled
    (the commands of this decision are still sent). An event routed to it later starts
    a new instance from the initial state.

    Example::

        Decision(Debited(transfer), send=[Send(accounts, to, DepositMoney(amount))],
                 timers=[SetTimer("credit", 30.0)])
    """

    state: StateT
    send: Sequence[Send[Any]] = ()
    timers: Sequence[SetTimer | CancelTimer] = ()
    done: bool = False


Happening = TimerFired | CommandRejected
"""What an instance is told besides the events it selects."""

Route = Callable[[LogRecord[EventT]], "str | None"]
"""Which instance an entry of the log is for (``None``: none, the entry is passed over)."""
