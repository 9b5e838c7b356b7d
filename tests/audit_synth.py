"""Synthetic audit logs shaped exactly like OpenBao 2.x file audit device output.

Test data, not shipped: used by tests/test_audit_reader.py and
scripts/benches/audit.py (which puts tests/ on sys.path). For benchmarks and tests: request and response entries with the field order,
HMAC'd values and non-HMAC'd ``reference``/``context`` of a real netvault
server (copied from a live log). Deterministic for a given seed.
"""

from __future__ import annotations

import base64
import json
import random
from datetime import datetime, timedelta, timezone

_S = "\x00{}\x00"  # sentinel around placeholder names


def _hmac(rng: random.Random) -> str:
    return "hmac-sha256:" + "%064x" % rng.getrandbits(256)


def _uuid(rng: random.Random) -> str:
    h = "%032x" % rng.getrandbits(128)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _auth(user: dict, customers: list[str]) -> dict:
    cust_policies = [f"nv-customer-{c}" for c in customers]
    return {
        "client_token": user["token"], "accessor": user["accessor"], "display_name": f"userpass-{user['name']}",
        "policies": ["default", *cust_policies, "nv-engineer"], "token_policies": ["default"],
        "identity_policies": [*cust_policies, "nv-engineer"],
        "policy_results": {"allowed": True, "granting_policies": [{"name": cust_policies[0] if cust_policies else "default", "namespace_id": "root", "type": "acl"}]},
        "metadata": {"username": user["name"]}, "entity_id": user["entity"], "token_type": "service",
        "token_ttl": 2764800, "token_issue_time": "2026-11-25T08:00:00Z",
    }


def _template(kind: str, user: dict, customer: str, rng: random.Random) -> tuple[str, str]:
    """(request line, response line) as %-templates with time, id, data placeholders."""
    transit = {"mount_point": "netvault-transit/", "mount_type": "transit", "mount_accessor": "transit_38476cd1"}
    kv = {"mount_point": "netvault/", "mount_type": "kv", "mount_accessor": "kv_05b84854"}
    up = {"mount_point": "auth/userpass/", "mount_type": "userpass", "mount_accessor": "auth_userpass_4d6b98f9"}
    error = None
    resp_data: dict | None = None
    warnings = None
    auth: dict | None = _auth(user, [customer])
    if kind in ("reveal", "denied"):
        mount, op = transit, "update"
        path = f"netvault-transit/decrypt/customer-{customer}"
        data = {"ciphertext": _S.format("ct"), "context": _S.format("ctx"), "reference": _S.format("ref")}
        if kind == "denied":
            error = "1 error occurred:\n\t* permission denied\n\n"
            auth["policy_results"] = {"allowed": False}
        else:
            resp_data = {"plaintext": _S.format("ct")}
            warnings = ["Endpoint ignored these unrecognized parameters: [reference]"]
    elif kind == "read":
        mount, op = kv, "read"
        path = f"netvault/data/customers/{customer}/credentials/{_S.format('rec')}"
        data = None
        resp_data = {"data": {"id": _S.format("ct"), "secrets": {"password": _S.format("ct")}},
                     "metadata": {"created_time": "2026-11-25T08:00:00.318883507Z", "custom_metadata": None,
                                  "deletion_time": _hmac(rng), "destroyed": False, "version": 1}}
    elif kind == "list":
        mount, op = kv, "list"
        path = f"netvault/metadata/customers/{customer}/credentials/"
        data = None
        resp_data = {"keys": [_hmac(rng) for _ in range(3)]}
    elif kind == "write":
        mount, op = kv, "update"
        path = f"netvault/data/customers/{customer}/credentials/{_S.format('rec')}"
        data = {"data": {"id": _S.format("ct"), "username": _hmac(rng), "secrets": {"password": _S.format("ct")}}, "options": {"cas": 3}}
        resp_data = {"created_time": "2026-11-25T08:00:00.318883507Z", "custom_metadata": None, "deletion_time": "", "destroyed": False, "version": 4}
    elif kind == "login":
        mount, op = up, "update"
        path = f"auth/userpass/login/{user['name']}"
        data = {"password": _hmac(rng)}
        auth = None
    else:
        raise ValueError(kind)
    req = {"id": _S.format("id")}
    if auth is not None:
        req["client_id"] = user["entity"]
    req.update({"operation": op, **mount, "mount_running_version": "v2.7.2+builtin.bao",
                "mount_class": "auth" if mount is up else "secret"})
    if auth is not None:
        req.update({"client_token": user["token"], "client_token_accessor": user["accessor"]})
    req["namespace"] = {"id": "root"}
    req["path"] = path
    if data is not None:
        req["data"] = data
    req.update({"remote_address": "10.0.0.%d" % (user["n"] % 250 + 1), "remote_port": 50000 + user["n"]})
    request_entry: dict = {"time": _S.format("time"), "type": "request", "auth": auth, "request": req}
    if auth is None:
        del request_entry["auth"]
    if error:
        request_entry["error"] = error
    response = {k: v for k, v in mount.items()}
    response["mount_running_plugin_version"] = "v2.7.2+builtin.bao"
    response["mount_class"] = req["mount_class"]
    if kind == "login":
        login_auth = _auth(user, [customer])
        del login_auth["policy_results"]
        response = {"auth": login_auth, **response}
        auth_for_resp = login_auth
    else:
        auth_for_resp = auth
    if resp_data is not None:
        response["data"] = resp_data
    if warnings:
        response["warnings"] = warnings
    response_entry: dict = {"time": _S.format("time2"), "type": "response", "auth": auth_for_resp, "request": req, "response": response}
    if error:
        response_entry["error"] = error

    def tpl(entry: dict) -> str:
        text = json.dumps(entry, separators=(",", ":")).replace("%", "%%")
        for name in ("time2", "time", "id", "ctx", "ref", "rec", "ct"):
            text = text.replace(json.dumps(_S.format(name))[1:-1], "%(" + name + ")s")
        return text + "\n"

    return tpl(request_entry), tpl(response_entry)


