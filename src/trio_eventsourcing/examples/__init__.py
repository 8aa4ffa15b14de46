"""Runnable examples: the seed's bank account, typed, and a demo that drives it."""
