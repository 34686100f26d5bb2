"""The OS sandbox that untrusted tool code runs in, both when it is tested and when it is called.

This package owns isolation and nothing else: ``types.py`` (its vocabulary and the ``Sandbox`` seam),
``bwrap.py`` (:class:`BwrapSandbox`: what goes into a run), ``probe.py`` (the fail-closed check),
``staging.py`` (the files staged for a run), ``jail.py`` (the bwrap command line), ``launcher.py`` (one
run: pidfd wall-clock wait, capped output), ``jailed.py`` (starting bwrap as the sandbox uid, killing a
jail by its pid 1), ``protocol.py`` (the host half of the
nonce-line protocol), ``runner.py`` (the trusted in-sandbox harness, stdlib only), ``seccomp.py`` and
``landlock.py`` (the filter layers), ``serving.py`` and ``pool.py`` (warm sandboxes for calls), and
``netproxy.py`` / ``netrules.py`` / ``nethttp.py`` / ``netfwd.py`` (egress for tools with approved
network hosts: the host proxy, its allow rules, its HTTP parsing, and the in-sandbox forwarder). It
never judges results: that is ``stages/oracle.py``. ``channel.py`` is the host's end of a sandbox that
stays up, shared by ``serving.py`` and ``warm.py`` (warm sandboxes for validation, handed out by
``validation.py``).

Importing the package (or one of its modules) does not import ``bwrap.py``: ``BwrapSandbox`` is loaded
on first use, so a command that only reads settings or the registry pays for none of it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from toolfoundry.sandbox.bwrap import BwrapSandbox

__all__ = ["BwrapSandbox"]


def __getattr__(name: str) -> Any:
    if name == "BwrapSandbox":
        from toolfoundry.sandbox.bwrap import BwrapSandbox

        return BwrapSandbox
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
