"""``netvault audit …``: the auditor's commands over Vault's own audit log."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from netvault.cli.output import JsonOption, emit_json, info, table, warn

app = typer.Typer(
    help="Audit trail from Vault's own audit device: who revealed what, when, why; tamper evidence.\n\n"
    "Example:  netvault audit log --action reveal --since 7d",
    no_args_is_help=True,
    rich_markup_mode=None,
)

FileOpt = Annotated[
    Optional[list[Path]],
    typer.Option(
        "--file", "-f",
        help="Audit file (plain, rotated or .gz); repeat for several files or nodes "
        "(default: --audit-dir, else the profile's audit_dir, else the embedded server's audit.log and its rotated files).",
    ),
]
AuditDirOpt = Annotated[
    Optional[Path],
    typer.Option("--audit-dir", help="Directory with the server's audit files (live and rotated); remembered for this profile."),
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


def _files(files: list[Path] | None, audit_dir: Path | None = None) -> list[str]:
    """The audit files to read (netvault.audit.locate_trail); a working --audit-dir is remembered."""
    from netvault.audit import locate_trail

    found, _where = locate_trail(_settings(), files=files, audit_dir=audit_dir)
    if audit_dir is not None and not files:
        from netvault.local import config

        config.update_file({"audit_dir": str(audit_dir.resolve())})
    return [str(p) for p in found]


def _bound(text: str | None, *, end: bool = False) -> str | None:
    if text is None:
        return None
    from datetime import timedelta, timezone

    from netvault.values.durations import parse_since

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
    from netvault.local import config

    return config.load()


def _vault(required: bool):
    from netvault.local import session

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
    m = _settings().mounts
    return Resolver(vault, m.kv, m.userpass)


def _break_glass(vault) -> list[str]:
    """The break-glass patterns from Vault's settings (default BG-* offline)."""
    from netvault.access.incidents import break_glass_patterns

    return break_glass_patterns(vault, _settings().mounts.kv)


LOG_COLUMNS = [
    ("time", "time"), ("engineer", "engineer"), ("action", "action"), ("customer", "customer"),
    ("record", "record"), ("incident", "incident"), ("outcome", "outcome"), ("remote_address", "from"),
    ("flags", "flags"),
]


def _csv_event(d: dict) -> dict:
    return {**d, "flags": " ".join(d.get("flags") or [])}


def _row(ev) -> dict:
    from netvault.values.text import shown_reference

    d = ev.to_dict()
    d["time"] = d["time"][:19].replace("T", " ")
    d["incident"] = shown_reference(d["incident"])  # escaped, cut short (the full value: --json)
    if not d["record"] and d["record_id"]:
        d["record"] = "#" + d["record_id"][:12]
    if d["subject"] and d["action"] in ("grant", "revoke"):
        d["record"] = f"{d['record'] or ''} (for {d['subject']})".strip()
    if d["outcome"] == "denied" and d["error"]:
        d["outcome"] = f"denied: {d['error']}"
    if not d["engineer"]:
        d["engineer"] = "?"  # no person could be traced: see flags
    d["flags"] = ",".join(d["flags"]) or None
    return d


# -- commands -----------------------------------------------------------------

