"""Recording model exchanges: every call of a model saved as one JSON file, for replay by ``scripted:DIR``.

``--record DIR`` (or ``[generation] record``) wraps each model a home builds in a :class:`RecordingModel`.
Each call becomes ``DIR/NNNN.json`` (numbered in the order the calls finished, across every model of the
process) holding the request (messages, tools, max_tokens), the reply (text and tool calls), the usage,
the finish reason, the model that answered and whether it calls tools natively (``native_tools``: a replay
speaks the same tool protocol to the agent as the run it replays). Failed calls are saved too, with the error, so a transcript
shows everything that happened; replay skips them. The files hold prompts and replies in clear: treat
the directory like the audit log's material, not like a log to share. No secret is written (API keys
never reach a model's messages).
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from toolfoundry.core import JSON
from toolfoundry.errors import ModelError, UsageError
from toolfoundry.models.types import Completion, Message, Model

FORMAT = "toolfoundry.exchange/1"
"""The ``format`` field of every recorded exchange."""

_LOCK = threading.Lock()


def message_json(m: Message) -> dict[str, JSON]:
    """A message as recorded (and as ``scripted:`` reads an assistant message back)."""
    out: dict[str, JSON] = {"role": m.role, "content": m.content}
    if m.tool_calls:
        out["tool_calls"] = [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in m.tool_calls]
    if m.tool_call_id:
        out["tool_call_id"] = m.tool_call_id
    return out


def exchange_files(directory: Path) -> list[Path]:
    """The recorded exchanges of ``directory``, in the order they were made."""
    return sorted(p for p in directory.glob("[0-9]*.json") if p.stem.isdigit())


class RecordingModel:
    """A model whose every exchange is saved in ``directory`` (created if missing)."""

    def __init__(self, model: Model, directory: str | Path) -> None:
        self.inner = model
        self.name = model.name
        self.directory = Path(directory)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"cannot record model exchanges in {self.directory}: {exc.strerror or exc}") from exc

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.inner, attr)  # native_tools, settings, ... of the wrapped model

    def close(self) -> None:
        """Close the wrapped model."""
        close = getattr(self.inner, "close", None)
        if callable(close):
            close()

    def complete(self, messages: list[Message], *, tools: list[dict[str, JSON]] | None = None,
                 max_tokens: int | None = None) -> Completion:
        """The wrapped model's completion, saved (or its error, saved and raised again)."""
        request: dict[str, JSON] = {"messages": [message_json(m) for m in messages], "tools": tools,
                                    "max_tokens": max_tokens}
        start = time.perf_counter()
        try:
            done = self.inner.complete(messages, tools=tools, max_tokens=max_tokens)
        except ModelError as exc:
            self._save({"format": FORMAT, "model": self.name, "request": request, "error": str(exc),
                        "seconds": round(time.perf_counter() - start, 3)})
            raise
        self._save({"format": FORMAT, "model": done.model, "request": request,
                    "reply": message_json(done.message), "usage": done.usage.to_json(),
                    "finish_reason": done.finish_reason, "seconds": round(time.perf_counter() - start, 3),
                    "native_tools": bool(getattr(self.inner, "native_tools", True))})
        return done

    def _save(self, exchange: dict[str, JSON]) -> None:
        text = json.dumps(exchange, indent=1, ensure_ascii=False) + "\n"
        with _LOCK:  # numbered across every recorder of the process; O_EXCL guards against other processes
            n = len(exchange_files(self.directory)) + 1
            while True:
                path = self.directory / f"{n:04d}.json"
                try:
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                except FileExistsError:
                    n += 1
                    continue
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    f.write(text)
                return
