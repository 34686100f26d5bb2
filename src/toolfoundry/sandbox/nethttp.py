"""The HTTP/1.1 proxy protocol as the egress proxy speaks it: reading a request head, answering with a status.

Owns parsing a request head (``CONNECT host:port`` and absolute-URI requests, forwarded in origin form
with ``Connection: close``, hop-by-hop headers dropped, the body's framing kept) into a
:class:`Request`, refusing anything malformed or over 64 KiB (:class:`HttpError`), and writing a short
status reply. Whether a request is allowed is ``netrules.py``'s; the proxying is ``netproxy.py``'s.
"""

from __future__ import annotations

import contextlib
import re
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from toolfoundry.sandbox.netfwd import CHUNK
from toolfoundry.sandbox.netrules import split_authority

MAX_HEAD = 64 * 1024
LINGER_SECONDS = 2.0
HOP_BY_HOP = frozenset({"host", "connection", "proxy-connection", "keep-alive", "proxy-authorization",
                        "proxy-authenticate", "te", "upgrade"})
FRAMING = frozenset({"content-length", "transfer-encoding"})  # the body is piped as is: keep its framing
REASONS = {400: "Bad Request", 403: "Forbidden", 502: "Bad Gateway", 503: "Service Unavailable"}
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


class HttpError(Exception):
    """A request the proxy answers with ``status`` and a one-line ``message``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    host: str
    port: int
    upstream_head: bytes
    """What to send the origin first: the rewritten request head, or nothing for CONNECT."""


def read_head(sock: socket.socket, timeout: float) -> tuple[bytes, bytes]:
    """Read up to the blank line: (head without it, bytes already read after it)."""
    deadline = time.monotonic() + timeout
    buf = bytearray()
    while True:
        end = buf.find(b"\r\n\r\n")
        if end > MAX_HEAD or (end < 0 and len(buf) > MAX_HEAD):
            raise HttpError(400, f"request header larger than {MAX_HEAD // 1024} KiB")
        if end >= 0:
            return bytes(buf[:end]), bytes(buf[end + 4:])
        sock.settimeout(max(deadline - time.monotonic(), 0.001))
        chunk = sock.recv(CHUNK)
        if not chunk:
            raise HttpError(400, "connection closed before the end of the request header")
        buf += chunk


def parse_request(head: bytes) -> Request:
    lines = head.decode("latin-1").split("\r\n")
    if any("\r" in line or "\n" in line for line in lines):
        raise HttpError(400, "bare CR or LF in the request header")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not _TOKEN.fullmatch(parts[0]) or parts[2] not in ("HTTP/1.1", "HTTP/1.0"):
        raise HttpError(400, "malformed request line")
    method, target, version = parts
    if not (target.isascii() and target.isprintable()):
        raise HttpError(400, "malformed request target")
    headers = [_header(line) for line in lines[1:]]
    if method == "CONNECT":
        try:
            host, port = split_authority(target)
        except ValueError as exc:
            raise HttpError(400, f"CONNECT needs host:port ({exc})") from None
        if port is None:
            raise HttpError(400, "CONNECT needs host:port")
        return Request(method, host, port, b"")
    return _absolute(method, target, version, headers)


def _header(line: str) -> tuple[str, str]:
    name, colon, value = line.partition(":")
    if not colon or not _TOKEN.fullmatch(name):
        raise HttpError(400, "malformed header line")
    return name, value.strip()


def _absolute(method: str, target: str, version: str, headers: list[tuple[str, str]]) -> Request:
    """An absolute-URI request → its origin and the head to send it (origin form, Connection: close)."""
    if target[:8].lower() == "https://":
        raise HttpError(400, "https URLs go through CONNECT, not an absolute-URI request")
    if target[:7].lower() != "http://":
        raise HttpError(400, "a proxy request needs an absolute http:// URL or CONNECT")
    try:
        url = urlsplit(target)
        host, port = split_authority(url.netloc.rpartition("@")[2])
    except ValueError as exc:
        raise HttpError(400, f"malformed URL ({exc})") from None
    port = port or 80
    path = (url.path or "/") + (f"?{url.query}" if url.query else "")
    shown = f"[{host}]" if ":" in host else host
    authority = shown if port == 80 else f"{shown}:{port}"
    named = {t.strip().lower() for n, v in headers if n.lower() == "connection" for t in v.split(",")}
    dropped = HOP_BY_HOP | (named - FRAMING)
    kept = "".join(f"{n}: {v}\r\n" for n, v in headers if n.lower() not in dropped)
    head = f"{method} {path} {version}\r\nHost: {authority}\r\n{kept}Connection: close\r\n\r\n"
    return Request(method, host, port, head.encode("latin-1"))


def reply(sock: socket.socket, status: int, message: str, *, linger: bool = True) -> None:
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
