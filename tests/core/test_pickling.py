"""Every value of the API pickles (SPEC §7: hand-written ``__slots__`` must be tested so)."""

from __future__ import annotations

import pickle
from datetime import datetime, timezone

import pytest

from tests.core.conftest import Added, Rejected, Tally
from trio_eventsourcing import (
    ActorTimeout,
    Aggregate,
    AggregateStats,
    CallbackRaised,
    ConcurrencyConflict,
    DomainError,
    EntityNotFound,
    Error,
    EventStoreError,
    MemoryStoreEventEnvelop,
    Ok,
    ProcessEvents,
    SerializedEventEnvelop,
    Snapshot,
    SnapshotConfig,
    StoreFailure,
    SystemStats,
    frequency,
)
from trio_eventsourcing.sqlite_store import LogEntry

WHEN = datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "value",
    [
        Ok(None),
        Error(EntityNotFound()),
        EventStoreError("x"),
        EventStoreError("x", StoreFailure.UNDECODABLE),
        StoreFailure.REFUSED,
        ActorTimeout("load_aggregate", 5),
        ConcurrencyConflict("t-1", 1, 2),
        CallbackRaised("handle", "ValueError", "x"),
        SnapshotConfig(frequency(3).unwrap()),
        AggregateStats("t-1", 1, 1, has_snapshot=False),
        SystemStats(1, 2),
        pytest.param(DomainError(Rejected(1)), id="DomainError"),
        pytest.param(Aggregate("t-1", Tally(1, (1,)), 1), id="Aggregate"),
        pytest.param(Snapshot("t-1", Tally(), 0, WHEN), id="Snapshot"),
        pytest.param(
            MemoryStoreEventEnvelop("t-1", 1, Added(1), [("k", "v")]),
            id="MemoryStoreEventEnvelop",
        ),
        pytest.param(
            SerializedEventEnvelop("t-1", 1, Added(1), [], "Added", "1", "tally"),
            id="SerializedEventEnvelop",
        ),
        pytest.param(ProcessEvents("t-1", []), id="ProcessEvents"),
        pytest.param(
            LogEntry(
                7, WHEN, SerializedEventEnvelop("t-1", 1, Added(1), [], "Added", "1", "tally")
            ),
            id="LogEntry",
        ),
    ],
    ids=lambda value: type(value).__name__,
)
def test_value_round_trips_through_pickle(value: object) -> None:
    assert pickle.loads(pickle.dumps(value)) == value
