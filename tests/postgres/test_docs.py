"""The complete examples of docs/postgres.rst run against the test server.

``tests/test_docs_examples.py`` skips them (they need a server, so they are marked
``test: skip``); here each runs with the test server's DSN and a throwaway schema put in
place of the example's, so the page cannot drift from the code.
"""

from __future__ import annotations

import sys
import types

import pytest

from tests.test_docs_examples import ROOT, Example, collect_examples

EXAMPLE_DSN = 'DSN = "postgresql://app@db.example:5432/bank"'
EXAMPLE_SCHEMA = 'schema="bank"'

PROGRAMS = [
    example
    for example in collect_examples()
    if example.path == ROOT / "docs" / "postgres.rst" and "trio.run(main)" in example.source
]


def test_the_page_has_programs() -> None:
    assert len(PROGRAMS) >= 2


@pytest.mark.parametrize("example", PROGRAMS, ids=[example.id for example in PROGRAMS])
def test_example_runs_on_the_test_server(
    example: Example, dsn: str, schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert EXAMPLE_DSN in example.source
    assert EXAMPLE_SCHEMA in example.source
    source = example.source.replace(EXAMPLE_DSN, f"DSN = {dsn!r}").replace(
        EXAMPLE_SCHEMA, f"schema={schema!r}"
    )
    module = types.ModuleType("docs_example")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    code = compile("\n" * (example.line - 1) + source, str(example.path), "exec")
    exec(code, module.__dict__)
