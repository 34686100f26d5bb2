"""Attacks that try to write outside the size-limited scratch dir: /usr, /, /etc, /dev/shm, the host's
world-writable directories, the foundry home (a git hook there would run on the host) and /tmp itself."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest

from toolfoundry.api import Foundry

from .conftest import Canary, attack, run_direct, unchanged

WRITE = '''
    """Write a file."""
    import os


    def plant(path: str) -> str:
        """Create the directories and write a marker file at path."""
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as handle:
            handle.write("planted by a tool")
        return "written"
'''

OUTSIDE_ERRORS = ("FileNotFoundError", "PermissionError", "OSError", "FileExistsError")


@pytest.mark.parametrize("where", ["/usr", "/", "/etc", "/dev/shm", "/tool", "/harness", "/proc", "/dev"])
def test_writing_outside_scratch_fails_and_leaves_no_canary(foundry: Foundry, where: str) -> None:
    name = f"tf-canary-{secrets.token_hex(8)}"
    target = f"{where.rstrip('/')}/{name}"
    a = attack(foundry, WRITE, "plant", {"path": target})
    assert a.refused() and a.case is not None and a.case.error_type in OUTSIDE_ERRORS, a.report
    assert "checks" in a.rejected_by
    assert not Path(target).exists()


def test_writing_into_a_world_writable_host_directory_leaves_no_canary(foundry: Foundry, canary: Canary) -> None:
    a = attack(foundry, WRITE, "plant", {"path": canary.path("planted.txt")})
    assert a.refused(), a.report
    canary.assert_untouched()


def test_writing_into_the_foundry_home_changes_nothing_there(foundry: Foundry, home: Path) -> None:
    """A hook in tools.git would run on the host at the next merge; the config sets the sandbox's python."""
    targets = [home / "tools.git" / "hooks" / "post-update", home / "tools.git" / "hooks" / "pre-receive",
               home / "toolfoundry.toml", home / "audit.head", home / "planted.txt"]
    with unchanged(home / "tools.git"):
        before = {t: t.read_bytes() if t.exists() else None for t in targets}
        report = run_direct(foundry, WRITE, "plant", [{"path": str(t)} for t in targets])
        for target in targets:  # the whole pipeline too, aimed at the most valuable one
            if target.name == "post-update":
                attack(foundry, WRITE, "plant", {"path": str(target)})
    assert len(report.cases) == len(targets), report
    for target in targets:
        now = target.read_bytes() if target.exists() else None
        if target.name == "audit.head":  # the foundry itself moves it with every event
            assert now is not None and b"planted" not in now
        else:
            assert now == before[target], target


def test_filling_the_disk_stops_at_the_scratch_size(foundry: Foundry) -> None:
    limits = foundry.settings.test_limits
    a = attack(foundry, '''
        """Fill the disk."""


        def fill(chunk_kb: int) -> int:
            """Write files in /tmp until the disk is full; return how many bytes got written."""
            block = b"x" * (chunk_kb * 1024)
            written = 0
            for n in range(10000):
                blocks = 0
                with open(f"/tmp/fill-{n}", "wb", buffering=0) as handle:
                    try:
                        while True:
                            written += handle.write(block)
                            blocks += 1
                    except OSError:
                        pass
                if blocks == 0:
                    return written
            return written
    ''', "fill", {"chunk_kb": 256})
    written = a.value()
    assert 0 < written <= limits.scratch_mb << 20, written
    # and the next case starts with an empty scratch dir: the fill did not break the wipe
    report = run_direct(foundry, '''
        """Look."""
        import os


        def look(n: int) -> list[str]:
            """What is in /tmp."""
            if n == 0:
                with open("/tmp/leftover", "w") as handle:
                    handle.write("x" * 1000)
            return sorted(os.listdir("/tmp"))
    ''', "look", [{"n": 0}, {"n": 1}])
    assert [c.value for c in report.cases] == [["leftover"], []], json.dumps([c.value for c in report.cases])
