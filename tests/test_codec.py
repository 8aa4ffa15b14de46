"""JsonCodec: the stored format of each field kind, versions and upcasting, and every error.

The module uses postponed annotations on purpose: the codec must resolve them (and the
forward reference in `Forward`) when it is built.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
import textwrap
import types
import typing
import zoneinfo
from collections.abc import Sequence
from dataclasses import InitVar, dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from enum import Enum, Flag, IntEnum
from typing import Annotated, ClassVar, Generic, Literal, NewType, Optional, TypeVar, Union
from uuid import UUID

import pytest
from typing_extensions import TypeAliasType

from trio_eventsourcing import codec as codec_module
from trio_eventsourcing.codec import (
    CodecError,
    EncodedValue,
    JsonCodec,
    Registration,
    Upcaster,
)

T = TypeVar("T")
# The module's name, as pytest imported it, in messages that name classes; E for patterns.
M = __name__
E = re.escape(M)

# --- classes under test -------------------------------------------------------------------


class Color(Enum):
    RED = "red"
    BLUE = "blue"


class Size(IntEnum):
    SMALL = 1
    LARGE = 2


class Perm(Flag):
    READ = 1
    WRITE = 2


@dataclass(frozen=True)
class Scalars:
    s: str
    i: int
    f: float
    b: bool
    n: None


@dataclass(frozen=True)
class Floats:
    f: float


@dataclass(frozen=True)
class When:
    at: datetime


@dataclass(frozen=True)
class Day:
    on: date


@dataclass(frozen=True)
class Money:
    amount: Decimal


@dataclass(frozen=True)
class Ids:
    id: UUID


@dataclass(frozen=True)
class Blob:
    content: bytes


@dataclass(frozen=True)
class Enums:
    color: Color
    size: Size


@dataclass(frozen=True)
class Perms:
    perm: Perm


@dataclass(frozen=True)
class Choice:
    mode: Literal["fast", "slow", 0, True, None]


@dataclass(frozen=True)
class Sequences:
    many: tuple[int, ...]
    pair: tuple[int, str]
    empty: tuple[()]
    items: list[str]


@dataclass(frozen=True)
class Mapping:
    counts: dict[str, int]


@dataclass(frozen=True)
class Maybe:
    value: Optional[int]  # noqa: UP045 (the typing spelling must work too)
    money: Money | None


@dataclass(frozen=True)
class Card:
    number: str


@dataclass(frozen=True)
class Cash:
    amount: Decimal


@dataclass(frozen=True)
class Payment:
    method: Card | Cash


@dataclass(frozen=True)
class OptionalPayment:
    method: Card | Cash | None


@dataclass(frozen=True)
class Mixed:
    value: int | str | float


@dataclass(frozen=True)
class Labelled:
    label: Literal["a", "b"] | Literal["c"] | int


@dataclass(frozen=True)
class Line:
    sku: str
    price: Decimal


@dataclass(frozen=True)
class Order:
    lines: tuple[Line, ...]
    by_sku: dict[str, Line]


@dataclass(frozen=True)
class Tree:
    label: str
    children: tuple[Tree, ...] = ()


@dataclass(frozen=True)
class Forward:
    later: Later


@dataclass(frozen=True)
class Later:
    x: int


UserId = NewType("UserId", str)
Amounts = TypeAliasType("Amounts", list[Decimal])


@dataclass(frozen=True)
class Aliases:
    user: UserId
    amounts: Amounts
    note: Annotated[str, "free text"]


@dataclass(frozen=True)
class Derived:
    a: int
    b: int
    total: int = field(init=False)
    kind: ClassVar[str] = "derived"

    def __post_init__(self) -> None:
        object.__setattr__(self, "total", self.a + self.b)


@dataclass(frozen=True)
class WithDefaults:
    name: str
    tags: tuple[str, ...] = ()
    extra: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Positive:
    n: int

    def __post_init__(self) -> None:
        if self.n <= 0:
            raise ValueError("n must be positive")


@dataclass(frozen=True)
class Deposited:
    account: str
    amount: Decimal


@dataclass(frozen=True)
class Account:
    balance: Decimal


# Version 3 of an event whose shape changed twice: v1 {"cents": int}, v2 {"amount": str},
# v3 added "currency".
@dataclass(frozen=True)
class Charged:
    amount: Decimal
    currency: str


def _cents_to_amount(data: dict[str, object]) -> dict[str, object]:
    cents = data.pop("cents")
    assert isinstance(cents, int)
    return {**data, "amount": str(Decimal(cents) / 100)}


def _add_currency(data: dict[str, object]) -> dict[str, object]:
    return {**data, "currency": "EUR"}


CHARGED_UPCASTERS = [
    Upcaster("Charged", 1, _cents_to_amount),
    Upcaster("Charged", 2, _add_currency),
]


def codec_for(
    *events: type[object] | Registration[object],
    entities: Sequence[type[object] | Registration[object]] = (),
    upcasters: Sequence[Upcaster] = (),
    entity_upcasters: Sequence[Upcaster] = (),
) -> JsonCodec[object, object]:
    return JsonCodec[object, object](
        events=events,
        entities=entities,
        aggregate_type="test",
        upcasters=upcasters,
        entity_upcasters=entity_upcasters,
    )


def round_trip(event: T) -> str:
    """Encode `event` with a codec that knows its class, check it decodes equal; the JSON."""
    codec = codec_for(type(event))
    stored = codec.encode_event(event)
    decoded = codec.decode_event(stored.type_name, stored.version, stored.data)
    assert decoded == event
    assert type(decoded) is type(event)
    return stored.data


def decode_error(cls: type[object], data: str) -> str:
    with pytest.raises(CodecError) as info:
        codec_for(cls).decode_event(cls.__name__, 1, data)
    return str(info.value)


def encode_error(event: object) -> str:
    with pytest.raises(CodecError) as info:
        codec_for(type(event)).encode_event(event)
    return str(info.value)


# --- the stored form of each field kind ---------------------------------------------------


def test_json_scalars_are_stored_as_themselves() -> None:
    data = round_trip(Scalars("é", -3, 1.5, True, None))
    assert data == '{"s":"é","i":-3,"f":1.5,"b":true,"n":null}'


def test_float_field_takes_an_int_and_decodes_it_as_a_float() -> None:
    codec = codec_for(Floats)
    stored = codec.encode_event(Floats(2))
    assert stored.data == '{"f":2.0}'
    decoded = codec.decode_event("Floats", 1, '{"f":2}')
    assert decoded == Floats(2.0)
    assert isinstance(decoded, Floats)
    assert type(decoded.f) is float


def test_aware_datetime_keeps_its_utc_offset() -> None:
    at = datetime(2024, 3, 1, 12, 30, 5, 123456, tzinfo=timezone(timedelta(hours=-5, minutes=-30)))
    assert round_trip(When(at)) == '{"at":"2024-03-01T12:30:05.123456-05:30"}'


def test_naive_datetime_stays_naive() -> None:
    codec = codec_for(When)
    stored = codec.encode_event(When(datetime(2024, 3, 1, 12, 30)))
    decoded = codec.decode_event("When", 1, stored.data)
    assert isinstance(decoded, When)
    assert decoded.at.tzinfo is None
    assert stored.data == '{"at":"2024-03-01T12:30:00"}'


def test_zoneinfo_datetime_comes_back_with_its_offset_as_a_fixed_timezone() -> None:
    at = datetime(2024, 7, 1, 9, 0, tzinfo=zoneinfo.ZoneInfo("Europe/Paris"))
    codec = codec_for(When)
    decoded = codec.decode_event("When", 1, codec.encode_event(When(at)).data)
    assert isinstance(decoded, When)
    assert decoded.at == at
    assert decoded.at.tzinfo == timezone(timedelta(hours=2))


def test_date_is_stored_as_iso_8601() -> None:
    assert round_trip(Day(date(1999, 12, 31))) == '{"on":"1999-12-31"}'


def test_decimal_is_stored_as_an_exact_string() -> None:
    assert round_trip(Money(Decimal("1.50"))) == '{"amount":"1.50"}'
    assert round_trip(Money(Decimal("-0.000000000000000000000000001"))) == ('{"amount":"-1E-27"}')
    codec = codec_for(Money)
    decoded = codec.decode_event("Money", 1, '{"amount":"1.50"}')
    assert isinstance(decoded, Money)
    assert decoded.amount.as_tuple() == Decimal("1.50").as_tuple()


def test_uuid_is_stored_as_its_hyphenated_string() -> None:
    value = UUID("12345678-1234-5678-1234-567812345678")
    assert round_trip(Ids(value)) == '{"id":"12345678-1234-5678-1234-567812345678"}'


def test_bytes_are_stored_as_base64() -> None:
    assert round_trip(Blob(b"\x00\xffhi")) == '{"content":"AP9oaQ=="}'


def test_enum_is_stored_by_value() -> None:
    assert round_trip(Enums(Color.BLUE, Size.LARGE)) == '{"color":"blue","size":2}'


def test_flag_combination_round_trips() -> None:
    assert round_trip(Perms(Perm.READ | Perm.WRITE)) == '{"perm":3}'


def test_literal_is_stored_as_its_value() -> None:
    assert round_trip(Choice("slow")) == '{"mode":"slow"}'
    assert round_trip(Choice(0)) == '{"mode":0}'
    assert round_trip(Choice(True)) == '{"mode":true}'
    assert round_trip(Choice(None)) == '{"mode":null}'


def test_tuples_and_lists_are_stored_as_arrays() -> None:
    data = round_trip(Sequences((1, 2, 3), (4, "x"), (), ["a", "b"]))
    assert data == '{"many":[1,2,3],"pair":[4,"x"],"empty":[],"items":["a","b"]}'


def test_dict_is_stored_as_an_object_in_its_own_key_order() -> None:
    data = round_trip(Mapping({"z": 1, "a": 2}))
    assert data == '{"counts":{"z":1,"a":2}}'


def test_optional_is_stored_as_the_value_or_null() -> None:
    assert round_trip(Maybe(3, Money(Decimal(1)))) == '{"value":3,"money":{"amount":"1"}}'
    assert round_trip(Maybe(None, None)) == '{"value":null,"money":null}'


def test_union_of_dataclasses_is_tagged_with_the_class_name() -> None:
    assert round_trip(Payment(Card("4242"))) == '{"method":{"Card":{"number":"4242"}}}'
    assert round_trip(Payment(Cash(Decimal(5)))) == '{"method":{"Cash":{"amount":"5"}}}'


def test_tagged_union_stores_none_as_null() -> None:
    assert round_trip(OptionalPayment(None)) == '{"method":null}'
    assert round_trip(OptionalPayment(Card("1"))) == '{"method":{"Card":{"number":"1"}}}'


def test_union_of_scalars_is_tagged_with_the_type_name() -> None:
    assert round_trip(Mixed(5)) == '{"value":{"int":5}}'
    assert round_trip(Mixed("5")) == '{"value":{"str":"5"}}'
    assert round_trip(Mixed(5.0)) == '{"value":{"float":5.0}}'


def test_literals_of_a_union_share_one_tag() -> None:
    assert round_trip(Labelled("c")) == '{"label":{"Literal":"c"}}'
    assert round_trip(Labelled(3)) == '{"label":{"int":3}}'


def test_nested_dataclasses_need_no_registration() -> None:
    order = Order((Line("a", Decimal("1.5")),), {"a": Line("a", Decimal("1.5"))})
    data = round_trip(order)
    assert data == (
        '{"lines":[{"sku":"a","price":"1.5"}],"by_sku":{"a":{"sku":"a","price":"1.5"}}}'
    )


def test_recursive_dataclass_round_trips() -> None:
    tree = Tree("root", (Tree("a", (Tree("a1"),)), Tree("b")))
    data = round_trip(tree)
    assert data.startswith('{"label":"root","children":[{"label":"a","children":[')


def test_forward_references_resolve() -> None:
    assert round_trip(Forward(Later(1))) == '{"later":{"x":1}}'


@dataclass(frozen=True)
class Dated:
    date: date = date(2000, 1, 1)


def test_field_named_like_its_type_resolves_to_the_type() -> None:
    assert round_trip(Dated(date(2024, 5, 6))) == '{"date":"2024-05-06"}'


def test_newtype_type_alias_and_annotated_stand_for_their_type() -> None:
    data = round_trip(Aliases(UserId("u1"), [Decimal("2.5")], "hi"))
    assert data == '{"user":"u1","amounts":["2.5"],"note":"hi"}'


def test_init_false_field_is_not_stored_but_recomputed() -> None:
    data = round_trip(Derived(1, 2))
    assert data == '{"a":1,"b":2}'


def test_missing_field_with_a_default_takes_the_default() -> None:
    decoded = codec_for(WithDefaults).decode_event("WithDefaults", 1, '{"name":"x"}')
    assert decoded == WithDefaults("x", (), [])


def test_fields_are_stored_in_declaration_order() -> None:
    stored = codec_for(Line).encode_event(Line(price=Decimal(1), sku="s"))
    assert list(json.loads(stored.data)) == ["sku", "price"]


def test_equal_values_are_stored_as_equal_text() -> None:
    codec = codec_for(Order)
    first = Order((Line("a", Decimal(1)),), {"a": Line("a", Decimal(1))})
    second = Order((Line("a", Decimal(1)),), {"a": Line("a", Decimal(1))})
    assert codec.encode_event(first).data == codec.encode_event(second).data


# --- type names, versions and namespaces --------------------------------------------------


def test_type_name_defaults_to_the_class_name_and_version_to_1() -> None:
    stored = codec_for(Deposited).encode_event(Deposited("a", Decimal(1)))
    assert stored == EncodedValue("Deposited", 1, '{"account":"a","amount":"1"}')


def test_registration_sets_the_type_name_and_version() -> None:
    codec = codec_for(Registration(Deposited, type_name="money_in", version=4))
    stored = codec.encode_event(Deposited("a", Decimal(1)))
    assert (stored.type_name, stored.version) == ("money_in", 4)
    assert codec.decode_event("money_in", 4, stored.data) == Deposited("a", Decimal(1))


def test_events_and_entities_are_separate_namespaces() -> None:
    codec = codec_for(
        Registration(Deposited, type_name="Thing"),
        entities=[Registration(Account, type_name="Thing")],
    )
    assert codec.decode_event("Thing", 1, '{"account":"a","amount":"1"}') == (
        Deposited("a", Decimal(1))
    )
    assert codec.decode_entity("Thing", 1, '{"balance":"1"}') == Account(Decimal(1))
    with pytest.raises(CodecError, match="not registered"):
        codec.encode_entity(Deposited("a", Decimal(1)))


def test_one_class_may_be_both_an_event_and_an_entity() -> None:
    codec = codec_for(Account, entities=[Account])
    assert codec.encode_event(Account(Decimal(1))) == codec.encode_entity(Account(Decimal(1)))


def test_entity_round_trips() -> None:
    codec = JsonCodec[Deposited, Account](
        events=[Deposited], entities=[Account], aggregate_type="bank_account"
    )
    stored = codec.encode_entity(Account(Decimal("9.99")))
    assert stored == EncodedValue("Account", 1, '{"balance":"9.99"}')
    assert codec.decode_entity("Account", 1, stored.data) == Account(Decimal("9.99"))


def test_aggregate_type_is_reported() -> None:
    codec = JsonCodec[Deposited, Account](
        events=[Deposited], entities=[Account], aggregate_type="bank_account"
    )
    assert codec.aggregate_type == "bank_account"


def test_repr_lists_type_names_and_versions() -> None:
    codec = codec_for(Registration(Deposited, version=2), entities=[Account])
    assert repr(codec) == (
        "JsonCodec(aggregate_type='test', events=['Deposited' v2], entities=['Account' v1])"
    )


# --- upcasting ----------------------------------------------------------------------------


def test_upcasters_chain_from_the_oldest_version() -> None:
    codec = codec_for(Registration(Charged, version=3), upcasters=CHARGED_UPCASTERS)
    assert codec.decode_event("Charged", 1, '{"cents":1050}') == Charged(Decimal("10.5"), "EUR")


def test_upcasting_starts_at_the_stored_version() -> None:
    codec = codec_for(Registration(Charged, version=3), upcasters=CHARGED_UPCASTERS)
    assert codec.decode_event("Charged", 2, '{"amount":"3"}') == Charged(Decimal(3), "EUR")


def test_current_version_is_decoded_without_upcasting() -> None:
    codec = codec_for(Registration(Charged, version=3), upcasters=CHARGED_UPCASTERS)
    data = '{"amount":"3","currency":"USD"}'
    assert codec.decode_event("Charged", 3, data) == Charged(Decimal(3), "USD")


def test_entity_upcasters_lift_entities_only() -> None:
    codec = codec_for(
        Registration(Charged, version=3),
        entities=[Registration(Charged, version=3)],
        entity_upcasters=CHARGED_UPCASTERS,
    )
    assert codec.decode_entity("Charged", 1, '{"cents":5}') == Charged(Decimal("0.05"), "EUR")
    with pytest.raises(CodecError, match="no upcaster from version 1 to 2"):
        codec.decode_event("Charged", 1, '{"cents":5}')


def test_gap_in_the_upcaster_chain_names_the_missing_step() -> None:
    codec = codec_for(
        Registration(Charged, version=3), upcasters=[Upcaster("Charged", 1, _cents_to_amount)]
    )
    with pytest.raises(CodecError) as info:
        codec.decode_event("Charged", 1, '{"cents":5}')
    assert str(info.value) == (
        "cannot decode event 'Charged' version 1: no upcaster from version 2 to 3 "
        "(the current version is 3)"
    )


def test_newer_version_is_refused_as_written_by_a_newer_application() -> None:
    codec = codec_for(Registration(Charged, version=3), upcasters=CHARGED_UPCASTERS)
    with pytest.raises(CodecError) as info:
        codec.decode_event("Charged", 4, "{}")
    assert str(info.value) == (
        "cannot decode event 'Charged' version 4: written by a newer version of the "
        "application (this one knows versions up to 3)"
    )


def test_older_entity_without_upcaster_is_refused() -> None:
    codec = codec_for(Deposited, entities=[Registration(Account, version=2)])
    with pytest.raises(CodecError) as info:
        codec.decode_entity("Account", 1, '{"balance":"1"}')
    assert str(info.value) == (
        "cannot decode entity 'Account' version 1: no upcaster from version 1 to 2 "
        "(the current version is 2)"
    )


def test_upcaster_exception_becomes_a_codec_error() -> None:
    codec = codec_for(Registration(Charged, version=3), upcasters=CHARGED_UPCASTERS)
    with pytest.raises(CodecError) as info:
        codec.decode_event("Charged", 1, '{"amount":"1"}')
    assert str(info.value) == (
        "cannot decode event 'Charged' version 1: upcaster from version 1 raised KeyError: 'cents'"
    )
    assert isinstance(info.value.__cause__, KeyError)


def test_upcaster_returning_no_dict_is_refused() -> None:
    def broken(data: dict[str, object]) -> dict[str, object]:
        return [data]  # type: ignore[return-value]

    codec = codec_for(
        Registration(Deposited, version=2), upcasters=[Upcaster("Deposited", 1, broken)]
    )
    with pytest.raises(
        CodecError, match=r"upcaster from version 1 returned list \[\{\}\], not a dict"
    ):
        codec.decode_event("Deposited", 1, "{}")


def test_upcasting_data_that_is_no_object_is_refused() -> None:
    codec = codec_for(Registration(Charged, version=3), upcasters=CHARGED_UPCASTERS)
    with pytest.raises(CodecError, match="upcaster from version 1 needs a JSON object, got list"):
        codec.decode_event("Charged", 1, "[]")


# --- errors when the codec is built -------------------------------------------------------


class Plain:
    x: int


@dataclass
class Mutable:
    x: int


@dataclass(frozen=True)
class HoldsMutable:
    inner: Mutable


def test_class_that_is_no_dataclass_is_refused() -> None:
    with pytest.raises(TypeError, match=rf"event class {E}.Plain is not a frozen"):
        codec_for(Plain)


def test_dataclass_that_is_not_frozen_is_refused() -> None:
    with pytest.raises(TypeError, match=rf"entity class {E}.Mutable is not a frozen"):
        codec_for(Deposited, entities=[Mutable])


def test_nested_dataclass_that_is_not_frozen_is_refused() -> None:
    with pytest.raises(TypeError) as info:
        codec_for(HoldsMutable)
    assert str(info.value) == (
        f"field 'inner' of {M}.HoldsMutable has type {M}.Mutable, "
        f"which JsonCodec cannot store: {M}.Mutable is not a frozen dataclass"
    )


@dataclass(frozen=True)
class HasSet:
    tags: list[set[int]]


@dataclass(frozen=True)
class HasAny:
    x: typing.Any


@dataclass(frozen=True)
class HasObject:
    x: object


@dataclass(frozen=True)
class HasBareList:
    x: list  # type: ignore[type-arg]


@dataclass(frozen=True)
class HasIntKeys:
    x: dict[int, str]


@dataclass(frozen=True)
class HasSequence:
    x: Sequence[int]


@dataclass(frozen=True)
class HasPlainClass:
    x: Plain


@dataclass(frozen=True)
class HasFloatLiteral:
    x: Literal[1.5]  # type: ignore[valid-type]


class Point(Enum):
    ORIGIN = (0, 0)


@dataclass(frozen=True)
class HasTupleEnum:
    x: Point


@dataclass(frozen=True)
class HasTypeVar(Generic[T]):
    x: T


@dataclass(frozen=True)
class HasGeneric:
    x: HasTypeVar[int]


@pytest.mark.parametrize(
    ("cls", "message"),
    [
        (
            HasSet,
            f"field 'tags' of {M}.HasSet has type list[set[int]], which "
            "JsonCodec cannot store: set[int] is not a supported type (supported: ",
        ),
        (HasAny, "Any is not a supported type"),
        (HasObject, f"field 'x' of {M}.HasObject has type object"),
        (HasBareList, f"field 'x' of {M}.HasBareList has type list"),
        (HasIntKeys, "the keys of dict[int, str] are not str"),
        (HasSequence, "Sequence[int] is not a supported type"),
        (HasPlainClass, f"{M}.Plain is not a supported type"),
        (HasFloatLiteral, "Literal value 1.5 is not a str, int, bool or None"),
        (HasTupleEnum, "the value of <Point.ORIGIN: (0, 0)> is not a str or an int"),
        (HasTypeVar, f"field 'x' of {M}.HasTypeVar has type ~T"),
        (HasGeneric, "HasTypeVar[int] is a generic dataclass"),
    ],
)
def test_unsupported_field_type_is_refused_naming_class_field_and_type(
    cls: type[object], message: str
) -> None:
    with pytest.raises(TypeError) as info:
        codec_for(cls)
    assert message in str(info.value)


@dataclass(frozen=True)
class TwoLists:
    x: list[int] | list[str]


def test_union_members_sharing_a_tag_are_refused() -> None:
    with pytest.raises(TypeError, match="two members of a union would share the tag 'list'"):
        codec_for(TwoLists)


@dataclass(frozen=True)
class NeedsInitVar:
    x: int
    seed: InitVar[int]


@dataclass(frozen=True)
class DefaultInitVar:
    x: int
    seed: InitVar[int] = 0


def test_initvar_without_default_is_refused() -> None:
    with pytest.raises(
        TypeError, match=rf"{E}.NeedsInitVar\(\) requires 'seed', which is not a stored field"
    ):
        codec_for(NeedsInitVar)


def test_initvar_with_default_is_not_stored() -> None:
    assert round_trip(DefaultInitVar(1)) == '{"x":1}'


@dataclass(frozen=True)
class Unresolvable:
    x: NoSuchType  # type: ignore[name-defined]  # noqa: F821


def test_unresolvable_annotation_is_refused() -> None:
    with pytest.raises(
        TypeError, match=r"cannot resolve the field types of .*Unresolvable: NameError"
    ):
        codec_for(Unresolvable)


def test_two_classes_with_one_type_name_are_refused() -> None:
    with pytest.raises(ValueError, match="share the type name 'Deposited'"):
        codec_for(Deposited, Registration(Account, type_name="Deposited"))


def test_class_registered_twice_is_refused() -> None:
    with pytest.raises(ValueError, match=rf"event class {E}.Deposited is registered twice"):
        codec_for(Deposited, Registration(Deposited, type_name="Other"))


def test_upcaster_for_an_unknown_type_is_refused() -> None:
    with pytest.raises(
        ValueError, match="upcaster for unknown event type 'Nope'; event types: 'Deposited'"
    ):
        codec_for(Deposited, upcasters=[Upcaster("Nope", 1, _add_currency)])


def test_upcaster_naming_an_entity_among_events_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown event type 'Account'"):
        codec_for(Deposited, entities=[Account], upcasters=[Upcaster("Account", 1, _add_currency)])


def test_upcaster_from_the_current_version_is_refused() -> None:
    with pytest.raises(ValueError, match="from version 2, but its current version is 2"):
        codec_for(
            Registration(Deposited, version=2), upcasters=[Upcaster("Deposited", 2, _add_currency)]
        )


def test_two_upcasters_from_one_version_are_refused() -> None:
    upcasters = [Upcaster("Deposited", 1, _add_currency), Upcaster("Deposited", 1, _add_currency)]
    with pytest.raises(ValueError, match="two upcasters for event 'Deposited' from version 1"):
        codec_for(Registration(Deposited, version=2), upcasters=upcasters)


def test_registration_version_must_be_a_positive_int() -> None:
    with pytest.raises(ValueError, match="version must be at least 1, got 0"):
        Registration(Deposited, version=0)
    with pytest.raises(TypeError, match="version must be an int, got bool True"):
        Registration(Deposited, version=True)


def test_registration_type_name_must_not_be_empty() -> None:
    with pytest.raises(ValueError, match="type_name must not be empty"):
        Registration(Deposited, type_name="")


def test_upcaster_from_version_must_be_a_positive_int() -> None:
    with pytest.raises(ValueError, match="from_version must be at least 1, got 0"):
        Upcaster("Deposited", 0, _add_currency)


def test_aggregate_type_must_not_be_empty() -> None:
    with pytest.raises(ValueError, match="aggregate_type must not be empty"):
        JsonCodec[Deposited, Account](events=[Deposited], entities=[Account], aggregate_type="")


# --- errors when decoding -----------------------------------------------------------------


def test_unknown_type_name_is_refused_listing_the_known_ones() -> None:
    with pytest.raises(CodecError) as info:
        codec_for(Deposited, Money).decode_event("Withdrawn", 2, "{}")
    assert str(info.value) == (
        "cannot decode event 'Withdrawn' version 2: unknown event type; "
        "event types: 'Deposited', 'Money'"
    )


def test_invalid_json_is_refused() -> None:
    message = decode_error(Deposited, '{"account":')
    assert message.startswith("cannot decode event 'Deposited' version 1: invalid JSON: Expecting")


def test_nan_in_stored_json_is_refused() -> None:
    assert decode_error(Floats, '{"f":NaN}') == (
        "cannot decode event 'Floats' version 1: invalid JSON: NaN is not valid JSON"
    )


def test_float_out_of_range_is_refused() -> None:
    assert decode_error(Floats, '{"f":1e999}') == (
        "cannot decode event 'Floats' version 1: at f: inf is out of range for a float"
    )


def test_stored_data_that_is_no_object_is_refused() -> None:
    assert decode_error(Deposited, "[1]") == (
        "cannot decode event 'Deposited' version 1: expected a JSON object, got list [1]"
    )


def test_missing_and_unexpected_fields_are_named() -> None:
    assert decode_error(Deposited, '{"acount":"a"}') == (
        "cannot decode event 'Deposited' version 1: missing field 'account', 'amount'; "
        "unexpected field 'acount'"
    )


def test_wrong_field_type_is_named_with_its_path() -> None:
    data = '{"lines":[{"sku":"a","price":"1"},{"sku":"b","price":2}],"by_sku":{}}'
    assert decode_error(Order, data) == (
        "cannot decode event 'Order' version 1: at lines[1].price: "
        "expected a string holding a finite decimal number, got int 2"
    )


def test_path_names_dict_keys_and_union_tags() -> None:
    data = '{"lines":[],"by_sku":{"x y":{"sku":1,"price":"1"}}}'
    assert 'at by_sku["x y"].sku: expected a string, got int 1' in decode_error(Order, data)
    data = '{"method":{"Cash":{"amount":1}}}'
    assert "at method.Cash.amount: expected a string" in decode_error(Payment, data)


def test_unknown_union_tag_is_refused() -> None:
    assert decode_error(Payment, '{"method":{"Cheque":{}}}') == (
        "cannot decode event 'Payment' version 1: at method: expected an object with one key "
        "naming a union member ('Card', 'Cash'), got dict {'Cheque': {}}"
    )


@pytest.mark.parametrize(
    ("cls", "data", "reason"),
    [
        (
            Scalars,
            '{"s":"","i":true,"f":1,"b":true,"n":null}',
            "at i: expected an integer, got bool True",
        ),
        (Scalars, '{"s":"","i":1,"f":1,"b":1,"n":null}', "at b: expected true or false, got int 1"),
        (Scalars, '{"s":"","i":1,"f":1,"b":true,"n":0}', "at n: expected null, got int 0"),
        (
            When,
            '{"at":"yesterday"}',
            "at at: expected an ISO 8601 datetime string, got str 'yesterday'",
        ),
        (
            Day,
            '{"on":"2024-02-30"}',
            "at on: expected an ISO 8601 date string, got str '2024-02-30'",
        ),
        (Money, '{"amount":"NaN"}', "at amount: expected a string holding a finite decimal number"),
        (Money, '{"amount":"ten"}', "at amount: expected a string holding a finite decimal number"),
        (Ids, '{"id":"not-a-uuid"}', "at id: expected a UUID string, got str 'not-a-uuid'"),
        (Blob, '{"content":"a!"}', "at content: expected a base64 string, got str 'a!'"),
        (Enums, '{"color":"green","size":1}', f"at color: expected a value of {M}.Color"),
        (Enums, '{"color":"red","size":"1"}', f"at size: expected a value of {M}.Size"),
        (Choice, '{"mode":1}', "at mode: expected one of 'fast', 'slow', 0, True, None, got int 1"),
        (
            Sequences,
            '{"many":[],"pair":[1],"empty":[],"items":[]}',
            "at pair: expected an array of 2 items",
        ),
        (
            Sequences,
            '{"many":{},"pair":[1,""],"empty":[],"items":[]}',
            "at many: expected an array, got dict {}",
        ),
        (Mapping, '{"counts":[]}', "at counts: expected a JSON object, got list []"),
    ],
)
def test_malformed_value_is_refused_with_its_field(
    cls: type[object], data: str, reason: str
) -> None:
    message = decode_error(cls, data)
    assert message.startswith(f"cannot decode event {cls.__name__!r} version 1: {reason}")


def test_refusal_by_post_init_becomes_a_codec_error() -> None:
    with pytest.raises(CodecError) as info:
        codec_for(Positive).decode_event("Positive", 1, '{"n":0}')
    assert str(info.value) == (
        "cannot decode event 'Positive' version 1: Positive(...) refused the stored values: "
        "ValueError: n must be positive"
    )
    assert isinstance(info.value.__cause__, ValueError)


def test_version_below_1_is_refused() -> None:
    with pytest.raises(CodecError, match="version 0: versions are integers from 1"):
        codec_for(Deposited).decode_event("Deposited", 0, "{}")


# --- errors when encoding -----------------------------------------------------------------


def test_unregistered_class_is_refused_listing_the_registered_types() -> None:
    with pytest.raises(CodecError) as info:
        codec_for(Deposited, Money).encode_event(Account(Decimal(1)))
    assert str(info.value) == (
        f"cannot encode event of class {M}.Account: it is not registered with "
        "this codec; registered event types: 'Deposited', 'Money'"
    )


def test_subclass_of_a_registered_class_is_refused() -> None:
    @dataclass(frozen=True)
    class Special(Deposited):
        pass

    with pytest.raises(CodecError, match=f"class {E}.*Special: it is not registered"):
        codec_for(Deposited).encode_event(Special("a", Decimal(1)))


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_float_is_refused(value: float) -> None:
    assert encode_error(Floats(value)) == (
        f"cannot encode event 'Floats' version 1: at f: {value!r} cannot be stored: "
        "JSON has no NaN or infinity"
    )


@pytest.mark.parametrize("value", ["NaN", "sNaN", "Infinity"])
def test_non_finite_decimal_is_refused(value: str) -> None:
    assert "at amount: Decimal Decimal(" in encode_error(Money(Decimal(value)))


def test_value_of_the_wrong_type_is_refused_with_its_path() -> None:
    order = Order((Line("a", Decimal(1)), Line("b", 2.5)), {})  # type: ignore[arg-type]
    assert encode_error(order) == (
        "cannot encode event 'Order' version 1: at lines[1].price: expected Decimal, got float 2.5"
    )


def test_bool_is_refused_for_an_int_field() -> None:
    assert "at i: expected int, got bool True" in encode_error(Scalars("", True, 1.0, True, None))


def test_datetime_is_refused_for_a_date_field() -> None:
    assert "at on: expected date, got datetime" in encode_error(Day(datetime(2024, 1, 1)))


def test_non_str_dict_key_is_refused() -> None:
    message = encode_error(Mapping({1: 2}))  # type: ignore[dict-item]
    assert message == "cannot encode event 'Mapping' version 1: at counts: key int 1 is not a str"


def test_value_fitting_no_union_member_is_refused() -> None:
    message = encode_error(Payment("card"))  # type: ignore[arg-type]
    assert message == (
        "cannot encode event 'Payment' version 1: at method: expected a value of one of the "
        "union members 'Card', 'Cash', got str 'card'"
    )


def test_lone_surrogate_is_refused() -> None:
    message = encode_error(Deposited("\ud800", Decimal(1)))
    assert message == (
        "cannot encode event 'Deposited' version 1: a string holds the lone surrogate "
        "'\\ud800', which UTF-8 cannot store"
    )


def test_str_subclass_is_stored_as_plain_text() -> None:
    class Shout(str, Enum):
        HI = "hi"

    stored = codec_for(Deposited).encode_event(Deposited(Shout.HI, Decimal(1)))
    assert stored.data == '{"account":"hi","amount":"1"}'


# --- the public module --------------------------------------------------------------------


def test_public_names_report_the_codec_module() -> None:
    for name in codec_module.__all__:
        value = getattr(codec_module, name)
        # Before 3.11 a generic alias such as UpcastFunction passes for a type.
        if isinstance(value, type) and typing.get_origin(value) is None:
            assert value.__module__ == "trio_eventsourcing.codec", name


def test_module_example_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    doc = codec_module.__doc__
    assert doc is not None
    match = re.search(r"Example::\n\n(.*)", doc, re.DOTALL)
    assert match is not None
    # dataclasses looks the defining module up in sys.modules.
    module = types.ModuleType("codec_example")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    exec(compile(textwrap.dedent(match[1]), "codec example", "exec"), module.__dict__)


def test_encoded_value_is_frozen() -> None:
    value = EncodedValue("A", 1, "{}")
    with pytest.raises(dataclasses.FrozenInstanceError):
        value.version = 2  # type: ignore[misc]


def test_union_spelled_with_typing_union_is_tagged_too() -> None:
    @dataclass(frozen=True)
    class Old:
        x: Union[int, str]  # noqa: UP007 (the typing spelling must work too)

    # A class local to a function cannot resolve postponed annotations naming other locals,
    # but builtins are found.
    assert round_trip(Old(1)) == '{"x":{"int":1}}'


@dataclass(frozen=True)
class Stamped:
    at: datetime


def test_a_datetime_offset_with_a_fraction_of_a_second_round_trips() -> None:
    # datetime.fromisoformat drops the fraction of an offset that isoformat writes.
    stamped_codec: JsonCodec[Stamped, Stamped] = JsonCodec(
        events=[Stamped], entities=[], aggregate_type="stamped"
    )
    for hours, micros in ((5, 1), (5, -1), (-5, 999_999), (0, 1)):
        offset = timezone(timedelta(hours=hours, microseconds=micros))
        value = Stamped(datetime(2000, 1, 1, tzinfo=offset))
        stored = stamped_codec.encode_event(value)
        decoded = stamped_codec.decode_event(stored.type_name, stored.version, stored.data)
        assert decoded == value
        assert decoded.at.utcoffset() == value.at.utcoffset()
