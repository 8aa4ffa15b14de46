"""Turning events and entity snapshots into stored JSON text and back.

The public names are re-exported by `trio_eventsourcing.codec`, whose docstring (and that of
`JsonCodec`) describes the stored format.

Everything type-dependent is worked out once, when a `JsonCodec` is built: each dataclass
gets a `_DataclassConverter` whose per-field encoders and decoders are plain functions or
closures, so encoding an event is a loop over its fields and no `typing` introspection
happens per call. A value that does not fit its declared type raises the internal
`_Invalid`, which collects the path to the offending value while it unwinds; the namespace
that started the work turns it into a `CodecError` naming the type and the version.

Decoding has a fast path beside that strict one. Each converter also names its *wire*
type, the plain JSON shape msgspec parses it as in C (a frozen dataclass becomes a
``msgspec.Struct`` of the same fields that refuses unknown ones), and a *lift* from that
shape to the value (a Decimal's string to the Decimal, a Struct to the dataclass), which
is left out where the shape is the value. The wire types accept no JSON the strict path
refuses, and the lifts are the strict path's own functions, so where the fast path gives
a value it is the one the strict path gives. Where it fails (bad data, or what msgspec
cannot parse, such as integers beyond 64 bits), the strict path decodes again and says
what is wrong. Types without a wire form (tagged unions, Literal, Enum, a dataclass that
contains itself) are parsed as plain JSON there and lifted by their strict decoder.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import re
import sys
import types
import typing
from abc import ABC, abstractmethod
from base64 import b64decode, b64encode
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from enum import Enum
from math import isfinite
from types import GenericAlias
from typing import Any, Generic, Literal, NamedTuple, TypeAlias, TypeVar, Union, cast, overload
from uuid import UUID

import msgspec
import typing_extensions
from typing_extensions import final

EventT = TypeVar("EventT")
EntityT = TypeVar("EntityT")
RegisteredT = TypeVar("RegisteredT")
# One per event class of a tuple, so that mypy infers a codec's events as their union:
# it joins the classes of a list into their common base instead.
_E1 = TypeVar("_E1")
_E2 = TypeVar("_E2")
_E3 = TypeVar("_E3")
_E4 = TypeVar("_E4")
_E5 = TypeVar("_E5")
_E6 = TypeVar("_E6")
_E7 = TypeVar("_E7")
_E8 = TypeVar("_E8")
_N = TypeVar("_N")

UpcastFunction: TypeAlias = Callable[[dict[str, object]], dict[str, object]]
"""The function of an `Upcaster`: a stored JSON object in, the next version's object out."""

_NoneType = type(None)


@final
@dataclass(frozen=True, slots=True)
class EncodedValue:
    """An event or entity in its stored form.

    Attributes:
        type_name: The name the value's class is registered under.
        version: The version of that class's stored shape (1 unless registered otherwise).
        data: The value's fields as a JSON text.
    """

    type_name: str
    version: int
    data: str


@final
class CodecError(Exception):
    """Raised when a value cannot be encoded, or stored data cannot be decoded.

    The message names the type name and version concerned and the reason: an unknown type
    name, a missing upcaster, a version newer than the application knows, invalid JSON, or
    the field that is missing, unexpected or of the wrong type (with its path, such as
    ``lines[2].price``). Stores catch it and report it with the aggregate and sequence.
    """


class Codec(ABC, Generic[EventT, EntityT]):
    """Turns an aggregate's events and entity snapshots into stored text and back.

    Durable stores call it; `JsonCodec` is the implementation for frozen dataclasses, and
    another serialization format is a subclass implementing these five members. Two more
    have defaults it may override: `event_decoder`, which the stores ask for once per
    event type in a page of the log (the default calls `decode_event`), and
    `event_type_name`, which projections selecting event types need.
    """

    __slots__ = ()

    @property
    @abstractmethod
    def aggregate_type(self) -> str:
        """The name stored with every event of the aggregate, such as ``"bank_account"``."""

    @abstractmethod
    def encode_event(self, event: EventT) -> EncodedValue:
        """Encode an event for storage.

        Args:
            event: The event to encode.

        Returns:
            The event's type name, version and data.

        Raises:
            CodecError: If the event's class is unknown to the codec or a field's value
                cannot be stored.
        """

    @abstractmethod
    def decode_event(self, type_name: str, version: int, data: str) -> EventT:
        """Decode a stored event, upcasting it first if it has an older version.

        Args:
            type_name: The type name stored with the event.
            version: The version stored with the event.
            data: The stored data.

        Returns:
            The event.

        Raises:
            CodecError: If the data cannot be decoded.
        """

    @abstractmethod
    def encode_entity(self, entity: EntityT) -> EncodedValue:
        """Encode an entity for a snapshot.

        Args:
            entity: The entity to encode.

        Returns:
            The entity's type name, version and data.

        Raises:
            CodecError: If the entity's class is unknown to the codec or a field's value
                cannot be stored.
        """

    @abstractmethod
    def decode_entity(self, type_name: str, version: int, data: str) -> EntityT:
        """Decode a stored entity snapshot, upcasting it first if it has an older version.

        Args:
            type_name: The type name stored with the snapshot.
            version: The version stored with the snapshot.
            data: The stored data.

        Returns:
            The entity.

        Raises:
            CodecError: If the data cannot be decoded, including an older version that no
                upcaster lifts (stores then ignore the snapshot and replay the events).
        """

    def event_decoder(self, type_name: str, version: int) -> Callable[[str], EventT]:
        """A function decoding the data of stored events of one type name and version.

        Stores read events in pages and ask for one decoder per type name and version in
        a page, then call it for each event, so that a codec can look its classes up once
        rather than per event. The decoder raises what `decode_event` raises. This default
        calls `decode_event`; a codec overrides it when it can do the lookup once.

        Args:
            type_name: The type name stored with the events.
            version: The version stored with the events.

        Returns:
            A function from an event's stored data to the event.

        Example::

            decode = codec.event_decoder("Deposited", 1)
            events = [decode(data) for data in stored_data]
        """
        return functools.partial(self.decode_event, type_name, version)

    def event_type_name(self, cls: type[object]) -> str:
        """The type name stored with the events of class ``cls``.

        Projections that select event types (``projections.select(store).only(...)``)
        ask it, so that the store's query, not Python, leaves the other events out. This
        default refuses: a codec of another format overrides it to filter by event type.

        Raises:
            TypeError: Always, in this default.

        Example::

            codec.event_type_name(Deposited)  # "Deposited"
        """
        raise TypeError(
            f"{type(self).__name__} cannot name the stored type of event class "
            f"{getattr(cls, '__qualname__', cls)!r}: override Codec.event_type_name to "
            "select events by type"
        )


@final
@dataclass(frozen=True)
class Registration(Generic[RegisteredT]):
    """A class registered with `JsonCodec` under a chosen type name or version.

    Listing the class itself is the same as ``Registration(cls)``.

    Attributes:
        cls: A frozen dataclass.
        type_name: The name stored with each value; `None` means ``cls.__name__``. Set it to
            keep reading stored data after renaming the class.
        version: The version of the class's stored shape, counted from 1. Raise it when the
            fields change and add an `Upcaster` from the previous version.

    Raises:
        TypeError: If `cls` is not a class, `type_name` not a string or `version` not an
            integer.
        ValueError: If `type_name` is empty or `version` is below 1.
    """

    cls: type[RegisteredT]
    type_name: str | None = None
    version: int = 1

    def __post_init__(self) -> None:
        """Check the class, type name and version."""
        if not isinstance(self.cls, type):
            raise TypeError(f"cls must be a class, got {_describe(self.cls)}")
        if self.type_name is not None:
            if not isinstance(self.type_name, str):
                raise TypeError(f"type_name must be a str, got {_describe(self.type_name)}")
            if not self.type_name:
                raise ValueError("type_name must not be empty")
        _check_version("version", self.version)


