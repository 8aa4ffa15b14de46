"""What a store backend gives the command line: the DB arguments it claims, its inspector.

Each backend that keeps its tables outside the process (``sqlite/backend.py``,
``postgres/backend.py``) describes itself with one :class:`Backend`, and
``_stores.backends`` lists them once. The command line asks the list for the backend
that claims a DB argument and opens that backend's inspector; it imports no backend
itself. A descriptor is light: its module imports nothing of its backend until an
inspector is opened (psycopg only for a PostgreSQL URL).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from typing_extensions import final

from .records import Inspector


class OpenInspector(Protocol):
    """Open, checked, the store a DB argument names (a backend's :attr:`Backend.open_inspector`)."""

    def __call__(
        self, db: str, *, schema: str | None, table_prefix: str | None, write: bool
    ) -> Inspector:
        """Open the store ``db`` names (read-only unless ``write``) and check it is one.

        ``schema`` and ``table_prefix`` choose the store's tables where a server holds
        several (``None``: the backend's default).

        Raises:
            InspectionError: The store cannot be opened, or is not a trio-eventsourcing store.
        """
        ...


@final
@dataclass(frozen=True, slots=True)
class Backend:
    """A store backend, as the command line finds it: by the DB arguments it claims."""

    name: str
    """The backend's name (``"SQLite"``, ``"PostgreSQL"``)."""
    claims: Callable[[str], bool]
    """Whether a DB argument names a store of this backend."""
    open_inspector: OpenInspector
    """Open the store of a DB argument this backend claims."""
