"""The tool-repository format: one directory per tool, how its files are named, written and read.

::

    tools/<name>/tool.py          the code: one module, one public function
    tools/<name>/tool.toml        name, version, description, request id, sha256, [permissions]
    tools/<name>/test_tool.py     pytest tests (optional)
    tools/<name>/examples.json    acceptance examples (held-out examples are never written here)

Owns the valid tool names (:data:`NAME_RE`, :func:`name_key`), the paths (:func:`tool_dir`, :func:`tool_path`), the
code digest that identifies reviewed bytes (:func:`code_digest`), the files a version consists of
(:func:`tool_files`, with the manifest), the repository's README, and reading what a user hands us —
a ``tools/<name>/`` directory, or a ``.py`` file plus flags — into a ``Candidate``
(:func:`load_candidate`). Reading refuses anything that is not a regular file and never reads more
than the size limit plus one byte, so a symlink to ``/dev/zero`` or a FIFO is a clear error, not a hang.
Every problem with an input is a ``UsageError`` naming the file (exit 2). It does not judge the code.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import tomllib
from pathlib import Path
from typing import Any

from toolfoundry.core import JSON, Candidate, Example, Permissions, Source, ToolSpec
from toolfoundry.errors import UsageError
from toolfoundry.examples import load_examples
from toolfoundry.jsonlimits import MAX_DEPTH, check_depth

NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,62}\Z")  # \Z: "$" would let a trailing newline in
"""A tool name: it is a directory of the repository, an MCP tool name and a Python identifier.

MCP (2025-11-25, SEP-986) allows 1 to 128 characters of ``A-Z a-z 0-9 _ - .``, case-sensitive; a Python
identifier allows letters, digits and ``_``. Their common part, starting with a letter (a leading ``_``
marks a private helper) and at most 63 characters long (hosts prefix tool names with their server's),
is the rule: ``digit_sum`` and ``digitSum`` are both names, and different ones. Because a directory of a
clone on a case-insensitive file system (macOS, Windows) would merge ``tools/digitSum`` and
``tools/digitsum``, two tools may not have names that differ only in case (:func:`name_key`)."""
NAME_RULE = ("1 to 63 characters: ASCII letters (either case), digits and underscores, starting with a letter"
             " (digit_sum, digitSum)")
""":data:`NAME_RE` in words, for findings."""


def name_key(name: str) -> str:
    """What two tool names must not share unless they are equal: the name with case folded, as a
    case-insensitive file system compares the directory names ``tools/<name>``."""
    return name.casefold()
HOST_RE = re.compile(r"^(?=.{1,253}(:|$))[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                     r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*(?::\d{1,5})?$")
ENV_RE = re.compile(r"^[A-Z_][A-Z0-9_]{0,127}$")
MANIFEST_KEYS = frozenset({"name", "description", "version", "request", "sha256", "permissions"})
MAX_SOURCE_BYTES = 256 * 1024
"""The largest file (tool, tests, examples, manifest) read from a user."""

README = b"""# Tool repository (managed by toolfoundry)

Every tool lives in its own directory:

    tools/<name>/tool.py          the code: one module, one public function
    tools/<name>/tool.toml        name, version, description, permissions, request id
    tools/<name>/test_tool.py     pytest tests (optional)
    tools/<name>/examples.json    acceptance examples: [{"args": {...}, "expect": ...}]

Each proposed tool arrives as a branch `foundry/<request_id>` holding one commit and is merged into
`main` once reviewed. Commits carry trailers (`Foundry-Request`, `Tool-Sha256`, ...) that link them
to the foundry's audit log. Do not push to `main` by hand.
"""
"""The README on ``main`` of a new tool repository."""


def code_digest(code: str | bytes) -> str:
    """The hex sha256 of a tool's code (UTF-8 bytes): what review approves and every load checks."""
    return hashlib.sha256(code.encode("utf-8") if isinstance(code, str) else code).hexdigest()


def tool_dir(name: str) -> str:
    """Where a tool's files live in the tool repository."""
    return f"tools/{name}"


def tool_path(name: str) -> str:
    """Where a tool's module lives in the tool repository."""
    return f"{tool_dir(name)}/tool.py"


def tool_files(candidate: Candidate, spec: ToolSpec, version: int, request_id: str) -> dict[str, bytes]:
    """The files of one version of a tool, as a pull request writes them (held-out examples are not among them)."""
    base = tool_dir(spec.name)
    manifest = {"name": spec.name, "version": version, "description": spec.interface.summary,
                "request": request_id, "sha256": code_digest(candidate.code),
                "permissions": candidate.permissions.to_json()}
    files = {tool_path(spec.name): candidate.code.encode("utf-8"),
             f"{base}/tool.toml": _toml(manifest).encode("utf-8"),
             f"{base}/examples.json": (json.dumps([e.to_json() for e in candidate.examples], indent=2)
                                       + "\n").encode("utf-8")}
    if candidate.tests:
        files[f"{base}/test_tool.py"] = candidate.tests.encode("utf-8")
    return files


def _toml(data: dict[str, JSON]) -> str:
    lines: list[str] = []
    tables: list[str] = []
    for key, value in data.items():
        if isinstance(value, dict):
            tables.append(f"\n[{key}]")
            tables += [f"{k} = {json.dumps(v)}" for k, v in value.items()]
        else:
            lines.append(f"{key} = {json.dumps(value)}")
    text = "\n".join(lines + tables) + "\n"
    tomllib.loads(text)  # what we write must read back
    return text


# ── reading what a user hands us ────────────────────────────────────────────────────────────────


def read_bytes(path: Path, what: str, limit: int = MAX_SOURCE_BYTES) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes, or a UsageError that says which file and why."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except FileNotFoundError:
        raise UsageError(f"{path}: {what} not found") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read {what}: {exc.strerror}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):  # before fdopen, which refuses a directory with its own exception
        os.close(fd)
        kind = "a directory" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else \
            "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode) \
            else "not a regular file"
        raise UsageError(f"{path}: {what} must be a regular file, but it is {kind}")
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise UsageError(f"{path}: {what} is more than {limit} bytes; the limit is {limit}")
    return data


