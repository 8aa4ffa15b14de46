"""What a projection is: a name, a handler, where it starts, and what it does on errors.

A :class:`Projection` only describes; ``projections.supervised(store, projection)`` runs
it (``_projections.engine``). Three kinds of handler, made by three factories:

- :func:`per_event`: called with each log entry, in position order;
- :func:`per_batch`: called with each batch of entries read from the log;
- :func:`transactional`: called with the store's transaction handle and a batch, inside
  the transaction that also advances the checkpoint (SQLite: an ``sqlite3.Connection``,
  run on the store's writer thread; PostgreSQL: a ``psycopg.Connection``, in a worker
  thread), so the read model changes exactly once per event.

``per_event`` and ``per_batch`` handlers may be plain functions or coroutine functions:
what a handler returns is ignored, except that an awaitable is awaited.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import trio
from typing_extensions import Never, TypeAliasType, final

from .._runtime.checks import require_positive_int

EntryT = TypeVar("EntryT")
EntryT_contra = TypeVar("EntryT_contra", contravariant=True)
TxT = TypeVar("TxT")
TxT_contra = TypeVar("TxT_contra", contravariant=True)


@final
class Start(enum.Enum):
    """Where a projection starts the first time it runs (later, it resumes from its checkpoint)."""

    ORIGIN = "origin"
    """From the first event of the log: the read model is built from the whole history."""
    CURRENT = "current"
    """After the last event committed when it first starts: only new events are handled."""


Origin = Start.ORIGIN
"""Start from the first event of the log."""
Current = Start.CURRENT
"""Start after the events already in the log."""


@final
class CheckpointStorage(enum.Enum):
    """Where a projection keeps its checkpoint: with its read model, wherever that lives.

    The checkpoint says which events the read model holds, so it must last exactly as
    long as the read model does.

    Example::

        counts: dict[str, int] = {}
        projection = projections.per_event(
            "counts", count, on_reset=counts.clear, checkpoint=projections.InMemory
        )
        assert projection.checkpoint_storage is projections.InMemory
    """

    STORE = "store"
    """In the store, beside the events, for a read model that outlives the process (a
    table, a search index, emails sent). The projection resumes from it after a restart
    of the process."""
    MEMORY = "memory"
    """In this process, with the projection's handle, for a read model in this process
    (a ``dict``), gone when the process ends. Each run of ``projections.supervised``
    clears the read model (``on_reset``) and builds it from the start; a restart by the
    supervisor resumes from the checkpoint kept in memory."""


InStore = CheckpointStorage.STORE
"""Keep the checkpoint in the store, for a read model that outlives the process."""
InMemory = CheckpointStorage.MEMORY
"""Keep the checkpoint in memory, for a read model that lives in this process."""


@final
@dataclass(frozen=True, slots=True)
class Stop:
    """On a handler error, stop the projection: it stays stopped, at the failed event.

    The checkpoint stays before the event, so the event is handled again when the
    projection is started again (after a fix, say). The supervisor does not restart a
    stopped projection; :meth:`ProjectionHandle.statistics` shows it ``STOPPED``.

    Example::

        projections.per_event("balances", on_event, on_error=projections.Stop())
    """


@final
@dataclass(frozen=True, slots=True)
class Skip:
    """On a handler error, skip the event: record it as a dead letter, with the error.

    The dead letter and the checkpoint past the event are written together; the skip is
    logged and counted in ``statistics().skips``; :func:`dead_letters` lists them. A
    ``per_batch`` or ``transactional`` handler that fails on a batch is called again with
    one event at a time, so that only the failing event is skipped.

    Example::

        projections.per_event("emails", send_email, on_error=projections.Skip())
    """


@final
@dataclass(frozen=True, slots=True)
class Retry:
    """On a handler error, call it again after a pause that doubles each time, boundedly.

    After ``attempts`` retries of the same event (or batch) that all failed, ``then``
    decides: :class:`Stop` (the default) or :class:`Skip`. The pauses are
    ``initial_backoff``, twice that, four times ... never more than ``max_backoff``
    seconds. Each retry is logged and counted in ``statistics().retries``.

    Example::

        policy = projections.Retry(attempts=5, initial_backoff=0.5, then=projections.Skip())
    """

    attempts: int = 5
    """Retries after the first failure (0: none)."""
    initial_backoff: float = 0.1
    """Seconds before the first retry."""
    max_backoff: float = 30.0
    """The longest pause between two retries, in seconds."""
    then: Stop | Skip = field(default_factory=Stop)
    """What to do when every retry failed."""

    def __post_init__(self) -> None:
        attempts: object = self.attempts
        if not isinstance(attempts, int) or isinstance(attempts, bool):
            raise TypeError(f"attempts must be an int, got {attempts!r}")
        if self.attempts < 0:
            raise ValueError(f"attempts must be 0 or more, got {self.attempts}")
        for name in ("initial_backoff", "max_backoff"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"{name} must be a number of seconds, got {value!r}")
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number of seconds >= 0, got {value}")
        if not isinstance(self.then, (Stop, Skip)):
            raise TypeError(f"then must be Stop() or Skip(), got {self.then!r}")

    def backoff(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1 for the first)."""
        # min() first on the exponent, so a long run of retries cannot overflow a float.
        return min(self.initial_backoff * 2.0 ** min(retry - 1, 64), self.max_backoff)


