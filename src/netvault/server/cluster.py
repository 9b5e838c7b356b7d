"""A 3-node OpenBao raft cluster on 127.0.0.1: the production shape, locally.

Each node runs in its own directory (``<base>/node1`` ...) with its own ports,
its own copy of the same static auto-unseal key, ``retry_join`` blocks naming
the other nodes, and the same audit stanza with a *relative* file path, so
each node writes ``audit.log`` in its own directory (OpenBao replicates the
audit table: every node must declare the same device). Node directories use
the embedded server's layout (``embedded.Paths``)::

    <base>/cluster.json   ports of the nodes
    <base>/init.json      recovery keys + root token (0600)
    <base>/nodeN/         config.hcl unseal.key audit.log raft/ server.pid server.log

Used by ``scripts/cluster`` and the failover test. No printing here.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from netvault.local import config
from netvault.server import embedded
from netvault.errors import NetvaultError, Unreachable, UsageError
from netvault.values.results import json_result, to_json

NODES = 3
SEAL_KEY_ID = "netvault-cluster-1"


@json_result
@dataclass
class NodeInfo:
    name: str
    address: str
    dir: str
    audit_file: str
    pid: int | None
    running: bool
    initialized: bool | None = None
    sealed: bool | None = None
    role: str | None = None  # active | standby | None (down)

    def to_dict(self) -> dict:
        return to_json(self)


@json_result
@dataclass
class ClusterInfo:
    base: str
    addresses: list[str]
    init_file: str
    nodes: list[NodeInfo] = field(default_factory=list)
    leader: str | None = None
    first_start: bool = False

    @property
    def address(self) -> str:
        """All nodes, comma-separated: what VAULT_ADDR / the config take."""
        return ",".join(self.addresses)

    @property
    def audit_files(self) -> list[str]:
        return [n.audit_file for n in self.nodes]

    JSON_EXTRA = ("address",)

    def to_dict(self) -> dict:
        return to_json(self)


def _base(base: Path) -> Path:
    return Path(base).expanduser().resolve()


def _node_dir(base: Path, i: int) -> Path:
    return _base(base) / f"node{i}"


def _read_ports(base: Path) -> list[int] | None:
    try:
        ports = json.loads((_base(base) / "cluster.json").read_text())["ports"]
    except (OSError, ValueError, KeyError):
        return None
    return [int(p) for p in ports]


def _ports(base: Path) -> list[int]:
    ports = _read_ports(base)
    if ports:
        return ports
    ports = []
    while len(ports) < NODES:
        p = embedded.free_port()
        if all(abs(p - q) > 1 for q in ports):
            ports.append(p)
    config.write_private(_base(base) / "cluster.json", json.dumps({"ports": ports}).encode())
    return ports


def render_node_config(paths: embedded.Paths, i: int, ports: list[int]) -> str:
    port = ports[i - 1]
    joins = "".join(
        f'  retry_join {{\n    leader_api_addr = "http://127.0.0.1:{p}"\n  }}\n'
        for j, p in enumerate(ports, 1) if j != i
    )
    return f"""# Written by netvault's cluster script on each start.
ui           = false
api_addr     = "http://127.0.0.1:{port}"
cluster_addr = "http://127.0.0.1:{port + 1}"

storage "raft" {{
  path    = {json.dumps(str(paths.raft))}
  node_id = "node{i}"
  performance_multiplier = 1
{joins}}}

listener "tcp" {{
  address         = "127.0.0.1:{port}"
  cluster_address = "127.0.0.1:{port + 1}"
  tls_disable     = true
}}

seal "static" {{
  current_key_id = "{SEAL_KEY_ID}"
  current_key    = "file://{paths.seal_key}"
}}

