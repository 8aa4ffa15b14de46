"""Read-your-writes: ``execute_and_wait`` with a live projection, beside a plain command.

Usage (from the repository): ``python -m tests.benchmarks.consistency_bench [--quick]
[--dir DIR]``. ``run.py`` (``nox -s bench``) runs :func:`read_your_writes` on each store
among its other measurements, each in a fresh process; this script runs it alone on the
memory store, SQLite and PostgreSQL.

One store, an event-sourcing system of the bank account and a live ``per_event``
projection (batches of 1,000, its handler keeps each account's balance), all three under
one supervisor. One sequential client then sends ``commands`` deposits of each kind
(``workload.consistency_commands``: 2,000; 300 with ``--quick``), in blocks of ``block``
that alternate (and swap which goes first each round), to a few cached accounts:

- **and_wait**: ``await execute_and_wait(actor, account, DepositMoney(...),
  consistency=[handle])``: the command, its receipt, then the projection up to it;
- **plain**: ``execute_with_response`` and ``process.receive`` of its answer: the command
  alone (the projection still runs, woken by every commit).

Figures: p50 and p99 of each kind's latency (milliseconds), and, for ``and_wait``, the
part after the projection's handler saw the event (``after_handler``: the checkpoint
write that follows each batch, and the wake-up). Every receipt is checked: one position
per deposit, that position holding this command's event (its aggregate and the
receipt's sequence, as the projection saw it), handled before ``execute_and_wait``
returned, and positions increasing from command to command. ``receipts_wrong`` counts
those that failed (0 expected); ``receipts_checked`` those checked.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import trio

import trio_eventsourcing as es
from tests.benchmarks.ours import (
    CODEC,
    WITHIN_MS,
    AnyStore,
    BankActor,
    BankMessage,
    Figures,
    Target,
    command,
)
from tests.benchmarks.server import answering_dsn, schema_of
from tests.benchmarks.workload import sizes
from trio_eventsourcing import memory_store, process, projections, sqlite_store, static_supervisor
from trio_eventsourcing.examples.bank_account import (
    BankAccount,
    BankAccountEvent,
    CustomerDepositedCash,
    DepositMoney,
    OpenAccount,
    apply,
    handle,
)

ACCOUNTS = 4  # the client's deposits go round robin over these (cached) accounts
BATCH = 1_000


def _store(target: Target) -> tuple[AnyStore, Any]:
    """The store of ``target`` and its child specification."""
    if target.kind == "memory":
        events: process.Name[memory_store.GetEvents[BankAccountEvent]] = process.new_name("events")
        snapshots: process.Name[memory_store.GetSnapshot[BankAccount]] = process.new_name("snaps")
        return memory_store.supervised(events, snapshots, static_supervisor.OneForOne)
    if target.kind == "sqlite":
        # The durability of the other SQLite measurements (ours.open_store).
        return sqlite_store.supervised(target.location, CODEC, synchronous="FULL")
    from trio_eventsourcing import postgres_store

    return postgres_store.supervised(target.dsn, CODEC, schema=target.location)


@asynccontextmanager
async def _running(
    target: Target, on_event: projections.EventHandler[Any]
) -> AsyncIterator[tuple[BankActor, projections.ProjectionHandle]]:
    """The store, the system and the projection, started under one supervisor."""
    store, store_spec = _store(target)
    name: process.Name[BankMessage] = process.new_name("bank")
    system_spec = es.supervised(
        name, store, handle, apply, BankAccount(), [], None, load_timeout=WITHIN_MS / 1000
    ).unwrap()
    projection_handle, projection_spec = projections.supervised(
        store, projections.per_event("read-your-writes", on_event, batch_size=BATCH)
    )
    supervisor = (
        static_supervisor.new(static_supervisor.OneForOne)
        .add(store_spec)
        .add(system_spec)
        .add(projection_spec)
    )
    async with supervisor.open():
        yield process.named_subject(name), projection_handle


def _percentile(values: list[float], percent: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[percent - 1]


def read_your_writes(target: Target, commands: int, block: int) -> Figures:
    """Latencies (ms) of ``commands`` ``execute_and_wait`` and ``commands`` plain commands.

    Figures: ``and_wait_p50_ms``, ``and_wait_p99_ms``, ``plain_p50_ms``,
    ``plain_p99_ms``, ``after_handler_p50_ms``, ``after_handler_p99_ms``,
    ``receipts_checked``, ``receipts_wrong`` (see the module's docstring).
    """
    balances: dict[str, Decimal] = {}
    # What the projection saw: position -> (aggregate, sequence), and when.
    seen: dict[int, tuple[str, int]] = {}
    seen_at: dict[int, float] = {}

    def on_event(entry: projections.LogRecord[BankAccountEvent]) -> None:
        envelope = entry.envelope
        seen[entry.position] = (envelope.aggregate_id, envelope.sequence)
        seen_at[entry.position] = time.perf_counter()
        if isinstance(envelope.payload, CustomerDepositedCash):
            balances[envelope.aggregate_id] = envelope.payload.new_balance

    async def main() -> Figures:
        and_wait: list[float] = []
        plain: list[float] = []
        after_handler: list[float] = []
        wrong: list[str] = []
        ids = [f"ryw-{index}" for index in range(ACCOUNTS)]
        async with _running(target, on_event) as (actor, handle_):
            last_position = 0
            for account_id in ids:
                await command(actor, account_id, OpenAccount(account_id))
            counter = 0

            async def waited(count: int) -> None:
                nonlocal counter, last_position
                for _ in range(count):
                    account_id = ids[counter % ACCOUNTS]
                    counter += 1
                    started = time.perf_counter()
                    with trio.fail_after(WITHIN_MS / 1000):
                        outcome = await es.execute_and_wait(
                            actor, account_id, DepositMoney(Decimal(1)), consistency=[handle_]
                        )
                    returned = time.perf_counter()
                    and_wait.append((returned - started) * 1000)
                    if not isinstance(outcome, es.Ok):
                        raise RuntimeError(f"execute_and_wait failed: {outcome!r}")
                    receipt = outcome.value
                    problem = _check(receipt, account_id, seen, last_position)
                    if problem is not None:
                        wrong.append(problem)
                    else:
                        after_handler.append((returned - seen_at[receipt.position]) * 1000)
                    last_position = max(last_position, receipt.position)

            async def plainly(count: int) -> None:
                nonlocal counter
                for _ in range(count):
                    account_id = ids[counter % ACCOUNTS]
                    counter += 1
                    started = time.perf_counter()
                    await command(actor, account_id, DepositMoney(Decimal(1)))
                    plain.append((time.perf_counter() - started) * 1000)

            # Warm-up: every account cached, the projection live.
            await waited(ACCOUNTS)
            await plainly(ACCOUNTS)
            and_wait.clear()
            plain.clear()
            after_handler.clear()
            for number in range(max(1, commands // block)):
                first, second = (waited, plainly) if number % 2 == 0 else (plainly, waited)
                await first(block)
                await second(block)
        if wrong:
            print(f"receipts: {len(wrong)} wrong, the first: {wrong[0]}", flush=True)
        checked = len(and_wait)
        return {
            "and_wait_p50_ms": _percentile(and_wait, 50),
            "and_wait_p99_ms": _percentile(and_wait, 99),
            "plain_p50_ms": _percentile(plain, 50),
            "plain_p99_ms": _percentile(plain, 99),
            "after_handler_p50_ms": _percentile(after_handler, 50) if after_handler else -1.0,
            "after_handler_p99_ms": _percentile(after_handler, 99) if after_handler else -1.0,
            "receipts_checked": float(checked),
            "receipts_wrong": float(len(wrong)),
            "commands": float(checked + len(plain)),
        }

    return trio.run(main)


def _check(
    receipt: es.Receipt, account_id: str, seen: dict[int, tuple[str, int]], after: int
) -> str | None:
    """Why ``receipt`` of one deposit to ``account_id`` is wrong, or ``None``."""
    if receipt.aggregate_id != account_id or receipt.already_stored:
        return f"{receipt!r}: not this command's receipt"
    if len(receipt.positions) != 1 or receipt.sequence is None:
        return f"{receipt!r}: one deposit, one event expected"
    if receipt.position <= after:
        return f"{receipt!r}: not after the previous command's position {after}"
    held = seen.get(receipt.position)
    if held is None:
        return f"{receipt!r}: the projection had not handled its position on return"
    if held != (account_id, receipt.sequence):
        return f"{receipt!r}: its position holds {held}, not ({account_id!r}, {receipt.sequence})"
    return None


# --- alone ----------------------------------------------------------------------------


def format_line(kind: str, figures: dict[str, float]) -> str:
    """One store's figures on one line."""
    return (
        f"  {kind:<8} execute_and_wait p50 {figures['and_wait_p50_ms']:7.3f} ms  p99 "
        f"{figures['and_wait_p99_ms']:7.3f} ms   plain p50 {figures['plain_p50_ms']:7.3f} ms  "
        f"p99 {figures['plain_p99_ms']:7.3f} ms   after the handler p50 "
        f"{figures['after_handler_p50_ms']:6.3f} ms   receipts "
        f"{figures['receipts_checked'] - figures['receipts_wrong']:,.0f}/"
        f"{figures['receipts_checked']:,.0f} right"
    )


def main() -> None:
    """Parse the arguments, run on each store, print one line per store."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a reduced run")
    parser.add_argument("--dir", type=Path, default=None, help="where the SQLite file goes")
    args = parser.parse_args()
    workload = sizes(args.quick)
    commands, block = workload.consistency_commands, workload.consistency_block
    root = Path(tempfile.mkdtemp(prefix="consistency-bench-", dir=args.dir))
    dsn = answering_dsn()
    print(
        f"read-your-writes: {commands:,} execute_and_wait and {commands:,} plain commands, "
        f"1 sequential client, blocks of {block}, pid {os.getpid()}"
    )
    try:
        targets = [Target("memory"), Target("sqlite", str(root / "consistency.db"))]
        if dsn is not None:
            targets.append(Target("postgres", f"trio_es_bench_ryw_{secrets.token_hex(4)}", dsn))
        for target in targets:
            with schema_of(target.kind, target.location, target.dsn):
                figures = read_your_writes(target, commands, block)
            print(format_line(target.kind, figures))
        if dsn is None:
            print("  postgres: not measured (no server answers at TRIO_ES_POSTGRES_DSN)")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
