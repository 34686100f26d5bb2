"""A loopback HTTP origin for the network tests: counts the connections it accepted and records what
it was sent, so a test can prove that a refused request never reached it."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Origin(ThreadingHTTPServer):
    """An HTTP server on loopback that counts accepted connections and records what it was sent."""

    daemon_threads = True

    def __init__(self, name: str) -> None:
        super().__init__(("127.0.0.1", 0), OriginHandler)
        self.name = name
        self.accepted = 0
        self.seen: list[tuple[str, str, bytes]] = []

    def get_request(self) -> tuple[socket.socket, object]:
        self.accepted += 1
        return super().get_request()

    @property
    def port(self) -> int:
        return int(self.server_address[1])


class OriginHandler(BaseHTTPRequestHandler):
    server: Origin

    def do_GET(self) -> None:
        self._answer(b"")

    def do_POST(self) -> None:
        self._answer(self.rfile.read(int(self.headers["Content-Length"])))

    def _answer(self, body: bytes) -> None:
        self.server.seen.append((self.requestline, self.headers["Host"], body))
        payload = f"hello from {self.server.name} {self.path}".encode() + body
        self.send_response(200)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def serving(server: Origin) -> Iterator[Origin]:
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
