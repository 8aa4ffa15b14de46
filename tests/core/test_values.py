"""``frequency``, ``timeout``, ``describe_error`` and matching results that hold errors."""

from __future__ import annotations

import pickle

import pytest
from typing_extensions import assert_never

from tests.core.conftest import Rejected
from trio_eventsourcing import (
    ActorTimeout,
    CallbackRaised,
    CommandAlreadyStored,
    ConcurrencyConflict,
    DomainError,
    EntityNotFound,
    Error,
    EventSourcingError,
    EventSourcingErrorBase,
    EventStoreError,
    Frequency,
    NonPositiveArgument,
    Ok,
    OutcomeUnknown,
    Result,
    SnapshotConfig,
    StoreFailure,
    Timeout,
    TransactionFailed,
    TransactionRolledBack,
    describe_error,
    frequency,
    timeout,
)


@pytest.mark.parametrize("n", [1, 5, 10_000])
def test_frequency_of_a_positive_number_is_ok(n: int) -> None:
    result = frequency(n)
    assert isinstance(result, Ok)
    assert isinstance(result.value, Frequency)
    assert result.value.value == n
    assert result == frequency(n)


@pytest.mark.parametrize("n", [0, -1, -100])
def test_frequency_of_zero_or_less_is_non_positive_argument(n: int) -> None:
    assert frequency(n) == Error(NonPositiveArgument())


@pytest.mark.parametrize("ms", [1, 5_000])
def test_timeout_of_a_positive_number_is_ok(ms: int) -> None:
    result = timeout(ms)
    assert isinstance(result, Ok)
    assert isinstance(result.value, Timeout)
    assert result.value.value == ms
    assert result.value.seconds == ms / 1000


@pytest.mark.parametrize("ms", [0, -1])
def test_timeout_of_zero_or_less_is_non_positive_argument(ms: int) -> None:
    assert timeout(ms) == Error(NonPositiveArgument())


@pytest.mark.parametrize("value", ["5", 2.5, True, None])
def test_frequency_and_timeout_of_a_non_int_raise_type_error_naming_the_argument(
    value: object,
) -> None:
    with pytest.raises(TypeError, match=r"^frequency must be an int"):
        frequency(value)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^timeout must be an int"):
        timeout(value)  # type: ignore[arg-type]


def test_frequency_and_timeout_have_no_public_constructor() -> None:
    with pytest.raises(TypeError, match="no public constructor"):
        Frequency(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="no public constructor"):
        Timeout(3)  # type: ignore[arg-type]


def test_frequency_and_timeout_are_immutable_and_pickle() -> None:
    freq = frequency(4).unwrap()
    with pytest.raises(AttributeError):
        freq.value = 0  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(freq)) == freq
    ms = timeout(7).unwrap()
    assert pickle.loads(pickle.dumps(ms)) == ms
    assert freq != frequency(5).unwrap()


def test_snapshot_config_takes_only_a_frequency() -> None:
    assert SnapshotConfig(frequency(3).unwrap()).snapshot_frequency.value == 3
    with pytest.raises(TypeError, match="Frequency from frequency"):
        SnapshotConfig(3)  # type: ignore[arg-type]


EVERY_VARIANT: list[EventSourcingError[Rejected]] = [
    DomainError(Rejected(-3)),
    EventStoreError("cannot decode event 'Added' v1 of 't-1' at sequence 3"),
    NonPositiveArgument(),
    EntityNotFound(),
    TransactionFailed(),
    TransactionRolledBack(),
    ActorTimeout("load_aggregate", 500),
    ConcurrencyConflict("t-1", 4, 6),
    CallbackRaised("handle", "ValueError", "kaboom"),
    OutcomeUnknown("t-1", "op-7", "the connection broke while committing"),
    CommandAlreadyStored("t-1", "op-7"),
]


@pytest.mark.parametrize("error", EVERY_VARIANT, ids=lambda e: type(e).__name__)
def test_describe_error_gives_one_readable_line_for_every_variant(
    error: EventSourcingError[Rejected],
) -> None:
    line = describe_error(error)
    assert line.strip() == line
    assert line
    assert "\n" not in line
    assert "object at 0x" not in line


def test_describe_error_names_what_each_variant_carries() -> None:
    assert describe_error(DomainError(Rejected(-3))) == "domain error: Rejected(amount=-3)"
    assert "cannot decode event" in describe_error(EVERY_VARIANT[1])
    assert "greater than zero" in describe_error(NonPositiveArgument())
    assert "not found" in describe_error(EntityNotFound())
    assert describe_error(TransactionFailed()) == "transaction failed"
    assert describe_error(TransactionRolledBack()) == "transaction rolled back"
    assert describe_error(ActorTimeout("load_aggregate", 500)) == (
        "actor timeout: load_aggregate did not finish within 500 ms"
    )
    conflict = describe_error(ConcurrencyConflict("t-1", 4, 6))
    assert "'t-1'" in conflict
    assert "4" in conflict
    assert "6" in conflict
    assert describe_error(CallbackRaised("handle", "ValueError", "kaboom")) == (
        "handle raised ValueError: kaboom"
    )


def test_every_variant_shares_the_non_generic_base() -> None:
    assert all(isinstance(error, EventSourcingErrorBase) for error in EVERY_VARIANT)


def test_field_less_variants_compare_equal_to_any_instance() -> None:
    assert EntityNotFound() == EntityNotFound()
    assert NonPositiveArgument() == NonPositiveArgument()
    assert TransactionFailed() == TransactionFailed()
    rolled_back: object = TransactionRolledBack()
    assert TransactionFailed() != rolled_back
    assert Error(EntityNotFound()) == Error(EntityNotFound())


