"""Run the benchmarks side by side with the peer: print the table, write JSON and a plot.

Usage::

    nox -s bench                   # the full run (3 repetitions, about 9 minutes each on 2 cores)
    nox -s bench -- --quick        # a reduced run, one repetition (CI smoke, under a minute)
    python -m tests.benchmarks.run [--quick] [--repeat N] [--stores memory,sqlite,postgres]
                                   [--json PATH] [--svg PATH] [--dir DIR] [--dsn DSN]

One workload (``workload.py``) runs on this library (``ours.py``) and on the PyPI
``eventsourcing`` package (``peer.py``) with the matching store: memory and POPO, SQLite
and SQLite (one file, WAL, ``synchronous=FULL`` on both), PostgreSQL and PostgreSQL (the
same server, in schemas created for the run and dropped after it; skipped, saying why,
when no server answers at ``--dsn``). Every measurement runs in a fresh process
(``measure.py``), so its peak RSS is its own; within a repetition the two sides of a
measurement run back to back, and which goes first alternates between repetitions, so
a machine shared with other work hurts both alike. Compare ratios within one run.

This library runs every W1 measurement (each store, 1 and N clients) and the W4 client
series twice, through its Trio-native API (``await system.execute(...)``) and through its
Gleam-shaped one (``execute_with_response`` + ``process.receive``): a row for each, each
with its ratio; W3 (the log read) comes from the Trio-native run.

The peer runs its write paths (W1, W4, the stream-length rows) twice, as installed and
with its aggregate cache on (``peer.py`` says how), each run checked afterwards through a
new uncached application; every ratio is against the faster of the two, which the table
names. Cold loads and the log read run the peer once, uncached: a cache cannot apply.

Printed: the table (medians over the repetitions, min-max, both peer variants, the
ratio to the faster one, peak RSS),
the memory of the bounded-cache check, the per-command budget (both APIs beside a bare
Trio request/reply to a server task, measured in one process), the runtime's overhead on
bare Trio, a projection of one event type in three beside the whole log's (SQLite and
PostgreSQL, ``selection_bench.py``), read-your-writes latency with ``execute_and_wait``
beside a plain command's (every store, ``consistency_bench.py``), money transfers per
second through the transfers' process manager with its commands per commit (SQLite and
PostgreSQL, ``transfers_bench.py``; this library only: the peer has no process managers),
and the scale checks with PASS or SHORT (with the targets of both APIs against the peer).
Written: every figure of every repetition as JSON (``--json``, default
``tests/benchmarks/results/latest.json``) and the scaling curves as SVG (``--svg``,
default ``docs/performance-scaling.svg``, which the docs embed; a ``--quick`` run writes
``tests/benchmarks/results/scaling-quick.svg`` instead).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import secrets
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Literal

from tests.benchmarks import svgplot
from tests.benchmarks.measure import MARK
from tests.benchmarks.server import DEFAULT_DSN, postgres_execute
from tests.benchmarks.workload import Workload, sizes

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DEFAULT_JSON = HERE / "results" / "latest.json"
DEFAULT_SVG = ROOT / "docs" / "performance-scaling.svg"
QUICK_SVG = HERE / "results" / "scaling-quick.svg"
NO_IDLE_TIMEOUT_MS = 600_000  # the same as ours.WITHIN_MS: longer than any run
IDLE_TIMEOUT_MS = 1_000  # the idle-eviction variant of the bounded-memory check
MIB = 1024 * 1024
MEASURE = "tests.benchmarks.measure"
SCALE_COLD_LOADS = 3  # aggregates of up to 10^5 events each side: W2 takes 15 of 10^4
TRANSFERS = "tests.benchmarks.transfers_bench"  # runs its job itself, as measure.py does

Side = Literal["ours", "peer"]
Slot = Literal["ours", "ours_gleam", "peer", "peer_cached"]
"""Whose outcomes: this library's (through its Trio-native API, and through its
Gleam-shaped one where a measurement runs both), the peer's as installed, the peer's
with its cache."""
OURS_SLOTS: tuple[Slot, ...] = ("ours", "ours_gleam")
PEER_SLOTS: tuple[Slot, ...] = ("peer", "peer_cached")
PEER_VARIANT: dict[Slot, str] = {"peer": "uncached", "peer_cached": "cached"}
API_NAME: dict[Slot, str] = {"ours": "Trio-native", "ours_gleam": "Gleam-shaped"}
"""The API of this library's commands in each of its slots (the W1 and W4-clients jobs)."""
API_OF: dict[Slot, str] = {"ours": "native", "ours_gleam": "gleam"}
"""``ours.w1``'s ``api`` argument for each of this library's slots."""
BOTH_IN_MEMORY: tuple[tuple[Side, str], ...] = (("ours", "memory"), ("peer", "popo"))


@dataclass(frozen=True)
class Job:
    """One side of a measurement: a task of ``ours.py`` or ``peer.py`` and its store."""

    side: Side
    task: str
    store: str | None  # memory, popo, sqlite, postgres; None: the task needs no store
    args: dict[str, object]
    module: str = MEASURE  # the module run with the job as JSON (``python -m``)

    @property
    def slot(self) -> Slot:
        """Where its outcomes go: the peer with its cache (``"cache": True``) apart, and
        this library through its Gleam-shaped API (``"api": "gleam"``) apart."""
        if self.side == "peer" and self.args.get("cache") is True:
            return "peer_cached"
        if self.side == "ours" and self.args.get("api") == "gleam":
            return "ours_gleam"
        return self.side


def peer_twins(
    task: str, store: str, args: dict[str, object], **cached_args: object
) -> tuple[Job, Job]:
    """A peer write-path job without its aggregate cache and with it (``cached_args``
    replace some of ``args`` in the cached one)."""
    return (
        Job("peer", task, store, {**args, "cache": False}),
        Job("peer", task, store, {**args, **cached_args, "cache": True}),
    )


@dataclass(frozen=True)
class Outcome:
    """What one job printed: its figures, and its memory (bytes) and GC time."""

    figures: dict[str, float]
    memory: dict[str, float]


