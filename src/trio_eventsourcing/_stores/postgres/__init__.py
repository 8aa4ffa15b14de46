"""The PostgreSQL store.

Connection, schema, writer, reader, log, projection source, LISTEN wake-ups, inspector
and backend.
"""
