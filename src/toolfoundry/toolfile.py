"""Turning what a user hands us (a ``.py`` file plus flags, or a ``tools/<name>/`` directory) into a Candidate.

Owns reading and validating the input files; every problem is a ``UsageError`` naming the file and the
reason (exit 2), and nothing is proposed. It does not judge the code: that is the pipeline's job.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from toolfoundry.core import Candidate, Example, Permissions, Source
from toolfoundry.errors import UsageError
from toolfoundry.examples import load_examples

HOST_RE = re.compile(r"^(?=.{1,253}(:|$))[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                     r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*(?::\d{1,5})?$")
ENV_RE = re.compile(r"^[A-Z_][A-Z0-9_]{0,127}$")
_MANIFEST_KEYS = {"name", "description", "version", "request", "sha256", "permissions"}
MAX_SOURCE_BYTES = 256 * 1024


def read_text(path: Path, what: str, limit: int = MAX_SOURCE_BYTES) -> str:
    """A UTF-8 text file, or a UsageError that says which file and why."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{path}: {what} not found") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read {what}: {exc.strerror}") from None
    if len(data) > limit:
        raise UsageError(f"{path}: {what} is {len(data)} bytes; the limit is {limit}")
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


def _manifest(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(read_text(path, "manifest"))
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not valid TOML: {exc}") from None
    unknown = set(data) - _MANIFEST_KEYS
    if unknown:
        raise UsageError(f"{path}: unknown key(s) {', '.join(sorted(unknown))}"
                         f" (known: {', '.join(sorted(_MANIFEST_KEYS))})")
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
        if manifest_path.is_file():
            manifest = _manifest(manifest_path)
            name = manifest.get("name")
            net = list(manifest.get("permissions", {}).get("net_hosts", [])) + net
            env = list(manifest.get("permissions", {}).get("env_vars", []))
        tests = tests or (path / "test_tool.py" if (path / "test_tool.py").is_file() else None)
        examples = examples or (path / "examples.json" if (path / "examples.json").is_file() else None)
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
