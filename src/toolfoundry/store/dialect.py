"""What every store may rely on from a database, and the differences between SQLite and PostgreSQL SQL, in one place.

The stores write SQLite's SQL: ``?`` placeholders, ``INSERT OR IGNORE``, ``LIKE`` (case-blind for
ASCII). :func:`to_postgres` turns such a statement into PostgreSQL's (``%s`` placeholders and every
literal ``%`` doubled for psycopg, ``ON CONFLICT DO NOTHING``, ``ILIKE``); the rest of what differs
between the two — ``BEGIN IMMEDIATE`` against a transaction under an advisory lock, ``PRAGMA``\\s,
``rowid``, ``sqlite_master`` against ``information_schema`` — lives in the two database classes
(``store/db.py``, ``store/postgres.py``), behind the :class:`AnyDatabase` protocol defined here. A
store that needs a statement the translation cannot express carries both spellings itself (the
migrations do: ``Migration.sql_postgres``). It owns no table and opens no connection.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, Literal, Protocol

DialectName = Literal["sqlite", "postgresql"]


class Row(Protocol):
    """One result row: by position (``row[0]``), by column name (``row["name"]``), and ``dict(row)``."""

    def __getitem__(self, key: int | str, /) -> Any: ...

    def keys(self) -> list[str]: ...


class Cursor(Protocol):
    """What a statement run inside a transaction gives back."""

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    @property
    def rowcount(self) -> int: ...


class Connection(Protocol):
    """The connection a transaction hands its body: statements in the stores' (SQLite) spelling."""

    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Cursor: ...


class AnyDatabase(Protocol):
    """One database, SQLite or PostgreSQL: every error a one-line ``DatabaseError`` naming it."""

    @property
    def dialect(self) -> DialectName:
        """Which SQL the database speaks underneath (the stores always write SQLite's)."""
        ...

    @property
    def name(self) -> str:
        """How messages name it: the file, or the URL without its password."""
        ...

    @property
    def read_only(self) -> bool:
        """True when this process may only read it (a write raises ``DatabaseError`` saying so, before trying)."""
        ...

    def query(self, sql: str, params: Sequence[Any] = (), *, doing: str = "reading it",
              empty_on: tuple[str, ...] = ()) -> list[Any]: ...

    def one(self, sql: str, params: Sequence[Any] = (), *, doing: str = "reading it") -> Any: ...

    def execute(self, sql: str, params: Sequence[Any] = (), *, doing: str = "writing it") -> int: ...

    def transaction(self, *, doing: str = "writing it",
                    lock: str = "write") -> AbstractContextManager[Connection]: ...

    def has_table(self, table: str) -> bool: ...

    def prepare_schema(self, conn: Connection) -> None: ...

    def close(self) -> None: ...


def is_url(target: object) -> bool:
    """True for a PostgreSQL URL (``postgresql://…``, ``postgres://…``, ``postgresql+psycopg://…``): psycopg is
    imported only by a process that is given one."""
    return isinstance(target, str) and re.match(r"postgres(ql)?(\+\w+)?://", target) is not None


_TOKENS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|\?|%|\bINSERT\s+OR\s+IGNORE\b|\bLIKE\b", re.IGNORECASE)
"""What the translation looks at: quoted text (kept as it is, but for ``%``), placeholders, ``%``, two keywords."""


@functools.lru_cache(maxsize=512)
def to_postgres(sql: str) -> str:
    """``sql`` (SQLite's spelling, as the stores write it) in PostgreSQL's, for psycopg with positional parameters."""
    ignore = False

    def swap(match: re.Match[str]) -> str:
        nonlocal ignore
        found = match.group(0)
        if found[0] in "'\"":
            return found.replace("%", "%%")
        if found in ("?", "%"):
            return {"?": "%s", "%": "%%"}[found]
        if found.upper() == "LIKE":
            return "ILIKE"  # SQLite's LIKE ignores ASCII case; PostgreSQL's does not
        ignore = True
        return "INSERT"

    out = _TOKENS.sub(swap, sql)
    if ignore:
        out = out.rstrip().rstrip(";") + " ON CONFLICT DO NOTHING"
    return out
