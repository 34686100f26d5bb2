"""The forge: where tool code lives as git commits, proposed as branches and merged into ``main``.

This package owns the tool repository. ``LocalForge`` (a bare repository on disk) is the default; a
GitHub forge will sit behind the same ``core.Forge`` protocol later. It does not decide what to merge.
"""

from __future__ import annotations

from toolfoundry.forge.local import LocalForge

__all__ = ["LocalForge"]
