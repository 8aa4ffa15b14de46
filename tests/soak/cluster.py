"""A private PostgreSQL cluster for the soak: started, crashed, restarted and removed by it.

Never the shared test server: the nemesis crashes this one. ``initdb`` and ``pg_ctl`` run
as the ``postgres`` user when we are root (``initdb`` refuses root), else as ourselves.
The cluster lives in a directory of its own under the system's temporary directory,
which the ``postgres`` user can reach, listening on a free port on 127.0.0.1 and on a
Unix socket in that directory, with ``fsync=on``: a crash (``pg_ctl stop -m immediate``,
what a power cut or an OOM kill does to the server) loses only what was never flushed.

A run killed before its cleanup (the suite's watchdog ends the process at once) leaves
its cluster behind; the next run stops and removes such clusters first: each directory
holds the id of the process that made it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg

DIRECTORY_PREFIX = "trio-es-soak-pg-"
OWNER_FILE = "owner.pid"
START_TIMEOUT_S = 60
"""The longest ``pg_ctl start -w`` waits for the server (crash recovery included)."""

USER = "postgres"


def _run_as() -> list[str]:
    """The command prefix that runs a PostgreSQL tool as a user it accepts."""
    if os.geteuid() == 0:
        return ["runuser", "-u", USER, "--"]
    return []


def find_bindir() -> tuple[Path | None, str]:
    """The directory of ``initdb`` and ``pg_ctl``, or ``None`` and why it was not found."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        found = subprocess.run(
            [pg_config, "--bindir"], capture_output=True, text=True, check=False, timeout=30
        )
        if found.returncode == 0 and found.stdout.strip():
            candidates.append(Path(found.stdout.strip()))
    for initdb in (shutil.which("initdb"), shutil.which("pg_ctl")):
        if initdb is not None:
            candidates.append(Path(initdb).resolve().parent)
    for bindir in candidates:
        if (bindir / "initdb").exists() and (bindir / "pg_ctl").exists():
            if os.geteuid() == 0 and shutil.which("runuser") is None:
                return None, "we are root and runuser (to run initdb as postgres) is missing"
            if os.geteuid() == 0:
                try:
                    import pwd

                    pwd.getpwnam(USER)
                except KeyError:
                    return None, f"we are root and there is no {USER!r} user to run initdb as"
            return bindir, ""
    return None, "no PostgreSQL server binaries (initdb, pg_ctl; pg_config --bindir) found"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class PrivateCluster:
    """One PostgreSQL cluster in a directory of its own (see the module docstring)."""

    def __init__(self, bindir: Path, root: Path, port: int) -> None:
        self.bindir = bindir
        self.root = root
        self.data = root / "data"
        self.log = root / "server.log"
        self.port = port
        self.crashes = 0
        """How often the cluster was crashed and restarted."""

    # -- life cycle --------------------------------------------------------------------

    @classmethod
    def create(cls, bindir: Path) -> PrivateCluster:
        """Sweep clusters left by dead runs, then initdb and start a new one."""
        sweep_orphans(bindir)
        root = Path(tempfile.mkdtemp(prefix=DIRECTORY_PREFIX))
        (root / OWNER_FILE).write_text(f"{os.getpid()}\n")
        root.chmod(0o755)
        cluster = cls(bindir, root, free_port())
        try:
            if os.geteuid() == 0:
                shutil.chown(root, USER, USER)
                shutil.chown(root / OWNER_FILE, USER, USER)
            cluster._tool(
                "initdb",
                "-D",
                str(cluster.data),
                "-A",
                "trust",
                "-U",
                USER,
                "--no-sync",  # the cluster is thrown away; its files need no flush yet
                "--encoding=UTF8",
                "--locale=C",
            )
            cluster.start()
        except BaseException:
            cluster.remove()
            raise
        return cluster

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = " ".join(
            [
                f"-p {self.port}",
                f"-k {self.root}",
                "-c listen_addresses=127.0.0.1",
                "-c fsync=on",
                "-c synchronous_commit=on",
                "-c max_connections=60",
                "-c shared_buffers=16MB",
                "-c log_min_messages=warning",
                "-c log_connections=off",
            ]
        )
        self._tool(
            "pg_ctl",
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.log),
            "-t",
            str(START_TIMEOUT_S),
            "start",
            "-w",
        )

    def crash(self) -> None:
        """Stop the server the hard way: no checkpoint, clients dropped, recovery at start."""
        self._tool("pg_ctl", "-D", str(self.data), "stop", "-m", "immediate", "-w")

    def crash_and_restart(self, down_s: float) -> None:
        """Crash the server, leave it down for ``down_s`` seconds, start it again."""
        self.crash()
        self.crashes += 1
        time.sleep(down_s)  # the outage the store must ride out
        self.start()

    def remove(self) -> None:
        """Stop the server if it runs and delete the cluster's directory."""
        stop_and_remove(self.bindir, self.root)

    # -- connections -------------------------------------------------------------------

    def dsn(self, dbname: str = "postgres") -> str:
        """A DSN that reaches the server directly (not through a proxy)."""
        return f"host=127.0.0.1 port={self.port} user={USER} dbname={dbname}"

    def connect(self, dbname: str = "postgres") -> psycopg.Connection[tuple[Any, ...]]:
        """A plain autocommit connection to the server, for setup, the nemesis and checks."""
        import psycopg

        return psycopg.connect(self.dsn(dbname), autocommit=True, connect_timeout=5)

    def accepts_connections(self, dbname: str = "postgres") -> bool:
        """Whether the server answers a query right now."""
        import psycopg

        try:
            with psycopg.connect(self.dsn(dbname), autocommit=True, connect_timeout=2) as c:
                c.execute("SELECT 1")
        except psycopg.Error:
            return False
        return True

    def create_database(self, name: str) -> None:
        with self.connect() as connection:
            connection.execute(f'CREATE DATABASE "{name}"')

    def drop_database(self, name: str) -> None:
        with self.connect() as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def log_tail(self, lines: int = 30) -> str:
        """The end of the server's log, for failure messages."""
        try:
            text = self.log.read_text(errors="replace")
        except OSError as exc:
            return f"(no server log: {exc})"
        return "\n".join(text.splitlines()[-lines:])

    def _tool(self, tool: str, *arguments: str) -> None:
        _run_tool(self.bindir, tool, *arguments)


