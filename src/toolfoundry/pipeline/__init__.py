"""The pipeline: the one place that knows the order of the stages.

``workflow.py`` is the durable DBOS workflows that read like the diagram in DESIGN.md, ``steps.py`` the
checkpointed steps they call, ``events.py`` the typed events every step records and every surface
renders, delivered only to the listeners of the request they belong to.
"""
