"""Bad arguments to ``supervised`` and the API functions fail at once, naming the argument."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import trio_eventsourcing as eventsourcing
from tests.core.conftest import (
    Envelope,
    QueryName,
    Tally,
    TallyEvent,
    TallyMessage,
    TallyStore,
    add,
    apply,
    handle,
)
from trio_eventsourcing import Ok, Query, SnapshotConfig, frequency, memory_store, process
from trio_eventsourcing.static_supervisor import OneForOne


def ignore(aggregate_id: str, events: list[Envelope]) -> None:
    pass


def new_store() -> TallyStore:
    events_name: process.Name[memory_store.GetEvents[TallyEvent]] = process.new_name("events")
    snapshot_name: process.Name[memory_store.GetSnapshot[Tally]] = process.new_name("snapshots")
    store, _ = memory_store.supervised(events_name, snapshot_name, OneForOne)
    return store


def supervise(**changes: object) -> None:
    """Call ``supervised`` with valid arguments but for ``changes``."""
    name: process.Name[TallyMessage] = process.new_name("tally")
    arguments: dict[str, Any] = {
        "name": name,
        "eventstore": new_store(),
        "handle": handle,
        "apply": apply,
        "empty_state": Tally(),
        "queries": [],
        "snapshot_config": None,
    }
    arguments.update(changes)
    eventsourcing.supervised(**arguments)


def test_valid_arguments_give_ok_child_specification() -> None:
    name: process.Name[TallyMessage] = process.new_name("tally")
    query: Query[TallyEvent] = (process.new_name("q"), ignore)
    result = eventsourcing.supervised(
        name,
        new_store(),
        handle,
        apply,
        Tally(),
        [query],
        SnapshotConfig(frequency(2).unwrap()),
        max_retries=0,
        load_timeout=0.01,
        max_workers=1,
        idle_timeout=1,
        shutdown_timeout=2.5,
    )
    assert isinstance(result, Ok)


@pytest.mark.parametrize(
    ("argument", "value", "error", "message"),
    [
        ("name", "tally", TypeError, "^name must be a Name"),
        ("eventstore", object(), TypeError, "^eventstore must be an EventStore"),
        ("handle", None, TypeError, "^handle must be callable"),
        ("apply", 3, TypeError, "^apply must be callable"),
        ("snapshot_config", 5, TypeError, "^snapshot_config must be a SnapshotConfig"),
        ("queries", [ignore], TypeError, r"^queries\[0\] must be a \(Name, function\) pair"),
        ("queries", [("q", ignore)], TypeError, r"^queries\[0\] must be a \(Name, function\)"),
        ("max_retries", -1, ValueError, "^max_retries must not be negative"),
        ("max_retries", True, TypeError, "^max_retries must be an int"),
        ("load_timeout", 0, ValueError, "^load_timeout must be a finite number of seconds"),
        ("load_timeout", float("nan"), ValueError, "^load_timeout must be a finite number"),
        ("load_timeout", "5", TypeError, "^load_timeout must be a number of seconds"),
        ("max_workers", 0, ValueError, "^max_workers must be greater than zero"),
        ("idle_timeout", -5, ValueError, "^idle_timeout must be a finite number of seconds"),
        ("idle_timeout", float("inf"), ValueError, "^idle_timeout must be a finite number"),
    ],
)
def test_supervised_rejects_a_bad_argument_naming_it(
    argument: str, value: object, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        supervise(**{argument: value})


def test_supervised_rejects_two_queries_with_one_name() -> None:
    shared: QueryName = process.new_name("q")
    with pytest.raises(ValueError, match=r"^queries\[1\] uses the Name .* twice"):
        supervise(queries=[(shared, ignore), (shared, ignore)])


def test_supervised_rejects_a_query_named_like_the_system() -> None:
    name: process.Name[TallyMessage] = process.new_name("tally")
    with pytest.raises(ValueError, match=r"^queries\[0\] uses the Name .* twice"):
        supervise(name=name, queries=[(name, ignore)])


SUBJECT: process.Subject[TallyMessage] = process.new_subject()

CALLS_WITH_AN_AGGREGATE_ID: list[Callable[[Any], object]] = [
    lambda aggregate_id: eventsourcing.execute(SUBJECT, aggregate_id, add(1)),
    lambda aggregate_id: eventsourcing.execute_with_metadata(SUBJECT, aggregate_id, add(1), []),
    lambda aggregate_id: eventsourcing.execute_with_response(SUBJECT, aggregate_id, add(1), []),
    lambda aggregate_id: eventsourcing.load_aggregate(SUBJECT, aggregate_id),
    lambda aggregate_id: eventsourcing.load_events(SUBJECT, aggregate_id),
    lambda aggregate_id: eventsourcing.load_events_from(SUBJECT, aggregate_id, 0),
    lambda aggregate_id: eventsourcing.latest_snapshot(SUBJECT, aggregate_id),
    lambda aggregate_id: eventsourcing.aggregate_stats(SUBJECT, aggregate_id),
]
CALL_NAMES = [
    "execute",
    "execute_with_metadata",
    "execute_with_response",
    "load_aggregate",
    "load_events",
    "load_events_from",
    "latest_snapshot",
    "aggregate_stats",
]


@pytest.mark.parametrize("call", CALLS_WITH_AN_AGGREGATE_ID, ids=CALL_NAMES)
@pytest.mark.parametrize("bad_id", ["", 42, None, b"t-1"])
def test_api_functions_reject_a_bad_aggregate_id_naming_it(
    call: Callable[[Any], object], bad_id: object
) -> None:
    with pytest.raises(ValueError, match=r"^aggregate_id must be a non-empty str"):
        call(bad_id)
    assert SUBJECT.pending() == 0  # nothing was sent


@pytest.mark.parametrize(
    "metadata",
    [None, {"user": "alice"}, [("user",)], [("user", 1)], [["user", "alice"]], ("a", "b")],
    ids=repr,
)
def test_api_functions_reject_bad_metadata_naming_it(metadata: object) -> None:
    with pytest.raises(TypeError, match=r"^metadata must be a list of"):
        eventsourcing.execute_with_metadata(SUBJECT, "t-1", add(1), metadata)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^metadata must be a list of"):
        eventsourcing.execute_with_response(SUBJECT, "t-1", add(1), metadata)  # type: ignore[arg-type]
    assert SUBJECT.pending() == 0


def test_load_events_from_rejects_a_negative_start_from_naming_it() -> None:
    with pytest.raises(ValueError, match=r"^start_from must not be negative"):
        eventsourcing.load_events_from(SUBJECT, "t-1", -1)
    with pytest.raises(TypeError, match=r"^start_from must be an int"):
        eventsourcing.load_events_from(SUBJECT, "t-1", "3")  # type: ignore[arg-type]
    assert SUBJECT.pending() == 0


def test_metadata_is_copied_when_sent() -> None:
    metadata = [("user", "alice")]
    subject: process.Subject[TallyMessage] = process.new_subject()
    eventsourcing.execute_with_metadata(subject, "t-1", add(1), metadata)
    metadata.append(("late", "change"))
    message = subject._mailbox.get_nowait()
    assert isinstance(message, eventsourcing.ExecuteCommand)
    assert message.metadata == [("user", "alice")]


@pytest.mark.parametrize("call", CALLS_WITH_AN_AGGREGATE_ID, ids=CALL_NAMES)
@pytest.mark.parametrize(
    ("bad_id", "problem"),
    [
        ("t\x00-1", "NUL character"),
        ("t-\ud800", "lone surrogate"),
        ("x" * 1_001, "1001 bytes long in UTF-8; at most 1000"),
        ("é" * 501, "1002 bytes long in UTF-8; at most 1000"),
    ],
)
def test_api_functions_refuse_an_aggregate_id_no_store_can_keep(
    call: Callable[[Any], object], bad_id: str, problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        call(bad_id)
    assert SUBJECT.pending() == 0  # nothing was sent


@pytest.mark.parametrize("call", CALLS_WITH_AN_AGGREGATE_ID, ids=CALL_NAMES)
def test_api_functions_take_an_aggregate_id_of_1000_bytes(call: Callable[[Any], object]) -> None:
    call("é" * 500)
    assert SUBJECT.pending() == 1
    SUBJECT._mailbox.get_nowait()
