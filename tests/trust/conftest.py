"""A home with principals: a human admin, two reviewers, an agent, their real SSH keys made in tmp_path."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from toolfoundry.api import Foundry
from toolfoundry.core import Candidate, Permissions, Proposal

from conftest import make_settings

SQUARE = '"""Squares."""\n\n\ndef square(x: int) -> int:\n    """x times x."""\n    return x * x\n'
"""A pure tool proposed without examples: the policy sends it to a human (no host-judged evidence)."""
ENV_TOOL = '"""Greeting."""\n\nimport os\n\n\ndef greet(name: str) -> str:\n    """Hello from the host."""\n' \
           '    return os.environ.get("GREETING", "hello") + " " + name\n'
"""A tool that asks for an environment variable (risk class ``env``)."""


def keypair(directory: Path, name: str) -> Path:
    """A fresh ed25519 key pair made with ssh-keygen: returns the private key; the public one is beside it."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(path)], check=True)
    return path


def pub(key: Path) -> Path:
    return key.with_name(key.name + ".pub")


@dataclass
class People:
    """Who is registered in the home, with their keys and tokens."""

    home: Path
    keys: dict[str, Path]
    """Private keys: admin, alice, bob, and mallory (never registered)."""
    admin: str
    """The bootstrap admin's token."""
    agent: str
    """agent7's token: call, propose, request, search."""
    bob: str
    """bob's token (a requester who is also a reviewer): call, propose, search, review."""

    def foundry(self, token: str | None = None, user: str = "operator") -> Foundry:
        return Foundry(make_settings(self.home, user=user), token=token)


@pytest.fixture
def people(home: Path, tmp_path: Path) -> People:
    keys = {name: keypair(tmp_path / "keys", name) for name in ("admin", "alice", "bob", "mallory")}
    with Foundry(make_settings(home, user="root")) as local:
        _, admin = local.trust.add_principal("admin", roles=("admin",), key=pub(keys["admin"]))
    assert admin is not None
    with Foundry(make_settings(home), token=admin) as f:
        f.trust.add_principal("alice", roles=("reviewer",), key=pub(keys["alice"]))
        f.trust.add_principal("bob", roles=("requester", "reviewer"), key=pub(keys["bob"]))
        f.trust.add_principal("agent7", kind="agent", roles=("requester",))
        _, agent = f.trust.create_token("agent7", ["call", "propose", "request", "search"])
        _, bob = f.trust.create_token("bob", ["call", "propose", "search", "review"])
    return People(home=home, keys=keys, admin=admin, agent=agent, bob=bob)


def pending(people: People, token: str, code: str = SQUARE, permissions: Permissions = Permissions()) -> Proposal:
    """A request that waits for a human, made with ``token``; its recorded proposal."""
    with people.foundry(token) as f:
        outcome = f.propose(Candidate(code=code, permissions=permissions))
        assert outcome.status == "pending_review", outcome.to_json()
        proposal = f.request_row(outcome.request_id).the_proposal()
    assert proposal is not None
    return proposal


def status(people: People, rid: str) -> str:
    with people.foundry() as f:
        return f.request_row(rid).status
