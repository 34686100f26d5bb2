"""Network permission end to end, with real bwrap: a tool with ``net_hosts`` reaches exactly those hosts.

Two loopback HTTP servers stand in for an allowed and a denied host. The tool runs in the sandbox with
its own egress proxy (``bwrap.py``), reached through the runner's forwarder on 127.0.0.1:3128; the
denied server must record no connection, and the refusal must reach the run's report, the caller's
error, the audit log and the oracle's findings.
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import os
import tempfile
import textwrap
from collections.abc import Iterator

import pytest

from toolfoundry.api import Foundry
from toolfoundry.core import Candidate, Example, Permissions
from toolfoundry.sandbox import BwrapSandbox, landlock
from toolfoundry.sandbox.pool import WorkerPool
from toolfoundry.sandbox.settings import PoolSettings, SandboxSettings
from toolfoundry.sandbox.types import CaseResult, Limits
from toolfoundry.stages import oracle

from loopback import Origin, serving

FETCH = textwrap.dedent('''
    """Fetch a page from a loopback server."""
    import urllib.error
    import urllib.request


    def fetch(port: int) -> str:
        """Return the body of http://127.0.0.1:<port>/ (through the proxy the sandbox sets up)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
                return str(response.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            raise PermissionError(f"refused with HTTP {exc.code}") from None
''').lstrip()

PROBE = textwrap.dedent('''
    import os, socket
    def f(port: int) -> dict:
        out = {"proxy": os.environ.get("http_proxy"), "no_proxy": os.environ.get("no_proxy")}
        for what, action in (("connect", lambda s: s.connect(("127.0.0.1", port))),
                             ("bind", lambda s: s.bind(("127.0.0.1", 0)))):
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                    s.settimeout(2)
                    action(s)
                out[what] = "ok"
            except OSError as exc:
                out[what] = type(exc).__name__
        return out
''').lstrip()


@pytest.fixture
def allowed() -> Iterator[Origin]:
    with serving(Origin("allowed")) as server:
        yield server


@pytest.fixture
def denied() -> Iterator[Origin]:
    with serving(Origin("denied")) as server:
        yield server


@pytest.fixture(scope="module")
def sandbox() -> BwrapSandbox:
    box = BwrapSandbox(SandboxSettings())
    box.check()
    return box


def _proxy_dirs() -> set[str]:
    return set(glob.glob(os.path.join(tempfile.gettempdir(), "toolfoundry-net-*")))


def test_a_tool_with_net_hosts_reaches_its_host_and_nothing_else(sandbox: BwrapSandbox, allowed: Origin,
                                                                  denied: Origin) -> None:
    before = _proxy_dirs()
    report = sandbox.run_cases(code=FETCH, function="fetch", cases=[{"port": allowed.port}, {"port": denied.port}],
                               permissions=Permissions(net_hosts=(f"127.0.0.1:{allowed.port}",)), limits=Limits())
    assert report.problems == () and not report.timed_out, report
    assert report.cases[0] == CaseResult(ok=True, value="hello from allowed /")
    assert report.cases[1] == CaseResult(ok=False, error_type="PermissionError", error_message="refused with HTTP 403")
    assert denied.accepted == 0
    assert report.net_refusals == (f"GET 127.0.0.1:{denied.port}: port {denied.port} of 127.0.0.1 not in this "
                                   "tool's approved net_hosts",)
    assert _proxy_dirs() == before  # the run's proxy stopped with the run


def test_a_tool_without_net_hosts_gets_no_proxy_and_no_inet_socket(sandbox: BwrapSandbox, allowed: Origin) -> None:
    report = sandbox.run_cases(code=FETCH, function="fetch", cases=[{"port": allowed.port}],
                               permissions=Permissions(), limits=Limits())
    assert not report.cases[0].ok and report.net_refusals == ()
    assert allowed.accepted == 0


@pytest.mark.skipif(landlock.abi() < 4, reason="Landlock network rules need ABI 4")
def test_with_net_hosts_landlock_allows_tcp_connect_to_the_forwarder_port_only(sandbox: BwrapSandbox) -> None:
    report = sandbox.run_cases(code=PROBE, function="f", cases=[{"port": 3128}, {"port": 3129}],
                               permissions=Permissions(net_hosts=("example.org",)), limits=Limits())
    forwarder, other = (c.value for c in report.cases)
    assert forwarder == {"proxy": "http://127.0.0.1:3128", "no_proxy": None, "connect": "ok",
                         "bind": "PermissionError"}, report
    assert other == {"proxy": "http://127.0.0.1:3128", "no_proxy": None, "connect": "PermissionError",
                     "bind": "PermissionError"}, report


def test_each_warm_sandbox_has_its_own_proxy_and_reports_refusals_per_call(
        sandbox: BwrapSandbox, allowed: Origin, denied: Origin) -> None:
    before = _proxy_dirs()
    pool = WorkerPool(sandbox, PoolSettings(size=1, idle_seconds=60.0))
    key = ("fetch", 1, hashlib.sha256(FETCH.encode()).hexdigest())
    permissions = Permissions(net_hosts=(f"127.0.0.1:{allowed.port}",))
    try:
        def call(port: int) -> tuple[CaseResult, tuple[str, ...]]:
            report = pool.call(key=key, code=FETCH, function="fetch", args={"port": port},
                               permissions=permissions, limits=Limits())
            return report.cases[0], report.net_refusals

        assert call(allowed.port) == (CaseResult(ok=True, value="hello from allowed /"), ())
        case, refusals = call(denied.port)
        assert not case.ok and len(refusals) == 1 and f"127.0.0.1:{denied.port}" in refusals[0]
        assert call(allowed.port) == (CaseResult(ok=True, value="hello from allowed /"), ())
        assert pool.sandboxes(key) == 1 and len(_proxy_dirs() - before) == 1
    finally:
        pool.close()
    assert denied.accepted == 0
    assert _proxy_dirs() == before  # the sandbox's proxy stopped when the sandbox did


def test_the_oracle_names_refused_hosts_unless_held_out_examples_ran(sandbox: BwrapSandbox, denied: Origin) -> None:
    permissions = Permissions(net_hosts=("127.0.0.1:1",))
    example = Example(args={"port": denied.port}, expect="hello from denied /")
    visible = oracle.evaluate(sandbox, code=FETCH, function="fetch", examples=(example,), holdout=(),
                              permissions=permissions, limits=Limits())
    refused = [f for f in visible.findings if f.code == "sandbox.net-refused"]
    assert len(refused) == 1 and refused[0].severity == "warning"
    assert f"127.0.0.1:{denied.port}" in refused[0].message
    hidden = oracle.evaluate(sandbox, code=FETCH, function="fetch", examples=(),
                             holdout=(dataclasses.replace(example),), permissions=permissions, limits=Limits())
    withheld = [f for f in hidden.findings if f.code == "sandbox.net-refused"]
    assert len(withheld) == 1 and str(denied.port) not in withheld[0].message and withheld[0].actual is None
    assert denied.accepted == 0


def test_a_deployed_tool_with_net_hosts_reaches_only_them_and_refusals_are_audited(
        foundry: Foundry, allowed: Origin, denied: Origin) -> None:
    outcome = foundry.propose(Candidate(
        code=FETCH, examples=(Example(args={"port": allowed.port}, expect="hello from allowed /"),),
        permissions=Permissions(net_hosts=(f"127.0.0.1:{allowed.port}",))))
    assert outcome.status == "pending_review", outcome.to_json()  # network permission needs a human
    outcome = foundry.review(outcome.request_id, approve=True, reviewer="alice")
    assert outcome.status == "deployed", outcome.to_json()

    ok = foundry.call("fetch", {"port": allowed.port})
    assert ok.ok and ok.result == "hello from allowed /", ok
    bad = foundry.call("fetch", {"port": denied.port})
    assert not bad.ok and bad.error is not None
    assert bad.error["type"] == "PermissionError"
    assert str(bad.error["message"]).startswith("refused with HTTP 403 (the egress proxy refused: ")
    assert f"127.0.0.1:{denied.port}" in str(bad.error["message"])
    assert denied.accepted == 0

    calls = [e for e in foundry.events() if e.kind == "call"]
    assert [e.data["ok"] for e in calls] == [True, False]
    assert "net_refused" not in calls[0].data
    refused = calls[1].data["net_refused"]
    assert isinstance(refused, list) and len(refused) == 1 and f"127.0.0.1:{denied.port}" in str(refused[0])
    assert foundry.verify().ok
