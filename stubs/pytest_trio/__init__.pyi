# pytest-trio ships no type information; this covers the one name tests import.
from collections.abc import Callable
from typing import TypeVar

_F = TypeVar("_F", bound=Callable[..., object])

__all__ = ["trio_fixture"]

def trio_fixture(func: _F) -> _F: ...
