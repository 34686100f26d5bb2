"""The pipeline's checkpointed steps: each runs one stage or makes one state change, and records it.

A step is a ``@DBOS.step`` method of :class:`Steps`, which holds the parts it works with
(:class:`Parts`: the stores, the sandbox, the forge, the models) — no module-global
state. DBOS records each step's result, so a workflow resumed after a crash skips the steps that
finished; a step that was interrupted runs again, which is why every state change it makes is keyed
(audit events by request and key, the ledger by request id, the forge by branch and compare-and-swap).
Each step records at most the events of its own state change, through :meth:`Steps.record`, in the
audit log, where listeners follow their request (``follow.py``). The order of the steps is the workflow's.
"""

from __future__ import annotations

import json
import os
import signal
from dataclasses import dataclass, replace

from dbos import DBOS

from toolfoundry.core import (
    Candidate,
    Decision,
    Finding,
    Need,
    Outcome,
    Permissions,
    Proposal,
    ReviewDecision,
    Status,
    ToolRef,
    ToolSpec,
    Verdict,
    verdict,
)
from toolfoundry.models.types import Message, Usage
from toolfoundry.pipeline import attest, events, pulls
from toolfoundry.pipeline.cancel import commit, committed, end_cancelled
from toolfoundry.pipeline.parts import Parts
from toolfoundry.stages import checks, contract, generate, oracle, policy, tests
from toolfoundry.stages.assess import assess
from toolfoundry.stages.generate import DraftSpec
from toolfoundry.stages.review import QuorumResult, ReviewSubject, reviewers_for, run_quorum
from toolfoundry.toolfile import code_digest, tool_files


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelReply:
    """What a generation call returned: the text, its tokens, and why the model stopped."""

    text: str
    """The reply's text."""
    usage: Usage
    """Its tokens."""
    finish_reason: str | None = None
    """``stop``, ``length`` (cut off at the token limit), ... as the backend reported it."""


def tool_in_reply(text: str) -> DraftSpec | None:
    """The spec of a valid tool module a reply already holds (asked for a spec, a model may answer with the
    tool itself): its name, signature and docstring read by the contract; no permissions. None: no such module."""
    code, _, _ = generate.parse_code(text)
    spec, _ = contract.parse_tool(code) if code is not None else (None, [])
    if spec is None:
        return None
    return DraftSpec(name=spec.name, signature=spec.signature, description=spec.description or spec.module_doc
                     or spec.name, permissions=Permissions())


def sha256(text: str) -> str:
    """Hex sha256 of a text (prompts and replies in the audit log)."""
    return code_digest(text)


