"""Handing blocking work to a store's own threads, and waking the Trio task after.

A Trio task puts a :class:`Job` on a :class:`JobQueue` and sleeps; a store thread takes it,
does the blocking work, sets ``job.result`` and hands the job back with one
``TrioToken.run_sync_soon`` callback that reschedules the sleeping task. Per job this
costs the Trio thread a queue put and a reschedule, a few microseconds, where
``trio.to_thread.run_sync`` costs tens (measured: about 40 µs of Trio-thread time per
call), and a thread that finishes many jobs at once (the writer's group commit) wakes
them all with one callback.

A sleeping task that is cancelled stops sleeping at once and marks its job abandoned: a
thread skips an abandoned job it has not started, and one it has started runs to its end
with nobody woken. Both sides read and write ``abandoned`` without a lock: attribute
access is atomic, and either order of events leaves the job done once or not at all.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

import trio
from typing_extensions import final

ResultT = TypeVar("ResultT")
ResourceT = TypeVar("ResourceT")
JobT = TypeVar("JobT", bound="Job[Any]")


class Job(Generic[ResultT]):
    """One piece of blocking work; subclasses carry what the thread needs to do it."""

    __slots__ = ("abandoned", "result", "task")

    def __init__(self) -> None:
        self.result: ResultT | None = None
        self.task: trio.lowlevel.Task | None = None
        self.abandoned = False


class JobQueue(Generic[JobT]):
    """Jobs waiting for a store's threads, and the way back to the Trio loop."""

    __slots__ = ("_accepting", "_lock", "_queue", "_token")

    def __init__(self, token: trio.lowlevel.TrioToken) -> None:
        self._token = token
        self._queue: queue.SimpleQueue[JobT | None] = queue.SimpleQueue()
        # Guards `_accepting` and the queue together, so that no job can slip into the
        # queue after the threads have drained it for the last time.
        self._lock = threading.Lock()
        self._accepting = True

    # -- on the Trio thread -----------------------------------------------------------

    async def submit(self, job: JobT) -> bool:
        """Queue ``job`` and sleep until a thread has done it.

        Returns ``False``, having done nothing, if the queue no longer takes jobs. When
        cancelled, marks the job abandoned and raises ``Cancelled`` at once.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        job.task = trio.lowlevel.current_task()
        with self._lock:
            accepting = self._accepting
            if accepting:
                self._queue.put(job)
        if not accepting:
            await trio.lowlevel.cancel_shielded_checkpoint()
            return False

        def abort(_: trio.lowlevel.RaiseCancelT) -> trio.lowlevel.Abort:
            job.abandoned = True
            return trio.lowlevel.Abort.SUCCEEDED

        await trio.lowlevel.wait_task_rescheduled(abort)
        return True

    def stop(self, threads: int) -> None:
        """Take no more jobs; each of ``threads`` threads ends after the jobs queued."""
        with self._lock:
            if self._accepting:
                self._accepting = False
                for _ in range(threads):
                    self._queue.put(None)

    # -- on a store thread ------------------------------------------------------------

    def get(self) -> JobT | None:
        """Wait for the next job; ``None`` means: stop."""
        return self._queue.get()

    def each(self) -> Iterator[JobT]:
        """The jobs to do, one after another, until told to stop; abandoned ones skipped."""
        while True:
            job = self._queue.get()
            if job is None:
                return
            if not job.abandoned:
                yield job

    def get_nowait(self) -> JobT | None:
        """The next job if one is queued; raises ``queue.Empty`` if none is."""
        return self._queue.get_nowait()

    def close(self) -> list[JobT]:
        """Take no more jobs and return those still queued (a thread ending on a crash)."""
        with self._lock:
            self._accepting = False
        left: list[JobT] = []
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                return left
            if job is not None:
                left.append(job)

    def deliver(self, jobs: list[JobT], then: Callable[[], object] | None = None) -> bool:
        """Wake the tasks of ``jobs``, whose results are set; ``False`` if Trio has ended.

        ``then``, if given, runs on the Trio thread right after, in the same callback
        (the writer wakes the log's followers this way, once per commit).
        """
        try:
            self._token.run_sync_soon(_wake, jobs, then)
        except trio.RunFinishedError:
            return False  # the Trio run is over: nobody is left to wake
        return True

    def call_soon(self, function: Callable[[], object]) -> bool:
        """Run ``function()`` on the Trio thread; ``False`` if Trio has ended."""
        try:
            self._token.run_sync_soon(function)
        except trio.RunFinishedError:
            return False
        return True


@final
class Call(Job[ResultT], Generic[ResourceT, ResultT]):
    """A job that calls ``work`` with the serving thread's resource (its connection).

    ``operation`` says what the work is, for the messages of a failure.
    """

    __slots__ = ("operation", "work")

    def __init__(self, operation: str, work: Callable[[ResourceT], ResultT]) -> None:
        super().__init__()
        self.operation = operation
        self.work = work


@final
class ThreadGroup(Generic[JobT]):
    """The threads that serve one :class:`JobQueue`, started, stopped and joined together.

    Each runs ``serve(jobs)``, which takes jobs (:meth:`JobQueue.each`) until told to stop.
    """

    __slots__ = ("_threads", "jobs")

    def __init__(
        self,
        token: trio.lowlevel.TrioToken,
        names: list[str],
        serve: Callable[[JobQueue[JobT]], None],
    ) -> None:
        self.jobs: JobQueue[JobT] = JobQueue(token)
        self._threads = [
            threading.Thread(target=serve, args=(self.jobs,), name=name, daemon=True)
            for name in names
        ]

    def start(self) -> None:
        """Start the threads."""
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Take no more jobs; each thread ends after the jobs queued before."""
        self.jobs.stop(threads=len(self._threads))

    async def join(self) -> None:
        """Wait, in a worker thread, until every thread started has ended."""
        for thread in self._threads:
            if thread.ident is not None:  # started
                await trio.to_thread.run_sync(thread.join)


def _wake(jobs: list[JobT], then: Callable[[], object] | None) -> None:
    """On the Trio thread: resume the task of every job that is still waited for."""
    reschedule = trio.lowlevel.reschedule
    for job in jobs:
        task = job.task
        if not job.abandoned and task is not None:
            reschedule(task)
    if then is not None:
        then()
