"""The review UI in a real browser: Debian's chromium driven by Playwright, against the app served by uvicorn.

Never run `playwright install`: the browser is /usr/bin/chromium (Debian package `chromium`, installed by
scripts/setup.sh). A screenshot of the review page is kept in test-artifacts/ (git-ignored).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import REPO, make_settings
from surfaces.test_ui import propose_pending

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = REPO / "test-artifacts"

if not CHROMIUM.exists():
    pytest.skip("the browser tests need Debian's chromium at /usr/bin/chromium (apt-get install chromium;"
                " scripts/setup.sh installs it)", allow_module_level=True)

import uvicorn  # noqa: E402
from fastapi import FastAPI  # noqa: E402
from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402

from toolfoundry.surfaces.web.app import create_app  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(home: Path) -> Iterator[str]:
    """The review UI for ``home``, reviewing as alice, served by uvicorn on 127.0.0.1 in a thread."""
    port = free_port()
    app = create_app(make_settings(home, user="alice"))
    base = f"http://127.0.0.1:{port}"
    APPS[base] = app
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not srv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield base
    finally:
        srv.should_exit = True
        thread.join(timeout=15)


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS, headless=True)
        try:
            yield b
        finally:
            b.close()


APPS: dict[str, FastAPI] = {}
"""The app behind each served base URL, for its one-time login links."""


def open_request(page: Page, base: str, rid: str) -> None:
    page.goto(base + APPS[base].state.ui.sessions.link("alice"))  # the one-time link `toolfoundry ui` prints
    expect(page.locator("#queue")).to_contain_text(rid)
    page.click(f"a.rid[href='/requests/{rid}']")
    expect(page.locator("h1")).to_contain_text(rid)
    expect(page.locator("#status")).to_have_text("pending review")


def test_reviewer_inspects_approves_and_rejects_in_the_browser(home: Path, server: str, browser: Browser) -> None:
    first, second = propose_pending(home), propose_pending(home)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    open_request(page, server, first)
    expect(page.locator("#reviewer")).to_have_text("alice")
    expect(page.locator("#rule")).to_have_text("permissions-need-human")
    expect(page.locator("#permissions .perm-net")).to_have_text("net: example.org")
    expect(page.locator("#stages .stage")).to_have_count(4)
    expect(page.locator("#stages")).to_contain_text("bandit.B310")
    expect(page.locator("#diff pre.diff .add").first).to_be_visible()
    expect(page.locator("#audit")).to_contain_text("review.requested")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "review-page.png"), full_page=True)

    page.evaluate("window.__sameDocument = true")  # survives only if htmx swaps instead of reloading
    page.click("button.btn-approve")
    expect(page.locator("#status")).to_have_text("deployed", timeout=30_000)
    expect(page.locator("#commit")).to_be_visible()
    assert len(page.locator("#commit").inner_text()) == 40
    expect(page.locator("#status-panel .flash-ok")).to_have_text("approved and deployed")
    expect(page.locator("#audit")).to_contain_text("review.decided")
    expect(page.locator("#audit")).to_contain_text("alice")
    assert page.evaluate("window.__sameDocument === true"), "the approval reloaded the page instead of swapping"
    expect(page.locator("button.btn-approve")).to_have_count(0)
    page.screenshot(path=str(ARTIFACTS / "review-page-deployed.png"), full_page=True)

    open_request(page, server, second)
    page.click("button.btn-reject")  # an empty reason: the browser's own `required` check stops it
    expect(page.locator("#status")).to_have_text("pending review")
    page.fill("#reason", "needs no network: read the status from a fixture instead")
    page.click("button.btn-reject")
    expect(page.locator("#status")).to_have_text("rejected", timeout=30_000)
    expect(page.locator("#status-panel")).to_contain_text("rejected by alice: needs no network")

    page.goto(server + "/requests")
    expect(page.locator("#history")).to_contain_text(first)
    expect(page.locator(f"#history tr:has(a[href='/requests/{first}']) .status")).to_have_text("deployed")
    expect(page.locator(f"#history tr:has(a[href='/requests/{second}']) .status")).to_have_text("rejected")
    page.goto(server + "/")
    expect(page.locator(".empty")).to_have_text("Nothing waits for review.")
    assert errors == [], errors


def test_forms_work_without_javascript(home: Path, server: str, browser: Browser) -> None:
    rid = propose_pending(home)
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    open_request(page, server, rid)
    with page.expect_navigation():
        page.click("button.btn-approve")  # a plain POST with the form's token, then a 303 back here
    expect(page.locator("#status")).to_have_text("deployed", timeout=30_000)
    assert page.url == f"{server}/requests/{rid}"
    context.close()