def test_variants_with_fields_compare_by_value() -> None:
    assert DomainError(Rejected(1)) == DomainError(Rejected(1))
    assert DomainError(Rejected(1)) != DomainError(Rejected(2))
    assert ConcurrencyConflict("a", 1, 2) != ConcurrencyConflict("a", 1, 3)


def explain(result: Result[None, EventSourcingError[Rejected]]) -> str:
    """How a caller of ``execute_with_response`` takes a reply apart: one ``match``."""
    match result:
        case Ok(None):
            return "done"
        case Error(DomainError(Rejected(amount))):
            return f"rejected {amount}"
        case Error(ConcurrencyConflict(aggregate_id=aggregate_id, actual_sequence=actual)):
            return f"conflict on {aggregate_id} at {actual}"
        case Error(ActorTimeout(operation, ms)):
            return f"{operation} timed out after {ms}"
        case Error(CallbackRaised(callback, exception_type, _)):
            return f"{callback} raised {exception_type}"
        case Error(EntityNotFound()):
            return "not found"
        case Error(EventStoreError(message)):
            return f"store: {message}"
        case Error(error):
            return f"other: {variant(error)}"


def variant(error: EventSourcingError[Rejected]) -> str:
    """An exhaustive match over the variants: mypy proves no variant is forgotten."""
    match error:
        case DomainError():
            return "DomainError"
        case EventStoreError():
            return "EventStoreError"
        case NonPositiveArgument():
            return "NonPositiveArgument"
        case EntityNotFound():
            return "EntityNotFound"
        case TransactionFailed():
            return "TransactionFailed"
        case TransactionRolledBack():
            return "TransactionRolledBack"
        case ActorTimeout():
            return "ActorTimeout"
        case ConcurrencyConflict():
            return "ConcurrencyConflict"
        case CallbackRaised():
            return "CallbackRaised"
        case OutcomeUnknown():
            return "OutcomeUnknown"
        case CommandAlreadyStored():
            return "CommandAlreadyStored"
        case _:
            assert_never(error)


@pytest.mark.parametrize("error", EVERY_VARIANT, ids=lambda e: type(e).__name__)
def test_every_variant_is_matched_by_its_class(error: EventSourcingError[Rejected]) -> None:
    assert variant(error) == type(error).__name__


# --- the kinds of store failure ------------------------------------------------------------


def what_to_do(error: EventStoreError) -> str:
    """An exhaustive match over the kinds: mypy proves no kind is forgotten."""
    match error.kind:
        case StoreFailure.NOT_RUNNING:
            return "start the store, then try again"
        case StoreFailure.UNREACHABLE:
            return "try again once the server answers"
        case StoreFailure.UNDECODABLE:
            return "teach the codec to read it"
        case StoreFailure.REFUSED:
            return "change the request"
        case StoreFailure.FAILED:
            return "read the log"
        case _:
            assert_never(error.kind)


@pytest.mark.parametrize("kind", list(StoreFailure), ids=lambda kind: kind.name)
def test_every_kind_is_matched_and_described(kind: StoreFailure) -> None:
    error = EventStoreError("gone", kind)
    assert what_to_do(error)
    assert describe_error(error) == f"event store error ({kind.value}): gone"
    assert pickle.loads(pickle.dumps(error)) == error
    assert pickle.loads(pickle.dumps(kind)) is kind


def test_a_store_error_built_from_a_message_alone_has_failed() -> None:
    assert EventStoreError("gone").kind is StoreFailure.FAILED
    assert EventStoreError("gone") == EventStoreError("gone", StoreFailure.FAILED)
    assert EventStoreError("gone") != EventStoreError("gone", StoreFailure.REFUSED)
    assert repr(EventStoreError("gone", StoreFailure.REFUSED)) == (
        "EventStoreError(message='gone', kind=<StoreFailure.REFUSED: 'refused'>)"
    )
    match EventStoreError("gone", StoreFailure.UNREACHABLE):
        case EventStoreError(message, StoreFailure.UNREACHABLE):
            assert message == "gone"
        case _:
            pytest.fail("the kind is matched by position")


def test_the_kinds_are_the_documented_set() -> None:
    assert [kind.name for kind in StoreFailure] == [
        "NOT_RUNNING",
        "UNREACHABLE",
        "UNDECODABLE",
        "REFUSED",
        "FAILED",
    ]


@pytest.mark.parametrize(
    ("result", "explained"),
    [
        (Ok(None), "done"),
        (Error(DomainError(Rejected(-3))), "rejected -3"),
        (Error(ConcurrencyConflict("t-1", 4, 6)), "conflict on t-1 at 6"),
        (Error(ActorTimeout("load_aggregate", 500)), "load_aggregate timed out after 500"),
        (Error(CallbackRaised("apply", "KeyError", "x")), "apply raised KeyError"),
        (Error(EntityNotFound()), "not found"),
        (Error(EventStoreError("gone")), "store: gone"),
        (Error(TransactionRolledBack()), "other: TransactionRolledBack"),
    ],
)
def test_results_holding_errors_match_by_variant(
    result: Result[None, EventSourcingError[Rejected]], explained: str
) -> None:
    assert explain(result) == explained


def test_errors_are_frozen() -> None:
    with pytest.raises(AttributeError):
        ConcurrencyConflict("a", 1, 2).aggregate_id = "b"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        DomainError(Rejected(1)).error = Rejected(2)  # type: ignore[misc]
