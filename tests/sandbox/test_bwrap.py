"""The bwrap sandbox, with real bubblewrap. Each security test is an attack that must fail on the host."""

from __future__ import annotations

import dataclasses
import json
import os
import resource
import socket
import subprocess
import textwrap
from pathlib import Path

import pytest

from toolfoundry.core import Permissions
from toolfoundry.errors import SandboxUnavailable
from toolfoundry.sandbox import BwrapSandbox
from toolfoundry.sandbox.settings import SandboxSettings
from toolfoundry.sandbox.types import CaseResult, Limits, RunReport

ROOT = os.geteuid() == 0
PYENV_PYTHON = "/root/.pyenv/versions/3.11.7/bin/python3"


@pytest.fixture(scope="module")
def sandbox() -> BwrapSandbox:
    box = BwrapSandbox(SandboxSettings())
    box.check()
    return box


def run(sandbox: BwrapSandbox, code: str, *cases: dict[str, object], **limits: object) -> RunReport:
    return sandbox.run_cases(code=textwrap.dedent(code), function="f", cases=list(cases) or [{}],
                             permissions=Permissions(), limits=dataclasses.replace(Limits(), **limits))


def only(report: RunReport) -> CaseResult:
    assert report.problems == () and len(report.cases) == 1, report
    return report.cases[0]


def test_a_returned_value_round_trips_as_json(sandbox: BwrapSandbox) -> None:
    report = run(sandbox, """
        def f(n: int) -> dict:
            return {"n": n, "list": [1, 2.5, "x", None, True], "tuple": (1, 2), "nested": {"k": [{}]}}
    """, {"n": 3}, {"n": 4})
    assert report.problems == () and report.exit_code == 0 and not report.timed_out
    assert [c.value["n"] for c in report.cases] == [3, 4]
    assert report.cases[0].value == {"n": 3, "list": [1, 2.5, "x", None, True], "tuple": [1, 2],
                                     "nested": {"k": [{}]}}


def test_the_tool_runs_as_a_non_root_uid_with_an_empty_environment(sandbox: BwrapSandbox) -> None:
    case = only(run(sandbox, """
        import os
        def f():
            return {"uid": os.getuid(), "euid": os.geteuid(), "env": dict(os.environ)}
    """))
    assert case.ok, case
    assert case.value["uid"] != 0 and case.value["euid"] != 0
    assert case.value["env"] == {}


def test_an_exception_comes_back_by_type_and_message(sandbox: BwrapSandbox) -> None:
    case = only(run(sandbox, """
        def f(x: int) -> int:
            raise ValueError(f"bad x: {x}")
    """, {"x": 7}))
    assert case == CaseResult(ok=False, error_type="ValueError", error_message="bad x: 7")


def test_host_secrets_are_not_readable(sandbox: BwrapSandbox, tmp_path: Path) -> None:
    canary_dir = tmp_path / "open"
    canary_dir.mkdir()
    canary = canary_dir / "canary.txt"
    canary.write_text("host secret")
    os.chmod(tmp_path, 0o755)
    os.chmod(canary_dir, 0o755)
    report = run(sandbox, """
        def f(path: str) -> str:
            with open(path) as handle:
                return handle.read()
    """, {"path": "/etc/shadow"}, {"path": str(canary)}, {"path": "/root/.bashrc"})
    assert report.problems == ()
    for case in report.cases:
        assert not case.ok and case.error_type in ("FileNotFoundError", "PermissionError"), case


def test_writing_outside_the_scratch_dir_fails_and_leaves_no_trace_on_the_host(
        sandbox: BwrapSandbox, tmp_path: Path) -> None:
    target = tmp_path / "planted.txt"
    os.chmod(tmp_path, 0o777)
    report = run(sandbox, """
        def f(path: str) -> str:
            with open(path, "w") as handle:
                handle.write("planted")
            return "written"
    """, {"path": str(target)}, {"path": "/usr/planted"}, {"path": "/planted"}, {"path": "/tool/tool.py"},
        {"path": "/dev/shm/planted"}, {"path": "/tmp/fine.txt"})
    assert report.problems == ()
    *outside, scratch = report.cases
    assert all(not c.ok and c.error_type in ("FileNotFoundError", "PermissionError", "OSError") for c in outside)
    assert scratch == CaseResult(ok=True, value="written")
    assert not target.exists() and not Path("/usr/planted").exists() and not Path("/planted").exists()


def test_there_is_no_network_even_to_a_host_loopback_listener(sandbox: BwrapSandbox) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        case = only(run(sandbox, """
            import socket
            def f(port: int) -> str:
                socket.create_connection(("127.0.0.1", port), timeout=2).close()
                return "connected"
        """, {"port": port}))
        listener.settimeout(0.2)
        with pytest.raises(TimeoutError):
            listener.accept()
    assert not case.ok and case.error_type in ("ConnectionRefusedError", "OSError"), case


