"""scripts/cluster: up | status | down for the local 3-node cluster (netvault.server.cluster)."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

from netvault.server import cluster
from netvault.local import config
from netvault.errors import NetvaultError


def say(text: str) -> None:
    sys.stderr.write(text + "\n")


def _setup(info: cluster.ClusterInfo) -> None:
    """`netvault setup` against the cluster (root token), then a first admin."""
    root = cluster.root_token(Path(info.base))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
    env.update({"VAULT_ADDR": info.address, "VAULT_TOKEN": root})
    subprocess.run([sys.executable, "-m", "netvault", "setup"], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    from netvault.vault.client import Vault
    from netvault.access.people import create_user

    init_path = Path(info.init_file)
    init = json.loads(init_path.read_text())
    if "first_admin" not in init:
        password = secrets.token_urlsafe(24)
        mounts = config.load().mounts
        create_user(Vault(info.address, root), mounts.userpass, "admin", password, "admin", kv=mounts.kv)
        init["first_admin"] = {"username": "admin", "password": password}
        config.write_private(init_path, json.dumps(init, indent=2).encode())


def main(argv: list[str]) -> int:
    base = Path(os.environ.get("NETVAULT_CLUSTER_DIR", ".cluster"))
    command = argv[0] if argv else "status"
    as_json = "--json" in argv
    if command == "up":
        info = cluster.up(base)
        if info.first_start:
            _setup(info)
            say(f"initialised a 3-node cluster in {info.base}; ran `netvault setup`")
            say(f"warning: {info.init_file} holds the recovery keys, root token and the first admin's password: move it offline")
        else:
            say(f"cluster running in {info.base} (leader {info.leader})")
        say("waiting until every node is a healthy raft voter (~10 s after joining) ...")
        cluster.wait_voters(base, timeout=90)
        say(f"use it:  export VAULT_ADDR={info.address}   # then: netvault login admin")
    elif command == "down":
        info = cluster.down(base)
        say("stopped every node (data kept)")
    elif command == "status":
        info = cluster.status(base)
        if not info.nodes:
            say(f"no cluster in {base.resolve()}; `scripts/cluster up`")
            return 5
        peers = []
        if info.leader:
            try:
                peers = cluster.raft_peers(info.address, cluster.root_token(base))
            except NetvaultError as exc:
                say(f"raft peers unavailable: {exc}")
        if as_json:
            print(json.dumps({**info.to_dict(), "raft_peers": peers}, sort_keys=True))
        else:
            for n in info.nodes:
                state = n.role or ("sealed" if n.sealed else "down" if not n.running else "starting")
                print(f"{n.name}  {n.address}  {state:8}  pid {n.pid or '-'}  audit {n.audit_file}")
            for p in peers:
                print(f"raft peer {p['node_id']}  {p['address']}  {'leader' if p['leader'] else 'follower'}  {'voter' if p['voter'] else 'non-voter'}")
        return 0 if info.leader else 5
    else:
        say("usage: scripts/cluster up|status [--json]|down")
        return 2
    if as_json:
        print(json.dumps(info.to_dict(), sort_keys=True))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except NetvaultError as exc:
        say(f"error: {exc.message}")
        sys.exit(int(exc.exit_code))
    except BrokenPipeError:  # `scripts/cluster status | head`
        sys.exit(0)
    except subprocess.CalledProcessError:
        say("error: `netvault setup` against the cluster failed (see above)")
        sys.exit(1)
