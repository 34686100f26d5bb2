"""Every deployed version has a signed in-toto provenance record beside it, and loading checks it.

The record names the request and requester, the model's prompt and reply hashes (for generated tools),
each stage's verdict with a digest of its evidence, the policy rule, the approvals with their signatures
and the merge commit; it is signed with the foundry's own key. An edited, deleted or re-signed record,
or an edited tool file (even with the registry edited to match), is refused at load.
"""

from __future__ import annotations

import base64
import json
import sqlite3
from pathlib import Path

import pytest

from toolfoundry.api import Foundry
from toolfoundry.core import Candidate, Example, Verdict
from toolfoundry.errors import TamperedTool
from toolfoundry.identity import provenance, ssh
from toolfoundry.identity.approval import approval_message
from toolfoundry.toolfile import code_digest, tool_path
from trust.conftest import People, keypair, pending

from conftest import ADD, cli_json, home_parts, make_settings, run_cli, write

ADD_CANDIDATE = Candidate(code=ADD, examples=(Example(args={"a": 1}, expect=2),))
RECORD = provenance.record_path("add", 1)


def statement_of(data: bytes) -> dict[str, object]:
    return json.loads(base64.b64decode(json.loads(data)["payload"]))


def commit_to_main(foundry: Foundry, files: dict[str, bytes], rid: str) -> str:
    """Change files on main the way someone with write access to the tool repository could."""
    with home_parts(foundry.settings) as parts:
        parts.forge.open_pr(request_id=rid, files=files, message="edit", trailers={})
        return parts.forge.merge(request_id=rid, message="edit", trailers={})


def test_a_deployed_version_has_a_signed_record_that_verifies_offline(foundry: Foundry) -> None:
    outcome = foundry.propose(ADD_CANDIDATE)
    assert outcome.status == "deployed" and outcome.tool is not None
    with home_parts(foundry.settings) as parts:
        data = parts.forge.read_file(parts.forge.main_head(), RECORD)
        signers = parts.forge.read_file(parts.forge.main_head(), ssh.ALLOWED_SIGNERS).decode()
    envelope = json.loads(data)
    assert envelope["payloadType"] == "application/vnd.in-toto+json" and len(envelope["signatures"]) == 1
    stmt = statement_of(data)
    assert stmt["_type"] == "https://in-toto.io/Statement/v1" and stmt["predicateType"] == provenance.PREDICATE_TYPE
    assert stmt["subject"] == [{"name": tool_path("add"), "digest": {"sha256": code_digest(ADD)},  # type: ignore[comparison-overlap]
                                "annotations": {"tool": "add", "version": 1}}]
    predicate = stmt["predicate"]
    assert isinstance(predicate, dict)
    request = predicate["buildDefinition"]["externalParameters"]["request"]
    assert request["id"] == outcome.request_id and request["requester"] == "tester" and request["source"] == "propose"
    assert predicate["buildDefinition"]["internalParameters"]["policy"]["rule"] == "pure-and-passing"
    assert [b["digest"]["sha256"] for b in predicate["runDetails"]["byproducts"]] == [
        provenance.digest(v.to_json()) for v in outcome.stages]
    assert predicate["merge"]["commit"] == outcome.tool.commit
    assert predicate["review"]["reviewer"] == "policy" and predicate["review"]["authority"] == "policy"
    events = {e.key: e.hash for e in foundry.events(outcome.request_id)}
    assert predicate["audit"]["stage:oracle:1"] == events[f"{outcome.request_id}:stage:oracle:1"]
    assert 'foundry namespaces="toolfoundry-provenance" ssh-ed25519 ' in signers
    code, shown = cli_json(foundry.settings.home, "provenance", "add", "--verify")
    assert code == 0 and shown["verified"] is True and shown["problems"] == []  # type: ignore[index]
    plain = run_cli(foundry.settings.home, "provenance", "add", "--verify")
    assert plain.returncode == 0 and "pure-and-passing" in plain.stdout and "verified" in plain.stdout


def test_a_generated_tools_record_holds_the_models_prompt_and_reply_hashes(home: Path, tmp_path: Path) -> None:
    spec = json.dumps({"name": "vowels", "signature": "(text: str) -> int", "description": "Count vowels.",
                       "permissions": {"net_hosts": [], "env_vars": []}})
    code = ('```python\n"""Vowel counting."""\n\n\ndef vowels(text: str) -> int:\n    """Count vowels."""\n'
            '    return sum(c in "aeiou" for c in text.lower())\n```\n')
    model = write(tmp_path / "model.json", json.dumps([{"content": spec}, {"content": code}]))
    with Foundry(make_settings(home, TOOLFOUNDRY_MODEL=f"scripted:{model}")) as f:
        outcome = f.request("count the vowels in a text", examples=(Example(args={"text": "Aeiou"}, expect=5),))
        assert outcome.status == "deployed", outcome.reason
        calls = [e.data for e in f.events(outcome.request_id) if e.kind == "model.call"]
        record = f.trust.provenance("vowels", verify=True)
    assert record.problems == ()
    predicate = record.statement["predicate"]
    deps = predicate["buildDefinition"]["resolvedDependencies"]  # type: ignore[index]
    assert [(d["annotations"]["prompt_sha256"], d["annotations"]["response_sha256"]) for d in deps] == [
        (c["prompt_sha256"], c["response_sha256"]) for c in calls] and len(deps) == 2
    assert predicate["buildDefinition"]["externalParameters"]["request"]["description"] == \
        "count the vowels in a text"  # type: ignore[index]


