"""Comparing decoded values strictly: same types, Decimal exponents, float signs, offsets."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from decimal import Decimal


def identical(found: object, expected: object, where: str = "value") -> None:
    """Fail unless ``found`` is ``expected`` down to types, exponents and offsets."""
    assert type(found) is type(expected), f"{where}: {type(found)} is not {type(expected)}"
    if dataclasses.is_dataclass(expected):
        for spec in dataclasses.fields(expected):
            name = spec.name
            identical(getattr(found, name), getattr(expected, name), f"{where}.{name}")
    elif isinstance(expected, (list, tuple)):
        assert isinstance(found, (list, tuple))
        assert len(found) == len(expected), f"{where}: {len(found)} items, not {len(expected)}"
        for index, (left, right) in enumerate(zip(found, expected, strict=True)):
            identical(left, right, f"{where}[{index}]")
    elif isinstance(expected, dict):
        assert isinstance(found, dict)
        assert list(found) == list(expected), f"{where}: keys {list(found)}"
        for key in expected:
            identical(found[key], expected[key], f"{where}[{key!r}]")
    elif isinstance(expected, Decimal):
        assert isinstance(found, Decimal)
        assert found.as_tuple() == expected.as_tuple(), f"{where}: {found!r} != {expected!r}"
    elif isinstance(expected, datetime):
        assert isinstance(found, datetime)
        assert (found, found.tzinfo) == (expected, expected.tzinfo), f"{where}: {found!r}"
    elif isinstance(expected, (float, date)):
        assert repr(found) == repr(expected), f"{where}: {found!r} != {expected!r}"
    else:
        assert found == expected, f"{where}: {found!r} != {expected!r}"
