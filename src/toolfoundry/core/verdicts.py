"""Findings and verdicts: what a stage says about a candidate, written so a model or a person can act on it.

Owns ``Finding``, ``Verdict`` and :func:`verdict` (a verdict whose ``ok`` follows from its findings), with their
JSON forms as the ledger, the audit log and ``--json`` output hold them. It does not run any stage.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from toolfoundry.core.words import JSON, Severity


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """One problem found in a candidate, written so a model (or a person) can act on it."""

    code: str
    """Stable machine code, e.g. ``contract.no-public-function``, ``ruff.F821``, ``oracle.mismatch``."""
    message: str
    """What failed, in one or two sentences."""
    severity: Severity = "error"
    """``error`` fails the stage; ``warning`` and ``info`` are reported only."""
    file: str | None = None
    """The file the finding is about, relative to the tool directory (``tool.py``)."""
    line: int | None = None
    """1-based line in ``file`` where known."""
    input: JSON = None
    """The failing input (example args) where the finding comes from running the tool."""
    expected: JSON = None
    """What the example expected, where relevant."""
    actual: JSON = None
    """What the tool produced, where relevant."""

    @property
    def where(self) -> str:
        """``tool.py:12``, ``tool.py`` or "" — where the finding is, as every surface shows it."""
        return f"{self.file}:{self.line}" if self.file and self.line else (self.file or "")

    def headline(self) -> str:
        """``[code] where: message`` in one line, the way findings are rendered for people and models."""
        return f"[{self.code}]{' ' + self.where if self.where else ''}: {self.message}"

    def to_json(self) -> dict[str, JSON]:
        """The finding as a JSON object; absent optional parts are left out."""
        out: dict[str, JSON] = {"code": self.code, "message": self.message, "severity": self.severity}
        for key in ("file", "line", "input", "expected", "actual"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out

    @classmethod
    def from_json(cls, data: dict[str, JSON]) -> Finding:
        """The finding ``to_json`` wrote (as stored in the ledger and the audit log)."""
        return cls(code=str(data["code"]), message=str(data["message"]), severity=data.get("severity", "error"),
                   file=data.get("file"), line=data.get("line"), input=data.get("input"),
                   expected=data.get("expected"), actual=data.get("actual"))


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    """The result of one stage (contract, checks, tests, oracle, ...)."""

    stage: str
    """The stage's name as shown to users: ``contract``, ``checks``, ``tests``, ``oracle``, ..."""
    ok: bool
    """True when the stage passed (no finding of severity ``error``)."""
    findings: tuple[Finding, ...] = ()
    """What the stage found, errors first."""
    ms: float = 0.0
    """Wall time the stage took, in milliseconds."""
    details: dict[str, JSON] = field(default_factory=dict)
    """Stage-specific facts worth keeping (counts, tool versions); JSON only."""

    def to_json(self) -> dict[str, JSON]:
        """The verdict as the JSON object `propose --json` prints under ``stages``."""
        return {
            "stage": self.stage,
            "ok": self.ok,
            "ms": round(self.ms, 2),
            "findings": [f.to_json() for f in self.findings],
            **({"details": self.details} if self.details else {}),
        }

    @classmethod
    def from_json(cls, data: dict[str, JSON]) -> Verdict:
        """The verdict ``to_json`` wrote."""
        return cls(stage=str(data["stage"]), ok=bool(data["ok"]), ms=float(data.get("ms") or 0.0),
                   findings=tuple(Finding.from_json(f) for f in data.get("findings") or ()),
                   details=dict(data.get("details") or {}))


def verdict(stage: str, findings: list[Finding] | tuple[Finding, ...], ms: float = 0.0,
            details: dict[str, JSON] | None = None) -> Verdict:
    """Build a verdict whose ``ok`` follows from its findings (no error-severity finding → ok)."""
    ordered = tuple(sorted(findings, key=lambda f: {"error": 0, "warning": 1, "info": 2}[f.severity]))
    return Verdict(stage=stage, ok=not any(f.severity == "error" for f in ordered), findings=ordered,
                   ms=ms, details=details or {})
