"""Sphinx configuration. `nox -s docs` builds with -W: every warning is an error."""

from __future__ import annotations

import importlib
import sys
from importlib.metadata import version as _version
from typing import ParamSpec, TypeVar

from docutils import nodes
from sphinx.addnodes import pending_xref
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment

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


def setup(app: Sphinx) -> None:
    app.connect("missing-reference", _type_variable_as_text)
    app.connect("missing-reference", _public_name_of_private)
