"""How the PostgreSQL store reaches its server: the driver, the DSN, connections, errors.

psycopg is an optional dependency (the ``postgres`` extra), so it is imported here, lazily,
and only when a store is described: ``import trio_eventsourcing`` never needs it.

The DSN may hold a password. It is kept in one field that no ``repr`` shows and is only
ever handed to the driver; what the store prints is :attr:`Options.server`, a description
built from the parsed parameters, never from the DSN's text, and every message built from
a driver error goes through :meth:`Options.scrub`, which blanks the password should a
driver message ever echo it. Driver exceptions are never chained to the errors the store
raises or returns (their text could hold anything), their scrubbed text is copied into
the message instead.

A malformed DSN must not leak either: a URI whose password holds an unescaped ``@`` or
``/`` (``postgresql://u:pa@ss/word@host/db``) is read by libpq as password ``pa``, host
``ss`` and database ``word@host/db``, and a ``dbname`` may itself hold a URI with a
password. So the secrets are taken from every plausible reading of the DSN
(:func:`dsn_secrets`): libpq's, each ``@`` of a URI as the end of its user info, every
``password=`` parameter, every URI nested in a parameter. A part of the description that
overlaps one of them is shown as ``***`` (and, when the readings disagree, is a secret
too); :meth:`Options.scrub` blanks each secret, then anything shaped like a password.
While :func:`connect` runs, the driver's own log records of that thread are scrubbed the
same way (:class:`_ScrubDriverRecords`).
"""

from __future__ import annotations

import logging
import math
import re
import threading
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from typing_extensions import final

from ..._core.errors import StoreFailure

if TYPE_CHECKING:
    import psycopg

    Connection = psycopg.Connection[tuple[Any, ...]]
    """A psycopg connection with the default (tuple) rows."""

INSTALL_HINT = 'pip install "trio-eventsourcing[postgres]"'

_SECRET_KEYS = ("password", "sslpassword")
"""Connection parameters whose values never appear in a message."""

_URI_START = re.compile(r"postgres(?:ql)?://", re.IGNORECASE)
_KEYWORD_PASSWORD = re.compile(r"\b(?:ssl)?password\s*=\s*('(?:[^'\\]|\\.)*'?|\S*)", re.IGNORECASE)
_QUERY_PASSWORD = re.compile(r"[?&](?:ssl)?password=([^&#\s]*)", re.IGNORECASE)
# What a password looks like in any text, whatever its value: `password=...` (quoted or
# not) and the user info of a URI, up to its last `@` before a space.
_SHAPED_KEYWORD = re.compile(
    r"(\b(?:ssl)?password\s*=\s*)('(?:[^'\\]|\\.)*'?|[^\s&]+)", re.IGNORECASE
)
_SHAPED_USERINFO = re.compile(r"(postgres(?:ql)?://[^\s:/@?]*:)\S*@", re.IGNORECASE)
_NESTING = 3
"""How deep parameters holding DSNs are searched for secrets (a DSN in a dbname in ...)."""
_DESCRIBED = (("user",), ("host", "hostaddr"), ("port",), ("dbname",))

_NAME = re.compile(r"[a-z_][a-z0-9_]*")
_PREFIX = re.compile(r"([a-z_][a-z0-9_]*)?")
_MAX_IDENTIFIER = 63
"""PostgreSQL truncates longer identifiers (NAMEDATALEN - 1 bytes)."""


def require_driver() -> None:
    """Import psycopg, or raise an ImportError that says how to get it.

    Raises:
        ImportError: The ``postgres`` extra is not installed.
    """
    try:
        import psycopg  # noqa: F401
    except ImportError as exc:
        raise ImportError(f"the PostgreSQL store needs psycopg 3 ({exc}): {INSTALL_HINT}") from exc


