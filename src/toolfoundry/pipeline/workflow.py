"""The pipeline as durable DBOS workflows: the one module that knows the order of the stages.

    validate: open ─▶ contract ─▶ checks ─▶ tests ─▶ oracle ─▶ policy ─▶ PR ─┬─▶ (auto) deliver
                                                                             ├─▶ (human) pending_review
                                                                             └─▶ (reviewers) quorum ─▶ deliver
                                                                                  | pending_review | rejected
    generate: open ─▶ assess ─┬─▶ (a deployed tool fits) closed
                              └─▶ spec ─▶ [write ─▶ contract ─▶ checks ─▶ tests ─▶ oracle]×≤N ─▶ policy ─▶ PR ─▶ …
    deliver:  review ─▶ merge ─▶ load ─▶ closed

The one loop back is generate's refine loop: a candidate that fails — its checks, tests or oracle, or
reviewer agents under a rule with ``regenerate = true`` — is rewritten with the findings, at most
``max_attempts`` times and within the request's token budget.

Two workflows rather than one that waits in ``DBOS.recv``: a review can take days, and a process
parked in ``recv`` cannot exit cleanly. The approval starts ``deliver`` under the deterministic id
``<request>.deliver``, so approving twice cannot deliver twice, and a crash at any point resumes from
the last completed step when any toolfoundry process next opens the home.

Every step is a checkpointed ``@DBOS.step``; every step that changes state writes exactly one audit
event, keyed so a step re-run after a crash cannot write it twice. Stage modules (contract, checks,
sandbox, oracle, policy, forge, registry) take data and return data; only this module sequences them
and writes their results to the audit log.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from dbos import DBOS

from toolfoundry.core import (
    JSON,
    Candidate,
    Decision,
    Example,
    Finding,
    Outcome,
    Permissions,
    ReviewDecision,
    Status,
    ToolRef,
    ToolSpec,
    Verdict,
    verdict,
)
from toolfoundry.errors import ToolfoundryError
from toolfoundry.forge import LocalForge
from toolfoundry.models.types import Message, Model, Usage
from toolfoundry.sandbox.types import Sandbox
from toolfoundry.settings import Settings
from toolfoundry.stages import checks, contract, generate, oracle, policy
from toolfoundry.stages.assess import assess
from toolfoundry.stages.review import QuorumResult, ReviewSubject, reviewers_for, run_quorum
from toolfoundry.store.audit import AuditLog
from toolfoundry.store.ledger import Ledger
from toolfoundry.store.registry import Registry
from toolfoundry.store.search import ToolIndex
from toolfoundry.toolfile import code_digest, tool_files

Listener = Callable[[str, str, dict[str, JSON]], None]
"""Called as ``listener(request_id, kind, data)`` after each audit event the workflow writes."""


@dataclass(slots=True, kw_only=True)
class Runtime:
    """What the steps need, built by the API when it opens a home. Not durable; rebuilt per process."""

    settings: Settings
    sandbox: Sandbox
    forge: LocalForge
    audit: AuditLog
    registry: Registry
    ledger: Ledger
    index: ToolIndex
    models: Callable[[str], Model]
    """Builds a model from ``provider:name`` (the API caches them per process)."""
    listeners: list[Listener] = field(default_factory=list)


_runtime: Runtime | None = None


def install(runtime: Runtime | None) -> None:
    """Make ``runtime`` the one the steps use (the API calls this when it opens or closes a home)."""
    global _runtime
    _runtime = runtime


def _rt() -> Runtime:
    if _runtime is None:
        raise RuntimeError("toolfoundry workflow used before a Foundry was opened")
    return _runtime


@dataclass(frozen=True, slots=True, kw_only=True)
class Proposal:
    """What ``deliver`` needs from ``validate``: a validated, reviewed-to-be candidate with its PR."""

    request_id: str
    requester: str
    ref: ToolRef
    spec: ToolSpec
    permissions: Permissions
    stages: tuple[Verdict, ...]
    decision: Decision


def deliver_id(request_id: str) -> str:
    """The workflow id of a request's delivery (deterministic: a second approval cannot deliver twice)."""
    return f"{request_id}.deliver"


# ── helpers (not steps) ─────────────────────────────────────────────────────────────────────────


