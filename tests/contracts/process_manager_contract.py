"""What process managers promise on every store. Subclass it as ``Test<Store>ProcessManagers``.

The managers here follow the bank example's accounts and send them commands: a welcome
bonus on each account opened, a withdrawal that the domain rejects, a reminder timer.
On the durable stores they keep their state with ``WELCOME_CODEC``, and a restart of the
manager, even as a new object, continues from what the store kept.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

import trio_eventsourcing as eventsourcing
from tests.contracts.log_contract import LogPage
from tests.contracts.store_contract import (
    BankMessage,
    BankStore,
    answer,
    durable_only,
    open_bank,
    run,
)
from trio_eventsourcing import Ok, process, process_managers, projections
from trio_eventsourcing import static_supervisor as supervisors
from trio_eventsourcing.codec import JsonCodec
from trio_eventsourcing.examples.bank_account import (
    AccountOpened,
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
    ProcessManagerStatistics,
    Send,
    SetTimer,
    Target,
    TimerFired,
)

WAIT_S = 10
Happened = BankAccountEvent | TimerFired | CommandRejected


@dataclass(frozen=True)
class Misdirected:
    """A command the accounts do not know: their ``handle`` raises on it."""


@dataclass(frozen=True)
class Welcome:
    """An account's welcome: opened, and what has been done for it."""

    account: str
    steps: tuple[str, ...] = ()


WELCOME_CODEC = JsonCodec[Any, Welcome](
    events=[OpenAccount, DepositMoney, WithdrawMoney, Misdirected],
    entities=[Welcome],
    aggregate_type="welcome",
)
"""How the durable stores keep the managers here: their commands and their states."""


def opened_only(entry: projections.LogRecord[BankAccountEvent]) -> str | None:
    """Route each opening to its account's instance, and nothing else."""
    payload = entry.envelope.payload
    return entry.envelope.aggregate_id if isinstance(payload, AccountOpened) else None


@contextlib.asynccontextmanager
async def running(
    manager: process_managers.ProcessManager[Any, Any],
) -> AsyncIterator[ProcessManagerHandle]:
    """Run ``manager`` supervised for the duration of the block."""
    handle, spec = process_managers.supervised(manager)
    async with supervisors.new(supervisors.OneForOne).add(spec).open():
        yield handle


async def waited(
    handle: ProcessManagerHandle, predicate: Callable[[ProcessManagerStatistics], bool]
) -> ProcessManagerStatistics:
    """``handle.wait_for(predicate)``, failing after ``WAIT_S`` seconds of real time.

    For tests on a ``MockClock`` that only they move, where ``trio.fail_after`` never fires.
    """
    async with trio.open_nursery() as nursery:

        async def watchdog() -> None:
            await trio.to_thread.run_sync(time.sleep, WAIT_S, abandon_on_cancel=True)
            raise TimeoutError(f"not within {WAIT_S} s: {handle.statistics()}")

        nursery.start_soon(watchdog)
        stats = await handle.wait_for(predicate)
        nursery.cancel_scope.cancel()
    return stats


async def balance(actor: process.Subject[BankMessage], account: str) -> Decimal:
    """The balance of ``account``."""
    loaded = await answer(eventsourcing.load_aggregate(actor, account))
    assert isinstance(loaded, Ok), loaded
    return loaded.value.entity.balance


