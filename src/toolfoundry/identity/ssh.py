"""OpenSSH signatures: ``ssh-keygen -Y sign`` and ``-Y verify``, public keys, and the ``allowed_signers`` file.

This module owns the one way toolfoundry signs and checks a signature — the SSHSIG format that git uses
for SSH commit signing — and the ``allowed_signers`` file (``principal namespaces="..." keytype base64``,
see ssh-keygen(1) "ALLOWED SIGNERS") that maps a key to the principal it belongs to. Two namespaces keep
two kinds of signature apart: :data:`NAMESPACE` (``toolfoundry``) for a reviewer's approval and
:data:`PROVENANCE_NAMESPACE` for the foundry's own provenance records, so one can never pass for the other.

``ssh-keygen`` runs with an empty environment (only ``SSH_AUTH_SOCK`` when signing through ssh-agent);
every failure is one line: a ``UsageError`` for a bad key or signature handed in, an ``InfraError`` when
``ssh-keygen`` itself is missing. It does not know where the file lives (the tool repository, read
through the forge by the caller) or who may sign (the principals store).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from toolfoundry.errors import InfraError, UsageError

NAMESPACE = "toolfoundry"
"""The namespace of a reviewer's signature over an approval (``ssh-keygen -Y sign -n toolfoundry``)."""
PROVENANCE_NAMESPACE = "toolfoundry-provenance"
"""The namespace of the foundry's signature over a provenance record."""
ALLOWED_SIGNERS = "allowed_signers"
"""Where the allowed-signers file lives in the tool repository (at the root of ``main``)."""
KEY_TYPES = frozenset({"ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
                       "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com"})
"""Public key types accepted for signing (what ssh-keygen -Y supports)."""
MAX_SIGNATURE = 16 * 1024
"""The largest armored signature accepted from a caller."""
PRINCIPAL_RE = re.compile(r"^[a-z][a-z0-9_.-]{0,62}$")
"""A principal's name, as it appears in ``allowed_signers`` and the audit log."""
_ARMOR = re.compile(r"\A-----BEGIN SSH SIGNATURE-----\n[A-Za-z0-9+/=\n]+-----END SSH SIGNATURE-----\n?\Z")
_GOOD = re.compile(r'^Good "[^"]*" signature (?:for \S+ )?with \S+ key (SHA256:[A-Za-z0-9+/]+)', re.M)


@dataclass(frozen=True, slots=True, kw_only=True)
class PublicKey:
    """An OpenSSH public key."""

    type: str
    """``ssh-ed25519``, ``ecdsa-sha2-nistp256``, ..."""
    blob: str
    """The base64 key blob."""

    @property
    def line(self) -> str:
        """``type blob``: the key as ``allowed_signers`` and ``authorized_keys`` write it."""
        return f"{self.type} {self.blob}"

    @property
    def fingerprint(self) -> str:
        """``SHA256:...`` exactly as ``ssh-keygen -l`` prints it."""
        digest = hashlib.sha256(base64.b64decode(self.blob)).digest()
        return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


@dataclass(frozen=True, slots=True, kw_only=True)
class Signer:
    """One line of ``allowed_signers``: a principal's key, for the namespaces it may sign in."""

    principal: str
    """Who the key belongs to."""
    key: PublicKey
    """The public key."""
    namespaces: tuple[str, ...] = (NAMESPACE,)
    """The namespaces the key may sign in (``namespaces="..."``)."""

    def line(self) -> str:
        """The line as written in the file."""
        return f'{self.principal} namespaces="{",".join(self.namespaces)}" {self.key.line}'