@final
@dataclass(frozen=True, slots=True)
class Upcaster:
    """Lifts the stored data of one type from one version to the next.

    `JsonCodec` chains upcasters, so data stored at version 1 of a type now at version 3 is
    passed through the upcasters from versions 1 and 2 before it is decoded.

    Attributes:
        type_name: The type name (not the class name, if they differ) the upcaster applies to.
        from_version: The version of the data the upcaster receives; it returns data of
            version ``from_version + 1``.
        upcast: A function from the decoded JSON object to the JSON object of the next
            version. It may modify and return its argument. An exception it raises becomes a
            `CodecError`.

    Raises:
        TypeError: If `from_version` is not an integer.
        ValueError: If `from_version` is below 1.
    """

    type_name: str
    from_version: int
    upcast: UpcastFunction

    def __post_init__(self) -> None:
        """Check the version."""
        _check_version("from_version", self.from_version)


def _check_version(what: str, version: object) -> None:
    if type(version) is not int:
        raise TypeError(f"{what} must be an int, got {_describe(version)}")
    if version < 1:
        raise ValueError(f"{what} must be at least 1, got {version}")


@final
class JsonCodec(Codec[EventT, EntityT]):
    """A `Codec` storing frozen dataclasses as JSON objects of their fields.

    Field types, checked when the codec is built:

    - ``str``, ``int``, ``float``, ``bool`` and ``None`` as themselves. A ``float`` field
      also takes an ``int``; NaN and infinities are refused, as JSON has no room for them.
    - ``datetime`` and ``date`` as ISO 8601 strings. A naive datetime comes back naive and
      an aware one with the same UTC offset, as a `datetime.timezone`.
    - ``Decimal`` as a string, exactly (``"1.50"`` stays ``Decimal("1.50")``); NaN and
      infinities are refused. ``UUID`` as its hyphenated string, ``bytes`` as base64.
    - ``Enum`` subclasses whose values are ``str`` or ``int``, by value; ``Literal[...]`` of
      ``str``, ``int``, ``bool`` and ``None`` values.
    - ``list[X]``, ``tuple[X, ...]`` and ``tuple[X, Y]`` as arrays, ``dict[str, X]`` as an
      object (keys in the dictionary's order).
    - frozen dataclasses as objects of their fields in declaration order, nested ones
      included, which need not be registered. Fields declared with ``init=False`` are not
      stored: ``__post_init__`` computes them again.
    - ``X | None`` as ``X``'s JSON or ``null``.
    - Any other union (``A | B``, ``int | str``, ``A | B | None``) is tagged: ``None`` is
      ``null``, and any other value an object with one key, the member's tag, holding the
      member's JSON: ``{"Card": {"number": "4242"}}``, ``{"int": 5}``. A dataclass or
      ``Enum`` member's tag is its class name; the others are ``str``, ``int``, ``float``,
      ``bool``, ``bytes``, ``datetime``, ``date``, ``Decimal``, ``UUID``, ``list``,
      ``tuple``, ``dict`` and ``Literal`` (all of a union's ``Literal`` members count as
      one). Two members with one tag (``list[int] | list[str]``) are refused. Tagging every
      such union, even one JSON could tell apart, keeps the rule simple, and adding a member
      to a tagged union leaves the data already stored readable. Renaming a dataclass that
      is a member of a tagged union changes its tag, which an `Upcaster` can rewrite.
    - ``Annotated[X, ...]``, ``NewType`` and ``TypeAliasType`` as the type they stand for.

    Decoding is strict: a missing field (unless it has a default), an unexpected field or a
    value of the wrong JSON type is a `CodecError`, so a field added with a default needs no
    new version but any other change of shape does.

    Events and entities are separate namespaces: an event and an entity may share a type
    name. An entity type that is a union of dataclasses is registered by listing each
    member class. Both type checkers infer the codec's event type from a tuple of up to
    eight classes, ``events=(Opened, Deposited)`` making a ``JsonCodec[Opened |
    Deposited, ...]``; mypy joins the classes of a list into their common base, so with a
    list (or more classes) write the types: ``JsonCodec[AccountEvent, Account](...)``.

    Args:
        events: The aggregate's event classes, each a frozen dataclass or a `Registration`.
        entities: The aggregate's entity classes, in the same form.
        aggregate_type: The name stored with every event of the aggregate.
        upcasters: Upcasters of event data.
        entity_upcasters: Upcasters of entity data.

    Raises:
        TypeError: If a class is not a frozen dataclass or a field's type is not supported.
        ValueError: If two classes share a type name, a class is registered twice, or an
            upcaster names an unknown type, starts at or above its type's version, or
            duplicates another.
    """

    __slots__ = ("_aggregate_type", "_entities", "_events")

    # A tuple of up to eight event classes makes a codec of their union, for mypy as for
    # pyright; a list of several classes, or more of them, needs the type written.
    @overload
    def __init__(
        self: JsonCodec[_E1, _N],
        *,
        events: tuple[type[_E1] | Registration[_E1]],
        entities: Iterable[type[_N] | Registration[_N]],
        aggregate_type: str,
        upcasters: Iterable[Upcaster] = (),
        entity_upcasters: Iterable[Upcaster] = (),
    ) -> None: ...

    @overload
    def __init__(
        self: JsonCodec[_E1 | _E2, _N],
        *,
        events: tuple[type[_E1] | Registration[_E1], type[_E2] | Registration[_E2]],
        entities: Iterable[type[_N] | Registration[_N]],
        aggregate_type: str,
        upcasters: Iterable[Upcaster] = (),
        entity_upcasters: Iterable[Upcaster] = (),
    ) -> None: ...

    @overload
    def __init__(
        self: JsonCodec[_E1 | _E2 | _E3, _N],
        *,
        events: tuple[
            type[_E1] | Registration[_E1],
            type[_E2] | Registration[_E2],
            type[_E3] | Registration[_E3],
        ],
        entities: Iterable[type[_N] | Registration[_N]],
        aggregate_type: str,
        upcasters: Iterable[Upcaster] = (),
        entity_upcasters: Iterable[Upcaster] = (),
    ) -> None: ...

    @overload
    def __init__(
        self: JsonCodec[_E1 | _E2 | _E3 | _E4, _N],
        *,
        events: tuple[
            type[_E1] | Registration[_E1],
            type[_E2] | Registration[_E2],
            type[_E3] | Registration[_E3],
            type[_E4] | Registration[_E4],
        ],
        entities: Iterable[type[_N] | Registration[_N]],
        aggregate_type: str,
        upcasters: Iterable[Upcaster] = (),
        entity_upcasters: Iterable[Upcaster] = (),
    ) -> None: ...

    @overload
    def __init__(
        self: JsonCodec[_E1 | _E2 | _E3 | _E4 | _E5, _N],
        *,
        events: tuple[
            type[_E1] | Registration[_E1],
            type[_E2] | Registration[_E2],
            type[_E3] | Registration[_E3],
            type[_E4] | Registration[_E4],
            type[_E5] | Registration[_E5],
        ],
        entities: Iterable[type[_N] | Registration[_N]],
        aggregate_type: str,
        upcasters: Iterable[Upcaster] = (),
        entity_upcasters: Iterable[Upcaster] = (),
    ) -> None: ...

    @overload
    def __init__(
        self: JsonCodec[_E1 | _E2 | _E3 | _E4 | _E5 | _E6, _N],
        *,
        events: tuple[
            type[_E1] | Registration[_E1],
            type[_E2] | Registration[_E2],
            type[_E3] | Registration[_E3],
            type[_E4] | Registration[_E4],
            type[_E5] | Registration[_E5],
            type[_E6] | Registration[_E6],
        ],
        entities: Iterable[type[_N] | Registration[_N]],
        aggregate_type: str,
        upcasters: Iterable[Upcaster] = (),
        entity_upcasters: Iterable[Upcaster] = (),
    ) -> None: ...

    @overload
    def __init__(
        self: JsonCodec[_E1 | _E2 | _E3 | _E4 | _E5 | _E6 | _E7, _N],
        *,
        events: tuple[
            type[_E1] | Registration[_E1],
            type[_E2] | Registration[_E2],
            type[_E3] | Registration[_E3],
            type[_E4] | Registration[_E4],
            type[_E5] | Registration[_E5],
            type[_E6] | Registration[_E6],
            type[_E7] | Registration[_E7],
        ],
        entities: Iterable[type[_N] | Registration[_N]],
        aggregate_type: str,
        upcasters: Iterable[Upcaster] = (),
        entity_upcasters: Iterable[Upcaster] = (),
    ) -> None: ...

    @overload
    def __init__(
        self: JsonCodec[_E1 | _E2 | _E3 | _E4 | _E5 | _E6 | _E7 | _E8, _N],
        *,
        events: tuple[
            type[_E1] | Registration[_E1],
            type[_E2] | Registration[_E2],
            type[_E3] | Registration[_E3],
            type[_E4] | Registration[_E4],
            type[_E5] | Registration[_E5],
            type[_E6] | Registration[_E6],
            type[_E7] | Registration[_E7],
            type[_E8] | Registration[_E8],
        ],
        entities: Iterable[type[_N] | Registration[_N]],
        aggregate_type: str,
        upcasters: Iterable[Upcaster] = (),
        entity_upcasters: Iterable[Upcaster] = (),
    ) -> None: ...

    @overload
    def __init__(
        self,
        *,
        events: Iterable[type[EventT] | Registration[EventT]],
        entities: Iterable[type[EntityT] | Registration[EntityT]],
        aggregate_type: str,
        upcasters: Iterable[Upcaster] = (),
        entity_upcasters: Iterable[Upcaster] = (),
    ) -> None: ...

    def __init__(
        self,
        *,
        events: Iterable[type[Any] | Registration[Any]],
        entities: Iterable[type[Any] | Registration[Any]],
        aggregate_type: str,
        upcasters: Iterable[Upcaster] = (),
        entity_upcasters: Iterable[Upcaster] = (),
    ) -> None:
        if not isinstance(aggregate_type, str):
            raise TypeError(f"aggregate_type must be a str, got {_describe(aggregate_type)}")
        if not aggregate_type:
            raise ValueError("aggregate_type must not be empty")
        compiler = _Compiler()
        self._aggregate_type = aggregate_type
        self._events = _Namespace("event", events, upcasters, compiler)
        self._entities = _Namespace("entity", entities, entity_upcasters, compiler)

    @property
    def aggregate_type(self) -> str:
        """The name stored with every event of the aggregate."""
        return self._aggregate_type

    def encode_event(self, event: EventT) -> EncodedValue:
        """Encode an event as a JSON object of its fields.

        Args:
            event: An instance of a registered event class.

        Returns:
            The event's type name, version and JSON text.

        Raises:
            CodecError: If the event's class is not registered (not even a subclass of a
                registered class is accepted) or a field's value does not fit its type.
        """
        return self._events.encode(event)

    def decode_event(self, type_name: str, version: int, data: str) -> EventT:
        """Decode a stored event, upcasting it first if it has an older version.

        Args:
            type_name: The type name stored with the event.
            version: The version stored with the event.
            data: The stored JSON text.

        Returns:
            The event.

        Raises:
            CodecError: If the type name is unknown, the version is newer than the
                registered one or lacks an upcaster, an upcaster fails, the data is not
                valid JSON or does not fit the class's fields.
        """
        return cast("EventT", self._events.decode(type_name, version, data))

    def event_decoder(self, type_name: str, version: int) -> Callable[[str], EventT]:
        """A function decoding stored events of one type name and version, as `decode_event`.

        The class, its version and its parser are looked up once, here, rather than for
        each event decoded.

        Example::

            decode = codec.event_decoder("Deposited", 1)
            decode('{"amount":"5"}')  # Deposited(amount=Decimal('5'))
        """
        return cast("Callable[[str], EventT]", self._events.decoder(type_name, version))

    def event_type_name(self, cls: type[object]) -> str:
        """The type name stored with the events of class ``cls``: its registered name.

        Raises:
            ValueError: If ``cls`` is not one of the codec's event classes.

        Example::

            codec = JsonCodec(events=[Registration(Deposited, type_name="deposit")], ...)
            codec.event_type_name(Deposited)  # "deposit"
        """
        return self._events.type_name_of(cls, self._aggregate_type)

    def encode_entity(self, entity: EntityT) -> EncodedValue:
        """Encode an entity as a JSON object of its fields.

        Args:
            entity: An instance of a registered entity class.

        Returns:
            The entity's type name, version and JSON text.

        Raises:
            CodecError: If the entity's class is not registered or a field's value does not
                fit its type.
        """
        return self._entities.encode(entity)

    def decode_entity(self, type_name: str, version: int, data: str) -> EntityT:
        """Decode a stored entity, upcasting it first if it has an older version.

        Args:
            type_name: The type name stored with the entity.
            version: The version stored with the entity.
            data: The stored JSON text.

        Returns:
            The entity.

        Raises:
            CodecError: As `decode_event` does.
        """
        return cast("EntityT", self._entities.decode(type_name, version, data))

    def __repr__(self) -> str:
        """Show the aggregate type and the registered type names and versions."""
        return (
            f"JsonCodec(aggregate_type={self._aggregate_type!r}, "
            f"events={self._events.summary()}, entities={self._entities.summary()})"
        )


