"""``netvault customer end|erase`` and ``netvault retention list|purge`` (issue 11).

Thin: parse, call ``netvault.lifecycle.service_end``, render. The time is now, or
``NETVAULT_NOW`` (an ISO date-time; for tests and the demo, not documented
in --help) so retention can be shown without waiting years.
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from netvault.cli.output import JsonOption, emit_json, info, table

retention_app = typer.Typer(help="Retention: what is due after an end of service, and purging it.",
                            no_args_is_help=True, rich_markup_mode=None)

CustomerArg = Annotated[str, typer.Argument(help="Customer slug.", show_default=False)]


def now():
    """The current time (UTC), or NETVAULT_NOW for tests and demos."""
    import os
    from datetime import datetime, timezone

    from netvault.errors import UsageError

    fixed = os.environ.get("NETVAULT_NOW", "").strip()
    if not fixed:
        return datetime.now(timezone.utc)
    try:
        value = datetime.fromisoformat(fixed.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError("NETVAULT_NOW is not an ISO date-time (e.g. 2027-01-31T12:00:00Z)") from None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _life():
    from netvault.local import config
    from netvault.local import session
    from netvault.lifecycle.service_end import Lifecycle

    settings = config.load()
    return Lifecycle(session.connect(settings), settings.mounts)


def states(life=None) -> dict[str, dict]:
    """customer -> lifecycle status, for ``customer list`` (applies due ends
    first). Empty when the caller may not read end records (engineers)."""
    from netvault.errors import PermissionDenied

    life = life or _life()
    when = now()
    try:
        life.apply_due(now=when)
        return {s.customer: s.to_dict() for s in life.statuses(now=when)}
    except PermissionDenied:
        return {}


def _state_text(s: dict) -> str:
    state = s.get("state") or ""
    if state in ("ended", "ending", "past-retention"):
        state += f" ({s.get('end_on')})"
    if s.get("shredded"):
        state += ", secrets shredded"
    return state


def customer_end(
    customer: CustomerArg,
    on: Annotated[Optional[str], typer.Option("--on", help="Last day of service, YYYY-MM-DD (default: today). "
                                              "A future date takes effect on the first team-lead/admin run on or after it.")] = None,
    reason: Annotated[Optional[str], typer.Option("--reason", help="Why (contract ended, ...).")] = None,
    grace: Annotated[str, typer.Option("--grace", help="Days the sealed secrets are kept after the end before "
                                       "`retention purge` shreds them (30d, 6w).")] = "30d",
    as_json: JsonOption = False,
) -> None:
    """End a customer's service (team lead or admin): every grant revoked, no new grant, no reveal for anyone.

    Non-secret records stay readable to team leads until the retention ends
    (7y after the end, or the profile's --retention). Ending twice is exit 7.

    Example:  netvault customer end acme --on 2026-12-31 --reason "contract ended"
    """
    from netvault.lifecycle import service_end as lifecycle

    day = lifecycle.parse_date(on, "end date") if on else None
    days = lifecycle.parse_grace(grace)
    status = _life().end(customer, now=now(), on=day, reason=reason, grace_days=days)
    st = status.to_dict()
    if st["state"] == "ending":
        message = f"customer {customer} ends on {st['end_on']} (recorded; in force from that day)"
    else:
        message = (f"ended customer {customer} on {st['end_on']}: grants revoked, no reveals; secrets shredded "
                   f"from {st['shred_due']}, erased after {st['retention_until']}")
    info(message)
    if as_json:
        emit_json(status)


def _confirm(customer: str, yes: bool) -> None:
    if yes:
        return
    from netvault.cli.output import confirm_by_typing
    from netvault.errors import UsageError

    confirm_by_typing(customer, f"erase customer {customer} and everything netvault holds about it? "
                                f"type its name ({customer}) to confirm: ",
                      f"not erased: confirmation did not match {customer!r} (or give --yes)", UsageError)


def customer_erase(
    customer: CustomerArg,
    reason: Annotated[str, typer.Option("--reason", help="Why (erasure request, ...); stored in the erase record.")] = "erasure request",
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for the name.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Erase a customer completely (admin): records with every version, index entries, key, policies, grants.

    Asks for the customer's name (typed; read from stdin when not a terminal)
    unless --yes. An interrupted erase is completed by running it again.

    Example:  netvault customer erase acme --reason "erasure request 2026-11"
    """
    from netvault.values import names
    from netvault.values import validate

    names.slug(customer, "customer")
    reason = validate.text(reason, "reason") or "erasure request"
    _confirm(customer, yes)
    steps = _life().erase(customer, now=now(), reason=reason)
    info(f"erased customer {customer}")
    if as_json:
        from netvault.lifecycle.service_end import Erased

        emit_json(Erased(customer, steps))


@retention_app.command("list")
def retention_list(as_json: JsonOption = False) -> None:
    """Show what retention purge would do now, and why (team lead or admin).

    Example:  netvault retention list --json
    """
    life = _life()
    when = now()
    life.apply_due(now=when)
    rows = life.due(now=when)
    if as_json:
        emit_json(rows)
        return
    table(rows, [("customer", "customer"), ("action", "action"), ("due", "due"), ("reason", "reason")],
          empty="(nothing due)")


@retention_app.command("purge")
def retention_purge(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only say what would be purged.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Shred secrets after the grace period and erase customers past retention (admin).

    Each shred and erase is one write of _lifecycle/<customer>/shred|erase, the
    `shred` / `erase` action in `netvault audit log`.

    Example:  netvault retention purge --dry-run
    """
    rows = _life().purge(now=now(), dry_run=dry_run)
    if as_json:
        emit_json(rows)
        return
    for r in rows:
        verb = {"shred": "shredded secrets of", "erase": "erased"}[r.action]
        info(("would have " + verb if dry_run else verb) + f" {r.customer} ({r.reason})")
    if not rows:
        info("nothing due")


def register(root: typer.Typer) -> None:
    from netvault.cli.records import customer_app

    customer_app.command("end")(customer_end)
    customer_app.command("erase")(customer_erase)
    root.add_typer(retention_app, name="retention")
