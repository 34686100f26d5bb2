"""Resource attacks: fork, thread and memory bombs (including memory the address-space limit does not
count), CPU spin, sleeping past the wall clock, huge output, deep recursion, many open files. Each must
stop inside the sandbox's limits while the host carries on."""

from __future__ import annotations

import dataclasses
import subprocess

import pytest

from toolfoundry.api import Foundry

from .conftest import assert_alive, attack, escaped, run_direct, sandbox_uid_processes, wait_until_gone

pytestmark = pytest.mark.serial  # CPU against wall-clock limits: run where no other test competes for the cores


def _host_still_forks() -> None:
    assert subprocess.run(["true"], check=False).returncode == 0


def test_a_fork_bomb_stops_at_the_process_limit_and_the_host_carries_on(
        foundry: Foundry, host_sleep: subprocess.Popen[bytes]) -> None:
    a = attack(foundry, '''
        """Fork."""
        import os


        def bomb(n: int) -> int:
            """Fork forever."""
            while True:
                os.fork()
    ''', "bomb", {"n": 1})
    assert a.refused(), a.report
    _host_still_forks()
    assert_alive(host_sleep)


def test_a_thread_bomb_stops_at_the_process_limit(foundry: Foundry) -> None:
    a = attack(foundry, '''
        """Threads."""
        import threading
        import time


        def bomb(n: int) -> int:
            """Start threads until it fails; return how many started."""
            started = 0
            try:
                for _ in range(n):
                    threading.Thread(target=time.sleep, args=(30,), daemon=True).start()
                    started += 1
            except RuntimeError:
                return started
            return started
    ''', "bomb", {"n": 10000})
    limit = foundry.settings.test_limits.processes
    assert a.refused() or a.value() <= limit, a.report
    _host_still_forks()


def test_a_memory_bomb_stops_at_the_memory_limit(foundry: Foundry) -> None:
    a = attack(foundry, '''
        """Hoard."""


        def hoard(mb: int) -> int:
            """Allocate mb MiB and touch every page."""
            blocks = []
            for _ in range(mb):
                blocks.append(bytearray(1 << 20))
            return len(blocks)
    ''', "hoard", {"mb": 4096})
    assert a.refused() and a.case is not None and a.case.error_type in ("MemoryError", "Crashed"), a.report