# The same on every node: a relative path, so each node writes its own file
# in its own directory (the process's working directory).
audit "file" "netvault" {{
  options {{
    file_path = "audit.log"
    mode      = "0600"
  }}
}}
"""


def start_node(base: Path, i: int, *, die_with_parent: bool = False) -> int:
    """Start node i (1-based) if it is not running; returns its pid."""
    base = _base(base)
    ports = _ports(base)
    paths = embedded.Paths(_node_dir(base, i))
    paths.root.mkdir(parents=True, exist_ok=True, mode=0o700)
    current = embedded._read_pid(paths)
    if current and embedded._pid_alive(current) and embedded._pid_is_ours(current, paths):
        return current
    for p in (ports[i - 1], ports[i - 1] + 1):
        if not embedded._port_free(p):
            raise NetvaultError(f"port {p} on 127.0.0.1 is in use; `scripts/cluster down` or remove {base / 'cluster.json'}")
    shared_key = base / "unseal.key"
    if not shared_key.exists():
        config.write_private(shared_key, os.urandom(32))
    if not paths.seal_key.exists():  # each host holds its own copy of the same key
        config.write_private(paths.seal_key, shared_key.read_bytes())
    paths.raft.mkdir(exist_ok=True, mode=0o700)
    config.write_private(paths.config, render_node_config(paths, i, ports).encode())
    address = f"http://127.0.0.1:{ports[i - 1]}"
    fd = os.open(paths.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "ab") as log:
        proc = subprocess.Popen(
            [embedded.find_bao(), "server", f"-config={paths.config}"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, cwd=paths.root,
            preexec_fn=embedded._die_with_parent if die_with_parent else None,
        )
    config.write_private(paths.pid, f"{proc.pid}\n".encode())
    config.write_private(paths.state, json.dumps({"address": address, "port": ports[i - 1]}).encode())
    return proc.pid


def kill_node(base: Path, i: int, sig: int = signal.SIGKILL) -> int | None:
    """Send ``sig`` to node i (the failover test's SIGKILL); returns the pid."""
    paths = embedded.Paths(_node_dir(base, i))
    pid = embedded._read_pid(paths)
    if not pid or not embedded._pid_alive(pid):
        return None
    os.kill(pid, sig)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and embedded._pid_alive(pid):
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.02)
    paths.pid.unlink(missing_ok=True)
    return pid


def _health(address: str) -> dict | None:
    from netvault.vault.client import ClientConfig

    try:
        return ClientConfig.local(address).probe(timeout=2).health()
    except NetvaultError:
        return None


def status(base: Path, *, token: str | None = None) -> ClusterInfo:
    base = _base(base)
    ports = _read_ports(base) or []
    info = ClusterInfo(str(base), [f"http://127.0.0.1:{p}" for p in ports], str(base / "init.json"))
    for i, port in enumerate(ports, 1):
        paths = embedded.Paths(_node_dir(base, i))
        pid = embedded._read_pid(paths)
        running = bool(pid and embedded._pid_alive(pid) and embedded._pid_is_ours(pid, paths))
        node = NodeInfo(f"node{i}", f"http://127.0.0.1:{port}", str(paths.root), str(paths.audit),
                        pid if running else None, running)
        if running:
            h = _health(node.address)
            if h:
                node.initialized = bool(h.get("initialized"))
                node.sealed = bool(h.get("sealed"))
                if node.initialized and not node.sealed:
                    node.role = "standby" if h.get("standby") else "active"
                    if node.role == "active":
                        info.leader = node.address
        info.nodes.append(node)
    return info


def root_token(base: Path) -> str:
    try:
        return json.loads((_base(base) / "init.json").read_text())["root_token"]
    except (OSError, ValueError, KeyError):
        raise NetvaultError(f"{_base(base) / 'init.json'} is missing or corrupt") from None


def _wait(what: str, check, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.1)
    raise Unreachable(f"the cluster did not {what} within {timeout:.0f}s (see node*/server.log)")


def wait_leader(base: Path, timeout: float = 60.0) -> str:
    return _wait("elect a leader", lambda: status(base).leader, timeout)


def wait_all_unsealed(base: Path, timeout: float = 90.0) -> ClusterInfo:
    def ok():
        info = status(base)
        return info if all(n.running and n.initialized and n.sealed is False for n in info.nodes) and info.leader else None

    return _wait("unseal every node", ok, timeout)


