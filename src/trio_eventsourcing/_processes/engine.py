"""Running a process manager: decide per instance, save each step, send, fire timers.

One task per running manager, started by its child specification, with helpers:

1. **Deciding.** It follows the manager's selection of the log from the last position
   it saved. Each entry is routed to an instance; the instance's state and the entry's
   event go to the manager's ``handle``; the decision is applied in memory at once:
   the new state (or the instance's end), the commands added to the outbox, the timers
   set or cancelled, and the position moved past the entry.
2. **Saving** (durable stores). The decisions made since the last save, with the
   position they reach, are saved in one transaction (``_stores/process_state.py``);
   while one save runs the next decisions gather, so a busy manager saves many in
   one commit. A command leaves the outbox only once the decision that made it is
   saved, so a crash never sends a command whose decision is lost: after a restart
   the manager loads what was saved and decides again on the events after the saved
   position, making the same commands under the same keys. On the memory store the
   decisions are kept as they are made.
3. **Sending** (the outbox). Each command has a deterministic idempotency key derived
   from what caused it (the event's position, the timer and the decision that set it,
   the rejected command), so that a command sent again after a lost answer, a timeout
   or a restart is stored at most once. Commands go out on several lanes at once; an
   instance's commands are all on one lane, so they go out in the order decided. A
   command the domain rejects is told to its instance (:class:`CommandRejected`),
   which decides again; a store failure or an unknown outcome is retried with the same
   key; any other error (a bug in the target's ``handle``) sets the command aside as a
   dead letter.
4. **Timers.** Due times run on Trio's clock, so a ``MockClock`` runs them in no real
   time; they are saved as wall-clock times (seconds since the Unix epoch), so a timer
   keeps its due time across a restart of the process. A timer that fires is told to
   its instance (:class:`TimerFired`), once in effect: its firing is a decision saved
   like any other, and commands it makes have keys derived from the timer.

A handler that raises stops the manager, as a projection's ``Stop`` policy does: the
decision on that event is not applied, and the event is decided on again when the
manager is started again.
"""

from __future__ import annotations

import enum
import logging
import time
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

import trio
from typing_extensions import final

from .._codec.json_codec import Codec
from .._core.api import event_reference
from .._core.errors import DomainError, EventStoreError, StoreFailure
from .._core.log_source import LogRecord
from .._projections import policies
from .._runtime.result import Error, Ok, Result
from .._stores.process_state import (
    CommandRow,
    InstanceRow,
    ProcessChanges,
    ProcessMoved,
    StoredProcess,
    TimerRow,
)
from .decisions import (
    CancelTimer,
    CommandRejected,
    Decision,
    Send,
    SetTimer,
    Target,
    TimerFired,
    check_name,
)
from .sending import Outgoing, Retry, derived_key, send_once
from .statistics import ProcessManagerState, ProcessManagerStatistics
from .timers import Timers

EventT = TypeVar("EventT")
StateT = TypeVar("StateT")

logger = logging.getLogger("trio_eventsourcing.process_managers")

DEFAULT_IN_FLIGHT = 256
"""Commands a manager sends at once unless told otherwise (``max_in_flight``). Measured
with 500 transfers at once: 16 at once gave 250 transfers/s on SQLite and 130 on
PostgreSQL, 256 gave 320 and 190; more lanes let the stores group more commits."""
_MAX_UNSAVED = 1000
"""Decisions gathered before the follower waits for a save (a bound on a save's size)."""
_LAG_INTERVAL = 1.0
"""Seconds between two counts of the selected events after the manager's position."""
_LAG_IDLE = 60.0
"""Seconds between two counts while the manager is caught up and its position stays."""

_CLOCK_OFFSET: trio.lowlevel.RunVar[float] = trio.lowlevel.RunVar("process_manager_clock")


def wall_clock_offset() -> float:
    """Seconds to add to Trio's clock to get the wall clock, fixed for the run.

    Fixed once per ``trio.run``, so that in one run a timer's saved due time and the one
    read back agree on Trio's clock, a ``MockClock``'s included; across processes the
    wall clock carries the due time.
    """
    try:
        return _CLOCK_OFFSET.get()
    except LookupError:
        offset = time.time() - trio.current_time()
        _CLOCK_OFFSET.set(offset)
        return offset


