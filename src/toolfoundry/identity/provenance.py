"""A deployed tool version's provenance: an in-toto Statement v1 in a DSSE envelope, signed by the foundry.

The record answers "who asked for this tool, what was generated, what was tested, who approved it" for
one version, offline. Its shape::

    envelope   {"payloadType": "application/vnd.in-toto+json", "payload": base64(statement),
                "signatures": [{"keyid": "SHA256:...", "sig": base64(armored SSH signature)}]}
    statement  {"_type": "https://in-toto.io/Statement/v1",
                "subject": [{"name": "tools/<name>/tool.py", "digest": {"sha256": ...}}],
                "predicateType": PREDICATE_TYPE, "predicate": ...}
    predicate  SLSA-style: buildDefinition (the request and requester, the policy rule, the model calls
               with their prompt and reply hashes as resolved dependencies), runDetails (the builder =
               this foundry's key, each stage's verdict with a digest of its evidence as byproducts),
               review (the decision and every approval with its signature), merge (the commit)

The signature is ``ssh-keygen -Y sign -n toolfoundry-provenance`` over DSSE's pre-authentication
encoding (``PAE``), so the payload type is signed too. This module builds the statement from facts it is
handed, wraps and opens envelopes, and checks a record against the bytes being loaded; it does not read
the audit log, the forge or the key files (``pipeline/attest.py`` does).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from toolfoundry.core import JSON, Decision, Permissions, ToolRef, Verdict
from toolfoundry.errors import UsageError
from toolfoundry.identity import ssh
from toolfoundry.identity.approval import approval_message
from toolfoundry.toolfile import tool_dir, tool_path

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://toolfoundry.dev/provenance/tool/v1"
BUILD_TYPE = "https://toolfoundry.dev/buildtypes/reviewed-tool/v1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
FOUNDRY = "foundry"
"""The principal name of the foundry's own key in ``allowed_signers`` (reserved; no person may take it)."""
GITHUB_REVIEW = "github-review"
"""The ``authority`` of an approval that is a GitHub review by a linked principal (no signature: GitHub vouched)."""
MAX_RECORD = 1024 * 1024
"""The largest provenance record read back."""


def record_path(name: str, version: int) -> str:
    """Where version ``version`` of ``name`` keeps its provenance record in the tool repository."""
    return f"{tool_dir(name)}/provenance/v{version}.intoto.json"


def digest(value: JSON) -> str:
    """sha256 of the canonical JSON of ``value``: how a piece of evidence is named in the record."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True, kw_only=True)
class Facts:
    """Everything a provenance record states, gathered by the deliver step."""

    ref: ToolRef
    """The version, its reviewed sha256 and its merge commit."""
    request_id: str
    """The request that produced it."""
    requester: str
    """Who asked (the authenticated principal, or the local user)."""
    source: str
    """``propose``, ``request`` or ``mcp``."""
    permissions: Permissions
    """What it was approved to use."""
    decision: Decision
    """The policy's decision (its rule)."""
    stages: tuple[Verdict, ...]
    """Every stage's verdict."""
    review: dict[str, JSON]
    """Who decided and how: ``reviewer``, ``approve``, ``reason``, ``authority``."""
    description: str | None = None
    """The described need, for a model-written tool."""
    model_calls: tuple[dict[str, JSON], ...] = ()
    """The ``model.call`` audit events' data: model, purpose, prompt and reply sha256, usage."""
    approvals: tuple[dict[str, JSON], ...] = ()
    """Signed approvals (``SignedApproval.to_json``), or the GitHub review that approved (authority
    ``github-review``: the login, the pull request, the review id and the commit it approved)."""
    votes: tuple[dict[str, JSON], ...] = ()
    """Reviewer agents' votes."""
    audit: dict[str, JSON] = field(default_factory=dict)
    """Links into the audit chain: ``{"stage:contract:1": "<event hash>", ...}``."""
    pr_head: str | None = None
    """The pull request's head commit."""
    builder: str = ""
    """The foundry's key fingerprint."""
    version: str = ""
    """toolfoundry's version."""
    finished: str = ""
    """When the record was made (ISO 8601 UTC)."""


