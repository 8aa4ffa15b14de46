"""Every check of the project, one nox session per gate.

`nox` runs the default gates (tests on each Python found, typecheck, lint, docs);
`nox -l` lists all sessions. Tool versions come from `[dependency-groups]` in pyproject.toml.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nox

# dependency_groups() arrived in 2025.02.09, the download_python option in 2025.05.01.
nox.needs_version = ">=2025.5.1"

PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
PYPROJECT = nox.project.load_toml("pyproject.toml")

nox.options.default_venv_backend = "venv"
nox.options.sessions = ["tests", "typecheck", "lint", "docs", "verifytypes"]
# Run on whichever of PYTHONS this machine has; nox reports each missing one as skipped.
nox.options.error_on_missing_interpreters = False
# Never fetch interpreters from the network: use what is installed.
nox.options.download_python = "never"


def _add_pyenv_interpreters() -> None:
    """Put pyenv's interpreters for PYTHONS on PATH, ahead of its shims.

    nox looks for `python3.X` on PATH, and a pyenv shim for a version that is installed
    but not selected (`pyenv global`/`local`) is found first yet fails to run. Putting
    the real `bin` directories first makes every installed version usable without
    configuring pyenv; machines without pyenv are unaffected.
    """
    root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")

    def newest_first(bin_dir: Path) -> tuple[int, ...]:
        return tuple(-int(part) for part in re.findall(r"\d+", bin_dir.parent.name))

    found = [
        bin_dir
        for version in PYTHONS
        for bin_dir in sorted((root / "versions").glob(f"{version}.*/bin"), key=newest_first)
        if (bin_dir / f"python{version}").exists()
    ]
    if found:
        path = os.environ.get("PATH", "")
        os.environ["PATH"] = os.pathsep.join([*map(str, found), *filter(None, [path])])


_add_pyenv_interpreters()


def _runs(version: str) -> bool:
    """Whether `pythonX.Y` on PATH runs (a version manager's shim may exist and fail)."""
    executable = shutil.which(f"python{version}")
    if executable is None:
        return False
    try:
        return (
            subprocess.run([executable, "-c", ""], capture_output=True, timeout=30).returncode == 0
        )
    except (OSError, subprocess.TimeoutExpired):
        return False


# The newest Python found runs the single-interpreter gates (mypy checks against
# `python_version` from pyproject.toml, whatever runs it); None means nox's own Python.
NEWEST_PYTHON = next((v for v in reversed(PYTHONS) if _runs(v)), None)


def _install(session: nox.Session, *groups: str) -> None:
    """Install the project with its extras (not editable: test what users get) and groups.

    The `postgres` extra comes along everywhere: its tests run in every test session and
    mypy checks them against psycopg's types.
    """
    session.install(".[postgres]", *nox.project.dependency_groups(PYPROJECT, *groups))


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """Run the test suite (pass pytest arguments after `--`); the newest Python measures coverage.

    Coverage is the same on every interpreter, and measuring it costs most on the older
    ones (they trace every line; 3.12 and newer use `sys.monitoring`), so one session
    measures it: there, branch coverage of the package, child processes included, must
    reach `fail_under` in pyproject.toml; with pytest arguments (a part of the suite) the
    total is reported but not held to it. The other sessions run the tests plainly, all
    but those marked slow (the fault-injection proofs), unless given pytest arguments.
    """
    _install(session, "test")
    if session.python != NEWEST_PYTHON:
        # The fault-injection proofs (marked slow: kill -9, crashed servers, full disks)
        # test processes and databases, not the interpreter; they run once, on the newest.
        session.run("pytest", *(session.posargs or ["-m", "not slow"]))
        return
    data = Path(session.create_tmp()).resolve() / ".coverage"
    env = {"COVERAGE_FILE": str(data)}
    session.run("coverage", "erase", env=env)
    session.run("coverage", "run", "-m", "pytest", *session.posargs, env=env)
    session.run("coverage", "combine", "--quiet", env=env)
    report = ["coverage", "report"]
    if session.posargs:
        report.append("--fail-under=0")
    session.run(*report, env=env)


# The type tests run on the oldest and the newest Python: typing_extensions, the standard
# library's stubs and the checkers' inference differ between them (an oldest that is not
# installed is reported as skipped, as in the tests sessions).
TYPECHECK_PYTHONS = [*dict.fromkeys([PYTHONS[0], NEWEST_PYTHON])] if NEWEST_PYTHON else None


@nox.session(python=TYPECHECK_PYTHONS)
def typecheck(session: nox.Session) -> None:
    """Run mypy --strict over src, tests, this file and doc examples, the type tests with pyright.

    On the newest Python: mypy over everything (as `python_version` in pyproject.toml, the
    oldest supported) and the docs' examples. On each of the oldest and the newest: the
    type tests (tests/type_tests) under mypy --strict for that version and under pyright,
    which each file puts in strict mode with unnecessary `# type: ignore` an error, so that
    a negative test that stops failing fails under either checker.
    """
    _install(session, "typecheck")
    if session.python == NEWEST_PYTHON:
        session.run("mypy", *session.posargs)
        # The examples of README and the leading docs pages, each as a module of its own;
        # the tests sessions skip this test, which needs mypy.
        session.run("pytest", "-q", "-p", "no:cacheprovider", "tests/test_docs_types.py")
    version = session.python
    if not isinstance(version, str):  # nox's own Python
        version = f"{sys.version_info.major}.{sys.version_info.minor}"
    session.run("mypy", "--python-version", version, "tests/type_tests")
    # The session's interpreter, so that pyright checks for its version and its packages.
    python = shutil.which("python", path=session.bin) or "python"
    session.run("pyright", "--pythonpath", python, "tests/type_tests")


@nox.session(python=NEWEST_PYTHON)
def lint(session: nox.Session) -> None:
    """Check lint rules and formatting with ruff, and the package's layers with import-linter."""
    _install(session, "lint")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    # The layering of docs/architecture.rst: an import that points up fails here.
    session.run("lint-imports")
    # And no import cycle, within a layer either.
    session.run("python", "-m", "tests.import_cycles")


@nox.session(python=NEWEST_PYTHON)
def docs(session: nox.Session) -> None:
    """Build the HTML docs, every warning an error (conf.py sets nitpicky)."""
    _install(session, "docs")
    # --fresh-env: a warm cache would skip unchanged pages, and with them their warnings.
    session.run(
        "sphinx-build", "--fresh-env", "-W", "--keep-going", "-b", "html",
        "docs", "docs/_build/html", *session.posargs,
    )  # fmt: skip


@nox.session(python=NEWEST_PYTHON)
def demo(session: nox.Session) -> None:
    """Run the demo: the main job of the README (options after `--`, e.g. `-- --help`)."""
    _install(session)
    session.run("python", "-m", "trio_eventsourcing", "demo", *session.posargs)


@nox.session(python=NEWEST_PYTHON)
def bench(session: nox.Session) -> None:
    """Run the benchmarks against bare Trio and the `eventsourcing` package."""
    _install(session, "test", "bench")
    # A module of the `tests` package: run from the repository (nox runs here), not by path.
    session.run("python", "-m", "tests.benchmarks.run", *session.posargs)


@nox.session(python=NEWEST_PYTHON)
def verifytypes(session: nox.Session) -> None:
    """Check the completeness of the public API's types with pyright."""
    _install(session)
    session.install("pyright")
    session.run("pyright", "--verifytypes", "trio_eventsourcing", "--ignoreexternal")
