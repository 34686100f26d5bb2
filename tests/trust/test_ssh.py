"""OpenSSH signatures as toolfoundry uses them: real ssh-keygen keys, namespaces, allowed_signers, agent signing."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from toolfoundry.core import ToolRef
from toolfoundry.errors import UsageError
from toolfoundry.identity import ssh
from toolfoundry.identity.approval import approval_message
from trust.conftest import keypair, pub


def signers_of(**keys: Path) -> str:
    return ssh.format_allowed_signers(ssh.Signer(principal=name, key=ssh.read_public_key(pub(key)))
                                      for name, key in keys.items())


def test_a_signature_verifies_only_for_its_data_its_signer_and_its_namespace(tmp_path: Path) -> None:
    alice, bob = keypair(tmp_path, "alice"), keypair(tmp_path, "bob")
    signers = signers_of(alice=alice, bob=bob)
    signature = ssh.sign(b"approve 1", key=alice, namespace=ssh.NAMESPACE)
    fingerprint = ssh.read_public_key(pub(alice)).fingerprint
    assert ssh.verify(b"approve 1", signature, signers=signers, principal="alice", namespace=ssh.NAMESPACE) == fingerprint
    assert ssh.signed_by(b"approve 1", signature, signers=signers, namespace=ssh.NAMESPACE) == ("alice", fingerprint)
    assert ssh.verify(b"approve 2", signature, signers=signers, principal="alice", namespace=ssh.NAMESPACE) is None
    assert ssh.verify(b"approve 1", signature, signers=signers, principal="bob", namespace=ssh.NAMESPACE) is None
    assert ssh.verify(b"approve 1", signature, signers=signers, principal="alice",
                      namespace=ssh.PROVENANCE_NAMESPACE) is None
    assert ssh.signed_by(b"approve 1", signature, signers=signers_of(bob=bob), namespace=ssh.NAMESPACE) is None


def test_allowed_signers_restricts_a_key_to_its_namespaces(tmp_path: Path) -> None:
    foundry = keypair(tmp_path, "foundry")
    line = ssh.Signer(principal="foundry", key=ssh.read_public_key(pub(foundry)),
                      namespaces=(ssh.PROVENANCE_NAMESPACE,))
    signers = ssh.format_allowed_signers([line])
    for namespace in (ssh.NAMESPACE, ssh.PROVENANCE_NAMESPACE):  # the key signs in both...
        signature = ssh.sign(b"x", key=foundry, namespace=namespace)
        found = ssh.verify(b"x", signature, signers=signers, principal="foundry", namespace=namespace)
        assert (found is not None) == (namespace == ssh.PROVENANCE_NAMESPACE)  # ...but is trusted in one
    assert ssh.parse_allowed_signers(signers) == [line]


def test_bad_keys_and_signatures_are_clear_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not an OpenSSH public key"):
        ssh.parse_public_key("hello world", "k.pub")
    with pytest.raises(UsageError, match="does not hold a ssh-ed25519 key"):
        ssh.parse_public_key("ssh-ed25519 AAAAB3NzaC1yc2EAAAADAQABAAABAQ== x", "k.pub")
    with pytest.raises(UsageError, match="not an SSH signature"):
        ssh.check_signature_text("-----BEGIN PGP SIGNATURE-----\nabc\n-----END PGP SIGNATURE-----\n")
    with pytest.raises(UsageError, match="line 2"):
        ssh.parse_allowed_signers("# header\nalice ssh-ed25519 AAAA\n")
    with pytest.raises(UsageError, match="no such key file"):
        ssh.sign(b"x", key=tmp_path / "missing", namespace=ssh.NAMESPACE)


def test_the_approval_message_names_request_tool_version_hash_and_decision() -> None:
    ref = ToolRef(name="square", version=2, sha256="ab" * 32)
    message = approval_message(request_id="r1", ref=ref, approve=True, reason="ok")
    assert message.decode().endswith("\n")
    changed = [approval_message(request_id="r2", ref=ref, approve=True, reason="ok"),
               approval_message(request_id="r1", ref=ToolRef(name="square", version=3, sha256=ref.sha256), approve=True,
                                reason="ok"),
               approval_message(request_id="r1", ref=ToolRef(name="square", version=2, sha256="cd" * 32), approve=True,
                                reason="ok"),
               approval_message(request_id="r1", ref=ref, approve=False, reason="ok")]
    assert all(m != message for m in changed) and len(set(changed)) == 4


def test_signing_through_ssh_agent_with_only_the_public_key(tmp_path: Path) -> None:
    key = keypair(tmp_path, "carol")
    sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            if sock.exists():
                break
            subprocess.run(["sleep", "0.02"], check=True)
        env = {"SSH_AUTH_SOCK": str(sock), "PATH": os.environ["PATH"]}
        subprocess.run(["ssh-add", "-q", str(key)], env=env, check=True, capture_output=True)
        assert [k.fingerprint for k in ssh.agent_keys(str(sock))] == [ssh.read_public_key(pub(key)).fingerprint]
        key.unlink()  # only the agent holds the private key now
        signature = ssh.sign(b"via agent", key=pub(key), namespace=ssh.NAMESPACE, agent_socket=str(sock))
        assert ssh.verify(b"via agent", signature, signers=signers_of(carol=key), principal="carol",
                          namespace=ssh.NAMESPACE)
    finally:
        os.kill(agent.pid, signal.SIGTERM)
        agent.wait(timeout=10)
