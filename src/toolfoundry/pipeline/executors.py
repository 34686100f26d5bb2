"""Who is running a home's workflows: one executor per process, each with a liveness lock of its own.

Every process that runs workflows (a CLI request, ``serve``, ``ui``, ``worker``) is a DBOS executor with
its own id, and holds a lock for as long as it lives. The lock says whether the executor is alive, so
the work of a dead one can be recovered by any live one (``watchdog.py``), and only then:

* :class:`FileLiveness` (one machine): an ``flock`` on ``<home>/executors/<id>.lock``, which the kernel
  frees the instant the process dies (even by SIGKILL). A lock cannot be lost while its holder lives, so
  no fencing is needed; the file also says who holds it (pid, role, what it started with) for
  ``toolfoundry workers`` and for the messages of whoever waits.
* ``PgLiveness`` (several machines, ``executors_pg.py``): a PostgreSQL advisory lock on a dedicated
  connection, with fencing — an executor that loses its connection exits at once.

It does not recover anything itself.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import secrets
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

from toolfoundry.core import JSON
from toolfoundry.errors import InfraError


def new_executor_id(role: str) -> str:
    """A fresh executor id: ``<host>-<role>-<pid>-<random>``, unique across processes and restarts."""
    host = socket.gethostname().split(".")[0][:30] or "host"
    return f"{host}-{role}-{os.getpid()}-{secrets.token_hex(2)}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Executor:
    """A live executor, as its lock describes it."""

    id: str
    """The DBOS executor id."""
    role: str
    """``cli``, ``api``, ``serve``, ``ui`` or ``worker``."""
    pid: int
    """Its process id (on ``host``)."""
    host: str
    """The machine it runs on."""
    since: str
    """When it started running workflows (ISO 8601, UTC)."""
    command: str
    """What it was started for, e.g. ``propose tools/slugify``."""

    def to_json(self) -> dict[str, JSON]:
        """As ``toolfoundry workers --json`` prints it."""
        return {"id": self.id, "role": self.role, "pid": self.pid, "host": self.host, "since": self.since,
                "command": self.command}


class Liveness(Protocol):
    """Holding this executor's lock, and telling whether another executor's lock is still held."""

    def hold(self, executor: Executor) -> None:
        """Take this executor's lock for the life of the process (until ``release``)."""

    def alive(self, executor_id: str) -> bool:
        """True while ``executor_id``'s process holds its lock."""

    def live(self) -> list[Executor]:
        """Every executor that holds its lock now."""

    def release(self) -> None:
        """Give this executor's lock back."""


class FileLiveness:
    """Liveness on one machine: ``flock`` on ``<dir>/<executor id>.lock``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._handle: IO[str] | None = None
        self._path: Path | None = None

    def hold(self, executor: Executor) -> None:
        try:
            self.directory.mkdir(mode=0o700, exist_ok=True)
            path = self.directory / f"{executor.id}.lock"
            draft = self.directory / f".{executor.id}.lock.new"
            handle = open(draft, "w", encoding="utf-8")  # noqa: SIM115 (held for the life of the executor)
        except OSError as exc:  # a read-only home: one line, before DBOS or any request touches it
            raise InfraError(unwritable(self.directory, exc)) from None
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a fresh id: nobody else holds it
        handle.write(json.dumps(executor.to_json()) + "\n")
        handle.flush()
        os.replace(draft, path)  # the lock file appears already locked: never seen free while its holder lives
        self._handle, self._path = handle, path

    def alive(self, executor_id: str) -> bool:
        path = self.directory / f"{executor_id}.lock"
        try:
            handle = open(path, encoding="utf-8")  # noqa: SIM115 (closed below)
        except FileNotFoundError:
            return False
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(handle, fcntl.LOCK_UN)
            return False

    def live(self) -> list[Executor]:
        found = []
        for path in sorted(self.directory.glob("*.lock")) if self.directory.is_dir() else []:
            if not self.alive(path.stem):
                self.forget(path.stem)  # a process that ended without giving its lock back
            else:
                with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
                    data = json.loads(path.read_text(encoding="utf-8"))
                    found.append(Executor(id=data["id"], role=data["role"], pid=int(data["pid"]),
                                          host=data["host"], since=data["since"], command=data["command"]))
        return found

    def forget(self, executor_id: str) -> None:
        """Remove a dead executor's lock file (after its work was recovered)."""
        if not self.alive(executor_id):
            with contextlib.suppress(FileNotFoundError):
                (self.directory / f"{executor_id}.lock").unlink()

    def release(self) -> None:
        handle, path, self._handle, self._path = self._handle, self._path, None, None
        if handle is not None and path is not None:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            handle.close()


def unwritable(directory: Path, exc: OSError) -> str:
    """The one line for a liveness lock that cannot be created in ``directory``."""
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return (f"{directory} is read-only ({exc.strerror}), and running workflows needs this process's liveness"
                f" lock there: the home is read-only here")
    return f"cannot create this process's liveness lock in {directory}: {exc.strerror}"


def describe(executor: Executor) -> str:
    """``process 1234 (serve, since 10:02:11)`` — who holds a home's work, for a person waiting on it."""
    return f"process {executor.pid} on {executor.host} ({executor.role}: {executor.command}, since" \
           f" {executor.since[11:19]})"


def now() -> str:
    """The current time as the executors' files record it."""
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
