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
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources

from toolfoundry.core import Example, Finding, Permissions
from toolfoundry.models.replies import blocks, json_objects, strip_reasoning
from toolfoundry.models.types import Message
from toolfoundry.toolfile import NAME_RE, NAME_RULE


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
    if only_own_tests_failed(findings):
        text += "\n\n" + ONLY_TESTS_FAILED
    return [*first, Message(role="assistant", content=last_reply), Message(role="user", content=text)]


ONLY_TESTS_FAILED = ("Note: tool.py passed every example it was judged on, including examples you were not"
                     " shown; only your own test_tool.py failed. The failing assertion most likely expects a"
                     " wrong value or a wrong exception: correct it or delete it, and keep tool.py as it is.")
"""Told with the findings when only the model's own tests failed (small models rewrite the right tool and
keep the wrong test: 3 identical replies for reverse_words in the local-model benchmark)."""


def only_own_tests_failed(findings: list[Finding]) -> bool:
    """The blocking findings are all ``tests.failed``: the tests only run when the contract and checks
    passed, and the oracle runs after them, so the tool itself met every example."""
    blocking = {f.code for f in findings if f.severity == "error"}
    return blocking == {"tests.failed"}


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


PLACEHOLDER_NAMES = frozenset({"snake_case_tool_name", "tool_name", "name", "my_tool", "function_name"})
"""Names copied from a prompt's placeholder rather than chosen (small models do this)."""

MAX_ECHO = 4000
"""Characters of a rejected reply kept in the conversation that asks the model to fix it."""


def signature_hint(examples: tuple[Example, ...]) -> str:
    """The spec prompt's placeholder signature, built from the examples' argument names, so that a model
    copying the placeholder still names the parameters right (``(celsius: type) -> return_type``)."""
    names: list[str] = []
    for e in examples:
        names += [k for k in e.args if k not in names]
    return "(" + ", ".join(f"{n}: type" for n in names or ["param"]) + ") -> return_type"


def spec_messages(need: str, examples: tuple[Example, ...]) -> list[Message]:
    """Ask the model to draft a spec (name, signature, description, permissions)."""
    return [Message(role="user", content=prompt("spec").format(
        need=need, examples=_examples_text(examples), signature_hint=signature_hint(examples)))]


def retry_messages(messages: list[Message], reply: str, findings: list[Finding], what: str) -> list[Message]:
    """``messages`` extended with a reply that could not be used and what was wrong with it, asking for
    ``what`` again (the spec conversation's retry; the code conversation has ``refine_messages``)."""
    clipped = reply if len(reply) <= MAX_ECHO else reply[:MAX_ECHO] + "\n[... cut ...]"
    text = (f"Your reply could not be used:\n{format_findings(findings)}\n\n"
            f"Reply again with {what}, and nothing else.")
    return [*messages, Message(role="assistant", content=clipped), Message(role="user", content=text)]


SPEC_WANTED = ('ONE JSON object: {"name": ..., "signature": "(param: type) -> return_type", "description": ...,'
               ' "permissions": {"net_hosts": [], "env_vars": []}}')
"""What a spec retry asks for."""


def truncated(max_tokens: int | None, what: str) -> Finding:
    """The finding for a reply cut off at the token limit (``finish_reason == "length"``)."""
    limit = f" of {max_tokens} tokens" if max_tokens else ""
    return Finding(code="generate.truncated", message=(
        f"the reply was cut off at the token limit{limit} before {what} was complete; answer shorter:"
        " no explanation, no repeated lines, only what was asked for"))


