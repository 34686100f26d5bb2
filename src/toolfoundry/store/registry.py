"""The registry of deployed tools: versions, the active version of each name, loading, rollback.

Owns the ``tools`` and ``active`` tables (created by ``store/migrations.py``). Loading reads
``tool.py`` from the merge commit through the forge and refuses it (``TamperedTool``) unless its
sha256 is the one recorded at review (invariant 1: what runs is what was reviewed). A rollback is a
compare-and-swap on the active version. It does not run tools (the sandbox does) and does not write
the audit log (the call path and the workflow do).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from toolfoundry.core import JSON, Forge, Interface, Permissions, ToolRef
from toolfoundry.errors import Conflict, TamperedTool, UnknownTool, UsageError
from toolfoundry.store.db import connect_database, migrate
from toolfoundry.store.dialect import AnyDatabase, Row
from toolfoundry.toolfile import code_digest, tool_path


@dataclass(frozen=True, slots=True, kw_only=True)
class DeployedTool:
    """One deployed version of a tool, as recorded at merge."""

    ref: ToolRef
    """Name, version, reviewed sha256, merge commit."""
    request_id: str
    """The request that produced it."""
    interface: Interface
    """How it is called: function, description, signature, argument and result schemas."""
    permissions: Permissions
    """What it was approved to use."""
    deployed_at: str
    """ISO 8601 UTC time of deployment."""
    active: bool = False
    """True for the version that calls run."""

    def to_json(self) -> dict[str, JSON]:
        """The tool as `tools --json` prints it."""
        i = self.interface
        return {**self.ref.to_json(), "request_id": self.request_id, "active": self.active,
                "description": i.description, "signature": i.signature, "args_schema": i.args_schema,
                "result_schema": i.result_schema, "permissions": self.permissions.to_json(),
                "deployed_at": self.deployed_at}


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadedTool:
    """A tool ready to run: the reviewed bytes, checked."""

    tool: DeployedTool
    """What the registry recorded."""
    code: str
    """The source of ``tool.py`` read from the merge commit; its sha256 matched."""


_COLUMNS = "t.name, t.version, t.sha256, t.commit_sha, t.request_id, t.spec, t.permissions, t.deployed_at"


class Registry:
    """Deployed tools, their versions and which one is active."""

    def __init__(self, db: Path | str | AnyDatabase, forge: Forge) -> None:
        """``db``: the SQLite file, a ``postgresql://`` URL, or an open database."""
        self._db = connect_database(db)
        migrate(self._db)
        self._forge = forge

    def next_version(self, name: str) -> int:
        """The version number a new deployment of ``name`` would get."""
        row = self._db.one("SELECT MAX(version) FROM tools WHERE name = ?", (name,))
        return int(row[0] or 0) + 1 if row is not None else 1

    def record(self, *, ref: ToolRef, request_id: str, interface: Interface,
               permissions: Permissions) -> DeployedTool:
        """Record a merged version and make it active, atomically; idempotent per request."""
        if ref.commit is None:
            raise ValueError("a deployed tool needs its merge commit")
        with self._db.transaction(doing=f"recording the deployment of {ref.name} v{ref.version}") as conn:
            _write(conn, ref, request_id, interface, permissions)
        found = self.get(ref.name, ref.version)
        assert found is not None
        return found

    def rehearse(self, *, ref: ToolRef, request_id: str, interface: Interface, permissions: Permissions) -> None:
        """Make the writes :meth:`record` will make, then roll them back: the workflow merges only once the
        deployment is known to be recordable (not, say, in a database with columns this release cannot fill)."""
        try:
            with self._db.transaction(doing=f"checking that the deployment of {ref.name} v{ref.version} can be"
                                            f" recorded, before merging it") as conn:
                _write(conn, replace(ref, commit=ref.commit or "0" * 40), request_id, interface, permissions)
                raise _Rehearsed  # rolls the transaction back
        except _Rehearsed:
            pass

    def get(self, name: str, version: int | None = None) -> DeployedTool | None:
        """A specific version, or the active one when ``version`` is None."""
        if version is None:
            row = self._db.one(f"SELECT {_COLUMNS}, 1 AS is_active FROM tools t JOIN active a"  # noqa: S608
                               " ON a.name = t.name AND a.version = t.version WHERE t.name = ?", (name,))
        else:
            row = self._db.one(
                f"SELECT {_COLUMNS}, EXISTS(SELECT 1 FROM active a WHERE a.name = t.name AND a.version = t.version)"  # noqa: S608
                " AS is_active FROM tools t WHERE t.name = ? AND t.version = ?", (name, version))
        return _tool(row) if row else None

    def by_request(self, request_id: str) -> DeployedTool | None:
        """The version a request deployed, if any."""
        row = self._db.one("SELECT name, version FROM tools WHERE request_id = ?", (request_id,))
        return self.get(row["name"], row["version"]) if row else None

    def active(self) -> list[DeployedTool]:
        """Every active tool, by name."""
        rows = self._db.query(f"SELECT {_COLUMNS}, 1 AS is_active FROM tools t JOIN active a"  # noqa: S608
                              " ON a.name = t.name AND a.version = t.version ORDER BY t.name")
        return [_tool(r) for r in rows]

    def names(self) -> list[str]:
        """The name of every tool ever deployed (rolled back or not), sorted."""
        return [str(r[0]) for r in self._db.query("SELECT DISTINCT name FROM tools ORDER BY name")]

    def versions(self, name: str) -> list[DeployedTool]:
        """Every deployed version of ``name``, oldest first."""
        rows = self._db.query(
            f"SELECT {_COLUMNS}, EXISTS(SELECT 1 FROM active a WHERE a.name = t.name AND a.version = t.version)"  # noqa: S608
            " AS is_active FROM tools t WHERE t.name = ? ORDER BY version", (name,))
        return [_tool(r) for r in rows]

    def rollback(self, name: str, to: int | None = None) -> tuple[DeployedTool, DeployedTool]:
        """Make an earlier version active (default: the one before the active one); return (old, new)."""
        current = self.get(name)
        if current is None:
            raise UnknownTool(f"no deployed tool named {name!r}")
        versions = [t.ref.version for t in self.versions(name)]
        if to is None:
            earlier = [v for v in versions if v < current.ref.version]
            if not earlier:
                raise UsageError(f"{name} v{current.ref.version} is its earliest version; nothing to roll back to")
            to = earlier[-1]
        if to not in versions:
            raise UsageError(f"{name} has no version {to} (versions: {', '.join(map(str, versions))})")
        if to == current.ref.version:
            raise UsageError(f"{name} v{to} is already the active version")
        changed = self._db.execute("UPDATE active SET version = ? WHERE name = ? AND version = ?",
                                   (to, name, current.ref.version), doing=f"rolling {name} back")
        if changed != 1:
            raise Conflict(f"the active version of {name} changed while rolling back; look again and retry")
        new = self.get(name)
        assert new is not None
        return current, new

    def load(self, name: str, version: int | None = None) -> LoadedTool:
        """The reviewed bytes of a tool, read from its merge commit; refuses on any hash mismatch."""
        tool = self.get(name, version)
        if tool is None:
            raise UnknownTool(f"no deployed tool named {name!r}" if version is None
                              else f"{name} has no version {version}")
        assert tool.ref.commit is not None
        data = self._forge.read_file(tool.ref.commit, tool_path(name))
        digest = code_digest(data)
        if digest != tool.ref.sha256:
            raise TamperedTool(
                f"refusing to load {name} v{tool.ref.version}: {tool_path(name)} at {tool.ref.commit[:12]}"
                f" has sha256 {digest[:16]}…, but the reviewed sha256 is {tool.ref.sha256[:16]}…")
        return LoadedTool(tool=tool, code=data.decode("utf-8"))

    def close(self) -> None:
        """Close the connection."""
        self._db.close()


