"""The benchmark report compares this library with the faster peer variant, and the peer's
cached runs are checked like its uncached ones (``tests/benchmarks``, run by ``nox -s bench``).
"""

from __future__ import annotations

import statistics
from decimal import Decimal
from typing import Any

import pytest

from tests.benchmarks import run
from tests.benchmarks.run import Job, Measurement, Outcome, Plan, Row, Slot, Summary
from tests.benchmarks.workload import sizes


def _outcomes(*values: float) -> list[Outcome]:
    return [Outcome({"commands_per_s": value, "seconds": value}, {"peak": 1.0}) for value in values]


def _plan(outcomes: dict[str, list[Outcome]]) -> Plan:
    plan = Plan()
    plan.measurements["m"] = Measurement("m", "m", [], outcomes=dict(outcomes))
    return plan


def _row(unit: str) -> Row:
    return Row("section", "label", unit, unit != "s", ("m", _figure(unit)), ("m", _figure(unit)))


def _figure(unit: str) -> str:
    return "seconds" if unit == "s" else "commands_per_s"


def test_a_cached_peer_job_has_a_slot_of_its_own() -> None:
    uncached, cached = run.peer_twins("w1", "popo", {"read_log": True}, read_log=False)
    assert (uncached.slot, cached.slot) == ("peer", "peer_cached")
    assert uncached.args == {"read_log": True, "cache": False}
    assert cached.args == {"read_log": False, "cache": True}
    assert Job("ours", "w1", "memory", {"cache": True}).slot == "ours"


@pytest.mark.parametrize(
    ("unit", "uncached", "cached", "best", "expected"),
    [
        # Rates: the higher median wins; the ratio is ours over it.
        ("commands/s", [100.0, 110.0, 90.0], [300.0, 250.0, 400.0], "peer_cached", 3.0),
        ("commands/s", [500.0, 450.0, 550.0], [300.0, 250.0, 400.0], "peer", 1.8),
        # Times: the lower median wins; the ratio is its over ours.
        ("s", [0.5, 0.4, 0.6], [0.2, 0.1, 0.3], "peer_cached", 0.2 / 0.9),
        ("s", [0.1, 0.1, 0.1], [0.2, 0.1, 0.3], "peer", 0.1 / 0.9),
    ],
)
def test_the_ratio_is_against_the_faster_peer_variant_by_medians(
    unit: str, uncached: list[float], cached: list[float], best: Slot, expected: float
) -> None:
    ours = [900.0, 800.0, 1000.0] if unit != "s" else [0.9, 0.8, 1.0]
    plan = _plan(
        {"ours": _outcomes(*ours), "peer": _outcomes(*uncached), "peer_cached": _outcomes(*cached)}
    )
    row = _row(unit)
    found = run.compare(plan, row)
    assert found.best == best
    assert found.peer == found.peers[best]
    assert run.ratio(row, found.ours, found.peer) == pytest.approx(expected)
    # The report names the faster variant and keeps both figures in the JSON.
    plan.rows.append(row)
    line = run.table(plan)[-1]
    assert run.PEER_VARIANT[best] in line.split()
    rows = run.to_json(plan, {}, sizes(True), [], [])["rows"]
    assert isinstance(rows, list)
    json_row: dict[str, Any] = rows[0]
    assert json_row["peer_best"] == run.PEER_VARIANT[best]
    assert json_row["peer_uncached"]["median"] == statistics.median(uncached)
    assert json_row["peer_cached"]["median"] == statistics.median(cached)
    assert json_row["ratio"] == pytest.approx(expected)


def test_a_tie_goes_to_the_uncached_peer() -> None:
    row = _row("commands/s")
    same = Summary(5.0, 5.0, 5.0, [5.0])
    peers: dict[Slot, Summary] = {"peer_cached": same, "peer": same}
    assert run.best_peer(row, peers) == "peer"


def test_one_peer_variant_is_the_best_and_the_table_says_why_there_is_no_other() -> None:
    plan = _plan({"ours": _outcomes(1.0), "peer": _outcomes(2.0)})
    row = _row("s")
    plan.rows.append(row)
    found = run.compare(plan, row)
    assert (found.best, run.ratio(row, found.ours, found.peer)) == ("peer", 2.0)
    assert "n/a (d)" in run.table(plan)[-1]
    no_peer = _plan({"ours": _outcomes(1.0)})
    found = run.compare(no_peer, row)
    assert (found.best, found.peer, run.ratio(row, found.ours, found.peer)) == (None, None, None)


def test_only_the_peer_write_paths_get_a_cached_twin() -> None:
    workload = sizes(True)
    plan = run.build_plan(workload, True, {"memory", "sqlite"})
    twinned = {
        key
        for key, measurement in plan.measurements.items()
        if any(job.slot == "peer_cached" for job in measurement.jobs)
    }
    assert twinned == {
        "memory.w1_seq",
        "memory.w1_conc",
        "sqlite.w1_seq",
        "sqlite.w1_conc",
        *(f"w4.threads{n}" for n in workload.client_series if n > 1),
        *(f"w4.live{n}" for n in workload.live_series),
        "scale.stream",
    }
    for key, measurement in plan.measurements.items():
        for job in measurement.jobs:
            if job.task == "cold_load":
                assert "cache" not in job.args, key
            if job.slot == "peer_cached" and job.task == "w1":
                assert job.args["read_log"] is False, key  # W3 from the uncached run only


def test_the_peer_cache_setting_and_the_check_of_its_balances() -> None:
    pytest.importorskip("eventsourcing")
    from tests.benchmarks import peer

    target = peer.PeerTarget("popo")
    assert peer.environment(target)["AGGREGATE_CACHE_MAXSIZE"] == ""
    assert peer.environment(target, cache=True)["AGGREGATE_CACHE_FASTFORWARD"] == "n"
    figures = peer.w1(target, True, 5, "check", False, False, cache=True)
    assert figures["accounts_checked"] == sizes(True).accounts
    app = peer._app(target, cache=True)
    try:
        uuid = app.open("a")
        app.deposit(uuid, Decimal(10))
        assert app.repository.cache is not None
        peer.verify(target, app.recorder, {"a": uuid}, {"a": (2, Decimal(10))})
        with pytest.raises(RuntimeError, match="not"):
            peer.verify(target, app.recorder, {"a": uuid}, {"a": (2, Decimal(20))})
    finally:
        app.close()