# --- the stored text ----------------------------------------------------------------------

# One encoder and decoder for every call: json.dumps and json.loads build a new one per call
# whenever an option differs from the defaults. The values handed to the encoder are fresh
# trees built by our converters, so they cannot be circular.
_json_encoder = json.JSONEncoder(
    separators=(",", ":"), ensure_ascii=False, allow_nan=False, check_circular=False
)


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not valid JSON")


_json_decoder = json.JSONDecoder(parse_constant=_refuse_constant)


class _Entry(NamedTuple):
    type_name: str
    version: int
    cls: type[object]
    converter: _DataclassConverter
    upcasters: dict[int, UpcastFunction]
    # The fast path for data of the current version: msgspec's parser for the wire type,
    # and the lift of what it parses; None where the class has no wire form.
    parser: msgspec.json.Decoder[Any] | None
    lift: _Decode


class _Namespace:
    """The registered classes of one kind (events or entities) and their upcasters."""

    __slots__ = ("_by_class", "_by_name", "_kind")

    def __init__(
        self,
        kind: str,
        registrations: Iterable[object],
        upcasters: Iterable[Upcaster],
        compiler: _Compiler,
    ) -> None:
        self._kind = kind
        self._by_name: dict[str, _Entry] = {}
        self._by_class: dict[type[object], _Entry] = {}
        for item in registrations:
            if isinstance(item, Registration):
                cls, type_name, version = item.cls, item.type_name, item.version
            elif isinstance(item, type):
                cls, type_name, version = item, None, 1
            else:
                raise TypeError(
                    f"{kind} classes must be classes or Registration(...), got {_describe(item)}"
                )
            if not (dataclasses.is_dataclass(cls) and _is_frozen(cls)):
                raise TypeError(
                    f"{kind} class {_type_repr(cls)} is not a frozen dataclass; "
                    "JsonCodec stores @dataclass(frozen=True) classes"
                )
            if type_name is None:
                type_name = cls.__name__
            if cls in self._by_class:
                raise ValueError(f"{kind} class {_name(cls)} is registered twice")
            other = self._by_name.get(type_name)
            if other is not None:
                raise ValueError(
                    f"{kind} classes {_name(other.cls)} and {_name(cls)} share the type name "
                    f"{type_name!r}; give one another name with Registration(cls, type_name=...)"
                )
            converter = compiler.dataclass(cls)
            parser, lift = converter.fast_decoding()
            entry = _Entry(type_name, version, cls, converter, {}, parser, lift)
            self._by_name[type_name] = entry
            self._by_class[cls] = entry
        for upcaster in upcasters:
            self._add_upcaster(upcaster)

    def _add_upcaster(self, upcaster: Upcaster) -> None:
        kind = self._kind
        entry = self._by_name.get(upcaster.type_name)
        if entry is None:
            raise ValueError(
                f"upcaster for unknown {kind} type {upcaster.type_name!r}; "
                f"{kind} types: {self._known_names()}"
            )
        if upcaster.from_version >= entry.version:
            raise ValueError(
                f"upcaster for {kind} {upcaster.type_name!r} from version "
                f"{upcaster.from_version}, but its current version is {entry.version}"
            )
        if upcaster.from_version in entry.upcasters:
            raise ValueError(
                f"two upcasters for {kind} {upcaster.type_name!r} "
                f"from version {upcaster.from_version}"
            )
        entry.upcasters[upcaster.from_version] = upcaster.upcast

    def type_name_of(self, cls: type[object], aggregate_type: str) -> str:
        entry = self._by_class.get(cls)
        if entry is None:
            raise ValueError(
                f"{_type_repr(cls)} is not an {self._kind} class of the aggregate type "
                f"{aggregate_type!r}; its {self._kind} types: {self._known_names()}"
            )
        return entry.type_name

    def _known_names(self) -> str:
        return ", ".join(repr(name) for name in self._by_name) or "none"

    def summary(self) -> str:
        return "[" + ", ".join(f"{n!r} v{e.version}" for n, e in self._by_name.items()) + "]"

    def encode(self, value: object) -> EncodedValue:
        entry = self._by_class.get(type(value))
        if entry is None:
            raise CodecError(
                f"cannot encode {self._kind} of class {_name(type(value))}: it is not "
                f"registered with this codec; registered {self._kind} types: "
                f"{self._known_names()}"
            )
        try:
            text = _json_encoder.encode(entry.converter.encode_fields(value))
        except _Invalid as exc:
            raise CodecError(
                f"cannot encode {self._kind} {entry.type_name!r} version {entry.version}: "
                f"{exc.describe()}"
            ) from exc.__cause__
        except ValueError as exc:
            # What our converters accept, json still refuses in one case: integers longer
            # than sys.get_int_max_str_digits().
            raise CodecError(
                f"cannot encode {self._kind} {entry.type_name!r} version {entry.version}: {exc}"
            ) from exc
        if not text.isascii():
            try:
                text.encode()
            except UnicodeEncodeError as exc:
                raise CodecError(
                    f"cannot encode {self._kind} {entry.type_name!r} version {entry.version}: "
                    f"a string holds the lone surrogate {text[exc.start]!r}, which UTF-8 "
                    "cannot store"
                ) from None
        return EncodedValue(entry.type_name, entry.version, text)

    def decode(self, type_name: str, version: int, data: str) -> object:
        entry = self._by_name.get(type_name)
        if (
            entry is not None
            and entry.parser is not None
            and type(version) is int
            and version == entry.version
            and type(data) is str
        ):
            try:
                return entry.lift(entry.parser.decode(data))
            except Exception:
                pass  # the strict decoding below says what is wrong, or reads what it alone can
        return self._decode_strictly(entry, type_name, version, data)

    def decoder(self, type_name: str, version: int) -> Callable[[str], object]:
        """`decode` of ``type_name`` and ``version``, with the entry looked up once."""
        entry = self._by_name.get(type_name)
        if entry is None or entry.parser is None or type(version) is not int:
            return functools.partial(self.decode, type_name, version)
        if version != entry.version:
            return functools.partial(self._decode_strictly, entry, type_name, version)
        parse, lift, strictly = entry.parser.decode, entry.lift, self._decode_strictly

        def decode(data: str) -> object:
            if type(data) is str:
                try:
                    return lift(parse(data))
                except Exception:
                    pass  # as in `decode`: the strict decoding says what is wrong
            return strictly(entry, type_name, version, data)

        return decode

    def _decode_strictly(
        self, entry: _Entry | None, type_name: str, version: int, data: str
    ) -> object:
        where = f"cannot decode {self._kind} {type_name!r} version {version}"
        if entry is None:
            raise CodecError(
                f"{where}: unknown {self._kind} type; {self._kind} types: {self._known_names()}"
            )
        if type(version) is not int or version < 1:
            raise CodecError(f"{where}: versions are integers from 1")
        if version > entry.version:
            raise CodecError(
                f"{where}: written by a newer version of the application "
                f"(this one knows versions up to {entry.version})"
            )
        if version < entry.version:
            missing = next(
                (v for v in range(version, entry.version) if v not in entry.upcasters), None
            )
            if missing is not None:
                raise CodecError(
                    f"{where}: no upcaster from version {missing} to {missing + 1} "
                    f"(the current version is {entry.version})"
                )
        try:
            raw: object = _json_decoder.decode(data)
        except (ValueError, TypeError) as exc:
            raise CodecError(f"{where}: invalid JSON: {exc}") from exc
        for from_version in range(version, entry.version):
            raw = _upcast(where, entry.upcasters[from_version], from_version, raw)
        try:
            return entry.converter.decode(raw)
        except _Invalid as exc:
            raise CodecError(f"{where}: {exc.describe()}") from exc.__cause__


