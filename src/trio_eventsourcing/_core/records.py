"""The records of the event-sourcing API: aggregates, snapshots, envelopes, messages, stats.

All are frozen dataclasses but the envelopes (``_core.envelopes``). Generic ones write
``__slots__`` by hand, because ``@dataclass(slots=True)`` breaks subscripted
construction on Python 3.10-3.12.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from typing_extensions import TypeAliasType, final

from .._runtime.frozen import PicklableFrozen
from .._runtime.process import Subject
from .._runtime.result import Result
from .envelopes import MemoryStoreEventEnvelop, Metadata, SerializedEventEnvelop
from .errors import EventSourcingError
from .values import Frequency

EntityT = TypeVar("EntityT")
CommandT = TypeVar("CommandT")
EventT = TypeVar("EventT")
ErrorT = TypeVar("ErrorT")
EntityT_co = TypeVar("EntityT_co", covariant=True)
EventT_co = TypeVar("EventT_co", covariant=True)
CommandT_co = TypeVar("CommandT_co", covariant=True)

AggregateId = str
"""An aggregate's identity, as in the seed: a string."""


@final
@dataclass(frozen=True)
class Aggregate(PicklableFrozen, Generic[EntityT_co]):
    """An aggregate's current ``entity`` and the ``sequence`` of its last event.

    The seed's phantom ``command``, ``event`` and ``error`` parameters are left out:
    Python cannot infer a type parameter that no field uses.

    Example::

        Aggregate("acc-1", BankAccount(opened=True, balance=10.0), sequence=2)
    """

    __slots__ = ("aggregate_id", "entity", "sequence")
    aggregate_id: str
    entity: EntityT_co
    sequence: int


@final
@dataclass(frozen=True)
class Snapshot(PicklableFrozen, Generic[EntityT_co]):
    """A saved ``entity`` of an aggregate as of ``sequence``, taken at ``timestamp`` (UTC)."""

    __slots__ = ("aggregate_id", "entity", "sequence", "timestamp")
    aggregate_id: str
    entity: EntityT_co
    sequence: int
    timestamp: datetime


@final
@dataclass(frozen=True, slots=True)
class SnapshotConfig:
    """Save a snapshot whenever a commit reaches or crosses a multiple of the frequency.

    Example::

        config = SnapshotConfig(frequency(100).unwrap())
    """

    snapshot_frequency: Frequency

    def __post_init__(self) -> None:
        if not isinstance(self.snapshot_frequency, Frequency):
            raise TypeError(
                "SnapshotConfig takes a Frequency from frequency(n), "
                f"got {type(self.snapshot_frequency).__name__}"
            )


CORRELATION_KEY = "$correlation_id"
"""The metadata key under which the system hands a command's correlation id to the store."""
CAUSATION_KEY = "$causation_id"
"""The metadata key under which the system hands a command's causation id to the store."""
TRACE_KEYS = frozenset({CORRELATION_KEY, CAUSATION_KEY})
"""The metadata keys a user's metadata may not use: the system's trace travels under them."""


def with_trace(metadata: Metadata, correlation_id: str, causation_id: str) -> Metadata:
    """``metadata`` and the command's trace, as the system passes both to ``commit_events``.

    The store interface (the seed's) has no parameter for the trace: it travels as the
    last two pairs of the metadata. The library's stores take it out with
    :func:`split_trace` and keep it apart; another store keeps it as metadata.
    """
    return [*metadata, (CORRELATION_KEY, correlation_id), (CAUSATION_KEY, causation_id)]


def split_trace(metadata: Metadata) -> tuple[Metadata, str, str]:
    """``(metadata, correlation_id, causation_id)`` of what :func:`with_trace` made.

    Metadata without a trace (written by a store's own caller, not by a system) comes
    back whole, with empty ids.
    """
    if (
        len(metadata) >= 2
        and metadata[-1][0] == CAUSATION_KEY
        and metadata[-2][0] == CORRELATION_KEY
    ):
        return metadata[:-2], metadata[-2][1], metadata[-1][1]
    return metadata, "", ""


