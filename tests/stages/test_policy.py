"""The policy: built-in defaults, [[policy.rules]] conditions and order, reviewer plans, invalid files."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from toolfoundry import settings as settings_mod
from toolfoundry.core import Candidate, Example, Finding, Permissions, ToolSpec, verdict
from toolfoundry.errors import UsageError
from toolfoundry.stages.policy import CONDITIONS, RiskFacts, When, decide
from toolfoundry.stages.policy.settings import PolicySettings

from conftest import write

PASS = (verdict("contract", []), verdict("checks", []), verdict("tests", []), verdict("oracle", []))
FAIL = (verdict("contract", []), verdict("checks", [Finding(code="x", message="m")]))
NET = Permissions(net_hosts=("api.example.org",))


def facts(**changes: object) -> RiskFacts:
    """A pure, passing, new tool with two host-judged examples, changed as asked."""
    base = RiskFacts(name="slugify", source="propose", imports=("re",), lines=20, examples=2, verdicts=PASS)
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def policy(tmp_path: Path, text: str) -> PolicySettings:
    write(tmp_path / "toolfoundry.toml", text)
    return settings_mod.load(tmp_path, {}, user="u").policy


def rule(when: str, route: str = "deny", name: str = "r", extra: str = "") -> str:
    return f'[[policy.rules]]\nname = "{name}"\nwhen = {{ {when} }}\nroute = "{route}"\n{extra}'


# ── the built-in defaults (no rules): the first version's behaviour ──


def test_pure_passing_code_with_examples_is_auto_approved() -> None:
    d = decide(facts(), settings=PolicySettings())
    assert (d.route, d.rule) == ("auto", "pure-and-passing")


def test_any_failed_stage_is_denied_and_named() -> None:
    d = decide(facts(verdicts=FAIL), settings=PolicySettings())
    assert (d.route, d.rule) == ("deny", "failed-validation") and "checks" in d.reason


def test_a_network_host_or_env_var_needs_a_human() -> None:
    for perms in (NET, Permissions(env_vars=("TOKEN",))):
        d = decide(facts(permissions=perms), settings=PolicySettings())
        assert (d.route, d.rule) == ("human", "permissions-need-human")
        assert (perms.net_hosts or perms.env_vars)[0] in d.reason


def test_no_host_side_evidence_needs_a_human_or_is_denied_when_examples_are_required() -> None:
    assert decide(facts(examples=0), settings=PolicySettings()).rule == "no-host-evidence"
    d = decide(facts(examples=0), settings=PolicySettings(require_examples=True))
    assert (d.route, d.rule) == ("deny", "examples-required")


def test_switching_off_auto_approval_sends_everything_to_the_default_route() -> None:
    d = decide(facts(examples=3), settings=PolicySettings(auto_approve_pure=False))
    assert (d.route, d.rule) == ("human", "default-human")
    d = decide(facts(examples=3), settings=PolicySettings(auto_approve_pure=False, default_route="deny"))
    assert (d.route, d.rule) == ("deny", "default-deny")


def test_permissions_without_the_human_rule_are_auto_approved_and_the_reason_says_so() -> None:
    d = decide(facts(permissions=NET), settings=PolicySettings(human_for_permissions=False))
    assert (d.route, d.rule) == ("auto", "pure-and-passing") and "api.example.org" in d.reason


def test_facts_are_built_from_the_candidate_its_spec_and_the_deployed_version() -> None:
    spec = ToolSpec(name="fetch", function="fetch", description="d", module_doc="m", params=(), args_schema={},
                    result_schema={}, signature="(url: str) -> str", imports=("urllib",))
    candidate = Candidate(code="a\nb\nc\n", permissions=NET, source="request",
                          examples=(Example(args={}, expect=1),), holdout=(Example(args={}, expect=2),))
    new = RiskFacts.of(candidate=candidate, spec=spec, verdicts=PASS, previous=None)
    assert (new.name, new.source, new.imports, new.lines, new.examples) == ("fetch", "request", ("urllib",), 3, 2)
    assert new.new_tool and not new.signature_changed and new.added_permissions == ("network host api.example.org",)
    old = RiskFacts.of(candidate=candidate, spec=spec, verdicts=PASS, previous=("(url: str) -> bytes", NET))
    assert not old.new_tool and old.signature_changed and old.added_permissions == ()
    failed = RiskFacts.of(candidate=dataclasses.replace(candidate, name="wanted"), spec=None, verdicts=FAIL,
                          previous=None)
    assert failed.name == "wanted" and decide(failed, settings=PolicySettings()).rule == "failed-validation"


# ── rules ──


def test_every_condition_has_a_when_field_and_a_check() -> None:
    assert set(CONDITIONS) == {f.name for f in dataclasses.fields(When)}


@pytest.mark.parametrize(("when", "matching", "other"), [
    ("net_hosts = true", facts(permissions=NET), facts()),
    ("net_hosts = false", facts(), facts(permissions=NET)),
    ("env_vars = true", facts(permissions=Permissions(env_vars=("TOKEN",))), facts(permissions=NET)),
    ('imports_any = ["ctypes", "pickle"]', facts(imports=("re", "pickle")), facts(imports=("re",))),
    ("adds_permissions = true", facts(permissions=NET, previous_permissions=Permissions()),
     facts(permissions=NET, previous_permissions=NET)),
    ("adds_permissions = false", facts(previous_permissions=Permissions()), facts(permissions=NET)),
    ("signature_changed = true", facts(signature_changed=True, previous_permissions=Permissions()), facts()),
    ("new_tool = true", facts(), facts(previous_permissions=Permissions())),
    ("new_tool = false", facts(previous_permissions=Permissions()), facts()),
    ("lines_over = 150", facts(lines=151), facts(lines=150)),
    ("examples_min = 3", facts(examples=3), facts(examples=2)),
    ("pure = true", facts(), facts(permissions=NET)),
    ("pure = false", facts(permissions=NET), facts()),
    ('source = "request"', facts(source="request"), facts(source="propose")),
    ('source = ["propose", "request"]', facts(source="request"), None),
    ('source = ["mcp"]', facts(source="mcp"), facts(source="propose")),
    ('name_matches = "net_*"', facts(name="net_fetch"), facts(name="fetch_net")),
    ("lines_over = 10, pure = true", facts(lines=11), facts(lines=11, permissions=NET)),
    ("", facts(), None),
])
def test_each_condition_matches_its_facts_and_only_them(tmp_path: Path, when: str, matching: RiskFacts,
                                                        other: RiskFacts | None) -> None:
    settings = policy(tmp_path, rule(when, "deny", "the-rule"))
    d = decide(matching, settings=settings)
    assert (d.route, d.rule) == ("deny", "the-rule") and "the-rule" in d.reason
    if other is not None:
        assert decide(other, settings=settings).rule != "the-rule"


def test_the_first_matching_rule_wins_in_file_order(tmp_path: Path) -> None:
    settings = policy(tmp_path, rule("net_hosts = true", "human", "net-human")
                      + rule("pure = false", "deny", "impure-deny")
                      + rule("examples_min = 1", "auto", "tested-auto"))
    assert decide(facts(permissions=NET), settings=settings).rule == "net-human"
    assert decide(facts(permissions=Permissions(env_vars=("T",))), settings=settings).rule == "impure-deny"
    assert decide(facts(), settings=settings).rule == "tested-auto"


def test_failed_validation_is_denied_before_any_rule(tmp_path: Path) -> None:
    settings = policy(tmp_path, rule("", "human", "catch-all"))
    assert decide(facts(verdicts=FAIL), settings=settings).rule == "failed-validation"


def test_unmatched_candidates_fall_through_to_the_built_in_rules(tmp_path: Path) -> None:
    settings = policy(tmp_path, rule('imports_any = ["ctypes"]'))
    assert decide(facts(), settings=settings).rule == "pure-and-passing"
    assert decide(facts(permissions=NET), settings=settings).rule == "permissions-need-human"


def test_a_reviewers_rule_carries_its_quorum_roles_timeout_and_fallback(tmp_path: Path) -> None:
    settings = policy(tmp_path, rule("lines_over = 150", "reviewers", "big-tools",
                                     'quorum = 2\nroles = ["security", "correctness"]\ntimeout_seconds = 30\n'
                                     'then = "deny"\nregenerate = true\n'))
    d = decide(facts(lines=200), settings=settings)
    assert (d.route, d.rule, d.quorum, d.roles) == ("reviewers", "big-tools", 2, ("security", "correctness"))
    assert (d.timeout_seconds, d.fallback, d.regenerate) == (30.0, "deny", True)
    assert "200 lines (more than 150)" in d.reason
    assert d.to_json()["quorum"] == 2 and "quorum" not in decide(facts(), settings=settings).to_json()


def test_a_reviewers_rule_defaults_to_every_role_a_majority_and_a_human_fallback(tmp_path: Path) -> None:
    d = decide(facts(), settings=policy(tmp_path, rule("", "reviewers")))
    assert (d.roles, d.quorum, d.timeout_seconds, d.fallback, d.regenerate) == (
        ("security", "correctness", "interface"), 2, 120.0, "human", False)


def test_a_rule_can_give_its_own_reason(tmp_path: Path) -> None:
    d = decide(facts(permissions=NET), settings=policy(
        tmp_path, rule("net_hosts = true", "human", "net", 'reason = "network tools need the platform team"\n')))
    assert d.reason == "network tools need the platform team"


def test_the_example_policy_routes_by_risk(tmp_path: Path) -> None:
    settings = policy(tmp_path, "[policy]\nauto_approve_pure = false\n"
                      + rule('imports_any = ["ctypes", "pickle"]', "deny", "deny-dangerous-imports")
                      + rule("net_hosts = true", "human", "network-needs-human")
                      + rule("adds_permissions = true", "human", "new-permissions-need-human")
                      + rule("lines_over = 150", "reviewers", "big-tools-get-reviewers",
                             'quorum = 2\nroles = ["security", "correctness"]\n')
                      + rule("pure = true, examples_min = 1", "auto", "pure-and-passing"))
    routes = {name: decide(f, settings=settings) for name, f in {
        "pickle": facts(imports=("pickle",), permissions=NET), "net": facts(permissions=NET),
        "env": facts(permissions=Permissions(env_vars=("T",))), "big": facts(lines=400),
        "small": facts(), "untested": facts(examples=0)}.items()}
    assert {k: (d.route, d.rule) for k, d in routes.items()} == {
        "pickle": ("deny", "deny-dangerous-imports"), "net": ("human", "network-needs-human"),
        "env": ("human", "new-permissions-need-human"), "big": ("reviewers", "big-tools-get-reviewers"),
        "small": ("auto", "pure-and-passing"), "untested": ("human", "no-host-evidence")}


# ── invalid policy files fail at load with the line and the reason ──

GOOD = rule("net_hosts = true", "human", "first")  # lines 1-4


@pytest.mark.parametrize(("text", "line", "message"), [
    (GOOD + '\n[[policy.rules]]\nname = "big-tools"\nroute = "reviewers"\nwhen = { lines_above = 150 }\n',
     9, "#2 'big-tools': unknown condition 'lines_above' (known: net_hosts, "),
    (GOOD + rule("", "maybe", "x"), 8, "#2 'x': unknown route 'maybe' (known: auto, reviewers, human, deny)"),
    (rule('lines_over = "150"'), 3, "#1 'r': condition 'lines_over' must be a whole number >= 0"),
    (rule("net_hosts = 1"), 3, "condition 'net_hosts' must be true or false"),
    (rule("", "reviewers", "rv", 'roles = ["security", "interface"]\nquorum = 3\n'), 6,
     "quorum must be a whole number from 1 to the number of roles (2), got 3"),
    (rule("", "reviewers", "rv", "quorum = 0\n"), 5, "got 0"),
    (rule("", "reviewers", "rv", 'roles = ["security", "style"]\n'), 5, "unknown role 'style'"),
    (rule("", "reviewers", "rv", 'then = "auto"\n'), 5, "'then' (the route when the quorum is not reached)"),
    (rule("", "reviewers", "rv", "timeout_seconds = -1\n"), 5, "timeout_seconds must be a number > 0"),
    (rule("", "human", "h", "quorum = 2\n"), 5, "'quorum' applies only to route 'reviewers', not 'human'"),
    (rule("", "deny", "d", 'routes = "x"\n'), 5, "unknown key 'routes'"),
    (rule("pure = true", "auto", "a"), 4, "route 'auto' needs examples_min >= 1"),
    (rule('imports_any = ["os.path"]'), 3, "takes top-level module names"),
    (rule('source = "proposal"'), 3, "must name sources among propose, request"),
    (rule('name_matches = ""'), 3, "must be a non-empty glob"),
    ('[[policy.rules]]\nroute = "deny"\n', 1, "#1: needs a name"),
    (GOOD + rule("", "deny", "first"), 6, "#2 'first': a rule of that name is already defined"),
    ('[policy]\nauto_approve_pure = true\ndefault_route = "auto"\n', 3, "default_route must be 'human' or 'deny'"),
    (GOOD + '[[policy.rules]]\nname = "sub"\nroute = "deny"\n[policy.rules.when]\npure = true\nbogus = 1\n',
     10, "#2 'sub': unknown condition 'bogus'"),
])
def test_an_invalid_policy_fails_at_load_naming_the_line_and_the_reason(tmp_path: Path, text: str, line: int,
                                                                       message: str) -> None:
    write(tmp_path / "toolfoundry.toml", text)
    with pytest.raises(UsageError) as info:
        settings_mod.load(tmp_path, {}, user="u")
    text_of = str(info.value)
    assert re.search(rf"toolfoundry\.toml line {line}: ", text_of), text_of
    assert message in text_of
