"""A home on disk: what a complete one holds, and creating one (``toolfoundry init``).

Owns the check that names the missing part of a home (:func:`missing`) and :func:`create`, which makes the
directory, writes the default ``toolfoundry.toml``, initialises the forge and the database and audits both
the home and the sandbox check. It does not open a home for requests (``Home`` does).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from toolfoundry.errors import SandboxUnavailable, UsageError
from toolfoundry.forge import init_forge
from toolfoundry.health import refuse_to_paper_over
from toolfoundry.home.parts import close_parts, open_parts
from toolfoundry.models.cache import ModelCache
from toolfoundry.settings import CONFIG_NAME, DEFAULT_TOML, Settings
from toolfoundry.version import __version__


@dataclass(frozen=True, slots=True, kw_only=True)
class InitResult:
    """What ``init`` did."""

    home: Path
    created: bool
    """False when the home already existed (init is idempotent)."""
    sandbox_problem: str | None
    """Why the sandbox cannot run here, if it cannot; proposals and calls will refuse until fixed."""


def missing(home: Path, *, postgres: bool = False) -> list[str]:
    """What a home lacks to be one made by ``toolfoundry init``; empty when it is complete (``postgres``: its
    state is in the cluster's database, not in ``foundry.db``)."""
    gaps = []
    if not home.is_dir():
        return [f"{home} is not a directory" if home.exists() else f"{home} does not exist"]
    if not (home / CONFIG_NAME).is_file():
        gaps.append(f"{CONFIG_NAME} is missing")
    if not (home / "tools.git" / "HEAD").is_file():
        gaps.append("the tool repository tools.git is missing or damaged")
    if not postgres and not (home / "foundry.db").is_file():
        gaps.append("the database foundry.db is missing")
    return gaps


def create(settings: Settings) -> InitResult:
    """Create the home: bare tool repository with an initial commit, config, database. Idempotent."""
    home = settings.home
    if home.exists() and not home.is_dir():
        raise UsageError(f"{home} exists and is not a directory; choose another --home")
    refuse_to_paper_over(home)  # a lost part is restored from a backup, not recreated empty
    created = bool(missing(home, postgres=settings.database.postgres))
    try:
        home.mkdir(parents=True, exist_ok=True)
        home.chmod(0o700)  # the database, the repo and the held-out examples are nobody else's business
        if not (home / CONFIG_NAME).exists():
            (home / CONFIG_NAME).write_text(DEFAULT_TOML, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot create the home {home}: {exc.strerror}") from None
    commit = init_forge(settings.forge, settings.repo)
    parts = open_parts(settings, ModelCache(settings.model_env, settings.generation.model_settings()))
    try:
        parts.audit.append("home.initialised", request_id=None, actor=settings.user,
                           data={"home": str(home), "initial_commit": commit, "version": __version__}, key="init")
        problem, layers = None, {}
        try:
            layers = parts.sandbox.layers()
        except SandboxUnavailable as exc:
            problem = str(exc)
        parts.audit.append("sandbox.checked", request_id=None, actor=settings.user, key=None,
                           data={"ok": problem is None, "problem": problem, "layers": layers})
    finally:
        close_parts(parts)
    return InitResult(home=home, created=created, sandbox_problem=problem)