@dataclass
class Measurement:
    """Jobs run together in every repetition, and what each repetition gave."""

    key: str
    label: str
    jobs: list[Job]
    outcomes: dict[str, list[Outcome]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Row:
    """A line of the table: a figure of this library beside one of the peer."""

    section: str
    label: str
    unit: str  # commands/s, events/s, s (shown in ms)
    higher_is_better: bool
    ours: tuple[str, str] | None  # (measurement key, figure name)
    peer: tuple[str, str] | None
    ours_slot: Slot = "ours"  # "ours_gleam": this library's figure through the Gleam API


@dataclass
class Plan:
    """The measurements in the order they run, and the rows of the table."""

    measurements: dict[str, Measurement] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def measure(self, key: str, label: str, *jobs: Job) -> str:
        self.measurements[key] = Measurement(key, label, list(jobs))
        return key

    def row(
        self,
        section: str,
        label: str,
        unit: str,
        ours: tuple[str, str] | None,
        peer: tuple[str, str] | None,
        ours_slot: Slot = "ours",
    ) -> None:
        self.rows.append(Row(section, label, unit, unit != "s", ours, peer, ours_slot))


# --- what runs --------------------------------------------------------------------------

PAIRS = (
    ("memory", "popo", "memory store vs the peer's POPO (in memory)"),
    ("sqlite", "sqlite", "SQLite vs the peer's SQLite (one file each, WAL, synchronous=FULL)"),
    (
        "postgres",
        "postgres",
        "PostgreSQL vs the peer's PostgreSQL (one server, default durability)",
    ),
)


def build_plan(workload: Workload, quick: bool, stores: set[str]) -> Plan:
    """Every measurement of a run, and the rows that show them."""
    plan = Plan()
    for ours_store, peer_store, section in PAIRS:
        if ours_store in stores:
            _store_section(plan, workload, quick, ours_store, peer_store, section)
    if "memory" in stores:
        _scaling_sections(plan, workload, quick)
    return plan


def _store_section(
    plan: Plan, workload: Workload, quick: bool, ours_store: str, peer_store: str, section: str
) -> None:
    prefix = ours_store
    for key, clients in (("w1_seq", 1), ("w1_conc", workload.clients)):
        read_log = key == "w1_conc"
        plan.measure(
            f"{prefix}.{key}",
            f"{prefix} W1, {clients} client(s)",
            # Both APIs of this library; W3 (the log read) from the Trio-native run only.
            *ours_twins("w1", ours_store, _w1_args(quick, clients, key, read_log)),
            # W3 (the log read) from the uncached run only: the cache plays no part in it.
            *peer_twins(
                "w1",
                peer_store,
                _w1_args(quick, clients, key, read_log, threads=False),
                read_log=False,
            ),
        )
    for key, every in (("w2", None), ("w2_snap", workload.snapshot_every)):
        args: dict[str, object] = {"events": workload.replay_events, "snapshot_every": every}
        plan.measure(
            f"{prefix}.{key}",
            f"{prefix} W2, snapshots {every}",
            *api_twins("cold_load", ours_store, args),
            # Uncached only: a cold load reads the store (peer.cold_load checks no cache).
            Job("peer", "cold_load", peer_store, args),
        )
    if ours_store == "sqlite":
        plan.measure(
            "sqlite.durability", "peer SQLite durability", Job("peer", "durability", "sqlite", {})
        )
        # The concurrent W1 dealt out to two aggregate types on one file (one database).
        plan.measure(
            "sqlite.w1_types",
            f"sqlite W1, {workload.clients} clients over 2 aggregate types",
            # Trio-native, as the W1 run it is checked against (the "ours" slot).
            Job(
                "ours",
                "w1_types",
                "sqlite",
                {"quick": quick, "clients": workload.clients, "run": "types", "api": "native"},
            ),
        )
    if ours_store != "memory":
        # One event type of three (select(store).only) beside the whole log: this library only.
        plan.measure(
            f"{prefix}.selection",
            f"{prefix} projection of 1 event type in 3 vs the whole log",
            Job(
                "ours",
                "selection",
                ours_store,
                {"events": workload.selection_events, "rounds": workload.selection_rounds},
            ),
        )
    if ours_store != "memory":
        # Money transfers through the durable process manager: this library only.
        plan.measure(
            f"{prefix}.transfers",
            f"{prefix} transfers through the process manager",
            Job("ours", "transfers", ours_store, {"quick": quick}, module=TRANSFERS),
        )
    plan.measure(
        f"{prefix}.consistency",
        f"{prefix} read-your-writes (execute_and_wait) vs plain commands",
        Job(
            "ours",
            "read_your_writes",
            ours_store,
            {"commands": workload.consistency_commands, "block": workload.consistency_block},
        ),
    )
    for key, label in (
        ("w1_seq", "W1, 1 sequential client"),
        ("w1_conc", f"W1, {workload.clients} concurrent clients (a)"),
    ):
        for slot in OURS_SLOTS:
            source = (f"{prefix}.{key}", "commands_per_s")
            plan.row(section, api_label(label, slot), "commands/s", source, source, slot)
    for key, label in (
        ("w2", f"W2, cold load of {workload.replay_events:,} events"),
        ("w2_snap", f"W2, same, snapshot every {workload.snapshot_every}"),
    ):
        for slot in OURS_SLOTS:
            source = (f"{prefix}.{key}", "seconds")
            plan.row(section, api_label(label, slot), "s", source, source, slot)
    source = (f"{prefix}.w1_conc", "log_events_per_s")
    plan.row(section, "W3, global log read whole, decoded (b)", "events/s", source, source)


def api_label(label: str, slot: Slot) -> str:
    """The label of a row of this library through the API of ``slot``."""
    return f"{label} \N{EM DASH} {API_NAME[slot]}"


def ours_twins(task: str, store: str, args: dict[str, object]) -> tuple[Job, Job]:
    """A job of this library through its Trio-native API, and the same job through its
    Gleam-shaped API; a log read (``read_log``) runs in the Trio-native one only."""
    return (
        Job("ours", task, store, {**args, "api": API_OF["ours"]}),
        Job("ours", task, store, {**args, "read_log": False, "api": API_OF["ours_gleam"]}),
    )


def api_twins(task: str, store: str, args: dict[str, object]) -> tuple[Job, Job]:
    """A job of this library through each of its APIs: the Trio-native, the Gleam-shaped."""
    native, gleam = (Job("ours", task, store, {**args, "api": API_OF[slot]}) for slot in OURS_SLOTS)
    return native, gleam


def _w1_args(
    quick: bool, clients: int, run: str, read_log: bool, threads: bool | None = None
) -> dict[str, object]:
    args: dict[str, object] = {"quick": quick, "clients": clients, "run": run, "read_log": read_log}
    if threads is not None:
        args["threads"] = threads
    return args


def client_label(clients: int) -> str:
    """The label of a W4 row of ``clients`` clients (before its API)."""
    return f"{clients:,} client(s), W1 workload"


def _scaling_sections(plan: Plan, workload: Workload, quick: bool) -> None:
    section = "W4: clients (memory vs POPO; the peer with one thread per client)"
    for clients in workload.client_series:
        if clients == 1:
            ours_key = peer_key = "memory.w1_seq"
        else:
            ours_key = (
                "memory.w1_conc"
                if clients == workload.clients
                else plan.measure(
                    f"w4.clients{clients}",
                    f"W4 {clients} clients",
                    *ours_twins("w1", "memory", _w1_args(quick, clients, f"c{clients}", False)),
                )
            )
            peer_key = plan.measure(
                f"w4.threads{clients}",
                f"W4 peer {clients} threads",
                *peer_twins("w1", "popo", _w1_args(quick, clients, f"t{clients}", False, True)),
            )
        for slot in OURS_SLOTS:
            plan.row(
                section,
                api_label(client_label(clients), slot),
                "commands/s",
                (ours_key, "commands_per_s"),
                (peer_key, "commands_per_s"),
                slot,
            )

    section = "W4: live aggregates (memory store vs POPO, the peer on 1 thread) (c)"
    for aggregates in workload.live_series:
        key = plan.measure(
            f"w4.live{aggregates}",
            f"W4 {aggregates} live aggregates",
            *api_twins(
                "live",
                "memory",
                {
                    "aggregates": aggregates,
                    "commands": workload.live_commands,
                    "clients": workload.clients,
                },
            ),
            *peer_twins(
                "live", "popo", {"aggregates": aggregates, "commands": workload.live_commands}
            ),
        )
        for slot in OURS_SLOTS:
            plan.row(
                section,
                api_label(f"{aggregates:,} live: {workload.live_commands:,} deposits", slot),
                "commands/s",
                (key, "commands_per_s"),
                (key, "commands_per_s"),
                slot,
            )
            plan.row(
                section,
                api_label(f"{aggregates:,} live: their opening", slot),
                "commands/s",
                (key, "open_commands_per_s"),
                (key, "open_commands_per_s"),
                slot,
            )
    # The density checks (issue 16): a million live aggregates, and the bytes of each.
    plan.measure(
        "w4.million",
        f"W4 {workload.million} live aggregates",
        *api_twins(
            "live",
            "memory",
            {
                "aggregates": workload.million,
                "commands": workload.million_commands,
                "clients": workload.clients,
            },
        ),
    )
    plan.measure(
        "memory.density",
        f"bytes per cached aggregate, {workload.dense} accounts",
        *api_twins(
            "density", "memory", {"aggregates": workload.dense, "clients": workload.clients}
        ),
    )

    small, large = workload.caps
    # The large cap is the biggest live-aggregates run: its opening touches `touched`
    # accounts once each with a cap of as many workers.
    assert large == workload.touched == workload.live_series[-1], workload
    plan.measure(
        "scale.touch_small",
        f"touch {workload.touched} once, cap {small}",
        Job(
            "ours",
            "touch_once",
            "memory",
            {
                "aggregates": workload.touched,
                "cap": small,
                "clients": workload.clients,
                "idle_timeout_ms": NO_IDLE_TIMEOUT_MS,
            },
        ),
    )
    plan.measure(
        "scale.touch_idle",
        f"touch {workload.touched} once, cap {large}, idle timeout",
        Job(
            "ours",
            "touch_once",
            "memory",
            {
                "aggregates": workload.touched,
                "cap": large,
                "clients": workload.clients,
                "idle_timeout_ms": IDLE_TIMEOUT_MS,
            },
        ),
    )
    plan.measure(
        "scale.store_only",
        f"store {workload.touched} aggregates, no system",
        Job("ours", "store_only", "memory", {"aggregates": workload.touched}),
    )

    section = "Stream length: commands on a cached long aggregate vs a fresh one (memory vs POPO)"
    key = plan.measure(
        "scale.stream",
        "stream length",
        Job(
            "ours",
            "stream_length",
            "memory",
            {"events": workload.long_stream, "commands": workload.long_commands},
        ),
        # Uncached, each of the peer's commands replays the whole aggregate: a few
        # commands suffice. Cached, as many as this library's.
        *peer_twins(
            "stream_length",
            "popo",
            {"events": workload.long_stream, "commands": workload.long_commands_peer},
            commands=workload.long_commands,
        ),
    )
    plan.row(
        section,
        "fresh aggregate",
        "commands/s",
        (key, "fresh_commands_per_s"),
        (key, "fresh_commands_per_s"),
    )
    plan.row(
        section,
        f"aggregate of {workload.long_stream:,} events",
        "commands/s",
        (key, "long_commands_per_s"),
        (key, "long_commands_per_s"),
    )

    section = "Cold loads (memory vs POPO): linear in events, or in events since the snapshot"
    for events in workload.cold_series:
        plain = (
            "memory.w2"
            if events == workload.replay_events
            else plan.measure(
                f"scale.cold{events}",
                f"cold load {events}",
                *(
                    Job(
                        side,
                        "cold_load",
                        store,
                        {"events": events, "snapshot_every": None, "loads": SCALE_COLD_LOADS},
                    )
                    for side, store in BOTH_IN_MEMORY
                ),
            )
        )
        plan.row(section, f"{events:,} events", "s", (plain, "seconds"), (plain, "seconds"))
    for events in workload.cold_series:
        total = events + workload.since_snapshot
        snap = plan.measure(
            f"scale.cold_snap{events}",
            f"cold load {total} with snapshots",
            *(
                Job(
                    side,
                    "cold_load",
                    store,
                    {
                        "events": total,
                        "snapshot_every": workload.snapshot_every,
                        "loads": SCALE_COLD_LOADS,
                    },
                )
                for side, store in BOTH_IN_MEMORY
            ),
        )
        plan.row(
            section,
            f"{total:,} events, snapshot at {events:,}",
            "s",
            (snap, "seconds"),
            (snap, "seconds"),
        )

    plan.measure(
        "budget",
        "per-command budget",
        Job("ours", "budget", None, {"commands": 2_000 if quick else 20_000}),
    )
    plan.measure("runtime", "runtime vs bare Trio", Job("ours", "runtime", None, {"quick": quick}))


# --- running ----------------------------------------------------------------------------


class JobFailed(Exception):
    """A measurement process failed or printed no figures."""


def _postgres_status(dsn: str) -> tuple[dict[str, str], str | None]:
    """The server's version and durability, or why PostgreSQL rows are skipped."""
    try:
        import psycopg
    except ImportError:
        return {}, "psycopg is not installed (the `bench` dependency group installs it)"
    try:
        from tests.benchmarks import postgres_bench  # noqa: F401  (our side's W1 and W3 on PostgreSQL)
        from trio_eventsourcing import postgres_store  # noqa: F401
    except ImportError as exc:
        return {}, f"this library's PostgreSQL store or its benchmark is missing: {exc}"
    try:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=3) as connection:
            version = connection.execute(b"SHOW server_version").fetchone()
            durability = connection.execute(b"SHOW synchronous_commit").fetchone()
            fsync = connection.execute(b"SHOW fsync").fetchone()
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return {}, f"no PostgreSQL server answers at {_redact(dsn)}: {reason}"
    assert version is not None
    assert durability is not None
    assert fsync is not None
    return {
        "server_version": str(version[0]),
        "synchronous_commit": str(durability[0]),
        "fsync": str(fsync[0]),
    }, None


