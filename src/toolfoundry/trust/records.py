"""Reading a deployed version's provenance record back, and checking it offline from the tool repository alone.

``toolfoundry provenance NAME [--version V] [--verify]`` shows what the record states and, with
``--verify``, checks it the way anyone holding a clone of the tool repository could: the envelope's
signature against the ``foundry`` key in ``allowed_signers`` on ``main``, the subject against the bytes
of ``tool.py`` at the merge commit, and every approval against ``allowed_signers`` as it was at that
merge commit. It changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from toolfoundry.core import JSON
from toolfoundry.errors import ForgeError, UnknownTool
from toolfoundry.identity import provenance
from toolfoundry.pipeline import attest
from toolfoundry.pipeline.parts import Parts
from toolfoundry.store.registry import DeployedTool
from toolfoundry.toolfile import code_digest, tool_path


@dataclass(frozen=True, slots=True, kw_only=True)
class Record:
    """One version's provenance record, as read from ``main``."""

    tool: DeployedTool
    """The version it is about."""
    path: str
    """Where it lives in the tool repository."""
    statement: dict[str, JSON]
    """The in-toto statement (empty when the record is missing or unreadable)."""
    problems: tuple[str, ...] | None
    """What verification found wrong (empty: it verifies); None when it was not verified."""

    def to_json(self) -> dict[str, JSON]:
        """As ``provenance --json`` prints it."""
        return {"tool": self.tool.ref.to_json(), "path": self.path, "statement": self.statement,
                **({"verified": not self.problems, "problems": list(self.problems)}
                   if self.problems is not None else {})}


def read(parts: Parts, name: str, version: int | None, *, verify: bool) -> Record:
    """The record of ``name`` (the active version, or ``version``); verified offline when ``verify``."""
    tool = parts.registry.get(name, version)
    if tool is None:
        raise UnknownTool(f"no deployed tool named {name!r}" if version is None else f"{name} has no version {version}")
    path = provenance.record_path(name, tool.ref.version)
    forge = parts.forge
    head = forge.main_head()
    try:
        data = forge.read_file(head, path)
    except ForgeError:
        return Record(tool=tool, path=path, statement={}, problems=(f"{path} is missing from main",) if verify else None)
    opened = provenance.open_envelope(data, signers=attest.signers_at(forge, head))
    if not verify:
        return Record(tool=tool, path=path, statement=opened.statement, problems=None)
    problems = list(opened.problems)
    assert tool.ref.commit is not None
    try:
        code = forge.read_file(tool.ref.commit, tool_path(name))
        problems += provenance.check(opened.statement, tool.ref, code_digest(code))
    except ForgeError as exc:
        problems.append(f"{tool_path(name)} cannot be read at the merge commit: {exc}")
    problems += provenance.approval_problems(opened.statement, tool.ref, tool.request_id,
                                             signers=attest.signers_at(forge, tool.ref.commit))
    return Record(tool=tool, path=path, statement=opened.statement, problems=tuple(problems))
