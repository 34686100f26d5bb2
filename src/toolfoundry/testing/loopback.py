"""What the loopback stand-ins of this package share: serving a handler in a daemon thread, stopping it, its URL.

``git_http.GitHttpServer``, ``github.FakeGitHub`` and ``fake_openai.FakeOpenAIServer`` differ in what they
answer, not in how they bind, serve and stop; this is that part, once.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["serve", "stop", "url_of"]


def serve(address: tuple[str, int], handler: type[BaseHTTPRequestHandler], *, name: str,
          server_class: type[ThreadingHTTPServer] = ThreadingHTTPServer) -> tuple[ThreadingHTTPServer, threading.Thread]:
    """Bind ``address`` (port 0: a free one) and serve ``handler`` in a daemon thread named ``name``."""
    server = server_class(address, handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=name, daemon=True)
    thread.start()
    return server, thread


def stop(server: ThreadingHTTPServer | None, thread: threading.Thread | None) -> None:
    """Stop serving, close the socket and wait for the thread (either may be None: nothing to do for it)."""
    if server is not None:
        server.shutdown()
        server.server_close()
    if thread is not None:
        thread.join(timeout=5)


def url_of(server: ThreadingHTTPServer) -> str:
    """``http://<host>:<port>`` of a bound server, without a trailing slash."""
    host, port = server.server_address[:2]
    return f"http://{host!s}:{port}"
