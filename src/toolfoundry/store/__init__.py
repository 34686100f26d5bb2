"""The home's durable state: the database connection and its migrations, the requests ledger, the registry
of deployed tools, the hash-chained audit log, the tool search index, and the watcher of tool changes.

Each module owns its tables; ``db.py`` owns connecting, translating database errors, and the schema
migrations every table is created and upgraded by. Nothing here decides anything or runs a tool.
"""