ErrorPolicy = TypeAliasType("ErrorPolicy", Retry | Skip | Stop)
"""What a projection does when its handler raises: :class:`Retry`, :class:`Skip`, :class:`Stop`."""

EventHandler = TypeAliasType(
    "EventHandler",
    Callable[[EntryT_contra], object],
    type_params=(EntryT_contra,),
)
"""A handler called with each log entry: a function or a coroutine function."""

BatchHandler = TypeAliasType(
    "BatchHandler",
    Callable[[Sequence[EntryT_contra]], object],
    type_params=(EntryT_contra,),
)
"""A handler called with each batch of log entries: a function or a coroutine function."""

TransactionalHandler = TypeAliasType(
    "TransactionalHandler",
    Callable[[TxT_contra, Sequence[EntryT_contra]], object],
    type_params=(TxT_contra, EntryT_contra),
)
"""A handler called, in a worker thread, with the store's transaction handle and a batch."""

ResetHook = TypeAliasType("ResetHook", Callable[[], object])
"""Called before a rebuild, to clear the read model: a function or a coroutine function."""

TransactionalResetHook = TypeAliasType(
    "TransactionalResetHook", Callable[[TxT_contra], object], type_params=(TxT_contra,)
)
"""Called with the store's transaction handle before a rebuild, to clear the read model."""

DEFAULT_BATCH_SIZE = 100


@final
class Projection(Generic[EntryT_contra, TxT_contra]):
    """A durable projection: a name, a handler and its options; made by a factory.

    ``EntryT_contra`` is the type of log entry its handler takes (for example
    ``sqlite_store.LogEntry[Event]``); ``TxT_contra`` the transaction handle a
    :func:`transactional` handler takes (``object`` for the others, which run with any
    store). Run it with ``projections.supervised(store, projection)``.
    """

    __slots__ = (
        "_batch_size",
        "_checkpoint_storage",
        "_name",
        "_on_batch",
        "_on_error",
        "_on_event",
        "_on_reset",
        "_on_reset_in",
        "_poll_interval",
        "_runner_lock",
        "_start",
        "_transactional",
    )
    _name: str
    _on_event: Callable[[EntryT_contra], object] | None
    _on_batch: Callable[[Sequence[EntryT_contra]], object] | None
    _transactional: Callable[[TxT_contra, Sequence[EntryT_contra]], object] | None
    _on_reset: Callable[[], object] | None
    _on_reset_in: Callable[[TxT_contra], object] | None
    _start: Start
    _on_error: Retry | Skip | Stop
    _batch_size: int
    _poll_interval: float | None
    _checkpoint_storage: CheckpointStorage
    # Held by the one runner of an in-memory projection: its read model is this object's
    # handlers', so two runs of it at once would change the read model twice.
    _runner_lock: trio.Lock

    def __init__(self, _private: Never) -> None:
        raise TypeError(
            "Projection has no public constructor: use projections.per_event(), "
            "per_batch() or transactional()"
        )

    @property
    def name(self) -> str:
        """The projection's name, its checkpoint's key in the store."""
        return self._name

    @property
    def start(self) -> Start:
        """Where it starts the first time it runs."""
        return self._start

    @property
    def on_error(self) -> ErrorPolicy:
        """What it does when its handler raises."""
        return self._on_error

    @property
    def batch_size(self) -> int:
        """The most log entries read (and, for batch handlers, handled) at once."""
        return self._batch_size

    @property
    def poll_interval(self) -> float | None:
        """Seconds between polls of the log when no wake-up comes (``None``: the store's)."""
        return self._poll_interval

    @property
    def checkpoint_storage(self) -> CheckpointStorage:
        """Where it keeps its checkpoint, :data:`InStore` or :data:`InMemory`."""
        return self._checkpoint_storage

    @property
    def is_transactional(self) -> bool:
        """Whether its handler runs inside the transaction that advances its checkpoint."""
        return self._transactional is not None

    def __repr__(self) -> str:
        kind = (
            "per_event"
            if self._on_event is not None
            else "per_batch"
            if self._on_batch is not None
            else "transactional"
        )
        return (
            f"<Projection {self._name!r} {kind} start={self._start.value} "
            f"checkpoint={self._checkpoint_storage.value}>"
        )


