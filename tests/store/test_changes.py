"""Watching the deployed tools on SQLite and PostgreSQL: changes by another connection are noticed and told once."""

from __future__ import annotations

import threading
from pathlib import Path

from store.conftest import Backend
from store.test_registry import CODE, deploy
from toolfoundry.forge import LocalForge
from toolfoundry.store.audit import AuditLog
from toolfoundry.store.changes import ChangeWatcher, ToolChange
from toolfoundry.store.registry import Registry


def test_a_deploy_and_a_rollback_by_another_connection_are_told_to_listeners(backend: Backend, tmp_path: Path) -> None:
    forge = LocalForge(tmp_path / "tools.git")
    forge.init()
    watcher = ChangeWatcher(backend.target, interval=0.02)
    seen: list[ToolChange] = []
    arrived = threading.Event()

    def listen(change: ToolChange) -> None:
        seen.append(change)
        arrived.set()

    stop = watcher.subscribe(listen)
    writer = Registry(backend.target, forge)  # its own connection, as another process would have
    try:
        deploy(writer, forge, "r-1")
        assert arrived.wait(30), "the watcher never noticed the deploy"
        assert seen[0].added == ("add",) and seen[0].versions == (("add", 1),)
        arrived.clear()
        deploy(writer, forge, "r-2", CODE.replace(b"a + b", b"b + a"))
        assert arrived.wait(30), "the watcher never noticed the new version"
        arrived.clear()
        writer.rollback("add")
        assert arrived.wait(30), "the watcher never noticed the rollback"
        assert [(c.updated, c.versions) for c in seen[1:]] == [(("add",), (("add", 2),)), (("add",), (("add", 1),))]
        assert not watcher.check()  # nothing left untold
    finally:
        stop()
        watcher.close()
        writer.close()


def test_on_postgresql_a_write_behind_the_registry_is_noticed_and_audit_appends_cost_no_snapshot(
        backend: Backend, tmp_path: Path) -> None:
    forge = LocalForge(tmp_path / "tools.git")
    forge.init()
    writer = Registry(backend.target, forge)
    deploy(writer, forge, "r-1")
    deploy(writer, forge, "r-2", CODE.replace(b"a + b", b"b + a"))
    watcher = ChangeWatcher(backend.target)
    try:
        before = watcher._version()
        with AuditLog(backend.target, backend.head) as log:
            for i in range(5):
                log.append("tool.called", request_id=None, actor="agent", data={"i": i})
        if backend.name == "postgresql":  # SQLite's data_version moves on any commit; the PostgreSQL count does not
            assert watcher._version() == before
        backend.raw("UPDATE active SET version = 1 WHERE name = 'add'")
        assert watcher._version() != before
        assert watcher.check().updated == ("add",)
    finally:
        watcher.close()
        writer.close()
