"""Backup and restore (issue 13): `netvault server backup` and `server restore`
of a server holding 10,000 credentials (1,000 with --quick), as whole
processes, against the bao CLI's own `operator raft snapshot save/restore`.

The bao CLI's restore returns as soon as the server has accepted the
snapshot, before it has applied it; netvault's restore returns after the
restored state answers, re-applies what a snapshot does not carry and checks
setup and every customer's key and policy. So the restore row is reported,
not judged against bao.

``run(ctx)`` is called by scripts/bench.py.
"""

from __future__ import annotations

import sys
import time


def run(ctx) -> list[dict]:
    from netvault.records.store import Store

    n = 1000 if ctx.quick else 10000
    customers = [f"bk-{i:02d}" for i in range(10)]
    store = Store(ctx.gateway(), ctx.mounts)
    for c in customers:
        store.add_customer(c, {"company": c.upper()})
    ctx.log(f"backup: loading {n} credentials ...")
    start = time.perf_counter()
    ctx.parallel(list(range(n)), lambda client, i: Store(client, ctx.mounts).add_credential(
        customers[i % len(customers)], f"cred-{i:05d}", username="admin", secrets={"password": f"pw-{i}"}))
    ctx.log(f"backup: loaded in {time.perf_counter() - start:.1f} s")

    env = ctx.env(VAULT_TOKEN=ctx.root_token, NETVAULT_CONFIG_DIR=ctx.tmp / "config-backup")
    out = ctx.tmp / "backups"
    out.mkdir()
    ref = ctx.tmp / "bao.snap"
    Side = sys.modules["__main__"].Side  # scripts/bench.py's

    runs = 3
    save = [Side("netvault server backup", [[ctx.netvault, "server", "backup", "--out", f"{out}/", "--keep", "2"]], env),
            Side("bao operator raft snapshot save", [[ctx.bao, "operator", "raft", "snapshot", "save", str(ref)]], env)]
    nv_save, bao_save = ctx.time_alternating(save, runs=runs, warmup=1)
    snap = sorted(out.glob("*.snap"))[-1]
    size = snap.stat().st_size
    restore = [Side("netvault server restore", [[ctx.netvault, "server", "restore", str(snap), "--yes"]], env),
               Side("bao operator raft snapshot restore", [[ctx.bao, "operator", "raft", "snapshot", "restore", str(ref)]], env)]
    nv_restore, bao_restore = ctx.time_alternating(restore, runs=runs, warmup=0)
    return [
        ctx.row(f"backup of {n:,} records (raft snapshot + manifest)", nv_save, "bao operator raft snapshot save",
                bao_save, "within 2x of bao", 2.0, records=n, snapshot_bytes=size),
        ctx.row(f"restore of {n:,} records (incl. setup and key/policy checks)", nv_restore,
                "bao operator raft snapshot restore", bao_restore,
                "reported (bao returns before the restore is applied)", 1e9, records=n,
                snapshot_bytes=size),
    ]
