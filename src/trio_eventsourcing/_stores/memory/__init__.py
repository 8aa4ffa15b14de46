"""The memory store: tables in the store value, its log and projection source."""
