"""The ``[database]`` section of toolfoundry.toml: where the ledger, registry and audit log live.

Empty ``url`` (the default): ``foundry.db`` in the home, SQLite, one machine. A ``postgresql://`` URL
(or ``$TOOLFOUNDRY_DATABASE_URL``): the cluster's PostgreSQL database, the same one DBOS keeps its
``dbos`` schema in; toolfoundry's tables go in ``schema``. Parsing and the environment are
``toolfoundry/settings.py``'s; this module only says what the values are and checks them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from toolfoundry.errors import UsageError

_SCHEMA = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_URL = re.compile(r"postgres(ql)?(\+\w+)?://\S*")


@dataclass(frozen=True, slots=True, kw_only=True)
class DatabaseSettings:
    """Where toolfoundry's own state lives."""

    url: str = field(default="", repr=False)
    """``postgresql://USER[:PASSWORD]@HOST[:PORT]/DBNAME[?…]`` for a cluster; empty for the home's SQLite file."""
    schema: str = "toolfoundry"
    """The PostgreSQL schema of toolfoundry's tables (beside DBOS's ``dbos``); one per foundry sharing a database."""
    pool_size: int = 4
    """At most this many connections per process to PostgreSQL, shared by its threads."""

    @property
    def postgres(self) -> bool:
        """True when the state is in PostgreSQL."""
        return bool(self.url)

    def check(self, where: str) -> DatabaseSettings:
        """``self``, or ``UsageError`` naming ``where`` when a value is out of range."""
        if self.url and not _URL.fullmatch(self.url):
            raise UsageError(f"{where}: url must be a postgresql://USER@HOST:PORT/DBNAME URL (or empty for the"
                             f" home's SQLite database)")
        if not _SCHEMA.fullmatch(self.schema):
            raise UsageError(f"{where}: schema must be a lower-case identifier (letters, digits, _), got"
                             f" {self.schema!r}")
        if not 1 <= self.pool_size <= 100:
            raise UsageError(f"{where}: pool_size must be between 1 and 100, got {self.pool_size}")
        return self
