"""Delivering a request's events to the listeners registered for that request, and to no one else.

Two requests in flight in one process (two MCP clients of one server, two reviewers in the UI) never
see each other's progress. A listener that raises is logged and does not stop the step that recorded
the event, nor the other listeners.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from toolfoundry.pipeline.events import Event

log = logging.getLogger(__name__)

Listener = Callable[[Event], None]
"""Called with each event of the request it was registered for, on the thread that recorded it."""


class Bus:
    """Delivers each event to the listeners of its own request, and only to them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: dict[str, dict[object, Listener]] = {}

    def subscribe(self, request_id: str, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` with every event of ``request_id`` from now on; returns the unsubscribe function."""
        token = object()
        with self._lock:
            self._listeners.setdefault(request_id, {})[token] = listener

        def unsubscribe() -> None:
            with self._lock:
                listeners = self._listeners.get(request_id, {})
                listeners.pop(token, None)
                if not listeners:
                    self._listeners.pop(request_id, None)

        return unsubscribe

    def publish(self, event: Event) -> None:
        """Hand ``event`` to its request's listeners; a listener that raises is logged, the others still run."""
        with self._lock:
            listeners = list(self._listeners.get(event.request_id, {}).values())
        for listener in listeners:
            try:
                listener(event)
            except Exception:  # a surface's rendering bug must not fail the request's step
                log.exception("a progress listener of request %s raised; continuing", event.request_id)