backoff = policies.Retry(initial_backoff=0.05, max_backoff=5.0).backoff
"""Seconds to wait before sending, saving or loading again after ``failures`` failures in
a row: the doubling pause of the projections' ``Retry``, from 0.05 s to 5 s at most."""


@runtime_checkable
class ProcessStorage(Protocol):
    """Where a durable store keeps process managers (its log source)."""

    async def load_process(self, name: str) -> Result[StoredProcess | None, EventStoreError]: ...

    async def save_process(
        self, name: str, changes: ProcessChanges
    ) -> Result[None, ProcessMoved | EventStoreError]: ...


@final
class Outcome(enum.Enum):
    """What became of a decision tried under the manager's error policy."""

    APPLIED = "applied"
    SKIPPED = "skipped"
    STOPPED = "stopped"


@final
class ProcessDataError(Exception):
    """A process manager's stored state cannot be read back (see the message)."""


@final
class RunnerMoved(Exception):
    """Another runner saved this process manager's position: this one must load again."""


@final
@dataclass(slots=True)
class _Step:
    """What was decided since the last save."""

    instances: dict[str, InstanceRow] = field(default_factory=dict)
    ended: set[str] = field(default_factory=set)
    commands: list[Outgoing] = field(default_factory=list)
    rows: list[CommandRow] = field(default_factory=list)
    answered: list[int] = field(default_factory=list)
    timers: dict[tuple[str, str], TimerRow] = field(default_factory=dict)
    cancelled: set[tuple[str, str]] = field(default_factory=set)

    def size(self) -> int:
        return len(self.instances) + len(self.ended) + len(self.rows) + len(self.answered)

    def empty(self) -> bool:
        return not (self.size() or self.timers or self.cancelled)


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
        codec: Codec[Any, StateT] | None,
        targets: dict[str, Target[Any]],
        max_in_flight: int = DEFAULT_IN_FLIGHT,
        on_error: policies.ErrorPolicy = policies.Stop(),  # noqa: B008 - frozen: one will do
    ) -> None:
        self.name = name
        self.route = route
        self.initial = initial
        self.handle = handle
        self.command_timeout = command_timeout
        self.on_error = on_error
        self.codec = codec
        self.targets = targets
        self.storage: ProcessStorage | None = None
        self.state = ProcessManagerState.NOT_RUNNING
        self.position = 0
        self.saved_position: int | None = None
        self.lag = 0
        self.states: dict[str, StateT] = {}
        self.correlations: dict[str, str] = {}
        self.step = _Step()
        # A step taken out of ``step`` to be saved, until it is: retried as it was.
        self.unsaved: tuple[_Step, ProcessChanges] | None = None
        self.next_sequence = 0
        # One command at a time per lane, an instance always on one lane: its commands go
        # out in the order decided, and up to one per lane at once.
        self.lanes: list[deque[Outgoing]] = [deque() for _ in range(max_in_flight)]
        self.lane_changed = [trio.lowlevel.ParkingLot() for _ in range(max_in_flight)]
        self.outbox = 0
        self.timers = Timers()
        self.decided = self.sent = self.rejected = self.retries = self.dead_letters = 0
        self.commits = 0
        self.last_error: str | None = None
        # The running task's scope, cancelled when the manager stops.
        self.scope: trio.CancelScope | None = None
        self.changes = trio.lowlevel.ParkingLot()
        self.step_changed = trio.lowlevel.ParkingLot()
        self.saved = trio.lowlevel.ParkingLot()
        self.timers_changed = trio.lowlevel.ParkingLot()
        self.position_moved = trio.lowlevel.ParkingLot()

    def statistics(self) -> ProcessManagerStatistics:
        return ProcessManagerStatistics(
            name=self.name,
            state=self.state,
            position=self.position,
            lag=self.lag,
            instances=len(self.states),
            outbox=self.outbox
            + len(self.step.commands)
            + (0 if self.unsaved is None else len(self.unsaved[0].commands)),
            timers=len(self.timers),
            decided=self.decided,
            sent=self.sent,
            rejected=self.rejected,
            retries=self.retries,
            dead_letters=self.dead_letters,
            commits=self.commits,
            last_error=self.last_error,
        )

    def state_of(self, instance: str) -> object | None:
        return self.states.get(instance)

    def _changed(self) -> None:
        self.changes.unpark_all()

    # -- deciding ---------------------------------------------------------------------------

    def decide(
        self, instance: str, happening: object, key: str, correlation_id: str, causation_id: str
    ) -> None:
        """Run ``handle`` for ``instance`` and apply its decision, all of it, at once.

        Raises what the handler raised, or why its decision cannot be kept (a command to
        a target the manager does not know, a state or command its codec refuses),
        having changed nothing.
        """
        state = self.states.get(instance)
        if state is None:
            state = self.initial(instance)
        decision = self.handle(state, happening)
        if not isinstance(decision, Decision):
            raise TypeError(
                f"process manager {self.name!r}: handle must return a Decision, got {decision!r}"
            )
        for timer in decision.timers:
            if not isinstance(timer, (SetTimer, CancelTimer)):
                raise TypeError(
                    f"a Decision's timers take SetTimer(...) and CancelTimer(...), got {timer!r}"
                )
        correlation_id = self.correlations.get(instance) or correlation_id
        durable = self.storage is not None
        sends = list(decision.send)
        encoded = [self._encode_command(send) for send in sends]
        row = None
        if durable and not decision.done:
            row = self._encode_state(instance, decision.state, correlation_id)
        # From here on nothing raises: the decision is applied whole.
        step = self.step
        if decision.done:
            self.states.pop(instance, None)
            self.correlations.pop(instance, None)
            for timer_key in self.timers.cancel_instance(instance):
                if durable:
                    step.timers.pop(timer_key, None)
                    step.cancelled.add(timer_key)
            if durable:
                step.instances.pop(instance, None)
                step.ended.add(instance)
        else:
            self.states[instance] = decision.state
            self.correlations[instance] = correlation_id
            if row is not None:
                step.instances[instance] = row
            now = trio.current_time()
            for timer in decision.timers:
                timer_key = (instance, timer.name)
                if isinstance(timer, SetTimer):
                    self.timers.set(timer_key, now + timer.after, key)
                    if durable:
                        due = now + timer.after + wall_clock_offset()
                        step.timers[timer_key] = TimerRow(instance, timer.name, due, key)
                else:
                    self.timers.cancel(timer_key)
                    if durable:
                        step.timers.pop(timer_key, None)
                        step.cancelled.add(timer_key)
        for index, (send, command) in enumerate(zip(sends, encoded, strict=True)):
            sequence = self.next_sequence
            self.next_sequence += 1
            item = Outgoing(
                sequence, instance, send, derived_key(key, index), correlation_id, causation_id
            )
            self.decided += 1
            if command is None:
                self._release(item)
            else:
                step.commands.append(item)
                step.rows.append(
                    CommandRow(
                        sequence,
                        instance,
                        send.target.name,
                        send.aggregate_id,
                        *command,
                        item.key,
                        correlation_id,
                        causation_id,
                    )
                )
        if durable:
            self.step_changed.unpark_all()
        if decision.timers or decision.done:
            self.timers_changed.unpark_all()
        self._changed()

    def _encode_command(self, send: object) -> tuple[str, int, str] | None:
        """Check a command decided; on a durable store, return it encoded."""
        if not isinstance(send, Send):
            raise TypeError(f"a Decision's send takes Send(...) values, got {send!r}")
        target = send.target
        if self.targets and self.targets.get(target.name) is not target:
            raise ValueError(
                f"process manager {self.name!r} sends to {target!r}, which is not one of its "
                f"targets= ({', '.join(sorted(self.targets))}): add it there"
            )
        if self.storage is None or self.codec is None:
            return None
        encoded = self.codec.encode_event(send.command)
        return encoded.type_name, encoded.version, encoded.data

    def _encode_state(self, instance: str, state: StateT, correlation_id: str) -> InstanceRow:
        assert self.codec is not None  # checked when the manager is declared
        encoded = self.codec.encode_entity(state)
        return InstanceRow(
            instance, encoded.type_name, encoded.version, encoded.data, correlation_id
        )

    def _decide_entry(self, entry: LogRecord[EventT]) -> None:
        """Route one entry of the log and decide on it (raises, having changed nothing)."""
        instance: object = self.route(entry)
        if instance is None:
            return
        if not isinstance(instance, str) or not instance:
            raise TypeError(
                f"process manager {self.name!r}: route must return an instance id (a "
                f"non-empty str) or None, got {instance!r}"
            )
        check_name(f"process manager {self.name!r}: the instance id route returned", instance)
        envelope = entry.envelope
        correlation = getattr(envelope, "correlation_id", "") or event_reference(entry)
        self.decide(
            instance,
            envelope.payload,
            derived_key("pm", self.name, entry.position),
            correlation,
            event_reference(entry),
        )

    async def on_entry(self, entry: LogRecord[EventT]) -> bool:
        """Decide on one entry of the log, and move past it; ``False``: the manager stopped."""
        outcome = await self.guarded(
            f"deciding on position {entry.position}", partial(self._decide_entry, entry)
        )
        if outcome is Outcome.STOPPED:
            return False
        self.position = entry.position
        if self.storage is not None:
            self.step_changed.unpark_all()
        self.position_moved.unpark_all()
        self._changed()
        return True

    async def guarded(self, doing: str, attempt: Callable[[], None]) -> Outcome:
        """Run ``attempt`` (a decision) under the manager's error policy.

        A decision that raises changed nothing: it is tried again after a pause
        (``Retry``), passed over and counted as a dead letter (``Skip``), or the manager
        stops before it (``Stop``).
        """
        policy = self.on_error
        retry = 0
        while True:
            try:
                attempt()
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
                if isinstance(policy, policies.Retry) and retry < policy.attempts:
                    retry += 1
                    self.retries += 1
                    self.last_error = error
                    logger.warning(
                        "process manager %r: %s raised %s; trying again (%d of %d)",
                        self.name, doing, error, retry, policy.attempts,
                    )  # fmt: skip
                    self._changed()
                    await trio.sleep(policy.backoff(retry))
                    continue
                final = policy.then if isinstance(policy, policies.Retry) else policy
                if isinstance(final, policies.Skip):
                    self.dead_letters += 1
                    self.last_error = error
                    logger.error(
                        "process manager %r passed over %s, which raised %s",
                        self.name, doing, error, exc_info=exc,
                    )  # fmt: skip
                    self._changed()
                    return Outcome.SKIPPED
                self.stop(exc, doing)
                return Outcome.STOPPED
            return Outcome.APPLIED

    async def room(self) -> None:
        """Wait while too many decisions wait for their save."""
        while self.step.size() >= _MAX_UNSAVED:
            await self.saved.park()

    # -- saving and loading -----------------------------------------------------------------

    def _all_saved(self) -> bool:
        return self.step.empty() and self.position == self.saved_position

    async def persist(self, storage: ProcessStorage) -> None:
        """Save what was decided, one step per transaction, forever."""
        failures = 0
        while True:
            if self._all_saved():
                await self.step_changed.park()
                continue
            if await self._save(storage):
                failures = 0
                continue
            failures += 1
            await trio.sleep(backoff(failures))

    async def save_last(self, storage: ProcessStorage) -> None:
        """Save what was decided since the last save, as the manager stops (even cancelled).

        A graceful stop then leaves nothing to decide or send again. One try, as long as
        the store's own timeouts let it take (the save is shielded, as every save is).
        """
        if self.unsaved is not None:
            return  # a step that failed to save: the next start decides it again
        if not self._all_saved():
            await self._save(storage)

    async def _save(self, storage: ProcessStorage) -> bool:
        """Save the pending step (or the one that failed to save before); ``False``: failed.

        Not cancelled halfway: a cancelled save could commit unseen, and the next one,
        based on the position before it, would then be refused.
        """
        if self.unsaved is None:
            step, self.step = self.step, _Step()
            self.unsaved = (
                step,
                ProcessChanges(
                    self.saved_position,
                    self.position,
                    list(step.instances.values()),
                    list(step.ended),
                    step.rows,
                    step.answered,
                    list(step.timers.values()),
                    list(step.cancelled),
                ),
            )
        step, changes = self.unsaved
        result: Result[None, ProcessMoved | EventStoreError] | None = None
        with trio.CancelScope(shield=True):
            result = await storage.save_process(self.name, changes)
        assert result is not None  # a shielded scope is never cancelled
        if isinstance(result, Error):
            if isinstance(result.error, ProcessMoved):
                raise RunnerMoved(
                    f"process manager {self.name!r}: its stored position is no longer "
                    f"{changes.expected}, as another runner saved it; loading it again"
                )
            if result.error.kind is StoreFailure.REFUSED:
                # The store refuses what was decided: saving it again cannot help.
                self.stop(
                    ProcessDataError(result.error.message),
                    f"saving its decisions up to position {changes.position}",
                )
                return False
            self.retries += 1
            self.last_error = f"saving: {result.error.message}"
            logger.warning("process manager %r: %s; saving again", self.name, self.last_error)
            self._changed()
            return False
        self.unsaved = None
        self.saved_position = changes.position
        self.commits += 1
        for item in step.commands:
            self._release(item)
        self.saved.unpark_all()
        self._changed()
        return True

    async def load(self, storage: ProcessStorage) -> None:
        """Replace what is in memory with what is stored (retried until the store answers).

        Raises:
            ProcessDataError: A stored state or command cannot be decoded, or names a
                target the manager does not have.
        """
        failures = 0
        while True:
            result = await storage.load_process(self.name)
            if isinstance(result, Ok):
                break
            failures += 1
            self.retries += 1
            self.last_error = f"loading: {result.error.message}"
            logger.warning("process manager %r: %s; loading again", self.name, self.last_error)
            self._changed()
            await trio.sleep(backoff(failures))
        stored = result.value
        states: dict[str, StateT] = {}
        correlations: dict[str, str] = {}
        outgoing: list[Outgoing] = []
        codec = self.codec
        assert codec is not None  # checked when the manager is declared
        for row in [] if stored is None else stored.instances:
            try:
                states[row.instance] = codec.decode_entity(row.type_name, row.version, row.data)
            except Exception as exc:
                raise ProcessDataError(
                    f"process manager {self.name!r}: the stored state of instance "
                    f"{row.instance!r} cannot be decoded: {type(exc).__name__}: {exc}"
                ) from exc
            correlations[row.instance] = row.correlation_id
        for command in [] if stored is None else stored.outbox:
            target = self.targets.get(command.target)
            if target is None:
                raise ProcessDataError(
                    f"process manager {self.name!r}: a stored command (key {command.key!r}) "
                    f"goes to target {command.target!r}, which is not one of its targets= "
                    f"({', '.join(sorted(self.targets))})"
                )
            try:
                decoded = codec.decode_event(command.type_name, command.version, command.data)
            except Exception as exc:
                raise ProcessDataError(
                    f"process manager {self.name!r}: the stored command {command.key!r} cannot "
                    f"be decoded: {type(exc).__name__}: {exc}"
                ) from exc
            send = Send(target, command.aggregate_id, decoded)
            outgoing.append(
                Outgoing(
                    command.sequence,
                    command.instance,
                    send,
                    command.key,
                    command.correlation_id,
                    command.causation_id,
                )
            )
        offset = wall_clock_offset()
        self.states, self.correlations = states, correlations
        self.timers = Timers()
        for timer in [] if stored is None else stored.timers:
            self.timers.set((timer.instance, timer.timer), timer.due - offset, timer.set_by)
        self.step = _Step()
        self.unsaved = None
        for lane in self.lanes:
            lane.clear()
        self.outbox = 0
        for item in outgoing:
            self._release(item)
        self.next_sequence = max((item.sequence for item in outgoing), default=-1) + 1
        self.saved_position = None if stored is None else stored.position
        self.position = 0 if stored is None else stored.position
        self.timers_changed.unpark_all()
        self._changed()

    # -- sending ----------------------------------------------------------------------------

    def _release(self, item: Outgoing) -> None:
        """Put ``item`` on its instance's lane, to be sent."""
        lane = zlib.crc32(item.instance.encode("utf-8", "surrogatepass")) % len(self.lanes)
        self.lanes[lane].append(item)
        self.outbox += 1
        self.lane_changed[lane].unpark_all()

    async def dispatch(self, lane: int) -> None:
        """Send the commands of one lane, oldest first, forever."""
        queue, changed = self.lanes[lane], self.lane_changed[lane]
        failures = 0
        while True:
            if not queue:
                await changed.park()
                continue
            item = queue[0]
            outcome = await send_once(self.name, item, self.command_timeout)
            if isinstance(outcome, Retry):
                failures += 1
                self.retries += 1
                self.last_error = outcome.reason
                self._changed()
                await trio.sleep(backoff(failures))
                continue
            failures = 0
            if isinstance(outcome, Ok):
                self.sent += 1
            elif isinstance(outcome.error, DomainError):
                rejected = CommandRejected(item.send, outcome.error.error)
                # Still in the outbox while the rejection is decided on: a retry pauses,
                # and a step saved meanwhile must not say it was answered.
                told = await self.guarded(
                    f"the rejection of {item.key!r}",
                    partial(
                        self.decide,
                        item.instance,
                        rejected,
                        derived_key(item.key, "rejected"),
                        item.correlation_id,
                        item.key,
                    ),
                )
                if told is Outcome.STOPPED:
                    return  # kept, to be told again when the manager is started again
                self.rejected += 1
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
            queue.popleft()
            self.outbox -= 1
            if self.storage is not None:
                self.step.answered.append(item.sequence)
                self.step_changed.unpark_all()
            self._changed()

    # -- timers -----------------------------------------------------------------------------

    async def run_timers(self) -> None:
        """Fire the timers as they fall due, forever."""
        while True:
            soonest = self.timers.soonest()
            if soonest is None:
                await self.timers_changed.park()
                continue
            timer_key, due, set_by = soonest
            if trio.current_time() < due:
                with trio.move_on_at(due):
                    await self.timers_changed.park()
                continue
            self.timers.cancel(timer_key)
            instance, name = timer_key
            key = derived_key(set_by, "timer", name)
            correlation = self.correlations.get(instance, key)
            outcome = await self.guarded(
                f"timer {name!r} of {instance!r}",
                partial(self.decide, instance, TimerFired(name), key, correlation, key),
            )
            if outcome is Outcome.STOPPED:
                # Kept, to fire again when the manager is started again.
                self.timers.set(timer_key, due, set_by)
                return
            if self.storage is not None and timer_key not in self.timers:
                self.step.timers.pop(timer_key, None)
                self.step.cancelled.add(timer_key)
                self.step_changed.unpark_all()

    async def measure_lag(self, count_after: Callable[[int], Any]) -> None:
        """Count the selected events after the position, at most every ``_LAG_INTERVAL``.

        While behind, every ``_LAG_INTERVAL`` seconds; caught up, once the position moves
        (a new event came and was decided on) or ``_LAG_IDLE`` seconds have passed, so
        that an idle manager does not wake every second (under a ``MockClock`` a day
        would take 86,400 counts).
        """
        while True:
            counted = await count_after(self.position)
            # A failed count only leaves the figure older.
            if isinstance(counted, Ok) and counted.value != self.lag:
                self.lag = counted.value
                self._changed()
            if not self.lag:
                with trio.move_on_after(_LAG_IDLE):
                    await self.position_moved.park()
            await trio.sleep(_LAG_INTERVAL)

    def stop(self, exc: BaseException, doing: str) -> None:
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
