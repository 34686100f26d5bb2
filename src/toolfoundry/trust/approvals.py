"""Who may decide a pending request: the checks ``Foundry.review`` runs before delivery starts, and signing one.

A human decision is a signature by the reviewer's SSH key over :func:`~toolfoundry.identity.approval.approval_message`
(the request, the tool, its version and sha256, the decision, the reason), verified against ``allowed_signers``
on ``main`` of the tool repository. It is refused — with a reason that says which — when the signature does
not verify (made for another request or hash, or by a key nobody registered), when the signer is revoked,
is the requester, lacks the ``reviewer`` role, the role a policy rule requires, or the risk class or tool
pattern they are limited to, or when an agent's token is the one asking. An unsigned decision (``--as``) is
accepted only in a home where no principal was ever registered (audited as such) or from an admin's token
(audited as an override). A ``github:<login>`` decision (``review sync``) is checked against GitHub and the
login's linked principal (``github.py``). The accepted decision is recorded (``review.signed`` /
``review.github`` / ``review.unsigned``)
before the workflow delivers it; the provenance record carries the signature. It does not run workflows.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path

from toolfoundry.core import JSON, Proposal, ReviewDecision
from toolfoundry.errors import AccessDenied, UsageError
from toolfoundry.identity import ssh
from toolfoundry.identity.approval import SignedApproval, approval_message
from toolfoundry.pipeline import attest
from toolfoundry.pipeline.parts import Parts
from toolfoundry.store.principals import Identity, Principal, Principals
from toolfoundry.trust import github
from toolfoundry.trust.reviewers import may_review, risk_class

__all__ = ["Asked", "decide", "may_review", "risk_class", "sign", "sign_for_ui"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Asked:
    """A decision someone asks toolfoundry to deliver."""

    proposal: Proposal
    """What was reviewed."""
    approve: bool
    """Approve or reject."""
    reviewer: str | None
    """Who says they decide (``--as``); None: the signer, or the acting principal."""
    reason: str
    """Why (required to reject)."""
    signature: str | None
    """The armored SSH signature over the approval message; None: unsigned."""


def decide(parts: Parts, store: Principals, asked: Asked, *, acting: Identity | None, operator: str) -> ReviewDecision:
    """The ``ReviewDecision`` to deliver, after every check; ``AccessDenied`` naming the first that fails."""
    proposal = asked.proposal
    if acting is not None and acting.kind == "agent":
        raise AccessDenied(f"{acting.name} acts with an agent's token, and an agent can never approve or reject"
                           f" (with or without --as); a human reviewer signs the decision with their SSH key")
    if not asked.approve and not asked.reason.strip():
        raise UsageError("a rejection needs a reason (--reason TEXT)")
    message = approval_message(request_id=proposal.request_id, ref=proposal.ref, approve=asked.approve,
                               reason=asked.reason)
    record: dict[str, JSON]
    if not asked.signature and asked.reviewer and asked.reviewer.startswith(github.PREFIX):
        seen = github.verify(parts, store, proposal, reviewer=asked.reviewer, approve=asked.approve,
                             reason=asked.reason)  # GitHub must show this decision now; the login must be linked
        name, record = seen.reviewer, seen.record
        kind, key = "review.github", f"github:{record['review_id']}:{record['decision']}"
    elif asked.signature:
        signed = _verify(parts, store, proposal, message, asked.signature, asked.approve)
        name = signed.signer
        if asked.reviewer and asked.reviewer != name:
            raise AccessDenied(f"the signature is {name}'s, not {asked.reviewer}'s")
        if acting is not None and acting.name != name:
            raise AccessDenied(f"the signature is {name}'s, but {acting.name}'s token is the one asking")
        may_review(store.active(name), proposal)
        record = {**signed.to_json(), "authority": "signature"}
        kind, key = "review.signed", f"approval:{name}:{_short(asked.signature)}"
    else:
        if asked.approve and parts.policy.approval_for(proposal.decision) == "signed":
            raise AccessDenied(f"the policy requires an SSH-signed approval for rule {proposal.decision.rule}, so an"
                               f" unsigned one (--as, an admin's override) does not count: `toolfoundry review approve"
                               f" {proposal.request_id} --key KEY`")
        name, authority = _unsigned(store, proposal, asked, acting, operator)
        record = {"reviewer": name, "decision": "approve" if asked.approve else "reject", "authority": authority,
                  "message": message.decode(), **({"admin": acting.name} if acting is not None else {})}
        kind, key = "review.unsigned", f"unsigned:{name}:{record['decision']}"
    if name == proposal.requester:
        raise AccessDenied(f"{name} requested {proposal.request_id} and cannot review it; another reviewer must")
    actor = acting.name if acting is not None and kind == "review.unsigned" else name
    parts.audit.append(kind, request_id=proposal.request_id, actor=actor, data=record,
                       key=f"{proposal.request_id}:{key}")
    return ReviewDecision(approve=asked.approve, reviewer=name, reason=asked.reason)


def _verify(parts: Parts, store: Principals, proposal: Proposal, message: bytes, signature: str,
            approve: bool) -> SignedApproval:
    """The signed approval, if ``signature`` verifies over ``message`` for a registered key; AccessDenied if not."""
    signers = attest.signers_at(parts.forge, parts.forge.main_head())
    found = ssh.signed_by(message, signature, signers=signers, namespace=ssh.NAMESPACE)
    if found is None:
        owners = ssh.principals_of(signature, signers=signers)
        if owners:
            raise AccessDenied(f"the signature by {owners[0]} does not verify for request {proposal.request_id},"
                               f" {proposal.ref.name} v{proposal.ref.version} with sha256 {proposal.ref.sha256[:16]}…"
                               f" and this decision: it was made for another request, tool hash, version or"
                               f" decision (a replay), or the data was altered")
        raise AccessDenied("no registered reviewer key made this signature (allowed_signers on main of the tool"
                           " repository has no such key)")
    name, fingerprint = found
    principal = store.active(name)
    key = next((k for k in principal.keys if k.fingerprint == fingerprint), None)
    if key is None:
        raise AccessDenied(f"the key {fingerprint} is in allowed_signers for {name}, but this home never"
                           f" registered it (`toolfoundry principals key`)")
    return SignedApproval(signer=name, approve=approve, message=message.decode(),
                          signature=ssh.check_signature_text(signature), fingerprint=fingerprint,
                          via="ui" if key.purpose == "ui" else "key")


def _unsigned(store: Principals, proposal: Proposal, asked: Asked, acting: Identity | None,
              operator: str) -> tuple[str, str]:
    """(reviewer, authority) of an unsigned decision, when one is allowed here."""
    if not store.any():
        if proposal.decision.reviewer_role:
            raise AccessDenied(f"policy rule {proposal.decision.rule} requires a reviewer with role"
                               f" {proposal.decision.reviewer_role}; register principals (`toolfoundry principals"
                               f" add`) and sign the approval")
        return asked.reviewer or (acting.name if acting else operator), "open home (no principals registered)"
    if acting is None or "admin" not in acting.scopes:
        raise AccessDenied("this home has principals, so a decision must be signed by the reviewer's SSH key:"
                           " `toolfoundry review approve ID --key PATH` (or with the key in ssh-agent); an unsigned"
                           " --as decision needs an admin's token")
    name = asked.reviewer or acting.name
    if proposal.decision.reviewer_role:
        may_review(store.active(name), proposal)
    return name, f"admin override by {acting.name}"


def sign(proposal: Proposal, *, approve: bool, reason: str, key: Path | None, store: Principals,
         agent_socket: str | None) -> str:
    """Sign a decision on ``proposal`` as its reviewer: with ``key`` (a private key file, or a .pub whose private
    half ssh-agent holds), or with the first key in ssh-agent that a reviewer registered here."""
    message = approval_message(request_id=proposal.request_id, ref=proposal.ref, approve=approve, reason=reason)
    if key is not None:
        return ssh.sign(message, key=key, namespace=ssh.NAMESPACE, agent_socket=agent_socket)
    if not agent_socket:
        raise UsageError("sign the decision: pass --key PATH (your SSH key), or load it into ssh-agent")
    registered = {k.fingerprint for p in store.all() if p.active for k in p.keys if k.purpose == "review"}
    held = next((k for k in ssh.agent_keys(agent_socket) if k.fingerprint in registered), None)
    if held is None:
        raise UsageError("ssh-agent holds no key registered for a reviewer here; pass --key PATH")
    with tempfile.TemporaryDirectory(prefix="toolfoundry-agent-") as tmp:
        pub = Path(tmp) / "key.pub"
        pub.write_text(held.line + "\n", encoding="utf-8")
        return ssh.sign(message, key=pub, namespace=ssh.NAMESPACE, agent_socket=agent_socket)


def sign_for_ui(proposal: Proposal, *, approve: bool, reason: str, principal: Principal) -> str:
    """Sign as ``principal`` with the key they registered for the review UI; AccessDenied if they have none."""
    key = next((k for k in principal.keys if k.purpose == "ui" and k.path), None)
    if key is None or key.path is None:
        raise AccessDenied(f"{principal.name} has no key registered for the review UI, so it cannot sign for them:"
                           f" `toolfoundry principals ui-key {principal.name} --key PATH`, or approve from the CLI")
    path = Path(key.path)
    if ssh.read_public_key(path).fingerprint != key.fingerprint:
        raise AccessDenied(f"{path} no longer holds the UI key registered for {principal.name}")
    message = approval_message(request_id=proposal.request_id, ref=proposal.ref, approve=approve, reason=reason)
    return ssh.sign(message, key=path, namespace=ssh.NAMESPACE)


def _short(signature: str) -> str:
    return hashlib.sha256(signature.encode()).hexdigest()[:16]
