"""Telling what is wrong with a home: which part is missing or damaged, what it means, and what to do.

A home is several parts that vouch for each other: ``foundry.db`` records which reviewed bytes are
deployed, ``tools.git`` holds those bytes in merge commits, ``audit.head`` anchors the audit chain in
``foundry.db``. A part that is gone is not a home that was never made: recreating it empty (what
``init`` does for a new home) would leave deployed tools whose code is nowhere, or an audit log that
no longer matches its anchor. So this module tells the two apart — :func:`why_not_open` is the one line
a command gives on an incomplete home, :func:`refuse_to_paper_over` stops ``init`` where creating a
part would hide a loss — and holds the checks ``toolfoundry doctor`` runs on a home that opens
(:func:`check_versions`, :func:`check_repository`). It reads, and never changes, a home.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from toolfoundry.errors import ToolfoundryError, UsageError
from toolfoundry.forge.git import Git
from toolfoundry.store.db import Database
from toolfoundry.toolfile import code_digest, tool_path

__all__ = ["Check", "check_repository", "check_versions", "deployed_versions", "refuse_to_paper_over",
           "was_made", "why_not_open"]

TROUBLESHOOTING = "see Troubleshooting in the README; `toolfoundry doctor` checks every part"
MADE_BY_INIT = ("tools.git", "foundry.db", "audit.head", "dbos.sqlite")
"""Parts only ``init`` (and what runs after it) creates: any of them means the home was made once."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Check:
    """One thing ``doctor`` looked at."""

    name: str
    """What was checked: ``tools.git``, ``schema``, ``deployed versions``, ``audit log``, ``sandbox``, ..."""
    ok: bool
    """False when it is missing, damaged or unusable."""
    detail: str
    """One line: what was found (when ok) or what is wrong, naming the part."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Version:
    """A deployed version as the registry's table records it (read without the registry's migrations)."""

    name: str
    version: int
    sha256: str
    commit: str


def was_made(home: Path) -> bool:
    """Whether ``init`` ever made ``home`` (whatever is left of it now)."""
    return home.is_dir() and any((home / part).exists() for part in MADE_BY_INIT)


def why_not_open(home: Path, gaps: Sequence[str]) -> str:
    """The one line for a home that lacks ``gaps``: never made (run init), or damaged (which part; what to do)."""
    if not was_made(home):
        return (f"{home} is not a toolfoundry home: {'; '.join(gaps)}; run `toolfoundry init` (or pass --home /"
                f" set TOOLFOUNDRY_HOME)")
    return f"the toolfoundry home {home} is damaged: {_damage(home, gaps)}"


def refuse_to_paper_over(home: Path) -> None:
    """A ``UsageError`` when ``init`` would create a part empty beside others that relied on the lost one."""
    if not was_made(home):
        return
    lost = _losses(home)
    if lost:
        raise UsageError(f"the toolfoundry home {home} is damaged, and init will not create empty parts over what"
                         f" was lost: {'; '.join(lost)} ({TROUBLESHOOTING})")


def _damage(home: Path, gaps: Sequence[str]) -> str:
    """What is wrong and what to do, for a home that was made once."""
    found = _losses(home)
    if found:
        return f"{'; '.join(found)} ({TROUBLESHOOTING})"
    return f"{'; '.join(_describe(home, gaps))}; `toolfoundry init` recreates it, nothing depends on it yet"


def _describe(home: Path, gaps: Sequence[str]) -> list[str]:
    """The gaps, with tools.git's told apart: gone, or there but not a repository."""
    repo = home / "tools.git"
    out = []
    for gap in gaps:
        if "tools.git" in gap:
            gap = ("the tool repository tools.git is missing" if not repo.exists() else
                   "tools.git is not a git repository (its HEAD is missing)")
        out.append(gap)
    return out


def _losses(home: Path) -> list[str]:
    """Parts gone while another part still relies on them, each with what to restore."""
    repo, db, head = home / "tools.git", home / "foundry.db", home / "audit.head"
    lost = []
    if not (repo / "HEAD").is_file() and db.is_file():
        count = len(deployed_versions(db))
        if count:
            state = "is missing" if not repo.exists() else "is not a git repository (its HEAD is missing)"
            lost.append(f"the tool repository tools.git {state}, but foundry.db records {count} deployed tool"
                        f" version(s) whose reviewed code was in it: restore tools.git from a backup")
    if not db.is_file():
        merged = _merges(repo) if (repo / "HEAD").is_file() else 0
        events = _anchored_events(head) if head.is_file() else 0
        relied = ([f"tools.git holds {merged} merged tool version(s)"] if merged else []) + \
            ([f"audit.head anchors {events} audit event(s)"] if events else [])
        if relied:
            lost.append(f"the database foundry.db is missing, but {' and '.join(relied)} recorded in it (the"
                        f" registry, the requests and the audit log): restore foundry.db (with audit.head) from a"
                        f" backup")
    return lost


