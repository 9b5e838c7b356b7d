"""Import of 10,000 devices (issue 12) vs a plain concurrent hvac write loop.

Each round, on the same server, in alternating order:
  netvault      `netvault import csv devices.csv --kind device` as a whole
                process with a team lead's token (VAULT_TOKEN): parse,
                validate, check the customers, list names, add the global
                MAC/IP index entries (one check-and-set per touched bucket
                document), then ONE KV write per device (the record), then
                each customer's search document (and its copies).
  hvac records  16 threads, one hvac.Client each, writing the same device
                records (same fields, cas=0) with the same token: one KV
                write per device, no index, no search document.
Each side gets fresh customers per round (so every run creates) and 10,000
devices of the same shape (1 MAC, 1 IP, serial, model, location) spread over
10; MACs, IPs and names differ per run because the global index is shared.
Rows report records/s and the load average (1 min) at the start and end of
each side; the target is netvault >= 0.7 x the loop's records/s (time ratio
<= 1/0.7). A re-import of the same file (all `unchanged`) is reported too.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
import uuid

from netvault.records import lookup
from netvault.records.store import Store

THREADS = 16
TARGET = 0.7


def _devices(n: int, customers: list[str], k: int) -> list[dict]:
    """n devices; ``k`` (side and round) keeps MACs, IPs and names apart from
    the other runs' (the global index is shared by every customer)."""
    out = []
    for i in range(n):
        c = customers[i % len(customers)]
        out.append({"customer": c, "name": f"dev{k}-{i:05d}", "kind": "switch", "mac": f"{(0x0a + k) << 40 | i:012x}",
                    "ip": f"{10 + k}.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}", "serial": f"SN{i:07d}",
                    "model": "GS108", "location": f"rack {i % 40}"})
    return out


def _csv(devices: list[dict], path) -> None:
    lines = ["customer,name,kind,mac,ip,serial,model,location"]
    lines += [",".join([d["customer"], d["name"], d["kind"], d["mac"], d["ip"], d["serial"], d["model"], d["location"]])
              for d in devices]
    path.write_text("\n".join(lines) + "\n")


def _hvac_loop(ctx, token: str, devices: list[dict]) -> float:
    import hvac

    kv = ctx.mounts.kv
    it = iter(devices)
    lock = threading.Lock()
    errors: list[BaseException] = []

    def worker() -> None:
        client = hvac.Client(url=ctx.address, token=token)
        kv2 = client.secrets.kv.v2
        while not errors:
            with lock:
                d = next(it, None)
            if d is None:
                return
            try:
                record = {"id": uuid.uuid4().hex, "kind": d["kind"], "macs": [d["mac"]], "ips": [d["ip"]],
                          "serial": d["serial"], "model": d["model"], "location": d["location"]}
                kv2.create_or_update_secret(path=lookup.record_path(d["customer"], "devices", d["name"]),
                                            secret=record, cas=0, mount_point=kv)
            except BaseException as exc:
                errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return time.perf_counter() - start


def _import(ctx, env, path) -> float:
    start = time.perf_counter()
    proc = subprocess.run([ctx.netvault, "import", "csv", str(path), "--kind", "device"], env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    took = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"netvault import exited {proc.returncode}: {proc.stderr.decode()[-400:]}")
    return took


def run(ctx) -> list[dict]:
    n = 1000 if ctx.quick else 10_000
    rounds = 1 if ctx.quick else 2
    per_round = 10
    lead = ctx.user("team-lead")
    store = Store(ctx.gateway(), ctx.mounts)
    samples: dict[str, list[float]] = {"netvault": [], "records": []}
    loads: dict[str, list[float]] = {"netvault": [], "records": []}
    reimport: list[float] = []
    for r in range(rounds):
        order = ["netvault", "records"] if r % 2 == 0 else ["records", "netvault"]
        for side in order:
            customers = [f"bench-imp-{side}-{r}-{i}" for i in range(per_round)]
            for c in customers:
                store.add_customer(c, {"company": "Import bench"})
            devices = _devices(n, customers, 2 * r + ["netvault", "records"].index(side))
            ctx.log(f"import round {r + 1}/{rounds}: {side}, {n} devices, load {os.getloadavg()[0]:.2f}")
            loads[side].append(os.getloadavg()[0])
            if side == "netvault":
                path = ctx.tmp / f"import-{r}.csv"
                _csv(devices, path)
                samples[side].append(_import(ctx, lead["env"], path))
                loads[side].append(os.getloadavg()[0])
                reimport.append(_import(ctx, lead["env"], path))
            else:
                samples[side].append(_hvac_loop(ctx, lead["token"], devices))
                loads[side].append(os.getloadavg()[0])
            ctx.log(f"  {side}: {n / samples[side][-1]:.0f} records/s")
    nv = ctx.median(samples["netvault"])
    ref = ctx.median(samples["records"])
    rows = [ctx.row(
        f"import {n} devices", nv, "hvac loop, 1 write/device (record only)", ref, f"records/s >= {TARGET} x loop",
        1 / TARGET, netvault_records_per_s=round(n / nv), reference_records_per_s=round(n / ref),
        throughput_ratio=round(ref / nv, 3), rounds=rounds,
        load_netvault=[round(x, 2) for x in loads["netvault"]], load_reference=[round(x, 2) for x in loads["records"]])]
    again = ctx.median(reimport)
    rows.append({"benchmark": f"re-import {n} devices (all unchanged)", "netvault_median_s": round(again, 3),
                 "reference": "first import", "reference_median_s": round(nv, 3), "ratio": round(again / nv, 3),
                 "target": "info", "ok": None, "netvault_records_per_s": round(n / again)})
    return rows
