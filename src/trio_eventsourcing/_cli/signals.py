"""Stopping a long-running command in order on SIGINT (Ctrl-C) or SIGTERM.

Python turns SIGINT into ``KeyboardInterrupt`` wherever the main thread happens to be,
and inside ``trio.run`` Trio does the same in any code not protected from it. In the demo
that is the library's code and Trio's own bookkeeping, reached from the tasks of the
store and the event-sourcing system: a ``KeyboardInterrupt`` raised between a job being
queued for the store's writer thread and its task going to sleep leaves the thread to
wake a task that has ended (``TrioInternalError``); one raised while a nursery starts a
task leaves a child that never runs, and the run waits for it for ever.

So the long-running commands take both signals while they run, and neither raises:

- The first asks the command to stop. The demo cancels its work from a task that reads
  the signals with ``trio.open_signal_receiver``; the event-sourcing system then drains
  as on any orderly stop, and the store closes its file. ``log --follow`` stops before
  its next wait (at once if it is waiting), after the batch it is printing.
- A second one, while the first is being acted on, calls the command's ``on_second``:
  the demo stops at once, as a crash would (SQLite's transactions keep the file whole).

Only Python's defaults are taken over, in the main thread (where alone handlers can be
installed): a signal that is ignored (a job started with ``&`` by a non-interactive
shell ignores SIGINT) stays ignored, and a handler the caller of ``main`` installed stays
in charge. Where none can be taken, the command runs as before.

Example::

    with taking_stop_signals(on_second=lambda signum: None) as stop:
        while stop.first is None:
            stop.sleep(1.0)
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from types import FrameType
from typing import NoReturn, TextIO

import trio
from typing_extensions import final

STOP_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM)
"""The signals that stop a long-running command."""


def exit_status(signum: int) -> int:
    """The exit status after ``signum`` stopped a command: 128 + its number, as shells say."""
    return 128 + signum


def reason(signum: int) -> str:
    """What ``signum`` did to the command, as the one line on stderr says it."""
    return "interrupted" if signum == signal.SIGINT else "terminated"


@final
class Interrupted(Exception):
    """A signal stopped the command; ``__main__.main`` prints one line and exits with ``code``.

    Args:
        signum: The signal that stopped it (the first one).
    """

    def __init__(self, signum: int) -> None:
        super().__init__(reason(signum))
        self.signum = signum
        self.code = exit_status(signum)


def exit_at_once(prog: str, signum: int, err: TextIO) -> NoReturn:
    """End the process now, with the one line and the status of ``signum``.

    Nothing more runs: no ``finally``, no flush of buffers, no thread is waited for. It
    may be called from a signal handler, so it writes to the file descriptor itself, never
    through ``err``'s buffer, which the interrupted code may be in the middle of writing.
    """
    line = f"{prog}: {reason(signum)}\n".encode(errors="replace")
    try:
        os.write(err.fileno(), line)
    except (AttributeError, OSError, ValueError):
        # Not a real file (a test's capture): its buffer is the only way left.
        with contextlib.suppress(Exception):
            err.write(line.decode())
            err.flush()
    os._exit(exit_status(signum))


class _WakeUp(Exception):
    """Raised by the signal handler into :meth:`StopSignals.sleep`, and caught there."""


@final
class StopSignals:
    """The stop signals this command took, and the first that arrived.

    Made by :func:`taking_stop_signals`.
    """

    __slots__ = ("_on_second", "_sleeping", "first", "taken")

    def __init__(self, taken: tuple[int, ...], on_second: Callable[[int], None]) -> None:
        self.taken = taken
        """The signals taken from their defaults: empty where no handler can be installed."""
        self.first: int | None = None
        """The first stop signal received, or ``None``."""
        self._on_second = on_second
        self._sleeping = False

    def note(self, signum: int) -> None:
        """Record ``signum``: the first asks for a stop, a second one calls ``on_second``.

        Called from the signal handler and from :func:`cancel_on_stop_signal`.
        """
        if self.first is None:
            self.first = signum
            if self._sleeping:
                self._sleeping = False
                raise _WakeUp
            return
        self._on_second(self.first)

    def give_up(self) -> None:
        """Call ``on_second`` as a second signal would: the stop takes too long."""
        if self.first is not None:
            self._on_second(self.first)

    def sleep(self, seconds: float, sleep: Callable[[float], None] = time.sleep) -> None:
        """Wait ``seconds``, or less if a stop signal arrives; then check :attr:`first`."""
        if self.first is not None:
            return
        try:
            self._sleeping = True
            try:
                sleep(seconds)
            finally:
                self._sleeping = False
        except _WakeUp:
            pass  # the handler found us waiting: stop waiting, the caller stops


@contextlib.contextmanager
def taking_stop_signals(on_second: Callable[[int], None]) -> Iterator[StopSignals]:
    """Take SIGINT and SIGTERM from their defaults while the block runs; give them back after.

    A signal only sets :attr:`StopSignals.first` (or calls ``on_second``): nothing is
    raised into the code running, except into :meth:`StopSignals.sleep`. Inside
    ``trio.run``, Trio sees that SIGINT is not Python's default and installs no
    ``KeyboardInterrupt`` handler of its own.

    Args:
        on_second: Called with the first signal's number when another one arrives.
    """
    stop_signals = StopSignals((), on_second)

    def handler(signum: int, frame: FrameType | None) -> None:
        stop_signals.note(signum)

    defaults = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: signal.SIG_DFL}
    previous: dict[signal.Signals, Callable[[int, FrameType | None], object] | int | None] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in STOP_SIGNALS:
            current = signal.getsignal(signum)
            if current is not defaults[signum]:
                continue  # ignored, or someone else's handler: theirs to keep
            try:
                signal.signal(signum, handler)
            except (OSError, ValueError):
                continue  # cannot be caught here (a sub-interpreter, a platform's rule)
            previous[signum] = current
    stop_signals.taken = tuple(previous)
    try:
        yield stop_signals
    finally:
        for taken, handed_back in previous.items():
            signal.signal(taken, handed_back)


async def cancel_on_stop_signal(
    stop: StopSignals,
    scope: trio.CancelScope,
    stop_within: float,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Cancel ``scope`` when a stop signal arrives; a second one calls ``on_second``.

    So does a stop that has not ended ``stop_within`` seconds after the first signal:
    an orderly stop has its own bounds (the event-sourcing system's ``shutdown_timeout``),
    and a command that still runs after them should not wait on for ever.

    Run it with ``await nursery.start(...)`` in a nursery around ``scope``, not inside
    it: it must still read the signals while the cancelled work stops. Cancel it when the
    work is done; a signal that arrives meanwhile goes back to the handler of
    :func:`taking_stop_signals`, which records it.
    """
    if not stop.taken:
        task_status.started()
        return
    with trio.open_signal_receiver(*stop.taken) as received:
        task_status.started()
        # A signal that came before the receiver was open was recorded by the handler.
        if stop.first is None:
            stop.note(await anext(received))
        scope.cancel()
        with trio.move_on_after(stop_within):
            async for signum in received:
                stop.note(signum)
        stop.give_up()
