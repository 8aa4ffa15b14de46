"""A log selection as both durable stores query it: one SQL condition, one codec per type.

A :class:`~trio_eventsourcing._core.log_source.Selection` names aggregate types of one
database and, for some, the event classes wanted. :class:`QueriedSelection` turns it into
a condition on the ``aggregate_type`` and ``event_type`` columns, so that the store's
query leaves the other events out (they are neither read into Python nor decoded), and
keeps the codec of each aggregate type, with which the store decodes the rows returned
(``_stores.serialized.decode_log``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from typing_extensions import final

from .._codec.json_codec import Codec
from .._core.log_source import LogPage, LogRecord, Selection

EntryT = TypeVar("EntryT", bound=LogRecord[object])


# A page of the log is a walk of the positions from the checkpoint on, which stops after
# `LIMIT` rows. Left to itself, SQLite takes the aggregate type to the unique index that
# begins with it, then sorts every event of that type on every page: quadratic in the
# log's length (measured: 100,000 events read 180 times slower in pages of 100). It has
# no statistics unless asked to gather them, so its conditions write the aggregate type
# with a unary plus, which keeps that index out of its plans. PostgreSQL, with statistics
# of the table, walks the primary key (see ``postgres.projection``, which makes sure they
# exist); an expression would hide the type from its statistics.
SQLITE_KIND = "+aggregate_type"
"""``aggregate_type`` in SQLite's conditions: the unary plus keeps its index out of plans."""
POSTGRES_KIND = "aggregate_type"
"""``aggregate_type`` in PostgreSQL's conditions: the column, which its statistics know."""


def page_of(entries: Sequence[EntryT], limit: int, head: int) -> LogPage[EntryT]:
    """The page of ``entries`` read with at most ``limit`` rows, the log ending at ``head``."""
    if len(entries) >= limit:
        return LogPage(entries, entries[-1].position)
    return LogPage(entries, head)


def runner_key(scope: str, name: str) -> str:
    """The key of projection ``name``'s runner lock in this process, within its scope.

    Projections of one name over different aggregate types are different projections, and
    run side by side.
    """
    return f"{scope}\x00{name}"


@final
class QueriedSelection:
    """A selection's SQL condition and parameters, and its codecs by aggregate type.

    ``mark`` is the driver's placeholder (``?`` for sqlite3, ``%s`` for psycopg);
    ``kind`` the expression of the ``aggregate_type`` column, as the backend's
    :data:`SQLITE_KIND` or :data:`POSTGRES_KIND`.
    """

    __slots__ = ("codecs", "condition", "parameters", "scope")

    def __init__(self, selection: Selection[Any], mark: str, kind: str) -> None:
        self.scope = selection.scope
        self.codecs: Mapping[str, Codec[Any, Any]] = {
            part.aggregate_type: part.store.codec for part in selection.parts
        }
        whole = [part.aggregate_type for part in selection.parts if part.event_classes is None]
        conditions: list[str] = []
        parameters: list[object] = []
        if len(whole) == 1:
            conditions.append(f"{kind} = {mark}")
            parameters.extend(whole)
        elif whole:
            conditions.append(f"{kind} IN ({', '.join([mark] * len(whole))})")
            parameters.extend(whole)
        for part in selection.parts:
            if part.event_classes is None:
                continue
            codec = self.codecs[part.aggregate_type]
            names = sorted({codec.event_type_name(cls) for cls in part.event_classes})
            conditions.append(
                f"({kind} = {mark} AND event_type IN ({', '.join([mark] * len(names))}))"
            )
            parameters.extend([part.aggregate_type, *names])
        self.condition = conditions[0] if len(conditions) == 1 else f"({' OR '.join(conditions)})"
        self.parameters: tuple[object, ...] = tuple(parameters)
