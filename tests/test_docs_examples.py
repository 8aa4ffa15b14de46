"""Run every Python example of README.md and docs/*.rst, so the docs cannot drift from the code.

Collected blocks: ```` ```python ```` fences in Markdown and ``.. code-block:: python``
directives in reStructuredText. Each block runs on its own, in a fresh module, so it must
be complete: imports included, and a top-level ``trio.run(main)`` to run async code. To
keep a block out (a fragment, or one that needs a server), put a comment right before it:
``<!-- test: skip -->`` in Markdown, ``.. test: skip`` in reStructuredText.
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
_MD_SKIP = re.compile(r"^\s*<!--\s*test:\s*skip\s*-->\s*$")
_RST_SKIP = re.compile(r"^\s*\.\.\s+test:\s*skip\s*$")


@dataclass(frozen=True)
class Example:
    """One code block: where it is (for test ids and tracebacks) and its source."""

    path: Path
    line: int  # 1-based line of the block's first source line
    source: str
    skip: bool

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(ROOT).as_posix()}:{self.line}"


def _preceded_by_skip(lines: list[str], index: int, marker: re.Pattern[str]) -> bool:
    """Whether the nearest non-blank line before ``lines[index]`` is a skip marker."""
    for line in reversed(lines[:index]):
        if line.strip():
            return marker.match(line) is not None
    return False


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
        skip = _preceded_by_skip(lines, index, _MD_SKIP)
        examples.append(Example(path, index + 2, body, skip))
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
        skip = _preceded_by_skip(lines, index, _RST_SKIP)
        examples.append(Example(path, start + 1, body, skip))
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
    # A real module (registered while the block runs) so that dataclasses, pickling and
    # typing.get_type_hints work in examples as they do in a user's script.
    module = types.ModuleType("docs_example")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    # Pad with newlines so tracebacks point at the line in the document itself.
    code = compile("\n" * (example.line - 1) + example.source, str(example.path), "exec")
    exec(code, module.__dict__)


def test_examples_are_found() -> None:
    # Guards the collector itself: a parsing regression must not silently test nothing.
    assert any(example.path.suffix == ".rst" for example in EXAMPLES)