EventEnvelop = TypeAliasType(
    "EventEnvelop",
    MemoryStoreEventEnvelop[EventT] | SerializedEventEnvelop[EventT],
    type_params=(EventT,),
)
"""A stored event with its aggregate, sequence and metadata."""


@final
@dataclass(frozen=True, slots=True)
class SystemStats:
    """Counters of a whole event-sourcing system.

    ``query_actors_count`` counts the query actors alive now;
    ``total_commands_processed`` counts commands that finished, successfully or with a
    domain error (store failures are not counted).
    """

    query_actors_count: int
    total_commands_processed: int


@final
@dataclass(frozen=True, slots=True)
class AggregateStats:
    """Counters of one aggregate: its events, its sequence and whether it has a snapshot."""

    aggregate_id: str
    event_count: int
    current_sequence: int
    has_snapshot: bool


@final
@dataclass(frozen=True)
class ProcessEvents(PicklableFrozen, Generic[EventT_co]):
    """Sent to every query actor with the envelopes of one committed command."""

    __slots__ = ("aggregate_id", "events")
    aggregate_id: str
    events: list[EventEnvelop[EventT_co]]


QueryMessage = TypeAliasType("QueryMessage", ProcessEvents[EventT], type_params=(EventT,))
"""What a query actor receives (only :class:`ProcessEvents`)."""


@final
@dataclass(frozen=True)
class QueryActor(PicklableFrozen, Generic[EventT]):
    """The subject of a running query actor."""

    __slots__ = ("actor",)
    actor: Subject[QueryMessage[EventT]]


@final
@dataclass(frozen=True, slots=True)
class Receipt:
    """What a command stored, as ``execute_with_receipt`` answers it.

    ``positions`` are the global positions of the events the command stored, in order
    (empty for a command that decided no events); ``sequence`` is the aggregate's sequence
    after it. A command whose idempotency key was stored already (a retry of one whose
    answer was lost) stored nothing this time: ``already_stored`` is true, and its
    positions and sequence are those of the earlier attempt, which this answer does not
    know (empty, and ``None``).

    Example::

        receipt = (await process.receive(reply, 1000)).unwrap().unwrap()
        with trio.fail_after(5):
            await balances.wait_for_position(receipt.position)
    """

    aggregate_id: str
    sequence: int | None
    positions: tuple[int, ...] = ()
    already_stored: bool = False

    @property
    def position(self) -> int:
        """The position to wait for to read this write, that of its last event (or 0)."""
        return self.positions[-1] if self.positions else 0

    @property
    def stored_events(self) -> bool:
        """Whether this command stored events now (``False``: none, or a retry)."""
        return bool(self.positions)


@final
@dataclass(frozen=True, init=False)
class ExecuteCommand(PicklableFrozen, Generic[CommandT, ErrorT]):
    """Run ``command`` against the aggregate; reply to ``reply_to`` if one is given.

    The fields after ``metadata`` go beyond the seed: ``reply_to`` is what
    :func:`execute_with_response` uses; ``idempotency_key``, when given, makes the
    command run at most once per aggregate (``None``: the system generates a key for it);
    ``receipt_to`` receives the command's :class:`Receipt` instead of ``reply_to``'s
    answer (:func:`execute_with_receipt`); ``correlation_id`` and ``causation_id`` are
    stored with each of its events (``None``: the command's idempotency key).

    Example::

        ExecuteCommand("acc-1", DepositMoney(Decimal(10)), [], reply_to, "deposit-42")
    """

    __slots__ = (
        "aggregate_id",
        "causation_id",
        "command",
        "correlation_id",
        "idempotency_key",
        "metadata",
        "receipt_to",
        "reply_to",
    )
    aggregate_id: str
    command: CommandT
    metadata: Metadata
    reply_to: Subject[Result[None, EventSourcingError[ErrorT]]] | None
    idempotency_key: str | None
    receipt_to: Subject[Result[Receipt, EventSourcingError[ErrorT]]] | None
    correlation_id: str | None
    causation_id: str | None

    def __init__(
        self,
        aggregate_id: str,
        command: CommandT,
        metadata: Metadata,
        reply_to: Subject[Result[None, EventSourcingError[ErrorT]]] | None,
        idempotency_key: str | None,
        receipt_to: Subject[Result[Receipt, EventSourcingError[ErrorT]]] | None = None,
        correlation_id: str | None = None,
        causation_id: str | None = None,
    ) -> None:
        # Frozen, with its slots written by hand (see PicklableFrozen): defaults need an
        # __init__ of its own.
        setattr_ = object.__setattr__
        setattr_(self, "aggregate_id", aggregate_id)
        setattr_(self, "command", command)
        setattr_(self, "metadata", metadata)
        setattr_(self, "reply_to", reply_to)
        setattr_(self, "idempotency_key", idempotency_key)
        setattr_(self, "receipt_to", receipt_to)
        setattr_(self, "correlation_id", correlation_id)
        setattr_(self, "causation_id", causation_id)

    @property
    def answered(self) -> bool:
        """Whether somebody waits for the command's answer (a reply or a receipt)."""
        return self.reply_to is not None or self.receipt_to is not None


