"""The ``scripted`` backend: replays recorded responses, in order, from a JSON file, a list, or a directory of
exchanges recorded with ``--record`` (tests, fixtures of real model runs, and the demo)."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from toolfoundry.core import JSON
from toolfoundry.errors import ModelError, UsageError
from toolfoundry.models.record import exchange_files
from toolfoundry.models.retry import estimate_tokens, text_of
from toolfoundry.models.settings import ModelSettings
from toolfoundry.models.types import Completion, Message, ToolCall

Entry = tuple[Message, dict[str, Any] | None, str | None]
"""A scripted response: the assistant message, its usage (None: estimated), its finish reason."""


def _scripted_entry(entry: object, where: str, index: int) -> Entry:
    if isinstance(entry, str):
        return Message(role="assistant", content=entry), None, None
    if isinstance(entry, dict) and isinstance(entry.get("reply"), dict):  # a recorded exchange
        message, _, _ = _scripted_entry(entry["reply"], where, index)
        finish = entry.get("finish_reason")
        usage = entry.get("usage")
        if usage is not None and not isinstance(usage, dict):
            raise UsageError(f"{where}: 'usage' must be an object with prompt_tokens and completion_tokens")
        return message, usage, finish if isinstance(finish, str) else None
    if not isinstance(entry, dict) or not isinstance(entry.get("content", ""), str):
        raise UsageError(f"{where}: expected a string or an object with 'content' and/or 'tool_calls'"
                         " (or a recorded exchange with a 'reply')")
    calls = []
    for i, call in enumerate(entry.get("tool_calls") or []):
        if not isinstance(call, dict) or not isinstance(call.get("name"), str):
            raise UsageError(f"{where}: tool call {i} needs a 'name'")
        args = call.get("arguments", {})
        raw = args if isinstance(args, str) else json.dumps(args)
        calls.append(ToolCall(id=str(call.get("id") or f"call_{index}_{i}"),
                              name=call["name"], arguments=raw))
    usage = entry.get("usage")
    if usage is not None and not isinstance(usage, dict):
        raise UsageError(f"{where}: 'usage' must be an object with prompt_tokens and completion_tokens")
    finish = entry.get("finish_reason")
    return (Message(role="assistant", content=entry.get("content", ""), tool_calls=tuple(calls)), usage,
            finish if isinstance(finish, str) else None)


def _read_json(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"scripted model file not found: {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"scripted model file {path} is not readable JSON: {exc}") from exc


def _recorded(directory: Path) -> list[object]:
    """The replies of a directory recorded with ``--record``, in order; failed calls are skipped."""
    entries = [_read_json(p) for p in exchange_files(directory)]
    if not entries:
        raise UsageError(f"scripted model directory {directory} holds no recorded exchange (NNNN.json)")
    return [e for e in entries if not (isinstance(e, dict) and "error" in e and "reply" not in e)]


class ScriptedModel:
    """Replays recorded responses in order (``scripted:<file or directory>``), and records what it was sent.

    The script is a JSON list; each entry is assistant text, or ``{"content": ..., "tool_calls":
    [{"name": ..., "arguments": {...} or "raw text"}], "usage": {"prompt_tokens": n,
    "completion_tokens": m}, "finish_reason": "stop"}``, or an exchange recorded with ``--record``. A
    directory holds such exchanges, one ``NNNN.json`` each (``models/record.py``). Without ``usage``,
    tokens are estimated as characters / 4.
    """

    def __init__(self, path_or_responses: str | Path | Sequence[str | dict[str, JSON]], *,
                 name: str | None = None, settings: ModelSettings | None = None) -> None:
        if isinstance(path_or_responses, str | Path):
            path = Path(path_or_responses)
            entries = _recorded(path) if path.is_dir() else _read_json(path)
            if not isinstance(entries, list):
                raise UsageError(f"scripted model file {path} must hold a JSON list of responses")
            label = str(path)
        else:
            entries, label = list(path_or_responses), "inline"
        self.native_tools = all(e.get("native_tools", True) is not False for e in entries if isinstance(e, dict))
        """False when the recorded model had no native tool calling (a ``local:`` run): the agent then speaks
        the text protocol to the replay, as it did to the model."""
        self.name = name or f"scripted:{label}"
        self.settings = settings or ModelSettings()
        self._script = [_scripted_entry(e, f"{label}: response {i}", i) for i, e in enumerate(entries)]
        self._lock = threading.Lock()
        self.received: list[list[Message]] = []
        """The messages of every ``complete`` call, in order."""

    @classmethod
    def from_spec(cls, name: str, *, settings: ModelSettings, environ: Mapping[str, str]) -> ScriptedModel:
        """``scripted:<file>`` (the JSON script) or ``scripted:<directory>`` (exchanges recorded with ``--record``)."""
        return cls(Path(name), name=f"scripted:{name}", settings=settings)

    @property
    def remaining(self) -> int:
        """Responses not yet replayed."""
        return len(self._script) - len(self.received)

    def complete(self, messages: list[Message], *, tools: list[dict[str, JSON]] | None = None,
                 max_tokens: int | None = None) -> Completion:
        """The next recorded response; ``ModelError`` once the script is exhausted."""
        with self._lock:
            index = len(self.received)
            self.received.append(list(messages))
        if index >= len(self._script):
            raise ModelError(f"{self.name}: scripted model ran out of responses after {len(self._script)}")
        message, usage, finish = self._script[index]
        prompt = int(usage.get("prompt_tokens", 0)) if usage else estimate_tokens(text_of(messages))
        output = int(usage.get("completion_tokens", 0)) if usage else estimate_tokens(text_of([message]))
        return Completion(message=message, usage=self.settings.usage(prompt, output), model=self.name,
                          finish_reason=finish or ("tool_calls" if message.tool_calls else "stop"))
