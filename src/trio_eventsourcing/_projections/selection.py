"""Selections of the global log: which aggregate types, and which of their event types.

:func:`select` takes a store (one aggregate type of a database); :meth:`LogSelection.only`
keeps some of its event classes; ``|`` joins the selections of several aggregate types of
one database. The type of what a projection's handler receives follows: the union of the
event classes selected. The store's query does the filtering, so events left out are
neither read into Python nor decoded.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from typing_extensions import Never, final

from .._core.log_source import HasLogSource, LogSource, SelectedType, Selection
from .._core.store import EventStore
from .._stores.memory.store import MemoryEventStore, MemoryStore
from .._stores.postgres.store import PostgresEventStore, PostgresStore
from .._stores.sqlite.store import SqliteEventStore, SqliteStore

if TYPE_CHECKING:
    from .._stores.postgres.connection import Connection as PostgresConnection

EventT = TypeVar("EventT")
EventT_co = TypeVar("EventT_co", covariant=True)
OtherT = TypeVar("OtherT")
TxT = TypeVar("TxT")
E1 = TypeVar("E1")
E2 = TypeVar("E2")
E3 = TypeVar("E3")
E4 = TypeVar("E4")
E5 = TypeVar("E5")
E6 = TypeVar("E6")

_STORE_KINDS = (MemoryStore, SqliteStore, PostgresStore)


@final
class LogSelection(Generic[EventT_co, TxT]):
    """Events of one database's global log that a projection or a follower reads.

    Made by :func:`select`; narrowed by :meth:`only`; joined across aggregate types with
    ``|``. ``EventT_co`` is the union of the event classes selected, so a handler's
    entries are typed by what it reads; ``TxT`` is the store's transaction handle, as for
    :func:`~trio_eventsourcing.projections.transactional`. Pass it wherever a projection
    function takes a store: ``supervised``, ``follow_log``, ``reset``, ``checkpoint``,
    ``dead_letters``.

    A projection of one aggregate type keeps its checkpoint under that type (as when it
    is given the store itself); one of several types keeps it under its name alone. Its
    checkpoint stays when what it selects changes: reset it
    (:func:`~trio_eventsourcing.projections.reset`) to rebuild its read model with the
    events it did not see.

    Example::

        ledger = projections.select(accounts).only(Deposited, Withdrew) | projections.select(
            transfers
        )
        handle, spec = projections.supervised(ledger, projections.per_event("ledger", on_entry))
    """

    __slots__ = ("_selection",)
    _selection: Selection[Any]

    def __init__(self, _private: Never) -> None:
        raise TypeError("LogSelection has no public constructor: use projections.select()")

    @classmethod
    def _make(cls, selection: Selection[Any]) -> LogSelection[Any, Any]:
        self = object.__new__(cls)
        self._selection = selection
        return self

    @property
    def aggregate_types(self) -> tuple[str, ...]:
        """The aggregate types selected, in the order they were joined."""
        return tuple(part.aggregate_type for part in self._selection.parts)

    @overload
    def only(self, e1: type[E1], /) -> LogSelection[E1, TxT]: ...
    @overload
    def only(self, e1: type[E1], e2: type[E2], /) -> LogSelection[E1 | E2, TxT]: ...
    @overload
    def only(
        self, e1: type[E1], e2: type[E2], e3: type[E3], /
    ) -> LogSelection[E1 | E2 | E3, TxT]: ...
    @overload
    def only(
        self, e1: type[E1], e2: type[E2], e3: type[E3], e4: type[E4], /
    ) -> LogSelection[E1 | E2 | E3 | E4, TxT]: ...
    @overload
    def only(
        self, e1: type[E1], e2: type[E2], e3: type[E3], e4: type[E4], e5: type[E5], /
    ) -> LogSelection[E1 | E2 | E3 | E4 | E5, TxT]: ...
    @overload
    def only(
        self,
        e1: type[E1],
        e2: type[E2],
        e3: type[E3],
        e4: type[E4],
        e5: type[E5],
        e6: type[E6],
        /,
    ) -> LogSelection[E1 | E2 | E3 | E4 | E5 | E6, TxT]: ...
    @overload
    def only(self, *event_classes: type[object]) -> LogSelection[Any, TxT]: ...
    def only(self, *event_classes: type[object]) -> LogSelection[Any, TxT]:
        """Keep only the events of these classes (of the selection's one aggregate type).

        The store's query leaves the others out. Call it on the selection of one
        aggregate type, before joining it with ``|``.

        Raises:
            TypeError: If no class is given, an argument is not a class, the selection
                has several aggregate types or is narrowed already, or the store's codec
                cannot name event classes.
            ValueError: If a class is not an event class of the aggregate type.

        Example::

            deposits = projections.select(accounts).only(Deposited)
        """
        parts = self._selection.parts
        if len(parts) != 1:
            raise TypeError(
                "only() narrows the selection of one aggregate type: call it on each "
                "select(store) before joining them with |"
            )
        (part,) = parts
        if part.event_classes is not None:
            raise TypeError(f"the selection {self._selection.describe()} is narrowed already")
        if not event_classes:
            raise TypeError("only() needs at least one event class")
        for cls in event_classes:
            if not isinstance(cls, type):
                raise TypeError(f"only() takes event classes, got {cls!r}")
            codec = getattr(part.store, "codec", None)
            if codec is not None:
                codec.event_type_name(cls)  # raises for a class the codec does not know
        unique = tuple(dict.fromkeys(event_classes))
        narrowed = SelectedType(part.store, part.aggregate_type, unique)
        return LogSelection._make(Selection((narrowed,)))

    def __or__(self, other: LogSelection[OtherT, TxT]) -> LogSelection[EventT_co | OtherT, TxT]:
        """The events of both selections: aggregate types of one database, none twice.

        Raises:
            TypeError: If ``other`` is not a selection.
            ValueError: If the two are of different databases, or share an aggregate type.
        """
        if not isinstance(other, LogSelection):
            return NotImplemented
        mine, theirs = self._selection.parts, other._selection.parts
        if _database(mine[0].store) is not _database(theirs[0].store):
            raise ValueError(
                "a selection's aggregate types must share one database: "
                f"{self._selection.describe()} and {other._selection.describe()} do not"
            )
        shared = {p.aggregate_type for p in mine} & {p.aggregate_type for p in theirs}
        if shared:
            raise ValueError(
                f"the aggregate type {min(shared)!r} is selected twice; select each type once "
                "(with only() for some of its event types)"
            )
        return LogSelection._make(Selection((*mine, *theirs)))

    def _log_source(self) -> LogSource[Any, Any]:
        store = self._selection.parts[0].store
        assert isinstance(store, HasLogSource)
        return store._log_source(self._selection)

    def __repr__(self) -> str:
        return f"<LogSelection {self._selection.describe()}>"


def _database(store: object) -> object:
    return getattr(store, "database", store)


@overload
def select(
    store: MemoryEventStore[Any, EventT] | MemoryStore[Any, EventT],
) -> LogSelection[EventT, Never]: ...
@overload
def select(
    store: SqliteEventStore[Any, EventT] | SqliteStore[Any, EventT],
) -> LogSelection[EventT, sqlite3.Connection]: ...
@overload
def select(
    store: PostgresEventStore[Any, EventT] | PostgresStore[Any, EventT],
) -> LogSelection[EventT, PostgresConnection]: ...
def select(store: object) -> LogSelection[Any, Any]:
    """Select every event of a store's aggregate type from its database's global log.

    Narrow it with :meth:`LogSelection.only`; join the selections of other aggregate
    types of the same database with ``|``. A store with a database of its own (no
    ``database=`` given) is a selection of that one type.

    Args:
        store: The event store from ``memory_store.supervised``,
            ``sqlite_store.supervised`` or ``postgres_store.supervised`` (or a database's
            ``event_store``, or their ``eventstore`` field).

    Raises:
        TypeError: If ``store`` is not such a store.

    Example::

        accounts_and_transfers = projections.select(accounts) | projections.select(transfers)
    """
    state = store.eventstore if isinstance(store, EventStore) else store
    if not isinstance(state, _STORE_KINDS):
        raise TypeError(
            "select() takes a store from memory_store.supervised(), "
            f"sqlite_store.supervised() or postgres_store.supervised(), got {store!r}"
        )
    aggregate_type = (
        state.aggregate_type if isinstance(state, MemoryStore) else state.codec.aggregate_type
    )
    return LogSelection._make(Selection((SelectedType(state, aggregate_type),)))
