"""A supervisor with a fixed list of children, restarted by an OTP strategy.

Mirrors Gleam's ``gleam/otp/static_supervisor``. A supervisor is a Trio task that owns
a nursery; each child runs in it under its own cancel scope. When a child exits, the
strategy decides which children restart; too many restarts in too short a time make
the supervisor give up and fail, for its own supervisor to handle.
"""

from __future__ import annotations

import enum
import logging
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import TypeVar

import trio
from typing_extensions import Never, final

from .actor import Started, StartError
from .checks import require_non_negative_int, require_positive_int
from .process import _Mailbox
from .result import Error, Ok, Result
from .supervision import ChildSpecification, Restart, supervisor

DataT = TypeVar("DataT")

logger = logging.getLogger("trio_eventsourcing.supervisor")


@final
class Strategy(enum.Enum):
    """Which children restart when one exits and must be restarted."""

    ONE_FOR_ONE = "one_for_one"
    """Only the child that exited."""
    ONE_FOR_ALL = "one_for_all"
    """Every child: the others are shut down (last started first), then all restart."""
    REST_FOR_ONE = "rest_for_one"
    """The child that exited and every child started after it."""


OneForOne = Strategy.ONE_FOR_ONE
"""Gleam's ``static_supervisor.OneForOne``."""
OneForAll = Strategy.ONE_FOR_ALL
"""Gleam's ``static_supervisor.OneForAll``."""
RestForOne = Strategy.REST_FOR_ONE
"""Gleam's ``static_supervisor.RestForOne``."""


@final
class SupervisorGaveUp(Exception):
    """A supervisor met more restarts than its tolerance allows and shut down."""


@final
class ChildStartFailed(Exception):
    """A child's start function returned an error, raised, or did not start in time.

    Raised, by itself and not in an exception group, by :meth:`Builder.open` (and
    :meth:`Builder.run`) before the block runs, with the children already started shut
    down again; :meth:`Builder.start` returns it as ``Error(StartError(reason))``
    instead. The message names the child and says why, such as ``child #0 (supervisor
    of the SQLite store 'bank.db') failed to start: ...``.

    Example::

        try:
            async with static_supervisor.new(OneForOne).add(store_spec).open():
                ...
        except static_supervisor.ChildStartFailed as failure:
            print(failure)
    """


@final
@dataclass(frozen=True, slots=True)
class SupervisorStatistics:
    """A snapshot of a supervisor: its live children and the restarts it has made."""

    strategy: Strategy
    live_children: int
    restarts: int


@final
class Supervisor:
    """The handle of a running supervisor, handed back by ``start``.

    Example::

        started = await static_supervisor.new(OneForOne).add(child).start(nursery)
        supervisor = started.unwrap().data
        supervisor.shutdown()
    """

    __slots__ = ("_run",)
    _run: _SupervisorRun

    def __init__(self, _private: Never) -> None:
        raise TypeError("Supervisor has no public constructor: start a Builder")

    @classmethod
    def _make(cls, run: _SupervisorRun) -> Supervisor:
        self = object.__new__(cls)
        self._run = run
        return self

    def shutdown(self) -> None:
        """Shut every child down, last started first, then end the supervisor normally."""
        self._run.request_shutdown()

    def statistics(self) -> SupervisorStatistics:
        """Return the supervisor's live children count and restarts so far."""
        return self._run.statistics()

    async def wait_finished(self) -> None:
        """Wait until the supervisor has ended (shut down, given up or been cancelled)."""
        await self._run.finished.wait()


