"""The writer of a durable store: one thread, one connection, group commit.

Both durable stores write the same way. Every write transaction becomes a
:class:`WriteRequest` of rows encoded on the Trio side; the writer thread takes *all* the
requests waiting when it becomes free (at most :data:`MAX_BATCH`) and has the store's
:class:`WriteConnection` store them in one transaction, with one commit. A commit costs
one fsync or WAL flush whether it holds one request or a hundred, so under load this
multiplies throughput, and a lone request pays no more than it would alone. What differs
per backend (SQL text, row shapes, how a lost connection is retried and an in-doubt
commit resolved) is the backend's ``WriteConnection``; the queue, the batching, the
waking of the waiting tasks and the answers after a crash are here.

Each request stays all-or-nothing, and is decided by :func:`check_request`: a request
whose expected sequence is stale gets ``ConcurrencyConflict``, one whose idempotency key
is stored already, or taken by an earlier request of the batch, ``CommandAlreadyStored``
(also when its sequence is stale as well: that is what a command whose first attempt was
stored looks like).

Waking the waiting tasks (``_stores.handoff``): after the commit the thread schedules one
callback on the Trio loop that reschedules every task of the batch, then, when the batch
stored events, wakes the log's followers (``on_commit``), which therefore never see a
wake-up before the events are committed. A waiting task that is cancelled simply stops
waiting: a request not yet taken by the thread is skipped, one already taken is stored
or not with its batch.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Awaitable, Callable, Container, Iterable, Sequence
from datetime import datetime
from typing import Any, NamedTuple, Protocol, TypeVar

import trio
from typing_extensions import final

from .._core.errors import (
    CommandAlreadyStored,
    ConcurrencyConflict,
    EventStoreError,
    OutcomeUnknown,
    StoreFailure,
)
from .._core.store import StoreResult
from .._runtime.result import Error, Ok, Result
from .handoff import Job, JobQueue

ValueT = TypeVar("ValueT")
ErrorT = TypeVar("ErrorT")

EventRow = tuple[str, str, int, str, int, str, str, str, str]
"""``(aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata,
correlation_id, causation_id)``."""

SnapshotRow = tuple[str, str, int, str, int, str, datetime]
"""``(aggregate_type, aggregate_id, sequence, entity_type, entity_version, payload, taken_at)``."""

AggregateKey = tuple[str, str]
"""An aggregate, as the tables key it: ``(aggregate_type, aggregate_id)``."""

CommandKey = tuple[str, str, str]
"""A stored command, as the tables key it: ``(aggregate_type, aggregate_id, key)``."""

MAX_BATCH = 1_000
"""Most requests in one transaction, so one batch never holds the write lock for long."""

OK: StoreResult[None] = Ok(None)
"""The result of a request that is (to be) stored; compared by identity."""

Refusal = CommandAlreadyStored | ConcurrencyConflict
"""Why a request may not be stored, for a reason of its own."""


class Append(NamedTuple):
    """Events to append after ``expected_sequence``, which must be the stored sequence.

    ``key`` is the command's idempotency key (``None``: it has none). An aggregate is
    its type and id together: ids are scoped by aggregate type.
    """

    aggregate_id: str
    expected_sequence: int
    rows: list[EventRow]
    key: str | None
    aggregate_type: str


@final
class WriteRequest(Job[StoreResult[None]]):
    """One write transaction, staged on the Trio side and stored by the writer thread.

    ``first_position`` is set by the writer as it stores the events: the global position
    of the first (the others follow it without gaps, in order); ``0`` until then, and for
    a request of no events. It counts once the result is ``OK``.
    """

    __slots__ = ("appends", "first_position", "snapshots")

    def __init__(self, appends: list[Append], snapshots: list[SnapshotRow]) -> None:
        super().__init__()
        self.appends = appends
        self.snapshots = snapshots
        self.first_position = 0

    def event_count(self) -> int:
        """How many events the request appends."""
        return sum(len(append.rows) for append in self.appends)


def number_stored(requests: Iterable[WriteRequest], first_position: int) -> None:
    """Give the stored ones of ``requests``, in order, their positions from ``first_position``.

    For a batch whose events went in as one sequence of rows, in the order of its requests.
    """
    position = first_position
    for request in requests:
        if request.result is OK:
            count = request.event_count()
            if count:
                request.first_position = position
                position += count


@final
class WriterCounters:
    """What the writer threads of one store have done, across restarts.

    Written by the writer thread only; ``statistics()`` reads the plain ints, which the
    GIL makes safe to read while they change.
    """

    __slots__ = (
        "batches_begun",
        "commits",
        "conflicts",
        "largest_batch",
        "reconnects",
        "transactions",
    )

    def __init__(self) -> None:
        # Counted when a batch is closed, before it is stored: from then on no request
        # joins it and none of its requests can be skipped as abandoned.
        self.batches_begun = 0
        self.transactions = 0
        self.commits = 0
        self.largest_batch = 0
        self.conflicts = 0
        self.reconnects = 0

    def count(self, batch: Sequence[Job[Any]]) -> None:
        """Count ``batch``, just committed: its stored requests, conflicts and size."""
        stored = conflicts = 0
        for job in batch:
            result = job.result
            if result is OK and isinstance(job, WriteRequest):
                stored += 1
            elif isinstance(result, Error) and isinstance(result.error, ConcurrencyConflict):
                conflicts += 1
        self.transactions += stored
        self.conflicts += conflicts
        if stored:
            self.commits += 1
        self.largest_batch = max(self.largest_batch, len(batch))


@final
class WriterCrashed(Exception):
    """The writer thread ended without being asked to; the store's task raises this."""


