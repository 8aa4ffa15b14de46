"""Results: ``Ok(value)`` or ``Error(error)``, as in Gleam's ``gleam/result``.

Example::

    from trio_eventsourcing.result import Error, Ok, Result

    def parse(text: str) -> Result[int, str]:
        return Ok(int(text)) if text.isdigit() else Error(f"not a number: {text!r}")

    match parse("42"):
        case Ok(number):
            print(number + 1)
        case Error(reason):
            print(reason)
"""

from ._runtime.public import publish as _publish
from ._runtime.result import Error as Error
from ._runtime.result import Ok as Ok
from ._runtime.result import Result as Result
from ._runtime.result import UnwrapError as UnwrapError
from ._runtime.result import is_error as is_error
from ._runtime.result import is_ok as is_ok
from ._runtime.result import map as map
from ._runtime.result import map_error as map_error
from ._runtime.result import try_ as try_

__all__ = [
    "Error",
    "Ok",
    "Result",
    "UnwrapError",
    "is_error",
    "is_ok",
    "map",
    "map_error",
    "try_",
]

_publish(__name__, globals(), __all__)
