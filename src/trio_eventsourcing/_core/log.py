"""The global log as the durable stores return it, and the checks of ``read_log``.

:class:`LogEntry` is one entry of either durable store's log; :func:`log_request` checks
the arguments of every store's ``read_log`` (the memory store's too) before it reads.
"""

from datetime import datetime
from typing import Generic, TypeVar

import msgspec
from typing_extensions import final

from .._runtime.checks import require_non_negative_int, require_positive_int
from .envelopes import SerializedEventEnvelop
from .store import EventStore

StoreT = TypeVar("StoreT")
EventT_co = TypeVar("EventT_co", covariant=True)


@final
class LogEntry(msgspec.Struct, Generic[EventT_co], frozen=True, gc=False):
    """One event of the global log: its ``position``, when it was recorded, and the event.

    Positions are assigned in commit order and only grow, so a reader that remembers the
    last position it handled can continue after it and will never miss an event. A
    frozen ``msgspec.Struct``, as the envelopes are (see ``_core.envelopes``).

    Example::

        entry.position, entry.recorded_at, entry.envelope.payload
    """

    position: int
    recorded_at: datetime
    envelope: SerializedEventEnvelop[EventT_co]

    @property
    def aggregate_type(self) -> str:
        """The aggregate type of the event's aggregate (the envelope's)."""
        return self.envelope.aggregate_type


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
