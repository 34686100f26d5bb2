"""Shared fixtures: a real foundry home in tmp_path, the CLI as a subprocess, a network guard, and PostgreSQL."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pgserver import PostgresServer, binaries

from toolfoundry.api import Foundry
from toolfoundry.home import close_parts, open_parts
from toolfoundry.models.cache import ModelCache
from toolfoundry.pipeline.parts import Parts
from toolfoundry.settings import Settings
from toolfoundry.settings import load as load_settings

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server of this test session (``tests/pgserver.py``); skips when PostgreSQL is not installed."""
    bindir = binaries()
    if bindir is None:
        pytest.skip("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb; apt-get install postgresql)")
    server = PostgresServer(bindir)
    try:
        server.start()
        yield server
    finally:
        server.destroy()


@pytest.fixture
def postgres(pg_server: PostgresServer) -> Iterator[str]:
    """The URL of a fresh, empty database on the session's server (started again if a test before stopped it)."""
    pg_server.start()
    url = pg_server.create_database()
    try:
        yield url
    finally:
        pg_server.start()
        pg_server.drop_database(url.rsplit("/", 1)[1])


@pytest.fixture(autouse=True)
def no_network_beyond_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never reach the internet: any connection outside loopback or a unix socket fails the test."""
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: object) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            host = address[0] if isinstance(address, tuple) else str(address)
            try:
                loopback = ipaddress.ip_address(host).is_loopback
            except ValueError:
                loopback = host == "localhost"
            if not loopback:
                raise AssertionError(f"test tried to reach {address!r}: tests stay on loopback")
        real_connect(self, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", guarded)


def make_settings(home: Path, user: str = "tester", **env: str) -> Settings:
    return load_settings(home, {k: v for k, v in env.items()}, user=user)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An initialised foundry home."""
    path = tmp_path / "home"
    result = Foundry.init(make_settings(path))
    assert result.sandbox_problem is None, result.sandbox_problem
    return path


@pytest.fixture
def foundry(home: Path) -> Iterator[Foundry]:
    """The home, opened in this process as user 'tester'."""
    f = Foundry(make_settings(home))
    try:
        yield f
    finally:
        f.close()


@contextlib.contextmanager
def home_parts(settings: Settings) -> Iterator[Parts]:
    """The home's stores, forge and sandbox, opened beside the facade: what the pipeline itself works with."""
    opened = open_parts(settings, ModelCache(settings.model_env, settings.generation.model_settings()))
    try:
        yield opened
    finally:
        close_parts(opened)


@pytest.fixture
def parts(foundry: Foundry) -> Iterator[Parts]:
    """The parts of the ``foundry`` fixture's home (a test looks behind the facade only through these)."""
    with home_parts(foundry.settings) as opened:
        yield opened


def run_cli(home: Path | None, *args: str, user: str = "tester", env: dict[str, str] | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run `python -m toolfoundry ARGS` in a subprocess, as a user would."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("TOOLFOUNDRY_")}
    full_env["TOOLFOUNDRY_USER"] = user
    if home is not None:
        full_env["TOOLFOUNDRY_HOME"] = str(home)
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "toolfoundry", *args], capture_output=True, text=True,
                          env=full_env, timeout=timeout, cwd=REPO)


def cli_json(home: Path, *args: str, **kw: object) -> tuple[int, object]:
    """Run the CLI with --json; return (exit code, parsed stdout)."""
    proc = run_cli(home, *args, "--json", **kw)  # type: ignore[arg-type]
    try:
        return proc.returncode, json.loads(proc.stdout) if proc.stdout.strip() else None
    except json.JSONDecodeError:
        raise AssertionError(f"not JSON (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}") from None


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


ADD = '''"""Add numbers."""


def add(a: int, b: int = 1) -> int:
    """Sum of a and b."""
    return a + b
'''

ADD_EXAMPLES = json.dumps([{"args": {"a": 1, "b": 2}, "expect": 3}, {"args": {"a": 5}, "expect": 6}])
