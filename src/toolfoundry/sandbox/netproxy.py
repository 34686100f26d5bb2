"""The host half of network egress: an HTTP proxy on a unix socket that lets a tool reach only its hosts.

A tool whose approved manifest lists ``net_hosts`` gets one :class:`EgressProxy` on the host. Its unix
socket is bound into the sandbox, where ``netfwd.py`` exposes it as ``127.0.0.1:3128``. The proxy
speaks HTTP/1.1 proxy protocol: ``CONNECT host:port`` (tunnels, for HTTPS) and absolute-URI requests
(``GET http://host/path``, forwarded with the request line in origin form and ``Connection: close``).

Allow rules (:class:`Rules`): an entry ``name`` allows that host on ports 80 and 443; ``name:port``
allows exactly that port. Names compare case-insensitively (a trailing dot is ignored); there are
**no wildcards** (``*.example.org`` is rejected as an entry). IP literals are allowed only when
listed. Names are resolved here, on the host, with ``getaddrinfo`` (or through the ``resolve``
mapping, which tests use); a listed name that resolves to a non-public address (loopback, private,
link-local, multicast, reserved) is refused unless that address is itself listed for that port,
which guards against DNS rebinding and SSRF into the host's own network. The proxy connects only to
the addresses it checked. Everything else gets ``403`` with a one-line reason, is appended to
``refusals`` and passed to ``on_refusal``. Malformed requests get ``400``; a header over 64 KiB too.

This module owns the allow decision and the proxying. It does not stop a tool from going around
the proxy: the network namespace and seccomp filter are the launcher's job. A connection that was
allowed relays bytes to that one destination only; it is not re-checked per pipelined request.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import selectors
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

from toolfoundry.errors import UsageError
from toolfoundry.sandbox.netfwd import CHUNK, relay

MAX_HEAD = 64 * 1024
IDLE_SECONDS = 60.0
CONNECT_SECONDS = 10.0
MAX_CONNECTIONS = 64
LINGER_SECONDS = 2.0
DEFAULT_PORTS = (80, 443)
HOP_BY_HOP = frozenset({"host", "connection", "proxy-connection", "keep-alive", "proxy-authorization",
                        "proxy-authenticate", "te", "upgrade"})
FRAMING = frozenset({"content-length", "transfer-encoding"})  # the body is piped as is: keep its framing
REASONS = {400: "Bad Request", 403: "Forbidden", 502: "Bad Gateway", 503: "Service Unavailable"}
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_NAME = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*")

Address = tuple[int, tuple[str, int]]
"""A place to connect to: (address family, (address, port))."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Refusal:
    """One request the proxy refused because the tool's approved ``net_hosts`` do not allow it."""

    host: str
    """The host asked for, normalised (lowercase name or canonical IP literal)."""
    port: int
    """The port asked for."""
    method: str
    """The HTTP method: ``CONNECT`` for tunnels, ``GET``/``POST``/... for plain HTTP."""
    reason: str
    """One line saying why, as sent in the 403 body."""
    at: str
    """When, as ISO 8601 UTC (the audit log's format)."""


class _HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _Denied(Exception):
    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.reason)
        self.refusal = refusal


# ── allow rules ─────────────────────────────────────────────────────────────────────────────────


def normalise_host(host: str) -> str:
    """Lowercase, brackets and a trailing dot removed; IP literals in canonical form."""
    host = host.strip().removeprefix("[").removesuffix("]").lower().rstrip(".")
    ip = _ip(host)
    return str(ip) if ip is not None else host


def split_authority(text: str) -> tuple[str, int | None]:
    """``host``, ``host:port``, ``[v6]:port`` or a bare IPv6 literal → (normalised host, port or None)."""
    if text.startswith("["):
        inside, bracket, after = text[1:].partition("]")
        if not bracket or (after and not after.startswith(":")):
            raise ValueError(f"bad authority {text!r}")
        host, port_text = inside, after[1:] if after else None
    elif text.count(":") > 1:
        host, port_text = text, None
    else:
        host, colon, port_text = text.partition(":")
        port_text = port_text if colon else None
    host = normalise_host(host)
    if not (_ip(host) is not None or _NAME.fullmatch(host)):
        raise ValueError(f"bad host {host!r}")
    if port_text is None:
        return host, None
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"bad port {port_text!r}")
    return host, int(port_text)


