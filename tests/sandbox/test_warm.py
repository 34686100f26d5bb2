"""Warm validation sandboxes, with real bwrap: one candidate after another in the same sandbox, and
nothing of the first reaches the next — no file, no module state, no patched builtin, no process, no fd,
no memory — while runs that carry held-out inputs never share a sandbox at all.

Each test runs candidate A, then candidate B through the same :class:`BwrapSandbox` (so through the same
warm sandbox, which the tests check by B's pid namespace), and asserts what B sees, or B's verdict.
"""

from __future__ import annotations

import dataclasses
import json
import os
import textwrap
from collections.abc import Iterator

import pytest

from toolfoundry.core import Example, Permissions
from toolfoundry.errors import SandboxUnavailable
from toolfoundry.sandbox import BwrapSandbox
from toolfoundry.sandbox.settings import SandboxSettings
from toolfoundry.sandbox.types import Limits, RunReport
from toolfoundry.stages import oracle, tests

LIMITS = Limits(wall_seconds=10.0, cpu_seconds=5)

LOOK = '''
import json, os, sys, builtins, statistics

def f(x: str = "") -> dict:
    """What a candidate can see of its sandbox."""
    files = []
    for root, dirs, names in os.walk("/tmp"):
        files += [os.path.join(root, n) for n in dirs + names]
    fds = {}
    for fd in os.listdir("/proc/self/fd"):
        try:
            fds[fd] = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            pass
    comms = {}
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/comm") as handle:
                    comms[pid] = handle.read().strip()
            except OSError:
                pass
    with open("/proc/1/stat") as handle:  # when this sandbox's pid 1 started: the kernel may reuse the ns inode
        started = handle.read().rsplit(")", 1)[1].split()[19]
    return {"files": sorted(files), "tool": sorted(os.listdir("/tool")), "fds": fds, "procs": comms,
            "pid": os.getpid(), "pidns": os.readlink("/proc/self/ns/pid") + "@" + started,
            "marked": hasattr(json, "MARKED") or hasattr(builtins, "MARKED") or "planted" in sys.modules,
            "abs": abs(-3), "sum": sum([1, 2]), "mean": statistics.fmean([1.0, 3.0]), "x": x}
'''


@pytest.fixture
def sandbox() -> Iterator[BwrapSandbox]:
    box = BwrapSandbox(SandboxSettings())
    box.check()
    try:
        yield box
    finally:
        box.close()


def run(sandbox: BwrapSandbox, code: str, *cases: dict[str, object], fresh: bool = False,
        **limits: object) -> RunReport:
    return sandbox.run_cases(code=textwrap.dedent(code), function="f", cases=list(cases) or [{}],
                             permissions=Permissions(), limits=dataclasses.replace(LIMITS, **limits), fresh=fresh)


def look(sandbox: BwrapSandbox, *, fresh: bool = False) -> dict[str, object]:
    report = run(sandbox, LOOK, fresh=fresh)
    assert report.problems == () and report.cases[0].ok, report
    value = report.cases[0].value
    assert isinstance(value, dict)
    return value


def test_the_next_candidate_runs_in_the_same_warm_sandbox_in_a_fresh_worker(sandbox: BwrapSandbox) -> None:
    first, second = look(sandbox), look(sandbox)
    assert first["pidns"] == second["pidns"] and first["pid"] != second["pid"]
    assert first["files"] == second["files"] == [] and first["tool"] == second["tool"] == ["tool.py"]
    assert isinstance(first["fds"], dict) and isinstance(second["fds"], dict)
    assert sorted(first["fds"]) == sorted(second["fds"])


def test_files_an_earlier_candidate_left_in_scratch_are_gone(sandbox: BwrapSandbox) -> None:
    baseline = look(sandbox)
    report = run(sandbox, """
        import os, socket, stat
        def f() -> str:
            os.makedirs("/tmp/a/b/c")
            for name in ("/tmp/.hidden", "/tmp/a/b/c/deep", "/tmp/work-of-a"):
                with open(name, "w") as handle:
                    handle.write("left by A")
            os.mkfifo("/tmp/fifo")
            socket.socket(socket.AF_UNIX).bind("/tmp/sock")
            os.symlink("/tool/tool.py", "/tmp/link")
            os.chmod("/tmp/a/b/c", 0)
            os.chmod("/tmp/a/b", 0)
            os.chmod("/tmp/a", stat.S_IRUSR)
            return "planted"
    """)
    assert report.cases[0].value == "planted", report
    after = look(sandbox)
    assert after["pidns"] == baseline["pidns"]  # the same sandbox
    assert after["files"] == [] and after["tool"] == ["tool.py"]


