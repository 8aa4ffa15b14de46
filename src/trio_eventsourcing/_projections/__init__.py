"""Durable projections.

Policies, the engine, following the log, the public functions.
"""
