"""Following a request: its typed events, as the audit log records them, handed to a listener as they come.

A request's workflow may run in this process or in any other on the home (a worker, a server, another
machine in a cluster). Whatever runs it records every event in the audit log, so a listener follows
the log for that request id and nothing else: it hears exactly its own request's events, in order,
once each — two requests in flight never hear each other. A listener that raises is logged and does
not stop the others or the request; a database briefly unreachable delays the events, and loses none.
"""

from __future__ import annotations

import logging
import threading

from toolfoundry.errors import DatabaseError
from toolfoundry.pipeline.events import Event, Listener, from_record
from toolfoundry.store.audit import AuditLog

log = logging.getLogger(__name__)

INTERVAL = 0.02
"""Seconds between two looks at the audit log while a request runs."""


class Follower:
    """A thread that hands ``request_id``'s new events to ``listener`` until stopped (a final look included)."""

    def __init__(self, audit: AuditLog, request_id: str, listener: Listener, *, interval: float = INTERVAL) -> None:
        self._audit = audit
        self._request_id = request_id
        self._listener = listener
        self._interval = interval
        self._seen = audit.last_seq(request_id=request_id)  # only what happens from now on
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"toolfoundry-follow-{request_id}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop following, after handing over what was recorded until now."""
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=10)
        self._try_look()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._try_look()

    def _try_look(self) -> None:
        try:
            self._look()
        except DatabaseError as exc:  # the database is briefly away (a restart): the events wait there for the next look
            log.debug("could not follow request %s just now: %s", self._request_id, exc)

    def _look(self) -> None:
        with self._lock:
            for record in self._audit.events(request_id=self._request_id, after=self._seen):
                self._seen = record.seq
                event = from_record(record.request_id or self._request_id, record.kind, record.actor, record.data)
                if event is not None:
                    self._deliver(event)

    def _deliver(self, event: Event) -> None:
        try:
            self._listener(event)
        except Exception:  # a surface's rendering bug must not stop the request or the other listeners
            log.exception("a progress listener of request %s raised; continuing", self._request_id)