def test_module_state_and_patched_builtins_of_an_earlier_candidate_are_gone(sandbox: BwrapSandbox) -> None:
    baseline = look(sandbox)
    report = run(sandbox, """
        import builtins, json, statistics, sys, types
        def f() -> str:
            json.MARKED = True
            builtins.MARKED = True
            builtins.abs = lambda value: 0
            builtins.sum = lambda values: 0
            statistics.fmean = lambda data: -1.0
            sys.modules["planted"] = types.ModuleType("planted")
            return "patched"
    """)
    assert report.cases[0].value == "patched", report
    after = look(sandbox)
    assert after["pidns"] == baseline["pidns"]
    assert after["marked"] is False and after["abs"] == 3 and after["sum"] == 3 and after["mean"] == 2.0


def test_a_process_an_earlier_candidate_left_running_is_gone(sandbox: BwrapSandbox) -> None:
    baseline = look(sandbox)
    report = run(sandbox, """
        import ctypes, os, time
        def f() -> str:
            if os.fork() == 0:
                os.setsid()
                if os.fork() == 0:
                    ctypes.CDLL(None).prctl(15, b"lingering-a", 0, 0, 0)  # PR_SET_NAME
                    time.sleep(30)
                    with open("/tmp/late", "w") as handle:
                        handle.write("too late")
                os._exit(0)
            time.sleep(0.2)
            return "forked"
    """)
    assert report.cases[0].value == "forked", report
    after = look(sandbox)
    assert after["pidns"] == baseline["pidns"]
    procs = after["procs"]
    assert isinstance(procs, dict) and "lingering-a" not in procs.values(), procs
    assert set(procs) == {"1", str(after["pid"]), *[p for p, c in procs.items() if p != "1" and c == "python3"]}
    assert len(procs) == 3  # main, the zygote and this worker: nothing else


def test_an_fd_an_earlier_candidate_opened_or_passed_on_does_not_reach_the_next(sandbox: BwrapSandbox) -> None:
    baseline = look(sandbox)
    report = run(sandbox, """
        import os, socket, time
        def f() -> list:
            held = [open("/tmp/kept", "w"), *socket.socketpair(), *[open("/tool/tool.py")]]
            r, w = os.pipe()
            for fd in (r, w, *(h.fileno() for h in held)):
                os.set_inheritable(fd, True)
            if os.fork() == 0:
                os.setsid()
                time.sleep(30)
                os._exit(0)
            return sorted(os.readlink(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd")
                          if os.path.exists(f"/proc/self/fd/{fd}"))
    """)
    assert report.cases[0].ok, report
    opened = report.cases[0].value
    assert isinstance(opened, list)
    after = look(sandbox)
    assert after["pidns"] == baseline["pidns"]
    fds = after["fds"]
    assert isinstance(fds, dict) and isinstance(baseline["fds"], dict)
    assert sorted(fds) == sorted(baseline["fds"]), (fds, baseline["fds"])  # the same fd numbers as before A
    inherited = set(baseline["fds"].values())  # /dev/null, the shared stderr pipe, /proc/self/fd itself
    leaked = {target for target in fds.values() if target in opened and target not in inherited}
    assert leaked == set(), fds


def test_the_next_candidate_cannot_find_an_earlier_candidates_input_in_its_memory(sandbox: BwrapSandbox) -> None:
    secret = "held-out-" + os.urandom(8).hex()
    first = run(sandbox, "def f(x: str) -> int:\n    return len(x)\n", {"x": secret})
    assert first.cases[0].value == len(secret)
    report = run(sandbox, """
        import ctypes, re
        def f(prefix: str) -> list:
            ctypes.CDLL(None).prctl(4, 1, 0, 0, 0)  # PR_SET_DUMPABLE=1 for itself, to read its own memory
            seen = set()
            with open("/proc/self/maps") as maps, open("/proc/self/mem", "rb", buffering=0) as mem:
                for line in maps:
                    span, perms = line.split()[:2]
                    start, end = (int(v, 16) for v in span.split("-"))
                    if not perms.startswith("r") or line.rstrip().endswith(("[vvar]", "[vsyscall]")):
                        continue
                    try:
                        mem.seek(start)
                        chunk = mem.read(end - start)
                    except OSError:
                        continue
                    seen.update(m.decode() for m in re.findall(prefix.encode() + rb"[0-9a-f]{16}", chunk))
            return sorted(seen)
    """, {"prefix": "held-out-"})
    assert report.cases[0].ok and report.cases[0].value == [], report


