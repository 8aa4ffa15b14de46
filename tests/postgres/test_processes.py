"""Several OS processes on one store: at once, and one killed with SIGKILL mid-load.

Each child (``writer_process.py``) runs its own supervised system and store on the test's
schema and prints the id of every command acknowledged to it. Afterwards the tables must
hold every acknowledged command exactly once, whole (all its events), with gap-free
sequences; a command that was not acknowledged may be missing but is never torn.
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
from tests.postgres import writer_process
from tests.postgres.helpers import rows
from trio_eventsourcing import Ok, postgres_store, process, static_supervisor

SCRIPT = Path(writer_process.__file__)
SOURCE = Path(trio_eventsourcing.__file__).parents[1]


async def start_child(mode: str, dsn: str, schema: str, me: str) -> trio.Process:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SOURCE), env.get("PYTHONPATH")]))
    return await trio.lowlevel.open_process(
        [sys.executable, str(SCRIPT), mode, dsn, schema, me],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )


class Output:
    """The lines a child printed, read as they come."""

    def __init__(self, child: trio.Process) -> None:
        assert child.stdout is not None
        self._child = child
        self._stream = child.stdout
        self._buffer = b""
        self.lines: list[str] = []

    async def read_until(self, done: object) -> None:
        """Read lines until ``done(lines)`` holds; fail if the child ends first."""
        assert callable(done)
        while not done(self.lines):
            chunk = await self._stream.receive_some()
            if not chunk:
                assert self._child.stderr is not None
                error = await self._child.stderr.receive_some()
                pytest.fail(f"the child ended early: {error.decode(errors='replace')}")
            self._buffer += chunk
            *whole, self._buffer = self._buffer.split(b"\n")
            self.lines += [line.decode() for line in whole]

    async def read_to_end(self) -> None:
        """Read everything left; a line cut short by a kill is not a whole line."""
        while chunk := await self._stream.receive_some():
            self._buffer += chunk
        *whole, self._buffer = self._buffer.split(b"\n")
        self.lines += [line.decode() for line in whole]


def stored_commands(dsn: str, schema: str) -> tuple[dict[str, list[int]], dict[str, list[int]]]:
    """The parts stored per command, and the sequences stored per aggregate."""
    parts: dict[str, list[int]] = defaultdict(list)
    sequences: dict[str, list[int]] = defaultdict(list)
    for aggregate_id, sequence, payload in rows(
        dsn,
        f'SELECT aggregate_id, sequence, payload FROM "{schema}".trio_es_events ORDER BY position',
    ):
        event = json.loads(payload)
        parts[event["command"]].append(event["part"])
        sequences[aggregate_id].append(sequence)
    return parts, sequences


def check_tables(dsn: str, schema: str, acknowledged: set[str]) -> dict[str, list[int]]:
    parts, sequences = stored_commands(dsn, schema)
    missing = acknowledged - set(parts)
    assert not missing, f"acknowledged but not stored: {sorted(missing)[:10]}"
    whole = list(range(writer_process.PARTS))
    broken = {command: p for command, p in parts.items() if p != whole}
    assert not broken, f"commands stored in part or twice: {broken}"
    for aggregate_id, stored in sequences.items():
        assert stored == list(range(1, len(stored) + 1)), aggregate_id
    for aggregate_id, sequence in rows(
        dsn, f'SELECT aggregate_id, sequence FROM "{schema}".trio_es_snapshots'
    ):
        assert sequence <= len(sequences[aggregate_id])
    positions = [row[0] for row in rows(dsn, f'SELECT position FROM "{schema}".trio_es_events')]
    assert sorted(positions) == list(range(1, len(positions) + 1))
    return sequences


async def test_two_processes_on_the_same_aggregates_store_each_command_once(
    dsn: str, schema: str
) -> None:
    names = ("p1", "p2")
    children = [await start_child("race", dsn, schema, me) for me in names]
    outputs = [Output(child) for child in children]
    try:
        with trio.fail_after(60):
            # Both start on a schema that does not exist yet: one creates the tables.
            for output in outputs:
                await output.read_until(lambda lines: "ready" in lines)
            for child in children:
                assert child.stdin is not None
                await child.stdin.send_all(b"go\n")
            for output in outputs:
                await output.read_to_end()
            for child in children:
                assert await child.wait() == 0
    finally:
        for child in children:
            if child.returncode is None:
                child.kill()
                await child.wait()
    acknowledged = {line.split()[1] for o in outputs for line in o.lines if line.startswith("ok ")}
    failed = [line for o in outputs for line in o.lines if line.startswith("failed ")]
    assert not failed, failed[:5]
    expected = writer_process.CLIENTS * writer_process.COMMANDS
    assert len(acknowledged) == 2 * expected
    sequences = check_tables(dsn, schema, acknowledged)
    parts, _ = stored_commands(dsn, schema)
    assert set(parts) == acknowledged  # exactly the acknowledged ones, each once
    assert sum(len(s) for s in sequences.values()) == 2 * expected * writer_process.PARTS
    # Both processes wrote to every aggregate, and they did race each other.
    for aggregate_id in sequences:
        writers = {
            json.loads(payload)["command"].split("-")[0]
            for (payload,) in rows(
                dsn,
                f'SELECT payload FROM "{schema}".trio_es_events WHERE aggregate_id = %s',
                (aggregate_id,),
            )
        }
        assert writers == set(names), aggregate_id
    conflicts = sum(
        int(line.split()[1].split("=")[1])
        for o in outputs
        for line in o.lines
        if line.startswith("stats ")
    )
    assert conflicts > 0, conflicts


@pytest.mark.parametrize("acknowledgements", [40, 1_000])
async def test_sigkill_mid_load_loses_no_acknowledged_command(
    dsn: str, schema: str, acknowledgements: int
) -> None:
    child = await start_child("crash", dsn, schema, "k")
    output = Output(child)
    try:
        with trio.fail_after(60):
            await output.read_until(lambda lines: len(lines) >= acknowledgements)
            child.send_signal(signal.SIGKILL)
            # What it printed before dying was acknowledged too.
            await output.read_to_end()
            await child.wait()
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
    assert child.returncode == -signal.SIGKILL
    assert not [line for line in output.lines if line.startswith("failed ")]
    acknowledged = {line.split()[1] for line in output.lines if line.startswith("ok ")}
    assert len(acknowledged) >= acknowledgements
    check_tables(dsn, schema, acknowledged)
    await reopen_and_continue(dsn, schema)


async def reopen_and_continue(dsn: str, schema: str) -> None:
    """A new store on the tables carries on where the killed process stopped."""
    store, spec = postgres_store.supervised(dsn, writer_process.CODEC, schema=schema)
    name: process.Name[
        trio_eventsourcing.AggregateMessage[writer_process.Tally, str, writer_process.Marked, None]
    ] = process.new_name("tally")
    system = trio_eventsourcing.supervised(
        name, store, writer_process.handle, writer_process.apply, writer_process.Tally(), [], None
    ).unwrap()
    async with static_supervisor.new(static_supervisor.OneForOne).add(spec).add(system).open():
        subject = process.named_subject(name)
        reply = trio_eventsourcing.execute_with_response(subject, "tally-0", "after", [])
        assert await answer(reply) == Ok(None)
        loaded = await answer(trio_eventsourcing.load_aggregate(subject, "tally-0"))
        assert isinstance(loaded, Ok)
        assert loaded.value.entity.events == loaded.value.sequence
