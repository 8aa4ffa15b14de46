"""The Python peer, the ``eventsourcing`` package, on the same workload.

The peer's API is synchronous, so its "concurrent clients" run one after another: its
best case on one thread (threads would only add GIL and lock contention).
"""

from __future__ import annotations

import os
import time
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from workload import Workload, account_ids


class PeerAccount(Aggregate):  # type: ignore[misc]
    """The bank account in the peer's style."""

    @event("Opened")  # type: ignore[untyped-decorator]
    def __init__(self, account_id: str) -> None:
        self.account_id = account_id
        self.balance = Decimal(0)

    @event("Deposited")  # type: ignore[untyped-decorator]
    def deposit(self, amount: Decimal) -> None:
        if amount <= 0:
            raise ValueError("amount must be positive")
        self.balance += amount


class PeerBank(Application):  # type: ignore[misc]
    """The peer's application service for the bank."""

    def open(self, account_id: str) -> UUID:
        account = PeerAccount(account_id)
        self.save(account)
        result: UUID = account.id
        return result

    def deposit(self, account_id: UUID, amount: Decimal) -> None:
        account = self.repository.get(account_id)
        account.deposit(amount)
        self.save(account)


def _app(env: dict[str, str], snapshot_every: int | None = None) -> PeerBank:
    if snapshot_every is not None:
        PeerBank.snapshotting_intervals = {PeerAccount: snapshot_every}
    else:
        PeerBank.snapshotting_intervals = {}
    return PeerBank(env=env)


def popo_env() -> dict[str, str]:
    """The peer's in-memory (POPO) persistence: its default."""
    return {"PERSISTENCE_MODULE": "eventsourcing.popo"}


def sqlite_env(path: str) -> dict[str, str]:
    """The peer's SQLite recorder on a file (it switches the file to WAL itself)."""
    return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": path}


def w1(workload: Workload, env: dict[str, str], run: str) -> float:
    """Commands per second for W1 (every client in turn: the peer is synchronous)."""
    app = _app(env)
    try:
        started = time.perf_counter()
        for account_id in account_ids(workload, run):
            uuid = app.open(account_id)
            for _ in range(workload.deposits):
                app.deposit(uuid, Decimal(10))
        elapsed = time.perf_counter() - started
    finally:
        app.close()
    return workload.commands / elapsed


def w2(workload: Workload, env: dict[str, str], snapshot_every: int | None) -> float:
    """Seconds for a load of one aggregate with ``replay_events`` events."""
    app = _app(env, snapshot_every)
    try:
        uuid = app.open("replayed")
        account: Any = app.repository.get(uuid)
        for _ in range(workload.replay_events - 1):
            account.deposit(Decimal(1))
            app.save(account)
        started = time.perf_counter()
        loaded: Any = app.repository.get(uuid)
        elapsed = time.perf_counter() - started
        if loaded.version != workload.replay_events:
            raise RuntimeError(f"the peer replayed {loaded.version} events")
    finally:
        app.close()
    return elapsed


def version() -> str:
    """The peer's version, for the report."""
    from importlib.metadata import version as dist_version

    return dist_version("eventsourcing")


def cleanup(path: str) -> None:
    """Remove a peer SQLite file and its WAL companions."""
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
