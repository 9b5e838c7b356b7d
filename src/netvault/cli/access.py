"""``netvault engineer …``, ``grant``, ``revoke``, ``access list``: people and who sees what.

Thin: parse, call ``netvault.access.grants``, render. Vault enforces every rule;
these commands only ask it. Only typer (and output) are imported at module
level so ``--help`` stays fast.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated, Optional

import typer

from netvault.cli.output import JsonOption, emit_json, fields, info, table, warn
from netvault.cli.lean import GRANT_COLUMNS
from netvault.cli.lean import grant_rows as _grant_rows

ROLE_NAMES = "engineer|team-lead|auditor|admin"

engineer_app = typer.Typer(
    help="People: add logins with a role, list, show, disable, offboard.\n\nExample:  netvault engineer list",
    no_args_is_help=True,
    rich_markup_mode=None,
)
access_app = typer.Typer(
    help="Who may see which customer.\n\nExample:  netvault access list --customer acme",
    no_args_is_help=True,
    rich_markup_mode=None,
)


def _ctx():
    from datetime import datetime, timezone

    from netvault.local import config
    from netvault.local import session

    settings = config.load()
    vault = session.connect(settings)
    return settings, vault, datetime.now(timezone.utc)


def _read_initial_password(password_stdin: bool, generate: bool, what: str = "initial password") -> tuple[str, bool]:
    """(password, generated). Never from argv."""
    import getpass
    import sys

    from netvault.access import team
    from netvault.errors import UsageError

    if password_stdin and generate:
        raise UsageError("use either --password-stdin or --generate, not both")
    if generate:
        return team.generate_password(), True
    if password_stdin:
        from netvault.cli.auth import read_secret_stdin

        return team.check_password(read_secret_stdin("password"), f"the {what}"), False
    if not sys.stdin.isatty():
        raise UsageError(f"no terminal to prompt for the {what}; use --password-stdin or --generate")
    first = getpass.getpass(f"{what.capitalize()}: ")
    team.check_password(first, f"the {what}")
    if getpass.getpass("Repeat it: ") != first:
        raise UsageError("the two passwords differ; nothing created")
    return first, False


@engineer_app.command("add")
def engineer_add(
    user: Annotated[str, typer.Argument(help="Login name (lower-case letters, digits, '.', '_', '-').")],
    role: Annotated[str, typer.Option("--role", help=f"Role: {ROLE_NAMES}. Team leads may add engineers only.")] = "engineer",
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the initial password from standard input.")] = False,
    generate: Annotated[bool, typer.Option("--generate", help="Generate the initial password and show it once on stdout.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Add a person: a userpass login, its identity entity, its role group.

    The initial password is prompted (hidden, twice), read with
    --password-stdin, or generated with --generate (printed once, on stdout,
    never logged). It is never an argument.

    Example:  netvault engineer add bob --role engineer --generate
    """
    from netvault.access import team
    from netvault.values import names

    names.username(user)
    from netvault.access.people import role_group

    role_group(role)  # unknown role: exit 2 before anything else
    password, generated = _read_initial_password(password_stdin, generate)
    settings, vault, _now = _ctx()
    created = team.add_user(vault, user, role, password, mounts=settings.mounts)
    info(f"created {user} with role {role}")
    if as_json:
        emit_json(replace(created, password=password if generated else None))
    elif generated:
        fields([("user", user), ("role", role), ("password", password)])
        info("the password is shown this once: hand it over safely; it is not stored anywhere by netvault")


