"""Run every Python example of README.md and docs/*.rst, so the docs cannot drift from the code.

Collected blocks: ```` ```python ```` fences in Markdown and ``.. code-block:: python``
directives in reStructuredText. Each block runs on its own, in a fresh module, so it must
be complete: imports included, and a top-level ``trio.run(main)`` to run async code. To
keep a block out (a fragment), put a comment right before it: ``<!-- test: skip -->`` in
Markdown, ``.. test: skip`` in reStructuredText. A block that needs a PostgreSQL server is
marked ``test: postgres`` instead: it runs against the server of the PostgreSQL tests
(``TRIO_ES_POSTGRES_DSN``, by default the local one, which the block must default to as
well) and is skipped when none answers, failed in CI. It runs twice, as a reader may run
it again: a second run on the same database must work too. Its tables go in a throwaway
schema, dropped afterwards, in place of the one it names (``schema="bank"``).
"""

from __future__ import annotations

import re
import sys
import textwrap
import types
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.rst"))]

_MD_FENCE = re.compile(r"^(?P<indent> *)```python\s*$")
_RST_DIRECTIVE = re.compile(r"^(?P<indent> *)\.\. (?:code-block|code|sourcecode):: python\s*$")
_MD_MARK = re.compile(r"^\s*<!--\s*test:\s*(?P<mark>skip|postgres)\s*-->\s*$")
_RST_MARK = re.compile(r"^\s*\.\.\s+test:\s*(?P<mark>skip|postgres)\s*$")


@dataclass(frozen=True)
class Example:
    """One code block: where it is (for test ids and tracebacks) and its source."""

    path: Path
    line: int  # 1-based line of the block's first source line
    source: str
    skip: bool
    postgres: bool = False  # needs a PostgreSQL server

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(ROOT).as_posix()}:{self.line}"


def _mark(lines: list[str], index: int, marker: re.Pattern[str]) -> str | None:
    """The mark (``skip``, ``postgres``) on the nearest non-blank line before ``lines[index]``."""
    for line in reversed(lines[:index]):
        if line.strip():
            found = marker.match(line)
            return None if found is None else found["mark"]
    return None


def _markdown_examples(path: Path, lines: list[str]) -> list[Example]:
    examples = []
    index = 0
    while index < len(lines):
        fence = _MD_FENCE.match(lines[index])
        if fence is None:
            index += 1
            continue
        end = index + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        body = textwrap.dedent("\n".join(lines[index + 1 : end]))
        mark = _mark(lines, index, _MD_MARK)
        examples.append(Example(path, index + 2, body, mark == "skip", mark == "postgres"))
        index = end + 1
    return examples


def _rst_examples(path: Path, lines: list[str]) -> list[Example]:
    examples = []
    for index, line in enumerate(lines):
        directive = _RST_DIRECTIVE.match(line)
        if directive is None:
            continue
        indent = len(directive["indent"])
        start = index + 1
        # Skip the directive's options (":caption: ...") up to the blank line before the body.
        while start < len(lines) and lines[start].strip().startswith(":"):
            start += 1
        end = start
        # The body is every following line indented deeper than the directive, or blank.
        while end < len(lines) and (
            not lines[end].strip() or len(lines[end]) - len(lines[end].lstrip()) > indent
        ):
            end += 1
        while start < end and not lines[start].strip():
            start += 1
        body = textwrap.dedent("\n".join(lines[start:end]))
        mark = _mark(lines, index, _RST_MARK)
        examples.append(Example(path, start + 1, body, mark == "skip", mark == "postgres"))
    return examples


def collect_examples() -> list[Example]:
    """Every Python example of the documents, in document order."""
    examples: list[Example] = []
    for path in DOCUMENTS:
        if not path.exists():
            continue
        lines = path.read_text(encoding="utf-8").splitlines()
        if path.suffix == ".md":
            examples += _markdown_examples(path, lines)
        else:
            examples += _rst_examples(path, lines)
    return examples


EXAMPLES = collect_examples()


EXAMPLE_SCHEMA = 'schema="bank"'
"""The schema a PostgreSQL example names, which its test replaces with a throwaway one."""


@pytest.mark.parametrize(
    "example",
    [
        pytest.param(
            example,
            id=example.id,
            marks=[pytest.mark.skip(reason="marked 'test: skip'")] if example.skip else [],
        )
        for example in EXAMPLES
    ],
)
def test_example_runs(example: Example, monkeypatch: pytest.MonkeyPatch) -> None:
    if not example.postgres:
        run_example(example, example.source, monkeypatch)
        return
    from tests.postgres.helpers import require_server, throwaway_schema

    dsn = require_server()  # skipped when no server answers (failed, in CI)
    assert EXAMPLE_SCHEMA in example.source
    with throwaway_schema(dsn) as schema:
        source = example.source.replace(EXAMPLE_SCHEMA, f"schema={schema!r}")
        for _ in range(2):
            run_example(example, source, monkeypatch)


def run_example(example: Example, source: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run ``source``, the block of ``example`` or a variant, as a module of its own."""
    # Pad with newlines so tracebacks point at the line in the document itself.
    code = compile("\n" * (example.line - 1) + source, str(example.path), "exec")
    # A real module (registered while the block runs) so that dataclasses, pickling
    # and typing.get_type_hints work in examples as they do in a user's script.
    module = types.ModuleType("docs_example")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    exec(code, module.__dict__)


def test_examples_are_found() -> None:
    # Guards the collector itself: a parsing regression must not silently test nothing.
    assert any(example.path.suffix == ".rst" for example in EXAMPLES)
