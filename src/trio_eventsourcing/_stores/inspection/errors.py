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


_KEYWORD_PAIR = re.compile(r"(?:^|\s)([a-z_]+)\s*=\s*(\S*)")
_CONNECTION_KEYWORDS = frozenset({"host", "hostaddr", "port", "dbname", "user", "sslmode"})


def url_for_keywords(db: str) -> str | None:
    """The ``postgresql://`` URL a libpq ``key=value`` string without a password means.

    ``None`` if ``db`` is not such a string (no ``key=value`` pair of a connection).

    Example::

        url_for_keywords("host=db port=5433 dbname=bank")  # "postgresql://db:5433/bank"
    """
    pairs = dict(_KEYWORD_PAIR.findall(db))
    if not pairs or not _CONNECTION_KEYWORDS.intersection(pairs):
        return None
    user = f"{pairs['user']}@" if pairs.get("user") else ""
    host = pairs.get("host") or pairs.get("hostaddr") or "localhost"
    port = f":{pairs['port']}" if pairs.get("port") else ""
    return f"postgresql://{user}{host}{port}/{pairs.get('dbname', '')}"


def looks_like_keyword_dsn(db: str) -> bool:
    """Whether ``db`` looks like a libpq ``key=value`` string holding a password."""
    return _KEYWORD_SECRET.search(db) is not None


def one_line(text: str) -> str:
    """``text`` with its whitespace, newlines included, folded into single spaces."""
    return " ".join(text.split())
