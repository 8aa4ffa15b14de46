"""What ``projections.supervised`` accepts.

How a running projection behaves on every store is ``ProjectionContract``
(``tests/contracts/projection_contract.py``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.projections.helpers import ReadModel, open_store
from trio_eventsourcing import projections


async def test_supervised_checks_its_arguments(tmp_path: Path) -> None:
    model = ReadModel()
    projection = projections.per_event("x", model.on_event)
    with pytest.raises(TypeError, match=r"memory_store\.supervised"):
        projections.supervised(object(), projection)  # type: ignore[call-overload]
    async with open_store("memory", tmp_path) as store:
        with pytest.raises(TypeError, match="per_event"):
            projections.supervised(store, object())  # type: ignore[call-overload]
        with pytest.raises(TypeError, match="has no transactions"):
            projections.supervised(
                store,
                projections.transactional("tx", lambda tx, entries: None),
            )
    with pytest.raises(TypeError, match="name"):
        projections.per_event("", model.on_event)
    with pytest.raises(ValueError, match="batch_size"):
        projections.per_event("x", model.on_event, batch_size=0)
    with pytest.raises(TypeError, match="on_error"):
        projections.per_event("x", model.on_event, on_error="skip")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="attempts"):
        projections.Retry(attempts=-1)
    with pytest.raises(ValueError, match="max_backoff"):
        projections.Retry(max_backoff=float("inf"))
    with pytest.raises(TypeError, match="no public constructor"):
        projections.Projection(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"projections\.InStore or projections\.InMemory"):
        projections.per_batch("x", print, checkpoint="memory")  # type: ignore[arg-type]


def test_where_a_projection_keeps_its_checkpoint_is_one_of_its_options() -> None:
    model = ReadModel()
    durable = projections.per_event("x", model.on_event)
    assert durable.checkpoint_storage is projections.InStore
    in_memory = projections.per_event("x", model.on_event, checkpoint=projections.InMemory)
    assert in_memory.checkpoint_storage is projections.InMemory
    assert repr(in_memory) == "<Projection 'x' per_event start=origin checkpoint=memory>"
