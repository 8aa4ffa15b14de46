"""JsonCodec's fast decoding (msgspec) gives what its strict decoding gives, or nothing.

The fast path may only ever decode a text to the very value the strict path decodes it
to; where the strict path refuses a text, so must the codec, with the strict path's
message. Each test decodes the same text through a codec and through a copy of it whose
fast path is switched off, and compares the outcomes.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.stored_format.identity import identical
from tests.stored_format.samples import SAMPLES, Sample, codec
from trio_eventsourcing.codec import CodecError, JsonCodec

FAST = codec()


def strict_only() -> JsonCodec[object, object]:
    """A codec of the samples that decodes only through the strict path."""
    strict = codec()
    for namespace in (strict._events, strict._entities):
        by_name = namespace._by_name
        for name, entry in by_name.items():
            by_name[name] = entry._replace(parser=None)
    return strict  # type: ignore[return-value]


STRICT = strict_only()


def outcome(decode: Callable[[str, int, str], object], type_name: str, data: str) -> object:
    try:
        return decode(type_name, 1, data)
    except CodecError as exc:
        return exc


def assert_same_outcome(type_name: str, data: str) -> None:
    fast = outcome(FAST.decode_event, type_name, data)
    strict = outcome(STRICT.decode_event, type_name, data)
    if isinstance(strict, CodecError):
        assert isinstance(fast, CodecError), f"{data} decoded to {fast!r}, strictly refused"
        assert str(fast) == str(strict)
    else:
        assert not isinstance(fast, CodecError), f"{data} refused: {fast}"
        identical(fast, strict)


def stored(sample: Sample) -> tuple[str, str]:
    encoded = FAST.encode_event(sample)
    return encoded.type_name, encoded.data


def test_every_sample_has_a_fast_path() -> None:
    for namespace in (FAST._events, FAST._entities):
        for name, entry in namespace._by_name.items():
            assert entry.parser is not None, name


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda sample: type(sample).__name__)
def test_a_stored_sample_decodes_alike_both_ways(sample: Sample) -> None:
    assert_same_outcome(*stored(sample))


# Texts msgspec's own parsers of the same types would read otherwise than the strict path.
LENIENT = [
    ("Money", '{"amount":1.5,"currency":"EUR"}'),
    ("Money", '{"amount":"NaN","currency":"EUR"}'),
    ("Money", '{"amount":"Infinity"}'),
    ("Money", '{"amount":"1.5","currency":"GBP"}'),
    ("Money", '{"amount":"1.5","unexpected":1}'),
    (
        "Identified",
        '{"id":"12345678123456781234567812345678","raw":"","color":"red",'
        '"level":1,"sku":"a","mode":"on"}',
    ),
    (
        "Identified",
        '{"id":"12345678-1234-5678-1234-567812345678","raw":"AA","color":"red",'
        '"level":1,"sku":"a","mode":"on"}',
    ),
    (
        "Identified",
        '{"id":"12345678-1234-5678-1234-567812345678","raw":"","color":"RED",'
        '"level":1,"sku":"a","mode":"on"}',
    ),
    (
        "Identified",
        '{"id":"12345678-1234-5678-1234-567812345678","raw":"","color":"red",'
        '"level":true,"sku":"a","mode":1}',
    ),
    ("Moments", '{"naive":"2026-01-01","aware":"2026-01-01T00:00:00Z","day":"2026-01-01"}'),
    ("Moments", '{"naive":"2026-01-01T00:00","aware":"x","day":"2026-01-01"}'),
    ("Scalars", '{"text":"a","count":1.0,"ratio":1,"flag":false,"nothing":null}'),
    ("Scalars", '{"text":"a","count":true,"ratio":1,"flag":false,"nothing":null}'),
    ("Scalars", '{"text":"a","count":1,"ratio":1e400,"flag":false,"nothing":null}'),
    ("Scalars", '{"text":"a","count":' + "9" * 40 + ',"ratio":1,"flag":0,"nothing":null}'),
    ("Scalars", '{"text":"\\ud800","count":1,"ratio":1,"flag":false,"nothing":null}'),
    ("Scalars", '{"text":"a","count":1,"ratio":NaN,"flag":false,"nothing":null}'),
    ("Scalars", '{"text":"a","count":1,"ratio":1,"flag":false}'),
    ("Derived", '{"base":1,"doubled":2}'),
    ("Order", '{"lines":[],"by_sku":{},"pair":["a"],"totals":[],"payment":null,"payments":[]}'),
    ("Order", '{"lines":[],"by_sku":{},"pair":["a",1],"totals":[1],"payment":null,"payments":[]}'),
    (
        "Order",
        '{"lines":[],"by_sku":{},"pair":["a",1],"totals":[],"payment":{"Cash":'
        '{"amount":"1"},"Card":{}},"payments":[]}',
    ),
    (
        "Order",
        '{"lines":[{"sku":"a","price":{"amount":"1"},"colour":null}],"by_sku":{},'
        '"pair":["a",1],"totals":[],"payment":null,"payments":[]}',
    ),
    ("Unions", '{"number":1,"text_like":{"str":"a"},"anything":null,"choice":{"Literal":"a"}}'),
    ("Tree", '{"label":"a","children":[{"label":"b","children":[],"x":1}]}'),
    ("Scalars", "[]"),
    ("Scalars", '{"text":"a","count":1,"ratio":1,"flag":false,"nothing":null} x'),
]


@pytest.mark.parametrize(("type_name", "data"), LENIENT)
def test_texts_msgspec_reads_otherwise_decode_as_the_strict_path_says(
    type_name: str, data: str
) -> None:
    assert_same_outcome(type_name, data)


REPLACEMENTS = st.builds(
    copy.deepcopy,
    st.sampled_from(
    [
        0, -1, 2**64, 2**70, 1.5, -0.0, 1e300, "", "x", "1.5", "1E+2", "NaN", True, False,
        None, [], {}, [1, "a"], {"Cash": {"amount": "1"}}, {"int": 1}, {"Literal": "a"},
        "12345678123456781234567812345678", "12345678-1234-5678-1234-567812345678",
        "2026-01-01 00:00:00", "2026-01-01T00:00:00Z", "2026-01-01", "AA==", "AA", "red",
        "EUR", "on",
    ]),
)  # fmt: skip


def paths(value: object, prefix: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """Every place inside a JSON value, as keys and indexes from its root."""
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += paths(item, (*prefix, index))
    return found


def parent_of(root: object, path: tuple[object, ...]) -> object:
    for step in path[:-1]:
        root = root[step]  # type: ignore[index]
    return root


@settings(max_examples=600, deadline=None)
@given(st.sampled_from(SAMPLES), st.data())
def test_mutated_texts_decode_alike_both_ways(sample: Sample, data: st.DataObject) -> None:
    type_name, text = stored(sample)
    tree: object = json.loads(text)
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(paths(tree)))
        action = data.draw(st.sampled_from(["replace", "delete", "add"]))
        if not path:
            if action == "replace":
                tree = data.draw(REPLACEMENTS)
            continue
        parent = parent_of(tree, path)
        key = path[-1]
        if action == "replace":
            parent[key] = data.draw(REPLACEMENTS)  # type: ignore[index]
        elif action == "delete":
            del parent[key]  # type: ignore[attr-defined]
        elif isinstance(parent, dict):
            parent["extra"] = data.draw(REPLACEMENTS)
        elif isinstance(parent, list):
            parent.append(data.draw(REPLACEMENTS))
    assert_same_outcome(type_name, json.dumps(tree, ensure_ascii=False))


@dataclass(frozen=True, init=False)
class Swapped:
    first: str
    second: int

    def __init__(self, second: int, first: str) -> None:
        object.__setattr__(self, "first", first)
        object.__setattr__(self, "second", second)


@dataclass(frozen=True, kw_only=True)
class KeywordsOnly:
    first: str
    second: int


@dataclass(frozen=True)
class PartlyKeywords:
    first: str
    second: int = field(kw_only=True)
    third: Decimal


@pytest.mark.parametrize(
    "value",
    [Swapped(second=2, first="one"), KeywordsOnly(first="one", second=2),
     PartlyKeywords("one", Decimal("3.0"), second=2)],
    ids=lambda value: type(value).__name__,
)  # fmt: skip
def test_fields_reach_init_as_it_takes_them(value: object) -> None:
    fields_codec = JsonCodec[object, object](
        events=[Swapped, KeywordsOnly, PartlyKeywords], entities=[], aggregate_type="order"
    )
    stored = fields_codec.encode_event(value)
    assert fields_codec._events._by_name[stored.type_name].parser is not None
    identical(fields_codec.decode_event(stored.type_name, 1, stored.data), value)


@dataclass(frozen=True)
class Tagged:
    name: str
    tags: list[str] = field(default_factory=list)
    note: str = "none"


@dataclass(frozen=True, slots=True)
class SlottedTagged:
    name: str
    tags: list[str] = field(default_factory=list)
    amount: Decimal = Decimal("0.0")


@dataclass(frozen=True)
class Checked:
    amount: Decimal

    def __post_init__(self) -> None:
        if self.amount < 0:
            raise ValueError("a negative amount")


DEFAULTS = JsonCodec[object, object](
    events=[Tagged, SlottedTagged, Checked], entities=[], aggregate_type="tags"
)


@pytest.mark.parametrize("cls", [Tagged, SlottedTagged], ids=lambda cls: cls.__name__)
def test_a_default_factory_gives_each_decoded_value_a_fresh_default(
    cls: type[Tagged | SlottedTagged],
) -> None:
    decode = DEFAULTS.event_decoder(cls.__name__, 1)
    first, second = decode('{"name":"a"}'), decode('{"name":"a"}')
    identical(first, cls("a"))
    assert isinstance(first, (Tagged, SlottedTagged))
    assert isinstance(second, (Tagged, SlottedTagged))
    assert first.tags == []
    assert first.tags is not second.tags


def test_a_decoded_instance_dict_holds_the_fields_as_init_sets_them() -> None:
    decoded = DEFAULTS.decode_event("Tagged", 1, '{"note":"n","name":"a"}')
    assert list(vars(decoded).items()) == list(vars(Tagged("a", note="n")).items())


def test_a_stored_decimal_field_with_a_default_is_still_checked() -> None:
    with pytest.raises(CodecError, match="finite decimal"):
        DEFAULTS.decode_event("SlottedTagged", 1, '{"name":"a","amount":"NaN"}')


def test_post_init_still_runs_on_decoding() -> None:
    with pytest.raises(CodecError, match="a negative amount"):
        DEFAULTS.decode_event("Checked", 1, '{"amount":"-1"}')
    identical(DEFAULTS.decode_event("Checked", 1, '{"amount":"1.50"}'), Checked(Decimal("1.50")))
