"""The soak's checker: the stored events against what the clients were told.

It reads the rows itself (psycopg or sqlite3, straight from the database, not through the
store under test) and checks:

- every acknowledged op is stored exactly once; no op is stored twice;
- no rejected or failed op is stored; an unresolved one at most once;
- every stored op was sent by a client (nothing invented);
- each aggregate's sequences run 1, 2, 3, ... in the order of their positions;
- positions run 1, 2, 3, ... with no gap (and end at the store's ``last_position``);
- each event agrees with the one before it (a balance is the previous one plus or
  minus the amount), so the events of an aggregate are one consistent history;
- each snapshot equals the fold of the events up to its sequence;
- each receipt names the position and sequence its op's event is stored at (a receipt
  saying "stored already" only after an attempt whose outcome was unknown), and each
  event carries its command's correlation and causation ids (the op's key, when the
  client gave one);
- the aggregates the running system serves equal the fold of their stored events.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from tests.soak.workload import CODEC, OP_KEY, Ledger, Verdict
from trio_eventsourcing import Aggregate
from trio_eventsourcing.examples.bank_account import (
    AccountOpened,
    BankAccount,
    BankAccountEvent,
    CustomerDepositedCash,
    CustomerWithdrewCash,
    apply,
)

SHOWN = 8
"""Most examples of one kind of problem in a failure message."""


# An aggregate is its type and id together: the checker names it "<type>:<id>".
_AGGREGATE = "aggregate_type || ':' || aggregate_id"


def events_query(table: str) -> str:
    """The query of every event row of ``table`` (the same columns in both stores)."""
    return (
        f"SELECT position, {_AGGREGATE}, sequence, event_type, event_version, payload, metadata,"
        f" correlation_id, causation_id FROM {table} ORDER BY position"
    )


def snapshots_query(table: str) -> str:
    """The query of every snapshot row of ``table``."""
    return f"SELECT {_AGGREGATE}, sequence, entity_type, entity_version, payload FROM {table}"


@dataclass(frozen=True)
class StoredEvent:
    """One row of the events table, as stored; ``aggregate_id`` is ``"<type>:<id>"``."""

    position: int
    aggregate_id: str
    sequence: int
    event_type: str
    event_version: int
    payload: str
    metadata: str
    """The metadata as stored: JSON, a list of ``[key, value]`` pairs."""
    correlation_id: str = ""
    causation_id: str = ""

    def op_id(self) -> str | None:
        pairs = json.loads(self.metadata)
        for key, value in pairs:
            if key == OP_KEY:
                return str(value)
        return None

    def event(self) -> BankAccountEvent:
        return CODEC.decode_event(self.event_type, self.event_version, self.payload)


@dataclass(frozen=True)
class StoredSnapshot:
    """One row of the snapshots table."""

    aggregate_id: str
    sequence: int
    entity_type: str
    entity_version: int
    payload: str

    def entity(self) -> BankAccount:
        return CODEC.decode_entity(self.entity_type, self.entity_version, self.payload)


@dataclass
class Findings:
    """What the checker found; :meth:`problems` lists what breaks a promise."""

    events: int = 0
    ops_stored: int = 0
    duplicates: dict[str, int] = field(default_factory=dict)
    """Ops stored more than once, with how often."""
    lost: list[str] = field(default_factory=list)
    """Acknowledged ops not stored."""
    stored_but_not_acknowledged: list[str] = field(default_factory=list)
    """Rejected or failed ops that are stored."""
    invented: list[str] = field(default_factory=list)
    """Stored ops no client sent."""
    sequence_problems: list[str] = field(default_factory=list)
    position_problems: list[str] = field(default_factory=list)
    history_problems: list[str] = field(default_factory=list)
    snapshot_problems: list[str] = field(default_factory=list)
    cache_problems: list[str] = field(default_factory=list)
    receipt_problems: list[str] = field(default_factory=list)
    trace_problems: list[str] = field(default_factory=list)
    service_problems: list[str] = field(default_factory=list)
    folded: dict[str, Aggregate[BankAccount]] = field(default_factory=dict)
    """Each aggregate as its stored events fold to."""

    def summary(self) -> str:
        """Counts of what was stored and of what breaks a promise."""
        return (
            f"events={self.events} duplicates={len(self.duplicates)} lost={len(self.lost)} "
            f"failed_but_stored={len(self.stored_but_not_acknowledged)} "
            f"problems={len(self.problems())}"
        )

    def problems(self) -> list[str]:
        found: list[str] = []

        def add(title: str, items: list[str]) -> None:
            if items:
                more = f" (and {len(items) - SHOWN} more)" if len(items) > SHOWN else ""
                found.append(f"{len(items)} {title}{more}:\n    " + "\n    ".join(items[:SHOWN]))

        add(
            "ops stored more than once",
            [f"{op} x{count}" for op, count in sorted(self.duplicates.items())],
        )
        add("acknowledged ops not stored", self.lost)
        add("ops reported as not stored but stored", self.stored_but_not_acknowledged)
        add("stored ops no client sent", self.invented)
        add("sequence problems", self.sequence_problems)
        add("position problems", self.position_problems)
        add("inconsistent histories", self.history_problems)
        add("snapshot problems", self.snapshot_problems)
        add("cached aggregates that differ from their events", self.cache_problems)
        add("receipts that disagree with the stored events", self.receipt_problems)
        add("events without their command's correlation and causation", self.trace_problems)
        add("the system did not serve again", self.service_problems)
        return found


def check_stored(
    ledger: Ledger,
    events: list[StoredEvent],
    snapshots: list[StoredSnapshot],
    last_position: int | None,
) -> Findings:
    """Check the stored ``events`` (all of them, any order) against ``ledger``."""
    findings = Findings(events=len(events))
    ordered = sorted(events, key=lambda e: e.position)
    stored: Counter[str] = Counter()
    for event in ordered:
        op_id = event.op_id()
        if op_id is None:
            findings.invented.append(f"position {event.position}: no op id in {event.metadata}")
        else:
            stored[op_id] += 1
    findings.ops_stored = len(stored)
    findings.duplicates = {op: count for op, count in stored.items() if count > 1}
    for op_id in stored:
        if op_id not in ledger.ops:
            findings.invented.append(op_id)
    for op in ledger.ops.values():
        count = stored[op.op_id]
        if op.verdict is Verdict.ACKNOWLEDGED and count == 0:
            findings.lost.append(op.describe())
        elif op.verdict in (Verdict.REJECTED, Verdict.FAILED) and count:
            findings.stored_but_not_acknowledged.append(op.describe())
        elif op.verdict is None:
            findings.service_problems.append(f"{op.op_id}: the client never settled it")
    _check_positions(ordered, last_position, findings)
    _check_histories(ordered, findings)
    _check_snapshots(snapshots, ordered, findings)
    _check_receipts_and_traces(ledger, ordered, findings)
    return findings


def _check_receipts_and_traces(
    ledger: Ledger, ordered: list[StoredEvent], findings: Findings
) -> None:
    """Receipts against where their op's event is; every event's correlation and causation.

    Each op stores one event, so its receipt names one position.
    """
    where: dict[str, StoredEvent] = {}
    for event in ordered:
        op_id = event.op_id()
        if op_id is None:
            continue
        where.setdefault(op_id, event)
        if not event.causation_id or event.correlation_id != event.causation_id:
            findings.trace_problems.append(
                f"{op_id} at position {event.position}: correlation {event.correlation_id!r},"
                f" causation {event.causation_id!r}"
            )
        op = ledger.ops.get(op_id)
        if op is not None and op.receipt is not None and event.causation_id != op_id:
            # Asked with its op id as key: the key is its causation.
            findings.trace_problems.append(
                f"{op_id} at position {event.position}: causation {event.causation_id!r}"
            )
    for op in ledger.ops.values():
        receipt = op.receipt
        if receipt is None:
            continue
        found = where.get(op.op_id)
        if receipt.already_stored:
            if not op.unknowns:
                findings.receipt_problems.append(
                    f"{op.describe()}: stored already at its first answer ({receipt!r})"
                )
            continue
        if found is None or receipt.positions != (found.position,):
            findings.receipt_problems.append(
                f"{op.describe()}: receipt {receipt!r}, stored at "
                f"{None if found is None else found.position}"
            )
        elif receipt.sequence != found.sequence:
            findings.receipt_problems.append(
                f"{op.describe()}: receipt {receipt!r}, stored at sequence {found.sequence}"
            )


def _check_positions(
    ordered: list[StoredEvent], last_position: int | None, findings: Findings
) -> None:
    positions = [event.position for event in ordered]
    expected = list(range(1, len(positions) + 1))
    if positions != expected:
        missing = sorted(set(expected) - set(positions))[:SHOWN]
        extra = sorted(set(positions) - set(expected))[:SHOWN]
        findings.position_problems.append(
            f"{len(positions)} events, positions not 1..{len(positions)}: "
            f"missing {missing}, beyond {extra}"
        )
    if last_position is not None and last_position != len(positions):
        findings.position_problems.append(
            f"the store's last_position is {last_position}, but {len(positions)} events are stored"
        )


def _check_histories(ordered: list[StoredEvent], findings: Findings) -> None:
    by_aggregate: dict[str, list[StoredEvent]] = defaultdict(list)
    for event in ordered:
        by_aggregate[event.aggregate_id].append(event)
    for aggregate_id, events in sorted(by_aggregate.items()):
        sequences = [event.sequence for event in events]
        if sequences != list(range(1, len(events) + 1)):
            findings.sequence_problems.append(
                f"{aggregate_id}: sequences in position order are {_abbreviate(sequences)}"
            )
        entity = BankAccount()
        for event in events:
            decoded = event.event()
            expected = _expected_balance(entity, decoded)
            if expected is not None and expected != _balance_of(decoded):
                findings.history_problems.append(
                    f"{aggregate_id} at sequence {event.sequence}: {decoded!r} after a "
                    f"balance of {entity.balance}"
                )
            entity = apply(entity, decoded)
        # As the system serves it: by its id alone (its type is the system's).
        _, _, plain_id = aggregate_id.partition(":")
        findings.folded[aggregate_id] = Aggregate(plain_id, entity, len(events))


def _expected_balance(entity: BankAccount, event: BankAccountEvent) -> Decimal | None:
    match event:
        case AccountOpened():
            return None
        case CustomerDepositedCash(amount=amount):
            return entity.balance + amount
        case CustomerWithdrewCash(amount=amount):
            return entity.balance - amount


def _balance_of(event: BankAccountEvent) -> Decimal | None:
    match event:
        case AccountOpened():
            return None
        case CustomerDepositedCash(new_balance=balance) | CustomerWithdrewCash(new_balance=balance):
            return balance


def _check_snapshots(
    snapshots: list[StoredSnapshot], ordered: list[StoredEvent], findings: Findings
) -> None:
    by_aggregate: dict[str, list[StoredEvent]] = defaultdict(list)
    for event in ordered:
        by_aggregate[event.aggregate_id].append(event)
    for snapshot in snapshots:
        events = by_aggregate.get(snapshot.aggregate_id, [])
        if snapshot.sequence > len(events):
            findings.snapshot_problems.append(
                f"{snapshot.aggregate_id}: snapshot at sequence {snapshot.sequence}, "
                f"but {len(events)} events"
            )
            continue
        entity = BankAccount()
        for event in events[: snapshot.sequence]:
            entity = apply(entity, event.event())
        if snapshot.entity() != entity:
            findings.snapshot_problems.append(
                f"{snapshot.aggregate_id}: snapshot at sequence {snapshot.sequence} is "
                f"{snapshot.entity()!r}, its events fold to {entity!r}"
            )


def compare_served(
    findings: Findings, served: dict[str, Aggregate[BankAccount] | None], what: str
) -> None:
    """Record where an aggregate the system serves differs from its stored events.

    ``served["<type>:<id>"]`` is what ``load_aggregate`` answered (``None`` for
    ``EntityNotFound``).
    """
    for aggregate_id, aggregate in sorted(served.items()):
        folded = findings.folded.get(aggregate_id)
        if aggregate != folded:
            findings.cache_problems.append(
                f"{what}: {aggregate_id} is served as {aggregate!r}, its events fold to {folded!r}"
            )


def _abbreviate(values: list[int]) -> str:
    if len(values) <= 12:
        return str(values)
    return f"[{', '.join(map(str, values[:6]))}, ..., {', '.join(map(str, values[-6:]))}]"
