"""``netvault server up|status|down``: the embedded OpenBao."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from netvault.cli.output import JsonOption, emit_json, fields, info, warn

app = typer.Typer(help="Run the embedded OpenBao server (raft storage, audit file, auto-unseal).", no_args_is_help=True, rich_markup_mode=None)

DataDir = Annotated[
    Optional[Path],
    typer.Option("--data-dir", help="Server data dir (default: the user data dir, or $NETVAULT_DATA_DIR)."),
]


def _dir(data_dir: Path | None) -> Path:
    from netvault.local import config

    return data_dir or config.default_data_dir()


def _show(info_obj, as_json: bool) -> None:
    if as_json:
        emit_json(info_obj)
        return
    fields([
        ("address", info_obj.address), ("running", info_obj.running), ("pid", info_obj.pid),
        ("sealed", info_obj.sealed), ("data_dir", info_obj.data_dir), ("cacert", info_obj.cacert),
        ("audit_file", info_obj.audit_file), ("init_file", info_obj.init_file),
    ])
    if info_obj.audit_blocked:
        warn("the audit device cannot write" + (f" ({info_obj.audit_problem})" if info_obj.audit_problem else "")
             + ": Vault refuses every request until it can (it fails closed). Free disk space or fix the "
             "audit file's permissions, then `kill -HUP` the server (pid above) or restart it")


@app.command("up")
def up(
    data_dir: DataDir = None,
    port: Annotated[Optional[int], typer.Option("--port", help="Loopback port (default 18200; the next one is used for cluster traffic).")] = None,
    listen: Annotated[Optional[str], typer.Option("--listen", help="HOST:PORT to serve on; beyond loopback only with TLS (a team server).")] = None,
    tls_cert: Annotated[Optional[Path], typer.Option("--tls-cert", help="Server certificate (PEM, with chain) for --listen.")] = None,
    tls_key: Annotated[Optional[Path], typer.Option("--tls-key", help="Its private key (PEM).")] = None,
    tls_generate: Annotated[bool, typer.Option("--tls-generate", help="Make a private CA and server certificate in DATA_DIR/tls (a first try).")] = False,
    tls_san: Annotated[Optional[list[str]], typer.Option("--tls-san", help="Extra name or IP for the generated certificate (repeatable).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Start the embedded server in the background; the first start also sets it up.

    The first start initialises OpenBao, writes the recovery keys, root token
    and first admin password to DATA_DIR/init.json (mode 0600: move it
    offline), runs `netvault setup` and logs you in as that admin. Later
    starts keep the data. Running it twice is harmless.

    A team server: --listen 0.0.0.0:8200 with --tls-cert/--tls-key, or
    --tls-generate (its CA file is printed: engineers set VAULT_CACERT or
    `cacert` in their config to it). Plain HTTP beyond loopback is refused.

    Example:  netvault server up --data-dir ~/nv-demo --port 18200
              netvault server up --listen 0.0.0.0:8200 --tls-generate --tls-san vault.example.net
    """
    from netvault.server import first_start as bootstrap
    from netvault.server import embedded
    from netvault.errors import UsageError

    host = None
    if listen:
        if port:
            raise UsageError("give --listen HOST:PORT or --port, not both")
        host, port = embedded.parse_listen(listen)
    result = embedded.up(
        _dir(data_dir), port, host=host, tls_cert=str(tls_cert) if tls_cert else None,
        tls_key=str(tls_key) if tls_key else None, tls_generate=tls_generate, tls_sans=tls_san,
    )
    if result.already_running:
        info(f"already running at {result.address} (pid {result.pid})")
    elif result.first_start:
        boot = bootstrap.first_start(result)
        info(f"initialised a new server at {result.address}; logged in as {boot['admin_user']!r}")
        warn(f"{result.init_file} holds the recovery keys, root token and admin password: move it offline")
        if boot.get("keyring_warning"):
            warn(boot["keyring_warning"])
    else:
        info(f"started at {result.address} (pid {result.pid})")
        check = bootstrap.after_restart(result)
        if not check["checked"]:
            warn(f"setup not checked ({check['why']}); run `netvault setup --check` as an admin")
        for item in check.get("drift", []):
            warn(f"setup drift: {item}; run `netvault setup` as an admin")
    if result.cacert:
        info(f"TLS with a private CA: engineers trust {result.cacert} (VAULT_CACERT, or cacert in their config)")
    _show(result, as_json)


