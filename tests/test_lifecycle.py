"""End of service, crypto-shredding, retention and erasure (issue 11), against a real OpenBao.

Access rules are proved with raw hvac clients; time is injected (``now=`` in
the domain, NETVAULT_NOW for the CLI), never waited for.
"""

from __future__ import annotations

import base64
import zlib
import json
import secrets
from datetime import date, datetime, timedelta, timezone

import hvac
import pytest
from hvac import exceptions as hx

from access_helpers import raw
from test_records_helpers import grant, index_holders, kv_exists, kv_get

from netvault.vault import policies
from netvault.lifecycle.service_end import Lifecycle, add_years

KV = "netvault"
TRANSIT = "netvault-transit"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _iso(d: date) -> str:
    return f"{d.isoformat()}T12:00:00Z"


def _events(cli, server, token, action, customer) -> list[dict]:
    import json

    r = cli("audit", "log", "--file", str(server.audit_file), "--json", "--action", action, "--customer", customer,
            token=token)
    assert r.returncode == 0, r.stderr
    return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]


@pytest.fixture
def world(server, make_user, unique, cli):
    """An admin, a team lead, an engineer granted a fresh customer with one
    credential (sealed password) and one device."""
    admin = make_user("admin").token()
    lead = make_user("team-lead")
    eng = make_user("engineer")
    c = unique("life")
    r = cli("customer", "add", c, "--company", "Life BV", "--email", "it@life.example", token=admin)
    assert r.returncode == 0, r.stderr
    r = cli("credential", "add", f"{c}/router", "--username", "admin", "--stdin", input="s3cret-pw\n", token=admin)
    assert r.returncode == 0, r.stderr
    mac = "02" + secrets.token_hex(5)
    r = cli("device", "add", f"{c}/fw1", "--kind", "firewall", "--mac", mac, "--ip", "10.77.0.1", token=admin)
    assert r.returncode == 0, r.stderr
    grant(server, c, eng)
    cred = kv_get(server, f"customers/{c}/credentials/router")
    return {"admin": admin, "lead": lead, "eng": eng, "c": c, "cred": cred, "mac": mac}


def _decrypt(client: hvac.Client, c: str, cred: dict):
    return raw(client, "POST", f"{TRANSIT}/decrypt/customer-{c}", {
        "ciphertext": cred["secrets"]["password"], "context": b64(cred["id"]), "reference": "INC-4711"})


