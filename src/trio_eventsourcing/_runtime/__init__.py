"""OTP on Trio: results, mailboxes and timers, processes, actors, supervisors.

Imports nothing of event sourcing: every other layer builds on it.
"""