def parse_public_key(text: str, where: str) -> PublicKey:
    """The public key in ``text`` (``type base64 [comment]``, the first non-comment line); UsageError otherwise."""
    line = next((ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")), "")
    parts = line.split()
    if len(parts) < 2 or parts[0] not in KEY_TYPES:
        raise UsageError(f"{where}: not an OpenSSH public key (expected 'ssh-ed25519 AAAA...'; key types:"
                         f" {', '.join(sorted(KEY_TYPES))})")
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError):
        raise UsageError(f"{where}: the key's base64 part is damaged") from None
    size = int.from_bytes(blob[:4], "big") if len(blob) >= 4 else -1
    if blob[4:4 + size].decode("ascii", "replace") != parts[0]:
        raise UsageError(f"{where}: the key blob does not hold a {parts[0]} key")
    return PublicKey(type=parts[0], blob=parts[1])


def read_public_key(path: Path) -> PublicKey:
    """The public key of ``path``: a ``.pub`` file, or an unencrypted private key (its public half is derived)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the key: {exc.strerror}") from None
    if "PRIVATE KEY-----" not in text:
        return parse_public_key(text, str(path))
    proc = _keygen("-y", "-P", "", "-f", str(path))
    if proc.returncode != 0:
        raise UsageError(f"{path}: cannot read the private key without a passphrase ({_reason(proc)}); give the"
                         f" .pub file, or use ssh-agent")
    return parse_public_key(proc.stdout.decode(), str(path))


def parse_allowed_signers(text: str, where: str = ALLOWED_SIGNERS) -> list[Signer]:
    """The lines of an ``allowed_signers`` file toolfoundry wrote; UsageError naming the line otherwise."""
    signers = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = re.match(r'^(\S+)\s+namespaces="([^"]*)"\s+(.+)$', line)
        if match is None or not PRINCIPAL_RE.match(match.group(1)):
            raise UsageError(f"{where} line {number}: expected 'principal namespaces=\"...\" keytype base64'")
        key = parse_public_key(match.group(3), f"{where} line {number}")
        signers.append(Signer(principal=match.group(1), key=key, namespaces=tuple(match.group(2).split(","))))
    return signers


def format_allowed_signers(signers: Iterable[Signer]) -> str:
    """The file's text: a header, then one line per key, sorted by principal (stable diffs)."""
    lines = sorted({s.line() for s in signers})
    return ("# Keys whose SSH signatures toolfoundry accepts (ssh-keygen -Y verify). Managed by\n"
            "# `toolfoundry principals`; every change is a commit on main and an audit event.\n"
            + "".join(line + "\n" for line in lines))


def check_signature_text(signature: str) -> str:
    """``signature`` if it is one armored SSH signature of sane size; UsageError otherwise."""
    text = signature.replace("\r\n", "\n")
    if len(text) > MAX_SIGNATURE or not _ARMOR.match(text):
        raise UsageError("not an SSH signature: expected the armored '-----BEGIN SSH SIGNATURE-----' block that"
                         " `ssh-keygen -Y sign -n toolfoundry` writes")
    return text if text.endswith("\n") else text + "\n"


def sign(data: bytes, *, key: Path, namespace: str, agent_socket: str | None = None) -> str:
    """The armored signature of ``data`` by ``key`` (a private key; or a public key whose private half ssh-agent
    holds, reached through ``agent_socket``)."""
    if not key.is_file():
        raise UsageError(f"{key}: no such key file")
    proc = _keygen("-Y", "sign", "-q", "-f", str(key), "-n", namespace, stdin=data, agent_socket=agent_socket)
    if proc.returncode != 0 or b"BEGIN SSH SIGNATURE" not in proc.stdout:
        where = "through ssh-agent " if agent_socket and str(key).endswith(".pub") else ""
        raise UsageError(f"cannot sign {where}with {key}: {_reason(proc)}")
    return proc.stdout.decode()


def verify(data: bytes, signature: str, *, signers: str, principal: str, namespace: str) -> str | None:
    """The fingerprint of the key that made ``signature`` over ``data``, if ``signers`` (an allowed_signers text)
    lets ``principal`` sign in ``namespace`` with it; None when the signature does not verify."""
    text = check_signature_text(signature)
    if not PRINCIPAL_RE.match(principal):
        return None
    with tempfile.TemporaryDirectory(prefix="toolfoundry-sig-") as tmp:
        allowed, sig = Path(tmp) / "allowed_signers", Path(tmp) / "data.sig"
        allowed.write_text(signers, encoding="utf-8")
        sig.write_text(text, encoding="ascii")
        proc = _keygen("-Y", "verify", "-f", str(allowed), "-I", principal, "-n", namespace, "-s", str(sig),
                       stdin=data)
    found = _GOOD.search(proc.stdout.decode("utf-8", "replace"))
    return found.group(1) if proc.returncode == 0 and found else None


def principals_of(signature: str, *, signers: str) -> list[str]:
    """The principals of ``signers`` whose key made ``signature`` (not yet a verification of the data)."""
    text = check_signature_text(signature)
    with tempfile.TemporaryDirectory(prefix="toolfoundry-sig-") as tmp:
        allowed, sig = Path(tmp) / "allowed_signers", Path(tmp) / "data.sig"
        allowed.write_text(signers, encoding="utf-8")
        sig.write_text(text, encoding="ascii")
        proc = _keygen("-Y", "find-principals", "-f", str(allowed), "-s", str(sig))
    if proc.returncode != 0:
        return []
    return [p for p in proc.stdout.decode("utf-8", "replace").split() if PRINCIPAL_RE.match(p)]


def signed_by(data: bytes, signature: str, *, signers: str, namespace: str) -> tuple[str, str] | None:
    """(principal, fingerprint) of the allowed signer whose signature over ``data`` verifies, or None."""
    for principal in principals_of(signature, signers=signers):
        fingerprint = verify(data, signature, signers=signers, principal=principal, namespace=namespace)
        if fingerprint is not None:
            return principal, fingerprint
    return None


def generate_key(path: Path, comment: str) -> PublicKey:
    """Create an ed25519 key pair at ``path`` (mode 0600) and ``path.pub``, atomically; keep one that exists."""
    if path.is_file() and path.with_name(path.name + ".pub").is_file():
        return read_public_key(path.with_name(path.name + ".pub"))
    with tempfile.TemporaryDirectory(prefix="toolfoundry-key-", dir=path.parent) as tmp:
        made = Path(tmp) / "key"
        proc = _keygen("-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(made))
        if proc.returncode != 0:
            raise InfraError(f"cannot create the signing key {path}: {_reason(proc)}")
        os.chmod(made, 0o600)
        try:
            os.link(made.with_name("key.pub"), path.with_name(path.name + ".pub"))
            os.link(made, path)  # the private key last: its presence means the pair is complete
        except FileExistsError:
            pass  # another process made it first; theirs is the key
    return read_public_key(path.with_name(path.name + ".pub"))


def agent_keys(agent_socket: str) -> list[PublicKey]:
    """The public keys ssh-agent at ``agent_socket`` holds (``ssh-add -L``); [] when it holds none."""
    tool = shutil.which("ssh-add", path="/usr/bin:/bin:/usr/local/bin")
    if tool is None:
        raise InfraError("ssh-add not found: install the Debian package openssh-client")
    proc = subprocess.run([tool, "-L"], capture_output=True, env={"SSH_AUTH_SOCK": agent_socket}, check=False)
    keys = []
    for line in proc.stdout.decode("utf-8", "replace").splitlines():
        try:
            keys.append(parse_public_key(line, "ssh-agent"))
        except UsageError:
            continue
    return keys


def _keygen(*args: str, stdin: bytes = b"", agent_socket: str | None = None) -> subprocess.CompletedProcess[bytes]:
    tool = shutil.which("ssh-keygen", path="/usr/bin:/bin:/usr/local/bin")
    if tool is None:
        raise InfraError("ssh-keygen not found: install the Debian package openssh-client")
    env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C", **({"SSH_AUTH_SOCK": agent_socket} if agent_socket else {})}
    try:
        return subprocess.run([tool, *args], input=stdin, capture_output=True, env=env, check=False, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InfraError(f"ssh-keygen failed to run: {exc}") from None


def _reason(proc: subprocess.CompletedProcess[bytes]) -> str:
    lines = [ln.strip() for ln in proc.stderr.decode("utf-8", "replace").splitlines()
             if ln.strip() and not ln.startswith("Signing data")]
    return lines[-1] if lines else f"ssh-keygen exited {proc.returncode}"
