"""What a PostgreSQL store leaves behind in the process once it is no longer used: nothing."""

from __future__ import annotations

import gc
import weakref

import trio

from tests.contracts.store_contract import append, opened
from tests.postgres.helpers import CODEC
from tests.projections.helpers import checkpointed
from trio_eventsourcing import Ok, postgres_store, projections, static_supervisor
from trio_eventsourcing.codec import Codec, EncodedValue
from trio_eventsourcing.examples.bank_account import BankAccount, BankAccountEvent

Entry = projections.LogRecord[BankAccountEvent]


class WeaklyReferencedCodec(Codec[BankAccountEvent, BankAccount]):
    """The tests' codec in an object a weak reference can follow.

    The store's own objects take no weak references; the store holds its codec and
    nothing else does, so the codec is collected when, and only when, the store is.
    """

    @property
    def aggregate_type(self) -> str:
        return CODEC.aggregate_type

    def encode_event(self, event: BankAccountEvent) -> EncodedValue:
        return CODEC.encode_event(event)

    def decode_event(self, type_name: str, version: int, data: str) -> BankAccountEvent:
        return CODEC.decode_event(type_name, version, data)

    def encode_entity(self, entity: BankAccount) -> EncodedValue:
        return CODEC.encode_entity(entity)

    def decode_entity(self, type_name: str, version: int, data: str) -> BankAccount:
        return CODEC.decode_entity(type_name, version, data)


async def _run_a_projection_then_stop(dsn: str, schema: str, codec: WeaklyReferencedCodec) -> None:
    seen: list[int] = []

    def on_event(entry: Entry) -> None:
        seen.append(entry.position)

    store, store_spec = postgres_store.supervised(dsn, codec, schema=schema)
    handle, spec = projections.supervised(store, projections.per_event("tail", on_event))
    supervisor = static_supervisor.new(static_supervisor.OneForOne).add(store_spec).add(spec)
    async with supervisor.open():
        assert isinstance(await append(store, "acc-1", 0, [opened("acc-1")]), Ok)
        with trio.fail_after(10):
            await checkpointed(handle, 1)
        assert isinstance(await projections.reset(store, "tail"), Ok)
    assert seen[0] == 1


async def test_a_store_used_by_a_projection_is_collected_once_it_stops(
    dsn: str, schema: str
) -> None:
    codec = WeaklyReferencedCodec()
    collected = weakref.ref(codec)
    await _run_a_projection_then_stop(dsn, schema, codec)
    del codec
    # Worker threads that served the store may still be finishing their last call (and
    # a tracer such as coverage's keeps a frame a moment longer): a leak stays, they go.
    with trio.move_on_after(10):
        while gc.collect() >= 0 and collected() is not None:  # noqa: ASYNC110 - nothing to wait on
            await trio.sleep(0.05)
    assert collected() is None
