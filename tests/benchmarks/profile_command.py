"""Where the time of one memory-store command goes: a cProfile of the hot path, by part.

Usage (from the repository): ``python -m tests.benchmarks.profile_command [--commands N]
[--clients C]``. Runs
``N`` deposits (on cached aggregates, ``C`` clients at once) once unprofiled, for the
µs per command, and once under :mod:`cProfile`; then splits the profile's own time
(``tottime``) by the part of the path each function belongs to, and scales the shares to
the unprofiled µs. The profiler slows small functions more than big ones, so the split is
an estimate; the total is measured.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time
from decimal import Decimal

import trio

from tests.benchmarks import ours
from tests.benchmarks.workload import Deposit, Op
from trio_eventsourcing.examples.bank_account import DepositMoney, OpenAccount

# Each function's part of the path, from its file (and, in _core/system.py, its name).
FILES: dict[str, str] = {
    "_core/api.py": "client: execute_with_response, waiting for the reply",
    "ours.py": "client: execute_with_response, waiting for the reply",
    "_runtime/actor.py": "router actor: its loop and route()",
    "_stores/memory/store.py": "store: the memory store's transaction and commit_events",
    "bank_account.py": "domain: handle and apply (the user's code)",
    "_runtime/process.py": "mailboxes: send, put, get, receive timers",
    "_runtime/timer.py": "mailboxes: send, put, get, receive timers",
    "_runtime/result.py": "values: Ok/Error, envelopes, messages",
    "_core/records.py": "values: Ok/Error, envelopes, messages",
    "_runtime/frozen.py": "values: Ok/Error, envelopes, messages",
}
WORKER = "worker: run_worker, execute, the transaction body"
TRIO = "trio: the scheduler's run loop, reschedule, checkpoints"
BUILTINS = "builtins (len, isinstance, ...) called from every part"
OTHER = "other Python: Decimal, dataclasses, ..."


def _part(filename: str, name: str) -> str:
    for tail, part in FILES.items():
        if filename.endswith("/" + tail) or filename == tail:
            return part
    if filename.endswith("/_core/system.py"):
        return FILES["_runtime/actor.py"] if name in ("_route", "route") else WORKER
    if "/trio/" in filename or "/outcome/" in filename or "collections/__init__" in filename:
        return TRIO  # trio's own, its outcome values and its instrument registry
    if filename == "~":
        return BUILTINS
    return OTHER


def _script(commands: int, clients: int) -> list[list[Op]]:
    ops: list[Op] = [Deposit(f"profiled-{index % clients}", 10) for index in range(commands)]
    return [ops[client::clients] for client in range(clients)]


async def _run(commands: int, clients: int, profiler: cProfile.Profile | None) -> float:
    async with (
        ours.open_store(ours.Target("memory")) as store,
        ours.open_system(store) as actor,
    ):
        for client in range(clients):
            account = f"profiled-{client}"
            await ours.command(actor, account, OpenAccount(account))
            await ours.command(actor, account, DepositMoney(Decimal(1)))
        script = _script(commands, clients)
        if profiler is not None:
            profiler.enable()
        started = time.perf_counter()
        await ours.run_script(actor, script)
        elapsed = time.perf_counter() - started
        if profiler is not None:
            profiler.disable()
    return elapsed / commands * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--commands", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=1)
    args = parser.parse_args()
    unprofiled = trio.run(_run, args.commands, args.clients, None)
    profiler = cProfile.Profile()
    profiled = trio.run(_run, args.commands, args.clients, profiler)
    stats = pstats.Stats(profiler)
    by_part: dict[str, float] = {}
    by_function: dict[str, float] = {}
    raw: dict[tuple[str, int, str], tuple[int, int, float, float, object]] = stats.stats  # type: ignore[attr-defined]
    for (filename, line, name), (_, _, tottime, _, _) in raw.items():
        part = _part(filename, name)
        by_part[part] = by_part.get(part, 0.0) + tottime
        label = f"{filename.rsplit('/', 1)[-1]}:{line}({name})"
        by_function[label] = by_function.get(label, 0.0) + tottime
    total = sum(by_part.values())
    print(
        f"{args.commands:,} deposits, {args.clients} client(s), memory store, cached: "
        f"{unprofiled:.1f} µs per command ({profiled:.1f} under cProfile)"
    )
    for part, seconds in sorted(by_part.items(), key=lambda item: -item[1]):
        share = seconds / total
        print(f"  {part:<60} {share:6.1%} {share * unprofiled:6.1f} µs")
    print("The functions with the most own time (share of the profile):")
    for label, seconds in sorted(by_function.items(), key=lambda item: -item[1])[:25]:
        print(f"  {label:<70} {seconds / total:6.1%}")


if __name__ == "__main__":
    main()
