"""The store backends the command line can open, listed once.

A backend plugs into the command line with its descriptor (``<backend>/backend.py``, a
:class:`~.inspection.backend.Backend`): which DB arguments it claims, and how to open
its inspector. The memory store has none: its tables live in the process that runs it.
"""

from __future__ import annotations

from .inspection.backend import Backend
from .postgres.backend import BACKEND as POSTGRES
from .sqlite.backend import BACKEND as SQLITE

BACKENDS: tuple[Backend, ...] = (POSTGRES, SQLITE)
"""In the order they are asked: SQLite, which takes any path, comes last."""


def backend_for(db: str) -> Backend:
    """The first backend of :data:`BACKENDS` that claims the DB argument ``db``."""
    # SQLite claims every DB argument, so one always does.
    return next(backend for backend in BACKENDS if backend.claims(db))