def parse_spec(text: str, examples: tuple[Example, ...] = ()) -> tuple[DraftSpec | None, list[Finding]]:
    """A DraftSpec from the model's reply, or findings saying what was unusable.

    The first JSON object with a ``name`` or ``signature`` counts (reasoning blocks are skipped). The
    signature must read as a Python parameter list with JSON-typed annotations, without the ``...`` of the
    prompt's placeholder, and take every argument the examples pass. A name copied from the prompt's
    placeholder is replaced by one made from the description (:func:`name_from`)."""
    objects = list(json_objects(text))
    data = next((o for o in objects if "name" in o or "signature" in o), objects[0] if objects else None)
    if data is None:
        return None, [Finding(code="generate.no-spec", message="the reply holds no JSON object with the spec;"
                              " reply with one JSON object: name, signature, description, permissions")]
    problems: list[str] = []
    name = data.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        problems.append(f"name {name!r} is not a tool name: use snake_case (or camelCase), {NAME_RULE}")
    elif name in PLACEHOLDER_NAMES or name.endswith("_tool_name"):
        named = name_from(data.get("description"))
        if named is None:
            problems.append(f"name {name!r} is the prompt's placeholder: name the tool after what it does")
        name = named
    signature = data.get("signature")
    if not isinstance(signature, str) or not signature.strip().startswith("("):
        problems.append("signature must be a string like '(text: str) -> str'")
    elif (problem := _signature_problem(renamed := rename_lone_parameter(signature.strip(), examples),
                                        examples)) is not None:
        problems.append(problem)
    else:
        signature = union_for_or(renamed)
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


NAME_STOPWORDS = frozenset(
    "a an the this that these those it its is are be of to in on for and or with by as at from into if whether"
    " given input output returns return takes take tool function which what each every any all so such not than"
    " ignoring using".split())
"""Words a name made from a description leaves out."""


def name_from(description: object) -> str | None:
    """A tool name made of the first three telling words of ``description`` (``"This tool checks if a text is
    a palindrome"`` → ``checks_text_palindrome``), or None when it has none. Used for a spec whose name is
    the prompt's placeholder: small models copy it, and asked again they copy it again (is_palindrome, three
    identical replies, in the local-model benchmark), while the rest of such a spec is usually sound."""
    if not isinstance(description, str):
        return None
    words = [w for w in re.findall(r"[a-z][a-z0-9]*", description.lower()) if w not in NAME_STOPWORDS]
    name = "_".join(words[:3])[:40].rstrip("_")
    return name if name and NAME_RE.match(name) and name not in PLACEHOLDER_NAMES else None


class _OrToUnion(ast.NodeTransformer):
    def visit_BoolOp(self, node: ast.BoolOp) -> ast.expr:  # noqa: N802 (the visitor's naming)
        values: list[ast.expr] = [self.visit(v) for v in node.values]
        if not isinstance(node.op, ast.Or):
            return ast.BoolOp(op=node.op, values=values)
        union = values[0]
        for value in values[1:]:
            union = ast.BinOp(left=union, op=ast.BitOr(), right=value)
        return union


def rename_lone_parameter(signature: str, examples: tuple[Example, ...]) -> str:
    """``signature`` with its one parameter that no example passes renamed to the one argument the examples
    pass and it lacks (``(snake_name: str)`` for examples passing ``name``: the local model's snake_to_camel
    spec, three times); unchanged when that is not exactly one of each, so nothing is guessed."""
    try:
        fn = ast.parse(f"def f{signature}:\n    pass\n").body[0]
    except SyntaxError:
        return signature
    assert isinstance(fn, ast.FunctionDef)
    params = [*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs]
    passed: list[str] = []
    for e in examples:
        passed += [k for k in e.args if k not in passed]
    unused = [a for a in params if a.arg not in passed]
    lacking = [k for k in passed if k not in {a.arg for a in params}]
    if len(unused) != 1 or len(lacking) != 1 or fn.args.kwarg is not None or not lacking[0].isidentifier():
        return signature
    unused[0].arg = lacking[0]
    returns = f" -> {ast.unparse(fn.returns)}" if fn.returns is not None else ""
    return f"({ast.unparse(fn.args)}){returns}"


