"""The events of a request's life outside review: opened, assessed, model calls, stages, generation,
the policy's decision, and closed.

Owns those event classes and their audit data. It does not record them (``pipeline/steps.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from toolfoundry.core import JSON, Decision, Permissions, Source, Status, ToolRef, Verdict
from toolfoundry.models.types import Usage
from toolfoundry.pipeline.events.base import Event, EventKind


@dataclass(frozen=True, slots=True, kw_only=True)
class ProposalOpened(Event):
    """A candidate someone wrote was handed in (``propose``, the API, an agent over MCP)."""

    kind: ClassVar[EventKind] = "request.opened"
    source: Source
    sha256: str
    name: str | None
    permissions: Permissions
    examples: int
    holdout: int
    tests: bool
    sandbox: dict[str, str]

    keyed: ClassVar[str] = "opened"

    def data(self) -> dict[str, JSON]:
        return {"source": self.source, "sha256": self.sha256, "name": self.name,
                "permissions": self.permissions.to_json(), "examples": self.examples, "holdout": self.holdout,
                "tests": self.tests, "sandbox": self.sandbox}


@dataclass(frozen=True, slots=True, kw_only=True)
class NeedOpened(Event):
    """A capability was described, for a model to write."""

    kind: ClassVar[EventKind] = "request.opened"
    description: str
    model: str
    examples: int
    holdout: int
    max_attempts: int
    token_budget: int
    sandbox: dict[str, str]

    keyed: ClassVar[str] = "opened"

    def data(self) -> dict[str, JSON]:
        return {"source": "request", "description": self.description, "model": self.model,
                "examples": self.examples, "holdout": self.holdout, "max_attempts": self.max_attempts,
                "token_budget": self.token_budget, "sandbox": self.sandbox}


@dataclass(frozen=True, slots=True, kw_only=True)
class Assessed(Event):
    """The deployed tools were searched for one that already fits the need."""

    kind: ClassVar[EventKind] = "assess"
    existing: ToolRef | None
    reason: str
    candidates: tuple[str, ...]

    def data(self) -> dict[str, JSON]:
        return {"existing": self.existing.to_json() if self.existing else None, "reason": self.reason,
                "candidates": list(self.candidates)}


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelCalled(Event):
    """A model answered: what for, the hashes of prompt and reply, the tokens."""

    kind: ClassVar[EventKind] = "model.call"
    purpose: str
    call: int
    model: str
    prompt_sha256: str
    response_sha256: str
    usage: Usage

    keyed: ClassVar[str] = "model:{call}"

    def data(self) -> dict[str, JSON]:
        return {"purpose": self.purpose, "call": self.call, "model": self.model,
                "prompt_sha256": self.prompt_sha256, "response_sha256": self.response_sha256,
                "usage": self.usage.to_json()}


@dataclass(frozen=True, slots=True, kw_only=True)
class StageDone(Event):
    """A stage finished, with its verdict."""

    kind: ClassVar[EventKind] = "stage"
    verdict: Verdict
    attempt: int

    keyed: ClassVar[str] = "stage:{verdict.stage}:{attempt}"

    def data(self) -> dict[str, JSON]:
        return {**self.verdict.to_json(), "attempt": self.attempt}


@dataclass(frozen=True, slots=True, kw_only=True)
class GenerationDone(Event):
    """A generated candidate passed every stage."""

    kind: ClassVar[EventKind] = "generation.done"
    attempts: int
    usage: Usage

    keyed: ClassVar[str] = "generation:{attempts}"

    def data(self) -> dict[str, JSON]:
        return {"attempts": self.attempts, "usage": self.usage.to_json()}


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicyDecided(Event):
    """The policy routed the candidate."""

    kind: ClassVar[EventKind] = "policy.decision"
    actor: str = "policy"
    decision: Decision
    attempt: int

    keyed: ClassVar[str] = "policy:{attempt}"

    def data(self) -> dict[str, JSON]:
        return {**self.decision.to_json(), "attempt": self.attempt}


@dataclass(frozen=True, slots=True, kw_only=True)
class Closed(Event):
    """The request ended: deployed, rejected or failed."""

    kind: ClassVar[EventKind] = "request.closed"
    status: Status
    reason: str
    tool: ToolRef | None = None
    usage: Usage | None = None

    keyed: ClassVar[str] = "closed"

    def data(self) -> dict[str, JSON]:
        data: dict[str, JSON] = {"status": self.status, "reason": self.reason,
                                 "tool": self.tool.to_json() if self.tool else None}
        if self.usage is not None:
            data["usage"] = self.usage.to_json()
        return data
