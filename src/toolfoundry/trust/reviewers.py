"""Whether a principal may review a request: the rule shared by signed approvals and GitHub reviews.

A reviewer is a human principal with the ``reviewer`` role, within the risk classes (``pure``, ``env``,
``net``) and tool-name patterns they are limited to, holding the role the deciding policy rule requires.
Pure functions of a principal and a proposal; the requester check and the kind of approval are the
callers' (``approvals.py``, ``github.py``).
"""

from __future__ import annotations

from fnmatch import fnmatchcase

from toolfoundry.core import Permissions, Proposal
from toolfoundry.errors import AccessDenied
from toolfoundry.store.principals import Principal


def risk_class(permissions: Permissions) -> str:
    """``net`` (asks for a network host), ``env`` (an environment variable) or ``pure`` (nothing)."""
    return "net" if permissions.net_hosts else "env" if permissions.env_vars else "pure"


def may_review(principal: Principal, proposal: Proposal) -> None:
    """AccessDenied unless ``principal`` is a human reviewer allowed this tool's risk class, name and role."""
    name, decision = principal.name, proposal.decision
    if principal.kind != "human" or "reviewer" not in principal.roles:
        raise AccessDenied(f"{name} is not a reviewer (roles: {', '.join(principal.roles)})")
    risk = risk_class(proposal.permissions)
    if principal.risk and risk not in principal.risk:
        raise AccessDenied(f"{name} may review only {', '.join(principal.risk)} tools, and"
                           f" {proposal.ref.name} is {risk}")
    if principal.tools and not any(fnmatchcase(proposal.ref.name, glob) for glob in principal.tools):
        raise AccessDenied(f"{name} may review only tools matching {', '.join(principal.tools)}, not"
                           f" {proposal.ref.name}")
    if decision.reviewer_role and decision.reviewer_role not in principal.roles:
        raise AccessDenied(f"policy rule {decision.rule} requires a reviewer with role {decision.reviewer_role},"
                           f" and {name} has {', '.join(principal.roles)}")
