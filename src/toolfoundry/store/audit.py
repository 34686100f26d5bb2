"""The audit log: every state change as an event in a hash chain, stored in SQLite or PostgreSQL.

This module owns the table ``audit_events`` (in the foundry's shared database, created by
``store/migrations.py``), the chain rule, verification and export; the head anchor (the newest
event's seq and hash, kept apart from the table so that cutting off the tail is detectable) is
``store/anchor.py``'s: a file beside a SQLite database, a row of ``audit_head`` in PostgreSQL. It does
not decide *what* to record: the workflow, the call path and the home do.

The chain rule covers every stored column: ``hash = sha256(prev_hash + canonical_json({v, seq, key, ts,
request_id, kind, actor, data}))`` (rule ``v = 2``; ``prev_hash`` is covered by the chaining itself).
Events written by toolfoundry 0.1 carry ``v = 1``, whose body has no ``v`` and no ``key``; they verify
by that rule, and a ``v`` changed from 2 to 1 no longer matches the stored hash.

Appends are serialised by SQLite (``BEGIN IMMEDIATE`` in WAL mode), or on PostgreSQL by
``pg_advisory_xact_lock`` on the ``audit`` key, and are safe from many threads, processes and machines.
The SQLite connection uses ``synchronous=NORMAL`` (≈0.4 ms an append here; FULL costs ≈0.65 ms):
durable across a process crash, which is what the workflow needs, and cheap enough to record every
tool call. After a power cut the newest events may be lost; if the head file survived them, ``verify``
reports a truncation, which is the honest reading of a log that lost its tail. On PostgreSQL the
event and the anchor commit together, with the server's durability settings.

A read-only home: reading and ``verify`` work; ``append`` fails at once with one line saying the home
is read-only (the database's check, before any lock or file is touched).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from toolfoundry.core import JSON
from toolfoundry.errors import InfraError, UsageError
from toolfoundry.store.anchor import GENESIS, Anchor, FileAnchor, Head, TableAnchor
from toolfoundry.store.db import connect_database, migrate
from toolfoundry.store.dialect import AnyDatabase, Connection

__all__ = ["GENESIS", "RULE", "AuditLog", "Event", "VerifyResult", "canonical_json", "chain_hash"]

RULE = 2
"""The chain rule new events are written with."""
_COLUMNS = "seq, key, ts, request_id, kind, actor, data, prev_hash, hash, v"


def canonical_json(value: JSON) -> str:
    """The one JSON text for ``value``: sorted keys, no spaces, UTF-8 kept, no NaN."""
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"audit data is not plain JSON: {exc}") from exc


def chain_hash(prev_hash: str, *, seq: int, key: str | None, ts: str, request_id: str | None, kind: str,
               actor: str, data: JSON, v: int = RULE) -> str:
    """The hash of one event given the hash of the event before it, by chain rule ``v``."""
    body: dict[str, JSON] = {"seq": seq, "ts": ts, "request_id": request_id, "kind": kind, "actor": actor,
                             "data": data}
    if v >= 2:
        body.update(v=v, key=key)
    return hashlib.sha256((prev_hash + canonical_json(body)).encode()).hexdigest()


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """One recorded state change."""

    seq: int
    """Position in the chain, 1, 2, 3, ... without gaps."""
    key: str | None
    """Idempotency key: appending the same key again returns this event."""
    ts: str
    """When it was recorded: ISO 8601, UTC, microseconds."""
    request_id: str | None
    """The request it belongs to, if any."""
    kind: str
    """What happened, e.g. ``request.created``, ``checks.done``, ``review.approved``, ``tool.merged``."""
    actor: str
    """Who caused it: a user name, a reviewer, ``foundry``."""
    data: dict[str, JSON]
    """The facts of the event (JSON only)."""
    prev_hash: str
    """The hash of the event before (``GENESIS`` for the first)."""
    hash: str
    """``sha256(prev_hash + canonical_json({v, seq, key, ts, request_id, kind, actor, data}))``."""
    v: int = RULE
    """The chain rule the hash was made with (1: toolfoundry 0.1, without ``v`` and ``key``)."""

    def to_json(self) -> dict[str, JSON]:
        """The event as one JSON object (for ``audit log --json``)."""
        return {"seq": self.seq, "key": self.key, "ts": self.ts, "request_id": self.request_id,
                "kind": self.kind, "actor": self.actor, "data": self.data,
                "prev_hash": self.prev_hash, "hash": self.hash}


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyResult:
    """What ``AuditLog.verify`` found."""

    ok: bool
    """True when every event chains correctly and the head anchor is present."""
    count: int
    """How many events the table holds."""
    first_bad_seq: int | None
    """The seq of the first event found edited, missing or out of place; None when ok."""
    reason: str
    """One sentence: the first problem, or a summary when ok."""


def _event(row: Sequence[Any]) -> Event:
    seq, key, ts, request_id, kind, actor, data, prev_hash, hash_, v = row
    try:
        parsed = json.loads(data)
    except (TypeError, ValueError) as exc:
        raise InfraError(f"audit event {seq} holds malformed data; run `toolfoundry audit verify`") from exc
    return Event(seq=seq, key=key, ts=ts, request_id=request_id, kind=kind, actor=actor,
                 data=parsed, prev_hash=prev_hash, hash=hash_, v=v)


class AuditLog:
    """The hash-chained audit log in a SQLite or PostgreSQL database, with its head anchor kept apart."""

    def __init__(self, db: Path | str | AnyDatabase, head_path: Path | None = None) -> None:
        """``db``: the SQLite file (its anchor is ``head_path``, default ``audit.head`` beside it), a
        ``postgresql://`` URL or an open database (the anchor is then the ``audit_head`` row)."""
        self._db = connect_database(db, timeout=30.0)
        self.name = self._db.name
        migrate(self._db)
        if self._db.dialect == "postgresql":
            self._anchor: Anchor = TableAnchor(self._db)
        else:
            path = Path(self._db.name)
            self._anchor = FileAnchor(head_path if head_path is not None else path.with_name("audit.head"), self._db)

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close this process's database connection (reopened on next use)."""
        self._db.close()

    # ── writing ──────────────────────────────────────────────────────────────────────────────────

    def append(self, kind: str, *, request_id: str | None, actor: str, data: dict[str, JSON],
               key: str | None = None) -> Event:
        """Record one event (or return the already recorded event with this ``key``)."""
        data_text = canonical_json(data)
        with self._db.transaction(doing=f"appending a {kind} event to the audit log", lock="audit") as conn:
            found = self._find_key(conn, key)
            event = found or self._insert_next(conn, kind, request_id, actor, json.loads(data_text), data_text, key)
            if found is None:
                self._anchor.advance_within(conn, (event.seq, event.hash))
        if found is None:
            self._anchor.advance_after((event.seq, event.hash))
        return event

    @staticmethod
    def _find_key(conn: Connection, key: str | None) -> Event | None:
        if key is None:
            return None
        row = conn.execute(f"SELECT {_COLUMNS} FROM audit_events WHERE key = ?", (key,)).fetchone()  # noqa: S608
        return None if row is None else _event(row)

    def _insert_next(self, conn: Connection, kind: str, request_id: str | None, actor: str,
                     data: dict[str, JSON], data_text: str, key: str | None) -> Event:
        last = conn.execute("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1").fetchone()
        seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
        self._refuse_if_truncated(seq - 1, self._anchor.read(conn))
        ts = datetime.now(UTC).isoformat(timespec="microseconds")
        hash_ = chain_hash(prev, seq=seq, key=key, ts=ts, request_id=request_id, kind=kind, actor=actor, data=data)
        conn.execute(f"INSERT INTO audit_events({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)",  # noqa: S608
                     (seq, key, ts, request_id, kind, actor, data_text, prev, hash_, RULE))
        return Event(seq=seq, key=key, ts=ts, request_id=request_id, kind=kind, actor=actor, data=data,
                     prev_hash=prev, hash=hash_)

    def _refuse_if_truncated(self, last_seq: int, head: Head | None) -> None:
        if head is not None and head[0] > last_seq:
            raise InfraError(f"audit log {self.name} ends at seq {last_seq} but its head anchor names "
                             f"seq {head[0]}: the log was truncated; run `toolfoundry audit verify`")

    # ── reading ──────────────────────────────────────────────────────────────────────────────────

    def events(self, *, request_id: str | None = None, kinds: Collection[str] | None = None,
               after: int = 0) -> list[Event]:
        """The events, in seq order, optionally only one request's, only some kinds, only those after seq ``after``."""
        where: list[str] = []
        params: list[object] = []
        if after:
            where.append("seq > ?")
            params.append(after)
        if request_id is not None:
            where.append("request_id = ?")
            params.append(request_id)
        if kinds is not None:
            kinds = [kinds] if isinstance(kinds, str) else list(kinds)
            where.append(f"kind IN ({','.join('?' * len(kinds))})")
            params.extend(kinds)
        sql = f"SELECT {_COLUMNS} FROM audit_events"  # noqa: S608 - only placeholders are interpolated
        sql += (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY seq"
        return [_event(row) for row in self._db.query(sql, params, doing="reading the audit log")]

    def last_seq(self, *, request_id: str | None = None) -> int:
        """The seq of the newest event (of one request), 0 when there is none."""
        if request_id is None:
            row = self._db.one("SELECT MAX(seq) FROM audit_events", [], doing="reading the audit log")
        else:
            row = self._db.one("SELECT MAX(seq) FROM audit_events WHERE request_id = ?", [request_id],
                               doing="reading the audit log")
        return int(row[0] or 0) if row is not None else 0

    def export_jsonl(self, *, request_id: str | None = None) -> Iterator[str]:
        """One JSON object per event (no trailing newline), in seq order: ``audit log --json``."""
        for event in self.events(request_id=request_id):
            yield json.dumps(event.to_json(), sort_keys=True, ensure_ascii=False)

    def export(self, fp: TextIO, *, request_id: str | None = None) -> int:
        """Write the events as JSON lines to ``fp``; return how many were written."""
        lines = list(self.export_jsonl(request_id=request_id))
        fp.writelines(line + "\n" for line in lines)
        return len(lines)

    def verify(self) -> VerifyResult:
        """Recompute the whole chain and check the head anchor; name the first bad event."""
        head = self._anchor.read()  # before the rows: the head never names an event not yet committed
        rows = self._db.query(f"SELECT {_COLUMNS} FROM audit_events ORDER BY seq",  # noqa: S608
                              doing="verifying the audit log")
        hashes: dict[int, str] = {}
        prev = GENESIS
        for expected, row in enumerate(rows, start=1):
            problem = _check_row(expected, prev, row)
            if problem is not None:
                return VerifyResult(ok=False, count=len(rows), first_bad_seq=problem[0], reason=problem[1])
            prev = hashes[expected] = row[8]
        return _check_head(head, hashes, len(rows), self._anchor.where)


def _check_row(expected: int, prev: str, row: Sequence[Any]) -> tuple[int, str] | None:
    """(bad seq, reason) when ``row`` is not the event that must come at position ``expected``."""
    seq, key, ts, request_id, kind, actor, data, prev_hash, hash_, v = row
    if seq != expected:
        return expected, f"event {expected} is missing: the log jumps from seq {expected - 1} to seq {seq}."
    if prev_hash != prev:
        return seq, (f"event {seq} does not follow event {seq - 1}: its prev_hash differs "
                     "(an event was deleted, inserted or reordered).")
    try:
        actual = chain_hash(prev, seq=seq, key=key, ts=ts, request_id=request_id, kind=kind, actor=actor,
                            data=json.loads(data), v=v) if v in (1, 2) else None
    except (TypeError, ValueError, UsageError):
        actual = None
    if actual != hash_:
        return seq, f"event {seq} was altered: its contents no longer match its hash."
    return None


def _check_head(head: Head | None, hashes: dict[int, str], count: int, where: str) -> VerifyResult:
    """The verdict once every row has chained correctly: is the head anchor's event still there?"""
    if head is None:
        return VerifyResult(ok=False, count=count, first_bad_seq=None,
                            reason=f"the head anchor ({where}) is missing, so truncation cannot be ruled out.")
    seq, hash_ = head
    if seq > 0 and seq not in hashes:
        return VerifyResult(ok=False, count=count, first_bad_seq=seq,
                            reason=f"event {seq}, named by the head anchor, is gone: the log was truncated "
                                   f"after seq {count}.")
    if hashes.get(seq, GENESIS) != hash_:
        return VerifyResult(ok=False, count=count, first_bad_seq=seq,
                            reason=f"event {seq} does not match the head anchor's hash (the log was rewritten).")
    return VerifyResult(ok=True, count=count, first_bad_seq=None,
                        reason=f"all {count} events chain correctly up to the head anchor at seq {seq}.")