def _redact(dsn: str) -> str:
    from psycopg import conninfo

    params = conninfo.conninfo_to_dict(dsn)
    if params.get("password"):
        params["password"] = "***"
    return conninfo.make_conninfo(**{k: str(v) for k, v in params.items()})


class Runner:
    """Runs jobs in fresh processes, each on a fresh SQLite file or PostgreSQL schema."""

    def __init__(self, directory: Path, dsn: str, timeout: float) -> None:
        self.directory = directory
        self.dsn = dsn
        self.timeout = timeout
        self.numbers = itertools.count()
        self.tag = secrets.token_hex(3)

    def run(self, job: Job) -> Outcome:
        number = next(self.numbers)
        target: dict[str, str] | None = None
        path: Path | None = None
        schema: str | None = None
        if job.store in ("memory", "popo"):
            target = {"kind": job.store}
        elif job.store == "sqlite":
            path = self.directory / f"{job.side}-{number}.db"
            target = {"kind": "sqlite", "location": str(path)}
        elif job.store == "postgres":
            schema = f"trio_es_bench_{self.tag}_{number}"
            postgres_execute(self.dsn, f'CREATE SCHEMA "{schema}"')
            target = {"kind": "postgres", "location": schema, "dsn": self.dsn}
        spec = {"side": job.side, "task": job.task, "target": target, "args": job.args}
        try:
            completed = subprocess.run(
                [sys.executable, "-m", job.module, json.dumps(spec)],
                capture_output=True,
                text=True,
                timeout=self.timeout,
                cwd=ROOT,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise JobFailed(
                f"{job.side} {job.task}: no result within {self.timeout:.0f} s"
            ) from exc
        finally:
            if path is not None:
                for suffix in ("", "-wal", "-shm"):
                    path.with_name(path.name + suffix).unlink(missing_ok=True)
            if schema is not None:
                postgres_execute(self.dsn, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        for line in reversed(completed.stdout.splitlines()):
            if line.startswith(MARK):
                data = json.loads(line[len(MARK) :])
                return Outcome(data["figures"], data["memory"])
        tail = "\n".join(completed.stderr.strip().splitlines()[-12:])
        raise JobFailed(f"{job.side} {job.task} exited {completed.returncode}:\n{tail}")


def run_plan(plan: Plan, runner: Runner, repeat: int) -> None:
    """Run every measurement ``repeat`` times, alternating which side goes first."""
    total = len(plan.measurements) * repeat
    done = 0
    started = time.perf_counter()
    for repetition in range(repeat):
        for measurement in plan.measurements.values():
            jobs = measurement.jobs if repetition % 2 == 0 else measurement.jobs[::-1]
            for job in jobs:
                try:
                    outcome = runner.run(job)
                except JobFailed as exc:
                    measurement.failures.append(str(exc))
                    print(f"  FAILED {measurement.label}: {exc}", file=sys.stderr, flush=True)
                    continue
                measurement.outcomes.setdefault(job.slot, []).append(outcome)
            done += 1
            print(
                f"[{time.perf_counter() - started:6.1f} s] repetition {repetition + 1}/{repeat}, "
                f"{done}/{total}: {measurement.label}",
                file=sys.stderr,
                flush=True,
            )


# --- the report -------------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    """Median, min and max of one figure over the repetitions."""

    median: float
    low: float
    high: float
    values: list[float]

    @classmethod
    def of(cls, values: list[float]) -> Summary | None:
        if not values:
            return None
        return cls(statistics.median(values), min(values), max(values), values)


def figure(plan: Plan, source: tuple[str, str] | None, slot: Slot) -> Summary | None:
    """The summary of one figure of one side (or peer variant), or None if not measured."""
    if source is None:
        return None
    key, name = source
    outcomes = plan.measurements[key].outcomes.get(slot, []) if key in plan.measurements else []
    return Summary.of([o.figures[name] for o in outcomes if name in o.figures])


def memory_of(plan: Plan, source: tuple[str, str] | None, slot: Slot, name: str) -> float | None:
    if source is None or source[0] not in plan.measurements:
        return None
    outcomes = plan.measurements[source[0]].outcomes.get(slot, [])
    values = [o.memory[name] for o in outcomes if name in o.memory]
    return statistics.median(values) if values else None


def ratio(row: Row, ours: Summary | None, theirs: Summary | None) -> float | None:
    """How many times better this library is (above 1: better)."""
    if ours is None or theirs is None or ours.median <= 0 or theirs.median <= 0:
        return None
    return ours.median / theirs.median if row.higher_is_better else theirs.median / ours.median


def best_peer(row: Row, peers: dict[Slot, Summary]) -> Slot | None:
    """The faster peer variant by medians (the uncached one on a tie), None if none."""
    measured = [slot for slot in PEER_SLOTS if slot in peers]
    if not measured:
        return None
    if row.higher_is_better:
        return max(measured, key=lambda slot: peers[slot].median)
    return min(measured, key=lambda slot: peers[slot].median)


@dataclass(frozen=True)
class Comparison:
    """A row's figures: this library's, each peer variant measured, the faster one."""

    ours: Summary | None
    peers: dict[Slot, Summary]  # the variants measured: "peer" (uncached), "peer_cached"
    best: Slot | None  # the faster peer variant; the ratio is against it

    @property
    def peer(self) -> Summary | None:
        """The faster peer variant's figure."""
        return None if self.best is None else self.peers[self.best]


def compare(plan: Plan, row: Row) -> Comparison:
    """This library against the faster of the peer variants measured for ``row``."""
    peers = {
        slot: summary
        for slot in PEER_SLOTS
        for summary in [figure(plan, row.peer, slot)]
        if summary is not None
    }
    return Comparison(figure(plan, row.ours, row.ours_slot), peers, best_peer(row, peers))


def _number(value: float, unit: str) -> str:
    if unit == "s":
        value *= 1000
    if value >= 1e6:
        return f"{value / 1e6:.3g}M"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _cell(summary: Summary | None, unit: str) -> str:
    if summary is None:
        return "-"
    return (
        f"{_number(summary.median, unit)} "
        f"({_number(summary.low, unit)}-{_number(summary.high, unit)})"
    )


def row_api(plan: Plan, row: Row) -> str | None:
    """The API of this library's figure in ``row``, when its job names one (W1, W4 clients)."""
    if row.ours is None or row.ours[0] not in plan.measurements:
        return None
    jobs = plan.measurements[row.ours[0]].jobs
    named = any(job.slot == row.ours_slot and "api" in job.args for job in jobs)
    return API_NAME.get(row.ours_slot) if named else None


def _peer_peak(plan: Plan, row: Row, found: Comparison, slot: Slot) -> float | None:
    """The peak RSS of a peer variant that has a figure in ``row`` (not of a twin that
    ran for another row of its measurement)."""
    return memory_of(plan, row.peer, slot, "peak") if slot in found.peers else None


def table(plan: Plan) -> list[str]:
    """The rows of the table, section by section."""
    header = (
        f"{'measure':<52} {'unit':<10} {'this library (min-max)':>27} "
        f"{'peer uncached (min-max)':>27} {'peer cached (min-max)':>27} {'peer best':>9} "
        f"{'ratio':>8} {'peak RSS MiB':>17}"
    )
    lines = [header, "-" * len(header)]
    section = ""
    for row in plan.rows:
        if row.section != section:
            section = row.section
            lines.append(section)
        found = compare(plan, row)
        times = ratio(row, found.ours, found.peer)
        cached = found.peers.get("peer_cached")
        if cached is None and "peer" in found.peers:
            cached_text = "n/a (d)"  # a peer figure, but no cached twin: see (d)
        else:
            cached_text = _cell(cached, row.unit)
        peaks = (
            memory_of(plan, row.ours, row.ours_slot, "peak"),
            *(_peer_peak(plan, row, found, slot) for slot in PEER_SLOTS),
        )
        rss_text = " / ".join("-" if peak is None else f"{peak / MIB:.0f}" for peak in peaks)
        best = "-" if found.best is None else PEER_VARIANT[found.best]
        lines.append(
            f"  {row.label:<50} {'ms' if row.unit == 's' else row.unit:<10} "
            f"{_cell(found.ours, row.unit):>27} {_cell(found.peers.get('peer'), row.unit):>27} "
            f"{cached_text:>27} {best:>9} "
            f"{'-' if times is None else f'{times:.2f}x':>8} {rss_text:>17}"
        )
    return lines


FOOTNOTES = [
    "(a) The peer's API is synchronous: its concurrent clients run one after another on one",
    "    thread, its best case. W4 runs it with one thread per client.",
    "(b) The log written by the W1 concurrent run, read whole in pages of 1,000, five times",
    "    over; the median of the five reads, each side. The memory store",
    "    keeps its log as decoded envelopes in a list, so its pages decode nothing; the",
    "    peer's POPO store decodes every notification.",
    "(c) This library keeps a live aggregate's state cached, with no task (through either",
    "    API); the peer only with its cache. The deposits go round",
    "    robin over the accounts, so the uncached peer replays an aggregate of a few events",
    "    per command: see the stream-length rows for a long one.",
    "(d) One peer variant only, uncached: a cold load (W2) reads the store by definition",
    "    (the peer's job checks its repository has no cache), and the log read (W3) does not",
    "    go through the aggregate cache.",
    "Peer uncached: the peer as installed, every command replays its aggregate. Peer cached:",
    "its aggregate cache on (AGGREGATE_CACHE_MAXSIZE=1000000, more than any run's accounts;",
    "AGGREGATE_CACHE_FASTFORWARD=n: its one application, the only writer, caches what it",
    "saves and reads nothing on a hit; hits deep-copied, its default). Every W1/W4 and",
    "stream-length run of the peer is checked afterwards: each account, read through a new",
    "application without a cache, has the version and balance the workload gave it.",
    "Trio-native: this library's commands sent with await system.execute(...); Gleam-shaped:",
    "with execute_with_response(...) and process.receive(...). The same system, store, script",
    "and check of every answer (a rejected command fails the run either way).",
    "Medians over the repetitions (min-max); ratio: how many times better this library is",
    "than the faster peer variant, named under 'peer best' (this/peer for rates, peer/this",
    "for times); peak RSS of the measuring process: this library / peer uncached / cached.",
]


def _outcomes(plan: Plan, key: str, slot: Slot = "ours") -> list[Outcome]:
    measurement = plan.measurements.get(key)
    return [] if measurement is None else measurement.outcomes.get(slot, [])


def _median_of(outcomes: list[Outcome], name: str) -> float | None:
    values = [o.figures[name] for o in outcomes if name in o.figures]
    return statistics.median(values) if values else None


@dataclass(frozen=True)
class MemoryCheck:
    """The bounded-memory figures, in bytes (medians), or None where not measured."""

    small: dict[str, float]
    large: dict[str, float]
    idle: dict[str, float]
    store: dict[str, float]
    bytes_per_cached: float | None


def memory_check(plan: Plan, workload: Workload) -> MemoryCheck | None:
    small_cap, large_cap = workload.caps
    parts: list[dict[str, float]] = []
    for key in ("scale.touch_small", f"w4.live{large_cap}", "scale.touch_idle", "scale.store_only"):
        # The live run through the Gleam-shaped API, as touch_once opens its accounts.
        outcomes = _outcomes(plan, key, "ours_gleam" if key.startswith("w4.") else "ours")
        names = {name for o in outcomes for name in o.figures}
        medians = {name: _median_of(outcomes, name) for name in names}
        parts.append({name: value for name, value in medians.items() if value is not None})
    small, large, idle, store = parts
    if not small or not large:
        return None
    cached_small = min(small_cap, workload.touched) + 1  # and the warm-up account
    cached_large = min(large_cap, workload.touched) + 1
    growth_small = small["rss_after"] - small["rss_before"]
    growth_large = large["rss_after"] - large["rss_before"]
    per_cached = (growth_large - growth_small) / (cached_large - cached_small)
    return MemoryCheck(small, large, idle, store, per_cached)


def memory_report(check: MemoryCheck | None, workload: Workload) -> list[str]:
    if check is None:
        return []
    small_cap, large_cap = workload.caps

    def line(label: str, figures: dict[str, float], after: str = "after", rate: str = "") -> str:
        if not figures:
            return f"  {label:<40} -"
        rss = f"RSS {figures['rss_before'] / MIB:5.1f} -> {figures[f'rss_{after}'] / MIB:5.1f} MiB"
        growth = (figures[f"rss_{after}"] - figures["rss_before"]) / MIB
        blocks = (figures[f"blocks_{after}"] - figures["blocks_before"]) / 1000
        speed = f", {figures[rate]:,.0f} opens/s" if rate in figures else ""
        return f"  {label:<40} {rss} (+{growth:5.1f}), blocks +{blocks:,.0f}k{speed}"

    lines = [
        f"Bounded memory: {workload.touched:,} accounts touched (opened) once each, memory store",
        line(f"worker cap {small_cap:,}", check.small, rate="commands_per_s"),
        line(
            f"worker cap {large_cap:,} (W4, {large_cap:,} live)",
            check.large,
            rate="open_commands_per_s",
        ),
        line(
            f"worker cap {large_cap:,}, idle timeout {IDLE_TIMEOUT_MS / 1000:g} s",
            check.idle,
            rate="commands_per_s",
        ),
        line("  ... and after 2 idle timeouts more", check.idle, "after_idle")
        if "rss_after_idle" in check.idle
        else "",
        line("the same events in the store alone", check.store),
    ]
    if check.bytes_per_cached is not None:
        lines.append(
            f"  bytes per cached aggregate (RSS growth, cap {large_cap:,} minus cap "
            f"{small_cap:,}, per extra cached aggregate): {check.bytes_per_cached:,.0f}"
        )
    return [line for line in lines if line]


BUDGET_FIGURES = (
    "command_native_us",
    "command_gleam_us",
    "trio_floor_us",
    "domain_us",
    "store_us",
    "call_us",
)
"""The figures of the per-command budget job (``ours.budget``), in µs per command."""


def budget(plan: Plan) -> dict[str, float] | None:
    """The medians of the per-command budget, or None if it was not measured whole.

    A run saved before the two APIs were measured has ``command_us`` (the Gleam-shaped
    command) only: its other figures are missing, and so is its budget here.
    """
    outcomes = _outcomes(plan, "budget")
    medians = {name: _median_of(outcomes, name) for name in BUDGET_FIGURES}
    found = {name: value for name, value in medians.items() if value is not None}
    return found if len(found) == len(BUDGET_FIGURES) else None


def budget_report(plan: Plan) -> list[str]:
    found = budget(plan)
    if found is None:
        return []
    native, gleam, floor = (
        found["command_native_us"],
        found["command_gleam_us"],
        found["trio_floor_us"],
    )
    domain, store, call = found["domain_us"], found["store_us"], found["call_us"]
    rows = [
        ("whole command, Trio-native (await bank.execute)", native, native / floor),
        ("whole command, Gleam-shaped (execute_with_response + receive)", gleam, gleam / floor),
        ("Trio floor: request/reply to a server task, memory channels", floor, 1.0),
        ("handle + apply, the user's code, called directly", domain, None),
        ("the memory store's write transaction, called directly", store, None),
        ("a request/reply to an actor (process.call): two hops", call, None),
        ("the rest, Trio-native: command - user's code - store", native - domain - store, None),
        (
            "the rest, Gleam-shaped: command - user's code - store - call",
            gleam - domain - store - call,
            None,
        ),
    ]
    lines = [
        "Per-command budget: memory store, 1 sequential client, aggregate cached; the two "
        "APIs alternated in one process (µs, median)",
        f"  {'':<64}{'µs':>8}{'x floor':>10}",
    ]
    for label, value, times in rows:
        lines.append(f"  {label:<64}{value:8.1f}" + ("" if times is None else f"{times:10.2f}"))
    return lines


def runtime_report(plan: Plan) -> list[str]:
    outcomes = _outcomes(plan, "runtime")
    if not outcomes:
        return []
    labels = {
        "channel_send_receive_us": "memory channel send + receive (under move_on_after)",
        "subject_send_receive_us": "Subject send + receive(subject, within)",
        "channel_request_reply_us": "request/reply on memory channels by hand",
        "actor_call_us": "process.call to an actor",
    }
    lines = ["The process runtime beside bare Trio (runtime_bench.py, µs per message, median)"]
    for name, label in labels.items():
        value = _median_of(outcomes, name)
        if value is not None:
            lines.append(f"  {label:<56} {value:7.2f}")
    return lines


def _median_cell(outcomes: list[Outcome], name: str, style: str) -> str:
    """The median of a figure over the repetitions, with its min-max when there are several."""
    summary = Summary.of([o.figures[name] for o in outcomes if name in o.figures])
    if summary is None:
        return "-"
    if len(summary.values) == 1:
        return format(summary.median, style)
    return f"{summary.median:{style}} ({summary.low:{style}}-{summary.high:{style}})"


def selection_report(plan: Plan, workload: Workload) -> list[str]:
    """The projection of one event type in three beside the whole log's (selection_bench.py)."""
    lines = [
        f"Selections: a per_event projection catching up on {workload.selection_events // 3 * 3:,} "
        "events, a third of each of 3 types (selection_bench.py)",
        "  whole: select(store), the handler ignores 2 types in 3; only: select(store)"
        ".only(CustomerWithdrewCash), filtered in the store's query",
        f"  {'':<9}{'whole, events/s':>26}{'only(), events/s':>26}{'speed-up':>20}"
        f"{'decoded whole / only':>24}",
    ]
    for prefix in ("sqlite", "postgres"):
        outcomes = _outcomes(plan, f"{prefix}.selection")
        if not outcomes:
            continue
        decoded = (
            f"{max(o.figures['whole_decoded'] for o in outcomes):,.0f} / "
            f"{max(o.figures['only_decoded'] for o in outcomes):,.0f}"
        )
        lines.append(
            f"  {prefix:<9}{_median_cell(outcomes, 'whole_events_per_s', ',.0f'):>26}"
            f"{_median_cell(outcomes, 'only_events_per_s', ',.0f'):>26}"
            f"{_median_cell(outcomes, 'speedup', '.2f'):>20}{decoded:>24}"
        )
    return lines if len(lines) > 3 else []


def consistency_report(plan: Plan, workload: Workload) -> list[str]:
    """Read-your-writes latency beside a plain command's (consistency_bench.py)."""
    lines = [
        f"Read-your-writes: 1 sequential client, {workload.consistency_commands:,} commands of "
        f"each kind in alternated blocks of {workload.consistency_block}, a live per_event "
        "projection (consistency_bench.py; ms)",
        "  and_wait: execute_and_wait(..., consistency=[handle]); plain: execute_with_response"
        " + receive; after handler: and_wait's time after the handler saw the event",
        f"  {'':<9}{'and_wait p50':>16}{'and_wait p99':>16}{'plain p50':>16}{'plain p99':>16}"
        f"{'after handler p50':>20}{'receipts right':>16}",
    ]
    for prefix in ("memory", "sqlite", "postgres"):
        outcomes = _outcomes(plan, f"{prefix}.consistency")
        if not outcomes:
            continue
        checked = sum(o.figures["receipts_checked"] for o in outcomes)
        wrong = sum(o.figures["receipts_wrong"] for o in outcomes)
        cells = [
            _median_cell(outcomes, name, ".3f")
            for name in ("and_wait_p50_ms", "and_wait_p99_ms", "plain_p50_ms", "plain_p99_ms")
        ]
        lines.append(
            f"  {prefix:<9}"
            + "".join(f"{cell:>16}" for cell in cells)
            + f"{_median_cell(outcomes, 'after_handler_p50_ms', '.3f'):>20}"
            + f"{f'{checked - wrong:,.0f}/{checked:,.0f}':>16}"
        )
    return lines if len(lines) > 3 else []


def transfers_report(plan: Plan) -> list[str]:
    """Money transfers through the transfers' process manager (transfers_bench.py)."""
    measured = {
        prefix: outcomes
        for prefix in ("sqlite", "postgres")
        for outcomes in [_outcomes(plan, f"{prefix}.transfers")]
        if outcomes
    }
    if not measured:
        return []
    first = next(iter(measured.values()))[0].figures
    lines = [
        f"Transfers: {first['transfers']:,.0f} money transfers requested at once (a client each) "
        f"across {first['accounts']:,.0f} accounts, the other bank confirming every credit, "
        "timed until every transfer has ended (transfers_bench.py)",
        "  this library only: the peer has no process managers. Per commit: the commands the "
        "manager decided per step it saved (decided / commits, one transaction each)",
        f"  {'':<9}{'transfers/s':>22}{'commands sent/s':>22}{'commands per commit':>22}"
        f"{'commits':>16}{'decided':>20}",
    ]
    for prefix, outcomes in measured.items():
        lines.append(
            f"  {prefix:<9}{_median_cell(outcomes, 'transfers_per_s', ',.1f'):>22}"
            f"{_median_cell(outcomes, 'sent_per_s', ',.0f'):>22}"
            f"{_median_cell(outcomes, 'commands_per_commit', '.1f'):>22}"
            f"{_median_cell(outcomes, 'commits', ',.0f'):>16}"
            f"{_median_cell(outcomes, 'decided', ',.0f'):>20}"
        )
    return lines


@dataclass(frozen=True)
class Check:
    """A scale target of the issue, and whether this run met it."""

    target: str
    passed: bool | None  # None: not measured
    detail: str


def rate_ratio(plan: Plan, key: str, slot: Slot = "ours") -> tuple[float | None, str]:
    """This library's commands/s in measurement ``key`` (through the API of ``slot``) over
    the faster peer variant's, and the figures said in words; None: not measured."""
    source = (key, "commands_per_s")
    found = compare(plan, Row("", "", "commands/s", True, source, source, slot))
    ours, theirs = found.ours, found.peer
    if ours is None or theirs is None or found.best is None:
        return None, "not measured"
    times = ours.median / theirs.median
    return times, (
        f"{API_NAME[slot]} {ours.median:,.0f} vs {theirs.median:,.0f} commands/s (the peer "
        f"{PEER_VARIANT[found.best]}, its faster variant): {times:.2f}x"
    )


API_TARGETS: tuple[tuple[str, str, Slot, float], ...] = (
    ("memory", "w1_seq", "ours", 10.0),
    ("memory", "w1_conc", "ours", 10.0),
    ("memory", "w1_seq", "ours_gleam", 5.0),
    ("memory", "w1_conc", "ours_gleam", 5.0),
    ("sqlite", "w1_seq", "ours", 1.5),
    ("sqlite", "w1_conc", "ours", 10.0),
    ("postgres", "w1_conc", "ours", 10.0),
)
"""The W1 targets against the peer at its best: (store, W1 run, this library's API, x)."""
STORE_NAME = {"memory": "memory store", "sqlite": "SQLite", "postgres": "PostgreSQL"}
PEER_STORE = {"memory": "POPO", "sqlite": "SQLite", "postgres": "PostgreSQL"}
CLIENTS_FEW, CLIENTS_MANY = 100, 1_000
"""The W4 target: commands/s with ``CLIENTS_MANY`` clients >= with ``CLIENTS_FEW``."""


READ_TARGETS: tuple[tuple[str, str, str, float], ...] = (
    ("w1_conc", "log_events_per_s", "W3, the whole log read and decoded", 2.0),
    ("w2_snap", "seconds", "W2, a cold load from a snapshot", 1.0),
    ("w2", "seconds", "W2, a cold load without snapshots", 3.0),
)
"""The read path's targets against the peer (issue 16): measurement, figure, what, times."""
BYTES_PER_CACHED = 1_024
MILLION_RSS = 2 * 1024 * MIB
LIVE_KEPT = 0.8  # of the rate at the fewest live aggregates


def read_path_checks(plan: Plan) -> list[Check]:
    """W3 and W2 against the peer (uncached: the cache plays no part in a read) on disk."""
    found: list[Check] = []
    for store in ("sqlite", "postgres"):
        for run, name, what, target in READ_TARGETS:
            key = f"{store}.{run}"
            if key not in plan.measurements:
                continue
            ours = _median_of(_outcomes(plan, key), name)
            theirs = _median_of(_outcomes(plan, key, "peer"), name)
            if ours is None or theirs is None:
                found.append(Check(f"{STORE_NAME[store]} {what}", None, "not measured"))
                continue
            times = theirs / ours if name == "seconds" else ours / theirs
            unit = "ms" if name == "seconds" else "events/s"
            scale = 1e3 if name == "seconds" else 1.0
            found.append(
                Check(
                    f"{STORE_NAME[store]} {what}: >= {target:g}x the peer's",
                    times >= target,
                    f"{ours * scale:,.3g} vs {theirs * scale:,.3g} {unit}: {times:.2f}x",
                )
            )
    return found


def density_checks(plan: Plan, workload: Workload) -> list[Check]:
    """Bytes per cached aggregate, and a million live ones against a thousand (memory)."""
    found: list[Check] = []
    for slot in OURS_SLOTS:
        per_cached = _median_of(_outcomes(plan, "memory.density", slot), "bytes_per_cached")
        if per_cached is not None:
            found.append(
                Check(
                    f"{API_NAME[slot]}: <= {BYTES_PER_CACHED:,} bytes per cached idle aggregate",
                    per_cached <= BYTES_PER_CACHED,
                    f"{per_cached:,.0f} bytes (tracemalloc over {workload.dense:,} accounts, "
                    "beside their events)",
                )
            )
        few, many = workload.live_series[0], workload.live_series[-1]
        base = _outcomes(plan, f"w4.live{few}", slot)
        million = _outcomes(plan, "w4.million", slot)
        deposits_few = _median_of(base, "commands_per_s")
        opening_few = _median_of(base, "open_commands_per_s")
        opening_many = _median_of(_outcomes(plan, f"w4.live{many}", slot), "open_commands_per_s")
        if opening_few is not None and opening_many is not None:
            found.append(
                Check(
                    f"{API_NAME[slot]}: opening aggregates at {many:,} live >= "
                    f"{LIVE_KEPT:g}x the rate at {few:,}",
                    opening_many >= LIVE_KEPT * opening_few,
                    f"{opening_many:,.0f} vs {opening_few:,.0f} opened/s: "
                    f"{opening_many / opening_few:.2f}x",
                )
            )
        deposits = _median_of(million, "commands_per_s")
        peaks = [o.memory["peak"] for o in million if "peak" in o.memory]
        if deposits is not None and deposits_few is not None and peaks:
            peak = statistics.median(peaks)
            found.append(
                Check(
                    f"{API_NAME[slot]}: {workload.million:,} live aggregates in < "
                    f"{MILLION_RSS / MIB / 1024:g} GiB, deposits >= {LIVE_KEPT:g}x the rate at "
                    f"{few:,} live",
                    peak < MILLION_RSS and deposits >= LIVE_KEPT * deposits_few,
                    f"peak RSS {peak / MIB:,.0f} MiB; {workload.million_commands:,} deposits at "
                    f"{deposits:,.0f}/s vs {deposits_few:,.0f}/s: {deposits / deposits_few:.2f}x",
                )
            )
    return found


def api_checks(plan: Plan, workload: Workload) -> list[Check]:
    """The targets of this library's two APIs: W1 against the peer at its best, on each
    store measured, and W4's many clients against few through the Trio-native API."""
    found: list[Check] = []
    for store, run, slot, target in API_TARGETS:
        key = f"{store}.{run}"
        if key not in plan.measurements:
            continue  # the store was not run (--stores), or was skipped
        clients = 1 if run == "w1_seq" else workload.clients
        times, detail = rate_ratio(plan, key, slot)
        if slot == "ours" and not any(
            target_slot == "ours_gleam" and (s, r) == (store, run)
            for s, r, target_slot, _ in API_TARGETS
        ):
            # No target of its own for the Gleam-shaped API here: its figure beside.
            other, _ = rate_ratio(plan, key, "ours_gleam")
            if other is not None:
                detail += f"; {API_NAME['ours_gleam']}: {other:.2f}x"
        found.append(
            Check(
                f"{STORE_NAME[store]} W1, {clients} client(s), {API_NAME[slot]}: "
                f">= {target:g}x the peer's {PEER_STORE[store]} at its best",
                None if times is None else times >= target,
                detail,
            )
        )
    clients_check = scaling_check(plan, workload)
    if clients_check is not None:
        found.append(clients_check)
    return found


def scaling_check(plan: Plan, workload: Workload, slot: Slot = "ours") -> Check | None:
    """W4: commands/s with 1,000 clients >= with the most clients up to 100 (memory store,
    through the API of ``slot``); n/a, saying which, if the series lacks either. None if
    the run has no W4 rows (no memory store)."""
    rows = {row.label: row for row in plan.rows}
    measured = {
        n: figure(plan, row.ours, slot)
        for n in workload.client_series
        for row in [rows.get(api_label(client_label(n), slot))]
        if row is not None
    }
    if not measured:
        return None
    few_counts = [n for n in measured if n <= CLIENTS_FEW]
    few = max(few_counts) if few_counts else None
    target = (
        f"W4, {API_NAME[slot]}: commands/s with {CLIENTS_MANY:,} clients >= with "
        f"{few if few is not None else CLIENTS_FEW:,}"
    )
    series = ", ".join(f"{n:,}" for n in workload.client_series)
    missing = [
        f"{n:,} clients" if n == CLIENTS_MANY else f"a count of clients <= {n:,}"
        for n, present in ((CLIENTS_FEW, few is not None), (CLIENTS_MANY, CLIENTS_MANY in measured))
        if not present
    ]
    if missing:
        return Check(target, None, f"the client series ({series}) has no {' nor '.join(missing)}")
    assert few is not None
    many_figure, few_figure = measured[CLIENTS_MANY], measured[few]
    if many_figure is None or few_figure is None:
        return Check(target, None, "not measured")
    times = many_figure.median / few_figure.median
    return Check(
        target,
        times >= 1.0,
        f"{many_figure.median:,.0f} vs {few_figure.median:,.0f} commands/s: {times:.2f}x "
        "(>= 1 passes)",
    )


def checks(plan: Plan, workload: Workload, memory: MemoryCheck | None) -> list[Check]:
    found: list[Check] = api_checks(plan, workload)
    found += read_path_checks(plan) + density_checks(plan, workload)

    one_type = _outcomes(plan, "sqlite.w1_conc")
    two_types = _outcomes(plan, "sqlite.w1_types")
    for name, what in (("commands_per_s", "commands/s"), ("commands_per_commit", "per commit")):
        alone, shared = _median_of(one_type, name), _median_of(two_types, name)
        if alone is not None and shared is not None:
            found.append(
                Check(
                    f"SQLite, 2 aggregate types x {workload.clients // 2} clients: "
                    f"{what} >= 0.9x one type x {workload.clients}",
                    shared >= 0.9 * alone,
                    f"{shared:,.1f} vs {alone:,.1f} {what}: {shared / alone:.2f}x "
                    "(>= 0.9 passes: one run, a noisy machine)",
                )
            )

    if memory is not None and memory.bytes_per_cached is not None and memory.store:
        small_cap = workload.caps[0]
        growth_small = memory.small["rss_after"] - memory.small["rss_before"]
        growth_store = memory.store["rss_after"] - memory.store["rss_before"]
        allowance = 2 * small_cap * memory.bytes_per_cached + 8 * MIB
        found.append(
            Check(
                f"{workload.touched:,} aggregates touched once: RSS bounded by the worker cap",
                growth_small - growth_store <= allowance,
                f"cap {small_cap:,}: RSS +{growth_small / MIB:.1f} MiB, of which the store "
                f"+{growth_store / MIB:.1f} MiB; the cache "
                f"+{(growth_small - growth_store) / MIB:.1f} MiB (allowed: twice "
                f"{small_cap:,} cached aggregates + 8 MiB = "
                f"{allowance / MIB:.1f} MiB); {memory.bytes_per_cached:,.0f} bytes per cached "
                "aggregate",
            )
        )
    if memory is not None and "blocks_after_idle" in memory.idle:
        idle_blocks = memory.idle["blocks_after_idle"] - memory.idle["blocks_before"]
        small_blocks = memory.small["blocks_after"] - memory.small["blocks_before"]
        found.append(
            Check(
                "idle eviction frees the cached aggregates (allocated blocks)",
                idle_blocks <= small_blocks * 1.1,
                f"idle for 2 timeouts: +{idle_blocks / 1000:,.0f}k blocks, against "
                f"+{small_blocks / 1000:,.0f}k with cap {workload.caps[0]:,} (<= 1.1x passes); "
                f"the RSS stays at {memory.idle['rss_after_idle'] / MIB:.0f} MiB: the "
                "allocator keeps its arenas",
            )
        )

    stream = _outcomes(plan, "scale.stream")
    fresh, long = (
        _median_of(stream, "fresh_commands_per_s"),
        _median_of(stream, "long_commands_per_s"),
    )
    if fresh is not None and long is not None:
        found.append(
            Check(
                f"commands/s on an aggregate of {workload.long_stream:,} events = on a fresh one",
                long / fresh >= 0.9,
                f"{long:,.0f} vs {fresh:,.0f} commands/s: {long / fresh:.2f} (>= 0.9 passes)",
            )
        )

    for prefix in ("sqlite", "postgres"):
        selected = _outcomes(plan, f"{prefix}.selection")
        if not selected:
            continue
        speedup = _median_of(selected, "speedup") or 0.0
        whole = _median_of(selected, "whole_events_per_s") or 0.0
        only = _median_of(selected, "only_events_per_s") or 0.0
        events = max(o.figures["events"] for o in selected)
        whole_decoded = max(o.figures["whole_decoded"] for o in selected)
        only_decoded = max(o.figures["only_decoded"] for o in selected)
        found.append(
            Check(
                f"{prefix}: a projection of 1 event type in 3 (only()) catches up >= 2x as fast "
                "as the whole log's, decoding a third of the events",
                speedup >= 2.0 and only_decoded * 3 == events and whole_decoded == events,
                f"{only:,.0f} vs {whole:,.0f} events/s of the log: {speedup:.2f}x (whole's time "
                f"over only's, per round); decoded {only_decoded:,.0f} vs {whole_decoded:,.0f} "
                f"of {events:,.0f} events (a third: {events / 3:,.0f})",
            )
        )
    for prefix in ("memory", "sqlite", "postgres"):
        waited = _outcomes(plan, f"{prefix}.consistency")
        if not waited:
            continue
        checked = sum(o.figures["receipts_checked"] for o in waited)
        wrong = sum(o.figures["receipts_wrong"] for o in waited)
        found.append(
            Check(
                f"{prefix}: execute_and_wait's receipts: the command's event, handled on return",
                wrong == 0,
                f"{checked - wrong:,.0f} of {checked:,.0f} receipts right (one position per "
                "deposit, holding its aggregate and sequence as the projection saw them, "
                "increasing; no target on the latency: see the read-your-writes figures)",
            )
        )

    loads: list[tuple[int, float]] = []
    for events in workload.cold_series:
        key = "memory.w2" if events == workload.replay_events else f"scale.cold{events}"
        seconds = _median_of(_outcomes(plan, key), "seconds")
        if seconds is not None:
            loads.append((events, seconds))
    if len(loads) >= 2:
        # The cost of each further event: from one size to the next. A fixed cost per load
        # (messages, the transaction) weighs on the average of a small load only.
        marginal = [(t2 - t1) / (n2 - n1) * 1e6 for (n1, t1), (n2, t2) in itertools.pairwise(loads)]
        spread = max(marginal) / min(marginal) if len(marginal) > 1 else 1.0
        found.append(
            Check(
                "cold load: constant cost per event (linear total)",
                spread <= 1.5,
                ", ".join(f"{n:,}: {t * 1e3:.2f} ms ({t / n * 1e6:.2f} µs/event)" for n, t in loads)
                + "; each further event: "
                + ", ".join(
                    f"{n1:,}->{n2:,}: {cost:.2f} µs"
                    for ((n1, _), (n2, _)), cost in zip(
                        itertools.pairwise(loads), marginal, strict=True
                    )
                )
                + f"; max/min {spread:.2f} (<= 1.5 passes)",
            )
        )
    snapshots: list[tuple[int, float]] = []
    for events in workload.cold_series:
        seconds = _median_of(_outcomes(plan, f"scale.cold_snap{events}"), "seconds")
        if seconds is not None:
            snapshots.append((events + workload.since_snapshot, seconds))
    if len(snapshots) >= 2:
        growth = snapshots[-1][1] / snapshots[0][1]
        found.append(
            Check(
                "cold load with snapshots: O(events since the snapshot, "
                f"{workload.since_snapshot})",
                growth <= 2.0,
                ", ".join(
                    f"{events:,} events: {seconds * 1e3:.3f} ms" for events, seconds in snapshots
                )
                + f"; largest/smallest {growth:.2f} for {snapshots[-1][0] / snapshots[0][0]:.0f}x "
                "the events (<= 2 passes)",
            )
        )
    return found


def check_report(found: list[Check], quick: bool) -> list[str]:
    lines = ["Scale checks (issue 8)"]
    if quick:
        lines.append("  (--quick: reduced sizes, one repetition; the targets are for a full run)")
    for check in found:
        verdict = "n/a" if check.passed is None else "PASS" if check.passed else "SHORT"
        lines.append(f"  [{verdict:>5}] {check.target}")
        lines.append(f"          {check.detail}")
    return lines


def durability_report(plan: Plan, postgres: dict[str, str]) -> list[str]:
    lines = []
    peer_sqlite = _outcomes(plan, "sqlite.durability", "peer")
    if peer_sqlite:
        figures = peer_sqlite[0].figures
        lines.append(
            "SQLite durability: this library synchronous=FULL (passed explicitly), WAL; the peer "
            f"PRAGMA synchronous={int(figures['synchronous'])} (2 = FULL), "
            f"{'WAL' if figures['wal'] else 'NOT WAL'} (read from its own connection)"
        )
    for prefix in ("sqlite", "postgres"):
        outcomes = _outcomes(plan, f"{prefix}.w1_conc")
        per_commit = _median_of(outcomes, "commands_per_commit")
        if per_commit is not None:
            lines.append(
                f"{prefix}: this library's group commit, {per_commit:.1f} commands per commit "
                "with the W1 concurrent clients (1.0 with one client)"
            )
    if postgres:
        lines.append(
            f"PostgreSQL {postgres.get('server_version')}: synchronous_commit="
            f"{postgres.get('synchronous_commit')}, fsync={postgres.get('fsync')} (both sides)"
        )
    return lines


# --- environment, JSON, plot --------------------------------------------------------------


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _git_commit() -> str | None:
    try:
        head = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, check=True, timeout=10,
        ).stdout.strip()  # fmt: skip
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, check=True, timeout=10,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+changes" if dirty else "")


def _filesystem(directory: Path) -> str:
    """The type of the filesystem holding ``directory`` (tmpfs makes fsync free)."""
    best, kind = "", "unknown"
    for line in _read("/proc/mounts").splitlines():
        parts = line.split()
        if len(parts) >= 3 and str(directory).startswith(parts[1]) and len(parts[1]) > len(best):
            best, kind = parts[1], parts[2]
    return kind


def environment(
    args: argparse.Namespace, repeat: int, postgres: dict[str, str], directory: Path
) -> dict[str, object]:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in _read("/proc/cpuinfo").splitlines()
         if line.startswith("model name")),
        platform.processor() or platform.machine(),
    )  # fmt: skip
    memory = next(
        (int(line.split()[1]) * 1024 for line in _read("/proc/meminfo").splitlines()
         if line.startswith("MemTotal:")),
        None,
    )  # fmt: skip
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_bytes": memory,
        "trio_eventsourcing": _version("trio-eventsourcing"),
        "git_commit": _git_commit(),
        "eventsourcing (peer)": _version("eventsourcing"),
        "trio": _version("trio"),
        "sqlite3 runtime": sqlite3.sqlite_version,
        "psycopg": _version("psycopg"),
        "postgresql": postgres.get("server_version"),
        "sqlite_directory": f"{directory.parent} ({_filesystem(directory)})",
        "quick": args.quick,
        "repeat": repeat,
    }


