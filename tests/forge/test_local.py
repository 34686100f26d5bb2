"""The local forge against real git in tmp_path: init, pull requests, atomic and concurrent merges."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from toolfoundry.errors import ForgeError, UsageError
from toolfoundry.forge import LocalForge


def git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "--git-dir", str(repo), *args], capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "GIT_CONFIG_NOSYSTEM": "1"})


@pytest.fixture
def forge(tmp_path: Path) -> LocalForge:
    f = LocalForge(tmp_path / "tools.git")
    f.init()
    return f


def pr(forge: LocalForge, request_id: str, files: dict[str, bytes]) -> str:
    return forge.open_pr(request_id=request_id, files=files, message=f"Add {request_id}",
                         trailers={"Tool-Sha256": "ab" * 32})


def test_init_creates_a_bare_repository_with_main_and_a_readme(tmp_path: Path) -> None:
    forge = LocalForge(tmp_path / "tools.git")
    first = forge.init()
    assert git(forge.repo, "rev-parse", "--is-bare-repository").stdout.strip() == "true"
    assert forge.main_head() == first
    readme = forge.read_file(first, "README.md").decode()
    assert "tools/<name>/tool.py" in readme and "examples.json" in readme


def test_init_is_idempotent(tmp_path: Path) -> None:
    forge = LocalForge(tmp_path / "tools.git")
    first = forge.init()
    pr(forge, "r1", {"tools/a/tool.py": b"a\n"})
    forge.merge(request_id="r1", message="Merge r1", trailers={})
    head = forge.main_head()
    assert LocalForge(tmp_path / "tools.git").init() == first
    assert forge.main_head() == head


def test_init_refuses_a_directory_that_is_not_a_repository(tmp_path: Path) -> None:
    (tmp_path / "tools.git").mkdir()
    (tmp_path / "tools.git" / "notes.txt").write_text("mine")
    with pytest.raises(ForgeError, match="not a bare git repository"):
        LocalForge(tmp_path / "tools.git").init()


def test_open_pr_writes_files_on_a_branch_with_trailers(forge: LocalForge) -> None:
    head = pr(forge, "slugify-1", {"tools/slugify/tool.py": b"def slugify(): ...\n"})
    assert forge.branch_head("slugify-1") == head
    assert git(forge.repo, "rev-parse", "refs/heads/foundry/slugify-1").stdout.strip() == head
    assert forge.trailers(head) == {"Foundry-Request": "slugify-1", "Tool-Sha256": "ab" * 32}
    assert forge.read_file(head, "README.md") == forge.read_file(forge.main_head(), "README.md")
    assert forge.main_head() != head


def test_read_file_returns_the_exact_bytes(forge: LocalForge) -> None:
    data = b"\x00\xff\r\n  trailing spaces   \r\nno newline at end"
    head = pr(forge, "bytes", {"tools/b/tool.py": data, "tools/b/examples.json": b"[]"})
    assert forge.read_file(head, "tools/b/tool.py") == data
    assert forge.read_file(head, "tools/b/examples.json") == b"[]"


def test_read_file_of_a_missing_path_is_a_forge_error(forge: LocalForge) -> None:
    with pytest.raises(ForgeError, match="tools/none/tool.py"):
        forge.read_file(forge.main_head(), "tools/none/tool.py")


def test_open_pr_again_with_the_same_files_returns_the_same_commit(forge: LocalForge) -> None:
    first = pr(forge, "r1", {"tools/a/tool.py": b"a\n"})
    assert pr(forge, "r1", {"tools/a/tool.py": b"a\n"}) == first


def test_open_pr_again_with_other_files_recreates_the_branch(forge: LocalForge) -> None:
    first = pr(forge, "r1", {"tools/a/tool.py": b"a\n"})
    second = pr(forge, "r1", {"tools/a/tool.py": b"b\n"})
    assert second != first and forge.branch_head("r1") == second
    assert forge.read_file(second, "tools/a/tool.py") == b"b\n"


def test_open_pr_replaces_files_and_keeps_the_rest_of_main(forge: LocalForge) -> None:
    pr(forge, "v1", {"tools/a/tool.py": b"v1\n", "tools/a/tool.toml": b"name='a'\n"})
    forge.merge(request_id="v1", message="Merge v1", trailers={})
    head = pr(forge, "v2", {"tools/a/tool.py": b"v2\n"})
    assert forge.read_file(head, "tools/a/tool.py") == b"v2\n"
    assert forge.read_file(head, "tools/a/tool.toml") == b"name='a'\n"


@pytest.mark.parametrize("bad", ["", "../x", "-x", "a..b", "x.lock", "a/b", "a b", "x" * 82])
def test_an_invalid_request_id_is_a_usage_error(forge: LocalForge, bad: str) -> None:
    with pytest.raises(UsageError):
        pr(forge, bad, {"tools/a/tool.py": b"a\n"})


@pytest.mark.parametrize("bad", ["/etc/passwd", "../x", "tools/../x", ".git/config", "a//b", ""])
def test_an_invalid_file_path_is_a_usage_error(forge: LocalForge, bad: str) -> None:
    with pytest.raises(UsageError):
        pr(forge, "r1", {bad: b"x"})


def test_merge_puts_the_files_on_main_with_trailers(forge: LocalForge) -> None:
    head = pr(forge, "r1", {"tools/a/tool.py": b"a\n"})
    merged = forge.merge(request_id="r1", message="Merge r1", trailers={"Reviewed-By": "alice"})
    assert forge.main_head() == merged
    assert forge.read_file(merged, "tools/a/tool.py") == b"a\n"
    assert forge.trailers(merged) == {"Foundry-Request": "r1", "Reviewed-By": "alice"}
    assert git(forge.repo, "rev-parse", f"{merged}^2").stdout.strip() == head
    assert forge.find_merge("r1") == merged


def test_merge_is_idempotent(forge: LocalForge) -> None:
    pr(forge, "r1", {"tools/a/tool.py": b"a\n"})
    merged = forge.merge(request_id="r1", message="Merge r1", trailers={})
    pr(forge, "r2", {"tools/b/tool.py": b"b\n"})
    later = forge.merge(request_id="r2", message="Merge r2", trailers={})
    assert forge.merge(request_id="r1", message="Merge r1", trailers={}) == merged
    assert forge.main_head() == later


def test_find_merge_does_not_confuse_a_request_with_a_longer_id(forge: LocalForge) -> None:
    pr(forge, "r1-x", {"tools/a/tool.py": b"a\n"})
    forge.merge(request_id="r1-x", message="Merge", trailers={})
    assert forge.find_merge("r1") is None


def test_merging_a_request_without_a_branch_is_a_forge_error(forge: LocalForge) -> None:
    with pytest.raises(ForgeError, match="no branch"):
        forge.merge(request_id="nothing", message="Merge", trailers={})


def test_a_conflicting_change_is_a_forge_error_naming_the_path(forge: LocalForge) -> None:
    pr(forge, "base", {"tools/x/tool.py": b"v1\n"})
    forge.merge(request_id="base", message="Merge base", trailers={})
    pr(forge, "a", {"tools/x/tool.py": b"v2 from a\n", "tools/a/tool.py": b"a\n"})
    pr(forge, "b", {"tools/x/tool.py": b"v2 from b\n", "tools/b/tool.py": b"b\n"})
    after_a = forge.merge(request_id="a", message="Merge a", trailers={})
    with pytest.raises(ForgeError, match="tools/x/tool.py") as caught:
        forge.merge(request_id="b", message="Merge b", trailers={})
    assert "tools/b/tool.py" not in str(caught.value)
    assert forge.main_head() == after_a


def test_diff_shows_the_added_file(forge: LocalForge) -> None:
    pr(forge, "r1", {"tools/slugify/tool.py": b"def slugify(text: str) -> str:\n    return text\n"})
    diff = forge.diff("r1")
    assert "+++ b/tools/slugify/tool.py" in diff
    assert "+def slugify(text: str) -> str:" in diff
    assert "README.md" not in diff


def assert_nothing_lost(forge: LocalForge, request_ids: list[str]) -> None:
    main = forge.main_head()
    for rid in request_ids:
        head = forge.branch_head(rid)
        assert head is not None
        assert git(forge.repo, "merge-base", "--is-ancestor", head, main).returncode == 0, rid
        assert forge.read_file(main, f"tools/{rid}/tool.py") == f"# {rid}\n".encode()
        assert forge.find_merge(rid) is not None
    merges = git(forge.repo, "rev-list", "--first-parent", "--merges", "--count", main).stdout
    assert int(merges) == len(request_ids)


def test_concurrent_merges_from_eight_threads_lose_no_commit(forge: LocalForge) -> None:
    ids = [f"t{i}" for i in range(16)]
    for rid in ids:
        pr(forge, rid, {f"tools/{rid}/tool.py": f"# {rid}\n".encode()})
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def worker(mine: list[str]) -> None:
        try:
            barrier.wait()
            for rid in mine:
                forge.merge(request_id=rid, message=f"Merge {rid}", trailers={})
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(ids[i::8],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert_nothing_lost(forge, ids)


MERGER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from toolfoundry.forge import LocalForge
    repo, ready, go, *ids = sys.argv[1:]
    forge = LocalForge(Path(repo))
    Path(ready).touch()
    while not Path(go).exists():
        time.sleep(0.001)
    for rid in ids:
        forge.merge(request_id=rid, message="Merge " + rid, trailers={})
""")


def test_concurrent_merges_from_four_processes_lose_no_commit(forge: LocalForge, tmp_path: Path) -> None:
    ids = [f"p{i}" for i in range(12)]
    for rid in ids:
        pr(forge, rid, {f"tools/{rid}/tool.py": f"# {rid}\n".encode()})
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", MERGER, str(forge.repo), str(tmp_path / f"ready{i}"),
                               str(go), *ids[i::4]], stderr=subprocess.PIPE) for i in range(4)]
    while not all((tmp_path / f"ready{i}").exists() for i in range(4)):
        if any(p.poll() is not None for p in procs):
            break
    go.touch()
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
    assert_nothing_lost(forge, ids)
