"""SQLite under kill -9: every command acknowledged before the kill is there, exactly once.

A child process (``sqlite_child.py``) runs the workload on one file and reports each op
on stdout, an acknowledgement only after its ``Ok`` came. The test kills it with SIGKILL
after a random while, starts it again on the same file, several times, then checks the
file (every acknowledged op stored once, sequences and positions without gaps, ``PRAGMA
integrity_check``) and serves the file again from a new system in this process.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import trio

import trio_eventsourcing as eventsourcing
from trio_eventsourcing import sqlite_store

from . import settings
from .checker import check_stored, compare_served
from .sqlite_child import parse_command
from .sqlite_files import read_file
from .workload import (
    CODEC,
    Asking,
    Ledger,
    Verdict,
    final_commands,
    load_served,
    running_bank,
)

TESTS = Path(__file__).resolve().parents[1]
SOURCE = Path(eventsourcing.__file__).resolve().parents[1]
LIVES = 4
"""The fewest times the child is started on the file (one more per second of budget over
four); each life ends with SIGKILL."""
START_S = 60.0
"""The longest a child may take to open the file and its accounts."""
REPLY_MS = 10_000


class Child:
    """One life of the child process and what it printed."""

    def __init__(self, process: trio.Process) -> None:
        self.process = process
        self.output = b""
        self.errors = b""
        self.ready = trio.Event()

    async def read_stdout(self) -> None:
        assert self.process.stdout is not None
        while chunk := await self.process.stdout.receive_some():
            self.output += chunk
            if not self.ready.is_set() and b"ready\n" in self.output:
                self.ready.set()
        self.ready.set()  # it ended (or was killed) before it was ready: stop waiting

    async def read_stderr(self) -> None:
        assert self.process.stderr is not None
        while chunk := await self.process.stderr.receive_some():
            self.errors += chunk

    def lines(self) -> list[str]:
        # A line cut short by the kill is not a whole report.
        return self.output.decode().split("\n")[:-1]


async def live_once(path: Path, prefix: str, seed: int, keys: bool, seconds: float) -> Child:
    """Start the child on ``path``, let it work ``seconds`` once ready, SIGKILL it."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(TESTS), str(SOURCE), env.get("PYTHONPATH")])
    )
    command = [sys.executable, "-m", "soak.sqlite_child", str(path), prefix, str(seed)]
    proc = await trio.lowlevel.open_process(
        [*command, "1" if keys else "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    child = Child(proc)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(child.read_stdout)
            nursery.start_soon(child.read_stderr)
            with trio.fail_after(START_S):
                await child.ready.wait()
            if proc.returncode is not None or b"ready\n" not in child.output:
                await proc.wait()
                pytest.fail(
                    f"the child ended before it was ready ({proc.returncode}):\n"
                    + child.errors.decode(errors="replace")[-3000:]
                )
            await trio.sleep(seconds)  # the random moment of the kill
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
            with trio.CancelScope(shield=True):
                await proc.wait()
    assert proc.poll() == -signal.SIGKILL, child.errors.decode(errors="replace")[-3000:]
    return child


def record(ledger: Ledger, lines: list[str]) -> None:
    """Add what one life of the child reported to ``ledger``."""
    for line in lines:
        match line.split():
            case ["sent", op_id, account, kind, amount]:
                ledger.new(op_id, account, parse_command(kind, amount, account))
            case ["done", op_id, verdict, unknowns, timeouts]:
                op = ledger.ops[op_id]
                op.verdict = Verdict(verdict)
                op.unknowns = int(unknowns)
                op.timeouts = int(timeouts)
            case ["ready"]:
                pass
            case _:
                raise AssertionError(f"the child printed {line!r}")
    for op in ledger.ops.values():
        if op.verdict is None:
            op.verdict = Verdict.UNRESOLVED  # in flight at the kill
            op.errors.append("in flight when the process was killed")


@pytest.mark.slow
async def test_sqlite_acknowledged_commands_survive_repeated_kill_9(
    tmp_path: Path, soak_seed: int, soak_summary: Callable[[str], None]
) -> None:
    seconds = settings.soak_seconds() / 2
    keys = settings.use_keys()
    rng = random.Random(soak_seed)
    path = tmp_path / "bank.db"
    ledger = Ledger()
    errors = b""
    lives = max(LIVES, round(seconds))
    for life in range(lives):
        child = await live_once(
            path, f"l{life}", soak_seed, keys, rng.uniform(0.05, 2 * seconds / lives)
        )
        errors += child.errors
        record(ledger, child.lines())

    integrity, events, snapshots = await trio.to_thread.run_sync(read_file, path)
    findings = check_stored(ledger, events, snapshots, None)
    if integrity != "ok":
        findings.service_problems.append(f"PRAGMA integrity_check: {integrity}")

    # The file serves again, from a new system, and its aggregates are their events.
    store, store_spec = sqlite_store.supervised(path, CODEC)
    async with running_bank(store, store_spec) as actor:
        served, failures = await load_served(actor, REPLY_MS)
        findings.service_problems += failures
        compare_served(findings, served, "after the kills")
        asking = Asking(keys, REPLY_MS, trio.current_time() + 30)
        service = await final_commands(actor, ledger, "after-", asking)
        served, failures = await load_served(actor, REPLY_MS)
    integrity, events, snapshots = await trio.to_thread.run_sync(read_file, path)
    final = check_stored(ledger, events, snapshots, None)
    final.service_problems += findings.service_problems + service + failures
    final.cache_problems += findings.cache_problems
    compare_served(final, served, "after the final commands")
    if integrity != "ok":
        final.service_problems.append(f"PRAGMA integrity_check: {integrity}")

    unresolved = ledger.verdicts()[Verdict.UNRESOLVED]
    line = (
        f"soak sqlite-kill seed={soak_seed} keys={'on' if keys else 'off'} {ledger.summary()} "
        f"faults: kill9={lives} in_flight_at_kill={unresolved} | {final.summary()}"
    )
    soak_summary(line)
    problems = final.problems()
    assert not problems, (
        f"{line}\nreplay with {settings.SEED_VARIABLE}={soak_seed}\n"
        + "\n".join(problems)
        + "\nthe child's stderr:\n"
        + errors.decode(errors="replace")[-3000:]
    )
