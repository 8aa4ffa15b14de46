"""Run the benchmarks side by side with the peer and print a table of ratios.

Usage: ``nox -s bench`` (or ``python tests/benchmarks/run.py [--quick] [--repeat N]
[--json PATH]``). Each measurement alternates this library and the peer within one
run, so a noisy machine hurts both alike; the table shows medians over the repeats,
their min-max, and this/peer ratios.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import ours_memory
import peer
from workload import FULL, QUICK, Workload

import trio_eventsourcing


@dataclass
class Measure:
    """One row of the table: a figure for this library and one for the peer."""

    name: str
    unit: str
    higher_is_better: bool
    ours: list[float] = field(default_factory=list)
    theirs: list[float] = field(default_factory=list)

    def ratio(self) -> float:
        """How many times better this library is (>1 means better)."""
        ours, theirs = statistics.median(self.ours), statistics.median(self.theirs)
        return ours / theirs if self.higher_is_better else theirs / ours


def _measures(
    workload: Workload,
) -> list[tuple[Measure, Callable[[int], float], Callable[[int], float]]]:
    popo = peer.popo_env()
    return [
        (
            Measure("memory W1, 1 sequential client", "commands/s", True),
            lambda i: ours_memory.w1(workload, 1, f"seq{i}"),
            lambda i: peer.w1(workload, popo, f"seq{i}"),
        ),
        (
            Measure(f"memory W1, {workload.clients} concurrent clients", "commands/s", True),
            lambda i: ours_memory.w1(workload, workload.clients, f"conc{i}"),
            lambda i: peer.w1(workload, popo, f"conc{i}"),
        ),
        (
            Measure(f"memory W2, replay {workload.replay_events} events", "s", False),
            lambda i: ours_memory.w2(workload, None),
            lambda i: peer.w2(workload, popo, None),
        ),
        (
            Measure(
                f"memory W2, replay {workload.replay_events} events, snapshots every "
                f"{workload.snapshot_every}",
                "s",
                False,
            ),
            lambda i: ours_memory.w2(workload, workload.snapshot_every),
            lambda i: peer.w2(workload, popo, workload.snapshot_every),
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a reduced run, under a minute")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions (median reported)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    workload = QUICK if args.quick else FULL
    rows = []
    for measure, ours, theirs in _measures(workload):
        for repetition in range(args.repeat):
            measure.ours.append(ours(repetition))
            measure.theirs.append(theirs(repetition))
        rows.append(measure)
        print(_format(measure), flush=True)
    environment = {
        "python": sys.version.split()[0],
        "machine": f"{platform.machine()} {platform.system()} {platform.release()}",
        "trio_eventsourcing": trio_eventsourcing.__name__,
        "peer": f"eventsourcing {peer.version()}",
        "workload": vars(workload),
        "repeat": args.repeat,
    }
    print(json.dumps(environment))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {
                    "environment": environment,
                    "rows": [vars(row) | {"ratio": row.ratio()} for row in rows],
                },
                indent=2,
            )
        )


def _format(measure: Measure) -> str:
    def cell(values: list[float]) -> str:
        return f"{statistics.median(values):>10.4g} ({min(values):.4g}-{max(values):.4g})"

    return (
        f"{measure.name:<60} {measure.unit:<11} ours {cell(measure.ours)}  "
        f"peer {cell(measure.theirs)}  ratio {measure.ratio():6.2f}x"
    )


if __name__ == "__main__":
    main()