@app.command("log")
def log(
    file: FileOpt = None,
    audit_dir: AuditDirOpt = None,
    customer: Annotated[Optional[str], typer.Option("--customer", help="Only this customer.")] = None,
    engineer: Annotated[Optional[str], typer.Option("--engineer", help="Only this user name (or entity id).")] = None,
    record: Annotated[Optional[str], typer.Option("--record", help="Only this record (current name, CUSTOMER/NAME or stable id).")] = None,
    incident: Annotated[Optional[str], typer.Option("--incident", help="Only this incident reference (glob allowed: INC-12*).")] = None,
    action: Annotated[Optional[list[str]], typer.Option("--action", help="Only these actions: reveal, read, list, write, delete, grant, revoke, login, setup, key-export, tamper, request, review (repeatable).")] = None,
    denied: Annotated[bool, typer.Option("--denied", help="Only denied attempts.")] = False,
    break_glass: Annotated[bool, typer.Option("--break-glass", help="Only break-glass reveals (reference matching the break-glass patterns).")] = False,
    since: SinceOpt = None,
    until: UntilOpt = None,
    offline: OfflineOpt = False,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """List access events: time, engineer, action, customer, record, incident, outcome, flags.

    Reads Vault's own audit log (a reveal made with curl is there too). Record
    names are the current ones, resolved from the stable id in the transit
    context when you are logged in (else the id is shown). The engineer is the
    person Vault binds to the token (for a just-in-time token: whoever
    unwrapped it, or its creator); FLAGS mark what cannot be traced or does
    not add up (see the README).

    Example:  netvault audit log --customer acme --action reveal --since 7d
    """
    from netvault.audit.events import FIELDS, Filters, events

    if as_json and as_csv:
        from netvault.errors import UsageError

        raise UsageError("choose one of --json and --csv")
    if record and "/" in record and not customer:
        customer = record.split("/", 1)[0]
    resolver = _resolver(offline)
    ids: tuple[str, ...] = ()
    if engineer and resolver is not None:
        from netvault.audit.events import user_entities

        ids = user_entities(resolver.vault, engineer, _settings().mounts.userpass)
    filters = Filters(
        customer=customer, engineer=engineer, record=record, incident=incident,
        actions=tuple(action or ()), denied=denied, since=_bound(since), until=_bound(until, end=True),
        entity_ids=ids, break_glass=break_glass,
    )
    paths = _files(file, audit_dir)
    step, done = _progress(paths)
    if record and resolver is None:
        warn("not resolving record names (not logged in, or --offline): reveals match --record by stable id only")
    foreign: set[str] = set()
    stream = events(paths, filters=filters, mounts=_settings().mounts, resolver=resolver, progress=step,
                    break_glass=_break_glass(resolver.vault if resolver is not None else None), unconfigured=foreign)
    out = sys.stdout
    if as_json:
        from netvault.values.text import json_text

        for ev in stream:
            out.write(json_text(ev.to_dict(), sort_keys=True) + "\n")
    elif as_csv:
        from netvault.cli.output import write_csv

        write_csv((_csv_event(ev.to_dict()) for ev in stream), FIELDS, out)
    else:
        rows = [_row(ev) for ev in stream]
        done()
        table(rows, LOG_COLUMNS, empty="(no matching events)")
    done()
    if resolver is not None and resolver.failed:
        warn("could not ask Vault for record names (unreachable or not logged in): stable ids shown")
    _warn_unconfigured(foreign)


def _warn_unconfigured(foreign: set[str]) -> None:
    """Reveals on a transit mount the config's [mounts] does not name are not shown: say so."""
    if foreign:
        from netvault.values.names import shown

        warn(f"the trail holds reveals on transit mount {', '.join(shown(p) for p in sorted(foreign)[:3])}, "
             f"not the configured [mounts] transit {shown(_settings().mounts.transit + '/')}: they are not shown; "
             "set [mounts] in config.toml to the server's mounts")


def _now_text() -> str:
    return _now().strftime("%Y-%m-%dT%H:%M:%SZ")


@app.command("seal")
def seal_cmd(
    file: FileOpt = None,
    audit_dir: AuditDirOpt = None,
    as_json: JsonOption = False,
) -> None:
    """Seal what is not sealed yet of each audit file: a signed, chained digest.

    Each digest holds the file's identity (hash of its first line), the byte
    range, its SHA-256, first/last event time and the previous digest's hash
    and signature; Vault signs it with the non-exportable Ed25519 transit key
    audit-seal and it is stored create-only under KV _audit/digests/. Run it
    hourly (e.g. from cron, with a token of token role nv-audit-sealer).

    Example:  netvault audit seal --file /var/log/openbao/audit.log
    """
    from netvault.audit import seal as sealmod

    paths = _files(file, audit_dir)
    settings = _settings()
    vault = _vault(required=True)
    step, done = _progress(paths)
    try:
        written = sealmod.seal(vault, paths, now=_now_text(), kv_mount=settings.mounts.kv,
                               transit_mount=settings.mounts.transit, progress=step)
    finally:
        done()
    if as_json:
        for d in written:
            emit_json(d)
        return
    if not written:
        info("nothing new to seal")
        return
    table(
        [{**d, "range": f"{d['start']}-{d['end']}", "times": f"{(d['first_time'] or '?')[:19]} .. {(d['last_time'] or '?')[:19]}"} for d in written],
        [("seq", "digest"), ("file_name", "file"), ("range", "bytes"), ("entries", "entries"), ("times", "events")],
    )


@app.command("rotate")
def rotate_cmd(
    data_dir: Annotated[Optional[Path], typer.Option("--data-dir", help="The embedded server's data dir (default: yours).")] = None,
    no_seal: Annotated[bool, typer.Option("--no-seal", help="Do not seal the closed file now (a later `audit seal` does).")] = False,
    as_json: JsonOption = False,
) -> None:
    """Close the embedded server's audit.log, seal it and keep it gzip'd.

    Renames audit.log to audit.log.<UTC time>, makes the server reopen a new
    one (SIGHUP), seals what of the closed file is not sealed yet (with your
    login: an auditor's, or a token of token role nv-audit-sealer), and
    compresses it (0600). Every audit command without --file reads the
    rotated files too. For a server netvault does not run, use logrotate with
    `postrotate kill -HUP` (see README).

    Example:  netvault audit rotate
    """
    from pathlib import Path as _Path

    from netvault.local import config
    from netvault.server import embedded
    from netvault.audit import default_audit_file
    from netvault.audit import rotate as rot
    from netvault.audit import seal as sealmod

    settings = _settings()
    root = _Path(data_dir) if data_dir else _Path(settings.data_dir or config.default_data_dir())
    live = root / "audit.log" if data_dir else default_audit_file(settings)
    server = embedded.status(root)
    sealer = None
    if not no_seal:
        vault = _vault(required=True)

        def sealer(paths):
            return sealmod.seal(vault, paths, now=_now_text(), kv_mount=settings.mounts.kv,
                                transit_mount=settings.mounts.transit)

    step, done = _progress([str(live)])
    try:
        result = rot.rotate(live, pid=server.pid if server.running else None,
                            address=server.address if server.running else None, now=_now(),
                            seal=sealer, progress=step)
    finally:
        done()
    if as_json:
        emit_json(result)
        return
    sealed = f"sealed (digest {', '.join(map(str, result.digests))})" if result.digests else (
        "not sealed (run `netvault audit seal`)" if no_seal else "nothing new to seal")
    info(f"rotated to {result.closed}: {result.plain_bytes} bytes, {result.compressed_bytes} compressed; {sealed}")


@app.command("export-digests")
def export_digests(
    out: Annotated[Path, typer.Option("--out", "-o", help="Write the digests and the public key here (JSON).")],
    as_json: JsonOption = False,
) -> None:
    """Export all seal digests and the public key, for an offline `audit verify`.

    Example:  netvault audit export-digests --out digests.json
    """
    from netvault.audit import seal as sealmod

    settings = _settings()
    result = sealmod.export_digests(_vault(required=True), out, kv_mount=settings.mounts.kv,
                                    transit_mount=settings.mounts.transit, now=_now_text())
    if as_json:
        emit_json(result)
        return
    info(f"wrote {result.digests} digest(s) and {len(result.fingerprints)} public key(s) to {out}")
    for version, fp in sorted(result.fingerprints.items()):
        info(f"public key v{version} fingerprint {fp} (compare it out of band)")


VERIFY_COLUMNS = [("status", "status"), ("kind", "finding"), ("file", "file"), ("range", "bytes"), ("detail", "detail")]


@app.command("verify")
def verify_cmd(
    file: FileOpt = None,
    audit_dir: AuditDirOpt = None,
    digests: Annotated[Optional[Path], typer.Option("--digests", help="Digest export from `audit export-digests` (offline; default: read them from Vault).")] = None,
    public_key: Annotated[Optional[str], typer.Option("--public-key", help="Trusted public key (base64, N:base64 or a file); default: the export's or Vault's.")] = None,
    since: Annotated[Optional[str], typer.Option("--since", help="Digests ending before this time need no file (older rotated files not handed over).")] = None,
    only_given: Annotated[bool, typer.Option("--only-given", help="Check only the files given; other digests need no file unless their time overlaps a given file (then: tampered).")] = False,
    as_json: JsonOption = False,
) -> None:
    """Check the digest chain, every signature and every sealed byte range.

    Names each edited, removed, truncated or reordered range and each gap in
    time; bytes written after the last seal are reported as unsealed, not as
    tampering. Works on a copy of the log (a file's identity is its first
    line, not its path). Exit code 9 when anything was tampered with.

    Example:  netvault audit verify --file audit-copy.log --digests digests.json
    """
    from netvault.audit import seal as sealmod
    from netvault.audit import verify as verifymod
    from netvault.errors import Tampered

    paths = _files(file, audit_dir)
    if digests is not None:
        chain, keys = verifymod.read_bundle(str(digests))
    else:
        settings = _settings()
        vault = _vault(required=True)
        chain = sealmod.load_digests(vault, settings.mounts.kv)
        keys = sealmod.public_keys(vault, settings.mounts.transit)
    if public_key:
        keys = verifymod.parse_public_key(public_key)
    if not keys:
        from netvault.errors import UsageError

        raise UsageError("no public key: give --public-key or a digest export that holds one")
    step, done = _progress(paths)
    try:
        result = verifymod.verify(chain, keys, paths, since=_bound(since), only_given=only_given, progress=step)
    finally:
        done()
    for version, fp in sorted(result.key_fingerprints.items()):
        info(f"public key v{version}: {fp}")
    if as_json:
        for f in result.findings:
            emit_json(f)
    else:
        rows = []
        for f in result.findings:
            rows.append({
                "status": "TAMPERED" if f.tampered else ("ok" if f.kind == "ok" else "note"),
                "kind": f.kind, "file": Path(f.file).name if f.file else None,
                "range": f"{f.start}-{f.end}" if f.start is not None else None,
                "detail": f.detail,
            })
        table(rows, VERIFY_COLUMNS, empty="(no digests and no files)")
    bad = [f for f in result.findings if f.tampered]
    if bad:
        raise Tampered(f"audit trail tampered: {len(bad)} finding(s); first: {bad[0].detail}")
    unsealed = sum(1 for f in result.findings if f.kind == "unsealed")
    info(f"verified {result.digests} digest(s): intact" + (f"; {unsealed} unsealed part(s) (seal them with `netvault audit seal`)" if unsealed else ""))


@app.command("hash")
def hash_cmd(
    value: Annotated[Optional[str], typer.Argument(help="Value to hash (e.g. a token accessor); omit with --stdin.")] = None,
    stdin: Annotated[bool, typer.Option("--stdin", help="Read the value from standard input (keeps it out of shell history).")] = False,
    device: Annotated[str, typer.Option("--device", help="Audit device path (the embedded server's is 'netvault').")] = "netvault",
    as_json: JsonOption = False,
) -> None:
    """HMAC a value the way the audit device does, to find it in the log (sys/audit-hash).

    Example:  netvault audit hash --stdin < accessor.txt | xargs -I{} grep -c {} audit.log
    """
    from netvault.errors import UsageError

    if stdin:
        value = sys.stdin.readline().rstrip("\n")
    if not value:
        raise UsageError("give a VALUE or --stdin")
    from netvault.audit.attribution import audit_hash

    result = audit_hash(_vault(required=True), value, device)
    if as_json:
        emit_json(result)
    else:
        sys.stdout.write(f"{result.hash}\n")


@app.command("exposure")
def exposure_cmd(
    user: Annotated[str, typer.Argument(help="User name (or entity id) whose reveals to list.")],
    file: FileOpt = None,
    audit_dir: AuditDirOpt = None,
    since: SinceOpt = None,
    offline: OfflineOpt = False,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Every credential USER revealed, the last reveal, and whether its value changed since.

    The offboarding rotation worklist: "rotated" only with evidence that every
    revealed value was replaced after USER's last reveal (a new value sealed
    and stored, from the audit trail, or the record's change stamp confirmed by
    the KV history); an unrelated edit or a rotate-key rewrap is not a
    rotation. "rotate": a revealed value may still be current. "unknown": newer
    versions that cannot be checked (the reason is shown). Needs a login that
    may read KV metadata (auditor, admin, team lead).

    Example:  netvault audit exposure bob --since 90d
    """
    from netvault.audit.exposure import exposure

    paths = _files(file, audit_dir)
    vault = None if offline else _vault(required=False)
    step, done = _progress(paths)
    try:
        rows = exposure(user, paths=paths, vault=vault, mounts=_settings().mounts, since=_bound(since), progress=step,
                        break_glass=_break_glass(vault))
    finally:
        done()
    if vault is None:
        warn("not logged in (or --offline): records shown by id, rotation unknown")
    if as_json:
        for x in rows:
            emit_json(x)
        return
    if as_csv:
        from netvault.audit.exposure import Exposed
        from netvault.cli.output import write_csv

        write_csv(({**x.to_dict(), "incidents": " ".join(x.incidents), "flags": " ".join(x.flags)} for x in rows),
                  Exposed.__dataclass_fields__)
        return
    from netvault.values.text import shown_reference

    table(
        [{**x.to_dict(), "record": x.record or ("(every record)" if x.status == "rotate-all" else "#" + (x.record_id or "?")[:12]),
          "last_reveal": x.last_reveal[:19].replace("T", " "),
          "incidents": [shown_reference(i) for i in x.incidents], "flags": ",".join(x.flags) or None} for x in rows],
        [("customer", "customer"), ("record", "record"), ("reveals", "reveals"), ("last_reveal", "last reveal"),
         ("incidents", "incidents"), ("status", "status"), ("rotated_at", "rotated at"), ("detail", "evidence"),
         ("flags", "flags")],
        empty=f"({user} revealed nothing in these files)",
    )
    todo = sum(1 for x in rows if x.status == "rotate")
    if todo:
        info(f"{todo} credential(s) to rotate")
    unknown = sum(1 for x in rows if x.status == "unknown")
    if unknown:
        info(f"{unknown} credential(s) with unknown status: check them (see the evidence column)")
    everything = sorted({x.customer for x in rows if x.status == "rotate-all"})
    if everything:
        warn(f"a reveal whose record cannot be named: rotate every credential of {', '.join(everything)}")


@app.command("report")
def report_cmd(
    out: Annotated[Path, typer.Option("--out", "-o", help="HTML file to write.")],
    file: FileOpt = None,
    audit_dir: AuditDirOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    customer: Annotated[Optional[str], typer.Option("--customer", help="Only this customer.")] = None,
    office_hours: Annotated[str, typer.Option("--office-hours", help="Office hours as START-END (hours), e.g. 8-18.")] = "8-18",
    utc_offset: Annotated[float, typer.Option("--utc-offset", help="Office time zone as hours from UTC, e.g. 1 or -5.")] = 0.0,
    incident_customers: Annotated[int, typer.Option("--incident-customers", help="Flag an incident reference used in at least this many customers.")] = 3,
    offline: OfflineOpt = False,
    as_json: JsonOption = False,
) -> None:
    """Write one self-contained HTML page for the auditor (no scripts, no network).

    Counts, reveals per engineer and per customer over time (charts), denied
    attempts, reveals outside office hours, self-granted access, incident
    references used across many customers.

    Example:  netvault audit report --since 30d --out report.html
    """
    from netvault.audit import report
    from netvault.audit.events import Filters, events
    from netvault.errors import UsageError

    try:
        start_h, end_h = (int(x) for x in office_hours.split("-"))
        if not (0 <= start_h < end_h <= 24):
            raise ValueError
    except ValueError:
        raise UsageError(f"--office-hours {office_hours!r}: expected START-END hours, e.g. 8-18") from None
    if incident_customers < 2:
        raise UsageError("--incident-customers must be at least 2")
    paths = _files(file, audit_dir)
    filters = Filters(customer=customer, since=_bound(since), until=_bound(until, end=True))
    opts = report.ReportOptions(office_start=start_h, office_end=end_h, utc_offset_hours=utc_offset,
                                incident_customers=incident_customers)
    resolver = _resolver(offline)
    if resolver is not None:
        m = _settings().mounts
        opts.known_people, opts.known_customers = report.known_names(resolver.vault, m.kv, m.userpass)
    step, done = _progress(paths)
    resolver = _resolver(offline)
    vault = resolver.vault if resolver is not None else None
    from netvault.audit.review import stored_reviews

    foreign: set[str] = set()
    try:
        result = report.write(
            out, events(paths, filters=filters, mounts=_settings().mounts, resolver=resolver, progress=step,
                        break_glass=_break_glass(vault), unconfigured=foreign),
            opts, generated=_now_text(), stored_reviews=stored_reviews(vault, _settings().mounts.kv),
            # a review names no customer: with --customer, its writes come from a pass of their own
            review_events=events(paths, filters=Filters(actions=("review",), since=filters.since, until=filters.until),
                                 mounts=_settings().mounts) if customer else (),
            scope=", ".join(filter(None, [f"customer {customer}" if customer else None,
                                           f"since {filters.since}" if since else None,
                                           f"until {filters.until}" if until else None])) or "everything",
            sources=[Path(p).name for p in paths],
        )
    except OSError as exc:
        raise UsageError(f"cannot write {out}: {exc.strerror}") from None
    finally:
        done()
    _warn_unconfigured(foreign)
    if as_json:
        emit_json(result)
        return
    info(f"wrote {out} (mode 0600): {result.events} events, {result.engineers} people, {result.customers} customers"
         + (f", {result.unknown_names} unknown name(s) tried" if result.unknown_names else ""))


REVIEW_COLUMNS = [
    ("event", "event"), ("time", "time"), ("engineer", "engineer"), ("customer", "customer"), ("record", "record"),
    ("incident", "reference"), ("outcome", "outcome"), ("reviewer", "reviewed by"), ("note", "note"), ("flags", "flags"),
]


@app.command("review")
def review_cmd(
    file: FileOpt = None,
    ack: Annotated[Optional[str], typer.Option("--ack", help="Record the review of this break-glass reveal (its EVENT id).")] = None,
    note: Annotated[Optional[str], typer.Option("--note", help="With --ack: what was checked (one line).")] = None,
    all_: Annotated[bool, typer.Option("--all", help="List reviewed break-glass reveals too.")] = False,
    since: SinceOpt = None,
    as_json: JsonOption = False,
) -> None:
    """Break-glass reveals not reviewed yet; --ack EVENT --note TEXT reviews one.

    A review is written once (append-only, Vault-enforced) by a team lead or
    an auditor; the reviewer shown is the person Vault binds to that write in
    the trail. Nobody reviews their own break-glass reveal.

    Example:  netvault audit review
    Example:  netvault audit review --ack 3f0c…-… --note "INC-42 confirmed with the customer"
    """
    from netvault.audit import review
    from netvault.audit.events import Filters, events
    from netvault.errors import NotFound, PermissionDenied, UsageError

    settings = _settings()
    if (ack is None) != (note is None):
        raise UsageError("--ack EVENT and --note TEXT go together")
    paths = _files(file)
    vault = _vault(required=ack is not None)
    step, done = _progress(paths)
    foreign: set[str] = set()
    try:
        evs = list(events(paths, filters=Filters(actions=("reveal", "review"), since=_bound(since)),
                          mounts=settings.mounts, resolver=_resolver(False) if vault is not None else None,
                          progress=step, break_glass=_break_glass(vault), unconfigured=foreign))
    finally:
        done()
    _warn_unconfigured(foreign)
    rows = review.combine(evs, review.stored_reviews(vault, settings.mounts.kv))
    if ack is not None:
        review.event_id(ack)
        target = next((r for r in rows if r.event == ack), None)
        if target is None:
            raise NotFound(f"no break-glass reveal {ack} in the audit files read")
        from netvault.access.grants import caller_name

        if target.engineer and caller_name(vault) == target.engineer:
            raise PermissionDenied("nobody reviews their own break-glass reveal; ask another team lead or an auditor")
        done_ = review.ack(vault, ack, note, now=_now(), kv=settings.mounts.kv)
        info(f"reviewed {ack}")
        if as_json:
            emit_json(done_)
        return
    shown = rows if all_ else [r for r in rows if not r.reviewed]
    if as_json:
        emit_json(shown)
        return
    from netvault.values.text import shown_reference

    table([{**r.to_dict(), "time": r.time[:19].replace("T", " "), "incident": shown_reference(r.incident),
            "flags": ",".join(r.flags) or None} for r in shown], REVIEW_COLUMNS,
          empty="(no unreviewed break-glass reveals)" if not all_ else "(no break-glass reveals)")


@app.command("watch")
def watch_cmd(
    file: FileOpt = None,
    webhook: Annotated[Optional[str], typer.Option("--webhook", help="Incoming-webhook URL (Slack, Mattermost, …): one JSON {\"text\"} POST per event. Default: print.")] = None,
    on: Annotated[Optional[str], typer.Option("--on", help="Comma-separated: break-glass,request,denied-burst (default: all).")] = None,
    from_start: Annotated[bool, typer.Option("--from-start", help="Also report what the file(s) already hold.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Follow the audit file(s) like `tail -F` (surviving rotation) and notify.

    Posts one message per break-glass reveal, access request or decision, and
    burst of denied requests by one person, to a webhook, or prints it
    (stdout; --json: the message with its event). Runs until interrupted.

    Example:  netvault audit watch --webhook https://chat.example/hooks/abc --on break-glass,request
    """
    import time

    from netvault.audit import watch
    from netvault.audit import default_audit_file
    from netvault.errors import NetvaultError

    kinds = watch.parse_kinds(on)
    if webhook:
        watch.check_webhook(webhook)
    paths = [str(f) for f in file] if file else [str(default_audit_file(_settings()))]
    vault = _vault(required=False)
    w = watch.Watch(kinds=kinds, mounts=_settings().mounts, break_glass=_break_glass(vault))

    def sink(msg) -> None:
        if webhook:
            try:
                watch.post(webhook, msg)
            except NetvaultError as exc:
                warn(f"{exc.message}; the message was: {msg.text}")
            return
        if as_json:
            emit_json(msg)
        else:
            from netvault.values.text import printable

            sys.stdout.write(printable(msg.text) + "\n")
        sys.stdout.flush()

    try:
        watch.run(paths, sink, watch=w, stop=lambda: False, sleep=time.sleep, from_start=from_start,
                  on_ready=lambda: info(f"watching {', '.join(paths)} for {', '.join(kinds)} (Ctrl-C stops)"))
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