@final
@dataclass(frozen=True, slots=True)
class Options:
    """How to reach the server and where the store's tables are (checked by ``supervised``)."""

    conninfo: str = field(repr=False)
    """The DSN exactly as given: for the driver only, never for a message."""
    server: str
    """The DSN described without its password, for messages and reprs."""
    secrets: tuple[str, ...] = field(repr=False)
    """Texts that must never appear in a message: see :func:`dsn_secrets`."""
    dsn_keys: frozenset[str]
    """The parameters the DSN sets, which the store's defaults never override."""
    schema: str
    table_prefix: str
    max_readers: int
    connect_timeout: float
    retry_timeout: float

    def scrub(self, text: str) -> str:
        """``text`` with every secret, and anything shaped like a password, as ``***``."""
        return scrub(text, self.secrets)

    def driver_error(self, operation: str, exc: BaseException) -> str:
        """Describe a failed driver call, without the driver's exception and without secrets."""
        detail = " ".join(str(exc).split()) or "no detail"
        return self.scrub(
            f"{operation} failed on PostgreSQL {self.server}: {type(exc).__name__}: {detail}"
        )

    def application_name(self, role: str) -> str:
        """The ``application_name`` of the store's connections, unless the DSN sets one."""
        return f"trio-eventsourcing {role} {self.schema}.{self.table_prefix}"[:_MAX_IDENTIFIER]


def check_schema_name(schema: object) -> str:
    """Return ``schema`` if it is a lower-case SQL identifier, else raise a clear error."""
    if not isinstance(schema, str):
        raise TypeError(f"schema must be a str, got {type(schema).__name__}")
    if not _NAME.fullmatch(schema) or len(schema) > _MAX_IDENTIFIER:
        raise ValueError(
            f"schema must be a lower-case SQL identifier of at most {_MAX_IDENTIFIER} "
            f"characters (letters a-z, digits and _, not starting with a digit), got {schema!r}"
        )
    return schema


def check_table_prefix(prefix: object) -> str:
    """Return ``prefix`` if it can start a lower-case SQL identifier, else raise.

    Its length is checked against the names the store makes of it by
    ``_stores.postgres.schema.check_names``.
    """
    if not isinstance(prefix, str):
        raise TypeError(f"table_prefix must be a str, got {type(prefix).__name__}")
    if not _PREFIX.fullmatch(prefix):
        raise ValueError(
            "table_prefix must be empty or a lower-case SQL identifier (letters a-z, digits "
            f"and _, not starting with a digit), got {prefix!r}"
        )
    return prefix


