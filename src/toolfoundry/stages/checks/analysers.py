"""The external analysers of the ``checks`` stage: ruff, bandit and mypy, findings in the common format.

Owns running each analyser on a candidate's *text* and translating its output; the candidate is never
imported or executed. Does not own the AST policy or the import rule. A missing or broken analyser raises
``InfraError`` naming what to install — never a silent pass.

* **ruff** (``ruff.<RULE>``): a subprocess reading stdin (``--isolated --ignore-noqa``), started first so
  it runs while bandit and mypy work. Error rules are errors; ``F401`` (unused import) is a warning.
* **bandit** (``bandit.<TEST_ID>``), in-process on an in-memory copy (no file, ``# nosec`` ignored).
  Policy: severity HIGH with confidence MEDIUM or HIGH is an **error** (TLS verification off, a shell);
  every other issue is a **warning** (``random`` for security, a hard-coded "password", ``urlopen``
  schemes, ``assert``): bandit's lower levels are too noisy to gate on. ``severity.py`` then makes
  ``B324`` (``hashlib.md5``, a checksum in a sandbox) advisory.
* **mypy** (``mypy.<error-code>``), in-process through ``mypy.api.run`` (serialised by a lock: mypy's
  entry point is not thread-safe) on a copy written into a private directory this process creates with
  ``mkdtemp`` (mode 0700) and removes at exit; the candidate never chooses a path. Flags:
  ``--python-version 3.11 --check-untyped-defs --strict-equality --ignore-missing-imports
  --follow-imports=skip`` and an empty config file (the host's ``pyproject.toml`` never applies). Its
  findings are reported as errors here and graded **advisory** by ``severity.py`` (``[checks] blocking =
  ["mypy"]`` makes them block): mypy is a strong hint, not proof, and the oracle and the call path check
  results against the declared types at run time. Blanket silencers — a bare ``# type: ignore`` and ``# mypy:`` file directives (``ignore-errors``) — are
  blanked first; an ignore naming its error code (``# type: ignore[return-value]``) is a deliberate,
  reviewable statement and is kept (``cast`` and ``Any`` would silence mypy as easily). The
  incremental cache in that directory keeps typeshed warm (≈ 35 ms a run instead of ≈ 0.85 s). Each
  run writes the candidate to a new sub-directory, because mypy trusts a cached module whose file has
  the same path, size and mtime second without hashing it — a second candidate of the same length
  written in the same second must not inherit the first one's verdict; a new path forces the hash.
  mypy retunes the process's gc thresholds and recursion limit; both are restored after each run.
"""

from __future__ import annotations

import atexit
import gc
import io
import json
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import tokenize
import warnings
from pathlib import Path
from typing import Any

from toolfoundry.core import Finding
from toolfoundry.errors import InfraError

_RUFF_ERRORS = "E9,F63,F7,F82,F811,F821,F823"
_RUFF_WARNINGS = frozenset({"F401"})
_RUFF_TIMEOUT = 30.0
_RULE_CODE = re.compile(r"^[A-Z]+[0-9]+$")
_MYPY_LINE = re.compile(r"^(?P<path>.+?):(?P<line>\d+): (?P<kind>error|note|warning): (?P<message>.*?)"
                        r"(?:  \[(?P<code>[a-z0-9-]+)\])?$")
_SILENCER = re.compile(r"#\s*(type:\s*ignore(?!\[)|mypy:|pyright:)", re.IGNORECASE)
_MYPY_FLAGS = ("--python-version", "3.11", "--check-untyped-defs", "--strict-equality",
               "--ignore-missing-imports", "--follow-imports=skip", "--no-error-summary",
               "--hide-error-context", "--show-error-codes", "--no-pretty", "--no-color-output",
               "--show-absolute-path")
_mypy_lock = threading.Lock()
_mypy_home: Path | None = None
_mypy_runs = 0


# ── ruff ──