def test_end_refuses_reveals_for_everyone_and_new_grants(server, world, cli, make_user):
    c, cred, eng, lead = world["c"], world["cred"], world["eng"], world["lead"]
    eng_client = eng.login()
    assert base64.b64decode(_decrypt(eng_client, c, cred)["data"]["plaintext"]).decode() == "s3cret-pw"
    # an "on-call"-like role: a wildcard decrypt on every customer key
    server.root().sys.create_or_update_acl_policy(
        "t-oncall-wildcard", 'path "netvault-transit/decrypt/customer-*" { capabilities = ["update"] }')
    oncall = server.root().auth.token.create(policies=["t-oncall-wildcard"], ttl="1h")["auth"]["client_token"]
    _decrypt(server.client(oncall), c, cred)  # works before the end

    jit = make_user("engineer")
    r = cli("grant", jit.name, c, "--for", "1h", "--reason", "INC-3", token=lead.token())
    assert r.returncode == 0, r.stderr
    accessor = kv_get(server, f"_grants/{c}/{jit.name}")["accessor"]
    raw(server.root(), "POST", "auth/token/lookup-accessor", {"accessor": accessor})

    r = cli("customer", "end", c, "--reason", "contract ended", "--json", token=lead.token())
    assert r.returncode == 0, r.stderr
    st = r.json()
    # the time-limited grant's token is revoked, its record gone
    with pytest.raises((hx.InvalidRequest, hx.Forbidden, hx.InvalidPath)):
        raw(server.root(), "POST", "auth/token/lookup-accessor", {"accessor": accessor})
    assert not kv_exists(server, f"_grants/{c}/{jit.name}")
    assert [e["action"] for e in _events(cli, server, world["admin"], "end", c)] == ["end"]
    assert st["state"] == "ended" and st["in_force"] is True and st["reason"] == "contract ended"

    # reveals: refused by the key itself, whatever policy allows the decrypt
    for client in (eng_client, server.client(oncall), server.root()):
        with pytest.raises((hx.Forbidden, hx.InvalidRequest)):
            _decrypt(client, c, cred)
    with pytest.raises(hx.InvalidRequest, match="too old"):
        _decrypt(server.root(), c, cred)
    # the grant is gone
    with pytest.raises(hx.InvalidPath):
        raw(server.root(), "GET", f"identity/group/name/nv-grant:{c}:{eng.name}")
    # a team lead cannot make a new grant, by any spelling, nor a JIT token
    lc = lead.login()
    for name, pol in ((f"nv-grant:{c}:{eng.name}", f"nv-customer-{c}"), (f"nv-grant:x{c}:{eng.name}", f"nv-customer-{c}"),
                      (f"nv-grant:y:{eng.name}", f"nv-customer-{c} "), (f"nv-grant:z:{eng.name}", f"nv-customer-{c.upper()}")):
        with pytest.raises(hx.Forbidden):
            raw(lc, "POST", "identity/group", {"name": name, "policies": pol, "member_entity_ids": [eng.entity_id]})
    with pytest.raises(hx.Forbidden):
        raw(lc, "POST", "auth/token/create/nv-jit", {"policies": f"nv-customer-{c}", "ttl": "1h",
                                                      "entity_alias": f"jit:{eng.name}"})
    # ... nor un-end it: key config, the end record, the ended policy
    with pytest.raises(hx.Forbidden):
        raw(lc, "POST", f"{TRANSIT}/keys/customer-{c}/config", {"min_decryption_version": 1})
    with pytest.raises((hx.Forbidden, hx.InvalidRequest)):
        raw(lc, "POST", f"{KV}/data/_lifecycle/{c}/end", {"options": {"cas": 1}, "data": {"on": "2099-01-01"}})
    with pytest.raises(hx.Forbidden):
        raw(lc, "DELETE", f"sys/policies/acl/{policies.ended_policy_name(c)}")
    with pytest.raises(hx.Forbidden):
        raw(lc, "POST", f"sys/policies/acl/{policies.ended_policy_name(c)}", {"policy": "# nothing"})
    # the CLI says so too, and a grant of another customer still works
    r = cli("grant", eng.name, c, "--reason", "INC-1", token=lead.token())
    assert r.returncode == 4, r.stderr
    # non-secret records stay readable to team leads
    assert raw(lc, "GET", f"{KV}/data/customers/{c}/profile")["data"]["data"]["company"] == "Life BV"
    # list shows the state; ending twice or before the start is refused
    rows = {row["customer"]: row for row in cli("customer", "list", "--json", token=lead.token()).json()}
    assert rows[c]["state"] == "ended" and rows[c]["end_on"] == date.today().isoformat()
    r = cli("customer", "end", c, token=world["admin"])
    assert r.returncode == 7 and "already ended" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = cli("customer", "rotate-key", c, token=world["admin"])
    assert r.returncode == 7 and "has ended" in r.stderr
    rows = {row["customer"]: row for row in cli("customer", "list", "--json", token=eng.token()).json()}
    assert c not in rows  # the engineer's grant is gone


