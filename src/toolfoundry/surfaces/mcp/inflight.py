"""The requests an MCP server is running for its clients: their ids, cancelling one, and what an exit leaves.

A ``propose_tool`` or ``request_capability`` call runs ``Foundry.extend`` on a worker thread. Its request
id becomes known with the request's first event (the workflow opens it); a client may cancel before that,
so a cancel asked for early is carried out the moment the id arrives — exactly once either way. The
server keeps each running request here until its thread returns, so the process can tell, when it exits,
which requests it leaves to their durable workflows. It does not decide what a cancel does to a request
(``pipeline/cancel.py`` does, through ``Foundry.cancel``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from toolfoundry.api import Foundry
from toolfoundry.core import Outcome
from toolfoundry.pipeline import events

Listener = Callable[[events.Event], None]

log = logging.getLogger(__name__)


class InFlight:
    """The requests one server runs now: id → who asked for it."""

    def __init__(self, foundry: Foundry) -> None:
        self.foundry = foundry
        self._lock = threading.Lock()
        self._running: dict[str, str] = {}

    def now(self) -> dict[str, str]:
        """The requests still running (id → requester): the ones an exit now would leave behind."""
        with self._lock:
            return dict(self._running)

    def start(self, who: str, work: Callable[[Listener], Outcome], progress: Listener) -> Run:
        """A run of ``work(on_event)`` for ``who``; the server calls :meth:`Run.__call__` on a worker thread."""
        return Run(self, who, work, progress)

    def _opened(self, rid: str, who: str) -> None:
        with self._lock:
            self._running[rid] = who

    def _done(self, rid: str | None) -> None:
        if rid is not None:
            with self._lock:
                self._running.pop(rid, None)


class Run:
    """One request on its way: learns its id from its first event, and cancels it when asked (once)."""

    def __init__(self, owner: InFlight, who: str, work: Callable[[Listener], Outcome], progress: Listener) -> None:
        self._owner, self.who, self._work, self._progress = owner, who, work, progress
        self._lock = threading.Lock()
        self.request_id: str | None = None
        self._cancel_asked = False
        self.cancelled: Outcome | None = None
        """What the cancel did, once done."""

    def __call__(self) -> Outcome:
        try:
            return self._work(self._on_event)
        finally:
            self._owner._done(self.request_id)

    def _on_event(self, event: events.Event) -> None:
        with self._lock:
            first = self.request_id is None
            self.request_id = event.request_id
            due = first and self._cancel_asked
        if first:
            self._owner._opened(event.request_id, self.who)
        if due:
            self._cancel(event.request_id)
        if not self._cancel_asked:  # a cancelled request is not reported on any more
            self._progress(event)

    def cancel(self) -> None:
        """The client cancelled: cancel the request now, or as soon as its id is known. Blocks while it cancels."""
        with self._lock:
            self._cancel_asked = True
            rid = self.request_id
        if rid is not None:
            self._cancel(rid)

    def _cancel(self, rid: str) -> None:
        try:
            self.cancelled = self._owner.foundry.cancel(rid, actor=self.who)
        except Exception:  # the client is gone either way; the request keeps its own record
            log.exception("could not cancel request %s", rid)
            return
        log.info("request %s cancelled by its client: %s (%s)", rid, self.cancelled.status, self.cancelled.reason)