def check_seconds(argument: str, value: object) -> float:
    """Return ``value`` as a float if it is a positive finite number of seconds."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{argument} must be a number of seconds, got {type(value).__name__}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{argument} must be a positive number of seconds, got {value!r}")
    return float(value)


def parse_dsn(dsn: object) -> tuple[str, str, tuple[str, ...], frozenset[str]]:
    """Check ``dsn`` and return it, its description, its secrets and the keys it sets.

    The description names user, hosts, ports and database as the driver reads them;
    never the password, nor a part that overlaps one (shown as ``***``).

    Raises:
        TypeError: ``dsn`` is not a string.
        ValueError: The driver cannot parse it. The message does not quote it: a DSN
            that does not parse may still hold a password.
    """
    if not isinstance(dsn, str):
        # Not even the type's repr of the value: it may be a password in bytes.
        raise TypeError(f"dsn must be a str, got {type(dsn).__name__}")
    from psycopg import conninfo

    try:
        params = conninfo.conninfo_to_dict(dsn)
    except Exception:
        # `from None`: the driver's message quotes the part it could not parse.
        raise ValueError(
            "dsn is not a valid PostgreSQL connection string or URI (it is not shown "
            "here, as it may hold a password); see the libpq documentation on "
            "connection strings"
        ) from None
    secrets = dsn_secrets(dsn, params)
    return dsn, describe_server(params, secrets), secrets, frozenset(params)


def scrub(text: str, secrets: Sequence[str]) -> str:
    """``text`` with each of ``secrets``, then anything shaped like a password, as ``***``.

    ``secrets`` come longest first (as :func:`dsn_secrets` gives them), so that a secret
    containing another is blanked whole.
    """
    for secret in secrets:
        text = text.replace(secret, "***")
    text = _SHAPED_KEYWORD.sub(r"\1***", text)
    return _SHAPED_USERINFO.sub(r"\1***@", text)


def dsn_secrets(dsn: str, params: Mapping[str, object] | None = None) -> tuple[str, ...]:
    """Every text of ``dsn`` that may be a password, in each plausible reading, longest first.

    Args:
        dsn: A connection string or URI, well-formed or not.
        params: The driver's reading of it (``conninfo_to_dict``), if it has one; without
            it, the driver's is tried, and a URI is read as libpq reads one.

    Returns:
        Each password as written, percent-decoded and percent-encoded; and, when the
        readings disagree on the password, the parameters the driver read out of it
        (such as a host ``ss`` out of ``u:pa@ss/word@host``), which its messages echo.
    """
    found = _Found()
    readings = _collect(dsn, params, found, _NESTING)
    secrets = _forms(found.passwords) | found.written
    primary = readings[0] if readings else {}
    meant = {urllib.parse.unquote(password) for password in found.uri_passwords}
    read = {str(primary[key]) for key in _SECRET_KEYS if primary.get(key)}
    if meant - read:
        # The readings disagree: what the driver took for a host or a database may be
        # part of the password as the user meant it, and its messages quote those.
        for reading in readings:
            for keys in _DESCRIBED:
                for key in keys:
                    value = str(reading.get(key) or "")
                    if any(_overlaps(value, password) for password in meant):
                        secrets.add(value)
    secrets.discard("")
    return tuple(sorted(secrets, key=len, reverse=True))


def describe_server(params: Mapping[str, object], secrets: Sequence[str]) -> str:
    """``user@host:port/dbname`` from parsed ``params``; a part holding a secret as ``***``."""

    def part(keys: tuple[str, ...]) -> str:
        for key in keys:
            value = params.get(key)
            if value is not None and str(value):
                text = str(value)
                return "***" if any(secret in text for secret in secrets) else text
        return ""

    user, host, port, dbname = (part(keys) for keys in _DESCRIBED)
    # An IPv6 address in brackets, as in a URI, so that its colons are not a port's.
    host = ",".join(f"[{one}]" if ":" in one else one for one in host.split(","))
    host = host or "(default host)"
    return f"{user + '@' if user else ''}{host}{':' + port if port else ''}/{dbname}"


@final
class _Found:
    """The passwords found in a DSN's readings."""

    __slots__ = ("passwords", "uri_passwords", "written")

    def __init__(self) -> None:
        self.passwords: set[str] = set()
        """Values, as the driver would send them or as written in a URI (percent-encoded)."""
        self.uri_passwords: set[str] = set()
        """Those found in the user info or query of a URI, where readings may differ."""
        self.written: set[str] = set()
        """Quoted values as written (``'pa\\'ss'``), blanked as they are."""


