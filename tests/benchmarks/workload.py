"""The benchmark workload, defined once for this library and for the peer.

W1: ``accounts`` accounts, each opened then given ``deposits`` deposits, by 1
sequential client and by ``clients`` concurrent clients. W2: a cold load of one
aggregate with ``replay_events`` events, without and with snapshots every 100.
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

    @property
    def commands(self) -> int:
        """Commands in one W1 run: an open and the deposits of each account."""
        return self.accounts * (1 + self.deposits)


FULL = Workload(accounts=1_000, deposits=20, clients=100, replay_events=10_000)
QUICK = Workload(accounts=100, deposits=20, clients=100, replay_events=2_000)


def account_ids(workload: Workload, run: str) -> list[str]:
    """Fresh account ids for one run (runs never share aggregates)."""
    return [f"{run}-{index}" for index in range(workload.accounts)]


def split(ids: list[str], clients: int) -> list[list[str]]:
    """Deal the accounts out to ``clients`` clients, round robin."""
    return [ids[client::clients] for client in range(clients)]
