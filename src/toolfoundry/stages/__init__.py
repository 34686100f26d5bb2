"""The stages of the pipeline: data in, data out. None calls another, none writes the audit log.

``contract`` (the tool contract, from the AST), ``checks`` (static analysis of the text), ``tests``
(the candidate's pytest, in the sandbox), ``oracle`` (examples run in the sandbox, judged on the host),
``assess`` (is a deployed tool already a fit?), ``generate`` (prompts and reading what models write),
``review`` (reviewer agents and their quorum) and ``policy`` (risk facts and rules → a decision).
Only ``pipeline/workflow.py`` knows their order.
"""
