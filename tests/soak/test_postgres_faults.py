"""PostgreSQL under faults: what the store acknowledged is there exactly once.

Thirty clients move money between twenty accounts through a supervised system on
``postgres_store``, which reaches a private cluster through a :class:`FaultyProxy`, while
the :class:`Nemesis` terminates backends, cuts TCP streams mid-message either way and
crashes and restarts the cluster. Then, faults stopped: the checker compares the stored
events (read straight from the cluster) with every answer the clients got, the system's
cached aggregates with the fold of their events, and the system must serve again
without a restart.
"""

from __future__ import annotations

import contextlib
import random
import secrets
from collections.abc import Callable

import pytest
import trio

from trio_eventsourcing import postgres_store

from . import settings
from .checker import (
    Findings,
    StoredEvent,
    StoredSnapshot,
    check_stored,
    compare_served,
    events_query,
    snapshots_query,
)
from .cluster import PrivateCluster
from .faulty_proxy import running_proxy
from .nemesis import Nemesis
from .workload import (
    CODEC,
    Asking,
    Deadline,
    Ledger,
    Verdict,
    final_commands,
    load_served,
    open_accounts,
    run_clients,
    running_bank,
)

SCHEMA = "soak"
RETRY_TIMEOUT_S = 2.0
"""The store's ``retry_timeout``: short, so that faults surface as answers quickly."""
CONNECT_TIMEOUT_S = 2.0
REPLY_MS = 4_000
"""How long a client waits for an answer before it counts the outcome as unknown."""
RESOLVE_S = 30.0
"""How long after the faults stop a client may keep asking to settle an unknown outcome."""
RECOVERY_S = 30.0
"""The longest the cluster may take to accept connections again after the last fault."""


def read_stored(
    cluster: PrivateCluster, dbname: str
) -> tuple[list[StoredEvent], list[StoredSnapshot], int]:
    """Every event and snapshot row, and ``last_position``, read straight from the cluster."""
    with cluster.connect(dbname) as connection:
        events = [
            StoredEvent(*row)
            for row in connection.execute(events_query(f"{SCHEMA}.trio_es_events")).fetchall()
        ]
        snapshots = [
            StoredSnapshot(*row)
            for row in connection.execute(snapshots_query(f"{SCHEMA}.trio_es_snapshots")).fetchall()
        ]
        row = connection.execute(f"SELECT last_position FROM {SCHEMA}.trio_es_store").fetchone()
    assert row is not None
    return events, snapshots, int(row[0])


async def wait_for_server(cluster: PrivateCluster, dbname: str) -> None:
    """Poll until the cluster accepts connections (it may be finishing a restart)."""
    with trio.fail_after(RECOVERY_S):
        # Only the server can tell when it is up again: poll it.
        while not await trio.to_thread.run_sync(cluster.accepts_connections, dbname):  # noqa: ASYNC110
            await trio.sleep(0.05)


@pytest.mark.slow
async def test_postgres_acknowledged_commands_are_stored_exactly_once_under_faults(
    pg_cluster: PrivateCluster, soak_seed: int, soak_summary: Callable[[str], None]
) -> None:
    seconds = settings.soak_seconds()
    keys = settings.use_keys()
    rng = random.Random(soak_seed)
    dbname = f"soak_{secrets.token_hex(4)}"
    await trio.to_thread.run_sync(pg_cluster.create_database, dbname)
    ledger = Ledger()
    try:
        async with running_proxy("127.0.0.1", pg_cluster.port) as proxy:
            dsn = f"host=127.0.0.1 port={proxy.port} user=postgres dbname={dbname}"
            store, store_spec = postgres_store.supervised(
                dsn,
                CODEC,
                schema=SCHEMA,
                connect_timeout=CONNECT_TIMEOUT_S,
                retry_timeout=RETRY_TIMEOUT_S,
            )
            async with running_bank(store, store_spec) as actor:
                setup = Asking(keys, REPLY_MS, trio.current_time() + RESOLVE_S)
                await open_accounts(actor, ledger, "", setup)
                assert set(ledger.verdicts()) == {Verdict.ACKNOWLEDGED}, ledger.summary()

                nemesis = Nemesis(rng, pg_cluster, proxy, dbname)
                asking = Asking(keys, REPLY_MS, trio.current_time() + seconds + RESOLVE_S)
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(nemesis.run, seconds)
                    until = Deadline(trio.current_time() + seconds)
                    nursery.start_soon(run_clients, actor, ledger, soak_seed, "", until, asking)
                await wait_for_server(pg_cluster, dbname)

                # Every command of the run has been answered once every load is.
                served, load_failures = await load_served(actor, REPLY_MS * 2)
                stored = await trio.to_thread.run_sync(read_stored, pg_cluster, dbname)
                findings = check_stored(ledger, *stored)
                findings.service_problems += load_failures
                compare_served(findings, served, "after the faults")

                after = Asking(keys, REPLY_MS, trio.current_time() + RESOLVE_S)
                findings.service_problems += await final_commands(actor, ledger, "", after)
                served, load_failures = await load_served(actor, REPLY_MS)
                stored = await trio.to_thread.run_sync(read_stored, pg_cluster, dbname)
                final = check_stored(ledger, *stored)
                final.service_problems += findings.service_problems + load_failures
                final.cache_problems += findings.cache_problems
                compare_served(final, served, "after the final commands")
                statistics = store.eventstore.statistics()
    finally:
        # Hygiene only (the cluster goes at the end of the session): never mask a failure.
        with contextlib.suppress(Exception):
            await trio.to_thread.run_sync(pg_cluster.drop_database, dbname)

    line = summary_line(soak_seed, keys, ledger, final, nemesis)
    line += f" reconnects={statistics.reconnects}"
    soak_summary(line)
    problems = final.problems()
    if ledger.key_mismatches:
        problems.append(f"OutcomeUnknown named another key: {ledger.key_mismatches[:5]}")
    assert not problems, (
        f"{line}\nreplay with {settings.SEED_VARIABLE}={soak_seed}\n"
        + "\n".join(problems)
        + f"\nserver log:\n{pg_cluster.log_tail()}"
    )


def summary_line(
    seed: int, keys: bool, ledger: Ledger, findings: Findings, nemesis: Nemesis
) -> str:
    """The one-line summary of a PostgreSQL soak run."""
    return (
        f"soak postgres seed={seed} keys={'on' if keys else 'off'} {ledger.summary()} "
        f"faults: {nemesis.summary()} backends_terminated={nemesis.backends_terminated} "
        f"streams_cut={nemesis.streams_cut} | {findings.summary()}"
    )
