"""Process managers: workflows across aggregates, with timers, that compensate.

A process manager follows events of the global log, routes each to an instance (a
transfer, an order), and decides from the instance's state what to do: its new state,
commands to send to event-sourcing systems, timers to set or cancel. Commands go out
from an outbox with idempotency keys derived from what caused them, so a command sent
again is stored at most once; a command the domain rejects is told back to its instance
(:class:`CommandRejected`), so that it can compensate; a timer that fires is told too
(:class:`TimerFired`). Timers run on Trio's clock: under ``trio.testing.MockClock`` they
fire in no real time.

On SQLite and PostgreSQL a manager keeps its instances, outbox, timers and position in
the store, saved one step at a time in one transaction: give it ``targets=`` and a
``codec=`` for its commands and states. A command leaves only once the step that decided
it is saved, so a crash never loses a decision, and a restart decides again on what was
not saved, under the same keys. On PostgreSQL one process at a time runs a manager; the
others stand by. See ``docs/process_managers.rst``.

Example::

    def decide(state: Transfer, happened: TransferEvent | TimerFired | CommandRejected
               ) -> Decision[Transfer]:
        ...

    transfers = process_managers.process_manager(
        "transfers", projections.select(transfer_store), route=route,
        initial=lambda transfer_id: Transfer(transfer_id), handle=decide,
    )
    handle, spec = process_managers.supervised(transfers)
"""

from ._processes.api import ProcessManager as ProcessManager
from ._processes.api import process_manager as process_manager
from ._processes.api import supervised as supervised
from ._processes.decisions import CancelTimer as CancelTimer
from ._processes.decisions import CommandRejected as CommandRejected
from ._processes.decisions import Decision as Decision
from ._processes.decisions import Send as Send
from ._processes.decisions import SetTimer as SetTimer
from ._processes.decisions import Target as Target
from ._processes.decisions import TimerFired as TimerFired
from ._processes.statistics import ProcessManagerHandle as ProcessManagerHandle
from ._processes.statistics import ProcessManagerState as ProcessManagerState
from ._processes.statistics import ProcessManagerStatistics as ProcessManagerStatistics
from ._runtime.public import publish as _publish

__all__ = [
    "CancelTimer",
    "CommandRejected",
    "Decision",
    "ProcessManager",
    "ProcessManagerHandle",
    "ProcessManagerState",
    "ProcessManagerStatistics",
    "Send",
    "SetTimer",
    "Target",
    "TimerFired",
    "process_manager",
    "supervised",
]

_publish(__name__, globals(), [n for n in __all__ if n != "ProcessManagerState"])
