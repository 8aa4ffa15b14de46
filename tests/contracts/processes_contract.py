"""Several OS processes on one durable store: at once, and one killed with SIGKILL mid-load.

Each child (``writer_process.py``) runs its own supervised system and store on the test's
storage and prints the id of every command acknowledged to it. Afterwards the storage
must hold every acknowledged command exactly once, whole (all its events), with gap-free
sequences and positions; a command that was not acknowledged may be missing but is
never torn; and a new store carries on where the children stopped. A backend's test
module subclasses :class:`ProcessesContract` with its ``DurableBackend``
(``durable_contract.py``).
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
from collections import defaultdict
from collections.abc import AsyncIterator, Callable

import pytest
import trio

import trio_eventsourcing as eventsourcing
from tests.contracts import writer_process
from tests.contracts.durable_contract import DurableBackend
from tests.contracts.durable_support import ROOT, child_environment
from tests.contracts.store_contract import answer
from trio_eventsourcing import Ok, process, static_supervisor


async def start_child(mode: str, me: str, where: list[str]) -> trio.Process:
    """Start ``writer_process`` in ``mode`` as ``me`` on the storage ``where`` names."""
    return await trio.lowlevel.open_process(
        [sys.executable, "-m", "tests.contracts.writer_process", mode, me, *where],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=child_environment(),
        cwd=ROOT,
    )


class Output:
    """The lines a child printed, read as they come."""

    def __init__(self, child: trio.Process) -> None:
        assert child.stdout is not None
        self._child = child
        self._stream = child.stdout
        self._buffer = b""
        self.lines: list[str] = []

    async def read_until(self, done: Callable[[list[str]], bool]) -> None:
        """Read lines until ``done(lines)`` holds; fail if the child ends first."""
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


class ProcessesContract(DurableBackend):
    """What a durable store promises writers in several processes, and one that is killed."""

    @pytest.fixture(params=[40, 1_000])
    def acknowledgements(self, request: pytest.FixtureRequest) -> int:
        """How many commands the killed writer has acknowledged before it is killed."""
        value: int = request.param
        return value

    def stored_commands(self) -> tuple[dict[str, list[int]], dict[str, list[int]]]:
        """The parts stored per command, and the sequences stored per aggregate."""
        parts: dict[str, list[int]] = defaultdict(list)
        sequences: dict[str, list[int]] = defaultdict(list)
        for aggregate_id, sequence, payload in self.rows(
            f"SELECT aggregate_id, sequence, payload FROM {self.table('events')} ORDER BY position"
        ):
            event = json.loads(payload)
            parts[event["command"]].append(event["part"])
            sequences[aggregate_id].append(sequence)
        return parts, sequences

    def check_commands(self, acknowledged: set[str]) -> dict[str, list[int]]:
        """Check the storage after the children; return the sequences per aggregate."""
        self.assert_consistent()
        parts, sequences = self.stored_commands()
        missing = acknowledged - set(parts)
        assert not missing, f"acknowledged but not stored: {sorted(missing)[:10]}"
        whole = list(range(writer_process.PARTS))
        broken = {command: p for command, p in parts.items() if p != whole}
        assert not broken, f"commands stored in part or twice: {broken}"
        for aggregate_id, sequence in self.rows(
            f"SELECT aggregate_id, sequence FROM {self.table('snapshots')}"
        ):
            assert sequence <= len(sequences[aggregate_id])
        return sequences

    async def reopen_and_continue(self) -> None:
        """A new store on the storage carries on where the children stopped."""
        store, spec = self.describe(writer_process.CODEC)
        name: process.Name[writer_process.TallyMessage] = process.new_name("tally")
        system = eventsourcing.supervised(
            name,
            store,
            writer_process.handle,
            writer_process.apply,
            writer_process.Tally(),
            [],
            None,
        ).unwrap()
        async with static_supervisor.new(static_supervisor.OneForOne).add(spec).add(system).open():
            subject = process.named_subject(name)
            reply = eventsourcing.execute_with_response(subject, "tally-0", "after", [])
            assert await answer(reply) == Ok(None)
            loaded = await answer(eventsourcing.load_aggregate(subject, "tally-0"))
            assert isinstance(loaded, Ok)
            assert loaded.value.entity.events == loaded.value.sequence

    @contextlib.asynccontextmanager
    async def children(self, mode: str, *names: str) -> AsyncIterator[list[trio.Process]]:
        """Writer children named ``names``, killed if still running after the block."""
        children = [await start_child(mode, me, self.child_args()) for me in names]
        try:
            yield children
        finally:
            for child in children:
                if child.returncode is None:
                    child.kill()
                    await child.wait()

    async def test_two_processes_on_the_same_aggregates_store_each_command_once(self) -> None:
        names = ("p1", "p2")
        async with self.children("race", *names) as children:
            outputs = [Output(child) for child in children]
            with trio.fail_after(60):
                # Both start on storage that does not exist yet: one creates it.
                for output in outputs:
                    await output.read_until(lambda lines: "ready" in lines)
                for child in children:
                    assert child.stdin is not None
                    await child.stdin.send_all(b"go\n")
                for output in outputs:
                    await output.read_to_end()
                for child in children:
                    assert await child.wait() == 0
        acknowledged = {
            line.split()[1] for o in outputs for line in o.lines if line.startswith("ok ")
        }
        failed = [line for o in outputs for line in o.lines if line.startswith("failed ")]
        assert not failed, failed[:5]
        expected = writer_process.CLIENTS * writer_process.COMMANDS
        assert len(acknowledged) == 2 * expected
        sequences = self.check_commands(acknowledged)
        parts, _ = self.stored_commands()
        assert set(parts) == acknowledged  # exactly the acknowledged ones, each once
        assert sum(len(s) for s in sequences.values()) == 2 * expected * writer_process.PARTS
        # Both processes wrote to every aggregate, and they did race each other.
        for aggregate_id in sequences:
            writers = {
                json.loads(payload)["command"].split("-")[0]
                for (payload,) in self.rows(
                    f"SELECT payload FROM {self.table('events')}"
                    f" WHERE aggregate_id = '{aggregate_id}'"
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
        await self.reopen_and_continue()

    async def test_sigkill_mid_load_loses_no_acknowledged_command(
        self, acknowledgements: int
    ) -> None:
        async with self.children("crash", "k") as (child,):
            output = Output(child)
            with trio.fail_after(60):
                await output.read_until(lambda lines: len(lines) >= acknowledgements)
                child.send_signal(signal.SIGKILL)
                # What it printed before dying was acknowledged too.
                await output.read_to_end()
                await child.wait()
        assert child.returncode == -signal.SIGKILL
        assert not [line for line in output.lines if line.startswith("failed ")]
        acknowledged = {line.split()[1] for line in output.lines if line.startswith("ok ")}
        assert len(acknowledged) >= acknowledgements
        self.check_commands(acknowledged)
        await self.reopen_and_continue()
        self.assert_consistent()
