"""Fixtures of the PostgreSQL tests: the server's DSN and a throwaway schema per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.postgres.helpers import require_driver, require_server, throwaway_schema


@pytest.fixture
def driver() -> None:
    """psycopg, for tests that need no server; skipped (or failed, in CI) without it."""
    require_driver()


@pytest.fixture
def dsn() -> str:
    """The test server's DSN; the test is skipped (or fails, in CI) if none answers."""
    return require_server()


@pytest.fixture
def schema(dsn: str) -> Iterator[str]:
    """A schema of the test's own, dropped with everything in it afterwards."""
    with throwaway_schema(dsn) as name:
        yield name
