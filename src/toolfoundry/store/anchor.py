"""Where the audit chain's head anchor is kept: a file beside a SQLite database, or a row in PostgreSQL.

The anchor is ``(seq, hash)`` of the newest event, kept apart from ``audit_events`` so that cutting off
the log's tail (or restoring an older copy of the table) is detectable: ``verify`` finds the anchor's
event gone. It only ever moves forward.

- :class:`FileAnchor` (SQLite): ``<home>/audit.head`` holding ``"<seq> <hash>"``, replaced atomically
  under an ``flock`` right *after* each append commits; a crash in between leaves it one event behind,
  which verification tolerates (events beyond the anchor are fine, missing ones are not).
- :class:`TableAnchor` (PostgreSQL): the one row of ``audit_head`` (migration ``0005``), moved *inside*
  each append's transaction, under the same advisory lock, so the anchor lives wherever the database
  lives and no worker's disk holds it.

Both are tamper-evidence for the table alone: whoever can rewrite the table *and* the anchor can rewrite
history, which only a copy of the anchor kept elsewhere (``audit log --json`` exported off the machine)
would show. It decides nothing and writes no event.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from toolfoundry.errors import InfraError
from toolfoundry.store.dialect import AnyDatabase, Connection

GENESIS = "0" * 64
"""The ``prev_hash`` of the first event, and the hash an empty log's anchor names (at seq 0)."""

Head = tuple[int, str]
"""(seq, hash) of the newest event the anchor vouches for."""


class Anchor(Protocol):
    """The head anchor of one audit log."""

    where: str
    """How messages name it."""

    def read(self, conn: Connection | None = None) -> Head | None:
        """The anchor (inside the append transaction ``conn`` when given), None when it is missing."""
        ...

    def advance_within(self, conn: Connection, head: Head) -> None:
        """Move the anchor to ``head`` inside the transaction that appended it (PostgreSQL)."""
        ...

    def advance_after(self, head: Head) -> None:
        """Move the anchor to ``head`` once its append committed (SQLite)."""
        ...


class FileAnchor:
    """``audit.head`` beside the SQLite database."""

    def __init__(self, path: Path, db: AnyDatabase) -> None:
        self.path = Path(path)
        self.where = str(self.path)
        if not self.path.exists() and os.access(self.path.parent, os.W_OK):
            with self._lock():  # a fresh log gets its anchor now; a missing one later is for verify
                if not self.path.exists() and not db.query("SELECT 1 FROM audit_events LIMIT 1"):
                    self._write((0, GENESIS))

    def read(self, conn: Connection | None = None) -> Head | None:
        try:
            seq, hash_ = self.path.read_text().split()
            return int(seq), hash_
        except FileNotFoundError:
            return None
        except ValueError as exc:
            raise InfraError(f"audit head file {self.path} is malformed") from exc

    def advance_within(self, conn: Connection, head: Head) -> None:
        """Nothing: the file moves after the commit."""

    def advance_after(self, head: Head) -> None:
        with self._lock():
            current = self.read()
            if current is None or current[0] < head[0]:
                self._write(head)

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        lock_path = self.path.with_name(self.path.name + ".lock")
        try:
            handle = open(lock_path, "a")  # noqa: SIM115 (closed below; the lock goes with it)
        except OSError as exc:
            raise InfraError(f"cannot lock the audit head {self.path}: {exc.strerror}") from None
        with handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    def _write(self, head: Head) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(f"{head[0]} {head[1]}\n")
        os.replace(tmp, self.path)


class TableAnchor:
    """The row of ``audit_head`` in the PostgreSQL schema."""

    def __init__(self, db: AnyDatabase) -> None:
        self._db = db
        self.where = f"the audit_head table of {db.name}"

    def read(self, conn: Connection | None = None) -> Head | None:
        sql = "SELECT seq, hash FROM audit_head WHERE id = 1"
        row = conn.execute(sql).fetchone() if conn is not None else self._db.one(sql, doing="reading the audit head")
        return None if row is None else (int(row[0]), str(row[1]))

    def advance_within(self, conn: Connection, head: Head) -> None:
        conn.execute("INSERT INTO audit_head(id, seq, hash) VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE"
                     " SET seq = excluded.seq, hash = excluded.hash WHERE audit_head.seq < excluded.seq", head)

    def advance_after(self, head: Head) -> None:
        """Nothing: the row moved in the append's transaction."""
