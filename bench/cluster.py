"""Scale-out on PostgreSQL (issue 12), measured side by side in one run on a throwaway PostgreSQL server.

    python bench/cluster.py [--tools 40] [--workers 1,2,3] [--kills 5] [--latency-runs 15] [--json FILE]

* throughput: the same batch of small tools (``add_<i>``, examples only) proposed through one client
  (the Python API, queued) to 1, 2 and 3 ``toolfoundry worker`` processes on one database, each run on a
  fresh database and home; makespan from the first enqueue to the last outcome.
* kill → resume: two workers; a request whose tests take 3 s; SIGKILL the worker whose sandbox runs
  them; the time until the survivor records ``request.recovered`` (its watchdog handing the work on:
  grace + look interval + queue poll) and until the request is done. Repeated ``--kills`` times.
* enqueue → result: one tool at a time through a client (DBOSClient enqueue, a worker process, the
  outcome polled, progress followed in the audit log) against the same tool run in-process (a process
  that is itself the worker, so no client hop), p50 of each on the same database.

Needs Debian's ``postgresql`` (``/usr/lib/postgresql/*/bin``) and bubblewrap. The machine is shared and
noisy: read medians and ratios; the core count is printed with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from pgserver import PostgresServer, binaries  # noqa: E402 (the test harness's throwaway server)

from toolfoundry.api import Foundry  # noqa: E402
from toolfoundry.settings import load as load_settings  # noqa: E402
from toolfoundry.toolfile import load_candidate  # noqa: E402


def tool(root: Path, i: int, *, slow: bool = False) -> Path:
    d = root / (f"slow{i}" if slow else f"t{i}")
    d.mkdir(parents=True, exist_ok=True)
    name = f"slow_{i}" if slow else f"add_{i}"
    (d / "tool.py").write_text(f'"""Add {i}."""\n\n\ndef {name}(x: int) -> int:\n    """x plus {i}."""\n    return x + {i}\n')
    (d / "examples.json").write_text(json.dumps([{"args": {"x": 1}, "expect": 1 + i}, {"args": {"x": -i}, "expect": 0}]))
    if slow:
        (d / "test_tool.py").write_text(f"import time\n\nfrom tool import {name}\n\n\ndef test_it():\n"
                                        f"    time.sleep(3)\n    assert {name}(0) == {i}\n")
    return d


def env_for(home: Path, url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOOLFOUNDRY_")}
    env.update(TOOLFOUNDRY_HOME=str(home), TOOLFOUNDRY_DATABASE_URL=url, TOOLFOUNDRY_USER="bench")
    return env


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "toolfoundry", *args], env=env, capture_output=True, text=True,
                          check=True, cwd=REPO, timeout=600)


class Workers:
    """``n`` worker processes (unsupervised: the bench kills and counts them itself)."""

    def __init__(self, env: dict[str, str], logs: Path, n: int) -> None:
        self.env, self.logs = env, logs
        self.procs: list[tuple[subprocess.Popen[bytes], Path]] = []
        for _ in range(n):
            self.start()

    def start(self) -> subprocess.Popen[bytes]:
        log = self.logs / f"worker-{len(self.procs)}.log"
        proc = subprocess.Popen([sys.executable, "-m", "toolfoundry", "worker", "--no-supervise"], env=self.env,
                                stdout=subprocess.DEVNULL, stderr=log.open("w"), cwd=REPO)
        self.procs.append((proc, log))
        deadline = time.monotonic() + 120
        while "toolfoundry worker " not in log.read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"a worker did not start:\n{log.read_text()}")
            time.sleep(0.05)
        return proc

    def stop(self) -> None:
        for proc, _ in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc, _ in self.procs:
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()


def fresh(server: PostgresServer, root: Path, label: str) -> tuple[Path, str, dict[str, str]]:
    url = server.create_database()
    home = root / label
    env = env_for(home, url)
    cli(env, "init")
    return home, url, env


def throughput(server: PostgresServer, root: Path, n_workers: int, n_tools: int) -> dict[str, float]:
    home, url, env = fresh(server, root, f"throughput-{n_workers}")
    workers = Workers(env, root, n_workers)
    try:
        settings = load_settings(home, env)
        candidates = [load_candidate(tool(root / "tools", i)) for i in range(n_tools)]
        with Foundry(settings, role="api") as foundry:
            start = time.perf_counter()
            outcomes = foundry.propose_many(candidates, jobs=n_tools)
            makespan = time.perf_counter() - start
    finally:
        workers.stop()
    deployed = sum(o.status == "deployed" for o in outcomes)
    return {"workers": n_workers, "tools": n_tools, "deployed": deployed, "makespan_s": makespan,
            "tools_per_s": n_tools / makespan, "busy_s": busy(url)}


def busy(url: str) -> dict[str, float]:
    """Seconds each kind of workflow ran (from dequeue to its end), summed over the batch: where the time
    went. The forge's two (pull request, deliver) run one at a time in the whole cluster."""
    import psycopg
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT name, sum(updated_at - coalesce(started_at_epoch_ms, created_at)) / 1000.0"
                            " FROM dbos.workflow_status GROUP BY name").fetchall()
    return {str(name).removeprefix("Pipeline."): round(float(total), 2) for name, total in rows}


