"""The method groups the ``Foundry`` facade (``toolfoundry.api``) is made of, one module per group.

Owns: the deployed-tool methods (``tools.py``: list, read, search, watch, call, roll back) and the
record methods (``records.py``: look requests up, diff, the audit log). Each is a mixin over the
parts a ``Foundry`` holds (:class:`Holds`); it does not own those parts, open or close anything, or run
a request — ``api.py`` does. Private: import ``Foundry`` from ``toolfoundry`` or ``toolfoundry.api``.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from toolfoundry.calls import Calls
    from toolfoundry.pipeline.parts import Parts
    from toolfoundry.settings import Settings
    from toolfoundry.store.changes import ChangeWatcher
    from toolfoundry.trust import Trust


class Holds:
    """What a ``Foundry`` holds that its method groups use (set by ``Foundry.__init__``)."""

    settings: Settings
    trust: Trust
    _parts: Parts
    _calls: Calls
    _watcher: ChangeWatcher | None
    _watcher_lock: threading.Lock