def test_end_bad_input_changes_nothing(server, world, cli):
    c, lead = world["c"], world["lead"].token()
    for args, code in ((["--on", "2001-01-01"], 2), (["--on", "tomorrow"], 2), (["--grace", "abc"], 2)):
        r = cli("customer", "end", c, *args, token=lead)
        assert r.returncode == code, (args, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1
    assert "before customer" in cli("customer", "end", c, "--on", "2001-01-01", token=lead).stderr
    assert not kv_exists(server, f"_lifecycle/{c}/end")
    r = cli("customer", "end", c, token=world["eng"].token())
    assert r.returncode == 4 and not kv_exists(server, f"_lifecycle/{c}/end")
    for bad in ("0y", "abc", "31y"):
        r = cli("customer", "edit", c, "--retention", bad, token=lead)
        assert r.returncode == 2 and "retention" in r.stderr, r.stderr
    assert "retention" not in kv_get(server, f"customers/{c}/profile")
    new = c + "-x"
    r = cli("customer", "add", new, "--retention", "0y", token=world["admin"])
    assert r.returncode == 2 and not kv_exists(server, f"customers/{new}/profile")
    with pytest.raises(hx.InvalidPath):
        raw(server.root(), "GET", f"{TRANSIT}/keys/customer-{new}")
    assert cli("customer", "edit", c, "--retention", "10y", token=lead).returncode == 0
    assert kv_get(server, f"customers/{c}/profile")["retention"] == "10y"


def test_future_end_takes_effect_on_first_run_after_the_date(server, world, cli):
    c, eng, lead = world["c"], world["eng"], world["lead"].token()
    day = date.today() + timedelta(days=10)
    r = cli("customer", "end", c, "--on", day.isoformat(), "--json", token=lead)
    assert r.returncode == 0 and r.json()["state"] == "ending"
    _decrypt(eng.login(), c, world["cred"])  # still active
    rows = {row["customer"]: row for row in cli("customer", "list", "--json", token=lead).json()}
    assert rows[c]["state"] == "ending"
    # the first team-lead run on that day puts it in force
    rows = {row["customer"]: row for row in cli("customer", "list", "--json", token=lead,
                                                env={"NETVAULT_NOW": _iso(day)}).json()}
    assert rows[c]["state"] == "ended"
    with pytest.raises((hx.Forbidden, hx.InvalidRequest)):
        _decrypt(eng.login(), c, world["cred"])


def test_purge_after_grace_shreds_the_key(server, world, cli):
    c, cred, admin = world["c"], world["cred"], world["admin"]
    copied = dict(cred)  # a ciphertext copied before the purge
    r = cli("customer", "end", c, "--grace", "10d", token=admin)
    assert r.returncode == 0, r.stderr
    early = _iso(date.today() + timedelta(days=9))
    r = cli("retention", "list", "--json", token=admin, env={"NETVAULT_NOW": early})
    assert c not in [x["customer"] for x in r.json()]
    later = _iso(date.today() + timedelta(days=10))
    due = cli("retention", "list", "--json", token=admin, env={"NETVAULT_NOW": later}).json()
    assert {"customer": c, "action": "shred"}.items() <= next(x for x in due if x["customer"] == c).items()
    dry = cli("retention", "purge", "--dry-run", "--json", token=admin, env={"NETVAULT_NOW": later})
    assert dry.returncode == 0 and kv_exists(server, f"customers/{c}/profile")
    raw(server.root(), "GET", f"{TRANSIT}/keys/customer-{c}")  # still there after a dry run
    r = cli("retention", "purge", "--json", token=admin, env={"NETVAULT_NOW": later})
    assert r.returncode == 0, r.stderr
    assert [x["action"] for x in r.json() if x["customer"] == c] == ["shred"]
    # the key is gone: nobody, root included, can decrypt the copy
    with pytest.raises((hx.InvalidRequest, hx.InvalidPath)):
        raw(server.root(), "POST", f"{TRANSIT}/decrypt/customer-{c}", {
            "ciphertext": copied["secrets"]["password"], "context": b64(copied["id"])})
    with pytest.raises(hx.InvalidPath):
        raw(server.root(), "GET", f"{TRANSIT}/keys/customer-{c}")
    # profile and contact data stay until retention ends
    assert kv_get(server, f"customers/{c}/profile")["email"] == "it@life.example"
    rows = {row["customer"]: row for row in cli("customer", "list", "--json", token=admin).json()}
    assert rows[c]["shredded"]
    # one clear event in the trail
    log = _events(cli, server, admin, "shred", c)
    assert len(log) == 1 and log[0]["action"] == "shred" and log[0]["customer"] == c


def test_retention_purge_erases_exactly_the_customers_past_retention(server, make_user, unique, cli):
    admin = make_user("admin").token()
    seven, ten, active = unique("r7"), unique("r10"), unique("ract")
    for c, extra in ((seven, []), (ten, ["--retention", "10y"]), (active, [])):
        assert cli("customer", "add", c, "--company", "X", *extra, token=admin).returncode == 0
    for c in (seven, ten):
        assert cli("customer", "end", c, token=admin).returncode == 0
    life = Lifecycle(server.gateway())
    today = datetime.now(timezone.utc)
    at = datetime.combine(add_years(today.date(), 7), datetime.min.time(), timezone.utc) + timedelta(hours=1)
    before = datetime.combine(add_years(today.date(), 7) - timedelta(days=1), datetime.min.time(), timezone.utc)
    assert seven not in [r.customer for r in life.due(now=before) if r.action == "erase"]
    plan = life.purge(now=at, dry_run=True)
    assert [r.customer for r in plan if r.action == "erase" and r.customer in (seven, ten, active)] == [seven]
    assert kv_exists(server, f"customers/{seven}/profile")  # dry run
    r = cli("retention", "purge", "--json", token=admin, env={"NETVAULT_NOW": at.isoformat()})
    assert r.returncode == 0, r.stderr
    erased = [x["customer"] for x in r.json() if x["action"] == "erase"]
    assert seven in erased and ten not in erased and active not in erased
    assert not kv_exists(server, f"customers/{seven}/profile")
    assert kv_exists(server, f"customers/{ten}/profile") and kv_exists(server, f"customers/{active}/profile")
    assert kv_get(server, f"_lifecycle/{seven}/erase")["reason"].startswith("ended")
    log = _events(cli, server, admin, "erase", seven)
    assert len(log) == 1 and log[0]["action"] == "erase"
    rows = {row["customer"]: row for row in cli("customer", "list", "--json", token=admin,
                                                env={"NETVAULT_NOW": (at + timedelta(days=3 * 366)).isoformat()}).json()}
    assert rows[ten]["state"] == "past-retention" and rows[active].get("state") == "active"


def _listed(client, path: str) -> list[str]:
    try:
        return [k.rstrip("/") for k in raw(client, "LIST", path)["data"]["keys"]]
    except hx.InvalidPath:
        return []


def _leftovers(server, c: str, eng_name: str, mac: str, ip: str) -> list[str]:
    root = server.root()
    left = []
    if _listed(root, f"{KV}/metadata/customers/{c}"):
        left.append("kv tree")
    for what, key in (("mac", mac), ("ip", ip)):
        if any(holder == c for holder, _ in index_holders(server, what, key)):
            left.append(f"index {what}")
    try:
        raw(root, "GET", f"{TRANSIT}/keys/customer-{c}")
        left.append("key")
    except hx.InvalidPath:
        pass
    pols = root.sys.list_acl_policies()["data"]["keys"]
    left += [p for p in (f"nv-customer-{c}", f"nv-ended-{c}") if p in pols]
    for rendered in (policies.TEAM_LEAD_CUSTOMERS, policies.AUDITOR_NO_REVEAL):
        if f"customer-{c}" in root.sys.read_acl_policy(rendered)["data"]["policy"]:
            left.append(rendered)
    groups = raw(root, "LIST", "identity/group/name")["data"]["keys"]
    left += [g for g in groups if g.startswith(f"nv-grant:{c}:")]
    if f"nv-ended-{c}" in raw(root, "GET", f"identity/group/name/{policies.LIFECYCLE_GROUP}")["data"]["policies"]:
        left.append("lifecycle group")
    if _listed(root, f"{KV}/metadata/_grants/{c}"):
        left.append("grant records")
    for entity in _listed(root, f"{KV}/metadata/_inbox"):
        if c in _listed(root, f"{KV}/metadata/_inbox/{entity}"):
            left.append("inbox")
    # what other parts keep per person: find copies (every version), requests
    for entity in _listed(root, f"{KV}/metadata/_reach"):
        meta = raw(root, "GET", f"{KV}/metadata/_reach/{entity}")["data"]
        for v, info in meta["versions"].items():
            if not info.get("destroyed") and not info.get("deletion_time"):
                got = raw(root, "GET", f"{KV}/data/_reach/{entity}?version={v}")["data"]["data"]
                if f'"{c}"' in json.dumps(got) or c in str(got.get("c", "")):
                    left.append(f"find copy v{v}")
    if _listed(root, f"{KV}/metadata/_readers") and f"{c}" in _listed(root, f"{KV}/metadata/_readers"):
        left.append("find readers")
    for user in _listed(root, f"{KV}/metadata/_requests"):
        if c in _listed(root, f"{KV}/metadata/_requests/{user}"):
            left.append("request")
    # every version of every index bucket (they hold other customers' entries too)
    for what in ("mac", "ip"):
        for bucket in _listed(root, f"{KV}/metadata/_index/buckets/{what}"):
            path = f"_index/buckets/{what}/{bucket}"
            for v, info in raw(root, "GET", f"{KV}/metadata/{path}")["data"]["versions"].items():
                if info.get("destroyed") or info.get("deletion_time"):
                    continue
                got = raw(root, "GET", f"{KV}/data/{path}?version={v}")["data"]["data"]
                if f'"{c}"'.encode() in zlib.decompress(base64.b64decode(got["z"])):
                    left.append(f"index {what} {bucket} v{v}")
    return left


def test_erase_removes_every_trace_and_can_be_rerun(server, world, cli, make_user):
    c, admin, eng = world["c"], world["admin"], world["eng"]
    mac, ip = world["mac"], "10.77.0.1"
    jit = make_user("engineer")
    r = cli("grant", jit.name, c, "--reason", "INC-2", "--for", "2h", token=world["lead"].token())
    assert r.returncode == 0, r.stderr
    assert kv_exists(server, f"_grants/{c}/{jit.name}")
    asker = make_user("engineer")  # a pending access request names the customer too
    r = cli("request", c, "--incident", "INC-3", token=asker.token())
    assert r.returncode == 0, r.stderr
    assert cli("find", mac, "--json", token=admin).json()["results"]
    left = _leftovers(server, c, eng.name, mac, ip)
    assert "request" in left and left
    # a mistyped confirmation: one line, exit 2, nothing changed
    r = cli("customer", "erase", c, token=admin, input="acme\n")
    assert r.returncode == 2 and "not erased" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert kv_exists(server, f"customers/{c}/profile")
    # a team lead may not erase (Vault refuses the key and policy deletes)
    # an interrupted erase: part is already gone (key and profile destroyed by hand)
    raw(server.root(), "POST", f"{TRANSIT}/keys/customer-{c}/config", {"deletion_allowed": True})
    raw(server.root(), "DELETE", f"{TRANSIT}/keys/customer-{c}")
    raw(server.root(), "DELETE", f"{KV}/metadata/customers/{c}/profile")
    r = cli("customer", "erase", c, "--reason", "erasure request", token=admin, input=f"{c}\n")
    assert r.returncode == 0, r.stderr
    assert _leftovers(server, c, eng.name, mac, ip) == []
    assert cli("find", mac, "--json", token=admin).json()["results"] == []
    assert [h for h in cli("find", "fw1", "--json", token=admin).json()["results"] if h["customer"] == c] == []
    with pytest.raises(hx.InvalidPath):
        raw(server.root(), "GET", f"{KV}/data/customers/{c}/credentials/router", None)
    # only the receipt remains; erasing again: not found
    assert kv_get(server, f"_lifecycle/{c}/erase")["reason"] == "erasure request"
    r = cli("customer", "erase", c, "--yes", token=admin)
    assert r.returncode == 3 and "erased" in r.stderr


def test_erase_is_admin_only(server, world, cli):
    c = world["c"]
    r = cli("customer", "erase", c, "--yes", token=world["lead"].token())
    assert r.returncode == 4 and "admin-only" in r.stderr, r.stderr
    assert kv_exists(server, f"customers/{c}/profile")
    assert (c, "fw1") in index_holders(server, "mac", world["mac"])  # nothing touched
    r = cli("retention", "purge", token=world["lead"].token(), env={"NETVAULT_NOW": "2099-01-01T00:00:00Z"})
    assert r.returncode in (0, 4)
    assert kv_exists(server, f"customers/{c}/profile")
