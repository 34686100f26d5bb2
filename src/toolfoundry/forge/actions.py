"""The GitHub Actions workflow that makes a tool repository validate itself on every pull request.

This module owns the text of ``.github/workflows/toolfoundry.yml``: on pull requests that touch
``tools/**``, check out the pull request (credentials not kept), set up Python, install bubblewrap and
toolfoundry, and run ``toolfoundry verify`` on the tool directories the pull request changed — the same
gate as ``propose``, minus the held-out examples, which the foundry keeps and runs itself. The workflow
is least-privilege (``contents: read`` only), pins every action by the full commit sha of a release
(the tag is in a comment), stops after a timeout, and runs once per pull request at a time (a newer
push cancels the older run). The job's name is the check ``[forge] required_check`` waits for.
"""

from __future__ import annotations

from toolfoundry.version import __version__

WORKFLOW_PATH = ".github/workflows/toolfoundry.yml"
"""Where the workflow lives in the tool repository."""
CHECK_NAME = "toolfoundry verify"
"""The job's name, which is the name of its check run on the pull request's head."""

ACTIONS = {
    "checkout": ("actions/checkout", "d23441a48e516b6c34aea4fa41551a30e30af803", "v6.1.0"),
    "setup-python": ("actions/setup-python", "ece7cb06caefa5fff74198d8649806c4678c61a1", "v6.3.0"),
}
"""Each action used: (repository, full commit sha of the release, the release's tag)."""


def default_install() -> str:
    """What the workflow installs by default: this release of toolfoundry from PyPI."""
    return f"toolfoundry=={__version__}"


def workflow_yaml(*, install: str | None = None, python: str = "3.11", timeout_minutes: int = 20) -> str:
    """The workflow file; ``install`` is the pip requirement for toolfoundry (default: this release)."""
    spec = install or default_install()
    if any(c in spec for c in "\n\r'\"`$\\"):
        raise ValueError(f"not a pip requirement: {spec!r}")
    checkout, setup = (f"{repo}@{sha} # {tag}" for repo, sha, tag in ACTIONS.values())
    return f"""\
# Written by toolfoundry {__version__} (`toolfoundry ci-workflow`): every pull request that changes a tool is
# validated by the same gate as `toolfoundry propose` (contract, static checks, pytest in the bubblewrap sandbox,
# the examples judged outside it). Held-out examples are not in this repository and are not run here.
name: toolfoundry

on:
  pull_request:
    paths:
      - "tools/**"

permissions:
  contents: read

concurrency:
  group: toolfoundry-${{{{ github.event.pull_request.number }}}}
  cancel-in-progress: true

jobs:
  verify:
    name: {CHECK_NAME}
    runs-on: ubuntu-24.04
    timeout-minutes: {timeout_minutes}
    steps:
      - uses: {checkout}
        with:
          fetch-depth: 0
          persist-credentials: false
      - uses: {setup}
        with:
          python-version: "{python}"
      - name: Install bubblewrap and the sandbox's pytest
        run: |
          sudo apt-get update -q
          sudo apt-get install -y -q bubblewrap python3-pytest
          # Ubuntu 24.04 confines unprivileged user namespaces, which bubblewrap needs
          if [ -e /proc/sys/kernel/apparmor_restrict_unprivileged_userns ]; then
            sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0
          fi
      - name: Install toolfoundry
        run: python -m pip install '{spec}'
      - name: Verify the changed tools
        env:
          BASE_SHA: ${{{{ github.event.pull_request.base.sha }}}}
          HEAD_SHA: ${{{{ github.event.pull_request.head.sha }}}}
        run: |
          changed=()
          while IFS= read -r dir; do
            if [ -f "$dir/tool.py" ]; then changed+=("$dir"); fi
          done < <(git diff --name-only "$BASE_SHA...$HEAD_SHA" -- tools | cut -d/ -f1-2 | sort -u)
          if [ "${{#changed[@]}}" -eq 0 ]; then
            echo "No tool directory with a tool.py changed."
            exit 0
          fi
          toolfoundry verify "${{changed[@]}}"
"""
