"""A cluster on one machine: workers, a forge node and CLI clients sharing one PostgreSQL database.

Every test starts real processes (``toolfoundry worker``, ``toolfoundry propose``) against a database of
the session's throwaway PostgreSQL server (``tests/pgserver.py``), and checks what the issue asks of a
cluster: work is shared, a dead or fenced worker loses nothing, a database restart duplicates nothing,
merges wait for the forge node, and a client's request waits for a worker.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import anyio
import psycopg
import pytest
from pgserver import PostgresServer
from processes import (
    REPO,
    Worker,
    audit_events,
    children,
    cli_env,
    duplicated_keys,
    merges_of,
    slow_tool,
    spawn,
    stop_process,
    wait_for,
    workers,
)

from conftest import ADD, ADD_EXAMPLES, EXAMPLES, write

pytestmark = pytest.mark.slow


class Node:
    """A home of the cluster: its own directory and tools.git, the cluster's database."""

    def __init__(self, home: Path, url: str, *, forge_url: str | None = None) -> None:
        self.home = home
        self.url = url
        self.env = {"TOOLFOUNDRY_DATABASE_URL": url}
        proc = self.run("init")
        assert proc.returncode == 0, proc.stderr
        config = home / "toolfoundry.toml"
        text = config.read_text().replace('# url = ""', f"url = {json.dumps(url)}")  # as a user would keep it
        if forge_url is not None:
            text = text.replace("# forge_node = true", "forge_node = false").replace(
                '# forge_url = ""', f"forge_url = {json.dumps(forge_url)}")
        config.write_text(text)

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "toolfoundry", *args], capture_output=True, text=True,
                              env=cli_env(self.home, env=self.env), timeout=timeout, cwd=REPO)

    def json(self, *args: str) -> object:
        proc = self.run(*args, "--json")
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    def spawn(self, *args: str) -> subprocess.Popen[str]:
        return spawn(self.home, *args, env=self.env)

    def worker(self, log: Path, *args: str) -> Worker:
        return Worker(self.home, log, *args, env=self.env)


def workflows(url: str) -> list[tuple[str, str, str, str]]:
    """(id, name, status, executor) of every DBOS workflow in the cluster."""
    with psycopg.connect(url) as conn:
        return [tuple(r) for r in conn.execute(  # type: ignore[misc]
            "SELECT workflow_uuid, name, status, coalesce(executor_id, '') FROM dbos.workflow_status")]


def tool_dir(root: Path, i: int) -> Path:
    d = root / f"t{i}"
    write(d / "tool.py", f'"""Add {i}."""\n\n\ndef add_{i}(x: int) -> int:\n    """x plus {i}."""\n    return x + {i}\n')
    write(d / "examples.json", json.dumps([{"args": {"x": 1}, "expect": 1 + i}, {"args": {"x": -i}, "expect": 0}]))
    return d


def assert_closed_once(node: Node, rids: list[str]) -> list[dict[str, object]]:
    events = audit_events(node.home, env=node.env)
    closed = Counter(str(e["request_id"]) for e in events if e["kind"] == "request.closed")
    assert all(closed[r] == 1 for r in rids), {r: closed[r] for r in rids}
    assert not duplicated_keys(events)
    assert node.run("audit", "verify").returncode == 0
    return events


def test_three_workers_share_twenty_proposals(postgres: str, tmp_path: Path) -> None:
    node = Node(tmp_path / "h", postgres)
    with workers(node.home, tmp_path, 3, "--slots", "2", env=node.env) as running:
        # four CLI processes, five tools each (`propose P... --jobs 5`, one enqueue per tool)
        clients = [node.spawn("propose", *(str(tool_dir(tmp_path / "tools", 5 * c + i)) for i in range(5)),
                              "--jobs", "5", "--json") for c in range(4)]
        outcomes = []
        for c in clients:
            out, err = c.communicate(timeout=900)
            assert c.returncode == 0, err
            outcomes += [json.loads(line) for line in out.splitlines() if line.strip()]
        assert all(w.proc.poll() is None for w in running)
    rids = [o["request_id"] for o in outcomes]
    assert [o["status"] for o in outcomes] == ["deployed"] * 20
    assert len(set(rids)) == 20
    tools = node.json("tools")
    assert sorted(t["name"] for t in tools) == sorted(f"add_{i}" for i in range(20))  # type: ignore[union-attr]
    assert all(merges_of(node.home / "tools.git", r) == 1 for r in rids)
    assert_closed_once(node, rids)
    ran = {executor for _, name, status, executor in workflows(postgres) if name == "Pipeline.judge"}
    assert len(ran) > 1, ran  # the validations were shared


