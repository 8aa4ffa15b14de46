"""The contract of every store's global log, written once and run against each store.

A store's test module subclasses :class:`LogContract` (its class name starting with
``Test``) and implements :meth:`LogContract.open_store`, as for ``StoreContract``, and
:meth:`LogContract.read_log` with the store's own ``read_log``. Following the log goes
through :func:`trio_eventsourcing.projections.follow_log`, the same for every store.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
import trio
import trio.testing

import trio_eventsourcing as eventsourcing
from tests.contracts.store_contract import (
    BankMessage,
    BankStore,
    answer,
    append,
    deposited,
    open_bank,
    opened,
)
from tests.projections.helpers import deposit_many
from trio_eventsourcing import (
    DomainError,
    Error,
    EventStoreError,
    Ok,
    Receipt,
    Result,
    process,
    projections,
    static_supervisor,
)
from trio_eventsourcing.examples.bank_account import (
    BankAccount,
    BankAccountCommand,
    BankAccountError,
    BankAccountEvent,
    CantOperateOnUnopenedAccount,
    CustomerDepositedCash,
    CustomerWithdrewCash,
    DepositMoney,
    OpenAccount,
    handle,
)
from trio_eventsourcing.projections import LogRecord

Entry = LogRecord[BankAccountEvent]
LogPage = Result[Sequence[Entry], EventStoreError]
ReadLog = Callable[[BankStore, int, int], Awaitable[LogPage]]
"""A store's own ``read_log(store, start_from, limit)``."""

WAIT_S = 10
"""How long a test waits for the log to show a commit (only a failing test waits)."""


async def write_concurrently(stores: Sequence[BankStore], writers: int, commits: int) -> int:
    """``writers`` tasks each commit ``commits`` times two events; return the events written.

    Writer ``n`` writes through ``stores[n % len(stores)]``: several stores on one storage
    stand for several processes.
    """

    async def writer(index: int) -> None:
        store = stores[index % len(stores)]
        aggregate_id = f"acc-{index}"
        for n in range(commits):
            events: list[BankAccountEvent] = [deposited(1, 2 * n + 1), deposited(1, 2 * n + 2)]
            assert isinstance(await append(store, aggregate_id, 2 * n, events), Ok)
            await trio.lowlevel.checkpoint()  # interleave the writers

    async with trio.open_nursery() as nursery:
        for index in range(writers):
            nursery.start_soon(writer, index)
    return writers * commits * 2


async def whole_log(
    read_log: ReadLog, store: BankStore, start_from: int = 0, limit: int = 7
) -> list[Entry]:
    """Read the log page by page from ``start_from`` to its end."""
    entries: list[Entry] = []
    position = start_from
    while True:
        page = await read_log(store, position, limit)
        assert isinstance(page, Ok), page
        assert len(page.value) <= limit
        if not page.value:
            return entries
        entries += page.value
        position = page.value[-1].position


async def tail(read_log: ReadLog, store: BankStore, done: trio.Event, seen: list[Entry]) -> None:
    """Read the log as it grows, into ``seen``, until it has no more once ``done`` is set."""
    position = 0
    while True:
        finished = done.is_set()
        page = await read_log(store, position, 13)
        assert isinstance(page, Ok), page
        for entry in page.value:
            # Never a gap: the next entry is always the next position.
            assert entry.position == position + 1, (position, entry.position)
            position = entry.position
        seen.extend(page.value)
        if not page.value and finished:
            return


def sequences_by_aggregate(entries: Sequence[Entry]) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for entry in entries:
        found.setdefault(entry.envelope.aggregate_id, []).append(entry.envelope.sequence)
    return found


