"""``netvault login|logout|whoami``."""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from netvault.cli.output import JsonOption, emit_json, info, warn


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
    address: Annotated[Optional[str], typer.Option("--address", help="Vault address (https://host:8200); remembered in the config file, so later commands need no VAULT_ADDR.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Log in and keep the token in the OS keyring.

    The password is prompted (hidden) or read from stdin, never taken as an
    argument. VAULT_TOKEN / BAO_TOKEN, when set, win over the stored token.
    --address wins over VAULT_ADDR and is saved in the config file; later
    commands use VAULT_ADDR when set, else the saved address. The token lasts
    a working day (10h; an admin changes it with `netvault setup --login-ttl`).

    Example:  netvault login alice --address https://vault.example.com:8200
              echo "$TOKEN" | netvault login --method token --password-stdin
    """
    import getpass

    from netvault.local import config
    from netvault.values import names
    from netvault.local import session
    from netvault.errors import UsageError

    settings = config.load()
    if address is not None:
        from netvault.vault.client import split_addresses

        settings = settings.with_address(",".join(split_addresses(address)))
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
    info(f"logged in to {settings.address} as {who.username or who.display_name} ({', '.join(who.roles) or 'no role'}); "
         f"token expires in {session.expires_in(who)}")
    if as_json:
        emit_json(who)


def passwd(
    user: Annotated[Optional[str], typer.Argument(help="Your login name. Default: the one you logged in with.")] = None,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read two lines from standard input: the current password, then the new one.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Change your own password (userpass login).

    The current password is checked by logging in with it; the new one is
    prompted twice (hidden), or with --password-stdin read from the second
    line of standard input. Never an argument. Vault lets each person change
    only their own login's password (policy nv-self-password).

    Example:  netvault passwd
              printf '%s\n%s\n' "$OLD" "$NEW" | netvault passwd alice --password-stdin
    """
    import getpass

    from netvault.access import team
    from netvault.local import config
    from netvault.values import names
    from netvault.access import people as users
    from netvault.errors import UsageError

    settings = config.load()
    user = user or settings.user
    if not user:
        raise UsageError("which login? `netvault passwd USER` (or log in first)")
    names.username(user)
    if password_stdin or not sys.stdin.isatty():
        if not password_stdin:
            raise UsageError("no terminal to prompt for the passwords; use --password-stdin (two lines: current, new)")
        current = read_secret_stdin("current password")
        new = read_secret_stdin("new password")
    else:
        current = getpass.getpass(f"Current password for {user}: ")
        new = getpass.getpass("New password: ")
        team.check_password(new, "the new password")
        if getpass.getpass("Repeat the new password: ") != new:
            raise UsageError("the two new passwords differ; nothing changed")
    team.check_password(new, "the new password")
    users.change_own_password(settings.vault(None), settings.mounts.userpass, user, current, new)
    info(f"password changed for {user}")
    if as_json:
        emit_json(users.PasswordChanged(user, True))


def logout(as_json: JsonOption = False) -> None:
    """Revoke the stored token and remove it from the keyring.

    Example:  netvault logout
    """
    from netvault.local import config
    from netvault.local import session

    settings = config.load()
    removed = session.logout(settings)
    info("logged out" if removed else "no stored token")
    if as_json:
        emit_json(session.LoggedOut(removed, settings.address))


def whoami(as_json: JsonOption = False) -> None:
    """Show who you are: user, roles, granted customers, token expiry.

    Example:  netvault whoami --json
    """
    from netvault.cli import lean

    lean.whoami(as_json=as_json)
