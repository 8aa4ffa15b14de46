"""What a command does: atomic commits with metadata, no-ops, domain errors, reads."""

from __future__ import annotations

import pytest

import trio_eventsourcing as eventsourcing
from tests.core.conftest import (
    Added,
    Clear,
    Cleared,
    Nothing,
    Rejected,
    Tally,
    add,
    open_system,
    reply,
)
from trio_eventsourcing import Aggregate, AggregateStats, DomainError, EntityNotFound, Error, Ok


async def test_all_events_of_a_command_are_committed_with_its_metadata() -> None:
    async with open_system() as system:
        metadata = [("user_id", "alice"), ("trace", "t-42")]
        assert await system.run("t-1", add(1, 2, 3), metadata) == Ok(None)
        assert await system.run("t-1", add(4)) == Ok(None)
        events = await system.events("t-1")
        assert [(e.aggregate_id, e.sequence, e.payload, e.metadata) for e in events] == [
            ("t-1", 1, Added(1), metadata),
            ("t-1", 2, Added(2), metadata),
            ("t-1", 3, Added(3), metadata),
            ("t-1", 4, Added(4), []),
        ]


async def test_execute_with_metadata_stores_the_metadata() -> None:
    async with open_system() as system:
        eventsourcing.execute_with_metadata(system.subject, "t-1", add(7, 8), [("k", "v")])
        assert await system.run("t-1", add(9)) == Ok(None)
        assert [e.metadata for e in await system.events("t-1")] == [[("k", "v")], [("k", "v")], []]


async def test_a_command_with_several_events_is_delivered_as_one_batch() -> None:
    async with open_system() as system:
        assert await system.run("t-1", add(1, 2, 3)) == Ok(None)
        assert await system.run("t-1", add(4)) == Ok(None)
        assert await system.delivered("t-1") == [[Added(1), Added(2), Added(3)], [Added(4)]]


@pytest.mark.parametrize(
    ("start_from", "sequences"), [(0, [1, 2, 3, 4]), (1, [2, 3, 4]), (3, [4]), (4, []), (9, [])]
)
async def test_load_events_from_returns_sequences_greater_than_start_from(
    start_from: int, sequences: list[int]
) -> None:
    async with open_system() as system:
        assert await system.run("t-1", add(1, 2, 3, 4)) == Ok(None)
        assert [e.sequence for e in await system.events("t-1", start_from)] == sequences


async def test_load_events_of_an_unknown_aggregate_is_empty() -> None:
    async with open_system() as system:
        assert await system.events("nobody") == []
        assert await system.events("nobody", 3) == []


async def test_load_aggregate_of_an_unknown_aggregate_is_entity_not_found() -> None:
    async with open_system() as system:
        assert await system.load("nobody") == Error(EntityNotFound())


async def test_load_aggregate_whose_state_equals_empty_state_is_entity_not_found() -> None:
    async with open_system() as system:
        assert await system.run("t-1", add(5)) == Ok(None)
        assert await system.load("t-1") == Ok(Aggregate("t-1", Tally(5, (5,)), 1))
        assert await system.run("t-1", Clear()) == Ok(None)
        assert await system.payloads("t-1") == [Added(5), Cleared()]
        assert await system.load("t-1") == Error(EntityNotFound())


async def test_domain_error_is_reported_and_changes_nothing() -> None:
    async with open_system() as system:
        assert await system.run("t-1", add(1)) == Ok(None)
        assert await system.run("t-1", add(2, -3)) == Error(DomainError(Rejected(-3)))
        assert await system.payloads("t-1") == [Added(1)]
        assert await system.load("t-1") == Ok(Aggregate("t-1", Tally(1, (1,)), 1))
        assert await system.delivered("t-1") == [[Added(1)]]
        # The sequence did not move: the next command's event is number 2.
        assert await system.run("t-1", add(4)) == Ok(None)
        assert [e.sequence for e in await system.events("t-1")] == [1, 2]


async def test_domain_error_restarts_nothing() -> None:
    async with open_system() as system:
        for _ in range(5):
            assert await system.run("t-1", add(-1)) == Error(DomainError(Rejected(-1)))
        assert system.restarts() == 0
        assert await system.run("t-1", add(1)) == Ok(None)
        assert system.faulty.aggregate_loads == 1  # the cached state was never dropped


async def test_a_command_with_no_events_is_a_successful_no_op() -> None:
    async with open_system() as system:
        assert await system.run("t-1", add(1)) == Ok(None)
        transactions = system.faulty.write_transactions
        assert await system.run("t-1", Nothing()) == Ok(None)
        assert await system.run("t-1", add()) == Ok(None)
        assert await system.stats("t-1") == AggregateStats("t-1", 1, 1, has_snapshot=False)
        assert await system.payloads("t-1") == [Added(1)]
        assert await system.delivered("t-1") == [[Added(1)]]
        assert system.faulty.write_transactions == transactions  # nothing was written
        assert await system.run("t-1", add(2)) == Ok(None)
        assert [e.sequence for e in await system.events("t-1")] == [1, 2]


async def test_a_no_op_on_a_new_aggregate_stores_nothing() -> None:
    async with open_system() as system:
        assert await system.run("t-1", Nothing()) == Ok(None)
        assert await system.events("t-1") == []
        assert await system.load("t-1") == Error(EntityNotFound())


async def test_execute_reports_nothing_back() -> None:
    async with open_system() as system:
        eventsourcing.execute(system.subject, "t-1", add(1))
        assert await reply(eventsourcing.load_aggregate(system.subject, "t-1")) == Ok(
            Aggregate("t-1", Tally(1, (1,)), 1)
        )
