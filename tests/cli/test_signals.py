"""SIGINT and SIGTERM stop the long-running commands in order: the handlers and their use.

The signals are raised in this process with ``signal.raise_signal``, which runs the Python
handler before it returns: what each test sees is decided, never raced.
"""

from __future__ import annotations

import signal
import sqlite3
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from types import FrameType

import pytest
import trio
import trio.testing

import trio_eventsourcing._cli.commands as cli_commands
import trio_eventsourcing._cli.demo as cli_demo
from tests.cli.helpers import SMALL_DEMO, cli, copy_store
from trio_eventsourcing.__main__ import main
from trio_eventsourcing._cli.signals import (
    STOP_SIGNALS,
    StopSignals,
    cancel_on_stop_signal,
    taking_stop_signals,
)
from trio_eventsourcing.examples.demo import DemoReport, run_bank

Handler = Callable[[int, FrameType | None], object] | int | None


@pytest.fixture(autouse=True)
def _python_defaults() -> Iterator[None]:
    """Each test starts from Python's own handlers, and finds them given back after."""
    defaults: dict[signal.Signals, Handler] = {
        signal.SIGINT: signal.default_int_handler,
        signal.SIGTERM: signal.SIG_DFL,
    }
    before = {signum: signal.signal(signum, handler) for signum, handler in defaults.items()}
    try:
        yield
        assert {signum: signal.getsignal(signum) for signum in defaults} == defaults
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)


def _ignore_second(signum: int) -> None:
    raise AssertionError(f"a second signal after {signum}")


def test_a_signal_is_recorded_not_raised_and_the_handlers_are_given_back() -> None:
    with taking_stop_signals(_ignore_second) as stop:
        assert stop.taken == STOP_SIGNALS
        assert stop.first is None
        signal.raise_signal(signal.SIGINT)  # no KeyboardInterrupt
        assert stop.first == signal.SIGINT


def test_a_second_signal_calls_on_second_with_the_first() -> None:
    seconds: list[int] = []
    with taking_stop_signals(seconds.append) as stop:
        signal.raise_signal(signal.SIGTERM)
        assert seconds == []
        signal.raise_signal(signal.SIGINT)
        assert seconds == [signal.SIGTERM]
        assert stop.first == signal.SIGTERM


def test_an_ignored_sigint_stays_ignored() -> None:
    # A job started with `&` by a non-interactive shell ignores SIGINT: so does the command.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with taking_stop_signals(_ignore_second) as stop:
            assert stop.taken == (signal.SIGTERM,)
            signal.raise_signal(signal.SIGINT)
            assert stop.first is None
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def test_no_signal_is_taken_outside_the_main_thread() -> None:
    taken: list[tuple[int, ...]] = []

    def elsewhere() -> None:
        with taking_stop_signals(_ignore_second) as stop:
            taken.append(stop.taken)

    thread = threading.Thread(target=elsewhere)
    thread.start()
    thread.join()
    assert taken == [()]


@pytest.mark.skipif(sys.platform == "win32", reason="pthread_kill is POSIX")
def test_a_signal_ends_a_wait_at_once() -> None:
    main = threading.get_ident()

    def signal_the_main_thread() -> None:
        time.sleep(0.05)
        signal.pthread_kill(main, signal.SIGTERM)

    with taking_stop_signals(_ignore_second) as stop:
        thread = threading.Thread(target=signal_the_main_thread)
        started = time.monotonic()
        thread.start()
        stop.sleep(60)
        waited = time.monotonic() - started
        thread.join()
        assert stop.first == signal.SIGTERM
        assert waited < 30
        stop.sleep(60)  # stopping already: no wait at all
        assert time.monotonic() - started < 30


@pytest.fixture
def seconds() -> list[int]:
    """What ``on_second`` was called with."""
    return []


@pytest.fixture
def stop(seconds: list[int]) -> Iterator[StopSignals]:
    """The signals taken before the test's Trio run starts, as the demo takes them."""
    with taking_stop_signals(seconds.append) as stop:
        yield stop


async def _stopping(
    stop: StopSignals, stop_within: float, work: Callable[[], Awaitable[None]]
) -> None:
    """Run ``work()`` in a scope ``cancel_on_stop_signal`` cancels, as the demo does."""
    scope = trio.CancelScope()
    async with trio.open_nursery() as nursery:
        await nursery.start(cancel_on_stop_signal, stop, scope, stop_within)
        with scope:
            await work()
        nursery.cancel_scope.cancel()


async def test_the_first_signal_cancels_the_work_a_second_calls_on_second(
    stop: StopSignals, seconds: list[int]
) -> None:
    async def work() -> None:
        try:
            signal.raise_signal(signal.SIGTERM)
            await trio.sleep_forever()
        finally:
            # The stop under way is shielded, as the event-sourcing system's drain.
            with trio.CancelScope(shield=True):
                assert seconds == []
                signal.raise_signal(signal.SIGINT)
                await trio.testing.wait_all_tasks_blocked()
                assert seconds == [signal.SIGTERM]

    await _stopping(stop, 60, work)
    assert stop.first == signal.SIGTERM


async def test_a_signal_before_the_receiver_opens_cancels_at_once(stop: StopSignals) -> None:
    signal.raise_signal(signal.SIGINT)
    await _stopping(stop, 60, trio.sleep_forever)  # cancelled, not waiting for ever
    assert stop.first == signal.SIGINT


