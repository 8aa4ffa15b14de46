"""The log source: the little a projection needs from a store, whatever the store.

The projection engine (``_projections.engine``) and the log follower
(``_projections.follow``) talk to a store only through a :class:`LogSource`; each store
has an adapter (``_stores.memory.projection``, ``_stores.sqlite.projection`` and
``_stores.postgres.projection``), which its store gives with its ``_log_source`` method
(:class:`HasLogSource`): the projections ask the store, and know no backend.
A source can:

- read a page of log entries after a position (:meth:`LogSource.read`), and say where
  the log ends (:meth:`~LogSource.head`) and how many entries follow a position
  (:meth:`~LogSource.count_after`);
- wait until the log may have changed (:meth:`~LogSource.watch`: in-process wake-ups
  for memory and SQLite, ``LISTEN``/``NOTIFY`` for PostgreSQL; the engine adds a slow
  poll, so a lost wake-up only costs latency);
- load and write a projection's :class:`Checkpoint` (:meth:`~LogSource.load_checkpoint`,
  :meth:`~LogSource.write_checkpoint`). A write is a compare-and-set: it states the
  checkpoint it expects, and fails with :class:`CheckpointMoved` when the stored one
  differs (a reset, or another runner). It may record a :class:`DeadLetter` and, where
  the store can, run the projection's own work in the same transaction, so that the
  read model and the checkpoint commit together;
- keep one runner per projection (:meth:`~LogSource.hold`: a lock in this process for
  memory and SQLite, an advisory lock across processes for PostgreSQL);
- reset a projection (:meth:`~LogSource.reset`) and list its dead letters.

What a source reads is a :class:`Selection`: one or more aggregate types of one
database, each with all its events or only some event types. The store filters in its
query, so events left out are neither read into Python nor decoded. A projection's
checkpoint and dead letters belong to its name within the selection's :attr:`scope`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

from typing_extensions import final

from .._runtime.result import Result
from .errors import EventStoreError
from .records import EventEnvelop

EventT_co = TypeVar("EventT_co", covariant=True)
EntryT_co = TypeVar("EntryT_co", covariant=True)
TxT_co = TypeVar("TxT_co", covariant=True)
TxT_contra = TypeVar("TxT_contra", contravariant=True)
ViewT_co = TypeVar("ViewT_co", covariant=True)

SEVERAL_TYPES = ""
"""The scope of a selection of several aggregate types (no aggregate type is empty)."""


@final
@dataclass(frozen=True, slots=True)
class SelectedType(Generic[ViewT_co]):
    """One aggregate type of a :class:`Selection`: its store, and the event classes wanted.

    ``event_classes`` is ``None`` for every event of the type.
    """

    store: ViewT_co
    aggregate_type: str
    event_classes: tuple[type[object], ...] | None = None


@final
@dataclass(frozen=True, slots=True)
class Selection(Generic[ViewT_co]):
    """What a log source reads: aggregate types of one database, in the order given.

    A selection of one aggregate type keeps its projections' checkpoints under that
    type, as a projection given the store itself does; one of several types keeps them
    under :data:`SEVERAL_TYPES`, so a projection's name alone identifies it there.
    """

    parts: tuple[SelectedType[ViewT_co], ...]

    @property
    def scope(self) -> str:
        """The key its projections' checkpoints and dead letters are kept under."""
        parts = self.parts
        return parts[0].aggregate_type if len(parts) == 1 else SEVERAL_TYPES

    @property
    def filtered(self) -> bool:
        """Whether some event types of a selected aggregate type are left out."""
        return any(part.event_classes is not None for part in self.parts)

    def describe(self) -> str:
        """The selection for messages: ``account``, ``account[Deposited], transfer``."""
        return ", ".join(
            part.aggregate_type
            if part.event_classes is None
            else f"{part.aggregate_type}[{', '.join(c.__qualname__ for c in part.event_classes)}]"
            for part in self.parts
        )


class LogRecord(Protocol[EventT_co]):
    """One entry of a store's global log, as every store's entries look.

    ``sqlite_store.LogEntry`` (also PostgreSQL's) and ``memory_store.MemoryLogEntry``
    both fit it: annotate a handler's argument with ``LogRecord[Event]`` to write one
    handler for every store.

    Example::

        def on_event(entry: projections.LogRecord[BankAccountEvent]) -> None:
            print(entry.position, entry.aggregate_type, entry.envelope.aggregate_id)
    """

    @property
    def position(self) -> int:
        """Where the entry is in the log; positions only grow, in commit order."""
        ...

    @property
    def recorded_at(self) -> datetime:
        """When the event was committed, in UTC."""
        ...

    @property
    def envelope(self) -> EventEnvelop[EventT_co]:
        """The event, with its aggregate, sequence and metadata."""
        ...

    @property
    def aggregate_type(self) -> str:
        """The aggregate type of the event's aggregate (ids are unique within a type)."""
        ...


@final
@dataclass(frozen=True, slots=True)
class LogPage(Generic[EntryT_co]):
    """What one read of a log source returns: entries, and how far the read looked.

    ``scanned_to``: every selected entry with a position up to it is in ``entries`` or
    before the position read after. It is the last entry's position when the page is
    full, else the end of the whole log when it was read: a projection that handled the
    page has then handled everything it selects up to there, although the log's last
    events may be of types it does not select.
    """

    entries: Sequence[EntryT_co]
    scanned_to: int


