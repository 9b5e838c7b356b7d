"""``netvault customer export``, ``netvault export open``, ``netvault customer
subprocessors``, ``netvault subprocessors report`` (issue 11).

Thin: parse, call ``netvault.lifecycle.portable`` / ``netvault.lifecycle.subprocessors``, render.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from netvault.cli.output import JsonOption, emit_json, info, table

subs_report_app = typer.Typer(help="Sub-processors across customers (the overview on request).\n\n"
                              "Example:  netvault subprocessors report --json",
                              no_args_is_help=True, rich_markup_mode=None)
subs_app = typer.Typer(help="A customer's sub-processors: list, add, rm (team lead or admin write).\n\n"
                       "Example:  netvault customer subprocessors acme add Backblaze --service backup --country US --since 2025-03-01",
                       no_args_is_help=True, rich_markup_mode=None)

AuditFiles = Annotated[Optional[list[Path]], typer.Option(
    "--audit-file", help="Audit file(s) to take the customer's access events and version authors from; repeat for several.")]


def _connect():
    from netvault.local import config
    from netvault.local import session

    settings = config.load()
    return settings, session.connect(settings)


def customer_export(
    customer: Annotated[str, typer.Argument(help="Customer slug.", show_default=False)],
    incident: Annotated[str, typer.Option("--incident", "-i", help="Incident/request reference (Vault requires it on every decrypt), e.g. CHG-2026-17.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="File to write (encrypted, 0600).")],
    audit_file: AuditFiles = None,
    force: Annotated[bool, typer.Option("--force", help="Replace --out if it exists.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Write everything netvault holds about a customer to an encrypted file.

    Profile, every record with all its versions, secret fields decrypted (each
    decrypt is a reveal with --incident, in the audit trail: needs a grant on
    the customer), grants, sub-processors and, with --audit-file, the
    customer's access events and the author of each version. The file is JSON
    encrypted with a passphrase (scrypt + AES-256-GCM, docs/EXPORT-FORMAT.md):
    asked twice on a terminal, else two equal lines on standard input.

    Example:  netvault customer export acme --incident CHG-2026-17 --out acme-export.nvx
    """
    from datetime import datetime, timezone

    from netvault.records import lookup
    from netvault.values import names
    from netvault.lifecycle import portable
    from netvault.local import secretinput
    from netvault.errors import PermissionDenied
    from netvault.values.text import json_text

    names.slug(customer, "customer")
    lookup.check_reference(incident)
    portable.check_target(str(out), force=force)  # before any decrypt: a reveal for nothing otherwise
    passphrase = portable.check_passphrase(secretinput.passphrase("export passphrase", twice=True))
    settings, vault = _connect()
    files = [str(p) for p in audit_file] if audit_file else None
    from netvault.cli.audit import _progress

    step, done = _progress(files or [])

    def run():
        try:
            return portable.assemble(vault, kv=settings.mounts.kv, transit=settings.mounts.transit,
                                     customer=customer, reference=incident, now=datetime.now(timezone.utc),
                                     mounts=settings.mounts, audit_files=files, progress=step)
        finally:
            done()

    try:
        doc = run()
    except PermissionDenied as refused:
        # reveal rights from a time-limited grant: its own token (stored, or
        # picked up from the inbox), exactly as `reveal` does
        from netvault.access import jit as jit_access
        from netvault.errors import NetvaultError

        try:
            jit = jit_access.customer_token(settings, vault, customer, datetime.now(timezone.utc))
        except NetvaultError:
            jit = None
        if not jit:
            raise refused from None
        vault.token = jit
        doc = run()
    blob = portable.encrypt(json_text(doc, sort_keys=True).encode("utf-8"), passphrase)
    portable.write_atomic(str(out), blob, force=force)
    result = portable.written(doc, str(out), len(blob))
    info(f"wrote {out} ({len(blob)} bytes, 0600): {result.credentials} credentials, {result.devices} devices, "
         f"{result.licences} licences, {result.versions} versions, {result.decrypted_values} "
         f"values decrypted under {incident}")
    if as_json:
        emit_json(result)


