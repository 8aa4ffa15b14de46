"""The contract of a durable database that serves many aggregate types, run by each one.

A database (``sqlite_store.supervised_database``, ``postgres_store.supervised_database``,
or memory stores sharing a ``memory_store.MemoryDatabase``) gives one event store per
aggregate type; they share one global log, and an aggregate is its type and id
together; the durable ones also share one writer and its group commits. A backend's
test module subclasses :class:`AggregateTypesContract` and gives :meth:`open_database`
(something with ``event_store(codec)``) and :meth:`read_log`. The second aggregate
type is a bank statement: the bank account's events under another type name, so that
the same ids and the same events meet in one database.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar, Protocol

import pytest
import trio

from tests.contracts.durable_support import CODEC, bank_codec
from tests.contracts.store_contract import (
    SNAPSHOT_TIME,
    BankStore,
    append,
    deposited,
    is_stored,
    load,
    load_snapshot,
    open_bank,
    opened,
    run,
    save_snapshot,
    view,
)
from tests.projections.helpers import checkpointed
from trio_eventsourcing import (
    CommandAlreadyStored,
    ConcurrencyConflict,
    Error,
    Ok,
    Result,
    Snapshot,
    projections,
    static_supervisor,
)
from trio_eventsourcing.codec import Codec, EncodedValue, JsonCodec
from trio_eventsourcing.examples.bank_account import (
    AccountOpened,
    BankAccount,
    BankAccountEvent,
    CustomerDepositedCash,
    DepositMoney,
    OpenAccount,
)
from trio_eventsourcing.projections import LogRecord, ProjectionState

ACCOUNTS = CODEC
STATEMENTS = bank_codec("bank_statement")
WAIT_S = 20
"""How long a test waits for a projection (only a failing test waits)."""


class Statistics(Protocol):
    @property
    def transactions(self) -> int: ...
    @property
    def commits(self) -> int: ...


class Database(Protocol):
    """What the contract uses of a database."""

    def event_store(self, codec: JsonCodec[BankAccountEvent, BankAccount]) -> BankStore: ...
    def statistics(self) -> Statistics: ...


class AggregateTypesContract:
    """What a database of many aggregate types promises, whatever its backend."""

    has_writer: ClassVar[bool] = True
    """Whether the database has a writer that counts commits, and knows codecs."""

    def open_database(self, tmp_path: Path) -> contextlib.AbstractAsyncContextManager[Any]:
        """A running database (a fresh one for each test) for the duration of the block."""
        raise NotImplementedError

    async def read_log(
        self, store: BankStore, start_from: int = 0, limit: int = 1_000
    ) -> Result[Sequence[LogRecord[BankAccountEvent]], Any]:
        """The backend's ``read_log``."""
        raise NotImplementedError

    async def test_the_same_id_in_two_aggregate_types_is_two_aggregates(
        self, tmp_path: Path
    ) -> None:
        async with self.open_database(tmp_path) as database:
            accounts = database.event_store(ACCOUNTS)
            statements = database.event_store(STATEMENTS)
            assert isinstance(await append(accounts, "acc-1", 0, [opened("acc-1")]), Ok)
            both: list[BankAccountEvent] = [opened("acc-1"), deposited(5, 5)]
            assert isinstance(await append(statements, "acc-1", 0, both), Ok)
            assert view(await load(accounts, "acc-1")) == [("acc-1", 1, opened("acc-1"), [])]
            assert [e.sequence for e in await load(statements, "acc-1")] == [1, 2]

    async def test_a_stale_sequence_is_a_conflict_within_its_aggregate_type_only(
        self, tmp_path: Path
    ) -> None:
        async with self.open_database(tmp_path) as database:
            accounts = database.event_store(ACCOUNTS)
            statements = database.event_store(STATEMENTS)
            assert isinstance(await append(accounts, "acc-1", 0, [opened("acc-1")]), Ok)
            stale = await append(accounts, "acc-1", 0, [opened("acc-1")])
            assert isinstance(stale, Error)
            assert stale.error == ConcurrencyConflict("acc-1", 0, 1)
            assert isinstance(await append(statements, "acc-1", 0, [opened("acc-1")]), Ok)

    async def test_an_idempotency_key_is_kept_per_aggregate_type(self, tmp_path: Path) -> None:
        async with self.open_database(tmp_path) as database:
            accounts = database.event_store(ACCOUNTS)
            statements = database.event_store(STATEMENTS)
            assert isinstance(await append(accounts, "acc-1", 0, [opened("acc-1")], key="k"), Ok)
            assert not await is_stored(statements, "acc-1", "k")
            assert isinstance(await append(statements, "acc-1", 0, [opened("acc-1")], key="k"), Ok)
            again = await append(accounts, "acc-1", 1, [deposited(1, 1)], key="k")
            assert again == Error(CommandAlreadyStored("acc-1", "k"))
            assert await is_stored(accounts, "acc-1", "k")
            assert await is_stored(statements, "acc-1", "k")

    async def test_a_snapshot_is_kept_per_aggregate_type(self, tmp_path: Path) -> None:
        async with self.open_database(tmp_path) as database:
            accounts = database.event_store(ACCOUNTS)
            statements = database.event_store(STATEMENTS)
            taken = Snapshot("acc-1", BankAccount(), 1, SNAPSHOT_TIME)
            assert isinstance(await save_snapshot(accounts, taken), Ok)
            assert await load_snapshot(statements, "acc-1") is None
            assert await load_snapshot(accounts, "acc-1") == taken

    async def test_the_log_of_each_store_holds_its_aggregate_type_in_commit_order(
        self, tmp_path: Path
    ) -> None:
        async with self.open_database(tmp_path) as database:
            accounts = database.event_store(ACCOUNTS)
            statements = database.event_store(STATEMENTS)
            for n in range(3):
                assert isinstance(await append(accounts, f"a-{n}", 0, [opened(f"a-{n}")]), Ok)
                assert isinstance(await append(statements, f"s-{n}", 0, [opened(f"s-{n}")]), Ok)
            account_log = (await self.read_log(accounts)).unwrap()
            statement_log = (await self.read_log(statements)).unwrap()
            assert [e.envelope.aggregate_id for e in account_log] == ["a-0", "a-1", "a-2"]
            assert [e.envelope.aggregate_id for e in statement_log] == ["s-0", "s-1", "s-2"]
            positions = sorted(e.position for e in [*account_log, *statement_log])
            assert positions == list(range(positions[0], positions[0] + 6))
            assert [e.position for e in account_log] == positions[0::2]

    async def test_one_writer_commits_the_aggregate_types_together(self, tmp_path: Path) -> None:
        if not self.has_writer:
            pytest.skip(f"{type(self).__name__} has no writer: commands commit one by one")
        async with self.open_database(tmp_path) as database:
            accounts = database.event_store(ACCOUNTS)
            statements = database.event_store(STATEMENTS)
            failures: list[object] = []

            async def open_one(store: BankStore, aggregate_id: str) -> None:
                outcome = await append(store, aggregate_id, 0, [opened(aggregate_id)])
                if not isinstance(outcome, Ok):
                    failures.append(outcome)

            async with trio.open_nursery() as nursery:
                for n in range(50):
                    nursery.start_soon(open_one, accounts, f"acc-{n}")
                    nursery.start_soon(open_one, statements, f"acc-{n}")
            assert failures == []
            stats = database.statistics()
            assert stats.transactions == 100
            # Group commit across the types: far fewer commits than transactions.
            assert stats.commits < stats.transactions
            assert accounts.eventstore.statistics() == stats
            assert statements.eventstore.statistics() == stats

    async def test_a_second_codec_for_one_aggregate_type_is_refused(self, tmp_path: Path) -> None:
        async with self.open_database(tmp_path) as database:
            accounts = database.event_store(ACCOUNTS)
            assert database.event_store(ACCOUNTS) is accounts
            other = bank_codec()
            with pytest.raises(ValueError, match="'bank_account' already has a store"):
                database.event_store(other)
            if self.has_writer:
                with pytest.raises(TypeError, match="codec must be a Codec"):
                    database.event_store("bank_account")

    async def test_two_systems_run_on_one_database(self, tmp_path: Path) -> None:
        async with (
            self.open_database(tmp_path) as database,
            open_bank(database.event_store(ACCOUNTS)) as accounts,
            open_bank(database.event_store(STATEMENTS)) as statements,
        ):
            assert await run(accounts, "acc-1", OpenAccount("acc-1")) == Ok(None)
            assert await run(statements, "acc-1", OpenAccount("acc-1")) == Ok(None)
            assert await run(accounts, "acc-1", DepositMoney(Decimal(7))) == Ok(None)
            account_events = await load(database.event_store(ACCOUNTS), "acc-1")
            statement_events = await load(database.event_store(STATEMENTS), "acc-1")
            assert [e.sequence for e in account_events] == [1, 2]
            assert [e.sequence for e in statement_events] == [1]

    # --- selections: projections and followers across aggregate types ----------------------

    async def test_a_projection_of_two_aggregate_types_sees_both_in_commit_order(
        self, tmp_path: Path
    ) -> None:
        seen: list[tuple[int, str, str]] = []

        def on_entry(entry: LogRecord[BankAccountEvent]) -> None:
            seen.append((entry.position, entry.aggregate_type, entry.envelope.aggregate_id))

        async with self.open_database(tmp_path) as database:
            accounts = database.event_store(ACCOUNTS)
            statements = database.event_store(STATEMENTS)
            both = projections.select(accounts) | projections.select(statements)
            assert both.aggregate_types == ("bank_account", "bank_statement")
            projection = projections.per_event("joined", on_entry, batch_size=2)
            handle, spec = projections.supervised(both, projection)
            async with static_supervisor.new(static_supervisor.OneForOne).add(spec).open():
                for n in range(3):
                    assert isinstance(await append(accounts, f"a-{n}", 0, [opened(f"a-{n}")]), Ok)
                    assert isinstance(await append(statements, "a-0", n, [opened("a-0")]), Ok)
                with trio.fail_after(WAIT_S):
                    await checkpointed(handle, 6)
            assert await projections.checkpoint(both, "joined") == Ok(6)
            # Kept under its name alone: no single aggregate type's projection has it.
            assert await projections.checkpoint(accounts, "joined") == Ok(None)
        assert [position for position, _, _ in seen] == sorted(p for p, _, _ in seen)
        assert len(seen) == 6
        assert [kind for _, kind, _ in seen] == ["bank_account", "bank_statement"] * 3

    async def test_only_the_selected_event_types_reach_the_handler(self, tmp_path: Path) -> None:
        async with self.open_database(tmp_path) as database:
            accounts = database.event_store(ACCOUNTS)
            statements = database.event_store(STATEMENTS)
            for n in range(3):
                assert isinstance(await append(accounts, "acc-1", n, [deposited(1, n + 1)]), Ok)
            assert isinstance(await append(accounts, "acc-2", 0, [opened("acc-2")]), Ok)
            assert isinstance(await append(statements, "acc-1", 0, [opened("acc-1")]), Ok)
            assert isinstance(await append(statements, "acc-1", 1, [deposited(1, 1)]), Ok)
            selection = projections.select(accounts).only(AccountOpened) | projections.select(
                statements
            ).only(CustomerDepositedCash)
            entries = await _follow(selection, 2)
            payloads = [(e.position, e.envelope.payload) for e in entries]
            assert payloads == [(4, opened("acc-2")), (6, deposited(1, 1))]
            deposits = projections.select(accounts).only(CustomerDepositedCash)
            assert [e.position for e in await _follow(deposits, 3)] == [1, 2, 3]

    async def test_events_left_out_by_the_selection_are_never_decoded(self, tmp_path: Path) -> None:
        if not self.has_writer:
            pytest.skip(f"{type(self).__name__} keeps events as objects: nothing to decode")
        counting = DecodeCounter(bank_codec("counted"))
        async with self.open_database(tmp_path) as database:
            counted = database.event_store(counting)
            assert isinstance(await append(counted, "acc-1", 0, [opened("acc-1")]), Ok)
            for n in range(1, 20):
                assert isinstance(await append(counted, "acc-1", n, [deposited(1, n)]), Ok)
            counting.decoded.clear()
            entries = await _follow(projections.select(counted).only(AccountOpened), 1)
            assert [e.position for e in entries] == [1]
            assert counting.decoded == ["AccountOpened"]

    async def test_a_projection_counts_its_lag_in_selected_events_only(
        self, tmp_path: Path
    ) -> None:
        async with self.open_database(tmp_path) as database:
            accounts = database.event_store(ACCOUNTS)
            statements = database.event_store(STATEMENTS)
            assert isinstance(await append(statements, "s-1", 0, [opened("s-1")]), Ok)
            for n in range(4):
                assert isinstance(await append(accounts, "acc-1", n, [deposited(1, n + 1)]), Ok)
            gate = trio.Event()

            async def on_entry(entry: LogRecord[object]) -> None:
                await gate.wait()

            selection = projections.select(statements) | projections.select(accounts).only(
                AccountOpened
            )
            projection = projections.per_event("opened", on_entry)
            handle, spec = projections.supervised(selection, projection)
            async with static_supervisor.new(static_supervisor.OneForOne).add(spec).open():
                with trio.fail_after(WAIT_S):
                    stats = await handle.wait_for(lambda s: s.state is ProjectionState.LIVE)
                # The deposits are after the checkpoint, but not selected.
                assert stats.lag == 1
                gate.set()
                with trio.fail_after(WAIT_S):
                    await handle.wait_for_position(1)

    async def test_a_projection_selecting_nothing_stored_moves_to_the_end_of_the_log(
        self, tmp_path: Path
    ) -> None:
        async with self.open_database(tmp_path) as database:
            accounts = database.event_store(ACCOUNTS)
            statements = database.event_store(STATEMENTS)
            for n in range(5):
                assert isinstance(await append(accounts, "acc-1", n, [deposited(1, n + 1)]), Ok)
            # Every page of this selection is empty: it reports where the log ends.
            handle, spec = projections.supervised(
                projections.select(statements), projections.per_event("none", _ignore)
            )
            async with static_supervisor.new(static_supervisor.OneForOne).add(spec).open():
                with trio.fail_after(WAIT_S):
                    await handle.wait_for_position(5)
                assert handle.statistics().handled == 0

    async def test_a_projection_moves_past_unselected_events_after_its_last_selected_one(
        self, tmp_path: Path
    ) -> None:
        async with self.open_database(tmp_path) as database:
            accounts = database.event_store(ACCOUNTS)
            assert isinstance(await append(accounts, "acc-1", 0, [opened("acc-1")]), Ok)
            for n in range(1, 6):
                assert isinstance(await append(accounts, "acc-1", n, [deposited(1, n)]), Ok)
            seen: list[int] = []

            def on_entry(entry: LogRecord[object]) -> None:
                seen.append(entry.position)

            # Pages of 2: a full page of selected events, then short ones ending the log.
            selection = projections.select(accounts).only(AccountOpened)
            projection = projections.per_event("opened", on_entry, batch_size=2)
            handle, spec = projections.supervised(selection, projection)
            async with static_supervisor.new(static_supervisor.OneForOne).add(spec).open():
                with trio.fail_after(WAIT_S):
                    await handle.wait_for_position(6)
            assert seen == [1]

    async def test_projections_of_one_name_on_two_aggregate_types_run_side_by_side(
        self, tmp_path: Path
    ) -> None:
        async with self.open_database(tmp_path) as database:
            accounts = database.event_store(ACCOUNTS)
            statements = database.event_store(STATEMENTS)
            assert isinstance(await append(accounts, "a", 0, [opened("a")]), Ok)
            assert isinstance(await append(statements, "s", 0, [opened("s")]), Ok)
            seen: dict[str, list[str]] = {"accounts": [], "statements": []}
            first, first_spec = projections.supervised(
                accounts,
                projections.per_event(
                    "tally", lambda e: seen["accounts"].append(e.envelope.aggregate_id)
                ),
            )
            second, second_spec = projections.supervised(
                statements,
                projections.per_event(
                    "tally", lambda e: seen["statements"].append(e.envelope.aggregate_id)
                ),
            )
            supervisor = static_supervisor.new(static_supervisor.OneForOne)
            async with supervisor.add(first_spec).add(second_spec).open():
                with trio.fail_after(WAIT_S):
                    await first.wait_for_position(1)
                    await second.wait_for_position(2)
        assert seen == {"accounts": ["a"], "statements": ["s"]}

    async def test_a_reset_of_a_selection_rebuilds_it(self, tmp_path: Path) -> None:
        handled: list[int] = []
        resets: list[int] = []
        async with self.open_database(tmp_path) as database:
            accounts = database.event_store(ACCOUNTS)
            statements = database.event_store(STATEMENTS)
            assert isinstance(await append(accounts, "a", 0, [opened("a")]), Ok)
            assert isinstance(await append(statements, "s", 0, [opened("s")]), Ok)
            both = projections.select(accounts) | projections.select(statements)
            projection: projections.Projection[LogRecord[BankAccountEvent], object]
            projection = projections.per_event(
                "rebuilt",
                lambda e: handled.append(e.position),
                on_reset=lambda: resets.append(len(handled)),
            )
            handle, spec = projections.supervised(both, projection)
            async with static_supervisor.new(static_supervisor.OneForOne).add(spec).open():
                with trio.fail_after(WAIT_S):
                    await checkpointed(handle, 2)
                assert await projections.reset(both, "rebuilt") == Ok(None)
                with trio.fail_after(WAIT_S):
                    await handle.wait_for(lambda s: s.handled == 4 and s.position == 2)
        assert handled == [1, 2, 1, 2]
        assert resets == [2]

    async def test_a_selection_refuses_what_it_cannot_read(self, tmp_path: Path) -> None:
        (tmp_path / "other").mkdir()
        async with (
            self.open_database(tmp_path) as database,
            self.open_database(tmp_path / "other") as other,
        ):
            accounts = projections.select(database.event_store(ACCOUNTS))
            statements = projections.select(database.event_store(STATEMENTS))
            with pytest.raises(ValueError, match="share one database"):
                _ = accounts | projections.select(other.event_store(STATEMENTS))
            with pytest.raises(ValueError, match="'bank_account' is selected twice"):
                _ = accounts | accounts.only(AccountOpened)
            with pytest.raises(TypeError, match="call it on each select"):
                (accounts | statements).only(AccountOpened)
            with pytest.raises(TypeError, match="narrowed already"):
                accounts.only(AccountOpened).only(AccountOpened)
            with pytest.raises(TypeError, match="at least one event class"):
                accounts.only()
            with pytest.raises(TypeError, match="takes event classes"):
                accounts.only("AccountOpened")  # type: ignore[call-overload]
            if self.has_writer:
                with pytest.raises(ValueError, match="not an event class of the aggregate type"):
                    accounts.only(BankAccount)
        with pytest.raises(TypeError, match="select\\(\\) takes a store"):
            projections.select("accounts")  # type: ignore[call-overload]


