"""A read-only home: the read-only commands work, also while another process has its database open; writes say why not.

The home is made read-only for the command the way a read-only mount would: the CLI runs inside a
mount namespace where the home is bound read-only (bwrap), so even root gets ``EROFS``.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from toolfoundry.api import Foundry

from conftest import ADD, ADD_EXAMPLES, EXAMPLES, REPO, make_settings, run_cli, write

READ_ONLY_COMMANDS = (("tools", "--json"), ("audit", "verify"), ("review", "list", "--json"),
                      ("review", "show", "{rid}"), ("audit", "log", "--json"), ("doctor", "--skip-sandbox"),
                      ("workers", "--json"), ("provenance", "add"), ("principals", "list"))


def run_read_only(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI with ``home`` mounted read-only (everything else as it is)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOOLFOUNDRY_")}
    env.update(TOOLFOUNDRY_HOME=str(home), TOOLFOUNDRY_USER="tester")
    return subprocess.run(["bwrap", "--dev-bind", "/", "/", "--ro-bind", str(home), str(home), "--",
                           sys.executable, "-m", "toolfoundry", *args], capture_output=True, text=True, env=env,
                          timeout=120, cwd=REPO)


@pytest.fixture(scope="module")
def busy_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A home with a deployed tool and a request waiting for review; (home, the pending request's id).
    Shared by the module's tests: none of them can change it (it is read-only to them), but the holder's event."""
    tmp_path = tmp_path_factory.mktemp("read-only")
    home = tmp_path / "home"
    assert Foundry.init(make_settings(home)).sandbox_problem is None
    proc = run_cli(home, "propose", str(write(tmp_path / "add.py", ADD)), "--examples",
                   str(write(tmp_path / "ex.json", ADD_EXAMPLES)))
    assert proc.returncode == 0, proc.stderr
    proc = run_cli(home, "propose", str(EXAMPLES / "fetch_status.py"), "--allow-net", "example.org", "--json")
    assert proc.returncode == 3, proc.stderr
    return home, json.loads(proc.stdout)["request_id"]


def expected(home: Path, rid: str) -> dict[tuple[str, ...], str]:
    """What each read-only command prints on the writable home."""
    out = {}
    for args in READ_ONLY_COMMANDS:
        args = tuple(a.replace("{rid}", rid) for a in args)
        proc = run_cli(home, *args)
        assert proc.returncode == 0, (args, proc.stderr)
        out[args] = proc.stdout
    return out


def test_read_only_commands_work_on_a_read_only_home_whose_database_was_closed(busy_home: tuple[Path, str]) -> None:
    home, rid = busy_home
    want = expected(home, rid)
    assert not any(Path(f"{home / 'foundry.db'}{s}").exists() for s in ("-wal", "-shm"))  # closed cleanly
    for args, stdout in want.items():
        proc = run_read_only(home, *args)
        assert proc.returncode == 0, (args, proc.stderr)
        assert proc.stdout == stdout, args


HOLDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from toolfoundry.store.audit import AuditLog
    home, ready, done = map(Path, sys.argv[1:])
    log = AuditLog(home / "foundry.db", home / "audit.head")
    log.append("holder.started", request_id=None, actor="holder", data={})
    ready.touch()
    while not done.exists():
        time.sleep(0.01)
""")


@pytest.fixture
def held(busy_home: tuple[Path, str], tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """The busy home, its database held open (and just written) by another process."""
    home, rid = busy_home
    ready, done = tmp_path / "ready", tmp_path / "done"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(home), str(ready), str(done)])
    try:
        while not ready.exists():
            assert holder.poll() is None, "the holder ended early"
            time.sleep(0.01)
        yield home, rid
    finally:
        done.touch()
        holder.wait(30)


def test_read_only_commands_work_while_another_process_holds_the_database(held: tuple[Path, str]) -> None:
    home, rid = held
    assert Path(f"{home / 'foundry.db'}-wal").exists()  # open elsewhere, in WAL mode
    with sqlite3.connect(f"file:{home / 'foundry.db'}?mode=ro", uri=True) as conn:
        total = conn.execute("SELECT count(*) FROM audit_events").fetchone()[0]
    conn.close()
    for args in READ_ONLY_COMMANDS:
        proc = run_read_only(home, *(a.replace("{rid}", rid) for a in args))
        assert proc.returncode == 0, (args, proc.stderr)
    proc = run_read_only(home, "audit", "log", "--json")
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(events) == total and events[-1]["kind"] == "holder.started"  # the newest write is seen
    assert "chain intact" in run_read_only(home, "audit", "verify").stdout


@pytest.mark.parametrize("args", [("call", "add", "--args", '{"a": 2}'), ("review", "approve", "{rid}", "--as", "alice")])
def test_a_write_on_a_read_only_home_says_the_home_is_read_only(busy_home: tuple[Path, str],
                                                                args: tuple[str, ...]) -> None:
    home, rid = busy_home
    before = (home / "foundry.db").read_bytes()
    proc = run_read_only(home, *(a.replace("{rid}", rid) for a in args))
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "the home is read-only" in proc.stderr and str(home / "foundry.db") in proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert (home / "foundry.db").read_bytes() == before


@pytest.mark.parametrize("args", [("propose", "{dir}/add.py", "--examples", "{dir}/ex.json"), ("resume",), ("worker",),
                                  ("cancel", "{rid}")])
def test_a_command_that_runs_workflows_on_a_read_only_home_says_so_before_it_starts(busy_home: tuple[Path, str],
                                                                                    args: tuple[str, ...]) -> None:
    """Every process that runs workflows holds a liveness lock under the home: on a read-only home taking it
    is the first write, and it must be one line (not an OSError traceback from the lock file, exit 1)."""
    home, rid = busy_home
    before = {name: (home / name).read_bytes() for name in ("foundry.db", "dbos.sqlite", "audit.head")}
    refs = subprocess.run(["git", "--git-dir", str(home / "tools.git"), "for-each-ref"], capture_output=True,
                          text=True, check=True).stdout
    proc = run_read_only(home, *(a.replace("{rid}", rid).replace("{dir}", str(home.parent)) for a in args))
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert proc.stderr.startswith("toolfoundry: error: ") and proc.stderr.count("\n") == 1, proc.stderr
    assert "the home is read-only" in proc.stderr and str(home) in proc.stderr and "Traceback" not in proc.stderr
    assert {name: (home / name).read_bytes() for name in before} == before
    assert subprocess.run(["git", "--git-dir", str(home / "tools.git"), "for-each-ref"], capture_output=True,
                          text=True, check=True).stdout == refs


def test_searching_a_read_only_home_whose_index_is_current_only_reads(busy_home: tuple[Path, str]) -> None:
    home, _ = busy_home
    search = ("import sys; from toolfoundry.api import Foundry\n"
              "with Foundry(sys.argv[1]) as f: print(*[m.name for m in f.search('add two numbers')])")
    proc = run_cli(home, "tools")  # the writable home: brings nothing new, but makes sure the home is settled
    assert proc.returncode == 0, proc.stderr
    writable = subprocess.run([sys.executable, "-c", search, str(home)], capture_output=True, text=True, timeout=120)
    assert writable.returncode == 0 and writable.stdout.split() == ["add"], writable.stderr  # the index is current
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOOLFOUNDRY_")}
    proc = subprocess.run(["bwrap", "--dev-bind", "/", "/", "--ro-bind", str(home), str(home), "--",
                           sys.executable, "-c", search, str(home)], capture_output=True, text=True, env=env,
                          timeout=120, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["add"]