def environment_report(env: dict[str, object]) -> list[str]:
    memory = env.get("memory_bytes")
    return [
        f"{env['date']}  {env['python']}  {env['platform']}",
        f"{env['cpu']}, {env['cores']} cores"
        + (f", {int(memory) / 2**30:.1f} GiB" if isinstance(memory, int) else ""),
        f"trio-eventsourcing {env['trio_eventsourcing']} ({env['git_commit']}), peer "
        f"eventsourcing {env['eventsourcing (peer)']}, trio {env['trio']}, SQLite "
        f"{env['sqlite3 runtime']}, psycopg {env['psycopg']}, PostgreSQL {env['postgresql']}",
        f"SQLite files in {env['sqlite_directory']}; {env['repeat']} repetition(s)"
        + (", --quick" if env["quick"] else ""),
    ]


def _points(
    plan: Plan, sources: list[tuple[float, tuple[str, str]]], slot: Slot
) -> list[svgplot.Point]:
    points = []
    for x, source in sources:
        summary = figure(plan, source, slot)
        if summary is not None:
            points.append(svgplot.Point(x, summary.median, summary.low, summary.high))
    return points


def _ms(points: list[svgplot.Point]) -> list[svgplot.Point]:
    return [svgplot.Point(p.x, p.median * 1e3, p.low * 1e3, p.high * 1e3) for p in points]


