"""Fixtures of the soak: the private PostgreSQL cluster, the seed, the summary lines.

The cluster is started once per session (``initdb`` takes about a second) and stopped
and removed at its end, also when a test fails. Without the server binaries (or
psycopg) the PostgreSQL soak is skipped with the reason, unless
``TRIO_ES_REQUIRE_POSTGRES=1``: then it fails, as the PostgreSQL tests do.

Every test's summary line is printed in pytest's terminal summary (section "soak"),
appended to ``TRIO_ES_SOAK_SUMMARY`` if that names a file, and the seed of a failed test
is added to its report so the run can be replayed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Generator, Iterator

import pytest

from tests.soak import settings
from tests.soak.cluster import PrivateCluster, find_bindir, private_cluster

_SUMMARIES = pytest.StashKey[list[str]]()
_SEED = pytest.StashKey[int]()


def _skip_or_fail(problem: str) -> None:
    if os.environ.get("TRIO_ES_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"TRIO_ES_REQUIRE_POSTGRES=1 but {problem}", pytrace=False)
    pytest.skip(problem)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PrivateCluster]:
    """A private PostgreSQL cluster that the test may crash and restart."""
    try:
        import psycopg  # noqa: F401
    except ImportError as exc:
        _skip_or_fail(
            f'psycopg is not installed ({exc}): pip install "trio-eventsourcing[postgres]"'
        )
    bindir, problem = find_bindir()
    if bindir is None:
        _skip_or_fail(f"cannot start a private PostgreSQL cluster: {problem}")
        raise AssertionError("unreachable")  # pragma: no cover - skip and fail raise
    with private_cluster(bindir) as cluster:
        yield cluster


@pytest.fixture
def soak_seed(request: pytest.FixtureRequest) -> int:
    """The seed of this test's random choices (``TRIO_ES_SOAK_SEED``, or a fresh one)."""
    seed = settings.soak_seed()
    request.node.stash[_SEED] = seed
    return seed


@pytest.fixture
def soak_summary(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Record the test's one-line summary (printed at the end of the session)."""

    def record(line: str) -> None:
        request.config.stash.setdefault(_SUMMARIES, []).append(line)
        path = settings.summary_file()
        if path is not None:
            with open(path, "a", encoding="utf-8") as file:
                file.write(line + "\n")

    return record


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    seed = item.stash.get(_SEED, None)
    if report.failed and seed is not None:
        report.sections.append(
            ("soak seed", f"replay this run with {settings.SEED_VARIABLE}={seed}")
        )
    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    lines = terminalreporter.config.stash.get(_SUMMARIES, [])
    if lines:
        terminalreporter.section("soak")
        for line in lines:
            terminalreporter.write_line(line)