def test_runs_with_held_out_inputs_never_share_a_sandbox(sandbox: BwrapSandbox) -> None:
    shared = look(sandbox)
    one, two = look(sandbox, fresh=True), look(sandbox, fresh=True)
    again = look(sandbox)
    assert shared["pidns"] == again["pidns"]  # ordinary runs share a warm sandbox ...
    assert len({shared["pidns"], one["pidns"], two["pidns"]}) == 3  # ... held-out runs each get their own
    assert one["files"] == two["files"] == []


def test_the_oracle_runs_held_out_examples_in_a_sandbox_of_their_own(sandbox: BwrapSandbox) -> None:
    code = textwrap.dedent("""
        import os
        def f(x: int) -> str:
            with open("/proc/1/stat") as handle:
                started = handle.read().rsplit(")", 1)[1].split()[19]
            return os.readlink("/proc/self/ns/pid") + "@" + started
    """)
    before = look(sandbox)["pidns"]
    v = oracle.evaluate(sandbox, code=code, function="f", examples=(Example(args={"x": 1}, expect=before),),
                        holdout=(Example(args={"x": 2}, expect=before),), permissions=Permissions(), limits=LIMITS)
    assert not v.ok  # both ran elsewhere: neither saw the shared sandbox's namespace
    assert {f.code for f in v.findings} == {"oracle.mismatch", "oracle.holdout-failed"}, v.findings
    visible = oracle.evaluate(sandbox, code=code, function="f", examples=(Example(args={"x": 1}, expect=before),),
                              holdout=(), permissions=Permissions(), limits=LIMITS)
    assert visible.ok, visible.findings  # without held-out examples it ran in the shared sandbox


FORGING_TESTS = '''
import os, sys
import _pytest.reports

_init = _pytest.reports.TestReport.__init__


def _passing(self, *args, **kwargs):
    _init(self, *args, **kwargs)
    self.outcome = "passed"
    self.longrepr = None


_pytest.reports.TestReport.__init__ = _passing
for where in (os.getcwd(), "/tmp"):
    with open(os.path.join(where, "conftest.py"), "w") as handle:
        handle.write("import pytest\\n@pytest.hookimpl(hookwrapper=True)\\ndef pytest_runtest_makereport(item, call):\\n"
                     "    outcome = yield\\n    outcome.get_result().outcome = 'passed'\\n")

from tool import f


def test_f():
    assert f() == 2
'''

HONEST_FAILING_TESTS = '''
from tool import f


def test_f():
    assert f() == 2
'''


def test_a_candidate_that_forges_its_own_pytest_report_cannot_forge_the_next_ones(sandbox: BwrapSandbox) -> None:
    wrong = "def f() -> int:\n    return 1\n"
    forged = tests.run_tests(sandbox, code=wrong, tests=FORGING_TESTS, limits=LIMITS)
    assert forged.details["passed"] == 1  # it forged its own (pytest is evidence, not the gate) ...
    honest = tests.run_tests(sandbox, code=wrong, tests=HONEST_FAILING_TESTS, limits=LIMITS)
    assert not honest.ok and honest.details["failed"] == 1 and honest.details["exit_code"] == 1, honest
    right = tests.run_tests(sandbox, code="def f() -> int:\n    return 2\n", tests=HONEST_FAILING_TESTS, limits=LIMITS)
    assert right.ok and right.details["passed"] == 1, right  # ... and the next candidates get their own verdicts


