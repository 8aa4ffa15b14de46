"""Inspection of a store without the user's domain types: what a store holds, as stored.

The command line reads the tables directly, the same way for every store, so it needs no
codec and no event classes: payloads and metadata are the JSON texts the codec wrote.
Each backend gives its own :class:`Inspector` (``_stores.sqlite.inspector``,
``_stores.postgres.inspector``), which the command line finds through ``_stores.backends``
by the DB argument. Every inspector checks that the database is a trio-eventsourcing
store of a schema version it knows before reading anything, and only reads, except for
:meth:`Inspector.reset_projection`, which the user asks for by name.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol, TypeAlias

from typing_extensions import final


@final
@dataclass(frozen=True, slots=True)
class AggregateSummary:
    """One aggregate: its id and type, how many events it has, its last sequence."""

    aggregate_id: str
    aggregate_type: str
    events: int
    last_sequence: int
    snapshot_sequence: int | None
    """The sequence of its latest snapshot, or ``None`` if it has none."""


@final
@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One event row, with its payload and metadata as the JSON texts the codec wrote."""

    position: int
    recorded_at: str
    """ISO 8601, UTC."""
    aggregate_type: str
    aggregate_id: str
    sequence: int
    event_type: str
    event_version: int
    metadata: str
    payload: str
    correlation_id: str
    """The correlation id of the command that stored it (empty: none was kept)."""
    causation_id: str
    """The causation id of the command that stored it (empty: none was kept)."""


@final
@dataclass(frozen=True, slots=True)
class TypeCount:
    """How many events of one event type and version an aggregate type has."""

    aggregate_type: str
    event_type: str
    event_version: int
    events: int


@final
@dataclass(frozen=True, slots=True)
class AggregateTypeCount:
    """How many aggregates and events one aggregate type has."""

    aggregate_type: str
    aggregates: int
    events: int


CellValue: TypeAlias = "str | int | float | bool | None"
"""A value of a column the inspection does not know, as read (times as ISO 8601 text)."""


@final
@dataclass(frozen=True, slots=True)
class ProjectionInfo:
    """One projection: its checkpoint, how far behind the log it is, its dead letters."""

    name: str
    aggregate_type: str | None
    """The aggregate type whose log it reads, where checkpoints are kept per type."""
    checkpoint: int
    lag: int
    """Events in its log after the checkpoint."""
    dead_letters: int | None
    """``None`` when the store has no dead-letter table."""
    other: tuple[tuple[str, CellValue], ...]
    """The checkpoint table's other columns (``reset_pending``, ``updated_at``, ...)."""


@final
@dataclass(frozen=True, slots=True)
class StoreStats:
    """What a whole store holds."""

    store: str
    """The file or server (without its password) and the kind of store."""
    schema_version: int
    events: int
    aggregates: int
    snapshots: int
    last_position: int
    first_recorded: str | None
    last_recorded: str | None
    aggregate_types: tuple[AggregateTypeCount, ...]
    event_types: tuple[TypeCount, ...]
    projections: tuple[ProjectionInfo, ...] | None
    """``None`` when the store has no projections table."""


@final
@dataclass(frozen=True, slots=True)
class ProjectionReset:
    """What ``projections reset`` changed."""

    name: str
    aggregate_type: str | None
    previous_checkpoint: int
    dead_letters_removed: int
    reset_pending: bool
    """Whether the store marked the reset, so the projection runs its reset hook."""


@final
@dataclass(frozen=True, slots=True)
class ProcessManagerInfo:
    """One process manager: where it is in the log, and what it has pending."""

    name: str
    aggregate_type: str
    """The aggregate type it reads; empty for a selection of several types."""
    position: int
    """Every selected event up to this position has been decided on."""
    lag: int
    """Events after ``position`` (of several types: every event, so an upper bound)."""
    updated_at: str
    """When its last step was saved, ISO 8601, UTC."""
    instances: int
    outbox: int
    """Commands decided and not answered when its last step was saved."""
    timers: int
    """Timers set and not yet fired."""
    next_timer_due: str | None
    """When the first of its timers is due, ISO 8601, UTC; ``None`` without timers."""


@final
@dataclass(frozen=True, slots=True)
class StoredInstance:
    """A live instance of a process manager, its state as the JSON text its codec wrote."""

    instance: str
    state_type: str
    state_version: int
    state: str
    correlation_id: str
    """The correlation id of the commands it sends."""


@final
@dataclass(frozen=True, slots=True)
class StoredCommand:
    """A command in a process manager's outbox, as the JSON text its codec wrote."""

    sequence: int
    """Its place in the outbox: commands are sent in this order."""
    instance: str
    """The instance that decided it."""
    target: str
    """The name of the system it is sent to."""
    aggregate_id: str
    command_type: str
    command_version: int
    command: str
    command_key: str
    """The idempotency key it is sent with, the same on every try."""
    correlation_id: str
    causation_id: str


@final
@dataclass(frozen=True, slots=True)
class StoredTimer:
    """A pending timer of a process manager instance."""

    instance: str
    timer: str
    due: str
    """ISO 8601, UTC."""
    set_by: str
    """The key of the decision that set it."""


@final
@dataclass(frozen=True, slots=True)
class ProcessManagerDetail:
    """One process manager with its instances, its outbox and its timers, read at once."""

    info: ProcessManagerInfo
    instances: tuple[StoredInstance, ...]
    """By instance id."""
    outbox: tuple[StoredCommand, ...]
    """By sequence: the order they are sent in."""
    timers: tuple[StoredTimer, ...]
    """By due time."""


class Inspector(Protocol):
    """Reads one store's tables; opened by its backend (``inspection.backend``), then closed.

    Every failure is an :class:`~.errors.InspectionError` of one line.
    """

    @property
    def description(self) -> str:
        """The file or server, for messages (never with a password)."""
        ...

    def aggregates(self, batch: int) -> Iterator[list[AggregateSummary]]:
        """Every aggregate (an id of one type), by id then type, in batches of at most ``batch``."""
        ...

    def events(self, aggregate_id: str, aggregate_type: str | None) -> list[StoredEvent]:
        """The events of ``aggregate_id``, by type and sequence (empty if there are none).

        ``aggregate_type`` picks one type; ``None``: of any type.
        """
        ...

    def log(self, after: int, limit: int, aggregate_type: str | None = None) -> list[StoredEvent]:
        """Up to ``limit`` events after position ``after``, by position.

        Only those of ``aggregate_type``, if given.
        """
        ...

    def stats(self) -> StoreStats:
        """Totals, counts per type, snapshots and projections."""
        ...

    def reset_projection(self, name: str, aggregate_type: str | None) -> ProjectionReset:
        """Set a projection's checkpoint back to the start and drop its dead letters."""
        ...

    def process_managers(self) -> tuple[ProcessManagerInfo, ...]:
        """Every process manager, by name then aggregate type (none without their tables)."""
        ...

    def process_manager(self, name: str, aggregate_type: str | None) -> ProcessManagerDetail:
        """Process manager ``name`` (of ``aggregate_type``, if several share the name).

        Raises:
            InspectionError: No such process manager, or several of that name and no
                ``aggregate_type`` to choose (a usage error).
        """
        ...

    def gone(self) -> str | None:
        """Why the store opened is no longer the one the DB argument names, or ``None``.

        An SQLite file may be deleted or replaced while it is open: the connection then
        reads the old one for ever. Checked by ``log --follow`` before each wait.
        """
        ...

    def close(self) -> None:
        """Close the connection."""
        ...
