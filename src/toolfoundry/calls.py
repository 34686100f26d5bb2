"""The call path: a deployed tool's reviewed bytes, run in a warm sandbox, its result checked, the call audited.

Owns :class:`Calls`: which version a name means (the registry's active one), its code — read from its
merge commit once per version, with its signed provenance record checked then (``pipeline/attest.py``),
and checked against the reviewed sha256 on every call (a mismatch, or a missing, edited or foreign record,
is ``TamperedTool`` and a ``tool.tampered`` audit event, and the code never runs) — argument validation
against the tool's schema, the warm :class:`~toolfoundry.sandbox.pool.WorkerPool` (started on the first
call), the check of the result against the declared return type, and one ``call`` audit event per call.
A tool that raises, times out or returns the wrong type is an error result, never an exception; bad
arguments are a ``UsageError``. Generated code is never imported here.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from toolfoundry.core import JSON, CallResult, Interface
from toolfoundry.errors import TamperedTool, UsageError
from toolfoundry.pipeline import attest
from toolfoundry.pipeline.parts import Parts
from toolfoundry.sandbox.settings import PoolSettings
from toolfoundry.sandbox.types import Limits, RunReport
from toolfoundry.stages.contract import validate
from toolfoundry.store.registry import DeployedTool
from toolfoundry.toolfile import code_digest

if TYPE_CHECKING:
    from toolfoundry.sandbox.pool import WorkerPool


class Calls:
    """Calls of a home's deployed tools from this process."""

    def __init__(self, parts: Parts, *, pool: PoolSettings, limits: Limits) -> None:
        self._parts = parts
        self._pool_settings = pool
        self._limits = limits
        self._pool: WorkerPool | None = None
        self._lock = threading.Lock()
        self._code: dict[tuple[str, int], tuple[str | None, str]] = {}  # (name, version) → (commit, code)

    def call(self, name: str, args: Mapping[str, JSON], *, caller: str) -> CallResult:
        """Run ``name`` with ``args`` in the sandbox and audit it under ``caller``."""
        self._parts.sandbox.check()
        tool, code = self._reviewed(name)
        problems = validate(tool.interface.args_schema, dict(args))
        if problems:
            raise UsageError(f"arguments for {name}{tool.interface.signature}: {'; '.join(problems)}")
        start = time.perf_counter()
        report = self._warm().call(key=(tool.ref.name, tool.ref.version, tool.ref.sha256), code=code,
                                   function=tool.interface.function, args=dict(args), permissions=tool.permissions,
                                   limits=self._limits)
        ms = (time.perf_counter() - start) * 1000
        result = check_result(report, tool.interface)
        error, refused = result.error, list(report.net_refusals)
        if error is not None and refused:  # the caller learns why the tool could not reach a host
            error = {**error, "message": f"{error.get('message', '')} (the egress proxy refused: "
                                         f"{'; '.join(refused)})"[:2000], "net_refused": refused}
        result = CallResult(ok=result.ok, result=result.result, error=error, tool=tool.ref, ms=ms)
        self._parts.audit.append("call", request_id=tool.request_id, actor=caller, data={
            **tool.ref.to_json(), "ok": result.ok, "ms": round(ms, 2),
            "args_sha256": code_digest(json.dumps(args, sort_keys=True)), "error": result.error,
            **({"net_refused": refused} if refused else {})})
        return result

    def _reviewed(self, name: str) -> tuple[DeployedTool, str]:
        """The active version of ``name`` and its code, read from git once per version, hash-checked every call."""
        registry = self._parts.registry
        tool = registry.get(name)
        cached = self._code.get((name, tool.ref.version)) if tool is not None else None
        if tool is not None and cached is not None and cached[0] == tool.ref.commit \
                and code_digest(cached[1]) == tool.ref.sha256:
            return tool, cached[1]
        try:
            loaded = registry.load(name)
            attest.check_loaded(self._parts, loaded.tool.ref, loaded.code, loaded.tool.request_id)  # its provenance
        except TamperedTool as exc:
            self._parts.audit.append("tool.tampered", request_id=tool.request_id if tool else None,
                                     actor="foundry", data={**(tool.ref.to_json() if tool else {"name": name}),
                                                            "problem": str(exc)})
            raise
        self._code[(name, loaded.tool.ref.version)] = (loaded.tool.ref.commit, loaded.code)
        return loaded.tool, loaded.code

    def _warm(self) -> WorkerPool:
        from toolfoundry.sandbox.pool import WorkerPool  # a process that only lists tools never needs it

        with self._lock:
            if self._pool is None:
                self._pool = WorkerPool(self._parts.sandbox, self._pool_settings)
            return self._pool

    def close(self) -> None:
        """Stop the warm sandboxes."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()


def check_result(report: RunReport, interface: Interface) -> CallResult:
    """The sandbox's report for one call as a ``CallResult``: a failure becomes an error result, and the value
    must match the declared return type."""
    if report.timed_out:
        return CallResult.failed("Timeout", "the call exceeded its wall-clock limit")
    if len(report.cases) != 1 or report.problems:
        detail = "; ".join(report.problems) or "no result came back"
        return CallResult.failed("SandboxProtocolError", detail[:500])
    case = report.cases[0]
    if not case.ok:
        return CallResult.failed(case.error_type or "Error", case.error_message)
    problems = validate(interface.result_schema, case.value)
    if problems:
        return CallResult.failed("BadResult", f"result does not match {interface.signature}: "
                                              + "; ".join(problems)[:400])
    return CallResult(ok=True, result=case.value)
