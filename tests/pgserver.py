"""A throwaway PostgreSQL server for tests: initdb + pg_ctl in a temporary directory, on a free loopback port.

Debian's ``postgresql`` package puts its binaries in ``/usr/lib/postgresql/<major>/bin``; the server
refuses to run as root, so as root every command runs as the ``postgres`` user (``runuser -u postgres
--``) in a directory handed to that user. The cluster uses trust authentication and listens on
127.0.0.1 only (and on a unix socket inside its directory), with ``fsync=off``: it is for tests, and a
crash of the machine may lose it. Commits stay synchronous, so a crash of the *server* (``stop("immediate")``)
loses nothing a client was told had committed, as on a real server. ``tests/conftest.py`` makes one per test session (``pg_server``) and a
fresh database per test (``postgres``); a test may stop, restart or kill the server, and the fixture
starts it again for the next test.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

SUPERUSER = "postgres"


def binaries() -> Path | None:
    """The newest installed PostgreSQL's bin directory, or None when PostgreSQL is not installed."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parent.parent.name))
    return Path(found[-1]).parent if found else None


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """One test cluster: create it with :meth:`start`, end it with :meth:`destroy`."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="toolfoundry-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = free_port()
        self._as_root = os.geteuid() == 0
        if self._as_root:
            user = pwd.getpwnam(SUPERUSER)
            os.chown(self.root, user.pw_uid, user.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", SUPERUSER, "-A", "trust", "-E", "UTF8",
                  "--locale=C", "--no-sync")
        conf = self.data / "postgresql.conf"
        with conf.open("a", encoding="utf-8") as f:
            f.write(f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                    f"unix_socket_directories = '{self.root}'\nfsync = off\n"
                    "full_page_writes = off\nmax_connections = 200\nshared_buffers = 32MB\n"
                    "log_min_messages = warning\n")

    # ── lifecycle ─────────────────────────────────────────────────────────────────────────────

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        if self.running():
            return
        try:
            self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start")
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}\n--- server log ---\n{self.log_tail()}") from None

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: ``fast`` (roll back and disconnect), ``immediate`` (like a crash), ``smart``."""
        if self.running():
            self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def restart(self, mode: str = "fast") -> None:
        """Stop and start again on the same port; every connection is cut."""
        self.stop(mode)
        self.start()

    def running(self) -> bool:
        """True when the server's postmaster is up."""
        proc = subprocess.run(self._command("pg_ctl", "-D", str(self.data), "status"), capture_output=True,
                              text=True, cwd=self.root)
        return proc.returncode == 0

    def destroy(self) -> None:
        """Stop the server at once and delete its directory."""
        with contextlib.suppress(RuntimeError):
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    # ── databases ─────────────────────────────────────────────────────────────────────────────

    def url(self, dbname: str = "postgres", user: str = SUPERUSER) -> str:
        """``postgresql://USER@127.0.0.1:PORT/DBNAME``."""
        return f"postgresql://{user}@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, name: str | None = None) -> str:
        """Create a fresh, empty database (``createdb``); return its URL."""
        name = name or f"t_{uuid.uuid4().hex[:12]}"
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", SUPERUSER, name)
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, cutting off whoever is still connected to it."""
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def sql(self, url: str, statement: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        """Run one statement as the superuser on the database at ``url``; its rows (none for a command)."""
        with psycopg.connect(url, autocommit=True) as conn:
            cur = conn.execute(statement, params)  # type: ignore[call-overload]
            return list(cur.fetchall()) if cur.description else []

    def backends(self, dbname: str, application_name: str | None = None) -> int:
        """How many sessions are connected to ``dbname`` (only those of ``application_name``, if given)."""
        query = "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"
        params: tuple[object, ...] = (dbname,)
        if application_name is not None:
            query += " AND application_name = %s"
            params += (application_name,)
        return int(self.sql(self.url(), query, params)[0][0])  # type: ignore[call-overload]

    def terminate(self, dbname: str) -> int:
        """Cut every session connected to ``dbname`` (``pg_terminate_backend``); how many were cut."""
        rows = self.sql(self.url(), "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                                    " WHERE datname = %s AND pid <> pg_backend_pid()", (dbname,))
        return len(rows)

    def log_tail(self, lines: int = 30) -> str:
        """The end of the server log (for failure messages)."""
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    # ── plumbing ──────────────────────────────────────────────────────────────────────────────

    def _command(self, tool: str, *args: str) -> list[str]:
        exe = [str(self.bindir / tool), *args]
        return ["runuser", "-u", SUPERUSER, "--", *exe] if self._as_root else exe

    def _run(self, tool: str, *args: str) -> None:
        proc = subprocess.run(self._command(tool, *args), capture_output=True, text=True, cwd=self.root,
                              timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(f"{tool} failed (exit {proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}")


def wait_until_up(server: PostgresServer, timeout: float = 30.0) -> None:
    """Wait until a connection to the server succeeds (after a restart by another process)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(server.url(), connect_timeout=2):
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
