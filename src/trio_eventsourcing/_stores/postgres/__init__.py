"""The PostgreSQL store.

Connection, schema, writer, reader, log, projection source and LISTEN wake-ups.
"""
