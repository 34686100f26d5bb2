"""Generation: from a described need (and visible examples) to candidate files, via a Model.

Owns the prompts (``prompts/*.md``), building the messages for the three kinds of call (draft a spec,
write the tool, refine it with findings) and parsing what models answer, however messy: prose around
code, several fenced blocks, missing fences, JSON inside prose. Unusable output is a finding, never a
crash. It does not call the model (the workflow does, as checkpointed steps) and never sees held-out
examples: nothing here accepts them.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

from toolfoundry.core import Example, Finding, Permissions
from toolfoundry.models.replies import json_objects
from toolfoundry.models.types import Message
from toolfoundry.toolfile import NAME_RE, NAME_RULE

_FENCE = re.compile(r"```[ \t]*([\w.+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)


@cache
def prompt(name: str) -> str:
    """The text of ``prompts/<name>.md``."""
    return resources.files("toolfoundry").joinpath("prompts", f"{name}.md").read_text(encoding="utf-8")


@dataclass(frozen=True, slots=True, kw_only=True)
class DraftSpec:
    """What the model proposes to build, before any code."""

    name: str
    """The tool's name (snake_case)."""
    signature: str
    """``(arg: type, ...) -> type``."""
    description: str
    """What other agents will read."""
    permissions: Permissions
    """What the model says the tool needs."""


def _examples_text(examples: tuple[Example, ...]) -> str:
    if not examples:
        return "(none given)"
    return "\n".join(json.dumps(e.to_json(), ensure_ascii=False) for e in examples)


def spec_messages(need: str, examples: tuple[Example, ...]) -> list[Message]:
    """Ask the model to draft a spec (name, signature, description, permissions)."""
    return [Message(role="user", content=prompt("spec").format(need=need, examples=_examples_text(examples)))]


def generate_messages(spec: DraftSpec, examples: tuple[Example, ...]) -> list[Message]:
    """Ask the model to write tool.py and test_tool.py for ``spec``."""
    net = spec.permissions.net_hosts
    text = prompt("generate").format(
        name=spec.name, signature=spec.signature, description=spec.description,
        permissions=json.dumps(spec.permissions.to_json()), examples=_examples_text(examples),
        net_note=f" (urllib.request is allowed: the tool may reach {', '.join(net)})" if net else "")
    return [Message(role="user", content=text)]


def refine_messages(first: list[Message], last_reply: str, findings: list[Finding], history: list[str],
                    attempt: int, max_attempts: int) -> list[Message]:
    """The generation conversation, extended with the last reply and what was wrong with it."""
    text = prompt("refine").format(attempt=attempt, max_attempts=max_attempts,
                                   findings=format_findings(findings),
                                   history="\n".join(f"- {h}" for h in history) or "- (none)")
    return [*first, Message(role="assistant", content=last_reply), Message(role="user", content=text)]


ADVISORY_MARK = "(advisory: does not block) "
"""How a warning is marked for the model, so that it fixes blocking findings first."""


def format_findings(findings: list[Finding], limit: int = 20) -> str:
    """Findings as a model reads them best: one bullet each, with location, input, expected and actual.
    Blocking ones (errors) come first; advisory ones (warnings: mypy, style, low-risk bandit) follow, marked."""
    lines: list[str] = []
    ranked = [f for f in findings if f.severity == "error"] + [f for f in findings if f.severity == "warning"]
    for f in ranked[:limit]:
        lines.append(f"- {'' if f.severity == 'error' else ADVISORY_MARK}{f.headline()}")
        for label, value in (("input", f.input), ("expected", f.expected), ("actual", f.actual)):
            if value is not None:
                lines.append(f"  {label}: {json.dumps(value, ensure_ascii=False)[:300]}")
    return "\n".join(lines) or "- (no details)"


def parse_spec(text: str) -> tuple[DraftSpec | None, list[Finding]]:
    """A DraftSpec from the model's reply, or findings saying what was unusable."""
    data = next(json_objects(text), None)
    if data is None:
        return None, [Finding(code="generate.no-spec", message="the reply holds no JSON object with the spec;"
                              " reply with one JSON object: name, signature, description, permissions")]
    problems: list[str] = []
    name = data.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        problems.append(f"name {name!r} is not a tool name: use snake_case (or camelCase), {NAME_RULE}")
    signature = data.get("signature")
    if not isinstance(signature, str) or not signature.strip().startswith("("):
        problems.append("signature must be a string like '(text: str) -> str'")
    description = data.get("description")
    if not isinstance(description, str) or not description.strip():
        problems.append("description must be a non-empty string")
    perms = data.get("permissions") or {}
    if not isinstance(perms, dict):
        problems.append("permissions must be an object with net_hosts and env_vars lists")
        perms = {}
    hosts, env = perms.get("net_hosts") or [], perms.get("env_vars") or []
    if not (isinstance(hosts, list) and all(isinstance(h, str) for h in hosts)
            and isinstance(env, list) and all(isinstance(e, str) for e in env)):
        problems.append("permissions.net_hosts and permissions.env_vars must be lists of strings")
        hosts, env = [], []
    if problems:
        return None, [Finding(code="generate.bad-spec", message="; ".join(problems))]
    assert isinstance(name, str) and isinstance(signature, str) and isinstance(description, str)
    return DraftSpec(name=name, signature=signature.strip(), description=description.strip(),
                     permissions=Permissions(net_hosts=tuple(hosts), env_vars=tuple(env))), []


def _is_tests(code: str) -> bool:
    return bool(re.search(r"^\s*def test_", code, re.MULTILINE)) or "import pytest" in code


def _parses(code: str) -> bool:
    try:
        ast.parse(code)
    except SyntaxError:
        return False
    return True


def parse_code(text: str) -> tuple[str | None, str | None, list[Finding]]:
    """(tool.py, test_tool.py, findings) from a model's reply: fenced blocks in any order, or bare code."""
    blocks = [body for lang, body in _FENCE.findall(text)
              if lang.lower() in ("", "python", "py", "python3") and body.strip()]
    if not blocks and _parses(text) and re.search(r"^def \w+", text, re.MULTILINE):
        blocks = [text]  # no fences at all, but the whole reply is Python
    tests = next((b for b in blocks if _is_tests(b)), None)
    tools = [b for b in blocks if b is not tests and not _is_tests(b) and re.search(r"^def \w+", b, re.MULTILINE)]
    if not tools:
        return None, None, [Finding(code="generate.no-code", message=(
            "the reply holds no Python module with a top-level function; reply with a ```python block for"
            " tool.py (then one for test_tool.py)"))]
    findings: list[Finding] = []
    if len(tools) > 1:
        findings.append(Finding(code="generate.several-modules", severity="warning",
                                message=f"the reply holds {len(tools)} candidate modules; the first was used"))
    return tools[0].strip() + "\n", (tests.strip() + "\n") if tests else None, findings
