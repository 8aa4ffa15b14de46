"""Crash safety: a writer process killed with SIGKILL loses no acknowledged command.

A child process (``crash_writer.py``) commits commands of three events each and prints
the id of every command acknowledged to it. The test kills it with SIGKILL in the middle
of that load, then opens the file: every acknowledged command is stored, no command is
stored in part, sequences have no gaps, and SQLite finds the file intact.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
import trio

import trio_eventsourcing
from tests.contracts.store_contract import answer
from tests.sqlite import crash_writer
from tests.sqlite.helpers import rows
from trio_eventsourcing import Ok, process, sqlite_store, static_supervisor

SCRIPT = Path(crash_writer.__file__)
SOURCE = Path(trio_eventsourcing.__file__).parents[1]


async def run_and_kill(path: Path, acknowledgements: int) -> set[str]:
    """Run the writer until it has acknowledged enough commands, SIGKILL it mid-load."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SOURCE), env.get("PYTHONPATH")]))
    child = await trio.lowlevel.open_process(
        [sys.executable, str(SCRIPT), str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert child.stdout is not None
    assert child.stderr is not None
    output = b""
    try:
        with trio.fail_after(60):
            while output.count(b"\n") < acknowledgements:
                chunk = await child.stdout.receive_some()
                if not chunk:
                    error = await child.stderr.receive_some()
                    pytest.fail(f"the writer ended early: {error.decode(errors='replace')}")
                output += chunk
            child.send_signal(signal.SIGKILL)
            # What it printed before dying was acknowledged too.
            while chunk := await child.stdout.receive_some():
                output += chunk
            await child.wait()
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
    assert child.returncode == -signal.SIGKILL
    lines = output.decode().split("\n")
    # A line cut short by the kill is not a whole acknowledgement.
    return {line for line in lines[:-1] if line}


def check_file(path: Path, acknowledged: set[str]) -> int:
    """Check the file after the kill; return how many commands it holds."""
    assert rows(path, "PRAGMA integrity_check") == [("ok",)]
    parts: dict[str, list[int]] = defaultdict(list)
    sequences: dict[str, list[int]] = defaultdict(list)
    for aggregate_id, sequence, payload in rows(
        path, "SELECT aggregate_id, sequence, payload FROM events ORDER BY position"
    ):
        event = json.loads(payload)
        parts[event["command"]].append(event["part"])
        sequences[aggregate_id].append(sequence)
    missing = acknowledged - set(parts)
    assert not missing, f"acknowledged but not stored: {sorted(missing)[:10]}"
    torn = {command: p for command, p in parts.items() if p != list(range(crash_writer.PARTS))}
    assert not torn, f"commands stored in part: {torn}"
    for aggregate_id, stored in sequences.items():
        assert stored == list(range(1, len(stored) + 1)), aggregate_id
    for aggregate_id, sequence in rows(path, "SELECT aggregate_id, sequence FROM snapshots"):
        assert sequence <= len(sequences[aggregate_id])
    return len(parts)


async def reopen_and_continue(path: Path) -> None:
    """The store opens the file again and carries on where the killed writer stopped."""
    store, spec = sqlite_store.supervised(path, crash_writer.CODEC)
    name: process.Name[
        trio_eventsourcing.AggregateMessage[crash_writer.Tally, str, crash_writer.Marked, None]
    ] = process.new_name("tally")
    system = trio_eventsourcing.supervised(
        name, store, crash_writer.handle, crash_writer.apply, crash_writer.Tally(), [], None
    ).unwrap()
    async with static_supervisor.new(static_supervisor.OneForOne).add(spec).add(system).open():
        subject = process.named_subject(name)
        reply = trio_eventsourcing.execute_with_response(subject, "tally-0", "after", [])
        assert await answer(reply) == Ok(None)
        loaded = await answer(trio_eventsourcing.load_aggregate(subject, "tally-0"))
        assert isinstance(loaded, Ok)
        assert loaded.value.entity.events == loaded.value.sequence


@pytest.mark.parametrize("acknowledgements", [40, 3_000])
async def test_sigkill_mid_load_loses_no_acknowledged_command(
    tmp_path: Path, acknowledgements: int
) -> None:
    path = tmp_path / "crash.db"
    acknowledged = await run_and_kill(path, acknowledgements)
    assert len(acknowledged) >= acknowledgements
    stored = check_file(path, acknowledged)
    assert stored >= len(acknowledged)
    await reopen_and_continue(path)
    assert rows(path, "PRAGMA integrity_check") == [("ok",)]
