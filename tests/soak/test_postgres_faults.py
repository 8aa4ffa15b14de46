"""PostgreSQL under faults: what the store acknowledged is there exactly once.

Thirty clients move money between twenty accounts through a supervised system on a
``postgres_store`` database, which reaches a private cluster through a
:class:`FaultyProxy`, while the :class:`Nemesis` terminates backends, cuts TCP streams
mid-message either way, loses requests and replies, and crashes and restarts the
cluster. Ten more clients do the same to a second aggregate type of that database, bank
statements with the same twenty ids, through the same writer. A second database on the
same tables, another process as far as the server can tell, connected directly (no
proxy) and with five clients of its own on five accounts of its own, writes at the same
time, as the docs say several processes may. Then, faults stopped: the checker compares
the stored events (read straight from the cluster, an aggregate being its type and id)
with every answer the clients got, each system's cached aggregates with the fold of
their events, and every system must serve again without a restart.
"""

from __future__ import annotations

import contextlib
import random
import secrets
from collections.abc import Callable

import pytest
import trio

from tests.soak import settings
from tests.soak.checker import (
    Findings,
    StoredEvent,
    StoredSnapshot,
    check_stored,
    compare_served,
    events_query,
    snapshots_query,
)
from tests.soak.cluster import PrivateCluster
from tests.soak.faulty_proxy import running_proxy
from tests.soak.nemesis import Nemesis
from tests.soak.workload import (
    CODEC,
    STATEMENT_CODEC,
    Asking,
    Bank,
    Deadline,
    Ledger,
    Verdict,
    account_ids,
    final_commands,
    load_served,
    open_accounts,
    run_clients,
    running_bank,
)
from trio_eventsourcing import Aggregate, postgres_store
from trio_eventsourcing.examples.bank_account import BankAccount
from trio_eventsourcing.static_supervisor import Supervisor
from trio_eventsourcing.supervision import ChildSpecification

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
NEIGHBOUR_ACCOUNTS = 5
NEIGHBOUR_CLIENTS = 5
STATEMENT_CLIENTS = 10
"""Clients of the second aggregate type, on the bank's database (its writer, its faults)."""


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
            through_proxy = f"host=127.0.0.1 port={proxy.port} user=postgres dbname={dbname}"
            database, database_spec = open_database(through_proxy)
            store = database.event_store(CODEC)
            # The same account ids as another aggregate type, through the same writer.
            statement_store = database.event_store(STATEMENT_CODEC)
            neighbour_database, neighbour_spec = open_database(pg_cluster.dsn(dbname))
            neighbour_store = neighbour_database.event_store(CODEC)
            neighbour_accounts = account_ids("nb", NEIGHBOUR_ACCOUNTS)
            statement_type = STATEMENT_CODEC.aggregate_type
            async with (
                running_bank(store, database_spec) as bank,
                running_bank(statement_store, None, aggregate_type=statement_type) as statements,
                running_bank(neighbour_store, neighbour_spec, neighbour_accounts) as neighbour,
            ):
                setup = Asking(keys, REPLY_MS, trio.current_time() + RESOLVE_S)
                await open_accounts(bank, ledger, "", setup)
                await open_accounts(statements, ledger, "st-", setup)
                await open_accounts(neighbour, ledger, "nb-", setup)
                assert set(ledger.verdicts()) == {Verdict.ACKNOWLEDGED}, ledger.summary()

                nemesis = Nemesis(rng, pg_cluster, proxy, dbname)
                asking = Asking(keys, REPLY_MS, trio.current_time() + seconds + RESOLVE_S)
                until = Deadline(trio.current_time() + seconds)
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(nemesis.run, seconds)
                    nursery.start_soon(run_clients, bank, ledger, soak_seed, "", until, asking)
                    nursery.start_soon(
                        run_clients,
                        neighbour,
                        ledger,
                        soak_seed,
                        "nb-",
                        until,
                        asking,
                        NEIGHBOUR_CLIENTS,
                    )
                    nursery.start_soon(
                        run_clients,
                        statements,
                        ledger,
                        soak_seed,
                        "st-",
                        until,
                        asking,
                        STATEMENT_CLIENTS,
                    )
                await wait_for_server(pg_cluster, dbname)

                # Every command of the run has been answered once every load is.
                findings = Findings()
                served = await served_by(findings, bank, statements, neighbour)
                stored = await trio.to_thread.run_sync(read_stored, pg_cluster, dbname)
                first = check_stored(ledger, *stored)
                compare_served(first, served, "after the faults")

                after = Asking(keys, REPLY_MS, trio.current_time() + RESOLVE_S)
                for system, prefix in ((bank, ""), (statements, "st-"), (neighbour, "nb-")):
                    findings.service_problems += await final_commands(system, ledger, prefix, after)
                served = await served_by(findings, bank, statements, neighbour)
                stored = await trio.to_thread.run_sync(read_stored, pg_cluster, dbname)
                final = check_stored(ledger, *stored)
                final.service_problems += findings.service_problems + first.service_problems
                final.cache_problems += first.cache_problems
                compare_served(final, served, "after the final commands")
                reconnects = (
                    database.statistics().reconnects + neighbour_database.statistics().reconnects
                )
    finally:
        # Hygiene only (the cluster goes at the end of the session): never mask a failure.
        with contextlib.suppress(Exception):
            await trio.to_thread.run_sync(pg_cluster.drop_database, dbname)

    line = summary_line(soak_seed, keys, ledger, final, nemesis) + f" reconnects={reconnects}"
    soak_summary(line)
    if settings.verbose():
        for example in ledger.failure_examples():
            soak_summary(f"  {example}")
    problems = final.problems()
    if ledger.key_mismatches:
        problems.append(f"OutcomeUnknown named another key: {ledger.key_mismatches[:5]}")
    assert not problems, (
        f"{line}\nreplay with {settings.SEED_VARIABLE}={soak_seed}\n"
        + "\n".join(problems)
        + f"\nserver log:\n{pg_cluster.log_tail()}"
    )


def open_database(
    dsn: str,
) -> tuple[postgres_store.PostgresDatabase, ChildSpecification[Supervisor]]:
    """A database of the soak's tables, quick to give up on a lost server."""
    return postgres_store.supervised_database(
        dsn,
        schema=SCHEMA,
        connect_timeout=CONNECT_TIMEOUT_S,
        retry_timeout=RETRY_TIMEOUT_S,
    )


async def served_by(findings: Findings, *banks: Bank) -> dict[str, Aggregate[BankAccount] | None]:
    """What the systems serve for their accounts; failed loads go to ``findings``."""
    served: dict[str, Aggregate[BankAccount] | None] = {}
    for bank in banks:
        answers, failures = await load_served(bank, REPLY_MS * 2)
        served.update(answers)
        findings.service_problems += failures
    return served


def summary_line(
    seed: int, keys: bool, ledger: Ledger, findings: Findings, nemesis: Nemesis
) -> str:
    """The one-line summary of a PostgreSQL soak run."""
    return (
        f"soak postgres seed={seed} keys={'on' if keys else 'off'} {ledger.summary()} "
        f"faults: {nemesis.summary()} backends_terminated={nemesis.backends_terminated} "
        f"streams_cut={nemesis.streams_cut} | {findings.summary()}"
    )
