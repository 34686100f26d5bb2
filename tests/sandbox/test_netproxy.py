"""The egress proxy and its in-sandbox forwarder, over loopback only, through the chain the sandbox uses.

urllib (or a raw socket) → ``netfwd.serve`` TCP port → the proxy's unix socket → a loopback server
standing in for an allowed or a denied host. Servers count the connections they accept, so a refused
request is shown to have had no effect on the host it named.
"""

from __future__ import annotations

import socket
import stat
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from toolfoundry.errors import UsageError
from toolfoundry.sandbox import netfwd
from toolfoundry.sandbox.netproxy import EgressProxy, Refusal, Rules

from loopback import Origin, serving

# ── loopback stand-ins ──────────────────────────────────────────────────────────────────────────


class Echo:
    """A raw TCP echo server on loopback: echoes until EOF, then closes. Counts accepted connections."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.accepted = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.accepted += 1
            with conn:
                while data := conn.recv(4096):
                    conn.sendall(data)

    def close(self) -> None:
        self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        self.thread.join()


@pytest.fixture(autouse=True)
def no_proxy_bypass(monkeypatch: pytest.MonkeyPatch) -> None:
    """urllib skips the proxy for hosts in no_proxy; these tests must always go through it."""
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def allowed() -> Iterator[Origin]:
    with serving(Origin("allowed")) as server:
        yield server


@pytest.fixture
def denied() -> Iterator[Origin]:
    with serving(Origin("denied")) as server:
        yield server


@pytest.fixture
def echo() -> Iterator[Echo]:
    server = Echo()
    yield server
    server.close()


class Chain:
    """A started proxy plus an in-process forwarder to it: what the sandbox will run."""

    def __init__(self, proxy: EgressProxy, socket_path: Path, forwarder: netfwd.Forwarder) -> None:
        self.proxy = proxy
        self.socket_path = socket_path
        self.port = forwarder.address[1]
        proxies = {"http": f"http://127.0.0.1:{self.port}"}
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler(proxies))

    def get(self, url: str, data: bytes | None = None) -> tuple[int, str]:
        """Fetch ``url`` through the proxy: (status, body)."""
        try:
            with self.opener.open(url, data=data, timeout=30) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            with error:
                return error.code, error.read().decode()

    def raw(self, head: bytes) -> tuple[bytes, socket.socket]:
        """Send ``head`` to the forwarder's port; return the response head and the open socket."""
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=30)
        sock.sendall(head)
        return read_head(sock), sock


@contextmanager
def chain(allowed_hosts: tuple[str, ...], **kwargs: object) -> Iterator[Chain]:
    proxy = EgressProxy(allowed_hosts, **kwargs)  # type: ignore[arg-type]
    path = proxy.start()
    forwarder = netfwd.serve(str(path), port=0)
    try:
        yield Chain(proxy, path, forwarder)
    finally:
        forwarder.close()
        proxy.stop()


