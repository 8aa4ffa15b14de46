"""Stored data the codec cannot read, written once and run against each durable store.

Each test stores good data, spoils one aggregate's rows from outside (as a hand edit, a
bad migration or an older application would), and checks that reading that aggregate
reports ``EventStoreError`` naming the aggregate, sequence, event type and version, and
the storage; that the system keeps serving the other aggregates; and that the stored data
is unchanged. A snapshot the codec cannot read only costs a replay. A backend's test
module subclasses :class:`BadDataContract` with its ``DurableBackend``
(``durable_contract.py``).
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

import pytest

import trio_eventsourcing as eventsourcing
from tests.contracts.durable_contract import DurableBackend
from tests.contracts.durable_support import CODEC, BankCodec, bank_codec
from tests.contracts.store_contract import answer, open_bank, run
from trio_eventsourcing import (
    Aggregate,
    Error,
    EventStoreError,
    Ok,
    SerializedEventEnvelop,
    StoreFailure,
)
from trio_eventsourcing.codec import Registration, Upcaster
from trio_eventsourcing.examples.bank_account import (
    AccountOpened,
    BankAccount,
    CustomerDepositedCash,
    CustomerWithdrewCash,
    DepositMoney,
    OpenAccount,
    WithdrawMoney,
)


class BadDataContract(DurableBackend):
    """What a durable store does with data its codec cannot read, or write."""

    def all_events(self) -> list[tuple[Any, ...]]:
        return self.rows(
            "SELECT position, aggregate_id, sequence, event_type, event_version, payload,"
            f" metadata FROM {self.table('events')} ORDER BY position"
        )

    def all_snapshots(self) -> list[tuple[Any, ...]]:
        return self.rows(
            "SELECT aggregate_id, aggregate_type, sequence, entity_type, entity_version,"
            f" payload, taken_at FROM {self.table('snapshots')} ORDER BY aggregate_id"
        )

    async def store_two_accounts(self, snapshot_every: int | None = None) -> None:
        """acc-1 and acc-2, each opened with three deposits (sequences 1 to 4)."""
        async with self.open_store() as store, open_bank(store, snapshot_every) as bank:
            for account in ("acc-1", "acc-2"):
                assert await run(bank, account, OpenAccount(account)) == Ok(None)
                for amount in (1, 2, 3):
                    assert await run(bank, account, DepositMoney(Decimal(amount))) == Ok(None)

    async def check_acc2_unreadable(self, *, expect: list[str], codec: BankCodec = CODEC) -> None:
        """Reading acc-2 fails naming ``expect``; acc-1 is still served; nothing changes."""
        events_before = self.all_events()
        snapshots_before = self.all_snapshots()
        async with self.open_store(codec) as store, open_bank(store) as bank:
            for reply in (
                await answer(eventsourcing.load_aggregate(bank, "acc-2")),
                await answer(eventsourcing.load_events(bank, "acc-2")),
                await answer(
                    eventsourcing.execute_with_response(bank, "acc-2", DepositMoney(Decimal(1)), [])
                ),
                await self.read_log(store),
            ):
                assert isinstance(reply, Error), reply
                assert isinstance(reply.error, EventStoreError), reply
                assert reply.error.kind is StoreFailure.UNDECODABLE, reply
                for part in [*expect, "'acc-2'", self.where(store)]:
                    assert part in reply.error.message, (part, reply.error.message)
            # The other aggregate is served, reads and writes alike.
            assert await answer(eventsourcing.load_aggregate(bank, "acc-1")) == Ok(
                Aggregate("acc-1", BankAccount(True, Decimal(6)), 4)
            )
            assert await run(bank, "acc-1", DepositMoney(Decimal(4))) == Ok(None)
            # Asking again gives the same answer: no crash loop, no state cached.
            again = await answer(eventsourcing.load_aggregate(bank, "acc-2"))
            assert isinstance(again, Error)
            assert isinstance(again.error, EventStoreError)
        after = self.all_events()
        assert after[: len(events_before)] == events_before
        assert [row[1:3] for row in after[len(events_before) :]] == [("acc-1", 5)]
        assert self.all_snapshots() == snapshots_before

    def spoil(self, assignment: str, aggregate_id: str, where: str) -> None:
        """``UPDATE`` the events of ``aggregate_id`` that match ``where`` from outside."""
        self.execute(
            f"UPDATE {self.table('events')} SET {assignment}"
            f" WHERE aggregate_id = '{aggregate_id}' AND {where}"
        )

    async def test_a_corrupted_payload(self) -> None:
        await self.store_two_accounts()
        self.spoil("payload = '{\"amount\": '", "acc-2", "sequence = 3")
        await self.check_acc2_unreadable(
            expect=["'CustomerDepositedCash'", "version 1", "sequence 3", "invalid JSON"]
        )

    async def test_a_payload_that_does_not_fit_the_class(self) -> None:
        await self.store_two_accounts()
        self.spoil("payload = '{\"amount\": 5}'", "acc-2", "sequence = 2")
        await self.check_acc2_unreadable(
            expect=["'CustomerDepositedCash'", "version 1", "sequence 2"]
        )

    async def test_an_unknown_event_type(self) -> None:
        await self.store_two_accounts()
        self.spoil("event_type = 'AccountFrozen'", "acc-2", "sequence = 4")
        await self.check_acc2_unreadable(
            expect=["'AccountFrozen'", "version 1", "sequence 4", "unknown event type"]
        )

    async def test_corrupted_metadata(self) -> None:
        await self.store_two_accounts()
        self.spoil("metadata = '{\"user\": 1}'", "acc-2", "sequence = 1")
        await self.check_acc2_unreadable(
            expect=["'AccountOpened'", "version 1", "sequence 1", "metadata"]
        )

    async def test_an_event_version_with_no_upcaster(self) -> None:
        # acc-1's deposits were stored by version 2 of the application, acc-2's by version 1;
        # version 3 brings an upcaster from 2 but none from 1.
        await self.store_two_accounts()
        self.spoil("event_version = 2", "acc-1", "event_type = 'CustomerDepositedCash'")
        upgraded = bank_codec(
            events=[
                AccountOpened,
                Registration(CustomerDepositedCash, version=3),
                CustomerWithdrewCash,
            ],
            upcasters=[Upcaster("CustomerDepositedCash", 2, lambda data: data)],
        )
        await self.check_acc2_unreadable(
            codec=upgraded,
            expect=[
                "'CustomerDepositedCash'",
                "version 1",
                "sequence 2",
                "no upcaster from version 1 to 2",
            ],
        )

    async def test_an_event_version_with_an_upcaster_is_read(self) -> None:
        await self.store_two_accounts()
        # Version 2 of the deposit stores the amount in cents.
        upgraded = bank_codec(
            events=[
                AccountOpened,
                Registration(CustomerDepositedCash, version=2),
                CustomerWithdrewCash,
            ],
            upcasters=[
                Upcaster(
                    "CustomerDepositedCash",
                    1,
                    lambda data: {"amount": data["amount"], "new_balance": data["new_balance"]},
                )
            ],
        )
        async with self.open_store(upgraded) as store, open_bank(store) as bank:
            assert await answer(eventsourcing.load_aggregate(bank, "acc-2")) == Ok(
                Aggregate("acc-2", BankAccount(True, Decimal(6)), 4)
            )
            events = await answer(eventsourcing.load_events(bank, "acc-2"))
            assert isinstance(events, Ok)
            # The envelope tells the version the event was stored with.
            assert [
                (e.event_type, e.event_version)
                for e in events.value
                if isinstance(e, SerializedEventEnvelop)
            ] == [("AccountOpened", "1")] + [("CustomerDepositedCash", "1")] * 3

    async def test_a_snapshot_of_an_older_entity_version_is_ignored_and_logged(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        # A changed entity shape only costs a replay.
        await self.store_two_accounts(snapshot_every=2)
        assert [row[:3] for row in self.all_snapshots()] == [
            ("acc-1", "bank_account", 4),
            ("acc-2", "bank_account", 4),
        ]
        snapshots_before = self.all_snapshots()
        # BankAccount is now version 2 and there is no upcaster from version 1.
        upgraded = bank_codec(entities=[Registration(BankAccount, version=2)])
        caplog.set_level(logging.WARNING, logger=self.logger_name)
        async with self.open_store(upgraded) as store, open_bank(store) as bank:
            assert await answer(eventsourcing.latest_snapshot(bank, "acc-1")) == Ok(None)
            assert await answer(eventsourcing.load_aggregate(bank, "acc-1")) == Ok(
                Aggregate("acc-1", BankAccount(True, Decimal(6)), 4)
            )
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert any(
            "ignoring the snapshot of aggregate 'acc-1' at sequence 4" in w and "'BankAccount'" in w
            for w in warnings
        ), warnings
        assert self.all_snapshots() == snapshots_before

    async def test_a_corrupted_snapshot_is_ignored(self) -> None:
        await self.store_two_accounts(snapshot_every=2)
        self.execute(
            f"UPDATE {self.table('snapshots')} SET payload = 'garbage' WHERE aggregate_id = 'acc-2'"
        )
        async with self.open_store() as store, open_bank(store) as bank:
            assert await answer(eventsourcing.load_aggregate(bank, "acc-2")) == Ok(
                Aggregate("acc-2", BankAccount(True, Decimal(6)), 4)
            )

    async def test_an_event_the_codec_cannot_encode_stores_nothing(self) -> None:
        # A codec that does not know withdrawals: the command fails, nothing is stored.
        partial = bank_codec(
            events=[
                AccountOpened,
                CustomerDepositedCash,
            ]
        )
        async with self.open_store(partial) as store, open_bank(store) as bank:
            assert await run(bank, "acc-1", OpenAccount("acc-1")) == Ok(None)
            assert await run(bank, "acc-1", DepositMoney(Decimal(5))) == Ok(None)
            refused = await run(bank, "acc-1", WithdrawMoney(Decimal(1)))
            assert isinstance(refused, Error)
            assert isinstance(refused.error, EventStoreError)
            assert refused.error.kind is StoreFailure.REFUSED
            assert "cannot encode event 3 of aggregate 'acc-1'" in refused.error.message
            assert "CustomerWithdrewCash" in refused.error.message
            assert await run(bank, "acc-1", DepositMoney(Decimal(1))) == Ok(None)
        assert self.rows(f"SELECT sequence FROM {self.table('events')} ORDER BY position") == [
            (1,),
            (2,),
            (3,),
        ]
