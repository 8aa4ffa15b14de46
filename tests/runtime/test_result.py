"""``Ok``/``Error`` results and the validated values ``Frequency`` and ``Timeout``."""

from __future__ import annotations

import pickle

import pytest
from typing_extensions import assert_type

from trio_eventsourcing._core.errors import NonPositiveArgument
from trio_eventsourcing._core.values import Frequency, Timeout, frequency, timeout
from trio_eventsourcing.result import Error, Ok, Result, UnwrapError, map, map_error, try_


def _parse(text: str) -> Result[int, str]:
    return Ok(int(text)) if text.isdigit() else Error(f"not a number: {text!r}")


# --- equality, hashing, repr -------------------------------------------------------------


def test_ok_equals_ok_with_an_equal_value() -> None:
    assert Ok(1) == Ok(1)
    assert Ok(1) != Ok(2)


def test_error_equals_error_with_an_equal_error() -> None:
    assert Error("x") == Error("x")
    assert Error("x") != Error("y")


def test_ok_never_equals_error_holding_the_same_payload() -> None:
    assert Ok(1) != Error(1)
    assert Error(1) != Ok(1)


def test_result_never_equals_its_bare_payload() -> None:
    assert Ok(1) != 1
    assert Error(None) != None  # noqa: E711 - the comparison under test


def test_equal_results_hash_equal() -> None:
    assert hash(Ok((1, "a"))) == hash(Ok((1, "a")))
    assert hash(Error("x")) == hash(Error("x"))


def test_ok_and_error_with_one_payload_are_distinct_set_members() -> None:
    assert len({Ok(1), Ok(1), Error(1), Error(1)}) == 2


def test_repr_shows_the_side_and_the_payload() -> None:
    assert repr(Ok("a")) == "Ok('a')"
    assert repr(Error(None)) == "Error(None)"


# --- match and narrowing ------------------------------------------------------------------


def test_match_binds_the_value_of_ok() -> None:
    match _parse("41"):
        case Ok(number):
            assert_type(number, int)
            assert number + 1 == 42
        case Error(reason):
            pytest.fail(f"unexpected {reason}")


def test_match_binds_the_error_of_error() -> None:
    match _parse("x"):
        case Ok(number):
            pytest.fail(f"unexpected {number}")
        case Error(reason):
            assert_type(reason, str)
            assert reason == "not a number: 'x'"


def test_isinstance_narrows_a_result() -> None:
    result = _parse("7")
    if isinstance(result, Ok):
        assert_type(result, Ok[int])
        assert result.value == 7
    else:
        assert_type(result, Error[str])
        pytest.fail(result.error)


def test_is_ok_and_is_error_tell_the_sides_apart() -> None:
    assert Ok(1).is_ok()
    assert not Ok(1).is_error()
    assert Error(1).is_error()
    assert not Error(1).is_ok()


# --- immutability and pickling ------------------------------------------------------------


def test_ok_is_immutable() -> None:
    ok = Ok(1)
    with pytest.raises(AttributeError, match="immutable"):
        ok._value = 2
    with pytest.raises(AttributeError, match="immutable"):
        del ok._value
    assert ok == Ok(1)


def test_error_is_immutable() -> None:
    error = Error("x")
    with pytest.raises(AttributeError, match="immutable"):
        error._error = "y"
    assert error == Error("x")


def test_results_have_slots_not_a_dict() -> None:
    assert not hasattr(Ok(1), "__dict__")
    assert not hasattr(Error(1), "__dict__")


def test_parametrised_ok_survives_a_pickle_round_trip() -> None:
    ok = Ok[int](1)
    restored = pickle.loads(pickle.dumps(ok))
    assert restored == ok
    assert type(restored) is Ok


def test_parametrised_error_survives_a_pickle_round_trip() -> None:
    error = Error[str]("x")
    restored = pickle.loads(pickle.dumps(error))
    assert restored == error
    assert type(restored) is Error


# --- unwrap, map, map_error, try_ ---------------------------------------------------------


def test_unwrap_of_ok_returns_the_value() -> None:
    assert Ok("v").unwrap() == "v"


def test_unwrap_of_error_raises_unwrap_error_carrying_the_error() -> None:
    with pytest.raises(UnwrapError) as raised:
        Error("boom").unwrap()
    assert raised.value.args == ("boom",)