def statement(facts: Facts) -> dict[str, JSON]:
    """The in-toto Statement v1 for ``facts``."""
    ref = facts.ref
    models = [{"name": f"model.call/{m.get('call')}", "uri": f"model:{m.get('model')}",
               "digest": {"sha256": str(m.get("response_sha256"))},
               "annotations": {"purpose": m.get("purpose"), "prompt_sha256": m.get("prompt_sha256"),
                               "response_sha256": m.get("response_sha256"), "usage": m.get("usage")}}
              for m in facts.model_calls]
    stages = [{"name": f"stage/{v.stage}", "digest": {"sha256": digest(v.to_json())},
               "annotations": {"ok": v.ok, "findings": len(v.findings),
                               "errors": sum(f.severity == "error" for f in v.findings)}}
              for v in facts.stages]
    predicate: dict[str, JSON] = {
        "buildDefinition": {
            "buildType": BUILD_TYPE,
            "externalParameters": {"request": {"id": facts.request_id, "requester": facts.requester,
                                               "source": facts.source, "description": facts.description,
                                               "permissions": facts.permissions.to_json()}},
            "internalParameters": {"policy": facts.decision.to_json()},
            "resolvedDependencies": models,
        },
        "runDetails": {
            "builder": {"id": f"toolfoundry:{facts.builder}", "version": {"toolfoundry": facts.version}},
            "metadata": {"invocationId": facts.request_id, "finishedOn": facts.finished},
            "byproducts": stages,
        },
        "review": {**facts.review, "approvals": list(facts.approvals), "votes": list(facts.votes)},
        "merge": {"commit": ref.commit, "pullRequestHead": facts.pr_head},
        "audit": facts.audit,
    }
    return {"_type": STATEMENT_TYPE,
            "subject": [{"name": tool_path(ref.name), "digest": {"sha256": ref.sha256},
                         "annotations": {"tool": ref.name, "version": ref.version}}],
            "predicateType": PREDICATE_TYPE, "predicate": predicate}


