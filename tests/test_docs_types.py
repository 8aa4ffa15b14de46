"""Type-check every Python example of README.md and docs/*.rst, with ``mypy --strict``.

A reader copies these examples into code that is type-checked, so they must pass as
written. The blocks are those tests/test_docs_examples.py runs (same collector), from
every page; each becomes a module of its own, and one mypy run checks them all.
Each block is a test of its own, failing with mypy's messages at the document's lines.

mypy is a dependency of the typecheck group, not of the test group: without it, these
tests are skipped.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.test_docs_examples import DOCUMENTS, ROOT, Example, collect_examples

# Every page: README.md and every docs/*.rst, as tests/test_docs_examples.py reads them.
PAGES = DOCUMENTS

# Skipped blocks too: a block skipped for needing a server must still type-check.
EXAMPLES = [example for example in collect_examples() if example.path in PAGES]

# The pages known to have examples: a renamed page, or a collector that finds nothing
# on it, must not silently leave its blocks unchecked.
PAGES_WITH_EXAMPLES = {
    ROOT / "README.md",
    *(
        ROOT / "docs" / f"{name}.rst"
        for name in (
            "applications",
            "getting_started",
            "gleam_api",
            "guarantees",
            "index",
            "postgres",
            "process_managers",
            "processes",
            "projections",
            "sqlite",
        )
    ),
}

# mypy's "file:line: severity: message"; notes follow the error they explain.
_MESSAGE = re.compile(r"^(?P<file>[^:\s]+\.py):(?P<line>\d+): (?P<severity>error|note): ")


def _module_name(index: int) -> str:
    return f"docs_example_{index}"


@pytest.fixture(scope="module")
def mypy_messages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """Run mypy once over every block; its messages by module file name."""
    pytest.importorskip("mypy", reason="mypy is installed with the typecheck group")
    directory = tmp_path_factory.mktemp("docs_types")
    # An empty configuration: strictness comes from the command line, and no other
    # configuration file (the repository's, or the user's) may change the checks.
    (directory / "mypy.ini").write_text("[mypy]\n", encoding="utf-8")
    files = []
    for index, example in enumerate(EXAMPLES):
        path = directory / f"{_module_name(index)}.py"
        # Padded so that mypy's line numbers are the document's.
        path.write_text("\n" * (example.line - 1) + example.source + "\n", encoding="utf-8")
        files.append(path.name)
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file=mypy.ini",
            "--strict",
            # The oldest Python the package supports, as in pyproject.toml's [tool.mypy].
            "--python-version=3.10",
            "--cache-dir=.mypy_cache",
            "--no-error-summary",
            "--show-error-codes",
            *files,
        ],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if completed.returncode not in (0, 1):  # 1: type errors; anything else: mypy failed
        pytest.fail(f"mypy exited {completed.returncode}:\n{completed.stdout}{completed.stderr}")
    messages: dict[str, list[str]] = {}
    for line in completed.stdout.splitlines():
        match = _MESSAGE.match(line)
        if match is None:
            continue
        messages.setdefault(match["file"], []).append(line)
    return messages


def test_pages_have_examples() -> None:
    # Guards the selection: every page is read, and the pages with examples keep them.
    assert set(PAGES) >= {ROOT / "README.md", *(ROOT / "docs").glob("*.rst")}
    assert {example.path for example in EXAMPLES} >= PAGES_WITH_EXAMPLES


@pytest.mark.parametrize(
    ("index", "example"),
    [pytest.param(index, example, id=example.id) for index, example in enumerate(EXAMPLES)],
)
def test_example_type_checks(
    index: int, example: Example, mypy_messages: dict[str, list[str]]
) -> None:
    found = mypy_messages.get(f"{_module_name(index)}.py", [])
    # Point each message at the document: "docs/x.rst:42: error: ...".
    where = example.path.relative_to(ROOT).as_posix()
    report = [re.sub(r"^[^:\s]+\.py", where, line) for line in found]
    assert not any(": error: " in line for line in report), "\n".join(report)
