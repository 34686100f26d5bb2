"""The package's layering, checked on its import graph: no cycles, and every import points down.

Every import in ``src/toolfoundry`` counts — at module level, inside functions (lazy imports) and under
``TYPE_CHECKING`` — because each is a dependency of the design even when it is not one at start-up.
A module may import a module of a lower layer, or one of its own unit (the same package). Units of one
layer never import each other: the sandbox does not know the forge, and no stage calls another stage.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
PACKAGE = "toolfoundry"

LAYERS: tuple[tuple[str, ...], ...] = (
    ("toolfoundry.errors", "toolfoundry.version"),
    ("toolfoundry.jsonlimits",),
    ("toolfoundry.core",),
    ("toolfoundry.examples",),
    ("toolfoundry.toolfile",),
    ("toolfoundry.sandbox", "toolfoundry.forge", "toolfoundry.models", "toolfoundry.store", "toolfoundry.identity"),
    ("toolfoundry.stages.contract", "toolfoundry.stages.checks", "toolfoundry.stages.tests", "toolfoundry.stages.oracle",
     "toolfoundry.stages.assess", "toolfoundry.stages.generate", "toolfoundry.stages.review",
     "toolfoundry.stages.policy", "toolfoundry.stages"),
    ("toolfoundry.pipeline",),
    ("toolfoundry.defaults",),
    ("toolfoundry.settings",),
    ("toolfoundry.health",),
    ("toolfoundry.runtime",),
    ("toolfoundry.home", "toolfoundry.calls", "toolfoundry.trust", "toolfoundry.batch"),
    ("toolfoundry.facade",),
    ("toolfoundry.api",),
    ("toolfoundry.surfaces",),
    ("toolfoundry.adapters", "toolfoundry.testing", "toolfoundry", "toolfoundry.__main__"),
)
"""Lowest first. Each entry is a unit: a module, or a package with everything in it (``toolfoundry``
itself is only the package's ``__init__``)."""


def modules() -> dict[str, Path]:
    """Every module of the package: dotted name → file."""
    found = {}
    for path in sorted((SRC / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> Iterator[tuple[str, int]]:
    """(imported toolfoundry module, line) for every import statement in the module, wherever it sits."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == PACKAGE:
                    yield _existing(alias.name, known), node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            if base.split(".")[0] != PACKAGE:
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                yield (sub if sub in known else _existing(base, known)), node.lineno


def _existing(name: str, known: dict[str, Path]) -> str:
    while name not in known and "." in name:
        name = name.rpartition(".")[0]
    return name


def unit(name: str) -> tuple[int, str]:
    """(layer, unit) of a module: the most specific unit that contains it."""
    best: tuple[int, str] | None = None
    for rank, units in enumerate(LAYERS):
        for u in units:
            inside = name == u or (u != PACKAGE and name.startswith(u + "."))
            if inside and (best is None or len(u) > len(best[1])):
                best = (rank, u)
    assert best is not None, f"{name} is in no layer of LAYERS: add it"
    return best


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: {target for target, _ in imports(name, path, known) if target != name}
            for name, path in known.items()}


def test_every_module_belongs_to_a_layer() -> None:
    for name in modules():
        unit(name)


def test_imports_point_down_the_layers() -> None:
    known = modules()
    wrong = []
    for name, path in known.items():
        rank, own = unit(name)
        for target, line in imports(name, path, known):
            target_rank, target_unit = unit(target)
            if target_unit == own or target_rank < rank:
                continue
            if name == PACKAGE:  # the package's own __init__ may name what it exports, lazily
                continue
            wrong.append(f"{path.relative_to(SRC)}:{line}: {name} ({own}, layer {rank}) imports {target}"
                         f" ({target_unit}, layer {target_rank})")
    assert not wrong, "imports against the layer order:\n" + "\n".join(wrong)


def test_the_import_graph_has_no_cycle() -> None:
    edges = graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_the_checker_sees_a_cycle_and_an_upward_import(tmp_path: Path) -> None:
    """The walker is not vacuous: the first version's config <-> policy cycle would be caught."""
    (tmp_path / PACKAGE).mkdir()
    (tmp_path / PACKAGE / "__init__.py").write_text("")
    (tmp_path / PACKAGE / "a.py").write_text("from toolfoundry import b\n")
    (tmp_path / PACKAGE / "b.py").write_text("def f():\n    from toolfoundry.a import x\n")
    known = {"toolfoundry": tmp_path / PACKAGE / "__init__.py", "toolfoundry.a": tmp_path / PACKAGE / "a.py",
             "toolfoundry.b": tmp_path / PACKAGE / "b.py"}
    assert list(imports("toolfoundry.a", known["toolfoundry.a"], known)) == [("toolfoundry.b", 1)]
    assert list(imports("toolfoundry.b", known["toolfoundry.b"], known)) == [("toolfoundry.a", 2)]
    assert unit("toolfoundry.stages.policy.file") == (6, "toolfoundry.stages.policy")
    assert unit("toolfoundry.sandbox.pool")[0] < unit("toolfoundry.settings")[0] < unit("toolfoundry.home")[0]