@app.command("status")
def status(
    data_dir: DataDir = None,
    backup_dir: Annotated[Optional[Path], typer.Option("--backup-dir", help="Where backups go (default: the directory of the last `server backup`).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Show the server: sealed, HA role, raft peers and their health, audit
    devices, the last backup and its age.

    The embedded server of DATA_DIR when it runs, else the configured address
    (VAULT_ADDR, several for a cluster). Raft peers and audit devices need an
    admin login. Exits 5 when no server answers, or when the embedded server
    runs but refuses every request because its audit device cannot write
    (disk full, permissions).

    Example:  netvault server status --json
    """
    from datetime import datetime, timezone

    from netvault.local import config
    from netvault.server import embedded
    from netvault.server import info as serverinfo
    from netvault.local import session
    from netvault.errors import Unreachable

    settings = config.load()
    local = embedded.status(_dir(data_dir))
    # Not the embedded server: the configured address (a team server or a
    # cluster), unless a data dir was named or the config belongs to this one.
    remote = (data_dir is None and settings.address != config.DEFAULT_ADDRESS
              and settings.data_dir != local.data_dir)
    if not local.running and not remote:
        _show(local, as_json)
        raise Unreachable(f"the embedded server in {local.data_dir} is not running; `netvault server up`")
    if local.running and local.audit_blocked:
        _show(local, as_json)
        raise Unreachable("the embedded server runs but refuses every request: its audit device cannot write")
    address = local.address if local.running else settings.address
    there = settings.with_address(address)
    token = session.current_token(there)
    cacert = (local.cacert if local.running else None) or settings.cacert
    vault = there.client.replace(cacert=cacert).once(token)
    where = backup_dir or config.read_file().get("backup_dir")
    over = serverinfo.overview(vault, now=datetime.now(timezone.utc), backup_dir=str(where) if where else None)
    if as_json:
        emit_json({**(local.to_dict() if local.running else {}), **over, "embedded": local.running})
        return
    peers = over["raft_peers"] or []
    last = over["last_backup"]
    rows = [("address", over["address"]), ("version", over["version"]),
            ("initialized", over["initialized"]), ("sealed", over["sealed"]),
            ("ha_role", over["ha_role"]), ("leader", over["leader"])]
    if local.running:
        rows += [("pid", local.pid), ("data_dir", local.data_dir), ("init_file", local.init_file)]
    rows += [(f"peer {p['node_id']}", f"{p['address']} {p['status']} {'healthy' if p['healthy'] else 'UNHEALTHY'}") for p in peers]
    rows += [(f"audit {d['path']}", f"{d['type']} {d['file_path'] or ''}".strip()) for d in over["audit_devices"] or []]
    rows.append(("last_backup", f"{last['time']} ({_age(last['age_s'])} ago) {last['file']}" if last else None))
    fields(rows)
    for note in over["notes"]:
        info(note)


def _age(seconds: int | None) -> str:
    from netvault.values.durations import format_seconds

    return "?" if seconds is None else format_seconds(seconds)


Confirm = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation (scripts).")]


@app.command("backup")
def backup_cmd(
    out: Annotated[Path, typer.Option("--out", "-o", help="Snapshot file, or a directory for a time-stamped name.")],
    keep: Annotated[Optional[int], typer.Option("--keep", help="Keep only the N newest netvault backups in that directory.")] = None,
    token_file: Annotated[Optional[Path], typer.Option("--token-file", help="Read the token from this file (the backup timer's nv-backup token); it is renewed.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Save a raft snapshot of the whole server, with a manifest (time, server
    version, sha256); both files 0600.

    Needs only the nv-backup policy (see `server backup-token`). A snapshot is
    useless without the server's unseal key: keep that key elsewhere.

    Example:  netvault server backup --out /var/backups/netvault/ --keep 14
    """
    from datetime import datetime, timezone

    from netvault.server import backup
    from netvault.local import config
    from netvault.local import session
    from netvault.errors import UsageError

    settings = config.load()
    vault = session.connect(settings, require_token=token_file is None)
    if token_file is not None:
        try:
            vault.token = token_file.expanduser().read_text().strip()
        except OSError as exc:
            raise UsageError(f"cannot read token file {token_file}: {exc.strerror}") from None
        if not vault.token:
            raise UsageError(f"token file {token_file} is empty")
    result = backup.take(vault, out, now=datetime.now(timezone.utc), keep=keep)
    if token_file is not None:
        backup.renew_self(vault)
    try:
        config.update_file({"backup_dir": str(Path(result.file).parent.resolve())})
    except Exception:  # noqa: BLE001 - a read-only config (a timer's user) is fine
        pass
    info(f"backup written: {result.file} ({result.size} bytes, {result.seconds:.1f} s); manifest {result.manifest}")
    for removed in result.removed:
        info(f"removed old backup {removed}")
    if as_json:
        emit_json(result)


@app.command("restore")
def restore_cmd(
    file: Annotated[Path, typer.Argument(help="Snapshot file written by `server backup`.")],
    yes: Confirm = False,
    as_json: JsonOption = False,
) -> None:
    """Replace ALL data of the running server with a backup (admin), then check
    that `setup --check` is clean and every customer's key and policy are there.

    Needs the same unseal key as the server the backup came from. Asks you to
    type a word (read from stdin when it is not a terminal); --yes skips that.

    Example:  netvault server restore /var/backups/netvault/netvault-20261128T020000Z.snap
    """
    import sys

    from netvault.server import backup
    from netvault.local import config
    from netvault.local import session
    from netvault.errors import NetvaultError, UsageError

    settings = config.load()
    vault = session.connect(settings)
    _, manifest = backup.verify_file(file)
    if not yes:
        when = (manifest or {}).get("time", "unknown time")
        sys.stderr.write(f"This replaces ALL data on {settings.address} with the backup of {when}.\n"
                         "Type restore to go on: ")
        sys.stderr.flush()
        if sys.stdin.readline().strip() != "restore":
            raise UsageError("not confirmed; nothing restored")
    result = backup.restore(vault, file, mounts=settings.mounts, cacert=settings.cacert)
    if as_json:
        emit_json(result)
    info(f"restored {file} (backup of {result.backup_time or 'unknown time'}) in {result.seconds:.1f} s")
    if result.note:
        warn(result.note)
    for item in result.repaired:
        info(f"re-applied after restore (not in the snapshot): {item}")
    for item in result.setup_drift:
        warn(f"setup drift after restore: {item}")
    for item in result.missing:
        warn(f"missing after restore: {item}")
    if result.checked and result.ok:
        info(f"checked: setup clean, {result.customers} customer(s) with key and policy")
    elif result.checked:
        raise NetvaultError("the restored state is incomplete (see the warnings); run `netvault setup`")


@app.command("backup-token")
def backup_token(
    out: Annotated[Path, typer.Option("--out", "-o", help="Write the token here (0600) for the backup timer.")],
    as_json: JsonOption = False,
) -> None:
    """Make a token of the nv-backup role (snapshot only) for a backup timer (admin).

    It is periodic: each `server backup --token-file` run renews it.

    Example:  netvault server backup-token --out /etc/netvault/backup.token
    """
    from netvault.server import backup
    from netvault.local import config
    from netvault.local import session

    vault = session.connect(config.load())
    made = backup.create_token(vault)
    config.write_private(out.expanduser(), (made["token"] + "\n").encode())
    info(f"nv-backup token written to {out} (accessor {made['accessor']})")
    if as_json:
        emit_json(backup.BackupToken(made["accessor"], made["policies"], made["period_s"], str(out)))


@app.command("down")
def down(data_dir: DataDir = None, as_json: JsonOption = False) -> None:
    """Stop the embedded server (data is kept; `server up` starts it again).

    Example:  netvault server down
    """
    from netvault.server import embedded

    before = embedded.status(_dir(data_dir))
    result = embedded.down(_dir(data_dir))
    info("stopped" if before.running else "was not running")
    if as_json:
        emit_json(result)
