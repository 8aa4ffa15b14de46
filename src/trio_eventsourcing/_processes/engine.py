"""Running a process manager: follow the log, decide per instance, send, fire timers.

One task per running manager, started by its child specification, with two helpers:

1. **Deciding.** It follows the manager's selection of the log from the last position
   it handled. Each entry is routed to an instance; the instance's state and the entry's
   event go to the manager's ``handle``; the decision is applied in one step, with no
   checkpoint in between: the new state (or the instance's end), the commands added to
   the outbox, the timers set or cancelled, and the position moved past the entry. So a
   restart of the task never decides on an event twice, and loses no decision.
2. **Sending** (the outbox). Commands go out in the order they were decided, each with a
   deterministic idempotency key derived from what caused it (the event's position,
   the timer, the rejected command), so that a command sent again after a lost answer,
   a timeout or a restart is stored at most once. A command the domain rejects is
   told to its instance (:class:`CommandRejected`), which decides again; a store
   failure or an unknown outcome is retried with the same key; any other error (a bug
   in the target's ``handle``) sets the command aside as a dead letter.
3. **Timers.** Due times are on Trio's clock, so a ``MockClock`` runs them in no real
   time. A timer that fires is told to its instance (:class:`TimerFired`).

This module keeps the manager's state in memory (the memory store's promise: nothing
survives the process). A handler that raises stops the manager, as a projection's
``Stop`` policy does: its position stays before the event.
"""

from __future__ import annotations

import enum
import hashlib
import logging
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import trio
from typing_extensions import Never, final

from .._core.api import event_reference, execute_with_response
from .._core.errors import DomainError, EventStoreError, OutcomeUnknown
from .._core.log_source import LogRecord
from .._runtime.process import SubjectClosed, SubjectFull, receive_forever
from .._runtime.result import Error, Ok
from .decisions import (
    CancelTimer,
    CommandRejected,
    Decision,
    Send,
    SetTimer,
    TimerFired,
)

EventT = TypeVar("EventT")
StateT = TypeVar("StateT")

logger = logging.getLogger("trio_eventsourcing.process_managers")

_MAX_KEY = 200
"""The longest idempotency key the systems take: longer ones are hashed."""
_LAG_INTERVAL = 1.0
"""Seconds between two counts of the selected events after the manager's position."""
_RETRY_FIRST = 0.05
_RETRY_MOST = 5.0


@final
class ProcessManagerState(enum.Enum):
    """What a process manager is doing, as its statistics report it."""

    NOT_RUNNING = "not running"
    """Not started yet, or shut down."""
    RUNNING = "running"
    """Following the log, sending and firing timers."""
    STOPPED = "stopped"
    """Stopped because its handler or router raised, until it is started again."""


@final
@dataclass(frozen=True, slots=True)
class ProcessManagerStatistics:
    """A snapshot of a process manager, from :meth:`ProcessManagerHandle.statistics`."""

    name: str
    state: ProcessManagerState
    position: int
    """Every selected event up to this position has been decided on."""
    lag: int
    """Selected events in the log after ``position``, as last counted (about each second)."""
    instances: int
    """Instances alive (started and not done)."""
    outbox: int
    """Commands decided and not yet answered."""
    timers: int
    """Timers set and not yet fired."""
    sent: int
    """Commands the target systems stored (or had stored already)."""
    rejected: int
    """Commands the domain rejected (each told to its instance)."""
    retries: int
    """Sends tried again after a store failure, an unknown outcome or no answer in time."""
    dead_letters: int
    """Commands set aside after an error that sending again cannot fix."""
    last_error: str | None


@dataclass(slots=True)
class _Outgoing:
    instance: str
    send: Send[Any]
    key: str
    correlation_id: str
    causation_id: str


def _key(*parts: object) -> str:
    key = "/".join(str(part) for part in parts)
    if len(key) <= _MAX_KEY:
        return key
    return "pm-" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


