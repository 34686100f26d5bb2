"""GitHub as the forge, end to end on loopback: the REST stand-in (``FakeGitHub``) and ``git http-backend``
(``GitHttpServer``) over the same bare repository, driven through the real Foundry, githubkit and git.

The home's policy sends every passing tool to a human, so each test is the human route on GitHub: propose →
a pull request with the body a reviewer needs → GitHub reviews and the Actions check → ``review sync`` →
merged at the validated head through the API → loaded from the merge commit with the hash check.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from forge.conftest import CHECK, OWNER, REPO, World, propose_add, sync
from toolfoundry.api import Foundry
from toolfoundry.errors import ForgeError
from toolfoundry.forge.github import GitHubForge
from toolfoundry.settings import load
from toolfoundry.testing import git_client_env
from toolfoundry.toolfile import code_digest

from conftest import ADD, ADD_EXAMPLES, run_cli


def test_init_puts_a_readme_and_the_workflow_on_githubs_main(world: World) -> None:
    files = world.git_out("ls-tree", "-r", "--name-only", "main").splitlines()
    assert files == [".github/workflows/toolfoundry.yml", "README.md"]
    assert CHECK in world.git_out("show", "main:.github/workflows/toolfoundry.yml")
    assert (world.home / "tools.git" / "HEAD").is_file()  # the mirror


def test_an_allowed_approval_after_the_check_merges_at_the_validated_head_and_loads(world: World) -> None:
    rid, pull = propose_add(world)
    n, head = pull["number"], pull["head"]["sha"]
    body = pull["body"]
    for part in (f"Request `{rid}` by **tester**", "| contract | passed |", "| oracle | passed |",
                 "None: pure computation", "Route **human**", f"Foundry-Request: {rid}",
                 f"Tool-Sha256: {code_digest(ADD)}", "Tool-Name: add", "Tool-Version: 1"):
        assert part in body, part
    assert pull["head"]["ref"] == f"foundry/{rid}" and pull["user"]["login"] == "foundry-bot"
    world.gh.add_review(OWNER, REPO, n, "foundry-bot", "APPROVED")  # the author's own: never counts
    world.gh.add_review(OWNER, REPO, n, "mallory", "APPROVED")  # write access, but not an approver
    (waiting,) = sync(world)
    assert waiting["action"] == "wait" and "no approving review" in waiting["reason"]
    assert "@foundry-bot is the pull request's author" in waiting["reason"] and "@mallory may not" in waiting["reason"]
    world.api("POST", f"/repos/{OWNER}/{REPO}/pulls/{n}/reviews", {"event": "APPROVE", "body": "ok"},
              token=world.alice)
    (no_check,) = sync(world)
    assert no_check["action"] == "wait" and "has not reported" in no_check["reason"]
    world.gh.set_check_run(OWNER, REPO, head, CHECK, conclusion="success")
    (done,) = sync(world)
    assert (done["action"], done["status"], done["reviewer"]) == ("approve", "deployed", "github:alice")

    merges = [r for r in world.gh.requests if r.method == "PUT" and r.path.endswith(f"/pulls/{n}/merge")]
    assert [(r.status, r.body["sha"]) for r in merges] == [(200, head)]  # the compare-and-swap, once
    merge_commit = merges[0].response["sha"]
    assert world.git_out("rev-list", "--parents", "-n1", merge_commit).split()[2] == head
    assert world.git_out("merge-base", "--is-ancestor", merge_commit, "main") == ""
    assert f"Foundry-Request: {rid}" in world.git_out("log", "-1", "--format=%B", merge_commit)
    with Foundry(world.settings()) as f:
        (tool,) = f.tools()
        assert (tool.ref.commit, tool.ref.sha256) == (merge_commit, code_digest(ADD))
        assert f.call("add", a=2, b=3).result == 5
        kinds = [(e.kind, e.data) for e in f.events(rid)]
    linked = [d for k, d in kinds if k == "pr.linked"]
    assert linked == [{"number": n, "url": pull["html_url"], "head": head, "attempt": 1}]
    assert sorted(d["login"] for k, d in kinds if k == "pr.review") == ["alice", "foundry-bot", "mallory"]
    assert [d["commit"] for k, d in kinds if k == "merge"] == [merge_commit]
    assert [k for k, _ in kinds].count("review.decided") == 1
    policy_comments = [c for c in world.comments(n) if f"toolfoundry:{rid}:policy:1" in c]
    assert len(policy_comments) == 1 and "policy: human" in policy_comments[0]


def test_changes_requested_rejects_with_the_reviewers_text(world: World) -> None:
    rid, pull = propose_add(world)
    world.api("POST", f"/repos/{OWNER}/{REPO}/pulls/{pull['number']}/reviews",
              {"event": "REQUEST_CHANGES", "body": "b must not default to 1"}, token=world.alice)
    (done,) = sync(world)
    assert (done["action"], done["status"]) == ("reject", "rejected")
    with Foundry(world.settings()) as f:
        row = f.request_row(rid)
        assert row.status == "rejected" and "b must not default to 1" in row.reason and f.tools() == []
    assert world.pulls()[0]["merged_at"] is None


def test_a_head_moved_after_validation_is_not_merged(world: World, tmp_path: Path) -> None:
    rid, pull = propose_add(world)
    work = tmp_path / "clone"
    env = git_client_env(world.alice, base={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "GIT_CONFIG_NOSYSTEM": "1",
                                            "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_AUTHOR_NAME": "alice",
                                            "GIT_AUTHOR_EMAIL": "a@x", "GIT_COMMITTER_NAME": "alice",
                                            "GIT_COMMITTER_EMAIL": "a@x"})
    url = world.git.repo_url(OWNER, REPO)
    subprocess.run(["git", "clone", "-q", "-b", f"foundry/{rid}", url, str(work)], env=env, check=True)
    (work / "tools/add/tool.py").write_text(ADD.replace("a + b", "a + b + 1"))
    subprocess.run(["git", "-C", str(work), "commit", "-qam", "sneak"], env=env, check=True)
    subprocess.run(["git", "-C", str(work), "push", "-q", url, f"HEAD:foundry/{rid}"], env=env, check=True)
    moved = world.pulls()[0]["head"]["sha"]
    assert moved != pull["head"]["sha"]
    world.api("POST", f"/repos/{OWNER}/{REPO}/pulls/{pull['number']}/reviews", {"event": "APPROVE"},
              token=world.alice)
    world.gh.set_check_run(OWNER, REPO, moved, CHECK, conclusion="success")
    main_before = world.git_out("rev-parse", "main")
    forge = GitHubForge(world.settings().forge, tmp_path / "mirror")
    with pytest.raises(ForgeError, match="moved"):  # the merge itself is a compare-and-swap on the head
        forge.merge(request_id=rid, message="Merge add v1", trailers={}, expected_head=pull["head"]["sha"])
    (done,) = sync(world)
    assert (done["action"], done["status"]) == ("reject", "rejected") and "moved from" in done["reason"]
    assert world.git_out("rev-parse", "main") == main_before and world.pulls()[0]["merged_at"] is None


def test_a_crash_after_the_pr_opened_resumes_without_a_second_pr(world: World) -> None:
    tool = world.home.parent / "add"
    tool.mkdir()
    (tool / "tool.py").write_text(ADD)
    (tool / "examples.json").write_text(ADD_EXAMPLES)
    proc = run_cli(world.home, "propose", str(tool), env={**world.env, "TOOLFOUNDRY_CRASH_AFTER": "pr.opened"})
    assert proc.returncode == -9, (proc.returncode, proc.stderr)
    assert len(world.pulls()) == 1  # opened on GitHub before the kill; the step was not recorded
    assert run_cli(world.home, "resume", env=world.env).returncode == 0
    (pull,) = world.pulls()  # the re-run step found it instead of opening another
    rid = pull["head"]["ref"].removeprefix("foundry/")
    world.api("POST", f"/repos/{OWNER}/{REPO}/pulls/{pull['number']}/reviews", {"event": "APPROVE"},
              token=world.alice)
    world.gh.set_check_run(OWNER, REPO, pull["head"]["sha"], CHECK, conclusion="success")
    proc = run_cli(world.home, "review", "sync", "--json", env=world.env)
    assert proc.returncode == 0, proc.stderr
    assert [(r["request_id"], r["status"]) for r in json.loads(proc.stdout)] == [(rid, "deployed")]
    assert [p["number"] for p in world.pulls() if p["head"]["ref"] == f"foundry/{rid}"] == [pull["number"]]
    assert sum(f"toolfoundry:{rid}:policy:1" in c for c in world.comments(pull["number"])) == 1
    assert run_cli(world.home, "audit", "verify", env=world.env).returncode == 0


def test_a_rate_limit_with_retry_after_is_waited_out(world: World) -> None:
    rid, pull = propose_add(world)
    world.gh.clear_log()
    world.gh.rate_limit_next(1, status=403, kind="secondary", retry_after=1, path=r"/pulls/\d+$", method="GET")
    (waiting,) = sync(world)
    assert waiting["action"] == "wait"
    reads = [r for r in world.gh.requests if r.method == "GET" and r.path.endswith(f"/pulls/{pull['number']}")]
    assert [r.status for r in reads[:2]] == [403, 200]
    assert reads[1].at - reads[0].at >= 1.0  # Retry-After: 1 was honoured before the retry


def test_a_sync_of_an_unchanged_pull_request_is_answered_304(world: World) -> None:
    rid, pull = propose_add(world)
    with Foundry(world.settings()) as f:
        f.sync_reviews()
        world.gh.clear_log()
        (again,) = f.sync_reviews()
    assert again.action == "wait"
    reads = [r for r in world.gh.requests if r.path.endswith(f"/pulls/{pull['number']}")]
    assert reads and all(r.status == 304 for r in reads) and "if-none-match" in reads[0].headers


def test_the_token_is_never_in_argv_or_on_disk(world: World, tmp_path: Path) -> None:
    wrapper = tmp_path / "bin" / "git"
    wrapper.parent.mkdir()
    argv_log = tmp_path / "argv.log"
    wrapper.write_text(f"#!/bin/sh\nprintf '%s\\n' \"$*\" >> {argv_log}\nexec /usr/bin/git \"$@\"\n")
    wrapper.chmod(0o755)
    forge = GitHubForge(world.settings().forge, tmp_path / "mirror", git=str(wrapper))
    head = forge.open_pr(request_id="r-token", files={"tools/x/tool.py": b"x = 1\n"}, message="Add x",
                         trailers={}, body="body")
    assert forge.branch_head("r-token") == head
    assert world.bot not in argv_log.read_text() and "push" in argv_log.read_text()
    for path in [*world.home.rglob("*"), *(tmp_path / "mirror").rglob("*")]:
        if path.is_file():
            assert world.bot.encode() not in path.read_bytes(), path


def test_a_forge_without_a_token_says_which_variable_to_set(world: World, tmp_path: Path) -> None:
    settings = load(world.home, {}, user="tester")
    with pytest.raises(ForgeError, match=r"\$GITHUB_TOKEN"):
        GitHubForge(settings.forge, tmp_path / "mirror").branch_head("r1")


def test_init_forge_github_writes_the_forge_section_and_mirrors_the_repository(world: World, tmp_path: Path) -> None:
    home = tmp_path / "second"
    proc = run_cli(home, "init", "--forge", "github", "--repository", f"{OWNER}/{REPO}", "--api-url",
                   world.gh.base_url, "--approver", "alice", env=world.env)
    assert proc.returncode == 0, proc.stderr
    s = load(home, world.env)
    assert (s.forge.kind, s.forge.repository, s.forge.approvers, s.forge.token) == (
        "github", f"{OWNER}/{REPO}", ("alice",), world.bot)
    assert world.bot not in (home / "toolfoundry.toml").read_text()  # the variable's name only
    assert world.git_out("rev-list", "--count", "main") == "2"  # README and workflow were there: nothing pushed
    again = run_cli(home, "init", "--forge", "github", "--repository", "acme/other", env=world.env)
    assert again.returncode == 2 and "already exists" in again.stderr


@pytest.mark.parametrize(("table", "message"), [
    ('kind = "gitlab"', "kind must be"), ('kind = "github"', "needs repository"),
    ('approvers = "alice"', "list of GitHub logins"), ('token = "ghp_x"', "unknown setting"),
    ('token_env = "my token"', "token_env must name an environment variable")])
def test_a_bad_forge_section_is_a_one_line_usage_error(tmp_path: Path, table: str, message: str) -> None:
    (tmp_path / "toolfoundry.toml").write_text(f"[forge]\n{table}\n")
    proc = run_cli(tmp_path, "tools")
    assert proc.returncode == 2 and message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_a_record_goes_straight_onto_main_and_is_remade_on_top_when_main_moved(world: World, tmp_path: Path) -> None:
    forge = GitHubForge(world.settings().forge, tmp_path / "mirror")
    before = forge.main_head()
    first = forge.commit_to_main(request_id="r-rec", files={"records/a.json": b"{}\n"}, message="Record a",
                                 trailers={"Changed-By": "admin"})
    assert world.git_out("rev-parse", "main") == first and world.git_out("rev-parse", f"{first}^") == before
    other = GitHubForge(world.settings().forge, tmp_path / "other")  # another node pushed meanwhile
    other.commit_to_main(request_id="r-other", files={"records/b.json": b"{}\n"}, message="Record b", trailers={})
    with pytest.raises(ForgeError, match="conflicts with main"):  # the caller computed its change on `first`
        forge.commit_to_main(request_id="r-c", files={"records/c.json": b"{}\n"}, message="Record c", trailers={},
                             parent=first)
    third = forge.commit_to_main(request_id="r-c", files={"records/c.json": b"{}\n"}, message="Record c", trailers={})
    assert world.git_out("ls-tree", "--name-only", "main", "records/").split() == [
        "records/a.json", "records/b.json", "records/c.json"] and world.git_out("rev-parse", "main") == third
    assert world.pulls() == [] and "Foundry-Request: r-rec" in world.git_out("log", "-1", "--format=%B", first)


def test_github_refusing_a_push_to_main_says_what_to_allow(world: World, tmp_path: Path) -> None:
    reader = world.gh.add_token("carol")  # read access only: GitHub refuses her pushes, as a protected main would
    settings = load(world.home, {"GITHUB_TOKEN": reader}, user="tester")
    forge = GitHubForge(settings.forge, tmp_path / "mirror")
    main_before = world.git_out("rev-parse", "main")
    with pytest.raises(ForgeError, match="GitHub refused to let the token push 'Record a' to main of acme/tools"):
        forge.commit_to_main(request_id="r-rec", files={"records/a.json": b"{}\n"}, message="Record a", trailers={})
    assert world.git_out("rev-parse", "main") == main_before
