"""The seed's functions for talking to a running event-sourcing system.

Each sends one message to the event-sourcing actor and returns at once; the ones that
answer return a fresh Subject to ``await process.receive(subject, within)`` on.
:func:`execute_with_receipt` goes beyond the seed, as does :func:`execute_and_wait`, the
one that awaits: the command's receipt, then the named read models up to it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, TypeVar

from .._runtime.checks import require_non_negative_int
from .._runtime.process import Subject, new_subject, receive_forever, send
from .._runtime.result import Ok, Result
from .envelopes import Metadata
from .errors import EventSourcingError
from .log_source import LogRecord
from .records import (
    TRACE_KEYS,
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
    Receipt,
    Snapshot,
    SystemStats,
)

EntityT = TypeVar("EntityT")
CommandT = TypeVar("CommandT")
EventT = TypeVar("EventT")
ErrorT = TypeVar("ErrorT")


def check_aggregate_id(aggregate_id: object) -> str:
    """``aggregate_id`` checked: a non-empty str that every store can keep.

    Raises:
        ValueError: Naming what is wrong with it.
    """
    if not isinstance(aggregate_id, str) or not aggregate_id:
        raise ValueError(f"aggregate_id must be a non-empty str, got {aggregate_id!r}")
    problem = unstorable_text(aggregate_id)
    if problem is not None:
        raise ValueError(f"aggregate_id {aggregate_id!r} {problem}")
    if len(aggregate_id) > _MAX_ID_BYTES // 4 and len(aggregate_id.encode()) > _MAX_ID_BYTES:
        raise ValueError(
            f"aggregate_id is {len(aggregate_id.encode())} bytes long in UTF-8; at most "
            f"{_MAX_ID_BYTES} are allowed: {aggregate_id[:40]!r}..."
        )
    return aggregate_id


_MAX_ID_BYTES = 1_000
"""The longest aggregate id, in UTF-8 bytes: every store indexes it (PostgreSQL's index
entries hold at most 2,704 bytes, an id and an idempotency key together)."""


_MAX_KEY_LENGTH = 200
"""The longest idempotency key: it is stored, and indexed, with every command."""


def _check_key(idempotency_key: object) -> str | None:
    if idempotency_key is None:
        return None
    if not isinstance(idempotency_key, str) or not idempotency_key:
        raise ValueError(
            f"idempotency_key must be a non-empty str or None, got {idempotency_key!r}"
        )
    if len(idempotency_key) > _MAX_KEY_LENGTH:
        raise ValueError(
            f"idempotency_key is {len(idempotency_key)} characters long; at most "
            f"{_MAX_KEY_LENGTH} are allowed"
        )
    problem = unstorable_text(idempotency_key)
    if problem is not None:
        raise ValueError(f"idempotency_key {idempotency_key!r} {problem}")
    return idempotency_key


_MAX_TRACE_LENGTH = 200
"""The longest correlation or causation id: both are stored with every event."""


def _check_trace_id(name: str, value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty str or None, got {value!r}")
    if len(value) > _MAX_TRACE_LENGTH:
        raise ValueError(
            f"{name} is {len(value)} characters long; at most {_MAX_TRACE_LENGTH} are allowed"
        )
    problem = unstorable_text(value)
    if problem is not None:
        raise ValueError(f"{name} {value!r} {problem}")
    return value


def event_reference(entry: LogRecord[object]) -> str:
    """The id of a logged event, as the causation id of the commands it causes.

    ``"<aggregate type>/<aggregate id>/<sequence>"``: unique within a database, and the
    same whichever store or process reads it.

    Example::

        event_reference(entry)  # "bank_account/acc-1/3"
    """
    envelope = entry.envelope
    return f"{entry.aggregate_type}/{envelope.aggregate_id}/{envelope.sequence}"


def _trace(
    correlation_id: object, causation_id: object, caused_by: LogRecord[object] | None
) -> tuple[str | None, str | None]:
    """The checked ``(correlation_id, causation_id)`` of a command (``None``: the default)."""
    correlation = _check_trace_id("correlation_id", correlation_id)
    causation = _check_trace_id("causation_id", causation_id)
    if caused_by is None:
        return correlation, causation
    if not (hasattr(caused_by, "envelope") and hasattr(caused_by, "aggregate_type")):
        raise TypeError(f"caused_by takes an entry of the log, got {caused_by!r}")
    if correlation is not None or causation is not None:
        raise ValueError("give caused_by, or correlation_id and causation_id, not both")
    reference = event_reference(caused_by)
    inherited = getattr(caused_by.envelope, "correlation_id", "")
    return (inherited if isinstance(inherited, str) and inherited else reference), reference


def unstorable_text(text: str) -> str | None:
    """Why a store could not keep ``text`` as an id or key, or ``None`` if every store can.

    Refused here, before anything is queued, so that every store refuses the same ids.
    """
    if text.isascii():
        return "contains a NUL character, which no store can keep" if "\x00" in text else None
    if "\x00" in text:
        return "contains a NUL character, which no store can keep"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode: it contains a lone surrogate, which no store can keep"
    return None


def _check_metadata(metadata: object) -> Metadata:
    if not isinstance(metadata, list) or not all(
        isinstance(pair, tuple)
        and len(pair) == 2
        and isinstance(pair[0], str)
        and isinstance(pair[1], str)
        for pair in metadata
    ):
        raise TypeError(f"metadata must be a list of (str, str) pairs, got {metadata!r}")
    for key, _ in metadata:
        if key in TRACE_KEYS:
            raise ValueError(
                f"metadata key {key!r} is the system's: give correlation_id or causation_id"
            )
    return list(metadata)


def _send_command(
    eventsourcing_actor: Subject[AggregateMessage[EntityT, CommandT, EventT, ErrorT]],
    aggregate_id: object,
    command: CommandT,
    metadata: object,
    idempotency_key: object,
    trace: tuple[object, object, LogRecord[object] | None],
    *,
    reply_to: Subject[Result[None, EventSourcingError[ErrorT]]] | None = None,
    receipt_to: Subject[Result[Receipt, EventSourcingError[ErrorT]]] | None = None,
) -> None:
    """Check a command's arguments, then send it: what every execute function does."""
    message: ExecuteCommand[CommandT, ErrorT] = ExecuteCommand(
        check_aggregate_id(aggregate_id),
        command,
        _check_metadata(metadata),
        reply_to,
        _check_key(idempotency_key),
        receipt_to,
        *_trace(*trace),
    )
    send(eventsourcing_actor, message)


