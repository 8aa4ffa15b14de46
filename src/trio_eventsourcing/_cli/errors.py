"""The command line's errors, and keeping a DSN's password out of everything it prints.

Every failure the command line expects (a missing file, a file that is not a store, a
server that does not answer) is raised as :class:`CliError` with a message of one line,
and ``__main__.main`` prints it on stderr and exits with the error's code: 2 for a usage
error (an argument that cannot be right), 1 for the rest. A store's inspector raises
``InspectionError`` (``_stores.inspection.errors``) instead, which :func:`store_errors`
turns into the :class:`CliError` of the same message and status. Messages go through a
:class:`Secrets` scrubber first, so a DSN's password never reaches the terminal, whatever
a driver put in its own message.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from typing_extensions import final

from .._stores.inspection.errors import InspectionError, looks_like_keyword_dsn
from .._stores.inspection.errors import one_line as one_line
from .._stores.postgres.connection import dsn_secrets, scrub

USAGE = 2
"""Exit status of a usage error: an argument that cannot be right, whatever the store holds."""

FAILURE = 1
"""Exit status of a runtime error: the file, the server or the data let the command down."""


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


@contextlib.contextmanager
def store_errors() -> Iterator[None]:
    """Report a store's ``InspectionError`` in the block as the :class:`CliError` it says.

    The same message, with :data:`USAGE` for a usage error and :data:`FAILURE` otherwise.
    """
    try:
        yield
    except InspectionError as exc:
        raise CliError(str(exc), code=USAGE if exc.usage else FAILURE) from None


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
