"""The error of an inspection, and the text helpers the inspectors share.

An inspector raises :class:`InspectionError` with a message of one line that names the
file or server, never a password. The command line reports it as its own error, with
the same message: a usage error (exit status 2) where :attr:`InspectionError.usage` is
set, a failure (exit status 1) otherwise.
"""

from __future__ import annotations

import re

from typing_extensions import final

# `key = value` pairs of a libpq connection string, which some users will pass by mistake
# (the command line only takes URLs): enough to recognise one and keep it out of messages.
_KEYWORD_SECRET = re.compile(r"\b(?:ssl)?password\s*=", re.IGNORECASE)


@final
class InspectionError(Exception):
    """A store that cannot be inspected, or a query on it that failed, said in one line.

    Args:
        message: What went wrong, in one line, naming the file or server (never a password).
        usage: Whether an argument cannot be right, whatever the store holds (a DB argument
            or option that names no store, an ambiguous choice), rather than the file, the
            server or the data letting the inspection down.
    """

    def __init__(self, message: str, *, usage: bool = False) -> None:
        super().__init__(message)
        self.usage = usage


def looks_like_keyword_dsn(db: str) -> bool:
    """Whether ``db`` looks like a libpq ``key=value`` string holding a password."""
    return _KEYWORD_SECRET.search(db) is not None


def one_line(text: str) -> str:
    """``text`` with its whitespace, newlines included, folded into single spaces."""
    return " ".join(text.split())