class Rules:
    """The (host, port) pairs a tool may reach, built from its approved ``net_hosts``."""

    def __init__(self, entries: tuple[str, ...]) -> None:
        pairs: set[tuple[str, int]] = set()
        for entry in entries:
            if "*" in entry:
                raise UsageError(f"net_hosts entry {entry!r}: wildcards are not supported, list each host")
            try:
                host, port = split_authority(entry.strip())
            except ValueError as exc:
                raise UsageError(f"net_hosts entry {entry!r}: {exc}") from None
            pairs.update((host, p) for p in ((port,) if port else DEFAULT_PORTS))
        self.pairs = frozenset(pairs)

    def allows(self, host: str, port: int) -> bool:
        """True when ``host`` (any spelling) on ``port`` is listed."""
        return (normalise_host(host), port) in self.pairs

    def why_not(self, host: str, port: int) -> str:
        """The one-line reason a refused (host, port) is refused."""
        if any(h == host for h, _ in self.pairs):
            return f"port {port} of {host} not in this tool's approved net_hosts"
        return f"host not in this tool's approved net_hosts: {host}"


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        return None


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.partition("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


# ── the HTTP proxy protocol ─────────────────────────────────────────────────────────────────────


@dataclass(frozen=True, slots=True)
class _Request:
    method: str
    host: str
    port: int
    upstream_head: bytes
    """What to send the origin first: the rewritten request head, or nothing for CONNECT."""


def _read_head(sock: socket.socket, timeout: float) -> tuple[bytes, bytes]:
    """Read up to the blank line: (head without it, bytes already read after it)."""
    deadline = time.monotonic() + timeout
    buf = bytearray()
    while True:
        end = buf.find(b"\r\n\r\n")
        if end > MAX_HEAD or (end < 0 and len(buf) > MAX_HEAD):
            raise _HttpError(400, f"request header larger than {MAX_HEAD // 1024} KiB")
        if end >= 0:
            return bytes(buf[:end]), bytes(buf[end + 4:])
        sock.settimeout(max(deadline - time.monotonic(), 0.001))
        chunk = sock.recv(CHUNK)
        if not chunk:
            raise _HttpError(400, "connection closed before the end of the request header")
        buf += chunk


def _parse_request(head: bytes) -> _Request:
    lines = head.decode("latin-1").split("\r\n")
    if any("\r" in line or "\n" in line for line in lines):
        raise _HttpError(400, "bare CR or LF in the request header")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not _TOKEN.fullmatch(parts[0]) or parts[2] not in ("HTTP/1.1", "HTTP/1.0"):
        raise _HttpError(400, "malformed request line")
    method, target, version = parts
    if not (target.isascii() and target.isprintable()):
        raise _HttpError(400, "malformed request target")
    headers = [_header(line) for line in lines[1:]]
    if method == "CONNECT":
        try:
            host, port = split_authority(target)
        except ValueError as exc:
            raise _HttpError(400, f"CONNECT needs host:port ({exc})") from None
        if port is None:
            raise _HttpError(400, "CONNECT needs host:port")
        return _Request(method, host, port, b"")
    return _absolute(method, target, version, headers)


def _header(line: str) -> tuple[str, str]:
    name, colon, value = line.partition(":")
    if not colon or not _TOKEN.fullmatch(name):
        raise _HttpError(400, "malformed header line")
    return name, value.strip()


def _absolute(method: str, target: str, version: str, headers: list[tuple[str, str]]) -> _Request:
    """An absolute-URI request → its origin and the head to send it (origin form, Connection: close)."""
    if target[:8].lower() == "https://":
        raise _HttpError(400, "https URLs go through CONNECT, not an absolute-URI request")
    if target[:7].lower() != "http://":
        raise _HttpError(400, "a proxy request needs an absolute http:// URL or CONNECT")
    try:
        url = urlsplit(target)
        host, port = split_authority(url.netloc.rpartition("@")[2])
    except ValueError as exc:
        raise _HttpError(400, f"malformed URL ({exc})") from None
    port = port or 80
    path = (url.path or "/") + (f"?{url.query}" if url.query else "")
    shown = f"[{host}]" if ":" in host else host
    authority = shown if port == 80 else f"{shown}:{port}"
    named = {t.strip().lower() for n, v in headers if n.lower() == "connection" for t in v.split(",")}
    dropped = HOP_BY_HOP | (named - FRAMING)
    kept = "".join(f"{n}: {v}\r\n" for n, v in headers if n.lower() not in dropped)
    head = f"{method} {path} {version}\r\nHost: {authority}\r\n{kept}Connection: close\r\n\r\n"
    return _Request(method, host, port, head.encode("latin-1"))


def _reply(sock: socket.socket, status: int, message: str, *, linger: bool = True) -> None:
    """Send a short text/plain response; with ``linger``, read what the client still sends before closing.

    Closing with unread input would reset the connection and could destroy the response in flight.
    """
    body = f"{message}\n".encode()
    head = (f"HTTP/1.1 {status} {REASONS[status]}\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    with contextlib.suppress(OSError):
        sock.settimeout(LINGER_SECONDS)
        sock.sendall(head + body)
        sock.shutdown(socket.SHUT_WR)
        if not linger:
            return
        deadline = time.monotonic() + LINGER_SECONDS
        while time.monotonic() < deadline and sock.recv(CHUNK):
            pass


# ── the proxy ───────────────────────────────────────────────────────────────────────────────────


class EgressProxy:
    """An HTTP proxy on a fresh unix socket that allows exactly ``allowed`` (a tool's ``net_hosts``).

    ``resolve`` maps a name (or ``name:port``, which wins) to the (address, port) to connect to instead
    of resolving it; a mapped name must still be allowed, but skips the non-public-address check
    (tests map names to loopback servers). ``idle_seconds`` bounds both the wait for a request header
    and any silence on an open tunnel.
    """

    def __init__(self, allowed: tuple[str, ...], *, on_refusal: Callable[[Refusal], None] | None = None,
                 resolve: Mapping[str, tuple[str, int]] | None = None,
                 idle_seconds: float = IDLE_SECONDS) -> None:
        self.rules = Rules(allowed)
        self.on_refusal = on_refusal
        self.idle_seconds = idle_seconds
        self.refusals: list[Refusal] = []
        self._resolve = {split_authority(k): v for k, v in (resolve or {}).items()}
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self._open: set[socket.socket] = set()
        self._threads: set[threading.Thread] = set()
        self._dir: str | None = None
        self._listener: socket.socket | None = None
        self._wake: tuple[socket.socket, socket.socket] | None = None
        self._acceptor: threading.Thread | None = None
        self._stopping = False

    def __enter__(self) -> EgressProxy:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def start(self) -> Path:
        """Listen on ``<fresh temp dir>/proxy.sock`` (dir 0755, socket 0666) and serve in a thread."""
        if self._dir is not None:
            raise UsageError("this EgressProxy was already started")
        self._dir = tempfile.mkdtemp(prefix="toolfoundry-net-")
        os.chmod(self._dir, 0o755)  # noqa: S103 - the sandbox's non-root uid must reach the socket
        path = os.path.join(self._dir, "proxy.sock")
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(path)
        os.chmod(path, 0o666)  # noqa: S103 - connecting needs write permission on the socket file
        self._listener.listen(MAX_CONNECTIONS)
        self._wake = socket.socketpair()
        self._acceptor = threading.Thread(target=self._accept_loop, name="egress proxy", daemon=True)
        self._acceptor.start()
        return Path(path)

    def stop(self) -> None:
        """Stop accepting, cut open connections, wait for their threads, remove the socket and its dir."""
        if self._acceptor is not None and self._wake is not None:
            self._wake[1].send(b"x")
            self._acceptor.join()
            self._acceptor = None
        with self._lock:
            self._stopping = True
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            threads = list(self._threads)
        for thread in threads:
            thread.join(LINGER_SECONDS + CONNECT_SECONDS)
        if self._listener is not None:
            self._listener.close()
        for end in self._wake or ():
            end.close()
        if self._dir is not None and os.path.exists(self._dir):
            shutil.rmtree(self._dir)

    def _accept_loop(self) -> None:
        assert self._listener is not None and self._wake is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self._listener, selectors.EVENT_READ)
            selector.register(self._wake[0], selectors.EVENT_READ)
            while all(key.fileobj is self._listener for key, _ in selector.select()):
                with contextlib.suppress(OSError):
                    client, _addr = self._listener.accept()
                    self._spawn(client)

    def _spawn(self, client: socket.socket) -> None:
        if not self._slots.acquire(blocking=False):
            with client:
                _reply(client, 503, "too many connections through this tool's egress proxy", linger=False)
            return
        thread = threading.Thread(target=self._serve, args=(client,), name="egress conn", daemon=True)
        with self._lock:
            self._threads.add(thread)
            self._open.add(client)
        thread.start()

    def _serve(self, client: socket.socket) -> None:
        try:
            with client:
                self._handle(client)
        finally:
            with self._lock:
                self._open.discard(client)
                self._threads.discard(threading.current_thread())
            self._slots.release()

    def _handle(self, client: socket.socket) -> None:
        try:
            head, rest = _read_head(client, self.idle_seconds)
            request = _parse_request(head)
            upstream = self._connect(request, self._destination(request))
        except _HttpError as exc:
            _reply(client, exc.status, exc.message)
            return
        except _Denied as denied:
            self._refuse(client, denied.refusal)
            return
        except OSError:
            return  # the client went away or stayed silent past the idle timeout
        with upstream:
            with self._lock:
                if self._stopping:
                    return
                self._open.add(upstream)
            try:
                client.settimeout(self.idle_seconds)
                if request.method == "CONNECT":
                    client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                upstream.sendall(request.upstream_head + rest)
                relay(client, upstream, self.idle_seconds)
            except OSError:
                pass  # either end went away mid-stream: nothing left to tell anyone
            finally:
                with self._lock:
                    self._open.discard(upstream)

    def _destination(self, request: _Request) -> list[Address]:
        """Where ``request`` may go, or ``_Denied``: the rules, then resolution, then the address check."""
        host, port = request.host, request.port
        if not self.rules.allows(host, port):
            raise _Denied(self._refusal(request, self.rules.why_not(host, port)))
        mapped = self._resolve.get((host, port)) or self._resolve.get((host, None))
        if mapped is not None:
            return _addresses(mapped[0], mapped[1])
        addresses = _addresses(host, port)
        if _ip(host) is None:
            for _family, (address, _port) in addresses:
                if not _public(address) and not self.rules.allows(address, port):
                    raise _Denied(self._refusal(request, f"{host} resolves to non-public address {address}, "
                                                         "which is not in this tool's approved net_hosts"))
        return addresses

    def _connect(self, request: _Request, addresses: list[Address]) -> socket.socket:
        for family, sockaddr in addresses:
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                sock.settimeout(CONNECT_SECONDS)
                sock.connect(sockaddr)
                return sock
            except OSError:
                sock.close()
        raise _HttpError(502, f"cannot connect to {request.host}:{request.port}")

    def _refusal(self, request: _Request, reason: str) -> Refusal:
        return Refusal(host=request.host, port=request.port, method=request.method, reason=reason,
                       at=datetime.now(UTC).isoformat(timespec="microseconds"))

    def _refuse(self, client: socket.socket, refusal: Refusal) -> None:
        with self._lock:
            self.refusals.append(refusal)
        try:
            if self.on_refusal is not None:
                self.on_refusal(refusal)
        finally:
            _reply(client, 403, refusal.reason)


def _addresses(host: str, port: int) -> list[Address]:
    """Resolve ``host`` once, here, so what is checked is exactly what is connected to."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise _HttpError(502, f"cannot resolve {host}") from None
    return [(family, (str(sockaddr[0]), int(sockaddr[1]))) for family, _t, _p, _c, sockaddr in infos
            if family in (socket.AF_INET, socket.AF_INET6)]