class Steps:
    """The checkpointed steps of the request workflows, over one home's parts."""

    def __init__(self, parts: Parts) -> None:
        self.parts = parts

    def record(self, event: events.Event) -> None:
        """Append ``event`` to the audit log, once per key; whoever follows its request hears it from there."""
        self.parts.audit.append(event.kind, request_id=event.request_id, actor=event.actor, data=event.data(),
                                key=f"{event.request_id}:{event.key()}")

    def crashpoint(self, name: str) -> None:
        """Fault injection for the durability tests (``TOOLFOUNDRY_CRASH_AFTER``): die here, like a power cut."""
        if self.parts.crash_after == name:
            os.kill(os.getpid(), signal.SIGKILL)

    def stage_done(self, rid: str, v: Verdict, attempt: int) -> Verdict:
        """Record a stage's verdict (keyed by stage and attempt) and return it."""
        self.record(events.StageDone(request_id=rid, verdict=v, attempt=attempt))
        return v

    # ── validate ───────────────────────────────────────────────────────────────────────────────

    @DBOS.step()
    def open(self, rid: str, candidate: Candidate, requester: str) -> None:
        """Record the request."""
        p = self.parts
        p.ledger.open(rid, requester=requester, source=candidate.source, permissions=candidate.permissions)
        self.record(events.ProposalOpened(
            request_id=rid, actor=requester, source=candidate.source, sha256=code_digest(candidate.code),
            name=candidate.name, permissions=candidate.permissions, examples=len(candidate.examples),
            holdout=len(candidate.holdout), tests=candidate.tests is not None, sandbox=p.sandbox.layers()))

    @DBOS.step()
    def contract(self, rid: str, candidate: Candidate, attempt: int) -> tuple[ToolSpec | None, Verdict]:
        """Parse the tool contract; compare with the deployed signature; check examples against it."""
        spec, v = contract.stage(candidate.code, name=candidate.name)
        findings = list(v.findings)
        if spec is not None:
            self.parts.ledger.update(rid, name=spec.name)
            current = self.parts.registry.get(spec.name)
            if current is not None and (changed := contract.compare_versions(current.interface.signature, spec)):
                findings.append(changed)
            findings += contract.example_findings(spec, candidate.examples, candidate.holdout)
            taken = [(n, "a deployed tool") for n in self.parts.registry.names()] + [
                (r.name, f"request {r.id}") for r in self.parts.ledger.with_status("running", "pending_review")
                if r.name and r.id != rid]
            findings += [clash] if (clash := contract.name_clash(spec.name, taken)) else []
        return spec, self.stage_done(rid, verdict("contract", findings, v.ms, v.details), attempt)

    @DBOS.step()
    def checks(self, rid: str, candidate: Candidate, spec: ToolSpec | None, attempt: int) -> Verdict:
        """Static checks on the text (never executes it)."""
        return self.stage_done(rid, checks.run_checks(candidate.code, spec, candidate.permissions,
                                                      settings=self.parts.checks), attempt)

    @DBOS.step()
    def tests(self, rid: str, candidate: Candidate, attempt: int) -> Verdict:
        """The candidate's own pytest tests, in the sandbox. Evidence, not a gate on its own."""
        return self.stage_done(rid, tests.run_tests(self.parts.sandbox, code=candidate.code, tests=candidate.tests,
                                                limits=self.parts.test_limits), attempt)

    @DBOS.step()
    def oracle(self, rid: str, candidate: Candidate, spec: ToolSpec, attempt: int) -> Verdict:
        """Examples and held-out examples run in the sandbox; judged here, on the host."""
        return self.stage_done(rid, oracle.evaluate(
            self.parts.sandbox, code=candidate.code, function=spec.function, examples=candidate.examples,
            holdout=candidate.holdout, permissions=candidate.permissions,
            limits=self.parts.test_limits), attempt)

    @DBOS.step()
    def policy(self, rid: str, candidate: Candidate, spec: ToolSpec | None, stages: tuple[Verdict, ...],
               attempt: int = 1) -> Decision:
        """Route by risk, with the rules of ``[policy]``; the decision and the rule that made it are audited."""
        p = self.parts
        previous = p.registry.get(spec.name) if spec is not None else None
        facts = policy.RiskFacts.of(candidate=candidate, spec=spec, verdicts=stages, previous=(
            previous.interface.signature, previous.permissions) if previous is not None else None)
        decision = policy.decide(facts, settings=p.policy)
        p.ledger.update(rid, decision=decision.to_json(), permissions=candidate.permissions.to_json())
        self.record(events.PolicyDecided(request_id=rid, decision=decision, attempt=attempt))
        return decision

    @DBOS.step()
    def reviewers(self, rid: str, candidate: Candidate, spec: ToolSpec, stages: tuple[Verdict, ...],
                  decision: Decision, requester: str, attempt: int = 1) -> QuorumResult | None:
        """Reviewer agents vote; each vote and the quorum's result are audited. None: no reviewer model."""
        p = self.parts
        model = p.policy.reviewer_model or p.generation.model
        if not model:
            reason = "no reviewer model configured ([policy] reviewer_model or [generation] model)"
            self.record(events.QuorumDone(request_id=rid, result=None, attempt=attempt, reason=reason))
            p.forge.comment(request_id=rid, key=f"reviewers:{attempt}", text=pulls.quorum_comment(None, reason))
            return None
        subject = ReviewSubject.of(request_id=rid, candidate=candidate, spec=spec, verdicts=stages,
                                   requester=requester)
        result = run_quorum(reviewers_for(decision.roles, p.models(model)), subject=subject,
                            quorum=decision.quorum, requester=requester, timeout_seconds=decision.timeout_seconds)
        for vote in result.votes:
            self.record(events.Voted(request_id=rid, actor=vote.reviewer, vote=vote, attempt=attempt))
        self.record(events.QuorumDone(request_id=rid, result=result, attempt=attempt))
        p.forge.comment(request_id=rid, key=f"reviewers:{attempt}", text=pulls.quorum_comment(result))
        return result

    @DBOS.step()
    def pull_request(self, rid: str, candidate: Candidate, spec: ToolSpec, attempt: int = 1, *, requester: str = "",
                     stages: tuple[Verdict, ...] = (), decision: Decision | None = None) -> tuple[ToolRef, str]:
        """Open the pull request: branch ``foundry/<rid>`` with one commit holding the tool's files, and a body
        saying what a reviewer needs; on a forge with pages, its address and the policy's decision (as a
        comment) are recorded too. Returns the version and the head commit, which is all a merge may take."""
        forge = self.parts.forge
        existing = forge.branch_head(rid)
        version = self.parts.registry.next_version(spec.name)
        if existing is not None:  # a retried step: keep the version the branch already has
            version = int(forge.trailers(existing).get("Tool-Version", version))
        ref = ToolRef(name=spec.name, version=version, sha256=code_digest(candidate.code))
        body = pulls.body(self.parts, rid, ref=ref, requester=requester, source=candidate.source, stages=stages,
                          permissions=candidate.permissions, decision=decision or Decision(
                              route="human", rule="-", reason="-"))
        head = forge.open_pr(request_id=rid, files=tool_files(candidate, spec, version, rid),
                             message=f"Add {spec.name} v{version}", trailers=_trailers(rid, ref), body=body)
        self.crashpoint("pr.opened")
        self.record(events.PrOpened(request_id=rid, ref=ref, branch=f"foundry/{rid}", head=head, attempt=attempt))
        if (link := forge.pull_request(rid)) is not None:
            self.record(events.PrLinked(request_id=rid, number=link.number, url=link.url, head=head, attempt=attempt))
            if decision is not None:
                forge.comment(request_id=rid, key=f"policy:{attempt}", text=pulls.policy_comment(decision))
        return ref, head

    @DBOS.step()
    def pending(self, proposal: Proposal) -> Outcome:
        """Park the request for a human: status pending_review, with the proposal a review needs."""
        rid = proposal.request_id
        committed(self.parts, rid)  # from here on it can be cancelled only while it waits for review
        outcome = Outcome(request_id=rid, status="pending_review", tool=proposal.ref, stages=proposal.stages,
                          reason=proposal.decision.reason)
        self.parts.ledger.update(rid, status="pending_review", reason=outcome.reason, outcome=outcome.to_json(),
                                 proposal=proposal.to_json())
        self.record(events.ReviewRequested(request_id=rid, rule=proposal.decision.rule,
                                           reason=proposal.decision.reason, ref=proposal.ref))
        return outcome

    @DBOS.step()
    def finish(self, rid: str, status: Status, tool: ToolRef | None, stages: tuple[Verdict, ...], reason: str,
               usage: Usage | None = None) -> Outcome:
        """Close the request with its final status (and, for model-driven requests, its total usage and cost)."""
        if not commit(self.parts, rid):  # a cancel came first: that is how it ends
            return end_cancelled(self.parts, rid, "foundry", "cancelled before it could finish", stages)
        outcome = Outcome(request_id=rid, status=status, tool=tool, stages=stages, reason=reason)
        self.parts.ledger.update(rid, status=status, reason=reason, outcome=outcome.to_json())
        self.record(events.Closed(request_id=rid, status=status, reason=reason, tool=tool, usage=usage))
        return outcome

    # ── generate ───────────────────────────────────────────────────────────────────────────────

    @DBOS.step()
    def open_need(self, rid: str, need: Need, requester: str) -> None:
        """Record a model-driven request."""
        p = self.parts
        p.ledger.open(rid, requester=requester, source="request")
        self.record(events.NeedOpened(
            request_id=rid, actor=requester, description=need.description, model=need.model,
            examples=len(need.examples), holdout=len(need.holdout), max_attempts=need.max_attempts,
            token_budget=need.token_budget, sandbox=p.sandbox.layers()))

    @DBOS.step()
    def assess(self, rid: str, need: Need) -> ToolRef | None:
        """Is a deployed tool already a fit? The decision and its reason are audited."""
        p = self.parts
        p.index.rebuild(p.registry.active())
        found = assess(p.index, need.description)
        tool = p.registry.get(found.existing.name) if found.existing is not None else None
        self.record(events.Assessed(request_id=rid, existing=tool.ref if tool else None, reason=found.reason,
                                    candidates=tuple(m.name for m in found.candidates)))
        return tool.ref if tool else None

    @property
    def max_tokens(self) -> int | None:
        """``[generation] max_tokens`` for each generation call; None: the backend's default."""
        return self.parts.generation.max_tokens or None

    @DBOS.step()
    def model(self, rid: str, purpose: str, messages: list[Message], call: int, model: str) -> ModelReply:
        """One model call; the prompt and response hashes and the usage go into the audit log."""
        completion = self.parts.models(model).complete(messages, max_tokens=self.max_tokens)
        text = completion.message.content
        self.record(events.ModelCalled(
            request_id=rid, purpose=purpose, call=call, model=completion.model,
            prompt_sha256=sha256(json.dumps([[m.role, m.content] for m in messages])),
            response_sha256=sha256(text), usage=completion.usage))
        return ModelReply(text=text, usage=completion.usage, finish_reason=completion.finish_reason)

    # ── deliver ────────────────────────────────────────────────────────────────────────────────

    @DBOS.step()
    def review(self, proposal: Proposal, review: ReviewDecision) -> None:
        """Record the review decision (who, what, why)."""
        rid = proposal.request_id
        committed(self.parts, rid)  # approved or rejected: too late to cancel
        self.parts.ledger.update(rid, status="running", reviewer=review.reviewer)
        self.record(events.ReviewDecided(request_id=rid, actor=review.reviewer, review=review))

    @DBOS.step()
    def merge(self, proposal: Proposal) -> str:
        """Merge the PR into main, atomically and idempotently."""
        rid, ref = proposal.request_id, proposal.ref
        self.parts.registry.rehearse(ref=ref, request_id=rid, interface=proposal.interface,
                                     permissions=proposal.permissions)  # never a merge whose deploy cannot be recorded
        commit = self.parts.forge.merge(request_id=rid, message=f"Merge {ref.name} v{ref.version}",
                                        trailers=_trailers(rid, ref), expected_head=proposal.head)
        self.crashpoint("merge.ref-updated")
        self.record(events.Merged(request_id=rid, ref=replace(ref, commit=commit)))
        return commit

    @DBOS.step()
    def load(self, proposal: Proposal, commit: str) -> ToolRef:
        """Record the deployment and load it back from the merge commit, checking the reviewed hash."""
        registry = self.parts.registry
        ref = replace(proposal.ref, commit=commit)
        attest.record(self.parts, proposal, commit)  # the signed provenance record beside the tool, before it is active
        registry.record(ref=ref, request_id=proposal.request_id, interface=proposal.interface,
                        permissions=proposal.permissions)
        loaded = registry.load(ref.name, ref.version)  # raises TamperedTool on any mismatch
        attest.check_loaded(self.parts, loaded.tool.ref, loaded.code, proposal.request_id)
        self.record(events.Deployed(request_id=proposal.request_id, ref=loaded.tool.ref))
        return loaded.tool.ref


def _trailers(rid: str, ref: ToolRef) -> dict[str, str]:
    return {"Foundry-Request": rid, "Tool-Name": ref.name, "Tool-Version": str(ref.version),
            "Tool-Sha256": ref.sha256}


def review_findings(quorum: QuorumResult) -> list[Finding]:
    """The reviewers' reasons (rejections and requested changes), as findings a model can act on."""
    findings = [Finding(code=f"review.{v.verdict}", file="tool.py", line=line, message=f"{v.role} reviewer: {text}")
                for v in quorum.votes if v.verdict in ("reject", "request_changes") for line, text in v.reasons]
    return findings or [Finding(code="review.reject", message=f"reviewers rejected it: {quorum.reason}")]