def _audit(rid: str, kind: str, actor: str, data: dict[str, JSON], key: str) -> None:
    rt = _rt()
    rt.audit.append(kind, request_id=rid, actor=actor, data=data, key=f"{rid}:{key}")
    for listener in list(rt.listeners):
        listener(rid, kind, data)


def _crashpoint(name: str) -> None:
    """Fault injection for the durability tests (``TOOLFOUNDRY_CRASH_AFTER``): die here, like a power cut."""
    if _rt().settings.crash_after == name:
        os.kill(os.getpid(), signal.SIGKILL)


def sha256(text: str) -> str:
    """Hex sha256 of a text's UTF-8 bytes (prompts and replies in the audit log)."""
    return code_digest(text)


def _stage(rid: str, v: Verdict, attempt: int) -> Verdict:
    _audit(rid, "stage", "foundry", {**v.to_json(), "attempt": attempt}, f"stage:{v.stage}:{attempt}")
    return v


# ── validate: the steps ─────────────────────────────────────────────────────────────────────────


@DBOS.step()
def open_step(rid: str, candidate: Candidate, requester: str) -> None:
    """Record the request."""
    _rt().ledger.open(rid, requester=requester, source=candidate.source)
    _audit(rid, "request.opened", requester, {
        "source": candidate.source, "sha256": sha256(candidate.code), "name": candidate.name,
        "permissions": candidate.permissions.to_json(), "examples": len(candidate.examples),
        "holdout": len(candidate.holdout), "tests": candidate.tests is not None,
        "sandbox": _rt().sandbox.layers()}, "opened")


@DBOS.step()
def contract_step(rid: str, candidate: Candidate, attempt: int) -> tuple[ToolSpec | None, Verdict]:
    """Parse the tool contract; compare with the deployed signature; check examples against it."""
    spec, v = contract.stage(candidate.code, name=candidate.name)
    findings = list(v.findings)
    if spec is not None:
        _rt().ledger.update(rid, name=spec.name)
        current = _rt().registry.get(spec.name)
        if current is not None:
            changed = contract.compare_versions(str(current.spec["signature"]), spec)
            if changed is not None:
                findings.append(changed)
        for label, examples in (("example", candidate.examples), ("held-out example", candidate.holdout)):
            for i, example in enumerate(examples, 1):
                problems = contract.check_args(spec, example.args)
                if problems:
                    shown = example.args if label == "example" else None
                    findings.append(Finding(code="contract.example-args", file="examples.json", input=shown,
                                            message=f"{label} {i}: args do not match the signature"
                                                    f" {spec.signature}: {'; '.join(problems)}"))
    return spec, _stage(rid, verdict("contract", findings, v.ms, v.details), attempt)


@DBOS.step()
def checks_step(rid: str, candidate: Candidate, spec: ToolSpec | None, attempt: int) -> Verdict:
    """Static checks on the text (never executes it)."""
    return _stage(rid, checks.run_checks(candidate.code, spec, candidate.permissions), attempt)


@DBOS.step()
def tests_step(rid: str, candidate: Candidate, attempt: int) -> Verdict:
    """The candidate's own pytest tests, in the sandbox. Evidence, not a gate on its own."""
    if not candidate.tests:
        return _stage(rid, verdict("tests", [Finding(code="tests.none", severity="info",
                                                     message="no pytest tests were given")]), attempt)
    report = _rt().sandbox.run_pytest(code=candidate.code, tests=candidate.tests,
                                      limits=_rt().settings.test_limits)
    findings = [Finding(code="tests.failed", file="test_tool.py", message=line) for line in report.failures]
    if report.timed_out:
        findings.append(Finding(code="tests.timeout", file="test_tool.py",
                                message=f"pytest did not finish within {_rt().settings.test_limits.wall_seconds}s"))
    elif report.exit_code != 0 and not findings:
        findings.append(Finding(code="tests.exit", file="test_tool.py",
                                message=f"pytest exited with {report.exit_code}: {report.output_tail[-400:]}"))
    return _stage(rid, verdict("tests", findings, report.ms,
                               {"passed": report.passed, "failed": report.failed, "exit_code": report.exit_code}),
                  attempt)


