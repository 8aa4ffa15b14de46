"""``Ok`` and ``Error``: the result values every operation of the library returns.

Modelled on ``outcome`` (which trio itself uses) and on Gleam's ``Result``: two final,
frozen, slotted generic classes that ``match`` and mypy both understand.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, NoReturn, TypeVar

from typing_extensions import TypeAliasType, TypeIs, final

T = TypeVar("T")
E = TypeVar("E")
U = TypeVar("U")
F = TypeVar("F")
T_co = TypeVar("T_co", covariant=True)
E_co = TypeVar("E_co", covariant=True)


def _frozen(self: object, name: str, value: object) -> NoReturn:
    raise AttributeError(f"{type(self).__name__} is immutable: cannot set {name!r}")


@final
class Ok(Generic[T_co]):
    """The success side of a :data:`Result`, holding ``value``.

    Example::

        match frequency(5):
            case Ok(freq):
                print(freq.value)
            case Error(reason):
                print(reason)
    """

    # A generic class cannot use ``@dataclass(slots=True)`` on Python 3.10-3.12
    # (``Ok[int](1)`` breaks), so the slots and immutability are written out by hand.
    __slots__ = ("_value",)
    _value: T_co
    __match_args__ = ("value",)

    def __init__(self, value: T_co) -> None:
        object.__setattr__(self, "_value", value)

    @property
    def value(self) -> T_co:
        """The successful value."""
        return self._value

    def __setattr__(self, name: str, value: object) -> NoReturn:
        _frozen(self, name, value)

    def __delattr__(self, name: str) -> NoReturn:
        _frozen(self, name, None)

    def __repr__(self) -> str:
        return f"Ok({self._value!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Ok) and self._value == other._value

    def __hash__(self) -> int:
        return hash((Ok, self._value))

    def __reduce__(self) -> tuple[type[Ok[T_co]], tuple[T_co]]:
        return (Ok, (self._value,))

    def is_ok(self) -> bool:
        """Return ``True``: this is the success side.

        A method cannot narrow the result it is called on; :func:`is_ok` does.
        """
        return True

    def is_error(self) -> bool:
        """Return ``False``: this is the success side.

        A method cannot narrow the result it is called on; :func:`is_error` does.
        """
        return False

    def unwrap(self) -> T_co:
        """Return the value (an :class:`Error` raises instead)."""
        return self._value


@final
class Error(Generic[E_co]):
    """The failure side of a :data:`Result`, holding ``error``.

    Example::

        assert timeout(0) == Error(NonPositiveArgument())
    """

    __slots__ = ("_error",)
    _error: E_co
    __match_args__ = ("error",)

    def __init__(self, error: E_co) -> None:
        object.__setattr__(self, "_error", error)

    @property
    def error(self) -> E_co:
        """The reason for the failure."""
        return self._error

    def __setattr__(self, name: str, value: object) -> NoReturn:
        _frozen(self, name, value)

    def __delattr__(self, name: str) -> NoReturn:
        _frozen(self, name, None)

    def __repr__(self) -> str:
        return f"Error({self._error!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Error) and self._error == other._error

    def __hash__(self) -> int:
        return hash((Error, self._error))

    def __reduce__(self) -> tuple[type[Error[E_co]], tuple[E_co]]:
        return (Error, (self._error,))

    def is_ok(self) -> bool:
        """Return ``False``: this is the failure side.

        A method cannot narrow the result it is called on; :func:`is_ok` does.
        """
        return False

    def is_error(self) -> bool:
        """Return ``True``: this is the failure side.

        A method cannot narrow the result it is called on; :func:`is_error` does.
        """
        return True

    def unwrap(self) -> NoReturn:
        """Raise :class:`~trio_eventsourcing.result.UnwrapError`: an ``Error`` holds no value."""
        raise UnwrapError(self._error)


Result = TypeAliasType("Result", "Ok[T] | Error[E]", type_params=(T, E))
"""Either ``Ok(value)`` or ``Error(error)``, like Gleam's ``Result(value, error)``."""


@final
class UnwrapError(Exception):
    """Raised by :meth:`Error.unwrap`; ``args[0]`` is the error that was unwrapped."""


def is_ok(result: Result[T, E]) -> TypeIs[Ok[T]]:
    """Whether ``result`` is an ``Ok`` (Gleam's ``result.is_ok``), narrowing it for checkers.

    After ``if is_ok(result):`` mypy and pyright know ``result`` is an ``Ok`` there and an
    ``Error`` in the ``else`` branch, as after ``isinstance(result, Ok)``.

    Example::

        result: Result[int, str] = Ok(2)
        if is_ok(result):
            assert result.value == 2
    """
    return type(result) is Ok


def is_error(result: Result[T, E]) -> TypeIs[Error[E]]:
    """Whether ``result`` is an ``Error`` (Gleam's ``result.is_error``), narrowing it for checkers.

    After ``if is_error(result):`` mypy and pyright know ``result`` is an ``Error`` there
    and an ``Ok`` in the ``else`` branch.

    Example::

        result: Result[int, str] = Error("no")
        if is_error(result):
            assert result.error == "no"
    """
    return type(result) is Error


def map(result: Result[T, E], fn: Callable[[T], U]) -> Result[U, E]:
    """Apply ``fn`` to the value of an ``Ok``; return an ``Error`` unchanged.

    Example::

        assert map(Ok(2), lambda n: n * 10) == Ok(20)
    """
    if isinstance(result, Ok):
        return Ok(fn(result.value))
    return result


def map_error(result: Result[T, E], fn: Callable[[E], F]) -> Result[T, F]:
    """Apply ``fn`` to the error of an ``Error``; return an ``Ok`` unchanged.

    Example::

        assert map_error(Error("x"), str.upper) == Error("X")
    """
    if isinstance(result, Error):
        return Error(fn(result.error))
    return result


def try_(result: Result[T, E], fn: Callable[[T], Result[U, E]]) -> Result[U, E]:
    """Chain ``fn`` onto an ``Ok`` (Gleam's ``result.try``); an ``Error`` short-circuits.

    Example::

        assert try_(Ok(2), lambda n: Ok(n + 1)) == Ok(3)
    """
    if isinstance(result, Ok):
        return fn(result.value)
    return result
