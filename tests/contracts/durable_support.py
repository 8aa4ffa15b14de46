"""What the durable stores' tests share below the contracts: the codec, a running store, a batch.

A leaf module (it imports no other test module), so that the backends' helpers and the
contracts can both use it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import trio
import trio.testing

import trio_eventsourcing
from trio_eventsourcing import static_supervisor, supervision
from trio_eventsourcing.codec import JsonCodec, Registration, Upcaster
from trio_eventsourcing.examples.bank_account import (
    AccountOpened,
    BankAccount,
    BankAccountEvent,
    CustomerDepositedCash,
    CustomerWithdrewCash,
)

T = TypeVar("T")
StoreT = TypeVar("StoreT")

BankCodec = JsonCodec[BankAccountEvent, BankAccount]
Spec = supervision.ChildSpecification[static_supervisor.Supervisor]

BANK_EVENTS: tuple[type[BankAccountEvent], ...] = (
    AccountOpened,
    CustomerDepositedCash,
    CustomerWithdrewCash,
)


def bank_codec(
    aggregate_type: str = "bank_account",
    *,
    events: Iterable[type[BankAccountEvent] | Registration[BankAccountEvent]] = BANK_EVENTS,
    entities: Iterable[type[BankAccount] | Registration[BankAccount]] = (BankAccount,),
    upcasters: Iterable[Upcaster] = (),
) -> BankCodec:
    """A ``JsonCodec`` of the bank-account example: every event, unless told otherwise."""
    return JsonCodec(
        events=events, entities=entities, aggregate_type=aggregate_type, upcasters=upcasters
    )


CODEC = bank_codec()
"""The codec of the durable stores' tests."""

ROOT = Path(__file__).resolve().parents[2]
"""The repository: child processes run as ``python -m tests.<folder>.<module>`` from there."""


def child_environment() -> dict[str, str]:
    """The environment of a child process that imports the tests and the library."""
    env = dict(os.environ)
    source = Path(trio_eventsourcing.__file__).parents[1]
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(ROOT), str(source), env.get("PYTHONPATH")])
    )
    return env


@contextlib.asynccontextmanager
async def started(store: StoreT, spec: Spec) -> AsyncIterator[StoreT]:
    """Run ``spec``, the child of ``store``, for the duration of the block."""
    async with trio.open_nursery() as nursery:
        supervisor = (await spec.start(nursery)).unwrap().data
        try:
            yield store
        finally:
            supervisor.shutdown()


async def wait_until_taken(store: Any, batches_before: int) -> None:
    """Wait until the writer thread of ``store`` has closed a new batch and begun storing it."""
    counters = store.eventstore.database._counters
    # The writer is a real thread with no Trio event to wait on: poll its counter.
    while counters.batches_begun <= batches_before:  # noqa: ASYNC110
        await trio.sleep(0.001)


async def in_one_batch(
    store: Any,
    lock_held: Callable[[], contextlib.AbstractContextManager[object]],
    taken: Callable[[int], Awaitable[None]],
    barrier: Callable[[], Awaitable[object]],
    writes: list[Callable[[], Awaitable[T]]],
) -> list[T]:
    """Run ``writes`` so that the writer of ``store`` stores them all in one batch; their outcomes.

    ``barrier`` is written first, while ``lock_held()`` keeps the write lock the writer
    needs from another connection: once ``taken(batches_before)`` says the writer took it
    (and waits), ``writes`` queue behind it, in order, to be taken together once the lock
    is free.
    """
    outcomes: dict[int, T] = {}

    async def write(index: int) -> None:
        outcomes[index] = await writes[index]()

    batches = store.eventstore.database._counters.batches_begun
    async with trio.open_nursery() as nursery:
        with lock_held():
            nursery.start_soon(barrier)
            await taken(batches)
            for index in range(len(writes)):
                # One at a time, so that they queue in this order (Trio may start the
                # tasks of one batch in any order).
                nursery.start_soon(write, index)
                await trio.testing.wait_all_tasks_blocked()
    return [outcomes[index] for index in range(len(writes))]
