"""The ``[sandbox]`` and ``[pool]`` sections of toolfoundry.toml: how sandboxes are started and kept warm."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class SandboxSettings:
    """How the sandbox is started."""

    bwrap: str = "bwrap"
    """The bubblewrap executable (a name looked up on PATH, or a path)."""
    python: str = "/usr/bin/python3"
    """The interpreter inside the sandbox; must be readable by the sandbox uid (not under /root)."""
    uid: int = 64122
    """The non-root uid the sandbox runs as when toolfoundry runs as root. A dedicated id that no
    account or other service uses (not ``nobody``, 65534, which daemons share), so that RLIMIT_NPROC
    counts only sandbox processes and no host file is owned by it; any unused id works."""
    gid: int = 64122
    """The gid the sandbox runs as when toolfoundry runs as root; dedicated for the same reason."""
    pytest_path: str = "/usr/lib/python3/dist-packages"
    """A directory holding pytest for the sandbox interpreter (Debian's python3-pytest by default)."""
    warm: bool = True
    """Validate candidates in warm sandboxes (``warm.py``): pytest imported once per sandbox, each candidate in a
    fresh worker forked for it, held-out examples in a sandbox of their own. False: a cold sandbox per run."""
    warm_idle_seconds: float = 300.0
    """A warm validation sandbox unused for this long is stopped."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolSettings:
    """Warm sandboxes for calls of deployed tools (one trust domain per tool version)."""

    size: int = 1
    """The most serving sandboxes per tool version (concurrent calls of one version beyond it wait)."""
    idle_seconds: float = 300.0
    """A serving sandbox unused for this long is stopped."""
