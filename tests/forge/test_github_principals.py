"""GitHub reviews in a home with principals, on the loopback GitHub: a review counts only as the approval of the
principal its login is linked to (roles, risk classes, never the requester), is recorded as a GitHub review —
not a signature — and a policy can require SSH-signed approvals instead. Provenance and allowed_signers land on
main without a pull request nobody reviews."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from trust.conftest import keypair, pub

from forge.conftest import CHECK, OWNER, REPO, World, propose_add, sync
from toolfoundry.api import Foundry
from toolfoundry.errors import AccessDenied
from toolfoundry.identity import ssh
from toolfoundry.identity.approval import approval_message

from conftest import run_cli


def admin_token(w: World) -> str:
    """The home's first principal, a human admin; its token."""
    with Foundry(w.settings()) as f:
        _, token = f.trust.add_principal("admin", roles=("admin",))
    assert token is not None
    return token


def add(w: World, token: str, *args: str) -> None:
    proc = run_cli(w.home, "principals", "add", *args, env={**w.env, "TOOLFOUNDRY_TOKEN": token})
    assert proc.returncode == 0, proc.stderr


def approve_on_github(w: World, pull: dict[str, Any], login: str = "alice") -> None:
    token = w.alice if login == "alice" else w.gh.add_token(login)
    w.api("POST", f"/repos/{OWNER}/{REPO}/pulls/{pull['number']}/reviews", {"event": "APPROVE", "body": "lgtm"},
          token=token)
    w.gh.set_check_run(OWNER, REPO, pull["head"]["sha"], CHECK, conclusion="success")


def events(w: World, rid: str) -> list[tuple[str, str, dict[str, Any]]]:
    with Foundry(w.settings()) as f:
        return [(e.kind, e.actor, dict(e.data)) for e in f.events(rid)]


def test_a_linked_reviewers_github_approval_counts_as_theirs_and_is_recorded_as_a_github_review(
        world: World, tmp_path: Path) -> None:
    admin = admin_token(world)
    add(world, admin, "asmith", "--role", "reviewer", "--github", "alice", "--key", str(pub(keypair(tmp_path, "a"))))
    rid, pull = propose_add(world)
    approve_on_github(world, pull)
    (done,) = sync(world)
    assert (done["action"], done["status"]) == ("approve", "deployed"), done

    seen = events(world, rid)
    github = [(actor, data) for kind, actor, data in seen if kind == "review.github"]
    assert len(github) == 1
    actor, data = github[0]
    review_id = world.api("GET", f"/repos/{OWNER}/{REPO}/pulls/{pull['number']}/reviews")[-1]["id"]
    assert (actor, data["reviewer"], data["login"], data["authority"]) == ("asmith", "asmith", "alice", "github-review")
    assert (data["pull_request"], data["review_id"], data["commit_id"]) == (pull["number"], review_id,
                                                                          pull["head"]["sha"])
    assert "not an SSH signature" in data["proves"]
    assert [a for k, a, _ in seen if k == "review.decided"] == ["asmith"]
    assert not [k for k, _, _ in seen if k in ("review.signed", "review.unsigned")]

    with Foundry(world.settings()) as f:
        assert f.call("add", a=2, b=3).result == 5  # loading checked the record, GitHub approval included
        record = f.trust.provenance("add", verify=True)
    assert record.problems == ()
    review = record.statement["predicate"]["review"]  # type: ignore[index]
    assert (review["reviewer"], review["authority"]) == ("asmith", "github-review")  # type: ignore[index]
    assert [(a["login"], a["review_id"]) for a in review["approvals"]] == [("alice", review_id)]  # type: ignore[index]

    # the provenance record and allowed_signers (asmith's key, the foundry's key) went straight onto main
    assert [p["head"]["ref"] for p in world.pulls()] == [f"foundry/{rid}"]
    files = world.git_out("ls-tree", "-r", "--name-only", "main").splitlines()
    assert "tools/add/provenance/v1.intoto.json" in files and "allowed_signers" in files
    signers = world.git_out("show", "main:allowed_signers")
    assert "asmith " in signers and "foundry " in signers