def _upcast(where: str, upcast: UpcastFunction, from_version: int, raw: object) -> object:
    step = f"upcaster from version {from_version}"
    if type(raw) is not dict:
        raise CodecError(f"{where}: {step} needs a JSON object, got {_describe(raw)}")
    try:
        result = upcast(cast("dict[str, object]", raw))
    except Exception as exc:
        raise CodecError(f"{where}: {step} raised {type(exc).__name__}: {exc}") from exc
    if not isinstance(result, dict):
        raise CodecError(f"{where}: {step} returned {_describe(result)}, not a dict")
    return result


# --- converters ---------------------------------------------------------------------------

_Encode: TypeAlias = Callable[[object], object]
_Decode: TypeAlias = Callable[[object], object]


class _Invalid(Exception):
    """A value that does not fit its declared type."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        # Innermost first; each container that sees the error pass adds its own step.
        self.path: list[str] = []

    def describe(self) -> str:
        if not self.path:
            return self.reason
        return f"at {''.join(reversed(self.path)).removeprefix('.')}: {self.reason}"


class _Wireless:
    """The wire type of a converter without one: msgspec parses plain JSON for it."""


_WIRELESS = _Wireless()


class _Converter(NamedTuple):
    encode: _Encode
    decode: _Decode
    # How a tagged union names this member, and the classes that select it when encoding.
    tag: str
    classes: tuple[type[object], ...]
    # The fast path (see the module's docstring): the JSON shape msgspec parses the value
    # as, and the function from that shape to the value, None where the shape is the value.
    wire: object = _WIRELESS
    lift: _Decode | None = None


def _fast(converter: _Converter) -> tuple[object, _Decode | None]:
    """The wire type and lift of ``converter``, plain JSON and its strict decoder if none."""
    if converter.wire is _WIRELESS:
        return Any, converter.decode
    return converter.wire, converter.lift


def _describe(value: object) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"


def _name(cls: type[object]) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _type_repr(tp: object) -> str:
    # Before 3.11, list[int] passes for a type.
    if isinstance(tp, type) and typing.get_origin(tp) is None:
        return tp.__qualname__ if tp.__module__ == "builtins" else _name(tp)
    return repr(tp).replace("typing.", "")


def _expected(what: str, value: object) -> _Invalid:
    return _Invalid(f"expected {what}, got {_describe(value)}")


def _enc_str(v: object) -> object:
    if type(v) is str:
        return v
    if isinstance(v, str):
        # str() of a str-mixin Enum member is its name, not its text.
        return str.__str__(v)
    raise _expected("str", v)


def _dec_str(raw: object) -> object:
    if type(raw) is str:
        return raw
    raise _expected("a string", raw)


def _enc_int(v: object) -> object:
    if type(v) is int:
        return v
    if isinstance(v, int) and not isinstance(v, bool):
        return int(v)
    raise _expected("int", v)


def _dec_int(raw: object) -> object:
    if type(raw) is int:
        return raw
    raise _expected("an integer", raw)


def _enc_float(v: object) -> object:
    if type(v) is float and v - v == 0.0:  # false for NaN and infinities
        return v
    if isinstance(v, (float, int)) and not isinstance(v, bool):
        try:
            f = float(v)
        except OverflowError:
            raise _Invalid(f"{_describe(v)} is too large for a float") from None
        if isfinite(f):
            return f
        raise _Invalid(f"{f!r} cannot be stored: JSON has no NaN or infinity")
    raise _expected("float", v)


def _dec_float(raw: object) -> object:
    if type(raw) is float:
        if raw - raw == 0.0:
            return raw
        raise _Invalid(f"{raw!r} is out of range for a float")
    if type(raw) is int:
        try:
            return float(raw)
        except OverflowError:
            raise _Invalid(f"{raw} is out of range for a float") from None
    raise _expected("a number", raw)


def _enc_bool(v: object) -> object:
    if type(v) is bool:
        return v
    raise _expected("bool", v)


def _dec_bool(raw: object) -> object:
    if type(raw) is bool:
        return raw
    raise _expected("true or false", raw)


def _enc_none(v: object) -> object:
    if v is None:
        return None
    raise _expected("None", v)


def _dec_none(raw: object) -> object:
    if raw is None:
        return None
    raise _expected("null", raw)


def _enc_bytes(v: object) -> object:
    if isinstance(v, bytes):
        return b64encode(v).decode("ascii")
    raise _expected("bytes", v)


def _dec_bytes(raw: object) -> object:
    if type(raw) is str:
        try:
            return b64decode(raw, validate=True)
        except ValueError:
            pass
    raise _expected("a base64 string", raw)


def _enc_datetime(v: object) -> object:
    if isinstance(v, datetime):
        return v.isoformat()
    raise _expected("datetime", v)


# An offset with a fraction of a second, as ``isoformat`` writes it: "+05:30:00.000001".
_FRACTIONAL_OFFSET = re.compile(r"([+-])(\d\d):(\d\d):(\d\d)\.(\d{6})$")


def _dec_datetime(raw: object) -> object:
    if type(raw) is str:
        try:
            parsed = datetime.fromisoformat(raw)
        except ValueError:
            pass
        else:
            # ``fromisoformat`` (3.10-3.13) drops the fraction of a second of an offset,
            # which ``isoformat`` writes: restore it, or the value would not round-trip.
            fractional = _FRACTIONAL_OFFSET.search(raw)
            if fractional is not None:
                sign, hours, minutes, seconds, micros = fractional.groups()
                offset = timedelta(
                    hours=int(hours),
                    minutes=int(minutes),
                    seconds=int(seconds),
                    microseconds=int(micros),
                )
                parsed = parsed.replace(tzinfo=timezone(-offset if sign == "-" else offset))
            return parsed
    raise _expected("an ISO 8601 datetime string", raw)


def _enc_date(v: object) -> object:
    # A datetime is a date too, but would come back as a date.
    if isinstance(v, date) and not isinstance(v, datetime):
        return v.isoformat()
    raise _expected("date", v)


def _dec_date(raw: object) -> object:
    if type(raw) is str:
        try:
            return date.fromisoformat(raw)
        except ValueError:
            pass
    raise _expected("an ISO 8601 date string", raw)


def _enc_decimal(v: object) -> object:
    if isinstance(v, Decimal):
        if v.is_finite():
            return str(v)
        raise _Invalid(f"{_describe(v)} cannot be stored: only finite decimals are")
    raise _expected("Decimal", v)


def _dec_decimal(raw: object) -> object:
    if type(raw) is str:
        try:
            value = Decimal(raw)
        except InvalidOperation:
            pass
        else:
            # Without the InvalidOperation trap, Decimal("junk") is NaN rather than an error.
            if value.is_finite():
                return value
    raise _expected("a string holding a finite decimal number", raw)


def _lift_decimal(raw: object) -> object:
    # The fast path's lift: msgspec parsed a string. What Decimal() cannot read raises
    # (InvalidOperation), and the strict path then says what is wrong.
    value = Decimal(cast("str", raw))
    if value.is_finite():
        return value
    raise _Invalid("not a finite decimal")


def _enc_uuid(v: object) -> object:
    if isinstance(v, UUID):
        return str(v)
    raise _expected("UUID", v)


def _dec_uuid(raw: object) -> object:
    if type(raw) is str:
        try:
            return UUID(raw)
        except ValueError:
            pass
    raise _expected("a UUID string", raw)


# msgspec's str, int, float, bool and None take exactly the JSON the strict decoders take
# (an int for a float too, neither a bool for an int); the types stored as strings are
# parsed as str and lifted by the strict decoder, as msgspec's own parsers of them are
# more lenient (a Decimal from a number, a UUID without hyphens).
_SCALARS: dict[object, _Converter] = {
    str: _Converter(_enc_str, _dec_str, "str", (str,), str),
    int: _Converter(_enc_int, _dec_int, "int", (int,), int),
    float: _Converter(_enc_float, _dec_float, "float", (float,), float),
    bool: _Converter(_enc_bool, _dec_bool, "bool", (bool,), bool),
    _NoneType: _Converter(_enc_none, _dec_none, "None", (_NoneType,), None),
    bytes: _Converter(_enc_bytes, _dec_bytes, "bytes", (bytes,), str, _dec_bytes),
    datetime: _Converter(_enc_datetime, _dec_datetime, "datetime", (datetime,), str, _dec_datetime),
    date: _Converter(_enc_date, _dec_date, "date", (date,), str, _dec_date),
    Decimal: _Converter(_enc_decimal, _dec_decimal, "Decimal", (Decimal,), str, _lift_decimal),
    UUID: _Converter(_enc_uuid, _dec_uuid, "UUID", (UUID,), str, _dec_uuid),
}
_SCALARS[None] = _SCALARS[_NoneType]

_SUPPORTED = (
    "str, int, float, bool, None, bytes, datetime, date, Decimal, UUID, Enum, Literal, "
    "list[X], tuple[X, ...], tuple[X, Y], dict[str, X], unions and frozen dataclasses"
)


def _map_items(items: Iterable[object], convert: Callable[[object], object]) -> list[object]:
    try:
        return [convert(item) for item in items]
    except _Invalid:
        pass
    # Converters are deterministic: the first item that fails now is the one that failed.
    for index, item in enumerate(items):
        try:
            convert(item)
        except _Invalid as exc:
            exc.path.append(f"[{index}]")
            raise
    raise AssertionError("unreachable: an item failed once but not twice")  # pragma: no cover


class _DataclassConverter:
    """Encodes a frozen dataclass as an object of its fields and decodes it back."""

    __slots__ = ("_cls", "_fields", "_parser", "lift", "wire")

    def __init__(self, cls: type[object]) -> None:
        self._cls = cls
        # (name, encode, decode, required), filled in by `_Compiler.dataclass` once the
        # field types are compiled, which may refer back to this converter (a recursive
        # dataclass).
        self._fields: tuple[tuple[str, _Encode, _Decode, bool], ...] = ()
        # The Struct mirroring the class and the function building the class from one
        # (see `mirror`); wireless until then, and for good if msgspec cannot mirror it.
        self.wire: object = _WIRELESS
        self.lift: _Decode | None = None
        # msgspec's parser of the Struct, made once `mirror` has checked msgspec takes it.
        self._parser: msgspec.json.Decoder[Any] | None = None

    def mirror(self, fields: list[tuple[str, object, _Decode | None, bool]]) -> None:
        """Give the class its wire form, from each stored field's (name, wire, lift, required).

        The Struct has the class's stored fields, refuses unknown ones, and marks a field
        with a default as UNSET when the data leaves it out, so the class's own default
        applies; the function building the class is compiled, so that it does no
        per-field dispatch.
        """
        cls = self._cls
        try:
            struct = msgspec.defstruct(
                f"{cls.__qualname__}Wire",
                [
                    (name, wire) if required else (name, _or_unset(wire), msgspec.UNSET)
                    for name, wire, _, required in fields
                ],
                kw_only=True,
                forbid_unknown_fields=True,
                module=__name__,
            )
            # Fails unless msgspec takes every field's wire type.
            parser: msgspec.json.Decoder[Any] = msgspec.json.Decoder(struct)
        except (TypeError, ValueError):
            return
        self.lift = _compile_builder(
            cls, [(name, lift, required) for name, _, lift, required in fields]
        )
        self.wire = struct
        self._parser = parser

    def fast_decoding(self) -> tuple[msgspec.json.Decoder[Any] | None, _Decode]:
        """The parser and lift that decode the class's JSON text; no parser without a wire form."""
        if self._parser is None or self.lift is None:
            return None, self.decode
        return self._parser, self.lift

    def encode(self, v: object) -> object:
        if type(v) is not self._cls:
            raise _expected(_name(self._cls), v)
        return self.encode_fields(v)

    def encode_fields(self, v: object) -> dict[str, object]:
        out: dict[str, object] = {}
        name = ""
        try:
            for name, encode, _, _ in self._fields:
                out[name] = encode(getattr(v, name))
        except _Invalid as exc:
            exc.path.append(f".{name}")
            raise
        return out

    def decode(self, raw: object) -> object:
        if type(raw) is not dict:
            raise _expected("a JSON object", raw)
        obj = cast("dict[str, object]", raw)
        kwargs: dict[str, object] = {}
        incomplete = False
        name = ""
        try:
            for name, _, decode, required in self._fields:
                value = obj.get(name, _MISSING)
                if value is _MISSING:
                    incomplete = incomplete or required
                else:
                    kwargs[name] = decode(value)
        except _Invalid as exc:
            exc.path.append(f".{name}")
            raise
        if incomplete or len(kwargs) != len(obj):
            raise self._mismatch(obj, kwargs)
        try:
            return self._cls(**kwargs)
        except Exception as exc:
            raise _Invalid(
                f"{self._cls.__qualname__}(...) refused the stored values: "
                f"{type(exc).__name__}: {exc}"
            ) from exc

    def _mismatch(self, obj: dict[str, object], kwargs: dict[str, object]) -> _Invalid:
        problems = []
        missing = [name for name, _, _, required in self._fields if required and name not in obj]
        if missing:
            problems.append("missing field " + ", ".join(map(repr, missing)))
        unexpected = [key for key in obj if key not in kwargs]
        if unexpected:
            problems.append("unexpected field " + ", ".join(map(repr, unexpected)))
        return _Invalid("; ".join(problems))


