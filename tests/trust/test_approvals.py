"""Signed approvals that are accepted: from the CLI with a key file or ssh-agent, a signed rejection, an admin's
audited override, a policy rule that requires a reviewer role, and an open home (no principals) as before."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from toolfoundry.errors import AccessDenied
from toolfoundry.identity import ssh
from toolfoundry.identity.approval import approval_message
from trust.conftest import SQUARE, People, keypair, pending, pub, status

from conftest import cli_json, run_cli

RULE = """
[[policy.rules]]
name = "squares-need-a-security-lead"
when = { name_matches = "square*" }
route = "human"
reviewer_role = "security-lead"
"""


def test_the_cli_signs_an_approval_with_a_key_file_and_it_deploys(people: People) -> None:
    rid = pending(people, people.agent).request_id
    code, outcome = cli_json(people.home, "review", "approve", rid, "--key", str(people.keys["alice"]),
                             "--reason", "read every line")
    assert code == 0 and outcome["status"] == "deployed", outcome  # type: ignore[index]
    with people.foundry() as f:
        events = f.events(rid)
        signed = [e for e in events if e.kind == "review.signed"]
        decided = [e for e in events if e.kind == "review.decided"]
        assert f.call("square", x=3).result == 9
    assert [(e.actor, e.data["signer"], e.data["via"]) for e in signed] == [("alice", "alice", "key")]
    assert signed[0].data["fingerprint"] == ssh.read_public_key(pub(people.keys["alice"])).fingerprint
    assert [(e.actor, e.data["reason"]) for e in decided] == [("alice", "read every line")]
    code, record = cli_json(people.home, "provenance", "square", "--verify")
    assert code == 0 and record["verified"] is True  # type: ignore[index]


def test_the_cli_signs_through_ssh_agent_when_no_key_is_given(people: People, tmp_path: Path) -> None:
    rid = pending(people, people.agent).request_id
    sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            if sock.exists():
                break
            subprocess.run(["sleep", "0.02"], check=True)
        env = {"SSH_AUTH_SOCK": str(sock)}
        other = keypair(tmp_path, "unregistered")
        for key in (other, people.keys["alice"]):  # the agent holds a stranger's key too; the registered one signs
            subprocess.run(["ssh-add", "-q", str(key)], env={**os.environ, **env}, check=True, capture_output=True)
        proc = run_cli(people.home, "review", "approve", rid, env=env)
        assert proc.returncode == 0, proc.stderr
    finally:
        os.kill(agent.pid, signal.SIGTERM)
        agent.wait(timeout=10)
    with people.foundry() as f:
        assert [e.actor for e in f.events(rid) if e.kind == "review.signed"] == ["alice"]


def test_a_signed_rejection_rejects_and_records_the_signature(people: People) -> None:
    proposal = pending(people, people.agent)
    message = approval_message(request_id=proposal.request_id, ref=proposal.ref, approve=False, reason="too clever")
    with people.foundry() as f:
        with pytest.raises(AccessDenied, match="does not verify"):  # the reason is signed too
            f.review(proposal.request_id, approve=False, reason="changed afterwards",
                     signature=ssh.sign(message, key=people.keys["alice"], namespace=ssh.NAMESPACE))
        outcome = f.review(proposal.request_id, approve=False, reason="too clever",
                           signature=ssh.sign(message, key=people.keys["alice"], namespace=ssh.NAMESPACE))
        signed = [e.data for e in f.events(proposal.request_id) if e.kind == "review.signed"]
    assert outcome.status == "rejected" and "alice" in outcome.reason
    assert [(d["signer"], d["decision"]) for d in signed] == [("alice", "reject")]


def test_an_admin_may_decide_unsigned_as_a_reviewer_and_it_is_audited_as_an_override(people: People) -> None:
    rid = pending(people, people.agent).request_id
    proc = run_cli(people.home, "review", "approve", rid, "--as", "alice", "--json",
                   env={"TOOLFOUNDRY_TOKEN": people.admin})
    assert proc.returncode == 0, proc.stderr
    with people.foundry() as f:
        unsigned = [e for e in f.events(rid) if e.kind == "review.unsigned"]
        record = f.trust.provenance("square", verify=True)
    assert [(e.actor, e.data["reviewer"], e.data["authority"]) for e in unsigned] == [
        ("admin", "alice", "admin override by admin")]
    assert record.problems == ()
    assert record.statement["predicate"]["review"]["authority"] == "admin override by admin"  # type: ignore[index]


def test_a_policy_rule_can_require_a_reviewer_role(people: People, tmp_path: Path) -> None:
    with (people.home / "toolfoundry.toml").open("a", encoding="utf-8") as config:
        config.write(RULE)
    proposal = pending(people, people.agent)
    assert proposal.decision.rule == "squares-need-a-security-lead"
    assert proposal.decision.reviewer_role == "security-lead"
    message = approval_message(request_id=proposal.request_id, ref=proposal.ref, approve=True, reason="")
    with people.foundry() as f:
        with pytest.raises(AccessDenied, match="requires a reviewer with role security-lead, and alice has reviewer"):
            f.review(proposal.request_id, approve=True,
                     signature=ssh.sign(message, key=people.keys["alice"], namespace=ssh.NAMESPACE))
    lead = keypair(tmp_path, "lead")
    with people.foundry(people.admin) as admin:
        admin.trust.add_principal("sec", roles=("reviewer", "security-lead"), key=pub(lead))
    with people.foundry() as f:
        assert f.review(proposal.request_id, approve=True, signature=ssh.sign(
            message, key=lead, namespace=ssh.NAMESPACE)).status == "deployed"


def test_an_open_home_reviews_unsigned_as_before_and_says_so(foundry: object, home: Path) -> None:
    from toolfoundry.api import Foundry
    from toolfoundry.core import Candidate
    assert isinstance(foundry, Foundry)
    outcome = foundry.propose(Candidate(code=SQUARE), requester="bob")
    assert outcome.status == "pending_review" and not foundry.trust.enforced()
    done = foundry.review(outcome.request_id, approve=True, reviewer="alice")
    assert done.status == "deployed"
    unsigned = [e.data for e in foundry.events(outcome.request_id) if e.kind == "review.unsigned"]
    assert [(d["reviewer"], d["authority"]) for d in unsigned] == [("alice", "open home (no principals registered)")]
    with pytest.raises(AccessDenied, match="bob requested"):
        again = foundry.propose(Candidate(code=SQUARE.replace("square", "sq")), requester="bob")
        foundry.review(again.request_id, approve=True, reviewer="bob")
    assert status(People(home=home, keys={}, admin="", agent="", bob=""), again.request_id) == "pending_review"