@DBOS.step()
def oracle_step(rid: str, candidate: Candidate, spec: ToolSpec, attempt: int) -> Verdict:
    """Examples and held-out examples run in the sandbox; judged here, on the host."""
    return _stage(rid, oracle.evaluate(
        _rt().sandbox, code=candidate.code, function=spec.function, examples=candidate.examples,
        holdout=candidate.holdout, permissions=candidate.permissions, limits=_rt().settings.test_limits), attempt)


@DBOS.step()
def policy_step(rid: str, candidate: Candidate, spec: ToolSpec | None, stages: tuple[Verdict, ...],
                attempt: int = 1) -> Decision:
    """Route by risk, with the rules of ``[policy]``; the decision and the rule that made it are audited."""
    rt = _rt()
    previous = rt.registry.get(spec.name) if spec is not None else None
    facts = policy.RiskFacts.of(candidate=candidate, spec=spec, verdicts=stages, previous=(
        str(previous.spec["signature"]), previous.permissions) if previous is not None else None)
    decision = policy.decide(facts, settings=rt.settings.policy)
    rt.ledger.update(rid, decision=decision.to_json())
    _audit(rid, "policy.decision", "policy", {**decision.to_json(), "attempt": attempt}, f"policy:{attempt}")
    return decision


@DBOS.step()
def reviewers_step(rid: str, candidate: Candidate, spec: ToolSpec, stages: tuple[Verdict, ...],
                   decision: Decision, requester: str, attempt: int = 1) -> QuorumResult | None:
    """Reviewer agents vote; each vote and the quorum's result are audited. None: no reviewer model."""
    rt = _rt()
    model = rt.settings.policy.reviewer_model or rt.settings.generation.model
    if not model:
        _audit(rid, "review.quorum", "reviewers", {"outcome": "unresolved", "reason": (
            "no reviewer model configured ([policy] reviewer_model or [generation] model)")}, f"quorum:{attempt}")
        return None
    subject = ReviewSubject.of(request_id=rid, candidate=candidate, spec=spec, verdicts=stages,
                               requester=requester)
    result = run_quorum(reviewers_for(decision.roles, rt.models(model)), subject=subject,
                        quorum=decision.quorum, requester=requester, timeout_seconds=decision.timeout_seconds)
    for vote in result.votes:
        _audit(rid, "review.vote", vote.reviewer, {**vote.to_json(), "attempt": attempt},
               f"vote:{attempt}:{vote.reviewer}")
    _audit(rid, "review.quorum", "reviewers", {**result.to_json(), "attempt": attempt}, f"quorum:{attempt}")
    return result


@DBOS.step()
def pr_step(rid: str, candidate: Candidate, spec: ToolSpec, attempt: int = 1) -> ToolRef:
    """Open the pull request: branch ``foundry/<rid>`` with one commit holding the tool's files."""
    rt = _rt()
    existing = rt.forge.branch_head(rid)
    version = rt.registry.next_version(spec.name)
    digest = sha256(candidate.code)
    if existing is not None:  # a retried step: keep the version the branch already has
        version = int(rt.forge.trailers(existing).get("Tool-Version", version))
    trailers = {"Foundry-Request": rid, "Tool-Name": spec.name, "Tool-Version": str(version),
                "Tool-Sha256": digest}
    head = rt.forge.open_pr(request_id=rid, files=tool_files(candidate, spec, version, rid),
                            message=f"Add {spec.name} v{version}", trailers=trailers)
    ref = ToolRef(name=spec.name, version=version, sha256=digest)
    _audit(rid, "pr.opened", "foundry", {"name": ref.name, "version": ref.version, "sha256": ref.sha256,
                                         "branch": f"foundry/{rid}", "head": head, "attempt": attempt},
           f"pr:{attempt}")
    return ref


@DBOS.step()
def pending_step(rid: str, proposal: Proposal) -> Outcome:
    """Park the request for a human: status pending_review."""
    outcome = Outcome(request_id=rid, status="pending_review", tool=proposal.ref, stages=proposal.stages,
                      reason=proposal.decision.reason)
    _rt().ledger.update(rid, status="pending_review", reason=outcome.reason, outcome=outcome.to_json())
    _audit(rid, "review.requested", "policy",
           {"rule": proposal.decision.rule, "reason": proposal.decision.reason, **proposal.ref.to_json()},
           "review-requested")
    return outcome