@engineer_app.command("passwd")
def engineer_passwd(
    user: Annotated[str, typer.Argument(help="The engineer's login name.")],
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the new password from standard input.")] = False,
    generate: Annotated[bool, typer.Option("--generate", help="Generate the new password and show it once on stdout.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Reset an engineer's password (team leads and admins).

    Vault lets a team lead reset only engineers' logins (never a team lead's,
    an auditor's, an admin's or their own: use `netvault passwd`). The new
    password is prompted twice, read with --password-stdin or generated;
    never an argument.

    Example:  netvault engineer passwd bob --generate
    """
    from netvault.values import names
    from netvault.access import people as users

    names.username(user)
    password, generated = _read_initial_password(password_stdin, generate, "new password")
    settings, vault, _now = _ctx()
    users.reset_password(vault, settings.mounts.userpass, user, password)
    info(f"password of {user} reset; tell them to change it with `netvault passwd`")
    if as_json:
        from netvault.access.results import PasswordReset

        emit_json(PasswordReset(user, True, password if generated else None))
    elif generated:
        fields([("user", user), ("password", password)])


@engineer_app.command("list")
def engineer_list(as_json: JsonOption = False) -> None:
    """List people: roles, disabled or not, customers granted now.

    Example:  netvault engineer list --json
    """
    from netvault.access import team

    settings, vault, now = _ctx()
    rows = team.list_users(vault, now=now, mounts=settings.mounts)
    if as_json:
        emit_json(rows)
        return
    table(rows, [("user", "user"), ("roles", "roles"), ("disabled", "disabled"), ("customers", "customers")], empty="(no users)")


@engineer_app.command("show")
def engineer_show(
    user: Annotated[str, typer.Argument(help="Login name.")],
    offboarded: Annotated[bool, typer.Option("--offboarded", help="Print the stored offboarding worklist(s) of this person.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Show one person: roles, disabled or not, grants with their expiry.

    With --offboarded: the rotation worklist stored by `engineer offboard`
    (team leads, admins and auditors may read it; engineers may not).

    Example:  netvault engineer show bob --offboarded
    """
    from netvault.access import offboard, team
    from netvault.values import names

    settings, vault, now = _ctx()
    if offboarded:
        from netvault.errors import NotFound

        runs = offboard.offboarded_worklists(vault, names.username(user), mounts=settings.mounts)
        if not runs:
            raise NotFound(f"no offboarding worklist stored for {user}")
        if as_json:
            emit_json(runs)
            return
        for run in runs:
            _print_worklist(run)
        return
    shown = team.show_user(vault, user, now=now, mounts=settings.mounts)
    if as_json:
        emit_json(shown)
        return
    fields([
        ("user", shown.user), ("roles", shown.roles), ("disabled", shown.disabled),
        ("entity_id", shown.entity_id), ("jit_entity_id", shown.jit_entity_id),
    ])
    print()
    table(_grant_rows([g.to_dict() for g in shown.grants]), GRANT_COLUMNS, empty="(no grants)")


@engineer_app.command("disable")
def engineer_disable(
    user: Annotated[str, typer.Argument(help="Login name.")],
    as_json: JsonOption = False,
) -> None:
    """Disable a login: Vault refuses its tokens and its logins at once.

    Grants stay (use `engineer offboard` to remove everything).

    Example:  netvault engineer disable bob
    """
    from netvault.access import offboard

    settings, vault, _now = _ctx()
    result = offboard.disable_user(vault, user, mounts=settings.mounts)
    info(f"disabled {user}: every token of theirs is refused from now on")
    if as_json:
        emit_json(result)


def _exposure(settings, audit_files=None):
    """Wrap the audit reader's ``netvault.audit.exposure`` (issue: audit) for
    ``access.offboard``: the ids of records the person revealed, or None
    (unknown) when the reader or the audit files are not there."""
    from pathlib import Path

    from netvault.audit.exposure import exposure

    files = [f for f in (audit_files or []) if Path(f).exists()]
    if not files:
        return None

    def call(user, entity_ids, records):
        revealed = set()
        # by user name (userpass logins and JIT tokens carry it) and by entity id
        for who in dict.fromkeys([user, *entity_ids]):
            for x in exposure(who, paths=files, vault=None, mounts=settings.mounts):
                if x.record_id:
                    revealed.add(x.record_id)
                if x.customer:
                    revealed.add(f"+:{x.customer}")  # revealed there (granted or not)
                    if x.status == "rotate-all":
                        revealed.add(f"*:{x.customer}")  # record unknown: every record of the customer
        return revealed

    return call


def _minted(settings, audit_files=None):
    """``access.offboard``'s ``minted``: the accessor HMACs of tokens a person
    created, from the audit trail (None when there is no audit file to read)."""
    from pathlib import Path

    files = [f for f in (audit_files or []) if Path(f).exists()]
    if not files:
        return None

    def call(entity_ids):
        from netvault.access.jit import JIT_CREATE_PATH
        from netvault.audit.attribution import Trace

        trace = Trace(files, kv_mount=settings.mounts.kv, userpass_mount=settings.mounts.userpass)
        return [acc for acc, mint in trace.minted_by_entity(entity_ids) if mint.path == JIT_CREATE_PATH]

    return call


@engineer_app.command("offboard")
def engineer_offboard(
    user: Annotated[str, typer.Argument(help="Login name.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    audit_file: Annotated[
        Optional[list[str]],
        typer.Option("--audit-file", help="Audit file(s) to mark what they revealed (default: the profile's audit_dir, "
                     "else the embedded server's audit.log and its rotated files)."),
    ] = None,
    audit_dir: Annotated[Optional[Path], typer.Option("--audit-dir", help="Directory with the server's audit files.")] = None,
    without_audit: Annotated[bool, typer.Option("--without-audit", help="Offboard although no audit trail is at hand "
                                                "(every credential is then to rotate; minted tokens are not traced).")] = False,
    as_json: JsonOption = False,
) -> None:
    """Offboard a person, print the rotation worklist and keep it in Vault.

    Disables the login and identity (every token is refused at once, also
    just-in-time ones), deletes every grant, revokes delivered tokens and
    every just-in-time token they minted for anyone (found in the audit
    trail), and lists every credential in the customers they could reveal,
    marking those the audit trail shows they did reveal. Without an audit
    trail it refuses (unless --without-audit). The worklist is stored
    (write-once) and printed again by `engineer show USER --offboarded`.

    Example:  netvault engineer offboard bob --yes
    """
    import sys

    from netvault.access import grants as access, offboard as offboarding
    from netvault.values import names
    from netvault.errors import UsageError

    names.username(user)
    settings, vault, now = _ctx()
    access.entity_of(vault, user, settings.mounts)  # an unknown person: exit 3 before anything else
    files, source = _trail(settings, audit_file, audit_dir, without_audit)
    if not yes:
        if not sys.stdin.isatty():
            raise UsageError("offboarding cannot be undone; confirm with --yes")
        if not typer.confirm(f"Offboard {user}: disable the login and remove every grant?"):
            raise typer.Abort()
    result = offboarding.offboard(vault, user, now=now, mounts=settings.mounts, exposure=_exposure(settings, files),
                             minted=_minted(settings, files))
    earlier = offboarding.offboarded_worklists(vault, user, mounts=settings.mounts)
    run = None
    # a run that changes nothing (no grant left, same worklist) adds no entry
    if not earlier or result.revoked or (result.worklist and result.worklist != earlier[-1].get("worklist")):
        run = offboarding.save_worklist(vault, result, now=now, mounts=settings.mounts, audit_source=source)
    info(f"offboarded {user}: login and identity disabled; {len(result.revoked)} grant(s) removed, "
         f"{result.tokens_revoked} just-in-time token(s) revoked")
    if result.minted is None:
        warn(f"{result.minted_note}; give --audit-file")
    else:
        info(f"{user} minted {result.minted} token(s) in the audit trail; {len(result.minted_revoked)} still alive and now revoked")
        if result.minted_note:
            warn(f"{result.minted_unmatched} minted token(s) not matched: {result.minted_note}")
    if result.unresolved_customers:
        warn(f"a reveal whose record cannot be named: rotate every credential of {', '.join(result.unresolved_customers)}")
    if result.kept_roles:
        warn(f"could not remove {user} from role(s) {', '.join(result.kept_roles)} (needs an admin); the identity is disabled")
    if not result.audit_checked:
        info("revealed: unknown (no audit trail read); rotate every credential listed")
    if run:
        info(f"worklist stored (write-once); print it again with `netvault engineer show {user} --offboarded`")
    if as_json:
        from netvault.access.results import OffboardReport
        from netvault.values.results import extend

        emit_json(extend(OffboardReport, result, stored_run=run, earlier_runs=[r["run"] for r in earlier]))
        return
    if run is None:
        # offboarded before: nothing new to remove, the stored worklist still stands
        info(f"{user} was offboarded before ({earlier[-1].get('offboarded_at')}); nothing new this time. The stored worklist:")
        _print_worklist(earlier[-1])
        return
    rows = [{**r, "revealed": {True: "yes", False: "no", None: "unknown"}[r["revealed"]]} for r in result.worklist]
    table(rows, [("customer", "customer"), ("kind", "kind"), ("name", "name"), ("fields", "fields"), ("revealed", "revealed")],
          empty="(nothing to rotate: no customer was granted)")


def _trail(settings, audit_file, audit_dir, without_audit: bool) -> tuple[list[str] | None, str | None]:
    """(audit files, where from) for offboarding; refuses (exit 3; 2 for a bad --audit-dir) when none is at hand."""
    from netvault.audit import locate_trail
    from netvault.errors import NotFound, UsageError

    try:
        found, source = locate_trail(settings, files=audit_file, audit_dir=audit_dir, file_option="--audit-file")
    except (NotFound, UsageError) as exc:
        if without_audit:
            return None, None
        raise type(exc)(f"offboarding needs the audit trail to tell what was revealed: {exc.message}; "
                        "or --without-audit to rotate everything") from None
    missing = [str(f) for f in found if not Path(f).exists()]
    if missing and not without_audit:
        raise UsageError(f"audit file {missing[0]} does not exist; give the server's audit files with --audit-file/--audit-dir")
    return [str(f) for f in found if Path(f).exists()], source


def _print_worklist(run: dict) -> None:
    source = run.get("audit_source") or "no audit trail"
    info(f"offboarding of {run.get('user')} at {run.get('offboarded_at')} (revealed from: {source})"
         + (f"; stored version {run['version']}: REWRITTEN since" if (run.get("version") or 1) > 1 else ""))
    if run.get("unresolved_customers"):
        warn(f"a reveal whose record cannot be named: rotate every credential of {', '.join(run['unresolved_customers'])}")
    rows = [{**r, "revealed": {True: "yes", False: "no", None: "unknown"}[r.get("revealed")]} for r in run.get("worklist") or []]
    table(rows, [("customer", "customer"), ("kind", "kind"), ("name", "name"), ("fields", "fields"), ("revealed", "revealed")],
          empty="(nothing to rotate: no customer was granted)")


def _complete_customer(incomplete: str) -> list[str]:
    from netvault.cli.complete import customers

    return customers(incomplete)


def grant(
    user: Annotated[str, typer.Argument(help="Login name of the person.")],
    customer: Annotated[str, typer.Argument(help="Customer slug.", autocompletion=_complete_customer)],
    for_: Annotated[Optional[str], typer.Option("--for", help="Time-limited: e.g. 30m, 4h, 2d (at most 168h). Vault expires it by itself.")] = None,
    reason: Annotated[Optional[str], typer.Option("--reason", help="Why (kept in the grant record and the trail).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Grant a person read and reveal access to one customer.

    Without --for: a standing grant (identity group), effective at once on
    tokens already issued. With --for: a just-in-time token that Vault
    expires by itself, delivered response-wrapped to the person's inbox;
    their netvault picks it up on the next reveal.

    Example:  netvault grant bob acme --for 4h --reason INC-1234
    """
    from netvault.access import grants as access
    from netvault.values import names

    names.username(user)
    names.slug(customer, "customer")
    duration = access.grant_duration(for_) if for_ is not None else None
    settings, vault, now = _ctx()
    g = access.grant(vault, user, customer, now=now, duration=duration, reason=reason, mounts=settings.mounts)
    if g.kind == "jit":
        info(f"granted {user} access to {customer} until {g.expires_at} (delivered to their inbox; Vault expires it)")
    else:
        info(f"granted {user} standing access to {customer} (effective now, also on tokens already issued)")
    if as_json:
        emit_json(g)


def revoke(
    user: Annotated[str, typer.Argument(help="Login name of the person.")],
    customer: Annotated[str, typer.Argument(help="Customer slug.")],
    as_json: JsonOption = False,
) -> None:
    """Revoke a person's grant of a customer (standing or time-limited), at once.

    Example:  netvault revoke bob acme
    """
    from netvault.access import grants as access

    settings, vault, _now = _ctx()
    g = access.revoke(vault, user, customer, mounts=settings.mounts)
    info(f"revoked {user}'s {g.kind} access to {customer}")
    if as_json:
        emit_json(g)


@access_app.command("list")
def access_list(
    customer: Annotated[Optional[str], typer.Option("--customer", help="Only this customer.")] = None,
    engineer: Annotated[Optional[str], typer.Option("--engineer", help="Only this person.")] = None,
    as_json: JsonOption = False,
) -> None:
    """List grants: who may see which customer, of which kind, until when.

    State is from Vault: "active", "expired" (time-limited, past its end),
    or a mismatch between the enforcing group and the record.

    Example:  netvault access list --customer acme --json
    """
    from netvault.cli import lean

    lean.access_list(customer=customer, engineer=engineer, as_json=as_json)


def register(app: typer.Typer) -> None:
    app.add_typer(engineer_app, name="engineer")
    app.command("grant")(grant)
    app.command("revoke")(revoke)
    app.add_typer(access_app, name="access")