def plot(plan: Plan, workload: Workload, env: dict[str, object]) -> str:
    """The SVG of the scaling curves: clients, live aggregates, cold loads."""
    ours_color, peer_color, peer_cached_color = "#1f6fb4", "#d9541e", "#9467bd"
    ours_gleam_color = "#17becf"
    rows = {row.label: row for row in plan.rows}

    def client_sources(slot: Slot, side: Side) -> list[tuple[float, tuple[str, str]]]:
        """The W4 clients' figures of ``side`` in the rows of this library's ``slot``."""
        return [
            (float(n), source)
            for n in workload.client_series
            for row in [rows.get(api_label(client_label(n), slot))]
            if row is not None
            for source in [row.ours if side == "ours" else row.peer]
            if source is not None
        ]

    clients = client_sources("ours", "ours")
    clients_gleam = client_sources("ours_gleam", "ours")
    peer_clients = client_sources("ours", "peer")
    live = [(float(n), (f"w4.live{n}", "commands_per_s")) for n in workload.live_series]
    opening = [(float(n), (f"w4.live{n}", "open_commands_per_s")) for n in workload.live_series]
    cold = [
        (float(n), ("memory.w2" if n == workload.replay_events else f"scale.cold{n}", "seconds"))
        for n in workload.cold_series
    ]
    snapped = [
        (float(n + workload.since_snapshot), (f"scale.cold_snap{n}", "seconds"))
        for n in workload.cold_series
    ]
    panels = [
        svgplot.Panel(
            "W4: commands/s by clients",
            "concurrent clients (W1 workload)",
            "commands/s",
            [
                svgplot.Series(
                    "this library, memory store, Trio-native API",
                    ours_color,
                    _points(plan, clients, "ours"),
                ),
                svgplot.Series(
                    "this library, same, Gleam-shaped API",
                    ours_gleam_color,
                    _points(plan, clients_gleam, "ours_gleam"),
                ),
                svgplot.Series(
                    "peer, POPO, a thread per client",
                    peer_color,
                    _points(plan, peer_clients, "peer"),
                    dashed=True,
                ),
                svgplot.Series(
                    "peer, same, its aggregate cache on",
                    peer_cached_color,
                    _points(plan, peer_clients, "peer_cached"),
                    dashed=True,
                ),
            ],
        ),
        svgplot.Panel(
            "W4: commands/s by live aggregates",
            "live (cached) aggregates",
            "commands/s",
            [
                svgplot.Series(
                    "deposits to cached aggregates", ours_color, _points(plan, live, "ours")
                ),
                svgplot.Series(
                    "first command (opens the aggregate)",
                    "#5aa02c",
                    _points(plan, opening, "ours"),
                    dashed=True,
                ),
                svgplot.Series(
                    "peer, POPO, deposits", peer_color, _points(plan, live, "peer"), dashed=True
                ),
                svgplot.Series(
                    "peer, POPO, deposits, its aggregate cache on",
                    peer_cached_color,
                    _points(plan, live, "peer_cached"),
                    dashed=True,
                ),
            ],
        ),
        svgplot.Panel(
            "Cold load of one aggregate",
            "events in the aggregate",
            "milliseconds (log)",
            [
                svgplot.Series("this library", ours_color, _ms(_points(plan, cold, "ours"))),
                svgplot.Series(
                    f"this library, snapshot {workload.since_snapshot} events back",
                    "#5aa02c",
                    _ms(_points(plan, snapped, "ours")),
                ),
                svgplot.Series("peer", peer_color, _ms(_points(plan, cold, "peer")), dashed=True),
                svgplot.Series(
                    "peer, same snapshots",
                    "#8c564b",
                    _ms(_points(plan, snapped, "peer")),
                    dashed=True,
                ),
            ],
            y_log=True,
        ),
    ]
    caption = (
        f"trio-eventsourcing {env['trio_eventsourcing']} vs eventsourcing "
        f"{env['eventsourcing (peer)']}; {env['python']}; {env['cpu']}, {env['cores']} cores; "
        f"medians of {env['repeat']}, bars min-max; {env['date']}"
    )
    return svgplot.render(panels, caption)


