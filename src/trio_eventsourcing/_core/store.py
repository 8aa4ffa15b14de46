"""The event store interface: what the event-sourcing core asks of every store.

As in the seed, an :class:`EventStore` is a record of functions over a transaction
handle ``TxT``; here every function is async. Stores report failures as values
(``Error(EventStoreError(message, kind))``, the ``kind`` a ``StoreFailure`` saying
how); the core also turns anything a store raises into an ``EventStoreError`` of kind
``FAILED``, so a buggy store cannot crash the system.

A write transaction runs ``commit_events`` and maybe ``save_snapshot`` and is
all-or-nothing. ``commit_events`` must refuse, with
``Error(ConcurrencyConflict(...))``, events whose aggregate's ``sequence`` is not the
sequence the store holds: that is the optimistic concurrency every store provides.

Idempotency: ``commit_events`` takes the command's idempotency key, stored with its
events under a uniqueness constraint per aggregate in the same transaction. A commit
whose key the store already holds for the aggregate is refused with
``Error(CommandAlreadyStored(...))`` (checked before the sequence), and
``command_stored`` tells whether a key is stored. A store that cannot tell whether a
commit went through (the connection broke after ``COMMIT`` was sent and the server
cannot be asked) answers ``Error(OutcomeUnknown(...))``; every other error means that
nothing of the transaction was stored.

Positions: a store with a global log gives its transaction handle a
``committed_positions`` attribute, the positions of the events the transaction stored
once it has committed (a ``range``; ``None`` before). Commands' receipts report them
(:func:`committed_positions`); a store without one gives receipts no positions.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from typing_extensions import Never, final

from .._runtime.result import Result
from .envelopes import Metadata
from .errors import EventSourcingError
from .records import Aggregate, EventEnvelop, Snapshot

StoreT = TypeVar("StoreT")
EntityT = TypeVar("EntityT")
EventT = TypeVar("EventT")
TxT = TypeVar("TxT")
ValueT = TypeVar("ValueT")

StoreError = EventSourcingError[Never]
"""The errors a store reports: any :data:`EventSourcingError` but a domain error."""

StoreResult = Result[ValueT, StoreError]
"""What a store function returns."""

Transaction = Callable[[TxT], Awaitable[StoreResult[ValueT]]]
"""A function run inside a store transaction, given its handle."""


@final
@dataclass(frozen=True)
class EventStore(Generic[StoreT, EntityT, EventT, TxT]):
    """The functions of one event store, over its transaction handle ``TxT``.

    Made by a store module (``memory_store.supervised``, ``sqlite_store.supervised``),
    rarely by hand. The seed's phantom ``command`` and ``error`` parameters are left
    out: no field uses them, so Python could not infer them.
    """

    __slots__ = (
        "command_stored",
        "commit_events",
        "eventstore",
        "execute_transaction",
        "get_latest_snapshot_transaction",
        "load_aggregate_transaction",
        "load_events",
        "load_events_transaction",
        "load_snapshot",
        "save_snapshot",
    )

    execute_transaction: Callable[[Transaction[TxT, None]], Awaitable[StoreResult[None]]]
    """Run a write transaction: all of it is stored, or none of it."""
    load_aggregate_transaction: Callable[
        [Transaction[TxT, Aggregate[EntityT]]], Awaitable[StoreResult[Aggregate[EntityT]]]
    ]
    """Run a read transaction that loads an aggregate."""
    load_events_transaction: Callable[
        [Transaction[TxT, list[EventEnvelop[EventT]]]],
        Awaitable[StoreResult[list[EventEnvelop[EventT]]]],
    ]
    """Run a read transaction that loads events."""
    get_latest_snapshot_transaction: Callable[
        [Transaction[TxT, Snapshot[EntityT] | None]],
        Awaitable[StoreResult[Snapshot[EntityT] | None]],
    ]
    """Run a read transaction that loads a snapshot."""
    commit_events: Callable[
        [TxT, Aggregate[EntityT], list[EventT], Metadata, str | None],
        Awaitable[StoreResult[tuple[list[EventEnvelop[EventT]], int]]],
    ]
    """Append events after ``aggregate.sequence``; returns the envelopes and new sequence.

    The last argument is the command's idempotency key (``None``: the commit has none).
    The key is stored with the events, unique per aggregate: committing a key the
    aggregate holds already makes the transaction answer ``CommandAlreadyStored``.
    """
    load_events: Callable[
        [StoreT, TxT, str, int], Awaitable[StoreResult[list[EventEnvelop[EventT]]]]
    ]
    """Load the events of an aggregate with a sequence greater than the given one."""
    load_snapshot: Callable[[TxT, str], Awaitable[StoreResult[Snapshot[EntityT] | None]]]
    """Load the latest snapshot of an aggregate, or ``None``."""
    save_snapshot: Callable[[TxT, Snapshot[EntityT]], Awaitable[StoreResult[None]]]
    """Save a snapshot (replacing an older one) inside a write transaction."""
    command_stored: Callable[[StoreT, str, str], Awaitable[StoreResult[bool]]]
    """Whether ``(aggregate_id, idempotency_key)`` is stored: ``(eventstore, id, key)``."""
    eventstore: StoreT
    """The store's own state, handed to ``load_events``."""


_CANCEL_ATOMIC = "_trio_eventsourcing_cancel_atomic"

TransactionRunnerT = TypeVar("TransactionRunnerT", bound=Callable[..., Awaitable[object]])


def mark_cancel_atomic(execute_transaction: TransactionRunnerT) -> TransactionRunnerT:
    """Declare a store's ``execute_transaction`` atomic under cancellation.

    Such a function, when the task awaiting it is cancelled, raises ``Cancelled`` only
    before anything of the transaction is stored, and otherwise returns its outcome. A
    command run in its caller's task then needs no cancel shield around it (which costs
    more than the rest of a command on the memory store). Stores that hand a commit to
    another task or thread are not: cancelled there, a commit may still go through.

    Example::

        execute_transaction = mark_cancel_atomic(execute_transaction)
    """
    setattr(execute_transaction, _CANCEL_ATOMIC, True)
    return execute_transaction


def is_cancel_atomic(execute_transaction: object) -> bool:
    """Whether :func:`mark_cancel_atomic` declared ``execute_transaction`` so.

    Example::

        shield = not is_cancel_atomic(store.execute_transaction)
    """
    return getattr(execute_transaction, _CANCEL_ATOMIC, False) is True


def committed_positions(tx: object) -> range | None:
    """The positions of the events transaction ``tx`` stored, if its store reports them."""
    positions = getattr(tx, "committed_positions", None)
    return positions if isinstance(positions, range) else None