@final
class Builder:
    """Describes a supervisor to start; made by :func:`new`.

    Example::

        builder = (
            static_supervisor.new(static_supervisor.OneForOne)
            .restart_tolerance(intensity=3, period=10)
            .add(first_child)
            .add(second_child)
        )
    """

    __slots__ = ("_children", "_intensity", "_period", "_strategy")

    def __init__(
        self,
        strategy: Strategy,
        children: tuple[ChildSpecification[object], ...] = (),
        intensity: int = 2,
        period: int = 5,
    ) -> None:
        if not isinstance(strategy, Strategy):
            raise TypeError(f"strategy must be a Strategy (e.g. OneForOne), got {strategy!r}")
        self._strategy = strategy
        self._children = children
        self._intensity = intensity
        self._period = period

    def add(self, child: ChildSpecification[object]) -> Builder:
        """Return a builder with ``child`` added after the children already added."""
        if not isinstance(child, ChildSpecification):
            raise TypeError(
                f"add() takes a ChildSpecification (supervision.worker(...)), got {child!r}"
            )
        return Builder(self._strategy, (*self._children, child), self._intensity, self._period)

    def restart_tolerance(self, intensity: int, period: int) -> Builder:
        """Allow at most ``intensity`` restarts within ``period`` seconds (default 2 in 5).

        One restart more makes the supervisor shut its children down and fail.
        """
        return Builder(
            self._strategy,
            self._children,
            require_non_negative_int("intensity", intensity),
            require_positive_int("period (seconds)", period),
        )

    async def start(self, nursery: trio.Nursery) -> Result[Started[Supervisor], StartError]:
        """Start the supervisor and every child in order, in ``nursery``.

        Returns ``Ok(Started(supervisor))`` once every child has started, or
        ``Error(StartError(...))`` naming the child that could not start (the children
        already started are shut down again).
        """
        try:
            handle = await nursery.start(self.run)
        except ChildStartFailed as exc:
            return Error(StartError(str(exc)))
        return Ok(Started(handle))

    async def run(
        self, *, task_status: trio.TaskStatus[Supervisor] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Run the supervisor in this task (for ``await nursery.start(builder.run)``).

        Returns after :meth:`Supervisor.shutdown`; raises :class:`SupervisorGaveUp` when
        the restart tolerance is exceeded. Cancelling it shuts the children down one at
        a time, last started first.
        """
        run = _SupervisorRun(self._strategy, self._children, self._intensity, self._period)
        start_failure: ChildStartFailed | None = None
        async with trio.open_nursery() as nursery:
            # The ``try`` covers the start as well: a cancellation can arrive just as
            # ``supervise`` has been handed over to this nursery, shielded, and without a
            # shutdown request it would wait for messages forever: the nursery exit hangs.
            try:
                try:
                    handle = await nursery.start(run.supervise)
                except ChildStartFailed as exc:
                    start_failure = exc
                else:
                    task_status.started(handle)
                    await run.finished.wait()
            finally:
                # Cancelled from outside: the children run shielded, so ask for the
                # orderly shutdown the nursery exit then waits for.
                run.request_shutdown()
        if start_failure is not None:
            # Raised outside the nursery, which would wrap it in an ExceptionGroup that
            # ``start`` cannot catch, so the start error would crash the caller's nursery
            # instead of becoming ``Error(StartError(...))``.
            raise start_failure

    @asynccontextmanager
    async def open(self) -> AsyncIterator[Supervisor]:
        """Run the supervisor for the duration of an ``async with`` block.

        Raises:
            ChildStartFailed: If a child could not start, before the block runs (the
                children started before it are shut down again). It is raised by
                itself, as ``nursery.start`` raises, not in an exception group: catch it
                with a plain ``except`` on every Python version.

        Example::

            async with static_supervisor.new(OneForOne).add(child).open() as supervisor:
                ...
        """
        start_failure: ChildStartFailed | None = None
        async with trio.open_nursery() as nursery:
            try:
                handle = await nursery.start(self.run)
            except ChildStartFailed as exc:
                start_failure = exc
            else:
                try:
                    yield handle
                finally:
                    handle.shutdown()
        if start_failure is not None:
            # Raised outside the nursery, which would wrap it in an ExceptionGroup: no
            # task of this nursery ever ran, so there is no other exception to group.
            raise start_failure


class _Slot:
    """One child of a running supervisor, across its restarts."""

    __slots__ = ("attempt", "done", "index", "live", "scope", "spec")

    def __init__(self, index: int, spec: ChildSpecification[object]) -> None:
        self.index = index
        self.spec = spec
        self.attempt = 0
        self.live = False
        self.scope = trio.CancelScope()
        self.done = trio.Event()

    def describe(self) -> str:
        return f"child #{self.index} ({self.spec.child_type.value} {self.spec.label})"


@dataclass(frozen=True, slots=True)
class _Exited:
    slot: _Slot
    attempt: int
    failure: BaseException | None


class _ShutdownRequested:
    pass


_SHUTDOWN = _ShutdownRequested()


class _SupervisorRun:
    """The state of one running supervisor."""

    def __init__(
        self,
        strategy: Strategy,
        children: tuple[ChildSpecification[object], ...],
        intensity: int,
        period: int,
    ) -> None:
        self.strategy = strategy
        self.slots = [_Slot(index, spec) for index, spec in enumerate(children)]
        self.intensity = intensity
        self.period = period
        self.inbox: _Mailbox[_Exited | _ShutdownRequested] = _Mailbox()
        self.restart_times: deque[float] = deque()
        self.restarts = 0
        self.finished = trio.Event()
        self.nursery: trio.Nursery | None = None

    def request_shutdown(self) -> None:
        if not self.finished.is_set():
            self.inbox.put(_SHUTDOWN)

    def statistics(self) -> SupervisorStatistics:
        live = sum(1 for slot in self.slots if slot.live)
        return SupervisorStatistics(self.strategy, live, self.restarts)

    async def supervise(
        self, *, task_status: trio.TaskStatus[Supervisor] = trio.TASK_STATUS_IGNORED
    ) -> None:
        start_failure: ChildStartFailed | None = None
        try:
            # Shielded once started, so that cancelling the supervisor does not cancel all
            # children at once: ``run`` turns the cancellation into an orderly shutdown.
            # Not shielded while the children start: a starter that is cancelled (or times
            # out) meanwhile must stop the start. Were the start shielded, ``started()``
            # below would be a silent no-op for the cancelled starter (see
            # ``trio.TaskStatus.started``), leaving this task in the starter's nursery
            # waiting for a shutdown request that never comes: a hang.
            with trio.CancelScope() as shield:
                async with trio.open_nursery() as nursery:
                    self.nursery = nursery
                    try:
                        for slot in self.slots:
                            await self.start_child(slot)
                    except ChildStartFailed as exc:
                        await self.terminate(self.slots)
                        start_failure = exc
                    else:
                        # No await between this check and ``started()``: if the starter
                        # is not cancelled now, ``started()`` really hands the task over.
                        await trio.lowlevel.checkpoint_if_cancelled()
                        shield.shield = True
                        task_status.started(Supervisor._make(self))
                        await self.supervise_loop()
            if start_failure is not None:
                # Raised outside the nursery, which would wrap it in an ExceptionGroup:
                # ``run`` and ``start`` must see the ChildStartFailed itself.
                raise start_failure
        finally:
            self.finished.set()

    async def supervise_loop(self) -> None:
        while True:
            message = await self.inbox.get()
            if isinstance(message, _ShutdownRequested):
                await self.terminate(self.slots)
                return
            slot = message.slot
            if message.attempt != slot.attempt or not slot.live:
                continue  # the report of an attempt already replaced or shut down
            slot.live = False
            failure = message.failure
            if failure is not None:
                logger.error("%s crashed", slot.describe(), exc_info=failure)
            else:
                logger.info("%s exited normally", slot.describe())
            if not self.must_restart(slot, failure):
                continue
            try:
                self.count_restart(slot, failure)
            except SupervisorGaveUp:
                await self.terminate(self.slots)
                raise
            to_restart = self.affected_by(slot)
            await self.terminate([other for other in to_restart if other is not slot])
            for other in to_restart:
                if other is slot or other.spec.restart is not Restart.TEMPORARY:
                    logger.warning("restarting %s", other.describe())
                    try:
                        await self.start_child(other)
                    except ChildStartFailed as exc:
                        # A failed restart counts as another exit of that child.
                        other.live = True
                        self.inbox.put(_Exited(other, other.attempt, exc))

    @staticmethod
    def must_restart(slot: _Slot, failure: BaseException | None) -> bool:
        restart = slot.spec.restart
        if restart is Restart.PERMANENT:
            return True
        if restart is Restart.TRANSIENT:
            return failure is not None
        return False

    def count_restart(self, slot: _Slot, failure: BaseException | None) -> None:
        now = trio.current_time()
        self.restart_times.append(now)
        while self.restart_times and self.restart_times[0] <= now - self.period:
            self.restart_times.popleft()
        if len(self.restart_times) > self.intensity:
            message = (
                f"{slot.describe()} exited again: more than {self.intensity} restarts "
                f"within {self.period} s, so the supervisor gives up"
            )
            logger.error(message)
            raise SupervisorGaveUp(message) from failure
        self.restarts += 1

    def affected_by(self, slot: _Slot) -> list[_Slot]:
        if self.strategy is Strategy.ONE_FOR_ONE:
            return [slot]
        first = 0 if self.strategy is Strategy.ONE_FOR_ALL else slot.index
        others = self.slots[first:]
        return [other for other in others if other is slot or other.live]

    async def terminate(self, slots: list[_Slot]) -> None:
        """Shut ``slots`` down one at a time, last started first, as OTP does."""
        for slot in reversed(slots):
            if slot.live:
                slot.live = False
                slot.scope.cancel()
                await slot.done.wait()

    async def start_child(self, slot: _Slot) -> None:
        assert self.nursery is not None
        slot.attempt += 1
        slot.scope = trio.CancelScope()
        slot.done = trio.Event()
        await self.nursery.start(self.run_child, slot, slot.attempt)
        slot.live = True

    async def run_child(
        self,
        slot: _Slot,
        attempt: int,
        *,
        task_status: trio.TaskStatus[object] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        started = False
        start_error: str | None = None
        failure: BaseException | None = None
        try:
            with slot.scope:
                try:
                    async with trio.open_nursery() as child_nursery:
                        timeout_s = slot.spec.start_timeout_ms / 1000
                        result: Result[Started[object], StartError] | None = None
                        with trio.move_on_after(timeout_s):
                            result = await slot.spec.start(child_nursery)
                        if result is None:
                            start_error = f"did not start within {slot.spec.start_timeout_ms} ms"
                        elif isinstance(result, Error):
                            start_error = f"failed to start: {result.error.reason}"
                        else:
                            started = True
                            task_status.started(result.value.data)
                        if start_error is not None:
                            child_nursery.cancel_scope.cancel()
                except Exception as exc:
                    if not started:
                        raise ChildStartFailed(
                            f"{slot.describe()} failed to start: {_own_exception(exc)!r}"
                        ) from exc
                    failure = _own_exception(exc)
                if start_error is not None:
                    raise ChildStartFailed(f"{slot.describe()} {start_error}")
        finally:
            slot.done.set()
        if not slot.scope.cancelled_caught:
            self.inbox.put(_Exited(slot, attempt, failure))


def _own_exception(exc: BaseException) -> BaseException:
    """The child's own exception, out of the groups its nursery wrapped it in.

    Only for reporting (the log and ``__cause__``): what is raised is never unwrapped.
    A group has an ``exceptions`` tuple; on Python 3.10 its class is the backport's.
    """
    inner = getattr(exc, "exceptions", None)
    while isinstance(inner, tuple) and len(inner) == 1 and isinstance(inner[0], BaseException):
        exc = inner[0]
        inner = getattr(exc, "exceptions", None)
    return exc


def new(strategy: Strategy) -> Builder:
    """Begin describing a supervisor with restart ``strategy`` and no children.

    Example::

        builder = static_supervisor.new(static_supervisor.OneForOne)
    """
    return Builder(strategy)


def supervised(builder: Builder) -> ChildSpecification[Supervisor]:
    """Turn a supervisor builder into a child specification for another supervisor.

    Example::

        parent = static_supervisor.new(OneForAll).add(static_supervisor.supervised(child))
    """
    if not isinstance(builder, Builder):
        raise TypeError(f"supervised() takes a static_supervisor.Builder, got {builder!r}")
    return replace(supervisor(builder.start), label=f"static_supervisor({builder._strategy.value})")


# The function forms of the builder's methods, as Gleam writes them:
# ``static_supervisor.add(builder, child)`` is ``builder.add(child)``.


def add(builder: Builder, child: ChildSpecification[object]) -> Builder:
    """Return ``builder`` with ``child`` added after the children already added.

    The function form of :meth:`Builder.add`, as in Gleam's ``static_supervisor.add``.
    """
    return builder.add(child)


def restart_tolerance(builder: Builder, intensity: int, period: int) -> Builder:
    """Return ``builder`` allowing at most ``intensity`` restarts within ``period`` seconds.

    The function form of :meth:`Builder.restart_tolerance`, as in Gleam's
    ``static_supervisor.restart_tolerance``.
    """
    return builder.restart_tolerance(intensity, period)


async def start(builder: Builder, nursery: trio.Nursery) -> Result[Started[Supervisor], StartError]:
    """Start the supervisor ``builder`` describes, and every child in order, in ``nursery``.

    The function form of :meth:`Builder.start`, as in Gleam's ``static_supervisor.start``.
    """
    return await builder.start(nursery)