@DBOS.step()
def finish_step(rid: str, status: Status, tool: ToolRef | None, stages: tuple[Verdict, ...],
                reason: str, usage: Usage | None = None) -> Outcome:
    """Close the request with its final status (and, for model-driven requests, its total usage and cost)."""
    outcome = Outcome(request_id=rid, status=status, tool=tool, stages=stages, reason=reason)
    _rt().ledger.update(rid, status=status, reason=reason, outcome=outcome.to_json())
    data: dict[str, JSON] = {"status": status, "reason": reason, "tool": tool.to_json() if tool else None}
    if usage is not None:
        data["usage"] = usage.to_json()
    _audit(rid, "request.closed", "foundry", data, "closed")
    return outcome


def _validate_candidate(rid: str, candidate: Candidate, attempt: int) -> tuple[ToolSpec | None, tuple[Verdict, ...]]:
    """contract → checks → (only if both passed) tests → oracle. Code that failed static checks never runs."""
    spec, v = contract_step(rid, candidate, attempt)
    stages: tuple[Verdict, ...] = (v,)
    _crashpoint("contract")
    stages += (checks_step(rid, candidate, spec, attempt),)
    _crashpoint("checks")
    if spec is not None and all(s.ok for s in stages):
        stages += (tests_step(rid, candidate, attempt),)
        _crashpoint("tests")
        stages += (oracle_step(rid, candidate, spec, attempt),)
        _crashpoint("oracle")
    return spec, stages


def _ship(rid: str, candidate: Candidate, spec: ToolSpec | None, stages: tuple[Verdict, ...],
          requester: str, gate: tuple[Verdict, ...] | None = None, attempt: int = 1,
          may_regenerate: bool = False) -> Outcome | list[Finding]:
    """policy (on ``gate``: the final candidate's stages) → deny | PR → pending_review | deliver.

    With ``may_regenerate`` (a model-driven request with attempts left), reviewers that reject under a
    rule with ``regenerate = true`` return their reasons as findings for the next attempt instead."""
    decision = policy_step(rid, candidate, spec, stages if gate is None else gate, attempt)
    _crashpoint("policy")
    if decision.route == "deny" or spec is None:
        return finish_step(rid, "rejected", None, stages, decision.reason)
    ref = pr_step(rid, candidate, spec, attempt)
    _crashpoint("pr")
    proposal = Proposal(request_id=rid, requester=requester, ref=ref, spec=spec,
                        permissions=candidate.permissions, stages=stages, decision=decision)
    DBOS.set_event("proposal", proposal)
    if decision.route == "reviewers":
        quorum = reviewers_step(rid, candidate, spec, stages if gate is None else gate, decision, requester,
                                attempt)
        _crashpoint("reviewers")
        if quorum is not None and quorum.outcome == "rejected" and decision.regenerate and may_regenerate:
            return _review_findings(quorum)
        if quorum is not None and quorum.outcome != "unresolved":
            voters = ",".join(v.reviewer for v in quorum.votes if v.verdict in ("approve", "reject"))
            return _deliver(proposal, ReviewDecision(approve=quorum.outcome == "approved",
                                                     reviewer=f"reviewers({voters})", reason=quorum.reason))
        reason = quorum.reason if quorum is not None else "no reviewer model is configured"
        if decision.fallback == "deny":
            return finish_step(rid, "rejected", ref, stages, f"reviewers did not decide ({reason}); policy denies")
        proposal = replace(proposal, decision=replace(decision, reason=f"{decision.reason}; reviewers did not"
                                                                       f" decide: {reason}"))
        DBOS.set_event("proposal", proposal)
        return pending_step(rid, proposal)
    if decision.route == "human":
        return pending_step(rid, proposal)
    return _deliver(proposal, ReviewDecision(approve=True, reviewer="policy", reason=decision.reason))


def _review_findings(quorum: QuorumResult) -> list[Finding]:
    """The reviewers' reasons (rejections and requested changes), as findings a model can act on."""
    findings = [Finding(code=f"review.{v.verdict}", file="tool.py", line=line,
                        message=f"{v.role} reviewer: {text}")
                for v in quorum.votes if v.verdict in ("reject", "request_changes") for line, text in v.reasons]
    return findings or [Finding(code="review.reject", message=f"reviewers rejected it: {quorum.reason}")]


