"""A log selection as both durable stores query it: one SQL condition, one codec per type.

A :class:`~trio_eventsourcing._core.log_source.Selection` names aggregate types of one
database and, for some, the event classes wanted. :class:`QueriedSelection` turns it into
a condition on the ``aggregate_type`` and ``event_type`` columns, so that the store's
query leaves the other events out (they are neither read into Python nor decoded), and
decodes the rows it returns with the codec of each row's aggregate type.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from typing_extensions import final

from .._codec.json_codec import Codec
from .._core.errors import EventStoreError
from .._core.log_source import Selection
from .._core.records import EventEnvelop
from .._runtime.result import Error, Ok, Result
from .serialized import EventRow, decode_events


def _unchanged(text: str) -> str:
    return text


def runner_key(scope: str, name: str) -> str:
    """The key of projection ``name``'s runner lock in this process, within its scope.

    Projections of one name over different aggregate types are different projections, and
    run side by side.
    """
    return f"{scope}\x00{name}"


@final
class QueriedSelection:
    """A selection's SQL condition and parameters, and its codecs by aggregate type.

    ``mark`` is the driver's placeholder (``?`` for sqlite3, ``%s`` for psycopg).
    """

    __slots__ = ("codecs", "condition", "parameters", "scope")

    def __init__(self, selection: Selection[Any], mark: str) -> None:
        self.scope = selection.scope
        self.codecs: Mapping[str, Codec[Any, Any]] = {
            part.aggregate_type: part.store.codec for part in selection.parts
        }
        whole = [part.aggregate_type for part in selection.parts if part.event_classes is None]
        conditions: list[str] = []
        parameters: list[object] = []
        if len(whole) == 1:
            conditions.append(f"aggregate_type = {mark}")
            parameters.extend(whole)
        elif whole:
            conditions.append(f"aggregate_type IN ({', '.join([mark] * len(whole))})")
            parameters.extend(whole)
        for part in selection.parts:
            if part.event_classes is None:
                continue
            codec = self.codecs[part.aggregate_type]
            names = sorted({codec.event_type_name(cls) for cls in part.event_classes})
            conditions.append(
                f"(aggregate_type = {mark} AND event_type IN ({', '.join([mark] * len(names))}))"
            )
            parameters.extend([part.aggregate_type, *names])
        self.condition = conditions[0] if len(conditions) == 1 else f"({' OR '.join(conditions)})"
        self.parameters: tuple[object, ...] = tuple(parameters)

    def decode(
        self, where: str, rows: list[EventRow], scrub: Callable[[str], str] = _unchanged
    ) -> Result[list[EventEnvelop[Any]], EventStoreError]:
        """Decode ``rows`` in order, each with its aggregate type's codec."""
        codecs = self.codecs
        if len(codecs) == 1:
            (codec,) = codecs.values()
            return decode_events(codec, where, rows, scrub)
        envelopes: list[EventEnvelop[Any]] = []
        start = 0
        # Runs of one aggregate type decode together: one codec lookup per run.
        for index in range(1, len(rows) + 1):
            if index < len(rows) and rows[index][0] == rows[start][0]:
                continue
            decoded = decode_events(codecs[rows[start][0]], where, rows[start:index], scrub)
            if isinstance(decoded, Error):
                return decoded
            envelopes.extend(decoded.value)
            start = index
        return Ok(envelopes)