def deployed_versions(db_path: Path) -> list[Version]:
    """Every version the registry's ``tools`` table records (none when the table or the file cannot be read)."""
    try:
        db = Database(db_path)
    except ToolfoundryError:
        return []
    try:
        rows = db.query("SELECT name, version, sha256, commit_sha FROM tools ORDER BY name, version")
        return [Version(name=r[0], version=int(r[1]), sha256=str(r[2]), commit=str(r[3])) for r in rows]
    except ToolfoundryError:
        return []
    finally:
        db.close()


def _merges(repo: Path) -> int:
    """How many tool versions were merged into ``main`` (their merges carry ``Tool-Name`` and ``Tool-Version``)."""
    fmt = "--format=%(trailers:key=Tool-Name,valueonly,separator=%x2C)%x09%(trailers:key=Tool-Version,valueonly)"
    try:
        out = Git(repo).run("log", "main", "--merges", fmt, ok=(0, 128)).stdout.decode("utf-8", "replace")
    except ToolfoundryError:
        return 0
    return len({line for line in out.splitlines() if line.strip() and not line.startswith("\t")})


def _anchored_events(head: Path) -> int:
    try:
        first = head.read_text(encoding="utf-8").split()[0]
    except (OSError, UnicodeDecodeError, IndexError):
        return 0
    return int(first) if first.isdigit() else 0


# ── the checks doctor runs on a home that opens ───────────────────────────────────────────────


def check_repository(repo: Path) -> Check:
    """tools.git is a repository with a ``main`` branch and every object reachable from its refs."""
    name = "tools.git"
    if not (repo / "HEAD").is_file():
        return Check(name=name, ok=False, detail=f"{repo} is missing or not a git repository")
    try:
        git = Git(repo)
        main = git.run("rev-parse", "--verify", "--quiet", "main^{commit}", ok=(0, 1)).stdout.decode().strip()
        if not main:
            return Check(name=name, ok=False, detail=f"{repo} has no main branch")
        fsck = git.run("fsck", "--connectivity-only", "--no-dangling", "--no-progress", ok=range(256))
    except ToolfoundryError as exc:
        return Check(name=name, ok=False, detail=f"{repo} cannot be read: {exc}")
    if fsck.returncode != 0:
        problem = (fsck.stdout + fsck.stderr).decode("utf-8", "replace").strip().splitlines()
        return Check(name=name, ok=False, detail=f"{repo} is damaged: {problem[0] if problem else 'git fsck failed'}"
                                                f" ({len(problem)} problem(s) in all; git fsck lists them)")
    return Check(name=name, ok=True, detail=f"main at {main[:12]}, every object present")


def check_versions(repo: Path, versions: Iterable[Version]) -> Check:
    """Each deployed version's merge commit is in tools.git, on main, and holds tool.py with the reviewed sha256."""
    name, bad, count = "deployed versions", [], 0
    git = Git(repo)
    for v in versions:
        count += 1
        label = f"{v.name} v{v.version}"
        problem = _version_problem(git, v)
        if problem is not None:
            bad.append(f"{label}: {problem}")
    if bad:
        return Check(name=name, ok=False, detail=f"{len(bad)} of {count} cannot load: {'; '.join(bad[:5])}"
                                                f"{'; …' if len(bad) > 5 else ''}")
    return Check(name=name, ok=True, detail=f"{count} version(s): each merge commit present, on main, and"
                                            f" holding the reviewed bytes")


def _version_problem(git: Git, v: Version) -> str | None:
    exists = git.run("cat-file", "-e", f"{v.commit}^{{commit}}", ok=(0, 1, 128))
    if exists.returncode != 0:
        return f"its merge commit {v.commit[:12]} is missing from tools.git"
    on_main = git.run("merge-base", "--is-ancestor", v.commit, "main", ok=(0, 1, 128))
    if on_main.returncode != 0:
        return f"its merge commit {v.commit[:12]} is not on main (main was rewritten)"
    blob = git.run("cat-file", "blob", f"{v.commit}:{tool_path(v.name)}", ok=(0, 1, 128))
    if blob.returncode != 0:
        return f"{tool_path(v.name)} is missing from its merge commit {v.commit[:12]}"
    digest = code_digest(blob.stdout)
    if digest != v.sha256:
        return f"{tool_path(v.name)} at {v.commit[:12]} has sha256 {digest[:16]}…, not the reviewed {v.sha256[:16]}…"
    return None
