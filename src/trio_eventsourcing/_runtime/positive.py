"""Validated positive numbers: :class:`Frequency` and :class:`Timeout`.

Neither has a public constructor: ``frequency`` and ``timeout`` (the event-sourcing
layer's functions, which report a bad number as the seed's error) check the number and
are the only way to get one, so an invalid value cannot exist. They live in the runtime
because its ``receive`` and ``call`` take a :class:`Timeout`.
"""

from __future__ import annotations

from typing import Literal, NoReturn

from typing_extensions import Never, TypeAliasType, final


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


# A checker knows an argument's sign only when it is a literal, and no type holds every
# negative literal: these name zero and the small negative literals one writes by mistake
# (0 for "do not wait", -1 for "for ever"), few enough for mypy to print in a message.
NegativeLiteral = TypeAliasType("NegativeLiteral", Literal[-1, -2, -3, -4, -5, -6, -7, -8, -9, -10])
"""The negative integer literals from -1 to -10, refused where milliseconds may be zero."""
NonPositiveLiteral = TypeAliasType(
    "NonPositiveLiteral", Literal[0, -1, -2, -3, -4, -5, -6, -7, -8, -9, -10]
)
"""Zero and the negative integer literals to -10, refused where milliseconds must be positive."""


@final
class InvalidDuration:
    """What a checker takes ``receive(subject, 0)`` to return: not awaitable, so refused.

    ``receive``, ``call`` and ``sleep`` take integer milliseconds, which no type can
    require to be positive. An overload gives a literal zero or small negative number
    (to ``-10``) this return type, so that mypy and pyright both refuse
    ``await receive(subject, 0)`` (``"InvalidDuration" is not awaitable``). Any other
    value that is not positive raises ``ValueError`` when the call runs; a
    :class:`~trio_eventsourcing.Timeout` is positive by construction. No value of this
    type exists.
    """

    __slots__ = ()

    def __init__(self, _private: Never) -> None:
        raise TypeError("InvalidDuration has no instances: it only marks a refused call")