class WriteConnection(Protocol):
    """What a backend gives the writer: its write connection and how to store on it.

    Called on the writer thread only.
    """

    @property
    def described(self) -> str:
        """The store, in messages: ``"the SQLite store '/data/bank.db'"``."""
        ...

    @property
    def in_doubt(self) -> bool:
        """True from the moment a commit may reach the disk or server until its outcome is known."""
        ...

    def store(self, batch: list[Job[Any]]) -> None:
        """Store ``batch`` in one transaction and set the result of every job of it."""
        ...

    def alone(self, job: Job[Any]) -> bool:
        """Whether ``job`` needs a transaction of its own, after its batch."""
        ...

    def store_alone(self, job: Job[Any]) -> None:
        """Run ``job`` in a transaction of its own and set its result."""
        ...

    def crashed(self, failure: BaseException) -> None:
        """Report that the writer thread crashed with ``failure``."""
        ...

    def close(self) -> None:
        """Close the connection (the thread's last act, or the store's if it never started)."""
        ...


def check_request(
    appends: list[Append],
    last: dict[AggregateKey, int],
    taken: set[CommandKey],
    stored: Container[CommandKey] = (),
) -> tuple[Refusal | None, int]:
    """Whether ``appends``, one request's, may be stored after the sequences in ``last``.

    ``taken`` holds the keys of the requests accepted before in the transaction, and
    ``stored`` those known to be stored; an aggregate missing from ``last`` has no
    events. Each append is checked in turn, its key before its sequence, as the memory
    store does. Returns ``(None, len(appends))`` and adds the request's sequences to
    ``last`` and its keys to ``taken`` when it may be stored; else ``(refusal, n)``,
    ``n`` the number of appends checked. A ``ConcurrencyConflict`` may hide a command
    stored already (its sequence moved on with it): the caller then looks up the keys of
    the first ``n`` appends, if it did not give them in ``stored``.
    """
    after: dict[AggregateKey, int] = {}
    keys: list[CommandKey] = []
    for index, (aggregate_id, expected, rows, key, aggregate_type) in enumerate(appends):
        if key is not None:
            command = (aggregate_type, aggregate_id, key)
            if command in stored or command in taken or command in keys:
                return CommandAlreadyStored(aggregate_id, key), index + 1
            keys.append(command)
        aggregate = (aggregate_type, aggregate_id)
        actual = after.get(aggregate, last.get(aggregate, 0))
        if actual != expected:
            return ConcurrencyConflict(aggregate_id, expected, actual), index + 1
        after[aggregate] = expected + len(rows)
    last.update(after)
    taken.update(keys)
    return None, len(appends)


def aggregates(appends: Iterable[Append]) -> set[AggregateKey]:
    """The aggregates ``appends`` append to."""
    return {(a.aggregate_type, a.aggregate_id) for a in appends}


def keyed(appends: Iterable[Append]) -> list[CommandKey]:
    """The commands of the ``appends`` that have a key."""
    return [(a.aggregate_type, a.aggregate_id, a.key) for a in appends if a.key is not None]


def outcome_unknown(request: WriteRequest, message: str) -> StoreResult[None]:
    """The result of ``request`` when its commit failed and may have been stored."""
    doubt = f"{message}; the commit may have been stored all the same"
    for append in request.appends:
        if append.key is not None:
            return Error(OutcomeUnknown(append.aggregate_id, append.key, doubt))
    # No key to ask about later: say it in words.
    return Error(EventStoreError(f"{doubt}: the outcome is unknown", StoreFailure.FAILED))


