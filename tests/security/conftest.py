"""Shared machinery of the attack suite: host-side observables and the two ways an attack is run.

Every attack is a small tool module that tries one thing. The host watches for its effect through
observables that would show it if the attack worked:

* ``canary``: a world-writable host directory under /var/tmp (outside the sandbox's own /tmp) holding
  world-readable secret files (a fake ``~/.ssh/id_rsa`` among them), so that only the sandbox, not file
  permissions, stands between the attack and the files;
* ``listeners``: loopback TCP (IPv4 and IPv6), UDP, an abstract unix socket and a pathname unix socket,
  each of which must see no connection and no datagram;
* ``host_sleep``: a ``sleep 60`` running **as the sandbox uid**, so that only the pid namespace, not uid
  separation, protects it from signals and ptrace;
* the env secret: ``TF_SECRET_CANARY`` is set in this (the launcher's) environment before any sandbox
  starts, and :func:`attack` fails if it shows up in a result, an output tail, a finding or the audit log;
* a process census: no process of the sandbox uid may outlive its run outside a live bwrap (checked
  after every test), and :func:`marked` finds processes an attack renamed to a marker of its own.

Each attack is run through every layer it could reach, each layer tested on its own:

* the **static layer** — :func:`attack` (and :func:`assert_rejected`) sends it through the whole pipeline
  (``foundry.propose``), which must reject it at some stage, with nothing merged and the chain intact;
* the **sandbox** — :func:`attack`/:func:`run_direct` run it straight through the sandbox, as the
  oracle would, bypassing the static checks on purpose: the sandbox must hold when the checks are fooled;
* the **oracle** — :func:`judge` (or ``attack(..., through_oracle=True)``) runs it through ``oracle.evaluate``
  exactly as the workflow's oracle step does, again without the static checks: the verdict must hold;
* the **call-time sandbox** — :func:`deploy_unchecked` deploys it the way the workflow's deliver path
  does but without the static checks (a tool that fooled them and a reviewer), and the test calls it
  through the real ``foundry.call`` (hash check at load, warm pool, audit).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import socket
import stat
import subprocess
import tempfile
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from toolfoundry import toolfile
from toolfoundry.api import Foundry, new_request_id
from toolfoundry.core import (
    JSON,
    CallResult,
    Candidate,
    Decision,
    Example,
    Outcome,
    Permissions,
    Proposal,
    ToolRef,
    ToolSpec,
    Verdict,
)
from toolfoundry.pipeline import attest
from toolfoundry.pipeline.parts import Parts
from toolfoundry.sandbox.bwrap import BwrapSandbox
from toolfoundry.sandbox.settings import SandboxSettings
from toolfoundry.sandbox.types import CaseResult, Limits, RunReport
from toolfoundry.settings import load as load_settings
from toolfoundry.stages import contract, oracle

from conftest import home_parts

ROOT = os.geteuid() == 0
_SANDBOX = SandboxSettings()
SANDBOX_UID = _SANDBOX.uid if ROOT else os.getuid()
SANDBOX_GID = _SANDBOX.gid if ROOT else os.getgid()
SECRET_ENV = "TF_SECRET_CANARY"
HARMLESS = "harmless"
"""What the acceptance example of an attack expects: any real effect shows up as a different value."""

SECURITY_LIMITS = """
[limits.test]
wall_seconds = 5.0
cpu_seconds = 2
memory_mb = 256
processes = 32
file_mb = 8
scratch_mb = 32
output_kb = 256

[limits.call]
wall_seconds = 5.0
cpu_seconds = 2
memory_mb = 256
processes = 32
file_mb = 8
scratch_mb = 32
output_kb = 256
"""
"""Tight limits keep each attack bounded (a few seconds at most) and the whole suite fast."""


def source(text: str) -> str:
    """An attack's source, dedented (attacks are written indented inside tests)."""
    return textwrap.dedent(text).lstrip("\n")


