"""``netvault login|logout|whoami``."""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from netvault.cli.output import JsonOption, emit_json, fields, info, warn


def read_secret_stdin(what: str) -> str:
    """One line from stdin without the newline; empty is an error."""
    from netvault.errors import UsageError

    value = sys.stdin.readline().rstrip("\r\n")
    if not value:
        raise UsageError(f"no {what} on standard input")
    return value


def login(
    user: Annotated[Optional[str], typer.Argument(help="User name (userpass). Default: the last one used.")] = None,
    method: Annotated[str, typer.Option("--method", help="userpass or token.")] = "userpass",
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password (or token) from standard input.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Log in and keep the token in the OS keyring.

    The password is prompted (hidden) or read from stdin, never taken as an
    argument. VAULT_TOKEN / BAO_TOKEN, when set, win over the stored token.

    Example:  netvault login alice
              echo "$TOKEN" | netvault login --method token --password-stdin
    """
    import getpass

    from netvault import config, names, session
    from netvault.errors import UsageError

    settings = config.load()
    if method == "userpass":
        user = user or settings.user
        if not user:
            raise UsageError("which user? `netvault login USER`")
        names.username(user)
    elif method != "token":
        raise UsageError(f"unknown --method {method!r}; use userpass or token")
    what = "password" if method == "userpass" else "token"
    if password_stdin:
        secret = read_secret_stdin(what)
    else:
        if not sys.stdin.isatty():
            raise UsageError(f"no terminal to prompt for the {what}; use --password-stdin")
        secret = getpass.getpass(f"{what.capitalize()} for {user or 'token login'}: ")
    who, warning = session.login(settings, method=method, username=user, secret=secret)
    if warning:
        warn(warning)
    info(f"logged in to {settings.address} as {who.username or who.display_name} ({', '.join(who.roles) or 'no role'})")
    if as_json:
        emit_json(who.to_dict())


def logout(as_json: JsonOption = False) -> None:
    """Revoke the stored token and remove it from the keyring.

    Example:  netvault logout
    """
    from netvault import config, session

    settings = config.load()
    removed = session.logout(settings)
    info("logged out" if removed else "no stored token")
    if as_json:
        emit_json({"logged_out": removed, "address": settings.address})


def whoami(as_json: JsonOption = False) -> None:
    """Show who you are: user, roles, granted customers, token expiry.

    Example:  netvault whoami --json
    """
    from netvault import config, session

    from datetime import datetime, timezone

    from netvault.grantclient import shown_time

    settings = config.load()
    who, problems = session.whoami_with_grants(settings, session.connect(settings), datetime.now(timezone.utc))
    for p in problems:
        warn(p)
    if as_json:
        emit_json({**who.to_dict(), "address": settings.address, "expires_in": session.expires_in(who)})
        return
    limited = [f"{g['customer']} (until {shown_time(g['expires_at'])})" for g in who.time_limited
               if g["state"] == "active" and g["customer"] not in who.customers]
    expired = [f"{g['customer']} (expired {shown_time(g['expires_at'])})" for g in who.time_limited
               if g["state"] == "expired" and g["customer"] not in who.customers]
    fields([
        ("user", who.username or who.display_name), ("roles", who.roles), ("customers", who.customers + limited + expired),
        ("expires_in", session.expires_in(who)), ("address", settings.address), ("entity_id", who.entity_id),
    ])
