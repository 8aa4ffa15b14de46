"""SQLite on a disk that fills up: failed commands are not stored, and service comes back.

In this process: the workload runs on a file whose disk (see ``full_disk.py``) is filled under load:
commands start failing (``EventStoreError``, or ``OutcomeUnknown`` where the store cannot
tell whether a commit that hit the full disk is in the file; the clients ask again with
the key until the answer settles it). A random while later the space is given back and
commands are acknowledged again, without restarting anything. The checker then finds
every acknowledged command stored once, none of the failed ones, and the file intact.

In a child process (``sqlite_child.py``, as in the kill test): the disk fills under load
and the process is killed with SIGKILL while it is still full, so that a commit whose
frames reached the ``-wal`` file but failed is left behind for recovery; the disk gets its
space back and the child starts again on the file. Recovery must bring back no command
that was reported as failed.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import trio

from tests.soak import settings
from tests.soak.checker import check_stored, compare_served
from tests.soak.child_runs import Child, after, check_and_serve, live_once, record
from tests.soak.full_disk import FullDisk, full_disk
from tests.soak.sqlite_files import read_file
from tests.soak.workload import (
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
from trio_eventsourcing import sqlite_store

REPLY_MS = 10_000
FILL_WAIT_S = 30.0
"""The longest the load may take to run into the full disk (a few commits, normally)."""
FULL_S = (0.1, 0.6)
"""Bounds of how long the disk stays full once writes have started failing."""


@pytest.fixture
def disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FullDisk]:
    """A directory on a disk the test can fill (a tmpfs, or SQLite's page limit)."""
    seconds = settings.soak_seconds() / 2
    with full_disk(settings.disk_mode(), tmp_path, monkeypatch, seconds) as made:
        yield made


@pytest.fixture
def real_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FullDisk]:
    """A directory on a tmpfs the test can fill; skipped where none can be mounted."""
    with full_disk(settings.disk_mode(), tmp_path, monkeypatch, 2.0, real=True) as made:
        yield made


def troubled(ledger: Ledger) -> int:
    """Answers other than ``Ok`` and domain errors: failures, unknown outcomes, timeouts."""
    return ledger.error_answers


@pytest.mark.slow
async def test_sqlite_full_disk_stores_no_failed_command_and_serves_again(
    disk: FullDisk, soak_seed: int, soak_summary: Callable[[str], None]
) -> None:
    seconds = settings.soak_seconds() / 2
    keys = settings.use_keys()
    rng = random.Random(soak_seed)
    ledger = Ledger()
    problems: list[str] = []
    store, store_spec = sqlite_store.supervised(disk.path, CODEC)
    async with running_bank(store, store_spec) as bank:
        asking = Asking(keys, REPLY_MS, trio.current_time() + FILL_WAIT_S + seconds + 30)
        await open_accounts(bank, ledger, "", asking)
        assert set(ledger.verdicts()) == {Verdict.ACKNOWLEDGED}, ledger.summary()

        full_for = rng.uniform(*FULL_S)
        async with trio.open_nursery() as nursery:
            await trio.to_thread.run_sync(disk.fill)
            until = Deadline(math.inf)  # until a while after the space is back
            nursery.start_soon(run_clients, bank, ledger, soak_seed, "", until, asking)
            with trio.move_on_after(FILL_WAIT_S) as waiting:
                await ledger.wait_until(lambda ledger: troubled(ledger) > 0)
            if waiting.cancelled_caught:
                problems.append(f"no error answer in {FILL_WAIT_S} s: the disk never filled")
            await trio.sleep(full_for)  # how long the disk stays full
            errors_while_full = troubled(ledger)
            acknowledged_while_full = ledger.verdicts()[Verdict.ACKNOWLEDGED]
            await trio.to_thread.run_sync(disk.free)
            until.at = trio.current_time() + seconds
        acknowledged_after = ledger.verdicts()[Verdict.ACKNOWLEDGED] - acknowledged_while_full

        served, failures = await load_served(bank, REPLY_MS)
        integrity, events, snapshots = await trio.to_thread.run_sync(read_file, disk.path)
        findings = check_stored(ledger, events, snapshots, None)
        findings.service_problems += failures
        compare_served(findings, served, "after the disk was freed")
        service = await final_commands(bank, ledger, "", asking)
        served, failures = await load_served(bank, REPLY_MS)
    integrity_after, events, snapshots = await trio.to_thread.run_sync(read_file, disk.path)
    final = check_stored(ledger, events, snapshots, None)
    final.service_problems += findings.service_problems + service + failures + problems
    final.cache_problems += findings.cache_problems
    compare_served(final, served, "after the final commands")
    for when, verdict in (("once the space was back", integrity), ("at the end", integrity_after)):
        if verdict != "ok":
            final.service_problems.append(f"PRAGMA integrity_check {when}: {verdict}")

    line = (
        f"soak sqlite-full seed={soak_seed} keys={'on' if keys else 'off'} disk={disk.how} "
        f"{ledger.summary()} faults: full_for={full_for:.2f}s "
        f"errors_while_full={errors_while_full} acknowledged_after_free={acknowledged_after} "
        f"| {final.summary()}"
    )
    soak_summary(line)
    if settings.verbose():
        for example in ledger.failure_examples():
            soak_summary(f"  {example}")
    found = final.problems()
    assert not found, f"{line}\nreplay with {settings.SEED_VARIABLE}={soak_seed}\n" + "\n".join(
        found
    )


@pytest.mark.slow
async def test_sqlite_kill_9_on_a_full_disk_brings_back_no_failed_command(
    real_disk: FullDisk, soak_seed: int, soak_summary: Callable[[str], None]
) -> None:
    keys = settings.use_keys()
    rng = random.Random(soak_seed)
    ledger = Ledger()

    async def fill_then_kill(child: Child) -> None:
        await trio.sleep(rng.uniform(0.05, 0.3))  # some load before the disk fills
        await trio.to_thread.run_sync(real_disk.fill)
        with trio.fail_after(FILL_WAIT_S):
            await child.troubled.wait()
        await trio.sleep(rng.uniform(0.0, 0.3))  # the random moment of the kill

    full = await live_once(real_disk.path, "full-", soak_seed, keys, fill_then_kill)
    record(ledger, full.lines())
    at_kill = ledger.verdicts()
    await trio.to_thread.run_sync(real_disk.free)
    again = await live_once(real_disk.path, "again-", soak_seed, keys, after(rng.uniform(0.1, 0.5)))
    record(ledger, again.lines())
    final = await check_and_serve(real_disk.path, ledger, keys)

    line = (
        f"soak sqlite-full-kill seed={soak_seed} keys={'on' if keys else 'off'} "
        f"disk={real_disk.how} {ledger.summary()} faults: kill9_while_full=1 kill9=1 "
        f"failed_before_kill={at_kill[Verdict.FAILED]} "
        f"unsettled_at_kill={at_kill[Verdict.UNRESOLVED]} | {final.summary()}"
    )
    soak_summary(line)
    found = final.problems()
    assert not found, (
        f"{line}\nreplay with {settings.SEED_VARIABLE}={soak_seed}\n"
        + "\n".join(found)
        + "\nthe child's stderr:\n"
        + (full.errors + again.errors).decode(errors="replace")[-3000:]
    )
