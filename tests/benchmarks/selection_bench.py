"""A projection of one event type in three: ``select(store).only(...)`` beside the whole log.

Usage (from the repository): ``python -m tests.benchmarks.selection_bench [--quick]
[--rounds N] [--dir DIR]``. ``run.py`` (``nox -s bench``) runs :func:`catch_up` on SQLite
and PostgreSQL among its other measurements, each in a fresh process; this script runs
it alone.

The log: ``events`` events (``workload.selection_events``: 100,000, as the catch-up of
``projection_bench``; 20,000 with ``--quick``) of the bank account, in equal thirds: each
account opened, given a deposit, then a withdrawal (``events // 3`` accounts of three
events, so the three event types alternate along the log). Written straight to the
store, 300 accounts to a transaction: a fixture, not timed.

Measured on that one log, in rounds that alternate which goes first:

- **whole**: a ``per_event`` projection of ``projections.select(store)``, whose handler
  keeps the withdrawals (``isinstance``) and ignores the other two thirds;
- **only**: the same projection of ``projections.select(store).only(CustomerWithdrewCash)``,
  whose store query leaves the deposits and openings out.

Each catches up from position 0 to the end of the log (batches of 1,000, checkpoints
included, as ``projection_bench``'s catch-up): events per second of the *log covered*
(all ``events``, for both), the speed-up (whole's time over only's, per round), and the
events the store's codec decoded, counted by a :class:`CountingCodec` around the
``JsonCodec``. The target: the filtered projection catches up at least twice as fast,
decoding a third of the events.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import statistics
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import trio
from typing_extensions import override

import trio_eventsourcing as es
from tests.benchmarks.ours import Figures, Target
from tests.benchmarks.server import answering_dsn, schema_of
from tests.benchmarks.workload import sizes
from trio_eventsourcing import projections, sqlite_store, static_supervisor
from trio_eventsourcing.codec import Codec, EncodedValue, JsonCodec
from trio_eventsourcing.examples.bank_account import (
    AccountOpened,
    BankAccount,
    BankAccountEvent,
    CustomerDepositedCash,
    CustomerWithdrewCash,
)

BATCH = 1_000  # the projections' batch size, as projection_bench's
ACCOUNTS_PER_COMMIT = 300  # 900 events to a transaction when the log is written
SELECTED = CustomerWithdrewCash  # the one event class of three that `only` keeps


class CountingCodec(Codec[BankAccountEvent, BankAccount]):
    """A ``JsonCodec`` of the bank account that counts the events it decodes.

    Every member delegates to the ``JsonCodec``; ``event_type_name`` too, so that
    ``only()`` can name the stored types. SQLite decodes on its reader threads: the count
    is kept under a lock.
    """

    __slots__ = ("_decoded", "_inner", "_lock")

    def __init__(self) -> None:
        self._inner: JsonCodec[BankAccountEvent, BankAccount] = JsonCodec(
            events=[AccountOpened, CustomerDepositedCash, CustomerWithdrewCash],
            entities=[BankAccount],
            aggregate_type="bank_account",
        )
        self._decoded = 0
        self._lock = threading.Lock()

    @property
    def decoded(self) -> int:
        """Events decoded since the last :meth:`take`."""
        with self._lock:
            return self._decoded

    def take(self) -> int:
        """Events decoded since the last call; the count starts again from 0."""
        with self._lock:
            decoded, self._decoded = self._decoded, 0
        return decoded

    @property
    @override
    def aggregate_type(self) -> str:
        return self._inner.aggregate_type

    @override
    def encode_event(self, event: BankAccountEvent) -> EncodedValue:
        return self._inner.encode_event(event)

    @override
    def decode_event(self, type_name: str, version: int, data: str) -> BankAccountEvent:
        with self._lock:
            self._decoded += 1
        return self._inner.decode_event(type_name, version, data)

    @override
    def encode_entity(self, entity: BankAccount) -> EncodedValue:
        return self._inner.encode_entity(entity)

    @override
    def decode_entity(self, type_name: str, version: int, data: str) -> BankAccount:
        return self._inner.decode_entity(type_name, version, data)

    @override
    def event_type_name(self, cls: type[object]) -> str:
        return self._inner.event_type_name(cls)


BankStore = es.EventStore[Any, BankAccount, BankAccountEvent, Any]


def _account(index: int) -> tuple[str, list[BankAccountEvent]]:
    aggregate_id = f"acc-{index}"
    return aggregate_id, [
        AccountOpened(aggregate_id),
        CustomerDepositedCash(Decimal(10), Decimal(10)),
        CustomerWithdrewCash(Decimal(3), Decimal(7)),
    ]


async def write_log(store: BankStore, accounts: int) -> None:
    """``accounts`` accounts of three events each, ``ACCOUNTS_PER_COMMIT`` to a commit."""
    for first in range(0, accounts, ACCOUNTS_PER_COMMIT):
        batch = [
            _account(index) for index in range(first, min(first + ACCOUNTS_PER_COMMIT, accounts))
        ]

        async def body(tx: Any, batch: list[tuple[str, list[BankAccountEvent]]] = batch) -> Any:
            for aggregate_id, events in batch:
                committed = await store.commit_events(
                    tx, es.Aggregate(aggregate_id, BankAccount(), 0), events, [], None
                )
                if isinstance(committed, es.Error):
                    return committed
            return es.Ok(None)

        written = await store.execute_transaction(body)
        if isinstance(written, es.Error):
            raise RuntimeError(f"writing the log failed: {written.error!r}")


async def _catch_up(
    store: BankStore, codec: CountingCodec, name: str, filtered: bool, total: int
) -> tuple[float, int, int, int]:
    """Seconds to catch up from 0 to ``total``; events decoded, handled and kept."""
    handled = [0, 0]

    def on_event(entry: projections.LogRecord[BankAccountEvent]) -> None:
        handled[0] += 1
        if isinstance(entry.envelope.payload, SELECTED):
            handled[1] += 1

    selection = projections.select(store)
    if filtered:
        selection = selection.only(SELECTED)
    handle, spec = projections.supervised(
        selection, projections.per_event(name, on_event, batch_size=BATCH)
    )
    codec.take()
    started = time.perf_counter()
    async with static_supervisor.new(static_supervisor.OneForOne).add(spec).open():
        await handle.wait_for_position(total)
        elapsed = time.perf_counter() - started
    return elapsed, codec.take(), handled[0], handled[1]


def _open(target: Target, codec: CountingCodec) -> tuple[BankStore, Any]:
    if target.kind == "sqlite":
        return sqlite_store.supervised(target.location, codec, synchronous="FULL")
    if target.kind == "postgres":
        from trio_eventsourcing import postgres_store

        return postgres_store.supervised(target.dsn, codec, schema=target.location)
    raise ValueError(f"a selection is measured on SQLite or PostgreSQL, not {target.kind}")


def catch_up(target: Target, events: int, rounds: int) -> Figures:
    """The whole log's projection and the filtered one, ``rounds`` times each, alternated.

    Figures (medians over the rounds): ``whole_events_per_s`` and ``only_events_per_s``
    (events of the log covered per second), ``speedup`` (whole's seconds over only's, in
    each round), ``whole_decoded`` and ``only_decoded`` (events decoded by one catch-up;
    the largest over the rounds), ``events`` (the log's length).
    """
    codec = CountingCodec()
    accounts = events // 3
    total = accounts * 3

    async def main() -> Figures:
        seconds: dict[str, list[float]] = {"whole": [], "only": []}
        decoded: dict[str, list[int]] = {"whole": [], "only": []}
        store, spec = _open(target, codec)
        async with static_supervisor.new(static_supervisor.OneForOne).add(spec).open():
            await write_log(store, accounts)
            for number in range(rounds):
                order = ("whole", "only") if number % 2 == 0 else ("only", "whole")
                for kind in order:
                    elapsed, count, handled, kept = await _catch_up(
                        store, codec, f"{kind}-{number}", kind == "only", total
                    )
                    expected = total if kind == "whole" else accounts
                    if handled != expected or kept != accounts:
                        raise RuntimeError(
                            f"{kind}: the handler got {handled} events ({kept} withdrawals); "
                            f"expected {expected} ({accounts})"
                        )
                    seconds[kind].append(elapsed)
                    decoded[kind].append(count)
        ratios = [w / o for w, o in zip(seconds["whole"], seconds["only"], strict=True)]
        return {
            "whole_events_per_s": total / statistics.median(seconds["whole"]),
            "only_events_per_s": total / statistics.median(seconds["only"]),
            "speedup": statistics.median(ratios),
            "whole_decoded": float(max(decoded["whole"])),
            "only_decoded": float(max(decoded["only"])),
            "events": float(total),
        }

    return trio.run(main)


# --- alone ----------------------------------------------------------------------------


def main() -> None:
    """Parse the arguments, run on SQLite and PostgreSQL, print one line per store."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a reduced run")
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default: the workload's)")
    parser.add_argument("--dir", type=Path, default=None, help="where the SQLite file goes")
    args = parser.parse_args()
    workload = sizes(args.quick)
    events = workload.selection_events
    rounds = args.rounds or workload.selection_rounds
    root = Path(tempfile.mkdtemp(prefix="selection-bench-", dir=args.dir))
    dsn = answering_dsn()
    print(
        f"selection: one event type of three, {events // 3 * 3:,} events, "
        f"batches of {BATCH:,}, {rounds} rounds, pid {os.getpid()}"
    )
    try:
        targets = [Target("sqlite", str(root / "selection.db"))]
        if dsn is not None:
            targets.append(Target("postgres", f"trio_es_bench_sel_{secrets.token_hex(4)}", dsn))
        for target in targets:
            with schema_of(target.kind, target.location, target.dsn):
                figures = catch_up(target, events, rounds)
            print(format_line(target.kind, figures))
        if dsn is None:
            print("  postgres: not measured (no server answers at TRIO_ES_POSTGRES_DSN)")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def format_line(kind: str, figures: dict[str, float]) -> str:
    """One store's figures on one line."""
    return (
        f"  {kind:<8} whole {figures['whole_events_per_s']:>10,.0f} events/s, "
        f"decoded {figures['whole_decoded']:>8,.0f}   only() "
        f"{figures['only_events_per_s']:>10,.0f} events/s, decoded "
        f"{figures['only_decoded']:>8,.0f}   speed-up {figures['speedup']:.2f}x"
    )


if __name__ == "__main__":
    main()