def union_for_or(signature: str) -> str:
    """``signature`` with ``X or None`` annotations written as ``X | None`` (what was meant, and a type; the
    local model wrote ``-> int or None`` in a spec, then in the code, three times); unchanged otherwise."""
    if " or " not in signature:
        return signature
    try:
        fn = ast.parse(f"def f{signature}:\n    pass\n").body[0]
    except SyntaxError:
        return signature
    assert isinstance(fn, ast.FunctionDef)
    fixed = _OrToUnion().visit(fn)
    assert isinstance(fixed, ast.FunctionDef)
    returns = f" -> {ast.unparse(fixed.returns)}" if fixed.returns is not None else ""
    return f"({ast.unparse(fixed.args)}){returns}"


def _signature_problem(signature: str, examples: tuple[Example, ...]) -> str | None:
    if "..." in signature.partition("->")[0]:
        return f"signature {signature!r} has '...': list every parameter with its type"
    try:
        fn = ast.parse(f"def f{signature}:\n    pass\n").body[0]
    except SyntaxError:
        return f"signature {signature!r} is not a Python parameter list like '(text: str) -> str'"
    assert isinstance(fn, ast.FunctionDef)
    params = {a.arg for a in (*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs)}
    wanted = [k for e in examples for k in e.args if k not in params]
    if wanted and fn.args.kwarg is None:
        return (f"signature {signature!r} lacks parameter(s) {', '.join(sorted(set(wanted)))}: the examples'"
                " 'args' are keyword arguments, so the parameters must have those names")
    return None


_FILE_MARKER = re.compile(r"^[ \t]*(?:#+|//)?[ \t]*(?:file(?:name)?:?[ \t]*)?[`*]*(test_tool|tool)\.py[`*]*:?[ \t]*$",
                          re.MULTILINE | re.IGNORECASE)


def _pieces(body: str) -> list[tuple[str | None, str]]:
    """A block split at ``# tool.py`` / ``# test_tool.py`` marker lines: (file or None, code)."""
    marks = list(_FILE_MARKER.finditer(body))
    if not marks:
        return [(None, body)]
    pieces: list[tuple[str | None, str]] = [(None, body[:marks[0].start()])] if body[:marks[0].start()].strip() else []
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(body)
        pieces.append((m.group(1).lower() + ".py", body[m.end():end]))
    return [(f, code) for f, code in pieces if code.strip()]


def _tree(code: str) -> ast.Module | None:
    try:
        return ast.parse(code)
    except (SyntaxError, ValueError):
        return None


