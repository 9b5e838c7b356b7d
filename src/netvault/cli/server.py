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
    from netvault import config

    return data_dir or config.default_data_dir()


def _show(info_obj, as_json: bool) -> None:
    if as_json:
        emit_json(info_obj.to_dict())
        return
    fields([
        ("address", info_obj.address), ("running", info_obj.running), ("pid", info_obj.pid),
        ("sealed", info_obj.sealed), ("data_dir", info_obj.data_dir),
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
    as_json: JsonOption = False,
) -> None:
    """Start the embedded server in the background; the first start also sets it up.

    The first start initialises OpenBao, writes the recovery keys, root token
    and first admin password to DATA_DIR/init.json (mode 0600: move it
    offline), runs `netvault setup` and logs you in as that admin. Later
    starts keep the data. Running it twice is harmless.

    Example:  netvault server up --data-dir ~/nv-demo --port 18200
    """
    from netvault import bootstrap, embedded

    result = embedded.up(_dir(data_dir), port)
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
    _show(result, as_json)


@app.command("status")
def status(data_dir: DataDir = None, as_json: JsonOption = False) -> None:
    """Show whether the embedded server runs, where, and whether it is sealed.

    Exits 5 when it is not running, or when it runs but refuses every request
    because its audit device cannot write (disk full, permissions).

    Example:  netvault server status --json
    """
    from netvault import embedded
    from netvault.errors import Unreachable

    result = embedded.status(_dir(data_dir))
    _show(result, as_json)
    if not result.running:
        raise Unreachable(f"the embedded server in {result.data_dir} is not running; `netvault server up`")
    if result.audit_blocked:
        raise Unreachable("the embedded server runs but refuses every request: its audit device cannot write")


@app.command("down")
def down(data_dir: DataDir = None, as_json: JsonOption = False) -> None:
    """Stop the embedded server (data is kept; `server up` starts it again).

    Example:  netvault server down
    """
    from netvault import embedded

    before = embedded.status(_dir(data_dir))
    result = embedded.down(_dir(data_dir))
    info("stopped" if before.running else "was not running")
    if as_json:
        emit_json(result.to_dict())