class LogContract:
    """What every store's global log promises. Subclass it as ``Test<Store>Log``."""

    def open_store(self, tmp_path: Path) -> contextlib.AbstractAsyncContextManager[BankStore]:
        """Open a ready store kept under ``tmp_path``; its child spec (if any) runs inside."""
        raise NotImplementedError

    async def read_log(self, store: BankStore, start_from: int = 0, limit: int = 1_000) -> LogPage:
        """One page of the log with the store's own ``read_log``."""
        raise NotImplementedError

    async def whole_log(self, store: BankStore, start_from: int = 0, limit: int = 7) -> list[Entry]:
        """Read the log page by page from ``start_from`` to its end."""
        return await whole_log(self.read_log, store, start_from, limit)

    async def fill(self, store: BankStore) -> None:
        """Four commits over two aggregates: positions 1-4, one commit of two events."""
        assert isinstance(await append(store, "acc-1", 0, [opened("acc-1")], [("n", "1")]), Ok)
        assert isinstance(await append(store, "acc-2", 0, [opened("acc-2"), deposited(3, 3)]), Ok)
        assert isinstance(await append(store, "acc-1", 1, [deposited(1, 1)]), Ok)

    # --- reading --------------------------------------------------------------------------

    async def test_an_empty_log_reads_as_empty(self, tmp_path: Path) -> None:
        async with self.open_store(tmp_path) as store:
            assert await self.read_log(store) == Ok([])

    async def test_positions_start_at_one_and_have_no_gaps(self, tmp_path: Path) -> None:
        async with self.open_store(tmp_path) as store:
            await self.fill(store)
            entries = await self.whole_log(store)
        assert [e.position for e in entries] == [1, 2, 3, 4]

    async def test_the_log_is_in_commit_order_across_aggregates(self, tmp_path: Path) -> None:
        async with self.open_store(tmp_path) as store:
            await self.fill(store)
            entries = await self.whole_log(store)
        assert [(e.envelope.aggregate_id, e.envelope.sequence) for e in entries] == [
            ("acc-1", 1),
            ("acc-2", 1),
            ("acc-2", 2),
            ("acc-1", 2),
        ]

    async def test_entries_carry_the_envelope(self, tmp_path: Path) -> None:
        async with self.open_store(tmp_path) as store:
            await self.fill(store)
            entries = await self.whole_log(store)
        assert [
            (e.envelope.aggregate_id, e.envelope.sequence, e.envelope.payload, e.envelope.metadata)
            for e in entries
        ] == [
            ("acc-1", 1, opened("acc-1"), [("n", "1")]),
            ("acc-2", 1, opened("acc-2"), []),
            ("acc-2", 2, deposited(3, 3), []),
            ("acc-1", 2, deposited(1, 1), []),
        ]

    async def test_entries_carry_the_utc_time_of_their_commit(self, tmp_path: Path) -> None:
        started = datetime.now(timezone.utc) - timedelta(seconds=1)
        async with self.open_store(tmp_path) as store:
            await self.fill(store)
            entries = await self.whole_log(store)
        now = datetime.now(timezone.utc)
        assert all(started <= e.recorded_at <= now for e in entries)
        assert all(e.recorded_at.utcoffset() == timedelta(0) for e in entries)
        assert [e.recorded_at for e in entries] == sorted(e.recorded_at for e in entries)

    async def test_reading_from_a_position_gives_the_events_after_it(self, tmp_path: Path) -> None:
        async with self.open_store(tmp_path) as store:
            await self.fill(store)
            entries = await self.whole_log(store)
            for position in range(5):
                assert await self.read_log(store, position, 100) == Ok(entries[position:])

    async def test_reading_past_the_end_gives_nothing(self, tmp_path: Path) -> None:
        async with self.open_store(tmp_path) as store:
            await self.fill(store)
            assert await self.read_log(store, 4) == Ok([])
            assert await self.read_log(store, 400) == Ok([])

    async def test_a_limit_gives_at_most_that_many_entries(self, tmp_path: Path) -> None:
        async with self.open_store(tmp_path) as store:
            await self.fill(store)
            page = await self.read_log(store, 1, 2)
        assert isinstance(page, Ok), page
        assert [e.position for e in page.value] == [2, 3]

    async def test_paging_with_a_limit_reads_the_whole_log_once(self, tmp_path: Path) -> None:
        async with self.open_store(tmp_path) as store:
            await deposit_many(store, "acc-1", 23)
            paged = await self.whole_log(store, limit=5)
            at_once = await self.read_log(store, 0, 100)
        assert at_once == Ok(paged)
        assert [e.position for e in paged] == list(range(1, 24))

    async def test_a_refused_commit_takes_no_position(self, tmp_path: Path) -> None:
        async with self.open_store(tmp_path) as store:
            assert isinstance(await append(store, "acc-1", 0, [opened("acc-1")]), Ok)
            assert isinstance(await append(store, "acc-1", 0, [opened("acc-1")]), Error)
            assert isinstance(await append(store, "acc-1", 1, [deposited(1, 1)]), Ok)
            entries = await self.whole_log(store)
        assert [(e.position, e.envelope.sequence) for e in entries] == [(1, 1), (2, 2)]

    async def test_large_amounts_round_trip_through_the_log(self, tmp_path: Path) -> None:
        amount = Decimal("12345678901234567890.123456789")
        event = CustomerDepositedCash(amount, amount)
        async with self.open_store(tmp_path) as store:
            assert isinstance(await append(store, "acc-1", 0, [deposited(1, 1)]), Ok)
            assert isinstance(await append(store, "acc-1", 1, [event]), Ok)
            entries = await self.whole_log(store)
        assert entries[-1].envelope.payload == event

    async def test_read_log_checks_its_arguments(self, tmp_path: Path) -> None:
        async with self.open_store(tmp_path) as store:
            with pytest.raises(ValueError, match="start_from"):
                await self.read_log(store, -1)
            with pytest.raises(ValueError, match="limit"):
                await self.read_log(store, 0, 0)
            with pytest.raises(TypeError, match="read_log"):
                await self.read_log(object())  # type: ignore[arg-type]

    async def test_read_log_is_a_checkpoint(self, tmp_path: Path) -> None:
        async with self.open_store(tmp_path) as store:
            with trio.testing.assert_checkpoints():
                await self.read_log(store)
        with trio.testing.assert_checkpoints():
            await self.read_log(store)  # not running: still a checkpoint

    async def test_a_reader_tailing_concurrent_writers_misses_nothing(self, tmp_path: Path) -> None:
        seen: list[Entry] = []
        done = trio.Event()
        async with self.open_store(tmp_path) as store, trio.open_nursery() as nursery:
            nursery.start_soon(tail, self.read_log, store, done, seen)
            total = await write_concurrently([store], writers=8, commits=10)
            done.set()
        assert [e.position for e in seen] == list(range(1, total + 1))
        assert all(s == list(range(1, 21)) for s in sequences_by_aggregate(seen).values())

    # --- following ------------------------------------------------------------------------

    async def test_follow_log_from_origin_yields_the_past_then_new_commits(
        self, tmp_path: Path
    ) -> None:
        async with self.open_store(tmp_path) as store:
            await deposit_many(store, "acc-1", 3)
            # An hour's poll: only the store's wake-up can deliver the new commits in time.
            async with projections.follow_log(
                store, projections.Origin, batch_size=2, poll_interval=3_600
            ) as entries:
                with trio.fail_after(WAIT_S):
                    assert [(await entries.receive()).position for _ in range(3)] == [1, 2, 3]
                    await deposit_many(store, "acc-1", 2, after=3)
                    assert [(await entries.receive()).position for _ in range(2)] == [4, 5]

    async def test_follow_log_from_a_position_starts_after_it(self, tmp_path: Path) -> None:
        async with self.open_store(tmp_path) as store:
            await deposit_many(store, "acc-1", 5)
            async with projections.follow_log(store, start_from=2, batch_size=2) as entries:
                with trio.fail_after(WAIT_S):
                    assert [(await entries.receive()).position for _ in range(3)] == [3, 4, 5]

    async def test_follow_log_from_current_sees_only_later_commits(self, tmp_path: Path) -> None:
        async with self.open_store(tmp_path) as store:
            await deposit_many(store, "acc-1", 3)
            async with projections.follow_log(
                store, projections.Current, poll_interval=3_600
            ) as entries:
                await deposit_many(store, "acc-2", 2)
                with trio.fail_after(WAIT_S):
                    first = await entries.receive()
                    second = await entries.receive()
        assert (first.position, first.envelope.aggregate_id, first.envelope.sequence) == (
            4,
            "acc-2",
            1,
        )
        assert (second.position, second.envelope.sequence) == (5, 2)

    async def test_follow_log_sees_concurrent_commits_once_in_order(self, tmp_path: Path) -> None:
        seen: list[Entry] = []
        async with (
            self.open_store(tmp_path) as store,
            projections.follow_log(
                store, projections.Origin, batch_size=7, poll_interval=3_600
            ) as entries,
        ):
            total = await write_concurrently([store], writers=6, commits=8)
            with trio.fail_after(WAIT_S):
                seen = [await entries.receive() for _ in range(total)]
            # Nothing more: every commit was seen once.
            await deposit_many(store, "last", 1)
            with trio.fail_after(WAIT_S):
                last = await entries.receive()
        assert [e.position for e in seen] == list(range(1, total + 1))
        assert all(s == list(range(1, 17)) for s in sequences_by_aggregate(seen).values())
        assert (last.position, last.envelope.aggregate_id) == (total + 1, "last")

    # --- receipts: a command's positions, and reading one's own writes ----------------------

    async def test_a_receipt_names_the_positions_and_sequence_of_what_was_stored(
        self, tmp_path: Path
    ) -> None:
        async with self.open_store(tmp_path) as store, open_bank(store) as bank:
            await self.fill(store)
            receipt = await run_for_receipt(bank, "acc-3", OpenAccount("acc-3"))
            assert receipt == Receipt("acc-3", 1, (5,))
            receipt = await run_for_receipt(bank, "acc-3", DepositMoney(Decimal(4)))
            assert (receipt.sequence, receipt.positions, receipt.position) == (2, (6,), 6)
            assert receipt.stored_events
            assert not receipt.already_stored
            log = await self.whole_log(store)
        assert [(e.position, e.envelope.aggregate_id, e.envelope.sequence) for e in log[-2:]] == [
            (5, "acc-3", 1),
            (6, "acc-3", 2),
        ]

    async def test_receipts_of_concurrent_commands_match_the_log(self, tmp_path: Path) -> None:
        receipts: list[Receipt] = []

        async def customer(bank: process.Subject[BankMessage], index: int) -> None:
            aggregate_id = f"acc-{index}"
            receipts.append(await run_for_receipt(bank, aggregate_id, OpenAccount(aggregate_id)))
            for _ in range(5):
                deposit = DepositMoney(Decimal(1))
                receipts.append(await run_for_receipt(bank, aggregate_id, deposit))

        async with self.open_store(tmp_path) as store, open_bank(store) as bank:
            async with trio.open_nursery() as nursery:
                for index in range(20):
                    nursery.start_soon(customer, bank, index)
            log = await self.whole_log(store, limit=50)
        by_position = {e.position: (e.envelope.aggregate_id, e.envelope.sequence) for e in log}
        claimed = [(p, (r.aggregate_id, r.sequence)) for r in receipts for p in r.positions]
        assert sorted(claimed) == sorted(by_position.items())

    async def test_a_command_of_no_events_has_a_receipt_that_says_so(self, tmp_path: Path) -> None:
        def zero_is_nothing(
            account: BankAccount, command: BankAccountCommand
        ) -> Result[Sequence[BankAccountEvent], BankAccountError]:
            if command == DepositMoney(Decimal(0)):
                return Ok([])
            return handle(account, command)

        async with (
            self.open_store(tmp_path) as store,
            open_bank(store, decide=zero_is_nothing) as bank,
        ):
            await run_for_receipt(bank, "acc-1", OpenAccount("acc-1"))
            receipt = await run_for_receipt(bank, "acc-1", DepositMoney(Decimal(0)))
        assert receipt == Receipt("acc-1", 1, ())
        assert (receipt.position, receipt.stored_events) == (0, False)

    async def test_a_retried_command_s_receipt_says_it_was_stored_already(
        self, tmp_path: Path
    ) -> None:
        async with self.open_store(tmp_path) as store, open_bank(store) as bank:
            first = await run_for_receipt(bank, "acc-1", OpenAccount("acc-1"), key="open-1")
            again = await run_for_receipt(bank, "acc-1", OpenAccount("acc-1"), key="open-1")
        assert first == Receipt("acc-1", 1, (1,))
        assert again == Receipt("acc-1", None, (), already_stored=True)

    async def test_a_rejected_command_has_no_receipt(self, tmp_path: Path) -> None:
        async with self.open_store(tmp_path) as store, open_bank(store) as bank:
            reply = eventsourcing.execute_with_receipt(bank, "acc-1", DepositMoney(Decimal(1)), [])
            outcome = await answer(reply)
        assert outcome == Error(DomainError(CantOperateOnUnopenedAccount()))

    async def test_execute_and_wait_returns_once_the_projection_holds_the_write(
        self, tmp_path: Path
    ) -> None:
        balances: dict[str, Decimal] = {}

        async def on_event(entry: Entry) -> None:
            # Slow on purpose: many scheduler rounds between the commit and the update.
            for _ in range(20):
                await trio.lowlevel.checkpoint()
            payload = entry.envelope.payload
            if isinstance(payload, CustomerDepositedCash):
                balances[entry.envelope.aggregate_id] = payload.new_balance

        projection = projections.per_event("balances", on_event)
        async with (
            self.open_store(tmp_path) as store,
            open_bank(store) as bank,
        ):
            handle, spec = projections.supervised(store, projection)
            async with static_supervisor.new(static_supervisor.OneForOne).add(spec).open():
                with trio.fail_after(WAIT_S):
                    await eventsourcing.execute_and_wait(bank, "acc-1", OpenAccount("acc-1"))
                    for amount in range(1, 6):
                        outcome = await eventsourcing.execute_and_wait(
                            bank, "acc-1", DepositMoney(Decimal(amount)), consistency=[handle]
                        )
                        assert isinstance(outcome, Ok)
                        # Read at once, no waiting: the write is in the read model.
                        assert balances["acc-1"] == Decimal(amount * (amount + 1) // 2)

    async def test_waiting_for_a_projection_that_selects_none_of_the_events_returns(
        self, tmp_path: Path
    ) -> None:
        async with self.open_store(tmp_path) as store, open_bank(store) as bank:
            withdrawals = projections.select(store).only(CustomerWithdrewCash)
            projection: projections.Projection[Entry, object]
            projection = projections.per_event("withdrawals", lambda entry: None)
            handle, spec = projections.supervised(withdrawals, projection)
            async with static_supervisor.new(static_supervisor.OneForOne).add(spec).open():
                with trio.fail_after(WAIT_S):
                    outcome = await eventsourcing.execute_and_wait(
                        bank, "acc-1", OpenAccount("acc-1"), consistency=[handle]
                    )
                    assert outcome == Ok(Receipt("acc-1", 1, (1,)))
                    await handle.wait_until_current()
            assert handle.statistics().position == 0

    async def test_a_consistency_wait_is_bounded_by_the_caller_s_deadline(
        self, tmp_path: Path
    ) -> None:
        async with self.open_store(tmp_path) as store, open_bank(store) as bank:
            projection: projections.Projection[Entry, object]
            projection = projections.per_event("never-run", lambda entry: None)
            # Never started: it will never have the write.
            handle, _ = projections.supervised(store, projection)
            with trio.move_on_after(0.2) as scope:
                await eventsourcing.execute_and_wait(
                    bank, "acc-1", OpenAccount("acc-1"), consistency=[handle]
                )
            assert scope.cancelled_caught
            # Cancelled while waiting for the read model: the command was stored.
            assert [e.envelope.sequence for e in await self.whole_log(store)] == [1]
        with pytest.raises(TypeError, match="consistency takes read models"):
            await eventsourcing.execute_and_wait(
                bank,
                "acc-1",
                OpenAccount("acc-1"),
                consistency=[object()],  # type: ignore[list-item]
            )


async def run_for_receipt(
    bank: process.Subject[BankMessage],
    aggregate_id: str,
    command: BankAccountCommand,
    key: str | None = None,
) -> Receipt:
    """Run ``command`` and return its receipt (the command must succeed)."""
    reply = eventsourcing.execute_with_receipt(bank, aggregate_id, command, [], idempotency_key=key)
    outcome = await answer(reply)
    assert isinstance(outcome, Ok), outcome
    return outcome.value