@final
class Writer:
    """The writer thread and its queue; created and stopped by the store's task."""

    def __init__(
        self,
        connection: WriteConnection,
        thread_name: str,
        token: trio.lowlevel.TrioToken,
        counters: WriterCounters,
        on_commit: Callable[[], object] | None = None,
    ) -> None:
        self._connection = connection
        self._jobs: JobQueue[Job[Any]] = JobQueue(token)
        # Called on the Trio thread after each commit that stored events.
        self._on_commit = on_commit
        self._counters = counters
        self._thread = threading.Thread(target=self._run, name=thread_name, daemon=True)
        self.exited = trio.Event()
        """Set (on the Trio thread) once the writer thread has ended."""
        self.failure: BaseException | None = None
        """What ended the thread, if it was not asked to stop."""

    def start(self) -> None:
        """Start the writer thread."""
        self._thread.start()

    def stop(self) -> None:
        """Refuse new requests; the thread stores those already queued, then ends."""
        self._jobs.stop(threads=1)

    async def join(self) -> None:
        """Wait, in a worker thread, until the writer thread has ended."""
        if self._thread.ident is None:
            # The thread never started, so it cannot close its connection.
            await trio.to_thread.run_sync(self._connection.close)
            return
        await trio.to_thread.run_sync(self._thread.join)

    def write(self, request: WriteRequest) -> Awaitable[StoreResult[None]]:
        """Queue ``request`` and wait until its batch has committed (or failed).

        Cancelling the wait is safe: the request is then stored with its batch or, if
        the thread had not taken it yet, not at all.
        """
        return self.run(request)

    async def run(
        self, job: Job[Result[ValueT, ErrorT]]
    ) -> Result[ValueT, ErrorT | EventStoreError]:
        """Queue ``job`` and wait until the thread has done it; cancelling is safe."""
        if not await self._jobs.submit(job):
            return Error(
                EventStoreError(
                    f"{self._connection.described} has stopped", StoreFailure.NOT_RUNNING
                )
            )
        result = job.result
        assert result is not None, "a job was woken before it had a result"
        return result

    # -- on the writer thread ---------------------------------------------------------

    def _run(self) -> None:
        batch: list[Job[Any]] = []
        try:
            self._serve(batch)
        except BaseException as exc:
            self.failure = exc
            self._connection.crashed(exc)
        finally:
            # `batch` holds the jobs of a batch interrupted by a crash; the queue, those
            # that came after. All get an answer: an error, unless the batch's commit may
            # have been sent (then what it was to store may well be stored).
            interrupted = len(batch) if self._connection.in_doubt else 0
            batch += self._jobs.close()
            message = f"the writer of {self._connection.described} has stopped"
            error = Error(EventStoreError(message, StoreFailure.NOT_RUNNING))
            for index, job in enumerate(batch):
                result = job.result
                if (
                    index < interrupted
                    and isinstance(job, WriteRequest)
                    and (result is None or result is OK)
                ):
                    job.result = outcome_unknown(job, f"{message} while committing")
                else:
                    job.result = error
            try:
                self._connection.close()
            finally:
                self._jobs.deliver(batch)
                self._jobs.call_soon(self.exited.set)

    def _serve(self, batch: list[Job[Any]]) -> None:
        connection = self._connection
        get, get_nowait = self._jobs.get, self._jobs.get_nowait
        while True:
            job = get()
            stopping = False
            while True:
                if job is None:
                    stopping = True
                    break
                if not job.abandoned:
                    batch.append(job)
                    if len(batch) >= MAX_BATCH:
                        break
                try:
                    job = get_nowait()
                except queue.Empty:
                    break
            if batch:
                together: list[Job[Any]] = []
                alone: list[Job[Any]] = []
                for job in batch:
                    (alone if connection.alone(job) else together).append(job)
                if together:
                    self._counters.batches_begun += 1
                    connection.store(together)
                    # `together` has its answers: they are delivered whatever happens
                    # next; what is left in `batch` is answered by `_run` on a crash.
                    batch[:] = alone
                    stored_events = any(
                        j.result is OK and isinstance(j, WriteRequest) and j.appends
                        for j in together
                    )
                    then = self._on_commit if stored_events else None
                    try:
                        self._counters.count(together)
                    finally:
                        delivered = self._jobs.deliver(together, then)
                    if not delivered:
                        return  # the Trio run is over: nobody is left to wake
                while batch:
                    connection.store_alone(batch[0])
                    done = batch.pop(0)
                    if not self._jobs.deliver([done]):
                        return
            if stopping:
                return
