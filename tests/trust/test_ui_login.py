"""The review UI in a home with principals (Starlette's TestClient): logging in with a reviewer's token or a
one-time link, and decisions signed with the key the reviewer registered for the UI — or not made at all."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from toolfoundry.errors import AccessDenied
from toolfoundry.surfaces.web.app import create_app
from trust.conftest import People, keypair, pending, status

from conftest import make_settings

BASE = "http://127.0.0.1:8765"


@contextmanager
def ui(people: People) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(people.home, user="operator"), reviewer=""), base_url=BASE) as c:
        yield c


def csrf(page: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match, "no CSRF token on the page"
    return match.group(1)


def log_in_with(c: TestClient, token: str) -> int:
    form = {"csrf": csrf(c.get("/login").text), "token": token}
    return c.post("/login", data=form, headers={"origin": BASE}, follow_redirects=False).status_code


def test_only_a_human_reviewers_token_logs_in(people: People) -> None:
    with people.foundry(people.admin) as admin:
        _, review = admin.trust.create_token("alice", ["review"])
        _, caller = admin.trust.create_token("alice", ["call"])
    with ui(people) as c:
        assert c.get("/").status_code == 401
        for token, why in ((people.agent, "cannot log in"), (caller, "cannot log in"),
                           ("tft_nope", "malformed token")):
            assert log_in_with(c, token) == 401
            page = c.post("/login", data={"csrf": csrf(c.get("/login").text), "token": token},
                          headers={"origin": BASE})
            assert why in page.text and c.get("/").status_code == 401
        assert log_in_with(c, review) == 303
        page = c.get("/")
        assert page.status_code == 200 and 'reviewing as <strong id="reviewer">alice</strong>' in page.text
        with people.foundry(people.admin) as admin:
            admin.trust.revoke_token(review.split("_")[1])
        assert c.get("/").status_code == 401  # the revoked token's session ends with it


def test_a_login_link_is_only_for_an_active_reviewer(people: People) -> None:
    with ui(people) as c:
        sessions = c.app.state.ui.sessions  # type: ignore[attr-defined]
        for name in ("agent7", "nobody", "admin"):
            with pytest.raises(AccessDenied):
                sessions.link(name)
        assert c.get(sessions.link("alice")).status_code == 200
        assert c.get("/").status_code == 200
        with people.foundry(people.admin) as admin:
            admin.trust.revoke("alice")
        assert c.get("/").status_code == 401


def test_the_ui_signs_only_with_the_key_the_reviewer_registered_for_it(people: People, tmp_path: Path) -> None:
    proposal = pending(people, people.agent)
    rid = proposal.request_id
    with ui(people) as c:
        c.get(c.app.state.ui.sessions.link("alice"))  # type: ignore[attr-defined]
        page = c.get(f"/requests/{rid}")
        refused = c.post(f"/requests/{rid}/approve", data={"csrf": csrf(page.text)}, headers={"origin": BASE})
        assert refused.status_code == 409 and "no key registered for the review UI" in refused.text
        assert status(people, rid) == "pending_review"
        ui_key = keypair(tmp_path / "ui", "alice-ui")
        with people.foundry(people.admin) as admin:
            admin.trust.add_key("alice", ui_key, purpose="ui")
        done = c.post(f"/requests/{rid}/approve", data={"csrf": csrf(page.text)}, headers={"origin": BASE},
                      follow_redirects=False)
        assert done.status_code == 303, done.text
    with people.foundry() as f:
        signed = [e.data for e in f.events(rid) if e.kind == "review.signed"]
        record = f.trust.provenance("square", verify=True)
    assert [(d["signer"], d["via"]) for d in signed] == [("alice", "ui")]
    assert record.problems == ()


def test_the_requester_cannot_approve_in_the_ui_either(people: People, tmp_path: Path) -> None:
    with people.foundry(people.admin) as admin:
        admin.trust.add_key("bob", keypair(tmp_path / "ui", "bob-ui"), purpose="ui")
    rid = pending(people, people.bob).request_id
    with ui(people) as c:
        c.get(c.app.state.ui.sessions.link("bob"))  # type: ignore[attr-defined]
        page = c.get(f"/requests/{rid}")
        refused = c.post(f"/requests/{rid}/approve", data={"csrf": csrf(page.text)}, headers={"origin": BASE})
    assert refused.status_code == 409 and "bob requested" in refused.text and "cannot review it" in refused.text
    assert status(people, rid) == "pending_review"


def test_toolfoundry_ui_prints_a_link_only_for_a_reviewer(people: People) -> None:
    from toolfoundry.surfaces.web.app import login_hint
    for reviewer, expect in (("alice", "log in as alice with this one-time link: http://127.0.0.1:8765/login?code="),
                             ("operator", "no login link (no principal named 'operator'"),
                             ("", "log in with a reviewer's token")):
        app = create_app(make_settings(people.home, user="operator"), reviewer=reviewer)
        with TestClient(app, base_url=BASE):
            assert login_hint(app, "127.0.0.1", 8765).startswith(expect), reviewer
