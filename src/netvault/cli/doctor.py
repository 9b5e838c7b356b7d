"""``netvault doctor [--repair]``: find and fix what crashes and races leave behind."""

from __future__ import annotations

from typing import Annotated

import typer

from netvault.cli.output import JsonOption, emit_json, info, progress_bar, table, warn


def doctor(
    repair: Annotated[bool, typer.Option("--repair", help="Fix what can be fixed (each fix is an audited, idempotent write).")] = False,
    as_json: JsonOption = False,
) -> None:
    """Check the find index, grants, people and customers for damage.

    Read-only by default: lists find-index entries missing or stale, grant
    records without their group or token (and groups without a record),
    logins without a role, half-made customers and names in storage that are
    not valid. With --repair it fixes the index and the grants with your own
    token (a team lead or admin); the rest it tells you how to fix.
    Exits 1 when something is left unrepaired.

    Example:  netvault doctor && netvault doctor --repair
    """
    from datetime import datetime, timezone

    from netvault.local import config
    from netvault.server import doctor as doc
    from netvault.local import session

    settings = config.load()
    vault = session.connect(settings)
    progress, finish = progress_bar("examining customers")
    try:
        report = doc.examine(vault, now=datetime.now(timezone.utc), mounts=settings.mounts,
                             repair=repair, progress=progress)
    finally:
        finish()
    if as_json:
        emit_json(report)
    else:
        table([f.to_dict() for f in report.findings],
              [("area", "area"), ("problem", "problem"), ("subject", "subject"), ("detail", "detail"),
               ("repair", "repair"), ("repaired", "repaired")], empty="no damage found")
    for note in report.skipped:
        warn(f"skipped {note}")
    counts = ", ".join(f"{k} {v}" for k, v in report.checked.items() if k not in ("grants", "people", "customers", "setup"))
    info(f"checked: {counts}")
    left = [f for f in report.findings if not f.repaired]
    for f in report.findings:
        if f.error:
            warn(f"could not repair {f.problem} of {f.subject}: {f.error}")
    if left:
        if not repair and any(f.repairable for f in left):
            info("run `netvault doctor --repair` to fix the repairable ones")
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)
