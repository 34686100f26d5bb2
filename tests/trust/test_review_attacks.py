"""Attacks on the review: each tries to get a tool approved by someone who may not, and must leave it pending.

An agent's token (with or without --as, with a reviewer's valid signature in hand), a signature made for
another request or another hash or the other decision (a replay), a key nobody registered, the requester's
own key, an unsigned --as from the local shell: every one is refused with a reason, nothing is merged, and
the audit chain stays intact. Real ssh-keygen keys, made in the test's tmp_path.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from toolfoundry.core import Permissions
from toolfoundry.errors import AccessDenied, UsageError
from toolfoundry.identity import ssh
from toolfoundry.identity.approval import approval_message
from trust.conftest import People, keypair, pending, pub, status

from conftest import EXAMPLES, run_cli

FETCH = (EXAMPLES / "fetch_status.py").read_text(encoding="utf-8")


def sign(people: People, who: str, message: bytes) -> str:
    return ssh.sign(message, key=people.keys[who], namespace=ssh.NAMESPACE)


def assert_untouched(people: People, rid: str) -> None:
    """Still pending, nothing merged or deployed, the chain intact."""
    with people.foundry() as f:
        assert f.request_row(rid).status == "pending_review"
        assert f.tools() == [] and f.deployed_by(rid) is None
        assert f.verify().ok


def test_an_agent_token_cannot_approve_even_with_as_or_a_reviewers_signature(people: People) -> None:
    proposal = pending(people, people.agent)
    rid = proposal.request_id
    for args in (["--as", "alice"], ["--key", str(people.keys["alice"])], []):
        proc = run_cli(people.home, "review", "approve", rid, *args, env={"TOOLFOUNDRY_TOKEN": people.agent})
        assert proc.returncode == 2 and "agent can never approve" in proc.stderr, (args, proc.stderr)
    alice_says_yes = sign(people, "alice", approval_message(request_id=rid, ref=proposal.ref, approve=True,
                                                              reason=""))
    with people.foundry(people.agent) as agent:
        for kwargs in ({"reviewer": "alice"}, {"signature": alice_says_yes}, {}):
            with pytest.raises(AccessDenied, match="agent can never approve"):
                agent.review(rid, approve=True, **kwargs)  # type: ignore[arg-type]
        with pytest.raises(AccessDenied, match="agent can never approve"):
            agent.review(rid, approve=False, reason="mine now")
    assert_untouched(people, rid)


def test_a_signature_for_another_request_hash_version_or_decision_is_refused(people: People) -> None:
    first, second = pending(people, people.agent), pending(people, people.agent)
    good = approval_message(request_id=first.request_id, ref=first.ref, approve=True, reason="")
    other_hash = replace(first.ref, sha256="0" * 64)
    forgeries = {
        "another request": sign(people, "alice", good),  # replayed onto the second request
        "another hash": sign(people, "alice", approval_message(request_id=second.request_id, ref=replace(
            second.ref, sha256=other_hash.sha256), approve=True, reason="")),
        "another version": sign(people, "alice", approval_message(request_id=second.request_id, ref=replace(
            second.ref, version=second.ref.version + 1), approve=True, reason="")),
        "the other decision": sign(people, "alice", approval_message(request_id=second.request_id, ref=second.ref,
                                                                      approve=False, reason="")),
    }
    with people.foundry() as f:
        for what, signature in forgeries.items():
            with pytest.raises(AccessDenied, match="does not verify for request") as refused:
                f.review(second.request_id, approve=True, signature=signature)
            assert "replay" in str(refused.value), what
        with pytest.raises(AccessDenied, match="no registered reviewer key"):  # a key nobody registered
            f.review(second.request_id, approve=True, signature=sign(people, "mallory", approval_message(
                request_id=second.request_id, ref=second.ref, approve=True, reason="")))
        with pytest.raises(UsageError, match="not an SSH signature"):
            f.review(second.request_id, approve=True, signature="-----BEGIN SSH SIGNATURE-----\nAAAA\n")
        with pytest.raises(AccessDenied, match="signature is alice's, not bob's"):
            f.review(second.request_id, approve=True, reviewer="bob", signature=sign(people, "alice", approval_message(
                request_id=second.request_id, ref=second.ref, approve=True, reason="")))
    assert_untouched(people, second.request_id)
    assert status(people, first.request_id) == "pending_review"


def test_the_requesters_own_key_is_refused(people: People) -> None:
    proposal = pending(people, people.bob)  # bob requests, and bob is also a reviewer
    mine = sign(people, "bob", approval_message(request_id=proposal.request_id, ref=proposal.ref, approve=True,
                                                reason="looks fine to me"))
    with people.foundry() as f:
        with pytest.raises(AccessDenied, match="bob requested .* cannot review it"):
            f.review(proposal.request_id, approve=True, reason="looks fine to me", signature=mine)
    with people.foundry(people.bob) as bob:
        with pytest.raises(AccessDenied, match="bob requested .* cannot review it"):
            bob.review(proposal.request_id, approve=True, reason="looks fine to me", signature=mine)
    proc = run_cli(people.home, "review", "approve", proposal.request_id, "--reason", "looks fine to me",
                   "--key", str(people.keys["bob"]))
    assert proc.returncode == 2 and "cannot review it" in proc.stderr
    assert_untouched(people, proposal.request_id)


def test_an_unsigned_as_from_the_local_shell_is_refused_once_the_home_has_principals(people: People) -> None:
    rid = pending(people, people.agent).request_id
    with people.foundry(user="alice") as shell:
        with pytest.raises(AccessDenied, match="must be signed"):
            shell.review(rid, approve=True, reviewer="alice")
        with pytest.raises(AccessDenied, match="must be signed"):
            shell.review(rid, approve=True)
    proc = run_cli(people.home, "review", "approve", rid, "--as", "alice", user="alice")
    assert proc.returncode == 2 and "must be signed" in proc.stderr
    proc = run_cli(people.home, "review", "approve", rid, env={"SSH_AUTH_SOCK": ""})  # no key, no agent
    assert proc.returncode == 2 and "--key PATH" in proc.stderr
    with people.foundry(people.bob) as bob:  # a reviewer's own token is not a signature either
        with pytest.raises(AccessDenied, match="must be signed"):
            bob.review(rid, approve=True)
    assert_untouched(people, rid)


def test_a_reviewer_limited_to_a_risk_class_or_tool_names_cannot_approve_outside_it(people: People,
                                                                                     tmp_path: Path) -> None:
    net = pending(people, people.agent, code=FETCH, permissions=Permissions(net_hosts=("example.org",)))
    people.keys.update(carol=keypair(tmp_path / "more", "carol"), dave=keypair(tmp_path / "more", "dave"))
    with people.foundry(people.admin) as admin:
        admin.trust.add_principal("carol", roles=("reviewer",), risk=("pure", "env"), key=pub(people.keys["carol"]))
        admin.trust.add_principal("dave", roles=("reviewer",), tools=("slug*", "text_*"), key=pub(people.keys["dave"]))
        with pytest.raises(UsageError, match="already alice's"):
            admin.trust.add_principal("eve", roles=("reviewer",), key=pub(people.keys["alice"]))
    message = approval_message(request_id=net.request_id, ref=net.ref, approve=True, reason="")
    with people.foundry() as f:
        with pytest.raises(AccessDenied, match="may review only pure, env tools, and fetch_status is net"):
            f.review(net.request_id, approve=True, signature=sign(people, "carol", message))
        with pytest.raises(AccessDenied, match="only tools matching slug\\*, text_\\*, not fetch_status"):
            f.review(net.request_id, approve=True, signature=sign(people, "dave", message))
    assert_untouched(people, net.request_id)


def test_every_refusal_is_explained_and_the_audit_records_no_decision(people: People) -> None:
    rid = pending(people, people.agent).request_id
    with people.foundry(people.agent) as agent:
        with pytest.raises(AccessDenied):
            agent.review(rid, approve=True, reviewer="alice")
    with people.foundry() as f:
        kinds = [e.kind for e in f.events(rid)]
    assert "review.decided" not in kinds and "review.signed" not in kinds and "review.unsigned" not in kinds
    assert json.dumps(kinds).count("request.opened") == 1