def check_error_policy(on_error: object) -> ErrorPolicy:
    """``on_error`` checked: a ``Retry(...)``, ``Skip()`` or ``Stop()``.

    Example::

        policy = check_error_policy(projections.Skip())
    """
    if not isinstance(on_error, (Retry, Skip, Stop)):
        raise TypeError(f"on_error must be Retry(...), Skip() or Stop(), got {on_error!r}")
    return on_error


def _check_options(
    name: object,
    handler: object,
    start: object,
    on_error: object,
    batch_size: int,
    poll_interval: float | None,
    on_reset: object,
    checkpoint: object = CheckpointStorage.STORE,
) -> tuple[str, int, float | None]:
    if not isinstance(name, str) or not name:
        raise TypeError(f"a projection's name must be a non-empty str, got {name!r}")
    if not callable(handler):
        raise TypeError(f"a projection's handler must be callable, got {handler!r}")
    if not isinstance(start, Start):
        raise TypeError(f"start must be projections.Origin or projections.Current, got {start!r}")
    if not isinstance(checkpoint, CheckpointStorage):
        raise TypeError(
            f"checkpoint must be projections.InStore or projections.InMemory, got {checkpoint!r}"
        )
    check_error_policy(on_error)
    size = require_positive_int("batch_size", batch_size)
    if poll_interval is not None:
        if isinstance(poll_interval, bool) or not isinstance(poll_interval, (int, float)):
            raise TypeError(f"poll_interval must be a number of seconds, got {poll_interval!r}")
        if not (math.isfinite(poll_interval) and poll_interval > 0):
            raise ValueError(
                f"poll_interval must be a positive number of seconds, got {poll_interval}"
            )
    if on_reset is not None and not callable(on_reset):
        raise TypeError(f"on_reset must be callable, got {on_reset!r}")
    return name, size, poll_interval


def _make(
    name: str,
    start: Start,
    on_error: ErrorPolicy,
    batch_size: int,
    poll_interval: float | None,
    *,
    on_event: Callable[[EntryT], object] | None = None,
    on_batch: Callable[[Sequence[EntryT]], object] | None = None,
    in_transaction: Callable[[TxT, Sequence[EntryT]], object] | None = None,
    on_reset: Callable[[], object] | None = None,
    on_reset_in: Callable[[TxT], object] | None = None,
    checkpoint: CheckpointStorage = CheckpointStorage.STORE,
) -> Projection[EntryT, TxT]:
    projection: Projection[EntryT, TxT] = object.__new__(Projection)
    projection._name = name
    projection._on_event = on_event
    projection._on_batch = on_batch
    projection._transactional = in_transaction
    projection._on_reset = on_reset
    projection._on_reset_in = on_reset_in
    projection._start = start
    projection._on_error = on_error
    projection._batch_size = batch_size
    projection._poll_interval = poll_interval
    projection._checkpoint_storage = checkpoint
    projection._runner_lock = trio.Lock()
    return projection


def per_event(
    name: str,
    handler: EventHandler[EntryT],
    *,
    start: Start = Origin,
    on_error: ErrorPolicy | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_reset: ResetHook | None = None,
    poll_interval: float | None = None,
    checkpoint: CheckpointStorage = InStore,
) -> Projection[EntryT, object]:
    """A projection whose handler is called with each log entry, in position order.

    Events are handled at least once: the checkpoint is written after each batch, so a
    projection that crashes (or whose process dies) handles the unfinished batch again
    when it resumes. Make the handler idempotent, or use :func:`transactional`.

    Args:
        name: The projection's name, unique per store: its checkpoint's key.
        handler: Called with each entry (``entry.position``, ``entry.envelope``); a
            function, or a coroutine function (awaited). A handler that raises is dealt
            with by ``on_error``.
        start: :data:`Origin` (the default) or :data:`Current`: where to start the first
            time; afterwards the projection resumes from its checkpoint.
        on_error: :class:`Retry` (the default: ``Retry()``, then stop), :class:`Skip`
            or :class:`Stop`.
        batch_size: The most entries read from the log at once, and handled between two
            checkpoint writes.
        on_reset: Called (once) before a rebuild requested by :func:`reset`, to clear
            the read model; with ``checkpoint=InMemory``, also before each run builds it.
        poll_interval: Seconds between polls of the log when no wake-up comes; ``None``
            for the store's default (writes of other processes are only seen by a poll
            on SQLite).
        checkpoint: Where the checkpoint is kept, which must be where the read model
            is. :data:`InStore` (the default): in the store, for a read model that
            outlives the process (a table, an index, emails sent). :data:`InMemory`: in
            this process, for a read model in this process (a ``dict``): each run of
            ``projections.supervised`` calls ``on_reset``, then handles the log from
            ``start``, so the read model is whole again after the process restarts; a
            restart by the supervisor resumes from the checkpoint kept in memory.

    Returns:
        The projection, for ``projections.supervised(store, projection)``.

    Example::

        balances: dict[str, Decimal] = {}

        def on_event(entry: projections.LogRecord[BankAccountEvent]) -> None:
            event = entry.envelope.payload
            if isinstance(event, CustomerDepositedCash):
                balances[entry.envelope.aggregate_id] = event.new_balance

        # The read model is a dict: the checkpoint lives in memory with it.
        projection = projections.per_event(
            "balances", on_event, on_reset=balances.clear, checkpoint=projections.InMemory
        )
    """
    policy = Retry() if on_error is None else on_error
    checked, size, poll = _check_options(
        name, handler, start, policy, batch_size, poll_interval, on_reset, checkpoint
    )
    return _make(
        checked,
        start,
        policy,
        size,
        poll,
        on_event=handler,
        on_reset=on_reset,
        checkpoint=checkpoint,
    )


