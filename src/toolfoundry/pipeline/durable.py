"""The two DBOS internals toolfoundry relies on, each behind one function (DBOS 3.4 has no public form of them).

:func:`unregister` forgets a configured instance after ``DBOS.destroy``: DBOS keeps its registry of
instances for the life of the process and refuses a second instance of the same name, while a process
(a test run, a server that gives its home back and takes it again) may launch a home more than once.
:func:`recover` hands a dead executor's pending workflows to whoever dequeues them next: open-source
DBOS never notices a dead executor by itself. Nothing else here touches DBOS's private state.
"""

from __future__ import annotations

from dbos import DBOSConfiguredInstance
from dbos._dbos import _get_or_create_dbos_registry
from dbos._registrations import _class_fqn


def unregister(instance: DBOSConfiguredInstance) -> None:
    """Forget ``instance`` in DBOS's registry (call after ``DBOS.destroy``), so a new one may take its name."""
    registry = _get_or_create_dbos_registry()
    key = f"{_class_fqn(type(instance))}/{instance.config_name}"
    if registry.instance_info_map.get(key) is instance:
        del registry.instance_info_map[key]


def recover(executor_ids: list[str]) -> list[str]:
    """Re-enqueue the pending workflows (of this application version) that ``executor_ids`` left behind; return
    their ids. The update DBOS makes is guarded by ``status = PENDING AND executor_id IN ids``, so two live
    processes recovering the same dead one at once is harmless. (``DBOS._recover_pending_workflows`` is
    internal in DBOS 3.4; later releases have a public ``DBOS.recover_workflows``.)"""
    from dbos import DBOS
    handles = DBOS._recover_pending_workflows(executor_ids)
    return [h.get_workflow_id() for h in handles]
