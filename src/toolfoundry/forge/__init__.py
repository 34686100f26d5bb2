"""The forge: where tool code lives as git commits, proposed as branches and merged into ``main``.

This package owns the tool repository. ``LocalForge`` (a bare repository on disk) is the default;
``GitHubForge`` (``github.py``) puts the same branches and merges behind pull requests on GitHub. Both
implement ``core.Forge``; :func:`open_forge` picks one by ``[forge] kind``. It does not decide what to merge.
"""

from __future__ import annotations

from pathlib import Path

from toolfoundry.core import Forge
from toolfoundry.forge.local import LocalForge
from toolfoundry.forge.settings import ForgeSettings

__all__ = ["ForgeSettings", "LocalForge", "init_forge", "open_forge"]


def open_forge(settings: ForgeSettings, repo: Path) -> Forge:
    """The home's forge: the bare repository ``repo``, or GitHub with ``repo`` as its local mirror.
    githubkit is imported only here, and only for a GitHub forge."""
    if settings.kind == "github":
        from toolfoundry.forge.github import GitHubForge
        return GitHubForge(settings, repo)
    return LocalForge(repo)


def init_forge(settings: ForgeSettings, repo: Path) -> str:
    """Create the tool repository (or, on GitHub, its mirror, with the README and the Actions workflow on
    ``main``); return its initial commit. Idempotent."""
    if settings.kind == "github":
        from toolfoundry.forge.github import GitHubForge
        return GitHubForge(settings, repo).init()
    return LocalForge(repo).init()
