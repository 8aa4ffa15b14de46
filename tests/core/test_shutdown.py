"""An orderly shutdown drains: what was accepted before it is run, or answered, never lost."""

from __future__ import annotations

import logging
from typing import cast

import pytest
import trio
import trio.testing

import trio_eventsourcing as eventsourcing
from tests.core.conftest import (
    Added,
    Tally,
    TallyMessage,
    TallyStore,
    add,
    apply,
    handle,
    open_system,
    reply,
)
from trio_eventsourcing import (
    Error,
    EventStoreError,
    Ok,
    OutcomeUnknown,
    memory_store,
    process,
    static_supervisor,
)


async def test_commands_queued_at_shutdown_are_run_before_it_ends() -> None:
    async with open_system(shutdown_timeout=60.0) as system:
        gate = system.faulty.commit_gates["t-1"] = trio.Event()
        replies = [system.send("t-1", add(n)) for n in range(1, 4)]
        for n in range(4, 7):
            eventsourcing.execute(system.subject, "t-1", add(n))
        await trio.testing.wait_all_tasks_blocked()
        system.supervisor.shutdown()
        await trio.testing.wait_all_tasks_blocked()
        gate.set()
        await system.supervisor.wait_finished()
        for subject in replies:
            assert await reply(subject) == Ok(None)
    assert [e.payload for e in system.store.eventstore.database._log] == [
        Added(n) for n in range(1, 7)
    ]


async def test_a_request_sent_while_draining_is_refused_with_an_error() -> None:
    async with open_system(shutdown_timeout=60.0) as system:
        gate = system.faulty.commit_gates["t-1"] = trio.Event()
        first = system.send("t-1", add(1))
        await trio.testing.wait_all_tasks_blocked()
        system.supervisor.shutdown()
        await trio.testing.wait_all_tasks_blocked()
        late = system.send("t-2", add(2))
        refused = await reply(late)
        assert isinstance(refused, Error)
        assert isinstance(refused.error, EventStoreError)
        assert "is shutting down: it accepts no new requests" in refused.error.message
        assert "nothing of the request was stored" in refused.error.message
        gate.set()
        assert await reply(first) == Ok(None)
        await system.supervisor.wait_finished()
    assert [e.payload for e in system.store.eventstore.database._log] == [Added(1)]


