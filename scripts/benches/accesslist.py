"""`access list` alone (issue 15), a narrow run of the everyday bench's row.

300 customers (profiles only), ~400 standing grants left as `netvault grant`
leaves them (group, grant record, grant ledger), a team lead lists them:
`netvault access list` vs `bao list identity/group/name`, alternating, and
the same list read record by record (the cost before the ledger) in process.
Run: scripts/bench --only accesslist --runs 10
"""

from __future__ import annotations

import sys
import time
import uuid

from netvault.access import grants
from netvault.records import lookup

CUSTOMERS = 300
GRANTS = 400


def run(ctx) -> list[dict]:
    from bench import Side  # noqa: E402  (scripts/ is on sys.path when run by bench.py)
    from benches.everyday import _grant, _ledger

    kv = ctx.mounts.kv
    slugs = [f"al-c{i:04d}" for i in range(CUSTOMERS)]
    ctx.parallel(slugs, lambda client, c: client.write(f"{kv}/data/{lookup.profile_path(c)}", {
        "data": {"id": uuid.uuid4().hex, "company": c}, "options": {"cas": 0}}))
    engineers = [ctx.user("engineer") for _ in range(2)]
    _grant(ctx, slugs, engineers[0], copy=False)
    _grant(ctx, slugs[:GRANTS - CUSTOMERS], engineers[1], copy=False)
    ctx.log(f"grant ledger written: {_ledger(ctx)} grants")
    lead = ctx.user("team-lead")
    lv = ctx.gateway(lead["token"])
    now = __import__("datetime").datetime.now(__import__("datetime").timezone.utc)
    t0 = time.perf_counter()
    via_ledger = grants.list_grants(lv, now=now, mounts=ctx.mounts)
    t1 = time.perf_counter()
    via_records = grants.list_grants(lv, now=now, mounts=ctx.mounts, from_records=True)
    t2 = time.perf_counter()
    assert via_ledger == via_records and len(via_ledger) >= GRANTS, (len(via_ledger), len(via_records))
    ctx.log(f"in process: ledger {1000 * (t1 - t0):.0f} ms, record by record {1000 * (t2 - t1):.0f} ms")
    a = Side("access list (team lead)", [[ctx.netvault, "access", "list"]], lead["env"])
    b = Side("bao list identity/group/name", [[ctx.bao, "list", "identity/group/name"]],
             ctx.env(VAULT_TOKEN=lead["token"]))
    old = Side("access list (typer path)", [[ctx.netvault, "access", "list"]], {**lead["env"], "NETVAULT_NO_FAST": "1"})
    ctx.time_alternating([a, b, old])
    return [
        ctx.row(f"access list (team lead, {len(via_ledger)} grants)", a.samples, b.label, b.samples, "<= 1.0", 1.0,
                in_process_ledger_s=round(t1 - t0, 4), in_process_records_s=round(t2 - t1, 4)),
        ctx.row(old.label, old.samples, b.label, b.samples, "info", 1.0) | {"ok": None},
    ]


if __name__ == "__main__":
    sys.exit("run through scripts/bench")
