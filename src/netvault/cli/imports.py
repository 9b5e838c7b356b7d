"""``netvault import csv|keepass|bitwarden|passbolt`` and ``netvault export csv``.

Thin: parse, call ``netvault.importing``, render. Outcomes (one per source
entry) go to stdout, as a table or as JSON lines (``--json``); problems,
progress and the summary go to stderr.
"""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from netvault.cli.output import JsonOption, emit_json, info

import_app = typer.Typer(help="Import records from CSV, KeePass, Bitwarden or Passbolt files (moving in).",
                         no_args_is_help=True, rich_markup_mode=None)
export_app = typer.Typer(help="Export records (non-secret fields) for an inventory; `export open` opens a `customer export` file.", no_args_is_help=True,
                         rich_markup_mode=None)

KindOpt = Annotated[str, typer.Option("--kind", help="device, credential or licence.", show_default=False)]
CustomerOpt = Annotated[Optional[str], typer.Option("--customer", "-c", help="Put every entry into this (existing) customer.")]
MapOpt = Annotated[Optional[list[str]], typer.Option("--map", help="NAME=CUSTOMER: entries under this group/collection/folder go to CUSTOMER (repeat).")]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Check everything and say what would happen; write nothing.")]
Threads = Annotated[int, typer.Option("--threads", min=1, max=64, help="Concurrent writes (default 16).")]
FileArg = Annotated[str, typer.Argument(help="The file to import.", show_default=False)]


class _Progress:
    """A one-line progress bar on stderr, only when stderr is a terminal."""

    def __init__(self) -> None:
        self.on = sys.stderr.isatty()
        self.last = -1

    def __call__(self, done: int, total: int) -> None:
        if not self.on or not total:
            return
        pct = done * 100 // total
        if pct == self.last and done != total:
            return
        self.last = pct
        bar = "#" * (pct // 4)
        sys.stderr.write(f"\rimporting [{bar:<25}] {done}/{total}")
        if done == total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def _store():
    from netvault.local import config
    from netvault.local import session
    from netvault.records.store import Store

    settings = config.load()
    return Store(session.connect(settings), settings.mounts)


def _kind(word: str) -> str:
    from netvault.records.store import kind_dir

    return kind_dir(word)


def _mapping(pairs: Optional[list[str]], customer: Optional[str]) -> dict[str, str]:
    from netvault.values import names
    from netvault.errors import UsageError

    if customer and pairs:
        raise UsageError("give --customer or --map, not both")
    out: dict[str, str] = {}
    for pair in pairs or []:
        group, sep, target = pair.rpartition("=")
        if not sep or not group.strip():
            raise UsageError(f"--map wants NAME=CUSTOMER, got {names.shown(pair)}")
        out[group.strip().strip("/")] = names.slug(target.strip(), "customer")
    if customer:
        names.slug(customer, "customer")
    return out


def _cell(text) -> str:
    text = "" if text is None else str(text)
    return "".join(ch if ch.isprintable() else "?" for ch in text)


def _run(plan, dry_run: bool, as_json: bool, threads: int) -> None:
    import time

    from netvault.importing import apply
    from netvault.importing.plan import ImportRefused

    started = time.perf_counter()
    try:
        outcomes = apply.run(_store(), plan, dry_run=dry_run, threads=threads, progress=_Progress())
    except ImportRefused as exc:
        for problem in exc.problems:
            sys.stderr.write(f"error: {_cell(problem.line())}\n")
        raise
    seconds = time.perf_counter() - started
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.action] = counts.get(o.action, 0) + 1
        if as_json:
            emit_json(o)
        else:
            where = f"{o.customer}/{o.name}" if o.customer and o.name else (o.name or "-")
            verb = f"would be {o.action}" if dry_run and o.action in ("created", "updated") else o.action
            line = f"{_cell(o.source)}  {_cell(where)}  {verb}"
            sys.stdout.write(line + (f"  ({_cell(o.reason)})" if o.reason else "") + "\n")
    written = counts.get("created", 0) + counts.get("updated", 0)
    summary = ", ".join(f"{k} {counts[k]}" for k in ("created", "updated", "unchanged", "skipped", "failed") if counts.get(k))
    rate = f", {written / seconds:,.0f} records/s written" if written and not dry_run and seconds > 0 else ""
    info(f"{'dry run: ' if dry_run else ''}{summary or 'nothing to import'} ({seconds:.1f} s{rate})")
    if counts.get("failed"):
        from netvault.errors import NetvaultError

        raise NetvaultError(f"{counts['failed']} entr{'y' if counts['failed'] == 1 else 'ies'} failed; "
                            "run the same import again to finish (done records show as unchanged)")


@import_app.command("csv")
def import_csv(file: FileArg, kind: KindOpt, customer: CustomerOpt = None,
               encoding: Annotated[Optional[str], typer.Option("--encoding", help="File encoding (default: UTF-8 with or without BOM, else Windows-1252).")] = None,
               dry_run: DryRun = False, threads: Threads = 16, as_json: JsonOption = False) -> None:
    """Import devices, credentials or licences from a spreadsheet (CSV with a header row).

    Columns (any order, case-insensitive; unknown ones are an error):
    devices: customer, name, kind, mac, ip, serial, model, location, credential, notes;
    credentials: customer, name, username, url, password, totp, notes, tags;
    licences: customer, name, product, vendor, seats, expires, licence_key, notes.
    Delimiter , or ; and UTF-8 / Windows-1252 are detected. Everything is checked
    first: one bad row and nothing is written. Importing again changes nothing.

    Example:  netvault import csv devices.csv --kind device --customer acme --dry-run
    """
    from netvault.importing import csv_source

    plan = csv_source.read(file, _kind(kind), customer=customer, encoding=encoding)
    _run(plan, dry_run, as_json, threads)