async def test_after_the_shutdown_timeout_what_is_left_is_answered_and_logged(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    async with open_system(shutdown_timeout=2.0) as system:
        system.faulty.commit_gates["t-1"] = trio.Event()  # never set: t-1 cannot finish
        in_flight = system.send("t-1", add(1))
        queued = system.send("t-1", add(2))
        for n in range(3, 6):
            eventsourcing.execute(system.subject, "t-1", add(n))
        done = system.send("t-2", add(9))
        await trio.testing.wait_all_tasks_blocked()
        started = trio.current_time()
        system.supervisor.shutdown()
        await system.supervisor.wait_finished()
        assert trio.current_time() - started == pytest.approx(2.0)
        assert await reply(done) == Ok(None)
        stopped = await reply(in_flight)
        assert isinstance(stopped, Error)
        assert isinstance(stopped.error, OutcomeUnknown)
        left = await reply(queued)
        assert isinstance(left, Error)
        assert isinstance(left.error, EventStoreError), left
        assert "shut down before running it" in left.error.message
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(
        "shut down with work it could not do: 1 command stopped in flight" in message
        and "1 request answered with an error, and 3 fire-and-forget commands dropped, "
        "not run ('t-1', 't-1', 't-1')"
        in message
        for message in warnings
    ), warnings


async def test_a_shutdown_with_nothing_queued_logs_no_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with open_system() as system:
        assert await system.run("t-1", add(1)) == Ok(None)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_a_crash_of_the_router_does_not_drain_or_drop_queued_commands() -> None:
    async with open_system(shutdown_timeout=60.0) as system:
        gate = system.faulty.commit_gates["t-1"] = trio.Event()
        system.send("t-1", add(1))
        await trio.testing.wait_all_tasks_blocked()
        queued = system.send("t-1", add(2))
        # Not an AggregateMessage: the router raises TypeError and is restarted.
        process.send(system.subject, cast("TallyMessage", object()))
        await trio.testing.wait_all_tasks_blocked()
        assert system.restarts() == 1
        gate.set()
        assert await reply(queued) == Ok(None)
        assert await system.run("t-3", add(3)) == Ok(None)


def test_a_bad_shutdown_timeout_is_refused() -> None:
    for bad in (0, -1.0, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="shutdown_timeout must be a finite number"):
            _supervised(bad)
    with pytest.raises(TypeError, match="shutdown_timeout must be a number of seconds"):
        _supervised("5")


def _supervised(shutdown_timeout: object) -> None:
    store: TallyStore
    store, _ = memory_store.supervised(
        process.new_name("events"), process.new_name("snapshots"), static_supervisor.OneForOne
    )
    eventsourcing.supervised(
        name=process.new_name("tally"),
        eventstore=store,
        handle=handle,
        apply=apply,
        empty_state=Tally(),
        queries=[],
        snapshot_config=None,
        shutdown_timeout=shutdown_timeout,  # type: ignore[arg-type]
    )


async def test_a_dropped_fire_and_forget_command_is_named_with_its_key(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    async with open_system(shutdown_timeout=1.0) as system:
        system.faulty.commit_gates["t-1"] = trio.Event()  # never set
        eventsourcing.execute(system.subject, "t-1", add(1))
        eventsourcing.execute(system.subject, "t-1", add(2), idempotency_key="op-2")
        await trio.testing.wait_all_tasks_blocked()
        system.supervisor.shutdown()
        await system.supervisor.wait_finished()
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    # The one in flight: its generated key, to send it again with.
    assert any(
        "a fire-and-forget command for 't-1' may or may not be stored" in message
        and "send it again with idempotency key" in message
        for message in messages
    ), messages
    assert any(
        "1 fire-and-forget command dropped, not run ('t-1' key 'op-2')" in m for m in messages
    )


async def test_the_drain_logs_what_it_runs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="trio_eventsourcing.eventsourcing")
    async with open_system(shutdown_timeout=60.0) as system:
        gate = system.faulty.commit_gates["t-1"] = trio.Event()
        for n in range(1, 4):
            eventsourcing.execute(system.subject, "t-1", add(n))
        await trio.testing.wait_all_tasks_blocked()
        system.supervisor.shutdown()
        await trio.testing.wait_all_tasks_blocked()
        gate.set()
        await system.supervisor.wait_finished()
    assert any(
        "is shutting down: it runs the 3 commands and requests it has accepted" in r.getMessage()
        for r in caplog.records
    )
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_a_start_cancelled_at_any_moment_ends_without_hanging() -> None:
    # Cancelled after 0, 1, 2, ... scheduler steps: every step of the start, and the first
    # ones after it, is hit once; none may leave a task waiting for ever.
    for steps in range(40):
        with trio.fail_after(10), trio.CancelScope() as scope:
            async with trio.open_nursery() as nursery:

                async def cancel_after(steps: int = steps, scope: trio.CancelScope = scope) -> None:
                    for _ in range(steps):
                        await trio.lowlevel.cancel_shielded_checkpoint()
                    scope.cancel()

                nursery.start_soon(cancel_after)
                store: TallyStore
                store, store_spec = memory_store.supervised(
                    process.new_name("events"),
                    process.new_name("snapshots"),
                    static_supervisor.OneForOne,
                )
                name: process.Name[TallyMessage] = process.new_name("tally")
                spec = eventsourcing.supervised(
                    name, store, handle, apply, Tally(), [], None, shutdown_timeout=60.0
                ).unwrap()
                builder = static_supervisor.new(static_supervisor.OneForOne)
                async with builder.add(store_spec).add(spec).open():
                    actor = process.named_subject(name)
                    for n in range(3):
                        eventsourcing.execute(actor, "t-1", add(n))
                    await process.receive(eventsourcing.load_aggregate(actor, "t-1"), 5_000)
