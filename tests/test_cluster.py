"""The 3-node raft cluster: failover under load (SIGKILL of the active node),
the merged audit trail over the nodes' own files, and the client's address list.

Marked ``cluster``: runs in CI by default; ``-m "not cluster"`` skips it locally.
The longest pause any operation saw is printed and written to
``$NETVAULT_FAILOVER_REPORT`` (default: cluster-failover.json in the test's
temp dir); it is never asserted on.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import hvac
import pytest

from netvault.server import cluster
from netvault.local import config
from netvault.server import setup as layout
from netvault.records import lookup
from netvault.audit.reader import entries
from netvault.vault.client import Vault, admin_client
from netvault.records.store import Store
from netvault.access.people import create_user

pytestmark = [pytest.mark.cluster, pytest.mark.server]


@pytest.fixture(scope="module")
def cl(tmp_path_factory):
    base = tmp_path_factory.mktemp("cluster")
    try:
        info = cluster.up(base, die_with_parent=True)
        root = cluster.root_token(base)
        layout.run_setup(admin_client(info.address, root), config.Mounts())
        cluster.wait_voters(base, timeout=90)
        yield base, cluster.status(base), root
    finally:
        cluster.down(base)


def _run(env: dict, *args: str, input: str | None = None) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
    full.update(env)
    return subprocess.run([sys.executable, "-m", "netvault", *args], env=full, input=input,
                          capture_output=True, text=True, timeout=180)


def _user(address: str, root: str, role: str) -> tuple[str, str]:
    name = f"{role.replace('-', '')}-{secrets.token_hex(3)}"
    password = secrets.token_urlsafe(16)
    entity = create_user(Vault(address, root), "userpass", name, password, role)
    token = Vault(address, None).write(f"auth/userpass/login/{name}", {"password": password})["auth"]["client_token"]
    return token, entity


def test_cluster_nodes_write_their_own_audit_files_and_know_each_other(cl):
    base, info, root = cl
    assert len(info.nodes) == 3
    assert sum(n.role == "active" for n in info.nodes) == 1
    assert all(n.sealed is False for n in info.nodes)  # auto-unsealed with the static key
    assert len({n.audit_file for n in info.nodes}) == 3
    assert all(Path(n.audit_file).parent == Path(n.dir) for n in info.nodes)
    peers = cluster.raft_peers(info.address, root)
    assert sorted(p["node_id"] for p in peers) == ["node1", "node2", "node3"]
    assert all(p["voter"] and p["healthy"] for p in peers)
    keys = {(Path(n.dir) / "unseal.key").read_bytes() for n in info.nodes}
    assert len(keys) == 1  # the same static key on every node
    assert all(oct((Path(n.dir) / "unseal.key").stat().st_mode & 0o777) == "0o600" for n in info.nodes)


def test_client_with_several_addresses_skips_a_dead_one_and_says_which_answered(cl, tmp_path):
    base, info, root = cl
    from netvault.server.embedded import free_port

    dead = f"http://127.0.0.1:{free_port()}"
    now = cluster.status(base)
    standbys = [n.address for n in now.nodes if n.role == "standby"]
    # a dead address and the standbys first: the active node answers (standbys
    # of OpenBao answer reads from their own copy, which may lag)
    order = [dead, *standbys, now.leader]
    env = {"VAULT_ADDR": ",".join(order), "VAULT_TOKEN": root, "NETVAULT_VERBOSE": "1",
           "NETVAULT_CONFIG_DIR": str(tmp_path / "cfg"), "NETVAULT_KEYRING": "file"}
    res = _run(env, "whoami", "--json")
    assert res.returncode == 0, res.stderr
    assert f"netvault: answered by {now.leader}\n" in res.stderr
    # the same from the config file's address list, with --verbose
    env.pop("VAULT_ADDR")
    env.pop("NETVAULT_VERBOSE")
    config.update_file({"addresses": [dead, *info.addresses]}, tmp_path / "cfg" / "config.toml")
    res = _run(env, "--verbose", "whoami")
    assert res.returncode == 0, res.stderr
    assert res.stderr.count("answered by") == 1


def test_failover_under_load_loses_nothing(cl, tmp_path):
    """Reveals and check-and-set writes run while the active node is SIGKILLed
    and later restarted: no operation fails, no acknowledged write is lost,
    every reveal is in the merged trail exactly once."""
    base, info, root = cl
    address = info.address
    admin_token, _ = _user(address, root, "admin")
    eng_token, eng_entity = _user(address, root, "engineer")
    customer = f"fo-{secrets.token_hex(3)}"
    store = Store(Vault(address, admin_token))
    store.add_customer(customer, {"company": "Failover BV"})
    hvac.Client(url=cluster.status(base).leader, token=root).secrets.identity.create_or_update_group_by_name(
        name=f"nv-grant:{customer}:eng", policies=f"nv-customer-{customer}", member_entity_ids=[eng_entity])
    passwords = {f"cred{i}": f"pw-{i}-{secrets.token_hex(4)}" for i in range(4)}
    for name, pw in passwords.items():
        store.add_credential(customer, name, secrets={"password": pw})

    stop = threading.Event()
    failures: list[str] = []
    latencies: list[float] = []
    revealed: list[str] = []  # incident references of reveals that returned the right value
    acked: dict[str, list[int]] = {}  # write path -> acknowledged versions (data n == version)
    lock = threading.Lock()

    def timed(op):
        start = time.monotonic()
        try:
            return op()
        finally:
            with lock:
                latencies.append(time.monotonic() - start)

    def revealer(k: int) -> None:
        vault = Vault(address, eng_token)
        n = 0
        while not stop.is_set():
            n += 1
            ref = f"INC-{k}{n:05d}{secrets.token_hex(2)}"
            name = f"cred{n % len(passwords)}"
            try:
                _, value = timed(lambda: lookup.reveal(vault, "netvault", "netvault-transit", customer, name, reference=ref))  # noqa: B023 - called at once
            except Exception as exc:  # noqa: BLE001 - every failure is counted
                failures.append(f"reveal {ref}: {type(exc).__name__}: {exc}")
                continue
            if value != passwords[name]:
                failures.append(f"reveal {ref}: wrong value")
            with lock:
                revealed.append(ref)

    def writer(k: int) -> None:
        s = Store(Vault(address, admin_token))
        path = f"_load/{customer}/w{k}"
        acked[path] = []
        version = 0
        while not stop.is_set():
            try:
                got = timed(lambda: s.put(path, {"n": version + 1, "pad": secrets.token_hex(8)}, cas=version))  # noqa: B023 - called at once
            except Exception as exc:  # noqa: BLE001
                failures.append(f"write {path} v{version + 1}: {type(exc).__name__}: {exc}")
                time.sleep(0.2)
                continue
            if got != version + 1:
                failures.append(f"write {path}: acknowledged version {got}, expected {version + 1}")
            version = got
            with lock:
                acked[path].append(got)

    threads = [threading.Thread(target=revealer, args=(k,)) for k in (1, 2)]
    threads += [threading.Thread(target=writer, args=(k,)) for k in (1, 2)]
    for t in threads:
        t.start()
    events = {}
    try:
        time.sleep(3)
        leader = cluster.status(base).leader
        killed = next(i for i, n in enumerate(cluster.status(base).nodes, 1) if n.address == leader)
        events["killed"] = f"node{killed}"
        cluster.kill_node(base, killed, signal.SIGKILL)
        t0 = time.monotonic()
        new_leader = cluster.wait_leader(base, timeout=60)
        events["new_leader_after_s"] = round(time.monotonic() - t0, 2)
        events["new_leader"] = new_leader
        time.sleep(4)
        cluster.start_node(base, killed, die_with_parent=True)
        cluster.wait_all_unsealed(base, timeout=90)
        time.sleep(4)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=120)

    assert failures == []
    assert len(revealed) > 20 and all(len(v) > 5 for v in acked.values())

    # No acknowledged write lost: the stored version is the last acknowledged
    # one, and every version still kept (kv-v2 keeps 10) holds its own number.
    check = Vault(address, root)
    for path, versions in acked.items():
        assert versions == list(range(1, len(versions) + 1))
        meta = check.read(f"netvault/metadata/{path}")["data"]
        assert meta["current_version"] == versions[-1]
        for v in versions[-10:]:
            data = check.read(f"netvault/data/{path}?version={v}")["data"]["data"]
            assert data["n"] == v

    # Every reveal exactly once in the trail merged from the three nodes' files.
    files = [n.audit_file for n in cluster.status(base).nodes]
    counts: dict[str, int] = {}
    for e in entries(files, needle=customer.encode()):
        req = e.doc.get("request") or {}
        if e.paired and "/decrypt/" in req.get("path", "") and not e.doc.get("error"):
            ref = (req.get("data") or {}).get("reference")
            counts[ref] = counts.get(ref, 0) + 1
    assert {r: counts.get(r, 0) for r in revealed if counts.get(r, 0) != 1} == {}
    # ... and the same through the CLI: `netvault audit log` over all files.
    env = {"VAULT_ADDR": address, "VAULT_TOKEN": root, "NETVAULT_CONFIG_DIR": str(tmp_path / "cfg"),
           "NETVAULT_KEYRING": "file"}
    args = ["audit", "log", "--customer", customer, "--action", "reveal", "--json", "--offline"]
    for f in files:
        args += ["--file", f]
    res = _run(env, *args)
    assert res.returncode == 0, res.stderr
    rows = [json.loads(line) for line in res.stdout.splitlines() if line.strip()]
    refs = [r["incident"] for r in rows if r["outcome"] == "allowed"]
    assert sorted(refs) == sorted(revealed)

    pause = max(latencies)
    report = {"operations": len(latencies), "reveals": len(revealed),
              "writes": sum(len(v) for v in acked.values()), "longest_pause_s": round(pause, 3), **events}
    out = Path(os.environ.get("NETVAULT_FAILOVER_REPORT", tmp_path / "cluster-failover.json"))
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nfailover: {json.dumps(report)}")


def test_seal_and_verify_cover_every_nodes_file(cl, tmp_path):
    """`audit seal` / `audit verify` over the three nodes' files (after the
    failover above, the trail is spread over them): clean, then an edit in one
    node's file is named."""
    base, info, root = cl
    files = [n.audit_file for n in cluster.status(base).nodes]
    env = {"VAULT_ADDR": cluster.status(base).address, "VAULT_TOKEN": root,
           "NETVAULT_CONFIG_DIR": str(tmp_path / "cfg"), "NETVAULT_KEYRING": "file"}
    fargs = [a for f in files for a in ("--file", f)]
    sealed = _run(env, "audit", "seal", *fargs, "--json")
    assert sealed.returncode == 0, sealed.stderr
    digests = [json.loads(line) for line in sealed.stdout.splitlines() if line.strip()]
    # one digest per node file with content (the killed leader's and its successor's at least;
    # a node that was never active has written nothing)
    written = [f for f in files if Path(f).stat().st_size > 0]
    assert len(written) >= 2 and len({d["file_id"] for d in digests}) == len(written)
    ok = _run(env, "audit", "verify", *fargs, "--json")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    # flip one byte inside the sealed part of one node's file
    victim = Path(written[-1])
    with open(victim, "r+b") as fh:
        fh.seek(200)
        byte = fh.read(1)
        fh.seek(200)
        fh.write(b"X" if byte != b"X" else b"Y")
    bad = _run(env, "audit", "verify", *fargs, "--json")
    assert bad.returncode == 9, bad.stdout + bad.stderr
    assert "edited" in bad.stdout
