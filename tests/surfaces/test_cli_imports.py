"""The read-only and call commands import only what they use: no DBOS, mypy, bandit, SQLAlchemy or psycopg.

Each command runs in a fresh interpreter (``python -c`` calling ``toolfoundry.surfaces.cli.main`` with its
argv), which then writes the names of the modules it imported to a file. The home is SQLite, so nothing
may import a PostgreSQL driver; typer builds a pydantic ``TypeAdapter`` for each option it parses, so
pydantic is allowed. The figures themselves (wall time, ``-X importtime``) are in ``bench/run.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from toolfoundry.api import Foundry
from toolfoundry.core import Candidate, Example, Permissions

from conftest import ADD, REPO, make_settings

FORBIDDEN = ("dbos", "mypy", "bandit", "sqlalchemy", "psycopg", "psycopg_binary", "psycopg_pool", "ruff",
             "fastapi", "starlette", "uvicorn", "jinja2", "mcp", "openai", "anthropic", "githubkit", "httpx")
"""Top-level packages none of these commands needs on a SQLite home."""

WRAPPER = """
import json, sys
out = sys.argv[1]
sys.argv = ["toolfoundry", *sys.argv[2:]]
from toolfoundry.surfaces.cli import main
code = 0
try:
    main()
except SystemExit as exc:
    code = exc.code
with open(out, "w", encoding="utf-8") as handle:
    json.dump({"code": code, "modules": sorted(sys.modules)}, handle)
"""


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """A SQLite home with one deployed tool and one request waiting for review (its id)."""
    home = tmp_path_factory.mktemp("cli-imports") / "home"
    settings = make_settings(home)
    assert Foundry.init(settings).sandbox_problem is None
    with Foundry(settings) as foundry:
        deployed = foundry.propose(Candidate(code=ADD, examples=(Example(args={"a": 1, "b": 2}, expect=3),)))
        assert deployed.status == "deployed", deployed.to_json()
        waiting = foundry.propose(Candidate(code=ADD.replace("def add(", "def add_net("),
                                            examples=(Example(args={"a": 1, "b": 2}, expect=3),),
                                            permissions=Permissions(net_hosts=("example.org",))))
        assert waiting.status == "pending_review", waiting.to_json()
    yield home, waiting.request_id


def imported(home: Path, tmp_path: Path, *args: str) -> tuple[int, set[str]]:
    """Run ``toolfoundry ARGS --home HOME`` in a fresh interpreter: its exit code and its top-level modules."""
    out = tmp_path / "modules.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOOLFOUNDRY_")}
    env["TOOLFOUNDRY_USER"] = "tester"
    done = subprocess.run([sys.executable, "-c", WRAPPER, str(out), *args, "--home", str(home)],
                          capture_output=True, text=True, env=env, timeout=120, cwd=REPO)
    assert out.exists(), done.stderr
    result = json.loads(out.read_text(encoding="utf-8"))
    return result["code"], {name.split(".")[0] for name in result["modules"]}


@pytest.mark.parametrize("command", [
    ("tools", "--json"),
    ("tools",),
    ("call", "add", "--args", '{"a": 2, "b": 3}', "--json"),
    ("call", "add", "--args", '{"a": 2, "b": 3}'),
    ("audit", "log", "--json"),
    ("audit", "verify"),
    ("review", "list"),
    ("review", "list", "--json"),
    ("review", "show", "REQUEST"),
], ids=lambda c: " ".join(c))
def test_a_read_only_or_call_command_imports_no_workflow_engine_analyser_or_postgres_driver(
        prepared: tuple[Path, str], tmp_path: Path, command: tuple[str, ...]) -> None:
    home, request_id = prepared
    args = tuple(request_id if a == "REQUEST" else a for a in command)
    code, modules = imported(home, tmp_path, *args)
    assert code == 0, (args, code)
    assert sorted(modules & set(FORBIDDEN)) == [], f"{' '.join(args)} imported {sorted(modules & set(FORBIDDEN))}"
