"""What happens to a request, as typed events: recorded in the audit log, delivered to its listeners only.

Every state change a workflow step makes is one event. An event knows its ``kind`` (a ``Literal``), its
actor, the idempotency key that keeps a re-run step from recording it twice, and the JSON its audit
record holds (:meth:`Event.data`, the same fields the audit log has always had). Surfaces render the
objects — a stage's ``Verdict``, the policy's ``Decision``, the pull request's ``ToolRef`` — and never
parse the audit JSON again.

The package: ``base.py`` (``Event``, ``EventKind``, ``Listener``), ``request.py`` (opened, assessed, model
calls, stages, generation, policy, closed), ``review.py`` (pull request, review, merge, deploy) and
``records.py`` (:func:`from_record`, audit record → event). Every name is re-exported here:
``from toolfoundry.pipeline import events; events.StageDone``.

``follow.py`` hands each event, from the audit log, to the listeners of its own request only.
"""

from __future__ import annotations

from toolfoundry.pipeline.events.base import Event, EventKind, Listener
from toolfoundry.pipeline.events.records import from_record
from toolfoundry.pipeline.events.request import (
    Assessed,
    Closed,
    GenerationDone,
    ModelCalled,
    NeedOpened,
    PolicyDecided,
    ProposalOpened,
    StageDone,
)
from toolfoundry.pipeline.events.review import (
    Deployed,
    Merged,
    PrLinked,
    PrOpened,
    PrReviewed,
    QuorumDone,
    ReviewDecided,
    ReviewRequested,
    Voted,
)

__all__ = ["Assessed", "Closed", "Deployed", "Event", "EventKind", "GenerationDone", "Listener", "Merged",
           "ModelCalled", "NeedOpened", "PolicyDecided", "PrLinked", "PrOpened", "PrReviewed", "ProposalOpened",
           "QuorumDone", "ReviewDecided", "ReviewRequested", "StageDone", "Voted", "from_record"]
