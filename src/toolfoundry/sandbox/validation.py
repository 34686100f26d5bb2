"""``WarmValidation``: the warm sandboxes of one :class:`~toolfoundry.sandbox.bwrap.BwrapSandbox` — which
job goes to which sandbox, replacing a broken one, keeping a spare, reaping idle ones, closing them all.

Owns the bookkeeping of warm sandboxes only. One sandbox, and what a candidate shares with the next one in
it (and what it does not), is ``warm.py``'s :class:`~toolfoundry.sandbox.warm.WarmSandbox`; a run with
held-out examples (``fresh=True``) gets a sandbox no other run used and none uses after.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from toolfoundry.core import JSON
from toolfoundry.errors import SandboxUnavailable
from toolfoundry.sandbox.types import Limits, RunReport, TestReport
from toolfoundry.sandbox.warm import Prepare, WarmSandbox

Kind = tuple[bool, Limits]
"""Which warm sandboxes are interchangeable: (preloads pytest, the limits they were started with)."""


class WarmValidation:
    """The warm sandboxes of one checked sandbox. Thread-safe; each job has a sandbox to itself."""

    def __init__(self, prepare: Prepare, *, pytest_path: str, idle_seconds: float) -> None:
        self._prepare = prepare
        self._pytest_path = pytest_path
        self._idle_seconds = idle_seconds
        self._lock = threading.Lock()
        self._idle: dict[Kind, list[WarmSandbox]] = {}
        self._spares: dict[Limits, WarmSandbox] = {}
        self._fresh_runs: dict[Limits, int] = {}
        self._making: list[threading.Thread] = []
        self._closed = threading.Event()
        self._reaper: threading.Thread | None = None
        # bwrap's --die-with-parent is PR_SET_PDEATHSIG, which fires when the *thread* that started it exits:
        # warm sandboxes are started from this one long-lived thread, whichever thread asked
        self._spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="toolfoundry-warm-spawn")

    def cases(self, *, code: str, function: str, cases: list[dict[str, JSON]], limits: Limits,
              fresh: bool) -> RunReport:
        """One case run of a candidate in a warm cases sandbox (``fresh``: one no other run used or will use)."""
        for _attempt in range(2):  # once more only when the sandbox died before the job reached a worker
            box = self._take(limits, pytest=False, fresh=fresh)
            try:
                report, retry = box.cases(code=code, function=function, cases=cases)
            finally:
                self._give_back(box, keep=not fresh)
            if not retry:
                break
        return report

    def run_pytest(self, *, code: str, tests: str, limits: Limits) -> TestReport:
        """One pytest run of a candidate in a warm pytest sandbox."""
        for _attempt in range(2):
            box = self._take(limits, pytest=True, fresh=False)
            try:
                report, retry = box.run_pytest(code=code, tests=tests, pytest_path=self._pytest_path)
            finally:
                self._give_back(box, keep=True)
            if not retry:
                break
        return report

    def sandboxes(self) -> int:
        """How many warm sandboxes are idle or spare (busy ones are not counted)."""
        with self._lock:
            return sum(len(boxes) for boxes in self._idle.values()) + len(self._spares)

    def close(self) -> None:
        """Stop every idle and spare sandbox now, and every busy one when its job ends."""
        with self._lock:
            self._closed.set()
            doomed = [box for boxes in self._idle.values() for box in boxes] + list(self._spares.values())
            self._idle.clear()
            self._spares.clear()
            making, self._making = self._making, []
            reaper, self._reaper = self._reaper, None
        for thread in making:
            thread.join()
        for box in doomed:
            box.close()
        if reaper is not None:
            reaper.join()
        self._spawner.shutdown(wait=True)

    # ── internals ────────────────────────────────────────────────────────────────────────────

    def _take(self, limits: Limits, *, pytest: bool, fresh: bool) -> WarmSandbox:
        doomed: list[WarmSandbox] = []
        box: WarmSandbox | None = None
        with self._lock:
            if self._closed.is_set():
                raise SandboxUnavailable("the warm validation sandboxes are closed")
            if fresh:
                box = self._spares.pop(limits, None)
                self._fresh_runs[limits] = runs = self._fresh_runs.get(limits, 0) + 1
                if runs >= 2:  # a process that validates more than once: keep the next one ready
                    self._make_spare(limits)
            else:
                entries = self._idle.get((pytest, limits), [])
                while entries and box is None:
                    box = entries.pop()
                    if not box.alive():
                        doomed.append(box)
                        box = None
        for old in doomed:
            old.close()
        if box is not None and box.alive():
            return box
        return self._new(limits, pytest)

    def _new(self, limits: Limits, pytest: bool) -> WarmSandbox:
        box = WarmSandbox(self._prepare, limits=limits, pytest=pytest,
                          starter=lambda start: self._spawner.submit(start).result())
        box.start()
        return box

    def _give_back(self, box: WarmSandbox, *, keep: bool) -> None:
        with self._lock:
            keep = keep and box.alive() and not self._closed.is_set()
            if keep:
                self._idle.setdefault((box.pytest, box.limits), []).append(box)
                if self._reaper is None:
                    self._reaper = threading.Thread(target=self._reap, name="toolfoundry-warm-reaper", daemon=True)
                    self._reaper.start()
        if not keep:
            box.close()

    def _make_spare(self, limits: Limits) -> None:
        """Start a fresh cases sandbox in the background for the next fresh run (called under the lock)."""
        def make() -> None:
            try:
                box = self._new(limits, False)
            except (SandboxUnavailable, OSError, RuntimeError):
                return  # the next fresh run starts its own and reports why it cannot
            with self._lock:
                keep = not self._closed.is_set() and limits not in self._spares
                if keep:
                    self._spares[limits] = box
            if not keep:
                box.close()

        self._making = [t for t in self._making if t.is_alive()]
        thread = threading.Thread(target=make, name="toolfoundry-warm-spare", daemon=True)
        self._making.append(thread)
        thread.start()

    def _reap(self) -> None:
        """Stop sandboxes idle for longer than ``idle_seconds``, until the pool closes."""
        while not self._closed.is_set():
            now = time.monotonic()
            doomed: list[WarmSandbox] = []
            with self._lock:
                wake = now + self._idle_seconds
                for boxes in self._idle.values():
                    for box in list(boxes):
                        if box.last_used + self._idle_seconds <= now:
                            boxes.remove(box)
                            doomed.append(box)
                        else:
                            wake = min(wake, box.last_used + self._idle_seconds)
                for limits, box in list(self._spares.items()):
                    if box.last_used + self._idle_seconds <= now:
                        del self._spares[limits]
                        doomed.append(box)
                    else:
                        wake = min(wake, box.last_used + self._idle_seconds)
            for box in doomed:
                box.close()
            self._closed.wait(max(0.01, wake - now))
