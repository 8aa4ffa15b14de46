"""SQLite under kill -9: every command acknowledged before the kill is there, exactly once.

A child process (``sqlite_child.py``) runs the workload on one file and reports each op
on stdout, an acknowledgement only after its ``Ok`` came. The test kills it with SIGKILL
after a random while, starts it again on the same file, several times, then checks the
file (every acknowledged op stored once, sequences and positions without gaps, ``PRAGMA
integrity_check``) and serves the file again from a new system in this process.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.soak import settings
from tests.soak.child_runs import after, check_and_serve, live_once, record
from tests.soak.workload import Ledger, Verdict

LIVES = 4
"""The fewest times the child is started on the file (one more per second of budget over
four); each life ends with SIGKILL."""


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
        moment = after(rng.uniform(0.05, 2 * seconds / lives))
        child = await live_once(path, f"l{life}", soak_seed, keys, moment)
        errors += child.errors
        record(ledger, child.lines())

    final = await check_and_serve(path, ledger, keys)

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
