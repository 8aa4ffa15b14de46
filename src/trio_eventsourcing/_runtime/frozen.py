"""Pickling for frozen dataclasses that write their ``__slots__`` by hand."""

from __future__ import annotations

import dataclasses
from typing import Any, cast


class PicklableFrozen:
    """Mixin: pickle a frozen, slotted dataclass by calling its constructor again.

    Generic dataclasses write ``__slots__`` by hand (``slots=True`` breaks ``Cls[int](...)``
    on Python 3.10-3.12), and then the default pickling restores the slots with
    ``setattr``, which a frozen dataclass refuses.
    """

    __slots__ = ()

    def __reduce__(self) -> tuple[type[Any], tuple[object, ...]]:
        values = tuple(getattr(self, field.name) for field in dataclasses.fields(cast(Any, self)))
        return (type(self), values)
