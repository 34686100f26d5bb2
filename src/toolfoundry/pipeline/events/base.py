"""The event every request records: its ``kind``s, the ``Event`` base class and what a ``Listener`` is.

Owns the idempotency key of an event (:meth:`Event.key`) and the shape of its audit data. It does not
define the kinds of event (``request.py``, ``review.py``) or read them back (``records.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import ClassVar, Literal

from toolfoundry.core import JSON

EventKind = Literal["request.opened", "assess", "model.call", "stage", "generation.done", "policy.decision",
                    "pr.opened", "pr.linked", "pr.review", "review.requested", "review.vote", "review.quorum",
                    "review.decided", "merge", "deploy", "request.closed"]
"""Every kind of event a request's workflow records."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Something that happened to one request. Subclasses say what, with typed fields."""

    kind: ClassVar[EventKind]
    keyed: ClassVar[str] = ""
    """The idempotency key's template (``str.format`` over the fields); empty: the kind itself."""
    request_id: str
    """The request it belongs to."""
    actor: str = "foundry"
    """Who caused it: the requester, a reviewer, ``policy``, ``foundry``."""

    def key(self) -> str:
        """The idempotency key, unique within the request: a step re-run after a crash records nothing new."""
        return self.keyed.format(**{f.name: getattr(self, f.name) for f in fields(self)}) if self.keyed else self.kind

    def data(self) -> dict[str, JSON]:
        """The facts the audit record holds (JSON only)."""
        return {}


Listener = Callable[[Event], None]
"""Called with each event of the request it follows, in order, once each."""
