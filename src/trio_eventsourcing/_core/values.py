"""The constructors of the validated positive numbers: :func:`frequency` and :func:`timeout`.

They check the number and report a bad one as the seed's ``NonPositiveArgument``; the
classes themselves live in the runtime, whose ``receive`` takes a :class:`Timeout`.
"""

from __future__ import annotations

from .._runtime.checks import require_int
from .._runtime.positive import Frequency as Frequency
from .._runtime.positive import Timeout as Timeout
from .._runtime.result import Error, Ok, Result
from .errors import NonPositiveArgument


def frequency(n: int) -> Result[Frequency, NonPositiveArgument]:
    """Validate a snapshot frequency: ``Ok(Frequency)`` if ``n > 0``.

    Example::

        assert frequency(5).unwrap().value == 5
        assert frequency(0) == Error(NonPositiveArgument())
    """
    if require_int("frequency", n) <= 0:
        return Error(NonPositiveArgument())
    made = Frequency._make(n)
    assert isinstance(made, Frequency)
    return Ok(made)


def timeout(ms: int) -> Result[Timeout, NonPositiveArgument]:
    """Validate a timeout in milliseconds: ``Ok(Timeout)`` if ``ms > 0``.

    Example::

        assert timeout(5000).unwrap().value == 5000
        assert timeout(-1) == Error(NonPositiveArgument())
    """
    if require_int("timeout", ms) <= 0:
        return Error(NonPositiveArgument())
    made = Timeout._make(ms)
    assert isinstance(made, Timeout)
    return Ok(made)
