"""The command line's errors, and keeping a DSN's password out of everything it prints.

Every failure the command line expects (a missing file, a file that is not a store, a
server that does not answer) is raised as :class:`CliError` with a message of one line,
and ``__main__.main`` prints it on stderr and exits with the error's code: 2 for a usage
error (an argument that cannot be right), 1 for the rest. Messages go through a
:class:`Secrets` scrubber first, so a DSN's password never reaches the terminal, whatever
a driver put in its own message.
"""

from __future__ import annotations

import re

from typing_extensions import final

from .._stores.postgres.connection import describe_server, dsn_secrets, scrub, uri_reading

USAGE = 2
"""Exit status of a usage error: an argument that cannot be right, whatever the store holds."""

FAILURE = 1
"""Exit status of a runtime error: the file, the server or the data let the command down."""

POSTGRES_SCHEMES = ("postgresql", "postgres")
"""URL schemes that make a DB argument a PostgreSQL DSN rather than an SQLite path."""

# `key = value` pairs of a libpq connection string, which some users will pass by mistake
# (the CLI only takes URLs): enough to recognise one and keep it out of messages.
_KEYWORD_SECRET = re.compile(r"\b(?:ssl)?password\s*=", re.IGNORECASE)


@final
class CliError(Exception):
    """A failure the command line reports in one line on stderr, then exits with ``code``.

    Args:
        message: What went wrong, in one line, naming the file or server (never a password).
        code: The exit status: :data:`FAILURE` (the default) or :data:`USAGE`.
    """

    def __init__(self, message: str, code: int = FAILURE) -> None:
        super().__init__(message)
        self.code = code


def is_postgres_dsn(db: str) -> bool:
    """Whether the DB argument names a PostgreSQL server (by its URL scheme) not a file."""
    scheme, separator, _ = db.partition("://")
    return bool(separator) and scheme.lower() in POSTGRES_SCHEMES


def looks_like_keyword_dsn(db: str) -> bool:
    """Whether ``db`` looks like a libpq ``key=value`` string holding a password."""
    return _KEYWORD_SECRET.search(db) is not None


@final
class Secrets:
    """The texts that must never be printed, and the scrubber that blanks them.

    Built from the DB argument before anything else happens, so that every message,
    including one from a driver or an unexpected exception, can be scrubbed.
    """

    __slots__ = ("_texts",)

    def __init__(self, texts: tuple[str, ...] = ()) -> None:
        # Longest first, so that a secret containing another is blanked whole.
        self._texts = tuple(sorted({t for t in texts if t}, key=len, reverse=True))

    @classmethod
    def of_argument(cls, db: str | None) -> Secrets:
        """The secrets a DB argument may carry, in every way it may be read.

        A URL's password as written and decoded, also where an unescaped ``@`` or ``/``
        makes readings differ (``dsn_secrets``); a ``key=value`` string whole.
        """
        if db is None:
            return cls()
        texts: tuple[str, ...] = ()
        if "://" in db or looks_like_keyword_dsn(db):
            texts = dsn_secrets(db)
        if looks_like_keyword_dsn(db):
            texts += (db,)
        return cls(texts)

    @classmethod
    def of_arguments(cls, arguments: list[str]) -> Secrets:
        """The secrets of every argument of a command line (before it is even parsed)."""
        texts: tuple[str, ...] = ()
        for argument in arguments:
            texts += cls.of_argument(argument)._texts
            if argument.startswith("-") and "=" in argument:
                # `--option=value`: the value alone may be a URL.
                texts += cls.of_argument(argument.partition("=")[2])._texts
        return cls(texts)

    def including(self, texts: tuple[str, ...]) -> Secrets:
        """These secrets and ``texts`` (for instance what the driver found in the DSN)."""
        return Secrets(self._texts + texts)

    def scrub(self, text: str) -> str:
        """``text`` with every secret, and anything shaped like a password, as ``***``."""
        return scrub(text, self._texts)


def describe_dsn(db: str) -> str:
    """A PostgreSQL URL as it may be printed: its user, host, port and database only.

    Read as libpq reads a URL, without the driver; a part that holds or overlaps a
    password (a URL whose password has an unescaped ``@`` or ``/``) is shown as ``***``.
    """
    scheme = db.partition("://")[0]
    return f"{scheme}://{describe_server(uri_reading(db) or {}, dsn_secrets(db))}"


def one_line(text: str) -> str:
    """``text`` with its whitespace, newlines included, folded into single spaces."""
    return " ".join(text.split())
