"""Projections: catch-up throughput and commit-to-handler latency, beside the peer's log reads.

Usage (from the repository): ``python -m tests.benchmarks.projection_bench [--quick]
[--dir DIR]``; :func:`run` returns the figures to a caller. Measured:

- **Catch-up**: a projection started on a store that already holds ``events`` events
  (100,000; 20,000 with ``--quick``), from position 0 to the last: events per second,
  checkpoints included. ``per_event`` with a handler that only counts, ``per_batch``,
  and on the disk stores ``transactional`` (the handler runs in the checkpoint's
  transaction, on the writer thread). Batches of 1,000. Each style's catch-ups and the
  peer's reads take turns on one store each, in :data:`CATCH_UPS` rounds.
- **The peer** (the PyPI ``eventsourcing`` package, when installed): its notification
  log read whole, in pages of 1,000, each notification decoded to a domain event
  (``recorder.select_notifications`` + ``mapper.to_domain_event``), on the same kind of
  store: POPO for memory, a SQLite file for SQLite. It has no projection runner of its
  own that keeps a checkpoint in the store, so its raw log read rate is the bar.
- **Latency**: under a steady write load (``rate`` commits per second from 10 tasks,
  one event per commit), the time from a commit being acknowledged to its writer to the
  projection's handler seeing the event (p50/p99, milliseconds; 0 when the handler ran
  first, woken by the same callback), and from the commit being requested (the commit's
  own fsync included).

Files go to ``--dir`` (default: a temporary directory): on tmpfs an fsync costs nothing.
PostgreSQL is measured too when the server ``TRIO_ES_POSTGRES_DSN`` names (default
``postgresql://postgres@127.0.0.1:5432/test``) answers, each side in a schema of its own,
dropped afterwards.
"""

from __future__ import annotations

import argparse
import functools
import os
import secrets
import shutil
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import ExitStack, asynccontextmanager, contextmanager
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import trio

from tests.benchmarks.server import postgres_dsn
from trio_eventsourcing import (
    Aggregate,
    Error,
    EventStore,
    Ok,
    StoreResult,
    memory_store,
    postgres_store,
    process,
    projections,
    sqlite_store,
    static_supervisor,
)
from trio_eventsourcing.codec import JsonCodec
from trio_eventsourcing.examples.bank_account import (
    AccountOpened,
    BankAccount,
    BankAccountEvent,
    CustomerDepositedCash,
    CustomerWithdrewCash,
)

BankStore = EventStore[Any, BankAccount, BankAccountEvent, Any]
CODEC: JsonCodec[BankAccountEvent, BankAccount] = JsonCodec(
    events=[AccountOpened, CustomerDepositedCash, CustomerWithdrewCash],
    entities=[BankAccount],
    aggregate_type="bank_account",
)
ACCOUNTS = 100
PER_COMMIT = 100
BATCH = 1_000
CATCH_UPS = 5
"""Rounds of catch-ups (one of each style) and reads of the peer's log, taking turns; the
medians are reported, as one catch-up of half a second on a shared machine varied by half
from run to run, and a slow minute of the machine must not fall on one side alone."""
WRITERS = 10


def _dsn() -> str:
    return postgres_dsn()


def _postgres_problem() -> str | None:
    """Why PostgreSQL cannot be measured, or ``None``."""
    if os.environ.get("TRIO_ES_BENCH_SKIP_POSTGRES"):
        return "left out by run.py --stores"
    try:
        import psycopg
    except ImportError as exc:
        return f"psycopg is not installed ({exc})"
    try:
        with psycopg.connect(_dsn(), connect_timeout=3) as connection:
            connection.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"no server answers at TRIO_ES_POSTGRES_DSN ({type(exc).__name__})"
    return None


