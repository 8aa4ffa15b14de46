"""How the PostgreSQL store reaches its server: the driver, the DSN, connections, errors.

psycopg is an optional dependency (the ``postgres`` extra), so it is imported here, lazily,
and only when a store is described: ``import trio_eventsourcing`` never needs it.

The DSN may hold a password. It is kept in one field that no ``repr`` shows and is only
ever handed to the driver; what the store prints is :attr:`Options.server`, a description
without it, and every message built from a driver error goes through :meth:`Options.scrub`,
which blanks the password should a driver message ever echo it. Driver exceptions are
never chained to the errors the store raises or returns (their text could hold anything),
their scrubbed text is copied into the message instead.
"""

from __future__ import annotations

import math
import re
import urllib.parse
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from typing_extensions import final

if TYPE_CHECKING:
    import psycopg

    Connection = psycopg.Connection[tuple[Any, ...]]
    """A psycopg connection with the default (tuple) rows."""

INSTALL_HINT = 'pip install "trio-eventsourcing[postgres]"'

_SECRET_KEYS = ("password", "sslpassword")
"""Connection parameters whose values never appear in a message."""

_NAME = re.compile(r"[a-z_][a-z0-9_]*")
_PREFIX = re.compile(r"([a-z_][a-z0-9_]*)?")
_MAX_IDENTIFIER = 63
"""PostgreSQL truncates longer identifiers (NAMEDATALEN - 1 bytes)."""
_LONGEST_TABLE = "snapshots"


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
    """Texts that must never appear in a message (the password, as given and URL-encoded)."""
    dsn_keys: frozenset[str]
    """The parameters the DSN sets, which the store's defaults never override."""
    schema: str
    table_prefix: str
    max_readers: int
    connect_timeout: float
    retry_timeout: float

    def scrub(self, text: str) -> str:
        """``text`` with every secret replaced by ``***``."""
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

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
    """Return ``prefix`` if it can start a lower-case SQL identifier, else raise."""
    if not isinstance(prefix, str):
        raise TypeError(f"table_prefix must be a str, got {type(prefix).__name__}")
    longest = _MAX_IDENTIFIER - len(_LONGEST_TABLE)
    if not _PREFIX.fullmatch(prefix) or len(prefix) > longest:
        raise ValueError(
            f"table_prefix must be empty or a lower-case SQL identifier of at most {longest} "
            f"characters (letters a-z, digits and _, not starting with a digit), got {prefix!r}"
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

    The description names user, hosts, ports and database; never the password.

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
    secrets: set[str] = set()
    for key in _SECRET_KEYS:
        value = params.get(key)
        if value is not None and str(value):
            secret = str(value)
            secrets.update(
                {secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote(secret)}
            )
    # Longest first, so that a secret containing another is blanked whole.
    ordered = tuple(sorted(secrets, key=len, reverse=True))

    def part(key: str) -> str:
        value = params.get(key)
        return "" if value is None else str(value)

    user = part("user")
    host = part("host") or part("hostaddr") or "(default host)"
    port = part("port")
    dbname = part("dbname")
    server = f"{user + '@' if user else ''}{host}{':' + port if port else ''}/{dbname}"
    description = server
    for secret in ordered:
        description = description.replace(secret, "***")
    return dsn, description, ordered, frozenset(params)


def connect(options: Options, role: str) -> Connection:
    """Open an autocommit connection for ``role`` (``"writer"``, ``"reader"``, ...).

    Raises:
        psycopg.Error: The server cannot be reached or refuses the connection.
    """
    import psycopg

    return psycopg.connect(options.conninfo, **connection_kwargs(options, role))


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
    return kwargs


def is_connection_lost(connection: Connection | None) -> bool:
    """Whether ``connection`` can no longer be used (the server or network dropped it)."""
    return connection is None or connection.closed or connection.broken
