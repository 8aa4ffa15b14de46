"""A process manager's pending timers: the soonest first, moved and cancelled ones gone."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from trio_eventsourcing._processes.timers import Timers


def test_the_soonest_timer_comes_first() -> None:
    timers = Timers()
    timers.set(("a", "late"), 30.0, "k1")
    timers.set(("b", "early"), 10.0, "k2")
    assert timers.soonest() == (("b", "early"), 10.0, "k2")
    assert len(timers) == 2


def test_a_moved_timer_is_due_at_its_new_time_only() -> None:
    timers = Timers()
    timers.set(("a", "t"), 10.0, "k1")
    timers.set(("a", "t"), 50.0, "k2")
    timers.set(("b", "t"), 20.0, "k3")
    assert timers.soonest() == (("b", "t"), 20.0, "k3")
    timers.cancel(("b", "t"))
    assert timers.soonest() == (("a", "t"), 50.0, "k2")
    assert len(timers) == 1


def test_cancelling_an_instance_cancels_its_timers_only() -> None:
    timers = Timers()
    timers.set(("a", "x"), 1.0, "k")
    timers.set(("a", "y"), 2.0, "k")
    timers.set(("b", "x"), 3.0, "k")
    assert sorted(timers.cancel_instance("a")) == [("a", "x"), ("a", "y")]
    assert timers.soonest() == (("b", "x"), 3.0, "k")
    assert timers.cancel_instance("a") == []
    assert not timers.cancel(("a", "x"))


Operation = tuple[str, str, str, float]


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["set", "cancel", "cancel_instance"]),
            st.sampled_from(["a", "b", "c"]),
            st.sampled_from(["x", "y"]),
            st.floats(0, 100, allow_nan=False),
        ),
        max_size=60,
    )
)
def test_the_soonest_is_the_earliest_of_those_pending(operations: list[Operation]) -> None:
    timers = Timers()
    model: dict[tuple[str, str], float] = {}
    for index, (operation, instance, name, due) in enumerate(operations):
        if operation == "set":
            timers.set((instance, name), due, f"k{index}")
            model[(instance, name)] = due
        elif operation == "cancel":
            assert timers.cancel((instance, name)) == (
                model.pop((instance, name), None) is not None
            )
        else:
            cancelled = timers.cancel_instance(instance)
            assert sorted(cancelled) == sorted(k for k in model if k[0] == instance)
            model = {k: v for k, v in model.items() if k[0] != instance}
        soonest = timers.soonest()
        if model:
            assert soonest is not None
            assert soonest[1] == min(model.values())
            assert model[soonest[0]] == soonest[1]
        else:
            assert soonest is None
        assert len(timers) == len(model)
