"""The money transfer of ``examples.transfer_process``, on every store.

Hundreds of transfers at once, some without the money, some whose credit the other bank
never confirms: in the end the money across all accounts is what it was, every transfer
has ended completed or failed, and no command was applied twice. On the memory store
under a ``MockClock``, so the deadlines pass in no real time; on SQLite and PostgreSQL
with the manager's task crashed at random moments, each restart loading what the store
kept of the manager.
"""

from __future__ import annotations

import math
import random
from decimal import Decimal
from functools import partial
from pathlib import Path

import pytest
import trio
import trio.testing

import trio_eventsourcing as eventsourcing
from tests.process_managers.transfer_bank import (
    Backend,
    Bank,
    Nemesis,
    balance,
    bank,
    ok,
    other_bank,
)
from tests.process_managers.transfer_proof import check, open_accounts, plan, request_all
from trio_eventsourcing import Ok, process, process_managers
from trio_eventsourcing.examples import bank_account
from trio_eventsourcing.examples.bank_account import (
    OpenAccount,
)
from trio_eventsourcing.examples.credits import ConfirmCredit, CreditNotPending, CreditStatus
from trio_eventsourcing.examples.transfer_process import DEADLINE_S
from trio_eventsourcing.examples.transfers import RequestTransfer, TransferStatus

MEMORY = Backend("memory")

#: The fewest crashes a crashing run inflicts on its manager before it may settle.
MIN_CRASHES = 10


def _done_up_to(head: int, stats: process_managers.ProcessManagerStatistics) -> bool:
    return stats.position >= head and (stats.instances, stats.outbox, stats.timers) == (0, 0, 0)


async def settled(the_bank: Bank) -> process_managers.ProcessManagerStatistics:
    """Wait until the manager has decided on the whole log and has nothing left to do."""
    manager = the_bank.manager
    assert manager is not None
    while True:
        log = await the_bank.log()
        stats = await manager.wait_for(partial(_done_up_to, log[-1].position if log else 0))
        log = await the_bank.log()
        if (log[-1].position if log else 0) <= stats.position:
            return stats


async def transfers_keep_the_money(
    backend: Backend,
    count: int,
    *,
    deadline: float = DEADLINE_S,
    crash_every: float | None = None,
    crash_for: float | None = None,
) -> None:
    """Run ``count`` transfers at once and check the money, each transfer, each move.

    ``crash_every``: crash the manager's task at random moments, at most this many seconds
    apart, from the first request until ``crash_for`` seconds after the last (by default
    one and a half deadlines) and at least :data:`MIN_CRASHES` times, however slowly a
    loaded machine restarts it; then let it settle. (Crashed for ever faster than it can
    load and resend its outbox, a manager would make no progress: each restart sends
    every command again.)
    """
    rng = random.Random(7)
    planned = plan(count)
    nemesis = Nemesis()
    async with bank(backend, deadline, nemesis=nemesis) as the_bank, trio.open_nursery() as nursery:
        await open_accounts(the_bank, planned)
        nursery.start_soon(other_bank, the_bank, planned.confirmed)
        crashing_ends = math.inf
        done_crashing = trio.Event()
        if crash_every is None:
            done_crashing.set()
        else:
            every = crash_every

            async def crash_now_and_then() -> None:
                # A request while the manager is still restarting crashes nothing, so
                # the count of crashes, not of requests, decides when to stop.
                while trio.current_time() < crashing_ends or nemesis.crashes < MIN_CRASHES:
                    await trio.sleep(rng.uniform(0, every))
                    nemesis.request()
                done_crashing.set()

            nursery.start_soon(crash_now_and_then)
        await request_all(the_bank, planned)
        crashing_ends = trio.current_time() + (deadline * 1.5 if crash_for is None else crash_for)
        with trio.fail_after(120):
            await done_crashing.wait()
            stats = await settled(the_bank)
        await check(the_bank, planned, confirmations_in_time=crash_every is None)
        nursery.cancel_scope.cancel()
    assert stats.dead_letters == 0


async def test_hundreds_of_transfers_keep_the_money_and_each_ends_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    await transfers_keep_the_money(MEMORY, 300)


async def test_a_manager_restarted_at_random_moments_applies_no_command_twice() -> None:
    # On the real clock, so that crashes fall while commands are on their way.
    await transfers_keep_the_money(MEMORY, 200, deadline=0.3, crash_every=0.02)


@pytest.mark.slow
async def test_on_sqlite_a_manager_restarted_at_random_moments_keeps_the_money(
    tmp_path: Path,
) -> None:
    # Each restart loads the manager from the file: what it decided and had not saved
    # is decided again, under the same keys.
    backend = Backend("sqlite", str(tmp_path / "bank.db"))
    await transfers_keep_the_money(backend, 100, deadline=10.0, crash_every=0.5, crash_for=6.0)


async def test_a_credit_not_confirmed_by_the_deadline_is_cancelled_and_refunded(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with bank(MEMORY) as the_bank:
        for account in ("a", "b"):
            await ok(
                eventsourcing.execute_with_response(
                    the_bank.accounts, account, OpenAccount(account), []
                )
            )
        await ok(
            eventsourcing.execute_with_response(
                the_bank.accounts, "a", bank_account.DepositMoney(Decimal(10)), []
            )
        )
        started = trio.current_time()
        request = RequestTransfer("a", "b", Decimal(4))
        await ok(
            eventsourcing.execute_with_response(
                the_bank.transfers, "transfer-1", request, [], correlation_id="transfer-1"
            )
        )
        with trio.fail_after(120):
            await settled(the_bank)
        elapsed = trio.current_time() - started
        transfer = await ok(eventsourcing.load_aggregate(the_bank.transfers, "transfer-1"))
        credit = await ok(eventsourcing.load_aggregate(the_bank.credits, "transfer-1"))
        late = await process.receive(
            eventsourcing.execute_with_response(
                the_bank.credits, "transfer-1", ConfirmCredit(), []
            ),
            1_000,
        )
        balances = (await balance(the_bank, "a"), await balance(the_bank, "b"))
        assert balances == (Decimal(10), Decimal(0))
    assert isinstance(transfer, eventsourcing.Aggregate)
    assert isinstance(credit, eventsourcing.Aggregate)
    assert transfer.entity.status is TransferStatus.FAILED
    assert credit.entity.status is CreditStatus.CANCELLED
    # The other bank comes too late: a cancelled credit is not made.
    assert late == Ok(
        eventsourcing.Error(eventsourcing.DomainError(CreditNotPending(CreditStatus.CANCELLED)))
    )
    assert DEADLINE_S <= elapsed < DEADLINE_S + 1
