"""Description review (tool-description poisoning): the text a tool shows other agents must be honest.

Owns ``description_findings``. The tool's name, its function's docstring, the module docstring, parameter
names and ``Literal`` values are shown to other agents (in MCP tool lists and prompts), so they are an
attack surface: text there is read by a model as instructions. Reads text only; does not own the contract.

Code ``checks.description``; errors unless said otherwise:

* hidden instructions: ``<IMPORTANT>``, ``<SYSTEM>``, ``[INST]``, ``<|im_start|>``-style markup; "ignore
  previous/all instructions"; text addressed to the model ("you must", "before using this tool", "do not
  tell the user", "as an AI"...);
* requests for secrets or host files: ``~/.ssh``, ``id_rsa``, ``/etc/passwd``, ``.aws/``, ``os.environ``
  always; ``.env``, API keys, tokens, passwords, credentials, environment variables when a verb asks for
  them ("read", "send", "include", "upload"... in the same sentence), so a password-strength tool passes;
* instructions to call or use other tools ("call the send_email tool", "use the ... tool first");
* invisible or direction-changing characters: zero-width U+200B–U+200F, U+2060–U+2064, U+FEFF, tag
  characters U+E0000–U+E007F, bidi embeddings/overrides U+202A–U+202E and isolates U+2066–U+2069;
* an empty description; a description over 1500 characters (warning);
* mismatches the reviewer can see (warnings): "offline" / "no network" / "pure" while the code imports a
  network module; reading or writing files, which no tool may do.
"""

from __future__ import annotations

import ast
import re

from toolfoundry.core import Finding, ToolSpec

MAX_DESCRIPTION = 1500
_INVISIBLE = re.compile("[\u200b-\u200f\u2060-\u2064\ufeff\u202a-\u202e\u2066-\u2069\U000e0000-\U000e007f]")
_RULES: tuple[tuple[str, re.Pattern[str]], ...] = tuple((why, re.compile(pattern, re.IGNORECASE)) for why, pattern in (
    ("hidden-instruction markup", r"<\s*/?\s*(important|system|instructions?|secret|hidden|admin)\b[^>]*>"
                                  r"|\[/?\s*(inst|system)\s*\]|<\|\s*im_(start|end)|<<\s*sys\s*>>"),
    ("an instruction to ignore other instructions",
     r"\b(ignore|disregard|forget|override)\b.{0,30}\b(previous|prior|above|all|other|earlier|system)\b"
     r".{0,20}\b(instructions?|prompts?|rules|directions)\b"),
    ("text addressed to the model",
     r"\b(you|the (assistant|model|ai|agent|llm))\s+(must|are required to|are instructed to)\b"
     r"|\bbefore (using|calling|you use|you call) (this|the) tool\b|\b(do not|don't|never) (tell|inform|"
     r"mention|reveal|show)\b.{0,20}\b(user|human)\b|\bas an? (ai|assistant|language model)\b"),
    ("a request for secrets or host files",
     r"~/?\.ssh\b|\bid[_ ](rsa|ed25519|ecdsa|dsa)\b|/etc/(passwd|shadow)\b|\.aws/|\.netrc\b|\bos\.environ\b"
     r"|\b(read|send|include|fetch|cat|copy|upload|attach|extract|collect|leak|forward|exfiltrate|dump)\b"
     r"[^.\n]{0,60}(\s\.env\b|\bapi[_ -]?keys?\b|\bsecret[_ -]?keys?\b|\b(access|"
     r"auth|bearer)[_ -]?tokens?\b|\bpasswords?\b|\bcredentials?\b|\benv(ironment)?\s+var(iable)?s?\b"
     r"|\bprivate[_ -]?keys?\b|\bssh\b|\bsecrets?\b)"),
    ("an instruction to call another tool",
     r"\b(call|invoke|use|run|execute|trigger)\s+(the\s+)?(?!(this|that|a|an|any|my|our|its|your)\b)"
     r"[`'\"]?\w+[`'\"]?\s+(tool|function)\b"
     r"|\b(call|invoke|use|run)\s+(another|other|the following)\s+tools?\b"),
))
_OFFLINE = re.compile(r"\b(offline|no network|without (any )?network|no internet|pure( computation| function)?"
                      r"|does not (access|use|touch) the (network|internet))\b", re.IGNORECASE)
