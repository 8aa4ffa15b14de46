"""The SQLite store: schema, writer, readers, log and projection source."""
