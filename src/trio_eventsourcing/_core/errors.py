"""Every error the event-sourcing API reports, as frozen dataclasses.

The tree, as the caller sees it::

    EventSourcingErrorBase            (non-generic base: ``isinstance`` works on all)
    ├── DomainError(error)            the user's ``handle`` rejected the command
    ├── EventStoreError(message, kind)
    │   │                             the store failed; ``kind`` says how:
    │   ├── StoreFailure.NOT_RUNNING  not started, stopped, or the system shutting down
    │   ├── StoreFailure.UNREACHABLE  the server cannot be reached, retries exhausted
    │   ├── StoreFailure.UNDECODABLE  stored data the codec cannot read
    │   ├── StoreFailure.REFUSED      this request's data cannot be stored or looked up
    │   └── StoreFailure.FAILED       anything else: a driver error, a store that raised
    ├── NonPositiveArgument()         ``frequency(n)`` / ``timeout(ms)`` with n <= 0
    ├── EntityNotFound()              the aggregate is still in its empty state
    ├── TransactionFailed()           the store could not run the transaction
    ├── TransactionRolledBack()       the transaction was rolled back
    ├── ActorTimeout(operation, timeout_ms)
    │                                 an actor did not answer in time
    ├── ConcurrencyConflict(aggregate_id, expected_sequence, actual_sequence)
    │                                 another writer committed first, retries exhausted
    ├── CallbackRaised(callback, exception_type, message)
    │                                 the user's ``handle`` or ``apply`` raised (a bug)
    ├── OutcomeUnknown(aggregate_id, idempotency_key, message)
    │                                 the commit may or may not have been stored: send
    │                                 the command again with the same idempotency key
    └── CommandAlreadyStored(aggregate_id, idempotency_key)
                                      a store's answer to the core: a command with this
                                      key is stored already (callers get ``Ok`` instead)

Only :class:`OutcomeUnknown` may have been stored: every other error means nothing of
the command was stored.

``EventSourcingError[E]`` is the union of all of them, with ``E`` the domain error type.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Generic, TypeVar

from typing_extensions import TypeAliasType, final

from .._runtime.frozen import PicklableFrozen

ErrorT = TypeVar("ErrorT")
ErrorT_co = TypeVar("ErrorT_co", covariant=True)


class EventSourcingErrorBase(PicklableFrozen):
    """Common base of every :data:`EventSourcingError` variant.

    Example::

        assert isinstance(EntityNotFound(), EventSourcingErrorBase)
    """

    __slots__ = ()


@final
@dataclass(frozen=True)
class DomainError(EventSourcingErrorBase, Generic[ErrorT_co]):
    """The user's ``handle`` returned ``Error(error)``: the command was rejected.

    Nothing was stored and nothing was restarted.

    Example::

        DomainError(InsufficientFunds(balance=10.0))
    """

    # Generic dataclasses cannot use ``slots=True`` on Python 3.10-3.12.
    __slots__ = ("error",)
    error: ErrorT_co


class StoreFailure(enum.Enum):
    """How an :class:`EventStoreError` failed: match on it to decide what to do.

    Whatever the kind, nothing of the request was stored: a commit whose outcome is in
    doubt is :class:`OutcomeUnknown` instead (the one exception is a write without an
    idempotency key, which has nothing to name: it is ``FAILED``, and its message says
    that the outcome is unknown). The value is the kind in words, as
    :func:`describe_error` prints it.

    Example::

        match error.kind:
            case StoreFailure.NOT_RUNNING | StoreFailure.UNREACHABLE:
                ...  # try again later
            case StoreFailure.UNDECODABLE:
                ...  # fix the codec or the data
            case StoreFailure.REFUSED:
                ...  # change the request: this one can never be stored
            case StoreFailure.FAILED:
                ...  # read the message and the log
            case _:
                assert_never(error.kind)
    """

    NOT_RUNNING = "not running"
    """The store is not started or has stopped, or the system is shutting down and
    refused the request (or stopped before it sent the request's commit). Start the
    store's child specification, or wait for its supervisor to restart it, and send
    the request again."""

    UNREACHABLE = "unreachable"
    """The store's server cannot be reached: connecting failed, or the connection was
    lost and every retry failed before anything was sent to be stored. Sending the
    same request again later is safe."""

    UNDECODABLE = "undecodable"
    """Stored data that the codec cannot decode (an unknown event type or version, a
    payload that does not parse). Retrying gives the same answer until the codec learns
    to read it or the data is repaired; the message names the aggregate, sequence, type
    and version."""

    REFUSED = "refused"
    """The data of this request cannot be stored or looked up: the codec could not
    encode it, it holds text the database cannot keep (a lone surrogate, a NUL), or the
    server refused it (a constraint, a value too large). Retrying the same request gives
    the same answer: change the request."""

    FAILED = "failed"
    """Anything else: an unexpected driver error, a store that raised, a write
    function called outside a write transaction. Likely a bug or an operational fault;
    the message and the log say which."""


@final
@dataclass(frozen=True, slots=True)
class EventStoreError(EventSourcingErrorBase):
    """The event store failed; ``message`` says what and where, ``kind`` how.

    ``kind`` is what to match on (see :class:`StoreFailure`); it defaults to
    ``StoreFailure.FAILED``, so a store written by hand may give just a message.

    Example::

        EventStoreError(
            "cannot decode event 'Deposited' v1 of 'acc-1' at sequence 3",
            StoreFailure.UNDECODABLE,
        )
    """

    message: str
    kind: StoreFailure = StoreFailure.FAILED


@final
@dataclass(frozen=True, slots=True)
class NonPositiveArgument(EventSourcingErrorBase):
    """A count or duration that must be positive was zero or negative."""


@final
@dataclass(frozen=True, slots=True)
class EntityNotFound(EventSourcingErrorBase):
    """The aggregate has no events: its state is still the empty state."""


@final
@dataclass(frozen=True, slots=True)
class TransactionFailed(EventSourcingErrorBase):
    """The store could not carry out the transaction."""


@final
@dataclass(frozen=True, slots=True)
class TransactionRolledBack(EventSourcingErrorBase):
    """The store rolled the transaction back; nothing of it was stored."""


@final
@dataclass(frozen=True, slots=True)
class ActorTimeout(EventSourcingErrorBase):
    """An actor did not answer ``operation`` within ``timeout_ms`` milliseconds."""

    operation: str
    timeout_ms: int


@final
@dataclass(frozen=True, slots=True)
class ConcurrencyConflict(EventSourcingErrorBase):
    """Another writer committed to the aggregate first, and every retry met another.

    ``expected_sequence`` is the sequence the command was decided against,
    ``actual_sequence`` the one the store held when the last retry was refused.
    """

    aggregate_id: str
    expected_sequence: int
    actual_sequence: int


@final
@dataclass(frozen=True, slots=True)
class CallbackRaised(EventSourcingErrorBase):
    """The user's ``handle`` or ``apply`` raised an exception: a bug, not a domain error.

    The command committed nothing; the traceback was logged.
    """

    callback: str
    exception_type: str
    message: str


@final
@dataclass(frozen=True, slots=True)
class OutcomeUnknown(EventSourcingErrorBase):
    """The store lost touch while committing: the command may or may not be stored.

    The one error after which a command may have been stored. Send the same command
    again with ``idempotency_key``: if the first attempt was stored, the answer is its
    original outcome (``Ok``) and it is not stored again; if it was not, it runs now. Either
    way it is stored at most once.

    Example::

        match await process.receive(reply, 5_000):
            case Ok(Error(OutcomeUnknown(aggregate_id, key, _))):
                reply = eventsourcing.execute_with_response(
                    actor, aggregate_id, command, metadata, idempotency_key=key
                )
    """

    aggregate_id: str
    idempotency_key: str
    message: str


@final
@dataclass(frozen=True, slots=True)
class CommandAlreadyStored(EventSourcingErrorBase):
    """A store's answer to a commit whose idempotency key it holds for the aggregate already.

    The event-sourcing core turns it into the command's original outcome (``Ok``), so a
    caller of :func:`~trio_eventsourcing.execute_with_response` never receives it; a
    store written by hand returns it from ``execute_transaction`` when the unique key
    refuses a commit.

    Example::

        CommandAlreadyStored("acc-1", "deposit-7f3a")
    """

    aggregate_id: str
    idempotency_key: str


EventSourcingError = TypeAliasType(
    "EventSourcingError",
    DomainError[ErrorT]
    | EventStoreError
    | NonPositiveArgument
    | EntityNotFound
    | TransactionFailed
    | TransactionRolledBack
    | ActorTimeout
    | ConcurrencyConflict
    | CallbackRaised
    | OutcomeUnknown
    | CommandAlreadyStored,
    type_params=(ErrorT,),
)
"""Every error an event-sourcing operation can report; ``ErrorT`` is the domain error."""


def describe_error(error: EventSourcingErrorBase) -> str:
    """Return a one-line, human-readable description of an event-sourcing error.

    Example::

        describe_error(ActorTimeout("load_aggregate", 500))
        # 'actor timeout: load_aggregate did not finish within 500 ms'
    """
    if isinstance(error, DomainError):
        return f"domain error: {error.error!r}"
    if isinstance(error, EventStoreError):
        return f"event store error ({error.kind.value}): {error.message}"
    if isinstance(error, NonPositiveArgument):
        return "non-positive argument: the value must be greater than zero"
    if isinstance(error, EntityNotFound):
        return "entity not found: the aggregate has no events"
    if isinstance(error, TransactionFailed):
        return "transaction failed"
    if isinstance(error, TransactionRolledBack):
        return "transaction rolled back"
    if isinstance(error, ActorTimeout):
        return f"actor timeout: {error.operation} did not finish within {error.timeout_ms} ms"
    if isinstance(error, ConcurrencyConflict):
        return (
            f"concurrency conflict on {error.aggregate_id!r}: expected sequence "
            f"{error.expected_sequence}, store has {error.actual_sequence}"
        )
    if isinstance(error, CallbackRaised):
        return f"{error.callback} raised {error.exception_type}: {error.message}"
    if isinstance(error, OutcomeUnknown):
        return (
            f"outcome unknown for aggregate {error.aggregate_id!r}: {error.message}; send the "
            f"command again with idempotency key {error.idempotency_key!r}"
        )
    if isinstance(error, CommandAlreadyStored):
        return (
            f"a command with idempotency key {error.idempotency_key!r} is stored already for "
            f"aggregate {error.aggregate_id!r}"
        )
    return repr(error)