def test_map_applies_the_function_to_an_ok() -> None:
    assert map(_parse("2"), lambda n: n * 10) == Ok(20)


def test_map_passes_an_error_through_unchanged() -> None:
    assert map(_parse("x"), lambda n: n * 10) == Error("not a number: 'x'")


def test_map_error_applies_the_function_to_an_error() -> None:
    assert map_error(_parse("x"), str.upper) == Error("NOT A NUMBER: 'X'")


def test_map_error_passes_an_ok_through_unchanged() -> None:
    assert map_error(_parse("3"), str.upper) == Ok(3)


def test_try_chains_a_function_onto_an_ok() -> None:
    assert try_(_parse("2"), lambda n: _parse(str(n + 1))) == Ok(3)


def test_try_returns_the_error_of_the_chained_function() -> None:
    assert try_(_parse("2"), lambda _: _parse("y")) == Error("not a number: 'y'")


def test_try_short_circuits_on_an_error() -> None:
    called: list[int] = []

    def record(n: int) -> Result[int, str]:
        called.append(n)
        return Ok(n)

    assert try_(_parse("x"), record) == Error("not a number: 'x'")
    assert called == []


# --- frequency() and timeout() ------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 5, 10**12])
def test_frequency_of_a_positive_int_is_ok(n: int) -> None:
    result = frequency(n)
    assert isinstance(result, Ok)
    assert isinstance(result.value, Frequency)
    assert result.value.value == n


@pytest.mark.parametrize("ms", [1, 5_000, 10**12])
def test_timeout_of_a_positive_int_is_ok(ms: int) -> None:
    result = timeout(ms)
    assert isinstance(result, Ok)
    assert isinstance(result.value, Timeout)
    assert result.value.value == ms


def test_timeout_reads_back_in_seconds() -> None:
    assert timeout(1_500).unwrap().seconds == 1.5


@pytest.mark.parametrize("n", [0, -1, -(10**12)])
def test_frequency_of_zero_or_less_is_non_positive_argument(n: int) -> None:
    assert frequency(n) == Error(NonPositiveArgument())


@pytest.mark.parametrize("ms", [0, -1, -(10**12)])
def test_timeout_of_zero_or_less_is_non_positive_argument(ms: int) -> None:
    assert timeout(ms) == Error(NonPositiveArgument())


@pytest.mark.parametrize("bad", [True, False, 1.0, 2.5, "3", None])
def test_frequency_of_a_non_int_raises_type_error_naming_the_argument(bad: object) -> None:
    with pytest.raises(TypeError, match="frequency must be an int"):
        frequency(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [True, False, 1.0, 2.5, "3", None])
def test_timeout_of_a_non_int_raises_type_error_naming_the_argument(bad: object) -> None:
    with pytest.raises(TypeError, match="timeout must be an int"):
        timeout(bad)  # type: ignore[arg-type]


def test_frequency_has_no_public_constructor() -> None:
    with pytest.raises(TypeError, match="no public constructor"):
        Frequency(3)  # type: ignore[arg-type]


def test_timeout_has_no_public_constructor() -> None:
    with pytest.raises(TypeError, match="no public constructor"):
        Timeout(3)  # type: ignore[arg-type]


def test_validated_values_are_immutable() -> None:
    freq = frequency(3).unwrap()
    with pytest.raises(AttributeError, match="immutable"):
        freq._value = 0
    assert freq.value == 3


def test_validated_values_compare_by_type_and_number() -> None:
    assert frequency(3) == frequency(3)
    assert frequency(3) != frequency(4)
    assert frequency(3).unwrap() != timeout(3).unwrap()
    assert hash(frequency(3).unwrap()) == hash(frequency(3).unwrap())


def test_frequency_survives_a_pickle_round_trip() -> None:
    freq = frequency(7).unwrap()
    restored = pickle.loads(pickle.dumps(freq))
    assert restored == freq
    assert type(restored) is Frequency


def test_timeout_survives_a_pickle_round_trip() -> None:
    ms = timeout(250).unwrap()
    restored = pickle.loads(pickle.dumps(ms))
    assert restored == ms
    assert type(restored) is Timeout
    assert restored.seconds == 0.25


def test_pickled_ok_of_a_validated_value_round_trips() -> None:
    result = frequency(2)
    assert pickle.loads(pickle.dumps(result)) == result