def test_an_unlinked_login_does_not_count_and_the_reason_says_how_to_link_it(world: World) -> None:
    admin = admin_token(world)
    add(world, admin, "asmith", "--role", "reviewer")
    rid, pull = propose_add(world)
    approve_on_github(world, pull)
    (waiting,) = sync(world)
    assert waiting["action"] == "wait", waiting
    assert "@alice may not approve (no principal of this home is linked to GitHub @alice" in waiting["reason"]
    assert "principals github NAME alice" in waiting["reason"]
    with Foundry(world.settings()) as f, pytest.raises(AccessDenied, match="linked to GitHub @alice"):
        f.review(rid, approve=True, reviewer="github:alice", reason="claimed")

    proc = run_cli(world.home, "principals", "github", "asmith", "alice",
                   env={**world.env, "TOOLFOUNDRY_TOKEN": admin})
    assert proc.returncode == 0, proc.stderr
    (done,) = sync(world)
    assert (done["action"], done["status"]) == ("approve", "deployed"), done
    with Foundry(world.settings()) as f:
        linked = [(e.actor, e.data) for e in f.events() if e.kind == "principal.github-linked"]
    assert linked == [("admin", {"principal": "asmith", "github": "alice", "before": None})]


def test_a_github_decision_is_checked_against_github_not_taken_from_the_caller(world: World) -> None:
    admin = admin_token(world)
    add(world, admin, "asmith", "--role", "reviewer", "--github", "alice")
    rid, pull = propose_add(world)
    with Foundry(world.settings()) as f:
        with pytest.raises(AccessDenied, match="GitHub does not show github:alice deciding approve"):
            f.review(rid, approve=True, reviewer="github:alice", reason="trust me")
        assert f.request_row(rid).status == "pending_review"
    world.api("POST", f"/repos/{OWNER}/{REPO}/pulls/{pull['number']}/reviews",
              {"event": "REQUEST_CHANGES", "body": "b must not default to 1"}, token=world.alice)
    with Foundry(world.settings()) as f, pytest.raises(AccessDenied, match="deciding approve"):
        f.review(rid, approve=True, reviewer="github:alice", reason="trust me")  # GitHub shows a rejection
    (done,) = sync(world)
    assert (done["action"], done["status"]) == ("reject", "rejected")
    assert [(a, d["decision"]) for k, a, d in events(world, rid) if k == "review.github"] == [("asmith", "reject")]


@pytest.mark.parametrize("limit", [("--risk", "net"), ("--role", "requester")])
def test_a_linked_reviewer_outside_their_limits_or_the_requester_does_not_count(world: World,
                                                                                limit: tuple[str, str]) -> None:
    admin = admin_token(world)
    name = "tester" if limit[1] == "requester" else "asmith"  # propose_add proposes as the local user 'tester'
    add(world, admin, name, "--role", "reviewer", *limit, "--github", "alice")
    rid, pull = propose_add(world)
    approve_on_github(world, pull)
    (waiting,) = sync(world)
    assert waiting["action"] == "wait", waiting
    expected = f"@alice is tester, who requested {rid}" if name == "tester" else "asmith may review only net tools"
    assert expected in waiting["reason"]
    with Foundry(world.settings()) as f:
        assert f.request_row(rid).status == "pending_review"


@pytest.mark.parametrize("config", [
    ("auto_approve_pure = false\n", 'auto_approve_pure = false\napproval = "signed"\n'),
    ("[forge]\n", '[[policy.rules]]\nname = "adds-need-signatures"\nwhen = { name_matches = "add" }\n'
                  'route = "human"\napproval = "signed"\n\n[forge]\n')])
def test_a_policy_can_require_ssh_signed_approvals_and_then_github_reviews_do_not_count(
        world: World, tmp_path: Path, config: tuple[str, str]) -> None:
    toml = world.home / "toolfoundry.toml"
    toml.write_text(toml.read_text().replace(*config, 1))
    admin = admin_token(world)
    key = keypair(tmp_path, "asmith")
    add(world, admin, "asmith", "--role", "reviewer", "--github", "alice", "--key", str(pub(key)))
    rid, pull = propose_add(world)
    approve_on_github(world, pull)
    (waiting,) = sync(world)
    assert waiting["action"] == "wait" and "requires an SSH-signed approval" in waiting["reason"], waiting
    with Foundry(world.settings()) as f:
        with pytest.raises(AccessDenied, match="requires an SSH-signed approval"):
            f.review(rid, approve=True, reviewer="github:alice", reason="")
        proposal = f.request_row(rid).the_proposal()
        assert proposal is not None
        message = approval_message(request_id=rid, ref=proposal.ref, approve=True, reason="")
        done = f.review(rid, approve=True, signature=ssh.sign(message, key=key, namespace=ssh.NAMESPACE))
        assert done.status == "deployed"
        record = f.trust.provenance("add", verify=True)
    assert record.problems == ()
    assert record.statement["predicate"]["review"]["authority"] == "signature"  # type: ignore[index]
