"""The pipeline as durable DBOS workflows: the one module that knows the order of the stages.

    validate: open ─▶ contract ─▶ checks ─▶ tests ─▶ oracle ─▶ policy ─▶ PR ─┬─▶ (auto) deliver
                                                                             ├─▶ (human) pending_review
                                                                             └─▶ (reviewers) quorum ─▶ deliver
                                                                                  | pending_review | rejected
    generate: open ─▶ assess ─┬─▶ (a deployed tool fits) closed
                              └─▶ [spec]×≤N ─▶ [write ─▶ contract ─▶ checks ─▶ tests ─▶ oracle]×≤N ─▶ policy ─▶ PR ─▶ …
    deliver:  review ─▶ merge ─▶ load ─▶ closed

Generate loops back twice, each time at most ``max_attempts`` times and within the request's token
budget: a spec reply that cannot be used is asked for again with what was wrong (a reply that already
holds a valid tool module is taken as the first candidate, its spec read from the code); and a candidate
that fails — its parse, checks, tests or oracle, or reviewer agents under a rule with ``regenerate =
true`` — is rewritten with the findings.

:class:`Pipeline` is a DBOS configured instance: its workflows are methods, and its steps
(``steps.py``) work with the parts it was built with, so nothing is global. Requests run from the
``requests`` queue, as many at once as ``[pipeline] concurrency`` allows. Two workflows rather than
one that waits in ``DBOS.recv``: a review can take days, and a process parked in ``recv`` cannot exit
cleanly. An approval starts ``deliver`` under the deterministic id ``<request>.deliver``, so approving
twice cannot deliver twice, and a crash at any point resumes from the last completed step when any
toolfoundry process next launches the home's workflows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from itertools import count

from dbos import DBOS, DBOSConfiguredInstance, SetWorkflowID

from toolfoundry.core import (
    Candidate,
    Decision,
    Finding,
    Need,
    Outcome,
    Proposal,
    ReviewDecision,
    ToolRef,
    ToolSpec,
    Verdict,
    verdict,
)
from toolfoundry.errors import ToolfoundryError
from toolfoundry.models.types import Message, Usage
from toolfoundry.pipeline import events
from toolfoundry.pipeline.names import (
    CLASS_NAME,
    FORGE_QUEUE,
    INSTANCE,
    MODELS_QUEUE,
    QUEUE,
    SANDBOX_QUEUE,
    deliver_id,
    new_request_id,
)
from toolfoundry.pipeline.parts import Parts
from toolfoundry.pipeline.steps import ModelReply, Steps, review_findings, tool_in_reply
from toolfoundry.stages import generate
from toolfoundry.stages.generate import DraftSpec


@DBOS.dbos_class(CLASS_NAME)
class Pipeline(DBOSConfiguredInstance):
    """The request workflows of one home, in this process."""

    def __init__(self, parts: Parts) -> None:
        self.parts = parts
        self.steps = Steps(parts)
        super().__init__(INSTANCE)

    # ── validate: a candidate to a decision ────────────────────────────────────────────────────

    @DBOS.workflow()
    def validate(self, rid: str, candidate: Candidate, requester: str) -> Outcome:
        """From a candidate to a decision: deployed (auto), rejected, or pending a human review."""
        s, stages = self.steps, tuple[Verdict, ...]()
        try:
            s.open(rid, candidate, requester)
            s.crashpoint("open")
            spec, stages = self._judged(rid, candidate, 1)
            outcome = self._ship(rid, candidate, spec, stages, requester)
            assert isinstance(outcome, Outcome)  # no regeneration for a proposed candidate
            return outcome
        except ToolfoundryError as exc:
            return s.finish(rid, "failed", None, stages, f"{type(exc).__name__}: {exc}")

    def _validate(self, rid: str, candidate: Candidate, attempt: int) -> tuple[ToolSpec | None, tuple[Verdict, ...]]:
        """contract → checks → (only if both passed) tests → oracle. Code that failed static checks never runs."""
        s = self.steps
        spec, v = s.contract(rid, candidate, attempt)
        stages: tuple[Verdict, ...] = (v,)
        s.crashpoint("contract")
        stages += (s.checks(rid, candidate, spec, attempt),)
        s.crashpoint("checks")
        if spec is not None and all(v.ok for v in stages):
            stages += (s.tests(rid, candidate, attempt),)
            s.crashpoint("tests")
            stages += (s.oracle(rid, candidate, spec, attempt),)
            s.crashpoint("oracle")
        return spec, stages

    def _ship(self, rid: str, candidate: Candidate, spec: ToolSpec | None, stages: tuple[Verdict, ...],
              requester: str, gate: tuple[Verdict, ...] | None = None, attempt: int = 1,
              may_regenerate: bool = False) -> Outcome | list[Finding]:
        """policy (on ``gate``: the final candidate's stages) → deny | PR → pending_review | deliver.

        With ``may_regenerate`` (a model-driven request with attempts left), reviewers that reject under a
        rule with ``regenerate = true`` return their reasons as findings for the next attempt instead."""
        s, judged = self.steps, stages if gate is None else gate
        decision = s.policy(rid, candidate, spec, judged, attempt)
        s.crashpoint("policy")
        if decision.route == "deny" or spec is None:
            return s.finish(rid, "rejected", None, stages, decision.reason)
        ref, head = self._pull_request(rid, candidate, spec, attempt, requester, judged, decision)
        s.crashpoint("pr")
        proposal = Proposal(request_id=rid, requester=requester, ref=ref, interface=spec.interface,
                            permissions=candidate.permissions, stages=stages, decision=decision, head=head)
        if decision.route == "human":
            return s.pending(proposal)
        if decision.route == "auto":
            return self._delivered(proposal, ReviewDecision(approve=True, reviewer="policy", reason=decision.reason))
        quorum = s.reviewers(rid, candidate, spec, judged, decision, requester, attempt)
        s.crashpoint("reviewers")
        if quorum is not None and quorum.outcome == "rejected" and decision.regenerate and may_regenerate:
            return review_findings(quorum)
        if quorum is not None and quorum.outcome != "unresolved":
            voters = ",".join(v.reviewer for v in quorum.votes if v.verdict in ("approve", "reject"))
            return self._delivered(proposal, ReviewDecision(approve=quorum.outcome == "approved",
                                                          reviewer=f"reviewers({voters})", reason=quorum.reason))
        reason = quorum.reason if quorum is not None else "no reviewer model is configured"
        if decision.fallback == "deny":
            return s.finish(rid, "rejected", ref, stages, f"reviewers did not decide ({reason}); policy denies")
        return s.pending(replace(proposal, decision=replace(
            decision, reason=f"{decision.reason}; reviewers did not decide: {reason}")))

    # ── generate: a need → a candidate, with the refine loop ───────────────────────────────────

    @DBOS.workflow()
    def generate(self, rid: str, need: Need, requester: str) -> Outcome:
        """A need → (an existing tool, or) a spec → candidates refined with findings → the usual gate."""
        s = self.steps
        try:
            s.open_need(rid, need, requester)
            if need.reuse and (existing := s.assess(rid, need)) is not None:
                return s.finish(rid, "deployed", existing, (), f"the deployed tool {existing.name}"
                                                               f" v{existing.version} already fits; nothing generated")
            return self._draft(rid, need, requester)
        except ToolfoundryError as exc:
            return s.finish(rid, "failed", None, (), f"{type(exc).__name__}: {exc}")

    def _draft(self, rid: str, need: Need, requester: str) -> Outcome:
        """spec, asked again with what was wrong (within the attempts and the budget). A reply that already
        holds a valid tool module is taken as the first candidate, its spec read from the code."""
        s, used, stages, calls = self.steps, Usage(), tuple[Verdict, ...](), count()
        messages = generate.spec_messages(need.description, need.examples)
        for attempt in range(1, need.max_attempts + 1):
            if used.total >= need.token_budget:
                break
            reply = self._ask(rid, "spec", messages, next(calls), need.model)
            used += reply.usage
            draft, problems = generate.parse_spec(reply.text, need.examples)
            if draft is None and (derived := tool_in_reply(reply.text)) is not None:
                return self._refine(rid, need, requester, derived, used, calls, first_reply=reply)
            if draft is not None:
                return self._refine(rid, need, requester, draft, used, calls)
            if reply.finish_reason == "length":
                problems.append(generate.truncated(s.max_tokens, "the JSON object"))
            stages += (s.stage_done(rid, verdict("spec", problems, details={"attempt": attempt}), attempt),)
            messages = generate.retry_messages(messages, reply.text, problems, generate.SPEC_WANTED)
        spent = f"; token budget of {need.token_budget} spent" if used.total >= need.token_budget else ""
        return s.finish(rid, "rejected", None, stages, f"the model's spec was unusable after {len(stages)}"
                        f" attempt(s) ({used.total} tokens{spent})", used)

    def _refine(self, rid: str, need: Need, requester: str, draft: DraftSpec, used: Usage, calls: Iterator[int],
                first_reply: ModelReply | None = None) -> Outcome:
        """Write, judge and rewrite candidates for ``draft`` until one ships or the attempts or tokens run out."""
        s, stages = self.steps, tuple[Verdict, ...]()
        first = generate.generate_messages(draft, need.examples)
        messages, history = first, list[str]()
        for attempt in range(1, need.max_attempts + 1):
            if first_reply is not None:  # the spec reply already held a tool module
                reply, first_reply = first_reply, None
            elif used.total >= need.token_budget:
                return s.finish(rid, "rejected", None, stages, f"token budget of {need.token_budget} spent"
                                f" after {attempt - 1} attempt(s) ({used.total} tokens)", used)
            else:
                reply = self._ask(rid, "generate", messages, next(calls), need.model)
                used += reply.usage
            code, tests, parsed = generate.parse_code(reply.text, reply.finish_reason, s.max_tokens)
            stages += (s.stage_done(rid, verdict("generate", parsed, details={"attempt": attempt,
                                                                         "tokens": used.total}), attempt),)
            if code is not None:
                candidate = Candidate(code=code, tests=tests, examples=need.examples, holdout=need.holdout,
                                      permissions=draft.permissions, name=draft.name, source="request")
                spec, tried = self._judged(rid, candidate, attempt)
                stages += tried
                parsed = [f for v in tried for f in v.findings]
                if all(v.ok for v in tried):
                    s.record(events.GenerationDone(request_id=rid, attempts=attempt, usage=used))
                    shipped = self._ship(rid, candidate, spec, stages, requester, gate=tried, attempt=attempt,
                                         may_regenerate=attempt < need.max_attempts)
                    if isinstance(shipped, Outcome):
                        return shipped
                    parsed = shipped  # reviewers rejected it and the policy lets the model try again
            history.append(f"attempt {attempt}: " + "; ".join(f.code for f in parsed if f.severity == "error")[:200])
            messages = generate.refine_messages(first, reply.text, parsed, history, attempt, need.max_attempts)
        return s.finish(rid, "rejected", None, stages,
                        f"no candidate passed after {need.max_attempts} attempt(s) ({used.total} tokens)", used)

    # ── a cluster: the sandbox, the forge and the models behind queues of their own ─────────────
    # On one machine (``parts.queues`` false) these run inline, as steps of the request's workflow. In a
    # cluster each is a child workflow on its queue: validations ``[cluster] sandbox_slots`` at once per
    # worker, everything that writes the tool repository on the forge node one at a time, model calls
    # within the cluster's rate. Which way a home runs is fixed by its database, so a workflow replayed
    # on another node takes the same path.

    def _judged(self, rid: str, candidate: Candidate, attempt: int) -> tuple[ToolSpec | None, tuple[Verdict, ...]]:
        if not self.parts.queues:
            return self._validate(rid, candidate, attempt)
        judged: tuple[ToolSpec | None, tuple[Verdict, ...]] = DBOS.enqueue_workflow(
            SANDBOX_QUEUE, self.judge, rid, candidate, attempt).get_result(polling_interval_sec=0.05)
        return judged

    @DBOS.workflow()
    def judge(self, rid: str, candidate: Candidate, attempt: int) -> tuple[ToolSpec | None, tuple[Verdict, ...]]:
        """contract → checks → tests → oracle of one candidate, on a worker's sandbox slot."""
        return self._validate(rid, candidate, attempt)

    def _pull_request(self, rid: str, candidate: Candidate, spec: ToolSpec, attempt: int, requester: str,
                      judged: tuple[Verdict, ...], decision: Decision) -> tuple[ToolRef, str]:
        if not self.parts.queues:
            return self.steps.pull_request(rid, candidate, spec, attempt, requester=requester, stages=judged,
                                           decision=decision)
        opened: tuple[ToolRef, str] = DBOS.enqueue_workflow(
            FORGE_QUEUE, self.open_pull_request, rid, candidate, spec, attempt, requester, judged,
            decision).get_result(polling_interval_sec=0.05)
        return opened

    @DBOS.workflow()
    def open_pull_request(self, rid: str, candidate: Candidate, spec: ToolSpec, attempt: int, requester: str,
                          judged: tuple[Verdict, ...], decision: Decision) -> tuple[ToolRef, str]:
        """Open the request's pull request (on the forge node, in a cluster)."""
        return self.steps.pull_request(rid, candidate, spec, attempt, requester=requester, stages=judged,
                                       decision=decision)

    def _delivered(self, proposal: Proposal, review: ReviewDecision) -> Outcome:
        if not self.parts.queues:
            return self._deliver(proposal, review)
        with SetWorkflowID(deliver_id(proposal.request_id)):
            handle = DBOS.enqueue_workflow(FORGE_QUEUE, self.deliver, proposal, review)
        outcome: Outcome = handle.get_result(polling_interval_sec=0.05)
        return outcome

    def _ask(self, rid: str, purpose: str, messages: list[Message], call: int, model: str) -> ModelReply:
        if not self.parts.queues:
            return self.steps.model(rid, purpose, messages, call, model)
        reply: ModelReply = DBOS.enqueue_workflow(MODELS_QUEUE, self.ask_model, rid, purpose, messages, call,
                                                  model).get_result(polling_interval_sec=0.05)
        return reply

    @DBOS.workflow()
    def ask_model(self, rid: str, purpose: str, messages: list[Message], call: int, model: str) -> ModelReply:
        """One model call, started within the cluster's rate limit."""
        return self.steps.model(rid, purpose, messages, call, model)

    # ── deliver: review → merge → load ─────────────────────────────────────────────────────────

    @DBOS.workflow()
    def deliver(self, proposal: Proposal, review: ReviewDecision) -> Outcome:
        """After a human review: record it, and on approval merge and load."""
        try:
            return self._deliver(proposal, review)
        except ToolfoundryError as exc:
            return self.steps.finish(proposal.request_id, "failed", proposal.ref, proposal.stages,
                                     f"{type(exc).__name__}: {exc}")

    def _deliver(self, proposal: Proposal, review: ReviewDecision) -> Outcome:
        s, rid, stages = self.steps, proposal.request_id, proposal.stages
        s.review(proposal, review)
        s.crashpoint("review")
        if not review.approve:
            return s.finish(rid, "rejected", proposal.ref, stages, f"rejected by {review.reviewer}: {review.reason}")
        commit = s.merge(proposal)
        s.crashpoint("merge")
        ref = s.load(proposal, commit)
        s.crashpoint("load")
        return s.finish(rid, "deployed", ref, stages, f"deployed {ref.name} v{ref.version} (approved by"
                                                      f" {review.reviewer})")


__all__ = ["INSTANCE", "QUEUE", "Pipeline", "deliver_id", "events", "new_request_id"]