def to_json(
    plan: Plan, env: dict[str, object], workload: Workload, found: list[Check], lines: list[str]
) -> dict[str, object]:
    rows = []
    for row in plan.rows:
        compared = compare(plan, row)
        uncached, cached = compared.peers.get("peer"), compared.peers.get("peer_cached")
        rows.append(
            {
                "section": row.section,
                "label": row.label,
                "unit": row.unit,
                "ours": None if compared.ours is None else asdict(compared.ours),
                # The faster variant (the ratio's), then each variant measured.
                "peer": None if compared.peer is None else asdict(compared.peer),
                "peer_best": None if compared.best is None else PEER_VARIANT[compared.best],
                "peer_uncached": None if uncached is None else asdict(uncached),
                "peer_cached": None if cached is None else asdict(cached),
                "ratio": ratio(row, compared.ours, compared.peer),
                "ours_api": row_api(plan, row),
                "peak_rss_ours": memory_of(plan, row.ours, row.ours_slot, "peak"),
                "peak_rss_peer": _peer_peak(plan, row, compared, "peer"),
                "peak_rss_peer_cached": _peer_peak(plan, row, compared, "peer_cached"),
            }
        )
    return {
        "environment": env,
        "workload": asdict(workload),
        "rows": rows,
        "checks": [asdict(check) for check in found],
        # µs per command (medians): both APIs' whole commands, the Trio floor, the parts.
        "budget": budget(plan),
        "skipped": plan.skipped,
        "measurements": {
            key: {
                "label": measurement.label,
                "jobs": [asdict(job) for job in measurement.jobs],
                # By slot: "ours", "peer" (uncached), "peer_cached".
                "outcomes": {
                    slot: [asdict(outcome) for outcome in outcomes]
                    for slot, outcomes in measurement.outcomes.items()
                },
                "failures": measurement.failures,
            }
            for key, measurement in plan.measurements.items()
        },
        "report": lines,
    }


