"""Warm sandboxes for calls of deployed tools: :class:`WorkerPool`, which lends out ``serving.py``'s sandboxes.

Owns the lifecycle of serving sandboxes: one trust domain per tool version (key = name, version,
sha256 of the reviewed code) — a sandbox never serves two keys, nor the same key with another
function, permissions or limits. Each sandbox is a full bwrap jail (``BwrapSandbox.prepared``,
every layer of a test run) whose runner stays up in *serve* mode: its zygote has imported the tool
once, and every call is one request line answered by one ``<nonce> {"id": ...}`` line, executed in a
fresh worker forked for that call, so no state survives from one call to the next and the scratch
dir is wiped between calls (``runner.py``). A tool with network hosts has one egress proxy per
serving sandbox (started and stopped with it, see ``bwrap.py``); each call's report carries what the
proxy refused since the previous call ended.

Misbehaviour retires a sandbox: a call that times out (the runner's per-call wall clock, or the
host's backstop deadline a little later), a result line with the wrong nonce or id, a malformed or
oversized line, or the sandbox dying. The next call of that key starts a new one. ``PoolSettings``
bounds the sandboxes per key (further concurrent calls of that key wait) and stops sandboxes idle
for ``idle_seconds`` (a reaper thread). Thread-safe: calls may come from any number of threads.
It does not judge results (``api.py`` checks them against the tool's schema) and knows nothing of
the registry.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from toolfoundry.core import JSON, Permissions
from toolfoundry.errors import UsageError
from toolfoundry.sandbox.bwrap import BwrapSandbox
from toolfoundry.sandbox.serving import Serving, ServingSpec
from toolfoundry.sandbox.settings import PoolSettings
from toolfoundry.sandbox.types import Limits, RunReport
from toolfoundry.toolfile import code_digest

Key = tuple[str, int, str]
"""A tool version: (name, version, sha256 of its code)."""
class WorkerPool:
    """Serving sandboxes per tool version, created on demand, reused, replaced when broken, reaped when idle."""

    def __init__(self, sandbox: BwrapSandbox, settings: PoolSettings) -> None:
        if settings.size < 1 or settings.idle_seconds <= 0:
            raise UsageError("[pool] size must be at least 1 and idle_seconds positive")
        self.sandbox = sandbox
        self.settings = settings
        self._cond = threading.Condition()
        self._idle: dict[Key, list[Serving]] = {}
        self._count: dict[Key, int] = {}
        self._closed = False
        self._reaper: threading.Thread | None = None
        # bwrap's --die-with-parent is PR_SET_PDEATHSIG, which fires when the *thread* that started it
        # exits: sandboxes are started from this one long-lived thread, whichever thread calls
        self._spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="toolfoundry-pool-spawn")

    def call(self, *, key: Key, code: str, function: str, args: dict[str, JSON], permissions: Permissions,
             limits: Limits) -> RunReport:
        """Call ``function`` of the tool version ``key`` with ``args`` in a warm sandbox: one case."""
        if code_digest(code) != key[2]:
            raise UsageError(f"the code given for {key[0]} v{key[1]} does not have the sha256 of its key")
        spec = ServingSpec(function=function, permissions=permissions, limits=limits)
        for _attempt in range(2):  # once more only when the sandbox died before starting this call
            serving = self._acquire(key, code, spec)
            try:
                report = serving.call(args)
            except BaseException:
                serving.broken = True
                raise
            finally:
                self._release(key, serving)
            if not serving.retryable:
                break
        return report

    def sandboxes(self, key: Key | None = None) -> int:
        """How many serving sandboxes exist (idle or busy), for one key or in all."""
        with self._cond:
            return self._count.get(key, 0) if key is not None else sum(self._count.values())

    def close(self) -> None:
        """Stop every idle sandbox now and every busy one when its call returns."""
        with self._cond:
            self._closed = True
            doomed = [s for entries in self._idle.values() for s in entries]
            self._idle.clear()
            self._count.clear()
            self._cond.notify_all()
            reaper, self._reaper = self._reaper, None
        for serving in doomed:
            serving.close()
        if reaper is not None:
            reaper.join()
        self._spawner.shutdown(wait=True)

    # ── internals ────────────────────────────────────────────────────────────────────────────

    def _acquire(self, key: Key, code: str, spec: ServingSpec) -> Serving:
        doomed: list[Serving] = []
        try:
            with self._cond:
                while True:
                    if self._closed:
                        raise UsageError("the worker pool is closed")
                    entries = self._idle.get(key, [])
                    while entries:
                        serving = entries.pop()
                        if serving.spec == spec and not serving.broken:
                            return serving
                        doomed.append(serving)
                        self._count[key] -= 1
                    if self._count.get(key, 0) < self.settings.size:
                        self._count[key] = self._count.get(key, 0) + 1
                        break
                    self._cond.wait()
        finally:
            for serving in doomed:
                serving.close()
        try:
            return Serving(self.sandbox, code=code, spec=spec,
                           starter=lambda start: self._spawner.submit(start).result())
        except BaseException:
            with self._cond:
                self._count[key] -= 1
                self._cond.notify_all()
            raise

    def _release(self, key: Key, serving: Serving) -> None:
        with self._cond:
            keep = not serving.broken and not self._closed
            if keep:
                self._idle.setdefault(key, []).append(serving)
                if self._reaper is None:
                    self._reaper = threading.Thread(target=self._reap, name="toolfoundry-pool-reaper",
                                                    daemon=True)
                    self._reaper.start()
            elif not self._closed:
                self._count[key] -= 1
            self._cond.notify_all()
        if not keep:
            serving.close()

    def _reap(self) -> None:
        """Stop sandboxes idle for longer than ``idle_seconds``, until the pool closes."""
        idle = self.settings.idle_seconds
        while True:
            doomed: list[Serving] = []
            with self._cond:
                if self._closed:
                    return
                now = time.monotonic()
                wake = now + idle
                for key, entries in self._idle.items():
                    for serving in list(entries):
                        if serving.last_used + idle <= now:
                            entries.remove(serving)
                            self._count[key] -= 1
                            doomed.append(serving)
                        else:
                            wake = min(wake, serving.last_used + idle)
                if not doomed:
                    self._cond.wait(max(0.01, wake - now))
            for serving in doomed:
                serving.close()
