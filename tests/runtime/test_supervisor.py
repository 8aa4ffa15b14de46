"""Static supervisors: strategies, restart types, restart tolerance, start and shutdown.

Every child here is a named actor wrapped so that it appends ``"start <label>"`` to a
shared log when it starts and ``"stop <label>"`` when its task ends, however it ends;
the order of the log is the order the supervisor started and stopped its children.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pytest
import trio
import trio.testing

from trio_eventsourcing import actor, process, static_supervisor, supervision
from trio_eventsourcing.result import Error, Ok

# --- the children -------------------------------------------------------------------------


@dataclass(frozen=True)
class Crash:
    pass


@dataclass(frozen=True)
class Quit:
    pass


@dataclass(frozen=True)
class Abort:
    pass


@dataclass(frozen=True)
class Record:
    value: int


@dataclass(frozen=True)
class Ping:
    reply_to: process.Subject[str]


Command = Crash | Quit | Abort | Record | Ping


class Crashed(Exception):
    pass


class Family:
    """Children that share one log, each reachable by its label."""

    def __init__(self, *, slow_stop: bool = False) -> None:
        self.log: list[str] = []
        self.received: list[int] = []
        self.names: dict[str, process.Name[Command]] = {}
        self._slow_stop = slow_stop

    def child(
        self,
        label: str,
        restart: supervision.Restart = supervision.Permanent,
        *,
        start_delay: float = 0,
    ) -> supervision.ChildSpecification[process.Subject[Command]]:
        name: process.Name[Command] = process.new_name(label)
        self.names[label] = name
        builder = actor.new(label).on_message(self._handle).named(name)

        async def run(
            *, task_status: trio.TaskStatus[process.Subject[Command]] = trio.TASK_STATUS_IGNORED
        ) -> None:
            self.log.append(f"start {label}")
            try:
                await builder.run(task_status=task_status)
            finally:
                if self._slow_stop:
                    self.log.append(f"stopping {label}")
                    with trio.CancelScope(shield=True):
                        await trio.sleep(1)
                    self.log.append(f"stopped {label}")
                else:
                    self.log.append(f"stop {label}")

        async def start(nursery: trio.Nursery) -> actor.StartResult[process.Subject[Command]]:
            if start_delay:
                await trio.sleep(start_delay)
            subject: process.Subject[Command] = await nursery.start(run)
            return Ok(actor.Started(subject))

        return supervision.restart(supervision.worker(start), restart)

    async def _handle(self, label: str, message: Command) -> actor.Next[str]:
        match message:
            case Crash():
                raise Crashed(label)
            case Quit():
                return actor.stop()
            case Abort():
                return actor.stop_abnormal(f"{label} aborted")
            case Record(value):
                self.received.append(value)
            case Ping(reply_to):
                process.send(reply_to, label)
        return actor.continue_(label)

    def send(self, label: str, message: Command) -> None:
        process.send(process.named_subject(self.names[label]), message)

    async def ping(self, label: str) -> str:
        return await process.call(process.named_subject(self.names[label]), 1000, Ping)

    def log_since(self, mark: int) -> list[str]:
        return self.log[mark:]


def _supervisor(
    strategy: static_supervisor.Strategy,
    *children: supervision.ChildSpecification[object],
) -> static_supervisor.Builder:
    builder = static_supervisor.new(strategy)
    for child in children:
        builder = builder.add(child)
    return builder


async def _start(
    builder: static_supervisor.Builder, nursery: trio.Nursery
) -> static_supervisor.Supervisor:
    return (await builder.start(nursery)).unwrap().data


async def _crash(family: Family, label: str) -> None:
    """Crash a child and wait until the supervisor has dealt with it."""
    family.send(label, Crash())
    await trio.testing.wait_all_tasks_blocked()


def _all_tasks() -> set[trio.lowlevel.Task]:
    root = trio.lowlevel.current_root_task()
    assert root is not None
    found: set[trio.lowlevel.Task] = set()
    todo = [root]
    while todo:
        task = todo.pop()
        found.add(task)
        for child_nursery in task.child_nurseries:
            todo.extend(child_nursery.child_tasks)
    return found


@pytest.fixture
def family() -> Family:
    return Family()


class SupervisorLogs:
    """The records of the ``trio_eventsourcing.supervisor`` logger, at every level."""

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        self._caplog = caplog

    @property
    def records(self) -> list[logging.LogRecord]:
        return [r for r in self._caplog.records if r.name == "trio_eventsourcing.supervisor"]


@pytest.fixture
def supervisor_logs(caplog: pytest.LogCaptureFixture) -> SupervisorLogs:
    caplog.set_level(logging.DEBUG, logger="trio_eventsourcing.supervisor")
    return SupervisorLogs(caplog)


# --- strategies ---------------------------------------------------------------------------


async def test_children_start_in_the_order_they_were_added(
    nursery: trio.Nursery, family: Family
) -> None:
    children = [family.child(label) for label in "abc"]
    await _start(_supervisor(static_supervisor.OneForOne, *children), nursery)
    assert family.log == ["start a", "start b", "start c"]


async def test_one_for_one_restarts_only_the_crashed_child(
    nursery: trio.Nursery, family: Family
) -> None:
    children = [family.child(label) for label in "abc"]
    await _start(_supervisor(static_supervisor.OneForOne, *children), nursery)
    mark = len(family.log)
    await _crash(family, "b")
    assert family.log_since(mark) == ["stop b", "start b"]
    assert [await family.ping(label) for label in "abc"] == ["a", "b", "c"]


async def test_one_for_all_stops_the_others_in_reverse_then_restarts_all_in_start_order(
    nursery: trio.Nursery, family: Family
) -> None:
    children = [family.child(label) for label in "abcd"]
    await _start(_supervisor(static_supervisor.OneForAll, *children), nursery)
    mark = len(family.log)
    await _crash(family, "b")
    assert family.log_since(mark) == [
        "stop b",
        *["stop d", "stop c", "stop a"],
        *["start a", "start b", "start c", "start d"],
    ]


async def test_rest_for_one_restarts_the_crashed_child_and_those_after_it_only(
    nursery: trio.Nursery, family: Family
) -> None:
    children = [family.child(label) for label in "abcd"]
    await _start(_supervisor(static_supervisor.RestForOne, *children), nursery)
    mark = len(family.log)
    await _crash(family, "b")
    assert family.log_since(mark) == [
        "stop b",
        *["stop d", "stop c"],
        *["start b", "start c", "start d"],
    ]


async def test_rest_for_one_restarts_only_the_last_child_when_it_crashes(
    nursery: trio.Nursery, family: Family
) -> None:
    children = [family.child(label) for label in "abc"]
    await _start(_supervisor(static_supervisor.RestForOne, *children), nursery)
    mark = len(family.log)
    await _crash(family, "c")
    assert family.log_since(mark) == ["stop c", "start c"]


# --- restart types ------------------------------------------------------------------------


async def test_permanent_child_is_restarted_after_a_normal_exit(
    nursery: trio.Nursery, family: Family
) -> None:
    supervisor = await _start(
        _supervisor(static_supervisor.OneForOne, family.child("a", supervision.Permanent)),
        nursery,
    )
    family.send("a", Quit())
    await trio.testing.wait_all_tasks_blocked()
    assert family.log == ["start a", "stop a", "start a"]
    assert supervisor.statistics().live_children == 1


async def test_transient_child_is_restarted_after_a_crash(
    nursery: trio.Nursery, family: Family
) -> None:
    await _start(
        _supervisor(static_supervisor.OneForOne, family.child("a", supervision.Transient)),
        nursery,
    )
    await _crash(family, "a")
    assert family.log == ["start a", "stop a", "start a"]


async def test_transient_child_is_restarted_after_stop_abnormal(
    nursery: trio.Nursery, family: Family
) -> None:
    await _start(
        _supervisor(static_supervisor.OneForOne, family.child("a", supervision.Transient)),
        nursery,
    )
    family.send("a", Abort())
    await trio.testing.wait_all_tasks_blocked()
    assert family.log == ["start a", "stop a", "start a"]


async def test_transient_child_is_not_restarted_after_a_normal_stop(
    nursery: trio.Nursery, family: Family
) -> None:
    supervisor = await _start(
        _supervisor(static_supervisor.OneForOne, family.child("a", supervision.Transient)),
        nursery,
    )
    family.send("a", Quit())
    await trio.testing.wait_all_tasks_blocked()
    assert family.log == ["start a", "stop a"]
    assert supervisor.statistics().live_children == 0
    assert not family.names["a"].is_held


async def test_temporary_child_is_not_restarted_after_a_crash(
    nursery: trio.Nursery, family: Family
) -> None:
    supervisor = await _start(
        _supervisor(static_supervisor.OneForOne, family.child("a", supervision.Temporary)),
        nursery,
    )
    await _crash(family, "a")
    assert family.log == ["start a", "stop a"]
    assert supervisor.statistics() == static_supervisor.SupervisorStatistics(
        static_supervisor.OneForOne, live_children=0, restarts=0
    )


async def test_temporary_child_taken_down_by_a_siblings_crash_is_not_restarted(
    nursery: trio.Nursery, family: Family
) -> None:
    children = [
        family.child("a"),
        family.child("t", supervision.Temporary),
        family.child("c"),
    ]
    supervisor = await _start(_supervisor(static_supervisor.OneForAll, *children), nursery)
    mark = len(family.log)
    await _crash(family, "a")
    assert family.log_since(mark) == ["stop a", "stop c", "stop t", "start a", "start c"]
    assert supervisor.statistics().live_children == 2


async def test_one_for_all_restarts_every_child_when_the_first_crashes(
    nursery: trio.Nursery, family: Family
) -> None:
    children = [family.child(label) for label in "abc"]
    await _start(_supervisor(static_supervisor.OneForAll, *children), nursery)
    mark = len(family.log)
    await _crash(family, "a")
    assert family.log_since(mark) == [
        *["stop a", "stop c", "stop b"],
        *["start a", "start b", "start c"],
    ]


async def test_transient_child_taken_down_by_a_siblings_crash_is_restarted(
    nursery: trio.Nursery, family: Family
) -> None:
    children = [family.child("a"), family.child("t", supervision.Transient)]
    await _start(_supervisor(static_supervisor.OneForAll, *children), nursery)
    mark = len(family.log)
    await _crash(family, "a")
    assert family.log_since(mark) == ["stop a", "stop t", "start a", "start t"]


# --- restart tolerance --------------------------------------------------------------------


async def test_two_restarts_within_five_seconds_are_tolerated(
    nursery: trio.Nursery, family: Family, autojump_clock: trio.testing.MockClock
) -> None:
    supervisor = await _start(_supervisor(static_supervisor.OneForOne, family.child("a")), nursery)
    await _crash(family, "a")
    await trio.sleep(2)
    await _crash(family, "a")
    assert supervisor.statistics().restarts == 2
    assert await family.ping("a") == "a"


async def test_a_third_restart_within_five_seconds_makes_the_supervisor_give_up(
    family: Family, autojump_clock: trio.testing.MockClock
) -> None:
    with pytest.RaisesGroup(static_supervisor.SupervisorGaveUp, flatten_subgroups=True):
        async with trio.open_nursery() as nursery:
            await _start(_supervisor(static_supervisor.OneForOne, family.child("a")), nursery)
            for _ in range(3):
                await _crash(family, "a")
                await trio.sleep(1)
    assert family.log == ["start a", "stop a"] * 3


async def test_giving_up_shuts_the_other_children_down_in_reverse_start_order(
    family: Family,
) -> None:
    children = [family.child(label) for label in "abc"]
    builder = _supervisor(static_supervisor.OneForOne, *children).restart_tolerance(
        intensity=0, period=5
    )
    with pytest.RaisesGroup(static_supervisor.SupervisorGaveUp, flatten_subgroups=True):
        async with trio.open_nursery() as nursery:
            await _start(builder, nursery)
            mark = len(family.log)
            await _crash(family, "a")
    assert family.log_since(mark) == ["stop a", "stop c", "stop b"]


async def test_supervisor_gave_up_is_raised_from_the_last_crash(family: Family) -> None:
    builder = _supervisor(static_supervisor.OneForOne, family.child("a")).restart_tolerance(
        intensity=0, period=5
    )
    with pytest.RaisesGroup(
        pytest.RaisesExc(
            static_supervisor.SupervisorGaveUp,
            match="more than 0 restarts within 5 s",
            check=lambda gave_up: isinstance(gave_up.__cause__, Crashed),
        ),
        flatten_subgroups=True,
    ):
        async with trio.open_nursery() as nursery:
            await _start(builder, nursery)
            await _crash(family, "a")


async def test_restarts_older_than_the_period_do_not_count(
    nursery: trio.Nursery, family: Family, autojump_clock: trio.testing.MockClock
) -> None:
    supervisor = await _start(_supervisor(static_supervisor.OneForOne, family.child("a")), nursery)
    for _ in range(5):
        await _crash(family, "a")
        await trio.sleep(6)
    assert supervisor.statistics().restarts == 5
    assert await family.ping("a") == "a"


async def test_custom_restart_tolerance_gives_up_sooner(
    family: Family, autojump_clock: trio.testing.MockClock
) -> None:
    builder = _supervisor(static_supervisor.OneForOne, family.child("a")).restart_tolerance(
        intensity=1, period=60
    )
    with pytest.RaisesGroup(static_supervisor.SupervisorGaveUp, flatten_subgroups=True):
        async with trio.open_nursery() as nursery:
            await _start(builder, nursery)
            await _crash(family, "a")
            await trio.sleep(30)  # outside the default 5 s period, inside this one
            await _crash(family, "a")
    assert trio.current_time() == pytest.approx(30)


async def test_custom_restart_tolerance_allows_more_restarts(
    nursery: trio.Nursery, family: Family
) -> None:
    builder = _supervisor(static_supervisor.OneForOne, family.child("a")).restart_tolerance(
        intensity=4, period=5
    )
    supervisor = await _start(builder, nursery)
    for _ in range(4):
        await _crash(family, "a")
    assert supervisor.statistics().restarts == 4
    assert await family.ping("a") == "a"


async def test_a_failed_restart_counts_against_the_restart_tolerance(
    family: Family, supervisor_logs: SupervisorLogs
) -> None:
    starts = 0
    inner = family.child("a")

    async def start_once(nursery: trio.Nursery) -> actor.StartResult[process.Subject[Command]]:
        nonlocal starts
        starts += 1
        if starts > 1:
            return Error(actor.StartError("cannot come back"))
        return await inner.start(nursery)

    builder = _supervisor(static_supervisor.OneForOne, supervision.worker(start_once))
    with pytest.RaisesGroup(static_supervisor.SupervisorGaveUp, flatten_subgroups=True):
        async with trio.open_nursery() as nursery:
            await _start(builder, nursery)
            await _crash(family, "a")
    # The crash, then two restarts that failed to start; the third gives up.
    assert starts == 3
    assert family.log == ["start a", "stop a"]
    crashes = [r for r in supervisor_logs.records if r.getMessage().endswith("crashed")]
    assert len(crashes) == 3
    assert crashes[1].exc_info is not None
    assert isinstance(crashes[1].exc_info[1], static_supervisor.ChildStartFailed)


@pytest.mark.parametrize(
    ("intensity", "period", "error"),
    [(-1, 5, ValueError), (2, 0, ValueError), (2.0, 5, TypeError), (2, True, TypeError)],
)
def test_restart_tolerance_rejects_bad_arguments(
    intensity: int, period: int, error: type[Exception]
) -> None:
    with pytest.raises(error):
        static_supervisor.new(static_supervisor.OneForOne).restart_tolerance(intensity, period)


async def test_parent_supervisor_restarts_a_nested_supervisor_that_gave_up(
    nursery: trio.Nursery, family: Family
) -> None:
    nested = _supervisor(static_supervisor.OneForOne, family.child("a"))
    parent = _supervisor(
        static_supervisor.OneForOne, family.child("p"), static_supervisor.supervised(nested)
    )
    supervisor = await _start(parent, nursery)
    for _ in range(3):
        await _crash(family, "a")
    # Two restarts by the nested supervisor; the third crash made it give up, and the
    # parent restarted it, which started "a" afresh. "p" was left alone.
    assert family.log == ["start p", *["start a", "stop a"] * 3, "start a"]
    assert supervisor.statistics().restarts == 1
    assert await family.ping("a") == "a"


async def test_supervised_turns_a_builder_into_a_supervisor_child(
    nursery: trio.Nursery, family: Family
) -> None:
    child = static_supervisor.supervised(
        _supervisor(static_supervisor.OneForOne, family.child("a"))
    )
    assert child.child_type is supervision.ChildType.SUPERVISOR
    assert child.restart is supervision.Permanent
    result = await child.start(nursery)
    assert isinstance(result, Ok)
    assert result.value.data.statistics().live_children == 1
    assert family.log == ["start a"]


# --- a named actor keeps its name across restarts -----------------------------------------


async def test_crashing_named_actor_keeps_serving_its_name_and_loses_no_message(
    nursery: trio.Nursery,
) -> None:
    name: process.Name[Command] = process.new_name("ledger")
    received: list[int] = []
    restarting = trio.Event()
    resume = trio.Event()
    starts = 0

    async def handle(state: None, message: Command) -> actor.Next[None]:
        match message:
            case Record(value):
                received.append(value)
            case Crash():
                raise Crashed("the message that crashed it is lost, as in OTP")
            case Ping(reply_to):
                process.send(reply_to, "pong")
            case Quit() | Abort():
                pytest.fail(f"unexpected {message}")
        return actor.continue_(state)

    builder = actor.new(None).on_message(handle).named(name)

    async def start(nursery: trio.Nursery) -> actor.StartResult[process.Subject[Command]]:
        nonlocal starts
        starts += 1
        if starts == 2:  # the restart: hold it open while the test sends more
            restarting.set()
            await resume.wait()
        return await builder.start(nursery)

    supervisor = await _start(
        _supervisor(static_supervisor.OneForOne, supervision.worker(start)), nursery
    )
    ledger = process.named_subject(name)
    for value in range(0, 5):  # before the crash
        process.send(ledger, Record(value))
    process.send(ledger, Crash())
    for value in range(5, 10):  # behind the crash, before the restart
        process.send(ledger, Record(value))
    await restarting.wait()
    assert not name.is_held
    for value in range(10, 15):  # during the restart
        process.send(ledger, Record(value))
    resume.set()
    assert await process.call(ledger, 1000, Ping) == "pong"
    for value in range(15, 20):  # after the restart
        process.send(ledger, Record(value))
    assert await process.call(ledger, 1000, Ping) == "pong"
    assert received == list(range(20))
    assert supervisor.statistics().restarts == 1


# --- shutting down ------------------------------------------------------------------------


async def test_cancelling_the_enclosing_scope_stops_children_one_at_a_time_in_reverse(
    autojump_clock: trio.testing.MockClock,
) -> None:
    family = Family(slow_stop=True)
    children = [family.child(label) for label in "abc"]
    async with trio.open_nursery() as nursery:
        await _start(_supervisor(static_supervisor.OneForOne, *children), nursery)
        nursery.cancel_scope.cancel()
    assert family.log == [
        *["start a", "start b", "start c"],
        *["stopping c", "stopped c", "stopping b", "stopped b", "stopping a", "stopped a"],
    ]
    assert trio.current_time() == pytest.approx(3)  # each stop took 1 s, none overlapped


async def test_cancelling_the_enclosing_scope_leaves_no_task_behind(family: Family) -> None:
    before = _all_tasks()
    nested = _supervisor(static_supervisor.OneForAll, family.child("x"), family.child("y"))
    builder = _supervisor(
        static_supervisor.OneForOne, family.child("a"), static_supervisor.supervised(nested)
    )
    async with trio.open_nursery() as nursery:
        await _start(builder, nursery)
        assert len(_all_tasks()) > len(before)
        nursery.cancel_scope.cancel()
    assert _all_tasks() == before


async def test_cancelling_stops_nested_supervisors_children_before_earlier_siblings(
    family: Family,
) -> None:
    nested = _supervisor(static_supervisor.OneForAll, family.child("x"), family.child("y"))
    builder = _supervisor(
        static_supervisor.OneForOne, family.child("a"), static_supervisor.supervised(nested)
    )
    async with trio.open_nursery() as nursery:
        await _start(builder, nursery)
        nursery.cancel_scope.cancel()
    assert family.log == ["start a", "start x", "start y", "stop y", "stop x", "stop a"]


async def test_shutdown_ends_run_normally(family: Family) -> None:
    children = [family.child(label) for label in "abc"]
    async with trio.open_nursery() as nursery:
        supervisor = await _start(_supervisor(static_supervisor.OneForOne, *children), nursery)
        supervisor.shutdown()
        await supervisor.wait_finished()
    assert not nursery.cancel_scope.cancel_called
    assert family.log[3:] == ["stop c", "stop b", "stop a"]
    assert supervisor.statistics().live_children == 0


async def test_shutdown_of_a_finished_supervisor_does_nothing(family: Family) -> None:
    async with trio.open_nursery() as nursery:
        supervisor = await _start(_supervisor(static_supervisor.OneForOne), nursery)
        supervisor.shutdown()
    supervisor.shutdown()
    await supervisor.wait_finished()


async def test_run_returns_after_shutdown(family: Family) -> None:
    builder = _supervisor(static_supervisor.OneForOne, family.child("a"))
    async with trio.open_nursery() as nursery:
        handle: static_supervisor.Supervisor = await nursery.start(builder.run)
        handle.shutdown()
    assert family.log == ["start a", "stop a"]


# --- starting -----------------------------------------------------------------------------


async def test_start_returns_ok_once_every_child_has_started(
    nursery: trio.Nursery, family: Family
) -> None:
    builder = _supervisor(static_supervisor.OneForOne, family.child("a"), family.child("b"))
    result = await builder.start(nursery)
    assert isinstance(result, Ok)
    assert isinstance(result.value.data, static_supervisor.Supervisor)
    assert result.value.data.statistics().live_children == 2
    assert family.names["a"].is_held
    assert family.names["b"].is_held


async def test_nursery_start_of_run_hands_back_the_supervisor(
    nursery: trio.Nursery, family: Family
) -> None:
    builder = _supervisor(static_supervisor.RestForOne, family.child("a"), family.child("b"))
    supervisor: static_supervisor.Supervisor = await nursery.start(builder.run)
    assert supervisor.statistics() == static_supervisor.SupervisorStatistics(
        static_supervisor.RestForOne, live_children=2, restarts=0
    )


async def test_open_runs_the_children_for_the_duration_of_the_block(family: Family) -> None:
    builder = _supervisor(static_supervisor.OneForOne, family.child("a"), family.child("b"))
    async with builder.open() as supervisor:
        assert supervisor.statistics().live_children == 2
        assert await family.ping("b") == "b"
        await _crash(family, "a")
        assert supervisor.statistics().restarts == 1
    assert family.log == ["start a", "start b", "stop a", "start a", "stop b", "stop a"]


async def test_open_raises_supervisor_gave_up_out_of_the_block(family: Family) -> None:
    builder = _supervisor(static_supervisor.OneForOne, family.child("a")).restart_tolerance(
        intensity=0, period=5
    )
    with pytest.RaisesGroup(static_supervisor.SupervisorGaveUp, flatten_subgroups=True):
        async with builder.open():
            family.send("a", Crash())
            await trio.sleep_forever()


async def test_a_child_start_error_makes_start_return_a_start_error_naming_the_child(
    nursery: trio.Nursery, family: Family
) -> None:
    async def start_database(nursery: trio.Nursery) -> actor.StartResult[None]:
        return Error(actor.StartError("no database"))

    builder = _supervisor(
        static_supervisor.OneForOne, family.child("a"), supervision.worker(start_database)
    )
    result = await builder.start(nursery)
    assert isinstance(result, Error)
    assert "child #1" in result.error.reason
    assert "start_database" in result.error.reason
    assert "no database" in result.error.reason


async def test_a_child_start_error_stops_the_children_already_started_in_reverse(
    nursery: trio.Nursery, family: Family
) -> None:
    async def start_database(nursery: trio.Nursery) -> actor.StartResult[None]:
        return Error(actor.StartError("no database"))

    builder = _supervisor(
        static_supervisor.OneForOne,
        family.child("a"),
        family.child("b"),
        supervision.worker(start_database),
        family.child("never"),
    )
    await builder.start(nursery)
    assert family.log == ["start a", "start b", "stop b", "stop a"]
    assert not family.names["a"].is_held


async def test_a_child_start_that_raises_makes_start_return_a_start_error(
    nursery: trio.Nursery,
) -> None:
    async def start_broken(nursery: trio.Nursery) -> actor.StartResult[None]:
        raise OSError("port in use")

    result = await _supervisor(static_supervisor.OneForOne, supervision.worker(start_broken)).start(
        nursery
    )
    assert isinstance(result, Error)
    assert "child #0" in result.error.reason
    assert "port in use" in result.error.reason


async def test_a_child_that_never_starts_fails_after_its_start_timeout(
    nursery: trio.Nursery, family: Family, autojump_clock: trio.testing.MockClock
) -> None:
    async def start_never(nursery: trio.Nursery) -> actor.StartResult[None]:
        await trio.sleep_forever()

    child = supervision.timeout(supervision.worker(start_never), 100)
    result = await _supervisor(static_supervisor.OneForOne, family.child("a"), child).start(nursery)
    assert isinstance(result, Error)
    assert "child #1" in result.error.reason
    assert "did not start within 100 ms" in result.error.reason
    assert trio.current_time() == pytest.approx(0.1)
    assert family.log == ["start a", "stop a"]


async def test_a_worker_start_times_out_after_five_seconds_by_default(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    async def start_never(nursery: trio.Nursery) -> actor.StartResult[None]:
        await trio.sleep_forever()

    result = await _supervisor(static_supervisor.OneForOne, supervision.worker(start_never)).start(
        nursery
    )
    assert isinstance(result, Error)
    assert trio.current_time() == pytest.approx(5)


async def test_a_nested_supervisor_slower_than_its_start_timeout_fails_to_start(
    nursery: trio.Nursery, family: Family, autojump_clock: trio.testing.MockClock
) -> None:
    # Regression: the nested supervisor's start was shielded, so the parent's timeout
    # could not stop it, and once its slow child did start it waited forever.
    nested = _supervisor(static_supervisor.OneForOne, family.child("n", start_delay=1))
    child = supervision.timeout(static_supervisor.supervised(nested), 100)
    result = await _supervisor(static_supervisor.OneForOne, family.child("a"), child).start(nursery)
    assert isinstance(result, Error)
    assert "did not start within 100 ms" in result.error.reason
    assert trio.current_time() == pytest.approx(0.1)
    assert family.log == ["start a", "stop a"]


async def test_cancelling_the_starter_stops_the_children_started_so_far(
    family: Family, autojump_clock: trio.testing.MockClock
) -> None:
    # Regression: the start was shielded, so the starter's deadline was ignored, and as
    # the slow child started within its own start timeout, the supervisor then waited
    # forever in the abandoned start.
    before = _all_tasks()
    builder = _supervisor(
        static_supervisor.OneForOne, family.child("a"), family.child("b", start_delay=2)
    )
    async with trio.open_nursery() as nursery:
        with trio.move_on_after(1) as scope:
            await builder.start(nursery)
    assert scope.cancelled_caught
    assert trio.current_time() == pytest.approx(1)
    assert family.log == ["start a", "stop a"]
    assert _all_tasks() == before


def test_supervisor_has_no_public_constructor() -> None:
    with pytest.raises(TypeError, match="no public constructor"):
        static_supervisor.Supervisor(None)  # type: ignore[arg-type]


def test_new_rejects_anything_but_a_strategy() -> None:
    with pytest.raises(TypeError, match="strategy must be a Strategy"):
        static_supervisor.new("one_for_one")  # type: ignore[arg-type]


def test_add_rejects_anything_but_a_child_specification() -> None:
    with pytest.raises(TypeError, match="add\\(\\) takes a ChildSpecification"):
        static_supervisor.new(static_supervisor.OneForOne).add(print)  # type: ignore[arg-type]


@pytest.mark.parametrize("ms", [0, -1])
def test_child_start_timeout_must_be_positive(family: Family, ms: int) -> None:
    with pytest.raises(ValueError, match="start timeout"):
        supervision.timeout(family.child("a"), ms)


# --- logging ------------------------------------------------------------------------------


async def test_a_crash_is_logged_with_the_exception(
    nursery: trio.Nursery, family: Family, supervisor_logs: SupervisorLogs
) -> None:
    await _start(_supervisor(static_supervisor.OneForOne, family.child("a")), nursery)
    await _crash(family, "a")
    [crash] = [r for r in supervisor_logs.records if r.getMessage().endswith("crashed")]
    assert crash.name == "trio_eventsourcing.supervisor"
    assert crash.levelno == logging.ERROR
    assert "child #0" in crash.getMessage()
    assert crash.exc_info is not None
    # The child's own exception, not the group its nursery wrapped it in.
    assert isinstance(crash.exc_info[1], Crashed)
    assert str(crash.exc_info[1]) == "a"


async def test_a_restart_is_logged(
    nursery: trio.Nursery, family: Family, supervisor_logs: SupervisorLogs
) -> None:
    await _start(_supervisor(static_supervisor.OneForOne, family.child("a")), nursery)
    await _crash(family, "a")
    [restart] = [r for r in supervisor_logs.records if r.getMessage().startswith("restarting")]
    assert restart.levelno == logging.WARNING
    assert "child #0" in restart.getMessage()


async def test_a_normal_exit_is_logged(
    nursery: trio.Nursery, family: Family, supervisor_logs: SupervisorLogs
) -> None:
    await _start(
        _supervisor(static_supervisor.OneForOne, family.child("a", supervision.Transient)),
        nursery,
    )
    family.send("a", Quit())
    await trio.testing.wait_all_tasks_blocked()
    [record] = supervisor_logs.records
    assert record.levelno == logging.INFO
    assert record.getMessage().startswith("child #0 (worker ")
    assert record.getMessage().endswith(") exited normally")


async def test_giving_up_is_logged_with_the_last_crash(
    family: Family, supervisor_logs: SupervisorLogs
) -> None:
    builder = _supervisor(static_supervisor.OneForOne, family.child("a")).restart_tolerance(
        intensity=0, period=5
    )
    with pytest.RaisesGroup(static_supervisor.SupervisorGaveUp, flatten_subgroups=True):
        async with builder.open():
            await _crash(family, "a")
    messages = [r.getMessage() for r in supervisor_logs.records]
    assert messages[0].endswith("crashed")
    assert "gives up" in messages[1]
    assert supervisor_logs.records[1].levelno == logging.ERROR