def execute(
    eventsourcing_actor: Subject[AggregateMessage[EntityT, CommandT, EventT, ErrorT]],
    aggregate_id: str,
    command: CommandT,
    *,
    idempotency_key: str | None = None,
    correlation_id: str | None = None,
    causation_id: str | None = None,
    caused_by: LogRecord[object] | None = None,
) -> None:
    """Run ``command`` against the aggregate; nothing is reported back.

    With an ``idempotency_key``, a command whose key is stored already for the aggregate
    is not stored again (see :func:`execute_with_response`).

    Example::

        eventsourcing.execute(actor, "bank-account-123", OpenAccount("123"))
    """
    _send_command(
        eventsourcing_actor,
        aggregate_id,
        command,
        [],
        idempotency_key,
        (correlation_id, causation_id, caused_by),
    )


def execute_with_metadata(
    eventsourcing_actor: Subject[AggregateMessage[EntityT, CommandT, EventT, ErrorT]],
    aggregate_id: str,
    command: CommandT,
    metadata: Metadata,
    *,
    idempotency_key: str | None = None,
    correlation_id: str | None = None,
    causation_id: str | None = None,
    caused_by: LogRecord[object] | None = None,
) -> None:
    """Run ``command``, storing ``metadata`` with every event it produces.

    ``idempotency_key`` works as in :func:`execute_with_response`.

    Example::

        metadata = [("user_id", "alice"), ("session_id", "abc123")]
        eventsourcing.execute_with_metadata(actor, "bank-123", DepositMoney(100.0), metadata)
    """
    _send_command(
        eventsourcing_actor,
        aggregate_id,
        command,
        metadata,
        idempotency_key,
        (correlation_id, causation_id, caused_by),
    )


