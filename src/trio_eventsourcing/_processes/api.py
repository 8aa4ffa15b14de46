"""Process managers' public functions: declare one, run it supervised.

Types tie a manager together: its ``route`` takes the entries of its selection; its
``handle`` must accept every event type the selection selects, and what it is told
besides (:class:`TimerFired`, :class:`CommandRejected`); each :class:`Send` must fit its
target system's commands.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any, Generic, TypeVar, overload

import trio
from typing_extensions import Never, final

from .._codec.json_codec import Codec
from .._core.log import LogEntry
from .._projections.follow import following
from .._projections.policies import ErrorPolicy, Stop, check_error_policy
from .._projections.selection import LogSelection
from .._runtime.actor import Started, StartResult
from .._runtime.checks import require_positive_int, require_seconds
from .._runtime.result import Ok
from .._runtime.supervision import ChildSpecification, Transient, restart, worker
from .._stores.memory.store import MemoryLogEntry, MemoryStore
from .._stores.process_state import runner_name
from .decisions import CommandRejected, Decision, Target, TimerFired
from .engine import (
    DEFAULT_IN_FLIGHT,
    Engine,
    ProcessDataError,
    ProcessStorage,
)
from .statistics import ProcessManagerHandle, ProcessManagerState

EventT = TypeVar("EventT")
StateT = TypeVar("StateT")
EntryT = TypeVar("EntryT")


@final
class ProcessManager(Generic[EventT, StateT]):
    """A process manager: which events, which instance, and what each instance decides.

    Made by :func:`process_manager`; run by :func:`supervised`.
    """

    __slots__ = ("_engine", "_selection", "name")
    name: str
    _selection: LogSelection[Any, Any]
    _engine: Engine[Any, Any]

    def __init__(self, _private: Never) -> None:
        raise TypeError("ProcessManager has no public constructor: use process_manager()")

    @classmethod
    def _make(
        cls, selection: LogSelection[Any, Any], engine: Engine[Any, Any]
    ) -> ProcessManager[Any, Any]:
        self = object.__new__(cls)
        self.name = engine.name
        self._selection = selection
        self._engine = engine
        return self

    def __repr__(self) -> str:
        return f"<ProcessManager {self.name!r} on {self._selection!r}>"


@overload
def process_manager(
    name: str,
    selection: LogSelection[EventT, Never],
    *,
    route: Callable[[MemoryLogEntry[EventT]], str | None],
    initial: Callable[[str], StateT],
    handle: Callable[[StateT, EventT | TimerFired | CommandRejected], Decision[StateT]],
    targets: Iterable[Target[Any]] = (),
    codec: Codec[Any, StateT] | None = None,
    command_timeout: float = 10.0,
    max_in_flight: int = DEFAULT_IN_FLIGHT,
    on_error: ErrorPolicy | None = None,
) -> ProcessManager[EventT, StateT]: ...
@overload
def process_manager(
    name: str,
    selection: LogSelection[EventT, Any],
    *,
    route: Callable[[LogEntry[EventT]], str | None],
    initial: Callable[[str], StateT],
    handle: Callable[[StateT, EventT | TimerFired | CommandRejected], Decision[StateT]],
    targets: Iterable[Target[Any]] = (),
    codec: Codec[Any, StateT] | None = None,
    command_timeout: float = 10.0,
    max_in_flight: int = DEFAULT_IN_FLIGHT,
    on_error: ErrorPolicy | None = None,
) -> ProcessManager[EventT, StateT]: ...
def process_manager(
    name: str,
    selection: LogSelection[Any, Any],
    *,
    route: Callable[[Any], str | None],
    initial: Callable[[str], Any],
    handle: Callable[[Any, Any], Decision[Any]],
    targets: Iterable[Target[Any]] = (),
    codec: Codec[Any, Any] | None = None,
    command_timeout: float = 10.0,
    max_in_flight: int = DEFAULT_IN_FLIGHT,
    on_error: ErrorPolicy | None = None,
) -> ProcessManager[Any, Any]:
    """Declare a process manager.

    Args:
        name: Its name, stable across restarts: it is part of the idempotency keys of
            the commands it sends.
        selection: The events it follows (``projections.select(store)``, narrowed with
            ``only`` and joined with ``|``). The manager keeps its instances, outbox,
            timers and position in the selection's database: in memory for memory
            stores, in the file or server for SQLite and PostgreSQL.
        route: The instance an entry is for, or ``None`` to pass it over.
        initial: The state of a new instance, given its id.
        handle: Given an instance's state and what happened to it (one of the events
            selected, :class:`TimerFired` or :class:`CommandRejected`), its
            :class:`Decision`. It must not block or await: decisions are applied whole.
            It must be deterministic: after a crash it decides again on the events
            after the last saved step, and its commands must come out the same.
        targets: The systems it sends to. Required on durable stores, where a stored
            command names its target; a ``Send`` to a system not listed is refused.
        codec: Required on durable stores: a codec whose *events* are the commands the
            manager sends and whose *entities* are its instance states, e.g.
            ``JsonCodec[Any, Transfer](events=[Withdraw, Deposit], entities=[Transfer],
            aggregate_type="transfer-process")``.
        command_timeout: Seconds to wait for a command's answer before sending it again
            (under the same idempotency key).
        max_in_flight: Commands sent at once, at most. An instance's commands go one at
            a time, in the order decided, whatever this is.
        on_error: What to do when a decision raises (``route``, ``handle``, or the codec
            on what they made), as for projections: ``projections.Stop()`` (the
            default) stops the manager before it; ``projections.Skip()`` passes over
            the event, timer or rejection, counted as a dead letter and logged;
            ``projections.Retry(...)`` decides again after a pause, then stops or skips.

    Raises:
        TypeError, ValueError: For an argument of the wrong type or value.

    Example::

        transfers = process_managers.process_manager(
            "transfers",
            projections.select(transfer_store) | projections.select(account_store),
            route=lambda entry: getattr(entry.envelope.payload, "transfer_id", None),
            initial=lambda transfer_id: Idle(transfer_id),
            handle=decide_transfer,
        )
    """
    given: object = name
    if not isinstance(given, str) or not given:
        raise ValueError(f"a process manager's name must be a non-empty str, got {name!r}")
    followed: object = selection
    if not isinstance(followed, LogSelection):
        raise TypeError(
            f"process_manager() follows a selection from projections.select(), got {selection!r}"
        )
    callbacks: tuple[object, object, object] = (route, initial, handle)
    if not all(callable(callback) for callback in callbacks):
        raise TypeError("route, initial and handle must be callables")
    by_name: dict[str, Target[Any]] = {}
    for target in targets:
        given_target: object = target
        if not isinstance(given_target, Target):
            raise TypeError(
                f"process manager {name!r}: targets takes Target values, got {target!r}"
            )
        if target.name in by_name:
            raise ValueError(f"process manager {name!r}: two targets are named {target.name!r}")
        by_name[target.name] = target
    durable = not all(isinstance(part.store, MemoryStore) for part in selection._selection.parts)
    if durable:
        given_codec: object = codec
        if not isinstance(given_codec, Codec):
            raise TypeError(
                f"process manager {name!r} follows {selection!r}, a durable store, where it "
                f"keeps its instances and outbox: give it codec= (a Codec of its commands "
                f"and states), got {codec!r}"
            )
        if not by_name:
            raise ValueError(
                f"process manager {name!r} follows {selection!r}, a durable store, where a "
                "stored command names its target: list the systems it sends to in targets="
            )
    engine: Engine[Any, Any] = Engine(
        name,
        route,
        initial,
        handle,
        require_seconds("command_timeout", command_timeout),
        codec if durable else None,
        by_name,
        require_positive_int("max_in_flight", max_in_flight),
        Stop() if on_error is None else check_error_policy(on_error),
    )
    return ProcessManager._make(selection, engine)


def supervised(
    manager: ProcessManager[EventT, StateT],
) -> tuple[ProcessManagerHandle, ChildSpecification[ProcessManagerHandle]]:
    """Describe a supervised run of ``manager``: ``(handle, child_specification)``.

    Add the specification to a supervisor after the stores and the systems the manager
    sends to. A restart by its supervisor continues from where it was: on a durable
    store from what is stored, on the memory store from what the manager object keeps.
    The child is ``Transient``: a manager stopped by its handler raising stays stopped.

    Example::

        handle, spec = process_managers.supervised(transfers)
        supervisor = static_supervisor.new(OneForOne).add(store_spec).add(bank_spec).add(spec)
    """
    given: object = manager
    if not isinstance(given, ProcessManager):
        raise TypeError(f"supervised() takes a process manager, got {manager!r}")
    engine = manager._engine
    handle = ProcessManagerHandle._make(engine)
    source = manager._selection._log_source()
    storage = source if engine.codec is not None and isinstance(source, ProcessStorage) else None

    async def run(
        *, task_status: trio.TaskStatus[ProcessManagerHandle] = trio.TASK_STATUS_IGNORED
    ) -> None:
        task_status.started(handle)
        # One runner at a time: another (a second supervised() of it, or on PostgreSQL
        # another process) waits, and takes over when this one ends.
        async with source.hold(runner_name(engine.name)):
            engine.state = ProcessManagerState.RUNNING
            engine._changed()
            try:
                with trio.CancelScope() as scope:
                    engine.scope = scope
                    if storage is not None:
                        engine.storage = storage
                        try:
                            await engine.load(storage)
                        except ProcessDataError as exc:
                            engine.stop(exc, "loading its stored state")
                            return
                    async with trio.open_nursery() as nursery:
                        for lane in range(len(engine.lanes)):
                            nursery.start_soon(engine.dispatch, lane)
                        nursery.start_soon(engine.run_timers)
                        nursery.start_soon(engine.measure_lag, source.count_after)
                        if storage is not None:
                            nursery.start_soon(engine.persist, storage)
                        async with following(
                            source, engine.position, 100, source.poll_interval
                        ) as entries:
                            async for entry in entries:
                                if not await engine.on_entry(entry):
                                    return
                                await engine.room()
            finally:
                engine.scope = None
                if storage is not None and engine.state is ProcessManagerState.RUNNING:
                    await engine.save_last(storage)
                if engine.state is not ProcessManagerState.STOPPED:
                    engine.state = ProcessManagerState.NOT_RUNNING
                engine._changed()

    async def start(nursery: trio.Nursery) -> StartResult[ProcessManagerHandle]:
        if engine.state is ProcessManagerState.STOPPED:
            engine.state = ProcessManagerState.NOT_RUNNING
        return Ok(Started(await nursery.start(run)))

    spec = restart(worker(start), Transient)
    return handle, replace(spec, label=f"process manager {manager.name!r}")