@final
@dataclass(frozen=True)
class LoadAggregate(PicklableFrozen, Generic[EntityT, ErrorT]):
    """Ask for the aggregate's current state."""

    __slots__ = ("aggregate_id", "reply_to")
    aggregate_id: str
    reply_to: Subject[Result[Aggregate[EntityT], EventSourcingError[ErrorT]]]


@final
@dataclass(frozen=True)
class LoadAllEvents(PicklableFrozen, Generic[EventT, ErrorT]):
    """Ask for every event of the aggregate."""

    __slots__ = ("aggregate_id", "reply_to")
    aggregate_id: str
    reply_to: Subject[Result[list[EventEnvelop[EventT]], EventSourcingError[ErrorT]]]


@final
@dataclass(frozen=True)
class LoadEvents(PicklableFrozen, Generic[EventT, ErrorT]):
    """Ask for the aggregate's events with a sequence greater than ``start_from``."""

    __slots__ = ("aggregate_id", "reply_to", "start_from")
    aggregate_id: str
    start_from: int
    reply_to: Subject[Result[list[EventEnvelop[EventT]], EventSourcingError[ErrorT]]]


@final
@dataclass(frozen=True)
class LoadLatestSnapshot(PicklableFrozen, Generic[EntityT, ErrorT]):
    """Ask for the aggregate's latest snapshot (``None`` if it has none)."""

    __slots__ = ("aggregate_id", "reply_to")
    aggregate_id: str
    reply_to: Subject[Result[Snapshot[EntityT] | None, EventSourcingError[ErrorT]]]


@final
@dataclass(frozen=True, slots=True)
class GetSystemStats:
    """Ask for the system's :class:`SystemStats`."""

    reply_to: Subject[SystemStats]


@final
@dataclass(frozen=True)
class GetAggregateStats(PicklableFrozen, Generic[ErrorT]):
    """Ask for one aggregate's :class:`AggregateStats`."""

    __slots__ = ("aggregate_id", "reply_to")
    aggregate_id: str
    reply_to: Subject[Result[AggregateStats, EventSourcingError[ErrorT]]]


AggregateMessage = TypeAliasType(
    "AggregateMessage",
    ExecuteCommand[CommandT, ErrorT]
    | LoadAggregate[EntityT, ErrorT]
    | LoadAllEvents[EventT, ErrorT]
    | LoadEvents[EventT, ErrorT]
    | LoadLatestSnapshot[EntityT, ErrorT]
    | GetSystemStats
    | GetAggregateStats[ErrorT],
    type_params=(EntityT, CommandT, EventT, ErrorT),
)
"""Every message the event-sourcing actor accepts, as in the seed.

Its parameters are ``[EntityT, CommandT, EventT, ErrorT]`` in the seed's order.
"""
