"""Run-time sides of the typing fixes: what the checkers refuse also fails clearly when run."""

from __future__ import annotations

import pytest

from trio_eventsourcing import actor, result
from trio_eventsourcing.result import Error, Ok


def test_no_handler_marks_a_type_and_has_no_instances() -> None:
    with pytest.raises(TypeError, match="no instances"):
        actor.NoHandler(None)  # type: ignore[arg-type]


def test_is_ok_and_is_error_answer_as_the_methods() -> None:
    for value in (Ok(1), Error("no"), Ok(None), Error(None)):
        assert result.is_ok(value) is value.is_ok()
        assert result.is_error(value) is value.is_error()
