"""The command line: the ``trio-eventsourcing`` script, also ``python -m trio_eventsourcing``.

Run the bank-account demo on an SQLite file, and inspect any store (SQLite file or
PostgreSQL URL) without the domain types: ``aggregates``, ``events``, ``log``, ``stats``,
``process-managers`` and ``projections reset``. ``--help`` works on every command;
``docs/cli.rst`` has them all.

Example::

    from trio_eventsourcing.__main__ import main

    status = main(["stats", "bank.db", "--json"])
"""

from __future__ import annotations

import contextlib as _contextlib
import os as _os
import sys as _sys
from collections.abc import Sequence as _Sequence

from ._cli.args import PROG as _PROG
from ._cli.args import build_parser as _build_parser
from ._cli.commands import run as _run
from ._cli.errors import FAILURE as _FAILURE
from ._cli.errors import CliError as _CliError
from ._cli.errors import Secrets as _Secrets
from ._cli.errors import one_line as _one_line
from ._cli.signals import Interrupted as _Interrupted

# Only `main` is public here: everything else is imported under a private name.
__all__ = ["main"]

_INTERRUPTED = 130
"""Exit status after Ctrl-C (128 + SIGINT, as shells report it), except for ``log --follow``.

A command that takes the signals itself (the demo) raises ``Interrupted`` with its status:
130 for SIGINT, 143 for SIGTERM.
"""

_TRACEBACK_VARIABLE = "TRIO_EVENTSOURCING_TRACEBACK"


def main(argv: _Sequence[str] | None = None, *, prog: str = _PROG) -> int:
    """Run the command line with ``argv`` and return its exit status.

    Errors are printed on stderr as one line, never as a traceback, and never with a
    DSN's password. Set the environment variable ``TRIO_EVENTSOURCING_TRACEBACK=1`` to
    get the traceback of an unexpected error (a bug) instead.

    Args:
        argv: The arguments after the program's name (default: ``sys.argv[1:]``).
        prog: The program's name in help and messages.

    Returns:
        0 on success; 1 when the command failed (or the demo found a balance that
        differs from its model); 2 for a usage error; 130 when interrupted (Ctrl-C), 143
        when the demo is stopped with SIGTERM. ``log --follow`` returns 0 on either.

    Example::

        status = main(["aggregates", "bank.db"])
    """
    arguments = list(_sys.argv[1:] if argv is None else argv)
    # Known before anything can fail, so that every message can be scrubbed.
    secrets = _Secrets.of_arguments(arguments)
    try:
        parser = _build_parser(prog, _version())
        try:
            args = parser.parse_command_line(arguments)
        except SystemExit as exc:  # --help and --version print, then "exit" 0
            return exc.code if isinstance(exc.code, int) else 0
        return _run(args, _sys.stdout, _sys.stderr, prog)
    except _CliError as exc:
        _fail(prog, secrets.scrub(_one_line(str(exc))))
        return exc.code
    except _Interrupted as exc:
        _say(f"{prog}: {exc}")
        return exc.code
    except KeyboardInterrupt:
        _say(f"{prog}: interrupted")
        return _INTERRUPTED
    except BrokenPipeError:
        # The reader of stdout went away (`... | head`): not an error of ours. Point
        # stdout at /dev/null so that Python's final flush does not complain either.
        _silence_stdout()
        return 0
    except Exception as exc:
        if _os.environ.get(_TRACEBACK_VARIABLE) == "1":
            raise
        _fail(
            prog,
            secrets.scrub(_one_line(f"unexpected {type(exc).__name__}: {exc}"))
            + f" (a bug: please report it; {_TRACEBACK_VARIABLE}=1 shows the traceback)",
        )
        return _FAILURE


def _fail(prog: str, message: str) -> None:
    _say(f"{prog}: error: {message}")


def _say(line: str) -> None:
    # What was printed before the error comes before it, also when both are a pipe.
    with _contextlib.suppress(OSError, ValueError):
        _sys.stdout.flush()
    print(line, file=_sys.stderr, flush=True)


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("trio-eventsourcing")
    except metadata.PackageNotFoundError:
        return "(not installed)"


def _silence_stdout() -> None:
    try:
        devnull = _os.open(_os.devnull, _os.O_WRONLY)
        _os.dup2(devnull, _sys.stdout.fileno())
    except (OSError, ValueError):
        pass  # not a real file: nothing will flush to a closed pipe


if __name__ == "__main__":
    _sys.exit(main(prog="python -m trio_eventsourcing"))