async def test_a_stop_that_takes_too_long_is_given_up(
    stop: StopSignals, seconds: list[int], autojump_clock: trio.testing.MockClock
) -> None:
    async def work() -> None:
        signal.raise_signal(signal.SIGINT)
        # A stop that does not end: the work ignores the cancellation.
        with trio.CancelScope(shield=True):
            await trio.sleep(9)
            assert seconds == []
            await trio.sleep(2)
            assert seconds == [signal.SIGINT]

    await _stopping(stop, 10, work)


def _signal_after(commands: int, signum: signal.Signals) -> Callable[..., object]:
    """``run_bank``, raising ``signum`` in the middle of it, after ``commands`` commands."""

    async def interrupted(*args: object, **kwargs: object) -> DemoReport:
        given = kwargs.pop("on_command")
        assert callable(given)
        answered = 0

        def counting() -> None:
            nonlocal answered
            given()
            answered += 1
            if answered == commands:
                signal.raise_signal(signum)

        return await run_bank(*args, on_command=counting, **kwargs)  # type: ignore[arg-type]

    return interrupted


@pytest.mark.parametrize(
    ("signum", "status", "line"),
    [
        (signal.SIGINT, 130, "trio-eventsourcing: interrupted"),
        (signal.SIGTERM, 143, "trio-eventsourcing: terminated"),
    ],
    ids=["SIGINT", "SIGTERM"],
)
def test_a_signal_stops_the_demo_in_order(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    signum: signal.Signals,
    status: int,
    line: str,
) -> None:
    db = tmp_path / "bank.db"
    monkeypatch.setattr(cli_demo, "run_bank", _signal_after(20, signum))
    outcome = cli(capsys, "demo", "--db", str(db), *SMALL_DEMO)
    assert (outcome.status, outcome.out, outcome.err) == (status, "", f"{line}\n")
    # The store closed its file: nothing is left in a -wal file, the file is whole.
    assert not db.with_name("bank.db-wal").exists()
    with sqlite3.connect(db) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        (stored,) = connection.execute("SELECT count(*) FROM events").fetchone()
    connection.close()
    # The five accounts were opened before any deposit: their events are there. (Of the
    # 20 deposits and withdrawals answered, a withdrawal over the balance is rejected and
    # stores nothing, so their count bounds nothing.)
    assert stored >= 5
    monkeypatch.undo()
    again = cli(capsys, "demo", "--db", str(db), *SMALL_DEMO)
    assert again.status == 0, again.err
    assert "all 5 match the model" in again.out


def test_an_ignored_sigint_does_not_stop_the_demo(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli_demo, "run_bank", _signal_after(20, signal.SIGINT))
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        outcome = cli(capsys, "demo", "--db", str(tmp_path / "bank.db"), *SMALL_DEMO)
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    assert outcome.status == 0, outcome.err
    assert "all 5 match the model" in outcome.out


def test_the_demo_runs_outside_the_main_thread(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # No handler can be installed there; nor does Trio install its own.
    statuses: list[int] = []
    arguments = ["demo", "--db", str(tmp_path / "bank.db"), *SMALL_DEMO]
    thread = threading.Thread(target=lambda: statuses.append(main(arguments)))
    thread.start()
    thread.join()
    assert statuses == [0]
    assert "all 5 match the model" in capsys.readouterr().out


def _log_batches(monkeypatch: pytest.MonkeyPatch, size: int) -> list[int]:
    """Read the log ``size`` events at a time; the sizes of the batches printed."""
    monkeypatch.setattr(cli_commands, "LOG_BATCH", size)
    printed: list[int] = []
    real = cli_commands._print_log

    def counting(*args: object, **kwargs: object) -> None:
        real(*args, **kwargs)  # type: ignore[arg-type]
        batch = args[2]
        assert isinstance(batch, list)
        printed.append(len(batch))

    monkeypatch.setattr(cli_commands, "_print_log", counting)
    return printed


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_follow_ends_its_wait_on_a_signal_with_status_0(
    capsys: pytest.CaptureFixture[str],
    demo_db: Path,
    monkeypatch: pytest.MonkeyPatch,
    signum: signal.Signals,
) -> None:
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        signal.raise_signal(signum)
        raise AssertionError("the signal ends the wait")

    monkeypatch.setattr(cli_commands, "sleep", sleep)
    outcome = cli(capsys, "log", str(demo_db), "--follow", "--json")
    assert (outcome.status, outcome.err) == (0, "")
    assert waits == [1.0]
    with sqlite3.connect(demo_db) as connection:
        (count,) = connection.execute("SELECT count(*) FROM events").fetchone()
    connection.close()
    assert len(outcome.json_lines()) == count


def test_follow_prints_the_batch_under_way_whole_then_stops(
    capsys: pytest.CaptureFixture[str],
    demo_db: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db = copy_store(demo_db, tmp_path / "bank.db")
    printed = _log_batches(monkeypatch, 7)
    real = cli_commands._print_log

    def interrupted(*args: object, **kwargs: object) -> None:
        if len(printed) == 2:  # as the third batch starts being printed
            signal.raise_signal(signal.SIGINT)
        real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(cli_commands, "_print_log", interrupted)
    outcome = cli(capsys, "log", str(db), "--follow", "--json")
    assert (outcome.status, outcome.err) == (0, "")
    assert printed == [7, 7, 7]
    assert [record["position"] for record in outcome.json_lines()] == list(range(1, 22))
