"""Money transfers per second through the transfers' process manager, SQLite and PostgreSQL.

Usage (from the repository): ``python -m tests.benchmarks.transfers_bench [--quick]
[--stores sqlite,postgres] [--transfers N] [--dir DIR]``. ``run.py`` (``nox -s bench``)
runs :func:`transfers` on each durable store among its other measurements, each in a fresh
process (it starts this module with the job as JSON, as it starts ``measure.py``); this
script runs it alone, on a temporary SQLite file and in a throwaway PostgreSQL schema
(``TRIO_ES_POSTGRES_DSN``; skipped, saying so, when no server answers).

The bank of ``tests/process_managers/transfer_bank.py``: the accounts, transfers and
credits systems on one database (one SQLite file, or one PostgreSQL schema), and the
durable transfers' process manager (``examples.transfer_process``), which keeps its
instances, outbox, timers and position in that database, one transaction per step.
``accounts`` accounts are opened and funded (untimed); then ``transfers`` transfers
(``TransferSizes``: 500, 100 with ``--quick``, across 50 accounts) are requested at
once, one client each, between random accounts, each for less than any account holds,
while the other bank confirms every credit as soon as it is requested. Timed from the
first request until every transfer has ended: the manager has decided its four commands
for each and holds no instance, command or timer (its statistics, polled every 10 ms,
which costs the run less than a snapshot at each of its changes). Then, untimed, the
manager is checked settled on the whole log, each transfer completed (in the log of the
transfers) and the money across the accounts unchanged.

A transfer is four commands of the manager (withdraw, request the credit, deposit,
complete), a credit deadline set and cancelled, and the other bank's confirmation.
Figures: ``transfers_per_s``; ``commands_per_commit``, the commands the manager decided
per transaction it saved (its statistics' ``decided / commits`` over the timed part);
``sent_per_s``, the commands its targets stored per second; ``commits``, ``decided``,
``sent``, ``retries``, ``dead_letters``, ``seconds``. The peer (the ``eventsourcing``
package) has no process managers: there is nothing to compare with.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import trio

import trio_eventsourcing as es
from tests.benchmarks import procfs
from tests.benchmarks.measure import MARK, _GcClock
from tests.benchmarks.server import answering_dsn, schema_of
from tests.process_managers.transfer_bank import Backend, Bank, bank, ok, other_bank
from trio_eventsourcing import process_managers
from trio_eventsourcing.examples.bank_account import DepositMoney, OpenAccount
from trio_eventsourcing.examples.transfers import RequestTransfer, TransferCompleted

Figures = dict[str, float]

OPENING = Decimal(1_000_000)  # each account's money: no withdrawal is ever short
DEADLINE_S = 600.0  # longer than any run: no credit deadline passes, every credit is made
WITHIN_S = 600.0  # a hung run fails instead of stalling
COMMANDS_PER_TRANSFER = 4  # withdraw, request the credit, deposit, complete
POLL_S = 0.01  # how often the end of the timed part is looked for (1-2 % of the CPU)


@dataclass(frozen=True)
class TransferSizes:
    """The transfers of one run and the accounts they go between."""

    transfers: int
    accounts: int


FULL = TransferSizes(transfers=500, accounts=50)
QUICK = TransferSizes(transfers=100, accounts=50)


def sizes(quick: bool) -> TransferSizes:
    """The sizes of a ``--quick`` run or of a full one."""
    return QUICK if quick else FULL


def backend(kind: str, location: str, dsn: str = "") -> Backend:
    """The bank's backend: the SQLite file ``location``, or the schema ``location`` on ``dsn``."""
    if kind == "sqlite":
        return Backend("sqlite", location)
    if kind == "postgres":
        # transfer_bank splits "DSN SCHEMA" on its space: a URI has none.
        return Backend("postgres", f"{_uri(dsn)} {location}")
    raise ValueError(f"transfers run on sqlite or postgres, not {kind!r}")