def _run_tool(bindir: Path, tool: str, *arguments: str) -> None:
    command = [*_run_as(), str(bindir / tool), *arguments]
    done = subprocess.run(
        command,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
        timeout=START_TIMEOUT_S + 30,
        cwd="/",  # a directory the postgres user may enter
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"{tool} {' '.join(arguments)} failed with status {done.returncode}:\n"
            f"{done.stdout}{done.stderr}"
        )


def stop_and_remove(bindir: Path, root: Path) -> None:
    """Stop the cluster in ``root`` if its server runs, then delete ``root``."""
    data = root / "data"
    pid_file = data / "postmaster.pid"
    if pid_file.exists():
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            _run_tool(bindir, "pg_ctl", "-D", str(data), "stop", "-m", "immediate", "-w")
        # pg_ctl could not stop it (a damaged pid file?): end the postmaster we started.
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int(pid_file.read_text().splitlines()[0])
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
    shutil.rmtree(root, ignore_errors=True)


def sweep_orphans(bindir: Path) -> None:
    """Stop and remove the clusters of earlier runs whose process has died."""
    for root in Path(tempfile.gettempdir()).glob(f"{DIRECTORY_PREFIX}*"):
        try:
            owner = int((root / OWNER_FILE).read_text().strip())
        except (OSError, ValueError):
            continue  # not ours, or still being made
        if owner != os.getpid() and not _alive(owner):
            stop_and_remove(bindir, root)


@contextlib.contextmanager
def private_cluster(bindir: Path) -> Iterator[PrivateCluster]:
    """A running private cluster, stopped and removed afterwards whatever happens."""
    cluster = PrivateCluster.create(bindir)
    try:
        yield cluster
    finally:
        cluster.remove()