def _collect(
    text: str, params: Mapping[str, object] | None, found: _Found, depth: int
) -> list[Mapping[str, object]]:
    """Add the passwords of every reading of ``text`` to ``found``; return the readings.

    The first reading is the driver's (or, without one, libpq's way with a URI).
    """
    readings: list[Mapping[str, object]] = []
    for reading in (_driver_reading(text) if params is None else params, uri_reading(text)):
        if reading is not None:
            readings.append(reading)
            found.passwords.update(str(reading[k]) for k in _SECRET_KEYS if reading.get(k))
    for start in _URI_START.finditer(text):
        rest = text[start.end() :]
        # Each `@` may end the user info: libpq takes the first, a person means the last.
        at = rest.find("@")
        while at >= 0:
            _, colon, password = rest[:at].partition(":")
            if colon and password:
                found.uri_passwords.add(password)
            at = rest.find("@", at + 1)
        found.uri_passwords.update(match.group(1) for match in _QUERY_PASSWORD.finditer(rest))
    found.passwords |= found.uri_passwords
    for match in _KEYWORD_PASSWORD.finditer(text):
        value = match.group(1)
        if value.startswith("'"):
            found.written.add(value)
            value = re.sub(r"\\(.)", r"\1", value.strip("'"))
        found.passwords.add(value)
    if depth > 1:
        # A parameter may hold a whole DSN (libpq expands a dbname that is one).
        for reading in list(readings):
            for key, value in reading.items():
                nested = isinstance(value, str) and ("=" in value or "://" in value)
                if nested and key not in _SECRET_KEYS:
                    readings += _collect(str(value), None, found, depth - 1)
    return readings


def _driver_reading(text: str) -> Mapping[str, object] | None:
    """The driver's reading of ``text``, if it is installed and can read it."""
    if "=" not in text and "://" not in text:
        return None
    try:
        from psycopg import conninfo
    except ImportError:
        return None
    try:
        params: Mapping[str, object] = conninfo.conninfo_to_dict(text)
    except Exception:
        return None
    return params


def uri_reading(text: str) -> Mapping[str, object] | None:
    """A URI read as libpq reads one (the user info ends at the first ``@`` before a ``/``).

    For when the driver is not installed: ``None`` if ``text`` is not a PostgreSQL URI.
    """
    start = _URI_START.match(text)
    if start is None:
        return None
    rest = text[start.end() :]
    authority, _, path = rest.partition("/")
    authority = authority.partition("?")[0]
    userinfo, at, hostport = authority.partition("@")
    if not at:
        userinfo, hostport = "", authority
    host, port = hostport, ""
    if hostport.startswith("["):
        host, _, after = hostport[1:].partition("]")
        port = after.partition(":")[2]
    elif ":" in hostport:
        host, _, port = hostport.rpartition(":")
    reading = {
        "user": userinfo.partition(":")[0],
        "password": userinfo.partition(":")[2],
        "host": host,
        "port": port,
        "dbname": path.partition("?")[0],
    }
    return {key: urllib.parse.unquote(value) for key, value in reading.items() if value}


def _forms(values: set[str]) -> set[str]:
    """Each value as written, percent-decoded and percent-encoded (as messages may show it)."""
    forms: set[str] = set()
    for value in values:
        decoded = urllib.parse.unquote(value)
        forms.update({value, decoded})
        for text in (value, decoded):
            forms.update({urllib.parse.quote(text, safe=""), urllib.parse.quote(text)})
    return forms


def _overlaps(part: str, password: str) -> bool:
    """Whether ``part`` holds ``password``, lies within it, or shares an end with it.

    Two characters or more of one (a single one tells nothing) within the other, or at
    the end of one and the start of the other, make a fragment that a misreading split
    off: ``ss`` or ``word@host`` of the password ``pa@ss/word``.
    """
    if not part or not password:
        return False
    if password in part or (len(part) > 1 and part in password):
        return True
    shortest = min(len(part), len(password))
    return any(
        part.endswith(password[:size]) or password.endswith(part[:size])
        for size in range(2, shortest)
    )


def connect(options: Options, role: str) -> Connection:
    """Open an autocommit connection for ``role`` (``"writer"``, ``"reader"``, ...).

    Raises:
        psycopg.Error: The server cannot be reached or refuses the connection.
    """
    import psycopg

    with _scrubbing_driver_records(options.secrets):
        return psycopg.connect(options.conninfo, **connection_kwargs(options, role))