_MISSING = object()


def _or_unset(wire: object) -> object:
    return cast("Any", Union)[wire, msgspec.UnsetType]


def _compile_builder(cls: type[object], fields: list[tuple[str, _Decode | None, bool]]) -> _Decode:
    """A function building ``cls`` from its wire Struct: ``cls(a=s.a, b=lift1(s.b))``.

    Compiled from source, as `dataclasses` compiles ``__init__``: field names are
    identifiers, and only they and generated names reach the source. A field with a
    default is passed only when the data held it. Where ``__init__`` is the one
    `dataclasses` wrote and nothing else runs on construction (`_fields_home`), the
    function sets the fields itself, as that ``__init__`` would, without calling it.
    """
    namespace: dict[str, object] = {
        "cls": cls,
        "UNSET": msgspec.UNSET,
        "Decimal": Decimal,
        "Invalid": _Invalid,
        "new": object.__new__,
    }
    names = [name for name, _, _ in fields]
    home = _fields_home(cls, names)
    # Set the fields directly; or call cls(**kwargs) when a field may be left to its
    # default; or call cls() by position.
    by_keyword = home is None and not all(required for _, _, required in fields)
    specs = {spec.name: spec for spec in dataclasses.fields(cast("Any", cls))}
    lines = ["def build(s):", "    kwargs = {}"] if by_keyword else ["def build(s):"]
    for index, (name, lift, required) in enumerate(fields):
        target = f"v{index}"
        lines.append(f"    {target} = s.{name}")
        body: list[str] = []
        if lift is _lift_decimal:
            # Inline, as the lift would do it: Decimal() raises on what it cannot read.
            body.append(f"{target} = Decimal({target})")
            body.append(f"if not {target}.is_finite(): raise Invalid('not a finite decimal')")
        elif lift is not None:
            namespace[f"lift_{index}"] = lift
            body.append(f"{target} = lift_{index}({target})")
        if by_keyword:
            body.append(f"kwargs[{name!r}] = {target}")
        if required:
            lines.extend(f"    {line}" for line in body)
            continue
        lines.append(f"    if {target} is not UNSET:")
        lines.extend(f"        {line}" for line in body or ["pass"])
        if home is not None:
            spec = specs[name]
            if spec.default_factory is dataclasses.MISSING:
                namespace[f"default_{index}"] = spec.default
                default = f"default_{index}"
            else:
                namespace[f"default_{index}"] = spec.default_factory
                default = f"default_{index}()"
            lines.append("    else:")
            lines.append(f"        {target} = {default}")
    if home == "slots":
        lines.append("    o = new(cls)")
        for index, name in enumerate(names):
            namespace[f"set_{index}"] = inspect.getattr_static(cls, name).__set__
            lines.append(f"    set_{index}(o, v{index})")
        lines.append("    return o")
    elif home == "dict":
        # In field order, as __init__ fills the instance's dictionary.
        lines.append("    o = new(cls)")
        lines.append("    fields = o.__dict__")
        for index, name in enumerate(names):
            lines.append(f"    fields[{name!r}] = v{index}")
        lines.append("    return o")
    elif by_keyword:
        lines.append("    return cls(**kwargs)")
    else:
        # By position as far as __init__ takes them in field order (faster than by keyword).
        positional = _positional_count(cls, names)
        arguments = ", ".join(
            f"v{index}" if index < positional else f"{name}=v{index}"
            for index, (name, _, _) in enumerate(fields)
        )
        lines.append(f"    return cls({arguments})")
    source = "\n".join(lines) + "\n"
    exec(compile(source, f"<JsonCodec decoder of {_name(cls)}>", "exec"), namespace)
    return cast("_Decode", namespace["build"])