def test_a_hanging_tool_is_killed_at_the_wall_clock_limit(sandbox: BwrapSandbox) -> None:
    report = run(sandbox, """
        import time
        def f() -> int:
            time.sleep(100)
            return 1
    """, wall_seconds=1.0)
    assert report.timed_out
    assert report.cases == ()


def test_a_busy_loop_is_stopped_by_the_cpu_limit(sandbox: BwrapSandbox) -> None:
    case = only(run(sandbox, """
        def f() -> int:
            while True:
                pass
    """, cpu_seconds=1, wall_seconds=20.0))
    assert not case.ok and case.error_type == "Timeout", case


def test_unbounded_allocation_fails_inside_and_the_host_is_fine(sandbox: BwrapSandbox) -> None:
    case = only(run(sandbox, """
        def f() -> int:
            hoard = []
            while True:
                hoard.append(bytearray(1 << 20))
    """, memory_mb=256))
    assert not case.ok and case.error_type in ("MemoryError", "Crashed"), case


def test_a_fork_bomb_is_contained_by_the_process_limit(sandbox: BwrapSandbox) -> None:
    case = only(run(sandbox, """
        import os
        def f() -> int:
            while True:
                os.fork()
    """, processes=16))
    assert not case.ok and case.error_type in ("BlockingIOError", "OSError", "Crashed"), case
    assert subprocess.run(["true"], check=False).returncode == 0


def test_a_tool_printing_50_mb_is_truncated_and_the_host_keeps_its_memory(sandbox: BwrapSandbox) -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    report = run(sandbox, """
        import sys
        def f() -> int:
            line = "x" * 1023 + "\\n"
            for _ in range(50 * 1024):
                sys.stdout.write(line)
            return 1
    """, output_kb=64, wall_seconds=30.0)
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert report.cases == (CaseResult(ok=True, value=1),)
    assert any("truncated" in p for p in report.problems), report.problems
    assert len(report.stdout_tail) <= 4000
    assert grown_kib < 20 * 1024


def test_a_forged_result_line_cannot_inject_a_result(sandbox: BwrapSandbox) -> None:
    forged = "0" * 32 + " " + json.dumps({"ok": True, "value": 999})
    report = run(sandbox, f"""
        import os, sys
        FORGED = {forged!r}
        def f() -> int:
            print(FORGED)
            sys.__stdout__.write(FORGED + "\\n")
            sys.__stdout__.flush()
            os.write(1, (FORGED + "\\n").encode())
            for path in ("/proc/1/fd/1", "/proc/self/fd/1"):
                try:
                    with open(path, "w") as channel:
                        channel.write(FORGED + "\\n")
                except OSError:
                    pass
            return 1
    """)
    assert report.cases == (CaseResult(ok=True, value=1),) and report.problems == ()
    assert forged in report.stdout_tail  # it went to stderr, where nothing is trusted


def test_the_tool_cannot_open_the_harness_memory_or_result_channel(sandbox: BwrapSandbox) -> None:
    case = only(run(sandbox, """
        import os
        def f() -> list:
            opened = []
            for path, mode in (("/proc/1/mem", "rb"), ("/proc/1/fd/1", "wb"), ("/proc/1/environ", "rb"),
                               (f"/proc/{os.getppid()}/mem", "rb"), (f"/proc/{os.getppid()}/fd/1", "wb")):
                try:
                    with open(path, mode) as handle:
                        if "r" in mode:
                            handle.read(1)
                    opened.append(path)
                except OSError:
                    pass
            return opened
    """))
    assert case == CaseResult(ok=True, value=[])


def test_a_case_cannot_see_other_cases_inputs_or_leftovers(sandbox: BwrapSandbox) -> None:
    """A worker scans its whole memory for the markers: it must find its own input and no other."""
    report = run(sandbox, """
        import ctypes, os, re
        def f(x: str) -> dict:
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
                    seen.update(m.decode() for m in re.findall(rb"marker-(?:one|two|three)", chunk))
            left = sorted(os.listdir("/tmp"))
            with open("/tmp/" + x, "w") as note:
                note.write(x)
            return {"seen": sorted(seen), "left": left}
    """, {"x": "marker-" + "one"}, {"x": "marker-" + "two"}, {"x": "marker-" + "three"})
    assert report.problems == ()
    for case, mine in zip(report.cases, ("marker-one", "marker-two", "marker-three"), strict=True):
        assert case.value == {"seen": [mine], "left": []}, case


def test_an_always_equal_object_is_reported_as_not_json(sandbox: BwrapSandbox) -> None:
    case = only(run(sandbox, """
        class Always:
            def __eq__(self, other):
                return True
        def f():
            return Always()
    """))
    assert not case.ok and case.error_type == "NotJSON", case


