"""A fault-injecting wrapper around any :class:`EventStore`, for tests of the core.

``FaultyStore(inner).store`` is an ``EventStore`` that delegates to ``inner`` but can be
told to fail, refuse or hold back particular calls, and that counts what the core asks of
it. Every knob is a plain attribute, so a test states the fault it injects right where it
uses it::

    faulty = FaultyStore(memory_event_store)
    faulty.fail_commits("acc-1", Raise(OSError("disk full")))  # the next commit of acc-1
    faulty.commit_gates["acc-2"] = gate = trio.Event()          # acc-2 commits wait for it
    faulty.after_commit_faults.append(Refuse(OutcomeUnknown(...)))  # stored, then it fails
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Generic, TypeVar

import trio

from trio_eventsourcing import (
    Aggregate,
    ConcurrencyConflict,
    Error,
    EventEnvelop,
    EventStore,
    Metadata,
    Ok,
    Snapshot,
    StoreError,
    StoreResult,
    Transaction,
)

StoreT = TypeVar("StoreT")
EntityT = TypeVar("EntityT")
EventT = TypeVar("EventT")
TxT = TypeVar("TxT")


@dataclass(frozen=True)
class Raise:
    """The store function raises ``exception`` (a bug or an unexpected driver error)."""

    exception: Exception


@dataclass(frozen=True)
class Refuse:
    """The store function returns ``Error(error)`` (a failure the store reports)."""

    error: StoreError


@dataclass(frozen=True)
class Conflict:
    """``commit_events`` refuses as if another writer had committed ``ahead`` events first."""

    ahead: int = 1


Fault = Raise | Refuse | Conflict


class FaultyStore(Generic[StoreT, EntityT, EventT, TxT]):
    """Wraps ``inner``; ``self.store`` is the wrapped :class:`EventStore` to hand the core.

    Faults (each consumed by one call, oldest first):
        ``commit_faults[aggregate_id]``: for ``commit_events`` of that aggregate.
        ``snapshot_faults``: for ``save_snapshot``.
        ``load_faults[aggregate_id]``: for ``load_snapshot`` of that aggregate (the first
        store call of every aggregate load).
        ``after_commit_faults``: for ``execute_transaction`` *after* the inner store
        committed it: the transaction is stored, yet the caller is told it failed (as a
        store that lost its connection after sending ``COMMIT`` would).
        ``lookup_faults``: for ``command_stored``.

    Gates (a call waits until the event is set; an event never set blocks for good):
        ``commit_gate`` / ``commit_gates[aggregate_id]``: ``commit_events``.
        ``load_gate``: ``load_aggregate_transaction``.

    Observations:
        ``aggregate_loads``: calls of ``load_aggregate_transaction`` (one per aggregate
        load, replaying the stream after the latest snapshot).
        ``event_loads``: ``(aggregate_id, start_from)`` of every ``load_events`` call (in
        aggregate loads and in event reads).
        ``write_transactions``: calls of ``execute_transaction``.
        ``commits_in_flight`` and ``max_commits_in_flight``: write transactions running.
        ``saved_snapshots``: every snapshot handed to ``save_snapshot``, in order.
        ``committed_keys``: the idempotency key of every ``commit_events`` call, in order.
        ``key_lookups``: ``(aggregate_id, key)`` of every ``command_stored`` call.
    """

    def __init__(self, inner: EventStore[StoreT, EntityT, EventT, TxT]) -> None:
        self.inner = inner
        self.commit_faults: dict[str, deque[Fault]] = {}
        self.snapshot_faults: deque[Fault] = deque()
        self.load_faults: dict[str, deque[Fault]] = {}
        self.after_commit_faults: deque[Fault] = deque()
        self.lookup_faults: deque[Fault] = deque()
        self.committed_keys: list[str | None] = []
        self.key_lookups: list[tuple[str, str]] = []
        self.commit_gate: trio.Event | None = None
        self.commit_gates: dict[str, trio.Event] = {}
        self.load_gate: trio.Event | None = None
        self.aggregate_loads = 0
        self.event_loads: list[tuple[str, int]] = []
        self.write_transactions = 0
        self.commits_in_flight = 0
        self.max_commits_in_flight = 0
        self.saved_snapshots: list[Snapshot[EntityT]] = []
        self.store: EventStore[StoreT, EntityT, EventT, TxT] = EventStore(
            execute_transaction=self._execute_transaction,
            load_aggregate_transaction=self._load_aggregate_transaction,
            load_events_transaction=inner.load_events_transaction,
            get_latest_snapshot_transaction=inner.get_latest_snapshot_transaction,
            commit_events=self._commit_events,
            load_events=self._load_events,
            load_snapshot=self._load_snapshot,
            save_snapshot=self._save_snapshot,
            command_stored=self._command_stored,
            eventstore=inner.eventstore,
        )

    def fail_commits(self, aggregate_id: str, *faults: Fault) -> None:
        """Make the next commits of ``aggregate_id`` meet ``faults``, one each."""
        self.commit_faults.setdefault(aggregate_id, deque()).extend(faults)

    def fail_loads(self, aggregate_id: str, *faults: Fault) -> None:
        """Make the next loads of ``aggregate_id`` meet ``faults``, one each."""
        self.load_faults.setdefault(aggregate_id, deque()).extend(faults)

    # -- the wrapped functions --------------------------------------------------------

    async def _execute_transaction(self, body: Transaction[TxT, None]) -> StoreResult[None]:
        self.write_transactions += 1
        self.commits_in_flight += 1
        self.max_commits_in_flight = max(self.max_commits_in_flight, self.commits_in_flight)
        try:
            committed = await self.inner.execute_transaction(body)
        finally:
            self.commits_in_flight -= 1
        fault = _next(self.after_commit_faults) if committed == Ok(None) else None
        if fault is not None:
            return _inject(fault)
        return committed

    async def _load_aggregate_transaction(
        self, body: Transaction[TxT, Aggregate[EntityT]]
    ) -> StoreResult[Aggregate[EntityT]]:
        self.aggregate_loads += 1
        if self.load_gate is not None:
            await self.load_gate.wait()
        return await self.inner.load_aggregate_transaction(body)

    async def _commit_events(
        self,
        tx: TxT,
        aggregate: Aggregate[EntityT],
        events: list[EventT],
        metadata: Metadata,
        idempotency_key: str | None,
    ) -> StoreResult[tuple[list[EventEnvelop[EventT]], int]]:
        aggregate_id = aggregate.aggregate_id
        self.committed_keys.append(idempotency_key)
        for gate in (self.commit_gate, self.commit_gates.get(aggregate_id)):
            if gate is not None:
                await gate.wait()
        fault = _next(self.commit_faults.get(aggregate_id))
        if isinstance(fault, Conflict):
            return Error(
                ConcurrencyConflict(
                    aggregate_id, aggregate.sequence, aggregate.sequence + fault.ahead
                )
            )
        if fault is not None:
            return _inject(fault)
        return await self.inner.commit_events(tx, aggregate, events, metadata, idempotency_key)

    async def _command_stored(
        self, store: StoreT, aggregate_id: str, idempotency_key: str
    ) -> StoreResult[bool]:
        self.key_lookups.append((aggregate_id, idempotency_key))
        fault = _next(self.lookup_faults)
        if fault is not None:
            return _inject(fault)
        return await self.inner.command_stored(store, aggregate_id, idempotency_key)

    async def _load_events(
        self, store: StoreT, tx: TxT, aggregate_id: str, start_from: int
    ) -> StoreResult[list[EventEnvelop[EventT]]]:
        self.event_loads.append((aggregate_id, start_from))
        return await self.inner.load_events(store, tx, aggregate_id, start_from)

    async def _load_snapshot(
        self, tx: TxT, aggregate_id: str
    ) -> StoreResult[Snapshot[EntityT] | None]:
        fault = _next(self.load_faults.get(aggregate_id))
        if fault is not None:
            return _inject(fault)
        return await self.inner.load_snapshot(tx, aggregate_id)

    async def _save_snapshot(self, tx: TxT, snapshot: Snapshot[EntityT]) -> StoreResult[None]:
        fault = _next(self.snapshot_faults)
        if fault is not None:
            return _inject(fault)
        self.saved_snapshots.append(snapshot)
        return await self.inner.save_snapshot(tx, snapshot)


def _next(faults: deque[Fault] | None) -> Fault | None:
    return faults.popleft() if faults else None


def _inject(fault: Fault) -> Error[StoreError]:
    if isinstance(fault, Raise):
        raise fault.exception
    if isinstance(fault, Refuse):
        return Error(fault.error)
    raise TypeError(f"{fault!r} only applies to commit_events")
