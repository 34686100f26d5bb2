"""The deployed-tool methods of ``Foundry``: list, read, search, watch for changes, call, roll back.

Owns the change watcher's life inside a ``Foundry`` (opened on the first ``on_change``) and the audit
events of rollbacks and agent runs. It does not check or run calls itself (``calls.py``), does not load
tool bytes (``store/registry.py``) and does not deploy anything (the workflows do).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from toolfoundry.core import JSON, CallResult
from toolfoundry.errors import UsageError
from toolfoundry.facade import Holds
from toolfoundry.store.changes import ToolChange
from toolfoundry.store.registry import DeployedTool
from toolfoundry.store.search import Match
from toolfoundry.store.stores import open_watcher


class ToolMethods(Holds):
    """The tools a home has deployed, and calling them."""

    def tools(self) -> list[DeployedTool]:
        """The active version of every deployed tool."""
        return self._parts.registry.active()

    def code(self, name: str, version: int | None = None) -> str:
        """The reviewed source of a deployed tool (the active version by default), hash-checked."""
        return self._parts.registry.load(name, version).code

    def search(self, query: str, *, limit: int = 5) -> list[Match]:
        """Deployed tools that fit a free-text need, best first (SQLite FTS5, bm25); [] when none does."""
        if not 1 <= limit <= 100:
            raise UsageError("limit must be between 1 and 100")
        self.trust.actor("search")
        self._parts.index.rebuild(self.tools())
        return self._parts.index.search(query, limit=limit)

    def on_change(self, callback: Callable[[ToolChange], None]) -> Callable[[], None]:
        """Call ``callback(change)`` whenever a tool is deployed, updated or rolled back, by any process on the
        home (by this object: before the call that made it returns; else within about 0.25 s, on a thread).
        Returns a function that stops it. A callback that raises is logged; the others still run."""
        with self._watcher_lock:
            if self._watcher is None:
                self._watcher = open_watcher(self.settings.home, self.settings.database)
            return self._watcher.subscribe(callback)

    def _changed(self) -> None:
        """Report a change this object may just have made to on_change callbacks, without waiting for a poll."""
        with self._watcher_lock:
            watcher = self._watcher
        if watcher is not None:
            watcher.check()

    def call(self, name: str, args: Mapping[str, JSON] | None = None, /, *, caller: str | None = None,
             **kwargs: JSON) -> CallResult:
        """Call a deployed tool in the sandbox (the reviewed bytes, hash-checked): ``call("add", a=1)`` or
        ``call("add", {"a": 1})``; ``caller`` is who the audit log records. A tool that fails gives ``ok=False``
        with ``error``; bad arguments raise ``UsageError``."""
        if args is not None and kwargs:
            raise UsageError("pass the arguments either as a mapping or as keywords, not both")
        caller = self.trust.actor("call", caller)  # a token acts as its principal, never as a name it claims
        return self._calls.call(name, dict(args if args is not None else kwargs), caller=caller)

    def rollback(self, name: str, to: int | None = None, *, actor: str | None = None) -> DeployedTool:
        """Make an earlier version of ``name`` the active one; audited. A token needs the admin scope."""
        actor = self.trust.actor("admin", actor)
        old, new = self._parts.registry.rollback(name, to)
        self._parts.registry.load(name)  # the version we roll back to must still load with its reviewed hash
        self._parts.audit.append("rollback", request_id=new.request_id, actor=actor,
                                 data={"name": name, "from": old.ref.version, "to": new.ref.version,
                                       "sha256": new.ref.sha256, "commit": new.ref.commit})
        self._changed()
        return new

    def record_agent_run(self, *, task: str, model: str, result_json: dict[str, JSON]) -> None:
        """Audit an agent's transcript, linked to the capability requests it made."""
        self._parts.audit.append("agent.run", request_id=None, actor=self.settings.user,
                                 data={"task": task[:2000], "model": model, **result_json})
