"""Stored data the codec cannot read: a clear error naming what and where, nothing changed.

Each test stores good data, spoils one aggregate's rows from outside (as a hand edit, a
bad migration or an older application would), and checks that reading that aggregate
reports ``EventStoreError`` naming the aggregate, sequence, event type and version; that
the system keeps serving the other aggregates; and that the file is unchanged.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from pathlib import Path

import pytest

import trio_eventsourcing as eventsourcing
from tests.contracts.store_contract import answer, open_bank, run
from tests.sqlite.helpers import CODEC, execute, rows, running_store
from trio_eventsourcing import (
    Aggregate,
    Error,
    EventStoreError,
    Ok,
    SerializedEventEnvelop,
    StoreFailure,
    sqlite_store,
)
from trio_eventsourcing.codec import JsonCodec, Registration, Upcaster
from trio_eventsourcing.examples.bank_account import (
    AccountOpened,
    BankAccount,
    BankAccountEvent,
    CustomerDepositedCash,
    CustomerWithdrewCash,
    DepositMoney,
    OpenAccount,
    WithdrawMoney,
)

ALL_ROWS = "SELECT * FROM events ORDER BY position"
ALL_SNAPSHOTS = "SELECT * FROM snapshots ORDER BY aggregate_id"


async def store_two_accounts(path: Path, snapshot_every: int | None = None) -> None:
    """acc-1 and acc-2, each opened with three deposits (sequences 1 to 4)."""
    async with running_store(path) as store, open_bank(store, snapshot_every) as bank:
        for account in ("acc-1", "acc-2"):
            assert await run(bank, account, OpenAccount(account)) == Ok(None)
            for amount in (1, 2, 3):
                assert await run(bank, account, DepositMoney(Decimal(amount))) == Ok(None)


async def check_acc2_unreadable(
    path: Path, *, expect: list[str], codec: JsonCodec[BankAccountEvent, BankAccount] = CODEC
) -> None:
    """Reading acc-2 fails naming ``expect``; acc-1 is still served; nothing changes."""
    events_before = rows(path, ALL_ROWS)
    snapshots_before = rows(path, ALL_SNAPSHOTS)
    async with running_store(path, codec) as store, open_bank(store) as bank:
        for reply in (
            await answer(eventsourcing.load_aggregate(bank, "acc-2")),
            await answer(eventsourcing.load_events(bank, "acc-2")),
            await answer(
                eventsourcing.execute_with_response(bank, "acc-2", DepositMoney(Decimal(1)), [])
            ),
            await sqlite_store.read_log(store),
        ):
            assert isinstance(reply, Error), reply
            assert isinstance(reply.error, EventStoreError), reply
            assert reply.error.kind is StoreFailure.UNDECODABLE, reply
            for part in [*expect, "'acc-2'", str(path)]:
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
    after = rows(path, ALL_ROWS)
    assert after[: len(events_before)] == events_before
    assert [row[2:4] for row in after[len(events_before) :]] == [("acc-1", 5)]
    assert rows(path, ALL_SNAPSHOTS) == snapshots_before


async def test_a_corrupted_payload(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.db"
    await store_two_accounts(path)
    execute(
        path,
        "UPDATE events SET payload = '{\"amount\": ' WHERE aggregate_id = 'acc-2' AND sequence = 3",
    )
    await check_acc2_unreadable(
        path, expect=["'CustomerDepositedCash'", "version 1", "sequence 3", "invalid JSON"]
    )


async def test_a_payload_that_does_not_fit_the_class(tmp_path: Path) -> None:
    path = tmp_path / "misfit.db"
    await store_two_accounts(path)
    execute(
        path,
        "UPDATE events SET payload = '{\"amount\": 5}'"
        " WHERE aggregate_id = 'acc-2' AND sequence = 2",
    )
    await check_acc2_unreadable(path, expect=["'CustomerDepositedCash'", "version 1", "sequence 2"])


async def test_an_unknown_event_type(tmp_path: Path) -> None:
    path = tmp_path / "unknown.db"
    await store_two_accounts(path)
    execute(
        path,
        "UPDATE events SET event_type = 'AccountFrozen'"
        " WHERE aggregate_id = 'acc-2' AND sequence = 4",
    )
    await check_acc2_unreadable(
        path, expect=["'AccountFrozen'", "version 1", "sequence 4", "unknown event type"]
    )


async def test_corrupted_metadata(tmp_path: Path) -> None:
    path = tmp_path / "metadata.db"
    await store_two_accounts(path)
    execute(
        path,
        "UPDATE events SET metadata = '{\"user\": 1}'"
        " WHERE aggregate_id = 'acc-2' AND sequence = 1",
    )
    await check_acc2_unreadable(
        path, expect=["'AccountOpened'", "version 1", "sequence 1", "metadata"]
    )


async def test_an_event_version_with_no_upcaster(tmp_path: Path) -> None:
    # acc-1's deposits were stored by version 2 of the application, acc-2's by version 1;
    # version 3 brings an upcaster from 2 but none from 1.
    path = tmp_path / "no-upcaster.db"
    await store_two_accounts(path)
    execute(
        path,
        "UPDATE events SET event_version = 2"
        " WHERE aggregate_id = 'acc-1' AND event_type = 'CustomerDepositedCash'",
    )
    upgraded: JsonCodec[BankAccountEvent, BankAccount] = JsonCodec(
        events=[
            AccountOpened,
            Registration(CustomerDepositedCash, version=3),
            CustomerWithdrewCash,
        ],
        entities=[BankAccount],
        aggregate_type="bank_account",
        upcasters=[Upcaster("CustomerDepositedCash", 2, lambda data: data)],
    )
    await check_acc2_unreadable(
        path,
        codec=upgraded,
        expect=[
            "'CustomerDepositedCash'",
            "version 1",
            "sequence 2",
            "no upcaster from version 1 to 2",
        ],
    )


async def test_an_event_version_with_an_upcaster_is_read(tmp_path: Path) -> None:
    path = tmp_path / "upcast.db"
    await store_two_accounts(path)
    # Version 2 of the deposit stores the amount in cents.
    upgraded: JsonCodec[BankAccountEvent, BankAccount] = JsonCodec(
        events=[
            AccountOpened,
            Registration(CustomerDepositedCash, version=2),
            CustomerWithdrewCash,
        ],
        entities=[BankAccount],
        aggregate_type="bank_account",
        upcasters=[
            Upcaster(
                "CustomerDepositedCash",
                1,
                lambda data: {"amount": data["amount"], "new_balance": data["new_balance"]},
            )
        ],
    )
    async with running_store(path, upgraded) as store, open_bank(store) as bank:
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


# --- snapshots: a changed entity shape only costs a replay --------------------------------


async def test_a_snapshot_of_an_older_entity_version_is_ignored_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "old-snapshot.db"
    await store_two_accounts(path, snapshot_every=2)
    assert [row[:3] for row in rows(path, ALL_SNAPSHOTS)] == [
        ("acc-1", "bank_account", 4),
        ("acc-2", "bank_account", 4),
    ]
    snapshots_before = rows(path, ALL_SNAPSHOTS)
    # BankAccount is now version 2 and there is no upcaster from version 1.
    upgraded: JsonCodec[BankAccountEvent, BankAccount] = JsonCodec(
        events=[AccountOpened, CustomerDepositedCash, CustomerWithdrewCash],
        entities=[Registration(BankAccount, version=2)],
        aggregate_type="bank_account",
    )
    caplog.set_level(logging.WARNING, logger="trio_eventsourcing.sqlite_store")
    async with running_store(path, upgraded) as store, open_bank(store) as bank:
        assert await answer(eventsourcing.latest_snapshot(bank, "acc-1")) == Ok(None)
        assert await answer(eventsourcing.load_aggregate(bank, "acc-1")) == Ok(
            Aggregate("acc-1", BankAccount(True, Decimal(6)), 4)
        )
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(
        "ignoring the snapshot of aggregate 'acc-1' at sequence 4" in w and "'BankAccount'" in w
        for w in warnings
    ), warnings
    assert rows(path, ALL_SNAPSHOTS) == snapshots_before


async def test_a_corrupted_snapshot_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "bad-snapshot.db"
    await store_two_accounts(path, snapshot_every=2)
    execute(path, "UPDATE snapshots SET payload = 'garbage' WHERE aggregate_id = 'acc-2'")
    async with running_store(path) as store, open_bank(store) as bank:
        assert await answer(eventsourcing.load_aggregate(bank, "acc-2")) == Ok(
            Aggregate("acc-2", BankAccount(True, Decimal(6)), 4)
        )


async def test_an_event_the_codec_cannot_encode_stores_nothing(tmp_path: Path) -> None:
    # A codec that does not know withdrawals: the command fails, nothing is stored.
    partial: JsonCodec[BankAccountEvent, BankAccount] = JsonCodec(
        events=[AccountOpened, CustomerDepositedCash],
        entities=[BankAccount],
        aggregate_type="bank_account",
    )
    path = tmp_path / "encode.db"
    async with running_store(path, partial) as store, open_bank(store) as bank:
        assert await run(bank, "acc-1", OpenAccount("acc-1")) == Ok(None)
        assert await run(bank, "acc-1", DepositMoney(Decimal(5))) == Ok(None)
        refused = await run(bank, "acc-1", WithdrawMoney(Decimal(1)))
        assert isinstance(refused, Error)
        assert isinstance(refused.error, EventStoreError)
        assert refused.error.kind is StoreFailure.REFUSED
        assert "cannot encode event 3 of aggregate 'acc-1'" in refused.error.message
        assert "CustomerWithdrewCash" in refused.error.message
        assert await run(bank, "acc-1", DepositMoney(Decimal(1))) == Ok(None)
    assert [row[0] for row in rows(path, "SELECT sequence FROM events")] == [1, 2, 3]
