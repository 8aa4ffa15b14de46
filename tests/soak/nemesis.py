"""The nemesis of the PostgreSQL soak: faults at random moments, from a seeded RNG.

Each fault is one of:

- ``terminate``: ``pg_terminate_backend`` of every backend of the store's database but
  the nemesis' own (an administrator, or a failover, ending sessions);
- ``cut-reset``: every TCP stream through the proxy reset at once;
- ``cut-to-server`` / ``cut-to-client``: every stream reset after a random number of
  further bytes one way, so a message (a ``COMMIT``, its answer) is cut in the middle;
- ``lose-requests`` / ``lose-replies``: bytes one way vanish for a random while, then the
  streams are reset (the server committed and the answer never came, or the ``COMMIT``
  never arrived);
- ``crash``: the cluster stopped with ``pg_ctl stop -m immediate`` (no checkpoint; crash
  recovery at start), left down a random while, and started again.

Sleeps here only set the random rhythm of the faults; nothing waits for an effect.
"""

from __future__ import annotations

import random
from collections import Counter

import trio

from tests.soak.cluster import PrivateCluster
from tests.soak.faulty_proxy import Direction, FaultyProxy

FAULTS: dict[str, int] = {
    "terminate": 3,
    "cut-reset": 2,
    "cut-to-server": 2,
    "cut-to-client": 2,
    "lose-requests": 1,
    "lose-replies": 2,
    "crash": 1,
}
"""Each kind of fault and its weight in the random choice."""

PAUSE_S = (0.05, 0.5)
"""Bounds of the random pause between faults."""

WINDOW_S = (0.02, 0.4)
"""Bounds of how long a black hole or an armed cut lasts."""

DOWN_S = (0.0, 0.6)
"""Bounds of how long a crashed cluster stays down."""


class Nemesis:
    """Injects faults into a store's path to its private cluster until stopped."""

    def __init__(
        self, rng: random.Random, cluster: PrivateCluster, proxy: FaultyProxy, dbname: str
    ) -> None:
        self._rng = rng
        self._cluster = cluster
        self._proxy = proxy
        self._dbname = dbname
        self.injected: Counter[str] = Counter()
        """Faults injected so far, by kind."""
        self.backends_terminated = 0
        self.streams_cut = 0

    def summary(self) -> str:
        """``kind=count`` for each kind of fault, in a fixed order."""
        return " ".join(f"{kind}={self.injected[kind]}" for kind in FAULTS)

    async def run(self, seconds: float) -> None:
        """Inject faults at random moments for ``seconds``; leave the system unharmed."""
        kinds = list(FAULTS)
        weights = list(FAULTS.values())
        rng = self._rng
        # Every kind once first, in a random order, so that even a short run meets each.
        first = rng.sample(kinds, len(kinds))
        with trio.move_on_after(seconds):
            while True:
                await trio.sleep(rng.uniform(*PAUSE_S))
                kind = first.pop() if first else rng.choices(kinds, weights)[0]
                # A fault runs to its end even when the time is up: a crashed cluster is
                # started again, a black hole closed.
                with trio.CancelScope(shield=True):
                    await self.inject(kind)

    async def inject(self, kind: str) -> None:
        """Inject one fault of ``kind``."""
        rng = self._rng
        proxy = self._proxy
        self.injected[kind] += 1
        if kind == "terminate":
            self.backends_terminated += await trio.to_thread.run_sync(self._terminate)
        elif kind == "cut-reset":
            self.streams_cut += proxy.cut_all()
        elif kind in ("cut-to-server", "cut-to-client"):
            direction = Direction.TO_SERVER if kind == "cut-to-server" else Direction.TO_CLIENT
            # Mostly within the next message or two (a PostgreSQL message of the store
            # is tens to hundreds of bytes), sometimes further on.
            budgets = [rng.choice([rng.randrange(0, 64), rng.randrange(0, 2048)]) for _ in "x" * 8]
            links = proxy.truncate(direction, budgets)
            before = proxy.cuts
            await trio.sleep(rng.uniform(*WINDOW_S))
            proxy.disarm(links)
            self.streams_cut += proxy.cuts - before
        elif kind in ("lose-requests", "lose-replies"):
            direction = Direction.TO_SERVER if kind == "lose-requests" else Direction.TO_CLIENT
            links = proxy.black_hole(direction)
            await trio.sleep(rng.uniform(*WINDOW_S))
            before = proxy.cuts
            proxy.cut(links)
            self.streams_cut += proxy.cuts - before
        elif kind == "crash":
            await trio.to_thread.run_sync(self._cluster.crash_and_restart, rng.uniform(*DOWN_S))
        else:
            raise ValueError(f"no such fault: {kind!r}")

    def _terminate(self) -> int:
        import psycopg

        try:
            with self._cluster.connect(self._dbname) as connection:
                row = connection.execute(
                    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))"
                    " FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                ).fetchone()
        except psycopg.OperationalError:
            return 0  # the server is starting up after a crash: nothing to end
        return 0 if row is None else int(row[0])