@DBOS.workflow()
def validate(rid: str, candidate: Candidate, requester: str) -> Outcome:
    """From a candidate to a decision: deployed (auto), rejected, or pending a human review."""
    stages: tuple[Verdict, ...] = ()
    try:
        open_step(rid, candidate, requester)
        _crashpoint("open")
        spec, stages = _validate_candidate(rid, candidate, 1)
        outcome = _ship(rid, candidate, spec, stages, requester)
        assert isinstance(outcome, Outcome)  # no regeneration for a proposed candidate
        return outcome
    except ToolfoundryError as exc:
        return finish_step(rid, "failed", None, stages, f"{type(exc).__name__}: {exc}")


# ── generate: a need → a candidate, with the refine loop ───────────────────────────────────────


@dataclass(frozen=True, slots=True, kw_only=True)
class Need:
    """A capability request: what is needed, how it should behave, and which model writes it."""

    description: str
    examples: tuple[Example, ...] = ()
    holdout: tuple[Example, ...] = ()
    """Judged by the oracle; never shown to the model."""
    model: str
    """``provider:name``."""
    max_attempts: int = 3
    token_budget: int = 60000
    reuse: bool = True
    """Return a deployed tool that already fits instead of generating a duplicate."""


@DBOS.step()
def open_need_step(rid: str, need: Need, requester: str) -> None:
    """Record a model-driven request."""
    _rt().ledger.open(rid, requester=requester, source="request")
    _audit(rid, "request.opened", requester, {
        "source": "request", "description": need.description, "model": need.model,
        "examples": len(need.examples), "holdout": len(need.holdout), "max_attempts": need.max_attempts,
        "token_budget": need.token_budget, "sandbox": _rt().sandbox.layers()}, "opened")


@DBOS.step()
def assess_step(rid: str, need: Need) -> ToolRef | None:
    """Is a deployed tool already a fit? The decision and its reason are audited."""
    rt = _rt()
    rt.index.rebuild(rt.registry.active())
    found = assess(rt.index, need.description)
    tool = rt.registry.get(found.existing.name) if found.existing is not None else None
    _audit(rid, "assess", "foundry", {"existing": tool.ref.to_json() if tool else None, "reason": found.reason,
                                      "candidates": [m.name for m in found.candidates]}, "assess")
    return tool.ref if tool else None


@DBOS.step()
def model_step(rid: str, purpose: str, messages: list[Message], call: int, model: str) -> tuple[str, Usage]:
    """One model call; the prompt and response hashes and the usage go into the audit log."""
    completion = _rt().models(model).complete(messages)
    text = completion.message.content
    _audit(rid, "model.call", "foundry", {
        "purpose": purpose, "call": call, "model": completion.model,
        "prompt_sha256": sha256(json.dumps([[m.role, m.content] for m in messages])),
        "response_sha256": sha256(text), "usage": completion.usage.to_json()}, f"model:{call}")
    return text, completion.usage


def _candidate(need: Need, draft: generate.DraftSpec, code: str, tests: str | None) -> Candidate:
    return Candidate(code=code, tests=tests, examples=need.examples, holdout=need.holdout,
                     permissions=draft.permissions, name=draft.name, source="request")