def report(plan: Plan, workload: Workload, env: dict[str, object]) -> tuple[list[str], list[Check]]:
    """The printed report of a run, and its scale checks."""
    settings = env.get("postgres_settings")
    postgres = {str(k): str(v) for k, v in settings.items()} if isinstance(settings, dict) else {}
    memory = memory_check(plan, workload) if "memory.w1_seq" in plan.measurements else None
    found = checks(plan, workload, memory)
    lines = [
        *environment_report(env),
        "",
        *table(plan),
        *FOOTNOTES,
        *plan.skipped,
        "",
        *durability_report(plan, postgres),
        "",
        *memory_report(memory, workload),
        "",
        *budget_report(plan),
        "",
        *runtime_report(plan),
        "",
        *selection_report(plan, workload),
        "",
        *consistency_report(plan, workload),
        "",
        *transfers_report(plan),
        "",
        *check_report(found, bool(env.get("quick"))),
        "",
        f"{env.get('seconds')} s in all",
    ]
    return lines, found


def replot(path: Path, svg: Path | None) -> int:
    """Print the report of a saved run again and redraw its plot (``--replot``)."""
    data = json.loads(path.read_text())
    env: dict[str, object] = data["environment"]
    quick = bool(env["quick"])
    workload = sizes(quick)
    stores = {prefix for prefix, _, _ in PAIRS if f"{prefix}.w1_seq" in data["measurements"]}
    plan = build_plan(workload, quick, stores)
    plan.skipped.extend(data.get("skipped", []))
    for key, saved in data["measurements"].items():
        if key in plan.measurements:
            measurement = plan.measurements[key]
            measurement.failures.extend(saved["failures"])
            for side, outcomes in saved["outcomes"].items():
                measurement.outcomes[side] = [Outcome(o["figures"], o["memory"]) for o in outcomes]
    lines, _ = report(plan, workload, env)
    print("\n".join(lines))
    if "memory" in stores:
        svg = svg or (QUICK_SVG if quick else DEFAULT_SVG)
        svg.write_text(plot(plan, workload, env))
        print(f"plot: {svg}")
    return 0


