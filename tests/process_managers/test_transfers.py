"""The money transfer of ``examples.transfer_process``, run on memory stores.

Hundreds of transfers at once, some without the money, some whose credit the other bank
never confirms: in the end the money across all accounts is what it was, every transfer
has ended completed or failed, and no command was applied twice. Under a ``MockClock``,
so the deadlines pass in no real time.
"""

from __future__ import annotations

import contextlib
import random
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import trio
import trio.testing

import trio_eventsourcing as eventsourcing
from trio_eventsourcing import (
    Ok,
    memory_store,
    process,
    process_managers,
    projections,
    supervision,
)
from trio_eventsourcing import static_supervisor as supervisors
from trio_eventsourcing.actor import Started, StartResult
from trio_eventsourcing.examples import bank_account, credits, transfers
from trio_eventsourcing.examples.bank_account import (
    CustomerDepositedCash,
    CustomerWithdrewCash,
    OpenAccount,
)
from trio_eventsourcing.examples.credits import ConfirmCredit, CreditNotPending, CreditStatus
from trio_eventsourcing.examples.transfer_process import (
    DEADLINE_S,
    TransferProcess,
    route,
    transfer_process,
)
from trio_eventsourcing.examples.transfers import RequestTransfer, TransferStatus
from trio_eventsourcing.process_managers import ProcessManagerHandle, Target

ACCOUNTS = 20
OPENING = Decimal(1_000)


@dataclass
class Bank:
    """The three systems on one memory database, and the transfers' process manager."""

    accounts: process.Subject[Any]
    transfers: process.Subject[Any]
    credits: process.Subject[Any]
    credit_store: Any
    account_store: Any
    manager: ProcessManagerHandle


def _store(database: memory_store.MemoryDatabase, kind: str) -> tuple[Any, Any]:
    return memory_store.supervised(
        process.new_name(f"{kind}-events"),
        process.new_name(f"{kind}-snapshots"),
        supervisors.OneForOne,
        database=database,
        aggregate_type=kind,
    )


def _system(store: Any, module: Any, empty: object, name: str) -> tuple[Any, Any]:
    actor: process.Name[Any] = process.new_name(name)
    spec = eventsourcing.supervised(
        actor, store, module.handle, module.apply, empty, [], None
    ).unwrap()
    return process.named_subject(actor), spec


class Nemesis:
    """Crashes on request: each request crashes the worker of :meth:`sibling` once."""

    def __init__(self) -> None:
        self.crashes = 0
        self._next = trio.Event()

    def request(self) -> None:
        """Crash the sibling now (if it is up), and be ready for the next request."""
        self._next.set()
        self._next = trio.Event()

    def sibling(self) -> Any:
        """A worker that crashes at each request, taking its siblings down with it."""

        async def start(nursery: trio.Nursery) -> StartResult[None]:
            waiting = self._next

            async def run() -> None:
                await waiting.wait()
                self.crashes += 1
                raise RuntimeError("a sibling crashed")

            nursery.start_soon(run)
            return Ok(Started(None))

        return supervision.worker(start)


@contextlib.asynccontextmanager
async def bank(deadline: float = DEADLINE_S, nemesis: Nemesis | None = None) -> AsyncIterator[Bank]:
    database = memory_store.MemoryDatabase()
    account_store, account_store_spec = _store(database, "bank_account")
    transfer_store, transfer_store_spec = _store(database, "transfer")
    credit_store, credit_store_spec = _store(database, "credit")
    accounts, accounts_spec = _system(
        account_store, bank_account, bank_account.BankAccount(), "accounts"
    )
    transfers_actor, transfers_spec = _system(
        transfer_store, transfers, transfers.Transfer(), "transfers"
    )
    credits_actor, credits_spec = _system(credit_store, credits, credits.Credit(), "credits")
    manager = process_managers.process_manager(
        "transfers",
        projections.select(transfer_store)
        | projections.select(account_store)
        | projections.select(credit_store),
        route=route,
        initial=TransferProcess,
        handle=transfer_process(
            Target("accounts", accounts),
            Target("transfers", transfers_actor),
            Target("credits", credits_actor),
            deadline,
        ),
    )
    handle, manager_spec = process_managers.supervised(manager)
    supervisor = supervisors.new(supervisors.OneForOne)
    for spec in (
        account_store_spec, transfer_store_spec, credit_store_spec,
        accounts_spec, transfers_spec, credits_spec,
    ):  # fmt: skip
        supervisor = supervisor.add(spec)
    # The manager with a sibling that crashes on demand: one for all, so each crash
    # restarts the manager's task, wherever it was.
    manager_group = (
        supervisors.new(supervisors.OneForAll)
        .restart_tolerance(intensity=1_000_000, period=1)
        .add(manager_spec)
    )
    if nemesis is not None:
        manager_group = manager_group.add(nemesis.sibling())
    supervisor = supervisor.add(supervisors.supervised(manager_group))
    async with supervisor.open():
        yield Bank(accounts, transfers_actor, credits_actor, credit_store, account_store, handle)


async def ok(reply: process.Subject[Any]) -> Any:
    """The value of a successful answer."""
    outcome = await process.receive(reply, 60_000)
    assert isinstance(outcome, Ok), outcome
    answer = outcome.value
    assert isinstance(answer, Ok), answer
    return answer.value


async def settled(the_bank: Bank) -> process_managers.ProcessManagerStatistics:
    """Wait until the manager has decided on the whole log and has nothing left to do."""
    database = the_bank.account_store.eventstore.database
    return await the_bank.manager.wait_for(
        lambda s: (
            s.position == database.last_position and (s.instances, s.outbox, s.timers) == (0, 0, 0)
        )
    )