def read_head(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(1)
        if not chunk:
            break
        data += chunk
    return data


def read_all(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def ask_unix(path: Path, request: bytes) -> bytes:
    """Send ``request`` straight to the proxy's unix socket, half-close, and read the whole answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(30)
        sock.connect(str(path))
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)
        return read_all(sock)


# ── plain HTTP ──────────────────────────────────────────────────────────────────────────────────


def test_get_to_an_allowed_host_reaches_it_in_origin_form(allowed: Origin) -> None:
    with chain((f"127.0.0.1:{allowed.port}",)) as c:
        status, body = c.get(f"http://127.0.0.1:{allowed.port}/hello?x=1")
    assert (status, body) == (200, "hello from allowed /hello?x=1")
    requestline, host, _ = allowed.seen[0]
    assert requestline == "GET /hello?x=1 HTTP/1.1"
    assert host == f"127.0.0.1:{allowed.port}"


def test_post_body_is_relayed_to_the_allowed_host(allowed: Origin) -> None:
    with chain((f"127.0.0.1:{allowed.port}",)) as c:
        status, body = c.get(f"http://127.0.0.1:{allowed.port}/submit", data=b"payload-123")
    assert (status, body) == (200, "hello from allowed /submitpayload-123")
    assert allowed.seen[0][2] == b"payload-123"


def test_get_to_a_denied_ip_gets_403_and_the_denied_server_sees_no_connection(
        allowed: Origin, denied: Origin) -> None:
    seen: list[Refusal] = []
    with chain((f"127.0.0.1:{allowed.port}",), on_refusal=seen.append) as c:
        status, body = c.get(f"http://127.0.0.1:{denied.port}/secret")
        refusals = list(c.proxy.refusals)
    assert status == 403
    assert body == f"port {denied.port} of 127.0.0.1 not in this tool's approved net_hosts\n"
    assert denied.accepted == 0
    assert seen == refusals
    assert (refusals[0].host, refusals[0].port, refusals[0].method) == ("127.0.0.1", denied.port, "GET")


def test_get_to_an_unlisted_name_gets_403_naming_it_even_when_it_would_resolve(denied: Origin) -> None:
    seen: list[Refusal] = []
    resolve = {"evil.example": ("127.0.0.1", denied.port)}
    with chain(("api.example.org",), on_refusal=seen.append, resolve=resolve) as c:
        status, body = c.get("http://evil.example/steal")
    assert (status, body) == (403, "host not in this tool's approved net_hosts: evil.example\n")
    assert denied.accepted == 0
    assert [r.host for r in seen] == ["evil.example"]
    assert seen[0].reason == "host not in this tool's approved net_hosts: evil.example"


def test_a_name_mapped_through_resolve_is_matched_case_insensitively_on_default_ports(
        allowed: Origin) -> None:
    with chain(("api.example.org",), resolve={"api.example.org": ("127.0.0.1", allowed.port)}) as c:
        assert c.get("http://API.Example.org/v1") == (200, "hello from allowed /v1")
        status, _ = c.get("http://api.example.org:8080/v1")
    assert status == 403
    assert allowed.seen[0][1] == "api.example.org"
    assert len(allowed.seen) == 1


def test_a_listed_name_that_resolves_to_loopback_is_refused(allowed: Origin) -> None:
    """SSRF / DNS rebinding: the name is approved, but it points into the host's own network."""
    with chain((f"localhost:{allowed.port}",)) as c:
        status, body = c.get(f"http://localhost:{allowed.port}/admin")
    assert status == 403
    assert body.startswith("localhost resolves to non-public address ")
    assert allowed.accepted == 0
    assert c.proxy.refusals[0].host == "localhost"


def test_an_absolute_https_url_is_refused_with_400() -> None:
    with chain(("api.example.org",)) as c:
        head, sock = c.raw(b"GET https://api.example.org/ HTTP/1.1\r\nHost: api.example.org\r\n\r\n")
        sock.close()
    assert head.startswith(b"HTTP/1.1 400 ")


# ── CONNECT ─────────────────────────────────────────────────────────────────────────────────────


def test_connect_to_an_allowed_host_port_tunnels_both_ways_until_half_close(echo: Echo) -> None:
    with chain((f"127.0.0.1:{echo.port}",)) as c:
        head, sock = c.raw(f"CONNECT 127.0.0.1:{echo.port} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        with sock:
            sock.sendall(b"ping " * 10000)
            sock.shutdown(socket.SHUT_WR)
            echoed = read_all(sock)
    assert head == b"HTTP/1.1 200 Connection established\r\n\r\n"
    assert echoed == b"ping " * 10000


def test_connect_to_a_denied_host_port_is_refused_and_never_connected(echo: Echo) -> None:
    seen: list[Refusal] = []
    with chain(("api.example.org:443",), on_refusal=seen.append,
               resolve={"api.example.org": ("127.0.0.1", 9)}) as c:
        head, sock = c.raw(f"CONNECT 127.0.0.1:{echo.port} HTTP/1.1\r\n\r\n".encode())
        body = read_all(sock).decode()
        sock.close()
    assert head.startswith(b"HTTP/1.1 403 Forbidden\r\n")
    assert body == "host not in this tool's approved net_hosts: 127.0.0.1\n"
    assert echo.accepted == 0
    assert [(r.host, r.port, r.method) for r in seen] == [("127.0.0.1", echo.port, "CONNECT")]


def test_connect_through_a_resolve_mapping_reaches_the_mapped_port(echo: Echo) -> None:
    with chain(("api.example.org",), resolve={"api.example.org:443": ("127.0.0.1", echo.port)}) as c:
        head, sock = c.raw(b"CONNECT api.example.org:443 HTTP/1.1\r\n\r\n")
        with sock:
            sock.sendall(b"hello")
            assert sock.recv(5) == b"hello"
    assert head.startswith(b"HTTP/1.1 200 ")


# ── robustness ──────────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("request_head", [
    b"GARBAGE\r\n\r\n",
    b"GET /relative HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET http://api.example.org/ HTTP/9.9\r\n\r\n",
    b"CONNECT api.example.org HTTP/1.1\r\n\r\n",
    b"CONNECT api.example.org:99999 HTTP/1.1\r\n\r\n",
    b"GET http://bad_host!/ HTTP/1.1\r\n\r\n",
    b"GET http://api.example.org/ HTTP/1.1\r\nno colon here\r\n\r\n",
    b"GET http://api.example.org/ HTTP/1.1\r\nX: a\nInjected: b\r\n\r\n",
    b"\xff\xfe\x00 \x01 \x02\r\n\r\n",
    b"GET http://api.example.org/",
], ids=["garbage", "origin-form", "version", "connect-no-port", "connect-bad-port", "bad-host",
        "header-no-colon", "bare-lf", "binary", "truncated"])
def test_malformed_requests_get_400_and_the_proxy_keeps_serving(allowed: Origin, request_head: bytes) -> None:
    with chain(("api.example.org",), resolve={"api.example.org": ("127.0.0.1", allowed.port)}) as c:
        answer = ask_unix(c.socket_path, request_head)
        assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n")
        assert c.get("http://api.example.org/after") == (200, "hello from allowed /after")
        assert c.proxy.refusals == []


def test_an_oversized_header_gets_400_and_the_proxy_keeps_serving(allowed: Origin) -> None:
    with chain(("api.example.org",), resolve={"api.example.org": ("127.0.0.1", allowed.port)}) as c:
        huge = b"GET http://api.example.org/ HTTP/1.1\r\nX-Big: " + b"a" * (70 * 1024) + b"\r\n\r\n"
        answer = ask_unix(c.socket_path, huge)
        assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n")
        assert b"larger than 64 KiB" in answer
        assert c.get("http://api.example.org/after") == (200, "hello from allowed /after")
    assert allowed.seen == [("GET /after HTTP/1.1", "api.example.org", b"")]


def test_a_silent_client_is_dropped_after_the_idle_timeout_and_others_are_served(allowed: Origin) -> None:
    resolve = {"api.example.org": ("127.0.0.1", allowed.port)}
    with chain(("api.example.org",), resolve=resolve, idle_seconds=0.5) as c:
        with socket.create_connection(("127.0.0.1", c.port), timeout=30) as silent:
            assert silent.recv(1) == b""
        assert c.get("http://api.example.org/ok") == (200, "hello from allowed /ok")


def test_concurrent_requests_from_threads_all_succeed(allowed: Origin) -> None:
    results: dict[int, tuple[int, str]] = {}
    with chain(("api.example.org",), resolve={"api.example.org": ("127.0.0.1", allowed.port)}) as c:
        def fetch(i: int) -> None:
            results[i] = c.get(f"http://api.example.org/n{i}")

        threads = [threading.Thread(target=fetch, args=(i,)) for i in range(24)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert results == {i: (200, f"hello from allowed /n{i}") for i in range(24)}


# ── lifecycle and rules ─────────────────────────────────────────────────────────────────────────


def test_start_makes_a_socket_the_sandbox_uid_can_reach_and_stop_removes_it() -> None:
    proxy = EgressProxy(("api.example.org",))
    path = proxy.start()
    assert stat.S_ISSOCK(path.stat().st_mode)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o755
    proxy.stop()
    assert not path.exists()
    assert not path.parent.exists()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock, pytest.raises(OSError):
        sock.connect(str(path))


def test_rules_allow_names_on_80_and_443_and_name_port_exactly() -> None:
    rules = Rules(("API.example.org.", "data.example.org:8443", "10.0.0.5:8080", "[::1]:9000"))
    assert rules.allows("api.example.org", 80) and rules.allows("api.example.org", 443)
    assert not rules.allows("api.example.org", 8443)
    assert rules.allows("DATA.example.org", 8443) and not rules.allows("data.example.org", 443)
    assert rules.allows("10.0.0.5", 8080) and not rules.allows("10.0.0.5", 80)
    assert rules.allows("0:0:0:0:0:0:0:1", 9000)
    assert not rules.allows("sub.api.example.org", 443)
    assert not rules.allows("example.org", 443)


@pytest.mark.parametrize("entry", ["*.example.org", "host:0", "host:http", "bad host", "[::1"])
def test_bad_or_wildcard_net_hosts_entries_are_usage_errors(entry: str) -> None:
    with pytest.raises(UsageError):
        Rules((entry,))
