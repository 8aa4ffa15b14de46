"""Argument checks shared by the public functions, with messages that name the argument."""

from __future__ import annotations

import math


def require_int(argument: str, value: object) -> int:
    """Return ``value`` if it is an ``int`` (and not a ``bool``), else raise ``TypeError``."""
    # ``bool`` is an ``int`` subclass, but ``timeout(True)`` is a bug, not a 1.
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{argument} must be an int, got {type(value).__name__}: {value!r}")
    return value


def require_positive_int(argument: str, value: object) -> int:
    """Return ``value`` if it is an ``int`` greater than zero, else raise a clear error."""
    number = require_int(argument, value)
    if number <= 0:
        raise ValueError(f"{argument} must be greater than zero, got {number}")
    return number


def require_non_negative_int(argument: str, value: object) -> int:
    """Return ``value`` if it is an ``int`` of zero or more, else raise a clear error."""
    number = require_int(argument, value)
    if number < 0:
        raise ValueError(f"{argument} must not be negative, got {number}")
    return number


def require_seconds(argument: str, value: object, *, zero: bool = False) -> float:
    """Return ``value`` as seconds if it is a finite number above zero (or zero, if allowed)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(
            f"{argument} must be a number of seconds, got {type(value).__name__}: {value!r}"
        )
    if not (math.isfinite(value) and (value >= 0 if zero else value > 0)):
        least = "zero or more" if zero else "above zero"
        raise ValueError(f"{argument} must be a finite number of seconds {least}, got {value!r}")
    return float(value)
