"""Running a projection: read the log from the checkpoint, handle, write the checkpoint, repeat.

One task per running projection, started by its child specification. It holds the
store's right to run the projection (``LogSource.hold``: one runner at a time), then:

1. **Settles its checkpoint.** A projection that has none gets one (position 0, or the
   end of the log for ``Current``), after its reset hook if it keeps its checkpoint in
   memory (``InMemory``: its read model may hold an earlier run's events); one with a
   reset pending runs its reset hook and goes back to 0.
2. **Reads a batch** after the checkpoint. Empty: it is live; it waits for a wake-up
   from the store (noting the wake-up token *before* the read, so a commit between the
   read and the wait still wakes it), or for the poll interval, whichever comes first.
3. **Handles the batch** with the error policy, then writes the checkpoint past it. The
   write is a compare-and-set on the checkpoint it started from: if that moved (a reset,
   another runner), nothing is written and the projection settles again.

Store errors (the store not running, a lost connection, an event that cannot be
decoded) are never skipped: the operation is retried with a growing pause, logged and
counted. Handler errors follow the projection's policy. A projection whose policy stops
it returns normally: its child is ``Transient``, so it stays stopped.
"""

from __future__ import annotations

import enum
import inspect
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial
from typing import Generic, TypeVar

import trio
from typing_extensions import Never, final

from .._core.errors import EventStoreError
from .._core.log_source import (
    Checkpoint,
    CheckpointMoved,
    CheckpointResult,
    CheckpointWrite,
    DeadLetter,
    HandlerRaised,
    LogPage,
    LogRecord,
    LogSource,
    LogWatch,
)
from .._runtime.changes import wait_until
from .._runtime.result import Error, Ok, Result
from .follow import LogReadFailed
from .policies import CheckpointStorage, Projection, Retry, Skip, Start, Stop

EntryT = TypeVar("EntryT", bound=LogRecord[object])
TxT = TypeVar("TxT")
ValueT = TypeVar("ValueT")

logger = logging.getLogger("trio_eventsourcing.projections")

_STORE_BACKOFF_FIRST = 0.1
_STORE_BACKOFF_MOST = 5.0
_STANDBY_POLL = 0.2
"""Seconds between two looks at the stored progress of a projection another runner runs,
while a task waits for a position on a standby's handle."""
_LAG_INTERVAL = 1.0
"""Seconds between two counts of the entries after the checkpoint while catching up."""


@final
class ProjectionState(enum.Enum):
    """What a projection is doing, as :meth:`ProjectionHandle.statistics` reports it."""

    NOT_RUNNING = "not running"
    """Not started yet, shut down, or crashed and not restarted yet."""
    STANDBY = "standby"
    """Started, waiting for another runner of the same projection to end."""
    STARTING = "starting"
    """Loading its checkpoint."""
    RESETTING = "resetting"
    """Running its reset hook before a rebuild."""
    CATCHING_UP = "catching up"
    """Handling events, with more in the log than one batch."""
    LIVE = "live"
    """Handling new events as they commit, or waiting for them."""
    RETRYING = "retrying"
    """Pausing before it tries again a handler call or a store operation that failed."""
    STOPPED = "stopped"
    """Stopped by its error policy; the checkpoint is before the event that failed."""


@final
@dataclass(frozen=True, slots=True)
class ProjectionStatistics:
    """A snapshot of a projection, from :meth:`ProjectionHandle.statistics`.

    Counters run from the handle's creation, across restarts.
    """

    name: str
    state: ProjectionState
    position: int
    """The stored checkpoint: every event up to this position has been handled."""
    lag: int
    """Events in the log after ``position``, as last measured (0 when live)."""
    handled: int
    """Events handled (successful handler calls; an event handled again counts again)."""
    retries: int
    """Handler calls retried after an error."""
    skips: int
    """Events skipped to a dead letter."""
    store_errors: int
    """Store operations that failed and were retried."""
    runs: int
    """How many times the projection was started (1 + restarts)."""
    last_error: str | None
    """The last handler or store error, as ``"TypeName: message"``, if any."""
    handled_to: int = 0
    """Every event the projection selects up to this position has been handled: its
    checkpoint, or beyond it when the log's last events are of types it does not select
    (not stored: a restart starts again from the checkpoint)."""


