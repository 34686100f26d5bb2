"""Answering ``initialize`` over stdio before the MCP SDK is imported, so a host's connect never waits for it.

Importing the SDK (``mcp`` with ``mcp_types``' pydantic models for two protocol eras) takes most of a second
on a quiet machine and far longer on a loaded one, and hosts give up on ``initialize`` after a timeout
(the MCP Inspector's is 15 s). So ``toolfoundry serve`` takes the wire first: :class:`EarlyStdio` moves the
process's stdin and stdout to private descriptors (fd 0 reads the null device and fd 1 writes to stderr
from then on, so nothing stray reaches the protocol stream), reads the first line on a thread while the
SDK loads, and when it is a handshake-era ``initialize`` it answers at once, with exactly the reply the
SDK would give (``tests/surfaces/test_mcp_early.py`` compares them). The SDK then serves the same wire:
it is handed that first message too (so its session knows the client) and its own reply to it is dropped.
Anything else first (``server/discover``, a malformed line) is left to the SDK as it is. Nothing here
imports the SDK; ``transport.py`` does the handing over.
"""

from __future__ import annotations

import io
import json
import os
import threading
from typing import Any

__all__ = ["HANDSHAKE_VERSIONS", "EarlyStdio", "initialize_reply", "instructions"]

HANDSHAKE_VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
"""The handshake-era protocol versions the SDK accepts in ``initialize`` (``mcp_types.version``), oldest first."""


def instructions(*, generates: bool) -> str:
    """What the server tells a client at ``initialize``."""
    ask = ("call request_capability (a model writes the tool) or propose_tool (you write it)" if generates else
           "write the tool and call propose_tool (this server has no model to write tools for you)")
    return (f"Deployed tools run in a sandbox. When you lack a capability, {ask}; when it is deployed the tool list"
            f" changes and you can call it. If your tool list does not change, search_tools finds any deployed"
            f" tool with its input schema and call_tool calls it by name.")


def initialize_reply(message: object, *, text: str, version: str) -> dict[str, Any] | None:
    """The SDK's reply to ``message`` if it is a well-formed handshake-era ``initialize``; None otherwise."""
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0" or message.get("method") != "initialize":
        return None
    rid, params = message.get("id"), message.get("params")
    if isinstance(rid, bool) or not isinstance(rid, int | str) or not isinstance(params, dict):
        return None
    info, wanted = params.get("clientInfo"), params.get("protocolVersion")
    if wanted not in HANDSHAKE_VERSIONS or not isinstance(params.get("capabilities"), dict) \
            or not isinstance(info, dict) or not isinstance(info.get("name"), str) \
            or not isinstance(info.get("version"), str):
        return None
    return {"jsonrpc": "2.0", "id": rid, "result": {
        "capabilities": {"tools": {"listChanged": True}}, "instructions": text, "protocolVersion": wanted,
        "serverInfo": {"name": "toolfoundry", "title": "toolfoundry", "version": version}}}


class EarlyStdio:
    """The stdio wire, taken over at start; the first line read (and answered, when it is ``initialize``)."""

    def __init__(self, *, text: str, version: str) -> None:
        self._text, self._version = text, version
        self.wire_in = os.fdopen(os.dup(0), "rb")  # buffered: what the first read brought beyond line one stays
        self.wire_out = os.fdopen(os.dup(1), "wb")
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        os.dup2(2, 1)
        self._first: bytes = b""
        self.answered: int | str | None = None
        """The id of the ``initialize`` answered here (the SDK's own reply to it must be dropped)."""
        self._thread = threading.Thread(target=self._read_first, name="toolfoundry-early-initialize", daemon=True)
        self._thread.start()

    def _read_first(self) -> None:
        self._first = self.wire_in.readline()
        try:
            message = json.loads(self._first)
        except ValueError:
            return
        reply = initialize_reply(message, text=self._text, version=self._version)
        if reply is not None:
            self.wire_out.write(json.dumps(reply, separators=(",", ":")).encode() + b"\n")
            self.wire_out.flush()
            self.answered = reply["id"]

    def first_line(self) -> bytes:
        """The first line the client sent (b"" if it closed stdin at once); waits for it."""
        self._thread.join()
        return self._first

    def text_streams(self) -> tuple[io.TextIOWrapper, io.TextIOWrapper]:
        """The wire as UTF-8 text, for the SDK: (in, out). Reading goes on after the first line."""
        return (io.TextIOWrapper(self.wire_in, encoding="utf-8", errors="replace"),
                io.TextIOWrapper(self.wire_out, encoding="utf-8", write_through=True))
