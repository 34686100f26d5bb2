"""The exact bytes a reviewer signs to approve or reject one version of a tool, and a signed answer.

A signature is over :func:`approval_message`: canonical JSON naming the request, the tool, its version,
the sha256 of its code and the decision (and the reason given). A signature made for another request,
another hash, another version or the other decision does not verify against this message, so it cannot
be replayed elsewhere. It does not check signatures (``ssh.py``) or decide who may sign (the callers).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from toolfoundry.core import JSON, ToolRef

MESSAGE_TYPE = "toolfoundry.approval/v1"
"""The ``type`` field of every approval message."""


def approval_message(*, request_id: str, ref: ToolRef, approve: bool, reason: str) -> bytes:
    """The bytes a reviewer signs with ``ssh-keygen -Y sign -n toolfoundry``."""
    body: dict[str, JSON] = {"type": MESSAGE_TYPE, "request": request_id, "tool": ref.name, "version": ref.version,
                             "sha256": ref.sha256, "decision": "approve" if approve else "reject",
                             "reason": reason.strip()}
    return (json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n").encode("utf-8")


@dataclass(frozen=True, slots=True, kw_only=True)
class SignedApproval:
    """A reviewer's decision, with the signature that proves who made it."""

    signer: str
    """The principal whose key verified (from ``allowed_signers``)."""
    approve: bool
    """True to approve, False to reject."""
    message: str
    """The signed message (:func:`approval_message`), as text."""
    signature: str
    """The armored SSH signature."""
    fingerprint: str
    """``SHA256:...`` of the key that signed."""
    via: str
    """``key`` (the reviewer's own key, a file or ssh-agent) or ``ui`` (the key they registered for the review UI)."""

    def to_json(self) -> dict[str, JSON]:
        """As the audit log's ``review.signed`` event and the provenance record hold it."""
        return {"signer": self.signer, "decision": "approve" if self.approve else "reject", "message": self.message,
                "signature": self.signature, "fingerprint": self.fingerprint, "via": self.via}
