"""Events and a snapshot of every field type JsonCodec stores, with fixed values.

``written_by_0_1_0.sql`` holds these values as version 0.1.0 of the SQLite store wrote
them (``python -m tests.stored_format.write`` made it, before decoding moved to msgspec).
``test_stored_format.py`` reads that file with the current version and expects the same
objects back, of the same types, down to a Decimal's exponent and a datetime's offset.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from enum import Enum, IntEnum
from typing import Literal, NewType
from uuid import UUID

from trio_eventsourcing.codec import JsonCodec, Registration

Sku = NewType("Sku", str)


class Color(Enum):
    RED = "red"
    GREEN = "green"


class Level(IntEnum):
    LOW = 1
    HIGH = 2


@dataclass(frozen=True)
class Scalars:
    text: str
    count: int
    ratio: float
    flag: bool
    nothing: None


@dataclass(frozen=True, slots=True)
class Money:
    amount: Decimal
    currency: Literal["EUR", "USD"] = "EUR"


@dataclass(frozen=True)
class Moments:
    naive: datetime
    aware: datetime
    day: date


@dataclass(frozen=True)
class Identified:
    id: UUID
    raw: bytes
    color: Color
    level: Level
    sku: Sku
    mode: Literal["on", "off", 0, True, None]


@dataclass(frozen=True)
class Line:
    sku: str
    price: Money
    color: Color | None = None


@dataclass(frozen=True)
class Card:
    number: str
    expires: date


@dataclass(frozen=True)
class Cash:
    amount: Decimal


@dataclass(frozen=True)
class Order:
    lines: tuple[Line, ...]
    by_sku: dict[str, Line]
    pair: tuple[str, float]
    totals: list[Decimal]
    payment: Card | Cash | None
    payments: list[Card | Cash]
    note: str | None = None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Unions:
    number: int | float
    text_like: str | datetime | date | Decimal | UUID
    anything: int | str | bool | list[int] | dict[str, str] | None
    choice: Literal["a", "b"] | Color | Level


@dataclass(frozen=True)
class Tree:
    label: str
    children: tuple[Tree, ...] = ()


@dataclass(frozen=True)
class Derived:
    base: int
    doubled: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "doubled", self.base * 2)


@dataclass(frozen=True)
class Renamed:
    value: str


Sample = Scalars | Money | Moments | Identified | Order | Unions | Tree | Derived | Renamed


@dataclass(frozen=True)
class Album:
    """The snapshot: every sample so far, in a tagged union."""

    items: tuple[Sample, ...] = ()


UTC = timezone.utc
KOLKATA = timezone(timedelta(hours=5, minutes=30))
ODD = timezone(-timedelta(hours=3, minutes=7, seconds=5, microseconds=250))

SAMPLES: list[Sample] = [
    Scalars("plain", 0, 0.0, False, None),
    Scalars('ünïcødé ✓ \u2028 "quoted" \\ back\nline\ttab', -(2**63), -0.5, True, None),
    Scalars("", 2**80, 1e16, False, None),
    Scalars("tiny", 7, 1e-7, True, None),
    Scalars("big float", -1, 1.7976931348623157e308, False, None),
    Scalars("int-like float", 3, 3.0, True, None),
    Money(Decimal("1.50")),
    Money(Decimal("-0.00"), "USD"),
    Money(Decimal("1E+2")),
    Money(Decimal("12345678901234567890.123456789")),
    Money(Decimal("0E-10")),
    Moments(datetime(2026, 12, 7, 13, 0), datetime(2026, 12, 7, 13, 0, tzinfo=UTC), date(1, 1, 1)),
    Moments(
        datetime(1999, 12, 31, 23, 59, 59, 999999),
        datetime(2026, 1, 2, 3, 4, 5, 600, tzinfo=KOLKATA),
        date(9999, 12, 31),
    ),
    Moments(datetime(2000, 2, 29), datetime(2000, 2, 29, 12, tzinfo=ODD), date(2000, 2, 29)),
    Identified(
        UUID("12345678-1234-5678-1234-567812345678"), b"", Color.RED, Level.LOW, Sku("a"), "on"
    ),
    Identified(UUID(int=0), bytes(range(256)), Color.GREEN, Level.HIGH, Sku("ß-1"), 0),
    Identified(UUID(int=2**128 - 1), b"\x00", Color.RED, Level.HIGH, Sku(""), True),
    Identified(UUID(int=1), b"xyz", Color.GREEN, Level.LOW, Sku("n"), None),
    Order(
        lines=(Line("a", Money(Decimal("2.00")), Color.RED), Line("b", Money(Decimal("3")))),
        by_sku={"a": Line("a", Money(Decimal("2.00"), "USD")), "": Line("", Money(Decimal(0)))},
        pair=("x", 2.5),
        totals=[Decimal("5.00"), Decimal("-1")],
        payment=Card("4242", date(2030, 1, 31)),
        payments=[Cash(Decimal("1")), Card("1", date(2031, 5, 1))],
        note="leave at the door",
        tags=("gift", "fragile"),
    ),
    Order((), {}, ("", -0.0), [], None, []),
    Order((), {}, ("y", 1.0), [], Cash(Decimal("9.99")), [], None),
    Unions(1, "text", None, "a"),
    Unions(1.5, datetime(2026, 1, 1, tzinfo=UTC), 5, Color.RED),
    Unions(2, date(2026, 1, 1), "five", Level.HIGH),
    Unions(-0.0, Decimal("0.1"), True, "b"),
    Unions(10**30, UUID(int=42), [1, 2, 3], Level.LOW),
    Unions(0, "", {"k": "v", "": ""}, Color.GREEN),
    Unions(0.1, datetime(2026, 1, 1), [], "a"),
    Tree("root", (Tree("left"), Tree("right", (Tree("leaf"),)))),
    Tree("alone"),
    Derived(21),
    Renamed("stored under another name"),
]
"""One event of each sample, appended in this order to the aggregate ``zoo``."""


def codec() -> JsonCodec[Sample, Album]:
    """The codec the file was written with, and is read back with."""
    return JsonCodec[Sample, Album](
        events=[
            Scalars,
            Money,
            Moments,
            Identified,
            Order,
            Unions,
            Tree,
            Derived,
            Registration(Renamed, type_name="renamed_event"),
        ],
        entities=[Album],
        aggregate_type="zoo",
    )