def _ignore(entry: LogRecord[object]) -> None:
    """A handler with nothing to do."""


async def _follow(
    selection: projections.LogSelection[Any, Any], count: int
) -> list[LogRecord[BankAccountEvent]]:
    """The first ``count`` entries of ``selection``, and no more within a short wait."""
    entries: list[LogRecord[BankAccountEvent]] = []
    async with projections.follow_log(selection, batch_size=2) as followed:
        with trio.fail_after(WAIT_S):
            async for entry in followed:
                entries.append(entry)
                if len(entries) == count:
                    break
    return entries


class DecodeCounter(Codec[BankAccountEvent, BankAccount]):
    """A codec that records the type name of every event it decodes."""

    def __init__(self, inner: JsonCodec[BankAccountEvent, BankAccount]) -> None:
        self._inner = inner
        self.decoded: list[str] = []

    @property
    def aggregate_type(self) -> str:
        return self._inner.aggregate_type

    def encode_event(self, event: BankAccountEvent) -> EncodedValue:
        return self._inner.encode_event(event)

    def decode_event(self, type_name: str, version: int, data: str) -> BankAccountEvent:
        self.decoded.append(type_name)
        return self._inner.decode_event(type_name, version, data)

    def encode_entity(self, entity: BankAccount) -> EncodedValue:
        return self._inner.encode_entity(entity)

    def decode_entity(self, type_name: str, version: int, data: str) -> BankAccount:
        return self._inner.decode_entity(type_name, version, data)

    def event_type_name(self, cls: type[object]) -> str:
        return self._inner.event_type_name(cls)