def test_pytest_output_of_an_earlier_candidate_does_not_reach_the_next_report(sandbox: BwrapSandbox) -> None:
    noisy = '''
import os, sys, time
from tool import f


def test_f():
    if os.fork() == 0:
        time.sleep(1)
        sys.stderr.write("LEAKED-FROM-A\\n")
        os._exit(0)
    print("SAID-BY-A")
    assert f() == 1
'''
    first = tests.run_tests(sandbox, code="def f() -> int:\n    return 1\n", tests=noisy, limits=LIMITS)
    assert first.ok, first
    second = sandbox.run_pytest(code="def f() -> int:\n    return 1\n", tests=HONEST_FAILING_TESTS, limits=LIMITS)
    assert second.failed == 1
    assert "LEAKED-FROM-A" not in second.output_tail and "SAID-BY-A" not in second.output_tail


def runners(sandbox: BwrapSandbox) -> set[int | None]:
    """The host pids of the idle warm sandboxes' runners."""
    warm = sandbox._warm  # noqa: SLF001 - which warm sandbox served
    assert warm is not None
    return {box.init_pid for boxes in warm._idle.values() for box in boxes}  # noqa: SLF001


def test_a_candidate_that_kills_the_zygote_breaks_only_its_own_run(sandbox: BwrapSandbox) -> None:
    look(sandbox)
    before = runners(sandbox)
    report = run(sandbox, """
        import os, signal
        def f(x: int) -> int:
            if x == 2:
                os.kill(os.getppid(), signal.SIGKILL)
            return x
    """, {"x": 1}, {"x": 2}, {"x": 3})
    assert [c.value for c in report.cases] == [1] and any("got 1 of 3" in p for p in report.problems), report
    after = look(sandbox)  # a new warm sandbox took over
    assert runners(sandbox).isdisjoint(before) and after["files"] == [] and after["tool"] == ["tool.py"]


def test_a_hanging_candidate_times_out_and_the_next_one_runs(sandbox: BwrapSandbox) -> None:
    report = run(sandbox, "import time\ndef f() -> int:\n    time.sleep(60)\n    return 1\n", wall_seconds=1.0)
    assert report.timed_out and report.cases == ()
    assert look(sandbox)["files"] == []


def test_many_files_are_stopped_and_wiped_before_the_next_candidate(sandbox: BwrapSandbox) -> None:
    report = run(sandbox, """
        def f() -> int:
            n = 0
            while True:
                open(f"/tmp/f{n}", "w").close()
                n += 1
    """, scratch_mb=4)
    assert not report.cases[0].ok and report.cases[0].error_type in ("TooManyFiles", "OSError"), report
    assert run(sandbox, LOOK, scratch_mb=4).cases[0].value["files"] == []  # type: ignore[index]


def test_the_warm_path_gives_the_cold_paths_results(sandbox: BwrapSandbox) -> None:
    cold = BwrapSandbox(SandboxSettings(warm=False))
    code = """
        def f(n: int) -> list:
            if n < 0:
                raise ValueError("negative")
            return [n, n * 2.5, str(n), None]
    """
    cases = ({"n": 2}, {"n": -1}, {"n": 0})
    warm_report, cold_report = run(sandbox, code, *cases), run(cold, code, *cases)  # type: ignore[arg-type]
    assert warm_report.cases == cold_report.cases and warm_report.problems == cold_report.problems == ()
    test_code = "from tool import f\n\ndef test_f():\n    assert f(1) == [1, 2.5, '1', None]\n"
    warm_tests = sandbox.run_pytest(code=textwrap.dedent(code), tests=test_code, limits=LIMITS)
    cold_tests = cold.run_pytest(code=textwrap.dedent(code), tests=test_code, limits=LIMITS)
    assert (warm_tests.exit_code, warm_tests.passed, warm_tests.failed) == (cold_tests.exit_code, 1, 0)


def test_warm_pytest_fails_closed_when_pytest_is_missing(tmp_path: object) -> None:
    box = BwrapSandbox(SandboxSettings(pytest_path=str(tmp_path) + "/nowhere"))
    try:
        with pytest.raises(SandboxUnavailable, match="python3-pytest"):
            box.run_pytest(code="def f() -> int:\n    return 1\n", tests="def test_x():\n    pass\n", limits=LIMITS)
    finally:
        box.close()


def test_closing_stops_every_warm_sandbox(sandbox: BwrapSandbox) -> None:
    pid = look(sandbox)["pidns"]
    assert json.dumps(pid)
    running = runners(sandbox)
    assert len(running) == 1
    sandbox.close()
    for runner in running:
        assert runner is not None
        with pytest.raises(ProcessLookupError):
            os.kill(runner, 0)