def _fields_home(cls: type[object], names: list[str]) -> Literal["slots", "dict"] | None:
    """Where a new ``cls`` keeps its fields, when setting them there is all ``__init__`` does.

    That holds when the class's ``__init__`` is the one `dataclasses` generated (compiled
    from a string, so not one written in a class body) and takes exactly the fields
    ``names``, in order; when nothing runs after it (no ``__post_init__``) or before it (no
    ``__new__`` of its own); and when every field lives in a slot (``"slots"``), or every
    one in the instance's ``__dict__`` (``"dict"``). ``None`` otherwise: the class is
    then called.
    """
    init = vars(cls).get("__init__")
    code = getattr(init, "__code__", None)
    if (
        code is None
        or code.co_filename != "<string>"
        or getattr(cls, "__new__", None) is not object.__new__
        or hasattr(cls, "__post_init__")
        or list(inspect.signature(cls).parameters) != names
        or [spec.name for spec in dataclasses.fields(cast("Any", cls))] != names
    ):
        return None
    in_slots = [
        isinstance(inspect.getattr_static(cls, name, None), types.MemberDescriptorType)
        for name in names
    ]
    if all(in_slots):
        return "slots"
    if any(in_slots) or getattr(cls, "__dictoffset__", 0) == 0:
        return None
    return "dict"


