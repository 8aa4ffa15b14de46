"""Driving the SQLite child process: start it on a file, SIGKILL it, read what it said.

Shared by the kill tests. A :class:`Child` collects the child's stdout (see
``sqlite_child.py`` for its lines) and stderr; :func:`record` turns the lines into ledger
entries; :func:`check_and_serve` checks the file after the kills and serves it again
from a new system in this process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import trio

import trio_eventsourcing as eventsourcing
from tests.soak.checker import Findings, check_stored, compare_served
from tests.soak.sqlite_child import parse_command
from tests.soak.sqlite_files import read_file
from tests.soak.workload import (
    CODEC,
    Asking,
    Ledger,
    Verdict,
    final_commands,
    load_served,
    running_bank,
)
from trio_eventsourcing import sqlite_store

ROOT = Path(__file__).resolve().parents[2]
"""The repository: the child runs as ``python -m tests.soak.sqlite_child`` from there."""
SOURCE = Path(eventsourcing.__file__).resolve().parents[1]
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
        self.troubled = trio.Event()
        """Set once the child reports an answer other than ``Ok`` or a domain error."""

    async def read_stdout(self) -> None:
        assert self.process.stdout is not None
        while chunk := await self.process.stdout.receive_some():
            self.output += chunk
            if not self.ready.is_set() and b"ready\n" in self.output:
                self.ready.set()
            if not self.troubled.is_set() and b"\nerrors " in self.output:
                self.troubled.set()
        self.ready.set()  # it ended (or was killed) before it was ready: stop waiting

    async def read_stderr(self) -> None:
        assert self.process.stderr is not None
        while chunk := await self.process.stderr.receive_some():
            self.errors += chunk

    def lines(self) -> list[str]:
        # A line cut short by the kill is not a whole report.
        return self.output.decode().split("\n")[:-1]


def after(seconds: float) -> Callable[[Child], Awaitable[None]]:
    """A moment to kill the child: ``seconds`` after it is ready."""

    async def wait(_: Child) -> None:
        await trio.sleep(seconds)  # the random moment of the kill

    return wait


async def live_once(
    path: Path, prefix: str, seed: int, keys: bool, until_kill: Callable[[Child], Awaitable[None]]
) -> Child:
    """Start the child on ``path``; once it is ready, await ``until_kill``, then SIGKILL it."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(ROOT), str(SOURCE), env.get("PYTHONPATH")])
    )
    command = [sys.executable, "-m", "tests.soak.sqlite_child", str(path), prefix, str(seed)]
    proc = await trio.lowlevel.open_process(
        [*command, "1" if keys else "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
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
            await until_kill(child)
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
            case ["ready"] | ["errors", _]:
                pass
            case _:
                raise AssertionError(f"the child printed {line!r}")
    for op in ledger.ops.values():
        if op.verdict is None:
            op.verdict = Verdict.UNRESOLVED  # in flight at the kill
            op.errors.append("in flight when the process was killed")


async def check_and_serve(path: Path, ledger: Ledger, keys: bool) -> Findings:
    """Check the file after the kills, serve it from a new system, check it again.

    The new system must serve every account as its events fold (nothing cached survives a
    kill, so this checks the store's reads) and acknowledge a final command on each.
    """
    integrity, events, snapshots = await trio.to_thread.run_sync(read_file, path)
    findings = check_stored(ledger, events, snapshots, None)
    if integrity != "ok":
        findings.service_problems.append(f"PRAGMA integrity_check after the kills: {integrity}")
    store, store_spec = sqlite_store.supervised(path, CODEC)
    async with running_bank(store, store_spec) as bank:
        served, failures = await load_served(bank, REPLY_MS)
        findings.service_problems += failures
        compare_served(findings, served, "after the kills")
        asking = Asking(keys, REPLY_MS, trio.current_time() + 30)
        service = await final_commands(bank, ledger, "after-", asking)
        served, failures = await load_served(bank, REPLY_MS)
    integrity, events, snapshots = await trio.to_thread.run_sync(read_file, path)
    final = check_stored(ledger, events, snapshots, None)
    final.service_problems += findings.service_problems + service + failures
    final.cache_problems += findings.cache_problems
    compare_served(final, served, "after the final commands")
    if integrity != "ok":
        final.service_problems.append(f"PRAGMA integrity_check at the end: {integrity}")
    return final
