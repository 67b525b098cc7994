"""Everything kept in the database: the connection and schema (migrations included), the
models, event writes through the group-commit writer, dead letters, test-event rows, bounded
tables, job leases and run records, and export/import files. Never reads the request (``request``
or ``g``); may import ``core``."""
