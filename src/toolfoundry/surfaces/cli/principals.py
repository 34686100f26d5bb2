"""Commands on who may act: ``principals add|list|revoke|key|github`` and ``tokens create|list|revoke``.

The first ``principals add`` of a home must make a human admin; it prints that admin's token once. Every
later change needs an admin's token in ``TOOLFOUNDRY_TOKEN``. Tokens are printed once, when made.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from toolfoundry.errors import UsageError
from toolfoundry.store.principals import AGENT_SCOPES, RISKS, ROLES, SCOPES
from toolfoundry.surfaces.cli.app import HomeOpt, JsonOpt, app, err, open_foundry, out, print_json
from toolfoundry.toolfile import read_bytes

principals_app = typer.Typer(no_args_is_help=True, help="Who may act on this home: humans and agents, roles, keys.")
tokens_app = typer.Typer(no_args_is_help=True, help="Principals' tokens: scoped, stored hashed, shown once, revocable.")
app.add_typer(principals_app, name="principals")
app.add_typer(tokens_app, name="tokens")

NameArg = Annotated[str, typer.Argument(help="The principal's name.")]
KEY_BYTES = 64 * 1024
"""The largest SSH key file read (an RSA-16384 private key is about 13 KB)."""


def _key_file(path: Path) -> Path:
    """``path``, once it is a regular file of at most ``KEY_BYTES`` (issue 16.4): a FIFO or a link to /dev/zero
    is refused at once, where reading it as a key would block for ever or until memory ran out."""
    read_bytes(path, "key file", KEY_BYTES)
    return path


@principals_app.command("add")
def principals_add(
    name: NameArg,
    role: Annotated[list[str], typer.Option("--role", help=f"A role (repeatable): {', '.join(ROLES)}, or a custom"
                                                           " one a policy rule can require.")],
    agent: Annotated[bool, typer.Option("--agent", help="An agent (only ever a requester), not a human.")] = False,
    key: Annotated[Path | None, typer.Option("--key", help="The human's SSH public key (.pub) they sign"
                                                          " decisions with.")] = None,
    risk: Annotated[list[str] | None, typer.Option("--risk", help=f"Limit a reviewer to these risk classes"
                                                                  f" (repeatable): {', '.join(RISKS)}.")] = None,
    tools: Annotated[list[str] | None, typer.Option("--tools", help="Limit a reviewer to tool names matching"
                                                                    " this glob (repeatable).")] = None,
    github: Annotated[str | None, typer.Option("--github", help="The human's GitHub login: their approving reviews"
                                                                " of pull requests count as theirs (review sync).")]
    = None,
    home: HomeOpt = None, as_json: JsonOpt = False,
) -> None:
    """Register a principal. The first of a home must be a human admin; its token is printed once."""
    foundry = open_foundry(home)
    principal, token = foundry.trust.add_principal(name, kind="agent" if agent else "human", roles=role,
                                                   risk=risk or (), tools=tools or (), key=key and _key_file(key),
                                                   github=github)
    if as_json:
        print_json({**principal.to_json(), "token": token})
        return
    out.print(f"added {principal.kind} {principal.name} ({', '.join(principal.roles)})")
    if token is not None:
        out.print(f"the first admin's token (shown once; keep it secret): {token}")
        err.print("[dim]from now on this home has principals: approvals must be signed, and managing"
                  " principals needs an admin's token in TOOLFOUNDRY_TOKEN[/dim]")


@principals_app.command("list")
def principals_list(home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Every principal, active or revoked."""
    found = open_foundry(home).trust.principals()
    if as_json:
        print_json([p.to_json() for p in found])
        return
    if not found:
        out.print("no principals: this home is open (unsigned reviews); `toolfoundry principals add NAME --role admin"
                  " --key KEY.pub` makes the first admin")
        return
    table = Table("name", "kind", "roles", "limits", "keys", "github", "status")
    for p in found:
        limits = ", ".join([*p.risk, *p.tools]) or "-"
        keys = ", ".join(f"{k.purpose} {k.fingerprint[:19]}…" for k in p.keys) or "-"
        table.add_row(p.name, p.kind, ", ".join(p.roles), escape(limits), keys, p.github or "-",
                      "active" if p.active else f"revoked {p.revoked}")
    out.print(table)


