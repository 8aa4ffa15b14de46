"""Sphinx configuration. `nox -s docs` builds with -W: every warning is an error."""

from __future__ import annotations

import importlib
import re
import sys
from importlib.metadata import version as _version
from pathlib import Path
from typing import ParamSpec, TypeVar

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.addnodes import pending_xref
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.util.docutils import SphinxDirective

project = "trio-eventsourcing"
author = "the trio-eventsourcing authors"
copyright = "2026, the trio-eventsourcing authors"
release = _version("trio-eventsourcing")  # the installed package, as nox installs it
version = ".".join(release.split(".")[:2])

extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon"]
exclude_patterns = ["_build"]
# furo: maintained, and its page width fits code. custom.css widens the content column so
# that an 88-column block (the longest a docs test allows) shows whole at 1280 px.
html_theme = "furo"
html_title = f"{project} {release}"
html_static_path = ["_static"]
html_css_files = ["custom.css"]

# Google-style docstrings (STYLE.md).
napoleon_google_docstring = True
napoleon_numpy_docstring = False

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented_params"

# Every reference to one of our names must resolve, so a docstring cannot point at
# something undocumented or private...
nitpicky = True
# ...but the build is offline (no intersphinx), so dotted names from other packages, such
# as `trio.Nursery` or `collections.abc.Callable` in signatures, cannot resolve: skip them.
nitpick_ignore_regex = [
    (r"py:.*", r"(?!trio_eventsourcing\.)\w+(\.\w+)+"),
]


def _type_variable_as_text(
    app: Sphinx, env: BuildEnvironment, node: pending_xref, contnode: nodes.TextElement
) -> nodes.Element | None:
    """Render a reference to a type variable (`MsgT` in a signature) as plain text.

    Type variables live in private modules and are not documented, so there is nothing
    to link to. A bare name (from a string annotation) is looked up in all our modules.
    Any other missing reference is still reported.
    """
    target = str(node.get("reftarget", ""))
    if "." in target:
        candidates = [target]
    else:
        ours = [m for m in sys.modules if m.split(".")[0] == "trio_eventsourcing"]
        candidates = [f"{module}.{target}" for module in sorted(ours)]
    for candidate in candidates:
        module_name, _, name = candidate.rpartition(".")
        try:
            value = getattr(importlib.import_module(module_name), name)
        except (ImportError, AttributeError, ValueError):
            continue
        # Type aliases (``Result``, ``EventSourcingError``...) are documented as data, and
        # a signature refers to them as classes: show them as text rather than fail.
        if isinstance(value, (TypeVar, ParamSpec)) or type(value).__name__ == "TypeAliasType":
            return contnode
    return None


def _public_name_of_private(
    app: Sphinx, env: BuildEnvironment, node: pending_xref, contnode: nodes.TextElement
) -> nodes.Element | None:
    """Resolve ``trio_eventsourcing._x.Name`` to where the public API exports ``Name``.

    Annotations evaluated inside a private module can name it; the documented name is the
    public re-export, which is the same object.
    """
    target = str(node.get("reftarget", ""))
    module_name, _, name = target.rpartition(".")
    if not module_name.startswith("trio_eventsourcing._"):
        return None
    try:
        value = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError):
        return None
    for public in sorted(m for m in sys.modules if m.startswith("trio_eventsourcing")):
        module = sys.modules[public]
        if "._" in public or getattr(module, name, None) is not value:
            continue
        if name not in getattr(module, "__all__", ()):
            continue
        domain = env.get_domain("py")
        return domain.resolve_xref(  # type: ignore[no-any-return]
            env,
            node.get("refdoc", ""),
            app.builder,
            node.get("reftype", "class"),
            f"{public}.{name}",
            node,
            contnode,
        )
    return None


class ReportRatios(SphinxDirective):
    """A table of chosen rows of the benchmark report printed further down the same page.

    The report is the ``.. code-block:: text`` whose table has a ``measure`` and a
    ``ratio`` column (performance.rst); its lines are too wide for the page, so this
    repeats the figures that matter, read from it at build time so that they cannot
    drift from it when the report is regenerated. The content is the rows' labels, as
    the report prints them; each is shown for every store section that has it. A label
    that the report does not have fails the build.
    """

    has_content = True

    def run(self) -> list[nodes.Node]:
        source = Path(self.state.document.current_source or "").read_text(encoding="utf-8")
        rows = _report_rows(source)
        wanted = [line.strip() for line in self.content if line.strip()]
        table = [
            ".. list-table::",
            "   :header-rows: 1",
            "",
            "   * - store",
            "     - measure",
            "     - this library",
            "     - the peer at its best",
            "     - ratio",
        ]
        found: set[str] = set()
        last_section = None
        for section, cells in rows:
            label = cells[0]
            if label not in wanted:
                continue
            found.add(label)
            unit, ours, uncached, cached, best, ratio = cells[1:7]
            peer = cached if best == "cached" else uncached
            table += [
                f"   * - {section if section != last_section else ''}",
                f"     - {re.sub(r' [(][a-z][)]', '', label).removesuffix(' — Trio-native')}",
                f"     - {_median(ours)} {unit}",
                f"     - {_median(peer)} {unit} ({best})",
                f"     - {ratio}",
            ]
            last_section = section
        missing = [label for label in wanted if label not in found]
        if missing:
            raise self.error(f"rows not in the page's benchmark report: {missing}")
        container = nodes.container()
        self.state.nested_parse(StringList(table), self.content_offset, container)
        return container.children


def _report_rows(source: str) -> list[tuple[str, list[str]]]:
    """The rows of the report's store sections: (store, cells split at 2+ spaces)."""
    rows: list[tuple[str, list[str]]] = []
    section = None
    in_table = False
    for line in source.splitlines():
        text = line.removeprefix("   ")
        if text.startswith("measure ") and " ratio " in text:
            in_table = True
        elif in_table and not line.strip():
            break
        elif in_table and " vs " in text and not text.startswith(" "):
            # A store section: "SQLite vs the peer's SQLite (...)"; other sections end it.
            section = text.split(" vs ")[0].removesuffix(" store")
        elif in_table and not text.startswith(" "):
            section = None
        elif in_table and section is not None:
            rows.append((section, re.split(r"\s{2,}", text.strip())))
    return rows


def _median(cell: str) -> str:
    """``36,684`` of ``36,684 (33,922-38,200)``."""
    return cell.split(" (")[0]


def setup(app: Sphinx) -> None:
    app.add_directive("report-ratios", ReportRatios)
    app.connect("missing-reference", _type_variable_as_text)
    app.connect("missing-reference", _public_name_of_private)
