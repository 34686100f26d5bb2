"""Validation of what callers hand the forge: request ids, file paths, revisions, commit messages.

This module owns the rules that keep caller input from becoming a bad ref name, an escaping path or a
git option; a violation is the caller's mistake (``UsageError``). It runs no git command.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from toolfoundry.errors import UsageError

REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,80}$")
TRAILER_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*$")
REQUEST_TRAILER = "Foundry-Request"
BRANCH_PREFIX = "refs/heads/foundry/"
MAIN = "refs/heads/main"


def branch_ref(request_id: str) -> str:
    """The full ref name of a request's branch; ``UsageError`` for an invalid id."""
    if not REQUEST_ID.match(request_id) or ".." in request_id or request_id.endswith((".", ".lock")):
        raise UsageError(f"invalid request id {request_id!r}: use letters, digits, '.', '_', '-' "
                         "(at most 81 characters, starting with a letter or digit)")
    return BRANCH_PREFIX + request_id


def tree_path(path: str) -> str:
    """``path`` if it is a clean relative file path inside the repository, else ``UsageError``."""
    parts = path.split("/")
    bad = (not path or path.startswith("/") or any(p in ("", ".", "..", ".git") for p in parts)
           or any(c in path for c in "\0\n\t\\"))
    if bad:
        raise UsageError(f"invalid file path {path!r} for the tool repository")
    return path


def revision(rev: str) -> str:
    """``rev`` if it can safely be passed to git as a revision (no option, no whitespace)."""
    if not rev or rev.startswith("-") or any(c.isspace() or c == "\0" for c in rev):
        raise UsageError(f"invalid revision {rev!r}")
    return rev


def commit_message(message: str, trailers: Mapping[str, str]) -> bytes:
    """``message``, a blank line, then one ``Key: value`` trailer line each, as git expects."""
    lines = []
    for key, value in trailers.items():
        if not TRAILER_KEY.match(key) or "\n" in value or not value.strip():
            raise UsageError(f"invalid trailer {key!r}: {value!r}")
        lines.append(f"{key}: {value.strip()}")
    body = message.strip() or "(no message)"
    if lines:
        body += "\n\n" + "\n".join(lines)
    return (body + "\n").encode()


def with_request(request_id: str, trailers: Mapping[str, str]) -> dict[str, str]:
    """``trailers`` with ``Foundry-Request: <request_id>`` first; a different value is a ``UsageError``."""
    given = trailers.get(REQUEST_TRAILER, request_id)
    if given != request_id:
        raise UsageError(f"trailer {REQUEST_TRAILER}: {given} does not match request {request_id}")
    return {REQUEST_TRAILER: request_id, **{k: v for k, v in trailers.items() if k != REQUEST_TRAILER}}