@final
class ProjectionHandle:
    """A supervised projection, as ``projections.supervised`` hands it back.

    It lives as long as the child specification it came with, across restarts.

    Example::

        handle, spec = projections.supervised(store, projection)
        ...
        await handle.wait_for_position(42)
        print(handle.statistics())
    """

    __slots__ = (
        "_changes",
        "_handled",
        "_handled_to",
        "_lag",
        "_last_error",
        "_name",
        "_position",
        "_retries",
        "_runs",
        "_skips",
        "_source",
        "_state",
        "_store_errors",
    )
    _name: str
    _state: ProjectionState
    _position: int
    _lag: int
    _handled: int
    _retries: int
    _skips: int
    _store_errors: int
    _runs: int
    _last_error: str | None
    _changes: trio.lowlevel.ParkingLot
    _handled_to: int
    # The source its runner reads, given when it first runs: where the end of what it
    # selects is found, and where a standby looks at the other runner's progress.
    _source: LogSource[LogRecord[object], object] | None

    def __init__(self, _private: Never) -> None:
        raise TypeError("ProjectionHandle has no public constructor: use projections.supervised()")

    @classmethod
    def _make(cls, name: str) -> ProjectionHandle:
        self = object.__new__(cls)
        self._name = name
        self._state = ProjectionState.NOT_RUNNING
        self._position = 0
        self._handled_to = 0
        self._source = None
        self._lag = 0
        self._handled = self._retries = self._skips = self._store_errors = self._runs = 0
        self._last_error = None
        self._changes = trio.lowlevel.ParkingLot()
        return self

    @property
    def name(self) -> str:
        """The projection's name."""
        return self._name

    def statistics(self) -> ProjectionStatistics:
        """Return the projection's state, checkpoint, lag and counters.

        Example::

            stats = handle.statistics()
            print(stats.state.value, stats.position, stats.lag, stats.skips)
        """
        return ProjectionStatistics(
            name=self._name,
            state=self._state,
            position=self._position,
            lag=self._lag,
            handled=self._handled,
            retries=self._retries,
            skips=self._skips,
            store_errors=self._store_errors,
            runs=self._runs,
            last_error=self._last_error,
            handled_to=self._handled_to,
        )

    async def wait_for_position(self, position: int) -> None:
        """Wait until the projection has handled every event it selects up to ``position``.

        That is its checkpoint at ``position`` or past it, or the log read past
        ``position`` with nothing more it selects. Read your own writes: after a command,
        wait for its receipt's ``position`` (see ``eventsourcing.execute_with_receipt``),
        which may be of an event the projection does not select. On a standby's handle
        (another runner runs the projection, in this process or, on PostgreSQL, another
        one) it follows the stored checkpoint, looked at every 0.2 s while it waits. It
        waits for as long as it takes (a projection that is not running gets there when
        it runs again): put it in a ``trio.fail_after`` block.

        Raises:
            ProjectionStopped: If the projection's error policy stopped it before it got
                there (it stays stopped until it is started again).

        Example::

            with trio.fail_after(5):
                await handle.wait_for_position(receipt.position)
        """

        def there(stats: ProjectionStatistics) -> bool:
            return max(stats.position, stats.handled_to) >= position

        await trio.lowlevel.checkpoint_if_cancelled()
        while not there(self.statistics()):
            if self._state is ProjectionState.STOPPED:
                raise ProjectionStopped(self._name, position, self._position, self._last_error)
            if self._state is ProjectionState.STANDBY and self._source is not None:
                # Another runner (PostgreSQL: another process) runs it: follow its stored
                # progress, looking again every _STANDBY_POLL seconds or at a change here.
                await self._look_at_the_runner(self._source)
                if there(self.statistics()):
                    break
                with trio.move_on_after(_STANDBY_POLL):
                    await self._changes.park()
            else:
                await self._changes.park()
        await trio.lowlevel.cancel_shielded_checkpoint()

    async def _look_at_the_runner(self, source: LogSource[LogRecord[object], object]) -> None:
        """Take the stored checkpoint, and how far past it nothing it selects waits.

        The first selected event after the checkpoint is not handled, but every one
        before it is: a wait for a position of events it does not select ends too. A store
        error only leaves the figures as they were.
        """
        loaded = await source.load_checkpoint(self._name)
        if not isinstance(loaded, Ok) or loaded.value is None:
            return
        position = loaded.value.position
        page = await source.read(position, 1)
        if self._state is not ProjectionState.STANDBY:
            return  # it runs here now: its runner keeps the figures
        handled = position
        if isinstance(page, Ok):
            entries = page.value.entries
            handled = entries[0].position - 1 if entries else page.value.scanned_to
        self._position = position
        self._handled_to = max(position, handled)
        self._changed()

    async def wait_until_current(self) -> None:
        """Wait until the projection has handled every event it selects in the log now.

        The end of the log is read first (from the store the projection runs on), then
        :meth:`wait_for_position` waits for it. A projection that has not run yet has no
        store to ask: this waits until it runs.

        Raises:
            LogReadFailed: If the store could not be read.

        Example::

            with trio.fail_after(5):
                await handle.wait_until_current()
        """
        await self.wait_for(lambda _: self._source is not None)
        source = self._source
        assert source is not None
        end = await source.head()
        if isinstance(end, Error):
            raise LogReadFailed(end.error)
        await self.wait_for_position(end.value)

    async def wait_for(
        self, predicate: Callable[[ProjectionStatistics], bool]
    ) -> ProjectionStatistics:
        """Wait until ``predicate(statistics())`` is true, and return those statistics.

        The predicate is checked at once, then after each change of the projection's
        state, checkpoint or counters. It waits for as long as it takes: put it in a
        ``trio.fail_after`` block.

        Example::

            with trio.fail_after(5):
                stats = await handle.wait_for(lambda s: s.state is ProjectionState.LIVE)
        """
        return await wait_until(self._changes, self.statistics, predicate)

    def _changed(self) -> None:
        """Wake the tasks waiting in :meth:`wait_for` (after any change)."""
        self._changes.unpark_all()

    def _set_state(self, state: ProjectionState) -> None:
        self._state = state
        self._changes.unpark_all()

    def _moved_to(self, position: int) -> None:
        # Back (a reset): what was handled beyond the checkpoint is to be handled again.
        self._handled_to = (
            position if position < self._position else max(self._handled_to, position)
        )
        self._position = position
        self._changes.unpark_all()

    def _handled_up_to(self, position: int) -> None:
        if position > self._handled_to:
            self._handled_to = position
            self._changes.unpark_all()

    def __repr__(self) -> str:
        return f"<ProjectionHandle {self._name!r} {self._state.value} at {self._position}>"


