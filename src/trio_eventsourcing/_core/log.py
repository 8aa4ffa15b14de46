"""The global log as the durable stores return it, and the checks of ``read_log``.

:class:`LogEntry` is one entry of either durable store's log; :func:`log_request` checks
the arguments of every store's ``read_log`` (the memory store's too) before it reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from typing_extensions import final

from .._runtime.checks import require_non_negative_int, require_positive_int
from .._runtime.frozen import PicklableFrozen
from .records import SerializedEventEnvelop, slot_setters
from .store import EventStore

StoreT = TypeVar("StoreT")
EventT_co = TypeVar("EventT_co", covariant=True)


@final
@dataclass(frozen=True, init=False)
class LogEntry(PicklableFrozen, Generic[EventT_co]):
    """One event of the global log: its ``position``, when it was recorded, and the event.

    Positions are assigned in commit order and only grow, so a reader that remembers the
    last position it handled can continue after it and will never miss an event.
    """

    __slots__ = ("envelope", "position", "recorded_at")
    position: int
    recorded_at: datetime
    envelope: SerializedEventEnvelop[EventT_co]

    def __init__(
        self, position: int, recorded_at: datetime, envelope: SerializedEventEnvelop[EventT_co]
    ) -> None:
        # One per event a log read returns: each slot is set through its descriptor, in
        # half the time of the object.__setattr__ of a frozen dataclass's __init__.
        set_position, set_recorded_at, set_envelope = _entry_setters
        set_position(self, position)
        set_recorded_at(self, recorded_at)
        set_envelope(self, envelope)

    @property
    def aggregate_type(self) -> str:
        """The aggregate type of the event's aggregate (the envelope's)."""
        return self.envelope.aggregate_type


_entry_setters = slot_setters(LogEntry, "position", "recorded_at", "envelope")


def log_request(
    store: object, kind: type[StoreT], module: str, start_from: int, limit: int
) -> tuple[StoreT, int, int]:
    """``read_log``'s arguments checked: the ``kind`` of store, then the range to read.

    ``store`` may be the event store or its ``eventstore`` field; ``module`` is the public
    module whose ``supervised()`` makes ``kind``, for the message.

    Raises:
        TypeError: ``store`` is not a ``kind`` store.
        ValueError: ``start_from`` is negative or ``limit`` is not positive.
    """
    inner = store.eventstore if isinstance(store, EventStore) else store
    if not isinstance(inner, kind):
        raise TypeError(f"read_log() takes a store from {module}.supervised(), got {store!r}")
    after = require_non_negative_int("start_from", start_from)
    most = require_positive_int("limit", limit)
    return inner, after, most