def _uri(dsn: str) -> str:
    """``dsn`` as a ``postgresql://`` URI (a ``key=value`` DSN holds spaces)."""
    if dsn.startswith(("postgresql://", "postgres://")) and " " not in dsn:
        return dsn
    from urllib.parse import quote, urlencode

    from psycopg import conninfo

    params = {key: str(value) for key, value in conninfo.conninfo_to_dict(dsn).items()}
    user = params.pop("user", "")
    password = params.pop("password", "")
    host = params.pop("host", "")
    port = params.pop("port", "")
    database = params.pop("dbname", "")
    credentials = quote(user, safe="") + (f":{quote(password, safe='')}" if password else "")
    where = quote(host, safe="") + (f":{port}" if port else "")
    query = f"?{urlencode(params)}" if params else ""
    at = f"{credentials}@" if credentials else ""
    return f"postgresql://{at}{where}/{quote(database, safe='')}{query}"


def _settled_up_to(head: int, stats: process_managers.ProcessManagerStatistics) -> bool:
    return stats.position >= head and (stats.instances, stats.outbox, stats.timers) == (0, 0, 0)


async def _head(the_bank: Bank) -> int:
    log = await the_bank.log()
    return log[-1].position if log else 0


async def settle(the_bank: Bank) -> process_managers.ProcessManagerStatistics:
    """Wait until the manager has decided on the whole log and has nothing left to do."""
    manager = the_bank.manager
    assert manager is not None
    while True:
        head = await _head(the_bank)
        stats = await manager.wait_for(partial(_settled_up_to, head))
        if await _head(the_bank) <= stats.position:
            return stats


async def all_ended(manager: process_managers.ProcessManagerHandle, decided: int) -> float:
    """The ``perf_counter`` time when the manager has decided ``decided`` commands in all
    and holds no instance, command or timer, looked for every :data:`POLL_S` seconds."""
    while True:
        stats = manager.statistics()
        if stats.decided >= decided and (stats.instances, stats.outbox, stats.timers) == (0, 0, 0):
            return time.perf_counter()
        await trio.sleep(POLL_S)


def _plan(sized: TransferSizes) -> tuple[list[str], list[tuple[str, str, str, Decimal]]]:
    """The accounts, and each transfer: its id, source, destination and amount."""
    rng = random.Random(7)
    accounts = [f"account-{n}" for n in range(sized.accounts)]
    planned = []
    for n in range(sized.transfers):
        source, destination = rng.sample(accounts, 2)
        planned.append((f"transfer-{n}", source, destination, Decimal(rng.randint(1, 60))))
    return accounts, planned


def transfers(where: Backend, sized: TransferSizes) -> Figures:
    """Request ``sized.transfers`` transfers at once; time them until every one has ended."""
    accounts, planned = _plan(sized)

    async def main() -> Figures:
        async with bank(where, DEADLINE_S) as the_bank, trio.open_nursery() as nursery:
            manager = the_bank.manager
            assert manager is not None

            async def fund(account: str) -> None:
                await ok(
                    es.execute_with_response(the_bank.accounts, account, OpenAccount(account), [])
                )
                deposit = DepositMoney(OPENING)
                await ok(es.execute_with_response(the_bank.accounts, account, deposit, []))

            with trio.fail_after(WITHIN_S):
                async with trio.open_nursery() as funding:
                    for account in accounts:
                        funding.start_soon(fund, account)
                before = await settle(the_bank)
            nursery.start_soon(other_bank, the_bank, {transfer for transfer, *_ in planned})

            async def client(transfer: str, source: str, destination: str, amount: Decimal) -> None:
                command = RequestTransfer(source, destination, amount)
                await ok(
                    es.execute_with_response(
                        the_bank.transfers, transfer, command, [], correlation_id=transfer
                    )
                )

            gc.collect()
            started = time.perf_counter()
            with trio.fail_after(WITHIN_S):
                async with trio.open_nursery() as clients:
                    for plan in planned:
                        clients.start_soon(client, *plan)
                requested = time.perf_counter()
                expected = before.decided + COMMANDS_PER_TRANSFER * len(planned)
                ended = await all_ended(manager, expected)
                after = await settle(the_bank)
            log = await the_bank.log()
            completed = {
                entry.envelope.aggregate_id
                for entry in log
                if isinstance(entry.envelope.payload, TransferCompleted)
            }
            total = Decimal(0)
            for account in accounts:
                loaded = await ok(es.load_aggregate(the_bank.accounts, account))
                assert isinstance(loaded, es.Aggregate)
                total += loaded.entity.balance
            nursery.cancel_scope.cancel()  # the other bank
        missing = {transfer for transfer, *_ in planned} - completed
        if missing:
            raise RuntimeError(f"{len(missing)} transfer(s) not completed, e.g. {min(missing)}")
        if total != OPENING * len(accounts):
            raise RuntimeError(f"the accounts hold {total}, not {OPENING * len(accounts)}")
        if after.dead_letters:
            raise RuntimeError(f"{after.dead_letters} dead letter(s): {after.last_error}")
        seconds = ended - started
        decided = after.decided - before.decided
        sent = after.sent - before.sent
        commits = after.commits - before.commits
        return {
            "transfers": float(len(planned)),
            "accounts": float(len(accounts)),
            "seconds": seconds,
            "requests_seconds": requested - started,
            "transfers_per_s": len(planned) / seconds,
            "decided": float(decided),
            "sent": float(sent),
            "commits": float(commits),
            "commands_per_commit": decided / commits if commits else 0.0,
            "sent_per_s": sent / seconds,
            "rejected": float(after.rejected - before.rejected),
            "retries": float(after.retries - before.retries),
            "dead_letters": float(after.dead_letters),
            "log_events": float(len(log)),
        }

    return trio.run(main)


