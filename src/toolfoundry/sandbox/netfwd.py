"""The in-sandbox half of network egress: a loopback TCP port that leads to the host's egress proxy.

Inside the sandbox the network namespace holds only loopback, and the one way out is the unix socket
of the host-side :class:`~toolfoundry.sandbox.netproxy.EgressProxy`, bound into the sandbox by the
launcher. Most HTTP clients cannot use a unix-socket proxy, so :func:`serve` listens on
``127.0.0.1:3128`` and pipes every accepted connection, byte for byte, to a fresh connection on that
unix socket; the tool then finds the proxy through ``http_proxy``/``https_proxy``.

This module owns that forwarding and the byte relay (:func:`relay`, which the host proxy reuses).
It decides nothing: which hosts are allowed is the proxy's job, and that the tool has no other way
out is the launcher's (network namespace, seccomp). It is stdlib-only and imports nothing from
toolfoundry, because the runner copies its source into the sandbox.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading

CHUNK = 1 << 16
MAX_CONNECTIONS = 64


def relay(a: socket.socket, b: socket.socket, idle: float | None = None) -> None:
    """Copy bytes both ways between ``a`` and ``b`` until both directions have ended.

    Half-close aware: when one side sends EOF, the other side's write half is shut down and the
    opposite direction keeps flowing. Stops early when a socket errors or, with ``idle`` seconds
    given, when no byte moved for that long. The caller closes both sockets.
    """
    peer = {a: b, b: a}
    with selectors.DefaultSelector() as selector:
        for sock in peer:
            selector.register(sock, selectors.EVENT_READ)
        while selector.get_map():
            ready = selector.select(idle)
            if not ready:
                return
            for key, _events in ready:
                src: socket.socket = key.fileobj  # type: ignore[assignment]
                moved = _copy_once(src, peer[src])
                if moved is None:
                    return
                if not moved:
                    selector.unregister(src)


def _copy_once(src: socket.socket, dst: socket.socket) -> bool | None:
    """Move one chunk from ``src`` to ``dst``: True if bytes moved, False at EOF, None on an error.

    At EOF the write half of ``dst`` is shut down, so its reader sees the end too.
    """
    try:
        data = src.recv(CHUNK)
        if data:
            dst.sendall(data)
            return True
    except OSError:
        return None
    with contextlib.suppress(OSError):
        dst.shutdown(socket.SHUT_WR)
    return False


class Forwarder(threading.Thread):
    """A daemon thread accepting on a loopback TCP port and piping each connection to a unix socket."""

    def __init__(self, unix_path: str, host: str, port: int) -> None:
        super().__init__(name=f"netfwd {host}:{port}", daemon=True)
        self.unix_path = unix_path
        self._closed = threading.Event()
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self._listener = socket.create_server((host, port), backlog=64)

    @property
    def address(self) -> tuple[str, int]:
        """The (host, port) actually listened on (useful when ``port`` 0 was asked for)."""
        host, port = self._listener.getsockname()[:2]
        return str(host), int(port)

    def run(self) -> None:
        while not self._closed.is_set():
            try:
                client, _addr = self._listener.accept()
            except OSError:
                if self._closed.wait(0.05):  # closed, or a transient error (EMFILE): do not spin
                    return
                continue
            self._spawn(client)

    def close(self) -> None:
        """Stop accepting and wait for the accepting thread; connections already piped run to their end."""
        self._closed.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        if self.is_alive() and threading.current_thread() is not self:
            self.join()
        self._listener.close()

    def _spawn(self, client: socket.socket) -> None:
        """Forward ``client`` from its own thread; refuse it (close) past the connection cap."""
        if not self._slots.acquire(blocking=False):
            client.close()
            return
        try:
            threading.Thread(target=self._forward, args=(client,), name="netfwd conn", daemon=True).start()
        except RuntimeError:  # no thread to be had (the sandbox's process limit): drop this one
            client.close()
            self._slots.release()

    def _forward(self, client: socket.socket) -> None:
        try:
            self._pipe(client)
        finally:
            self._slots.release()

    def _pipe(self, client: socket.socket) -> None:
        # No proxy to reach (or no descriptor left): closing the client is the whole answer.
        with client, contextlib.suppress(OSError), socket.socket(socket.AF_UNIX) as upstream:
            upstream.connect(self.unix_path)
            relay(client, upstream)


def serve(unix_path: str, host: str = "127.0.0.1", port: int = 3128) -> Forwarder:
    """Listen on TCP ``host:port`` now and forward each connection to ``unix_path`` from a daemon thread.

    The listening socket is bound before this returns (a bind error raises here); the returned thread
    is already started. Port 0 picks a free port: read it from ``.address``.
    """
    forwarder = Forwarder(unix_path, host, port)
    forwarder.start()
    return forwarder