@DBOS.workflow()
def generate_tool(rid: str, need: Need, requester: str) -> Outcome:
    """A need → (an existing tool, or) a spec → candidates refined with findings → the usual gate."""
    stages: tuple[Verdict, ...] = ()
    try:
        open_need_step(rid, need, requester)
        if need.reuse and (existing := assess_step(rid, need)) is not None:
            return finish_step(rid, "deployed", existing, (), f"the deployed tool {existing.name}"
                                                              f" v{existing.version} already fits; nothing generated")
        text, used = model_step(rid, "spec", generate.spec_messages(need.description, need.examples), 0, need.model)
        draft, problems = generate.parse_spec(text)
        if draft is None:
            stages = (_stage(rid, verdict("generate", problems), 0),)
            return finish_step(rid, "rejected", None, stages, "the model's spec was unusable", used)
        first = generate.generate_messages(draft, need.examples)
        messages, history = first, list[str]()
        for attempt in range(1, need.max_attempts + 1):
            if used.total >= need.token_budget:
                return finish_step(rid, "rejected", None, stages, f"token budget of {need.token_budget} spent"
                                   f" after {attempt - 1} attempt(s) ({used.total} tokens)", used)
            reply, usage = model_step(rid, "generate", messages, attempt, need.model)
            used += usage
            code, tests, parsed = generate.parse_code(reply)
            stages += (_stage(rid, verdict("generate", parsed, details={"attempt": attempt,
                                                                       "tokens": used.total}), attempt),)
            spec: ToolSpec | None = None
            if code is not None:
                candidate = _candidate(need, draft, code, tests)
                spec, tried = _validate_candidate(rid, candidate, attempt)
                stages += tried
                parsed = [f for v in tried for f in v.findings]
                if all(v.ok for v in tried):
                    _audit(rid, "generation.done", "foundry", {"attempts": attempt, "usage": used.to_json()},
                           f"generation:{attempt}")
                    shipped = _ship(rid, candidate, spec, stages, requester, gate=tried, attempt=attempt,
                                    may_regenerate=attempt < need.max_attempts)
                    if isinstance(shipped, Outcome):
                        return shipped
                    parsed = shipped  # reviewers rejected it and the policy lets the model try again
            history.append(f"attempt {attempt}: " + "; ".join(f.code for f in parsed if f.severity == "error")[:200])
            messages = generate.refine_messages(first, reply, parsed, history, attempt, need.max_attempts)
        return finish_step(rid, "rejected", None, stages,
                           f"no candidate passed after {need.max_attempts} attempt(s) ({used.total} tokens)", used)
    except ToolfoundryError as exc:
        return finish_step(rid, "failed", None, stages, f"{type(exc).__name__}: {exc}")


# ── deliver: review → merge → load ──────────────────────────────────────────────────────────────


@DBOS.step()
def review_step(proposal: Proposal, review: ReviewDecision) -> None:
    """Record the review decision (who, what, why)."""
    rid = proposal.request_id
    _rt().ledger.update(rid, status="running", reviewer=review.reviewer)
    _audit(rid, "review.decided", review.reviewer, {"approve": review.approve, "reviewer": review.reviewer,
                                                    "reason": review.reason}, "review")


@DBOS.step()
def merge_step(proposal: Proposal) -> str:
    """Merge the PR into main, atomically and idempotently."""
    rid, ref = proposal.request_id, proposal.ref
    commit = _rt().forge.merge(request_id=rid, message=f"Merge {ref.name} v{ref.version}",
                               trailers={"Foundry-Request": rid, "Tool-Name": ref.name,
                                         "Tool-Version": str(ref.version), "Tool-Sha256": ref.sha256})
    _crashpoint("merge.ref-updated")
    _audit(rid, "merge", "foundry", {**ref.to_json(), "commit": commit}, "merge")
    return commit


@DBOS.step()
def load_step(proposal: Proposal, commit: str) -> ToolRef:
    """Record the deployment and load it back from the merge commit, checking the reviewed hash."""
    rt = _rt()
    ref = replace(proposal.ref, commit=commit)
    rt.registry.record(ref=ref, request_id=proposal.request_id, spec=proposal.spec.to_json(),
                       permissions=proposal.permissions)
    loaded = rt.registry.load(ref.name, ref.version)  # raises TamperedTool on any mismatch
    _audit(proposal.request_id, "deploy", "foundry", {**loaded.tool.ref.to_json()}, "deploy")
    return loaded.tool.ref


def _deliver(proposal: Proposal, review: ReviewDecision) -> Outcome:
    rid, stages = proposal.request_id, proposal.stages
    review_step(proposal, review)
    _crashpoint("review")
    if not review.approve:
        return finish_step(rid, "rejected", proposal.ref, stages,
                           f"rejected by {review.reviewer}: {review.reason}")
    commit = merge_step(proposal)
    _crashpoint("merge")
    ref = load_step(proposal, commit)
    _crashpoint("load")
    return finish_step(rid, "deployed", ref, stages,
                       f"deployed {ref.name} v{ref.version} (approved by {review.reviewer})")


@DBOS.workflow()
def deliver(proposal: Proposal, review: ReviewDecision) -> Outcome:
    """After a human review: record it, and on approval merge and load."""
    try:
        return _deliver(proposal, review)
    except ToolfoundryError as exc:
        return finish_step(proposal.request_id, "failed", proposal.ref, proposal.stages,
                           f"{type(exc).__name__}: {exc}")