async def other_bank(the_bank: Bank, confirms: set[str]) -> None:
    """Confirm the credits of the transfers in ``confirms``; never the others."""
    requested = projections.select(the_bank.credit_store).only(credits.CreditRequested)
    async with projections.follow_log(requested) as entries:
        async for entry in entries:
            if entry.envelope.aggregate_id in confirms:
                reply = eventsourcing.execute_with_response(
                    the_bank.credits, entry.envelope.aggregate_id, ConfirmCredit(), []
                )
                await ok(reply)


async def balance(the_bank: Bank, account: str) -> Decimal:
    loaded = await ok(eventsourcing.load_aggregate(the_bank.accounts, account))
    assert isinstance(loaded, eventsourcing.Aggregate)
    return loaded.entity.balance  # type: ignore[no-any-return]


async def transfers_keep_the_money(
    count: int, *, deadline: float = DEADLINE_S, crash_every: float | None = None
) -> None:
    """Run ``count`` transfers at once and check the money, each transfer, each move.

    ``crash_every``: crash the manager's task at random moments, at most this many seconds
    apart, until every transfer has ended.
    """
    rng = random.Random(7)
    accounts = [f"account-{n}" for n in range(ACCOUNTS)]
    planned = []
    for n in range(count):
        source, destination = rng.sample(accounts, 2)
        # One in ten asks for more than any account holds: its withdrawal is rejected.
        amount = Decimal(50_000 if n % 10 == 0 else rng.randint(1, 60))
        planned.append((f"transfer-{n}", source, destination, amount))
    short = {transfer for transfer, _, _, amount in planned if amount > OPENING * ACCOUNTS}
    # The other bank confirms two credits in three, and never the third.
    confirmed = {transfer for transfer, *_ in planned if int(transfer.split("-")[1]) % 3}
    nemesis = Nemesis()
    async with bank(deadline, nemesis) as the_bank, trio.open_nursery() as nursery:
        for account in accounts:
            await ok(
                eventsourcing.execute_with_response(
                    the_bank.accounts, account, OpenAccount(account), []
                )
            )
            deposit = bank_account.DepositMoney(OPENING)
            await ok(eventsourcing.execute_with_response(the_bank.accounts, account, deposit, []))
        nursery.start_soon(other_bank, the_bank, confirmed)
        if crash_every is not None:

            async def crash_now_and_then() -> None:
                while True:
                    await trio.sleep(rng.uniform(0, crash_every))
                    nemesis.request()

            nursery.start_soon(crash_now_and_then)

        async def client(transfer: str, source: str, destination: str, amount: Decimal) -> None:
            command = RequestTransfer(source, destination, amount)
            reply = eventsourcing.execute_with_response(
                the_bank.transfers, transfer, command, [], correlation_id=transfer
            )
            await ok(reply)

        async with trio.open_nursery() as clients:
            for plan in planned:
                clients.start_soon(client, *plan)
        with trio.fail_after(120):
            stats = await settled(the_bank)
        crashed = nemesis.crashes
        statuses: Counter[TransferStatus | None] = Counter()
        for transfer, *_ in planned:
            loaded = await ok(eventsourcing.load_aggregate(the_bank.transfers, transfer))
            assert isinstance(loaded, eventsourcing.Aggregate)
            statuses[loaded.entity.status] += 1
            if loaded.entity.status is TransferStatus.COMPLETED:
                assert transfer in confirmed
        total = sum([await balance(the_bank, account) for account in accounts], Decimal(0))
        moves: dict[str, list[tuple[str, str]]] = defaultdict(list)
        log = (await memory_store.read_log(the_bank.account_store, 0, 100_000)).unwrap()
        for entry in log:
            payload = entry.envelope.payload
            if isinstance(payload, (CustomerWithdrewCash, CustomerDepositedCash)):
                correlation = entry.envelope.correlation_id
                if correlation.startswith("transfer-"):
                    moves[correlation].append((type(payload).__name__, entry.envelope.aggregate_id))
        nursery.cancel_scope.cancel()
    assert total == OPENING * ACCOUNTS
    assert set(statuses) <= {TransferStatus.COMPLETED, TransferStatus.FAILED}
    assert sum(statuses.values()) == len(planned)
    # A third of the credits are never confirmed: those transfers are refunded.
    refunded = sum(1 for m in moves.values() if len(m) == 2 and m[0][1] == m[1][1])
    assert statuses[TransferStatus.COMPLETED] == len(confirmed - short)
    assert refunded == len(set(moves) - confirmed)
    assert (
        statuses[TransferStatus.FAILED]
        == refunded + len(short)
        == len(planned) - len(confirmed - short)
    )
    assert not short & set(moves)
    for transfer, source, destination, _ in planned:
        # Each money move once: completed, out of the source and into the destination;
        # refunded, out of the source and back; failed for want of money, none.
        assert moves.get(transfer, []) in (
            [("CustomerWithdrewCash", source), ("CustomerDepositedCash", destination)],
            [("CustomerWithdrewCash", source), ("CustomerDepositedCash", source)],
            [],
        ), (transfer, moves.get(transfer))
    assert stats.dead_letters == 0
    if crash_every is not None:
        assert crashed > 10


async def test_hundreds_of_transfers_keep_the_money_and_each_ends_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    await transfers_keep_the_money(300)


async def test_a_manager_restarted_at_random_moments_applies_no_command_twice() -> None:
    # On the real clock, so that crashes fall while commands are on their way.
    await transfers_keep_the_money(200, deadline=0.3, crash_every=0.02)


async def test_a_credit_not_confirmed_by_the_deadline_is_cancelled_and_refunded(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with bank() as the_bank:
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