def test_a_worker_killed_in_the_tests_stage_is_finished_by_another(postgres: str, tmp_path: Path) -> None:
    node = Node(tmp_path / "h", postgres)
    a, b = node.worker(tmp_path / "a.log", "--no-supervise"), node.worker(tmp_path / "b.log", "--no-supervise")
    client = None
    try:
        ids = {a.wait_up(): a, b.wait_up(): b}
        client = node.spawn("propose", str(slow_tool(tmp_path, 4)), "--json")
        victim = wait_for(lambda: next((w for w in (a, b) if "bwrap" in children(w.pid)), None),
                          "a worker to start the tests in its sandbox")
        os.kill(victim.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        out, err = client.communicate(timeout=300)
        finished_after = time.monotonic() - killed_at
        assert client.returncode == 0, err
        outcome = json.loads(out)
        assert outcome["status"] == "deployed"
        survivor = b if victim is a else a
        assert survivor.proc.poll() is None
    finally:
        if client is not None:
            stop_process(client)
        for w in (a, b):
            w.stop()
    rid = outcome["request_id"]
    events = assert_closed_once(node, [rid])
    dead = next(i for i, w in ids.items() if w is victim)
    recovered = [e for e in events if e["kind"] == "request.recovered"]
    assert recovered and {e["data"]["executor"] for e in recovered} == {dead}, recovered  # type: ignore[index]
    assert all(e["data"]["by"] != dead for e in recovered)  # type: ignore[index]
    assert merges_of(node.home / "tools.git", rid) == 1
    print(f"killed mid-tests; the request finished {finished_after:.1f}s later")


def liveness_backends(url: str, executor: str) -> list[int]:
    with psycopg.connect(url, autocommit=True) as conn:
        return [r[0] for r in conn.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s",
                                           (f"toolfoundry-liveness {executor}"[:63],))]


def test_a_worker_that_loses_its_liveness_connection_exits(postgres: str, tmp_path: Path) -> None:
    node = Node(tmp_path / "h", postgres)
    worker = node.worker(tmp_path / "w.log", "--no-supervise")
    try:
        executor = worker.wait_up()
        [backend] = wait_for(lambda: liveness_backends(postgres, executor), "the worker's liveness connection")
        with psycopg.connect(postgres, autocommit=True) as conn:
            conn.execute("SELECT pg_terminate_backend(%s)", (backend,))
        cut = time.monotonic()
        code = worker.proc.wait(timeout=30)
        print(f"fenced {time.monotonic() - cut:.2f}s after its liveness connection was cut")
        assert code == 75, worker.output()
        assert "lost the liveness lock" in worker.output()
    finally:
        worker.stop()
    assert node.json("workers") == {"executors": [], "running": []}


def test_a_supervised_worker_comes_back_after_fencing(postgres: str, tmp_path: Path) -> None:
    node = Node(tmp_path / "h", postgres)
    worker = node.worker(tmp_path / "w.log")
    try:
        first = worker.wait_up()
        [backend] = wait_for(lambda: liveness_backends(postgres, first), "the worker's liveness connection")
        with psycopg.connect(postgres, autocommit=True) as conn:
            conn.execute("SELECT pg_terminate_backend(%s)", (backend,))
        wait_for(lambda: "starting a new one" in worker.output(), "the supervisor to restart the worker")
        second = wait_for(lambda: [e["id"] for e in node.json("workers")["executors"]],  # type: ignore[index]
                          "a new executor")
        assert second != [first] and len(second) == 1
        proc = node.run("propose", str(EXAMPLES / "word_stats"))
        assert proc.returncode == 0, proc.stderr
        assert worker.proc.poll() is None
    finally:
        assert worker.stop() == 0, worker.output()


def test_postgres_restarted_mid_run_loses_and_duplicates_nothing(postgres: str, pg_server: PostgresServer,
                                                                tmp_path: Path) -> None:
    node = Node(tmp_path / "h", postgres)
    with workers(node.home, tmp_path, 2, env=node.env) as running:
        clients = [node.spawn("propose", str(tool_dir(tmp_path / "tools", i)), "--json") for i in range(6)]
        try:
            wait_for(lambda: sum(1 for _, name, _, _ in workflows(postgres) if name == "Pipeline.validate") == 6
                     and any(name == "Pipeline.judge" for _, name, _, _ in workflows(postgres)),
                     "every request enqueued and the first validation started")
            pg_server.stop("immediate")
            time.sleep(3)
            pg_server.start()
            outcomes = []
            for c in clients:
                out, err = c.communicate(timeout=600)
                assert c.returncode == 0, err
                outcomes.append(json.loads(out))
        finally:
            for c in clients:
                stop_process(c)
        assert all(w.proc.poll() is None for w in running)  # the supervisors kept a worker going
    assert [o["status"] for o in outcomes] == ["deployed"] * 6
    rids = [o["request_id"] for o in outcomes]
    assert_closed_once(node, rids)
    assert all(merges_of(node.home / "tools.git", r) == 1 for r in rids)
    statuses = Counter(status for _, _, status, _ in workflows(postgres))
    assert set(statuses) == {"SUCCESS"}, statuses  # none exhausted its recovery attempts, none left behind


