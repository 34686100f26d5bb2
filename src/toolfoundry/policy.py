"""Policy, first version: (spec, permissions, stage verdicts, settings) → Decision. Pure.

The rules, in order; the first that matches decides:

1. ``failed-validation`` (deny): any stage failed.
2. ``examples-required`` (deny): the policy requires examples and there are none.
3. ``permissions-need-human`` (human): the tool asks for a network host or an environment variable.
4. ``no-host-evidence`` (human): no example was judged on the host; pytest results alone are
   forgeable by the code under test (DESIGN.md invariant 2), so a person must look.
5. ``pure-and-passing`` (auto): everything passed and nothing is asked for.
6. ``default-human`` (human): auto-approval is switched off.

Owns the decision only; it does not know about reviewers, the forge or the audit log.
"""

from __future__ import annotations

from toolfoundry.config import PolicySettings
from toolfoundry.core import Decision, Permissions, Verdict


def decide(*, permissions: Permissions, verdicts: tuple[Verdict, ...], examples: int,
           settings: PolicySettings) -> Decision:
    """Route a candidate: ``auto`` approve, wait for a ``human``, or ``deny``."""
    failed = [v.stage for v in verdicts if not v.ok]
    if failed:
        return Decision(route="deny", rule="failed-validation",
                        reason=f"failed stage(s): {', '.join(failed)}")
    if settings.require_examples and examples == 0:
        return Decision(route="deny", rule="examples-required",
                        reason="the policy requires acceptance examples and none were given")
    if permissions.any() and settings.human_for_permissions:
        asked = [f"network host {h}" for h in permissions.net_hosts]
        asked += [f"env var {e}" for e in permissions.env_vars]
        return Decision(route="human", rule="permissions-need-human",
                        reason=f"asks for {', '.join(asked)}; a human must approve")
    if examples == 0:
        return Decision(route="human", rule="no-host-evidence",
                        reason="no acceptance example was judged on the host; a human must approve")
    if settings.auto_approve_pure:
        return Decision(route="auto", rule="pure-and-passing",
                        reason="pure computation that passed every stage")
    return Decision(route="human", rule="default-human", reason="auto-approval is switched off")
