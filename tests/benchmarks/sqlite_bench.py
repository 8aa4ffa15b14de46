"""The bank-account workload on the SQLite store, beside the peer's SQLite recorder.

Usage (from the repository): ``python -m tests.benchmarks.sqlite_bench [--quick] [--repeat N]
[--dir DIR]``.
``run.py`` (``nox -s bench``) runs these measurements among all the others, each in a
fresh process; this script runs only SQLite's, in its own process, and :func:`run`
returns their medians to a caller. Both use the same functions (``ours.py``,
``peer.py``) on the same workload (``workload.py``), alternating this library and the
PyPI ``eventsourcing`` package (when it is installed) so that a noisy machine hurts both
alike:

- W1: ``accounts`` accounts, each opened then given ``deposits`` deposits, by 1
  sequential client (each command waits for its answer before the next is sent) and by
  ``clients`` concurrent clients; commands per second.
- W2: a cold load of one aggregate of ``replay_events`` events, without and with
  snapshots every 100; seconds.
- W1 across types: the concurrent W1 dealt out to two aggregate types in one file (two
  systems on one database, half the clients each); commands per second and per commit,
  beside one type's.
- Log: reading the whole global log (every event of W1, decoded), in pages of 1,000;
  events per second.

Durability is the same on both sides: one file in WAL mode with ``synchronous=FULL``
(the peer does not set ``synchronous``; SQLite's default in WAL mode is FULL, and the
run checks it). Files go to ``--dir`` (default: a temporary directory), which must be on
a real disk for the figures to mean anything: on tmpfs an fsync costs nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sqlite3
import statistics
import tempfile
from pathlib import Path
from types import ModuleType

from tests.benchmarks import ours
from tests.benchmarks.workload import sizes


def _peer() -> ModuleType | None:
    try:
        from tests.benchmarks import peer
    except ImportError:
        return None
    return peer


def _fresh(path: Path) -> str:
    for suffix in ("", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    return str(path)


def run(quick: bool, repeat: int = 1, directory: Path | None = None) -> dict[str, float]:
    """Run every measurement ``repeat`` times; return the medians (and ratios).

    Keys: ``<side>_<measure>`` with side ``ours`` or ``peer``, and ``ratio_<measure>``
    (above 1: this library is better); ``ours_w1_*_per_commit`` is the group commit's
    commands per fsync; ``peer_synchronous`` the peer's ``PRAGMA synchronous``.
    """
    workload = sizes(quick)
    peer = _peer()
    root = Path(tempfile.mkdtemp(prefix="sqlite-bench-", dir=directory))
    figures: dict[str, list[float]] = {}

    def record(key: str, value: float) -> None:
        figures.setdefault(key, []).append(value)

    try:
        for repetition in range(repeat):
            for key, clients in (("w1_sequential", 1), ("w1_concurrent", workload.clients)):
                read_log = key == "w1_concurrent"
                where = ours.Target("sqlite", _fresh(root / f"ours-{key}.db"))
                mine = ours.w1(where, quick, clients, f"{key}-{repetition}", read_log)
                record(f"ours_{key}", mine["commands_per_s"])
                record(f"ours_{key}_per_commit", mine["commands_per_commit"])
                if read_log:
                    record("ours_log", mine["log_events_per_s"])
                if peer is not None:
                    there = peer.PeerTarget("sqlite", _fresh(root / f"peer-{key}.db"))
                    theirs = peer.w1(there, quick, clients, f"{key}-{repetition}", False, read_log)
                    record(f"peer_{key}", theirs["commands_per_s"])
                    if read_log:
                        record("peer_log", theirs["log_events_per_s"])
            # The same commands as w1_concurrent, dealt out to two aggregate types on one
            # file: group commit must serve them as well as one type.
            where = ours.Target("sqlite", _fresh(root / "ours-w1_types.db"))
            mine = ours.w1_types(where, quick, workload.clients, f"types-{repetition}")
            record("ours_w1_types", mine["commands_per_s"])
            record("ours_w1_types_per_commit", mine["commands_per_commit"])
            for key, every in (("w2_replay", None), ("w2_snapshots", workload.snapshot_every)):
                where = ours.Target("sqlite", _fresh(root / f"ours-{key}.db"))
                record(
                    f"ours_{key}", ours.cold_load(where, workload.replay_events, every)["seconds"]
                )
                if peer is not None:
                    there = peer.PeerTarget("sqlite", _fresh(root / f"peer-{key}.db"))
                    loaded = peer.cold_load(there, workload.replay_events, every)
                    record(f"peer_{key}", loaded["seconds"])
        result = {key: statistics.median(values) for key, values in figures.items()}
        if peer is not None:
            for key in ("w1_sequential", "w1_concurrent", "log"):
                result[f"ratio_{key}"] = result[f"ours_{key}"] / result[f"peer_{key}"]
            for key in ("w2_replay", "w2_snapshots"):
                result[f"ratio_{key}"] = result[f"peer_{key}"] / result[f"ours_{key}"]
            checked = peer.durability(
                peer.PeerTarget("sqlite", str(root / "peer-w1_concurrent.db"))
            )
            if not checked["wal"]:
                raise RuntimeError("the peer's SQLite file is not in WAL mode")
            result["peer_synchronous"] = checked["synchronous"]
        with contextlib.closing(sqlite3.connect(root / "ours-w1_concurrent.db")) as connection:
            mode = connection.execute("PRAGMA journal_mode").fetchone()[0]
        if mode != "wal":
            raise RuntimeError(f"our journal mode is {mode!r}")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return result


def main() -> None:
    """Parse the arguments, run, print one line per measure."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a reduced run")
    parser.add_argument("--repeat", type=int, default=1, help="repetitions (median reported)")
    parser.add_argument("--dir", type=Path, default=None, help="where the files go")
    args = parser.parse_args()
    workload = sizes(args.quick)
    result = run(args.quick, args.repeat, args.dir)
    rows = [
        ("w1_sequential", "W1, 1 sequential client", "commands/s"),
        ("w1_concurrent", f"W1, {workload.clients} concurrent clients", "commands/s"),
        ("w2_replay", f"W2, cold load of {workload.replay_events} events", "s"),
        ("w2_snapshots", f"W2, same with snapshots every {workload.snapshot_every}", "s"),
        ("log", "global log, read whole and decoded", "events/s"),
    ]
    print(
        f"SQLite store (WAL, synchronous=FULL), {workload.accounts} accounts x "
        f"{workload.deposits + 1} commands, repeat {args.repeat}, pid {os.getpid()}"
    )
    for key, label, unit in rows:
        line = f"{label:<48} {unit:<11} ours {result[f'ours_{key}']:>10.4g}"
        if f"peer_{key}" in result:
            line += f"  peer {result[f'peer_{key}']:>10.4g}  ratio {result[f'ratio_{key}']:6.2f}x"
        print(line)
    for key in ("w1_sequential", "w1_concurrent", "w1_types"):
        print(f"  {key}: {result[f'ours_{key}_per_commit']:.1f} commands per commit (group commit)")
    print(
        f"  w1_types: {result['ours_w1_types']:,.0f} commands/s over two aggregate types, "
        f"{result['ours_w1_types'] / result['ours_w1_concurrent']:.2f}x one type's"
    )
    if "peer_synchronous" in result:
        print(f"  peer PRAGMA synchronous = {int(result['peer_synchronous'])} (2 = FULL), WAL")
    else:
        print("  the peer (pip install eventsourcing==9.5.6) is not installed: no ratios")


if __name__ == "__main__":
    main()