def test_merges_wait_for_the_forge_node(postgres: str, tmp_path: Path) -> None:
    forge = Node(tmp_path / "forge", postgres)
    node = Node(tmp_path / "node", postgres, forge_url=f"file://{tmp_path / 'forge' / 'tools.git'}")
    forge_worker = forge.worker(tmp_path / "forge.log")
    node_worker = node.worker(tmp_path / "node.log")
    clients: list[subprocess.Popen[str]] = []
    forge_executors = set()
    try:
        forge_executors.add(forge_worker.wait_up())
        node_worker.wait_up()
        first = node.run("propose", str(tool_dir(tmp_path / "tools", 0)), "--json")
        assert first.returncode == 0, first.stderr
        assert forge_worker.stop() == 0
        clients = [node.spawn("propose", str(tool_dir(tmp_path / "tools", i)), "--json") for i in (1, 2)]
        wait_for(lambda: sum(1 for _, name, status, _ in workflows(postgres)
                             if name == "Pipeline.open_pull_request" and status == "ENQUEUED") == 2,
                 "both pull requests to wait for the forge node")
        assert all(c.poll() is None for c in clients)
        forge_worker = forge.worker(tmp_path / "forge2.log")
        forge_executors.add(forge_worker.wait_up())
        outcomes = [json.loads(c.communicate(timeout=300)[0]) for c in clients]
        assert [o["status"] for o in outcomes] == ["deployed", "deployed"]
        shutil.copy(forge.home / "foundry-key.pub", node.home / "foundry-key.pub")  # what the docs ask of a node
        assert node.json("call", "add_2", "--args", '{"x": 5}') == {"ok": True, "result": 7}
    finally:
        for c in clients:
            stop_process(c)
        forge_worker.stop()
        node_worker.stop()
    rids = [json.loads(first.stdout)["request_id"], *(o["request_id"] for o in outcomes)]
    assert_closed_once(node, rids)
    assert all(merges_of(forge.home / "tools.git", r) == 1 for r in rids)
    fsck = subprocess.run(["git", "-C", str(forge.home / "tools.git"), "fsck", "--strict"], capture_output=True,
                          text=True)
    assert fsck.returncode == 0, fsck.stderr
    forge_work = [executor for _, name, _, executor in workflows(postgres)
                  if name in ("Pipeline.open_pull_request", "Pipeline.deliver")]
    assert len(forge_work) == 6 and set(forge_work) <= forge_executors, (forge_work, forge_executors)


def test_a_client_request_waits_for_a_worker(postgres: str, tmp_path: Path) -> None:
    node = Node(tmp_path / "h", postgres)
    log = tmp_path / "client.err"
    with log.open("w") as err:
        client = spawn(node.home, "propose", str(EXAMPLES / "word_stats"), env=node.env, stderr=err)
    try:
        wait_for(lambda: "no worker is running" in log.read_text() or client.poll() is not None,
                 "the client to say its request is queued")
        assert client.poll() is None, log.read_text()
        assert [s for _, _, s, _ in workflows(postgres)] == ["ENQUEUED"]
        with workers(node.home, tmp_path, env=node.env):
            out, _ = client.communicate(timeout=300)
        assert client.returncode == 0, log.read_text()
        assert "deployed word_stats v1" in out
    finally:
        stop_process(client)


def test_an_mcp_server_is_a_client_of_the_cluster(postgres: str, tmp_path: Path) -> None:
    from mcp import Client, StdioServerParameters

    from surfaces.test_mcp_transport import exercise

    node = Node(tmp_path / "h", postgres)
    with workers(node.home, tmp_path, env=node.env):
        add = node.run("propose", str(write(tmp_path / "add.py", ADD)), "--examples",
                       str(write(tmp_path / "add.json", ADD_EXAMPLES)))
        assert add.returncode == 0, add.stderr
        server = StdioServerParameters(command=sys.executable, args=["-m", "toolfoundry", "serve"],
                                       env=cli_env(node.home), cwd=REPO)  # the database from toolfoundry.toml

        async def go() -> None:
            async with Client(server, mode="auto", read_timeout_seconds=120) as client:
                await exercise(client, None, node.home, tmp_path)
        anyio.run(go)
    events = audit_events(node.home)
    assert not duplicated_keys(events) and node.run("audit", "verify").returncode == 0
    served = {e["request_id"] for e in events if e["kind"] == "request.opened" and e["actor"].startswith("mcp:")}
    assert served, "the server's proposal ran on the cluster's worker"
    assert {"add", "double", "triple"} <= {t["name"] for t in node.json("tools")}  # type: ignore[union-attr]
