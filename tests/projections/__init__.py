"""Tests of the global log and durable projections, on the memory and SQLite stores."""