def up(base: Path, *, timeout: float = 90.0, die_with_parent: bool = False) -> ClusterInfo:
    """Start every node (initialising the cluster on the first start) and wait
    until all are unsealed and one is active."""
    from netvault.vault.client import ClientConfig

    base = _base(base)
    try:
        base.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise UsageError(f"cluster dir {base} cannot be created: {exc.strerror}") from None
    ports = _ports(base)
    fresh = not (base / "init.json").exists()
    # A new cluster: node1 alone is initialised first; a node that joins while
    # node1 is being initialised can miss the keyring and stay sealed (seen on
    # a loaded machine). Afterwards the others join it with retry_join.
    for i in ([1] if fresh else range(1, NODES + 1)):
        start_node(base, i, die_with_parent=die_with_parent)
    first = f"http://127.0.0.1:{ports[0]}"
    health = _wait("answer", lambda: _health(first), timeout)
    first_start = False
    if not health.get("initialized"):
        init = base / "init.json"
        if init.exists():
            raise NetvaultError(f"node1 is uninitialised but {init} exists: storage was lost; move init.json away to start afresh")
        resp = ClientConfig.local(first).once(None, timeout=60).request(
            "POST", "sys/init", {"recovery_shares": 5, "recovery_threshold": 3})
        config.write_private(init, json.dumps({
            "root_token": resp["root_token"], "recovery_keys_b64": resp.get("recovery_keys_b64", []),
            "recovery_threshold": 3, "addresses": [f"http://127.0.0.1:{p}" for p in ports],
        }, indent=2).encode())
        first_start = True
    if fresh:
        _wait("elect node1", lambda: (status(base).leader or "").endswith(f":{ports[0]}"), timeout)
        for i in range(2, NODES + 1):
            start_node(base, i, die_with_parent=die_with_parent)
    info = wait_all_unsealed(base, timeout)
    info.first_start = first_start
    return info


def raft_peers(address: str, token: str, cacert: str | None = None) -> list[dict]:
    """Raft peers and their health as the active node's autopilot sees them
    (``sys/storage/raft/autopilot/state``; needs a token that may read it)."""
    from netvault.vault.client import ClientConfig

    return peers_of(ClientConfig.local(address, cacert=cacert).vault(token, retries=0, failover_seconds=10))


def peers_of(vault) -> list[dict]:
    state = ((vault.request("GET", "sys/storage/raft/autopilot/state") or {}).get("data") or {})
    servers = state.get("servers") or {}
    return [{
        "node_id": s.get("id") or name, "address": s.get("address"),
        "leader": s.get("status") == "leader", "voter": s.get("status") in ("voter", "leader"),  # node_type is the intent, status the fact
        "healthy": bool(s.get("healthy")), "status": s.get("status"), "node_status": s.get("node_status"),
        "last_contact": s.get("last_contact"),
    } for name, s in sorted(servers.items())]


def wait_voters(base: Path, timeout: float = 60.0) -> list[dict]:
    """Wait until every node is a healthy raft voter (autopilot promotes a
    joined node after its stabilisation time, ~10 s): only then does the
    cluster survive losing its leader."""
    token = root_token(base)

    def ok():
        info = status(base)
        if not info.leader:
            return None
        try:
            peers = raft_peers(info.address, token)
        except NetvaultError:
            return None
        good = [p for p in peers if p["voter"] and p["healthy"]]
        return peers if len(good) == len(info.nodes) else None

    return _wait("promote every node to a healthy voter", ok, timeout)


def down(base: Path) -> ClusterInfo:
    base = _base(base)
    info = status(base)
    for i, node in enumerate(info.nodes, 1):
        paths = embedded.Paths(_node_dir(base, i))
        pid = embedded._read_pid(paths)
        if node.running and pid:
            embedded._stop_pid(pid, paths)
        else:
            paths.pid.unlink(missing_ok=True)
        node.running, node.pid, node.role = False, None, None
    info.leader = None
    return info
