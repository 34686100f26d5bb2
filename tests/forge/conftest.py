"""A loopback GitHub for the forge tests: the REST stand-in (``FakeGitHub``) and ``git http-backend``
(``GitHttpServer``) over the same bare repository, users with their tokens, and a home using it."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from toolfoundry.api import Foundry
from toolfoundry.core import Candidate
from toolfoundry.examples import load_examples
from toolfoundry.settings import Settings, load
from toolfoundry.testing import FakeGitHub, GitHttpServer

from conftest import ADD, ADD_EXAMPLES

OWNER, REPO = "acme", "tools"
CHECK = "toolfoundry verify"


@dataclass
class World:
    """A fake GitHub with a bot (toolfoundry's token), an allowed approver and two others, and a home using it."""

    gh: FakeGitHub
    git: GitHttpServer
    bot: str
    alice: str
    home: Path
    env: dict[str, str]

    def settings(self) -> Settings:
        return load(self.home, self.env, user="tester")

    def api(self, method: str, path: str, body: object = None, token: str | None = None) -> Any:
        request = urllib.request.Request(f"{self.gh.url}{path}", method=method,
                                         data=json.dumps(body).encode() if body is not None else None,
                                         headers={"Authorization": f"Bearer {token or self.bot}"})
        with urllib.request.urlopen(request, timeout=10) as answer:  # loopback only
            return json.loads(answer.read() or b"null")

    def pulls(self) -> list[dict[str, Any]]:
        return list(self.api("GET", f"/repos/{OWNER}/{REPO}/pulls?state=all"))

    def comments(self, number: int) -> list[str]:
        return [c["body"] for c in self.api("GET", f"/repos/{OWNER}/{REPO}/issues/{number}/comments")]

    def git_out(self, *args: str) -> str:
        repo = self.gh.repo_path(OWNER, REPO)
        return subprocess.run(["git", "--git-dir", str(repo), *args], capture_output=True, text=True,
                              check=True).stdout.strip()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    root = tmp_path / "github"
    with FakeGitHub(root) as gh:
        bot = gh.add_user("foundry-bot", type="Bot")
        alice = gh.add_user("alice")
        for login in ("mallory", "carol"):
            gh.add_user(login)
        gh.add_org(OWNER, members=["foundry-bot", "alice"])
        gh.add_repo(OWNER, REPO, collaborators={"foundry-bot": "write", "alice": "write", "mallory": "write",
                                                "carol": "read"})
        with GitHttpServer(root, authenticate=gh.git_authenticator(), authorize=gh.git_authorizer()) as git:
            gh.clone_base = git.url
            home = tmp_path / "home"
            home.mkdir()
            (home / "toolfoundry.toml").write_text(
                "[policy]\nauto_approve_pure = false\n\n[forge]\nkind = \"github\"\n"
                f"repository = \"{OWNER}/{REPO}\"\napi_url = \"{gh.base_url}\"\napprovers = [\"alice\"]\n")
            w = World(gh=gh, git=git, bot=bot, alice=alice, home=home, env={"GITHUB_TOKEN": bot})
            assert Foundry.init(w.settings()).sandbox_problem is None
            yield w


def propose_add(w: World) -> tuple[str, dict[str, Any]]:
    with Foundry(w.settings()) as f:
        outcome = f.propose(Candidate(code=ADD, examples=load_examples(ADD_EXAMPLES, where="test")))
    assert outcome.status == "pending_review", outcome
    (pull,) = w.pulls()
    return outcome.request_id, pull


def sync(w: World) -> list[dict[str, Any]]:
    with Foundry(w.settings()) as f:
        return [s.to_json() for s in f.sync_reviews()]