def ruff_start(code: str, *, file: str = "tool.py") -> subprocess.Popen[str]:
    """Start ruff's error rules (and F401) on ``code`` given on stdin; collect with ``ruff_finish``."""
    try:
        from ruff.__main__ import find_ruff_bin  # type: ignore[import-untyped]
        binary = find_ruff_bin()
    except (ImportError, FileNotFoundError) as e:
        raise InfraError(f"ruff is not installed where toolfoundry runs ({e}); reinstall toolfoundry") from e
    command = [binary, "check", "--isolated", "--no-cache", "--ignore-noqa", "--target-version", "py311",
               "--select", f"{_RUFF_ERRORS},{','.join(sorted(_RUFF_WARNINGS))}",
               "--output-format", "json", "--stdin-filename", file, "-"]
    try:
        return subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env={"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"}, cwd="/")
    except OSError as e:
        raise InfraError(f"ruff could not run: {e}") from e


def ruff_finish(process: subprocess.Popen[str], code: str, *, file: str = "tool.py") -> list[Finding]:
    """Feed ``code`` to a started ruff, wait for it, and translate its JSON."""
    try:
        stdout, stderr = process.communicate(code, timeout=_RUFF_TIMEOUT)
    except subprocess.TimeoutExpired as e:
        process.kill()
        process.communicate()
        raise InfraError(f"ruff did not finish within {_RUFF_TIMEOUT}s") from e
    if process.returncode not in (0, 1):
        raise InfraError(f"ruff failed with exit code {process.returncode}: {stderr.strip()[:500]}")
    try:
        items: list[dict[str, Any]] = json.loads(stdout)
    except json.JSONDecodeError as e:
        raise InfraError(f"ruff printed something that is not JSON: {stdout[:200]!r}") from e
    return [_ruff_finding(item, file) for item in items if _is_rule(item.get("code"))]


def _is_rule(code: object) -> bool:
    """Ruff rule codes (``F821``); syntax errors (``invalid-syntax``, None) are ours to report."""
    return isinstance(code, str) and _RULE_CODE.match(code) is not None


def _ruff_finding(item: dict[str, Any], file: str) -> Finding:
    code = str(item["code"])
    line = (item.get("location") or {}).get("row")
    return Finding(code=f"ruff.{code}", message=f"line {line}: {item.get('message', '')} (ruff {code})",
                   file=file, line=line, severity="warning" if code in _RUFF_WARNINGS else "error")


# ── bandit ──


def bandit(code: str, *, file: str = "tool.py") -> list[Finding]:
    """bandit's tests on ``code`` in memory; HIGH severity (confidence ≥ MEDIUM) → error, else warning."""
    import logging  # here, not at the top: importing the checks package stays cheap for commands that only read settings

    loader_log = logging.getLogger("stevedore.extension")  # logs optional formatters it cannot load (sarif)
    level = loader_log.level
    try:
        loader_log.setLevel(logging.CRITICAL)
        with warnings.catch_warnings():  # stevedore warns about a deprecated argument bandit still passes
            warnings.simplefilter("ignore", DeprecationWarning)
            from bandit.core import config as b_config  # type: ignore[import-untyped]
            from bandit.core import manager as b_manager
    except ImportError as e:
        raise InfraError(f"bandit is not installed where toolfoundry runs ({e}); pip install 'bandit>=1.8,<2'") from e
    finally:
        loader_log.setLevel(level)
    try:
        manager = b_manager.BanditManager(b_config.BanditConfig(), "file", quiet=True, ignore_nosec=True)
        if not manager.b_ts.get_tests("Call"):
            raise InfraError("bandit loaded no test plugins; reinstall bandit ('bandit>=1.8,<2')")
        manager.files_list = ["./tool.py"]  # a relative name with a directory: no module-name lookup on disk
        # _parse_file is bandit's own per-file entry (run_tests reads files or the real stdin only)
        manager._parse_file("./tool.py", io.BytesIO(code.encode()), manager.files_list)
    except InfraError:
        raise
    except Exception as e:  # bandit is a third-party boundary: any crash is infrastructure, not a verdict
        raise InfraError(f"bandit crashed on the candidate: {type(e).__name__}: {e}") from e
    if manager.skipped:
        raise InfraError(f"bandit could not scan the candidate: {manager.skipped[0][1]}")
    return [_bandit_finding(issue, file) for issue in manager.results]