@final
class ProcessManagerHandle:
    """A supervised process manager: its statistics, across restarts of its task.

    Example::

        handle, spec = process_managers.supervised(transfers)
        ...
        with trio.fail_after(5):
            await handle.wait_for(lambda s: s.outbox == 0 and s.timers == 0)
    """

    __slots__ = ("_changes", "_engine")
    _engine: Engine[Any, Any]
    _changes: trio.lowlevel.ParkingLot

    def __init__(self, _private: Never) -> None:
        raise TypeError("ProcessManagerHandle has no public constructor: use supervised()")

    @classmethod
    def _make(cls, engine: Engine[Any, Any]) -> ProcessManagerHandle:
        self = object.__new__(cls)
        self._engine = engine
        self._changes = engine.changes
        return self

    def statistics(self) -> ProcessManagerStatistics:
        """Return the manager's state, position and counters.

        Example::

            stats = handle.statistics()
            print(stats.instances, stats.outbox, stats.timers, stats.dead_letters)
        """
        return self._engine.statistics()

    def state_of(self, instance: str) -> object | None:
        """The state of ``instance``, or ``None`` if it is not alive.

        Example::

            print(handle.state_of("transfer-7"))
        """
        return self._engine.states.get(instance)

    async def wait_for(
        self, predicate: Callable[[ProcessManagerStatistics], bool]
    ) -> ProcessManagerStatistics:
        """Wait until ``predicate(statistics())`` holds, and return those statistics.

        Checked at once, then after every change. Put it in a ``trio.fail_after`` block.

        Example::

            await handle.wait_for(lambda s: s.outbox == 0)
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        stats = self.statistics()
        while not predicate(stats):
            await self._changes.park()
            stats = self.statistics()
        await trio.lowlevel.cancel_shielded_checkpoint()
        return stats

    def __repr__(self) -> str:
        stats = self.statistics()
        return f"<ProcessManagerHandle {stats.name!r} {stats.state.value} at {stats.position}>"


@final
class Engine(Generic[EventT, StateT]):
    """The state and tasks of one process manager (see the module docstring)."""

    def __init__(
        self,
        name: str,
        route: Callable[[LogRecord[EventT]], str | None],
        initial: Callable[[str], StateT],
        handle: Callable[[StateT, Any], Decision[StateT]],
        command_timeout: float,
    ) -> None:
        self.name = name
        self.route = route
        self.initial = initial
        self.handle = handle
        self.command_timeout = command_timeout
        self.state = ProcessManagerState.NOT_RUNNING
        self.position = 0
        self.lag = 0
        self.states: dict[str, StateT] = {}
        self.correlations: dict[str, str] = {}
        self.outbox: deque[_Outgoing] = deque()
        # Due times on Trio's clock, and how often each instance's timer fired.
        self.timers: dict[tuple[str, str], float] = {}
        self.fired: dict[tuple[str, str], int] = {}
        self.sent = self.rejected = self.retries = self.dead_letters = 0
        self.last_error: str | None = None
        # The running task's scope, cancelled when the manager stops; and the right to be
        # that task.
        self.scope: trio.CancelScope | None = None
        self.runner = trio.Lock()
        self.changes = trio.lowlevel.ParkingLot()
        self.outbox_changed = trio.lowlevel.ParkingLot()
        self.timers_changed = trio.lowlevel.ParkingLot()

    def statistics(self) -> ProcessManagerStatistics:
        return ProcessManagerStatistics(
            name=self.name,
            state=self.state,
            position=self.position,
            lag=self.lag,
            instances=len(self.states),
            outbox=len(self.outbox),
            timers=len(self.timers),
            sent=self.sent,
            rejected=self.rejected,
            retries=self.retries,
            dead_letters=self.dead_letters,
            last_error=self.last_error,
        )

    def _changed(self) -> None:
        self.changes.unpark_all()

    # -- deciding ---------------------------------------------------------------------------

    def decide(
        self, instance: str, happening: object, key: str, correlation_id: str, causation_id: str
    ) -> None:
        """Run ``handle`` for ``instance`` and apply its decision, all of it, at once.

        Raises what the handler raised, having changed nothing.
        """
        state = self.states.get(instance)
        if state is None:
            state = self.initial(instance)
        decision = self.handle(state, happening)
        if not isinstance(decision, Decision):
            raise TypeError(
                f"process manager {self.name!r}: handle must return a Decision, got {decision!r}"
            )
        for send in decision.send:
            if not isinstance(send, Send):
                raise TypeError(f"a Decision's send takes Send(...) values, got {send!r}")
        for timer in decision.timers:
            if not isinstance(timer, (SetTimer, CancelTimer)):
                raise TypeError(
                    f"a Decision's timers take SetTimer(...) and CancelTimer(...), got {timer!r}"
                )
        # From here on nothing raises: the decision is applied whole.
        correlation_id = self.correlations.get(instance) or correlation_id
        if decision.done:
            self.states.pop(instance, None)
            self.correlations.pop(instance, None)
            for timer_key in [k for k in self.timers if k[0] == instance]:
                del self.timers[timer_key]
        else:
            self.states[instance] = decision.state
            self.correlations[instance] = correlation_id
            now = trio.current_time()
            for timer in decision.timers:
                if isinstance(timer, SetTimer):
                    self.timers[(instance, timer.name)] = now + timer.after
                else:
                    self.timers.pop((instance, timer.name), None)
        for index, send in enumerate(decision.send):
            self.outbox.append(
                _Outgoing(instance, send, _key(key, index), correlation_id, causation_id)
            )
        if decision.send:
            self.outbox_changed.unpark_all()
        if decision.timers or decision.done:
            self.timers_changed.unpark_all()
        self._changed()

    def on_entry(self, entry: LogRecord[EventT]) -> None:
        """Decide on one entry of the log, and move past it."""
        instance: object = self.route(entry)
        if instance is not None:
            if not isinstance(instance, str) or not instance:
                raise TypeError(
                    f"process manager {self.name!r}: route must return an instance id (a "
                    f"non-empty str) or None, got {instance!r}"
                )
            envelope = entry.envelope
            correlation = getattr(envelope, "correlation_id", "") or event_reference(entry)
            self.decide(
                instance,
                envelope.payload,
                _key("pm", self.name, entry.position),
                correlation,
                event_reference(entry),
            )
        self.position = entry.position
        self._changed()

    # -- sending ----------------------------------------------------------------------------

    async def dispatch(self) -> None:
        """Send the outbox's commands, oldest first, forever."""
        failures = 0
        while True:
            if not self.outbox:
                await self.outbox_changed.park()
                continue
            item = self.outbox[0]
            outcome = await self._send(item)
            if outcome is None:
                failures += 1
                self.retries += 1
                self._changed()
                await trio.sleep(min(_RETRY_FIRST * 2.0 ** min(failures - 1, 64), _RETRY_MOST))
                continue
            failures = 0
            self.outbox.popleft()
            if isinstance(outcome, Ok):
                self.sent += 1
            elif isinstance(outcome.error, DomainError):
                self.rejected += 1
                rejected = CommandRejected(item.send, outcome.error.error)
                try:
                    self.decide(
                        item.instance,
                        rejected,
                        _key(item.key, "rejected"),
                        item.correlation_id,
                        item.key,
                    )
                except Exception as exc:
                    # Kept, to be told again when the manager is started again.
                    self.rejected -= 1
                    self.outbox.appendleft(item)
                    self._stop(exc, f"deciding on the rejection of {item.key!r}")
                    return
            else:
                self.dead_letters += 1
                self.last_error = f"{type(outcome.error).__name__}: {outcome.error}"
                logger.error(
                    "process manager %r set command %r (key %r) aside: %s",
                    self.name,
                    item.send.command,
                    item.key,
                    self.last_error,
                )
            self._changed()

    async def _send(self, item: _Outgoing) -> Ok[None] | Error[Any] | None:
        """Send one command and wait for its answer; ``None``: send it again later."""
        send = item.send
        try:
            reply = execute_with_response(
                send.target.actor,
                send.aggregate_id,
                send.command,
                [],
                idempotency_key=item.key,
                correlation_id=item.correlation_id,
                causation_id=item.causation_id,
            )
        except (SubjectClosed, SubjectFull) as exc:
            # The target's actor has stopped, or its mailbox is full: try again later (a
            # Subject of a Name reaches the actor that serves the Name then).
            self.last_error = f"{type(exc).__name__}: sending {item.key!r} to {send.target!r}"
            logger.warning("process manager %r: %s; sending it again", self.name, self.last_error)
            await trio.lowlevel.checkpoint()
            return None
        except (TypeError, ValueError) as exc:
            # Refused as sent (an id or key the systems cannot store): sending it again
            # cannot help.
            await trio.lowlevel.checkpoint()
            return Error(exc)
        with trio.move_on_after(self.command_timeout):
            outcome = await receive_forever(reply)
            if isinstance(outcome, Ok):
                return Ok(None)
            if isinstance(outcome.error, (OutcomeUnknown, EventStoreError)):
                self.last_error = f"{type(outcome.error).__name__}: {outcome.error}"
                logger.warning(
                    "process manager %r: sending %r failed (%s); sending it again",
                    self.name,
                    item.key,
                    self.last_error,
                )
                return None
            return outcome
        self.last_error = f"no answer to {item.key!r} within {self.command_timeout} s"
        logger.warning("process manager %r: %s; sending it again", self.name, self.last_error)
        return None

    # -- timers -----------------------------------------------------------------------------

    async def run_timers(self) -> None:
        """Fire the timers as they fall due, forever."""
        while True:
            if not self.timers:
                await self.timers_changed.park()
                continue
            timer_key, due = min(self.timers.items(), key=lambda item: item[1])
            if trio.current_time() < due:
                with trio.move_on_at(due):
                    await self.timers_changed.park()
                continue
            del self.timers[timer_key]
            instance, name = timer_key
            count = self.fired.get(timer_key, 0) + 1
            key = _key("pm", self.name, instance, "timer", name, count)
            try:
                self.decide(
                    instance, TimerFired(name), key, self.correlations.get(instance, key), key
                )
            except Exception as exc:
                # Kept, to fire again when the manager is started again.
                self.timers[timer_key] = due
                self._stop(exc, f"deciding on timer {name!r} of {instance!r}")
                return
            self.fired[timer_key] = count

    async def measure_lag(self, count_after: Callable[[int], Any]) -> None:
        """Count the selected events after the position, every ``_LAG_INTERVAL`` seconds."""
        while True:
            counted = await count_after(self.position)
            # A failed count only leaves the figure older.
            if isinstance(counted, Ok) and counted.value != self.lag:
                self.lag = counted.value
                self._changed()
            await trio.sleep(_LAG_INTERVAL)

    def _stop(self, exc: BaseException, doing: str) -> None:
        """Stop the manager: its handler or router raised. Nothing of that step changed."""
        self.state = ProcessManagerState.STOPPED
        if self.scope is not None:
            self.scope.cancel()
        self.last_error = f"{type(exc).__name__}: {exc}"
        logger.error(
            "process manager %r stopped at position %d: %s raised %s",
            self.name,
            self.position,
            doing,
            self.last_error,
            exc_info=exc,
        )
        self._changed()


def check_timeout(command_timeout: object) -> float:
    """``command_timeout`` checked: a positive, finite number of seconds."""
    if isinstance(command_timeout, bool) or not isinstance(command_timeout, (int, float)):
        raise TypeError(f"command_timeout must be a number of seconds, got {command_timeout!r}")
    if not math.isfinite(command_timeout) or command_timeout <= 0:
        raise ValueError(f"command_timeout must be more than 0 seconds, got {command_timeout!r}")
    return float(command_timeout)
