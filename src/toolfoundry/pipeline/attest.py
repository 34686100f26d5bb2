"""Attesting deployed tools: the signed provenance record written beside each version, and its check at load.

The deliver step calls :func:`record` once a version is merged and before it is active: it gathers what
the audit log holds about the request (the requester, the model calls' prompt and reply hashes, each
stage's verdict and the chain hash of its event, the reviewer agents' votes, the signed approvals), the
policy's decision and the merge commit, has ``identity/provenance.py`` build the in-toto statement, signs
it with the foundry's own key (``<home>/foundry-key``, created on first use, its public half registered in
``allowed_signers`` as ``foundry`` for the provenance namespace only) and commits it to ``main`` as
``tools/<name>/provenance/v<N>.intoto.json``. Re-running it after a crash finds the record on ``main`` and
writes nothing new. :func:`check_loaded` is what loading does: the record exists, its signature verifies
with the home's key, it names exactly the bytes being loaded, the version and the merge commit, and every
approval in it verifies against ``allowed_signers`` as it was at that merge commit — else ``TamperedTool``.
:func:`change_signers` commits a new ``allowed_signers`` to ``main`` (the principals' keys). On a GitHub forge
both go straight onto ``main`` (``commit_to_main``), not through a pull request nobody reviews. It does not
decide who may sign (``trust/``) and holds no state.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from toolfoundry.core import JSON, Forge, Proposal, ToolRef
from toolfoundry.errors import ForgeError, TamperedTool
from toolfoundry.identity import provenance, ssh
from toolfoundry.pipeline.names import new_request_id
from toolfoundry.pipeline.parts import Parts
from toolfoundry.store.audit import Event
from toolfoundry.toolfile import code_digest
from toolfoundry.version import __version__

KEY_NAME = "foundry-key"
"""The foundry's signing key in the home (``foundry-key`` mode 0600, and ``foundry-key.pub``)."""


def home_of(parts: Parts) -> Path:
    """The home the parts were opened for: the tool repository (``<home>/tools.git``) sits in it."""
    return parts.forge.repo.parent


def foundry_key(home: Path) -> Path:
    """The path of the home's signing key (it may not exist yet)."""
    return home / KEY_NAME


def signers_at(forge: Forge, commit: str) -> str:
    """The ``allowed_signers`` text at ``commit`` ("" when the file is not there)."""
    try:
        return forge.read_file(commit, ssh.ALLOWED_SIGNERS).decode("utf-8", "replace")
    except ForgeError:
        return ""


def change_signers(forge: Forge, change: Callable[[list[ssh.Signer]], list[ssh.Signer]], *, why: str,
                   actor: str) -> str | None:
    """Commit ``change(current signers)`` as ``allowed_signers`` on ``main``; the merge commit, or None if nothing
    changed. Another change landing meanwhile is retried on top of it."""
    for _ in range(20):
        head = forge.main_head()
        current_text = signers_at(forge, head)
        text = ssh.format_allowed_signers(change(ssh.parse_allowed_signers(current_text)))
        if text == current_text:
            return None
        try:
            return _land(forge, f"signers-{new_request_id()}", {ssh.ALLOWED_SIGNERS: text.encode()}, why,
                         {"Changed-By": actor}, parent=head)
        except ForgeError as exc:
            if "conflicts with main" not in str(exc):
                raise
    raise ForgeError("allowed_signers kept changing underneath; gave up after 20 tries")


def ensure_key(parts: Parts) -> ssh.PublicKey:
    """The foundry's public key, creating the key pair and registering it in ``allowed_signers`` if needed."""
    key = ssh.generate_key(foundry_key(home_of(parts)), "toolfoundry foundry key")
    entry = ssh.Signer(principal=provenance.FOUNDRY, key=key, namespaces=(ssh.PROVENANCE_NAMESPACE,))

    def add(signers: list[ssh.Signer]) -> list[ssh.Signer]:
        return [*(s for s in signers if s.principal != provenance.FOUNDRY), entry]
    change_signers(parts.forge, add, why="Register the foundry's provenance key", actor=provenance.FOUNDRY)
    return key


def record(parts: Parts, proposal: Proposal, commit: str) -> str:
    """Write the signed provenance record of the merged ``proposal`` on ``main`` (once); return its path."""
    ref = ToolRef(name=proposal.ref.name, version=proposal.ref.version, sha256=proposal.ref.sha256, commit=commit)
    path = provenance.record_path(ref.name, ref.version)
    forge = parts.forge
    try:
        existing: bytes | None = forge.read_file(forge.main_head(), path)
    except ForgeError:
        existing = None
    key = ensure_key(parts)
    if existing is not None:
        opened = provenance.open_envelope(existing, signers=provenance.foundry_signers(key))
        if not opened.problems and not provenance.check(opened.statement, ref, ref.sha256):
            return path  # a re-run step: the record is there already
    facts = gather(parts, proposal, ref, key.fingerprint)
    body = provenance.payload(provenance.statement(facts))
    signature = ssh.sign(provenance.pae(provenance.PAYLOAD_TYPE, body), key=foundry_key(home_of(parts)),
                         namespace=ssh.PROVENANCE_NAMESPACE)
    rid = f"{proposal.request_id}.provenance"
    trailers = {"Tool-Name": ref.name, "Tool-Version": str(ref.version), "Tool-Sha256": ref.sha256,
                "Tool-Commit": commit}
    _land(forge, rid, {path: provenance.envelope(body, signature, key.fingerprint)},
          f"Provenance of {ref.name} v{ref.version}", trailers)
    return path


