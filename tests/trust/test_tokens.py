"""Principals and their tokens: hashed at rest, shown once, scoped, revocable with effect on the next request."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

import pytest

from toolfoundry.api import Foundry
from toolfoundry.core import Candidate, Example
from toolfoundry.errors import AccessDenied, UsageError
from trust.conftest import SQUARE, People, keypair, pub

from conftest import ADD, cli_json, make_settings, run_cli

ADD_CANDIDATE = Candidate(code=ADD, examples=(Example(args={"a": 1}, expect=2),))


def test_a_token_is_stored_only_as_its_hash_and_listed_without_its_secret(people: People) -> None:
    token_id, secret = people.agent.split("_")[1], people.agent.split("_", 2)[2]
    raw = b"".join(p.read_bytes() for p in people.home.glob("foundry.db*"))
    assert secret.encode() not in raw and people.agent.encode() not in raw
    with people.foundry() as f:
        listed = json.dumps([t.to_json() for t in f.trust.tokens()])
        audit = json.dumps([e.to_json() for e in f.events()])
    assert token_id in listed and secret not in listed and secret not in audit
    code, tokens = cli_json(people.home, "tokens", "list")
    assert code == 0 and isinstance(tokens, list) and secret not in json.dumps(tokens)


def test_revoking_a_token_takes_effect_on_the_next_request(people: People) -> None:
    with people.foundry() as local:
        assert local.propose(ADD_CANDIDATE).status == "deployed"
    with people.foundry(people.agent) as agent:
        assert agent.call("add", a=1, b=2).result == 3
        with people.foundry(people.admin) as admin:
            admin.trust.revoke_token(people.agent.split("_")[1])
        with pytest.raises(AccessDenied, match="was revoked"):
            agent.call("add", a=1, b=2)
        with pytest.raises(AccessDenied, match="was revoked"):
            agent.propose(Candidate(code=SQUARE))
    with pytest.raises(AccessDenied, match="was revoked"):
        people.foundry(people.agent)
    proc = run_cli(people.home, "call", "add", "--args", '{"a": 1}', env={"TOOLFOUNDRY_TOKEN": people.agent})
    assert proc.returncode == 2 and "was revoked" in proc.stderr


def test_revoking_a_principal_revokes_its_tokens_and_an_expired_token_is_refused(people: People) -> None:
    with people.foundry(people.admin) as admin:
        _, short = admin.trust.create_token("agent7", ["call"], days=1)
        admin.trust.revoke("bob")
        with pytest.raises(UsageError, match="last admin"):
            admin.trust.revoke("admin")
        with pytest.raises(UsageError, match="names are never reused"):
            admin.trust.add_principal("bob", roles=("requester",))
    with pytest.raises(AccessDenied, match="revoked"):
        people.foundry(people.bob)
    with sqlite3.connect(people.home / "foundry.db") as db:
        db.execute("UPDATE tokens SET expires = '2000-01-01T00:00:00+00:00' WHERE id = ?", (short.split("_")[1],))
    with pytest.raises(AccessDenied, match="expired"):
        people.foundry(short)


def test_a_token_may_do_only_what_its_scopes_allow(people: People) -> None:
    with people.foundry(people.admin) as admin:
        _, caller = admin.trust.create_token("agent7", ["call"])
        for scopes in (["review"], ["admin"]):
            with pytest.raises(UsageError, match="cannot hold a"):
                admin.trust.create_token("agent7", scopes)
        with pytest.raises(UsageError, match="an agent can only be a requester"):
            admin.trust.add_principal("robot", kind="agent", roles=("reviewer",))
        with pytest.raises(UsageError, match="unknown scope"):
            admin.trust.create_token("agent7", ["everything"])
    with people.foundry(caller) as agent:
        with pytest.raises(AccessDenied, match="may not propose"):
            agent.propose(Candidate(code=SQUARE))
        with pytest.raises(AccessDenied, match="may not request"):
            agent.request("square numbers", model="scripted:/nonexistent")
        with pytest.raises(AccessDenied, match="may not search"):
            agent.search("square")
        with pytest.raises(AccessDenied, match="may not admin"):
            agent.rollback("square")
        with pytest.raises(AccessDenied, match="admin"):
            agent.trust.add_principal("sneaky", roles=("reviewer",))


def test_a_token_acts_as_its_principal_never_as_a_name_it_claims(people: People) -> None:
    with people.foundry(people.agent) as agent:
        with pytest.raises(AccessDenied, match="acts as agent7"):
            agent.propose(ADD_CANDIDATE, requester="alice")
        outcome = agent.propose(ADD_CANDIDATE)
        assert outcome.status == "deployed"
        with pytest.raises(AccessDenied, match="acts as agent7"):
            agent.call("add", {"a": 1}, caller="agent:somebody-else")
        assert agent.call("add", a=1).ok
        events = agent.events(outcome.request_id)
        calls = [e for e in agent.events() if e.kind == "call"]
    assert next(e for e in events if e.kind == "request.opened").actor == "agent7"
    assert [e.actor for e in calls] == ["agent7"]


def test_managing_principals_needs_an_admin_token_and_the_first_one_is_a_human_admin(home: Path,
                                                                                  tmp_path: Path) -> None:
    with Foundry(make_settings(home, user="root")) as local:
        with pytest.raises(AccessDenied, match="first principal of a home must be a human admin"):
            local.trust.add_principal("robot", kind="agent", roles=("requester",))
        with pytest.raises(AccessDenied, match="first principal of a home must be a human admin"):
            local.trust.add_principal("alice", roles=("reviewer",))
        assert not local.trust.enforced()
        admin, token = local.trust.add_principal("root-admin", roles=("admin", "reviewer"),
                                                 key=pub(keypair(tmp_path, "root")))
        assert token is not None and local.trust.enforced() and admin.created_by == "root"
        with pytest.raises(AccessDenied, match="needs an admin's token"):
            local.trust.add_principal("mallory", roles=("reviewer",))
        events = [e for e in local.events() if e.kind in ("principal.added", "token.created")]
    assert [(e.kind, e.actor) for e in events] == [("principal.added", "root"), ("token.created", "root")]
    assert events[0].data["bootstrap"] is True and token not in json.dumps(events[1].data)
    with Foundry(make_settings(home), token=token) as admin_f:
        admin_f.trust.add_principal("alice", roles=("reviewer",))
        assert [p.name for p in admin_f.trust.principals()] == ["alice", "root-admin"]
        assert [e.actor for e in admin_f.events() if e.kind == "principal.added"][-1] == "root-admin"


def test_the_cli_bootstraps_an_admin_then_manages_with_its_token(home: Path, tmp_path: Path) -> None:
    key = keypair(tmp_path, "ada")
    code, added = cli_json(home, "principals", "add", "ada", "--role", "admin", "--role", "reviewer", "--key",
                           str(pub(key)))
    assert code == 0 and isinstance(added, dict) and added["token"].startswith("tft_")
    admin = {"TOOLFOUNDRY_TOKEN": added["token"]}
    refused = run_cli(home, "principals", "add", "bot", "--agent", "--role", "requester")
    assert refused.returncode == 2 and "admin's token" in refused.stderr
    assert run_cli(home, "principals", "add", "bot", "--agent", "--role", "requester", env=admin).returncode == 0
    made = run_cli(home, "tokens", "create", "bot", "--scope", "call", "--scope", "propose", "--expires-days", "7",
                   env=admin)
    assert made.returncode == 0 and "shown once" in made.stdout
    secret = made.stdout.strip().splitlines()[-1]
    code, listed = cli_json(home, "principals", "list")
    assert code == 0 and [p["name"] for p in listed] == ["ada", "bot"]  # type: ignore[union-attr,index]
    code, tokens = cli_json(home, "tokens", "list", "--principal", "bot")
    assert code == 0 and secret not in json.dumps(tokens) and tokens[0]["expires"]  # type: ignore[index]
    assert run_cli(home, "tokens", "revoke", tokens[0]["id"], env=admin).returncode == 0  # type: ignore[index]
    revoked = run_cli(home, "tools", env={"TOOLFOUNDRY_TOKEN": secret})
    assert revoked.returncode == 2 and "revoked" in revoked.stderr
    signers = subprocess.run(["git", "--git-dir", str(home / "tools.git"), "show", "main:allowed_signers"],
                             capture_output=True, text=True, check=True).stdout
    assert f'ada namespaces="toolfoundry" {pub(key).read_text().split()[0]}' in signers  # ada's key, on main


def test_an_agent_token_cancels_only_its_own_requests_and_a_reviewer_any(people: People) -> None:
    with people.foundry(people.agent) as agent:
        mine = agent.propose(Candidate(code=SQUARE))
    with people.foundry(people.bob) as bob:
        his = bob.propose(Candidate(code=SQUARE.replace("square", "cube").replace("x * x", "x * x * x")))
    assert mine.status == his.status == "pending_review"
    with people.foundry(people.agent) as agent:
        with pytest.raises(AccessDenied, match="agent7 may not cancel request .*: bob made it"):
            agent.cancel(his.request_id)
        assert agent.request_row(his.request_id).status == "pending_review"  # untouched
        done = agent.cancel(mine.request_id, actor="somebody-else")  # a token's principal is who cancels
        assert done.status == "cancelled" and "cancelled by agent7" in done.reason
    with people.foundry(people.bob) as bob:  # bob's token may review: it may cancel another's request
        assert bob.cancel(his.request_id).status == "cancelled"
