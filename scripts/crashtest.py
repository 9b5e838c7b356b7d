"""Crash test: kill device writers at random moments, count what doctor finds.

Each round starts ``--writers`` processes that each run one `netvault device
edit/rm/add` on a few shared devices, SIGKILLs a random half of them after a
random delay, waits for the rest, then runs `doctor` (read-only) and records
what it found: *missing* entries (a device that find cannot find: the real
harm) and *stale* ones (an entry pointing nowhere: harmless, find drops it).
At the end `doctor --repair` must leave nothing. Prints a summary and writes
crashtest-results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from netvault.local import config
from netvault.server import doctor
from netvault.server import embedded
from netvault.server import setup as layout
from netvault.vault.client import Vault, admin_client
from netvault.records.store import Store


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--writers", type=int, default=8)
    ap.add_argument("--out", default="crashtest-results.json")
    args = ap.parse_args()
    rng = random.Random(int(os.environ.get("CRASHTEST_SEED", "0")) or None)

    with tempfile.TemporaryDirectory(prefix="nv-crash-") as tmp:
        data = Path(tmp) / "data"
        info = embedded.up(data, embedded.free_port(), die_with_parent=True)
        try:
            root_token = embedded.root_token(data)
            layout.run_setup(admin_client(info.address, root_token), config.Mounts(), audit_path=info.audit_file)
            root = Vault(info.address, root_token)
            store = Store(root)
            customer = "crash"
            store.add_customer(customer, {})
            pool = ["02" + secrets.token_hex(5) for _ in range(8)]
            devices = [f"d{i}" for i in range(3)]
            for d in devices:
                store.add_device(customer, d, kind="router", macs=[pool[0]])
            env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
            env.update({"VAULT_ADDR": info.address, "VAULT_TOKEN": root_token,
                        "NETVAULT_CONFIG_DIR": str(Path(tmp) / "cfg"), "NETVAULT_KEYRING": "file"})
            kills = writes = 0
            missing_rounds = stale_total = stale_max = missing_total = 0
            for _ in range(args.rounds):
                procs = []
                for _w in range(args.writers):
                    d = rng.choice(devices)
                    roll = rng.random()
                    if roll < 0.7:
                        cmd = ["device", "edit", f"{customer}/{d}", "--mac", rng.choice(pool)]
                    elif roll < 0.85:
                        cmd = ["device", "rm", f"{customer}/{d}", "--yes"]
                    else:
                        cmd = ["device", "add", f"{customer}/{d}", "--kind", "switch", "--mac", rng.choice(pool)]
                    procs.append(subprocess.Popen([sys.executable, "-m", "netvault", *cmd], env=env,
                                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
                victims = rng.sample(procs, len(procs) // 2)
                time.sleep(rng.uniform(0.05, 0.6))  # a netvault start is ~0.1 s; writes follow
                for p in victims:
                    if p.poll() is None:
                        p.send_signal(signal.SIGKILL)
                        kills += 1
                for p in procs:
                    p.wait(timeout=120)
                writes += len(procs)
                found = doctor.examine(root, now=datetime.now(timezone.utc)).findings
                missing = [f for f in found if f.problem == "missing-entry"]
                stale = [f for f in found if f.problem == "stale-entry"]
                missing_total += len(missing)
                stale_total = len(stale)  # entries left now (they persist until repaired)
                stale_max = max(stale_max, len(stale))
                missing_rounds += bool(missing)
            versions = sum(int((store.meta(f"customers/{customer}/devices/{d}") or {}).get("current_version") or 0)
                           for d in devices)
            repaired = doctor.examine(root, now=datetime.now(timezone.utc), repair=True)
            left = doctor.examine(root, now=datetime.now(timezone.utc)).findings
            result = {
                "rounds": args.rounds, "writers_per_round": args.writers, "writer_processes": writes,
                "kills": kills, "device_versions_written": versions, "missing_entries_found": missing_total, "rounds_with_missing": missing_rounds,
                "stale_entries_at_end": stale_total, "stale_entries_max": stale_max,
                "repaired": sum(1 for f in repaired.findings if f.repaired), "left_after_repair": len(left),
            }
        finally:
            embedded.down(data)
    for k, v in result.items():
        print(f"{k:24} {v}")
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    return 0 if result["left_after_repair"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
