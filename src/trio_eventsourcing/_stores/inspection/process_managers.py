"""The process managers' tables, as the inspection sees them: found by looking, then read.

A process manager on a durable store keeps four tables (``_stores/process_state.py``),
keyed by scope and name: ``process_manager_positions`` (one row per manager),
``process_manager_instances``, ``process_manager_outbox`` and
``process_manager_timers``. A store without them has no process managers, which is not
an error: an SQLite store of schema version 5 or older, or a PostgreSQL schema where no
projection or process manager has run yet (they are created with the projection
tables). A scope is a projection's (``_core.log_source.Selection.scope``): the aggregate
type of a one-type selection, empty for several types; the lag is counted as a
projection's (:func:`.projections.events_after`).

Everything of one manager is read in one snapshot (``Database.snapshot``), so the counts,
the instances, the outbox and the timers shown are those of one saved step, even while
the manager runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from typing_extensions import final

from .errors import InspectionError
from .projections import Database, events_after
from .records import (
    ProcessManagerDetail,
    ProcessManagerInfo,
    StoredCommand,
    StoredInstance,
    StoredTimer,
)
from .rows import epoch_text, to_int, utc_text

TABLES = (
    "process_manager_positions",
    "process_manager_instances",
    "process_manager_outbox",
    "process_manager_timers",
)
"""The tables' names, unprefixed."""


@final
@dataclass(frozen=True, slots=True)
class _Tables:
    positions: str
    instances: str
    outbox: str
    timers: str


def _tables(db: Database, where: str) -> _Tables | None:
    # In one look, so that tables being created meanwhile are seen all or none.
    found = db.find_tables(TABLES)
    # A quoted name ends with the table's own, after the backend's prefix if any.
    named = {
        table: quoted for quoted, _ in found for table in TABLES if quoted.endswith(f'{table}"')
    }
    if not named:
        return None
    if len(named) < len(TABLES):
        missing = ", ".join(t for t in TABLES if t not in named)
        raise InspectionError(
            f"{where} has some of the process managers' tables but not all (missing: "
            f"{missing}): it is damaged"
        )
    return _Tables(*(named[table] for table in TABLES))


def process_managers(db: Database, where: str) -> tuple[ProcessManagerInfo, ...]:
    """Every process manager, by name then aggregate type; none without the tables.

    Raises:
        InspectionError: Some of the tables are missing, or a query failed.
    """
    with db.snapshot():
        tables = _tables(db, where)
        return () if tables is None else tuple(_infos(db, tables, None))


def process_manager(
    db: Database, where: str, name: str, aggregate_type: str | None
) -> ProcessManagerDetail:
    """Process manager ``name`` with its instances, outbox and timers, read at once.

    ``aggregate_type`` chooses among managers of that name in several scopes (an empty
    one: the manager of several aggregate types).

    Raises:
        InspectionError: No such process manager; several of that name and no
            ``aggregate_type`` to choose (a usage error); or a query failed.
    """
    with db.snapshot():
        tables = _tables(db, where)
        found = [] if tables is None else _infos(db, tables, name)
        chosen = [i for i in found if aggregate_type is None or i.aggregate_type == aggregate_type]
        if found and not chosen:
            raise InspectionError(
                f"{where} has no process manager named {name!r} of aggregate type "
                f"{_shown(aggregate_type or '')} (those of that name are of: "
                f"{', '.join(_shown(i.aggregate_type) for i in found)})"
            )
        if not chosen:
            known = (
                []
                if tables is None
                else sorted({str(r[0]) for r in db.rows(f"SELECT name FROM {tables.positions}")})
            )
            listing = ", ".join(repr(n) for n in known[:20]) or "none"
            raise InspectionError(
                f"{where} has no process manager named {name!r} (it has: {listing})"
            )
        if len(chosen) > 1:
            types = ", ".join(_shown(i.aggregate_type) for i in chosen)
            raise InspectionError(
                f"{where} has process managers named {name!r} for several aggregate types "
                f"({types}): choose one with --aggregate-type",
                usage=True,
            )
        assert tables is not None  # a manager was found in them
        (info,) = chosen
        return _pending(db, tables, info)


def _pending(db: Database, tables: _Tables, info: ProcessManagerInfo) -> ProcessManagerDetail:
    mark = db.placeholder
    key = f"scope = {mark} AND name = {mark}"
    parameters = (info.aggregate_type, info.name)
    instances = tuple(
        StoredInstance(str(i), str(t), to_int(v), str(s), str(c))
        for i, t, v, s, c in db.rows(
            "SELECT instance, state_type, state_version, state, correlation_id"
            f" FROM {tables.instances} WHERE {key} ORDER BY instance",
            parameters,
        )
    )
    outbox = tuple(
        StoredCommand(
            to_int(s), str(i), str(g), str(a), str(t), to_int(v), str(d), str(k), str(c), str(u)
        )
        for s, i, g, a, t, v, d, k, c, u in db.rows(
            "SELECT sequence, instance, target, aggregate_id, command_type, command_version,"
            " command, command_key, correlation_id, causation_id"
            f" FROM {tables.outbox} WHERE {key} ORDER BY sequence",
            parameters,
        )
    )
    timers = tuple(
        StoredTimer(str(i), str(t), epoch_text(due), str(b))
        for i, t, due, b in db.rows(
            f"SELECT instance, timer, due, set_by FROM {tables.timers} WHERE {key}"
            " ORDER BY due, instance, timer",
            parameters,
        )
    )
    return ProcessManagerDetail(info, instances, outbox, timers)


def _infos(db: Database, tables: _Tables, name: str | None) -> list[ProcessManagerInfo]:
    # The callers read in a snapshot: the counts and the lags are of one saved step.
    key = "x.scope = p.scope AND x.name = p.name"
    named = "" if name is None else f" WHERE p.name = {db.placeholder}"
    rows = db.rows(
        "SELECT p.name, p.scope, p.position, p.updated_at,"
        f" (SELECT count(*) FROM {tables.instances} x WHERE {key}),"
        f" (SELECT count(*) FROM {tables.outbox} x WHERE {key}),"
        f" (SELECT count(*) FROM {tables.timers} x WHERE {key}),"
        f" (SELECT min(x.due) FROM {tables.timers} x WHERE {key})"
        f" FROM {tables.positions} p{named} ORDER BY p.name, p.scope",
        () if name is None else (name,),
    )
    infos = []
    for found, scope, position, updated_at, instances, outbox, timers, next_due in rows:
        at = to_int(position)
        infos.append(
            ProcessManagerInfo(
                name=str(found),
                aggregate_type=str(scope),
                position=at,
                lag=events_after(db, at, str(scope)),
                updated_at=utc_text(updated_at),
                instances=to_int(instances),
                outbox=to_int(outbox),
                timers=to_int(timers),
                next_timer_due=None if next_due is None else epoch_text(next_due),
            )
        )
    return infos


def _shown(scope: str) -> str:
    # An empty scope is the manager of several aggregate types, which ``''`` alone hides.
    return repr(scope) if scope else "'' (several types)"
