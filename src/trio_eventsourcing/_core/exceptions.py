"""The exceptions the Trio-native API raises, one per way a command or a read can fail.

The Gleam-shaped functions answer with an :data:`EventSourcingError` value; the
Trio-native ones (:class:`System`) raise instead. The tree::

    EventSourcingException
    ├── CommandRejected[E]       ``handle`` rejected the command: ``.error`` is its error
    ├── AggregateNotFound        a read of an aggregate still in its empty state
    ├── StoreUnavailable         the store failed or is not running: nothing was stored
    ├── CommandOutcomeUnknown    the commit may or may not have been stored: run the
    │                            command again with ``.idempotency_key``
    ├── ConflictAfterRetries     other writers kept committing first, retries exhausted
    └── CallbackFailed           the user's ``handle`` or ``apply`` raised (a bug)

Only :class:`CommandOutcomeUnknown` may follow a stored command: every other one means
nothing of the command was stored. Each keeps the error value it stands for in
``.reason`` (an :data:`EventSourcingError`), so that code written for the Gleam-shaped
API can match on it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, NoReturn, TypeVar

from typing_extensions import final

from .errors import (
    ActorTimeout,
    CallbackRaised,
    CommandAlreadyStored,
    ConcurrencyConflict,
    DomainError,
    EntityNotFound,
    EventSourcingError,
    EventStoreError,
    OutcomeUnknown,
    StoreFailure,
    describe_error,
)

ErrorT_co = TypeVar("ErrorT_co", covariant=True)


class EventSourcingException(Exception):
    """Common base of what the Trio-native API raises: catch it to catch them all.

    ``aggregate_id`` names the aggregate of the command or read (``""`` if none);
    ``reason`` is the :data:`EventSourcingError` value the Gleam-shaped API would answer.

    Example::

        try:
            await accounts.execute("acc-1", Withdraw(Decimal(5)))
        except eventsourcing.EventSourcingException as failure:
            print(failure.aggregate_id, failure)
    """

    aggregate_id: str
    reason: EventSourcingError[object]

    def __init__(self, aggregate_id: str, reason: EventSourcingError[object]) -> None:
        super().__init__(aggregate_id, reason)
        self.aggregate_id = aggregate_id
        self.reason = reason

    def __str__(self) -> str:
        described = describe_error(self.reason)
        return f"aggregate {self.aggregate_id!r}: {described}" if self.aggregate_id else described


@final
class CommandRejected(EventSourcingException, Generic[ErrorT_co]):
    """``handle`` returned ``Error(error)``: the command was rejected, nothing was stored.

    Generic in the domain error, which ``error`` holds (``System.execute`` raises the
    system's own).

    Example::

        try:
            await accounts.execute("acc-1", WithdrawMoney(Decimal(500)))
        except eventsourcing.CommandRejected as rejected:
            match rejected.error:
                case InsufficientFunds(balance):
                    print("only", balance)
    """

    error: ErrorT_co

    def __init__(self, aggregate_id: str, error: ErrorT_co) -> None:
        super().__init__(aggregate_id, DomainError(error))
        self.error = error

    def __reduce__(self) -> tuple[type[CommandRejected[ErrorT_co]], tuple[str, ErrorT_co]]:
        return type(self), (self.aggregate_id, self.error)


@final
class AggregateNotFound(EventSourcingException):
    """The aggregate read is still in its empty state: nothing was ever stored for it.

    Example::

        try:
            aggregate = await accounts.load("acc-404")
        except eventsourcing.AggregateNotFound:
            aggregate = None
    """

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id, EntityNotFound())

    def __reduce__(self) -> tuple[type[AggregateNotFound], tuple[str]]:
        return type(self), (self.aggregate_id,)


@final
class StoreUnavailable(EventSourcingException):
    """The store failed, or is not running: nothing of the command was stored.

    ``kind`` says how (a :class:`StoreFailure`: not running, unreachable, undecodable,
    refused, failed) and ``message`` what; sending the command again later is safe,
    except after ``REFUSED`` (the request itself can never be stored).

    Example::

        try:
            await accounts.execute("acc-1", DepositMoney(Decimal(10)))
        except eventsourcing.StoreUnavailable as failure:
            if failure.kind is StoreFailure.UNREACHABLE:
                ...  # try again later
    """

    kind: StoreFailure
    message: str

    def __init__(self, aggregate_id: str, reason: EventStoreError | ActorTimeout) -> None:
        super().__init__(aggregate_id, reason)
        if isinstance(reason, EventStoreError):
            self.kind = reason.kind
            self.message = reason.message
        else:
            self.kind = StoreFailure.UNREACHABLE
            self.message = describe_error(reason)


@final
class CommandOutcomeUnknown(EventSourcingException):
    """The store lost touch while committing: the command may or may not be stored.

    Run the same command again with ``idempotency_key=failure.idempotency_key``: if the
    first attempt was stored, the retry returns without storing it twice (its receipt
    says ``already_stored``); if not, it runs now.

    Example::

        try:
            receipt = await accounts.execute("acc-1", deposit, idempotency_key=key)
        except eventsourcing.CommandOutcomeUnknown as failure:
            receipt = await accounts.execute(
                "acc-1", deposit, idempotency_key=failure.idempotency_key
            )
    """

    idempotency_key: str
    message: str

    def __init__(self, aggregate_id: str, reason: OutcomeUnknown) -> None:
        super().__init__(aggregate_id, reason)
        self.idempotency_key = reason.idempotency_key
        self.message = reason.message


@final
class ConflictAfterRetries(EventSourcingException):
    """Another writer committed to the aggregate first, again and again: nothing stored.

    The system reloaded the aggregate and ran the command again ``max_retries`` times;
    ``expected_sequence`` is where its last attempt stood and ``actual_sequence`` where
    the aggregate was.

    Example::

        try:
            await accounts.execute("acc-1", DepositMoney(Decimal(10)))
        except eventsourcing.ConflictAfterRetries:
            ...  # the aggregate is contended: back off, or send it again
    """

    expected_sequence: int
    actual_sequence: int

    def __init__(self, aggregate_id: str, reason: ConcurrencyConflict) -> None:
        super().__init__(aggregate_id, reason)
        self.expected_sequence = reason.expected_sequence
        self.actual_sequence = reason.actual_sequence


@final
class CallbackFailed(EventSourcingException):
    """The user's ``handle`` or ``apply`` raised: a bug, logged with its traceback.

    Nothing was stored and the aggregate's cached state is dropped. ``callback`` is
    ``"handle"`` or ``"apply"``, ``exception_type`` the name of what it raised.

    Example::

        try:
            await accounts.execute("acc-1", DepositMoney(Decimal(10)))
        except eventsourcing.CallbackFailed as failure:
            print(failure.callback, failure.exception_type)
    """

    callback: str
    exception_type: str
    message: str

    def __init__(self, aggregate_id: str, reason: CallbackRaised) -> None:
        super().__init__(aggregate_id, reason)
        self.callback = reason.callback
        self.exception_type = reason.exception_type
        self.message = reason.message


def could_not_start(what: str) -> Callable[[str], StoreUnavailable]:
    """The exception of ``what`` (a store, a system) failing to start, for a reason.

    Example::

        raise could_not_start("the SQLite store 'bank.db'")("not an SQLite database")
    """

    def failure(reason: str) -> StoreUnavailable:
        return StoreUnavailable(
            "", EventStoreError(f"{what} could not start: {reason}", StoreFailure.NOT_RUNNING)
        )

    return failure


def raise_for(aggregate_id: str, error: EventSourcingError[ErrorT_co]) -> NoReturn:
    """Raise the exception that stands for ``error``, an answer about ``aggregate_id``.

    Example::

        if isinstance(outcome, Error):
            raise_for("acc-1", outcome.error)
    """
    if isinstance(error, DomainError):
        raise CommandRejected(aggregate_id, error.error)
    if isinstance(error, (EventStoreError, ActorTimeout)):
        raise StoreUnavailable(aggregate_id, error)
    if isinstance(error, OutcomeUnknown):
        raise CommandOutcomeUnknown(aggregate_id, error)
    if isinstance(error, ConcurrencyConflict):
        raise ConflictAfterRetries(aggregate_id, error)
    if isinstance(error, CallbackRaised):
        raise CallbackFailed(aggregate_id, error)
    if isinstance(error, EntityNotFound):
        raise AggregateNotFound(aggregate_id)
    if isinstance(error, CommandAlreadyStored):  # pragma: no cover - the core answers Ok
        raise AssertionError(f"the core answers a stored command Ok, not {error!r}")
    # TransactionFailed, TransactionRolledBack, NonPositiveArgument: a store written by
    # hand may answer them; none of them stored anything.
    raise StoreUnavailable(
        aggregate_id, EventStoreError(describe_error(error), StoreFailure.FAILED)
    )