KINDS = [("reveal", 30), ("read", 30), ("list", 15), ("login", 10), ("write", 10), ("denied", 5)]


def generate(path, entries: int, *, customers: int = 50, users: int = 40, seed: int = 7,
             start: datetime | None = None) -> dict:
    """Write ``entries`` audit entries (request + response pairs) to ``path``.

    Returns facts for checking: customer names, per-customer count of
    request/response pairs (logins excluded: they name no customer).
    """
    rng = random.Random(seed)
    custs = [f"cust-{i:02d}" for i in range(customers)]
    people = [{"name": f"eng{i:03d}", "n": i, "token": _hmac(rng), "accessor": _hmac(rng), "entity": _uuid(rng)} for i in range(users)]
    records = {c: [(f"rec-{j}", base64.b64encode(("%032x" % rng.getrandbits(128)).encode()).decode()) for j in range(20)] for c in custs}
    ct_pool = [_hmac(rng) for _ in range(512)]
    kinds = [k for k, w in KINDS for _ in range(w)]
    cache: dict = {}
    t = start or datetime(2026, 11, 1, 8, 0, tzinfo=timezone.utc)
    step = timedelta(milliseconds=7)
    counts: dict[str, int] = {}
    pairs = entries // 2
    with open(path, "w", encoding="ascii", newline="\n") as fh:
        buf = []
        for i in range(pairs):
            kind = kinds[rng.randrange(len(kinds))]
            user = people[rng.randrange(users)]
            cust = custs[rng.randrange(customers)]
            key = (kind, user["n"], cust)
            tp = cache.get(key)
            if tp is None:
                tp = cache[key] = _template(kind, user, cust, rng)
            rec, ctx = records[cust][rng.randrange(20)]
            t += step
            ts = t.strftime("%Y-%m-%dT%H:%M:%S.") + "%09dZ" % (t.microsecond * 1000 + i % 1000)
            ts2 = t.strftime("%Y-%m-%dT%H:%M:%S.") + "%09dZ" % (t.microsecond * 1000 + 500 + i % 400)
            values = {"time": ts, "time2": ts2, "id": _uuid(rng), "ctx": ctx, "ref": f"INC-{rng.randrange(10000):04d}",
                      "rec": rec, "ct": ct_pool[i % 512]}
            buf.append(tp[0] % values)
            buf.append(tp[1] % values)
            if kind != "login":  # a login names no customer
                counts[cust] = counts.get(cust, 0) + 1
            if len(buf) >= 2000:
                fh.write("".join(buf))
                buf.clear()
        fh.write("".join(buf))
    return {"customers": custs, "pairs_per_customer": counts, "users": [u["name"] for u in people]}


def jq_filter(customer: str) -> str:
    """The jq program equivalent to ``netvault audit log --customer C --json``."""
    c = customer.replace(".", "\\\\.")
    return (
        'select(.type == "response") | select(.request.path | test("^netvault-transit/decrypt/customer-' + c + '$'
        '|^netvault/(data|metadata|delete|undelete|destroy)/customers/' + c + '(/|$)|^netvault/(data|metadata)/_grants/' + c + '/'
        '|^identity/group/name/nv-grant:' + c + ':")) | {time, action: .request.operation, path: .request.path, '
        'engineer: (.auth.metadata.username // .auth.display_name), entity_id: .auth.entity_id, '
        'incident: .request.data.reference, context: .request.data.context, outcome: (if .error then "denied" else "allowed" end), '
        'error, remote_address: .request.remote_address, request_id: .request.id}'
    )
