"""Each kind of ``EventStoreError`` the PostgreSQL store reports, at a real site.

Not running and unreachable are checked where the store stops or the server goes away
(``test_schema.py``, ``test_writes.py``, ``test_connections.py``); here are the kinds
that stored data and the data of a request give.
"""

from __future__ import annotations

from decimal import Decimal

import trio_eventsourcing as eventsourcing
from tests.contracts.store_contract import answer, append, open_bank, opened, run
from tests.postgres.helpers import execute, running_store
from trio_eventsourcing import Error, EventStoreError, Ok, StoreFailure, postgres_store
from trio_eventsourcing.codec import JsonCodec
from trio_eventsourcing.examples.bank_account import (
    AccountOpened,
    BankAccount,
    BankAccountEvent,
    CustomerDepositedCash,
    DepositMoney,
    OpenAccount,
    WithdrawMoney,
)


async def test_a_row_the_codec_cannot_read_is_undecodable(dsn: str, schema: str) -> None:
    async with running_store(dsn, schema) as store:
        assert isinstance(await append(store, "acc-1", 0, [opened("acc-1")]), Ok)
        assert isinstance(await append(store, "acc-2", 0, [opened("acc-2")]), Ok)
        execute(
            dsn,
            f'UPDATE "{schema}".trio_es_events SET event_type = %s WHERE aggregate_id = %s',
            ("NoSuchEvent", "acc-2"),
        )
        async with open_bank(store) as bank:
            for reply in (
                await answer(eventsourcing.load_aggregate(bank, "acc-2")),
                await postgres_store.read_log(store),
            ):
                assert isinstance(reply, Error), reply
                assert isinstance(reply.error, EventStoreError), reply
                assert reply.error.kind is StoreFailure.UNDECODABLE, reply
                assert "'NoSuchEvent'" in reply.error.message
            # The other aggregate is served.
            served = await answer(eventsourcing.load_aggregate(bank, "acc-1"))
            assert isinstance(served, Ok), served


async def test_an_event_the_codec_cannot_encode_is_refused(dsn: str, schema: str) -> None:
    partial: JsonCodec[BankAccountEvent, BankAccount] = JsonCodec(
        events=[AccountOpened, CustomerDepositedCash],
        entities=[BankAccount],
        aggregate_type="bank_account",
    )
    async with running_store(dsn, schema, partial) as store, open_bank(store) as bank:
        assert await run(bank, "acc-1", OpenAccount("acc-1")) == Ok(None)
        assert await run(bank, "acc-1", DepositMoney(Decimal(5))) == Ok(None)
        refused = await run(bank, "acc-1", WithdrawMoney(Decimal(1)))
        assert isinstance(refused, Error)
        assert isinstance(refused.error, EventStoreError)
        assert refused.error.kind is StoreFailure.REFUSED
        assert "cannot encode event 3 of aggregate 'acc-1'" in refused.error.message