def _positional_count(cls: type[object], names: list[str]) -> int:
    """How many of the fields ``names``, from the first, ``cls()`` takes by position."""
    count = 0
    for parameter, name in zip(inspect.signature(cls).parameters.values(), names, strict=False):
        if parameter.kind is not parameter.POSITIONAL_OR_KEYWORD or parameter.name != name:
            break
        count += 1
    return count


class _Site(NamedTuple):
    """The field whose type is being compiled, for error messages."""

    owner: type[object]
    field: str
    declared: object

    def unsupported(self, detail: str) -> TypeError:
        return TypeError(
            f"field {self.field!r} of {_name(self.owner)} has type "
            f"{_type_repr(self.declared)}, which JsonCodec cannot store: {detail}"
        )


class _Compiler:
    """Builds converters for types, sharing one per dataclass."""

    __slots__ = ("_dataclasses",)

    def __init__(self) -> None:
        self._dataclasses: dict[type[object], _DataclassConverter] = {}

    def dataclass(self, cls: type[object]) -> _DataclassConverter:
        """Compile a frozen dataclass; the caller has checked that it is one."""
        converter = self._dataclasses.get(cls)
        if converter is not None:
            return converter
        converter = self._dataclasses[cls] = _DataclassConverter(cls)
        if not dataclasses.is_dataclass(cls):  # pragma: no cover (callers checked)
            raise TypeError(f"{_name(cls)} is not a dataclass")
        # init=False fields are __post_init__'s to compute, so they are not stored.
        stored = [spec for spec in dataclasses.fields(cls) if spec.init]
        names = {spec.name for spec in stored}
        _check_init_takes_only(cls, names)
        try:
            hints = _field_types(cls, names)
        except Exception as exc:
            raise TypeError(
                f"cannot resolve the field types of {_name(cls)}: {type(exc).__name__}: {exc}"
            ) from exc
        fields = []
        wires: list[tuple[str, object, _Decode | None, bool]] = []
        for spec in stored:
            declared = hints[spec.name]
            convert = self.convert(declared, _Site(cls, spec.name, declared))
            required = (
                spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING
            )
            fields.append((spec.name, convert.encode, convert.decode, required))
            wires.append((spec.name, *_fast(convert), required))
        converter._fields = tuple(fields)
        converter.mirror(wires)
        return converter

    def convert(self, tp: object, site: _Site) -> _Converter:
        tp = _unalias(tp)
        try:
            scalar = _SCALARS.get(tp)
        except TypeError:  # an unhashable annotation is no type we know
            scalar = None
        if scalar is not None:
            return scalar
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if origin is Literal:
            return _literal(args, site)
        if origin is Union or origin is types.UnionType:
            return self._union(args, site)
        if origin is list and len(args) == 1:
            return self._list(self.convert(args[0], site))
        if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
            return self._tuple_of(self.convert(args[0], site))
        if origin is tuple and tp is not tuple:
            # Python 3.10 spells the arguments of the empty tuple type ((),), later ones ().
            items = () if args == ((),) else args
            return self._fixed_tuple(tuple(self.convert(arg, site) for arg in items))
        if origin is dict and len(args) == 2:
            if _unalias(args[0]) is not str:
                raise site.unsupported(f"the keys of {_type_repr(tp)} are not str")
            return self._dict(self.convert(args[1], site))
        if origin is None and isinstance(tp, type):
            if issubclass(tp, Enum):
                return _enum(tp, site)
            if dataclasses.is_dataclass(tp):
                if not _is_frozen(tp):
                    raise site.unsupported(f"{_name(tp)} is not a frozen dataclass")
                converter = self.dataclass(tp)
                # Wireless while the class is still being compiled: one that contains
                # itself is parsed as plain JSON where it recurs.
                return _Converter(
                    converter.encode,
                    converter.decode,
                    tp.__name__,
                    (tp,),
                    converter.wire,
                    converter.lift,
                )
        if origin is not None and dataclasses.is_dataclass(origin):
            raise site.unsupported(f"{_type_repr(tp)} is a generic dataclass")
        raise site.unsupported(
            f"{_type_repr(tp)} is not a supported type (supported: {_SUPPORTED})"
        )

    def _list(self, item: _Converter) -> _Converter:
        encode_item, decode_item = item.encode, item.decode

        def encode(v: object) -> object:
            if isinstance(v, list):
                return _map_items(v, encode_item)
            raise _expected("list", v)

        def decode(raw: object) -> object:
            if type(raw) is list:
                return _map_items(raw, decode_item)
            raise _expected("an array", raw)

        wire, lift_item = _fast(item)
        lift = None if lift_item is None else _lift_list(lift_item)
        return _Converter(encode, decode, "list", (list,), GenericAlias(list, (wire,)), lift)

    def _tuple_of(self, item: _Converter) -> _Converter:
        encode_item, decode_item = item.encode, item.decode

        def encode(v: object) -> object:
            if isinstance(v, tuple):
                return _map_items(v, encode_item)
            raise _expected("tuple", v)

        def decode(raw: object) -> object:
            if type(raw) is list:
                return tuple(_map_items(raw, decode_item))
            raise _expected("an array", raw)

        wire, lift_item = _fast(item)
        lift = None if lift_item is None else _lift_tuple(lift_item)
        wire_type = GenericAlias(tuple, (wire, ...))
        return _Converter(encode, decode, "tuple", (tuple,), wire_type, lift)

    def _fixed_tuple(self, items: tuple[_Converter, ...]) -> _Converter:
        encoders = tuple(item.encode for item in items)
        decoders = tuple(item.decode for item in items)
        size = len(items)

        def encode(v: object) -> object:
            if isinstance(v, tuple) and len(v) == size:
                return _map_pairs(encoders, v)
            raise _expected(f"tuple of {size} items", v)

        def decode(raw: object) -> object:
            if type(raw) is list and len(raw) == size:
                return tuple(_map_pairs(decoders, raw))
            raise _expected(f"an array of {size} items", raw)

        if not items:  # tuple[()]: rare, and spelled differently from one Python to another
            return _Converter(encode, decode, "tuple", (tuple,))
        wires, lifts = zip(*map(_fast, items), strict=True)
        lift = None if all(f is None for f in lifts) else _lift_pairs(lifts)
        return _Converter(encode, decode, "tuple", (tuple,), GenericAlias(tuple, wires), lift)

    def _dict(self, item: _Converter) -> _Converter:
        encode_item, decode_item = item.encode, item.decode

        def encode(v: object) -> object:
            if not isinstance(v, dict):
                raise _expected("dict", v)
            out: dict[str, object] = {}
            for key, value in v.items():
                if type(key) is not str:
                    raise _Invalid(f"key {_describe(key)} is not a str")
                try:
                    out[key] = encode_item(value)
                except _Invalid as exc:
                    exc.path.append(f"[{json.dumps(key, ensure_ascii=False)}]")
                    raise
            return out

        def decode(raw: object) -> object:
            if type(raw) is not dict:
                raise _expected("a JSON object", raw)
            out: dict[str, object] = {}
            for key, value in cast("dict[str, object]", raw).items():
                try:
                    out[key] = decode_item(value)
                except _Invalid as exc:
                    exc.path.append(f"[{json.dumps(key, ensure_ascii=False)}]")
                    raise
            return out

        wire, lift_item = _fast(item)
        lift = None if lift_item is None else _lift_dict(lift_item)
        return _Converter(encode, decode, "dict", (dict,), GenericAlias(dict, (str, wire)), lift)

    def _union(self, args: tuple[object, ...], site: _Site) -> _Converter:
        optional = False
        literals: list[object] = []
        # None stands for the one member that all the union's Literal members make up.
        members: list[_Converter | None] = []
        for arg in map(_unalias, args):
            if arg is _NoneType:
                optional = True
            elif typing.get_origin(arg) is Literal:
                if not literals:
                    members.append(None)
                literals.extend(typing.get_args(arg))
            else:
                members.append(self.convert(arg, site))
        converters = [_literal(tuple(literals), site) if m is None else m for m in members]
        if len(converters) == 1:
            return _optional(converters[0]) if optional else converters[0]
        return _tagged_union(converters, optional, site)


