"""The seed's functions for talking to a running event-sourcing system.

Each sends one message to the event-sourcing actor and returns at once; the ones that
answer return a fresh Subject to ``await process.receive(subject, within)`` on.
"""

from __future__ import annotations

from typing import TypeVar

from ._checks import require_non_negative_int
from ._errors import EventSourcingError
from ._process import Subject, new_subject, send
from ._result import Result
from ._types import (
    Aggregate,
    AggregateMessage,
    AggregateStats,
    EventEnvelop,
    ExecuteCommand,
    GetAggregateStats,
    GetSystemStats,
    LoadAggregate,
    LoadAllEvents,
    LoadEvents,
    LoadLatestSnapshot,
    Metadata,
    Snapshot,
    SystemStats,
)

EntityT = TypeVar("EntityT")
CommandT = TypeVar("CommandT")
EventT = TypeVar("EventT")
ErrorT = TypeVar("ErrorT")


def _check_id(aggregate_id: object) -> str:
    if not isinstance(aggregate_id, str) or not aggregate_id:
        raise ValueError(f"aggregate_id must be a non-empty str, got {aggregate_id!r}")
    return aggregate_id


def _check_metadata(metadata: object) -> Metadata:
    if not isinstance(metadata, list) or not all(
        isinstance(pair, tuple)
        and len(pair) == 2
        and isinstance(pair[0], str)
        and isinstance(pair[1], str)
        for pair in metadata
    ):
        raise TypeError(f"metadata must be a list of (str, str) pairs, got {metadata!r}")
    return list(metadata)


def execute(
    eventsourcing_actor: Subject[AggregateMessage[EntityT, CommandT, EventT, ErrorT]],
    aggregate_id: str,
    command: CommandT,
) -> None:
    """Run ``command`` against the aggregate; nothing is reported back.

    Example::

        eventsourcing.execute(actor, "bank-account-123", OpenAccount("123"))
    """
    send(eventsourcing_actor, ExecuteCommand(_check_id(aggregate_id), command, [], None))


def execute_with_metadata(
    eventsourcing_actor: Subject[AggregateMessage[EntityT, CommandT, EventT, ErrorT]],
    aggregate_id: str,
    command: CommandT,
    metadata: Metadata,
) -> None:
    """Run ``command``, storing ``metadata`` with every event it produces.

    Example::

        metadata = [("user_id", "alice"), ("session_id", "abc123")]
        eventsourcing.execute_with_metadata(actor, "bank-123", DepositMoney(100.0), metadata)
    """
    message: ExecuteCommand[CommandT, ErrorT] = ExecuteCommand(
        _check_id(aggregate_id), command, _check_metadata(metadata), None
    )
    send(eventsourcing_actor, message)


def execute_with_response(
    eventsourcing_actor: Subject[AggregateMessage[EntityT, CommandT, EventT, ErrorT]],
    aggregate_id: str,
    command: CommandT,
    metadata: Metadata,
) -> Subject[Result[None, EventSourcingError[ErrorT]]]:
    """Run ``command`` and return a Subject that receives how it ended.

    The reply is ``Ok(None)`` once the events are stored (or when the command produced
    none), ``Error(DomainError(e))`` if ``handle`` rejected it, or another
    :data:`EventSourcingError` if storing failed.

    Example::

        reply = eventsourcing.execute_with_response(actor, "acc-1", Deposit(10.0), [])
        assert await process.receive(reply, 1000) == Ok(Ok(None))
    """
    reply_to: Subject[Result[None, EventSourcingError[ErrorT]]] = new_subject()
    message = ExecuteCommand(_check_id(aggregate_id), command, _check_metadata(metadata), reply_to)
    send(eventsourcing_actor, message)
    return reply_to


