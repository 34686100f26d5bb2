"""The registry on SQLite and PostgreSQL: recording deployments, the active version, rollback, hash-checked loading."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from store.conftest import Backend
from toolfoundry.core import Interface, Permissions, ToolRef
from toolfoundry.errors import TamperedTool, UnknownTool, UsageError
from toolfoundry.forge import LocalForge
from toolfoundry.store.registry import Registry
from toolfoundry.toolfile import code_digest, tool_path

CODE = b'"""Add."""\n\n\ndef add(a: int, b: int) -> int:\n    """Sum."""\n    return a + b\n'


def interface(description: str = "Sum.") -> Interface:
    return Interface(name="add", function="add", description=description, signature="(a: int, b: int) -> int",
                     args_schema={"type": "object", "properties": {"a": {"type": "integer"}}}, result_schema={})


@pytest.fixture
def forge(tmp_path: Path) -> LocalForge:
    forge = LocalForge(tmp_path / "tools.git")
    forge.init()
    return forge


@pytest.fixture
def registry(backend: Backend, forge: LocalForge) -> Iterator[Registry]:
    opened = Registry(backend.target, forge)
    yield opened
    opened.close()


def deploy(registry: Registry, forge: LocalForge, rid: str, code: bytes = CODE) -> ToolRef:
    forge.open_pr(request_id=rid, files={tool_path("add"): code}, message=f"add ({rid})", trailers={})
    commit = forge.merge(request_id=rid, message=f"merge {rid}", trailers={})
    ref = ToolRef(name="add", version=registry.next_version("add"), sha256=code_digest(code), commit=commit)
    registry.record(ref=ref, request_id=rid, interface=interface(), permissions=Permissions())
    return ref


def test_recording_a_deployment_makes_it_active_and_is_idempotent_per_request(registry: Registry,
                                                                              forge: LocalForge) -> None:
    ref = deploy(registry, forge, "r-1")
    again = registry.record(ref=ref, request_id="r-1", interface=interface("other"), permissions=Permissions())
    assert again.ref == ref and again.active and again.interface.description == "Sum."
    assert [t.ref.name for t in registry.active()] == ["add"] and registry.next_version("add") == 2
    assert registry.by_request("r-1") == again and registry.by_request("r-9") is None


def test_a_new_version_takes_over_and_a_rollback_is_a_compare_and_swap(registry: Registry, forge: LocalForge,
                                                                      backend: Backend) -> None:
    deploy(registry, forge, "r-1")
    deploy(registry, forge, "r-2", CODE.replace(b"a + b", b"b + a"))
    assert [(t.ref.version, t.active) for t in registry.versions("add")] == [(1, False), (2, True)]
    old, new = registry.rollback("add")
    assert (old.ref.version, new.ref.version, new.active) == (2, 1, True)
    with pytest.raises(UsageError, match="earliest version"):
        registry.rollback("add")
    with pytest.raises(UsageError, match="no version 7"):
        registry.rollback("add", to=7)
    with pytest.raises(UnknownTool):
        registry.rollback("nope")
    other = Registry(backend.target, forge)  # another process moves the active version meanwhile
    other.rollback("add", to=2)
    other.close()
    with pytest.raises(UsageError, match="already the active version"):
        registry.rollback("add", to=2)


def test_loading_returns_the_reviewed_bytes_and_refuses_any_other(registry: Registry, forge: LocalForge,
                                                                 backend: Backend) -> None:
    deploy(registry, forge, "r-1")
    assert registry.load("add").code.encode() == CODE
    backend.raw("UPDATE tools SET sha256 = ? WHERE name = 'add'", hashlib.sha256(b"other").hexdigest())
    with pytest.raises(TamperedTool, match="refusing to load add v1"):
        registry.load("add")
    with pytest.raises(UnknownTool):
        registry.load("missing")