def read_text(path: Path, what: str, limit: int = MAX_SOURCE_BYTES) -> str:
    """A UTF-8 text file (see :func:`read_bytes`), or a UsageError that says which file and why."""
    data = read_bytes(path, what, limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: {what} is not UTF-8 ({exc.reason} at byte {exc.start})") from None


def permissions(net_hosts: list[str], env_vars: list[str], where: str) -> Permissions:
    """Validated permissions; a malformed host or variable name is a UsageError."""
    for host in net_hosts:
        if not isinstance(host, str) or not HOST_RE.match(host):
            raise UsageError(f"{where}: {host!r} is not a host name (expected name or name:port)")
    for var in env_vars:
        if not isinstance(var, str) or not ENV_RE.match(var):
            raise UsageError(f"{where}: {var!r} is not an environment variable name")
    return Permissions(net_hosts=tuple(dict.fromkeys(net_hosts)), env_vars=tuple(dict.fromkeys(env_vars)))


def read_manifest(path: Path) -> dict[str, Any]:
    """A ``tool.toml``, checked: known keys only, ``[permissions]`` lists of strings, ``name`` a string."""
    try:
        data = tomllib.loads(read_text(path, "manifest"))
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not valid TOML: {exc}") from None
    except RecursionError:  # tomllib recurses once a level of nested arrays or tables
        raise UsageError(f"{path} is nested deeper than the limit of {MAX_DEPTH} levels") from None
    check_depth(data, what=str(path))
    unknown = set(data) - MANIFEST_KEYS
    if unknown:
        raise UsageError(f"{path}: unknown key(s) {', '.join(sorted(unknown))}"
                         f" (known: {', '.join(sorted(MANIFEST_KEYS))})")
    perms = data.get("permissions", {})
    if not isinstance(perms, dict) or set(perms) - {"net_hosts", "env_vars"}:
        raise UsageError(f"{path}: [permissions] may hold only net_hosts and env_vars lists")
    for key in ("net_hosts", "env_vars"):
        if not isinstance(perms.get(key, []), list):
            raise UsageError(f"{path}: permissions.{key} must be a list of strings")
    if "name" in data and not isinstance(data["name"], str):
        raise UsageError(f"{path}: name must be a string")
    return data


def load_candidate(path: Path, *, tests: Path | None = None, examples: Path | None = None,
                   holdout: Path | None = None, allow_net: list[str] | None = None,
                   source: Source = "propose") -> Candidate:
    """Read a candidate from a ``.py`` file or a ``tools/<name>/`` directory, plus the CLI's flags."""
    name: str | None = None
    net = list(allow_net or [])
    env: list[str] = []
    if path.is_dir():
        code_path = path / "tool.py"
        manifest_path = path / "tool.toml"
        if manifest_path.exists():
            manifest = read_manifest(manifest_path)
            name = manifest.get("name")
            net = list(manifest.get("permissions", {}).get("net_hosts", [])) + net
            env = list(manifest.get("permissions", {}).get("env_vars", []))
        tests = tests or (path / "test_tool.py" if (path / "test_tool.py").exists() else None)
        examples = examples or (path / "examples.json" if (path / "examples.json").exists() else None)
    elif path.suffix == ".py":
        code_path = path
    elif path.exists():
        raise UsageError(f"{path}: expected a .py file or a tool directory (tools/<name>/ with tool.py)")
    else:
        raise UsageError(f"{path}: no such file or directory")
    code = read_text(code_path, "tool module")
    visible: tuple[Example, ...] = ()
    if examples is not None:
        visible = load_examples(read_text(examples, "examples file"), where=str(examples))
    hidden: tuple[Example, ...] = ()
    if holdout is not None:
        hidden = load_examples(read_text(holdout, "held-out examples file"), where=str(holdout))
    return Candidate(code=code, tests=read_text(tests, "tests file") if tests else None, examples=visible,
                     holdout=hidden, permissions=permissions(net, env, str(path)), name=name, source=source)
