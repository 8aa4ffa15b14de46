"""Run-time sides of the typing fixes: what the checkers refuse also fails clearly when run."""

from __future__ import annotations

import pytest

from trio_eventsourcing import actor


def test_no_handler_marks_a_type_and_has_no_instances() -> None:
    with pytest.raises(TypeError, match="no instances"):
        actor.NoHandler(None)  # type: ignore[arg-type]
