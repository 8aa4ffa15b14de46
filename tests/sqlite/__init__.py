"""Tests of the SQLite store beyond the shared store contract."""