@final
class ProjectionStopped(Exception):
    """A wait for a position ended: the projection was stopped by its error policy first.

    Raised by :meth:`ProjectionHandle.wait_for_position` (and so by
    :meth:`~ProjectionHandle.wait_until_current` and ``execute_and_wait``'s consistency
    wait) instead of waiting for a projection that will not move until it is started
    again.

    Example::

        try:
            await handle.wait_for_position(receipt.position)
        except projections.ProjectionStopped as stopped:
            print(stopped.name, stopped.position, stopped.last_error)
    """

    def __init__(self, name: str, wanted: int, position: int, last_error: str | None) -> None:
        super().__init__(
            f"projection {name!r} was stopped at position {position} by its error policy "
            f"before it reached position {wanted}: {last_error}"
        )
        self.name = name
        self.wanted = wanted
        self.position = position
        self.last_error = last_error


class _CheckpointMoved(Exception):
    """Raised inside the runner when a checkpoint write found another checkpoint stored."""


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _own_exception(exc: BaseException) -> BaseException:
    """The exception itself, out of the single-exception groups nurseries wrapped it in.

    Only for reporting: what is raised is never unwrapped.
    """
    inner = getattr(exc, "exceptions", None)
    while isinstance(inner, tuple) and len(inner) == 1 and isinstance(inner[0], BaseException):
        exc = inner[0]
        inner = getattr(exc, "exceptions", None)
    return exc


