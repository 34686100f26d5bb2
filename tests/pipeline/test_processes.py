"""Many processes on one home (SQLite, one machine): nothing locks the home, and a dead process's work is not lost.

Each process that runs workflows is an executor of its own with an ``flock`` liveness lock; a worker's
watchdog recovers what a dead one left. These tests run real CLI and worker processes on one home.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

from processes import (
    Worker,
    audit_events,
    children,
    duplicated_keys,
    merges_of,
    slow_tool,
    spawn,
    stop_process,
    wait_for,
    workers,
)

from conftest import EXAMPLES, cli_json, run_cli


def status_of(home: Path, rid: str) -> str:
    code, shown = cli_json(home, "review", "show", rid)
    assert code == 0, shown
    return str(shown["status"])  # type: ignore[index]


def opened_request(home: Path) -> str | None:
    """The id of the first request opened on ``home``, once it is."""
    return next((str(e["request_id"]) for e in audit_events(home) if e["kind"] == "request.opened"), None)


def test_a_second_propose_does_not_wait_for_the_first(tmp_path: Path) -> None:
    home = tmp_path / "h"
    assert run_cli(home, "init").returncode == 0
    tool = slow_tool(tmp_path, 3)
    first = spawn(home, "propose", str(tool))
    try:
        rid = wait_for(lambda: opened_request(home), "the first request to open")
        # freeze the first process while its tests run in the sandbox: it holds its executor's lock and its
        # request, and no database transaction (it is waiting on the sandbox)
        wait_for(lambda: "bwrap" in children(first.pid), "the first request's sandbox to start")
        os.kill(first.pid, signal.SIGSTOP)
        second = run_cli(home, "propose", str(EXAMPLES / "word_stats"))
        assert second.returncode == 0, second.stderr
        assert "deployed word_stats v1" in second.stdout
        assert "waiting" not in second.stderr.lower(), second.stderr
        assert status_of(home, rid) == "running"  # the first is still in the middle of its request
        code, executors = cli_json(home, "workers")
        assert code == 0 and [(e["pid"], e["running"]) for e in executors["executors"]] == [  # type: ignore[index]
            (first.pid, [rid])]
        assert executors["running"] == [rid]  # type: ignore[index]
        tools = run_cli(home, "tools", "--json")  # answers at once: nothing is finished first, nothing is "left"
        assert tools.returncode == 0 and "note:" not in tools.stderr, tools.stderr
        # `resume` waits for the request another live process runs, and says who that is
        log = tmp_path / "resume.err"
        with log.open("w") as err_file:
            resume = spawn(home, "resume", "--json", stderr=err_file)
        try:
            wait_for(lambda: f"waiting for request {rid}: process {first.pid} " in log.read_text(),
                     "resume to say whom it waits for")
            assert resume.poll() is None
            os.kill(first.pid, signal.SIGCONT)
            out, err = first.communicate(timeout=180)
            assert first.returncode == 0, err
            assert "deployed echo v1" in out
            resumed, _ = resume.communicate(timeout=180)
            assert resume.returncode == 0, log.read_text()
            assert [(r["request_id"], r["status"]) for r in json.loads(resumed)] == [(rid, "deployed")]
        finally:
            stop_process(resume)
    finally:
        stop_process(first)
    assert run_cli(home, "audit", "verify").returncode == 0
    assert not duplicated_keys(audit_events(home))


def test_a_worker_finishes_what_a_killed_command_left(tmp_path: Path) -> None:
    home = tmp_path / "h"
    assert run_cli(home, "init").returncode == 0
    with workers(home, tmp_path) as [worker]:
        executor = worker.wait_up()
        killed = run_cli(home, "propose", str(EXAMPLES / "slugify"), env={"TOOLFOUNDRY_CRASH_AFTER": "tests"})
        assert killed.returncode == -9, killed.stderr
        deployed = wait_for(lambda: cli_json(home, "tools")[1], "the worker to deploy the interrupted request")
        assert [t["name"] for t in deployed] == ["slugify"]
        rid = deployed[0]["request_id"]
        events = audit_events(home, rid)
        recovered = [e for e in events if e["kind"] == "request.recovered"]
        assert len(recovered) == 1 and recovered[0]["data"]["by"] == executor, recovered
        assert recovered[0]["data"]["executor"] != executor
        assert [e["kind"] for e in events].count("request.closed") == 1
        assert merges_of(home / "tools.git", rid) == 1
        assert not duplicated_keys(events)
    assert worker.proc.returncode == 0, worker.output()
    assert "worker stopped" in worker.output()
    assert run_cli(home, "audit", "verify").returncode == 0
    assert cli_json(home, "call", "slugify", "--args", '{"text": "Back Up"}') == (0, {"ok": True, "result": "back-up"})


def test_workers_lists_the_live_executors(tmp_path: Path) -> None:
    home = tmp_path / "h"
    assert run_cli(home, "init").returncode == 0
    assert cli_json(home, "workers") == (0, {"executors": [], "running": []})
    assert "no toolfoundry process" in run_cli(home, "workers").stdout
    worker = Worker(home, tmp_path / "w.log", "--slots", "1")
    try:
        executor = worker.wait_up()
        assert "(1 slots" in worker.output()
        code, shown = cli_json(home, "workers")
        assert code == 0
        [listed] = shown["executors"]  # type: ignore[index]
        assert listed["id"] == executor and listed["role"] == "worker" and listed["pid"] == worker.pid
        assert listed["running"] == []
        assert "worker" in run_cli(home, "workers").stdout
    finally:
        assert worker.stop(signal.SIGKILL) == -9
    # the kernel freed its lock: it is no longer listed, and its lock file is cleaned up
    assert cli_json(home, "workers") == (0, {"executors": [], "running": []})
    assert not list((home / "executors").glob("*.lock"))


def test_a_queued_request_waits_for_a_worker(tmp_path: Path) -> None:
    home = tmp_path / "h"
    assert run_cli(home, "init").returncode == 0
    config = home / "toolfoundry.toml"
    config.write_text(config.read_text().replace('# run = "auto"', 'run = "queue"'))
    log = tmp_path / "client.err"
    with log.open("w") as err:
        client = spawn(home, "propose", str(EXAMPLES / "word_stats"), stderr=err)
    try:
        wait_for(lambda: "no worker is running" in log.read_text() or client.poll() is not None,
                 "the client to say its request is queued")
        assert client.poll() is None, log.read_text()  # enqueued, and no worker: it waits, durably, in the queue
        assert "`toolfoundry worker`" in log.read_text()
        assert cli_json(home, "tools") == (0, [])
        with workers(home, tmp_path):
            out, _ = client.communicate(timeout=180)
        assert client.returncode == 0, log.read_text()
        assert "deployed word_stats v1" in out
    finally:
        stop_process(client)
    assert [t["name"] for t in cli_json(home, "tools")[1]] == ["word_stats"]  # type: ignore[union-attr]


def test_worker_rejects_bad_slots(tmp_path: Path) -> None:
    home = tmp_path / "h"
    assert run_cli(home, "init").returncode == 0
    proc = run_cli(home, "worker", "--slots", "0")
    assert proc.returncode == 2 and "--slots must be at least 1" in proc.stderr