def pae(payload_type: str, body: bytes) -> bytes:
    """DSSE's pre-authentication encoding: what the signature covers."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(body), body)


def payload(stmt: dict[str, JSON]) -> bytes:
    """The statement's canonical bytes: the envelope's payload."""
    return json.dumps(stmt, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def envelope(body: bytes, signature: str, keyid: str) -> bytes:
    """The DSSE envelope holding ``body`` and its signature, as the file in the repository holds it."""
    wrapped = {"payloadType": PAYLOAD_TYPE, "payload": base64.b64encode(body).decode(),
               "signatures": [{"keyid": keyid, "sig": base64.b64encode(signature.encode()).decode()}]}
    return (json.dumps(wrapped, indent=2, sort_keys=True) + "\n").encode()


@dataclass(frozen=True, slots=True, kw_only=True)
class Opened:
    """An envelope read back: the statement and what verifying its signature found."""

    statement: dict[str, JSON]
    """The decoded statement (empty when the envelope could not be read)."""
    signer: str | None
    """The fingerprint of the foundry key whose signature verified, or None."""
    problems: tuple[str, ...]
    """Why the record cannot be trusted; empty when it can."""


def open_envelope(data: bytes, *, signers: str) -> Opened:
    """Read an envelope and verify its signature against ``signers`` (the foundry's ``allowed_signers`` line)."""
    try:
        wrapped = json.loads(data[:MAX_RECORD + 1].decode("utf-8"))
        body = base64.b64decode(wrapped["payload"], validate=True)
        sigs = wrapped["signatures"]
        stmt = json.loads(body)
        kind = wrapped["payloadType"]
        assert isinstance(stmt, dict) and isinstance(sigs, list) and isinstance(kind, str)
    except (ValueError, KeyError, TypeError, AssertionError, binascii.Error, UnicodeDecodeError):
        return Opened(statement={}, signer=None, problems=("the record is not a DSSE envelope of an in-toto"
                                                           " statement (damaged or edited)",))
    if len(data) > MAX_RECORD:
        return Opened(statement=stmt, signer=None, problems=(f"the record is larger than {MAX_RECORD} bytes",))
    problems: list[str] = []
    if kind != PAYLOAD_TYPE or stmt.get("_type") != STATEMENT_TYPE or stmt.get("predicateType") != PREDICATE_TYPE:
        problems.append("the record is not a toolfoundry in-toto Statement v1")
    signer = None
    for sig in sigs:
        try:
            armored = base64.b64decode(sig["sig"], validate=True).decode("ascii")
            signer = ssh.verify(pae(kind, body), armored, signers=signers, principal=FOUNDRY,
                                namespace=ssh.PROVENANCE_NAMESPACE)
        except (ValueError, KeyError, TypeError, binascii.Error, UsageError):
            signer = None
        if signer is not None:
            break
    if signer is None:
        problems.append("its signature does not verify with the foundry's key (the record was edited, or signed"
                        " by another key)")
    return Opened(statement=stmt, signer=signer, problems=tuple(problems))


def check(stmt: dict[str, JSON], ref: ToolRef, code_sha256: str) -> list[str]:
    """Why ``stmt`` is not the record of ``ref`` whose loaded bytes hash to ``code_sha256`` (empty: it is)."""
    problems = []
    subjects = stmt.get("subject") if isinstance(stmt.get("subject"), list) else []
    named = [s for s in subjects or [] if isinstance(s, dict) and s.get("name") == tool_path(ref.name)]
    got = named[0].get("digest", {}).get("sha256") if named and isinstance(named[0].get("digest"), dict) else None
    if got != code_sha256:
        problems.append(f"it names {tool_path(ref.name)} with sha256 {str(got)[:16]}…, but the bytes being loaded"
                        f" have sha256 {code_sha256[:16]}…")
    if code_sha256 != ref.sha256:
        problems.append(f"the bytes being loaded are not the reviewed ones (sha256 {ref.sha256[:16]}…)")
    annotations = named[0].get("annotations") if named and isinstance(named[0].get("annotations"), dict) else {}
    if (annotations or {}).get("version") != ref.version:
        problems.append(f"it is not the record of version {ref.version}")
    predicate = stmt.get("predicate") if isinstance(stmt.get("predicate"), dict) else {}
    merge = (predicate or {}).get("merge")
    if not isinstance(merge, dict) or merge.get("commit") != ref.commit:
        problems.append(f"it does not name the merge commit {str(ref.commit)[:12]}")
    return problems


def approvals_of(stmt: dict[str, JSON]) -> list[dict[str, JSON]]:
    """The signed approvals a statement lists."""
    predicate = stmt.get("predicate") if isinstance(stmt.get("predicate"), dict) else {}
    review = (predicate or {}).get("review")
    found = review.get("approvals") if isinstance(review, dict) else None
    return [a for a in found if isinstance(a, dict)] if isinstance(found, list) else []


def approval_problems(stmt: dict[str, JSON], ref: ToolRef, request_id: str, *, signers: str) -> list[str]:
    """Why an approval the statement lists does not hold: not over this request, tool, version, hash and an
    approving decision, or (a signed one) not verifying against ``signers`` (``allowed_signers`` at the merge
    commit). A GitHub review carries no signature: only its message is checked; GitHub vouched for the rest."""
    problems = []
    for approval in approvals_of(stmt):
        github = approval.get("authority") == GITHUB_REVIEW
        message, signer = str(approval.get("message", "")), approval.get("reviewer" if github else "signer")
        try:
            reason = json.loads(message).get("reason", "")
        except (ValueError, AttributeError):
            reason = None
        if reason is None or message.encode() != approval_message(request_id=request_id, ref=ref, approve=True,
                                                                  reason=str(reason)):
            problems.append(f"the approval by {signer} is not over request {request_id}, {ref.name} v{ref.version}"
                            f" with sha256 {ref.sha256[:16]}…")
            continue
        if github:  # authenticated by GitHub when it was read: nothing here to check offline beyond the message
            continue
        try:
            found = ssh.signed_by(message.encode(), str(approval.get("signature", "")), signers=signers,
                                  namespace=ssh.NAMESPACE)
        except UsageError:
            found = None
        if found is None or found[0] != signer:
            problems.append(f"the approval by {signer} does not verify against allowed_signers at the merge commit")
    return problems


def foundry_signers(key: ssh.PublicKey) -> str:
    """An ``allowed_signers`` text holding only the foundry's key, for its namespace."""
    return ssh.format_allowed_signers([ssh.Signer(principal=FOUNDRY, key=key, namespaces=(ssh.PROVENANCE_NAMESPACE,))])


def summary(stmt: dict[str, JSON]) -> Sequence[tuple[str, str]]:
    """(label, text) pairs a person reads first: the tool, the request, the policy, the review, the merge."""
    pred = stmt.get("predicate") if isinstance(stmt.get("predicate"), dict) else {}
    p: dict[str, JSON] = pred or {}
    request = p.get("buildDefinition", {}).get("externalParameters", {}).get("request", {})
    policy = p.get("buildDefinition", {}).get("internalParameters", {}).get("policy", {})
    review = p.get("review", {})
    subject = (stmt.get("subject") or [{}])[0]
    rows = [("tool", f"{subject.get('name')} sha256 {subject.get('digest', {}).get('sha256')}"),
            ("request", f"{request.get('id')} by {request.get('requester')} ({request.get('source')})"),
            ("policy", f"{policy.get('route')} by rule {policy.get('rule')}: {policy.get('reason')}"),
            ("review", f"{'approved' if review.get('approve') else 'rejected'} by {review.get('reviewer')}"
                       f" ({review.get('authority')})")]
    for approval in review.get("approvals") or []:
        if approval.get("authority") == GITHUB_REVIEW:
            rows.append(("github review", f"{approval.get('reviewer')} as @{approval.get('login')}"
                                          f" {approval.get('decision')} on pull request #{approval.get('pull_request')}"
                                          f" (review {approval.get('review_id')} of {approval.get('commit_id')});"
                                          " authenticated by GitHub, not an SSH signature"))
            continue
        rows.append(("signature", f"{approval.get('signer')} {approval.get('decision')} with"
                                  f" {approval.get('fingerprint')} via {approval.get('via')}"))
    for model in p.get("buildDefinition", {}).get("resolvedDependencies") or []:
        notes = model.get("annotations", {})
        rows.append(("model", f"{model.get('uri')} {notes.get('purpose')}: prompt {str(notes.get('prompt_sha256'))[:16]}…"
                              f" reply {str(notes.get('response_sha256'))[:16]}…"))
    for stage in p.get("runDetails", {}).get("byproducts") or []:
        rows.append(("stage", f"{stage.get('name')} ok={stage.get('annotations', {}).get('ok')} evidence"
                              f" sha256 {str(stage.get('digest', {}).get('sha256'))[:16]}…"))
    rows.append(("merge", str(p.get("merge", {}).get("commit"))))
    return rows
