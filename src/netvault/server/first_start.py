"""First start of the embedded server: set it up, make the first admin, log in."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from netvault.local import config
from netvault.server import embedded
from netvault.server import setup as layout
from netvault.local import session
from netvault.local import tokens
from netvault.vault.client import ClientConfig

FIRST_ADMIN = "admin"


def first_start(info: embedded.ServerInfo, admin_user: str = FIRST_ADMIN) -> dict:
    """Run setup with the root token, create the first admin, log the local user in.

    The admin's initial password goes into init.json beside the root token
    (both belong offline); it is never printed.
    """
    paths = embedded.Paths(Path(info.data_dir))
    root = embedded.root_token(paths.root)
    mounts = config.load().mounts
    ca = info.cacert
    result = layout.run_setup(ClientConfig.local(info.address, cacert=ca).admin(root), mounts, audit_path=str(paths.audit))
    from netvault.access.people import create_user

    password = secrets.token_urlsafe(24)
    vault = ClientConfig.local(info.address, cacert=ca).vault(root)
    create_user(vault, mounts.userpass, admin_user, password, "admin", kv=mounts.kv)
    init = json.loads(paths.init.read_text())
    init["first_admin"] = {"username": admin_user, "password": password}
    config.write_private(paths.init, json.dumps(init, indent=2).encode())
    token = session.userpass_login(ClientConfig.local(info.address, cacert=ca).vault(None), mounts.userpass, admin_user, password)["client_token"]
    warning = tokens.save(info.address, token)
    # cacert: the private CA of a --tls-generate server (None removes a stale one)
    config.update_file({"address": info.address, "user": admin_user, "data_dir": info.data_dir, "cacert": ca})
    return {"setup_applied": result.applied, "admin_user": admin_user, "keyring_warning": warning}


def after_restart(info: embedded.ServerInfo) -> dict:
    """Every later start: check the setup, and put back what OpenBao forgets.

    OpenBao does not keep a tune of the identity mount across a restart
    (checked with 2.7.2): without it grant group names are HMAC'd in the audit
    log again. So each start re-applies that one item and reports any other
    drift at once. Uses the root token while init.json is still there, else
    the stored login (an admin's); without either it says what to run.
    """
    from netvault.errors import NetvaultError

    paths = embedded.Paths(Path(info.data_dir))
    try:
        token = embedded.root_token(paths.root)
    except NetvaultError:
        token = session.current_token(config.load())
    if not token:
        return {"checked": False, "why": "no admin token (init.json moved offline and not logged in)"}
    mounts = config.load().mounts
    client = ClientConfig.local(info.address, cacert=info.cacert).admin(token)
    try:
        items = layout.run_setup(client, mounts, check=True).items
        reapplied = []
        for item in items:
            if item.name.startswith("identity mount") and not item.in_sync and item.fix:
                item.fix()
                reapplied.append(item.name)
        drift = [i for i in items if not i.in_sync and i.name not in reapplied]
    except NetvaultError as exc:
        return {"checked": False, "why": exc.message}
    return {"checked": True, "reapplied": reapplied,
            "drift": [f"{i.name}: {i.detail}" for i in drift if not i.name.startswith("audit device")]}
