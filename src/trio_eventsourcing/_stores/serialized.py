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
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from .._codec.json_codec import Codec
from .._core.envelopes import Metadata, SerializedEventEnvelop
from .._core.errors import EventStoreError, StoreFailure
from .._core.log import LogEntry
from .._core.records import EventEnvelop, Snapshot
from .._runtime.result import Error, Ok, Result

EntityT = TypeVar("EntityT")
EventT = TypeVar("EventT")
TimeT = TypeVar("TimeT")

# A stored event as read. The drivers type rows as Any; data edited by hand may hold
# other types, which the codec and the checks here refuse.
EventRow = tuple[str, str, int, str, int, str, str, str, str]
"""``(aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata,
correlation_id, causation_id)``."""
LogRow = tuple[int, TimeT, str, str, int, str, int, str, str, str, str]
"""``(position, recorded_at, *EventRow)``: a row of the log, its time as the driver gives it."""
HeadedLogRow = tuple[int, TimeT, str, str, int, str, int, str, str, str, str, int]
"""A `LogRow` and one more column: PostgreSQL's page query adds the log's end to each row."""


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
    rows: Sequence[EventRow],
    scrub: Callable[[str], str] = _unchanged,
) -> Result[list[EventEnvelop[EventT]], EventStoreError]:
    """Decode ``rows``, in order; the first that fails is the error, naming ``where``."""
    return _decode_rows({codec.aggregate_type: codec}, where, rows, scrub, None, False)


def decode_log(
    codecs: Mapping[str, Codec[Any, Any]],
    where: str,
    rows: Sequence[LogRow[TimeT]] | Sequence[HeadedLogRow[TimeT]],
    moment: Callable[[TimeT], datetime],
    scrub: Callable[[str], str] = _unchanged,
    *,
    headed: bool = False,
) -> Result[list[LogEntry[Any]], EventStoreError]:
    """Decode log ``rows`` with the codec of each one's aggregate type, in order.

    ``moment`` turns a stored recording time into the entry's; it is called once for each
    run of rows recorded at the same time (the events of one commit). ``headed``: each
    row ends with one more column, which is left alone (`HeadedLogRow`). The first row
    that fails is the error, naming ``where``.
    """
    return _decode_rows(codecs, where, rows, scrub, moment, headed)


# One loop for both: reading a page of the log is the hot path of replays and projections,
# so each row is unpacked once and turned into its entry at once, and the codec's decoder
# of each event type and version is looked up once per page, not per event.
def _decode_rows(
    codecs: Mapping[str, Codec[Any, Any]],
    where: str,
    rows: Sequence[Sequence[Any]],
    scrub: Callable[[str], str],
    moment: Callable[[Any], datetime] | None,
    headed: bool,
) -> Result[list[Any], EventStoreError]:
    decoded: list[Any] = []
    append = decoded.append
    # By aggregate type, then event type: (version, decoder, version as the envelope
    # spells it). Another version of a type (an upcast one beside current ones) is
    # looked up in `others`.
    decoders: dict[str, dict[str, tuple[int, Callable[[str], Any], str]]] = {}
    others: dict[tuple[str, str, int], tuple[int, Callable[[str], Any], str]] = {}
    position: int = 0
    stored_time: object = None
    recorded_at = datetime.min
    for row in rows:
        if moment is None:
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
        else:
            if headed:
                (
                    position,
                    recorded,
                    aggregate_type,
                    aggregate_id,
                    sequence,
                    event_type,
                    event_version,
                    payload,
                    metadata,
                    correlation_id,
                    causation_id,
                    _,
                ) = row
            else:
                (
                    position,
                    recorded,
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
            if recorded != stored_time:
                try:
                    recorded_at = moment(recorded)
                except (TypeError, ValueError) as exc:
                    return Error(
                        EventStoreError(
                            scrub(
                                f"cannot read the recording time {recorded!r} of the event at "
                                f"position {position} in {where}: {exc}"
                            ),
                            StoreFailure.UNDECODABLE,
                        )
                    )
                stored_time = recorded
        try:
            by_type = decoders.get(aggregate_type)
            if by_type is None:
                by_type = decoders[aggregate_type] = {}
            known = by_type.get(event_type)
            if known is None or known[0] != event_version:
                key = (aggregate_type, event_type, event_version)
                known = others.get(key)
                if known is None:
                    decode = codecs[aggregate_type].event_decoder(event_type, event_version)
                    known = others[key] = (event_version, decode, str(event_version))
                if event_type not in by_type:
                    by_type[event_type] = known
            event = known[1](payload)
            # Most events carry no metadata: skip the call for the text it writes then.
            decoded_metadata = [] if metadata == "[]" else decode_metadata(metadata)
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
        envelope = SerializedEventEnvelop(
            aggregate_id,
            sequence,
            event,
            decoded_metadata,
            event_type,
            known[2],
            aggregate_type,
            correlation_id,
            causation_id,
        )
        append(envelope if moment is None else LogEntry(position, recorded_at, envelope))
    return Ok(decoded)


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