def _map_pairs(converters: tuple[_Encode, ...], items: Iterable[object]) -> list[object]:
    out: list[object] = []
    for index, (convert, item) in enumerate(zip(converters, items, strict=True)):
        try:
            out.append(convert(item))
        except _Invalid as exc:
            exc.path.append(f"[{index}]")
            raise
    return out


def _unalias(tp: object) -> object:
    """Return the type that an Annotated, NewType or TypeAliasType stands for."""
    while True:
        if typing.get_origin(tp) is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif isinstance(tp, typing.NewType):
            tp = tp.__supertype__
        # Two branches, as mypy checking for 3.10 cannot see __value__ through an `or`.
        # typing_extensions has its own TypeAliasType before Python 3.14; `type X = ...`
        # makes typing's.
        elif isinstance(tp, typing_extensions.TypeAliasType):  # noqa: SIM114
            tp = tp.__value__
        elif sys.version_info >= (3, 12) and isinstance(tp, typing.TypeAliasType):
            tp = tp.__value__
        else:
            return tp


def _check_init_takes_only(cls: type[object], names: set[str]) -> None:
    """Check that decoding can build `cls` from its stored fields: no InitVar is required."""
    for parameter in inspect.signature(cls).parameters.values():
        if (
            parameter.name not in names
            and parameter.default is parameter.empty
            and parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)
        ):
            raise TypeError(
                f"{_name(cls)}() requires {parameter.name!r}, which is not a stored field "
                "(an InitVar without a default?), so JsonCodec could not pass it when decoding"
            )


def _field_types(cls: type[object], names: set[str]) -> dict[str, object]:
    """Resolve the annotations of the fields `names` of `cls` and its bases.

    Unlike `typing.get_type_hints(cls)`, this leaves the other annotations alone: Python
    3.10 cannot evaluate a postponed ``InitVar[int]``, and a ClassVar's type may name
    something that is not importable.
    """
    hints: dict[str, object] = {}
    for base in reversed(cls.__mro__):
        wanted = {
            name: annotation
            for name, annotation in inspect.get_annotations(base).items()
            if name in names
        }
        if wanted:
            module = sys.modules.get(base.__module__)
            # Module names before class attributes, as get_type_hints(cls) looks them up:
            # in `date: date = date(2000, 1, 1)` the annotation is the class, not the default.
            hints |= typing.get_type_hints(
                types.SimpleNamespace(__annotations__=wanted),
                globalns=dict(vars(base)),
                localns=vars(module) if module is not None else {},
                include_extras=True,
            )
    return hints


def _is_frozen(cls: type[object]) -> bool:
    params = getattr(cls, "__dataclass_params__", None)
    return bool(getattr(params, "frozen", False))


def _literal(values: tuple[object, ...], site: _Site) -> _Converter:
    for value in values:
        if type(value) not in (str, int, bool, _NoneType):
            raise site.unsupported(f"Literal value {value!r} is not a str, int, bool or None")
    allowed = {(type(value), value) for value in values}
    classes = tuple(dict.fromkeys(type(value) for value in values))
    text = ", ".join(map(repr, values))

    def convert(v: object) -> object:
        # Pairing each value with its type keeps True from passing for 1.
        if type(v) in classes and (type(v), v) in allowed:
            return v
        raise _expected(f"one of {text}", v)

    return _Converter(convert, convert, "Literal", classes)


def _enum(cls: type[Enum], site: _Site) -> _Converter:
    members = list(cls)
    for member in members:
        if type(member.value) not in (str, int):
            raise site.unsupported(f"the value of {member!r} is not a str or an int")
    by_value: dict[object, Enum] = {member.value: member for member in members}
    value_types = tuple({type(member.value) for member in members})

    def encode(v: object) -> object:
        if isinstance(v, cls):
            return v.value
        raise _expected(_name(cls), v)

    def decode(raw: object) -> object:
        if type(raw) in value_types:
            member = by_value.get(raw)
            if member is not None:
                return member
            try:
                # Flag combinations and _missing_ hooks are not in by_value.
                return cls(raw)
            except ValueError:
                pass
        raise _expected(f"a value of {_name(cls)}", raw)

    return _Converter(encode, decode, cls.__name__, (cls,))


def _optional(member: _Converter) -> _Converter:
    encode_member, decode_member = member.encode, member.decode

    def encode(v: object) -> object:
        return None if v is None else encode_member(v)

    def decode(raw: object) -> object:
        return None if raw is None else decode_member(raw)

    wire, lift_member = _fast(member)
    lift = None if lift_member is None else _lift_optional(lift_member)
    optional_wire = Any if wire is Any else cast("Any", Union)[wire, None]
    return _Converter(encode, decode, member.tag, (*member.classes, _NoneType), optional_wire, lift)


# The lifts of containers: what msgspec parsed, with each item lifted. Any exception
# sends the decoding to the strict path, which names the item.


def _lift_list(lift: _Decode) -> _Decode:
    def lift_list(raw: object) -> object:
        return [lift(item) for item in cast("list[object]", raw)]

    return lift_list


def _lift_tuple(lift: _Decode) -> _Decode:
    def lift_tuple(raw: object) -> object:
        return tuple([lift(item) for item in cast("tuple[object, ...]", raw)])

    return lift_tuple


def _lift_pairs(lifts: tuple[_Decode | None, ...]) -> _Decode:
    def lift_pairs(raw: object) -> object:
        items = cast("tuple[object, ...]", raw)
        return tuple([item if f is None else f(item) for f, item in zip(lifts, items, strict=True)])

    return lift_pairs


def _lift_dict(lift: _Decode) -> _Decode:
    def lift_dict(raw: object) -> object:
        return {key: lift(value) for key, value in cast("dict[str, object]", raw).items()}

    return lift_dict


def _lift_optional(lift: _Decode) -> _Decode:
    def lift_optional(raw: object) -> object:
        return None if raw is None else lift(raw)

    return lift_optional


def _tagged_union(members: list[_Converter], optional: bool, site: _Site) -> _Converter:
    decoders: dict[str, _Decode] = {}
    for member in members:
        if member.tag in decoders:
            raise site.unsupported(f"two members of a union would share the tag {member.tag!r}")
        decoders[member.tag] = member.decode
    everyone = tuple((member.tag, member.encode) for member in members)
    # A value of a member's exact class picks that member at once; anything else (a
    # subclass, an int for a float) tries every member in declaration order.
    dispatch: dict[type[object], tuple[tuple[str, _Encode], ...]] = {}
    for member in members:
        for cls in member.classes:
            dispatch[cls] = (*dispatch.get(cls, ()), (member.tag, member.encode))
    tags = ", ".join(map(repr, decoders))
    or_none = " or None" if optional else ""
    or_null = " or null" if optional else ""

    def encode(v: object) -> object:
        if v is None and optional:
            return None
        candidates = dispatch.get(type(v), everyone)
        if len(candidates) == 1:
            tag, encode_member = candidates[0]
            return {tag: encode_member(v)}
        for tag, encode_member in candidates:
            try:
                return {tag: encode_member(v)}
            except _Invalid:
                pass
        raise _expected(f"a value of one of the union members {tags}{or_none}", v)

    def decode(raw: object) -> object:
        if raw is None and optional:
            return None
        if type(raw) is dict and len(raw) == 1:
            ((tag, value),) = cast("dict[str, object]", raw).items()
            decode_member = decoders.get(tag)
            if decode_member is not None:
                try:
                    return decode_member(value)
                except _Invalid as exc:
                    exc.path.append(f".{tag}")
                    raise
        raise _expected(f"an object with one key naming a union member ({tags}){or_null}", raw)

    return _Converter(encode, decode, "union", tuple(dispatch))