def _land(forge: Forge, rid: str, files: dict[str, bytes], message: str, trailers: dict[str, str], *,
          parent: str | None = None) -> str:
    """Put ``files`` on ``main``: straight onto it where the forge can (GitHub: no pull request that nobody would
    review, for signed records and admins' changes), else as a branch merged at once; the new commit."""
    direct = getattr(forge, "commit_to_main", None)
    if direct is not None:
        return str(direct(request_id=rid, files=files, message=message, trailers=trailers, parent=parent))
    forge.open_pr(request_id=rid, files=files, message=message, trailers=trailers)
    return forge.merge(request_id=rid, message=f"Merge: {message}", trailers=trailers)


def gather(parts: Parts, proposal: Proposal, ref: ToolRef, builder: str) -> provenance.Facts:
    """What the audit log and the proposal say about the request, as the record's facts."""
    rid = proposal.request_id
    events = parts.audit.events(request_id=rid)
    opened = next((e.data for e in events if e.kind == "request.opened"), {})
    decided = [e for e in events if e.kind == "review.decided"]
    review: dict[str, JSON] = dict(decided[-1].data) if decided else {}
    approvals = _approvals(events, review)
    review["authority"] = _authority(events, review, approvals)
    return provenance.Facts(
        ref=ref, request_id=rid, requester=proposal.requester, source=str(opened.get("source", "propose")),
        permissions=proposal.permissions, decision=proposal.decision, stages=proposal.stages, review=review,
        description=opened.get("description"), approvals=tuple(approvals),
        model_calls=tuple(e.data for e in events if e.kind == "model.call"),
        votes=tuple(e.data for e in events if e.kind == "review.vote"),
        audit={(e.key or str(e.seq)).removeprefix(f"{rid}:"): e.hash for e in events
               if e.kind in ("request.opened", "stage", "model.call", "policy.decision", "review.decided",
                             "review.signed", "review.github", "review.unsigned", "merge")},
        pr_head=parts.forge.branch_head(rid), builder=builder, version=__version__,
        finished=datetime.now(UTC).isoformat(timespec="seconds"))


def _approvals(events: list[Event], review: dict[str, JSON]) -> list[dict[str, JSON]]:
    """The signed approvals, or GitHub reviews, that match the recorded review (same person, same decision)."""
    decision = "approve" if review.get("approve") else "reject"
    return [dict(e.data) for e in events if e.kind in ("review.signed", "review.github")
            and e.data.get("signer", e.data.get("reviewer")) == review.get("reviewer")
            and e.data.get("decision") == decision][-1:]


def _authority(events: list[Event], review: dict[str, JSON], approvals: list[dict[str, JSON]]) -> str:
    """How the decision was authorised: a signature, a GitHub review, the policy, reviewer agents, or an unsigned
    exception."""
    if approvals:
        return str(approvals[-1].get("authority", "signature"))
    reviewer = str(review.get("reviewer", ""))
    if reviewer == "policy":
        return "policy"
    if reviewer.startswith("reviewers("):
        return "reviewer agents"
    unsigned = [e for e in events if e.kind == "review.unsigned" and e.data.get("reviewer") == reviewer]
    return str(unsigned[-1].data.get("authority", "unsigned")) if unsigned else "unsigned"


def check_loaded(parts: Parts, ref: ToolRef, code: str, request_id: str) -> None:
    """Refuse (``TamperedTool``) unless ``ref``'s provenance record exists, verifies and names these bytes."""
    path = provenance.record_path(ref.name, ref.version)
    refuse = f"refusing to load {ref.name} v{ref.version}: its provenance record {path}"
    forge = parts.forge
    try:
        data = forge.read_file(forge.main_head(), path)
    except ForgeError:
        raise TamperedTool(f"{refuse} is missing from main") from None
    pub = foundry_key(home_of(parts)).with_name(KEY_NAME + ".pub")
    if not pub.is_file():
        raise TamperedTool(f"{refuse} cannot be checked: the foundry's key {pub} is missing")
    opened = provenance.open_envelope(data, signers=provenance.foundry_signers(ssh.read_public_key(pub)))
    problems = list(opened.problems) or provenance.check(opened.statement, ref, code_digest(code))
    if not problems and ref.commit is not None and provenance.approvals_of(opened.statement):
        problems = provenance.approval_problems(opened.statement, ref, request_id,
                                                signers=signers_at(forge, ref.commit))
    if problems:
        raise TamperedTool(f"{refuse} does not hold: {problems[0]}")