def _drop_schema(schema: str) -> None:
    import psycopg

    with psycopg.connect(_dsn(), autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _peer() -> ModuleType | None:
    try:
        from tests.benchmarks import peer
    except ImportError:
        return None
    return peer


# --- this library -----------------------------------------------------------------------


@asynccontextmanager
async def _store(kind: str, path: Path) -> AsyncIterator[BankStore]:
    spec: Any
    store: BankStore
    if kind == "memory":
        events: process.Name[memory_store.GetEvents[BankAccountEvent]] = process.new_name("e")
        snapshots: process.Name[memory_store.GetSnapshot[BankAccount]] = process.new_name("s")
        store, spec = memory_store.supervised(events, snapshots, static_supervisor.OneForOne)
    elif kind == "postgres":
        # `path`'s name is the schema.
        store, spec = postgres_store.supervised(_dsn(), CODEC, schema=path.name)
    else:
        store, spec = sqlite_store.supervised(path, CODEC)
    async with static_supervisor.new(static_supervisor.OneForOne).add(spec).open():
        yield store


async def _append(
    store: BankStore, aggregate_id: str, after: int, events: list[BankAccountEvent]
) -> None:
    async def body(tx: object) -> StoreResult[None]:
        committed = await store.commit_events(
            tx, Aggregate(aggregate_id, BankAccount(), after), events, [], None
        )
        return committed if isinstance(committed, Error) else Ok(None)

    result = await store.execute_transaction(body)
    if isinstance(result, Error):
        raise RuntimeError(f"a commit failed: {result.error}")


async def _fill(store: BankStore, events: int) -> None:
    """``events`` events over ``ACCOUNTS`` accounts, ``PER_COMMIT`` to a commit."""
    per_account = events // ACCOUNTS

    async def account(index: int) -> None:
        aggregate_id = f"acc-{index}"
        written = 0
        while written < per_account:
            count = min(PER_COMMIT, per_account - written)
            batch: list[BankAccountEvent] = [
                AccountOpened(aggregate_id)
                if written + n == 0
                else CustomerDepositedCash(Decimal(1), Decimal(written + n))
                for n in range(count)
            ]
            await _append(store, aggregate_id, written, batch)
            written += count

    async with trio.open_nursery() as nursery:
        for index in range(ACCOUNTS):
            nursery.start_soon(account, index)


def catch_ups(
    kind: str,
    styles: Sequence[str],
    events: int,
    path: Path,
    peer_read: Callable[[], tuple[int, float]] | None,
) -> tuple[dict[str, float], float | None]:
    """Events per second of projections of each of ``styles`` catching up from 0 on
    ``events`` events, and of ``peer_read`` (the peer's whole log read), alternated.

    :data:`CATCH_UPS` rounds on one store: in each, a new projection of each style (a name
    of its own) catches up on the whole log, then the peer reads its log once. The two
    sides take turns so that a slower minute of a shared machine slows both alike. The
    medians are returned: by style, and the peer's (``None`` without ``peer_read``).
    """

    async def main() -> tuple[dict[str, float], float | None]:
        rates: dict[str, list[float]] = {style: [] for style in styles}
        peer_rates: list[float] = []
        async with _store(kind, path) as store:
            await _fill(store, events)
            total = events // ACCOUNTS * ACCOUNTS
            for round_ in range(CATCH_UPS):
                for style in styles:
                    name = f"bench-{style}-{round_}"
                    rates[style].append(await _catch_up_once(store, style, name, total))
                if peer_read is not None:
                    # Synchronous, as the peer is: nothing else runs meanwhile.
                    count, seconds = peer_read()
                    if count != total:
                        raise RuntimeError(f"the peer read {count} notifications of {total}")
                    peer_rates.append(count / seconds)
        medians = {style: statistics.median(found) for style, found in rates.items()}
        return medians, statistics.median(peer_rates) if peer_rates else None

    return trio.run(main)


async def _catch_up_once(store: BankStore, style: str, name: str, total: int) -> float:
    seen = [0]

    def on_event(entry: object) -> None:
        seen[0] += 1

    def on_batch(entries: Sequence[object]) -> None:
        seen[0] += len(entries)

    def in_transaction(connection: object, entries: Sequence[object]) -> None:
        seen[0] += len(entries)

    projection: projections.Projection[Any, Any]
    if style == "per_event":
        projection = projections.per_event(name, on_event, batch_size=BATCH)
    elif style == "per_batch":
        projection = projections.per_batch(name, on_batch, batch_size=BATCH)
    else:
        projection = projections.transactional(name, in_transaction, batch_size=BATCH)
    handle, spec = projections.supervised(store, projection)
    started = time.perf_counter()
    async with static_supervisor.new(static_supervisor.OneForOne).add(spec).open():
        await handle.wait_for_position(total)
        elapsed = time.perf_counter() - started
    if seen[0] != total:
        raise RuntimeError(f"the projection {name!r} handled {seen[0]} events of {total}")
    return total / elapsed


def latency(kind: str, rate: int, seconds: float, path: Path) -> dict[str, float]:
    """p50/p99 milliseconds from commit (acknowledged; requested) to the handler."""

    async def main() -> dict[str, float]:
        requested: dict[tuple[str, int], float] = {}
        acknowledged: dict[tuple[str, int], float] = {}
        seen: dict[tuple[str, int], float] = {}

        def on_event(entry: projections.LogRecord[BankAccountEvent]) -> None:
            seen[(entry.envelope.aggregate_id, entry.envelope.sequence)] = time.perf_counter()

        async with _store(kind, path) as store:
            handle, spec = projections.supervised(
                store, projections.per_event("latency", on_event, batch_size=BATCH)
            )
            async with static_supervisor.new(static_supervisor.OneForOne).add(spec).open():
                commits = int(rate * seconds) // WRITERS
                interval = WRITERS / rate

                async def writer(index: int) -> None:
                    aggregate_id = f"live-{index}"
                    deadline = trio.current_time()
                    for sequence in range(1, commits + 1):
                        deadline += interval
                        event: BankAccountEvent = (
                            AccountOpened(aggregate_id)
                            if sequence == 1
                            else CustomerDepositedCash(Decimal(1), Decimal(sequence))
                        )
                        key = (aggregate_id, sequence)
                        requested[key] = time.perf_counter()
                        await _append(store, aggregate_id, sequence - 1, [event])
                        acknowledged[key] = time.perf_counter()
                        await trio.sleep_until(deadline)

                async with trio.open_nursery() as nursery:
                    for index in range(WRITERS):
                        nursery.start_soon(writer, index)
                with trio.fail_after(30):
                    await handle.wait_for_position(commits * WRITERS)
        after_ack = sorted(max(0.0, seen[k] - acknowledged[k]) * 1000 for k in acknowledged)
        after_request = sorted((seen[k] - requested[k]) * 1000 for k in requested)
        return {
            "ack_p50_ms": _percentile(after_ack, 50),
            "ack_p99_ms": _percentile(after_ack, 99),
            "request_p50_ms": _percentile(after_request, 50),
            "request_p99_ms": _percentile(after_request, 99),
            "commits": float(len(after_ack)),
        }

    return trio.run(main)


def _percentile(values: list[float], percent: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[percent - 1]


# --- the peer ---------------------------------------------------------------------------


@contextmanager
def peer_log(peer: ModuleType, kind: str, events: int, path: Path) -> Iterator[Any]:
    """The peer's application on ``kind``'s store, holding ``events`` events written as
    ours are; closed (and its schema dropped by the caller) afterwards."""
    if kind == "postgres":
        import psycopg

        with psycopg.connect(_dsn(), autocommit=True) as connection:
            connection.execute(f'CREATE SCHEMA "{path.name}"')
        target = peer.PeerTarget("postgres", path.name, _dsn())
    else:
        target = peer.PeerTarget("popo" if kind == "memory" else "sqlite", str(path))
    app = peer.PeerBank(env=peer.environment(target))
    try:
        per_account = events // ACCOUNTS
        for index in range(ACCOUNTS):
            uuid = app.open(f"acc-{index}")
            account: Any = app.repository.get(uuid)
            for number in range(2, per_account + 1):
                account.deposit(Decimal(1))
                if number % PER_COMMIT == 0 or number == per_account:
                    app.save(account)
        yield app
    finally:
        app.close()


CATCH_UP_TARGET = 1.5
"""A catch-up against the peer's bare log read (issue 16), on the disk stores' styles:"""
CATCH_UP_TARGETS = {
    (kind, style) for kind in ("sqlite", "postgres") for style in ("per_event", "transactional")
}

# --- the run ----------------------------------------------------------------------------


def run(quick: bool, directory: Path | None = None) -> dict[str, float]:
    """Measure everything once; return the figures.

    Keys: ``ours_<store>_<style>_catchup`` and ``peer_<store>_log_read`` (events/s),
    ``ratio_<store>_<style>`` (ours over the peer's read rate, when it is installed),
    ``ours_<store>_latency_<ack|request>_<p50|p99>_ms``.
    """
    events = 20_000 if quick else 100_000
    rate, seconds = (200, 1.0) if quick else (500, 4.0)
    peer = _peer()
    root = Path(tempfile.mkdtemp(prefix="projection-bench-", dir=directory))
    figures: dict[str, float] = {}
    stores: list[tuple[str, tuple[str, ...]]] = [
        ("memory", ("per_event", "per_batch")),
        ("sqlite", ("per_event", "per_batch", "transactional")),
    ]
    if _postgres_problem() is None:
        stores.append(("postgres", ("per_event", "per_batch", "transactional")))
    tag = secrets.token_hex(4)
    schemas: list[str] = []

    def place(kind: str, name: str) -> Path:
        if kind != "postgres":
            return root / f"{name}.db"
        schemas.append(f"trio_es_bench_{tag}_{name.replace('-', '_')}")
        return root / schemas[-1]

    try:
        for kind, styles in stores:
            path = place(kind, f"ours-{kind}")
            with ExitStack() as stack:
                peer_read = None
                if peer is not None:
                    app = stack.enter_context(
                        peer_log(peer, kind, events, place(kind, f"peer-{kind}"))
                    )
                    # In pages of peer.LOG_PAGE, as large as our batches.
                    peer_read = functools.partial(peer.read_whole_log, app)
                ours, read = catch_ups(kind, styles, events, path, peer_read)
            for style, caught_up in ours.items():
                figures[f"ours_{kind}_{style}_catchup"] = caught_up
                if read is not None:
                    figures[f"ratio_{kind}_{style}"] = caught_up / read
            if read is not None:
                figures[f"peer_{kind}_log_read"] = read
            measured = latency(kind, rate, seconds, place(kind, f"latency-{kind}"))
            for key in ("ack_p50_ms", "ack_p99_ms", "request_p50_ms", "request_p99_ms"):
                figures[f"ours_{kind}_latency_{key}"] = measured[key]
        figures["events"] = float(events)
        figures["latency_rate"] = float(rate)
    finally:
        shutil.rmtree(root, ignore_errors=True)
        for schema in schemas:
            _drop_schema(schema)
    return figures


def main() -> None:
    """Parse the arguments, run, print one line per measure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a reduced run")
    parser.add_argument("--dir", type=Path, default=None, help="where the files go")
    args = parser.parse_args()
    figures = run(args.quick, args.dir)
    print(
        f"projections: catch-up over {int(figures['events']):,} events (batches of {BATCH:,};"
        f" the median of {CATCH_UPS} catch-ups, and of {CATCH_UPS} reads of the peer's log),"
        f" latency at {int(figures['latency_rate'])} commits/s"
    )
    for kind in ("memory", "sqlite", "postgres"):
        if f"ours_{kind}_latency_ack_p50_ms" not in figures:
            print(f"  {kind}: not measured ({_postgres_problem()})")
            continue
        peer_key = f"peer_{kind}_log_read"
        for key, value in figures.items():
            if key.startswith(f"ours_{kind}_") and key.endswith("_catchup"):
                style = key[len(f"ours_{kind}_") : -len("_catchup")]
                line = f"  {kind:<7} {style:<14} catch-up {value:>12,.0f} events/s"
                if peer_key in figures:
                    ratio = figures[f"ratio_{kind}_{style}"]
                    line += (
                        f"   peer log read {figures[peer_key]:>12,.0f} events/s"
                        f"   ratio {ratio:5.2f}x"
                    )
                    if (kind, style) in CATCH_UP_TARGETS:
                        verdict = "PASS" if ratio >= CATCH_UP_TARGET else "SHORT"
                        line += f"   [{verdict}] >= {CATCH_UP_TARGET:g}x"
                print(line)
        print(
            f"  {kind:<7} latency commit->handler  p50 "
            f"{figures[f'ours_{kind}_latency_ack_p50_ms']:.3f} ms  p99 "
            f"{figures[f'ours_{kind}_latency_ack_p99_ms']:.3f} ms   (from the request: p50 "
            f"{figures[f'ours_{kind}_latency_request_p50_ms']:.3f} ms  p99 "
            f"{figures[f'ours_{kind}_latency_request_p99_ms']:.3f} ms)"
        )
    if _peer() is None:
        print("  the peer (pip install eventsourcing==9.5.6) is not installed: no ratios")


if __name__ == "__main__":
    main()