class _Rehearsed(Exception):
    """Ends :meth:`Registry.rehearse`'s transaction (rolled back) once its writes went through."""


def _write(conn: Any, ref: ToolRef, request_id: str, interface: Interface, permissions: Permissions) -> None:
    """The rows of one deployment (none when the request's is there already), in a transaction."""
    if conn.execute("SELECT name FROM tools WHERE request_id = ?", (request_id,)).fetchone() is not None:
        return
    now = datetime.now(UTC).isoformat(timespec="microseconds")
    conn.execute("INSERT INTO tools(name, version, sha256, commit_sha, request_id, spec, permissions, deployed_at)"
                 " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                 (ref.name, ref.version, ref.sha256, ref.commit, request_id, json.dumps(interface.to_json()),
                  json.dumps(permissions.to_json()), now))
    conn.execute("INSERT INTO active(name, version) VALUES (?, ?) ON CONFLICT(name) DO UPDATE"
                 " SET version = excluded.version", (ref.name, ref.version))


def _tool(row: Row) -> DeployedTool:
    perms = json.loads(row["permissions"])
    return DeployedTool(
        ref=ToolRef(name=row["name"], version=row["version"], sha256=row["sha256"], commit=row["commit_sha"]),
        request_id=row["request_id"], interface=Interface.from_json(json.loads(row["spec"])),
        permissions=Permissions.from_json(perms),
        deployed_at=row["deployed_at"], active=bool(row["is_active"]))
