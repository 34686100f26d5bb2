"""Policy: what is known about a candidate's risk (``RiskFacts``) + the configured rules → ``Decision``. Pure.

The chain, in order; the first rule that matches decides:

1. ``failed-validation`` (deny): any stage failed. Always first; no rule can override it.
2. ``examples-required`` (deny): ``require_examples`` is set and there is no example at all.
3. the ``[[policy.rules]]`` of toolfoundry.toml, in file order (none by default).
4. ``permissions-need-human`` (human): ``human_for_permissions`` and the tool asks for a network host
   or an environment variable.
5. ``no-host-evidence`` (human): no example was judged on the host; pytest results alone are
   forgeable by the code under test (DESIGN.md invariant 2), so a person must look.
6. ``pure-and-passing`` (auto): ``auto_approve_pure`` and everything passed.
7. ``default-<route>``: ``default_route`` (``human`` unless configured ``deny``).

With no rules configured this is exactly the first version's policy. A rule's conditions (``when``)
must all hold; see ``CONDITIONS``. Routes: ``auto``, ``reviewers`` (agents voting with a quorum; see
review.py), ``human``, ``deny``. Reading the rules from toolfoundry.toml, with line numbers in errors,
is ``file.py``'s job and the vocabulary (facts, conditions, rules) ``rules.py``'s; this module owns the decision, and does not know
about reviewers' models, the forge or the audit log.
"""

from __future__ import annotations

from toolfoundry.core import Decision
from toolfoundry.stages.policy.rules import CONDITIONS, RiskFacts, Rule, When
from toolfoundry.stages.policy.settings import PolicySettings

__all__ = ["CONDITIONS", "PolicySettings", "RiskFacts", "Rule", "When", "decide"]


def decide(facts: RiskFacts, *, settings: PolicySettings) -> Decision:
    """Route a candidate: ``auto``, ``reviewers``, ``human`` or ``deny``, naming the rule and the reason."""
    failed = [v.stage for v in facts.verdicts if not v.ok]
    if failed:
        return Decision(route="deny", rule="failed-validation", reason=f"failed stage(s): {', '.join(failed)}")
    if settings.require_examples and facts.examples == 0:
        return Decision(route="deny", rule="examples-required",
                        reason="the policy requires acceptance examples and none were given")
    for rule in settings.rules:
        if rule.matches(facts):
            return rule.decision(facts)
    return _builtin(facts, settings)


def _builtin(facts: RiskFacts, settings: PolicySettings) -> Decision:
    """Rules 4–7: the first version's rules, shaped by the ``[policy]`` keys."""
    asked = [f"network host {h}" for h in facts.permissions.net_hosts]
    asked += [f"env var {e}" for e in facts.permissions.env_vars]
    if asked and settings.human_for_permissions:
        return Decision(route="human", rule="permissions-need-human",
                        reason=f"asks for {', '.join(asked)}; a human must approve")
    if facts.examples == 0:
        return Decision(route="human", rule="no-host-evidence",
                        reason="no acceptance example was judged on the host; a human must approve")
    if settings.auto_approve_pure:
        reason = ("pure computation that passed every stage" if not asked else
                  f"passed every stage; asks for {', '.join(asked)}, which human_for_permissions = false allows")
        return Decision(route="auto", rule="pure-and-passing", reason=reason)
    route = settings.default_route
    return Decision(route=route, rule=f"default-{route}",
                    reason=f"no rule matched and auto-approval is switched off; default route {route}")
