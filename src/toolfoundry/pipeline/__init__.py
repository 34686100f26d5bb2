"""The pipeline: the one place that knows the order of the stages.

``workflow.py`` holds the durable DBOS workflows (a configured instance, read top to bottom like the
diagram in DESIGN.md), ``steps.py`` the checkpointed steps they call, ``parts.py`` what the steps work
with, ``events.py`` the typed events every step records and every surface renders, ``bus.py`` their
delivery to the listeners of their own request only, ``names.py`` the ids and names workflows go by,
``recovery.py`` settling interrupted requests, ``durable.py`` the DBOS internals it relies on, and
``settings.py`` the ``[pipeline]`` section.
"""
