"""The watchdog every running process keeps: the work of dead executors is recovered, and nothing hangs.

Open-source DBOS resumes an executor's interrupted workflows only when a process with the *same*
executor id launches again; a live process never picks up a dead one's. So every process that runs
workflows looks, every ``interval`` seconds, at the executors that own pending workflows: one whose
liveness lock has been free for ``grace`` seconds (0 on one machine, where the kernel frees an
``flock`` the instant its holder dies; longer than the fence check across machines) is dead, and its
workflows of this release are re-enqueued (``durable.recover``) for any live process to finish. Its
workflows of another release cannot be resumed by this one: their requests end as failed, saying so.
Workflows DBOS gave up on (``MAX_RECOVERY_ATTEMPTS_EXCEEDED``) end their requests as failed too. Every
recovery and repair is audited (``recovery.py``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from toolfoundry.pipeline.executors import Liveness
from toolfoundry.pipeline.names import request_of
from toolfoundry.pipeline.parts import Parts
from toolfoundry.pipeline.recovery import close_failed, record_recovery
from toolfoundry.version import __version__

log = logging.getLogger(__name__)


class Watchdog:
    """Looks for dead executors every ``interval`` seconds on a thread of its own (``start``/``stop``), or once
    (``tick``)."""

    def __init__(self, parts: Parts, liveness: Liveness, own_id: str, *, interval: float = 1.0,
                 grace: float = 0.0, progress: Callable[[str], None] = lambda message: None) -> None:
        self._parts = parts
        self._liveness = liveness
        self._own = own_id
        self._interval = interval
        self._grace = grace
        self._progress = progress
        self._dead_since: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Look now, then every ``interval`` seconds, until ``stop``."""
        self._thread = threading.Thread(target=self._run, name="toolfoundry-watchdog", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop looking (waits for a look in progress)."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:  # a database briefly unavailable: look again next time, never die silently
                log.warning("the watchdog could not look for dead executors; trying again", exc_info=True)
            self._stop.wait(self._interval)

    def tick(self) -> list[str]:
        """One look: recover what dead executors left; return the ids of the workflows handed on."""
        from dbos import DBOS

        from toolfoundry.pipeline import durable
        pending = DBOS.list_workflows(status="PENDING", load_input=False, load_output=False)
        owners: dict[str, list[tuple[str, str]]] = {}
        for wf in pending:
            if wf.executor_id and wf.executor_id != self._own:
                owners.setdefault(wf.executor_id, []).append((wf.workflow_id, wf.app_version or ""))
        recovered: list[str] = []
        for executor_id, workflows in owners.items():
            if not self._dead(executor_id):
                continue
            for wid, version in workflows:
                if version != __version__:
                    close_failed(self._parts, request_of(wid), f"interrupted under toolfoundry {version or '?'};"
                                 f" this is {__version__}, which does not resume another version's workflows —"
                                 f" propose it again")
            if any(version == __version__ for _, version in workflows):
                handed = durable.recover([executor_id])
                recovered += handed
                for wid in handed:
                    self._progress(f"resuming request {request_of(wid)}, left unfinished by executor {executor_id}…")
                    record_recovery(self._parts, request_of(wid), executor_id, self._own)
            forget = getattr(self._liveness, "forget", None)
            if callable(forget):
                forget(executor_id)
        for wf in DBOS.list_workflows(status="MAX_RECOVERY_ATTEMPTS_EXCEEDED", load_input=False, load_output=False):
            close_failed(self._parts, request_of(wf.workflow_id), "its workflow was interrupted more often than"
                         " DBOS retries (MAX_RECOVERY_ATTEMPTS_EXCEEDED); propose it again")
        return recovered

    def _dead(self, executor_id: str) -> bool:
        """True when ``executor_id``'s lock has been free for at least the grace period."""
        if self._liveness.alive(executor_id):
            self._dead_since.pop(executor_id, None)
            return False
        first = self._dead_since.setdefault(executor_id, time.monotonic())
        return time.monotonic() - first >= self._grace
