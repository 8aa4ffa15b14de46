"""The example transfer domain, its codec, and the demo's random plan of operations."""

from __future__ import annotations

import random
from decimal import Decimal
from functools import reduce

import pytest

from trio_eventsourcing.examples.demo import (
    TRANSFER_SHARE,
    random_operations,
    transfer_codec,
)
from trio_eventsourcing.examples.transfers import (
    CantTransferNonPositiveAmount,
    CantTransferToSameAccount,
    CompleteTransfer,
    FailTransfer,
    RequestTransfer,
    Transfer,
    TransferAlreadyRequested,
    TransferCommand,
    TransferCompleted,
    TransferEvent,
    TransferFailed,
    TransferNotPending,
    TransferRequested,
    TransferStatus,
    apply,
    handle,
)
from trio_eventsourcing.result import Error, Ok

REQUEST = RequestTransfer("account-1", "account-2", Decimal(5))
REQUESTED = Transfer(TransferStatus.REQUESTED, "account-1", "account-2", Decimal(5))


NEW = Transfer()


def fold(events: list[TransferEvent], start: Transfer = NEW) -> Transfer:
    return reduce(apply, events, start)


# --- handle ------------------------------------------------------------------------------


def test_requesting_a_new_transfer_emits_transfer_requested() -> None:
    assert handle(Transfer(), REQUEST) == Ok(
        [TransferRequested("account-1", "account-2", Decimal(5))]
    )


@pytest.mark.parametrize("status", list(TransferStatus))
def test_requesting_a_transfer_that_exists_is_transfer_already_requested(
    status: TransferStatus,
) -> None:
    existing = Transfer(status, "account-1", "account-2", Decimal(5))
    assert handle(existing, REQUEST) == Error(TransferAlreadyRequested())


def test_a_transfer_to_the_same_account_is_refused() -> None:
    command = RequestTransfer("account-1", "account-1", Decimal(5))
    assert handle(Transfer(), command) == Error(CantTransferToSameAccount())


@pytest.mark.parametrize("amount", [Decimal(0), Decimal(-1)])
def test_a_transfer_of_nothing_or_less_is_refused(amount: Decimal) -> None:
    command = RequestTransfer("account-1", "account-2", amount)
    assert handle(Transfer(), command) == Error(CantTransferNonPositiveAmount())


@pytest.mark.parametrize(
    ("command", "event"),
    [(CompleteTransfer(), TransferCompleted()), (FailTransfer("no"), TransferFailed("no"))],
)
def test_a_requested_transfer_takes_one_outcome(
    command: TransferCommand, event: TransferEvent
) -> None:
    assert handle(REQUESTED, command) == Ok([event])


@pytest.mark.parametrize("command", [CompleteTransfer(), FailTransfer("no")])
@pytest.mark.parametrize(
    "transfer",
    [Transfer(), fold([TransferCompleted()], REQUESTED), fold([TransferFailed("no")], REQUESTED)],
    ids=["never requested", "completed", "failed"],
)
def test_an_outcome_for_a_transfer_not_pending_is_transfer_not_pending(
    transfer: Transfer, command: TransferCommand
) -> None:
    assert handle(transfer, command) == Error(TransferNotPending())


# --- apply -------------------------------------------------------------------------------


def test_a_request_records_the_accounts_and_the_amount() -> None:
    assert fold([TransferRequested("account-1", "account-2", Decimal(5))]) == REQUESTED


@pytest.mark.parametrize(
    ("event", "status"),
    [
        (TransferCompleted(), TransferStatus.COMPLETED),
        (TransferFailed("no"), TransferStatus.FAILED),
    ],
)
def test_an_outcome_keeps_the_request_and_sets_the_status(
    event: TransferEvent, status: TransferStatus
) -> None:
    assert apply(REQUESTED, event) == Transfer(status, "account-1", "account-2", Decimal(5))


# --- codec -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "event",
    [
        TransferRequested("account-1", "account-2", Decimal("5.50")),
        TransferCompleted(),
        TransferFailed("insufficient funds"),
    ],
)
def test_the_codec_round_trips_each_event(event: TransferEvent) -> None:
    codec = transfer_codec()
    stored = codec.encode_event(event)
    assert codec.decode_event(stored.type_name, stored.version, stored.data) == event


def test_the_codec_round_trips_the_entity() -> None:
    codec = transfer_codec()
    stored = codec.encode_entity(REQUESTED)
    assert codec.decode_entity(stored.type_name, stored.version, stored.data) == REQUESTED


# --- the demo's plan ---------------------------------------------------------------------


def test_a_client_with_one_account_draws_no_transfer() -> None:
    operations = list(random_operations(["account-0"], 200, random.Random(1)))
    assert not any(isinstance(operation, RequestTransfer) for operation in operations)


def test_a_client_transfers_between_two_of_its_own_accounts() -> None:
    mine = ["account-0", "account-3", "account-6"]
    operations = list(random_operations(mine, 1_000, random.Random(1)))
    transfers = [operation for operation in operations if isinstance(operation, RequestTransfer)]
    assert transfers
    assert len(transfers) == pytest.approx(TRANSFER_SHARE * 1_000, rel=0.25)
    for transfer in transfers:
        assert transfer.from_account in mine
        assert transfer.to_account in mine
        assert transfer.from_account != transfer.to_account
        assert Decimal(1) <= transfer.amount <= Decimal(100)


def test_the_same_seed_draws_the_same_operations() -> None:
    mine = ["account-0", "account-1"]
    first = list(random_operations(mine, 100, random.Random("7/0")))
    assert list(random_operations(mine, 100, random.Random("7/0"))) == first
