"""Fault-injection soak tests: what a store acknowledged is there, exactly once.

Each soak test runs the bank-account workload (concurrent clients, random deposits and
withdrawals, a unique op id in every command's metadata and the same id as its
idempotency key) while something breaks at random moments, then checks the stored
events, read straight from the database, against every answer the clients received:

- ``test_postgres_faults``: a private PostgreSQL cluster started for the session,
  reached through a proxy that cuts TCP streams; the nemesis terminates backends, cuts
  streams mid-message either way, loses requests or replies, and crashes and restarts
  the cluster. A second store (a second process, to the server) writes to the same
  tables meanwhile, connected directly.
- ``test_sqlite_kill``: a child process on an SQLite file, killed with SIGKILL at random
  moments and restarted on the same file.
- ``test_sqlite_disk_full``: an SQLite file on a disk that fills up and gets space back;
  and a child process killed while its disk is full, then restarted.

``test_checker`` and ``test_faulty_proxy`` (fast) show that the checker and the proxy
find and do what the soak relies on.

Knobs (``settings.py``): ``TRIO_ES_SOAK_SECONDS`` (a few seconds by default, as CI runs
the soak on every Python), ``TRIO_ES_SOAK_SEED`` (replays a run's random choices; printed
in every summary line and with every failure), ``TRIO_ES_SOAK_KEYS=0`` (the control run,
without idempotency keys), ``TRIO_ES_SOAK_DISK``. Each test prints a one-line summary in
pytest's terminal summary (section "soak"). ``python tests/soak/loop.py --runs 20
--seconds 30`` runs the soak again and again with longer budgets, printing each run's
summary lines.
"""
