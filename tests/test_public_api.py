"""The public surface is deliberate: every public module exports exactly what it means to.

As anyio and httpx test their export lists: ``__all__`` is complete, sorted and resolvable;
exported classes and functions name a public module in ``__module__`` (users never see
``trio_eventsourcing._anything``) and carry a docstring; concrete classes are ``@final``.
"""

from __future__ import annotations
import __future__

import enum
import importlib
import inspect
import types

import pytest

# Extend as modules land (SPEC.md §1).
PUBLIC_MODULES = [
    "trio_eventsourcing",
    "trio_eventsourcing.actor",
    "trio_eventsourcing.codec",
    "trio_eventsourcing.memory_store",
    "trio_eventsourcing.postgres_store",
    "trio_eventsourcing.process",
    "trio_eventsourcing.projections",
    "trio_eventsourcing.result",
    "trio_eventsourcing.sqlite_store",
    "trio_eventsourcing.static_supervisor",
    "trio_eventsourcing.supervision",
]

# Public classes meant to be subclassed, or to be the shared base of a family, so not @final.
NOT_FINAL = frozenset({"EventSourcingErrorBase", "EventSourcingException"})


def _ruff_order(name: str) -> tuple[bool, bool, str]:
    """The order ruff's RUF022 keeps ``__all__`` in: CONSTANTS, then Classes, then the rest."""
    return (not name.isupper(), not name[:1].isupper(), name)


def _exports(module_name: str) -> list[tuple[str, object]]:
    module = importlib.import_module(module_name)
    return [(name, getattr(module, name)) for name in module.__all__]


def _classes_and_functions(module_name: str) -> list[tuple[str, type | types.FunctionType]]:
    return [
        (name, value)
        for name, value in _exports(module_name)
        if isinstance(value, (type, types.FunctionType))
    ]


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_all_is_sorted_unique_and_resolves(module_name: str) -> None:
    module = importlib.import_module(module_name)
    exported = module.__all__
    assert isinstance(exported, (list, tuple))
    assert all(isinstance(name, str) for name in exported)
    assert list(exported) == sorted(exported, key=_ruff_order), "__all__ is not sorted"
    assert len(set(exported)) == len(exported), "__all__ has duplicates"
    missing = [name for name in exported if not hasattr(module, name)]
    assert not missing, f"__all__ names attributes that do not exist: {missing}"


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_all_is_complete(module_name: str) -> None:
    module = importlib.import_module(module_name)
    public = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and value is not __future__.annotations
    }
    unexported = sorted(public - set(module.__all__))
    assert not unexported, f"public but not in __all__ (export them or prefix _): {unexported}"


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_exports_name_a_public_module(module_name: str) -> None:
    wrong = {
        name: value.__module__
        for name, value in _classes_and_functions(module_name)
        if value.__module__.split(".")[0] == "trio_eventsourcing"
        and any(part.startswith("_") for part in value.__module__.split("."))
    }
    assert not wrong, f"set __module__ to the public module that exports them: {wrong}"


def _has_own_docstring(value: type | types.FunctionType) -> bool:
    doc = value.__doc__
    if not doc or not doc.strip():
        return False
    if isinstance(value, type):
        # Generated, not written: a dataclass's signature ("Name(field: type, ...)"), and
        # Enum's stock docstring on Python 3.10.
        if "__dataclass_fields__" in vars(value) and doc.startswith(f"{value.__name__}("):
            return False
        if issubclass(value, enum.Enum) and doc == "An enumeration.":
            return False
    return True


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_exports_have_docstrings(module_name: str) -> None:
    undocumented = sorted(
        name
        for name, value in _classes_and_functions(module_name)
        if value.__module__.startswith("trio_eventsourcing") and not _has_own_docstring(value)
    )
    assert not undocumented, f"public classes and functions without a docstring: {undocumented}"


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_concrete_classes_are_final(module_name: str) -> None:
    not_final = sorted(
        name
        for name, value in _classes_and_functions(module_name)
        if isinstance(value, type)
        and value.__module__.startswith("trio_eventsourcing")
        and name not in NOT_FINAL
        and not inspect.isabstract(value)
        # A Protocol is an interface for users to implement, never a concrete class.
        and not getattr(value, "_is_protocol", False)
        # An Enum with members cannot be subclassed anyway.
        and not (issubclass(value, enum.Enum) and len(value) > 0)
        and not getattr(value, "__final__", False)
    )
    assert not not_final, f"mark these @final, or add them to NOT_FINAL with a reason: {not_final}"


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_exports_have_signatures_that_resolve_where_they_are_published(module_name: str) -> None:
    # Their __module__ is the public module, where annotations kept as strings could not
    # be evaluated: the docs (autodoc) and inspect.signature would fail on them.
    failing = []
    for name, value in _classes_and_functions(module_name):
        if not value.__module__.startswith("trio_eventsourcing"):
            continue
        try:
            inspect.signature(value)
        except ValueError:
            pass  # no signature to give (a builtin's __init__), which is not a failure
        except Exception as exc:
            failing.append(f"{name}: {type(exc).__name__}: {exc}")
    assert not failing, failing
