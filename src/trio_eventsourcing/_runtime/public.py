"""Make re-exported names report the public module they are documented in."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping


def publish(module: str, namespace: Mapping[str, object], names: Iterable[str]) -> None:
    """Set ``__module__`` of each class and function in ``names`` to ``module``.

    Users import from the public modules only, so tracebacks, reprs and the docs should
    name those, not the private module a name is defined in.
    """
    for name in names:
        obj = namespace[name]
        if isinstance(obj, type) or callable(obj):
            # Builtins and some aliases refuse a new ``__module__``; they keep theirs.
            with contextlib.suppress(AttributeError, TypeError):
                obj.__module__ = module
