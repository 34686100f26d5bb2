"""The tool contract: what a tool asks for, how it is called, which version ran, and what a call returned.

Owns ``Permissions``, ``Param``, ``ToolSpec`` (what the contract stage reads from the source), ``Interface``
(what the registry records and surfaces offer), ``ToolRef`` (one reviewed version) and ``CallResult``. It does
not parse sources (``stages/contract``) or run calls (``calls.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

from toolfoundry.core.words import JSON


@dataclass(frozen=True, slots=True, kw_only=True)
class Permissions:
    """What a tool asks for beyond pure computation. Empty means default deny everywhere."""

    net_hosts: tuple[str, ...] = ()
    """Hosts (``name`` or ``name:port``) the tool may reach; empty → no network."""
    env_vars: tuple[str, ...] = ()
    """Environment variables the tool may read; empty → none."""

    def any(self) -> bool:
        """True when the tool asks for any permission at all."""
        return bool(self.net_hosts or self.env_vars)

    def to_json(self) -> dict[str, JSON]:
        """The permissions as written into ``tool.toml`` and JSON outputs."""
        return {"net_hosts": list(self.net_hosts), "env_vars": list(self.env_vars)}

    @classmethod
    def from_json(cls, data: dict[str, JSON]) -> Permissions:
        """The permissions ``to_json`` wrote."""
        return cls(net_hosts=tuple(data.get("net_hosts") or ()), env_vars=tuple(data.get("env_vars") or ()))


@dataclass(frozen=True, slots=True, kw_only=True)
class Param:
    """One parameter of a tool's public function."""

    name: str
    """The parameter's name (a Python identifier)."""
    annotation: str
    """The annotation as written in the source, e.g. ``list[int] | None``."""
    schema: dict[str, JSON]
    """JSON Schema for the parameter's value (including ``default`` when it has one)."""
    required: bool
    """False when the parameter has a default."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolSpec:
    """What the contract module learns from a tool's source: its interface, no behaviour."""

    name: str
    """The tool's name: a lowercase identifier, unique in the registry."""
    function: str
    """The name of the single public function in the module."""
    description: str
    """The function's docstring: what other agents are shown."""
    module_doc: str
    """The module's docstring."""
    params: tuple[Param, ...]
    """The parameters, in order."""
    args_schema: dict[str, JSON]
    """JSON Schema (type object) for the keyword arguments."""
    result_schema: dict[str, JSON]
    """JSON Schema for the return value."""
    signature: str
    """Canonical signature text, e.g. ``(text: str, width: int = 80) -> str``; compared across versions."""
    imports: tuple[str, ...] = ()
    """Top-level module names imported anywhere in the source (``os.path`` → ``os``)."""

    @property
    def interface(self) -> Interface:
        """How the tool is called, as the registry records it at deploy."""
        return Interface(name=self.name, function=self.function, description=self.description,
                         signature=self.signature, args_schema=self.args_schema, result_schema=self.result_schema)

    def to_json(self) -> dict[str, JSON]:
        """The spec as JSON (its interface: for the registry, `tools --json` and MCP)."""
        return self.interface.to_json()


@dataclass(frozen=True, slots=True, kw_only=True)
class Interface:
    """How a deployed tool is called: what the registry records at deploy and every surface offers."""

    name: str
    """The tool's name."""
    function: str
    """The public function the sandbox calls."""
    description: str
    """The function's docstring: what agents are shown."""
    signature: str
    """Canonical signature text, e.g. ``(text: str, width: int = 80) -> str``."""
    args_schema: dict[str, JSON]
    """JSON Schema (type object) the arguments of a call are validated against."""
    result_schema: dict[str, JSON]
    """JSON Schema a call's result is checked against."""

    @property
    def summary(self) -> str:
        """The first line of the description ("" when there is none)."""
        return self.description.splitlines()[0] if self.description else ""

    def to_json(self) -> dict[str, JSON]:
        """As stored in the registry (``spec``) and offered over MCP and the adapters."""
        return {"name": self.name, "function": self.function, "description": self.description,
                "signature": self.signature, "args_schema": self.args_schema, "result_schema": self.result_schema}

    @classmethod
    def from_json(cls, data: dict[str, JSON]) -> Interface:
        """The interface ``to_json`` wrote."""
        return cls(name=str(data["name"]), function=str(data["function"]), description=str(data["description"]),
                   signature=str(data["signature"]), args_schema=dict(data["args_schema"]),
                   result_schema=dict(data["result_schema"]))


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolRef:
    """A specific deployed (or deployable) version of a tool."""

    name: str
    """The tool's name."""
    version: int
    """1 for the first deployed version of a name, then 2, 3, ..."""
    sha256: str
    """sha256 of ``tool.py`` as reviewed."""
    commit: str | None = None
    """The merge commit on ``main`` that holds these bytes (None before merge)."""

    def to_json(self) -> dict[str, JSON]:
        """The reference as `propose --json` prints it under ``tool``."""
        return {"name": self.name, "version": self.version, "sha256": self.sha256, "commit": self.commit}

    @classmethod
    def from_json(cls, data: dict[str, JSON]) -> ToolRef:
        """The reference ``to_json`` wrote."""
        return cls(name=str(data["name"]), version=int(data["version"]), sha256=str(data["sha256"]),
                   commit=data.get("commit"))


@dataclass(frozen=True, slots=True, kw_only=True)
class CallResult:
    """The result of calling a deployed tool, as `call --json` prints it."""

    ok: bool
    """True when the tool returned a value."""
    result: JSON = None
    """The value returned, when ``ok``."""
    error: dict[str, JSON] | None = None
    """``{"type": ..., "message": ...}`` when not ``ok``."""
    tool: ToolRef | None = None
    """The exact version that ran."""
    ms: float = 0.0
    """Wall time of the call, in milliseconds."""

    @classmethod
    def failed(cls, error_type: str, message: str) -> CallResult:
        """A call that did not return a value: ``error_type`` (``ValueError``, ``Timeout``, ``UsageError``, ...)."""
        return cls(ok=False, error={"type": error_type, "message": message})

    def error_text(self) -> str:
        """``<type>: <message>``: how every surface tells a model that the call failed."""
        error = self.error or {}
        return f"{error.get('type', 'Error')}: {error.get('message', '')}"

    def to_json(self) -> dict[str, JSON]:
        """``{"ok": true, "result": ...}`` or ``{"ok": false, "error": {...}}``."""
        if self.ok:
            return {"ok": True, "result": self.result}
        return {"ok": False, "error": self.error or {}}
