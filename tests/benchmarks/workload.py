"""The benchmark workload, defined once for this library and for the peer.

The seed's bank account: an account is opened, then money is deposited into it. Both
sides replay the same scripts (lists of :class:`Open` and :class:`Deposit`, one list per
client), so what differs between them is the library alone.

- W1: ``accounts`` accounts, each opened then given ``deposits`` deposits, by 1
  sequential client and by ``clients`` concurrent clients.
- W2: a cold load of one aggregate with ``replay_events`` events, without and with a
  snapshot every ``snapshot_every`` events.
- W3: reading the whole global log (the peer: its notification log), decoded.
- W4: commands per second as the clients go through ``client_series``, and as the live
  (cached) aggregates go through ``live_series``.
- Scale checks: ``touched`` aggregates touched once each under a small and a large
  worker cap; commands on an aggregate of ``long_stream`` events against a fresh one;
  cold loads through ``cold_series`` events.
- Selections (SQLite, PostgreSQL; ``selection_bench.py``): a projection of one event type
  in three against the whole log's, on a log of ``selection_events`` events, in
  ``selection_rounds`` alternated rounds.
- Read-your-writes (every store; ``consistency_bench.py``): ``consistency_commands``
  commands with ``execute_and_wait`` and as many plain ones, in alternated blocks of
  ``consistency_block``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Workload:
    """The sizes of one benchmark run."""

    accounts: int
    deposits: int
    clients: int
    replay_events: int
    snapshot_every: int = 100
    client_series: tuple[int, ...] = (1, 10, 100, 1_000)
    live_series: tuple[int, ...] = (1_000, 10_000, 100_000)
    live_commands: int = 20_000
    million: int = 1_000_000  # the live aggregates of the density check, and its deposits
    million_commands: int = 100_000
    dense: int = 20_000  # accounts over which the bytes per cached aggregate are counted
    touched: int = 100_000
    caps: tuple[int, int] = (1_000, 100_000)
    long_stream: int = 10_000
    long_commands: int = 2_000
    long_commands_peer: int = 20
    cold_series: tuple[int, ...] = (1_000, 10_000, 100_000)
    since_snapshot: int = 50
    selection_events: int = 100_000
    selection_rounds: int = 3
    consistency_commands: int = 2_000
    consistency_block: int = 100

    @property
    def commands(self) -> int:
        """Commands in one W1 run: an open and the deposits of each account."""
        return self.accounts * (1 + self.deposits)


FULL = Workload(accounts=1_000, deposits=20, clients=100, replay_events=10_000)
# A smoke test of the harness (CI): every measurement runs, on a tenth of the sizes or
# less, so that the fsync-bound sequential rows on a busy disk still take seconds.
QUICK = Workload(
    accounts=40,
    deposits=10,
    clients=20,
    replay_events=2_000,
    client_series=(1, 10, 20),
    live_series=(1_000, 10_000),
    live_commands=5_000,
    million=100_000,
    million_commands=10_000,
    dense=5_000,
    touched=10_000,
    caps=(1_000, 10_000),
    long_stream=2_000,
    long_commands=500,
    long_commands_peer=10,
    cold_series=(1_000, 10_000),
    selection_events=20_000,
    selection_rounds=2,
    consistency_commands=300,
    consistency_block=50,
)


COLD_LOADS = 15
"""W2's timed cold loads, each side: one of each of as many aggregates built alike.

They follow one untimed load of another aggregate, as one load on a store just opened
would time the store's first read (a reader connection opened, a statement prepared)
rather than a cold aggregate; the median is reported."""


def sizes(quick: bool) -> Workload:
    """The workload of a ``--quick`` run or of a full one."""
    return QUICK if quick else FULL


@dataclass(frozen=True, slots=True)
class Open:
    """Open the account ``account_id``."""

    account_id: str


@dataclass(frozen=True, slots=True)
class Deposit:
    """Deposit ``amount`` into the account ``account_id``."""

    account_id: str
    amount: int


Op = Open | Deposit
"""One command of a script."""

Script = list[list[Op]]
"""One list of commands per client; a client sends its commands one after another."""


def account_ids(workload: Workload, run: str) -> list[str]:
    """Fresh account ids for one run (runs never share aggregates)."""
    return [f"{run}-{index}" for index in range(workload.accounts)]


def split(ids: list[str], clients: int) -> list[list[str]]:
    """Deal the accounts out to ``clients`` clients, round robin."""
    return [ids[client::clients] for client in range(clients)]


def w1_script(workload: Workload, clients: int, run: str) -> Script:
    """W1: each client opens its accounts in turn, each followed by its deposits."""
    return [
        [op for account_id in ids for op in _account_ops(account_id, workload.deposits)]
        for ids in split(account_ids(workload, run), clients)
    ]


def _account_ops(account_id: str, deposits: int) -> list[Op]:
    return [Open(account_id), *(Deposit(account_id, 10) for _ in range(deposits))]


def live_scripts(aggregates: int, commands: int, clients: int, run: str) -> tuple[Script, Script]:
    """W4 live aggregates: open ``aggregates`` accounts, then ``commands`` deposits.

    The deposits go round robin over all the accounts, so with more accounts than
    deposits each deposit reaches a different account. Returns the two scripts, set-up
    (untimed) and measured.
    """
    ids = [f"{run}-{index}" for index in range(aggregates)]
    opens: list[Op] = [Open(account_id) for account_id in ids]
    deposits: list[Op] = [Deposit(ids[index % aggregates], 10) for index in range(commands)]
    return _deal(opens, clients), _deal(deposits, clients)


def touch_script(aggregates: int, clients: int, run: str) -> Script:
    """The scale check: ``aggregates`` distinct accounts, each opened (touched) once."""
    return _deal([Open(f"{run}-{index}") for index in range(aggregates)], clients)


def _deal(ops: list[Op], clients: int) -> Script:
    return [ops[client::clients] for client in range(clients)]
