"""Serialization of events and entity snapshots for the durable stores.

A durable store (SQLite, PostgreSQL) is given a `Codec`, which turns each event into a type
name, a version and a text, and back. `JsonCodec` does so for frozen dataclasses, storing
their fields as a JSON object; `Upcaster` functions lift data stored by an older version
of the application to the current shape of its class.

Example::

    from dataclasses import dataclass
    from decimal import Decimal

    from trio_eventsourcing.codec import JsonCodec, Registration, Upcaster


    @dataclass(frozen=True)
    class Deposited:
        amount: Decimal
        currency: str


    @dataclass(frozen=True)
    class Withdrawn:
        amount: Decimal


    @dataclass(frozen=True)
    class Account:
        balance: Decimal


    AccountEvent = Deposited | Withdrawn

    codec = JsonCodec[AccountEvent, Account](
        events=[Registration(Deposited, version=2), Withdrawn],
        entities=[Account],
        aggregate_type="bank_account",
        # Version 1 of Deposited had no currency.
        upcasters=[Upcaster("Deposited", 1, lambda data: {**data, "currency": "EUR"})],
    )

    stored = codec.encode_event(Deposited(Decimal("10.50"), "EUR"))
    assert (stored.type_name, stored.version) == ("Deposited", 2)
    assert stored.data == '{"amount":"10.50","currency":"EUR"}'
    assert codec.decode_event("Deposited", 1, '{"amount":"3"}') == Deposited(Decimal(3), "EUR")
"""

from ._codec.json_codec import Codec as Codec
from ._codec.json_codec import CodecError as CodecError
from ._codec.json_codec import EncodedValue as EncodedValue
from ._codec.json_codec import JsonCodec as JsonCodec
from ._codec.json_codec import Registration as Registration
from ._codec.json_codec import Upcaster as Upcaster
from ._codec.json_codec import UpcastFunction as UpcastFunction
from ._runtime.public import publish as _publish

__all__ = [
    "Codec",
    "CodecError",
    "EncodedValue",
    "JsonCodec",
    "Registration",
    "UpcastFunction",
    "Upcaster",
]

_publish(__name__, globals(), __all__)
