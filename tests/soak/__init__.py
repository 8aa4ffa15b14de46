"""Fault-injection soak tests: what a store acknowledged is there, exactly once.

Each test runs the bank-account workload (concurrent clients, random deposits and
withdrawals, a unique op id in every command's metadata and a unique idempotency key)
while a nemesis breaks things at random moments, then checks the stored events against
every answer the clients received:

- ``test_postgres_faults``: a private PostgreSQL cluster started for the run, reached
  through a proxy that cuts TCP streams; backends are terminated, streams cut mid-message
  in either direction, the cluster crashed and restarted.
- ``test_sqlite_kill``: a child process on an SQLite file, killed with SIGKILL at random
  moments and restarted on the same file.
- ``test_sqlite_disk_full``: an SQLite file on a disk that fills up, then gets space back.

The budget is ``TRIO_ES_SOAK_SECONDS`` (a few seconds by default, as CI runs it on every
Python); ``TRIO_ES_SOAK_SEED`` replays a run's random choices (printed with every
summary and on failure). ``python tests/soak/loop.py --runs 20 --seconds 30`` runs the
soak again and again with longer budgets, printing each run's summary line.
"""