@final
class _ScrubDriverRecords(logging.Filter):
    """Scrubs the driver's records made in a thread while it connects (see :func:`connect`).

    The driver logs each failed attempt at DEBUG with the server's message, which may
    quote a database name that holds a password. Installed once on the ``psycopg`` logger;
    a record made in a thread that is not connecting passes unchanged.
    """

    def __init__(self) -> None:
        super().__init__()
        self.local = threading.local()

    def filter(self, record: logging.LogRecord) -> bool:
        secrets: tuple[str, ...] | None = getattr(self.local, "secrets", None)
        if secrets is not None:
            record.msg = scrub(record.getMessage(), secrets)
            record.args = None
        return True


_DRIVER_RECORDS = _ScrubDriverRecords()
_DRIVER_RECORDS_LOCK = threading.Lock()


@contextmanager
def _scrubbing_driver_records(secrets: tuple[str, ...]) -> Iterator[None]:
    with _DRIVER_RECORDS_LOCK:
        driver_logger = logging.getLogger("psycopg")
        if _DRIVER_RECORDS not in driver_logger.filters:
            driver_logger.addFilter(_DRIVER_RECORDS)
    local = _DRIVER_RECORDS.local
    outer = getattr(local, "secrets", None)
    local.secrets = secrets
    try:
        yield
    finally:
        local.secrets = outer


_TCP_DEFAULTS: dict[str, int] = {
    # A server that vanishes without closing the connection (a network partition, a
    # crashed host) is noticed within about half a minute instead of the system's hours,
    # so a write waiting on it fails and is retried or reported rather than hanging.
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 30_000,
}


def connection_kwargs(options: Options, role: str) -> dict[str, Any]:
    """The connection parameters the store adds to the DSN (which wins where it sets one)."""
    kwargs: dict[str, Any] = {
        key: value for key, value in _TCP_DEFAULTS.items() if key not in options.dsn_keys
    }
    # libpq counts whole seconds (and treats values under 2 as 2).
    if "connect_timeout" not in options.dsn_keys:
        kwargs["connect_timeout"] = max(2, math.ceil(options.connect_timeout))
    kwargs["fallback_application_name"] = options.application_name(role)
    # Every transaction is explicit (BEGIN ... COMMIT), so what runs in one is plain to
    # see in the code, and a connection is never left in one by accident.
    kwargs["autocommit"] = True
    if role == "writer":
        # Under kill -9 of other processes the writer's prepared statements went out of
        # step with the server ("prepared statement _pg3_7 does not exist"), and every
        # later batch of that writer failed: 23 failed batches and one stuck writer in
        # six runs of the process managers' kill test, none in nine runs since. The
        # driver's cause (its statement cache around aborted pipelines, as far as seen)
        # was not isolated. Unprepared, each batch parses its few statements again: W1
        # with 100 clients, 9 interleaved runs each, gave medians of 4,334 commands/s
        # prepared and 3,977 unprepared, within the runs' spread (3,100 to 5,200).
        kwargs["prepare_threshold"] = None
    elif role == "reader":
        # Prepared at their first use, so that each statement is planned once per
        # connection (see reader.READ_SESSION): planning a cold load's statement costs
        # more than running it.
        kwargs["prepare_threshold"] = 0
    return kwargs


def is_connection_lost(connection: Connection | None) -> bool:
    """Whether ``connection`` can no longer be used (the server or network dropped it)."""
    return connection is None or connection.closed or connection.broken


def failure_kind(exc: BaseException, connection: Connection | None) -> StoreFailure:
    """The kind of a driver error ``exc`` raised on ``connection`` (``None``: connecting).

    An operational error that left no usable connection means the server cannot be
    reached; an integrity or data error is the server refusing the request's data, and
    answers the same way to the same data. Anything else is a plain failure.
    """
    import psycopg

    if isinstance(exc, psycopg.OperationalError) and is_connection_lost(connection):
        return StoreFailure.UNREACHABLE
    if isinstance(exc, (psycopg.IntegrityError, psycopg.DataError)):
        return StoreFailure.REFUSED
    return StoreFailure.FAILED
