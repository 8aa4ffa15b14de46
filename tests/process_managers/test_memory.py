"""Process managers on the memory store: decide per instance, send once, hear rejections,
fire timers on Trio's clock, continue after a restart, stop when the handler raises.

The managers here follow the bank example's accounts and send them commands: a welcome
bonus on each account opened, a withdrawal that the domain rejects, a reminder timer.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
import trio
import trio.testing

import trio_eventsourcing as eventsourcing
from tests.contracts.store_contract import BankMessage, answer, open_bank, run
from trio_eventsourcing import Ok, memory_store, process, process_managers, projections
from trio_eventsourcing import static_supervisor as supervisors
from trio_eventsourcing.examples.bank_account import (
    AccountOpened,
    BankAccount,
    BankAccountCommand,
    BankAccountEvent,
    CustomerDepositedCash,
    DepositMoney,
    OpenAccount,
    WithdrawMoney,
)
from trio_eventsourcing.process_managers import (
    CancelTimer,
    CommandRejected,
    Decision,
    ProcessManagerHandle,
    ProcessManagerState,
    Send,
    SetTimer,
    Target,
    TimerFired,
)

WAIT_S = 10
Happened = BankAccountEvent | TimerFired | CommandRejected
Store = memory_store.MemoryEventStore[BankAccount, BankAccountEvent]


@dataclass(frozen=True)
class Welcome:
    """An account's welcome: opened, and what has been done for it."""

    account: str
    steps: tuple[str, ...] = ()


def opened_only(entry: projections.LogRecord[BankAccountEvent]) -> str | None:
    return (
        entry.envelope.aggregate_id if isinstance(entry.envelope.payload, AccountOpened) else None
    )


@contextlib.asynccontextmanager
async def bank() -> AsyncIterator[tuple[Store, process.Subject[BankMessage]]]:
    events: process.Name[memory_store.GetEvents[BankAccountEvent]] = process.new_name("events")
    snapshots: process.Name[memory_store.GetSnapshot[BankAccount]] = process.new_name("snaps")
    store, spec = memory_store.supervised(events, snapshots, supervisors.OneForOne)
    async with supervisors.new(supervisors.OneForOne).add(spec).open(), open_bank(store) as actor:
        yield store, actor


@contextlib.asynccontextmanager
async def running(
    manager: process_managers.ProcessManager[Any, Any],
) -> AsyncIterator[ProcessManagerHandle]:
    handle, spec = process_managers.supervised(manager)
    async with supervisors.new(supervisors.OneForOne).add(spec).open():
        yield handle


def bonus_manager(
    store: Store,
    accounts: Target[BankAccountCommand],
    decide: Callable[[Welcome, Happened], Decision[Welcome]],
) -> process_managers.ProcessManager[BankAccountEvent, Welcome]:
    return process_managers.process_manager(
        "welcome", projections.select(store), route=opened_only, initial=Welcome, handle=decide
    )


async def balance(actor: process.Subject[BankMessage], account: str) -> Decimal:
    loaded = await answer(eventsourcing.load_aggregate(actor, account))
    assert isinstance(loaded, Ok), loaded
    return loaded.value.entity.balance


async def test_an_event_routed_to_an_instance_sends_its_commands_once() -> None:
    async with bank() as (store, actor):
        accounts = Target("accounts", actor)

        def decide(state: Welcome, happened: Happened) -> Decision[Welcome]:
            if isinstance(happened, AccountOpened):
                bonus = Send(accounts, state.account, DepositMoney(Decimal(10)))
                return Decision(Welcome(state.account, ("bonus",)), send=[bonus])
            return Decision(state)

        async with running(bonus_manager(store, accounts, decide)) as handle:
            for name in ("acc-1", "acc-2"):
                assert await run(actor, name, OpenAccount(name)) == Ok(None)
            with trio.fail_after(WAIT_S):
                stats = await handle.wait_for(
                    lambda s: s.sent == 2 and s.outbox == 0 and s.position == 4
                )
            assert handle.state_of("acc-1") == Welcome("acc-1", ("bonus",))
            assert await balance(actor, "acc-1") == Decimal(10)
            entries = (await memory_store.read_log(store)).unwrap()
    assert (stats.instances, stats.position, stats.rejected, stats.dead_letters) == (2, 4, 0, 0)
    assert stats.lag == 0
    opening, bonus = (e for e in entries if e.envelope.aggregate_id == "acc-1")
    # The bonus is caused by the opening and belongs to its process.
    assert bonus.envelope.causation_id == eventsourcing.event_reference(opening)
    assert bonus.envelope.correlation_id == opening.envelope.correlation_id
    # Under a key derived from the opening's position: sent again, it is stored once.
    assert f"pm/welcome/{opening.position}/0" in store.eventstore.commands["acc-1"]


