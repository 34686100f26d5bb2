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
import os
import selectors
import shutil
import socket
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from toolfoundry.errors import UsageError
from toolfoundry.sandbox.netfwd import relay
from toolfoundry.sandbox.nethttp import LINGER_SECONDS, HttpError, Request, parse_request, read_head, reply
from toolfoundry.sandbox.netrules import Address, Rules, ip_of, is_public, split_authority

IDLE_SECONDS = 60.0
CONNECT_SECONDS = 10.0
MAX_CONNECTIONS = 64



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


class _Denied(Exception):
    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.reason)
        self.refusal = refusal


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
                reply(client, 503, "too many connections through this tool's egress proxy", linger=False)
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
            head, rest = read_head(client, self.idle_seconds)
            request = parse_request(head)
            upstream = self._connect(request, self._destination(request))
        except HttpError as exc:
            reply(client, exc.status, exc.message)
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

    def _destination(self, request: Request) -> list[Address]:
        """Where ``request`` may go, or ``_Denied``: the rules, then resolution, then the address check."""
        host, port = request.host, request.port
        if not self.rules.allows(host, port):
            raise _Denied(self._refusal(request, self.rules.why_not(host, port)))
        mapped = self._resolve.get((host, port)) or self._resolve.get((host, None))
        if mapped is not None:
            return _addresses(mapped[0], mapped[1])
        addresses = _addresses(host, port)
        if ip_of(host) is None:
            for _family, (address, _port) in addresses:
                if not is_public(address) and not self.rules.allows(address, port):
                    raise _Denied(self._refusal(request, f"{host} resolves to non-public address {address}, "
                                                         "which is not in this tool's approved net_hosts"))
        return addresses

    def _connect(self, request: Request, addresses: list[Address]) -> socket.socket:
        for family, sockaddr in addresses:
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                sock.settimeout(CONNECT_SECONDS)
                sock.connect(sockaddr)
                return sock
            except OSError:
                sock.close()
        raise HttpError(502, f"cannot connect to {request.host}:{request.port}")

    def _refusal(self, request: Request, reason: str) -> Refusal:
        return Refusal(host=request.host, port=request.port, method=request.method, reason=reason,
                       at=datetime.now(UTC).isoformat(timespec="microseconds"))

    def _refuse(self, client: socket.socket, refusal: Refusal) -> None:
        with self._lock:
            self.refusals.append(refusal)
        try:
            if self.on_refusal is not None:
                self.on_refusal(refusal)
        finally:
            reply(client, 403, refusal.reason)


def _addresses(host: str, port: int) -> list[Address]:
    """Resolve ``host`` once, here, so what is checked is exactly what is connected to."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise HttpError(502, f"cannot resolve {host}") from None
    return [(family, (str(sockaddr[0]), int(sockaddr[1]))) for family, _t, _p, _c, sockaddr in infos
            if family in (socket.AF_INET, socket.AF_INET6)]


REFUSALS_KEPT = 50
"""Refusals a ``NetLog`` keeps per run or call; beyond that it counts them."""


class NetLog:
    """The egress proxy's refusals for one sandbox, taken per run or per call. Thread-safe, bounded."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[str] = []
        self._dropped = 0

    def add(self, refusal: Refusal) -> None:
        """Record one refusal (the proxy calls this from its connection thread)."""
        host = f"[{refusal.host}]" if ":" in refusal.host else refusal.host
        with self._lock:
            if len(self._items) < REFUSALS_KEPT:
                self._items.append(f"{refusal.method} {host}:{refusal.port}: {refusal.reason}"[:500])
            else:
                self._dropped += 1

    def take(self) -> tuple[str, ...]:
        """Everything recorded since the last ``take``, and forget it."""
        with self._lock:
            items, dropped = self._items, self._dropped
            self._items, self._dropped = [], 0
        return (*items, f"... and {dropped} more refusals") if dropped else tuple(items)
