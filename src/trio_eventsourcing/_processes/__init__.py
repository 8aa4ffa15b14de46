"""Process managers: workflows across aggregates, driven by the global log.

The top layer below the CLI: it follows the log as projections do, and sends commands to
event-sourcing systems.
"""
