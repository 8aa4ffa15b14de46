"""The soak's checker finds each broken promise it claims to find (synthetic histories).

A soak that passes proves something only if its checker would have failed on a bad
history: each test here hands it one defect and expects exactly that one reported.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import replace
from decimal import Decimal

from tests.soak.checker import Findings, StoredEvent, StoredSnapshot, check_stored, compare_served
from tests.soak.workload import CODEC, OP_KEY, Ledger, Verdict
from trio_eventsourcing import Aggregate, Receipt
from trio_eventsourcing.examples.bank_account import (
    AccountOpened,
    BankAccount,
    BankAccountEvent,
    CustomerDepositedCash,
    DepositMoney,
    OpenAccount,
)

ACC = f"{CODEC.aggregate_type}:acc"
"""Account "acc" as the checker names an aggregate: its type and id."""


def row(position: int, sequence: int, op_id: str, event: BankAccountEvent) -> StoredEvent:
    encoded = CODEC.encode_event(event)
    return StoredEvent(
        position,
        ACC,
        sequence,
        encoded.type_name,
        encoded.version,
        encoded.data,
        json.dumps([[OP_KEY, op_id]]),
        op_id,
        op_id,
    )


def snapshot(sequence: int, entity: BankAccount) -> StoredSnapshot:
    encoded = CODEC.encode_entity(entity)
    return StoredSnapshot(ACC, sequence, encoded.type_name, encoded.version, encoded.data)


def history() -> tuple[Ledger, list[StoredEvent]]:
    """Three acknowledged ops on one account, stored once each."""
    ledger = Ledger()
    ledger.new("open", "acc", OpenAccount("acc")).verdict = Verdict.ACKNOWLEDGED
    ledger.new("d1", "acc", DepositMoney(Decimal(5))).verdict = Verdict.ACKNOWLEDGED
    ledger.new("d2", "acc", DepositMoney(Decimal(7))).verdict = Verdict.ACKNOWLEDGED
    events = [
        row(1, 1, "open", AccountOpened("acc")),
        row(2, 2, "d1", CustomerDepositedCash(Decimal(5), Decimal(5))),
        row(3, 3, "d2", CustomerDepositedCash(Decimal(7), Decimal(12))),
    ]
    return ledger, events


def only_problem(findings: Findings) -> str:
    problems = findings.problems()
    assert len(problems) == 1, problems
    return problems[0]


def test_a_clean_history_passes() -> None:
    ledger, events = history()
    findings = check_stored(ledger, events, [snapshot(2, BankAccount(True, Decimal(5)))], 3)
    assert findings.problems() == []
    assert findings.folded == {ACC: Aggregate("acc", BankAccount(True, Decimal(12)), 3)}


def test_an_acknowledged_op_stored_twice_is_a_duplicate() -> None:
    ledger, events = history()
    events.append(row(4, 4, "d2", CustomerDepositedCash(Decimal(7), Decimal(19))))
    findings = check_stored(ledger, events, [], 4)
    assert findings.duplicates == {"d2": 2}
    assert "stored more than once" in only_problem(findings)


def test_an_acknowledged_op_not_stored_is_lost() -> None:
    ledger, events = history()
    ledger.new("d3", "acc", DepositMoney(Decimal(1))).verdict = Verdict.ACKNOWLEDGED
    assert "acknowledged ops not stored" in only_problem(check_stored(ledger, events, [], 3))


def test_a_failed_op_that_is_stored_is_reported() -> None:
    ledger, events = history()
    ledger.ops["d2"].verdict = Verdict.FAILED
    problem = only_problem(check_stored(ledger, events, [], 3))
    assert "reported as not stored but stored" in problem


def test_a_rejected_op_that_is_stored_is_reported() -> None:
    ledger, events = history()
    ledger.ops["d1"].verdict = Verdict.REJECTED
    problem = only_problem(check_stored(ledger, events, [], 3))
    assert "reported as not stored but stored" in problem


def test_an_unresolved_op_may_be_stored_once_or_not_at_all() -> None:
    ledger, events = history()
    ledger.ops["d2"].verdict = Verdict.UNRESOLVED
    assert check_stored(ledger, events, [], 3).problems() == []
    assert check_stored(ledger, events[:2], [], 2).problems() == []


def test_a_stored_op_no_client_sent_is_reported() -> None:
    ledger, events = history()
    del ledger.ops["d2"]
    assert "no client sent" in only_problem(check_stored(ledger, events, [], 3))


def test_a_gap_in_positions_is_reported() -> None:
    ledger, events = history()
    events[2] = dataclasses.replace(events[2], position=5)
    assert "position problems" in only_problem(check_stored(ledger, events, [], 5))


def test_a_last_position_that_disagrees_with_the_events_is_reported() -> None:
    ledger, events = history()
    assert "last_position is 4" in only_problem(check_stored(ledger, events, [], 4))


def test_sequences_out_of_position_order_are_reported() -> None:
    ledger, events = history()
    events[1], events[2] = (
        row(2, 3, "d1", CustomerDepositedCash(Decimal(5), Decimal(5))),
        row(3, 2, "d2", CustomerDepositedCash(Decimal(7), Decimal(12))),
    )
    assert "sequence problems" in only_problem(check_stored(ledger, events, [], 3))


def test_an_event_that_does_not_follow_from_the_one_before_is_reported() -> None:
    ledger, events = history()
    events[2] = row(3, 3, "d2", CustomerDepositedCash(Decimal(7), Decimal(7)))
    assert "inconsistent histories" in only_problem(check_stored(ledger, events, [], 3))


def test_a_snapshot_that_differs_from_its_events_is_reported() -> None:
    ledger, events = history()
    wrong = snapshot(2, BankAccount(True, Decimal(6)))
    assert "snapshot problems" in only_problem(check_stored(ledger, events, [wrong], 3))


def test_a_served_aggregate_that_differs_from_its_events_is_reported() -> None:
    ledger, events = history()
    findings = check_stored(ledger, events, [], 3)
    compare_served(findings, {ACC: Aggregate("acc", BankAccount(True, Decimal(5)), 2)}, "now")
    assert "cached aggregates" in only_problem(findings)


def test_the_same_id_in_two_aggregate_types_is_two_histories() -> None:
    ledger, events = history()
    statement = "bank_statement:acc"
    ledger.new("s-open", "acc", OpenAccount("acc")).verdict = Verdict.ACKNOWLEDGED
    ledger.new("s-d1", "acc", DepositMoney(Decimal(2))).verdict = Verdict.ACKNOWLEDGED
    events += [
        dataclasses.replace(row(4, 1, "s-open", AccountOpened("acc")), aggregate_id=statement),
        dataclasses.replace(
            row(5, 2, "s-d1", CustomerDepositedCash(Decimal(2), Decimal(2))),
            aggregate_id=statement,
        ),
    ]
    findings = check_stored(ledger, events, [], 5)
    assert findings.problems() == []
    assert findings.folded[statement] == Aggregate("acc", BankAccount(True, Decimal(2)), 2)
    assert findings.folded[ACC] == Aggregate("acc", BankAccount(True, Decimal(12)), 3)


def test_a_receipt_naming_another_position_is_reported() -> None:
    ledger, events = history()
    ledger.ops["d1"].receipt = Receipt("acc", 2, (3,))
    assert "receipts that disagree" in only_problem(check_stored(ledger, events, [], 3))


def test_a_receipt_naming_another_sequence_is_reported() -> None:
    ledger, events = history()
    ledger.ops["d1"].receipt = Receipt("acc", 3, (2,))
    assert "receipts that disagree" in only_problem(check_stored(ledger, events, [], 3))


def test_a_stored_already_receipt_at_the_first_answer_is_reported() -> None:
    ledger, events = history()
    ledger.ops["d1"].receipt = Receipt("acc", None, (), already_stored=True)
    assert "stored already at its first answer" in only_problem(check_stored(ledger, events, [], 3))
    ledger.ops["d1"].unknowns = 1
    assert check_stored(ledger, events, [], 3).problems() == []


def test_an_event_without_its_command_s_trace_is_reported() -> None:
    ledger, events = history()
    events[1] = replace(events[1], correlation_id="", causation_id="")
    assert "correlation and causation" in only_problem(check_stored(ledger, events, [], 3))


def test_an_event_of_a_keyed_op_caused_by_another_key_is_reported() -> None:
    ledger, events = history()
    ledger.ops["d1"].receipt = Receipt("acc", 2, (2,))
    events[1] = replace(events[1], correlation_id="other", causation_id="other")
    assert "correlation and causation" in only_problem(check_stored(ledger, events, [], 3))