def test_memory_outside_the_address_space_in_memfds_is_bounded_too(foundry: Foundry) -> None:
    """memfd/shmem pages are not counted by RLIMIT_AS: holding 1.5x memory_mb that way must still fail."""
    limit = foundry.settings.test_limits.memory_mb
    a = attack(foundry, '''
        """Hoard files in memory."""
        import os


        def hoard(mb: int) -> int:
            """Hold mb MiB in anonymous memory files (not mapped); return how many MiB were held."""
            held = 0
            fds = []
            while held < mb:
                fd = os.memfd_create("hoard")
                size = min(4, mb - held)
                os.posix_fallocate(fd, 0, size << 20)
                fds.append(fd)
                held += size
            return held
    ''', "hoard", {"mb": limit * 3 // 2})
    assert a.refused(), f"held {a.case} MiB in memfds beyond memory_mb={limit}"


def test_a_cpu_spin_is_stopped_by_the_cpu_limit(foundry: Foundry) -> None:
    a = attack(foundry, '''
        """Spin."""


        def spin(n: int) -> int:
            """Loop forever."""
            while True:
                n += 1
    ''', "spin", {"n": 0})
    assert a.refused() and a.case is not None and a.case.error_type == "Timeout", a.report
    assert "oracle" in a.rejected_by


def test_cpu_spinning_children_left_behind_are_killed(foundry: Foundry) -> None:
    a = attack(foundry, '''
        """Spin in the background."""
        import os


        def spin(children: int) -> str:
            """Fork spinning children and return at once."""
            for _ in range(children):
                if os.fork() == 0:
                    while True:
                        pass
            return "returned"
    ''', "spin", {"children": 8})
    assert a.case is not None and a.case.ok and a.case.value == "returned", a.report
    # the autouse census checks that none of the children outlived the run


def test_sleeping_past_the_wall_clock_limit_is_cut_off(foundry: Foundry) -> None:
    code = '''
        """Sleep."""
        import time


        def nap(seconds: int) -> int:
            """Sleep, then return."""
            time.sleep(seconds)
            return seconds
    '''
    short = dataclasses.replace(foundry.settings.test_limits, wall_seconds=1.0)
    report = run_direct(foundry, code, "nap", [{"seconds": 60}], short)
    assert report.timed_out or (report.cases and report.cases[0].error_type == "Timeout"), report
    assert not any(c.ok for c in report.cases)
    a = attack(foundry, code, "nap", {"seconds": 60}, expect=60)  # sleep passes the checks: the oracle stops it
    assert "oracle" in a.rejected_by and "oracle.timeout" in a.codes, a.codes


def test_nothing_of_a_timed_out_run_keeps_running_after_the_host_gave_up(foundry: Foundry) -> None:
    """After the wall clock the host kills bwrap; the sandbox's pid 1 must die with it, not run the other cases."""
    before = sandbox_uid_processes()
    short = dataclasses.replace(foundry.settings.test_limits, wall_seconds=1.0)
    report = run_direct(foundry, '''
        """Sleep."""
        import time


        def nap(seconds: int) -> int:
            """Sleep, then return."""
            time.sleep(seconds)
            return seconds
    ''', "nap", [{"seconds": 60}] * 6, short)
    assert report.timed_out or not any(c.ok for c in report.cases), report
    left = wait_until_gone(lambda: escaped(before), 0.5)
    assert left == [], f"sandbox processes outlived the run the host killed: {left}"


def test_huge_output_is_truncated_and_fails_the_run(foundry: Foundry) -> None:
    a = attack(foundry, '''
        """Print a lot."""


        def shout(mb: int) -> str:
            """Print mb MiB, then return the expected value."""
            line = "x" * 1023
            for _ in range(mb * 1024):
                print(line)
            return "harmless"
    ''', "shout", {"mb": 20})
    assert any("truncated" in p for p in a.report.problems), a.report.problems
    assert len(a.report.stdout_tail) <= 4000
    assert "oracle" in a.rejected_by  # print passes the checks; the truncated run fails the oracle


def test_a_huge_result_is_refused_not_buffered(foundry: Foundry) -> None:
    a = attack(foundry, '''
        """Answer at length."""


        def answer(mb: int) -> str:
            """A string of mb MiB."""
            return "y" * (mb << 20)
    ''', "answer", {"mb": 8})
    assert a.refused() and a.case is not None and a.case.error_type == "TooLarge", a.report
    assert "oracle" in a.rejected_by


def test_deep_recursion_crashes_only_the_worker(foundry: Foundry) -> None:
    a = attack(foundry, '''
        """Recurse."""
        import sys


        def dive(depth: int) -> int:
            """Recurse depth times with the recursion limit lifted."""
            sys.setrecursionlimit(10 ** 8)
            return 0 if depth == 0 else 1 + dive(depth - 1)
    ''', "dive", {"depth": 10 ** 7})
    # CPython 3.11 reports a failed frame-stack allocation under RLIMIT_AS as "SystemError: error return
    # without exception set" (the sandbox's /usr/bin/python3 is 3.11.2): still only the worker failing
    assert a.refused() and a.case is not None and a.case.error_type in (
        "RecursionError", "Crashed", "MemoryError", "SystemError", "Timeout"), a.report


def test_opening_many_files_stops_at_the_descriptor_limit(foundry: Foundry) -> None:
    a = attack(foundry, '''
        """Open files."""
        import os


        def hog(n: int) -> int:
            """Open /dev/null n times; return how many stayed open."""
            fds = []
            try:
                for _ in range(n):
                    fds.append(os.open("/dev/null", os.O_RDONLY))
            except OSError:
                pass
            return len(fds)
    ''', "hog", {"n": 1_000_000})
    assert a.value() < 4096, a.report
    _host_still_forks()