def load_aggregate(
    eventsourcing: Subject[AggregateMessage[EntityT, CommandT, EventT, ErrorT]],
    aggregate_id: str,
) -> Subject[Result[Aggregate[EntityT], EventSourcingError[ErrorT]]]:
    """Ask for the aggregate's current state; ``EntityNotFound`` if it has no events.

    Example::

        result = eventsourcing.load_aggregate(actor, "bank-account-123")
        match await process.receive(result, 1000):
            case Ok(Ok(aggregate)):
                print(aggregate.entity, aggregate.sequence)
    """
    reply_to: Subject[Result[Aggregate[EntityT], EventSourcingError[ErrorT]]] = new_subject()
    send(eventsourcing, LoadAggregate(_check_id(aggregate_id), reply_to))
    return reply_to


def load_events(
    eventsourcing: Subject[AggregateMessage[EntityT, CommandT, EventT, ErrorT]],
    aggregate_id: str,
) -> Subject[Result[list[EventEnvelop[EventT]], EventSourcingError[ErrorT]]]:
    """Ask for every event of the aggregate, oldest first.

    Example::

        result = eventsourcing.load_events(actor, "bank-account-123")
    """
    reply_to: Subject[Result[list[EventEnvelop[EventT]], EventSourcingError[ErrorT]]] = (
        new_subject()
    )
    send(eventsourcing, LoadAllEvents(_check_id(aggregate_id), reply_to))
    return reply_to


def load_events_from(
    eventsourcing: Subject[AggregateMessage[EntityT, CommandT, EventT, ErrorT]],
    aggregate_id: str,
    start_from: int,
) -> Subject[Result[list[EventEnvelop[EventT]], EventSourcingError[ErrorT]]]:
    """Ask for the aggregate's events with a sequence greater than ``start_from``.

    ``start_from=0`` means every event.

    Example::

        result = eventsourcing.load_events_from(actor, "bank-account-123", start_from=10)
    """
    start = require_non_negative_int("start_from", start_from)
    reply_to: Subject[Result[list[EventEnvelop[EventT]], EventSourcingError[ErrorT]]] = (
        new_subject()
    )
    send(eventsourcing, LoadEvents(_check_id(aggregate_id), start, reply_to))
    return reply_to


def latest_snapshot(
    eventsourcing: Subject[AggregateMessage[EntityT, CommandT, EventT, ErrorT]],
    aggregate_id: str,
) -> Subject[Result[Snapshot[EntityT] | None, EventSourcingError[ErrorT]]]:
    """Ask for the aggregate's latest snapshot (``None`` if it has none).

    Example::

        result = eventsourcing.latest_snapshot(actor, "bank-account-123")
    """
    reply_to: Subject[Result[Snapshot[EntityT] | None, EventSourcingError[ErrorT]]] = new_subject()
    send(eventsourcing, LoadLatestSnapshot(_check_id(aggregate_id), reply_to))
    return reply_to


def system_stats(
    eventsourcing: Subject[AggregateMessage[EntityT, CommandT, EventT, ErrorT]],
) -> Subject[SystemStats]:
    """Ask for the system's :class:`SystemStats` (answered at once, not queued).

    Example::

        stats_subject = eventsourcing.system_stats(actor)
    """
    reply_to: Subject[SystemStats] = new_subject()
    send(eventsourcing, GetSystemStats(reply_to))
    return reply_to


def aggregate_stats(
    eventsourcing: Subject[AggregateMessage[EntityT, CommandT, EventT, ErrorT]],
    aggregate_id: str,
) -> Subject[Result[AggregateStats, EventSourcingError[ErrorT]]]:
    """Ask for one aggregate's :class:`AggregateStats` (zeros for an unknown one).

    Example::

        result = eventsourcing.aggregate_stats(actor, "bank-account-123")
    """
    reply_to: Subject[Result[AggregateStats, EventSourcingError[ErrorT]]] = new_subject()
    send(eventsourcing, GetAggregateStats(_check_id(aggregate_id), reply_to))
    return reply_to