def execute_with_response(
    eventsourcing_actor: Subject[AggregateMessage[EntityT, CommandT, EventT, ErrorT]],
    aggregate_id: str,
    command: CommandT,
    metadata: Metadata,
    *,
    idempotency_key: str | None = None,
    correlation_id: str | None = None,
    causation_id: str | None = None,
    caused_by: LogRecord[object] | None = None,
) -> Subject[Result[None, EventSourcingError[ErrorT]]]:
    """Run ``command`` and return a Subject that receives how it ended.

    The reply is ``Ok(None)`` once the events are stored exactly once (or when the
    command produced none), ``Error(DomainError(e))`` if ``handle`` rejected it,
    ``Error(OutcomeUnknown(...))`` if the store lost touch while committing (the only
    error after which the events may be stored), or another :data:`EventSourcingError`
    if nothing was stored.

    ``idempotency_key`` (at most 200 characters) is stored with the command's events,
    unique per aggregate: a command whose key is stored already for the aggregate is
    answered ``Ok(None)`` and not stored again. Send a command again with the same key
    after ``OutcomeUnknown``, a reply timeout or a crash, and it is stored at most once.
    Without one, the system generates a key (the one ``OutcomeUnknown`` names).

    Every event the command stores carries its ``correlation_id`` (the business process
    it belongs to) and ``causation_id`` (what caused it): by default both are the
    command's idempotency key, so a command starts a process of its own. A command issued
    because of an event gives ``caused_by=entry`` (an entry of the log): it takes the
    event's correlation id, and the event's :func:`event_reference` as causation id. The
    other execute functions take the same three arguments.

    Example::

        reply = eventsourcing.execute_with_response(
            actor, "acc-1", DepositMoney(Decimal(10)), [], idempotency_key="deposit-7f3a"
        )
        assert await process.receive(reply, 1000) == Ok(Ok(None))
    """
    reply_to: Subject[Result[None, EventSourcingError[ErrorT]]] = new_subject()
    _send_command(
        eventsourcing_actor,
        aggregate_id,
        command,
        metadata,
        idempotency_key,
        (correlation_id, causation_id, caused_by),
        reply_to=reply_to,
    )
    return reply_to


def execute_with_receipt(
    eventsourcing_actor: Subject[AggregateMessage[EntityT, CommandT, EventT, ErrorT]],
    aggregate_id: str,
    command: CommandT,
    metadata: Metadata,
    *,
    idempotency_key: str | None = None,
    correlation_id: str | None = None,
    causation_id: str | None = None,
    caused_by: LogRecord[object] | None = None,
) -> Subject[Result[Receipt, EventSourcingError[ErrorT]]]:
    """Run ``command`` and return a Subject that receives its :class:`Receipt`, or why not.

    As :func:`execute_with_response`, but an ``Ok`` answer carries the receipt: the
    aggregate's new sequence and the global positions of the events stored, so that a
    read model can be awaited up to them (``ProjectionHandle.wait_for_position``).

    Example::

        reply = eventsourcing.execute_with_receipt(actor, "acc-1", DepositMoney(10), [])
        receipt = (await process.receive(reply, 1000)).unwrap().unwrap()
        print(receipt.sequence, receipt.positions)
    """
    receipt_to: Subject[Result[Receipt, EventSourcingError[ErrorT]]] = new_subject()
    _send_command(
        eventsourcing_actor,
        aggregate_id,
        command,
        metadata,
        idempotency_key,
        (correlation_id, causation_id, caused_by),
        receipt_to=receipt_to,
    )
    return receipt_to


