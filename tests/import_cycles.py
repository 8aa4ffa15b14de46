"""Fail if any module of the package imports, directly or not, a module that imports it.

Run by the lint session (``python -m tests.import_cycles``) beside import-linter, whose
contracts check the layers but not cycles inside one layer. Imports under
``TYPE_CHECKING`` do not count (they never run); imports inside functions do.
"""

from __future__ import annotations

import sys

import grimp

PACKAGE = "trio_eventsourcing"


def cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component: list[str] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def main() -> int:
    graph = grimp.build_graph(PACKAGE, exclude_type_checking_imports=True)
    found = cycles(graph)
    for component in found:
        print("import cycle:", " <-> ".join(component))
    print(f"{len(graph.modules)} modules of {PACKAGE}, {len(found)} import cycle(s)")
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
