"""A home's parts, opened in this process: its stores, its forge (a mirror on a cluster node that is not the
forge node) and its sandbox.

Owns opening and closing :class:`~toolfoundry.pipeline.parts.Parts`. It does not create a home
(``files.py``) or run anything on the parts.
"""

from __future__ import annotations

from collections.abc import Callable

from toolfoundry.core import Forge
from toolfoundry.forge import open_forge
from toolfoundry.forge.mirror import MirrorForge
from toolfoundry.models.types import Model
from toolfoundry.pipeline.parts import Parts
from toolfoundry.sandbox.bwrap import BwrapSandbox
from toolfoundry.settings import Settings
from toolfoundry.store.stores import open_stores


def node_forge(settings: Settings) -> Forge:
    """The home's forge as this node sees it: in a cluster, a node that is not the forge node reads a mirror
    of the forge node's repository (``[cluster] forge_url``) and writes nothing to it."""
    cluster = settings.cluster
    if settings.database.postgres and not cluster.forge_node and settings.forge.kind == "local":
        return MirrorForge(settings.repo, cluster.forge_url)
    return open_forge(settings.forge, settings.repo)


def open_parts(settings: Settings, models: Callable[[str], Model]) -> Parts:
    """The stores, forge and sandbox of a home, opened in this process."""
    forge = node_forge(settings)
    stores = open_stores(settings.home, settings.database, forge)
    return Parts(sandbox=BwrapSandbox(settings.sandbox), forge=forge, audit=stores.audit, registry=stores.registry,
                 ledger=stores.ledger, index=stores.index, models=models,
                 policy=settings.policy, generation=settings.generation, test_limits=settings.test_limits,
                 checks=settings.checks, crash_after=settings.crash_after, queues=settings.database.postgres)


def close_parts(parts: Parts) -> None:
    """Close what :func:`open_parts` opened."""
    for store in (parts.index, parts.ledger, parts.registry, parts.audit):
        store.close()