@principals_app.command("revoke")
def principals_revoke(name: NameArg, home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Revoke a principal: its tokens stop working and its keys leave allowed_signers."""
    revoked = open_foundry(home).trust.revoke(name)
    if as_json:
        print_json(revoked.to_json())
    else:
        out.print(f"revoked {name}: its tokens are refused from the next request, its keys no longer verify")


@principals_app.command("key")
def principals_key(
    name: NameArg,
    key: Annotated[Path, typer.Option("--key", help="A public key (.pub) to sign with; with --ui, the private key"
                                                    " file the review UI signs with for them.")],
    ui: Annotated[bool, typer.Option("--ui", help="The key the review UI signs with on their behalf.")] = False,
    home: HomeOpt = None, as_json: JsonOpt = False,
) -> None:
    """Register another SSH key for a human principal (with --ui: the review UI's key for them)."""
    principal = open_foundry(home).trust.add_key(name, _key_file(key), purpose="ui" if ui else "review")
    if as_json:
        print_json(principal.to_json())
    else:
        added = principal.keys[-1]
        out.print(f"{name}: {added.purpose} key {added.fingerprint} registered and added to allowed_signers")


@principals_app.command("github")
def principals_github(
    name: NameArg,
    login: Annotated[str | None, typer.Argument(help="Their GitHub login (omit with --unlink).")] = None,
    unlink: Annotated[bool, typer.Option("--unlink", help="Remove the link: their GitHub reviews stop counting.")]
    = False,
    home: HomeOpt = None, as_json: JsonOpt = False,
) -> None:
    """Link a human principal to a GitHub login: their approving reviews count as their approval (review sync)."""
    if (login is None) != unlink:
        raise UsageError("give a GitHub login, or --unlink (not both)")
    principal = open_foundry(home).trust.link_github(name, login)
    if as_json:
        print_json(principal.to_json())
    elif login:
        out.print(f"{name} is linked to GitHub @{login}: their approving reviews count as {name}'s approval"
                  " (recorded as GitHub reviews, not signatures)")
    else:
        out.print(f"{name} is no longer linked to a GitHub login")


@tokens_app.command("create")
def tokens_create(
    name: NameArg,
    scope: Annotated[list[str], typer.Option("--scope", help=f"What it may do (repeatable): {', '.join(SCOPES)};"
                                                             f" an agent's only {', '.join(AGENT_SCOPES)}.")],
    expires_days: Annotated[float | None, typer.Option("--expires-days", help="Expire after this many days.")]
    = None,
    home: HomeOpt = None, as_json: JsonOpt = False,
) -> None:
    """Make a token for a principal; it is printed once and kept only as a hash."""
    token, secret = open_foundry(home).trust.create_token(name, scope, days=expires_days)
    if as_json:
        print_json({**token.to_json(), "token": secret})
        return
    out.print(f"token {token.id} for {name} ({', '.join(token.scopes)}"
              f"{', expires ' + token.expires if token.expires else ''}), shown once:")
    out.print(secret)


@tokens_app.command("list")
def tokens_list(principal: Annotated[str | None, typer.Option("--principal", help="Only this principal's.")] = None,
                home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Tokens (their ids and scopes; never a secret)."""
    found = open_foundry(home).trust.tokens(principal)
    if as_json:
        print_json([t.to_json() for t in found])
        return
    table = Table("id", "principal", "scopes", "created", "expires", "status")
    for t in found:
        table.add_row(t.id, t.principal, ", ".join(t.scopes), t.created, t.expires or "-",
                      "active" if t.revoked is None else f"revoked {t.revoked}")
    out.print(table)


@tokens_app.command("revoke")
def tokens_revoke(token_id: Annotated[str, typer.Argument(help="The token's id (tokens list).")],
                  home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Revoke a token: the next request made with it is refused."""
    token = open_foundry(home).trust.revoke_token(token_id)
    if as_json:
        print_json(token.to_json())
    else:
        out.print(f"revoked token {token.id} of {token.principal}")