_FILES = re.compile(r"\b(reads?|writes?|saves?|loads?|opens?|deletes?)\b[^.]{0,40}\b(files?|disk|director(y|ies)"
                    r"|folders?|paths?)\b", re.IGNORECASE)
_NET_MODULES = frozenset({"socket", "ssl", "http", "urllib", "select", "selectors"})


def description_findings(spec: ToolSpec | None, code: str, *, file: str = "tool.py") -> list[Finding]:
    """Every ``checks.description`` finding for the texts the tool shows other agents."""
    tree = _parse(code)
    texts = _texts(spec, tree)
    findings = []
    for where, text, line in texts:
        findings += _poison(where, text, line, file)
    description = spec.description if spec is not None else _public_docstring(tree)
    if description is not None:
        line = next((ln for w, _, ln in texts if w == "the description"), None)
        findings += _description_shape(description, tree, line, file)
    return findings


def _poison(where: str, text: str, line: int | None, file: str) -> list[Finding]:
    found = []
    invisible = _INVISIBLE.search(text)
    if invisible:
        found.append(_finding(file, line, f"{where} contains the invisible or direction-changing character "
                              f"U+{ord(invisible.group()):04X}; use plain visible text only"))
    for why, pattern in _RULES:
        match = pattern.search(text)
        if match:
            found.append(_finding(file, line, f"{where} contains {why} ({match.group().strip()[:60]!r}); a "
                                  "tool's description must only say what the tool does, for the agent's user"))
    return found


def _description_shape(description: str, tree: ast.Module | None, line: int | None, file: str) -> list[Finding]:
    found = []
    if not description.strip():
        found.append(_finding(file, line, "the description (the public function's docstring) is empty; "
                              "say in one sentence what the tool returns for which input"))
    elif len(description) > MAX_DESCRIPTION:
        found.append(_finding(file, line, f"the description is {len(description)} characters long (over "
                              f"{MAX_DESCRIPTION}); shorten it to what a caller needs", "warning"))
    imports = _imports(tree)
    if _OFFLINE.search(description) and imports & _NET_MODULES:
        found.append(_finding(file, line, "the description says the tool works offline or is pure, but the "
                              f"code imports {', '.join(sorted(imports & _NET_MODULES))}; make them agree",
                              "warning"))
    if _FILES.search(description):
        found.append(_finding(file, line, "the description says the tool reads or writes files, but tools "
                              "have no file access; describe what it does with its arguments", "warning"))
    return found


def _finding(file: str, line: int | None, message: str, severity: str = "error") -> Finding:
    shown = f"line {line}: {message}" if line else message
    return Finding(code="checks.description", file=file, line=line, message=shown,
                   severity="warning" if severity == "warning" else "error")


def _texts(spec: ToolSpec | None, tree: ast.Module | None) -> list[tuple[str, str, int | None]]:
    """(where, text, line) for every text shown to other agents."""
    texts: list[tuple[str, str, int | None]] = []
    if tree is not None:
        if ast.get_docstring(tree, clean=False) is not None:
            texts.append(("the module docstring", ast.get_docstring(tree, clean=False) or "", 1))
        for fn in _public_functions(tree):
            doc = ast.get_docstring(fn, clean=False)
            if doc is not None:
                texts.append(("the description", doc, fn.body[0].lineno))
            for arg in [*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs]:
                texts.append((f"the parameter name {arg.arg!r}", arg.arg.replace("_", " "), arg.lineno))
            for node in ast.walk(fn.args):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    texts.append(("a Literal or default value", node.value, node.lineno))
    if spec is not None:
        texts.append(("the tool's name", spec.name.replace("_", " "), None))
        if tree is None or not _public_functions(tree):
            texts.append(("the description", spec.description, None))
    return texts


def _public_functions(tree: ast.Module) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    return [n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
            and not n.name.startswith("_")]


def _public_docstring(tree: ast.Module | None) -> str | None:
    """The docstring of the single public function ("" when it has none); None when there is no such function."""
    functions = _public_functions(tree) if tree is not None else []
    return (ast.get_docstring(functions[0]) or "") if len(functions) == 1 else None


def _imports(tree: ast.Module | None) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree) if tree is not None else ():
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def _parse(code: str) -> ast.Module | None:
    try:
        return ast.parse(code)
    except (SyntaxError, ValueError):
        return None