def _is_tests(code: str, tree: ast.Module | None) -> bool:
    """Tests: a top-level ``def test_*``, or a top-level import of pytest or of ``tool`` (an ``import pytest``
    under ``if __name__ == "__main__":`` inside a tool module does not count)."""
    if tree is None:
        return bool(re.search(r"^(?:def test_|import pytest|from tool import)", code, re.MULTILINE))
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test_"):
            return True
        if isinstance(node, ast.Import) and any(a.name == "pytest" for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and node.module == "tool":
            return True
    return False


def _has_function(code: str, tree: ast.Module | None) -> bool:
    if tree is None:
        return bool(re.search(r"^def \w+", code, re.MULTILINE))
    return any(isinstance(n, ast.FunctionDef) and not n.name.startswith("_") for n in tree.body)


def _public_function(tree: ast.Module | None) -> str | None:
    names = [n.name for n in (tree.body if tree else []) if isinstance(n, ast.FunctionDef)
             and not n.name.startswith("_")]
    return names[0] if len(names) == 1 else None


def _split_mixed(bodies: list[tuple[str, bool]]) -> tuple[str, str] | None:
    """A module holding the tool and its tests (``def test_...`` and a ``__main__`` block beside one public
    function), split into (tool.py, test_tool.py); None when no body is such a module."""
    for body, _ in bodies:
        tree = _tree(body)
        if tree is None:
            continue
        lines = body.splitlines(keepends=True)
        tests = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")]
        main = [n for n in tree.body if isinstance(n, ast.If) and "__name__" in ast.unparse(n.test)]
        public = [n for n in tree.body if isinstance(n, ast.FunctionDef) and not n.name.startswith(("_", "test_"))]
        if not tests or len(public) != 1:
            continue
        moved = {id(n) for n in (*tests, *main)}
        keep = [n for n in tree.body if id(n) not in moved]
        imports = [n for n in keep if isinstance(n, ast.Import | ast.ImportFrom)]
        return (_source(lines, keep),
                f"from tool import {public[0].name}\n" + _source(lines, imports) + "\n" + _source(lines, tests))
    return None


def _source(lines: list[str], nodes: Sequence[ast.stmt]) -> str:
    return "".join("".join(lines[_first_line(n) - 1:n.end_lineno]) + "\n" for n in nodes)


def _first_line(node: ast.stmt) -> int:
    decorators: list[ast.expr] = getattr(node, "decorator_list", [])
    return min([node.lineno, *(d.lineno for d in decorators)])


def parse_code(text: str, finish_reason: str | None = None,
               max_tokens: int | None = None) -> tuple[str | None, str | None, list[Finding]]:
    """(tool.py, test_tool.py, findings) from a model's reply: reasoning blocks skipped; fenced blocks in any
    order, one block holding both files (split at a ``# test_tool.py`` line), or bare code.

    With ``finish_reason == "length"`` (cut off at the token limit), an unfinished test file is dropped
    with a warning, and an unfinished tool module is a ``generate.truncated`` finding."""
    cut = finish_reason == "length"
    fenced = [b for b in blocks(text) if b.lang in ("", "python", "py", "python3") and b.body.strip()]
    bodies = [(b.body, b.closed) for b in fenced]
    if not bodies:
        bare = strip_reasoning(text)
        if _tree(bare) is not None and re.search(r"^def \w+", bare, re.MULTILINE):
            bodies = [(bare, True)]  # no fences at all, but the whole reply is Python
    findings: list[Finding] = []
    tools: list[tuple[str, ast.Module | None]] = []
    tests: str | None = None
    for body, closed in bodies:
        for file, code in _pieces(body):
            tree = _tree(code)
            unfinished = tree is None and (cut or not closed)
            if file == "test_tool.py" or (file is None and _is_tests(code, tree)):
                if unfinished:
                    findings.append(Finding(code="generate.tests-cut-off", severity="warning", file="test_tool.py",
                                            message="the test file was cut off at the token limit; it was dropped"))
                elif tests is None:
                    tests = code
            elif file == "tool.py" or _has_function(code, tree):
                tools.append((code, None if unfinished else tree))
    if not tools and (mixed := _split_mixed(bodies)) is not None:
        tool_code, tests = mixed
        tools = [(tool_code, _tree(tool_code))]
        findings.append(Finding(code="generate.tests-in-module", severity="info", message=(
            "the tool and its tests came as one module; the test functions were moved to test_tool.py")))
    if not tools:
        if cut:
            return None, None, [truncated(max_tokens, "tool.py")]
        return None, None, [Finding(code="generate.no-code", message=(
            "the reply holds no Python module with a top-level function; reply with a ```python block for"
            " tool.py (then one for test_tool.py)"))]
    if len(tools) > 1:
        findings.append(Finding(code="generate.several-modules", severity="warning",
                                message=f"the reply holds {len(tools)} candidate modules; the first was used"))
    code, tree = tools[0]
    if tree is None and cut:
        return None, None, [truncated(max_tokens, "tool.py")]
    if tests is not None and (fn := _public_function(tree)) is not None:
        fixed = re.sub(rf"^from[ \t]+(?!tool\b)[\w.]+[ \t]+import[ \t]+(.*\b{fn}\b.*)$", r"from tool import \1",
                       tests, flags=re.MULTILINE)
        if fixed != tests:
            findings.append(Finding(code="generate.test-import", severity="info", file="test_tool.py",
                                    message=f"the tests imported {fn} from another module; now `from tool import`"))
            tests = fixed
    return code.strip() + "\n", (tests.strip() + "\n") if tests else None, findings