class PositionWaiter(Protocol):
    """What :func:`execute_and_wait` waits on: a read model that reports its position.

    ``projections.ProjectionHandle`` is one.
    """

    async def wait_for_position(self, position: int) -> None:
        """Return once every event up to ``position`` that it reads has been handled."""
        ...

    async def wait_until_current(self) -> None:
        """Return once every event in the log now that it reads has been handled."""
        ...


async def execute_and_wait(
    eventsourcing_actor: Subject[AggregateMessage[EntityT, CommandT, EventT, ErrorT]],
    aggregate_id: str,
    command: CommandT,
    metadata: Metadata | None = None,
    *,
    idempotency_key: str | None = None,
    correlation_id: str | None = None,
    causation_id: str | None = None,
    caused_by: LogRecord[object] | None = None,
    consistency: Iterable[PositionWaiter] = (),
) -> Result[Receipt, EventSourcingError[ErrorT]]:
    """Run ``command``, wait for its receipt, then until ``consistency``'s read models have it.

    The strong consistency of a command: when this returns ``Ok(receipt)``, each
    projection named in ``consistency`` has handled the command's events (and every
    event before them), so a read of its read model includes this write. An ``Error``
    returns at once, without waiting for the projections.

    No timeout argument: the caller's cancel scope bounds the whole wait
    (``trio.fail_after``/``move_on_after``). A command cancelled while waiting for its
    receipt may still be stored (retry it with the same ``idempotency_key`` to learn
    its outcome); one cancelled while waiting for a projection is stored. A projection
    stopped by its error policy ends the wait with its ``ProjectionStopped``: the command
    is stored.

    Example::

        with trio.fail_after(5):
            receipt = (
                await eventsourcing.execute_and_wait(
                    actor, "acc-1", DepositMoney(10), consistency=[balances]
                )
            ).unwrap()
        print(balances_model["acc-1"])  # includes the deposit
    """
    waiters = checked_waiters(consistency)
    reply = execute_with_receipt(
        eventsourcing_actor,
        aggregate_id,
        command,
        [] if metadata is None else metadata,
        idempotency_key=idempotency_key,
        correlation_id=correlation_id,
        causation_id=causation_id,
        caused_by=caused_by,
    )
    outcome = await receive_forever(reply)
    if isinstance(outcome, Ok):
        await wait_for_receipt(waiters, outcome.value)
    return outcome


def checked_waiters(consistency: Iterable[PositionWaiter]) -> list[PositionWaiter]:
    """The read models of a ``consistency`` argument, each checked to be one.

    Raises:
        TypeError: Naming the first that has no ``wait_for_position``/``wait_until_current``.
    """
    waiters = list(consistency)
    for waiter in waiters:
        if not all(
            callable(getattr(waiter, method, None))
            for method in ("wait_for_position", "wait_until_current")
        ):
            raise TypeError(
                "consistency takes read models with wait_for_position() and "
                f"wait_until_current(), such as projections.ProjectionHandle, got {waiter!r}"
            )
    return waiters


async def wait_for_receipt(waiters: list[PositionWaiter], receipt: Receipt) -> None:
    """Wait until each of ``waiters`` has handled the events ``receipt`` stored."""
    for waiter in waiters:
        if receipt.already_stored:
            # Stored by an earlier attempt, at positions this answer does not know:
            # wait for everything in the log now, which holds them.
            await waiter.wait_until_current()
        elif receipt.position:
            await waiter.wait_for_position(receipt.position)


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
    send(eventsourcing, LoadAggregate(check_aggregate_id(aggregate_id), reply_to))
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
    send(eventsourcing, LoadAllEvents(check_aggregate_id(aggregate_id), reply_to))
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
    send(eventsourcing, LoadEvents(check_aggregate_id(aggregate_id), start, reply_to))
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
    send(eventsourcing, LoadLatestSnapshot(check_aggregate_id(aggregate_id), reply_to))
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
    send(eventsourcing, GetAggregateStats(check_aggregate_id(aggregate_id), reply_to))
    return reply_to
