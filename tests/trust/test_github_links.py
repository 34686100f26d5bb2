"""Linking principals to GitHub logins (stored, validated, audited), and what a ``github:<login>`` decision or an
``approval`` policy key is worth outside a GitHub forge. The GitHub side is in tests/forge/test_github_principals.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from toolfoundry.errors import AccessDenied
from trust.conftest import SQUARE, People, pending

from conftest import cli_json, run_cli


def require_signed(home: Path) -> None:
    toml = home / "toolfoundry.toml"
    text = toml.read_text() if toml.exists() else ""
    toml.write_text(text.replace("[policy]\n", '[policy]\napproval = "signed"\n', 1) if "[policy]\n" in text
                    else text + '\n[policy]\napproval = "signed"\n')


def admin_cli(people: People, *args: str) -> tuple[int, str, str]:
    proc = run_cli(people.home, *args, env={"TOOLFOUNDRY_TOKEN": people.admin})
    return proc.returncode, proc.stdout, proc.stderr


def test_a_github_login_is_stored_listed_and_audited_when_added_linked_and_unlinked(people: People) -> None:
    code, _, err = admin_cli(people, "principals", "add", "carol", "--role", "reviewer", "--github", "Carol-Dev")
    assert code == 0, err
    assert admin_cli(people, "principals", "github", "alice", "alice-gh")[0] == 0
    assert admin_cli(people, "principals", "github", "carol", "--unlink")[0] == 0
    code, listed = cli_json(people.home, "principals", "list")
    assert code == 0
    assert {p["name"]: p["github"] for p in listed} == {  # type: ignore[union-attr, index]
        "admin": None, "agent7": None, "alice": "alice-gh", "bob": None, "carol": None}
    with people.foundry() as f:
        trail = [(e.kind, e.actor, e.data.get("github")) for e in f.events()
                 if e.kind.startswith("principal.") and e.data.get("principal", e.data.get("name")) in ("alice", "carol")]
    assert trail == [("principal.added", "admin", None), ("principal.added", "admin", "Carol-Dev"),
                     ("principal.github-linked", "admin", "alice-gh"), ("principal.github-unlinked", "admin", None)]


@pytest.mark.parametrize(("args", "message"), [
    (("principals", "add", "dave", "--role", "reviewer", "--github", "-bad-"), "invalid GitHub login"),
    (("principals", "add", "dave", "--role", "reviewer", "--github", "ALICE-GH"), "already linked to alice"),
    (("principals", "add", "bot9", "--agent", "--role", "requester", "--github", "bot9"), "agents have no"),
    (("principals", "github", "agent7", "agent7"), "agents never review"),
    (("principals", "github", "alice"), "give a GitHub login, or --unlink")])
def test_a_bad_or_taken_github_login_is_a_one_line_usage_error(people: People, args: tuple[str, ...],
                                                               message: str) -> None:
    assert admin_cli(people, "principals", "github", "alice", "alice-gh")[0] == 0
    code, _, err = admin_cli(people, *args)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_linking_a_login_needs_an_admins_token(people: People) -> None:
    proc = run_cli(people.home, "principals", "github", "alice", "alice-gh", env={"TOOLFOUNDRY_TOKEN": people.bob})
    assert proc.returncode != 0 and "admin" in proc.stderr
    with people.foundry() as f:
        assert f.trust.store.active("alice").github is None


def test_a_github_reviewer_named_on_a_local_forge_is_refused_even_for_an_admin(people: People) -> None:
    rid = pending(people, people.agent).request_id
    with people.foundry(people.admin) as f:
        with pytest.raises(AccessDenied, match="this home's forge is not GitHub"):
            f.review(rid, approve=True, reviewer="github:alice", reason="")
        assert f.request_row(rid).status == "pending_review"


@pytest.mark.parametrize(("text", "message"), [
    ('[policy]\napproval = "maybe"\n', "line 2: [policy] approval must be 'any' or 'signed'"),
    ('[[policy.rules]]\nname = "r"\nroute = "human"\napproval = "sometimes"\n', "line 4: [[policy.rules]] #1 'r':"
                                                                                " approval must be 'any'"),
    ('[[policy.rules]]\nname = "r"\nroute = "deny"\napproval = "signed"\n', "'approval' applies only to routes")])
def test_a_bad_approval_kind_in_the_policy_is_a_one_line_usage_error(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "toolfoundry.toml").write_text(text)
    proc = run_cli(tmp_path, "tools")
    assert proc.returncode == 2 and message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_where_the_policy_requires_signed_approvals_an_admins_unsigned_override_approves_nothing(
        people: People) -> None:
    require_signed(people.home)
    rid = pending(people, people.agent).request_id
    with people.foundry(people.admin) as f:
        with pytest.raises(AccessDenied, match="requires an SSH-signed approval"):
            f.review(rid, approve=True, reviewer="alice")
        assert f.review(rid, approve=False, reviewer="alice", reason="not like this").status == "rejected"


def test_an_open_home_that_requires_signed_approvals_refuses_an_unsigned_one(foundry: object, home: Path) -> None:
    from toolfoundry.api import Foundry
    from toolfoundry.core import Candidate
    assert isinstance(foundry, Foundry)
    require_signed(home)
    with Foundry(foundry.settings.home) as f:
        rid = f.propose(Candidate(code=SQUARE), requester="bob").request_id
        with pytest.raises(AccessDenied, match="requires an SSH-signed approval"):
            f.review(rid, approve=True, reviewer="alice")
        assert f.request_row(rid).status == "pending_review"


def test_a_revoked_principals_github_login_stops_counting_and_is_free_again(people: People) -> None:
    assert admin_cli(people, "principals", "github", "alice", "alice-gh")[0] == 0
    with people.foundry() as f:
        found = f.trust.store.with_github("ALICE-GH")  # logins compare as GitHub does, ignoring case
        assert found is not None and found.name == "alice"
    assert admin_cli(people, "principals", "revoke", "alice")[0] == 0
    with people.foundry() as f:
        assert f.trust.store.with_github("alice-gh") is None
    code, _, err = admin_cli(people, "principals", "add", "alice2", "--role", "reviewer", "--github", "alice-gh")
    assert code == 0, err