class ProcessManagerContract:
    """What process managers promise on every store."""

    is_durable = False

    def open_store(self, tmp_path: Path) -> contextlib.AbstractAsyncContextManager[BankStore]:
        """Open a ready store kept under ``tmp_path``; its child spec (if any) runs inside."""
        raise NotImplementedError

    async def read_log(self, store: BankStore, start_from: int = 0, limit: int = 1_000) -> LogPage:
        """The store's ``read_log``."""
        raise NotImplementedError

    def manager(
        self,
        store: BankStore,
        accounts: Target[BankAccountCommand],
        decide: Callable[[Welcome, Happened], Decision[Welcome]],
    ) -> process_managers.ProcessManager[BankAccountEvent, Welcome]:
        """The welcome manager of ``store``'s accounts, deciding with ``decide``."""
        return process_managers.process_manager(
            "welcome",
            projections.select(store),
            route=opened_only,
            initial=Welcome,
            handle=decide,
            targets=[accounts],
            codec=WELCOME_CODEC,
        )

    async def test_an_event_routed_to_an_instance_sends_its_commands_once(
        self, tmp_path: Path
    ) -> None:
        async with self.open_store(tmp_path) as store, open_bank(store) as actor:
            accounts = Target("accounts", actor)

            def decide(state: Welcome, happened: Happened) -> Decision[Welcome]:
                if isinstance(happened, AccountOpened):
                    bonus = Send(accounts, state.account, DepositMoney(Decimal(10)))
                    return Decision(Welcome(state.account, ("bonus",)), send=[bonus])
                return Decision(state)

            async with running(self.manager(store, accounts, decide)) as handle:
                for name in ("acc-1", "acc-2"):
                    assert await run(actor, name, OpenAccount(name)) == Ok(None)
                with trio.fail_after(WAIT_S):
                    stats = await handle.wait_for(
                        lambda s: s.sent == 2 and s.outbox == 0 and s.position == 4 and s.lag == 0
                    )
                assert handle.state_of("acc-1") == Welcome("acc-1", ("bonus",))
                assert await balance(actor, "acc-1") == Decimal(10)
                entries = (await self.read_log(store)).unwrap()
                key = f"pm/welcome/{entries[0].position}/0"
                again = eventsourcing.execute_with_receipt(
                    actor, "acc-1", DepositMoney(Decimal(10)), [], idempotency_key=key
                )
                receipt = await answer(again)
        assert (stats.instances, stats.position, stats.rejected, stats.dead_letters) == (2, 4, 0, 0)
        opening, bonus = (e for e in entries if e.envelope.aggregate_id == "acc-1")
        # The bonus is caused by the opening and belongs to its process.
        assert bonus.envelope.causation_id == eventsourcing.event_reference(opening)
        assert bonus.envelope.correlation_id == opening.envelope.correlation_id
        # Under a key derived from the opening's position: sent again, it is stored once.
        assert entries[0] is opening
        assert isinstance(receipt, Ok)
        assert receipt.value.already_stored

    async def test_an_instance_s_commands_are_stored_in_the_order_decided(
        self, tmp_path: Path
    ) -> None:
        async with self.open_store(tmp_path) as store, open_bank(store) as actor:
            accounts = Target("accounts", actor)

            def decide(state: Welcome, happened: Happened) -> Decision[Welcome]:
                if isinstance(happened, AccountOpened):
                    deposits = [
                        Send(accounts, state.account, DepositMoney(Decimal(amount)))
                        for amount in range(1, 9)
                    ]
                    return Decision(state, send=deposits)
                return Decision(state)

            async with running(self.manager(store, accounts, decide)) as handle:
                for name in ("acc-1", "acc-2", "acc-3"):
                    assert await run(actor, name, OpenAccount(name)) == Ok(None)
                with trio.fail_after(WAIT_S):
                    await handle.wait_for(lambda s: s.sent == 24 and s.outbox == 0)
                entries = (await self.read_log(store)).unwrap()
        for name in ("acc-1", "acc-2", "acc-3"):
            amounts = [
                entry.envelope.payload.amount
                for entry in entries
                if entry.envelope.aggregate_id == name
                and isinstance(entry.envelope.payload, CustomerDepositedCash)
            ]
            assert amounts == [Decimal(amount) for amount in range(1, 9)]

    async def test_a_rejected_command_is_told_to_its_instance_which_compensates(
        self, tmp_path: Path
    ) -> None:
        async with self.open_store(tmp_path) as store, open_bank(store) as actor:
            accounts = Target("accounts", actor)

            def decide(state: Welcome, happened: Happened) -> Decision[Welcome]:
                match happened:
                    case AccountOpened():
                        fee = Send(accounts, state.account, WithdrawMoney(Decimal(5)))
                        return Decision(Welcome(state.account, ("fee",)), send=[fee])
                    case CommandRejected(send=Send(command=WithdrawMoney()), error=error):
                        credit = Send(accounts, state.account, DepositMoney(Decimal(1)))
                        return Decision(
                            Welcome(state.account, (*state.steps, repr(error))), [credit]
                        )
                    case _:
                        return Decision(state)

            async with running(self.manager(store, accounts, decide)) as handle:
                assert await run(actor, "acc-1", OpenAccount("acc-1")) == Ok(None)
                with trio.fail_after(WAIT_S):
                    stats = await handle.wait_for(lambda s: s.rejected == 1 and s.outbox == 0)
                assert await balance(actor, "acc-1") == Decimal(1)
                state = handle.state_of("acc-1")
        assert (stats.sent, stats.rejected) == (1, 1)
        assert state == Welcome("acc-1", ("fee", "CantWithdrawMoreThanCurrentBalance()"))

    async def test_timers_fire_on_trio_s_clock_and_cancelled_ones_do_not(
        self, mock_clock: trio.testing.MockClock, tmp_path: Path
    ) -> None:
        async with self.open_store(tmp_path) as store, open_bank(store) as actor:
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

            async with running(self.manager(store, accounts, decide)) as handle:
                started = trio.current_time()
                for name in ("acc-1", "acc-2"):
                    assert await run(actor, name, OpenAccount(name)) == Ok(None)
                await waited(handle, lambda s: s.timers == 3 and s.position == 2)
                mock_clock.jump(59.9)
                # Every task waits for the clock: had a timer fired, it would show.
                await trio.testing.wait_all_tasks_blocked()
                assert handle.statistics().timers == 3
                mock_clock.jump(0.1)
                await waited(handle, lambda s: s.timers == 1 and s.outbox == 0 and s.sent == 2)
                mock_clock.jump(3_540.0)
                await waited(handle, lambda s: s.timers == 0 and s.outbox == 0 and s.sent == 3)
                elapsed = trio.current_time() - started
                assert handle.state_of("acc-1") == Welcome("acc-1", ("nudge", "reminder"))
                assert handle.state_of("acc-2") == Welcome("acc-2", ("nudge",))
                assert await balance(actor, "acc-1") == Decimal(2)
        assert elapsed == 3_600.0

    async def test_an_instance_that_is_done_forgets_its_state_and_timers(
        self, mock_clock: trio.testing.MockClock, tmp_path: Path
    ) -> None:
        async with self.open_store(tmp_path) as store, open_bank(store) as actor:
            accounts = Target("accounts", actor)

            def decide(state: Welcome, happened: Happened) -> Decision[Welcome]:
                if isinstance(happened, AccountOpened):
                    return Decision(state, timers=[SetTimer("never", 10.0)], done=True)
                return Decision(Welcome(state.account, ("fired",)))

            async with running(self.manager(store, accounts, decide)) as handle:
                assert await run(actor, "acc-1", OpenAccount("acc-1")) == Ok(None)
                await waited(handle, lambda s: s.position == 1)
                mock_clock.jump(60.0)
                await trio.testing.wait_all_tasks_blocked()
                stats = handle.statistics()
        assert (stats.instances, stats.timers, handle.state_of("acc-1")) == (0, 0, None)

    async def test_a_command_that_cannot_be_sent_is_set_aside_as_a_dead_letter(
        self, tmp_path: Path
    ) -> None:
        async with self.open_store(tmp_path) as store, open_bank(store) as actor:
            accounts = Target("accounts", actor)

            def decide(state: Welcome, happened: Happened) -> Decision[Welcome]:
                if isinstance(happened, AccountOpened):
                    # A command the accounts' handle does not know: it raises.
                    bad = Send(accounts, state.account, Misdirected())  # type: ignore[misc]
                    good = Send(accounts, state.account, DepositMoney(Decimal(2)))
                    return Decision(state, send=[bad, good])
                return Decision(state)

            async with running(self.manager(store, accounts, decide)) as handle:
                assert await run(actor, "acc-1", OpenAccount("acc-1")) == Ok(None)
                with trio.fail_after(WAIT_S):
                    # Not the position: the deposit's event may be decided on (passed over)
                    # before the outbox is seen empty.
                    stats = await handle.wait_for(
                        lambda s: s.outbox == 0 and s.sent + s.dead_letters == 2
                    )
                assert await balance(actor, "acc-1") == Decimal(2)
        assert (stats.sent, stats.dead_letters) == (1, 1)
        assert stats.last_error is not None
        assert "CallbackRaised" in stats.last_error

    async def test_a_send_to_an_id_no_store_can_keep_stops_the_manager_naming_it(
        self, tmp_path: Path
    ) -> None:
        async with self.open_store(tmp_path) as store, open_bank(store) as actor:
            accounts = Target("accounts", actor)

            def decide(state: Welcome, happened: Happened) -> Decision[Welcome]:
                bad = Send(accounts, f"{state.account}\x00", DepositMoney(Decimal(1)))
                return Decision(state, send=[bad])

            async with running(self.manager(store, accounts, decide)) as handle:
                assert await run(actor, "acc-1", OpenAccount("acc-1")) == Ok(None)
                with trio.fail_after(WAIT_S):
                    stats = await handle.wait_for(lambda s: s.state is ProcessManagerState.STOPPED)
        assert (stats.position, stats.decided, stats.instances) == (0, 0, 0)
        assert stats.last_error == (
            "ValueError: Send's aggregate_id 'acc-1\\x00' contains a NUL character, which no "
            "store can keep"
        )

    async def test_a_restart_continues_without_deciding_an_event_twice(
        self, tmp_path: Path
    ) -> None:
        async with self.open_store(tmp_path) as store, open_bank(store) as actor:
            accounts = Target("accounts", actor)
            decided: list[str] = []

            def decide(state: Welcome, happened: Happened) -> Decision[Welcome]:
                if isinstance(happened, AccountOpened):
                    decided.append(state.account)
                    bonus = Send(accounts, state.account, DepositMoney(Decimal(10)))
                    return Decision(state, send=[bonus])
                return Decision(state)

            manager = self.manager(store, accounts, decide)
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

    async def test_a_manager_started_twice_runs_once(self, tmp_path: Path) -> None:
        async with self.open_store(tmp_path) as store, open_bank(store) as actor:
            accounts = Target("accounts", actor)
            decided: list[str] = []

            def decide(state: Welcome, happened: Happened) -> Decision[Welcome]:
                if isinstance(happened, AccountOpened):
                    decided.append(state.account)
                    return Decision(
                        state, send=[Send(accounts, state.account, DepositMoney(Decimal(1)))]
                    )
                return Decision(state)

            manager = self.manager(store, accounts, decide)
            first, first_spec = process_managers.supervised(manager)
            second, second_spec = process_managers.supervised(manager)
            supervisor = supervisors.new(supervisors.OneForOne).add(first_spec).add(second_spec)
            async with supervisor.open():
                for name in ("acc-1", "acc-2"):
                    assert await run(actor, name, OpenAccount(name)) == Ok(None)
                with trio.fail_after(WAIT_S):
                    stats = await first.wait_for(lambda s: s.sent == 2 and s.position == 4)
                # One manager, seen from both handles.
                seen = second.statistics()
                assert (seen.position, seen.decided, seen.sent) == (stats.position, 2, 2)
                assert await balance(actor, "acc-1") == Decimal(1)
        assert decided == ["acc-1", "acc-2"]

    async def test_a_handler_that_raises_stops_the_manager_before_the_event(
        self, caplog: pytest.LogCaptureFixture, tmp_path: Path
    ) -> None:
        async with self.open_store(tmp_path) as store, open_bank(store) as actor:
            accounts = Target("accounts", actor)

            def decide(state: Welcome, happened: Happened) -> Decision[Welcome]:
                if state.account == "acc-2":
                    raise ValueError("no welcome for acc-2")
                return Decision(state)

            async with running(self.manager(store, accounts, decide)) as handle:
                for name in ("acc-1", "acc-2", "acc-3"):
                    assert await run(actor, name, OpenAccount(name)) == Ok(None)
                with trio.fail_after(WAIT_S):
                    stats = await handle.wait_for(lambda s: s.state is ProcessManagerState.STOPPED)
        assert (stats.position, stats.instances) == (1, 1)
        assert stats.last_error == "ValueError: no welcome for acc-2"
        assert "stopped at position 1" in caplog.text

    async def test_a_manager_that_skips_passes_over_what_its_handler_raised_on(
        self, tmp_path: Path
    ) -> None:
        async with self.open_store(tmp_path) as store, open_bank(store) as actor:
            accounts = Target("accounts", actor)

            def decide(state: Welcome, happened: Happened) -> Decision[Welcome]:
                if state.account == "acc-2":
                    raise ValueError("no welcome for acc-2")
                bonus = Send(accounts, state.account, DepositMoney(Decimal(10)))
                return Decision(Welcome(state.account, ("bonus",)), send=[bonus])

            manager = process_managers.process_manager(
                "welcome", projections.select(store), route=opened_only, initial=Welcome,
                handle=decide, targets=[accounts], codec=WELCOME_CODEC,
                on_error=projections.Skip(),
            )  # fmt: skip
            async with running(manager) as handle:
                for name in ("acc-1", "acc-2", "acc-3"):
                    assert await run(actor, name, OpenAccount(name)) == Ok(None)
                with trio.fail_after(WAIT_S):
                    stats = await handle.wait_for(lambda s: s.sent == 2 and s.outbox == 0)
                assert handle.state_of("acc-2") is None
                assert await balance(actor, "acc-2") == Decimal(0)
        assert (stats.state, stats.dead_letters, stats.instances) == (
            ProcessManagerState.RUNNING, 1, 2,
        )  # fmt: skip
        assert stats.last_error == "ValueError: no welcome for acc-2"

    async def test_a_manager_that_retries_decides_again_after_a_pause(self, tmp_path: Path) -> None:
        failures = [RuntimeError("a cache not warm yet"), RuntimeError("still not")]
        async with self.open_store(tmp_path) as store, open_bank(store) as actor:
            accounts = Target("accounts", actor)

            def decide(state: Welcome, happened: Happened) -> Decision[Welcome]:
                if failures:
                    raise failures.pop(0)
                return Decision(Welcome(state.account, ("seen",)))

            manager = process_managers.process_manager(
                "welcome", projections.select(store), route=opened_only, initial=Welcome,
                handle=decide, targets=[accounts], codec=WELCOME_CODEC,
                on_error=projections.Retry(attempts=3, initial_backoff=0.01),
            )  # fmt: skip
            async with running(manager) as handle:
                assert await run(actor, "acc-1", OpenAccount("acc-1")) == Ok(None)
                with trio.fail_after(WAIT_S):
                    stats = await handle.wait_for(lambda s: s.position == 1)
                assert handle.state_of("acc-1") == Welcome("acc-1", ("seen",))
        assert (stats.state, stats.retries, stats.dead_letters) == (
            ProcessManagerState.RUNNING, 2, 0,
        )  # fmt: skip

    # --- durable stores: what a restart, even of a new manager object, finds -------------

    @pytest.fixture(autouse=True)
    def _skip_restart_tests_unless_durable(self, request: pytest.FixtureRequest) -> None:
        # At setup, outside the test's Trio run, so the report keeps the reason.
        if getattr(request.function, "durable_only", False) and not self.is_durable:
            pytest.skip(f"{type(self).__name__} keeps its managers in memory: nothing to load")

    @durable_only
    async def test_a_new_manager_object_continues_from_what_the_store_kept(
        self, tmp_path: Path
    ) -> None:
        decided: list[str] = []
        async with self.open_store(tmp_path) as store, open_bank(store) as actor:
            accounts = Target("accounts", actor)

            def decide(state: Welcome, happened: Happened) -> Decision[Welcome]:
                if isinstance(happened, AccountOpened):
                    decided.append(state.account)
                    bonus = Send(accounts, state.account, DepositMoney(Decimal(10)))
                    return Decision(Welcome(state.account, ("bonus",)), send=[bonus])
                return Decision(state)

            async with running(self.manager(store, accounts, decide)) as handle:
                assert await run(actor, "acc-1", OpenAccount("acc-1")) == Ok(None)
                with trio.fail_after(WAIT_S):
                    await handle.wait_for(lambda s: s.sent == 1 and s.outbox == 0)
            async with running(self.manager(store, accounts, decide)) as handle:
                assert await run(actor, "acc-2", OpenAccount("acc-2")) == Ok(None)
                with trio.fail_after(WAIT_S):
                    stats = await handle.wait_for(lambda s: s.sent == 1 and s.position == 4)
                kept = handle.state_of("acc-1")
            assert await balance(actor, "acc-1") == Decimal(10)
        assert decided == ["acc-1", "acc-2"]
        assert kept == Welcome("acc-1", ("bonus",))
        assert (stats.instances, stats.outbox, stats.commits > 0) == (2, 0, True)

    @durable_only
    async def test_a_timer_set_before_a_restart_fires_after_it(
        self, mock_clock: trio.testing.MockClock, tmp_path: Path
    ) -> None:
        async with self.open_store(tmp_path) as store, open_bank(store) as actor:
            accounts = Target("accounts", actor)

            def decide(state: Welcome, happened: Happened) -> Decision[Welcome]:
                match happened:
                    case AccountOpened():
                        return Decision(state, timers=[SetTimer("nudge", 60.0)])
                    case TimerFired(name):
                        gift = Send(accounts, state.account, DepositMoney(Decimal(1)))
                        return Decision(Welcome(state.account, (name,)), [gift])
                    case _:
                        return Decision(state)

            async with running(self.manager(store, accounts, decide)) as handle:
                assert await run(actor, "acc-1", OpenAccount("acc-1")) == Ok(None)
                await waited(handle, lambda s: s.timers == 1 and s.commits > 0)
            mock_clock.jump(30.0)
            async with running(self.manager(store, accounts, decide)) as handle:
                await waited(handle, lambda s: s.timers == 1 and s.state.value == "running")
                mock_clock.jump(29.9)
                await trio.testing.wait_all_tasks_blocked()
                assert handle.statistics().sent == 0
                mock_clock.jump(0.1)
                await waited(handle, lambda s: s.sent == 1 and s.timers == 0)
                state = handle.state_of("acc-1")
            assert await balance(actor, "acc-1") == Decimal(1)
        assert state == Welcome("acc-1", ("nudge",))

    @durable_only
    async def test_a_command_decided_before_a_restart_is_sent_after_it(
        self, tmp_path: Path
    ) -> None:
        async with self.open_store(tmp_path) as store, open_bank(store) as actor:
            # At first the accounts' name is served by no one: the bonus waits for an answer.
            nobody: process.Name[BankMessage] = process.new_name("nobody")
            unserved = Target("accounts", process.named_subject(nobody))

            def deciding(
                accounts: Target[BankAccountCommand],
            ) -> Callable[[Welcome, Happened], Decision[Welcome]]:
                def decide(state: Welcome, happened: Happened) -> Decision[Welcome]:
                    if isinstance(happened, AccountOpened):
                        bonus = Send(accounts, state.account, DepositMoney(Decimal(10)))
                        return Decision(state, send=[bonus])
                    return Decision(state)

                return decide

            async with running(self.manager(store, unserved, deciding(unserved))) as handle:
                assert await run(actor, "acc-1", OpenAccount("acc-1")) == Ok(None)
                with trio.fail_after(WAIT_S):
                    await handle.wait_for(lambda s: s.outbox == 1 and s.commits > 0)
            served = Target("accounts", actor)
            async with running(self.manager(store, served, deciding(served))) as handle:
                with trio.fail_after(WAIT_S):
                    stats = await handle.wait_for(lambda s: s.sent == 1 and s.outbox == 0)
            assert await balance(actor, "acc-1") == Decimal(10)
        assert stats.decided == 0  # sent from the stored outbox, not decided again

    @durable_only
    async def test_a_rejection_the_manager_stopped_on_is_told_again_after_a_restart(
        self, tmp_path: Path
    ) -> None:
        async with self.open_store(tmp_path) as store, open_bank(store) as actor:
            accounts = Target("accounts", actor)
            told: list[str] = []

            def deciding(accept: bool) -> Callable[[Welcome, Happened], Decision[Welcome]]:
                def decide(state: Welcome, happened: Happened) -> Decision[Welcome]:
                    match happened:
                        case AccountOpened() if state.account == "acc-1":
                            fee = Send(accounts, state.account, WithdrawMoney(Decimal(5)))
                            return Decision(state, send=[fee])
                        case CommandRejected():
                            if not accept:
                                raise RuntimeError("cannot take a rejection yet")
                            told.append(state.account)
                            return Decision(Welcome(state.account, ("refused",)))
                        case _:
                            return Decision(Welcome(state.account, ("opened",)))

                return decide

            # The rejection fails to be decided on, is retried, then stops the manager;
            # while it waits between tries, another event's step is saved.
            manager = process_managers.process_manager(
                "welcome", projections.select(store), route=opened_only, initial=Welcome,
                handle=deciding(accept=False), targets=[accounts], codec=WELCOME_CODEC,
                on_error=projections.Retry(attempts=1, initial_backoff=2.0),
            )  # fmt: skip
            async with running(manager) as handle:
                assert await run(actor, "acc-1", OpenAccount("acc-1")) == Ok(None)
                with trio.fail_after(WAIT_S):
                    first = await handle.wait_for(lambda s: s.retries == 1)
                assert await run(actor, "acc-2", OpenAccount("acc-2")) == Ok(None)
                with trio.fail_after(WAIT_S):
                    await handle.wait_for(lambda s: s.position == 2 and s.commits > first.commits)
                    stopped = await handle.wait_for(
                        lambda s: s.state is ProcessManagerState.STOPPED
                    )
            assert (stopped.outbox, stopped.rejected) == (1, 0)
            manager = self.manager(store, accounts, deciding(accept=True))
            async with running(manager) as handle:
                with trio.fail_after(WAIT_S):
                    stats = await handle.wait_for(lambda s: s.rejected == 1 and s.outbox == 0)
                refused = handle.state_of("acc-1")
        assert told == ["acc-1"]
        assert refused == Welcome("acc-1", ("refused",))
        assert stats.state is ProcessManagerState.RUNNING

    @durable_only
    async def test_a_stored_state_the_codec_cannot_read_stops_the_manager_saying_which(
        self, tmp_path: Path
    ) -> None:
        async with self.open_store(tmp_path) as store, open_bank(store) as actor:
            accounts = Target("accounts", actor)

            def decide(state: Welcome, happened: Happened) -> Decision[Welcome]:
                return Decision(Welcome(state.account, ("seen",)))

            async with running(self.manager(store, accounts, decide)) as handle:
                assert await run(actor, "acc-1", OpenAccount("acc-1")) == Ok(None)
                with trio.fail_after(WAIT_S):
                    await handle.wait_for(lambda s: s.position == 1 and s.commits > 0)
            # A release that renamed the state's class, without an upcaster.
            forgetful = JsonCodec[Any, Any](
                events=[DepositMoney], entities=[OpenAccount], aggregate_type="welcome"
            )
            manager = process_managers.process_manager(
                "welcome", projections.select(store), route=opened_only, initial=Welcome,
                handle=decide, targets=[accounts], codec=forgetful,
            )  # fmt: skip
            async with running(manager) as handle:
                with trio.fail_after(WAIT_S):
                    stats = await handle.wait_for(lambda s: s.state is ProcessManagerState.STOPPED)
        assert stats.last_error is not None
        assert "stored state of instance 'acc-1' cannot be decoded" in stats.last_error

    @durable_only
    async def test_a_stored_command_to_a_target_no_longer_listed_stops_the_manager(
        self, tmp_path: Path
    ) -> None:
        async with self.open_store(tmp_path) as store, open_bank(store) as actor:
            nobody: process.Name[BankMessage] = process.new_name("nobody")
            unserved = Target("old-accounts", process.named_subject(nobody))

            def decide(state: Welcome, happened: Happened) -> Decision[Welcome]:
                if isinstance(happened, AccountOpened):
                    bonus = Send(unserved, state.account, DepositMoney(Decimal(10)))
                    return Decision(state, send=[bonus])
                return Decision(state)

            async with running(self.manager(store, unserved, decide)) as handle:
                assert await run(actor, "acc-1", OpenAccount("acc-1")) == Ok(None)
                with trio.fail_after(WAIT_S):
                    await handle.wait_for(lambda s: s.outbox == 1 and s.commits > 0)
            renamed = self.manager(store, Target("accounts", actor), decide)
            async with running(renamed) as handle:
                with trio.fail_after(WAIT_S):
                    stats = await handle.wait_for(lambda s: s.state is ProcessManagerState.STOPPED)
        assert stats.last_error is not None
        assert "goes to target 'old-accounts', which is not one of its targets=" in (
            stats.last_error
        )