def _bandit_finding(issue: Any, file: str) -> Finding:
    severity, confidence, line = str(issue.severity), str(issue.confidence), int(issue.lineno)
    gate = severity == "HIGH" and confidence in ("HIGH", "MEDIUM")
    return Finding(code=f"bandit.{issue.test_id}", file=file, line=line, severity="error" if gate else "warning",
                   message=f"line {line}: {issue.text} (bandit {issue.test_id} {issue.test}, severity "
                           f"{severity}, confidence {confidence})")


# ── mypy ──


def mypy(code: str, *, file: str = "tool.py") -> list[Finding]:
    """mypy's errors on ``code`` (written to this process's private directory), each an error finding
    (graded advisory by ``severity.grade`` in the checks stage)."""
    try:
        from mypy import api
    except ImportError as e:
        raise InfraError(f"mypy is not installed where toolfoundry runs ({e}); pip install 'mypy>=2.4,<3'") from e
    with _mypy_lock:
        home = _home()
        global _mypy_runs
        _mypy_runs += 1
        # A module name of its own per run: mypy's cache is keyed by module, and a cached "tool" from an
        # earlier run (same text, other path) would be reported under that run's deleted path.
        source = home / "src" / str(_mypy_runs) / f"tool_{_mypy_runs}.py"
        source.parent.mkdir()
        source.write_text(unsilenced(code), encoding="utf-8")
        thresholds, recursion = gc.get_threshold(), sys.getrecursionlimit()
        try:
            stdout, stderr, status = api.run(["--config-file", str(home / "mypy.ini"), "--cache-dir",
                                              str(home / "cache"), *_MYPY_FLAGS, str(source)])
        except Exception as e:  # a crash inside mypy is infrastructure, not a verdict on the candidate
            raise InfraError(f"mypy crashed on the candidate: {type(e).__name__}: {e}") from e
        finally:  # mypy tunes the process's gc and recursion limit for itself; give the host its own back
            gc.set_threshold(*thresholds)
            sys.setrecursionlimit(recursion)
            shutil.rmtree(source.parent, ignore_errors=True)
    findings = []
    for text in stdout.splitlines():
        match = _MYPY_LINE.match(text)
        if match and match["kind"] == "error" and Path(match["path"]) == source:
            line, error_code = int(match["line"]), match["code"] or "error"
            findings.append(Finding(code=f"mypy.{error_code}", file=file, line=line,
                                    message=f"line {line}: {match['message']} (mypy {error_code})"))
    if status not in (0, 1) and not findings:  # 2 with errors in the file is a blocking error in the candidate
        raise InfraError(f"mypy failed with exit status {status}: {(stderr or stdout).strip()[:500]}")
    if status == 1 and not findings:
        raise InfraError(f"mypy reported errors toolfoundry could not read: {(stdout or stderr).strip()[:500]}")
    return findings


def _home() -> Path:
    """This process's private mypy directory (created once, 0700, removed at exit)."""
    global _mypy_home
    if _mypy_home is None:
        home = Path(tempfile.mkdtemp(prefix="toolfoundry-mypy-"))
        atexit.register(shutil.rmtree, home, True)
        (home / "src").mkdir()
        (home / "mypy.ini").write_text("[mypy]\n", encoding="utf-8")
        _mypy_home = home
    return _mypy_home


def unsilenced(code: str) -> str:
    """``code`` without bare ``# type: ignore`` / ``# mypy:`` comments (line numbers unchanged)."""
    lines = code.splitlines(keepends=True)
    try:
        comments = [t for t in tokenize.generate_tokens(io.StringIO(code).readline)
                    if t.type == tokenize.COMMENT and _SILENCER.search(t.string)]
    except (tokenize.TokenError, SyntaxError):
        return _SILENCER.sub("#", code)
    for token in comments:
        row, col = token.start
        ending = lines[row - 1][len(lines[row - 1].rstrip("\r\n")):]
        lines[row - 1] = lines[row - 1][:col].rstrip() + ending
    return "".join(lines)
