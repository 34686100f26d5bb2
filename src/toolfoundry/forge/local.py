"""The local forge: a bare git repository of tools, with branches as pull requests.

This module owns the repository's shape and its state changes: creating it with a README on ``main``,
opening a request's branch ``foundry/<request_id>`` with one commit, merging that branch into ``main``
atomically (``merge-tree --write-tree`` + ``commit-tree`` + compare-and-swap ``update-ref``, no work
tree, safe from many threads and processes), and reading back files, diffs and trailers. It does not
decide *whether* to merge (the workflow does) and does not write the audit log.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from toolfoundry import toolfile
from toolfoundry.core import PullRequestLink
from toolfoundry.errors import ForgeError, UsageError
from toolfoundry.forge import names
from toolfoundry.forge.git import Git, first_line

MAX_TRIES = 50
"""How many times a merge or branch update is retried when ``main`` or the branch moved underneath it."""

class LocalForge:
    """A bare git repository on the local file system, used as the forge (implements ``core.Forge``)."""

    def __init__(self, repo: Path, *, git: str = "git") -> None:
        self.repo = Path(repo)
        self._git = Git(self.repo, git)

    # ── creating the repository ──────────────────────────────────────────────────────────────────

    def init(self) -> str:
        """Create the bare repository with a README on ``main`` (idempotent); return the initial commit."""
        if self.repo.exists() and not (self.repo.is_dir() and ((self.repo / "HEAD").is_file()
                                                              or not any(self.repo.iterdir()))):
            raise ForgeError(f"{self.repo} exists and is not a bare git repository")
        self._git.bare_init()
        if self._rev(names.MAIN) is None:
            tree = self._tree_with(None, {"README.md": toolfile.README})
            commit = self._commit(tree, [], names.commit_message("Initialise the tool repository", {}))
            self._git.run("update-ref", names.MAIN, commit, "", ok=(0, 1, 128))  # lost a race: fine
        roots = self._git.out("rev-list", "--max-parents=0", names.MAIN).split()
        return roots[-1]

    # ── pull requests ────────────────────────────────────────────────────────────────────────────

    def open_pr(self, *, request_id: str, files: dict[str, bytes], message: str,
                trailers: dict[str, str], body: str | None = None) -> str:
        """Create (or reuse, or recreate) branch ``foundry/<request_id>`` with one commit writing ``files``.
        ``body`` is not kept: a local branch has no page (the audit log holds what it would say)."""
        ref = names.branch_ref(request_id)
        if not files:
            raise UsageError(f"request {request_id}: a pull request needs at least one file")
        paths = {names.tree_path(p): data for p, data in files.items()}
        text = names.commit_message(message, names.with_request(request_id, trailers))
        blobs = self._write_blobs(paths)
        for _ in range(MAX_TRIES):
            existing = self._rev(ref)
            if existing is not None and self._holds(existing, blobs):
                return existing
            if existing is not None and self.find_merge(request_id) is not None:
                raise ForgeError(f"request {request_id} is already merged; open a new request to change it")
            main = self._require(names.MAIN)
            commit = self._commit(self._tree_with(main, blobs, hashed=True), [main], text)
            if self._cas(ref, commit, existing or ""):
                return commit
        raise ForgeError(f"branch {ref} kept moving; gave up after {MAX_TRIES} tries")

    def merge(self, *, request_id: str, message: str, trailers: dict[str, str],
              expected_head: str | None = None) -> str:
        """Merge ``foundry/<request_id>`` into ``main`` atomically and idempotently; return the merge commit.
        With ``expected_head``, only while the branch still points at that commit."""
        ref = names.branch_ref(request_id)
        body = names.commit_message(message, names.with_request(request_id, trailers))
        for _ in range(MAX_TRIES):
            old = self._require(names.MAIN)
            head = self._rev(ref)
            if head is None:
                raise ForgeError(f"no branch {ref} to merge (open the pull request first)")
            if expected_head is not None and head != expected_head:
                raise ForgeError(f"{ref} moved from {expected_head[:12]} to {head[:12]} since it was validated;"
                                 " not merged")
            if self._is_ancestor(head, old):
                return self._existing_merge(request_id, ref)
            tree = self._merge_tree(old, head, request_id)
            new = self._commit(tree, [old, head], body)
            if self._cas(names.MAIN, new, old):
                return new
        raise ForgeError(f"main kept moving while merging {request_id}; gave up after {MAX_TRIES} tries")

    # ── reading ──────────────────────────────────────────────────────────────────────────────────

    def read_file(self, commit: str, path: str) -> bytes:
        """The exact bytes of ``path`` at ``commit``; ``ForgeError`` when it is not there."""
        spec = f"{names.revision(commit)}:{names.tree_path(path)}"
        proc = self._git.run("cat-file", "blob", spec, ok=(0, 1, 128))
        if proc.returncode != 0:
            raise ForgeError(f"no file {path} at {commit} in {self.repo}: {first_line(proc.stderr)}")
        return proc.stdout

    def main_head(self) -> str:
        """The commit ``main`` points at."""
        return self._require(names.MAIN)

    def branch_head(self, request_id: str) -> str | None:
        """The head commit of the request's branch, or None when it has none."""
        return self._rev(names.branch_ref(request_id))

    def find_merge(self, request_id: str) -> str | None:
        """The merge commit on ``main`` carrying ``Foundry-Request: <request_id>``, or None."""
        names.branch_ref(request_id)
        fmt = f"--format=%H %P%x09%(trailers:key={names.REQUEST_TRAILER},valueonly,separator=%x2C)"
        out = self._git.out("log", names.MAIN, "--first-parent", "--merges", "--fixed-strings",
                            f"--grep={names.REQUEST_TRAILER}: {request_id}", fmt)
        for line in out.splitlines():
            shas, _, values = line.partition("\t")
            if request_id in values.split(","):
                return shas.split()[0]
        return None

    def diff(self, request_id: str) -> str:
        """The request's changes: its branch against the merge base with ``main``, as a unified diff."""
        ref = names.branch_ref(request_id)
        if self._rev(ref) is None:
            raise ForgeError(f"no branch {ref}")
        proc = self._git.run("diff", "--no-color", "--no-ext-diff", "--no-textconv",
                             f"{names.MAIN}...{ref}")
        return proc.stdout.decode("utf-8", "replace")

    def trailers(self, commit: str) -> dict[str, str]:
        """The trailers of ``commit``'s message as a dict (a repeated key keeps its last value)."""
        out = self._git.out("show", "-s", "--format=%(trailers:only,unfold)", names.revision(commit))
        pairs = (line.partition(":") for line in out.splitlines() if ":" in line)
        return {key.strip(): value.strip() for key, _, value in pairs}

    def pull_request(self, request_id: str) -> PullRequestLink | None:
        """None: a local branch has no pull-request page."""
        return None

    def comment(self, *, request_id: str, key: str, text: str) -> bool:
        """False: there is no pull-request page to comment on (the audit log has the decision)."""
        return False

    # ── plumbing ─────────────────────────────────────────────────────────────────────────────────

    def _rev(self, ref: str) -> str | None:
        proc = self._git.run("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", ok=(0, 1))
        return proc.stdout.decode().strip() or None

    def _require(self, ref: str) -> str:
        found = self._rev(ref)
        if found is None:
            raise ForgeError(f"{ref} does not exist in {self.repo} (run init first)")
        return found

    def _cas(self, ref: str, new: str, old: str) -> bool:
        """Point ``ref`` at ``new`` only if it still points at ``old`` ("" = must not exist)."""
        proc = self._git.run("update-ref", ref, new, old, ok=(0, 1, 128))
        if proc.returncode == 0:
            return True
        if self._rev(ref) == (old or None):
            raise ForgeError(f"cannot update {ref} in {self.repo}: {first_line(proc.stderr)}")
        return False

    def _is_ancestor(self, commit: str, of: str) -> bool:
        return self._git.run("merge-base", "--is-ancestor", commit, of, ok=(0, 1)).returncode == 0

    def _existing_merge(self, request_id: str, ref: str) -> str:
        found = self.find_merge(request_id)
        if found is None:
            raise ForgeError(f"{ref} is already in main but no merge commit carries "
                             f"{names.REQUEST_TRAILER}: {request_id}")
        return found

    def _merge_tree(self, ours: str, theirs: str, request_id: str) -> str:
        proc = self._git.run("merge-tree", "--write-tree", "--name-only", "-z", ours, theirs, ok=(0, 1))
        head, _, _ = proc.stdout.partition(b"\0\0")
        tree, *conflicts = head.rstrip(b"\0").decode("utf-8", "replace").split("\0")
        if proc.returncode == 1:
            raise ForgeError(f"request {request_id} conflicts with main in: {', '.join(conflicts)}")
        return tree

    def _write_blobs(self, files: dict[str, bytes]) -> dict[str, bytes]:
        """Store each file's bytes as a blob; return path → blob id (ASCII hex, as bytes)."""
        with tempfile.TemporaryDirectory(prefix="toolfoundry-blobs-") as tmp:
            listing = []
            for i, data in enumerate(files.values()):
                (Path(tmp) / str(i)).write_bytes(data)
                listing.append(str(Path(tmp) / str(i)))
            out = self._git.out("hash-object", "-w", "--no-filters", "--stdin-paths",
                                stdin="\n".join(listing).encode())
        return {path: sha.encode() for path, sha in zip(files, out.split(), strict=True)}

    def _holds(self, commit: str, blobs: dict[str, bytes]) -> bool:
        """True when ``commit``'s tree has exactly these blobs at these paths."""
        out = self._git.run("ls-tree", "-r", "-z", "--full-tree", commit, "--", *blobs).stdout
        found = {}
        for entry in filter(None, out.split(b"\0")):
            meta, _, path = entry.partition(b"\t")
            found[path.decode()] = meta.split()[2]
        return found == blobs

    def _tree_with(self, base: str | None, files: dict[str, bytes], *, hashed: bool = False) -> str:
        """The tree of ``base`` (or an empty tree) with ``files`` written in; files are blob ids if hashed."""
        blobs = files if hashed else self._write_blobs(files)
        with tempfile.TemporaryDirectory(prefix="toolfoundry-index-") as tmp:
            env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
            if base is not None:
                self._git.run("read-tree", base, env=env)
            info = b"".join(b"100644 %s\t%s\0" % (sha, path.encode()) for path, sha in blobs.items())
            self._git.run("update-index", "-z", "--add", "--replace", "--index-info", stdin=info, env=env)
            return self._git.out("write-tree", env=env)

    def _commit(self, tree: str, parents: list[str], body: bytes) -> str:
        args = [arg for parent in parents for arg in ("-p", parent)]
        return self._git.out("commit-tree", tree, *args, stdin=body)
