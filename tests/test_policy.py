"""The first-version policy: which rule routes which candidate."""

from __future__ import annotations

from toolfoundry.config import PolicySettings
from toolfoundry.core import Finding, Permissions, verdict
from toolfoundry.policy import decide

PASS = (verdict("contract", []), verdict("checks", []), verdict("tests", []), verdict("oracle", []))
FAIL = (verdict("contract", []), verdict("checks", [Finding(code="x", message="m")]))


def test_pure_passing_code_with_examples_is_auto_approved() -> None:
    d = decide(permissions=Permissions(), verdicts=PASS, examples=2, settings=PolicySettings())
    assert (d.route, d.rule) == ("auto", "pure-and-passing")


def test_any_failed_stage_is_denied_and_named() -> None:
    d = decide(permissions=Permissions(), verdicts=FAIL, examples=2, settings=PolicySettings())
    assert (d.route, d.rule) == ("deny", "failed-validation") and "checks" in d.reason


def test_a_network_host_or_env_var_needs_a_human() -> None:
    for perms in (Permissions(net_hosts=("example.org",)), Permissions(env_vars=("TOKEN",))):
        d = decide(permissions=perms, verdicts=PASS, examples=2, settings=PolicySettings())
        assert (d.route, d.rule) == ("human", "permissions-need-human")
        assert (perms.net_hosts or perms.env_vars)[0] in d.reason


def test_no_host_side_evidence_needs_a_human_or_is_denied_when_examples_are_required() -> None:
    assert decide(permissions=Permissions(), verdicts=PASS, examples=0,
                  settings=PolicySettings()).rule == "no-host-evidence"
    d = decide(permissions=Permissions(), verdicts=PASS, examples=0, settings=PolicySettings(require_examples=True))
    assert (d.route, d.rule) == ("deny", "examples-required")


def test_switching_off_auto_approval_sends_everything_to_a_human() -> None:
    d = decide(permissions=Permissions(), verdicts=PASS, examples=3, settings=PolicySettings(auto_approve_pure=False))
    assert (d.route, d.rule) == ("human", "default-human")
