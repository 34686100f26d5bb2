"""A loopback OpenAI-compatible HTTP server that answers from a script of ``Reply`` values.

``FakeOpenAIServer`` serves ``POST /v1/chat/completions``, ``GET /v1/models`` and an Anthropic-style
``POST /v1/messages``, answering each request with the next ``Reply``: text, tool calls (possibly
malformed JSON), prose-wrapped code, HTTP errors with ``Retry-After``, delays longer than a client's
timeout, and non-JSON bodies. Only the standard library is imported here.

Example::

    from toolfoundry.testing import FakeOpenAIServer, Reply

    with FakeOpenAIServer([Reply.error(429, retry_after=1), Reply.text("hi")]) as server:
        model = OpenAIModel("gpt-test", base_url=server.base_url, api_key="x", settings=ModelSettings())
        assert model.complete([Message(role="user", content="hello")]).message.content == "hi"
        assert len(server.requests) == 2
"""

from __future__ import annotations

import json
import sys
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal

from toolfoundry.testing import loopback

__all__ = ["FakeOpenAIServer", "Reply"]

ReplyKind = Literal["message", "error", "delay", "garbage"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Reply:
    """One scripted answer of ``FakeOpenAIServer``. Build it with the class methods, not directly."""

    kind: ReplyKind
    """What the server does: send a ``message``, an HTTP ``error``, wait (``delay``), or send ``garbage``."""
    content: str = ""
    """Assistant text (``message``), error message (``error``) or raw body (``garbage``)."""
    tool_calls: tuple[tuple[str, str], ...] = ()
    """``(name, raw JSON arguments)`` of each tool call in a ``message``; the text may be malformed."""
    status: int = 200
    """HTTP status of an ``error``."""
    retry_after: str | None = None
    """Value of the ``Retry-After`` header of an ``error`` (seconds or an HTTP date), if any."""
    seconds: float = 0.0
    """How long a ``delay`` waits before answering with ``then``."""
    then: Reply | None = None
    """What a ``delay`` sends once it has waited (it usually arrives after the client gave up)."""
    content_type: str = "application/json"
    """Content type of a ``garbage`` body."""
    usage: tuple[int, int] | None = None
    """``(prompt_tokens, completion_tokens)`` to report; None → estimated as characters / 4."""
    finish_reason: str | None = None
    """Reported finish reason; None → ``tool_calls`` when there are tool calls, else ``stop``."""

    @classmethod
    def text(cls, content: str, *, usage: tuple[int, int] | None = None,
             finish_reason: str | None = None) -> Reply:
        """A plain assistant message."""
        return cls(kind="message", content=content, usage=usage, finish_reason=finish_reason)

    @classmethod
    def tool_call(cls, name: str, arguments: dict[str, Any] | str, *, content: str = "",
                  usage: tuple[int, int] | None = None) -> Reply:
        """An assistant message calling one tool; a ``str`` is sent as the raw arguments text."""
        return cls.tool_calls_of([(name, arguments)], content=content, usage=usage)

    @classmethod
    def tool_calls_of(cls, calls: Iterable[tuple[str, dict[str, Any] | str]], *, content: str = "",
                      usage: tuple[int, int] | None = None) -> Reply:
        """An assistant message calling several tools, in order."""
        raw = tuple((name, args if isinstance(args, str) else json.dumps(args)) for name, args in calls)
        return cls(kind="message", content=content, tool_calls=raw, usage=usage)

    @classmethod
    def raw_tool_call(cls, name: str, raw_arguments: str) -> Reply:
        """A tool call whose arguments text is sent exactly as given (e.g. ``"{not json"``)."""
        return cls(kind="message", tool_calls=((name, raw_arguments),))

    @classmethod
    def code(cls, source: str, *, language: str = "python", before: str = "Here is the code:",
             after: str = "Let me know if you need changes.") -> Reply:
        """Code in a fenced block wrapped in prose, as chat models tend to answer."""
        return cls.text(f"{before}\n\n```{language}\n{source.rstrip()}\n```\n\n{after}")

    @classmethod
    def error(cls, status: int, *, retry_after: float | str | None = None, message: str | None = None) -> Reply:
        """An HTTP error with an OpenAI-style error body and an optional ``Retry-After`` header."""
        header = None if retry_after is None else (
            retry_after if isinstance(retry_after, str) else f"{retry_after:g}")
        return cls(kind="error", status=status, retry_after=header,
                   content=message or f"fake server error {status}")

    @classmethod
    def delay(cls, seconds: float, then: Reply | None = None) -> Reply:
        """Wait ``seconds`` before answering with ``then`` (default: a short text) — to test timeouts."""
        return cls(kind="delay", seconds=seconds, then=then or cls.text("(late answer)"))

    @classmethod
    def garbage(cls, body: str = "<html>502 Bad Gateway, this is not JSON {", *,
                content_type: str = "application/json") -> Reply:
        """A 200 response whose body is not valid JSON."""
        return cls(kind="garbage", content=body, content_type=content_type)


def _estimate(text: str) -> int:
    return max(1, len(text) // 4)


class FakeOpenAIServer:
    """A loopback OpenAI-compatible HTTP server answering from a script, in a background thread.

    Use it as a context manager. ``base_url`` is the OpenAI base URL (ending in ``/v1``); ``root_url``
    is the bare origin (what the Anthropic SDK wants). Every JSON request body is appended to
    ``requests`` (and its headers, lower-cased, to ``headers``). Each completion request consumes the
    next ``Reply``; when the script is exhausted the server answers ``default`` if given, else a 500
    whose message says so.
    """

    def __init__(self, script: Iterable[Reply] = (), *, default: Reply | None = None,
                 model: str = "fake-model") -> None:
        self.requests: list[dict[str, Any]] = []
        """Every JSON body received on a completion endpoint, in order."""
        self.headers: list[dict[str, str]] = []
        """The headers (lower-cased names) of each request in ``requests``."""
        self.default = default
        self.model = model
        self._script: deque[Reply] = deque(script)
        self._served = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ── lifecycle ──

    def start(self) -> FakeOpenAIServer:
        """Bind 127.0.0.1 on a free port and serve in a daemon thread."""
        handler = type("Handler", (_Handler,), {"fake": self})
        self._httpd, self._thread = loopback.serve(("127.0.0.1", 0), handler, name="FakeOpenAIServer",
                                                   server_class=_QuietServer)
        return self

    def stop(self) -> None:
        """Stop serving; wakes any pending ``delay``."""
        self._stopping.set()
        loopback.stop(self._httpd, self._thread)
        self._httpd = self._thread = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def root_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        if self._httpd is None:
            raise RuntimeError("FakeOpenAIServer is not started; use it as a context manager")
        return loopback.url_of(self._httpd)

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1`` — pass it as the OpenAI base URL."""
        return self.root_url + "/v1"

    # ── script ──

    def add(self, *replies: Reply) -> None:
        """Append replies to the script."""
        with self._lock:
            self._script.extend(replies)

    @property
    def remaining(self) -> int:
        """Replies not yet consumed."""
        with self._lock:
            return len(self._script)

    def _next(self, body: dict[str, Any], headers: dict[str, str]) -> Reply:
        with self._lock:
            self.requests.append(body)
            self.headers.append(headers)
            if self._script:
                self._served += 1
                return self._script.popleft()
            if self.default is not None:
                return self.default
            return Reply.error(500, message=f"FakeOpenAIServer: script exhausted after {self._served} "
                                            f"responses (request #{len(self.requests)} has no reply)")

    def _wait(self, seconds: float) -> bool:
        """Sleep, unless the server stops first. True when it slept the whole time."""
        return not self._stopping.wait(seconds)


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (after its timeout) is expected here, not an error worth a traceback."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    fake: FakeOpenAIServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request log lines."""

    def do_GET(self) -> None:
        if self.path.rstrip("/") in ("/v1/models", "/models"):
            self._json(200, {"object": "list", "data": [
                {"id": self.fake.model, "object": "model", "created": 0, "owned_by": "toolfoundry-fake"}]})
        else:
            self._json(404, {"error": {"message": f"no route GET {self.path}", "type": "not_found"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length)
        anthropic = self.path.rstrip("/") in ("/v1/messages", "/messages")
        if not anthropic and self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
            self._json(404, {"error": {"message": f"no route POST {self.path}", "type": "not_found"}})
            return
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError as exc:
            self._json(400, {"error": {"message": f"request body is not JSON: {exc}", "type": "invalid_request"}})
            return
        if body.get("stream"):
            self._json(400, {"error": {"message": "FakeOpenAIServer does not stream; send stream=false",
                                       "type": "invalid_request"}})
            return
        reply = self.fake._next(body, {k.lower(): v for k, v in self.headers.items()})
        while reply.kind == "delay":
            if not self.fake._wait(reply.seconds):
                return
            reply = reply.then or Reply.text("")
        self._answer(reply, body, anthropic)

    def _answer(self, reply: Reply, body: dict[str, Any], anthropic: bool) -> None:
        if reply.kind == "garbage":
            self._send(200, reply.content.encode(), reply.content_type)
        elif reply.kind == "error":
            extra = {} if reply.retry_after is None else {"Retry-After": reply.retry_after}
            if anthropic:
                err = {"type": "error", "error": {"type": "api_error", "message": reply.content}}
            else:
                err = {"error": {"message": reply.content, "type": "fake_error", "code": str(reply.status)}}
            self._json(reply.status, err, extra)
        else:
            prompt = json.dumps(body.get("messages", [])) + str(body.get("system", ""))
            answer = reply.content + "".join(name + args for name, args in reply.tool_calls)
            usage = reply.usage or (_estimate(prompt), _estimate(answer))
            self._json(200, _anthropic_message(reply, body, usage) if anthropic
                       else _openai_completion(reply, body, usage, self.fake.model))

    def _json(self, status: int, payload: object, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json", headers)

    def _send(self, status: int, data: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


def _openai_completion(reply: Reply, body: dict[str, Any], usage: tuple[int, int], model: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.content or None}
    if reply.tool_calls:
        message["tool_calls"] = [
            {"id": f"call_{i}", "type": "function", "function": {"name": name, "arguments": args}}
            for i, (name, args) in enumerate(reply.tool_calls)]
    finish = reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")
    return {"id": "chatcmpl-fake", "object": "chat.completion", "created": 0,
            "model": body.get("model", model),
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1],
                      "total_tokens": usage[0] + usage[1]}}


def _anthropic_message(reply: Reply, body: dict[str, Any], usage: tuple[int, int]) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [{"type": "text", "text": reply.content}] if reply.content else []
    for i, (name, args) in enumerate(reply.tool_calls):
        try:
            tool_input = json.loads(args)
        except json.JSONDecodeError:
            tool_input = {"_unparsed": args}  # Anthropic always sends an object; keep the text visible
        blocks.append({"type": "tool_use", "id": f"toolu_{i}", "name": name, "input": tool_input})
    stop = reply.finish_reason or ("tool_use" if reply.tool_calls else "end_turn")
    return {"id": "msg_fake", "type": "message", "role": "assistant", "model": body.get("model", "fake"),
            "content": blocks, "stop_reason": stop, "stop_sequence": None,
            "usage": {"input_tokens": usage[0], "output_tokens": usage[1]}}