# ── the foundry under attack ────────────────────────────────────────────────────────────────────


@pytest.fixture(autouse=True)
def secret(monkeypatch: pytest.MonkeyPatch) -> str:
    """A secret in the launcher's environment, set before any sandbox (or warm pool) starts."""
    token = "tfsecret-" + secrets.token_hex(16)
    monkeypatch.setenv(SECRET_ENV, token)
    return token


@pytest.fixture
def home(tmp_path: Path, secret: str) -> Path:
    """An initialised foundry home with the suite's tight limits (overrides the top-level fixture)."""
    path = tmp_path / "home"
    result = Foundry.init(load_settings(path, {}, user="tester"))
    assert result.sandbox_problem is None, result.sandbox_problem
    toml = path / "toolfoundry.toml"
    toml.write_text(SECURITY_LIMITS, encoding="utf-8")
    return path


def snapshot(root: Path) -> dict[str, str]:
    """sha256 of every regular file under ``root``, by relative path."""
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            out[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


# ── canary files and directories ────────────────────────────────────────────────────────────────


@dataclass
class Canary:
    """A host directory the sandbox uid could read and write, if it could see it at all."""

    dir: Path
    token: str
    secret_file: Path
    ssh_key: Path
    planted: dict[str, str] = field(default_factory=dict)

    def path(self, name: str) -> str:
        """A host path inside the canary directory (for an attack to aim at)."""
        return str(self.dir / name)

    def assert_untouched(self) -> None:
        """No file appeared, vanished or changed under the canary directory."""
        now = snapshot(self.dir)
        assert now == self.planted, f"the host canary directory changed: {sorted(set(now) ^ set(self.planted))}"


@pytest.fixture
def canary() -> Iterator[Canary]:
    """/var/tmp/tf-canary-*: 0777, with a 0644 secret file and a fake HOME/.ssh/id_rsa (0644, dirs 0755)."""
    base = Path(tempfile.mkdtemp(prefix="tf-canary-", dir="/var/tmp"))  # noqa: S108 - not the sandbox's /tmp
    token = "tfcanary-" + secrets.token_hex(16)
    try:
        base.chmod(0o777)
        secret_file = base / "secret.txt"
        secret_file.write_text(f"{token} host secret\n", encoding="utf-8")
        ssh = base / "home" / "user" / ".ssh"
        ssh.mkdir(parents=True)
        for directory in (base / "home", base / "home" / "user", ssh):
            directory.chmod(0o755)
        key = ssh / "id_rsa"
        key.write_text(f"-----BEGIN OPENSSH PRIVATE KEY-----\n{token}\n-----END OPENSSH PRIVATE KEY-----\n",
                       encoding="utf-8")
        for file in (secret_file, key):
            file.chmod(0o644)
        if ROOT:
            os.chown(base, SANDBOX_UID, SANDBOX_GID)  # its own directory: only the sandbox can stop it
        found = Canary(dir=base, token=token, secret_file=secret_file, ssh_key=key)
        found.planted = snapshot(base)
        yield found
    finally:
        shutil.rmtree(base, ignore_errors=True)


# ── listeners that must hear nothing ────────────────────────────────────────────────────────────


@dataclass
class Listeners:
    """Loopback endpoints on the host; an attack that reaches any of them shows up in ``contacted()``."""

    tcp4: socket.socket
    tcp6: socket.socket | None
    udp4: socket.socket
    abstract: socket.socket
    unix: socket.socket
    abstract_name: bytes
    unix_path: str

    @property
    def tcp_port(self) -> int:
        return int(self.tcp4.getsockname()[1])

    @property
    def tcp6_port(self) -> int | None:
        return None if self.tcp6 is None else int(self.tcp6.getsockname()[1])

    @property
    def udp_port(self) -> int:
        return int(self.udp4.getsockname()[1])

    def targets(self) -> dict[str, JSON]:
        """What an attack is told, so it knows exactly where to aim."""
        return {"tcp": self.tcp_port, "tcp6": self.tcp6_port, "udp": self.udp_port,
                "abstract": self.abstract_name[1:].decode(), "unix": self.unix_path}

    def contacted(self) -> list[str]:
        """The endpoints that received a connection or a datagram (must stay empty)."""
        heard = []
        streams = {"tcp4": self.tcp4, "tcp6": self.tcp6, "abstract": self.abstract, "unix": self.unix}
        for name, listener in streams.items():
            if listener is None:
                continue
            try:
                conn, _ = listener.accept()
            except (BlockingIOError, TimeoutError):
                continue
            conn.close()
            heard.append(name)
        try:
            self.udp4.recvfrom(65536)
            heard.append("udp4")
        except (BlockingIOError, TimeoutError):
            pass
        return heard


@pytest.fixture
def listeners(canary: Canary) -> Iterator[Listeners]:
    """TCP (127.0.0.1 and ::1), UDP, abstract ``\\0tf-canary-<token>`` and a 0777 pathname unix socket."""
    opened: list[socket.socket] = []

    def listening(family: int, kind: int, address: Any) -> socket.socket:
        sock = socket.socket(family, kind)
        opened.append(sock)
        sock.bind(address)
        if kind == socket.SOCK_STREAM:
            sock.listen(16)
        sock.setblocking(False)
        return sock

    try:
        tcp6: socket.socket | None
        try:
            tcp6 = listening(socket.AF_INET6, socket.SOCK_STREAM, ("::1", 0))
        except OSError:
            tcp6 = None
        name = b"\0tf-canary-" + canary.token.encode()
        path = canary.path("listener.sock")
        found = Listeners(tcp4=listening(socket.AF_INET, socket.SOCK_STREAM, ("127.0.0.1", 0)), tcp6=tcp6,
                          udp4=listening(socket.AF_INET, socket.SOCK_DGRAM, ("127.0.0.1", 0)),
                          abstract=listening(socket.AF_UNIX, socket.SOCK_STREAM, name),
                          unix=listening(socket.AF_UNIX, socket.SOCK_STREAM, path),
                          abstract_name=name, unix_path=path)
        os.chmod(path, 0o777)
        canary.planted = snapshot(canary.dir)
        yield found
    finally:
        for sock in opened:
            sock.close()


# ── a host process that must survive ────────────────────────────────────────────────────────────


@pytest.fixture
def host_sleep() -> Iterator[subprocess.Popen[bytes]]:
    """``sleep 60`` on the host, running as the sandbox uid: nothing but the pid namespace protects it."""
    if ROOT:
        proc = subprocess.Popen(["sleep", "60"], user=SANDBOX_UID, group=SANDBOX_GID, extra_groups=[],
                                cwd="/", env={})
    else:
        proc = subprocess.Popen(["sleep", "60"], cwd="/", env={})
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def assert_alive(proc: subprocess.Popen[bytes]) -> None:
    """The host process is still running and was not stopped or traced."""
    assert proc.poll() is None, f"the host process {proc.pid} died: {proc.returncode}"
    status = Path(f"/proc/{proc.pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    assert fields["State"].split()[0] in ("S", "R"), fields["State"]
    assert fields["TracerPid"].strip() == "0", "the host process is being traced"


# ── process census ──────────────────────────────────────────────────────────────────────────────


def _proc_field(pid: int, name: str) -> str | None:
    try:
        return Path(f"/proc/{pid}/{name}").read_text()
    except OSError:
        return None


def _uid_and_ppid(pid: int) -> tuple[int, int] | None:
    status = _proc_field(pid, "status")
    if status is None:
        return None
    uid = ppid = -1
    for line in status.splitlines():
        if line.startswith("Uid:"):
            uid = int(line.split()[1])
        elif line.startswith("PPid:"):
            ppid = int(line.split()[1])
    return uid, ppid


def sandbox_uid_processes() -> set[int]:
    """Host pids whose real uid is the sandbox uid."""
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            info = _uid_and_ppid(int(entry))
            if info is not None and info[0] == SANDBOX_UID:
                found.add(int(entry))
    return found


def _inside_a_live_bwrap(pid: int) -> bool:
    """True when ``pid`` is bwrap or descends from a live bwrap (someone's sandbox that is still running)."""
    seen = 0
    while pid > 1 and seen < 64:
        if (_proc_field(pid, "comm") or "").strip() == "bwrap":
            return True
        info = _uid_and_ppid(pid)
        if info is None:
            return False
        pid, seen = info[1], seen + 1
    return False


def escaped(before: set[int]) -> list[str]:
    """Processes of the sandbox uid that appeared since ``before`` and live outside any bwrap."""
    out = []
    for pid in sandbox_uid_processes() - before:
        if not _inside_a_live_bwrap(pid):
            comm = (_proc_field(pid, "comm") or "?").strip()
            cmdline = (_proc_field(pid, "cmdline") or "").replace("\0", " ")
            out.append(f"{pid} {comm} {cmdline[-160:]}".rstrip())
    return out


def marked(marker: str) -> list[int]:
    """Host pids whose name (``/proc/PID/comm``, 15 chars) is ``marker``: processes an attack renamed."""
    name = marker[:15]
    return [int(e) for e in os.listdir("/proc") if e.isdigit() and (_proc_field(int(e), "comm") or "").strip() == name]


def wait_until_gone(check: Any, seconds: float = 2.0) -> Any:
    """Re-evaluate ``check()`` until it is empty or ``seconds`` pass (the kernel reaps asynchronously)."""
    deadline = time.monotonic() + seconds
    result = check()
    while result and time.monotonic() < deadline:
        time.sleep(0.05)
        result = check()
    return result


@pytest.fixture(autouse=True)
def no_sandbox_process_outlives_the_test() -> Iterator[None]:
    """After every attack: no process of the sandbox uid is left outside a live bwrap."""
    before = sandbox_uid_processes()
    yield
    left = wait_until_gone(lambda: escaped(before), 3.0)
    assert not left, f"sandbox-uid processes outlived their sandbox: {left}"


# ── running attacks ─────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Attack:
    """What one attack produced: straight through the sandbox, through the pipeline, and (when asked)
    through the oracle on its own."""

    report: RunReport
    outcome: Outcome
    verdict: Verdict | None = None
    """``oracle.evaluate``'s verdict on the attack's example, static checks bypassed (``attack(through_oracle=True)``)."""

    @property
    def case(self) -> CaseResult | None:
        """The direct run's one result (None when the run broke before giving one)."""
        return self.report.cases[0] if self.report.cases else None

    @property
    def rejected_by(self) -> set[str]:
        """The pipeline stages that failed."""
        return {s.stage for s in self.outcome.stages if not s.ok}

    @property
    def codes(self) -> set[str]:
        """Every finding code of the pipeline's stages."""
        return {f.code for s in self.outcome.stages for f in s.findings}

    @property
    def oracle_codes(self) -> set[str]:
        """The finding codes of the oracle's own verdict (``attack(through_oracle=True)``)."""
        assert self.verdict is not None, "run the attack with through_oracle=True"
        return {f.code for f in self.verdict.findings}

    def value(self) -> JSON:
        """The direct run's returned value; fails the test if the case did not return one."""
        assert self.case is not None and self.case.ok, self.report
        return self.case.value

    def refused(self) -> bool:
        """True when the direct run did not return a value (an error, a crash, a timeout or no result)."""
        return self.case is None or not self.case.ok


def run_direct(foundry: Foundry, code: str, function: str, cases: list[dict[str, JSON]],
               limits: Limits | None = None) -> RunReport:
    """The attack straight through the sandbox, as the oracle runs it: no static check in the way."""
    return sandbox_of(foundry).run_cases(code=source(code), function=function, cases=cases,
                                         permissions=Permissions(), limits=limits or foundry.settings.test_limits)


def sandbox_of(foundry: Foundry) -> BwrapSandbox:
    """The sandbox the home's settings describe: the one the oracle and the calls run in."""
    return BwrapSandbox(foundry.settings.sandbox)


def judge(foundry: Foundry, code: str, function: str, examples: tuple[Example, ...],
          holdout: tuple[Example, ...] = ()) -> Verdict:
    """The attack through the oracle alone, exactly as the workflow's oracle step calls it (same sandbox,
    no permissions, the test limits), bypassing the static checks on purpose: a tool that fooled them
    must still get an honest verdict. Asserts the launcher's secret is not in the verdict."""
    found = oracle.evaluate(sandbox_of(foundry), code=source(code), function=function, examples=examples,
                            holdout=holdout, permissions=Permissions(), limits=foundry.settings.test_limits)
    assert_no_secret(foundry, found)
    return found


def attack(foundry: Foundry, code: str, function: str, args: dict[str, JSON], *, expect: JSON = HARMLESS,
           holdout: tuple[Example, ...] = (), tests: str | None = None, limits: Limits | None = None,
           through_oracle: bool = False) -> Attack:
    """Run an attack directly in the sandbox and through ``propose``; assert the pipeline rejected it.

    With ``through_oracle``, also through ``oracle.evaluate`` on its own (:func:`judge`; the verdict is
    ``Attack.verdict``). Also asserts the launcher's secret shows up nowhere: not in the result, the
    output tail, a finding, the verdict, nor the audit log.
    """
    report = run_direct(foundry, code, function, [args], limits)
    examples = (Example(args=args, expect=expect),)
    found = judge(foundry, code, function, examples, holdout) if through_oracle else None
    outcome = foundry.propose(Candidate(code=source(code), examples=examples,
                                        holdout=holdout, tests=None if tests is None else source(tests)))
    assert_rejected(foundry, outcome)
    assert_no_secret(foundry, report, outcome)
    return Attack(report=report, outcome=outcome, verdict=found)


def assert_rejected(foundry: Foundry, outcome: Outcome) -> None:
    """Rejected by a real layer (the attack is a well-formed tool), nothing merged, audit chain intact."""
    assert outcome.status == "rejected", json.dumps(outcome.to_json(), indent=1)[:3000]
    contract = outcome.stages[0]
    assert contract.stage == "contract" and contract.ok, contract.to_json()  # not rejected for its shape
    assert foundry.tools() == []
    with home_parts(foundry.settings) as parts:
        assert parts.forge.branch_head(outcome.request_id) is None
    assert foundry.verify().ok


def assert_no_secret(foundry: Foundry, *things: Any) -> None:
    """The launcher's secret appears in none of ``things`` nor anywhere in the audit log."""
    token = os.environ[SECRET_ENV]
    texts = [repr(t) for t in things]
    texts += [json.dumps(t.to_json()) for t in things if isinstance(t, Outcome | CallResult)]
    texts += [json.dumps(e.data, default=str) for e in foundry.events()]
    assert not any(token in text for text in texts), "the launcher's environment leaked"


def deploy(foundry: Foundry, code: str, examples: tuple[Example, ...]) -> Outcome:
    """Propose a benign-looking tool that must pass every stage and be deployed."""
    outcome = foundry.propose(Candidate(code=source(code), examples=examples))
    assert outcome.status == "deployed", json.dumps(outcome.to_json(), indent=1)[:3000]
    return outcome


def propose_rejected(foundry: Foundry, code: str, examples: tuple[Example, ...]) -> Outcome:
    """The static layer for a call-time attack: ``propose`` must reject it (at any stage), nothing merged,
    the chain intact, the secret nowhere. Run it before :func:`deploy_unchecked` (nothing may be deployed yet)."""
    outcome = foundry.propose(Candidate(code=source(code), examples=examples))
    assert_rejected(foundry, outcome)
    assert_no_secret(foundry, outcome)
    return outcome


def deploy_unchecked(foundry: Foundry, code: str, examples: tuple[Example, ...] = (), *, name: str | None = None,
                     permissions: Permissions | None = None) -> ToolRef:
    """Deploy ``code`` exactly as the workflow's deliver path does, but without the static checks.

    This simulates a tool that fooled every static check and a reviewer; the sandbox must still hold.
    The static checks are a first filter, not the boundary (THREAT_MODEL.md): call-time attacks that
    today's checks reject are deployed through here, so the test exercises the sandbox a call really
    runs in — through the real ``foundry.call`` (the reviewed hash checked at load, the warm pool, the
    audit log). Only the tool contract is required (a call needs a spec). The steps are the workflow's:
    the PR (``toolfile.tool_files`` with the same trailers as ``Steps.pull_request``), the merge
    (``Steps.merge``), the signed provenance record (``attest.record``), the registry record, the hash-checked load and the ``deploy`` audit event (``Steps.load``). Use it only
    for the call-time layer; the same code's rejection by the pipeline is asserted separately.
    """
    code = source(code)
    permissions = permissions or Permissions()
    spec, findings = contract.parse_tool(code, name=name)
    assert spec is not None, [f.to_json() for f in findings]  # the attack is a well-formed tool
    with home_parts(foundry.settings) as parts:
        return _deploy_unchecked(parts, foundry, code, spec, examples, name, permissions)


def _deploy_unchecked(parts: Parts, foundry: Foundry, code: str, spec: ToolSpec, examples: tuple[Example, ...],
                      name: str | None, permissions: Permissions) -> ToolRef:
    rid, version, digest = new_request_id(), parts.registry.next_version(spec.name), toolfile.code_digest(code)
    candidate = Candidate(code=code, examples=examples, permissions=permissions, name=name)
    trailers = {"Foundry-Request": rid, "Tool-Name": spec.name, "Tool-Version": str(version),
                "Tool-Sha256": digest}
    parts.forge.open_pr(request_id=rid, files=toolfile.tool_files(candidate, spec, version, rid),
                        message=f"Add {spec.name} v{version}", trailers=trailers)
    commit = parts.forge.merge(request_id=rid, message=f"Merge {spec.name} v{version}", trailers=trailers)
    ref = ToolRef(name=spec.name, version=version, sha256=digest, commit=commit)
    attest.record(parts, Proposal(request_id=rid, requester="tester", ref=replace(ref, commit=None),
                                  interface=spec.interface, permissions=permissions, stages=(),
                                  decision=Decision(route="auto", rule="test-bypass", reason="deploy_unchecked")),
                  commit)  # the signed provenance record the deliver step writes, so the load check passes
    parts.registry.record(ref=ref, request_id=rid, interface=spec.interface, permissions=permissions)
    loaded = parts.registry.load(ref.name, ref.version)  # the reviewed bytes, hash-checked
    parts.audit.append("deploy", request_id=rid, actor="tester", data={**loaded.tool.ref.to_json(),
                                                                       "static_checks": "bypassed by the test"},
                       key=f"{rid}:deploy")
    assert loaded.tool.ref == ref and foundry.verify().ok
    return ref


def call(foundry: Foundry, name: str, args: dict[str, JSON]) -> CallResult:
    """Call a deployed tool; the secret must not leak through the result or the audit log."""
    result = foundry.call(name, args)
    assert_no_secret(foundry, result)
    return result


def world_readable(path: Path) -> bool:
    """True when ``path`` is readable by others (so permissions alone would not stop the sandbox uid)."""
    return bool(path.stat().st_mode & stat.S_IROTH)


@contextlib.contextmanager
def unchanged(*roots: Path) -> Iterator[None]:
    """Assert every file under ``roots`` is byte-identical after the block."""
    before = {root: snapshot(root) for root in roots}
    yield
    for root in roots:
        assert snapshot(root) == before[root], f"{root} changed"
