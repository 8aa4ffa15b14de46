"""The SQLite store: schema, writer, readers, log, projection source, inspector and backend."""
