"""Reading ``[policy]`` and its ``[[policy.rules]]`` from toolfoundry.toml into ``policy.Rule``s.

Every mistake fails at load with the line and the reason, e.g. ``toolfoundry.toml line 23:
[[policy.rules]] #2 'big-tools': unknown condition 'lines_above' (known: ...)``. ``tomllib`` gives no
line numbers for values, so the line is found in the raw text: the Nth ``[[policy.rules]]`` header
is rule N, and a key's line is the first line inside that rule's tables (the header up to the next
table that is not a ``[policy.rules.*]`` sub-table) where ``key =`` appears. That is right for the
files people write (one key per line, or an inline ``when = {...}`` table); a key hidden in a
multi-line string could mislead it, and a rule written as an inline array gets no line number.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, cast

from toolfoundry.core import ROLES, ROUTES, SOURCES
from toolfoundry.errors import UsageError
from toolfoundry.stages.policy.rules import APPROVAL_KINDS, CONDITIONS, Rule, When

RULE_KEYS = ("name", "when", "route", "reason", "quorum", "roles", "timeout_seconds", "then", "regenerate",
             "reviewer_role", "approval")
"""Keys a ``[[policy.rules]]`` table may have."""
REVIEW_KEYS = ("quorum", "roles", "timeout_seconds", "then", "regenerate")
"""Keys that only a ``reviewers`` rule may have."""
BOOL_CONDITIONS = ("net_hosts", "env_vars", "adds_permissions", "signature_changed", "new_tool", "pure")
DEFAULT_TIMEOUT = 120.0
"""Seconds a reviewer agent gets when a ``reviewers`` rule does not say."""

_HEADER = re.compile(r"^\s*\[\[\s*policy\s*\.\s*rules\s*\]\]\s*(#.*)?$")
_SUBTABLE = re.compile(r"^\s*\[\s*policy\s*\.\s*rules\s*\.")
_POLICY = re.compile(r"^\s*\[\s*policy\s*\]\s*(#.*)?$")
_TABLE = re.compile(r"^\s*\[")
_ROLE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


class _Lines:
    """Finds where things are in the raw text of the file (1-based line numbers, None when unknown)."""

    def __init__(self, text: str | None) -> None:
        self.lines = (text or "").splitlines()

    def rule(self, index: int) -> tuple[int, int] | None:
        """The span (0-based start, end exclusive) of the ``index``-th (0-based) rule."""
        heads = [i for i, line in enumerate(self.lines) if _HEADER.match(line)]
        return self._span(heads[index]) if index < len(heads) else None

    def section(self) -> tuple[int, int] | None:
        """The span of the ``[policy]`` table itself."""
        heads = [i for i, line in enumerate(self.lines) if _POLICY.match(line)]
        return self._span(heads[0]) if heads else None

    def _span(self, start: int) -> tuple[int, int]:
        end = start + 1
        while end < len(self.lines) and not (_TABLE.match(self.lines[end])
                                             and not _SUBTABLE.match(self.lines[end])):
            end += 1
        return start, end

    def key(self, span: tuple[int, int] | None, *keys: str) -> int | None:
        """The line of the first of ``keys`` found in ``span`` (the span's first line if none is)."""
        if span is None:
            return None
        for key in keys:
            pattern = re.compile(rf"(^|[{{,\s]){re.escape(key)}\s*=")
            for i in range(span[0], span[1]):
                if pattern.search(self.lines[i].split("#", 1)[0]):
                    return i + 1
        return span[0] + 1


def parse(section: Mapping[str, Any], *, where: str, text: str | None) -> tuple[dict[str, Any], tuple[Rule, ...]]:
    """Split ``[policy]`` into its scalar settings (for ``config._merge``) and its validated rules."""
    lines = _Lines(text)
    scalars = {k: v for k, v in section.items() if k != "rules"}
    route = scalars.get("default_route", "human")
    if isinstance(route, str) and route not in ("human", "deny"):
        at = lines.key(lines.section(), "default_route")
        raise UsageError(f"{_at(where, at)}: [policy] default_route must be 'human' or 'deny', got {route!r}")
    approval = scalars.get("approval", "any")
    if approval not in APPROVAL_KINDS:
        at = lines.key(lines.section(), "approval")
        raise UsageError(f"{_at(where, at)}: [policy] approval must be 'any' or 'signed', got {approval!r}")
    raw = section.get("rules", [])
    if not isinstance(raw, list):
        raise UsageError(f"{_at(where, lines.key(lines.section(), 'rules'))}: [policy] rules must be an array "
                         "of tables ([[policy.rules]])")
    rules: list[Rule] = []
    for index, entry in enumerate(raw):
        rule = _RuleReader(entry, index, lines, where).read()
        if rule.name in {r.name for r in rules}:
            raise UsageError(f"{_at(where, lines.key(lines.rule(index), 'name'))}: [[policy.rules]] #{index + 1} "
                             f"{rule.name!r}: a rule of that name is already defined")
        rules.append(rule)
    return scalars, tuple(rules)


def _at(where: str, line: int | None) -> str:
    return f"{where} line {line}" if line is not None else where


class _RuleReader:
    """Validates one ``[[policy.rules]]`` table; every error names the line, the rule and the reason."""

    def __init__(self, entry: object, index: int, lines: _Lines, where: str) -> None:
        self.entry, self.index, self.lines, self.where = entry, index, lines, where
        self.span = lines.rule(index)
        self.name = ""

    def fail(self, key: str | None, message: str, *more_keys: str) -> UsageError:
        line = self.lines.key(self.span, *([key, *more_keys] if key else []))
        who = f"[[policy.rules]] #{self.index + 1}" + (f" {self.name!r}" if self.name else "")
        return UsageError(f"{_at(self.where, line)}: {who}: {message}")

    def read(self) -> Rule:
        if not isinstance(self.entry, dict):
            raise self.fail(None, "must be a table")
        data = cast(dict[str, Any], self.entry)
        name = data.get("name")
        if not isinstance(name, str) or not name.strip():
            raise self.fail("name", "needs a name (a non-empty string)")
        self.name = name
        for key in data:
            if key not in RULE_KEYS:
                raise self.fail(key, f"unknown key {key!r} (known: {', '.join(RULE_KEYS)})")
        route = data.get("route")
        if route not in ROUTES:
            raise self.fail("route", f"unknown route {route!r} (known: {', '.join(ROUTES)})")
        reason = data.get("reason", "")
        if not isinstance(reason, str):
            raise self.fail("reason", f"reason must be a string, got {reason!r}")
        when = self.when(data.get("when", {}))
        role = data.get("reviewer_role", "")
        if not isinstance(role, str) or (role and not _ROLE.match(role)):
            raise self.fail("reviewer_role", f"reviewer_role must be a role name (lowercase letters, digits, '_', '-'),"
                                             f" got {role!r}")
        if role and route not in ("human", "reviewers"):
            raise self.fail("reviewer_role", f"'reviewer_role' applies only to routes 'human' and 'reviewers', not"
                                             f" {route!r}")
        approval = data.get("approval", "any")
        if approval not in APPROVAL_KINDS:
            raise self.fail("approval", f"approval must be 'any' (a signature or a linked GitHub review) or 'signed'"
                                        f" (an SSH signature only), got {approval!r}")
        if "approval" in data and route not in ("human", "reviewers"):
            raise self.fail("approval", f"'approval' applies only to routes 'human' and 'reviewers', not {route!r}")
        if route == "auto" and (when.examples_min is None or when.examples_min < 1):
            raise self.fail("route", "route 'auto' needs examples_min >= 1 in 'when': pytest results alone "
                                     "are forgeable, so auto-approval must rest on examples judged on the host")
        if route != "reviewers":
            for key in REVIEW_KEYS:
                if key in data:
                    raise self.fail(key, f"{key!r} applies only to route 'reviewers', not {route!r}")
            return Rule(name=name, when=when, route=route, reason=reason, reviewer_role=role, approval=approval)
        return replace(self.reviewers(data, when, reason), reviewer_role=role, approval=approval)

    def when(self, raw: object) -> When:
        if not isinstance(raw, dict):
            raise self.fail("when", f"'when' must be a table of conditions, got {raw!r}")
        values: dict[str, Any] = {}
        for cond, value in cast(dict[str, Any], raw).items():
            if cond not in CONDITIONS:
                raise self.fail(cond, f"unknown condition {cond!r} (known: {', '.join(CONDITIONS)})", "when")
            values[cond] = self.condition(cond, value)
        return When(**values)

    def condition(self, cond: str, value: object) -> object:
        bad = f"condition {cond!r} "
        if cond in BOOL_CONDITIONS:
            if not isinstance(value, bool):
                raise self.fail(cond, bad + f"must be true or false, got {value!r}", "when")
            return value
        if cond in ("lines_over", "examples_min"):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise self.fail(cond, bad + f"must be a whole number >= 0, got {value!r}", "when")
            return value
        if cond == "name_matches":
            if not isinstance(value, str) or not value:
                raise self.fail(cond, bad + f"must be a non-empty glob string, got {value!r}", "when")
            return value
        items = [value] if cond == "source" and isinstance(value, str) else value
        if not isinstance(items, list) or not items or not all(isinstance(i, str) and i for i in items):
            raise self.fail(cond, bad + f"must be a non-empty list of strings, got {value!r}", "when")
        if cond == "imports_any" and any("." in i for i in items):
            raise self.fail(cond, bad + "takes top-level module names (e.g. 'os', not 'os.path')", "when")
        if cond == "source" and set(items) - set(SOURCES):
            raise self.fail(cond, bad + f"must name sources among {', '.join(SOURCES)}, got {value!r}", "when")
        return tuple(items)

    def reviewers(self, data: dict[str, Any], when: When, reason: str) -> Rule:
        roles = data.get("roles", list(ROLES))
        if not isinstance(roles, list) or not roles or not all(isinstance(r, str) for r in roles):
            raise self.fail("roles", f"roles must be a non-empty list of role names, got {roles!r}")
        for role in roles:
            if role not in ROLES:
                raise self.fail("roles", f"unknown role {role!r} (known: {', '.join(ROLES)})")
        if len(set(roles)) != len(roles):
            raise self.fail("roles", f"roles must not repeat, got {roles!r}")
        quorum = data.get("quorum", len(roles) // 2 + 1)
        if not isinstance(quorum, int) or isinstance(quorum, bool) or not 1 <= quorum <= len(roles):
            raise self.fail("quorum", f"quorum must be a whole number from 1 to the number of roles "
                                      f"({len(roles)}), got {quorum!r}")
        timeout = data.get("timeout_seconds", DEFAULT_TIMEOUT)
        if not isinstance(timeout, int | float) or isinstance(timeout, bool) or timeout <= 0:
            raise self.fail("timeout_seconds", f"timeout_seconds must be a number > 0, got {timeout!r}")
        then = data.get("then", "human")
        if then not in ("human", "deny"):
            raise self.fail("then", f"'then' (the route when the quorum is not reached) must be 'human' or "
                                    f"'deny', got {then!r}")
        regenerate = data.get("regenerate", False)
        if not isinstance(regenerate, bool):
            raise self.fail("regenerate", f"regenerate must be true or false, got {regenerate!r}")
        return Rule(name=self.name, when=when, route="reviewers", reason=reason, quorum=quorum,
                    roles=tuple(roles), timeout_seconds=float(timeout), then=then, regenerate=regenerate)