def judging(url: str, foundry: Foundry, workers: Workers) -> subprocess.Popen[bytes]:
    """The worker whose sandbox runs the request's tests now: the executor of its pending ``judge`` workflow,
    once it has been in the tests stage for a moment (every worker keeps warm jails, so a bwrap child alone
    does not say which one is validating)."""
    import psycopg
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT executor_id FROM dbos.workflow_status WHERE name = 'Pipeline.judge'"
                               " AND status = 'PENDING' LIMIT 1").fetchone()
        if row is not None:
            time.sleep(0.5)  # into the tests stage (its test sleeps 3 s)
            pids = {e.pid for e, _ in foundry.executors() if e.id == row[0]}
            found = [p for p, _ in workers.procs if p.poll() is None and p.pid in pids]
            if found:
                return found[0]
        time.sleep(0.02)
    raise SystemExit("no worker took the request's validation within 120 s")


def kill_resume(server: PostgresServer, root: Path, kills: int) -> dict[str, object]:
    home, url, env = fresh(server, root, "kills")
    workers = Workers(env, root, 2)
    resumed, finished = [], []
    try:
        settings = load_settings(home, env)
        with Foundry(settings, role="api") as foundry:
            for k in range(kills):
                done: list[object] = []
                candidate = load_candidate(tool(root / "tools", k, slow=True))
                thread = threading.Thread(target=lambda c=candidate, out=done: out.append(foundry.propose(c)))
                thread.start()
                victim = judging(url, foundry, workers)
                victim.kill()
                killed = time.time()
                thread.join(600)
                finished.append(time.time() - killed)
                outcome = done[0]
                rid = getattr(outcome, "request_id", "")
                events = [e for e in foundry.events(rid) if e.kind == "request.recovered"]
                if events:
                    resumed.append(datetime.fromisoformat(events[0].ts).timestamp() - killed)
                workers.start()  # back to two workers
    finally:
        workers.stop()
    return {"kills": kills, "resumed_p50_s": statistics.median(resumed) if resumed else None,
            "resumed_all_s": resumed, "finished_p50_s": statistics.median(finished), "finished_all_s": finished}


def latency(server: PostgresServer, root: Path, runs: int) -> dict[str, float]:
    home, url, env = fresh(server, root, "latency")
    workers = Workers(env, root, 1)
    try:
        settings = load_settings(home, env)
        times = []
        with Foundry(settings, role="api") as foundry:
            for i in range(runs + 1):
                start = time.perf_counter()
                foundry.propose(load_candidate(tool(root / "client", 1000 + i)))
                times.append(time.perf_counter() - start)
    finally:
        workers.stop()
    # the same requests, run by a process that is itself the worker (no client hop)
    proc = subprocess.run([sys.executable, __file__, "_in_process", str(home), url, str(root / "inproc"), str(runs)],
                          env=env, capture_output=True, text=True, cwd=REPO, timeout=1800)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr)
    here = json.loads(proc.stdout.strip().splitlines()[-1])
    client_p50, here_p50 = statistics.median(times[1:]), statistics.median(here[1:])
    return {"runs": runs, "client_p50_s": client_p50, "in_process_p50_s": here_p50,
            "difference_s": client_p50 - here_p50}


def _in_process(home: str, url: str, tools: str, runs: int) -> None:
    settings = load_settings(Path(home), env_for(Path(home), url))
    times = []
    with Foundry(settings, role="worker") as foundry:
        foundry.serve_queue()
        for i in range(runs + 1):
            start = time.perf_counter()
            foundry.propose(load_candidate(tool(Path(tools), 2000 + i)))
            times.append(time.perf_counter() - start)
    print(json.dumps(times))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_in_process":
        _in_process(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tools", type=int, default=40)
    parser.add_argument("--workers", default="1,2,3")
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--latency-runs", type=int, default=15)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    bindir = binaries()
    if bindir is None:
        raise SystemExit("PostgreSQL is not installed (apt-get install postgresql)")
    server = PostgresServer(bindir)
    server.start()
    results: dict[str, object] = {"taken": datetime.now().isoformat(timespec="minutes"), "cores": os.cpu_count(),
                                  "python": platform.python_version(), "load_before": os.getloadavg()[0]}
    try:
        with tempfile.TemporaryDirectory(prefix="tf-bench-cluster-") as tmp:
            root = Path(tmp)
            rows = []
            for n in (int(x) for x in args.workers.split(",") if x):
                row = throughput(server, root, n, args.tools)
                rows.append(row)
                print(f"throughput  {n} worker(s): {row['tools']} tools in {row['makespan_s']:.1f}s"
                      f" ({row['tools_per_s']:.2f}/s, {row['deployed']} deployed; busy s: {row['busy_s']})", flush=True)
            results["throughput"] = rows
            if args.kills:
                results["kill_resume"] = k = kill_resume(server, root, args.kills)
                print(f"kill→resume p50 {k['resumed_p50_s']}s, kill→done p50 {k['finished_p50_s']:.1f}s"  # type: ignore[str-format]
                      f" over {args.kills} kills", flush=True)
            if args.latency_runs:
                results["latency"] = lat = latency(server, root, args.latency_runs)
                print(f"enqueue→result p50 {lat['client_p50_s']:.3f}s through a client, {lat['in_process_p50_s']:.3f}s"
                      f" in-process (difference {lat['difference_s']:+.3f}s)", flush=True)
    finally:
        server.destroy()
    results["load_after"] = os.getloadavg()[0]
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
