"""The review UI over HTTP (Starlette's TestClient): a real home, a real pending request, real reviews."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from toolfoundry.api import Foundry
from toolfoundry.surfaces.web.app import create_app
from toolfoundry.toolfile import load_candidate

from conftest import EXAMPLES, make_settings

BASE = "http://127.0.0.1:8765"


def propose_pending(home: Path, requester: str = "bob") -> str:
    """Propose examples/fetch_status.py with a network permission: it waits for a human."""
    candidate = load_candidate(EXAMPLES / "fetch_status.py", allow_net=["example.org"],
                               examples=EXAMPLES / "fetch_status_examples.json")
    with Foundry(make_settings(home, user=requester)) as foundry:
        outcome = foundry.propose(candidate, requester=requester)
    assert outcome.status == "pending_review", outcome
    return outcome.request_id


@contextlib.contextmanager
def client_for(home: Path, reviewer: str | None = "alice") -> Iterator[TestClient]:
    """The UI for ``home``, logged in as ``reviewer`` through a one-time link (not logged in when empty)."""
    with TestClient(create_app(make_settings(home, user="alice"), reviewer=reviewer), base_url=BASE) as c:
        if reviewer and reviewer.strip():
            log_in(c, reviewer)
        yield c


def log_in(c: TestClient, name: str) -> None:
    """Open a one-time login link, as `toolfoundry ui` prints it: a session cookie, then the queue."""
    link = c.app.state.ui.sessions.link(name)  # type: ignore[attr-defined]
    landed = c.get(link, follow_redirects=False)
    assert landed.status_code == 303 and landed.headers["location"] == "/", landed.text
    assert "HttpOnly" in landed.headers["set-cookie"] and "SameSite=strict" in landed.headers["set-cookie"]


@pytest.fixture
def pending(home: Path) -> str:
    return propose_pending(home)


@pytest.fixture
def client(home: Path, pending: str) -> Iterator[TestClient]:
    with client_for(home) as c:
        yield c


def token(page: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page) or re.search(r'"X-CSRF-Token": "([^"]+)"', page)
    assert match, "the page has no CSRF token"
    return match.group(1)


def status_of(home: Path, rid: str) -> str:
    with Foundry(make_settings(home)) as foundry:
        return foundry.request_row(rid).status


def test_queue_lists_the_pending_request_with_its_permission(client: TestClient, pending: str) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert f'href="/requests/{pending}"' in page.text
    assert "fetch_status" in page.text and "bob" in page.text
    assert "permissions-need-human" in page.text
    assert '<span class="perm perm-net" title="network host">net: example.org</span>' in page.text
    assert "reviewing as <strong id=\"reviewer\">alice</strong>" in page.text
    cookie = page.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie


def test_evidence_page_shows_stages_rule_permission_diff_and_audit_trail(client: TestClient, pending: str) -> None:
    page = client.get(f"/requests/{pending}")
    assert page.status_code == 200
    text = page.text
    for stage in ("contract", "checks", "tests", "oracle"):
        assert f"</span> {stage}" in text
    assert '<code class="code">bandit.B310</code>' in text and '<span class="loc">tool.py:8</span>' in text
    assert '<code id="rule">permissions-need-human</code>' in text
    assert "net: example.org" in text and "May open network connections" in text
    assert '<span class="add">+def fetch_status(url: str) -&gt; int:</span>' in text
    assert '<span class="meta">diff --git a/tools/fetch_status/tool.py b/tools/fetch_status/tool.py</span>' in text
    for kind in ("request.opened", "policy.decision", "pr.opened", "review.requested"):
        assert f"<code>{kind}</code>" in text
    assert 'action="/requests/' + pending + '/approve"' in text and 'hx-post="/requests/' + pending + '/reject"' in text


def test_approve_without_csrf_token_is_refused(client: TestClient, home: Path, pending: str) -> None:
    client.get(f"/requests/{pending}")  # the session has its cookie, but the form below carries no token
    refused = client.post(f"/requests/{pending}/approve", data={})
    assert refused.status_code == 403 and "CSRF token" in refused.text
    assert status_of(home, pending) == "pending_review"


def test_approve_from_another_origin_is_refused_even_with_the_token(client: TestClient, home: Path,
                                                                    pending: str) -> None:
    csrf = token(client.get(f"/requests/{pending}").text)
    for header in ({"origin": "http://evil.example"}, {"origin": "http://127.0.0.1:9999"}, {"origin": "null"},
                   {"referer": "http://evil.example/page"}):
        refused = client.post(f"/requests/{pending}/approve", data={"csrf": csrf}, headers=header)
        assert refused.status_code == 403 and "cross-origin POST refused" in refused.text, header
    assert status_of(home, pending) == "pending_review"


def test_a_token_from_another_session_or_a_forged_cookie_is_refused(home: Path, pending: str) -> None:
    with client_for(home) as first:
        second = TestClient(first.app, base_url=BASE)  # the same server, another browser, logged in too
        log_in(second, "alice")
        csrf = token(first.get(f"/requests/{pending}").text)
        second.get("/")
        assert second.post(f"/requests/{pending}/approve", data={"csrf": csrf}).status_code == 403
        first.cookies.set("toolfoundry_csrf_8765", "forged.0000", domain="127.0.0.1")
        assert first.post(f"/requests/{pending}/approve", data={"csrf": "forged.0000"}).status_code == 403
    assert status_of(home, pending) == "pending_review"


def test_a_foreign_host_header_is_refused_against_dns_rebinding(client: TestClient) -> None:
    assert client.get("/", headers={"host": "attacker.example:8765"}).status_code == 400


def test_approve_with_token_deploys_the_tool_and_records_the_reviewer(client: TestClient, home: Path,
                                                                      pending: str) -> None:
    page = client.get(f"/requests/{pending}")
    done = client.post(f"/requests/{pending}/approve", data={"csrf": token(page.text)},
                       headers={"origin": BASE}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == f"/requests/{pending}"
    after = client.get(done.headers["location"]).text
    assert '<strong id="status"><span class="status status-deployed">deployed</span></strong>' in after
    assert re.search(r'<code id="commit">[0-9a-f]{40}</code>', after)
    assert "as deployed" in after and '<span class="ctx">def fetch_status(url: str) -&gt; int:</span>' in after
    with Foundry(make_settings(home)) as foundry:
        assert [t.ref.name for t in foundry.tools()] == ["fetch_status"]
        decided = [e for e in foundry.events(pending) if e.kind == "review.decided"]
    assert [(e.actor, e.data["approve"]) for e in decided] == [("alice", True)]
    assert pending in client.get("/requests").text and pending not in client.get("/").text


def test_htmx_approve_swaps_in_the_new_status_and_audit_trail(client: TestClient, pending: str) -> None:
    csrf = token(client.get(f"/requests/{pending}").text)
    swapped = client.post(f"/requests/{pending}/approve", data={}, headers={
        "hx-request": "true", "x-csrf-token": csrf, "origin": BASE})
    assert swapped.status_code == 200
    assert swapped.text.lstrip().startswith('<section id="status-panel"')
    assert "approved and deployed" in swapped.text and "status-deployed" in swapped.text
    assert 'id="audit" class="panel" hx-swap-oob="true"' in swapped.text and "<code>deploy</code>" in swapped.text
    assert "<html" not in swapped.text


def test_reject_needs_a_reason_and_then_rejects(client: TestClient, home: Path, pending: str) -> None:
    csrf = token(client.get(f"/requests/{pending}").text)
    missing = client.post(f"/requests/{pending}/reject", data={"csrf": csrf, "reason": "  "})
    assert missing.status_code == 400 and "a rejection needs a reason" in missing.text
    assert status_of(home, pending) == "pending_review"
    done = client.post(f"/requests/{pending}/reject", data={"csrf": csrf, "reason": "no network for this <tool>"})
    assert done.status_code == 200  # followed the 303 to the evidence page
    assert "status-rejected" in done.text and "no network for this &lt;tool&gt;" in done.text
    assert status_of(home, pending) == "rejected"
    again = client.post(f"/requests/{pending}/approve", data={"csrf": csrf})
    assert again.status_code == 409 and "is rejected, not pending review" in again.text


def test_requester_cannot_approve_own_request(home: Path, pending: str) -> None:
    with client_for(home, reviewer="bob") as bob:
        csrf = token(bob.get(f"/requests/{pending}").text)
        refused = bob.post(f"/requests/{pending}/approve", data={"csrf": csrf})
    assert refused.status_code == 409
    assert "bob requested" in refused.text and "cannot review it" in refused.text
    assert 'class="flash flash-error"' in refused.text
    assert status_of(home, pending) == "pending_review"


def test_without_a_login_the_ui_shows_nothing_and_approves_nothing(home: Path, pending: str) -> None:
    with client_for(home, reviewer="  ") as anonymous:
        for path in ("/", "/requests", f"/requests/{pending}", "/no/such/page"):
            page = anonymous.get(path)
            assert page.status_code == 401 and "Log in to review" in page.text, path
            assert pending not in page.text and "fetch_status" not in page.text and "bob" not in page.text, path
            assert str(home) not in page.text and 'id="reviewer"' not in page.text, path
        csrf = token(anonymous.get("/").text)  # a valid CSRF token of its own session does not stand for a login
        for action in ("approve", "reject"):
            refused = anonymous.post(f"/requests/{pending}/{action}", data={"csrf": csrf, "reason": "no"},
                                     headers={"origin": BASE})
            assert refused.status_code == 401 and "Log in to review" in refused.text
        anonymous.cookies.set("toolfoundry_session_8765", "forged-session", domain="127.0.0.1")
        assert anonymous.get("/").status_code == 401
    assert status_of(home, pending) == "pending_review"


def test_a_login_link_works_once(home: Path, pending: str) -> None:
    with client_for(home, reviewer="") as c:
        link = c.app.state.ui.sessions.link("alice")  # type: ignore[attr-defined]
        assert c.get(link).status_code == 200 and pending in c.get("/").text
        other = TestClient(c.app, base_url=BASE)
        again = other.get(link)
        assert again.status_code == 401 and "used up or has expired" in again.text
        assert other.get("/").status_code == 401
        logged_out = c.post("/logout", data={"csrf": token(c.get("/").text)}, headers={"origin": BASE},
                            follow_redirects=False)
        assert logged_out.status_code == 303 and c.get("/").status_code == 401


def test_unknown_request_is_a_404_page(client: TestClient) -> None:
    for path in ("/requests/20990101000000-ffffff", "/requests/%3Cscript%3E", "/no/such/page"):
        page = client.get(path)
        assert page.status_code == 404 and "Cannot do that" in page.text, path
        assert "<script>" not in page.text
    csrf = token(client.get("/").text)
    assert client.post("/requests/20990101000000-ffffff/approve", data={"csrf": csrf}).status_code == 404


def test_pages_escape_what_requesters_control(home: Path) -> None:
    rid = propose_pending(home, requester='<img src=x onerror="alert(1)">')
    with client_for(home) as c:
        for path in ("/", "/requests", f"/requests/{rid}"):
            text = c.get(path).text
            assert "<img src=x" not in text and "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in text, path


def test_a_rejected_request_shows_its_failing_input_expected_and_actual(home: Path) -> None:
    candidate = load_candidate(EXAMPLES / "broken_word_stats.py", examples=EXAMPLES / "word_stats" / "examples.json")
    with Foundry(make_settings(home, user="bob")) as foundry:
        outcome = foundry.propose(candidate, requester="bob")
    assert outcome.status == "rejected"
    with client_for(home) as c:
        assert outcome.request_id in c.get("/requests").text
        text = c.get(f"/requests/{outcome.request_id}").text
    assert '<div class="stage failed">' in text and "status-rejected" in text
    assert "<span>input</span>" in text and "<span>expected</span>" in text and "<span>actual</span>" in text
    assert "btn-approve" not in text
