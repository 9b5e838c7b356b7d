"""``netvault setup``: bring a Vault / OpenBao to the netvault layout."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from netvault.cli.output import JsonOption, emit_json, info, table


def setup(
    check: Annotated[bool, typer.Option("--check", help="Report drift only; change nothing (exit 1 if drifted).")] = False,
    incident_pattern: Annotated[
        Optional[list[str]],
        typer.Option("--incident-pattern", help="Allowed incident reference glob; repeat for several (default INC-* and CHG-*)."),
    ] = None,
    break_glass_pattern: Annotated[
        Optional[list[str]],
        typer.Option("--break-glass-pattern", help="Break-glass reference glob for on-call reveals without a grant; repeat for several (default BG-*)."),
    ] = None,
    audit_file: Annotated[
        Optional[str],
        typer.Option("--audit-file", help="Enable a file audit device at this path where the server allows it (HashiCorp Vault)."),
    ] = None,
    history: Annotated[
        Optional[int],
        typer.Option("--history", help="Versions KV keeps of each record (default 100; older ones are trimmed by Vault)."),
    ] = None,
    login_ttl: Annotated[
        Optional[str],
        typer.Option("--login-ttl", help="How long a `netvault login` lasts (default 10h, a working day; 5m to 31d)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Set up mounts, auth, policies, groups and token roles, idempotently.

    Uses VAULT_ADDR/VAULT_TOKEN (or your `netvault login`), which must be an
    admin or root token. OpenBao accepts audit devices only from its config:
    then the stanza to add is printed.

    Example:  VAULT_TOKEN=... netvault setup --check
    Example:  netvault setup --history 500
    Example:  netvault setup --login-ttl 12h
    """
    from netvault.local import config
    from netvault.server import setup as layout
    from netvault.local import session

    settings = config.load()
    vault = session.connect(settings)
    vault.require_ready()
    client = settings.client.admin(vault.token)
    result = layout.run_setup(client, settings.mounts, check=check, patterns=incident_pattern, audit_path=audit_file,
                              history=history, login_ttl=login_ttl, break_glass=break_glass_pattern)
    if as_json:
        emit_json(result.report())
    else:
        table([i.to_dict() for i in result.items], [("item", "item"), ("in_sync", "ok"), ("detail", "detail")])
        for name in result.applied:
            info(f"applied: {name}")
    if result.audit_stanza:
        info("no file audit device: add this to the server's config and restart it:\n" + result.audit_stanza.rstrip())
    if check and result.drift:
        raise typer.Exit(1)
