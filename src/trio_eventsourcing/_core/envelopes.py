"""The envelopes a store hands back: a stored event with its aggregate, sequence and metadata.

Frozen ``msgspec.Struct`` classes, as one is made for every event a store reads: built
in C, several times faster than a dataclass, and not tracked by the cycle collector
(``gc=False``), so that reading a long log does not set it off. An envelope holds what
the store decoded, made before it and unable to refer back to it, so it is never part of
a reference cycle. The annotations are evaluated (no ``from __future__ import
annotations``): the classes are published under another module (``_runtime.public``),
where msgspec could not resolve them as strings.
"""

from typing import Generic, TypeVar

import msgspec
from typing_extensions import final

EventT_co = TypeVar("EventT_co", covariant=True)

Metadata = list[tuple[str, str]]
"""Key-value pairs stored with every event of a command, e.g. ``[("user_id", "alice")]``."""


@final
class MemoryStoreEventEnvelop(msgspec.Struct, Generic[EventT_co], frozen=True, gc=False):
    """A stored event as the memory store hands it back.

    ``correlation_id`` and ``causation_id`` are those of the command that stored it
    (see :func:`~trio_eventsourcing.execute_with_response`); empty for an event
    written to the store directly, not by a command.

    Example::

        MemoryStoreEventEnvelop("acc-1", 1, AccountOpened("acc-1"), [("user", "alice")])
    """

    aggregate_id: str
    sequence: int
    payload: EventT_co
    metadata: Metadata
    correlation_id: str = ""
    causation_id: str = ""


@final
class SerializedEventEnvelop(msgspec.Struct, Generic[EventT_co], frozen=True, gc=False):
    """A stored event as a durable store hands it back, with how it was serialized.

    ``event_version`` is a string, as in the seed (``"1"``, ``"2"``, ...).
    ``correlation_id`` and ``causation_id`` are those of the command that stored it;
    empty for an event written to the store directly, or before the store kept them.

    Example::

        envelope.aggregate_type, envelope.event_type, envelope.correlation_id
    """

    aggregate_id: str
    sequence: int
    payload: EventT_co
    metadata: Metadata
    event_type: str
    event_version: str
    aggregate_type: str
    correlation_id: str = ""
    causation_id: str = ""