# --- main ---------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="reduced sizes, one repetition")
    parser.add_argument("--repeat", type=int, default=None, help="repetitions (default 3; quick 1)")
    parser.add_argument(
        "--stores", default="memory,sqlite,postgres", help="comma-separated subset to run"
    )
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where the figures go")
    parser.add_argument("--svg", type=Path, default=None, help="where the plot goes")
    parser.add_argument("--dir", type=Path, default=None, help="where SQLite files go (a disk)")
    parser.add_argument(
        "--dsn",
        default=os.environ.get("TRIO_ES_POSTGRES_DSN") or DEFAULT_DSN,
        help="the PostgreSQL server (default: $TRIO_ES_POSTGRES_DSN or " + DEFAULT_DSN + ")",
    )
    parser.add_argument("--timeout", type=float, default=1_200.0, help="seconds per process")
    parser.add_argument(
        "--replot", type=Path, default=None, help="report and plot a saved JSON again; no run"
    )
    args = parser.parse_args()
    if args.replot is not None:
        return replot(args.replot, args.svg)
    workload = sizes(args.quick)
    repeat = args.repeat if args.repeat is not None else (1 if args.quick else 3)
    stores = {store.strip() for store in args.stores.split(",") if store.strip()}
    if _version("eventsourcing") is None:
        print("the peer is not installed: pip install eventsourcing==9.5.6", file=sys.stderr)
        return 2
    postgres: dict[str, str] = {}
    plan_skips: list[str] = []
    if "postgres" in stores:
        postgres, reason = _postgres_status(args.dsn)
        if reason is not None:
            stores.discard("postgres")
            plan_skips.append(f"PostgreSQL rows skipped: {reason}")
            print(plan_skips[-1], file=sys.stderr, flush=True)
    plan = build_plan(workload, args.quick, stores)
    plan.skipped.extend(plan_skips)
    # Absolute: the measurements run from the repository (``python -m``), not from here.
    directory = Path(tempfile.mkdtemp(prefix="trio-es-bench-", dir=args.dir)).resolve()
    env = environment(args, repeat, postgres, directory)
    started = time.perf_counter()
    try:
        run_plan(plan, Runner(directory, args.dsn, args.timeout), repeat)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    env["seconds"] = round(time.perf_counter() - started, 1)

    env["postgres_settings"] = postgres
    lines, found = report(plan, workload, env)
    print("\n".join(lines))

    failures = [f for m in plan.measurements.values() for f in m.failures]
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(to_json(plan, env, workload, found, lines), indent=1) + "\n")
    print(f"figures: {args.json}")
    if "memory" in stores:
        svg = args.svg or (QUICK_SVG if args.quick else DEFAULT_SVG)
        svg.parent.mkdir(parents=True, exist_ok=True)
        svg.write_text(plot(plan, workload, env))
        print(f"plot: {svg}")
    projections = _projection_catch_up(args, stores)
    if failures or projections != 0:
        print(f"{len(failures)} measurement(s) failed: see above", file=sys.stderr)
        return 1
    return 0


def _projection_catch_up(args: argparse.Namespace, stores: set[str]) -> int:
    """Projection catch-up and commit-to-handler latency (projection_bench.py), in a fresh
    process of its own like every other measurement; its report follows the table."""
    command = [sys.executable, "-m", "tests.benchmarks.projection_bench"]
    if args.quick:
        command.append("--quick")
    if args.dir is not None:
        command += ["--dir", str(args.dir.resolve())]
    print("", flush=True)
    env = {**os.environ, "TRIO_ES_POSTGRES_DSN": args.dsn}
    if "postgres" not in stores:
        env["TRIO_ES_BENCH_SKIP_POSTGRES"] = "1"
    return subprocess.run(command, cwd=ROOT, env=env, timeout=args.timeout, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