def test_a_signed_approval_is_in_the_record_and_verified_with_it(people: People) -> None:
    proposal = pending(people, people.agent)
    message = approval_message(request_id=proposal.request_id, ref=proposal.ref, approve=True, reason="checked")
    signature = ssh.sign(message, key=people.keys["alice"], namespace=ssh.NAMESPACE)
    with people.foundry() as f:
        assert f.review(proposal.request_id, approve=True, reason="checked", signature=signature).status == "deployed"
        record = f.trust.provenance("square", verify=True)
        assert f.call("square", x=7).result == 49
    assert record.problems == ()
    review = record.statement["predicate"]["review"]  # type: ignore[index]
    assert review["reviewer"] == "alice" and review["authority"] == "signature"
    assert [(a["signer"], a["decision"], a["via"], a["signature"]) for a in review["approvals"]] == [
        ("alice", "approve", "key", signature)]
    assert record.statement["predicate"]["buildDefinition"]["externalParameters"]["request"]["requester"] == \
        "agent7"  # type: ignore[index]


def refused_at_load(home: Path, name: str, match: str) -> None:
    """A fresh process-like foundry refuses to call ``name``, audits it, and `provenance --verify` fails."""
    with Foundry(make_settings(home)) as f:
        with pytest.raises(TamperedTool, match=match):
            f.call(name, a=1)
        assert f.events()[-1].kind == "tool.tampered"
        assert f.verify().ok
    proc = run_cli(home, "provenance", name, "--verify")
    assert proc.returncode == 1 and "does not verify" in proc.stderr


def test_an_edited_provenance_record_is_refused_at_load(foundry: Foundry) -> None:
    assert foundry.propose(ADD_CANDIDATE).status == "deployed"
    with home_parts(foundry.settings) as parts:
        data = parts.forge.read_file(parts.forge.main_head(), RECORD)
    envelope = json.loads(data)
    stmt = statement_of(data)
    stmt["predicate"]["review"]["reviewer"] = "security-lead"  # type: ignore[index]
    envelope["payload"] = base64.b64encode(provenance.payload(stmt)).decode()  # the old signature kept
    commit_to_main(foundry, {RECORD: json.dumps(envelope).encode()}, "tamper-record")
    refused_at_load(foundry.settings.home, "add", "signature does not verify with the foundry's key")


def test_a_deleted_or_foreign_signed_record_is_refused_at_load(foundry: Foundry, tmp_path: Path) -> None:
    assert foundry.propose(ADD_CANDIDATE).status == "deployed"
    with home_parts(foundry.settings) as parts:
        data = parts.forge.read_file(parts.forge.main_head(), RECORD)
    body = base64.b64decode(json.loads(data)["payload"])
    other = keypair(tmp_path, "mallory")
    forged = ssh.sign(provenance.pae(provenance.PAYLOAD_TYPE, body), key=other, namespace=ssh.PROVENANCE_NAMESPACE)
    commit_to_main(foundry, {RECORD: provenance.envelope(body, forged, "SHA256:mallory")}, "resign-record")
    refused_at_load(foundry.settings.home, "add", "signature does not verify")
    commit_to_main(foundry, {RECORD: b"{}"}, "empty-record")
    refused_at_load(foundry.settings.home, "add", "not a DSSE envelope")


def test_an_edited_tool_file_is_refused_even_with_the_registry_edited_to_match(foundry: Foundry) -> None:
    outcome = foundry.propose(ADD_CANDIDATE)
    assert outcome.status == "deployed"
    evil = ADD.replace("return a + b", "return a - b")
    commit = commit_to_main(foundry, {tool_path("add"): evil.encode()}, "tamper-tool")
    with sqlite3.connect(foundry.settings.db) as db:  # the registry now points at the edited bytes
        db.execute("UPDATE tools SET sha256 = ?, commit_sha = ? WHERE name = 'add'", (code_digest(evil), commit))
    refused_at_load(foundry.settings.home, "add", "does not hold: it names tools/add/tool.py with sha256")


def test_each_version_keeps_its_own_record_and_a_rollback_loads_the_older_one(foundry: Foundry) -> None:
    assert foundry.propose(ADD_CANDIDATE).status == "deployed"
    v2 = ADD.replace('"""Sum of a and b."""', '"""The sum of a and b."""')
    assert foundry.propose(Candidate(code=v2, examples=ADD_CANDIDATE.examples)).status == "deployed"
    assert foundry.trust.provenance("add", 1, verify=True).problems == ()
    assert foundry.trust.provenance("add", verify=True).tool.ref.version == 2
    foundry.rollback("add")
    with Foundry(make_settings(foundry.settings.home)) as fresh:
        assert fresh.call("add", a=1, b=1).result == 2
    verdict = Verdict(stage="x", ok=True)
    assert provenance.digest(verdict.to_json()) == provenance.digest(json.loads(json.dumps(verdict.to_json())))
