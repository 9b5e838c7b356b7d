"""``netvault request``, ``requests``, ``approve``, ``deny``, ``on-call …`` (issue 14).

Thin: parse, call ``netvault.access.incidents``, render. Vault enforces every rule.
"""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from netvault.cli.output import JsonOption, emit_json, info, table

on_call_app = typer.Typer(
    help="The on-call role: who may break glass (reveal without a grant, flagged).\n\n"
    "Example:  netvault on-call add bob",
    no_args_is_help=True,
    rich_markup_mode=None,
)

REQUEST_COLUMNS = [
    ("id", "id"), ("user", "user"), ("customer", "customer"), ("incident", "incident"), ("duration", "for"),
    ("requested_at", "since"), ("state", "state"), ("decided_by", "decided by"), ("reason", "reason"),
]


def _ctx():
    from datetime import datetime, timezone

    from netvault.local import config
    from netvault.local import session

    settings = config.load()
    vault = session.connect(settings)
    return settings, vault, datetime.now(timezone.utc)


def request(
    customer: Annotated[str, typer.Argument(help="Customer slug.")],
    incident: Annotated[str, typer.Option("--incident", "-i", help="Incident reference, e.g. INC-1234.")],
    for_: Annotated[Optional[str], typer.Option("--for", help="Access asked for, e.g. 30m, 2h (default 2h, at most 168h).")] = None,
    reason: Annotated[Optional[str], typer.Option("--reason", help="Why (one line).")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait for the decision: exit 0 when approved, 4 when denied.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Ask a team lead for time-limited access to a customer, in your own name.

    A pending request for the same customer is the same request. Once it is
    approved, your next `netvault reveal` picks the access up by itself.

    Example:  netvault request acme --incident INC-42 --for 2h --reason "core switch down" --wait
    """
    from netvault.access import incidents

    settings, vault, now = _ctx()
    r, created = incidents.file_request(vault, customer, incident=incident, now=now, duration=for_, reason=reason,
                                        mounts=settings.mounts)
    info(f"{'requested' if created else 'already requested'}: {r.id} (expires {r.expires_at} unless decided)")
    if wait:
        r = _wait(vault, r, settings)
    if as_json:
        emit_json(r)
    if wait:
        _exit_for(r)


def _wait(vault, r, settings):
    import time
    from datetime import datetime, timezone

    from netvault.access import incidents

    spin = "|/-\\"
    tty = sys.stderr.isatty()
    i = 0
    try:
        while True:
            r = incidents.poll(vault, r, now=datetime.now(timezone.utc), mounts=settings.mounts)
            if r.state != "pending":
                break
            if tty:
                sys.stderr.write(f"\rwaiting for a team lead to decide {r.id} {spin[i % 4]} ")
                sys.stderr.flush()
            i += 1
            time.sleep(2)
    finally:
        if tty:
            sys.stderr.write("\r" + " " * 70 + "\r")
            sys.stderr.flush()
    return r


def _exit_for(r) -> None:
    from netvault.errors import Conflict, PermissionDenied

    if r.state == "approved":
        info(f"approved by {r.decided_by}: your next reveal in {r.customer} picks the access up")
        return
    if r.state == "denied":
        raise PermissionDenied(f"request {r.id} denied by {r.decided_by}: {r.decision_reason or ''}".rstrip(": "))
    raise Conflict(f"request {r.id} is {r.state}")


def requests_cmd(
    pending: Annotated[bool, typer.Option("--pending", help="Only pending requests (the default).")] = False,
    all_: Annotated[bool, typer.Option("--all", help="Every request kept, decided or not.")] = False,
    mine: Annotated[bool, typer.Option("--mine", help="Only your own requests (engineers).")] = False,
    as_json: JsonOption = False,
) -> None:
    """List access requests: who asks, for which customer and incident, since when.

    Example:  netvault requests --pending
    Example:  netvault requests --mine --json
    """
    from netvault.access import incidents
    from netvault.errors import UsageError

    if pending and all_:
        raise UsageError("choose one of --pending and --all")
    settings, vault, now = _ctx()
    rows = incidents.list_requests(vault, now=now, mine=mine, pending_only=not (all_ or mine),
                                   mounts=settings.mounts)
    if as_json:
        emit_json(rows)
        return
    from netvault.values.text import shown_reference

    table([{**r.to_dict(), "incident": shown_reference(r.incident)} for r in rows], REQUEST_COLUMNS,
          empty="(no pending requests)" if not (all_ or mine) else "(no requests)")


def approve(
    request_id: Annotated[str, typer.Argument(help="Request id USER:CUSTOMER:N (from `netvault requests`).")],
    for_: Annotated[Optional[str], typer.Option("--for", help="Grant duration (default: what was asked).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Approve a request: a time-limited grant exactly as `grant --for` makes it.

    Decided once; an expired request cannot be approved; nobody approves a
    request made in their own name (Vault refuses it).

    Example:  netvault approve bob:acme:1 --for 1h
    """
    from netvault.access import grants as access
    from netvault.access import incidents

    duration = access.grant_duration(for_) if for_ is not None else None
    settings, vault, now = _ctx()
    r, g = incidents.approve(vault, request_id, now=now, duration=duration, mounts=settings.mounts)
    info(f"approved {r.id}: {r.user} has access to {r.customer} until {g.expires_at} (Vault expires it)")
    if as_json:
        emit_json(incidents.Approval(r, g))


def deny(
    request_id: Annotated[str, typer.Argument(help="Request id USER:CUSTOMER:N.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (shown to the requester).")],
    as_json: JsonOption = False,
) -> None:
    """Deny a request (decided once).

    Example:  netvault deny bob:acme:1 --reason "use the CHG window"
    """
    from netvault.access import incidents

    settings, vault, now = _ctx()
    r = incidents.deny(vault, request_id, reason=reason, now=now, mounts=settings.mounts)
    info(f"denied {r.id}")
    if as_json:
        emit_json(r)


@on_call_app.command("add")
def on_call_add(user: Annotated[str, typer.Argument(help="Login name.")], as_json: JsonOption = False) -> None:
    """Put a person on call (never admins or auditors).

    Example:  netvault on-call add bob
    """
    from netvault.access import incidents

    settings, vault, _now = _ctx()
    out = incidents.give_on_call(vault, user, mounts=settings.mounts)
    info(f"{user} is on call: may break glass (flagged reveals without a grant)")
    if as_json:
        emit_json(out)


@on_call_app.command("remove")
def on_call_remove(user: Annotated[str, typer.Argument(help="Login name.")], as_json: JsonOption = False) -> None:
    """Take a person off call.

    Example:  netvault on-call remove bob
    """
    from netvault.access import incidents

    settings, vault, _now = _ctx()
    out = incidents.take_on_call(vault, user, mounts=settings.mounts)
    info(f"{user} is off call")
    if as_json:
        emit_json(out)


@on_call_app.command("list")
def on_call_list(as_json: JsonOption = False) -> None:
    """Who is on call.

    Example:  netvault on-call list
    """
    from netvault.access import incidents

    settings, vault, _now = _ctx()
    rows = incidents.on_call_members(vault, mounts=settings.mounts)
    if as_json:
        emit_json(rows)
        return
    table(rows, [("user", "user"), ("disabled", "disabled"), ("entity_id", "entity")],
          empty="(nobody on call)")


def register(app: typer.Typer) -> None:
    app.command("request")(request)
    app.command("requests")(requests_cmd)
    app.command("approve")(approve)
    app.command("deny")(deny)
    app.add_typer(on_call_app, name="on-call")