def format_line(kind: str, figures: Figures) -> str:
    """One store's figures on one line."""
    return (
        f"  {kind:<8} {figures['transfers_per_s']:8,.1f} transfers/s  "
        f"{figures['sent_per_s']:8,.1f} commands sent/s  "
        f"{figures['commands_per_commit']:5.2f} commands per commit  "
        f"{figures['commits']:6,.0f} commits  {figures['decided']:6,.0f} decided  "
        f"{figures['seconds']:6.2f} s"
    )


# --- a job of run.py ------------------------------------------------------------------


def measured(job: dict[str, Any]) -> None:
    """Run one job of ``run.py`` and print its line, as ``measure.py`` does for the others."""
    target = job["target"]
    args = job.get("args", {})
    where = backend(target["kind"], target["location"], target.get("dsn", ""))
    clock = _GcClock()
    gc.callbacks.append(clock)
    start = procfs.rss()
    figures = transfers(where, sizes(bool(args.get("quick"))))
    memory = {
        "start": start,
        "end": procfs.rss(),
        "peak": procfs.peak_rss(),
        "gc_seconds": clock.seconds,
        "gc_collections": clock.collections,
    }
    print(MARK + json.dumps({"figures": figures, "memory": memory}), flush=True)


# --- alone ----------------------------------------------------------------------------


def main() -> None:
    """Parse the arguments, run on each store, print one line per store."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("job", nargs="?", help="a job of run.py, as JSON (run.py passes it)")
    parser.add_argument("--quick", action="store_true", help="a reduced run")
    parser.add_argument("--stores", default="sqlite,postgres", help="comma-separated subset")
    parser.add_argument("--transfers", type=int, default=None, help="transfers requested")
    parser.add_argument("--repeat", type=int, default=1, help="runs on each store")
    parser.add_argument("--dir", type=Path, default=None, help="where the SQLite file goes")
    args = parser.parse_args()
    if args.job is not None:
        measured(json.loads(args.job))
        return
    sized = sizes(args.quick)
    if args.transfers is not None:
        sized = TransferSizes(args.transfers, sized.accounts)
    stores = [store.strip() for store in args.stores.split(",") if store.strip()]
    dsn = answering_dsn() if "postgres" in stores else None
    print(
        f"transfers through the process manager: {sized.transfers:,} at once across "
        f"{sized.accounts} accounts, every credit confirmed, pid {os.getpid()} (no peer figure: "
        "the peer has no process managers)"
    )
    root = Path(tempfile.mkdtemp(prefix="transfers-bench-", dir=args.dir))
    try:
        for repetition in range(args.repeat):
            for kind in stores:
                if kind == "postgres" and dsn is None:
                    continue
                location = (
                    str(root / f"transfers-{repetition}.db")
                    if kind == "sqlite"
                    else f"trio_es_bench_transfers_{secrets.token_hex(4)}"
                )
                with schema_of(kind, location, dsn or ""):
                    figures = transfers(backend(kind, location, dsn or ""), sized)
                print(format_line(kind, figures), flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if "postgres" in stores and dsn is None:
        print("  postgres: not measured (no server answers at TRIO_ES_POSTGRES_DSN)")


if __name__ == "__main__":
    main()