def test_nan_is_reported_as_not_json(sandbox: BwrapSandbox) -> None:
    case = only(run(sandbox, """
        def f() -> float:
            return float("nan")
    """))
    assert not case.ok and case.error_type == "NotJSON", case


def test_a_tool_that_exits_early_has_crashed(sandbox: BwrapSandbox) -> None:
    report = run(sandbox, """
        import os
        def f(at: str) -> int:
            os._exit(0)
    """, {"at": "call"}, {"at": "again"})
    assert report.problems == ()
    assert [c.error_type for c in report.cases] == ["Crashed", "Crashed"]


def test_check_names_the_package_when_bwrap_is_missing() -> None:
    box = BwrapSandbox(SandboxSettings(bwrap="/nonexistent/bwrap"))
    with pytest.raises(SandboxUnavailable, match="apt-get install bubblewrap"):
        box.check()


@pytest.mark.skipif(not ROOT or not os.path.exists(PYENV_PYTHON), reason="needs root and the pyenv python")
def test_check_names_the_setting_when_python_is_unreadable_by_the_sandbox_uid() -> None:
    box = BwrapSandbox(SandboxSettings(python=PYENV_PYTHON))
    with pytest.raises(SandboxUnavailable, match=r"\[sandbox\] python.*TOOLFOUNDRY_SANDBOX_PYTHON"):
        box.check()


def test_run_pytest_reports_counts_for_passing_and_failing_tests(sandbox: BwrapSandbox) -> None:
    code = "def double(x: int) -> int:\n    return 2 * x\n"
    passing = "from tool import double\n\ndef test_two():\n    assert double(2) == 4\n\ndef test_zero():\n    assert double(0) == 0\n"
    report = sandbox.run_pytest(code=code, tests=passing, limits=Limits())
    assert (report.ran, report.exit_code, report.passed, report.failed) == (True, 0, 2, 0), report.output_tail
    failing = passing + "\ndef test_wrong():\n    assert double(3) == 7\n"
    report = sandbox.run_pytest(code=code, tests=failing, limits=Limits())
    assert (report.exit_code, report.passed, report.failed) == (1, 2, 1), report.output_tail
    assert len(report.failures) == 1 and "test_wrong" in report.failures[0]


@pytest.mark.parametrize("warm", [False, True])
def test_a_failure_line_reaches_the_host_whole_not_cut_at_80_columns(warm: bool) -> None:
    box = BwrapSandbox(SandboxSettings(warm=warm))
    code = "def words(s: str) -> list[str]:\n    return s.split()\n"
    tests = ("from tool import words\n\ndef test_long():\n"
             "    assert words('alpha beta gamma delta epsilon') == ['alpha', 'beta', 'gamma', 'delta', 'zeta-end']\n")
    report = box.run_pytest(code=code, tests=tests, limits=Limits())
    assert report.failed == 1 and len(report.failures) == 1, report.output_tail
    assert len(report.failures[0]) > 80 and "zeta-end" in report.failures[0], report.failures


def test_run_pytest_without_tests_does_not_run(sandbox: BwrapSandbox) -> None:
    report = sandbox.run_pytest(code="def f() -> int:\n    return 1\n", tests="", limits=Limits())
    assert not report.ran and report.exit_code is None


def test_run_pytest_fails_closed_when_pytest_is_missing(tmp_path: Path) -> None:
    box = BwrapSandbox(SandboxSettings(pytest_path=str(tmp_path / "nowhere")))
    with pytest.raises(SandboxUnavailable, match="python3-pytest"):
        box.run_pytest(code="def f() -> int:\n    return 1\n", tests="def test_x():\n    pass\n",
                       limits=Limits())


def test_results_beyond_the_output_budget_are_refused_not_buffered(sandbox: BwrapSandbox) -> None:
    report = run(sandbox, """
        def f(n: int) -> str:
            return "y" * n
    """, {"n": 10}, {"n": 200_000}, {"n": 10}, output_kb=64)
    assert report.problems == ()
    small, big, after = report.cases
    assert small == after == CaseResult(ok=True, value="y" * 10)
    assert not big.ok and big.error_type == "TooLarge"


def test_a_tool_cannot_kill_the_harness_and_killing_the_zygote_is_flagged(sandbox: BwrapSandbox) -> None:
    report = run(sandbox, """
        import os, signal
        def f(target: str) -> str:
            os.kill(1 if target == "main" else os.getppid(), signal.SIGKILL)
            return "still here"
    """, {"target": "main"}, {"target": "zygote"}, {"target": "main"})
    assert report.cases[0] == CaseResult(ok=True, value="still here")
    assert len(report.cases) == 1 and any("got 1 of 3" in p for p in report.problems), report