@import_app.command("keepass")
def import_keepass(file: Annotated[str, typer.Argument(help="The .kdbx file.", show_default=False)],
                   keyfile: Annotated[Optional[str], typer.Option("--keyfile", help="Key file of the database.")] = None,
                   customer: CustomerOpt = None, map_: MapOpt = None,
                   stdin: Annotated[bool, typer.Option("--stdin", help="Read the database password from standard input (first line).")] = False,
                   no_password: Annotated[bool, typer.Option("--no-password", help="The database has a key file only.")] = False,
                   dry_run: DryRun = False, threads: Threads = 16, as_json: JsonOption = False) -> None:
    """Import a KeePass database's entries as credentials.

    The password is prompted (hidden) or read with --stdin. Title, username,
    URL, notes, password, TOTP, custom fields (protected ones sealed as extra
    secrets, others into the notes), tags from the group path; {REF:...}
    resolved. --map GROUP=CUSTOMER (a group name or path) or --customer.

    Example:  netvault import keepass acme.kdbx --customer acme --keyfile acme.keyx
    """
    from netvault.errors import UsageError
    from netvault.importing import keepass_source

    mapping = _mapping(map_, customer)
    if not customer and not mapping:
        raise UsageError("say where the entries go: --customer C or --map GROUP=CUSTOMER")
    password = None
    if not no_password:
        if stdin:
            from netvault.local.secretinput import StdinLines

            password = StdinLines().next("KeePass database password")
        else:
            import getpass

            if not sys.stdin.isatty():
                raise UsageError("no terminal to prompt for the KeePass password; use --stdin (or --no-password)")
            password = getpass.getpass("KeePass database password: ")
    plan = keepass_source.read(file, password=password, keyfile=keyfile, customer=customer, mapping=mapping)
    _run(plan, dry_run, as_json, threads)


@import_app.command("bitwarden")
def import_bitwarden(file: Annotated[str, typer.Argument(help="The unencrypted Bitwarden JSON export.", show_default=False)],
                     customer: CustomerOpt = None, map_: MapOpt = None,
                     dry_run: DryRun = False, threads: Threads = 16, as_json: JsonOption = False) -> None:
    """Import logins from an unencrypted Bitwarden JSON export (organisation or personal).

    Logins become credentials (URIs, TOTP, hidden custom fields sealed as extra
    secrets); --map COLLECTION=CUSTOMER or FOLDER=CUSTOMER, or --customer.
    Other item types are listed as skipped. An encrypted export is refused.

    Example:  netvault import bitwarden bitwarden_export.json --map "Acme BV=acme"
    """
    from netvault.errors import UsageError
    from netvault.importing import bitwarden_source

    mapping = _mapping(map_, customer)
    if not customer and not mapping:
        raise UsageError("say where the items go: --customer C or --map COLLECTION=CUSTOMER")
    plan = bitwarden_source.read(file, customer=customer, mapping=mapping)
    _run(plan, dry_run, as_json, threads)


@import_app.command("passbolt")
def import_passbolt(file: Annotated[str, typer.Argument(help="The Passbolt CSV export.", show_default=False)],
                    customer: CustomerOpt = None, map_: MapOpt = None,
                    encoding: Annotated[Optional[str], typer.Option("--encoding", help="File encoding (default: UTF-8 with or without BOM, else Windows-1252).")] = None,
                    dry_run: DryRun = False, threads: Threads = 16, as_json: JsonOption = False) -> None:
    """Import a Passbolt CSV export as credentials.

    Every CSV flavour Passbolt exports is recognised from its header: csv-kdbx
    (Title, Username, URL, Password, Notes, Group, TOTP), the older Group/Folder,
    Title, Username, URL, Password, Description, and csv-lastpass, -bitwarden,
    -1password, -chromium, -mozilla. Folders go to customers with
    --map FOLDER=CUSTOMER (a folder or path prefix), or all to --customer.
    A KDBX export is a KeePass file: use `netvault import keepass`.

    Example:  netvault import passbolt passbolt-export.csv --map "Customers/Acme=acme" --dry-run
    """
    from netvault.errors import UsageError
    from netvault.importing import passbolt_source

    mapping = _mapping(map_, customer)
    if not customer and not mapping:
        raise UsageError("say where the entries go: --customer C or --map FOLDER=CUSTOMER")
    plan = passbolt_source.read(file, customer=customer, mapping=mapping, encoding=encoding)
    _run(plan, dry_run, as_json, threads)


@export_app.command("csv")
def export_csv(customer: Annotated[str, typer.Argument(help="Customer slug.", show_default=False)], kind: KindOpt,
               output: Annotated[Optional[str], typer.Option("--output", "-o", help="Write to this file (default: stdout).")] = None) -> None:
    """Write a customer's records as CSV: the import columns, without secrets.

    A customer's IT manager gets an inventory; the file imports back unchanged.
    Cells that a spreadsheet would run as a formula get a leading '.

    Example:  netvault export csv acme --kind device -o acme-devices.csv
    """
    from netvault.values import names
    from netvault.importing import export

    names.slug(customer, "customer")
    text, count = export.to_csv(_store(), customer, _kind(kind))
    if output:
        from pathlib import Path

        Path(output).write_text(text, encoding="utf-8-sig", newline="")  # the BOM tells Excel it is UTF-8
        info(f"wrote {count} record(s) to {names.shown(output)}")
    else:
        sys.stdout.write(text)


def register(app: typer.Typer) -> None:
    app.add_typer(import_app, name="import")
    app.add_typer(export_app, name="export")