async def test_a_rejected_command_is_told_to_its_instance_which_compensates() -> None:
    async with bank() as (store, actor):
        accounts = Target("accounts", actor)

        def decide(state: Welcome, happened: Happened) -> Decision[Welcome]:
            match happened:
                case AccountOpened():
                    fee = Send(accounts, state.account, WithdrawMoney(Decimal(5)))
                    return Decision(Welcome(state.account, ("fee",)), send=[fee])
                case CommandRejected(send=Send(command=WithdrawMoney()), error=error):
                    credit = Send(accounts, state.account, DepositMoney(Decimal(1)))
                    return Decision(Welcome(state.account, (*state.steps, repr(error))), [credit])
                case _:
                    return Decision(state)

        async with running(bonus_manager(store, accounts, decide)) as handle:
            assert await run(actor, "acc-1", OpenAccount("acc-1")) == Ok(None)
            with trio.fail_after(WAIT_S):
                stats = await handle.wait_for(lambda s: s.rejected == 1 and s.outbox == 0)
            assert await balance(actor, "acc-1") == Decimal(1)
            state = handle.state_of("acc-1")
    assert (stats.sent, stats.rejected) == (1, 1)
    assert state == Welcome("acc-1", ("fee", "CantWithdrawMoreThanCurrentBalance()"))


