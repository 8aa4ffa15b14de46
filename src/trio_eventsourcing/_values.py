"""Validated positive numbers: :class:`Frequency` and :class:`Timeout`.

Neither has a public constructor: :func:`frequency` and :func:`timeout` check the number
and are the only way to get one, so an invalid value cannot exist.
"""

from __future__ import annotations

from typing import NoReturn

from typing_extensions import Never, final

from ._checks import require_int
from ._errors import EventSourcingError, NonPositiveArgument
from ._result import Error, Ok, Result


class _Positive:
    """The shared base of :class:`Frequency` and :class:`Timeout`: an immutable positive int."""

    __slots__ = ("_value",)
    _value: int

    def __init__(self, _private: Never) -> None:
        raise TypeError(f"{type(self).__name__} has no public constructor")

    @classmethod
    def _make(cls, value: int) -> _Positive:
        self = object.__new__(cls)
        object.__setattr__(self, "_value", value)
        return self

    @property
    def value(self) -> int:
        """The validated positive number."""
        return self._value

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __repr__(self) -> str:
        return f"{type(self).__name__.lower()}({self._value})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other._value == self._value

    def __hash__(self) -> int:
        return hash((type(self), self._value))

    def __reduce__(self) -> tuple[object, tuple[int]]:
        return (type(self)._make, (self._value,))


@final
class Frequency(_Positive):
    """How often something happens, in events: always greater than zero.

    Example::

        match frequency(5):
            case Ok(freq):
                config = SnapshotConfig(freq)
    """

    __slots__ = ()


@final
class Timeout(_Positive):
    """A duration in milliseconds: always greater than zero.

    Example::

        assert timeout(5000).unwrap().seconds == 5.0
    """

    __slots__ = ()

    @property
    def seconds(self) -> float:
        """The duration in seconds, as Trio's cancel scopes want it."""
        return self._value / 1000


def frequency(n: int) -> Result[Frequency, EventSourcingError[Never]]:
    """Validate a snapshot frequency: ``Ok(Frequency)`` if ``n > 0``.

    Example::

        assert frequency(5).unwrap().value == 5
        assert frequency(0) == Error(NonPositiveArgument())
    """
    if require_int("frequency", n) <= 0:
        return Error(NonPositiveArgument())
    made = Frequency._make(n)
    assert isinstance(made, Frequency)
    return Ok(made)


def timeout(ms: int) -> Result[Timeout, EventSourcingError[Never]]:
    """Validate a timeout in milliseconds: ``Ok(Timeout)`` if ``ms > 0``.

    Example::

        assert timeout(5000).unwrap().value == 5000
        assert timeout(-1) == Error(NonPositiveArgument())
    """
    if require_int("timeout", ms) <= 0:
        return Error(NonPositiveArgument())
    made = Timeout._make(ms)
    assert isinstance(made, Timeout)
    return Ok(made)
