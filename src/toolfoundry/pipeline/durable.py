"""The two DBOS internals toolfoundry relies on, each behind one function (DBOS 3.4 has no public form of them).

:func:`unregister` forgets a configured instance after ``DBOS.destroy``: DBOS keeps its registry of
instances for the life of the process and refuses a second instance of the same name, while a process
(a test run, a server that gives its home back and takes it again) may launch a home more than once.
Nothing else here touches DBOS's private state.
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
