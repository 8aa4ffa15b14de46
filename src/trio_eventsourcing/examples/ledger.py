"""The demo's ledger: one read model of the accounts and the transfers, in the store's file.

A transactional projection over two aggregate types of one SQLite database::

    selection = projections.select(accounts) | projections.select(transfers)
    handle, spec = projections.supervised(selection, ledger.projection())

Its handler, :func:`record`, gets the store's connection inside the transaction that also
moves the projection's checkpoint, so each event changes the ledger's tables exactly once,
whatever stops the process:

``ledger_accounts``
    Each account's balance, the position of its last event, and the transfers completed
    out of it and into it. That is the join: a ``TransferCompleted`` names no account;
    they come from the transfer's row, written when it was requested.
``ledger_transfers``
    Each transfer's accounts, amount, status, and the position of its request.

The reads (:func:`read` with :func:`account`, :func:`accounts`, ...) open a read-only
connection of their own and block: run them in a worker thread
(``trio.to_thread.run_sync``), never on the Trio thread.

Example::

    handle, ledger_spec = projections.supervised(
        projections.select(accounts) | projections.select(transfers), ledger.projection()
    )
    ...
    await handle.wait_until_current()
    balances = await trio.to_thread.run_sync(ledger.read, path, ledger.accounts)
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TypeAlias, TypeVar

from typing_extensions import assert_never

from .. import projections, sqlite_store
from .bank_account import (
    AccountOpened,
    BankAccountEvent,
    CustomerDepositedCash,
    CustomerWithdrewCash,
)
from .transfers import (
    TransferCompleted,
    TransferEvent,
    TransferFailed,
    TransferRequested,
    TransferStatus,
)

NAME = "ledger"
"""The projection's name, under which its checkpoint is kept in the file."""

LedgerEntry: TypeAlias = sqlite_store.LogEntry[BankAccountEvent | TransferEvent]
"""What the ledger reads: the log entries of both aggregate types."""

ValueT = TypeVar("ValueT")

_TABLES = ("ledger_accounts", "ledger_transfers")
_CREATE = (
    "CREATE TABLE IF NOT EXISTS ledger_accounts ("
    " account_id TEXT PRIMARY KEY,"
    " balance TEXT NOT NULL,"  # a Decimal, exactly
    " position INTEGER NOT NULL,"
    " transfers_out INTEGER NOT NULL DEFAULT 0,"
    " transfers_in INTEGER NOT NULL DEFAULT 0)",
    "CREATE TABLE IF NOT EXISTS ledger_transfers ("
    " transfer_id TEXT PRIMARY KEY,"
    " from_account TEXT NOT NULL,"
    " to_account TEXT NOT NULL,"
    " amount TEXT NOT NULL,"
    " status TEXT NOT NULL,"
    " requested_at INTEGER NOT NULL)",
)
# The join: a completed transfer counts on its accounts, which its request named.
_COUNT_OUT = (
    "UPDATE ledger_accounts SET transfers_out = transfers_out + 1 WHERE account_id ="
    " (SELECT from_account FROM ledger_transfers WHERE transfer_id = ?)"
)
_COUNT_IN = (
    "UPDATE ledger_accounts SET transfers_in = transfers_in + 1 WHERE account_id ="
    " (SELECT to_account FROM ledger_transfers WHERE transfer_id = ?)"
)


@dataclass(frozen=True, slots=True)
class LedgerAccount:
    """One account as the ledger has it.

    Example::

        LedgerAccount("account-1", Decimal(5), position=42, transfers_out=1, transfers_in=0)
    """

    account_id: str
    balance: Decimal
    position: int
    """The position of the account's last event in the log."""
    transfers_out: int
    transfers_in: int


@dataclass(frozen=True, slots=True)
class LedgerTransfer:
    """One transfer as the ledger has it.

    Example::

        LedgerTransfer("transfer-1", "account-1", "account-2", Decimal(5),
                       TransferStatus.REQUESTED, requested_at=43)
    """

    transfer_id: str
    from_account: str
    to_account: str
    amount: Decimal
    status: TransferStatus
    requested_at: int
    """The position of its ``TransferRequested`` event in the log."""


def projection() -> projections.Projection[LedgerEntry, sqlite3.Connection]:
    """The ledger's projection, for ``projections.supervised`` on the two types' selection.

    Example::

        handle, spec = projections.supervised(
            projections.select(accounts) | projections.select(transfers), projection()
        )
    """
    return projections.transactional(NAME, record, on_reset=clear)


def record(db: sqlite3.Connection, entries: Sequence[LedgerEntry]) -> None:
    """Apply a batch of log entries to the ledger's tables (in the checkpoint's transaction).

    Example::

        record(connection, entries)  # as the projection calls it, on the store's writer
    """
    for statement in _CREATE:
        db.execute(statement)
    for entry in entries:
        envelope = entry.envelope
        aggregate_id, position = envelope.aggregate_id, entry.position
        match envelope.payload:
            case AccountOpened():
                db.execute(
                    "INSERT INTO ledger_accounts (account_id, balance, position) VALUES (?, ?, ?)",
                    (aggregate_id, "0", position),
                )
            case (
                CustomerDepositedCash(new_balance=balance)
                | CustomerWithdrewCash(new_balance=balance)
            ):
                db.execute(
                    "UPDATE ledger_accounts SET balance = ?, position = ? WHERE account_id = ?",
                    (str(balance), position, aggregate_id),
                )
            case TransferRequested(from_account, to_account, amount):
                db.execute(
                    "INSERT INTO ledger_transfers VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        aggregate_id,
                        from_account,
                        to_account,
                        str(amount),
                        TransferStatus.REQUESTED.value,
                        position,
                    ),
                )
            case TransferCompleted():
                _set_status(db, aggregate_id, TransferStatus.COMPLETED)
                db.execute(_COUNT_OUT, (aggregate_id,))
                db.execute(_COUNT_IN, (aggregate_id,))
            case TransferFailed():
                _set_status(db, aggregate_id, TransferStatus.FAILED)
            case _:
                assert_never(envelope.payload)


