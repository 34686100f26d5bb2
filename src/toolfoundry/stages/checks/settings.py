"""The ``[checks]`` section of toolfoundry.toml: which advisory findings a team makes blocking.

By default the checks stage blocks on safety and on code that cannot run, and only advises on what a
type checker, a style rule or a low-risk bandit test says (``severity.py`` holds the default classes
and why). ``blocking`` turns advisory findings into blocking ones, for teams that want it::

    [checks]
    blocking = ["mypy"]                      # every mypy finding blocks
    blocking = ["mypy.return-value", "bandit.B324", "ruff.F401"]   # or only these codes

Each entry is an analyser family (``mypy``, ``bandit``, ``ruff``, ``checks``) or a finding-code prefix
inside one (``mypy.return`` matches ``mypy.return`` and ``mypy.return-value``). A misspelt entry is a
``UsageError`` naming it and what is allowed, at load: a silent no-op would weaken nothing but would
mislead the team that wrote it. Owns parsing and matching; applying it is ``severity.py``'s job.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from toolfoundry.errors import UsageError

FAMILIES: dict[str, re.Pattern[str]] = {
    "mypy": re.compile(r"[a-z][a-z0-9-]*"),
    "bandit": re.compile(r"B[0-9]{0,3}"),
    "ruff": re.compile(r"[A-Z]{1,4}[0-9]{0,4}"),
    "checks": re.compile(r"[a-z][a-z-]*"),
}
"""The analyser families whose findings can be advisory, each with the shape of its codes (or prefixes)."""
_EXAMPLES = {"mypy": "mypy.return-value", "bandit": "bandit.B324", "ruff": "ruff.F401", "checks": "checks.description"}


@dataclass(frozen=True, slots=True, kw_only=True)
class ChecksSettings:
    """How the checks stage grades its findings."""

    blocking: tuple[str, ...] = ()
    """Advisory findings to make blocking: analyser families (``mypy``) or code prefixes (``bandit.B324``)."""

    def blocks(self, code: str) -> bool:
        """True when a finding with ``code`` (``mypy.return-value``) is made blocking by ``blocking``."""
        return any(code == entry or code.startswith(entry if "." in entry else entry + ".")
                   for entry in self.blocking)


def parse(values: Mapping[str, Any], *, where: str) -> ChecksSettings:
    """The ``[checks]`` table of toolfoundry.toml; any mistake is a ``UsageError`` saying which and why."""
    unknown = set(values) - {"blocking"}
    if unknown:
        raise UsageError(f"{where} [checks]: unknown setting(s) {', '.join(sorted(map(repr, unknown)))}"
                         " (known: 'blocking')")
    blocking = values.get("blocking", [])
    if not isinstance(blocking, list) or not all(isinstance(entry, str) for entry in blocking):
        raise UsageError(f"{where} [checks]: blocking must be a list of strings, e.g. blocking = [\"mypy\"]")
    for entry in blocking:
        problem = entry_problem(entry)
        if problem:
            raise UsageError(f"{where} [checks]: blocking entry {entry!r} {problem}")
    return ChecksSettings(blocking=tuple(dict.fromkeys(blocking)))


def entry_problem(entry: str) -> str | None:
    """Why ``entry`` is not a family or a code prefix of one, or None when it is."""
    family, dot, code = entry.partition(".")
    known = ", ".join(sorted(FAMILIES))
    if family not in FAMILIES:
        return (f"is not an analyser family or a finding code of one (families: {known};"
                f" codes look like {', '.join(_EXAMPLES.values())})")
    if dot and not FAMILIES[family].fullmatch(code):
        return f"is not a {family} finding code (they look like {_EXAMPLES[family]})"
    return None
