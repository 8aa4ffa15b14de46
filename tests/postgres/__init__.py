"""Tests of the PostgreSQL store beyond the shared contract (see tests/test_postgres_store.py)."""
