"""Commands that run a home's workflows for others: ``worker``, ``workers`` and ``resume``."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from toolfoundry.surfaces.cli.app import (
    HomeOpt,
    JsonOpt,
    app,
    err,
    fail,
    open_foundry,
    out,
    print_json,
    settings,
)


@app.command()
def worker(slots: Annotated[int | None, typer.Option("--slots", help="Requests (and, in a cluster, validations) run"
                                                                      " at once (default: the number of cores).")] = None,
           supervise: Annotated[bool, typer.Option(
               "--supervise/--no-supervise", help="In a cluster, start a new worker process when this one exits"
                                                  " after losing its liveness lock or dies; --no-supervise under a"
                                                  " supervisor of your own (systemd Restart=always).")] = True,
           home: HomeOpt = None) -> None:
    """Run the home's requests from its queues — anyone's — until stopped (Ctrl-C or SIGTERM)."""
    if slots is not None and slots < 1:
        fail(f"--slots must be at least 1, not {slots}")
    if supervise and settings(home).database.postgres:
        raise typer.Exit(_supervise(["--no-supervise", *(["--slots", str(slots)] if slots else []),
                                     *(["--home", str(home)] if home else [])]))
    foundry = open_foundry(home, role="worker")
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        executor = foundry.serve_queue(slots)
        err.print(f"toolfoundry worker {escape(executor.id)} on {foundry.settings.home}"
                  f" ({slots or foundry.settings.pipeline.concurrency} slots; Ctrl-C stops it)")
        stop.wait()
    finally:
        foundry.close()
    err.print("worker stopped; requests it was running are finished by the next live process")


def _supervise(args: list[str]) -> int:
    """Run ``toolfoundry worker ARGS`` as a child, and start a new one whenever it fences itself (exit 75: its
    liveness lock is lost, e.g. the database restarted) or dies, with a growing pause while the database is
    away; pass SIGINT/SIGTERM on and return the child's status. A child that fails at once on its first
    start (bad settings, an unreachable database) is not restarted: its status is returned."""
    from toolfoundry.pipeline.executors_pg import FENCED_EXIT
    stop = threading.Event()
    child: list[subprocess.Popen[bytes]] = []

    def forward(signum: int, _frame: object) -> None:
        stop.set()
        if child and child[-1].poll() is None:
            child[-1].send_signal(signum)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, forward)
    pause, ever_up = 1.0, False
    while True:
        started = time.monotonic()
        child.append(subprocess.Popen([sys.executable, "-m", "toolfoundry", "worker", *args]))
        code = child[-1].wait()
        ran = time.monotonic() - started
        if stop.is_set():
            return 0 if code in (0, -signal.SIGTERM, -signal.SIGINT) else code
        if code == 0 or (not ever_up and code != FENCED_EXIT and ran < STARTUP_SECONDS):
            return code  # a clean stop, or it never came up: restarting would fail the same way
        ever_up = True
        pause = 1.0 if ran > 30 else min(pause * 2, 10.0)
        why = "lost its liveness lock" if code == FENCED_EXIT else f"exited with {code}"
        err.print(f"toolfoundry worker: the worker {why}; starting a new one in {pause:.0f}s")
        if stop.wait(pause):
            return 0


STARTUP_SECONDS = 5.0
"""A supervised worker that ran this long had come up: later failures are retried."""


@app.command()
def workers(home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """The processes running this home's workflows now, and what each is running."""
    foundry = open_foundry(home)
    live = foundry.executors()
    running = sorted(row.id for row in foundry.requests("running"))
    if as_json:
        print_json({"executors": [{**e.to_json(), "running": rids} for e, rids in live], "running": running})
        return
    if not live:
        out.print("no toolfoundry process is running workflows on this home")
    else:
        table = Table("executor", "role", "pid", "host", "since", "started for", "running")
        for e, rids in live:
            table.add_row(escape(e.id), e.role, str(e.pid), escape(e.host), e.since.replace("T", " ")[:19],
                          escape(e.command), ", ".join(rids) or "-")
        out.print(table)
    if running:
        out.print(f"requests running: {', '.join(running)}")


@app.command()
def resume(home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Finish every request a process left unfinished when it died; end those that cannot finish."""
    rows = open_foundry(home).resume()
    if as_json:
        print_json([{"request_id": r.id, "status": r.status, "reason": r.reason} for r in rows])
        return
    if not rows:
        out.print("nothing was left unfinished")
    for r in rows:
        out.print(f"{r.id}: {r.status}{': ' + escape(r.reason) if r.reason else ''}")
