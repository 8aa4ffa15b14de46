"""Property: latest snapshot + tail == full replay of the events == a pure fold.

For random command sequences (several events per command, rejections, no-ops, a command
that clears the tally back to its empty state) and random snapshot frequencies.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.core.conftest import (
    Add,
    Clear,
    CommandResult,
    Nothing,
    Tally,
    TallyCommand,
    TallyEvent,
    apply,
    handle,
    open_system,
    replay,
)
from trio_eventsourcing import Aggregate, DomainError, EntityNotFound, Error, Ok

COMMANDS = st.lists(
    st.one_of(
        st.lists(st.integers(-2, 9), max_size=7).map(lambda amounts: Add(tuple(amounts))),
        st.just(Clear()),
        st.just(Nothing()),
    ),
    max_size=30,
)


@dataclass
class Model:
    """What the system must do, computed with the pure functions alone."""

    every: int
    state: Tally = field(default_factory=Tally)
    events: list[TallyEvent] = field(default_factory=list)
    snapshot_sequences: list[int] = field(default_factory=list)

    def run(self, command: TallyCommand) -> CommandResult:
        decided = handle(self.state, command)
        if isinstance(decided, Error):
            return Error(DomainError(decided.error))
        before = len(self.events)
        for event in decided.value:
            self.state = apply(self.state, event)
            self.events.append(event)
        after = len(self.events)
        if before // self.every != after // self.every:
            self.snapshot_sequences.append(after)
        return Ok(None)


async def check(commands: list[TallyCommand], every: int) -> None:
    model = Model(every)
    async with open_system(snapshot_every=every, record=False) as system:
        for command in commands:
            assert await system.run("t-1", command) == model.run(command)
        stored = await system.payloads("t-1")
        assert stored == model.events
        assert replay(stored) == model.state
        assert [s.sequence for s in system.faulty.saved_snapshots] == model.snapshot_sequences
        snapshot = await system.snapshot("t-1")
        if snapshot is None:
            assert model.snapshot_sequences == []
        else:
            assert snapshot.sequence == model.snapshot_sequences[-1]
            assert snapshot.entity == replay(model.events[: snapshot.sequence])
            tail = [e.payload for e in await system.events("t-1", snapshot.sequence)]
            assert replay(tail, snapshot.entity) == model.state
        expected = (
            Error(EntityNotFound())
            if model.state == Tally()
            else Ok(Aggregate("t-1", model.state, len(model.events)))
        )
        assert await system.load("t-1") == expected  # from the cached state
        async with open_system(system.store, snapshot_every=every, record=False) as cold:
            assert await cold.load("t-1") == expected  # snapshot + tail, from the store


@settings(max_examples=75, deadline=None)
@given(commands=COMMANDS, every=st.integers(1, 6))
def test_snapshot_plus_tail_equals_full_replay_equals_pure_fold(
    commands: list[TallyCommand], every: int
) -> None:
    trio.run(check, commands, every)