def per_batch(
    name: str,
    handler: BatchHandler[EntryT],
    *,
    start: Start = Origin,
    on_error: ErrorPolicy | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_reset: ResetHook | None = None,
    poll_interval: float | None = None,
    checkpoint: CheckpointStorage = InStore,
) -> Projection[EntryT, object]:
    """A projection whose handler is called with each batch of log entries.

    As :func:`per_event`, but the handler gets up to ``batch_size`` entries at once (in
    position order, never an empty batch), which suits read models that write in bulk.
    On an error the whole batch is retried; when skipping, the batch is handled again
    one entry at a time so that only the failing entry is skipped. ``checkpoint`` is as
    for :func:`per_event`: :data:`InMemory` for a read model in this process.

    Example::

        async def on_batch(entries: Sequence[projections.LogRecord[BankAccountEvent]]) -> None:
            await search_index.add_many([entry.envelope for entry in entries])

        projection = projections.per_batch("search", on_batch, batch_size=500)
    """
    policy = Retry() if on_error is None else on_error
    checked, size, poll = _check_options(
        name, handler, start, policy, batch_size, poll_interval, on_reset, checkpoint
    )
    return _make(
        checked,
        start,
        policy,
        size,
        poll,
        on_batch=handler,
        on_reset=on_reset,
        checkpoint=checkpoint,
    )


def transactional(
    name: str,
    handler: TransactionalHandler[TxT, EntryT],
    *,
    start: Start = Origin,
    on_error: ErrorPolicy | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_reset: TransactionalResetHook[TxT] | None = None,
    poll_interval: float | None = None,
) -> Projection[EntryT, TxT]:
    """A projection whose read model lives in the store, changed in the checkpoint's transaction.

    The handler gets the store's transaction handle (for SQLite, the store's
    ``sqlite3.Connection``, inside ``BEGIN IMMEDIATE``; for PostgreSQL, a
    ``psycopg.Connection`` inside a transaction block) and a batch of entries; the
    checkpoint past the batch is written in the same transaction, after the handler
    returns. If the handler raises, or the process dies before the commit, nothing of it
    is kept and the batch is handled again: every event changes the read model exactly
    once. The handler runs in a thread, never on the Trio thread (on SQLite, the store's
    writer thread, holding the store's write lock while it runs): keep it short, do not
    commit, roll back or close the connection, and do not keep it after it returns.

    Args:
        name: The projection's name, unique per store.
        handler: ``handler(connection, entries)``, a plain function.
        start: :data:`Origin` (the default) or :data:`Current`.
        on_error: :class:`Retry` (the default, then stop), :class:`Skip` or :class:`Stop`.
        batch_size: The most entries per handler call and transaction.
        on_reset: ``on_reset(connection)``: clears the read model, in the transaction that
            sets the checkpoint back to 0, when :func:`reset` asked for a rebuild.
        poll_interval: Seconds between polls when no wake-up comes; ``None``: the store's.

    Returns:
        The projection, for ``projections.supervised(store, projection)``; only stores
        with transactions take it (SQLite, PostgreSQL), as its type says.

    Example::

        def on_batch(db: sqlite3.Connection, entries: Sequence[LogEntry[Event]]) -> None:
            db.executemany(
                "INSERT OR REPLACE INTO balances (account, balance) VALUES (?, ?)",
                [(e.envelope.aggregate_id, str(e.envelope.payload.balance)) for e in entries],
            )

        projection = projections.transactional(
            "balances", on_batch, on_reset=lambda db: db.execute("DELETE FROM balances")
        )
    """
    policy = Retry() if on_error is None else on_error
    checked, size, poll = _check_options(
        name, handler, start, policy, batch_size, poll_interval, on_reset
    )
    return _make(checked, start, policy, size, poll, in_transaction=handler, on_reset_in=on_reset)