def export_open(
    file: Annotated[Path, typer.Argument(help="Export file written by `netvault customer export`.", show_default=False)],
    summary: Annotated[bool, typer.Option("--summary", help="Print only counts (customer, records, versions, secrets), not the data.")] = False,
) -> None:
    """Decrypt an export file and print its JSON on stdout (nothing else is written).

    The passphrase is asked once on a terminal, else read as one line of
    standard input. Wrong passphrase: exit 4; modified or truncated file:
    exit 9; not an export file: exit 2. Nothing is printed unless the whole
    file checks out.

    Example:  netvault export open acme-export.nvx > acme.json
    """
    from netvault.lifecycle import portable
    from netvault.local import secretinput
    from netvault.errors import NotFound, UsageError

    try:
        blob = file.read_bytes()
    except FileNotFoundError:
        raise NotFound(f"no file {file}") from None
    except IsADirectoryError:
        raise UsageError(f"{file} is a directory") from None
    except OSError as exc:
        raise UsageError(f"cannot read {file}: {exc.strerror}") from None
    passphrase = secretinput.passphrase("export passphrase", twice=False)
    doc = portable.open_export(blob, passphrase)
    emit_json(portable.summary(doc) if summary else doc)


# -- sub-processors -------------------------------------------------------------
@subs_app.callback()
def _subs_customer(ctx: typer.Context,
                   customer: Annotated[str, typer.Argument(help="Customer slug.", show_default=False)]) -> None:
    """A customer's sub-processors (name, service, country, since).

    Example:  netvault customer subprocessors acme add "Backblaze" --service "offsite backup" --country US --since 2025-03-01
    """
    ctx.obj = customer


@subs_app.command("list")
def subs_list(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List the customer's sub-processors.

    Example:  netvault customer subprocessors acme list
    """
    from netvault.lifecycle import subprocessors

    settings, vault = _connect()
    subprocessors._require_customer(vault, settings.mounts.kv, ctx.obj)
    rows = [subprocessors.SubprocessorEntry.of(e) for e in subprocessors.list_for(vault, settings.mounts.kv, ctx.obj)]
    if as_json:
        emit_json(rows)
        return
    table(rows, [("name", "name"), ("service", "service"), ("country", "country"), ("since", "since")])


@subs_app.command("add")
def subs_add(ctx: typer.Context,
             name: Annotated[str, typer.Argument(help="Sub-processor (company) name.", show_default=False)],
             service: Annotated[str, typer.Option("--service", help="What it does for this customer.")],
             country: Annotated[str, typer.Option("--country", help="Where it processes the data: ISO 3166-1 alpha-2 (NL, DE, US).")],
             since: Annotated[str, typer.Option("--since", help="Engaged since (YYYY-MM-DD).")],
             as_json: JsonOption = False) -> None:
    """Add a sub-processor (team lead or admin; Vault refuses anyone else).

    Example:  netvault customer subprocessors acme add "Microsoft Ireland" --service "hosted mail" --country IE --since 2024-01-01
    """
    from netvault.lifecycle import subprocessors

    settings, vault = _connect()
    result = subprocessors.add(vault, settings.mounts.kv, ctx.obj, name=name, service=service,
                               country_code=country, since=since)
    info(f"added sub-processor {result.name} to {ctx.obj}")
    if as_json:
        emit_json(result)


@subs_app.command("rm")
def subs_rm(ctx: typer.Context,
            name: Annotated[str, typer.Argument(help="Sub-processor name (as listed).", show_default=False)],
            as_json: JsonOption = False) -> None:
    """Remove a sub-processor (team lead or admin).

    Example:  netvault customer subprocessors acme rm "Backblaze"
    """
    from netvault.lifecycle import subprocessors

    settings, vault = _connect()
    result = subprocessors.remove(vault, settings.mounts.kv, ctx.obj, name)
    info(f"removed sub-processor {name} from {ctx.obj}")
    if as_json:
        emit_json(result)


@subs_report_app.command("report")
def subs_report(as_json: JsonOption = False) -> None:
    """Every sub-processor with the customers it serves (customers you may read).

    Example:  netvault subprocessors report --json
    """
    from netvault.lifecycle import subprocessors

    settings, vault = _connect()
    rows = subprocessors.report(vault, settings.mounts.kv)
    if as_json:
        emit_json(rows)
        return
    table([{"name": r.name, "service": r.service, "country": r.country, "customers": [f"{c.customer} (since {c.since})" for c in r.customers]} for r in rows],
          [("name", "name"), ("service", "service"), ("country", "country"), ("customers", "customers")])


def register(app: typer.Typer) -> None:
    from netvault.cli.records import customer_app

    from netvault.cli.imports import export_app  # `netvault export csv` lives there

    customer_app.command("export")(customer_export)
    customer_app.add_typer(subs_app, name="subprocessors")
    export_app.command("open")(export_open)
    app.add_typer(subs_report_app, name="subprocessors")
