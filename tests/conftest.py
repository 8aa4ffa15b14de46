"""Suite-wide test configuration: a watchdog so that a hung test fails instead of stalling CI.

Each test (setup, call and teardown) gets ``TRIO_ES_TEST_TIMEOUT`` seconds (default 120;
``0`` disables the watchdog, e.g. under a debugger). Past that, :mod:`faulthandler` dumps
every thread's stack to the terminal and ends the process with exit status 1. Run with
``-v`` to see which test was running: in a Trio test the stack shows the event loop, not
the awaiting test.
"""

from __future__ import annotations

import faulthandler
import os
from collections.abc import Generator

import pytest

_TIMEOUT = float(os.environ.get("TRIO_ES_TEST_TIMEOUT", "120"))
_STDERR_FD = pytest.StashKey[int]()


def pytest_configure(config: pytest.Config) -> None:
    # Output capturing is suspended between tests, so fd 2 is the real stderr here. During a
    # test it is redirected to a capture file that is lost when the watchdog ends the
    # process, so the dump goes to this duplicate instead.
    config.stash[_STDERR_FD] = os.dup(2)


def pytest_unconfigure(config: pytest.Config) -> None:
    faulthandler.cancel_dump_traceback_later()
    if _STDERR_FD in config.stash:
        os.close(config.stash[_STDERR_FD])
        del config.stash[_STDERR_FD]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, object, object]:
    if _TIMEOUT > 0:
        faulthandler.dump_traceback_later(_TIMEOUT, exit=True, file=item.config.stash[_STDERR_FD])
    try:
        return (yield)
    finally:
        faulthandler.cancel_dump_traceback_later()


@pytest.hookimpl(tryfirst=True)
def pytest_enter_pdb() -> None:
    # Never kill an interactive debugging session.
    faulthandler.cancel_dump_traceback_later()