@final
@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A projection's stored progress: the last position it handled.

    ``reset_pending`` is set by a reset and cleared by the projection once it has run
    its reset hook, so a reset requested while the projection is not running (by the
    command-line tool, say) still clears the read model before the rebuild.
    """

    position: int
    reset_pending: bool = False


@final
@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An event a projection skipped, with the error that made it skip.

    Recorded by the :class:`~trio_eventsourcing.projections.Skip` policy, in the same
    transaction as the checkpoint that moves past the event; listed by
    :func:`~trio_eventsourcing.projections.dead_letters`; removed by a reset.

    Example::

        for letter in (await projections.dead_letters(store, "balances")).unwrap():
            print(letter.position, letter.aggregate_id, letter.sequence, letter.error)
    """

    projection: str
    """The name of the projection that skipped the event."""
    position: int
    """The event's position in the log."""
    aggregate_id: str
    sequence: int
    event_type: str
    """The stored type name (for the memory store, the payload's class name)."""
    error: str
    """The exception the handler raised, as ``"TypeName: message"``."""
    recorded_at: datetime
    """When the event was skipped (UTC)."""


@final
@dataclass(frozen=True, slots=True)
class CheckpointMoved:
    """A write's answer: the stored checkpoint is not the one it expected; nothing changed."""


@final
@dataclass(frozen=True, slots=True)
class HandlerRaised:
    """A write's answer: its work raised ``cause``, so its transaction was rolled back."""

    cause: Exception


CheckpointResult = Result[None, EventStoreError | CheckpointMoved | HandlerRaised]
"""What a checkpoint write returns."""


@final
@dataclass(frozen=True, slots=True)
class CheckpointWrite(Generic[TxT_contra]):
    """One write of a projection's checkpoint, all of it or nothing.

    ``expected`` is the checkpoint the writer last saw (``None``: there must be none yet);
    ``work``, if given, runs first in the same transaction and is only possible where
    :attr:`LogSource.transactional` is true.
    """

    expected: Checkpoint | None
    new: Checkpoint
    dead_letter: DeadLetter | None = None
    work: Callable[[TxT_contra], object] | None = None


class LogWatch(Protocol):
    """Wake-ups of a log, while a follower watches it (see ``LogWatchers``)."""

    def token(self) -> int:
        """Note this before reading the log."""
        ...

    async def wait(self, token: int) -> None:
        """Return once the log may have changed since ``token``."""
        ...

    def resets(self, name: str) -> int:
        """How many resets of projection ``name`` this process has asked for so far."""
        ...


class LogSource(Protocol[EntryT_co, TxT_co]):
    """A store's global log and projection tables, as the projection engine uses them.

    Every async method checkpoints. Failures of the store are ``Error(EventStoreError)``
    values, never exceptions.
    """

    @property
    def description(self) -> str:
        """The store, for log messages and errors (never with credentials)."""
        ...

    @property
    def poll_interval(self) -> float:
        """Seconds between polls when no wake-up comes (the default for this store)."""
        ...

    @property
    def transactional(self) -> bool:
        """Whether a checkpoint write can run a projection's work in its transaction."""
        ...

    def watch(self) -> AbstractAsyncContextManager[LogWatch]:
        """Watch the log for the duration of a block."""
        ...

    def hold(self, name: str) -> AbstractAsyncContextManager[None]:
        """Wait for, then hold, the right to run projection ``name``, for the block."""
        ...

    async def read(self, after: int, limit: int) -> Result[LogPage[EntryT_co], EventStoreError]:
        """Up to ``limit`` entries with a position greater than ``after``, oldest first."""
        ...

    async def head(self) -> Result[int, EventStoreError]:
        """The position of the last entry (0 if the log is empty)."""
        ...

    async def count_after(self, position: int) -> Result[int, EventStoreError]:
        """How many entries have a position greater than ``position``."""
        ...

    async def load_checkpoint(self, name: str) -> Result[Checkpoint | None, EventStoreError]:
        """The stored checkpoint of projection ``name``, or ``None`` if it has none."""
        ...

    async def write_checkpoint(self, name: str, write: CheckpointWrite[TxT_co]) -> CheckpointResult:
        """Write a checkpoint (see :class:`CheckpointWrite`), all or nothing."""
        ...

    async def reset(self, name: str) -> Result[None, EventStoreError]:
        """Set the checkpoint back to 0 with a reset pending; drop the dead letters."""
        ...

    async def dead_letters(self, name: str) -> Result[list[DeadLetter], EventStoreError]:
        """The dead letters of projection ``name``, oldest first."""
        ...


@runtime_checkable
class HasLogSource(Protocol[EntryT_co, TxT_co]):
    """A store that gives projections its log: the state of every store (``MemoryStore``, ...).

    The projections' functions find a store's :class:`LogSource` by asking it; a new store
    plugs in by providing this method, and nothing else in the projections changes.
    """

    def _log_source(self, selection: Selection[Any] | None = None) -> LogSource[EntryT_co, TxT_co]:
        """The log and projection tables, as the projection engine uses them.

        ``selection``: what to read, of this store's database (its parts are stores of
        this store's class); ``None``: every event of this store's aggregate type.
        """
        ...
