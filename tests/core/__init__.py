"""Tests of the event-sourcing core (SPEC §4), on the memory store."""