async def test_timers_fire_on_trio_s_clock_and_cancelled_ones_do_not(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with bank() as (store, actor):
        accounts = Target("accounts", actor)

        def decide(state: Welcome, happened: Happened) -> Decision[Welcome]:
            match happened:
                case AccountOpened():
                    timers: list[SetTimer | CancelTimer] = [
                        SetTimer("reminder", 3_600.0),
                        SetTimer("nudge", 60.0),
                    ]
                    if state.account == "acc-2":
                        timers.append(CancelTimer("reminder"))
                    return Decision(state, timers=timers)
                case TimerFired(name):
                    gift = Send(accounts, state.account, DepositMoney(Decimal(1)))
                    return Decision(Welcome(state.account, (*state.steps, name)), [gift])
                case _:
                    return Decision(state)

        async with running(bonus_manager(store, accounts, decide)) as handle:
            started = trio.current_time()
            for name in ("acc-1", "acc-2"):
                assert await run(actor, name, OpenAccount(name)) == Ok(None)
            await handle.wait_for(lambda s: s.timers == 0 and s.outbox == 0 and s.sent == 3)
            elapsed = trio.current_time() - started
            assert handle.state_of("acc-1") == Welcome("acc-1", ("nudge", "reminder"))
            assert handle.state_of("acc-2") == Welcome("acc-2", ("nudge",))
            assert await balance(actor, "acc-1") == Decimal(2)
    assert 3_600.0 <= elapsed < 3_601.0


async def test_an_instance_that_is_done_forgets_its_state_and_timers(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with bank() as (store, actor):
        accounts = Target("accounts", actor)

        def decide(state: Welcome, happened: Happened) -> Decision[Welcome]:
            if isinstance(happened, AccountOpened):
                return Decision(state, timers=[SetTimer("never", 10.0)], done=True)
            return Decision(Welcome(state.account, ("fired",)))

        async with running(bonus_manager(store, accounts, decide)) as handle:
            assert await run(actor, "acc-1", OpenAccount("acc-1")) == Ok(None)
            await handle.wait_for(lambda s: s.position == 1)
            await trio.sleep(60)
            stats = handle.statistics()
    assert (stats.instances, stats.timers, handle.state_of("acc-1")) == (0, 0, None)


async def test_a_command_that_cannot_be_sent_is_set_aside_as_a_dead_letter() -> None:
    async with bank() as (store, actor):
        accounts = Target("accounts", actor)

        def decide(state: Welcome, happened: Happened) -> Decision[Welcome]:
            if isinstance(happened, AccountOpened):
                # An id no store takes (a NUL character): refused as it is sent.
                bad = Send(accounts, "acc\x00", DepositMoney(Decimal(1)))
                good = Send(accounts, state.account, DepositMoney(Decimal(2)))
                return Decision(state, send=[bad, good])
            return Decision(state)

        async with running(bonus_manager(store, accounts, decide)) as handle:
            assert await run(actor, "acc-1", OpenAccount("acc-1")) == Ok(None)
            with trio.fail_after(WAIT_S):
                stats = await handle.wait_for(lambda s: s.position == 1 and s.outbox == 0)
            assert await balance(actor, "acc-1") == Decimal(2)
    assert (stats.sent, stats.dead_letters) == (1, 1)
    assert stats.last_error is not None
    assert "ValueError" in stats.last_error


async def test_a_restart_continues_without_deciding_an_event_twice() -> None:
    async with bank() as (store, actor):
        accounts = Target("accounts", actor)
        decided: list[str] = []

        def decide(state: Welcome, happened: Happened) -> Decision[Welcome]:
            if isinstance(happened, AccountOpened):
                decided.append(state.account)
                bonus = Send(accounts, state.account, DepositMoney(Decimal(10)))
                return Decision(state, send=[bonus])
            return Decision(state)

        manager = bonus_manager(store, accounts, decide)
        async with running(manager) as handle:
            assert await run(actor, "acc-1", OpenAccount("acc-1")) == Ok(None)
            with trio.fail_after(WAIT_S):
                await handle.wait_for(lambda s: s.sent == 1)
        async with running(manager) as handle:
            assert await run(actor, "acc-2", OpenAccount("acc-2")) == Ok(None)
            with trio.fail_after(WAIT_S):
                stats = await handle.wait_for(
                    lambda s: s.sent == 2 and s.outbox == 0 and s.position == 4
                )
            assert await balance(actor, "acc-1") == Decimal(10)
    assert decided == ["acc-1", "acc-2"]
    assert stats.position == 4


async def test_a_manager_started_twice_runs_once() -> None:
    async with bank() as (store, actor):
        accounts = Target("accounts", actor)
        decided: list[str] = []

        def decide(state: Welcome, happened: Happened) -> Decision[Welcome]:
            if isinstance(happened, AccountOpened):
                decided.append(state.account)
                return Decision(
                    state, send=[Send(accounts, state.account, DepositMoney(Decimal(1)))]
                )
            return Decision(state)

        manager = bonus_manager(store, accounts, decide)
        first, first_spec = process_managers.supervised(manager)
        second, second_spec = process_managers.supervised(manager)
        supervisor = supervisors.new(supervisors.OneForOne).add(first_spec).add(second_spec)
        async with supervisor.open():
            for name in ("acc-1", "acc-2"):
                assert await run(actor, name, OpenAccount(name)) == Ok(None)
            with trio.fail_after(WAIT_S):
                stats = await first.wait_for(lambda s: s.sent == 2 and s.position == 4)
            assert second.statistics() == stats  # one manager, seen from both handles
            assert await balance(actor, "acc-1") == Decimal(1)
    assert decided == ["acc-1", "acc-2"]


async def test_a_handler_that_raises_stops_the_manager_before_the_event(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with bank() as (store, actor):
        accounts = Target("accounts", actor)

        def decide(state: Welcome, happened: Happened) -> Decision[Welcome]:
            if state.account == "acc-2":
                raise ValueError("no welcome for acc-2")
            return Decision(state)

        async with running(bonus_manager(store, accounts, decide)) as handle:
            for name in ("acc-1", "acc-2", "acc-3"):
                assert await run(actor, name, OpenAccount(name)) == Ok(None)
            with trio.fail_after(WAIT_S):
                stats = await handle.wait_for(lambda s: s.state is ProcessManagerState.STOPPED)
    assert (stats.position, stats.instances) == (1, 1)
    assert stats.last_error == "ValueError: no welcome for acc-2"
    assert "stopped at position 1" in caplog.text


def test_a_manager_refuses_what_it_cannot_run(tmp_path: Any) -> None:
    from trio_eventsourcing import sqlite_store
    from trio_eventsourcing.codec import JsonCodec
    from trio_eventsourcing.examples.bank_account import BankAccount as Entity

    codec: JsonCodec[BankAccountEvent, Entity] = JsonCodec(
        events=[AccountOpened, CustomerDepositedCash], entities=[Entity], aggregate_type="bank"
    )
    durable, _ = sqlite_store.supervised(tmp_path / "bank.db", codec)
    welcome_codec = JsonCodec[Any, Welcome](
        events=[DepositMoney], entities=[Welcome], aggregate_type="welcome"
    )
    with pytest.raises(TypeError, match="a durable store, where it keeps its instances"):
        process_managers.process_manager(
            "p", projections.select(durable), route=opened_only, initial=Welcome,
            handle=lambda state, happened: Decision(state),
        )  # fmt: skip
    with pytest.raises(ValueError, match="list the systems it sends to in targets="):
        process_managers.process_manager(
            "p", projections.select(durable), route=opened_only, initial=Welcome,
            handle=lambda state, happened: Decision(state), codec=welcome_codec,
        )  # fmt: skip
    memory: Store
    memory, _ = memory_store.supervised(
        process.new_name("e"), process.new_name("s"), supervisors.OneForOne
    )
    with pytest.raises(ValueError, match="non-empty str"):
        process_managers.process_manager(
            "", projections.select(memory), route=opened_only, initial=Welcome,
            handle=lambda state, happened: Decision(state),
        )  # fmt: skip
    with pytest.raises(ValueError, match="0 or more seconds"):
        SetTimer("t", -1.0)
    with pytest.raises(TypeError, match="must be a Subject"):
        Target("accounts", "bank")  # type: ignore[arg-type]