def _event_type(record: LogRecord[object]) -> str:
    envelope = record.envelope
    event_type = getattr(envelope, "event_type", None)
    return event_type if isinstance(event_type, str) else type(envelope.payload).__qualname__


def _where(entries: Sequence[LogRecord[object]]) -> str:
    first = entries[0]
    if len(entries) == 1:
        envelope = first.envelope
        return (
            f"the event at position {first.position} ({_event_type(first)} "
            f"#{envelope.sequence} of {envelope.aggregate_id!r})"
        )
    return f"the batch of positions {first.position}-{entries[-1].position}"


async def _call(function: Callable[..., object], *args: object) -> None:
    result = function(*args)
    # A plain function returns None: no need to ask (an ABC check) whether it is awaitable.
    if result is not None and inspect.isawaitable(result):
        await result


@final
class Runner(Generic[EntryT, TxT]):
    """Runs one projection on one log source; ``run`` is the child's task."""

    __slots__ = (
        "_checkpoint",
        "_handle",
        "_in_memory",
        "_lag_checked",
        "_poll",
        "_projection",
        "_source",
    )

    def __init__(
        self,
        source: LogSource[EntryT, TxT],
        projection: Projection[EntryT, TxT],
        handle: ProjectionHandle,
    ) -> None:
        self._source = source
        self._projection = projection
        self._handle = handle
        self._checkpoint = Checkpoint(0)
        self._in_memory = projection.checkpoint_storage is CheckpointStorage.MEMORY
        self._lag_checked = float("-inf")
        poll = projection.poll_interval
        self._poll = source.poll_interval if poll is None else poll

    async def run(
        self, *, task_status: trio.TaskStatus[ProjectionHandle] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Run the projection until cancelled, or until its error policy stops it."""
        handle = self._handle
        handle._runs += 1
        handle._source = self._source
        handle._changed()
        handle._set_state(ProjectionState.STANDBY)
        # Started before holding the right to run: a standby is started too, and waiting
        # for another process to let go (PostgreSQL) must not fail the supervisor's start.
        task_status.started(handle)
        try:
            async with self._source.hold(self._projection.name):
                handle._set_state(ProjectionState.STARTING)
                async with self._source.watch() as watch:
                    await self._run(watch)
        except Exception as exc:
            handle._last_error = _describe(_own_exception(exc))
            handle._changed()
            raise
        finally:
            if handle._state is not ProjectionState.STOPPED:
                handle._set_state(ProjectionState.NOT_RUNNING)

    async def _run(self, watch: LogWatch) -> None:
        projection, handle, source = self._projection, self._handle, self._source
        name = projection.name
        batch_size = projection.batch_size
        await self._settle()
        logger.info(
            "projection %r runs on %s from position %d",
            name,
            source.description,
            self._checkpoint.position,
        )
        await self._measure_lag(force=True)
        resets_seen = watch.resets(name)
        prefetched: LogPage[EntryT] | None = None
        while True:
            token = watch.token()
            if watch.resets(name) != resets_seen:
                # Reset in this process: settle at once rather than at the next poll.
                resets_seen = watch.resets(name)
                prefetched = None
                if self._in_memory:
                    # reset() reset the store's checkpoint; this one is kept in memory.
                    await self._store_call("resetting the checkpoint", partial(source.reset, name))
                await self._settle()
                continue
            if prefetched is not None:
                # Read while the previous batch was handled. Only ever a non-empty one:
                # an empty read must follow the token noted above, or a commit landing
                # between that read and the wait below would not wake us.
                page, prefetched = prefetched, None
            else:
                page = await self._store_call(
                    "reading the log", partial(source.read, self._checkpoint.position, batch_size)
                )
            batch = page.entries
            if batch:
                full = len(batch) >= batch_size
                handle._set_state(ProjectionState.CATCHING_UP if full else ProjectionState.LIVE)
                try:
                    if full:
                        # Catching up: read the next batch while this one is handled and
                        # its checkpoint written, so the store's round trips overlap.
                        handled, prefetched = await self._handle_prefetching(batch)
                    else:
                        handled = await self._handle_batch(batch)
                except _CheckpointMoved:
                    prefetched = None
                    await self._settle()
                    continue
                if not handled:
                    return  # stopped by the error policy
                handle._handled_up_to(page.scanned_to)
                if full:
                    await self._measure_lag(force=False, handled=len(batch))
                else:
                    handle._lag = 0
                continue
            handle._handled_up_to(page.scanned_to)
            handle._set_state(ProjectionState.LIVE)
            handle._lag = 0
            with trio.move_on_after(self._poll) as poll:
                await watch.wait(token)
            if poll.cancelled_caught:
                # Nothing woke us: look at the stored checkpoint, which a reset by
                # another process (or another runner) may have changed.
                await self._settle()

    # -- the checkpoint ------------------------------------------------------------------

    async def _settle(self) -> None:
        """Load the stored checkpoint and make it one to go on from: create it, or reset."""
        projection, source, handle = self._projection, self._source, self._handle
        name = projection.name
        while True:
            loaded = await self._store_call(
                "loading the checkpoint", partial(source.load_checkpoint, name)
            )
            if loaded is not None and not loaded.reset_pending:
                self._adopt(loaded)
                return
            work: Callable[[TxT], object] | None = None
            if loaded is None:
                if self._in_memory and projection._on_reset is not None:
                    # The read model lives in this process, as the checkpoint does: what
                    # an earlier run left in it is cleared before this run builds it.
                    handle._set_state(ProjectionState.RESETTING)
                    await _call(projection._on_reset)
                if projection.start is Start.ORIGIN:
                    start = 0
                else:
                    start = await self._store_call("finding the end of the log", source.head)
                write: CheckpointWrite[TxT] = CheckpointWrite(None, Checkpoint(start))
            else:
                handle._set_state(ProjectionState.RESETTING)
                # Asked for (reset_projection, the CLI): news, not a warning.
                logger.info("projection %r was reset: rebuilding it from position 0", name)
                if projection._on_reset is not None:
                    await _call(projection._on_reset)
                work = projection._on_reset_in
                write = CheckpointWrite(loaded, Checkpoint(0), work=work)
            result = await self._write(write)
            if isinstance(result, Ok):
                self._adopt(write.new)
                handle._set_state(ProjectionState.STARTING)
                return
            error = result.error
            if isinstance(error, HandlerRaised):
                logger.error("the reset hook of projection %r raised", name, exc_info=error.cause)
                raise error.cause
            # CheckpointMoved: somebody else wrote it meanwhile; look again.

    def _adopt(self, checkpoint: Checkpoint) -> None:
        self._checkpoint = checkpoint
        self._handle._moved_to(checkpoint.position)

    async def _write(self, write: CheckpointWrite[TxT]) -> CheckpointResult:
        """Write a checkpoint, retrying store errors (the compare-and-set makes it safe)."""
        failures = 0
        while True:
            result = await self._source.write_checkpoint(self._projection.name, write)
            if isinstance(result, Error) and isinstance(result.error, EventStoreError):
                failures += 1
                await self._store_failed("writing the checkpoint", result.error, failures)
                continue
            return result

    async def _commit(self, position: int, dead_letter: DeadLetter | None = None) -> None:
        """Move the checkpoint to ``position`` (handled already), maybe with a dead letter."""
        if position <= self._checkpoint.position and dead_letter is None:
            return
        write: CheckpointWrite[TxT] = CheckpointWrite(
            self._checkpoint, Checkpoint(position), dead_letter
        )
        result = await self._write(write)
        if isinstance(result, Error):
            assert isinstance(result.error, CheckpointMoved), result
            raise _CheckpointMoved
        self._adopt(write.new)

    # -- handling ------------------------------------------------------------------------

    async def _handle_prefetching(
        self, batch: Sequence[EntryT]
    ) -> tuple[bool, LogPage[EntryT] | None]:
        """Handle ``batch`` as :meth:`_handle_batch` while reading the batch after it.

        Returns whether it was handled, and the next batch if it was read without error
        and is not empty (else the caller reads it again, retrying store errors).
        """
        after = batch[-1].position
        size = self._projection.batch_size
        read = self._source.read
        following: list[LogPage[EntryT]] = []

        async def prefetch() -> None:
            result = await read(after, size)
            if isinstance(result, Ok) and result.value.entries:
                following.append(result.value)

        moved = False
        async with trio.open_nursery() as nursery:
            nursery.start_soon(prefetch)
            # No exception may leave this block but Cancelled: it would come out wrapped
            # in an ExceptionGroup.
            try:
                handled = await self._handle_batch(batch)
            except _CheckpointMoved:
                moved, handled = True, False
            if not handled:
                nursery.cancel_scope.cancel()
        if moved:
            raise _CheckpointMoved
        return handled, (following[0] if handled and following else None)

    async def _handle_batch(self, batch: Sequence[EntryT]) -> bool:
        """Handle ``batch`` and move the checkpoint past it; ``False`` if stopped."""
        projection = self._projection
        if projection._on_event is not None:
            return await self._one_by_one(batch)
        failure = await self._with_policy(batch)
        if failure is None:
            if projection._transactional is None:
                # Handled: a read model the handler keeps shows these events already,
                # before their checkpoint is stored (a wait for them may end now).
                self._handle._handled_up_to(batch[-1].position)
                await self._commit(batch[-1].position)
            return True
        if isinstance(self._final_policy(), Stop):
            self._stop(batch, failure)
            return False
        if len(batch) == 1:
            await self._skip(batch[0], failure)
            return True
        logger.warning(
            "projection %r: handling %s one event at a time, to skip only the failing one",
            projection.name,
            _where(batch),
        )
        return await self._one_by_one(batch)

    async def _one_by_one(self, entries: Sequence[EntryT]) -> bool:
        transactional = self._projection._transactional is not None
        on_event = self._projection._on_event
        handle = self._handle
        for index, entry in enumerate(entries):
            if on_event is not None:
                # The common path, kept short: one call per event, the policy's machinery
                # only once it has failed.
                try:
                    result = on_event(entry)
                    if result is not None and inspect.isawaitable(result):
                        await result
                except Exception as exc:
                    failure = await self._with_policy([entry], exc)
                else:
                    handle._handled += 1
                    continue
            else:
                failure = await self._with_policy([entry])
            if failure is None:
                continue
            if isinstance(self._final_policy(), Stop):
                if index and not transactional:
                    await self._commit(entries[index - 1].position)
                self._stop([entry], failure)
                return False
            # With the checkpoint past the entry: the entries before it were handled.
            await self._skip(entry, failure)
        if not transactional:
            handle._handled_up_to(entries[-1].position)
            handle._changed()
            await self._commit(entries[-1].position)
        else:
            handle._changed()
        return True

    def _final_policy(self) -> Stop | Skip:
        policy = self._projection.on_error
        return policy.then if isinstance(policy, Retry) else policy

    async def _with_policy(
        self, entries: Sequence[EntryT], first_failure: Exception | None = None
    ) -> Exception | None:
        """Handle ``entries``, retrying as the policy says; the last failure, or ``None``.

        ``first_failure``: the handler was called once already, and raised this.
        """
        policy = self._projection.on_error
        handle = self._handle
        retries = 0
        failure = first_failure
        while True:
            if failure is None:
                failure = await self._attempt(entries)
                if failure is None:
                    return None
            handle._last_error = _describe(failure)
            if not isinstance(policy, Retry) or retries >= policy.attempts:
                return failure
            retries += 1
            handle._retries += 1
            delay = policy.backoff(retries)
            logger.warning(
                "projection %r failed on %s: %s; retry %d of %d in %.3g s",
                self._projection.name,
                _where(entries),
                _describe(failure),
                retries,
                policy.attempts,
                delay,
                exc_info=failure,
            )
            state = handle._state
            handle._set_state(ProjectionState.RETRYING)
            await trio.sleep(delay)
            handle._set_state(state)
            failure = None

    async def _attempt(self, entries: Sequence[EntryT]) -> Exception | None:
        """Call the handler once; the exception it raised, or ``None``."""
        projection = self._projection
        in_transaction = projection._transactional
        if in_transaction is not None:
            batch = list(entries)
            write: CheckpointWrite[TxT] = CheckpointWrite(
                self._checkpoint,
                Checkpoint(batch[-1].position),
                work=lambda tx: in_transaction(tx, batch),
            )
            result = await self._write(write)
            if isinstance(result, Error):
                if isinstance(result.error, HandlerRaised):
                    return result.error.cause
                raise _CheckpointMoved
            self._adopt(write.new)
        else:
            try:
                if projection._on_event is not None:
                    await _call(projection._on_event, entries[0])
                else:
                    assert projection._on_batch is not None
                    await _call(projection._on_batch, entries)
            except Exception as exc:
                return exc
        self._handle._handled += len(entries)
        self._handle._changed()
        return None

    async def _skip(self, entry: EntryT, failure: Exception) -> None:
        envelope = entry.envelope
        letter = DeadLetter(
            projection=self._projection.name,
            position=entry.position,
            aggregate_id=envelope.aggregate_id,
            sequence=envelope.sequence,
            event_type=_event_type(entry),
            error=_describe(failure),
            recorded_at=datetime.now(timezone.utc),
        )
        await self._commit(entry.position, letter)
        self._handle._skips += 1
        self._handle._changed()
        logger.error(
            "projection %r skipped %s: %s; it is recorded as a dead letter",
            self._projection.name,
            _where([entry]),
            letter.error,
            exc_info=failure,
        )

    def _stop(self, entries: Sequence[EntryT], failure: Exception) -> None:
        self._handle._set_state(ProjectionState.STOPPED)
        logger.error(
            "projection %r stopped at position %d: its handler failed on %s: %s",
            self._projection.name,
            self._checkpoint.position,
            _where(entries),
            _describe(failure),
            exc_info=failure,
        )

    # -- the store -----------------------------------------------------------------------

    async def _store_call(
        self, operation: str, call: Callable[[], Awaitable[Result[ValueT, EventStoreError]]]
    ) -> ValueT:
        """Run a store operation until it succeeds, pausing longer after each failure."""
        failures = 0
        while True:
            result = await call()
            if isinstance(result, Ok):
                return result.value
            failures += 1
            await self._store_failed(operation, result.error, failures)

    async def _store_failed(self, operation: str, error: EventStoreError, failures: int) -> None:
        handle = self._handle
        handle._store_errors += 1
        handle._last_error = f"EventStoreError: {error.message}"
        delay = min(_STORE_BACKOFF_FIRST * 2.0 ** min(failures - 1, 64), _STORE_BACKOFF_MOST)
        logger.warning(
            "projection %r: %s failed (%s); trying again in %.3g s",
            self._projection.name,
            operation,
            error.message,
            delay,
        )
        state = handle._state
        handle._set_state(ProjectionState.RETRYING)
        await trio.sleep(delay)
        handle._set_state(state)

    async def _measure_lag(self, *, force: bool, handled: int = 0) -> None:
        """Count the entries after the checkpoint, at most once per ``_LAG_INTERVAL``."""
        handle = self._handle
        now = trio.current_time()
        if not force and now - self._lag_checked < _LAG_INTERVAL:
            handle._lag = max(0, handle._lag - handled)
            return
        self._lag_checked = now
        counted = await self._source.count_after(self._checkpoint.position)
        # A failed count only leaves the figure older: not worth a retry.
        if isinstance(counted, Ok):
            handle._lag = counted.value
