"""Events and snapshots as both durable stores keep them, and decoding them back.

Metadata is kept as JSON text; rows decode into :class:`SerializedEventEnvelop` and
:class:`Snapshot`. Both stores keep the same columns and decode them the same way; only
how they name their place in messages (``where``: a file, or a server) and whether a
message must be scrubbed of a password (``scrub``) differ. Data that cannot be decoded is
reported as ``EventStoreError`` naming the aggregate, sequence, event type and version:
nothing is skipped and nothing is changed. A snapshot that cannot be decoded (the
entity's shape changed) is only an optimisation lost: it is logged and ignored, and the
aggregate is replayed from its first event.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from .._codec.json_codec import Codec
from .._core.errors import EventStoreError, StoreFailure
from .._core.records import EventEnvelop, Metadata, SerializedEventEnvelop, Snapshot
from .._runtime.result import Error, Ok, Result

EntityT = TypeVar("EntityT")
EventT = TypeVar("EventT")
TimeT = TypeVar("TimeT")

# A stored event as read. The drivers type rows as Any; data edited by hand may hold
# other types, which the codec and the checks here refuse.
EventRow = tuple[str, str, int, str, int, str, str, str, str]
"""``(aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata,
correlation_id, causation_id)``."""


def _unchanged(text: str) -> str:
    return text


def encode_metadata(metadata: Metadata) -> str:
    """``metadata`` as the JSON text both stores keep (``"[]"`` when there is none)."""
    # ensure_ascii (the default): a lone surrogate becomes an escape, not a bind or
    # encoding error in the driver.
    return json.dumps(metadata, separators=(",", ":")) if metadata else "[]"


def decode_metadata(text: str) -> Metadata:
    """The metadata ``encode_metadata`` wrote; raises ``ValueError`` on any other shape."""
    if text == "[]":
        return []
    pairs = json.loads(text)
    if not isinstance(pairs, list):
        raise ValueError(f"metadata is not a list of pairs: {text!r}")
    metadata: Metadata = []
    for pair in pairs:
        if not (
            isinstance(pair, list)
            and len(pair) == 2
            and isinstance(pair[0], str)
            and isinstance(pair[1], str)
        ):
            raise ValueError(f"metadata is not a list of string pairs: {text!r}")
        metadata.append((pair[0], pair[1]))
    return metadata


def decode_events(
    codec: Codec[EventT, EntityT],
    where: str,
    rows: list[EventRow],
    scrub: Callable[[str], str] = _unchanged,
) -> Result[list[EventEnvelop[EventT]], EventStoreError]:
    """Decode ``rows``, in order; the first that fails is the error, naming ``where``."""
    decode = codec.decode_event
    envelopes: list[EventEnvelop[EventT]] = []
    append = envelopes.append
    # Versions as the envelopes spell them ("1"), made once per version, not per row.
    versions: dict[int, str] = {}
    for row in rows:
        (
            aggregate_type,
            aggregate_id,
            sequence,
            event_type,
            event_version,
            payload,
            metadata,
            correlation_id,
            causation_id,
        ) = row
        try:
            event = decode(event_type, event_version, payload)
            decoded_metadata = decode_metadata(metadata)
            version = versions.get(event_version)
            if version is None:
                version = versions[event_version] = str(event_version)
        except Exception as exc:
            # Any failure, not only CodecError: a user's codec may raise anything, and
            # one unreadable aggregate must not take the store down.
            return Error(
                EventStoreError(
                    scrub(
                        f"cannot read event {event_type!r} version {event_version} of "
                        f"aggregate {aggregate_id!r} ({aggregate_type}) at sequence "
                        f"{sequence} in {where}: {exc}"
                    ),
                    StoreFailure.UNDECODABLE,
                )
            )
        append(
            SerializedEventEnvelop(
                aggregate_id,
                sequence,
                event,
                decoded_metadata,
                event_type,
                version,
                aggregate_type,
                correlation_id,
                causation_id,
            )
        )
    return Ok(envelopes)


def decode_snapshot(
    codec: Codec[EventT, EntityT],
    where: str,
    aggregate_id: str,
    row: tuple[int, str, int, str, TimeT],
    timestamp: Callable[[TimeT], datetime],
    logger: logging.Logger,
    scrub: Callable[[str], str] = _unchanged,
) -> Snapshot[EntityT] | None:
    """Decode a snapshot row ``(sequence, entity_type, entity_version, payload, taken_at)``.

    ``timestamp`` turns the stored ``taken_at`` into the snapshot's time. A snapshot that
    cannot be decoded is logged on ``logger`` (the store's) and ``None`` is returned.
    """
    sequence, entity_type, entity_version, payload, taken_at = row
    try:
        entity = codec.decode_entity(entity_type, entity_version, payload)
        moment = timestamp(taken_at)
    except Exception as exc:
        logger.warning(
            "ignoring the snapshot of aggregate %r at sequence %s in %s (entity %r version %s):"
            " %s; replaying its events instead",
            aggregate_id,
            sequence,
            where,
            entity_type,
            entity_version,
            scrub(str(exc)),
        )
        return None
    return Snapshot(aggregate_id, entity, sequence, moment)
