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
import urllib.parse

from typing_extensions import final

USAGE = 2
"""Exit status of a usage error: an argument that cannot be right, whatever the store holds."""

FAILURE = 1
"""Exit status of a runtime error: the file, the server or the data let the command down."""

POSTGRES_SCHEMES = ("postgresql", "postgres")
"""URL schemes that make a DB argument a PostgreSQL DSN rather than an SQLite path."""

_SECRET_PARAMETERS = frozenset({"password", "sslpassword"})
# `key = value` pairs of a libpq connection string, which some users will pass by mistake
# (the CLI only takes URLs): enough to recognise one and keep it out of messages.
_KEYWORD_SECRET = re.compile(r"\b(?:ssl)?password\s*=", re.IGNORECASE)
_KEYWORD_SECRET_VALUE = re.compile(
    r"\b(?:ssl)?password\s*=\s*('(?:[^'\\]|\\.)*'|[^\s]+)", re.IGNORECASE
)


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
        """The secrets a DB argument carries: a URL's password, decoded and as written."""
        if db is None:
            return cls()
        texts: set[str] = set()
        if is_postgres_dsn(db):
            try:
                url = urllib.parse.urlsplit(db)
                password = url.password
                query = urllib.parse.parse_qsl(url.query, keep_blank_values=True)
            except ValueError:
                # Not even a URL we can take apart: hide everything after the scheme.
                return cls((db.partition("://")[2],))
            raw_userinfo = url.netloc.rpartition("@")[0]
            if password is not None:
                raw_password = raw_userinfo.partition(":")[2]
                texts.update({password, raw_password, urllib.parse.unquote(raw_password)})
            for key, value in query:
                if key.lower() in _SECRET_PARAMETERS:
                    texts.update({value, urllib.parse.quote(value, safe="")})
        elif looks_like_keyword_dsn(db):
            texts.add(db)
            for value in _KEYWORD_SECRET_VALUE.findall(db):
                texts.update({value, value.strip("'")})
        return cls(tuple(texts))

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
        """``text`` with every secret replaced by ``***``."""
        for secret in self._texts:
            text = text.replace(secret, "***")
        return text


def describe_dsn(db: str) -> str:
    """A PostgreSQL URL as it may be printed: without its password or secret parameters."""
    try:
        url = urllib.parse.urlsplit(db)
        host = url.hostname or ""
        port = url.port
    except ValueError:
        return f"{db.partition('://')[0]}://(a URL that does not parse)"
    user = url.username
    netloc = f"{user}@" if user else ""
    netloc += f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    return urllib.parse.urlunsplit((url.scheme, netloc, url.path, "", ""))


def one_line(text: str) -> str:
    """``text`` with its whitespace, newlines included, folded into single spaces."""
    return " ".join(text.split())