def clear(db: sqlite3.Connection) -> None:
    """Drop the ledger's tables, for a rebuild (``projections reset``); the next batch makes them.

    Example::

        clear(connection)  # as the projection calls it, when a reset is pending
    """
    for table in _TABLES:
        db.execute(f"DROP TABLE IF EXISTS {table}")


def read(path: str, query: Callable[[sqlite3.Connection], ValueT]) -> ValueT:
    """Run ``query`` on a read-only connection to the file at ``path`` (blocking).

    Example::

        balances = await trio.to_thread.run_sync(read, path, accounts)
    """
    connection = sqlite3.connect(f"{Path(path).absolute().as_uri()}?mode=ro", uri=True)
    with contextlib.closing(connection):
        return query(connection)


def account(account_id: str) -> Callable[[sqlite3.Connection], LedgerAccount | None]:
    """The query of one account's row, or ``None`` if the ledger has no such account.

    Example::

        row = await trio.to_thread.run_sync(read, path, account("account-0"))
    """

    def query(db: sqlite3.Connection) -> LedgerAccount | None:
        if not _has_tables(db):
            return None
        row = db.execute(
            "SELECT * FROM ledger_accounts WHERE account_id = ?", (account_id,)
        ).fetchone()
        return None if row is None else _account(row)

    return query


def accounts(db: sqlite3.Connection) -> dict[str, LedgerAccount]:
    """Every account in the ledger, by id.

    Example::

        balances = await trio.to_thread.run_sync(read, path, accounts)
    """
    if not _has_tables(db):
        return {}
    rows = db.execute("SELECT * FROM ledger_accounts").fetchall()
    return {row[0]: _account(row) for row in rows}


def transfers(
    *, status: TransferStatus | None = None, requested_after: int = 0
) -> Callable[[sqlite3.Connection], dict[str, LedgerTransfer]]:
    """The query of the transfers requested after a position, of one status or all.

    Example::

        pending = await trio.to_thread.run_sync(
            read, path, transfers(status=TransferStatus.REQUESTED)
        )
    """

    def query(db: sqlite3.Connection) -> dict[str, LedgerTransfer]:
        if not _has_tables(db):
            return {}
        sql = "SELECT * FROM ledger_transfers WHERE requested_at > ?"
        parameters: tuple[object, ...] = (requested_after,)
        if status is not None:
            sql += " AND status = ?"
            parameters += (status.value,)
        rows = db.execute(sql, parameters).fetchall()
        return {
            row[0]: LedgerTransfer(
                row[0], row[1], row[2], Decimal(row[3]), TransferStatus(row[4]), row[5]
            )
            for row in rows
        }

    return query


def transfer_counts(db: sqlite3.Connection) -> dict[TransferStatus, int]:
    """How many transfers the ledger has of each status (every status, 0 included).

    Example::

        counts = await trio.to_thread.run_sync(read, path, transfer_counts)
    """
    counts = dict.fromkeys(TransferStatus, 0)
    if _has_tables(db):
        for status, count in db.execute(
            "SELECT status, count(*) FROM ledger_transfers GROUP BY status"
        ):
            counts[TransferStatus(status)] = count
    return counts


def last_number(prefix: str) -> Callable[[sqlite3.Connection], int]:
    """The query of the highest ``N`` of the transfers named ``{prefix}N`` (0 if none).

    Example::

        last = await trio.to_thread.run_sync(read, path, last_number("transfer-"))
    """

    def query(db: sqlite3.Connection) -> int:
        if not _has_tables(db):
            return 0
        ((last,),) = db.execute(
            "SELECT max(CAST(substr(transfer_id, ?) AS INTEGER)) FROM ledger_transfers"
            " WHERE substr(transfer_id, 1, ?) = ?",
            (len(prefix) + 1, len(prefix), prefix),
        ).fetchall()
        return 0 if last is None else int(last)

    return query


def _set_status(db: sqlite3.Connection, transfer_id: str, status: TransferStatus) -> None:
    db.execute(
        "UPDATE ledger_transfers SET status = ? WHERE transfer_id = ?", (status.value, transfer_id)
    )


def _account(row: tuple[str, str, int, int, int]) -> LedgerAccount:
    account_id, balance, position, transfers_out, transfers_in = row
    return LedgerAccount(account_id, Decimal(balance), position, transfers_out, transfers_in)


def _has_tables(db: sqlite3.Connection) -> bool:
    # The first batch the projection handles makes them: a file with no events has none.
    found = db.execute(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN (?, ?)", _TABLES
    ).fetchone()
    return bool(found[0] == len(_TABLES))
