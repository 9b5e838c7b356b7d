"""``netvault audit …``: the auditor's commands over Vault's own audit log."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from netvault.cli.output import JsonOption, emit_json, fields, info, table, warn

app = typer.Typer(
    help="Audit trail from Vault's own audit device: who revealed what, when, why; tamper evidence.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

FileOpt = Annotated[
    Optional[list[Path]],
    typer.Option(
        "--file", "-f",
        help="Audit file (plain, rotated or .gz); repeat for several files or nodes "
        "(default: the embedded server's audit.log).",
    ),
]
SinceOpt = Annotated[Optional[str], typer.Option("--since", help="From this time: 2026-11-01, 2026-11-01T08:00 or 7d (UTC).")]
UntilOpt = Annotated[Optional[str], typer.Option("--until", help="Up to this time: a date (whole day), a datetime, or 1d.")]
CsvOption = Annotated[bool, typer.Option("--csv", help="Print CSV with a header row instead of a table.")]
OfflineOpt = Annotated[
    bool,
    typer.Option("--offline", help="Do not ask Vault for current record names (show stable ids)."),
]


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="audit")


# -- helpers ------------------------------------------------------------------

def _now():
    from datetime import datetime, timezone

    return datetime.now(timezone.utc)


def _files(files: list[Path] | None) -> list[str]:
    if files:
        return [str(f) for f in files]
    from netvault import config

    settings = config.load()
    data_dir = Path(settings.data_dir) if settings.data_dir else config.default_data_dir()
    return [str(data_dir / "audit.log")]


def _bound(text: str | None, *, end: bool = False) -> str | None:
    if text is None:
        return None
    from datetime import timedelta, timezone

    from netvault.durations import parse_since

    value = parse_since(text, _now())
    stripped = text.strip()
    if end and len(stripped) == 10 and stripped[4] == "-":  # a bare date: the whole day
        value = value + timedelta(days=1) - timedelta(seconds=1)
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def _progress(paths: list[str]):
    """A progress callback drawing on stderr when it is a terminal, else None."""
    if not sys.stderr.isatty():
        return None, lambda: None
    from netvault.audit.reader import file_size

    total = sum(file_size(p) for p in paths) or 1
    state = {"done": 0, "shown": -1}

    def step(n: int) -> None:
        state["done"] += n
        pct = min(100, state["done"] * 100 // total)
        if pct != state["shown"]:
            state["shown"] = pct
            sys.stderr.write(f"\rreading audit log {pct:3d}%")
            sys.stderr.flush()

    def done() -> None:
        if state["shown"] >= 0:
            sys.stderr.write("\r" + " " * 28 + "\r")
            sys.stderr.flush()

    return step, done


def _settings():
    from netvault import config

    return config.load()


def _vault(required: bool):
    from netvault import session

    settings = _settings()
    if not required and not session.current_token(settings):
        return None
    return session.connect(settings)


def _resolver(offline: bool):
    if offline:
        return None
    from netvault.audit.events import Resolver

    vault = _vault(required=False)
    if vault is None:
        return None
    return Resolver(vault, _settings().mounts.kv)


LOG_COLUMNS = [
    ("time", "time"), ("engineer", "engineer"), ("action", "action"), ("customer", "customer"),
    ("record", "record"), ("incident", "incident"), ("outcome", "outcome"), ("remote_address", "from"),
]


def _row(ev) -> dict:
    d = ev.to_dict()
    d["time"] = d["time"][:19].replace("T", " ")
    if not d["record"] and d["record_id"]:
        d["record"] = "#" + d["record_id"][:12]
    if d["subject"] and d["action"] in ("grant", "revoke"):
        d["record"] = f"{d['record'] or ''} (for {d['subject']})".strip()
    if d["outcome"] == "denied" and d["error"]:
        d["outcome"] = f"denied: {d['error']}"
    return d


# -- commands -----------------------------------------------------------------

@app.command("log")
def log(
    file: FileOpt = None,
    customer: Annotated[Optional[str], typer.Option("--customer", help="Only this customer.")] = None,
    engineer: Annotated[Optional[str], typer.Option("--engineer", help="Only this user name (or entity id).")] = None,
    record: Annotated[Optional[str], typer.Option("--record", help="Only this record (current name, CUSTOMER/NAME or stable id).")] = None,
    incident: Annotated[Optional[str], typer.Option("--incident", help="Only this incident reference (glob allowed: INC-12*).")] = None,
    action: Annotated[Optional[list[str]], typer.Option("--action", help="Only these actions: reveal, read, list, write, delete, grant, revoke, login, setup (repeatable).")] = None,
    denied: Annotated[bool, typer.Option("--denied", help="Only denied attempts.")] = False,
    since: SinceOpt = None,
    until: UntilOpt = None,
    offline: OfflineOpt = False,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """List access events: time, engineer, action, customer, record, incident, outcome.

    Reads Vault's own audit log (a reveal made with curl is there too). Record
    names are the current ones, resolved from the stable id in the transit
    context when you are logged in (else the id is shown).

    Example:  netvault audit log --customer acme --action reveal --since 7d
    """
    from netvault.audit.events import FIELDS, Filters, events

    if as_json and as_csv:
        from netvault.errors import UsageError

        raise UsageError("choose one of --json and --csv")
    if record and "/" in record and not customer:
        customer = record.split("/", 1)[0]
    filters = Filters(
        customer=customer, engineer=engineer, record=record, incident=incident,
        actions=tuple(action or ()), denied=denied, since=_bound(since), until=_bound(until, end=True),
    )
    paths = _files(file)
    step, done = _progress(paths)
    stream = events(paths, filters=filters, mounts=_settings().mounts, resolver=_resolver(offline), progress=step)
    out = sys.stdout
    if as_json:
        import json

        dumps = json.JSONEncoder(sort_keys=True, ensure_ascii=False).encode
        for ev in stream:
            out.write(dumps(ev.to_dict()) + "\n")
        done()
        return
    if as_csv:
        import csv

        writer = csv.DictWriter(out, fieldnames=list(FIELDS))
        writer.writeheader()
        for ev in stream:
            writer.writerow(ev.to_dict())
        done()
        return
    rows = [_row(ev) for ev in stream]
    done()
    table(rows, LOG_COLUMNS, empty="(no matching events)")
