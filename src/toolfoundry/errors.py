"""Every exception toolfoundry raises on purpose, in one tree.

Expected failures are values, not exceptions: a tool that fails its tests is a ``Verdict`` with
findings, a call that raises is a ``CallResult`` with ``ok=False``. What is left is a caller's
mistake, broken infrastructure, and code that is not what was reviewed::

    ToolfoundryError             base of everything we raise on purpose            → exit 2
    ├── UsageError               the caller asked for something invalid: a bad flag, a malformed file
    │   ├── NotInitialised       the home has not been created with `toolfoundry init`
    │   ├── UnknownTool          no deployed tool has that name (or version)
    │   ├── AccessDenied         the credential is unknown, revoked or expired, or lacks the scope or role
    │   └── Conflict             the request is no longer in the state the action needs (a race lost)
    ├── InfraError               something we depend on is missing or broken
    │   ├── SandboxUnavailable   no bwrap, an unusable interpreter, a layer that cannot be applied (fail closed)
    │   ├── ForgeError           git failed, or the tool repository is missing or damaged
    │   ├── ModelError           a model backend failed after its retries, or is misconfigured
    │   └── DatabaseError        a database is locked, corrupt, read-only, missing, or from a newer release
    ├── Cancelled                inside a workflow: the request was cancelled before this step could commit
    └── TamperedTool             a tool's bytes do not match the sha256 recorded when it was reviewed

Third-party exceptions are translated at one boundary each: SQLite's in ``store/db.py``, git's in
``forge/git.py``, the model SDKs' in ``models/retry.py``. ``TamperedTool`` is neither a usage nor an
infrastructure error: it means the reviewed-bytes invariant caught something, and it is audited.
"""

from __future__ import annotations

__all__ = ["AccessDenied", "Cancelled", "Conflict", "DatabaseError", "ForgeError", "InfraError", "ModelError", "NotInitialised",
           "SandboxUnavailable", "TamperedTool", "ToolfoundryError", "UnknownTool", "UsageError"]


class ToolfoundryError(Exception):
    """Base of every exception toolfoundry raises on purpose."""


class UsageError(ToolfoundryError):
    """The caller asked for something invalid: a bad flag, a malformed file, an unknown tool. Exit 2."""


class NotInitialised(UsageError):
    """The foundry home does not exist yet; run ``toolfoundry init``."""


class UnknownTool(UsageError):
    """No deployed tool has that name, or the tool has no such version."""


class AccessDenied(UsageError):
    """Who is acting may not do this: an unknown, revoked or expired token, a missing scope or role, a signature
    that does not verify, a requester approving its own request. The message says which, never a secret."""


class Conflict(UsageError):
    """The request is no longer in the state the action needs: another process or reviewer acted first."""


class InfraError(ToolfoundryError):
    """A dependency is missing or broken (bwrap, git, the database, a model backend). Exit 2."""


class SandboxUnavailable(InfraError):
    """The sandbox cannot be started with every layer applied. We refuse rather than run weaker."""


class ForgeError(InfraError):
    """A git operation on the tool repository failed, or the repository is missing or damaged."""


class ModelError(InfraError):
    """A model backend failed for good: after the last retry, on a non-retryable error, or a bad config."""


class DatabaseError(InfraError):
    """A database of the home cannot be used: locked, corrupt, read-only, missing, or made by a newer release."""


class Cancelled(ToolfoundryError):
    """Raised inside a workflow when its request was cancelled before the step could commit; the workflow
    then ends it as cancelled (``pipeline/cancel.py``). Never reaches a caller."""


class TamperedTool(ToolfoundryError):
    """The bytes of a deployed tool do not match the sha256 recorded when it was reviewed; it is not run."""
